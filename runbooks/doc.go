// Package runbooks is Cordon's runbook language: it parses YAML runbooks
// keeping every node's line and column, checks their shape, types and
// expressions (expr-lang, against types generated from the action catalog
// and the runbook's own inputs and outputs), applies the approval rules
// (a destructive step needs a gate or a justification), and compiles them
// into a Plan: JSON, hashed, with no reference back to the YAML, which the
// interpreter workflow executes. Errors are Diagnostics with stable codes
// and positions.
//
// It also evaluates the plan's expressions for the workflow (Evaluator),
// deterministically: only allow-listed functions, no clock, no map order.
//
// It must not import Temporal or AWS: the catalog's types come from
// actions/spec, which has no dependencies.
package runbooks
