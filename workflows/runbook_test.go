package workflows_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/temporal"

	"github.com/cordon-ir/cordon/actions/wire"
	"github.com/cordon-ir/cordon/workflows"
)

const head = `apiVersion: cordon.dev/v1
kind: Runbook
metadata:
  name: t
inputs:
  instance_id: {type: string, default: i-0123456789abcdef0}
approvals:
  approvers: {groups: [csirt]}
  timeout: 30m
`

const gated = head + `steps:
  - id: evidence
    action: aws.ec2.describe_instance
    with: {instance_id: "${{ inputs.instance_id }}"}
  - id: isolate
    action: aws.ec2.isolate_instance
    approval: required
    with: {instance_id: "${{ inputs.instance_id }}"}
  - id: snapshot
    action: aws.ec2.snapshot_volumes
    with: {instance_id: "${{ inputs.instance_id }}"}
`

func TestApproveThenRun(t *testing.T) {
	f := newFixture(t)
	var approve *outcome
	f.at(time.Minute, func() {
		s := f.state()
		if stepStatus(s, "isolate") != workflows.StepAwaiting || len(s.Gates) != 1 || len(s.Gates[0].Changes) != 1 {
			t.Errorf("at the gate: isolate %s, gates %+v", stepStatus(s, "isolate"), s.Gates)
		}
		if got := f.aws.executed(); strings.Join(got, ",") != "aws.ec2.describe_instance:evidence#0" {
			t.Errorf("executed before approval: %v", got)
		}
		approve = f.decide(workflows.ActApprove, "isolate", "bob", "confirmed IOC")
	})
	f.start(gated, nil, workflows.RunMeta{})
	f.wantResult(workflows.RunSucceeded)
	wantOK(t, "approve", approve)
	want := "aws.ec2.describe_instance:evidence#0,aws.ec2.isolate_instance:isolate#0,aws.ec2.snapshot_volumes:snapshot#0"
	if got := strings.Join(f.aws.executed(), ","); got != want {
		t.Errorf("executed %s", got)
	}
	// Preview for the gate, and again right before acting.
	if n := f.aws.count(wire.Preview, "aws.ec2.isolate_instance"); n != 2 {
		t.Errorf("previews = %d, want 2", n)
	}
	if len(f.notices(workflows.NoticeWaiting)) != 1 || len(f.notices(workflows.NoticeApproved)) != 1 {
		t.Errorf("notices %+v", f.notes)
	}
	s := f.state()
	for _, k := range []workflows.EventKind{workflows.EventRunStarted, workflows.EventGateWaiting, workflows.EventApproval,
		workflows.EventGateApproved, workflows.EventActionDone, workflows.EventRunSucceeded} {
		if !hasEvent(s, k) {
			t.Errorf("timeline lacks %s: %s", k, timelineKinds(s))
		}
	}
}

func timelineKinds(s workflows.State) string {
	var k []string
	for _, e := range s.Timeline {
		k = append(k, string(e.Kind))
	}
	return strings.Join(k, " ")
}

func hasEvent(s workflows.State, kind workflows.EventKind) bool {
	for _, e := range s.Timeline {
		if e.Kind == kind {
			return true
		}
	}
	return false
}

func TestDenyEndsStepAndStopsRun(t *testing.T) {
	f := newFixture(t)
	var bare, deny *outcome
	f.at(time.Minute, func() { bare = f.decide(workflows.ActDeny, "isolate", "bob", "") })
	f.at(2*time.Minute, func() { deny = f.decide(workflows.ActDeny, "isolate", "bob", "false positive") })
	f.start(gated, nil, workflows.RunMeta{})
	_, err := f.result()
	wantRefused(t, "deny without reason", bare, "needs a reason")
	wantOK(t, "deny", deny)
	if err == nil {
		t.Fatal("run succeeded after a denial")
	}
	s := f.state()
	if stepStatus(s, "isolate") != workflows.StepDenied || stepStatus(s, "snapshot") != workflows.StepCancelled {
		t.Errorf("steps %+v", s.Steps)
	}
	if f.aws.count(wire.Execute, "aws.ec2.isolate_instance") != 0 {
		t.Error("a denied step ran")
	}
}

