package workflows_test

import (
	"strings"
	"testing"
	"time"

	"github.com/cordon-ir/cordon/actions/wire"
	"github.com/cordon-ir/cordon/workflows"
)

// Issue 13, item 1: approving the waiting gate of a paused run executed
// the step at once. A pause means nothing changes until resume: the
// approval is kept, the action waits, and after resume it acts (the gate
// previews again and the world is still as approved).
func TestPauseHoldsAnApprovedStep(t *testing.T) {
	f := newFixture(t)
	var pause, approve, resume *outcome
	f.at(time.Minute, func() {
		pause = f.control(workflows.UpdatePause, workflows.ActPause, "dave", "", "checking the blast radius")
	})
	f.at(2*time.Minute, func() { approve = f.decide(workflows.ActApprove, "isolate", "bob", "confirmed IOC") })
	f.at(20*time.Minute, func() {
		s := f.state()
		if n := f.aws.count(wire.Execute, "aws.ec2.isolate_instance"); n != 0 {
			t.Errorf("isolate executed %d time(s) while the run was paused", n)
		}
		if got := stepStatus(s, "isolate"); got != workflows.StepHeld {
			t.Errorf("isolate is %s while paused after approval, want %s", got, workflows.StepHeld)
		}
		if !hasEvent(s, workflows.EventHeld) {
			t.Errorf("no %s event: %s", workflows.EventHeld, timelineKinds(s))
		}
		resume = f.control(workflows.UpdateResume, workflows.ActResume, "dave", "", "go")
	})
	f.start(gated, nil, workflows.RunMeta{})
	f.wantResult(workflows.RunSucceeded)
	wantOK(t, "pause", pause)
	wantOK(t, "approve while paused", approve)
	wantOK(t, "resume", resume)
	want := "aws.ec2.describe_instance:evidence#0,aws.ec2.isolate_instance:isolate#0,aws.ec2.snapshot_volumes:snapshot#0"
	if got := strings.Join(f.aws.executed(), ","); got != want {
		t.Errorf("executed %s, want %s", got, want)
	}
	if g := f.state().Gates[0]; g.Status != workflows.GateApproved || len(g.Approvals) != 1 {
		t.Errorf("the approval given during the pause was not kept: %+v", g)
	}
}

// Positive control and the abort path: a step held by the pause ends
// cancelled when the run is aborted, and nothing changes.
func TestAbortWhileHeldByPause(t *testing.T) {
	f := newFixture(t)
	f.at(time.Minute, func() { f.control(workflows.UpdatePause, workflows.ActPause, "dave", "", "hold") })
	f.at(2*time.Minute, func() { f.decide(workflows.ActApprove, "isolate", "bob", "ok") })
	f.at(3*time.Minute, func() { f.control(workflows.UpdateAbort, workflows.ActAbort, "dave", "", "false positive") })
	f.start(gated, nil, workflows.RunMeta{})
	_, _ = f.result()
	if s := f.state(); s.Status != workflows.RunAborted || stepStatus(s, "isolate") != workflows.StepCancelled {
		t.Errorf("run %s, isolate %s: want aborted and cancelled", s.Status, stepStatus(s, "isolate"))
	}
	if got := strings.Join(f.aws.executed(), ","); got != "aws.ec2.describe_instance:evidence#0" {
		t.Errorf("executed %s after an abort while held", got)
	}
}
