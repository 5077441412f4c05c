package runbooks

import (
	"fmt"
	"regexp"
	"strconv"
	"time"

	"gopkg.in/yaml.v3"
)

// A shape describes what a YAML value may look like. The runbook format is
// declared once, as shapes, and that one declaration drives the structural
// checks (unknown fields, wrong kinds, enums) and the JSON Schema that
// editors use, so the two cannot disagree.
type shape struct {
	kind    shapeKind
	desc    string
	fields  []field  // kindObject
	elem    *shape   // kindList, kindMap
	enum    []string // kindString
	pattern string   // kindString: documented and checked
	re      *regexp.Regexp
	alts    []*shape // kindOneOf: chosen by the YAML node's kind
	// forbidden are keys an object must not have, each with why: a
	// mistake people will make (approvals in a trigger) gets its reason,
	// not a bare "unknown field".
	forbidden map[string]string
}

type shapeKind int

const (
	kindObject   shapeKind = iota // fixed fields
	kindMap                       // free keys, uniform values
	kindList                      // sequence of elem
	kindString                    // any scalar read as text
	kindInt                       // integer scalar
	kindBool                      // true/false
	kindDuration                  // Go duration text, e.g. 15m
	kindAny                       // anything; checked later against a declared type
	kindOneOf                     // one of alts
)

type field struct {
	name     string
	shape    *shape
	required bool
}

func (s *shape) field(name string) (*shape, bool) {
	for _, f := range s.fields {
		if f.name == name {
			return f.shape, true
		}
	}
	return nil, false
}

func (s *shape) fieldNames() []string {
	names := make([]string, len(s.fields))
	for i, f := range s.fields {
		names[i] = f.name
	}
	return names
}

// Step ids and input names become expression identifiers, so they must be
// valid ones (a hyphen would read as subtraction).
const identPattern = `^[a-z][a-z0-9_]{0,62}$`

var identRE = regexp.MustCompile(identPattern)

const runbookNamePattern = `^[a-z0-9][a-z0-9-]{0,62}$`

const durationPattern = `^([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$`

