package e2e

import (
	"context"
	"testing"
	"time"

	"github.com/cordon-ir/cordon/runctl"
	"github.com/cordon-ir/cordon/workflows"
)

// Issue 13, item 1, on the real server: an approval given while the run
// is paused is kept and its action waits for resume (held_by_pause), then
// previews again and acts (gate_confirmed). The history guards the
// pause-holds-mutations path in replay.
func TestPauseHoldsAnApprovedStepOnTheServer(t *testing.T) {
	ctx := context.Background()
	runID, host := atIsolateGate(t, "e2e-pause-holds", "pausehold", "alice")
	send := func(req workflows.Request) {
		t.Helper()
		req.RunID, req.Actor, req.Channel = runID, "bob", "cli"
		if _, err := runctl.Send(ctx, shared.client, req, shared.keys["bob"]); err != nil {
			t.Fatalf("%s: %v", req.Action, err)
		}
	}
	send(workflows.Request{Action: workflows.ActPause, Reason: "checking the blast radius"})
	s, err := runctl.State(ctx, shared.client, runID)
	if err != nil {
		t.Fatal(err)
	}
	send(workflows.Request{Action: workflows.ActApprove, Step: "isolate", PreviewHash: s.Gates[0].PreviewHash, Reason: "e2e"})
	waitForEvent(t, runID, workflows.EventHeld)
	untouched(t, host)
	send(workflows.Request{Action: workflows.ActResume, Reason: "go"})
	waitForEvent(t, runID, workflows.EventGateConfirmed)
	abortRun(t, runID)
	replay(t, runID, "pause-holds-approved")
}

// waitForEvent waits until run runID's timeline holds an event of kind.
func waitForEvent(t *testing.T, runID string, kind workflows.EventKind) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		if s, err := runctl.State(context.Background(), shared.client, runID); err == nil {
			for _, e := range s.Timeline {
				if e.Kind == kind {
					return
				}
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("run %s never recorded %s", runID, kind)
}
