package workflows_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"github.com/cordon-ir/cordon/workflows"
)

// Issue 11, bug 1: an abort during a foreach must not end the step while
// its items still run: the step ends once every item has ended, and the
// record shows each item's own outcome, before the step's.
func TestAbortDuringForeachWaitsForItems(t *testing.T) {
	f := newFixture(t)
	f.aws.delay = 20 * time.Second
	f.env.SetTestTimeout(time.Minute)
	src := head + `steps:
  - id: tag
    action: aws.ec2.tag
    foreach: ["i-0123456789abcdef1", "i-0123456789abcdef2", "i-0123456789abcdef3"]
    max_concurrency: 3
    with: {resource_ids: ["${{ item }}"], tags: {a: b}}
`
	f.at(time.Second, func() { f.control(workflows.UpdateAbort, workflows.ActAbort, "bob", "", "wrong hosts") })
	f.start(src, nil, workflows.RunMeta{})
	_, err := f.result()
	var ae *temporal.ApplicationError
	if !errors.As(err, &ae) || ae.Type() != string(workflows.RunAborted) {
		t.Fatalf("err = %v", err)
	}
	s := f.state()
	items, stepEnd := 0, -1
	for i, e := range s.Timeline {
		switch {
		case e.Kind == workflows.EventItemCancelled && e.Step == "tag":
			items++
			if stepEnd >= 0 {
				t.Errorf("item %d ended after its step", e.Item)
			}
		case e.Kind == workflows.EventStepCancelled && e.Step == "tag":
			stepEnd = i
		}
	}
	if items != 3 || stepEnd < 0 {
		t.Errorf("%d item outcomes recorded, step end at %d; timeline %s", items, stepEnd, timelineKinds(s))
	}
}

// Issue 11, bug 2: a Slack outage must not stall a gate. The gate's
// notification keeps failing (Slack is down for hours); the failure is
// recorded, and the gate still escalates and times out on time.
func TestFailedNotificationDoesNotStallTheGate(t *testing.T) {
	f := newFixture(t)
	f.env.RegisterActivityWithOptions(func(ctx context.Context, n workflows.GateNotice) error {
		if activity.GetInfo(ctx).Attempt < 200 {
			return errors.New("slack: service unavailable")
		}
		return nil
	}, activity.RegisterOptions{Name: workflows.ActivityNotifyGate})
	src := strings.Replace(gated, "  timeout: 30m\n", "  timeout: 30m\n  on_timeout: escalate\n  escalate_to: {groups: [leads]}\n", 1)
	f.start(src, nil, workflows.RunMeta{})
	if !f.env.IsWorkflowCompleted() {
		t.Fatal("the run never ended")
	}
	s := f.state()
	at := map[workflows.EventKind]time.Time{}
	for _, e := range s.Timeline {
		if _, seen := at[e.Kind]; !seen {
			at[e.Kind] = e.Time
		}
	}
	waiting := at[workflows.EventGateWaiting]
	if d := at[workflows.EventGateEscalated].Sub(waiting); d < 30*time.Minute || d > 32*time.Minute {
		t.Errorf("escalated %s after the gate opened, want 30m (timeline %s)", d, timelineKinds(s))
	}
	if d := at[workflows.EventGateTimedOut].Sub(waiting); d < 60*time.Minute || d > 64*time.Minute {
		t.Errorf("timed out %s after the gate opened, want 60m", d)
	}
	if _, ok := at[workflows.EventNotifyFailed]; !ok {
		t.Errorf("the failed notification is not recorded: %s", timelineKinds(s))
	}
}