func TestDenyWithContinueOnError(t *testing.T) {
	f := newFixture(t)
	f.at(time.Minute, func() { f.decide(workflows.ActDeny, "isolate", "bob", "not now") })
	f.start(strings.Replace(gated, "    approval: required\n", "    approval: required\n    continue_on_error: true\n", 1), nil, workflows.RunMeta{})
	f.wantResult(workflows.RunSucceeded)
	if f.aws.count(wire.Execute, "aws.ec2.snapshot_volumes") != 1 {
		t.Error("later step did not run")
	}
}

func TestTimeoutDenies(t *testing.T) {
	f := newFixture(t)
	f.start(gated, nil, workflows.RunMeta{})
	if _, err := f.result(); err == nil {
		t.Fatal("a gate approved by default")
	}
	s := f.state()
	if stepStatus(s, "isolate") != workflows.StepDenied || s.Gates[0].Status != workflows.GateTimedOut {
		t.Errorf("isolate %s gate %+v", stepStatus(s, "isolate"), s.Gates)
	}
	if f.aws.count(wire.Execute, "aws.ec2.isolate_instance") != 0 {
		t.Error("timed-out step ran")
	}
}

func TestEscalateThenLeadApproves(t *testing.T) {
	f := newFixture(t)
	src := strings.Replace(gated, "  timeout: 30m\n", "  timeout: 30m\n  on_timeout: escalate\n  escalate_to: {groups: [leads]}\n", 1)
	var early, late *outcome
	// erin is only in leads: refused before the escalation, allowed after.
	f.at(10*time.Minute, func() { early = f.decide(workflows.ActApprove, "isolate", "erin", "") })
	f.at(45*time.Minute, func() {
		if len(f.notices(workflows.NoticeEscalated)) != 1 {
			t.Errorf("no escalation notice: %+v", f.notes)
		}
		late = f.decide(workflows.ActApprove, "isolate", "erin", "lead on call")
	})
	f.start(src, nil, workflows.RunMeta{})
	f.wantResult(workflows.RunSucceeded)
	wantRefused(t, "before escalation", early, "not an approver")
	wantOK(t, "after escalation", late)
}

func TestEscalationThenTimeoutDenies(t *testing.T) {
	f := newFixture(t)
	src := strings.Replace(gated, "  timeout: 30m\n", "  timeout: 30m\n  on_timeout: escalate\n  escalate_to: {groups: [leads]}\n", 1)
	f.start(src, nil, workflows.RunMeta{})
	if _, err := f.result(); err == nil {
		t.Fatal("escalated gate approved by default")
	}
	if len(f.notices(workflows.NoticeEscalated)) != 1 || len(f.notices(workflows.NoticeTimedOut)) != 1 {
		t.Errorf("notices %+v", f.notes)
	}
}

