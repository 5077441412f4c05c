package e2e

import (
	"context"
	"strings"
	"testing"

	"github.com/cordon-ir/cordon/runctl"
	"github.com/cordon-ir/cordon/workflows"
)

// Starting a run under an id that is already used is refused, whether the
// run is still going or over: answering with the old run would let a
// responder take an old containment for the one they just launched.
func TestStartRunRefusesAReusedID(t *testing.T) {
	ctx := context.Background()
	src := "apiVersion: cordon.dev/v1\nkind: Runbook\nmetadata:\n  name: reused\nsteps:\n" +
		"  - id: hello\n    action: slack.notify\n    with: {message: hello}\n"
	plan := compileAdHoc(t, "reused.yaml", src)
	// A rehearsal: the plan is not in the worker's runbook source, and a
	// rehearsal of an ad-hoc plan needs no lead's approval.
	meta := workflows.RunMeta{RunID: "e2e-reused-id", Requester: "alice", DryRun: true}
	id := startSigned(t, shared.client, shared.cfg.Temporal.TaskQueue, plan, map[string]any{}, meta, "")
	if res, err := runctl.Wait(ctx, shared.client, id); err != nil || res.Status != workflows.RunSucceeded {
		t.Fatalf("first run: %+v %v", res, err)
	}
	_, err := runctl.Start(ctx, shared.client, shared.cfg.Temporal.TaskQueue, runctl.StartOptions{Plan: plan, Inputs: map[string]any{}, Meta: meta, Signer: shared.keys["alice"]})
	if err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Fatalf("second start under the same id: %v, want a refusal saying the id already exists", err)
	}
}
