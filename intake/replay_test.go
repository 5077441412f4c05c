package intake_test

import (
	"testing"

	"go.temporal.io/sdk/worker"

	"github.com/cordon-ir/cordon/intake"
	"github.com/cordon-ir/cordon/internal/replaytest"
)

// TestReplayRecordedHistories replays histories of the intake's workflows
// recorded on a real server (internal/e2e with -update: a storm's batch)
// against the code as it is now: a change that would break a batch or a
// finding workflow already running fails here, and goes behind
// workflow.GetVersion.
func TestReplayRecordedHistories(t *testing.T) {
	replaytest.Histories(t, "testdata/histories", func(r worker.WorkflowReplayer) { intake.RegisterWorkflows(r) })
}
