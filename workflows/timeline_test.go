package workflows_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/cordon-ir/cordon/actions/wire"
	"github.com/cordon-ir/cordon/workflows"
)

// The kinds and statuses are typed in Go, but their strings are what
// recorded histories (RunResult, GateNotice), the query's JSON, the JSON
// report and scripts reading them hold: renaming a constant's string
// breaks them all, so each is pinned here.
func TestTimelineStringsAreStable(t *testing.T) {
	pinned := map[string]string{
		string(workflows.EventRunStarted): "run_started", string(workflows.EventRunSucceeded): "run_succeeded",
		string(workflows.EventRunFailed): "run_failed", string(workflows.EventRunAborted): "run_aborted",
		string(workflows.EventRefused): "refused", string(workflows.EventOutputError): "output_error",
		string(workflows.EventStepStarted): "step_started", string(workflows.EventStepSucceeded): "step_succeeded",
		string(workflows.EventStepFailed): "step_failed", string(workflows.EventStepSkipped): "step_skipped",
		string(workflows.EventStepDenied): "step_denied", string(workflows.EventStepCancelled): "step_cancelled",
		string(workflows.EventActionDone): "action_done", string(workflows.EventItemFailed): "item_failed",
		string(workflows.EventItemCancelled): "item_cancelled", string(workflows.EventChildStarted): "child_started",
		string(workflows.EventChildDone): "child_done", string(workflows.EventWaitRehearsed): "wait_rehearsed",
		string(workflows.EventGateRehearsed): "gate_rehearsed", string(workflows.EventGateWaiting): "gate_waiting",
		string(workflows.EventApproval): "approval", string(workflows.EventGateApproved): "gate_approved",
		string(workflows.EventGateDenied): "gate_denied", string(workflows.EventGateTimedOut): "gate_timed_out",
		string(workflows.EventGateEscalated): "gate_escalated", string(workflows.EventGateReopened): "gate_reopened",
		string(workflows.EventGateStillApproved): "gate_still_approved", string(workflows.EventNotifyFailed): "notify_failed",
		string(workflows.EventPlanApproved): "plan_approved", string(workflows.EventPlanRefused): "plan_refused",
		string(workflows.EventBreakGlassSigned): "break_glass_signed", string(workflows.EventBreakGlass): "break_glass",
		string(workflows.EventPaused): "paused", string(workflows.EventResumed): "resumed",
		string(workflows.EventSkip): "skip", string(workflows.EventAbort): "abort",
		string(workflows.EventHeld): "held_by_pause", string(workflows.EventGateConfirmed): "gate_confirmed",
		string(workflows.EventRunPartial): "run_partial",
		string(workflows.EventTriggered):  "triggered", string(workflows.EventFindingUpdated): "finding_updated",
	}
	if len(pinned) != 41 {
		t.Errorf("%d distinct event kinds, want 41: two constants share a string", len(pinned))
	}
	for got, want := range pinned {
		if got != want {
			t.Errorf("event kind %q, want %q", got, want)
		}
	}
	for got, want := range map[string]string{
		string(workflows.RunRunning): "running", string(workflows.RunSucceeded): "succeeded",
		string(workflows.RunFailed): "failed", string(workflows.RunAborted): "aborted",
		string(workflows.RunPartial): "partial",
	} {
		if got != want {
			t.Errorf("run status %q, want %q", got, want)
		}
	}
	steps := []workflows.StepStatus{workflows.StepPending, workflows.StepRunning, workflows.StepAwaiting, workflows.StepSucceeded,
		workflows.StepFailed, workflows.StepSkipped, workflows.StepDenied, workflows.StepCancelled, workflows.StepHeld}
	for i, want := range []string{"pending", "running", "awaiting_approval", "succeeded", "failed", "skipped", "denied", "cancelled", "held_by_pause"} {
		if string(steps[i]) != want {
			t.Errorf("step status %q, want %q", steps[i], want)
		}
	}
	gates := []workflows.GateStatus{workflows.GateWaiting, workflows.GateApproved, workflows.GateDenied, workflows.GateTimedOut, workflows.GateSkipped}
	for i, want := range []string{"waiting", "approved", "denied", "timed_out", "skipped"} {
		if string(gates[i]) != want {
			t.Errorf("gate status %q, want %q", gates[i], want)
		}
	}
	notices := []workflows.NoticeKind{workflows.NoticeWaiting, workflows.NoticeEscalated, workflows.NoticeApproved,
		workflows.NoticeDenied, workflows.NoticeTimedOut, workflows.NoticeSkipped}
	for i, want := range []string{"waiting", "escalated", "approved", "denied", "timed_out", "skipped"} {
		if string(notices[i]) != want {
			t.Errorf("notice kind %q, want %q", notices[i], want)
		}
	}
}

// An event's typed fields are what clients decode; the ones a kind does
// not use stay out of the JSON.
func TestEventJSON(t *testing.T) {
	at := time.Date(2021, 9, 2, 10, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		e    workflows.Event
		want string
	}{
		{workflows.Event{Time: at, Kind: workflows.EventActionDone, Step: "isolate", Item: 2, Detail: "d",
			Changes:    []wire.Change{{Resource: "eni-1", Field: "groups", Before: []string{"sg-app"}, After: []string{"sg-q"}}},
			RequestIDs: []string{"req-1"}, Notes: []string{"already tagged"}},
			`{"time":"2021-09-02T10:00:00Z","kind":"action_done","step":"isolate","item":2,"detail":"d",` +
				`"changes":[{"resource":"eni-1","field":"groups","before":["sg-app"],"after":["sg-q"]}],"request_ids":["req-1"],"notes":["already tagged"]}`},
		{workflows.Event{Time: at, Kind: workflows.EventGateApproved, Step: "stop", Actor: "lead", Channel: "cli", BreakGlass: true, Unpreviewed: true},
			`{"time":"2021-09-02T10:00:00Z","kind":"gate_approved","step":"stop","actor":"lead","channel":"cli","break_glass":true,"unpreviewed":true}`},
		{workflows.Event{Time: at, Kind: workflows.EventItemFailed, Step: "contain", Item: 1, Detail: "summary", ErrorDetail: "the whole chain"},
			`{"time":"2021-09-02T10:00:00Z","kind":"item_failed","step":"contain","item":1,"detail":"summary","error_detail":"the whole chain"}`},
		{workflows.Event{Time: at, Kind: workflows.EventRunSucceeded, Detail: "succeeded"},
			`{"time":"2021-09-02T10:00:00Z","kind":"run_succeeded","detail":"succeeded"}`},
	} {
		b, err := json.Marshal(c.e)
		if err != nil || string(b) != c.want {
			t.Errorf("%s:\n got %s %v\nwant %s", c.e.Kind, b, err, c.want)
		}
		var back workflows.Event
		if err := json.Unmarshal(b, &back); err != nil || back.Kind != c.e.Kind || len(back.Changes) != len(c.e.Changes) {
			t.Errorf("%s does not decode back: %+v %v", c.e.Kind, back, err)
		}
	}
}
