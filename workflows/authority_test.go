package workflows_test

import (
	"strings"
	"testing"
	"time"

	"github.com/cordon-ir/cordon/actions/wire"
	"github.com/cordon-ir/cordon/workflows"
)

// The authority rules at the workflow level (the same attacks run on the
// real server in internal/e2e/authority_test.go); these run under -race.

// A signed request is good once: the same signed pause delivered again is
// refused, while a fresh one is accepted.
func TestNonceMakesRequestsSingleUse(t *testing.T) {
	f := newFixture(t)
	aliceKey, alicePub := newKey(t)
	bobKey, bobPub := newKey(t)
	f.roster.RequireSignatures = true
	f.roster.Members[0].PublicKeys = []string{alicePub}
	f.roster.Members[1].PublicKeys = []string{bobPub}
	f.reviewed(gated)
	sign := func(action, nonce string) workflows.Request {
		r, err := workflows.Sign(workflows.Request{RunID: "run-1", Action: action, Actor: "bob", Channel: "cli", Reason: "r",
			Time: f.env.Now(), Nonce: nonce}, bobKey)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	var first, resume, replay, noNonce, fresh *outcome
	var pause workflows.Request
	f.at(time.Minute, func() { pause = sign(workflows.ActPause, "p1"); first = f.send(workflows.UpdatePause, pause) })
	f.at(2*time.Minute, func() { resume = f.send(workflows.UpdateResume, sign(workflows.ActResume, "r1")) })
	f.at(3*time.Minute, func() { replay = f.send(workflows.UpdatePause, pause) })
	f.at(4*time.Minute, func() { noNonce = f.send(workflows.UpdatePause, sign(workflows.ActPause, "")) })
	f.at(5*time.Minute, func() { fresh = f.send(workflows.UpdatePause, sign(workflows.ActPause, "p2")) })
	f.at(6*time.Minute, func() { f.send(workflows.UpdateAbort, sign(workflows.ActAbort, "a1")) })
	f.startSigned(gated, "alice", aliceKey)
	res, err := f.result()
	if first == nil {
		t.Fatalf("the run ended before the first pause was sent: %+v %v; timeline %s", res, err, timelineKinds(f.state()))
	}
	wantOK(t, "first pause", first)
	wantOK(t, "resume", resume)
	wantRefused(t, "replayed pause", replay, "already used")
	wantRefused(t, "no nonce", noNonce, "no nonce")
	wantOK(t, "fresh pause", fresh)
}

// The organisation's policy wins over a runbook that is looser: more
// approvals on a destructive step, no self-approval, and the gate says so.
func TestPolicyIsStricterThanTheRunbook(t *testing.T) {
	f := newFixture(t)
	f.roster.Policy = workflows.Policy{MinApprovals: 2, SelfApproval: "never"}
	src := strings.Replace(gated, "  timeout: 30m\n", "  timeout: 30m\n  allow_self_approval: true\n", 1)
	var self, bob, carol *outcome
	f.at(time.Minute, func() { self = f.decide(workflows.ActApprove, "isolate", "alice", "") })
	f.at(2*time.Minute, func() { bob = f.decide(workflows.ActApprove, "isolate", "bob", "") })
	f.at(3*time.Minute, func() {
		if n := f.aws.count(wire.Execute, "aws.ec2.isolate_instance"); n != 0 {
			t.Errorf("isolated after one approval of two")
		}
		carol = f.decide(workflows.ActApprove, "isolate", "carol", "")
	})
	f.start(src, nil, workflows.RunMeta{})
	f.wantResult(workflows.RunSucceeded)
	wantRefused(t, "self-approval", self, "policy forbids self-approval")
	wantOK(t, "bob", bob)
	wantOK(t, "carol", carol)
	g := f.state().Gates[0]
	if g.MinApprovals != 2 || !strings.Contains(g.Rule, "2 approvals") || !strings.Contains(g.Rule, "no self-approval") || g.SelfApproval {
		t.Errorf("gate %+v", g)
	}
}

// Where the policy leaves self-approval to the runbook, a gate that
// allows it says so in the state (cordon inbox reads it there), and the
// requester's approval counts.
func TestGateStateSaysSelfApprovalIsAllowed(t *testing.T) {
	f := newFixture(t)
	f.roster.Policy = workflows.Policy{SelfApproval: "runbook"}
	src := strings.Replace(gated, "  timeout: 30m\n", "  timeout: 30m\n  allow_self_approval: true\n", 1)
	var waiting workflows.GateState
	var self *outcome
	f.at(time.Minute, func() {
		waiting = f.state().Gates[0]
		self = f.decide(workflows.ActApprove, "isolate", "alice", "")
	})
	f.start(src, nil, workflows.RunMeta{})
	f.wantResult(workflows.RunSucceeded)
	wantOK(t, "self-approval", self)
	if waiting.Status != workflows.GateWaiting || !waiting.SelfApproval {
		t.Errorf("waiting gate %+v: want self_approval set", waiting)
	}
}

// Two leads for a break-glass when policy says so: one signature is
// recorded and waits for the second.
func TestBreakGlassByTwoLeads(t *testing.T) {
	f := newFixture(t)
	f.roster.Policy = workflows.Policy{BreakGlassLeads: 2}
	f.roster.Members[4].Roles = []string{"lead"} // erin
	req := func(actor string) workflows.Request {
		return workflows.Request{RunID: "run-1", Action: workflows.ActApproveAll, Actor: actor, Channel: "cli", Reason: "botnet", Time: f.env.Now()}
	}
	var one, again, two *outcome
	f.at(time.Minute, func() { one = f.send(workflows.UpdateApproveAll, req("carol")) })
	f.at(2*time.Minute, func() {
		if f.state().BreakGlass != nil {
			t.Error("one lead broke the glass where policy needs two")
		}
		again = f.send(workflows.UpdateApproveAll, req("carol"))
	})
	f.at(3*time.Minute, func() { two = f.send(workflows.UpdateApproveAll, req("erin")) })
	f.start(gated, nil, workflows.RunMeta{})
	f.wantResult(workflows.RunSucceeded)
	wantOK(t, "first lead", one)
	if !strings.Contains(one.result, "another lead must sign") {
		t.Errorf("first lead told %q", one.result)
	}
	wantRefused(t, "same lead twice", again, "already signed")
	wantOK(t, "second lead", two)
	if bg := f.state().BreakGlass; bg == nil || bg.Actor != "carol+erin" {
		t.Errorf("break-glass %+v", bg)
	}
}

// A run's identity is its workflow id: an input naming another run is
// refused, and so is a start claiming a parent Temporal does not record.
func TestIdentityComesFromTemporal(t *testing.T) {
	for name, meta := range map[string]workflows.RunMeta{
		"other run id": {RunID: "someone-elses-run"},
		"fake parent":  {RunID: "run-1", Parent: "real-parent", Lineage: []string{"real-parent"}},
	} {
		t.Run(name, func(t *testing.T) {
			f := newFixture(t)
			f.env.SetStartWorkflowOptions(clientStartOptions("run-1"))
			f.env.ExecuteWorkflow(workflows.WorkflowName, workflows.RunInput{Plan: compilePlan(t, gated), Meta: meta})
			res, err := f.result()
			if err == nil || !strings.Contains(err.Error(), "refused") {
				t.Fatalf("%+v %v", res, err)
			}
			if got := f.aws.executed(); len(got) != 0 {
				t.Errorf("a refused run executed %v", got)
			}
		})
	}
}
