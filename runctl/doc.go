// Package runctl is a client's hold on runs: start one (signed), deliver a
// signed decision or control and read the workflow's answer, read a run's
// state and its children's, see what is being retried, wait for the end.
// The CLI, the Slack gateway, the demo, the bench and the tests use it;
// the worker (package worker) is the other side and does not.
//
// It holds no authority of its own: everything it sends is checked by the
// workflow (docs/security.md).
package runctl
