package main

import (
	"bytes"
	"fmt"
	"io"
	"regexp"
	"strings"
	"testing"

	"github.com/cordon-ir/cordon/actions/wire"
	"github.com/cordon-ir/cordon/runbooks"
	"github.com/cordon-ir/cordon/workflows"
)

const (
	hashA = "3f2a9c01d4e5b6a7c8d9e0f1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5"
	hashB = "3f2a9c01d4e5ffffc8d9e0f1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5" // same 12-digit prefix as hashA
	hashC = "77aa00bb11cc22dd33ee44ff5566778899aabbccddeeff001122334455667788"
)

func TestParseGateRef(t *testing.T) {
	cases := []struct {
		arg     string
		item    int
		want    gateRef
		wantErr string
	}{
		{arg: "isolate", want: gateRef{step: "isolate"}},
		{arg: "isolate", item: 2, want: gateRef{step: "isolate", item: 2}},
		{arg: "isolate#3", want: gateRef{step: "isolate", item: 3}},
		{arg: "isolate#3", item: 3, want: gateRef{step: "isolate", item: 3}},
		{arg: "@plan", want: gateRef{step: "@plan"}},
		{arg: "isolate#3", item: 2, wantErr: "names item 3 but --item says 2"},
		{arg: "isolate#x", wantErr: "want STEP or STEP#N"},
		{arg: "isolate#0", wantErr: "want STEP or STEP#N"},
		{arg: "#2", wantErr: "want STEP or STEP#N"},
		{arg: "isolate", item: -1, wantErr: "items count from 1"},
	}
	for _, c := range cases {
		got, err := parseGateRef(c.arg, c.item)
		if c.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), c.wantErr) {
				t.Errorf("parseGateRef(%q, %d) = %v, %v; want error %q", c.arg, c.item, got, err, c.wantErr)
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("parseGateRef(%q, %d) = %v, %v; want %v", c.arg, c.item, got, err, c.want)
		}
	}
	if k := (gateRef{step: "isolate", item: 2}).key(); k != "isolate#2" {
		t.Errorf("key = %q, want isolate#2 (as workflows.gateKey)", k)
	}
}

func TestParsePreview(t *testing.T) {
	for _, ok := range []string{hashA[:12], hashA, strings.ToUpper(hashA[:16]), " " + hashA[:12] + " "} {
		got, err := parsePreview(ok)
		if err != nil || got != strings.ToLower(strings.TrimSpace(ok)) {
			t.Errorf("parsePreview(%q) = %q, %v", ok, got, err)
		}
	}
	for _, bad := range []string{"", hashA[:11], hashA + "0", "3f2a9c01d4eg", "sha256:" + hashA} {
		if got, err := parsePreview(bad); err == nil {
			t.Errorf("parsePreview(%q) = %q, want an error", bad, got)
		}
	}
}

// The defence itself: a reviewed hash names the gate's change only when
// the gate shows that very change.
func TestPreviewMatches(t *testing.T) {
	cases := []struct {
		reviewed, current string
		want              bool
	}{
		{hashA, hashA, true},
		{hashA[:12], hashA, true},
		{hashA[:20], hashA, true},
		{hashA[:12], strings.ToUpper(hashA), true},
		{hashA, hashC, false},        // the world moved
		{hashA[:12], hashC, false},   // the world moved
		{hashA[:20], hashB, false},   // a longer prefix tells apart what 12 digits do not
		{hashA[:8], hashA, false},    // too short to bind anything
		{"", hashA, false},           // nothing reviewed
		{hashA[:12], "", false},      // a gate without a preview
		{hashA + "00", hashA, false}, // longer than the hash
	}
	for _, c := range cases {
		if got := previewMatches(c.reviewed, c.current); got != c.want {
			t.Errorf("previewMatches(%q, %q) = %v, want %v", c.reviewed, c.current, got, c.want)
		}
	}
}

// What cordon status prints after "preview" is accepted by --preview and
// names the gate it was printed for.
func TestStatusPrefixIsAcceptedByPreview(t *testing.T) {
	g := workflows.GateState{Step: "isolate", Key: "isolate", Status: workflows.GateWaiting, PreviewHash: hashA, MinApprovals: 1}
	// As runStatus prints it.
	line := fmt.Sprintf("gate %s waits for %d approval(s) (%d so far) until %s; preview %s:", g.Key, g.MinApprovals, len(g.Approvals), "x", g.PreviewHash[:min(12, len(g.PreviewHash))])
	printed := regexp.MustCompile(`preview ([0-9a-f]+):`).FindStringSubmatch(line)[1]
	reviewed, err := parsePreview(printed)
	if err != nil {
		t.Fatal(err)
	}
	if !previewMatches(reviewed, g.PreviewHash) {
		t.Errorf("status's %q does not name %s", printed, g.PreviewHash)
	}
	if shortHash(g.PreviewHash) != printed {
		t.Errorf("shortHash = %q, status prints %q", shortHash(g.PreviewHash), printed)
	}
}

