package e2e

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"

	"github.com/cordon-ir/cordon/internal/awsemu"
	"github.com/cordon-ir/cordon/runbooks"
	"github.com/cordon-ir/cordon/runctl"
	"github.com/cordon-ir/cordon/workflows"
)

// The attacks of issue 10, each tried as an attacker who can reach the
// Temporal namespace and run the plain cordon CLI (or the SDK) would try
// it, on the real in-process server, with a positive control beside each
// so a refusal cannot pass vacuously. docs/security.md maps each to its
// defence.

// oneHost seeds one compromised instance and returns its id.
func oneHost(t *testing.T, prefix string) string {
	t.Helper()
	fleet := seedFleet(t, awsemu.FleetSpec{Instances: 1, NamePrefix: prefix, NetworkInterfaces: 1, Volumes: 1, Compromised: []int{0}})
	return fleet.InstanceIDs[0]
}

// untouched checks that the instance was neither isolated nor stopped.
func untouched(t *testing.T, id string) {
	t.Helper()
	in, _ := shared.emu.Instance(id)
	if in.State != "running" {
		t.Errorf("instance %s is %s: a refused run changed it", id, in.State)
	}
	for _, eni := range in.NetworkInterfaceIDs {
		ni, _ := shared.emu.NetworkInterface(eni)
		for _, sg := range ni.SecurityGroupIDs {
			if g, ok := shared.emu.SecurityGroup(sg); ok && strings.Contains(g.Name, "quarantine") {
				t.Errorf("instance %s was isolated (%s) by a run that must have been refused", id, g.Name)
			}
		}
	}
}

// ec2Inputs resolves the ec2-compromise inputs for an instance.
func ec2Inputs(t *testing.T, plan *runbooks.Plan, id, final string) map[string]any {
	t.Helper()
	inputs, err := plan.ResolveInputs(map[string]string{"instance_id": id, "final_action": final})
	if err != nil {
		t.Fatal(err)
	}
	return inputs
}

// startRaw starts a run with whatever input a client cares to send.
func startRaw(t *testing.T, runID string, in workflows.RunInput) {
	t.Helper()
	_, err := shared.client.ExecuteWorkflow(context.Background(), client.StartWorkflowOptions{
		ID: runID, TaskQueue: shared.cfg.Temporal.TaskQueue, WorkflowIDReusePolicy: enumspb.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE,
	}, workflows.WorkflowName, in)
	if err != nil {
		t.Fatal(err)
	}
}