// runbookShape is the runbook format.
func runbookShape() *shape {
	str := func(desc string) *shape { return &shape{kind: kindString, desc: desc} }
	enum := func(desc string, values ...string) *shape { return &shape{kind: kindString, desc: desc, enum: values} }
	dur := func(desc string) *shape { return &shape{kind: kindDuration, desc: desc, pattern: durationPattern} }
	intg := func(desc string) *shape { return &shape{kind: kindInt, desc: desc} }
	boolean := func(desc string) *shape { return &shape{kind: kindBool, desc: desc} }
	list := func(desc string, elem *shape) *shape { return &shape{kind: kindList, desc: desc, elem: elem} }
	strmap := func(desc string, elem *shape) *shape { return &shape{kind: kindMap, desc: desc, elem: elem} }
	obj := func(desc string, fields ...field) *shape { return &shape{kind: kindObject, desc: desc, fields: fields} }
	anyv := func(desc string) *shape { return &shape{kind: kindAny, desc: desc} }
	req := func(name string, s *shape) field { return field{name: name, shape: s, required: true} }
	opt := func(name string, s *shape) field { return field{name: name, shape: s} }

	target := obj("Where the actions run: an account name the worker config maps to a role, and a region. Expressions allowed.",
		opt("account", str("Account name from the worker configuration, e.g. production.")),
		opt("region", str("AWS region, e.g. eu-west-1.")),
	)
	approvers := obj("Who may approve: roster groups and people (roster member ids).",
		opt("groups", list("Roster groups.", str("Group name."))),
		opt("people", list("Roster member ids.", str("Member id."))),
	)
	approvalFields := []field{
		opt("approvers", approvers),
		opt("min_approvals", intg("Distinct approvers needed (four-eyes: 2).")),
		opt("timeout", dur("How long the gate waits, e.g. 30m.")),
		opt("on_timeout", enum("What happens when nobody decides in time. A gate never approves by default.", "deny", "escalate")),
		opt("escalate_to", approvers),
		opt("allow_self_approval", boolean("Whether the person who started the run may approve it.")),
	}
	approvalObject := obj("Approval policy.", approvalFields...)
	stepApproval := &shape{kind: kindOneOf, desc: "required (the runbook's defaults), none (with a justification on the step), or a policy overriding the defaults.",
		alts: []*shape{enum("Approval mode.", "required", "none"), approvalObject}}
	retry := obj("Retry policy for the step's activity.",
		opt("attempts", intg("Maximum attempts, including the first.")),
		opt("backoff", dur("First wait between attempts; doubles each time.")),
		opt("max_backoff", dur("Longest wait between attempts.")),
	)
	foreach := &shape{kind: kindOneOf, desc: "An expression yielding a list, or a literal list: the step runs once per item, as item.",
		alts: []*shape{str("Expression, e.g. ${{ steps.find.outputs.instance_ids }}."), list("Literal items.", anyv("Item."))}}
	step := obj("One step: an action or a child runbook.",
		req("id", &shape{kind: kindString, desc: "Unique step id, used in expressions as steps.<id>.", pattern: identPattern, re: identRE}),
		opt("name", str("Human-readable name.")),
		opt("action", str("Catalog action, e.g. aws.ec2.isolate_instance (see cordon actions).")),
		opt("uses", str("Name of another runbook to run as a child workflow.")),
		opt("with", strmap("Parameters of the action (or inputs of the child runbook); strings may contain ${{ }}.", anyv("Value."))),
		opt("when", str("Expression; the step runs only when it is true.")),
		opt("approval", stepApproval),
		opt("justification", str("Why this destructive step runs without approval (required with approval: none).")),
		opt("retry", retry),
		opt("timeout", dur("Timeout of one attempt.")),
		opt("continue_on_error", boolean("Keep going when this step fails.")),
		opt("foreach", foreach),
		opt("max_concurrency", intg("With foreach: items in flight at once.")),
		opt("max_errors", intg("With foreach: failed items tolerated before the rest are cancelled.")),
		opt("outputs", strmap("Extra outputs, name → expression over result (the action's outputs).", str("Expression."))),
		opt("phase", enum("NIST SP 800-61 phase, for the report.", Phases()...)),
		opt("target", target),
	)
	input := obj("A typed input.",
		req("type", enum("Input type.", "string", "int", "bool", "list", "duration")),
		opt("description", str("What the input is.")),
		opt("required", boolean("Whether the run must give it.")),
		opt("default", anyv("Value when not given.")),
		opt("pattern", str("Regular expression every value (or list item) must match.")),
		opt("enum", list("Allowed values.", str("Value."))),
	)
	pattern := func(desc, p string) *shape {
		return &shape{kind: kindString, desc: desc, pattern: p, re: regexp.MustCompile(p)}
	}
	noApprovals := "a trigger only starts or proposes the runbook; its gates are the runbook's own and a detection never approves them"
	trigger := obj("A finding that starts (or proposes) this runbook.",
		req("name", pattern("Trigger name, unique in the runbook.", runbookNamePattern)),
		req("source", enum("Where findings come from: GuardDuty, Security Hub (ASFF), AWS Health.", FindingSources()...)),
		opt("match", obj("What the finding must be; every part given must hold.",
			opt("types", list("Finding types; * matches any run of characters, e.g. UnauthorizedAccess:EC2/*.", str("Type pattern."))),
			opt("resource", enum("Kind of the affected resource.", ResourceKinds()...)),
			opt("min_severity", enum("Lowest severity that matches (not for health).", SeverityLabels()...)),
			opt("accounts", list("12-digit accounts the finding must be about.", pattern("Account id.", `^[0-9]{12}$`))),
			opt("event_type_codes", list("Health event type codes (health only); * as in types.", pattern("Event type code.", `^[A-Z0-9_*]+$`))),
			opt("when", str("Expression over finding.*; the trigger fires only when it is true.")),
		)),
		opt("inputs", strmap("Runbook inputs from the finding, e.g. instance_id: ${{ finding.instance_id }}.", anyv("Value."))),
		opt("mode", enum("launch starts the run; propose (default) asks a responder to; dry_run rehearses it.", TriggerModes()...)),
		opt("aggregate", obj("Gather a storm's findings into one run: each finding adds its item to a list input of the runbook, over a window.",
			opt("by", list("Finding fields whose values findings must share to gather, e.g. [account, region, type].", enum("Finding field.", AggregateFields()...))),
			opt("window", dur("How long a batch gathers after its first finding (default 2m, at most 1h).")),
			req("into", pattern("The runbook's list input each finding adds its item to.", identPattern)),
			req("item", str("What each finding adds, e.g. ${{ finding.instance_id }}.")),
			opt("max_targets", intg("Above this many items the batch does not launch by itself: a lead launches it, with break-glass (default 50).")),
		)),
		opt("max_launches_per_hour", intg("Runs this trigger starts by itself (launch, dry_run) per hour, across intake processes; beyond, findings are proposed (default 10).")),
	)
	trigger.forbidden = map[string]string{}
	for _, k := range []string{"approval", "approvals", "approvers", "min_approvals", "allow_self_approval", "escalate_to", "on_timeout", "justification"} {
		trigger.forbidden[k] = noApprovals
	}
	return obj("A Cordon containment runbook.",
		req("apiVersion", enum("Format version.", APIVersion)),
		req("kind", enum("Document kind.", "Runbook")),
		req("metadata", obj("About the runbook.",
			req("name", &shape{kind: kindString, desc: "Runbook name, used by uses:.", pattern: runbookNamePattern, re: regexp.MustCompile(runbookNamePattern)}),
			opt("description", str("What it is for.")),
			opt("severity", enum("Incident severity it is written for.", "low", "medium", "high", "critical")),
			opt("tags", list("Free-form tags.", str("Tag."))),
		)),
		opt("target", target),
		opt("inputs", strmap("Inputs by name.", input)),
		opt("approvals", obj("Defaults for every gate.", approvalFields...)),
		req("steps", list("Steps, run in order.", step)),
		opt("outputs", strmap("Runbook outputs (for parents using it), name → expression.", str("Expression."))),
		opt("triggers", list("Findings that start or propose this runbook (see docs/triggers.md).", trigger)),
	)
}