func TestValidatorRefusals(t *testing.T) {
	f := newFixture(t)
	src := strings.Replace(gated, "  timeout: 30m\n", "  timeout: 30m\n  min_approvals: 2\n", 1)
	type attempt struct {
		label, actor, want string
		o                  *outcome
	}
	attempts := []*attempt{
		{label: "self-approval", actor: "alice", want: "started this run and cannot approve"},
		{label: "outside the group", actor: "dave", want: "is not an approver of step isolate"},
		{label: "unknown person", actor: "mallory", want: `"mallory" is not in the roster`},
		{label: "first approval", actor: "bob"},
		{label: "same person twice", actor: "bob", want: "already approved"},
	}
	for i, a := range attempts {
		a := a
		f.at(time.Duration(i+1)*time.Minute, func() { a.o = f.decide(workflows.ActApprove, "isolate", a.actor, "") })
	}
	var notWaiting, stale, second *outcome
	f.at(10*time.Minute, func() { notWaiting = f.decide(workflows.ActApprove, "snapshot", "bob", "") })
	f.at(11*time.Minute, func() {
		// The approval must bind to the preview that was shown.
		stale = f.send(workflows.UpdateApprove, workflows.Request{RunID: "run-1", Action: workflows.ActApprove, Step: "isolate",
			PreviewHash: "deadbeef", Actor: "carol", Channel: "cli", Time: f.env.Now()})
	})
	f.at(12*time.Minute, func() {
		if s := f.state(); s.Gates[0].Status != workflows.GateWaiting || len(s.Gates[0].Approvals) != 1 {
			t.Errorf("refusals changed the gate: %+v", s.Gates[0])
		}
		// Four eyes: a second, distinct approver completes the gate.
		second = f.decide(workflows.ActApprove, "isolate", "carol", "")
	})
	f.start(src, nil, workflows.RunMeta{})
	f.wantResult(workflows.RunSucceeded)
	for _, a := range attempts {
		if a.want == "" {
			wantOK(t, a.label, a.o)
		} else {
			wantRefused(t, a.label, a.o, a.want)
		}
	}
	wantRefused(t, "step not waiting", notWaiting, "not waiting")
	wantRefused(t, "stale preview", stale, "review the current change")
	wantOK(t, "second approver", second)
	if got := f.state().Gates[0].Approvals; len(got) != 2 || got[0].Actor != "bob" || got[1].Actor != "carol" {
		t.Errorf("approvals %+v", got)
	}
}

// If the change differs when the step is about to run (the world moved
// after the approval), the gate asks again.
func TestWorldMovedAsksAgain(t *testing.T) {
	f := newFixture(t)
	previews := 0
	f.aws.changes = func(call wire.Call, n int) []wire.Change {
		if call.Action == "aws.ec2.isolate_instance" && call.Mode == wire.Preview {
			previews++
			if previews >= 2 {
				return []wire.Change{{Resource: "eni-2", Field: "groups", Before: "sg-new", After: "sg-quarantine"}}
			}
		}
		return []wire.Change{{Resource: "eni-1", Field: "groups", Before: "sg-app", After: "sg-quarantine"}}
	}
	var second *outcome
	f.at(time.Minute, func() { f.decide(workflows.ActApprove, "isolate", "bob", "") })
	f.at(2*time.Minute, func() {
		s := f.state()
		if stepStatus(s, "isolate") != workflows.StepAwaiting {
			t.Errorf("gate did not reopen: %s", stepStatus(s, "isolate"))
		}
		second = f.decide(workflows.ActApprove, "isolate", "bob", "re-checked")
	})
	f.start(gated, nil, workflows.RunMeta{})
	f.wantResult(workflows.RunSucceeded)
	wantOK(t, "second approval", second)
	if !hasEvent(f.state(), workflows.EventGateReopened) {
		t.Errorf("timeline lacks gate_reopened: %s", timelineKinds(f.state()))
	}
}

// If part of the approved change was done by someone else meanwhile (in a
// fleet, another host revoked the shared role's sessions first), what is
// left was approved exactly as it is: the gate does not ask again.
func TestApprovedSubsetDoesNotAskAgain(t *testing.T) {
	f := newFixture(t)
	previews := 0
	both := []wire.Change{
		{Resource: "eni-1", Field: "groups", Before: "sg-app", After: "sg-quarantine"},
		{Resource: "eni-2", Field: "groups", Before: "sg-app", After: "sg-quarantine"},
	}
	f.aws.changes = func(call wire.Call, n int) []wire.Change {
		if call.Action == "aws.ec2.isolate_instance" && call.Mode == wire.Preview {
			previews++
			if previews >= 2 {
				return both[1:] // eni-1 was isolated by someone else
			}
		}
		return both
	}
	f.at(time.Minute, func() { f.decide(workflows.ActApprove, "isolate", "bob", "") })
	f.start(gated, nil, workflows.RunMeta{})
	f.wantResult(workflows.RunSucceeded)
	if s := f.state(); hasEvent(s, workflows.EventGateReopened) || !hasEvent(s, workflows.EventGateStillApproved) {
		t.Errorf("timeline %s: want gate_still_approved and no gate_reopened", timelineKinds(s))
	}
	if g := f.state().Gates[0]; g.Status != workflows.GateApproved || len(g.Approvals) != 1 {
		t.Errorf("gate %+v", g)
	}
	if n := f.aws.count(wire.Execute, "aws.ec2.isolate_instance"); n != 1 {
		t.Errorf("isolate executed %d times", n)
	}
}

