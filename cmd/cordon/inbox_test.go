package main

import (
	"bytes"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cordon-ir/cordon/actions/wire"
	"github.com/cordon-ir/cordon/runbooks"
	"github.com/cordon-ir/cordon/workflows"
)

// Who may decide what, as far as a run's state tells the CLI.
func TestDecidable(t *testing.T) {
	s := workflows.State{Meta: workflows.RunMeta{RunID: "r", Requester: "dana"}}
	oncall := workflows.GateState{Key: "isolate", Step: "isolate", Approvers: runbooks.Approvers{Groups: []string{"csirt-oncall"}, People: []string{"carol"}}, MinApprovals: 2}
	cases := []struct {
		name  string
		u     who
		s     workflows.State
		g     workflows.GateState
		yours bool
		why   string
	}{
		{"group given", who{id: "alice", groups: []string{"csirt-oncall"}}, s, oncall, true, "your group csirt-oncall (--group) approves"},
		{"named person", who{id: "carol"}, s, oncall, true, "named as an approver"},
		{"group not given", who{id: "alice"}, s, oncall, false, "pass --group G"},
		{"another group", who{id: "alice", groups: []string{"sre"}}, s, oncall, false, "the approvers are group csirt-oncall, carol"},
		{"the requester", who{id: "dana", groups: []string{"csirt-oncall"}}, s, oncall, false, "you requested this run"},
		{"the requester, self-approval allowed", who{id: "dana", groups: []string{"csirt-oncall"}}, s,
			func() workflows.GateState { g := oncall; g.SelfApproval = true; return g }(), true, "your group"},
		{"approved already", who{id: "carol"}, s,
			func() workflows.GateState {
				g := oncall
				g.Approvals = []workflows.Approval{{Actor: "carol"}}
				return g
			}(), false, "you approved it already"},
		{"policy narrows", who{id: "carol"},
			workflows.State{Meta: s.Meta, Provenance: &workflows.Provenance{Policy: workflows.Policy{Approvers: &runbooks.Approvers{Groups: []string{"csirt-leads"}}}}},
			oncall, false, "policy also requires group csirt-leads"},
		{"escalated", who{id: "alice"}, s,
			func() workflows.GateState { g := oncall; g.Escalated = true; return g }(), false, "escalation's approvers may decide too"},
	}
	for _, c := range cases {
		yours, why := decidable(c.u, c.s, c.g)
		if yours != c.yours || !strings.Contains(why, c.why) {
			t.Errorf("%s: %v, %q; want %v, %q", c.name, yours, why, c.yours, c.why)
		}
	}
}

// A host run of a fleet in the list is decided from the fleet run with
// --host; the most urgent gate comes first.
func TestCollectInbox(t *testing.T) {
	now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	waiting := func(step string, deadline time.Duration, hash string) workflows.GateState {
		return workflows.GateState{Step: step, Key: step, Status: workflows.GateWaiting, PreviewHash: hash, MinApprovals: 1,
			Approvers: runbooks.Approvers{Groups: []string{"csirt-oncall"}}, Deadline: now.Add(deadline),
			Changes: []wire.Change{{Resource: "i-1", Field: "groups", Before: []any{"sg-web"}, After: []any{"sg-q"}}, {Resource: "i-1", Field: "tag"}}}
	}
	fleet := workflows.State{Meta: workflows.RunMeta{RunID: "fleet", Requester: "dana"}, Runbook: "confluence",
		Steps: []workflows.StepState{{ID: "contain", Children: []string{"host-a"}}}}
	host := workflows.State{Meta: workflows.RunMeta{RunID: "host-a", Requester: "dana", Parent: "fleet"}, Runbook: "ec2-compromise",
		Inputs:   map[string]any{"instance_id": "i-0123456789abcdef0"},
		Gates:    []workflows.GateState{waiting("isolate", 10*time.Minute, hashA)},
		Timeline: []workflows.Event{{Kind: workflows.EventGateWaiting, Step: "isolate", Time: now.Add(-3 * time.Minute)}}}
	// Started by a run that is not open: decided on its own.
	orphan := workflows.State{Meta: workflows.RunMeta{RunID: "orphan", Requester: "bob", Parent: "gone"}, Runbook: "ec2-compromise",
		Gates: []workflows.GateState{waiting("stop", 5*time.Minute, hashC), {Step: "isolate", Key: "isolate", Status: workflows.GateApproved}}}
	gates := collectInbox(who{id: "dana", groups: []string{"csirt-oncall"}}, []workflows.State{fleet, host, orphan})
	if len(gates) != 2 {
		t.Fatalf("got %d gates, want 2: %+v", len(gates), gates)
	}
	first, second := gates[0], gates[1]
	if first.RunID != "orphan" || first.FleetRun != "" || first.Command != "cordon approve orphan stop --preview "+hashC[:12] || !first.Yours {
		t.Errorf("most urgent: %+v", first)
	}
	if second.FleetRun != "fleet" || second.Host != "i-0123456789abcdef0" || second.Yours ||
		second.Command != "cordon approve fleet isolate --host i-0123456789abcdef0 --preview "+hashA[:12] {
		t.Errorf("host gate: %+v", second)
	}
	if second.WaitingSince == nil || !second.WaitingSince.Equal(now.Add(-3*time.Minute)) || second.Changes != 2 || second.FirstChange.Resource != "i-1" {
		t.Errorf("host gate wait or change: %+v", second)
	}
	var out bytes.Buffer
	writeInbox(&out, who{id: "dana", groups: []string{"csirt-oncall"}}, 3, gates, now)
	mustContain(t, "inbox text", out.String(),
		"2 gate(s) wait in 3 open run(s); 1 yours to decide (as dana, groups csirt-oncall)",
		"* gate stop of run orphan — runbook ec2-compromise, requested by bob",
		"  gate isolate of host i-0123456789abcdef0 of fleet run fleet (host run host-a)",
		"    waited 3m0s (since ",
		"(in 10m0s)",
		"    approvals 0 of 1 (from group csirt-oncall)",
		"    2 changes, first: i-1 groups: [sg-web] → [sg-q]",
		"    not yours: you requested this run",
		"    decide: cordon approve fleet isolate --host i-0123456789abcdef0 --preview "+hashA[:12],
	)
}