// checkShape walks a node against a shape and reports every structural
// problem, not only the first.
func checkShape(d *diags, n *yaml.Node, s *shape, what string) {
	switch s.kind {
	case kindObject:
		if !expectKind(d, n, yaml.MappingNode, what) {
			return
		}
		seen := map[string]bool{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			if seen[k.Value] {
				d.add(CodeDuplicateKey, nodePos(k), "remove one of them", "%s: key %q appears twice", what, k.Value)
				continue
			}
			seen[k.Value] = true
			fs, ok := s.field(k.Value)
			if why, no := s.forbidden[k.Value]; !ok && no {
				d.add(CodeNotAllowed, nodePos(k), why, "%s: %s is not allowed here", what, k.Value)
				continue
			}
			if !ok {
				d.add(CodeUnknownField, nodePos(k), suggest(k.Value, s.fieldNames()), "%s: unknown field %q", what, k.Value)
				continue
			}
			checkShape(d, v, fs, what+"."+k.Value)
		}
		for _, f := range s.fields {
			if f.required && !seen[f.name] {
				d.add(CodeMissingField, nodePos(n), "", "%s: missing required field %q", what, f.name)
			}
		}
	case kindMap:
		if !expectKind(d, n, yaml.MappingNode, what) {
			return
		}
		seen := map[string]bool{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i]
			if seen[k.Value] {
				d.add(CodeDuplicateKey, nodePos(k), "remove one of them", "%s: key %q appears twice", what, k.Value)
				continue
			}
			seen[k.Value] = true
			checkShape(d, n.Content[i+1], s.elem, what+"."+k.Value)
		}
	case kindList:
		if !expectKind(d, n, yaml.SequenceNode, what) {
			return
		}
		for i, c := range n.Content {
			checkShape(d, c, s.elem, fmt.Sprintf("%s[%d]", what, i))
		}
	case kindString:
		if !expectScalar(d, n, what) {
			return
		}
		if s.enum != nil && !contains(s.enum, n.Value) {
			d.add(CodeBadValue, nodePos(n), suggest(n.Value, s.enum), "%s: %q is not allowed", what, n.Value)
		} else if s.re != nil && !s.re.MatchString(n.Value) {
			d.add(CodeBadValue, nodePos(n), "it must match "+s.pattern, "%s: %q is not a valid value", what, n.Value)
		}
	case kindInt:
		if expectScalar(d, n, what) {
			if _, err := strconv.Atoi(n.Value); err != nil || n.Tag != "!!int" {
				d.add(CodeTypeMismatch, nodePos(n), "", "%s: expected an integer, got %q", what, n.Value)
			}
		}
	case kindBool:
		if expectScalar(d, n, what) && n.Tag != "!!bool" {
			d.add(CodeTypeMismatch, nodePos(n), "write true or false", "%s: expected true or false, got %q", what, n.Value)
		}
	case kindDuration:
		if expectScalar(d, n, what) {
			if _, err := time.ParseDuration(n.Value); err != nil {
				d.add(CodeTypeMismatch, nodePos(n), "write e.g. 90s, 15m or 2h", "%s: %q is not a duration", what, n.Value)
			}
		}
	case kindOneOf:
		for _, alt := range s.alts {
			if nodeMatches(n, alt) {
				checkShape(d, n, alt, what)
				return
			}
		}
		d.add(CodeWrongShape, nodePos(n), s.desc, "%s: expected %s, got %s", what, describeAlts(s.alts), kindName(n))
	case kindAny:
	}
}

func nodeMatches(n *yaml.Node, s *shape) bool {
	switch s.kind {
	case kindObject, kindMap:
		return n.Kind == yaml.MappingNode
	case kindList:
		return n.Kind == yaml.SequenceNode
	case kindAny:
		return true
	default:
		return n.Kind == yaml.ScalarNode
	}
}

func describeAlts(alts []*shape) string {
	out := ""
	for i, a := range alts {
		if i > 0 {
			out += " or "
		}
		switch a.kind {
		case kindObject, kindMap:
			out += "a mapping"
		case kindList:
			out += "a list"
		default:
			out += "a scalar"
		}
	}
	return out
}

func expectKind(d *diags, n *yaml.Node, want yaml.Kind, what string) bool {
	if n.Kind == want {
		return true
	}
	wantName := map[yaml.Kind]string{yaml.MappingNode: "a mapping", yaml.SequenceNode: "a list"}[want]
	d.add(CodeWrongShape, nodePos(n), "", "%s: expected %s, got %s", what, wantName, kindName(n))
	return false
}

func expectScalar(d *diags, n *yaml.Node, what string) bool {
	if n.Kind == yaml.ScalarNode && n.Tag != "!!null" {
		return true
	}
	d.add(CodeWrongShape, nodePos(n), "", "%s: expected a value, got %s", what, kindName(n))
	return false
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		if n.Tag == "!!null" {
			return "nothing (null)"
		}
		return fmt.Sprintf("%q", n.Value)
	default:
		return "an alias"
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