func TestApproveCommand(t *testing.T) {
	g := workflows.GateState{Step: "isolate", Item: 2, Key: "isolate#2", PreviewHash: hashA}
	want := "cordon approve run-1 isolate --item 2 --preview " + hashA[:12]
	if got := approveCommand("run-1", g); got != want {
		t.Errorf("approveCommand = %q, want %q", got, want)
	}
	a := approveArgs{runID: "run-1", deny: true, reason: "wrong host"}
	if got := decisionCommand(a, g); got != want+` --deny --reason "wrong host"` {
		t.Errorf("decisionCommand = %q", got)
	}
}

func TestFindWaitingGate(t *testing.T) {
	gates := []workflows.GateState{
		{Step: "isolate", Item: 1, Key: "isolate#1", Status: workflows.GateApproved, PreviewHash: hashA},
		{Step: "isolate", Item: 2, Key: "isolate#2", Status: workflows.GateWaiting, PreviewHash: hashB},
		{Step: "stop", Key: "stop", Status: workflows.GateWaiting, PreviewHash: hashC},
		{Step: "terminate", Key: "terminate", Status: workflows.GateDenied, PreviewHash: hashA},
	}
	g, waiting := findWaitingGate(gates, gateRef{step: "isolate", item: 2})
	if g == nil || g.Key != "isolate#2" || len(waiting) != 2 {
		t.Fatalf("isolate#2: got %v, waiting %v", g, waiting)
	}
	for _, ref := range []gateRef{{step: "isolate"}, {step: "isolate", item: 1}, {step: "terminate"}, {step: "nope"}} {
		if g, _ := findWaitingGate(gates, ref); g != nil {
			t.Errorf("%s: found %s, which does not wait (or is another item)", ref.key(), g.Key)
		}
	}
}

func TestDecideHow(t *testing.T) {
	cases := []struct {
		preview       string
		yes, terminal bool
		want          decisionMode
		usage         bool
	}{
		{"", false, true, askApprover, false},
		{hashA[:12], false, true, askApprover, false},
		{hashA[:12], true, true, decideReviewed, false},
		{hashA[:12], true, false, decideReviewed, false},
		{"", false, false, refuseUnseen, false},
		{hashA[:12], false, false, refuseUnseen, false},
		{"", true, true, refuseUnseen, true},
		{"", true, false, refuseUnseen, true},
	}
	for _, c := range cases {
		got, err := decideHow(c.preview, c.yes, c.terminal)
		if got != c.want || (err != nil) != c.usage {
			t.Errorf("decideHow(%q, yes=%v, terminal=%v) = %v, %v", c.preview, c.yes, c.terminal, got, err)
		}
	}
}

func TestConfirm(t *testing.T) {
	for answer, want := range map[string]bool{
		"y\n": true, "Y\n": true, "yes\n": true, " YES \n": true, "y": true,
		"n\n": false, "\n": false, "": false, "yep\n": false, "no\n": false, "\ny\n": false,
	} {
		var out bytes.Buffer
		if got := confirm(strings.NewReader(answer), &out, "approve?"); got != want {
			t.Errorf("answer %q: %v, want %v", answer, got, want)
		}
		if !strings.HasPrefix(out.String(), "approve? [y/N] ") {
			t.Errorf("prompt %q", out.String())
		}
	}
	if confirm(nil, io.Discard, "approve?") {
		t.Error("no stdin is a yes")
	}
}

func TestWriteGate(t *testing.T) {
	s := workflows.State{
		Meta:    workflows.RunMeta{RunID: "run-1", Requester: "dana"},
		Runbook: "ec2-compromise",
		Steps:   []workflows.StepState{{ID: "isolate", Name: "Quarantine security group on every interface", Action: "aws.ec2.isolate_instance"}},
	}
	g := workflows.GateState{
		Step: "isolate", Item: 2, Key: "isolate#2", Status: workflows.GateWaiting, PreviewHash: hashA,
		Changes: []wire.Change{
			{Resource: "eni-0a1b", Field: "groups", Before: []any{"sg-web"}, After: []any{"sg-quarantine"}},
			{Resource: "i-0abc", Field: "tag cordon:state", Before: nil, After: "quarantined"},
		},
		Approvers: runbooks.Approvers{Groups: []string{"csirt-leads"}}, MinApprovals: 2,
		Approvals: []workflows.Approval{{Actor: "alice", Channel: "slack"}},
	}
	var out bytes.Buffer
	writeGate(&out, s, g)
	want := `run run-1, runbook ec2-compromise (requested by dana)
step isolate#2 — Quarantine security group on every interface (aws.ec2.isolate_instance)
preview 3f2a9c01d4e5:
    eni-0a1b groups: [sg-web] → [sg-quarantine]
    i-0abc tag cordon:state: (none) → quarantined
approvals: 1 of 2 needed (from group csirt-leads): alice via slack
`
	if out.String() != want {
		t.Errorf("got\n%s\nwant\n%s", out.String(), want)
	}
	g.Changes, g.Approvals = nil, nil
	out.Reset()
	writeGate(&out, s, g)
	if !strings.Contains(out.String(), "no change") || !strings.Contains(out.String(), "approvals: 0 of 2 needed") {
		t.Errorf("empty gate:\n%s", out.String())
	}
}