func TestGroupFlags(t *testing.T) {
	var g groupFlags
	for _, v := range []string{"csirt-oncall", "csirt-leads, sre", "sre"} {
		if err := g.Set(v); err != nil {
			t.Fatal(err)
		}
	}
	if want := []string{"csirt-oncall", "csirt-leads", "sre"}; !slices.Equal(g, want) {
		t.Errorf("groups %v, want %v", g, want)
	}
}

// inboxJSON runs cordon inbox --json with args and decodes it.
func inboxJSON(t *testing.T, args ...string) []inboxGate {
	t.Helper()
	out := cordonOK(t, append([]string{"inbox", "--json"}, args...)...)
	var gs []inboxGate
	if err := json.Unmarshal([]byte(out), &gs); err != nil {
		t.Fatalf("inbox --json: %v\n%s", err, out)
	}
	return gs
}

// Issue 13, item 6, through the real cordon dev: cordon inbox lists the
// gates of every open run and of every host run of an open fleet, with
// commands that decide them; the requester's own runs are not theirs. Then
// Ctrl-C on run --follow leaves the run going, and status --follow
// re-attaches until it ends.
func TestInboxAndFollowAgainstDevServer(t *testing.T) {
	box := startDevSandbox(t)
	addr := []string{"--address", box.address}
	// One containment per target: the single run takes a host the fleet
	// run does not.
	single := startRun(t, box.address, "examples/ec2-compromise.yaml", "--input", "instance_id="+box.healthy[0])
	fleet := startRun(t, box.address, "examples/confluence-cve-2021-26084.yaml", "--input", "compromised="+strings.Join(box.compromised, ","), "--input", "final_action=none")

	alice := append([]string{"--as", "alice", "--group", "csirt-oncall"}, addr...)
	var gates []inboxGate
	if !pollUntil(2*time.Minute, func() bool { gates = inboxJSON(t, alice...); return len(gates) == 1+len(box.compromised) }) {
		t.Fatalf("inbox never listed the single run's gate and every host's: %+v", gates)
	}
	hosts := map[string]inboxGate{}
	for i, g := range gates {
		if i > 0 && g.Deadline.Before(gates[i-1].Deadline) {
			t.Errorf("not sorted by deadline: %s before %s", gates[i-1].Deadline, g.Deadline)
		}
		if g.Gate != "isolate" || !g.Yours || g.Changes == 0 || g.FirstChange == nil || g.MinApprovals != 1 || g.WaitingSince == nil ||
			!slices.Contains(g.Approvers.Groups, "csirt-oncall") {
			t.Errorf("gate %+v: want isolate, alice's to decide, with its change, approvers and wait", g)
		}
		switch {
		case g.RunID == single:
			if g.FleetRun != "" || g.Command != "cordon approve "+single+" isolate --preview "+g.PreviewHash[:12] {
				t.Errorf("single run's gate: %+v", g)
			}
		case g.FleetRun == fleet:
			hosts[g.Host] = g
			if g.Command != "cordon approve "+fleet+" isolate --host "+g.Host+" --preview "+g.PreviewHash[:12] {
				t.Errorf("host gate's command: %q", g.Command)
			}
		default:
			t.Errorf("a gate of neither run: %+v", g)
		}
	}
	for _, h := range box.compromised {
		if _, ok := hosts[h]; !ok {
			t.Errorf("no gate for host %s of the fleet: %+v", h, gates)
		}
	}

	// The requester sees every gate, none as theirs.
	text, _, code := cordon(t, append([]string{"inbox", "--group", "csirt-oncall"}, addr...)...)
	if code != 0 || !strings.Contains(text, "0 yours to decide (as dana, groups csirt-oncall)") ||
		strings.Count(text, "not yours: you requested this run") != len(gates) || strings.Contains(text, "* gate") {
		t.Errorf("dana's inbox (exit %d):\n%s", code, text)
	}
	// Without --group, a group's gate is not known to be alice's.
	for _, g := range inboxJSON(t, append([]string{"--as", "alice"}, addr...)...) {
		if g.Yours || !strings.Contains(g.Why, "pass --group G") {
			t.Errorf("without --group: %+v", g)
		}
	}
	text, _, _ = cordon(t, append([]string{"inbox"}, alice...)...)
	t.Logf("cordon inbox --as alice --group csirt-oncall:\n%s", text)

	// A printed command decides the gate; the inbox then no longer lists it.
	h := hosts[box.compromised[len(box.compromised)-1]]
	if !strings.Contains(text, "decide: "+h.Command+"\n") {
		t.Errorf("the text does not print %q", h.Command)
	}
	cmd := strings.Fields(h.Command)[1:] // without "cordon"
	out, errOut, code := approveAs(t, "", false, append(cmd[1:], append([]string{"--yes", "--as", "alice"}, addr...)...)...)
	if code != 0 {
		t.Fatalf("%s --yes: exit %d\n%s\n%s", h.Command, code, out, errOut)
	}
	for _, g := range inboxJSON(t, alice...) {
		if g.FleetRun == fleet && g.Host == h.Host && g.Gate == "isolate" {
			t.Errorf("the gate decided is still listed: %+v", g)
		}
	}

	// Ctrl-C on run --follow stops the following, not the run.
	follow := startCLI(t, append([]string{"run", "examples/ec2-compromise.yaml", "--input", "instance_id=" + box.healthy[1], "--follow"}, addr...)...)
	if !pollUntil(2*time.Minute, func() bool { return strings.Contains(follow.stdout.String(), string(workflows.EventGateWaiting)) }) {
		t.Fatalf("run --follow never showed a gate:\n%s\n%s", follow.stdout.String(), follow.stderr.String())
	}
	followed := strings.SplitN(follow.stdout.String(), "\n", 2)[0]
	abortAtEnd(t, box.address, followed)
	follow.interrupt()
	code, stopped := follow.wait(10 * time.Second)
	if !stopped {
		t.Fatal("run --follow did not stop on Ctrl-C")
	}
	if want := "cordon: stopped following; the run goes on: cordon status " + followed + " --follow\n"; code != exitInterrupted || !strings.HasSuffix(follow.stderr.String(), want) {
		t.Errorf("Ctrl-C on run --follow: exit %d, stderr %q; want %d and %q", code, follow.stderr.String(), exitInterrupted, want)
	}
	if s := runState(t, box.address, followed); s.Status != workflows.RunRunning {
		t.Fatalf("after Ctrl-C the run is %q, want running", s.Status)
	}

	// status --follow re-attaches: the state, then what happens from now
	// on, until the run ends.
	reattached := startCLI(t, append([]string{"status", followed, "--follow"}, addr...)...)
	if !pollUntil(time.Minute, func() bool { return strings.Contains(reattached.stdout.String(), "from now") }) {
		t.Fatalf("status --follow did not re-attach:\n%s\n%s", reattached.stdout.String(), reattached.stderr.String())
	}
	cordonOK(t, append([]string{"abort", followed, "--reason", "re-attached"}, addr...)...)
	if code, stopped = reattached.wait(time.Minute); !stopped {
		t.Fatal("status --follow did not end with the run")
	}
	got := reattached.stdout.String()
	state, after, _ := strings.Cut(got, "from now")
	if code != 1 || !strings.Contains(state, "gate isolate waits") || !strings.Contains(after, string(workflows.EventRunAborted)) ||
		!strings.HasSuffix(got, "run "+followed+" aborted\n") || strings.Contains(after, string(workflows.EventRunStarted)) {
		t.Errorf("status --follow: exit %d, want 1 (aborted)\n%s\n%s", code, got, reattached.stderr.String())
	}
	t.Logf("cordon status %s --follow, then abort:\n%s", followed, got)
}