func TestPauseResumeAndSkip(t *testing.T) {
	f := newFixture(t)
	src := head + `steps:
  - id: hold
    action: core.wait
    with: {duration: 10m}
  - id: evidence
    action: aws.ec2.describe_instance
    with: {instance_id: "${{ inputs.instance_id }}"}
  - id: tag
    action: aws.ec2.tag
    with: {resource_ids: ["${{ inputs.instance_id }}"], tags: {a: b}}
`
	var pause, pause2, noRole, skip, skipRunning, resume *outcome
	f.at(time.Minute, func() { pause = f.control(workflows.UpdatePause, workflows.ActPause, "dave", "", "hold on") })
	f.at(2*time.Minute, func() { pause2 = f.control(workflows.UpdatePause, workflows.ActPause, "bob", "", "") })
	f.at(3*time.Minute, func() { noRole = f.control(workflows.UpdateResume, workflows.ActResume, "erin", "", "") })
	f.at(4*time.Minute, func() { skip = f.control(workflows.UpdateSkip, workflows.ActSkip, "bob", "tag", "not needed") })
	f.at(5*time.Minute, func() { skipRunning = f.control(workflows.UpdateSkip, workflows.ActSkip, "bob", "hold", "x") })
	f.at(30*time.Minute, func() {
		s := f.state()
		if !s.Paused || stepStatus(s, "evidence") != workflows.StepPending || stepStatus(s, "hold") != workflows.StepSucceeded {
			t.Errorf("paused state: paused=%t steps %+v", s.Paused, s.Steps)
		}
		resume = f.control(workflows.UpdateResume, workflows.ActResume, "bob", "", "go")
	})
	f.start(src, nil, workflows.RunMeta{})
	f.wantResult(workflows.RunSucceeded)
	wantOK(t, "pause", pause)
	wantRefused(t, "pause twice", pause2, "already paused")
	wantRefused(t, "no role", noRole, "needs the responder or lead role")
	wantOK(t, "skip", skip)
	wantRefused(t, "skip running step", skipRunning, "only a pending step")
	wantOK(t, "resume", resume)
	s := f.state()
	if stepStatus(s, "tag") != workflows.StepSkipped || f.aws.count(wire.Execute, "aws.ec2.tag") != 0 {
		t.Errorf("tag %s", stepStatus(s, "tag"))
	}
}

func TestAbortCancelsActivityInFlight(t *testing.T) {
	f := newFixture(t)
	f.aws.delay = 20 * time.Second
	src := head + `steps:
  - id: snap
    action: aws.ec2.snapshot_volumes
    with: {instance_id: "${{ inputs.instance_id }}"}
  - id: tag
    action: aws.ec2.tag
    with: {resource_ids: ["${{ inputs.instance_id }}"], tags: {a: b}}
`
	var bare, abort *outcome
	f.at(time.Second, func() {
		bare = f.control(workflows.UpdateAbort, workflows.ActAbort, "bob", "", "")
		abort = f.control(workflows.UpdateAbort, workflows.ActAbort, "bob", "", "wrong host")
	})
	start := time.Now()
	f.start(src, nil, workflows.RunMeta{})
	_, err := f.result()
	var ae *temporal.ApplicationError
	if !errors.As(err, &ae) || ae.Type() != string(workflows.RunAborted) {
		t.Fatalf("err = %v", err)
	}
	wantRefused(t, "abort without reason", bare, "needs a reason")
	wantOK(t, "abort", abort)
	if time.Since(start) > 15*time.Second {
		t.Errorf("the activity in flight was not cancelled (took %s)", time.Since(start))
	}
	s := f.state()
	if stepStatus(s, "snap") != workflows.StepCancelled || stepStatus(s, "tag") != workflows.StepCancelled {
		t.Errorf("steps %+v", s.Steps)
	}
}

