package workflows_test

import (
	"testing"

	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/cordon-ir/cordon/internal/replaytest"
	"github.com/cordon-ir/cordon/workflows"
)

// TestReplayRecordedHistories replays histories of real runs (recorded by
// internal/e2e with -update) against the current interpreter. A change
// that would break containments already running fails here: put such a
// change behind workflow.GetVersion (see docs/operations.md).
func TestReplayRecordedHistories(t *testing.T) {
	replaytest.Histories(t, "testdata/histories", func(r worker.WorkflowReplayer) {
		r.RegisterWorkflowWithOptions(workflows.Runbook, workflow.RegisterOptions{Name: workflows.WorkflowName})
	})
}