// Usage errors come before anything is sent, or even dialled.
func TestApproveUsageErrors(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"approve", "run-1", "isolate", "--yes"}, "--yes needs --preview HASH from cordon status, so you approve only the change you reviewed"},
		{[]string{"approve", "run-1", "isolate", "--yes", "--deny", "--reason", "x"}, "--yes needs --preview HASH"},
		{[]string{"approve", "run-1", "isolate", "--preview", "3f2a9c"}, "at least 12 hex digits"},
		{[]string{"approve", "run-1", "isolate", "--preview", "not-a-hash-at-all"}, "not a hex hash"},
		{[]string{"approve", "run-1", "isolate#2", "--item", "3"}, "names item 2 but --item says 3"},
		{[]string{"approve", "run-1", "isolate", "--deny", "--preview", hashA}, "--deny needs --reason"},
	} {
		// An address nobody listens on: a usage error must not get as far.
		_, errOut, code := cordon(t, append(c.args, "--address", "127.0.0.1:1")...)
		if code != 2 || !strings.Contains(errOut, c.want) {
			t.Errorf("%v: exit %d, stderr %q; want 2 and %q", c.args, code, errOut, c.want)
		}
	}
}

// approvalsAt reads how many approvals the gate with key holds.
func approvalsAt(t *testing.T, address, runID, key string) int {
	t.Helper()
	for _, g := range runState(t, address, runID).Gates {
		if g.Key == key {
			return len(g.Approvals)
		}
	}
	t.Fatalf("no gate %s in run %s", key, runID)
	return 0
}

// approveAs runs cordon approve with stdin (nil: none) on a terminal or
// not.
func approveAs(t *testing.T, stdin string, terminal bool, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	env := &cliEnv{stdinTerminal: terminal}
	if stdin != "" {
		env.stdin = strings.NewReader(stdin)
	}
	return cordonIn(t, env, append([]string{"approve"}, args...)...)
}