func TestWhenFalseSkips(t *testing.T) {
	f := newFixture(t)
	f.aws.outputs["aws.ec2.describe_instance"] = map[string]any{"auto_scaling_group": ""}
	src := head + `steps:
  - id: evidence
    action: aws.ec2.describe_instance
    with: {instance_id: "${{ inputs.instance_id }}"}
  - id: detach
    action: aws.autoscaling.detach_instance
    when: steps.evidence.outputs.auto_scaling_group != ""
    with: {instance_id: "${{ inputs.instance_id }}"}
`
	f.start(src, nil, workflows.RunMeta{})
	f.wantResult(workflows.RunSucceeded)
	if stepStatus(f.state(), "detach") != workflows.StepSkipped || f.aws.count(wire.Execute, "aws.autoscaling.detach_instance") != 0 {
		t.Error("detach ran although its condition was false")
	}
}

func TestFailureStopsUnlessContinueOnError(t *testing.T) {
	for _, cont := range []bool{false, true} {
		t.Run(fmt.Sprint("continue_on_error=", cont), func(t *testing.T) {
			f := newFixture(t)
			f.aws.fail = func(c wire.Call) error {
				if c.Action == "aws.ec2.capture_console_output" {
					return temporal.NewNonRetryableApplicationError("access denied to ec2:GetConsoleOutput", wire.ErrAccessDenied, nil)
				}
				return nil
			}
			coe := ""
			if cont {
				coe = "    continue_on_error: true\n"
			}
			src := head + `steps:
  - id: console
    action: aws.ec2.capture_console_output
` + coe + `    with: {instance_id: "${{ inputs.instance_id }}"}
  - id: evidence
    action: aws.ec2.describe_instance
    with: {instance_id: "${{ inputs.instance_id }}"}
`
			f.start(src, nil, workflows.RunMeta{})
			_, err := f.result()
			s := f.state()
			if stepStatus(s, "console") != workflows.StepFailed {
				t.Errorf("console %s", stepStatus(s, "console"))
			}
			if cont {
				if err != nil || stepStatus(s, "evidence") != workflows.StepSucceeded {
					t.Errorf("err %v, evidence %s", err, stepStatus(s, "evidence"))
				}
			} else if err == nil || stepStatus(s, "evidence") != workflows.StepCancelled || !strings.Contains(err.Error(), "ec2:GetConsoleOutput") {
				t.Errorf("err %v, evidence %s", err, stepStatus(s, "evidence"))
			}
		})
	}
}