// ended waits for a run to end and returns its final state.
func ended(t *testing.T, runID string) workflows.State {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for {
		s, err := runctl.State(ctx, shared.client, runID)
		if err == nil && s.Status != workflows.RunRunning {
			return s
		}
		select {
		case <-ctx.Done():
			t.Fatalf("run %s did not end: %v", runID, err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// refusedWith checks that a run was refused before anything ran, that
// the refusal is in its record, and says why.
func refusedWith(t *testing.T, s workflows.State, substr string) {
	t.Helper()
	if s.Status != workflows.RunFailed || len(s.Refusals) == 0 || !strings.Contains(s.Refusals[0].Reason, substr) {
		t.Fatalf("run %s: status %s, refusals %+v; want a refusal saying %q", s.Meta.RunID, s.Status, s.Refusals, substr)
	}
	seen := map[workflows.EventKind]bool{}
	for _, e := range s.Timeline {
		seen[e.Kind] = true
	}
	if !seen[workflows.EventRefused] || seen[workflows.EventActionDone] || seen[workflows.EventStepStarted] {
		t.Errorf("timeline %v: want a refusal and no step", kindsOf(s))
	}
}

func signedStart(t *testing.T, plan *runbooks.Plan, inputs map[string]any, runID, requester, signerID string) *workflows.Request {
	t.Helper()
	req := workflows.Request{RunID: runID, Action: workflows.ActStart, Actor: requester, Channel: "cli", Time: time.Now().UTC(),
		Nonce: runctl.NewNonce(), Runbook: plan.Runbook.Name, PlanHash: plan.ContentHash(), InputsHash: workflows.InputsHash(inputs)}
	signed, err := workflows.Sign(req, shared.keys[signerID])
	if err != nil {
		t.Fatal(err)
	}
	return &signed
}

// Attack 1: a run started with meta.pre_approved naming a lead passed every
// gate; nothing signed it. Now the run is refused before anything runs.
func TestAttackUnsignedPreApprovalIsRefused(t *testing.T) {
	target := oneHost(t, "preapproved")
	plan := compileExample(t, "ec2-compromise")
	inputs := ec2Inputs(t, plan, target, "stop")
	runID := "e2e-attack-preapproved"
	startRaw(t, runID, workflows.RunInput{Plan: plan, Inputs: inputs, Start: signedStart(t, plan, inputs, runID, "alice", "alice"),
		Meta: workflows.RunMeta{RunID: runID, Requester: "alice", Channel: "cli",
			PreApproved: &workflows.Approval{Actor: "carol", Channel: "cli", BreakGlass: true, Reason: "contain now", Time: time.Now()}}})
	refusedWith(t, ended(t, runID), "pre-approval in the name of carol that nobody signed")
	untouched(t, target)

	// Positive control: carol's signed break-glass given with the start
	// passes every gate.
	target = oneHost(t, "signedbg")
	inputs = ec2Inputs(t, plan, target, "stop")
	runID = startSigned(t, shared.client, shared.cfg.Temporal.TaskQueue, plan, inputs,
		workflows.RunMeta{RunID: "e2e-signed-break-glass", Requester: "alice", Channel: "cli"}, "active botnet")
	res, err := runctl.Wait(context.Background(), shared.client, runID)
	if err != nil || res.Status != workflows.RunSucceeded {
		t.Fatalf("signed break-glass run: %+v %v", res, err)
	}
	s, _ := runctl.State(context.Background(), shared.client, runID)
	if s.BreakGlass == nil || s.BreakGlass.Actor != "carol" {
		t.Errorf("break-glass not recorded as carol's: %+v", s.BreakGlass)
	}
	if in, _ := shared.emu.Instance(target); in.State != "stopped" && in.State != "stopping" {
		t.Errorf("control: instance %s is %s", target, in.State)
	}
}

// Attack 2: a plan whose destructive step has no gate ran that step
// unapproved. The worker checks every step against its own catalog.
func TestAttackUngatedDestructiveStepIsRefused(t *testing.T) {
	for _, tamper := range []struct {
		name string
		edit func(*runbooks.Step)
		want string
	}{
		{"gate removed", func(st *runbooks.Step) { st.Gate = nil }, "without an approval gate"},
		{"gate removed, justified", func(st *runbooks.Step) { st.Gate, st.Justification = nil, "trust me" }, "without an approval gate"},
		{"marked harmless", func(st *runbooks.Step) { st.Gate, st.Destructive, st.Mutating = nil, false, false }, "the catalog says destructive=true"},
		{"gate nobody needs to pass", func(st *runbooks.Step) { g := *st.Gate; g.MinApprovals = 0; st.Gate = &g }, "needs no approval"},
	} {
		t.Run(tamper.name, func(t *testing.T) {
			target := oneHost(t, "ungated")
			bad := compileExample(t, "ec2-compromise")
			isolate, ok := bad.Step("isolate")
			if !ok {
				t.Fatal("no isolate step")
			}
			tamper.edit(isolate)
			inputs := ec2Inputs(t, bad, target, "stop")
			runID := "e2e-attack-ungated-" + strings.ReplaceAll(tamper.name, " ", "-")
			runID = strings.ReplaceAll(runID, ",", "")
			startSigned(t, shared.client, shared.cfg.Temporal.TaskQueue, bad, inputs, workflows.RunMeta{RunID: runID, Requester: "alice"}, "")
			refusedWith(t, ended(t, runID), tamper.want)
			untouched(t, target)
		})
	}
	// Positive control: the same runbook, untampered, waits at its gate.
	runID, _ := atIsolateGate(t, "e2e-gated-control", "gated", "alice")
	abortRun(t, runID)
}

// atIsolateGate starts ec2-compromise on a new host (final action stop),
// signed by requester, and waits until its isolate gate waits; it returns
// the run id and the host.
func atIsolateGate(t *testing.T, runID, hostPrefix, requester string) (string, string) {
	t.Helper()
	plan := compileExample(t, "ec2-compromise")
	host := oneHost(t, hostPrefix)
	runID = startSigned(t, shared.client, shared.cfg.Temporal.TaskQueue, plan, ec2Inputs(t, plan, host, "stop"),
		workflows.RunMeta{RunID: runID, Requester: requester}, "")
	waitForGate(t, runID, "isolate")
	return runID, host
}

func abortRun(t *testing.T, runID string) {
	t.Helper()
	if _, err := runctl.Send(context.Background(), shared.client, workflows.Request{RunID: runID, Action: workflows.ActAbort,
		Actor: "bob", Channel: "cli", Reason: "test over"}, shared.keys["bob"]); err != nil {
		t.Fatalf("abort %s: %v", runID, err)
	}
	ended(t, runID)
}

// Attack 3: a responder writes her own copy of a runbook naming herself as
// approver with self-approval on, and approves her own destructive step.
// Now an edited copy is an ad-hoc plan: it waits for a lead's approval of
// the plan itself (shown as a diff), and the organisation's policy forbids
// self-approval whatever the runbook says.
func TestAttackOwnRunbookCopyCannotSelfApprove(t *testing.T) {
	src := exampleSource(t, "ec2-compromise")
	edited := strings.Replace(src, "  allow_self_approval: false\n", "  allow_self_approval: true\n", 1)
	edited = strings.Replace(edited, "  approvers:\n    groups: [csirt-oncall]\n", "  approvers: {people: [alice]}\n", 1)
	if edited == src || !strings.Contains(edited, "people: [alice]") {
		t.Fatalf("the example's approvals section changed; update this test:\n%s", src)
	}
	plan := compileAdHoc(t, "my-copy.yaml", edited)
	target := oneHost(t, "owncopy")
	ctx := context.Background()
	runID := startSigned(t, shared.client, shared.cfg.Temporal.TaskQueue, plan, ec2Inputs(t, plan, target, "stop"),
		workflows.RunMeta{RunID: "e2e-attack-own-copy", Requester: "alice"}, "")
	waitForGate(t, runID, workflows.PlanGate)
	s, _ := runctl.State(ctx, shared.client, runID)
	planGate := s.Gates[0]
	if planGate.Key != workflows.PlanGate || len(planGate.Changes) == 0 || s.Provenance == nil || s.Provenance.Vouched {
		t.Fatalf("the edited copy was not held for a lead: gates %+v provenance %+v", s.Gates, s.Provenance)
	}
	diff := fmt.Sprint(planGate.Changes)
	if !strings.Contains(diff, "allow_self_approval") || !strings.Contains(diff, "alice") {
		t.Errorf("the plan's diff does not show what was edited: %s", diff)
	}
	send := func(actor, step, hash string) error {
		_, err := runctl.Send(ctx, shared.client, workflows.Request{RunID: runID, Action: workflows.ActApprove, Step: step,
			PreviewHash: hash, Actor: actor, Channel: "cli"}, shared.keys[actor])
		return err
	}
	if err := send("alice", workflows.PlanGate, planGate.PreviewHash); !isRefused(err, "not an approver") {
		t.Errorf("alice approving her own plan: %v", err)
	}
	if err := send("alice", "isolate", ""); !isRefused(err, "not waiting") {
		t.Errorf("alice approving a step before the plan is approved: %v", err)
	}
	// A lead approves the plan (positive control: the path exists)…
	if err := send("carol", workflows.PlanGate, planGate.PreviewHash); err != nil {
		t.Fatalf("lead approving the plan: %v", err)
	}
	waitForGate(t, runID, "isolate")
	s, _ = runctl.State(ctx, shared.client, runID)
	var isolate workflows.GateState
	for _, g := range s.Gates {
		if g.Key == "isolate" {
			isolate = g
		}
	}
	// …and still alice cannot approve her own destructive step.
	if err := send("alice", "isolate", isolate.PreviewHash); !isRefused(err, "policy forbids self-approval") {
		t.Errorf("self-approval under the runbook's allow_self_approval: %v", err)
	}
	if !strings.Contains(isolate.Rule, "no self-approval") {
		t.Errorf("the gate does not say the policy applied: %q", isolate.Rule)
	}
	if s.Provenance.PlanApprovedBy != "carol" {
		t.Errorf("plan approval not recorded: %+v", s.Provenance)
	}
	abortRun(t, runID)
	untouched(t, target)
	// The ad-hoc plan's path (the @plan gate, a lead's approval of it with
	// the roster read again, then the step's own gate) replays in CI.
	replay(t, runID, "adhoc-plan-approved")
}

// Attack 4: `cordon run --as carol` recorded carol as the requester, and
// the real requester then approved her own run. The requester is now who
// signed the start.
func TestAttackRequesterIsWhoSigned(t *testing.T) {
	plan := compileExample(t, "ec2-compromise")
	target := oneHost(t, "asCarol")
	inputs := ec2Inputs(t, plan, target, "stop")
	ctx := context.Background()

	// Alice claims to be carol but can only sign with her own key.
	runID := "e2e-attack-as-carol"
	startRaw(t, runID, workflows.RunInput{Plan: plan, Inputs: inputs, Start: signedStart(t, plan, inputs, runID, "carol", "alice"),
		Meta: workflows.RunMeta{RunID: runID, Requester: "carol", Channel: "cli"}})
	refusedWith(t, ended(t, runID), "does not match any key")
	// An unsigned start is refused too.
	runID = "e2e-attack-unsigned-start"
	startRaw(t, runID, workflows.RunInput{Plan: plan, Inputs: inputs, Meta: workflows.RunMeta{RunID: runID, Requester: "carol", Channel: "cli"}})
	refusedWith(t, ended(t, runID), "the start is not signed")
	// Inputs changed after signing are refused.
	runID = "e2e-attack-other-inputs"
	other := ec2Inputs(t, plan, oneHost(t, "other"), "stop")
	startRaw(t, runID, workflows.RunInput{Plan: plan, Inputs: other, Start: signedStart(t, plan, inputs, runID, "alice", "alice"),
		Meta: workflows.RunMeta{RunID: runID, Requester: "alice", Channel: "cli"}})
	refusedWith(t, ended(t, runID), "signed for other inputs")

	// Alice signs as herself but the input names carol: alice is recorded,
	// and she cannot approve her own run.
	runID = "e2e-attack-meta-carol"
	startRaw(t, runID, workflows.RunInput{Plan: plan, Inputs: inputs, Start: signedStart(t, plan, inputs, runID, "alice", "alice"),
		Meta: workflows.RunMeta{RunID: runID, Requester: "carol", Channel: "cli"}})
	waitForGate(t, runID, "isolate")
	s, _ := runctl.State(ctx, shared.client, runID)
	if s.Meta.Requester != "alice" || !s.Meta.Authenticated || s.Provenance == nil || !s.Provenance.Vouched {
		t.Fatalf("requester %q authenticated %t provenance %+v", s.Meta.Requester, s.Meta.Authenticated, s.Provenance)
	}
	_, err := runctl.Send(ctx, shared.client, workflows.Request{RunID: runID, Action: workflows.ActApprove, Step: "isolate",
		PreviewHash: s.Gates[0].PreviewHash, Actor: "alice", Channel: "cli"}, shared.keys["alice"])
	if !isRefused(err, "started this run") {
		t.Errorf("alice approving the run she started: %v", err)
	}
	// Positive control: bob, not the requester, may.
	if _, err := runctl.Send(ctx, shared.client, workflows.Request{RunID: runID, Action: workflows.ActApprove, Step: "isolate",
		PreviewHash: s.Gates[0].PreviewHash, Actor: "bob", Channel: "cli"}, shared.keys["bob"]); err != nil {
		t.Errorf("bob approving: %v", err)
	}
	abortRun(t, runID)
}

// Attack 5: a twin workflow whose input names another run's id accepted a
// decision signed for that other run. A run's identity is its workflow id.
func TestAttackTwinRunIdentity(t *testing.T) {
	plan := compileExample(t, "ec2-compromise")
	ctx := context.Background()
	victim, _ := atIsolateGate(t, "e2e-victim", "victim", "alice")

	// The twin claims the victim's id in its input.
	twinTarget := oneHost(t, "twin")
	inputs := ec2Inputs(t, plan, twinTarget, "stop")
	startRaw(t, "e2e-twin", workflows.RunInput{Plan: plan, Inputs: inputs, Start: signedStart(t, plan, inputs, victim, "alice", "alice"),
		Meta: workflows.RunMeta{RunID: victim, Requester: "alice"}})
	refusedWith(t, ended(t, "e2e-twin"), "input names run")
	untouched(t, twinTarget)

	// A twin that starts honestly cannot use a decision signed for the
	// victim: bob's approval of the victim's gate, delivered to the twin.
	twin := startSigned(t, shared.client, shared.cfg.Temporal.TaskQueue, plan, inputs, workflows.RunMeta{RunID: "e2e-twin-2", Requester: "alice"}, "")
	waitForGate(t, twin, "isolate")
	vs, _ := runctl.State(ctx, shared.client, victim)
	signed, err := workflows.Sign(workflows.Request{RunID: victim, Action: workflows.ActApprove, Step: "isolate", PreviewHash: vs.Gates[0].PreviewHash,
		Actor: "bob", Channel: "cli", Time: time.Now().UTC(), Nonce: runctl.NewNonce()}, shared.keys["bob"])
	if err != nil {
		t.Fatal(err)
	}
	if _, err := deliver(ctx, twin, workflows.UpdateApprove, signed); err == nil || !strings.Contains(err.Error(), "is for run") {
		t.Errorf("a decision for the victim delivered to the twin: %v", err)
	}
	ts, _ := runctl.State(ctx, shared.client, twin)
	if ts.Meta.RunID != twin {
		t.Errorf("the twin's recorded id is %q", ts.Meta.RunID)
	}
	// Positive control: the same decision reaches the victim.
	if _, err := deliver(ctx, victim, workflows.UpdateApprove, signed); err != nil {
		t.Errorf("the decision at its own run: %v", err)
	}
	abortRun(t, victim)
	abortRun(t, twin)
}

// deliver sends an already signed request as it is, as a replaying
// attacker would.
func deliver(ctx context.Context, runID, update string, req workflows.Request) (string, error) {
	h, err := shared.client.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{WorkflowID: runID, UpdateName: update, Args: []any{req},
		WaitForStage: client.WorkflowUpdateStageCompleted})
	if err != nil {
		return "", err
	}
	var out string
	err = h.Get(ctx, &out)
	return out, err
}

// Attack 6: a signed control (a pause) replayed within the time window
// took effect again. A signature is now good for one request.
func TestAttackReplayedControlIsRefused(t *testing.T) {
	ctx := context.Background()
	runID, _ := atIsolateGate(t, "e2e-attack-replay", "replay", "alice")
	sign := func(action string) workflows.Request {
		r, err := workflows.Sign(workflows.Request{RunID: runID, Action: action, Actor: "bob", Channel: "cli", Reason: "looking",
			Time: time.Now().UTC(), Nonce: runctl.NewNonce()}, shared.keys["bob"])
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	pause := sign(workflows.ActPause)
	if _, err := deliver(ctx, runID, workflows.UpdatePause, pause); err != nil {
		t.Fatalf("pause: %v", err)
	}
	if _, err := deliver(ctx, runID, workflows.UpdateResume, sign(workflows.ActResume)); err != nil {
		t.Fatalf("resume: %v", err)
	}
	if _, err := deliver(ctx, runID, workflows.UpdatePause, pause); err == nil || !strings.Contains(err.Error(), "already used") {
		t.Errorf("replayed pause: %v", err)
	}
	if s, _ := runctl.State(ctx, shared.client, runID); s.Paused {
		t.Error("the replayed pause took effect")
	}
	// Positive control: a freshly signed pause works.
	if _, err := deliver(ctx, runID, workflows.UpdatePause, sign(workflows.ActPause)); err != nil {
		t.Errorf("fresh pause: %v", err)
	}
	abortRun(t, runID)
}

// Also seen: removing a member from the roster did not reach runs already
// going. The roster is read again before each decision is applied.
func TestRosterChangeReachesRunningRuns(t *testing.T) {
	ctx := context.Background()
	runID, _ := atIsolateGate(t, "e2e-roster-live", "roster", "alice")
	s, _ := runctl.State(ctx, shared.client, runID)
	approve := func(actor string) error {
		_, err := runctl.Send(ctx, shared.client, workflows.Request{RunID: runID, Action: workflows.ActApprove, Step: "isolate",
			PreviewHash: s.Gates[0].PreviewHash, Actor: actor, Channel: "cli"}, shared.keys[actor])
		return err
	}
	restore := shared.roster.change(func(r *workflows.Roster) {
		r.Members = slices.DeleteFunc(r.Members, func(m workflows.Member) bool { return m.ID == "bob" })
	})
	err := approve("bob")
	restore()
	if !isRefused(err, `"bob" is not in the roster`) {
		t.Fatalf("bob's approval after his removal: %v", err)
	}
	s2, _ := runctl.State(ctx, shared.client, runID)
	if len(s2.Refusals) != 1 || s2.Refusals[0].Actor != "bob" || len(s2.Gates[0].Approvals) != 0 {
		t.Errorf("refusal not recorded, or the approval counted: refusals %+v, approvals %+v", s2.Refusals, s2.Gates[0].Approvals)
	}
	// Roles change the same way: carol, demoted, can no longer break-glass.
	restore = shared.roster.change(func(r *workflows.Roster) {
		for i := range r.Members {
			if r.Members[i].ID == "carol" {
				r.Members[i].Roles = []string{"responder"}
			}
		}
	})
	_, err = runctl.Send(ctx, shared.client, workflows.Request{RunID: runID, Action: workflows.ActApproveAll, Actor: "carol", Channel: "cli",
		Reason: "contain"}, shared.keys["carol"])
	restore()
	if !isRefused(err, "needs the lead role") {
		t.Errorf("demoted lead's break-glass: %v", err)
	}
	// Positive control: back in the roster, bob's approval counts.
	if err := approve("bob"); err != nil {
		t.Errorf("bob's approval with bob in the roster: %v", err)
	}
	abortRun(t, runID)
}

// Also seen: the gateway's key could sign any action, break-glass
// included, for any member.
func TestGatewayKeyIsScoped(t *testing.T) {
	ctx := context.Background()
	runID, _ := atIsolateGate(t, "e2e-gateway-scope", "gwscope", "alice")
	viaSlack := func(action, actor string) error {
		_, err := runctl.Send(ctx, shared.client, workflows.Request{RunID: runID, Action: action, Actor: actor, Channel: "slack", Reason: "from slack"}, shared.gatewayKey)
		return err
	}
	if err := viaSlack(workflows.ActApproveAll, "carol"); !isRefused(err, "may not sign approve_all") {
		t.Errorf("break-glass signed by the gateway: %v", err)
	}
	if err := viaSlack(workflows.ActAbort, "bob"); !isRefused(err, "may not sign abort") {
		t.Errorf("abort signed by the gateway: %v", err)
	}
	restore := shared.roster.change(func(r *workflows.Roster) {
		for i := range r.Members {
			if r.Members[i].ID == "bob" {
				r.Members[i].SlackID = ""
			}
		}
	})
	err := viaSlack(workflows.ActPause, "bob")
	restore()
	if !isRefused(err, "no slack_id") {
		t.Errorf("gateway signing for a member not mapped from Slack: %v", err)
	}
	// Positive control: a pause from Slack for a mapped member is in scope.
	// (bob's slack_id is back in the roster, but a run learns of a member
	// gaining authority only at the next reload: carol asks.)
	if err := viaSlack(workflows.ActPause, "carol"); err != nil {
		t.Errorf("pause via the gateway: %v", err)
	}
	abortRun(t, runID)
}

// Also seen: a lead could start a run and break-glass it alone. By policy
// the requester's break-glass needs a second lead.
func TestRequesterLeadCannotBreakGlassAlone(t *testing.T) {
	ctx := context.Background()
	runID, target := atIsolateGate(t, "e2e-lead-alone", "leadalone", "carol")
	breakGlass := func(lead string) (string, error) {
		return runctl.Send(ctx, shared.client, workflows.Request{RunID: runID, Action: workflows.ActApproveAll, Actor: lead, Channel: "cli",
			Reason: "botnet"}, shared.keys[lead])
	}
	out, err := breakGlass("carol")
	if err != nil || !strings.Contains(out, "another lead must sign") {
		t.Fatalf("requester's break-glass: %q %v", out, err)
	}
	if s, _ := runctl.State(ctx, shared.client, runID); s.BreakGlass != nil || s.Gates[0].Status != workflows.GateWaiting {
		t.Fatalf("one lead, the requester, broke the glass alone: %+v %+v", s.BreakGlass, s.Gates[0])
	}
	untouched(t, target)
	// Positive control: a second lead completes it, and the run goes on.
	if _, err := breakGlass("dave"); err != nil {
		t.Fatalf("second lead: %v", err)
	}
	res, err := runctl.Wait(ctx, shared.client, runID)
	if err != nil || res.Status != workflows.RunSucceeded {
		t.Fatalf("after two leads: %+v %v", res, err)
	}
	s, _ := runctl.State(ctx, shared.client, runID)
	if s.BreakGlass == nil || s.BreakGlass.Actor != "carol+dave" {
		t.Errorf("break-glass %+v", s.BreakGlass)
	}
}

// A runbook named, not shipped: the worker compiles its own version, and
// refuses when the hash the requester expects is not what it holds.
func TestRunByNameFromTheWorkersSource(t *testing.T) {
	ctx := context.Background()
	plan := compileExample(t, "ec2-compromise")
	target := oneHost(t, "byname")
	args := map[string]string{"instance_id": target, "final_action": "none"}
	runID, err := runctl.Start(ctx, shared.client, shared.cfg.Temporal.TaskQueue, runctl.StartOptions{Runbook: "ec2-compromise", InputArgs: args,
		PlanHash: plan.ContentHash(), Meta: workflows.RunMeta{RunID: "e2e-by-name", Requester: "alice"}, Signer: shared.keys["alice"]})
	if err != nil {
		t.Fatal(err)
	}
	waitForGate(t, runID, "isolate")
	s, _ := runctl.State(ctx, shared.client, runID)
	if !s.Provenance.Vouched || s.Inputs["instance_id"] != target {
		t.Errorf("provenance %+v inputs %v", s.Provenance, s.Inputs)
	}
	abortRun(t, runID)

	runID, err = runctl.Start(ctx, shared.client, shared.cfg.Temporal.TaskQueue, runctl.StartOptions{Runbook: "ec2-compromise", InputArgs: args,
		PlanHash: strings.Repeat("0", 64), Meta: workflows.RunMeta{RunID: "e2e-by-name-stale", Requester: "alice"}, Signer: shared.keys["alice"]})
	if err != nil {
		t.Fatal(err)
	}
	refusedWith(t, ended(t, runID), "changed since you compiled it")
}
