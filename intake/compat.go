package intake

import (
	"context"

	"go.temporal.io/sdk/client"

	"github.com/cordon-ir/cordon/workflows"
)

// channelIntake is the channel the intake signs on.
const channelIntake = "intake"

// sendFindingUpdate delivers a finding update to its run.
func sendFindingUpdate(ctx context.Context, c client.Client, runID string, upd workflows.FindingUpdate, _ Options) error {
	return c.SignalWorkflow(ctx, runID, "", workflows.SignalFindingUpdate, upd)
}
