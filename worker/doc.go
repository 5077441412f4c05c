// Package worker wires Cordon to the outside world: the configuration
// file, the Temporal client and worker (a local dev server, a cluster or
// Temporal Cloud), the activities that load the roster and notify people,
// and the AWS clients. It holds no business rules: those live in the
// runbook compiler, the actions and the interpreter workflow.
package worker
