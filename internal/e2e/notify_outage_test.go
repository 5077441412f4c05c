package e2e

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/cordon-ir/cordon/internal/awsemu"
	"github.com/cordon-ir/cordon/runctl"
	"github.com/cordon-ir/cordon/workflows"
)

// slackDown is a gate notifier during a Slack outage: every call fails.
type slackDown struct{}

func (slackDown) NotifyGate(context.Context, workflows.GateNotice) error {
	return errors.New("slack: 503 service unavailable")
}

const shortGateRunbook = `apiVersion: cordon.dev/v1
kind: Runbook
metadata:
  name: short-gate
inputs:
  instance_id: {type: string, required: true}
approvals:
  approvers: {groups: [csirt-oncall]}
  timeout: 3s
  on_timeout: escalate
  escalate_to: {groups: [csirt-leads]}
steps:
  - id: isolate
    action: aws.ec2.isolate_instance
    approval: required
    with: {instance_id: "${{ inputs.instance_id }}"}
`

// Issue 11, bug 2, on the real server: with Slack down, the gate's
// notification used to be retried for ever (no retry limit) before the
// gate's timer even started, so the gate never escalated nor timed out.
// Now the failure is recorded and the gate escalates and times out on time.
func TestSlackOutageDoesNotStallTheGate(t *testing.T) {
	ctx := context.Background()
	const queue = "e2e-notify-outage"
	ownWorker{queue: queue, files: map[string]string{"short-gate.yaml": shortGateRunbook}, notifier: slackDown{}}.start(t)

	target := oneHost(t, "outage")
	runID, err := runctl.Start(ctx, shared.client, queue, runctl.StartOptions{Runbook: "short-gate", InputArgs: map[string]string{"instance_id": target},
		Meta: workflows.RunMeta{RunID: "e2e-notify-outage", Requester: "alice"}, Signer: shared.keys["alice"]})
	if err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithTimeout(ctx, 45*time.Second)
	defer cancel()
	var s workflows.State
	for {
		s, err = runctl.State(wctx, shared.client, runID)
		if err == nil && s.Status != workflows.RunRunning {
			break
		}
		if wctx.Err() != nil {
			t.Fatalf("the run has not ended after 45s: the gate stalled behind its notification (status %q, timeline %v, query error %v)", s.Status, kindsOf(s), err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	at := map[workflows.EventKind]time.Time{}
	for _, e := range s.Timeline {
		if _, seen := at[e.Kind]; !seen {
			at[e.Kind] = e.Time
		}
	}
	for _, kind := range []workflows.EventKind{workflows.EventNotifyFailed, workflows.EventGateEscalated, workflows.EventGateTimedOut} {
		if at[kind].IsZero() {
			t.Errorf("no %s in the timeline %v", kind, kindsOf(s))
		}
	}
	// Three attempts of the notification take about 3 s; the gate's own
	// 3 s run from when it opened, not after them.
	if d := at[workflows.EventGateEscalated].Sub(at[workflows.EventGateWaiting]); d > 10*time.Second {
		t.Errorf("escalated %s after the gate opened (timeout 3s)", d)
	}
	untouched(t, target)
	replay(t, runID, "gate-notify-fails")
}

// An abort while a foreach's items are in flight (each host's run waiting
// at its gate): the fleet step ends only when every host's run has, and
// the history guards that path in replay.
func TestAbortMidForeach(t *testing.T) {
	fleet := seedFleet(t, awsemu.FleetSpec{Instances: 3, NamePrefix: "abortfe", Compromised: []int{0, 1, 2}})
	runID := startFleetRun(t, shared.client, shared.cfg.Temporal.TaskQueue, fleet, "none",
		workflows.RunMeta{RunID: "e2e-abort-mid-foreach", Requester: "alice", Incident: "INC-ABORT"}, "")
	hostsAtGates(t, runID, 3)
	abortRun(t, runID)
	s := ended(t, runID)
	if s.Status != workflows.RunAborted {
		t.Fatalf("status %s", s.Status)
	}
	items, stepEnd := 0, -1
	for i, e := range s.Timeline {
		switch {
		case e.Kind == workflows.EventItemCancelled || e.Kind == workflows.EventItemFailed:
			items++
			if stepEnd >= 0 {
				t.Errorf("host %d ended after the fleet step", e.Item)
			}
		case e.Step == "contain" && (e.Kind == workflows.EventStepCancelled || e.Kind == workflows.EventStepFailed):
			stepEnd = i
		}
	}
	if items != 3 || stepEnd < 0 {
		t.Errorf("%d host outcomes before the step's end (at %d): %v", items, stepEnd, kindsOf(s))
	}
	for _, id := range fleet.CompromisedIDs {
		untouched(t, id)
	}
	replay(t, runID, "fleet-abort-mid-foreach")
}

func kindsOf(s workflows.State) []workflows.EventKind {
	var out []workflows.EventKind
	for _, e := range s.Timeline {
		out = append(out, e.Kind)
	}
	return out
}

// Issue 11, item 7: while a step is being retried, the responder sees the
// attempt and the last error (cordon status, --follow), not just running.
func TestRetriedStepShowsAttemptAndLastError(t *testing.T) {
	ctx := context.Background()
	plan := compileExample(t, "ec2-compromise")
	target := oneHost(t, "retried")
	// Throttled long enough for the SDK's own retries to give up twice:
	// Temporal then retries the action with the step's backoff.
	shared.emu.FailNext("ec2:GetConsoleOutput", "RequestLimitExceeded", 503, 6)
	t.Cleanup(shared.emu.ResetFaults)
	runID := startSigned(t, shared.client, shared.cfg.Temporal.TaskQueue, plan, ec2Inputs(t, plan, target, "none"),
		workflows.RunMeta{RunID: "e2e-retried-step", Requester: "alice"}, "contain now")
	deadline := time.Now().Add(time.Minute)
	var seen runctl.Retry
	for time.Now().Before(deadline) && seen.Attempt == 0 {
		rs, err := runctl.Retries(ctx, shared.client, runID)
		if err == nil {
			for _, r := range rs {
				if r.Action == "aws.ec2.capture_console_output" {
					seen = r
				}
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	if seen.Attempt < 2 || !strings.Contains(seen.LastError, "Throttled") || strings.Count(seen.LastError, "\n") > 0 {
		t.Fatalf("retry seen: %+v", seen)
	}
	if len(seen.LastError) > 600 {
		t.Errorf("the last error is %d bytes, not a line: %s", len(seen.LastError), seen.LastError)
	}
	if res, err := runctl.Wait(ctx, shared.client, runID); err != nil || res.Status != workflows.RunSucceeded {
		t.Errorf("after the throttling: %+v %v", res, err)
	}
}

// hostsAtGates waits until n gates of the fleet run's host runs wait for
// a decision, and returns the host runs that wait.
func hostsAtGates(t *testing.T, runID string, n int) []string {
	t.Helper()
	ctx := context.Background()
	deadline := time.Now().Add(time.Minute)
	for {
		var waitingRuns []string
		waiting := 0
		if s, err := runctl.State(ctx, shared.client, runID); err == nil {
			for _, st := range s.Steps {
				for _, child := range st.Children {
					cs, err := runctl.State(ctx, shared.client, child)
					if err != nil {
						continue
					}
					before := waiting
					for _, g := range cs.Gates {
						if g.Status == workflows.GateWaiting {
							waiting++
						}
					}
					if waiting > before {
						waitingRuns = append(waitingRuns, child)
					}
				}
			}
		}
		if waiting >= n {
			return waitingRuns
		}
		if time.Now().After(deadline) {
			t.Fatalf("only %d host gates of run %s wait, want %d", waiting, runID, n)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