func TestForeachRespectsConcurrencyAndMaxErrors(t *testing.T) {
	f := newFixture(t)
	f.aws.delay = 20 * time.Millisecond
	f.aws.fail = func(c wire.Call) error {
		if c.Run.Item == 2 || c.Run.Item == 3 {
			return temporal.NewNonRetryableApplicationError("not found", wire.ErrNotFound, nil)
		}
		return nil
	}
	var ids []string
	for i := 0; i < 12; i++ {
		ids = append(ids, fmt.Sprintf("i-0123456789abcde%02d", i))
	}
	src := head + `  ids: {type: list, default: []}
steps:
  - id: snap
    action: aws.ec2.snapshot_volumes
    foreach: inputs.ids
    max_concurrency: 3
    max_errors: 1
    with: {instance_id: "${{ item }}"}
`
	src = strings.Replace(src, "approvals:", "  ids: {type: list, default: []}\napprovals:", 1)
	src = strings.Replace(src, "  ids: {type: list, default: []}\nsteps:", "steps:", 1)
	f.start(src, map[string]any{"ids": toAny(ids), "instance_id": "i-0123456789abcdef0"}, workflows.RunMeta{})
	_, err := f.result()
	if err == nil {
		t.Fatal("more failures than max_errors, yet the run succeeded")
	}
	if f.aws.peak > 3 {
		t.Errorf("peak concurrency %d > max_concurrency 3", f.aws.peak)
	}
	if n := len(f.aws.calls); n >= 12 {
		t.Errorf("the fan-out did not stop after max_errors: %d items started", n)
	}
	s := f.state()
	if stepStatus(s, "snap") != workflows.StepFailed {
		t.Errorf("snap %s", stepStatus(s, "snap"))
	}
}

func toAny(s []string) []any {
	out := make([]any, len(s))
	for i, v := range s {
		out[i] = v
	}
	return out
}

func TestChildRunbooksPerItem(t *testing.T) {
	f := newFixture(t)
	f.aws.outputs["aws.ec2.isolate_instance"] = map[string]any{"quarantine_group_id": "sg-q"}
	src := head + `steps:
  - id: contain
    uses: child
    foreach: ["i-0123456789abcdef1", "i-0123456789abcdef2"]
    max_concurrency: 2
    with: {instance_id: "${{ item }}"}
outputs:
  groups: steps.contain.outputs.group
`
	// Each child has its own gate; a lead's break-glass approval given
	// with the parent's start is inherited by the children it starts.
	f.env.SetStartWorkflowOptions(clientStartOptions("run-1"))
	f.env.ExecuteWorkflow(workflows.WorkflowName, workflows.RunInput{Plan: compilePlan(t, src), Meta: workflows.RunMeta{Requester: "alice"},
		BreakGlass: []workflows.Request{{RunID: "run-1", Action: workflows.ActApproveAll, Actor: "carol", Channel: "cli", Reason: "botnet", Time: f.env.Now()}}})
	res := f.wantResult(workflows.RunSucceeded)
	if got := fmt.Sprint(res.Outputs["groups"]); got != "[sg-q sg-q]" {
		t.Errorf("outputs %v", res.Outputs)
	}
	if n := f.aws.count(wire.Execute, "aws.ec2.isolate_instance"); n != 2 {
		t.Errorf("isolations %d", n)
	}
	if ch := f.state().Steps[0].Children; len(ch) != 2 || ch[0] != "run-1/contain/1" {
		t.Errorf("children %v", ch)
	}
}

func TestDryRunMutatesNothingAndDoesNotWait(t *testing.T) {
	f := newFixture(t)
	f.start(gated, nil, workflows.RunMeta{DryRun: true})
	f.wantResult(workflows.RunSucceeded)
	if got := f.aws.executed(); len(got) != 0 {
		t.Errorf("dry run executed %v", got)
	}
	if !hasEvent(f.state(), workflows.EventGateRehearsed) {
		t.Error("the rehearsal does not show the gate")
	}
}