// Through the real cordon dev: a containment run waits at its isolate
// gate, and every way of deciding there is tried in turn, nothing being
// sent until the approver has seen the change they sign.
func TestApproveAgainstDevServer(t *testing.T) {
	address, instance := devSandbox(t)
	out, errOut, code := cordon(t, "run", "examples/ec2-compromise.yaml", "--input", "instance_id="+instance, "--address", address)
	if code != 0 {
		t.Fatalf("run: exit %d\n%s", code, errOut)
	}
	if !strings.Contains(errOut, "the start is not signed: no SSH key to sign with: --key was not given") || !strings.Contains(errOut, "ssh-keygen -t ed25519") {
		t.Errorf("an unsigned start does not say why and how to fix it:\n%s", errOut)
	}
	runID := strings.TrimSpace(out)
	seen := map[string]bool{}
	g := waitForGate(t, address, runID, seen)
	if g.Step != "isolate" || len(g.Changes) == 0 {
		t.Fatalf("first gate %+v, want isolate with changes", g)
	}
	// What cordon status prints is what --preview takes.
	status, _, _ := cordon(t, "status", runID, "--address", address)
	m := regexp.MustCompile(`gate isolate waits .*; preview ([0-9a-f]{12}):`).FindStringSubmatch(status)
	if m == nil {
		t.Fatalf("status shows no isolate gate with a preview:\n%s", status)
	}
	printed := m[1]
	change := fmt.Sprintf("%s %s: %s → %s", g.Changes[0].Resource, g.Changes[0].Field, valueText(g.Changes[0].Before), valueText(g.Changes[0].After))
	as := []string{"--address", address, "--as", "alice"}

	t.Run("yes without preview is a usage error", func(t *testing.T) {
		_, errOut, code := approveAs(t, "", false, append([]string{runID, "isolate", "--yes"}, as...)...)
		if code != 2 || !strings.Contains(errOut, "--yes needs --preview HASH from cordon status") {
			t.Errorf("exit %d, stderr %q", code, errOut)
		}
	})
	t.Run("no terminal and no yes sends nothing", func(t *testing.T) {
		out, errOut, code := approveAs(t, "y\n", false, append([]string{runID, "isolate"}, as...)...)
		if code != 1 || !strings.Contains(errOut, "nothing was sent") || !strings.Contains(errOut, "--preview "+printed+" --yes") {
			t.Errorf("exit %d, stderr %q", code, errOut)
		}
		if !strings.Contains(out, "preview "+printed) || !strings.Contains(out, change) {
			t.Errorf("the change is not shown:\n%s", out)
		}
		if strings.Contains(out, "approve?") {
			t.Errorf("asked without a terminal:\n%s", out)
		}
	})
	t.Run("terminal answered n sends nothing", func(t *testing.T) {
		out, errOut, code := approveAs(t, "n\n", true, append([]string{runID, "isolate"}, as...)...)
		if code != 1 || !strings.Contains(errOut, "not approved; nothing was sent") {
			t.Errorf("exit %d, stderr %q", code, errOut)
		}
		if !strings.Contains(out, change) || !strings.HasSuffix(out, "approve? [y/N] ") {
			t.Errorf("stdout:\n%s", out)
		}
	})
	t.Run("stale preview is refused and the new change shown", func(t *testing.T) {
		stale := "0123456789ab"
		out, errOut, code := approveAs(t, "", false, append([]string{runID, "isolate", "--preview", stale, "--yes"}, as...)...)
		if code != 1 || !strings.Contains(errOut, "differs from what you reviewed (preview "+stale+")") ||
			!strings.Contains(errOut, "it is now preview "+printed) || !strings.Contains(errOut, "--preview "+printed) {
			t.Errorf("exit %d, stderr %q", code, errOut)
		}
		if !strings.Contains(out, "preview "+printed) || !strings.Contains(out, change) {
			t.Errorf("the new change is not shown:\n%s", out)
		}
	})
	t.Run("a step that does not wait lists the gates that do", func(t *testing.T) {
		_, errOut, code := approveAs(t, "", false, append([]string{runID, "stop", "--preview", printed, "--yes"}, as...)...)
		if code != 1 || !strings.Contains(errOut, "step stop is not waiting for approval") ||
			!strings.Contains(errOut, "gate isolate, preview "+printed+": cordon approve "+runID+" isolate --preview "+printed) {
			t.Errorf("exit %d, stderr %q", code, errOut)
		}
	})
	if n := approvalsAt(t, address, runID, "isolate"); n != 0 {
		t.Fatalf("%d approval(s) recorded before any was meant to be sent", n)
	}
	t.Run("preview from status and yes approves", func(t *testing.T) {
		out, errOut, code := approveAs(t, "", false, append([]string{runID, "isolate", "--preview", printed, "--yes"}, as...)...)
		if code != 0 || !strings.HasSuffix(out, "approved isolate: the change is as approved; acting now (cordon status "+runID+" --follow)\n") {
			t.Errorf("exit %d\nstdout %s\nstderr %s", code, out, errOut)
		}
	})
	seen[g.Key+g.PreviewHash] = true
	next := waitForGate(t, address, runID, seen)
	t.Run("terminal answered y approves", func(t *testing.T) {
		out, errOut, code := approveAs(t, "y\n", true, append([]string{runID, next.Key}, as...)...)
		if code != 0 || !strings.Contains(out, "approve? [y/N] ") || !strings.Contains(out, "approved "+next.Key+": the change is as approved; acting now") {
			t.Errorf("exit %d\nstdout %s\nstderr %s", code, out, errOut)
		}
		t.Logf("cordon approve %s %s --as alice, answering y:\n%s", runID, next.Key, out)
	})
	t.Run("a refusal of the workflow exits 1, a denial is sent like an approval", func(t *testing.T) {
		// dana requested the run: the workflow refuses her approval.
		third := waitForGate(t, address, runID, map[string]bool{g.Key + g.PreviewHash: true, next.Key + next.PreviewHash: true})
		_, errOut, code := approveAs(t, "", false, runID, third.Key, "--preview", third.PreviewHash, "--yes", "--address", address, "--as", "dana")
		if code != 1 || !strings.Contains(errOut, "approve refused:") {
			t.Errorf("exit %d, stderr %q", code, errOut)
		}
		out, errOut, code := approveAs(t, "", false, runID, third.Key, "--preview", third.PreviewHash[:12], "--yes", "--deny", "--reason", "keep it running for the memory capture",
			"--address", address, "--as", "alice")
		if code != 0 || !strings.HasSuffix(out, "denied "+third.Key+"\n") {
			t.Errorf("deny: exit %d\nstdout %s\nstderr %s", code, out, errOut)
		}
	})
}