func TestBreakGlassApprovesEveryGate(t *testing.T) {
	f := newFixture(t)
	src := gated + `  - id: stop
    action: aws.ec2.stop_instance
    approval: required
    with: {instance_id: "${{ inputs.instance_id }}"}
`
	var notLead, noReason, lead *outcome
	req := func(actor, reason string) workflows.Request {
		return workflows.Request{RunID: "run-1", Action: workflows.ActApproveAll, Actor: actor, Channel: "cli", Reason: reason, Time: f.env.Now()}
	}
	f.at(time.Minute, func() { notLead = f.send(workflows.UpdateApproveAll, req("bob", "botnet")) })
	f.at(2*time.Minute, func() { noReason = f.send(workflows.UpdateApproveAll, req("carol", "")) })
	f.at(3*time.Minute, func() { lead = f.send(workflows.UpdateApproveAll, req("carol", "active botnet, contain now")) })
	f.start(src, nil, workflows.RunMeta{})
	f.wantResult(workflows.RunSucceeded)
	wantRefused(t, "non-lead", notLead, "needs the lead role")
	wantRefused(t, "no reason", noReason, "needs a reason")
	wantOK(t, "lead", lead)
	s := f.state()
	if s.BreakGlass == nil || s.BreakGlass.Actor != "carol" {
		t.Errorf("break glass not recorded: %+v", s.BreakGlass)
	}
	for _, g := range s.Gates {
		if g.Status != workflows.GateApproved || len(g.Approvals) != 1 || !g.Approvals[0].BreakGlass {
			t.Errorf("gate %s: %+v", g.Key, g)
		}
	}
	if f.aws.count(wire.Execute, "aws.ec2.stop_instance") != 1 {
		t.Error("the later gate did not pass under break-glass")
	}
	// The gate that was waiting was previewed and approved on that
	// preview; the later one, under break-glass, spends no preview.
	if n := f.aws.count(wire.Preview, "aws.ec2.stop_instance"); n != 0 {
		t.Errorf("stop_instance previewed %d times under break-glass, want 0", n)
	}
	for _, g := range s.Gates {
		if g.Step == "stop" && (!g.Unpreviewed || g.PreviewHash != "") {
			t.Errorf("gate %s: unpreviewed %v, preview hash %q", g.Key, g.Unpreviewed, g.PreviewHash)
		}
		if g.Step != "stop" && (g.Unpreviewed || g.PreviewHash == "") {
			t.Errorf("gate %s was waiting, so it was approved on a preview: %+v", g.Key, g)
		}
	}
}

// Issue 13, item 3: a fleet with a host not contained did not succeed,
// even when max_errors let the run go on. The run ends partial, names the
// host, and keeps its outputs (the failed host's entry is a zero value).
func TestFailedItemWithinMaxErrorsEndsPartial(t *testing.T) {
	f := newFixture(t)
	f.aws.fail = func(c wire.Call) error {
		if c.Run.Item == 2 {
			return temporal.NewNonRetryableApplicationError("access denied to ec2:CreateSnapshots", wire.ErrAccessDenied, nil)
		}
		return nil
	}
	src := strings.Replace(head, "approvals:", "  ids: {type: list, default: []}\napprovals:", 1) + `steps:
  - id: snap
    action: aws.ec2.snapshot_volumes
    foreach: inputs.ids
    max_errors: 1
    with: {instance_id: "${{ item }}"}
outputs:
  snapshots: "${{ steps.snap.outputs.snapshot_ids }}"
`
	ids := []string{"i-0123456789abcde01", "i-0123456789abcde02", "i-0123456789abcde03"}
	f.start(src, map[string]any{"ids": toAny(ids)}, workflows.RunMeta{})
	res := f.wantResult(workflows.RunPartial)
	if !strings.Contains(res.Error, "#2 i-0123456789abcde02") {
		t.Errorf("the partial result does not name the failed host: %q", res.Error)
	}
	s := f.state()
	var snap workflows.StepState
	for _, st := range s.Steps {
		if st.ID == "snap" {
			snap = st
		}
	}
	if len(snap.FailedItems) != 1 || snap.FailedItems[0].Item != 2 || snap.FailedItems[0].Value != ids[1] ||
		!strings.Contains(snap.FailedItems[0].Error, "ec2:CreateSnapshots") {
		t.Errorf("failed items %+v", snap.FailedItems)
	}
	if s.Outputs["snapshots"] == nil {
		t.Errorf("a partial run lost its outputs: %+v", s.Outputs)
	}
	if !hasEvent(s, workflows.EventRunPartial) {
		t.Errorf("timeline %s: want run_partial", timelineKinds(s))
	}
}
