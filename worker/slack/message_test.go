package slack

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/cordon-ir/cordon/actions/wire"
	"github.com/cordon-ir/cordon/runbooks"
	"github.com/cordon-ir/cordon/workflows"
)

var deadline = time.Date(2026, 3, 1, 12, 30, 0, 0, time.UTC)

func notice(kind workflows.NoticeKind) workflows.GateNotice {
	changes := []wire.Change{
		{Resource: "eni-0a1", Field: "security_groups", Before: []string{"sg-web"}, After: []string{"sg-quarantine"}},
		{Resource: "i-0abc", Field: "state", Before: "running", After: "isolated"},
	}
	g := workflows.GateState{Step: "isolate", Key: "isolate", Status: workflows.GateWaiting, PreviewHash: "0123456789abcdef0123",
		Changes: changes, Approvers: runbooks.Approvers{Groups: []string{"csirt-oncall"}}, MinApprovals: 2, Deadline: deadline}
	switch kind {
	case workflows.NoticeApproved:
		g.Status = workflows.GateApproved
		g.Approvals = []workflows.Approval{{Actor: "bob", Channel: "slack", Time: deadline.Add(-time.Minute)}, {Actor: "carol", Channel: "cli", Time: deadline.Add(-30 * time.Second)}}
		g.DecidedBy = "carol"
	case workflows.NoticeDenied:
		g.Status, g.DecidedBy, g.Reason = workflows.GateDenied, "bob", "<!channel> wrong host"
	case workflows.NoticeEscalated:
		g.Escalated = true
	}
	return workflows.GateNotice{RunID: "ec2-compromise-20260301T120000-abc123", Runbook: "ec2-compromise", Incident: "INC-26084", Requester: "alice",
		Step: "isolate", StepName: "Quarantine security group", Action: "aws.ec2.isolate_instance", Kind: kind, Gate: g, Changes: changes,
		To: runbooks.Approvers{Groups: []string{"csirt-leads"}}}
}

func blocksJSON(t *testing.T, m Message) string {
	t.Helper()
	b, err := json.Marshal(m.Blocks)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestGateMessage(t *testing.T) {
	people := PeopleFromRoster(testRoster())
	cases := []struct {
		kind       workflows.NoticeKind
		want       []string
		buttons    bool
		notWant    []string
		wantInText string
	}{
		{workflows.NoticeWaiting, []string{"Approval needed: Quarantine security group", "INC-26084", "ec2-compromise", "aws.ec2.isolate_instance",
			"\\u003c@UALICE\\u003e", "0 of 2", "group csirt-oncall", "\\u003c!date^1772368200^", "`eni-0a1`", "`i-0abc`",
			"security_groups: `[\\\"sg-web\\\"]` → `[\\\"sg-quarantine\\\"]`", "state: `running` → `isolated`", "0123456789ab"}, true, nil, "Approval needed"},
		{workflows.NoticeApproved, []string{"Approved: Quarantine", "Approved by \\u003c@UBOB\\u003e, \\u003c@UCAROL\\u003e at", "2 of 2"}, false, nil, "Approved"},
		{workflows.NoticeDenied, []string{"Denied by \\u003c@UBOB\\u003e: \\u0026lt;!channel\\u0026gt; wrong host"}, false, []string{"\\u003c!channel"}, "Denied"},
		{workflows.NoticeTimedOut, []string{"Timed out", "denied"}, false, nil, "Timed out"},
		{workflows.NoticeEscalated, []string{"Escalated", "escalated to group csirt-leads"}, true, nil, "Escalated"},
	}
	for _, c := range cases {
		t.Run(string(c.kind), func(t *testing.T) {
			m := GateMessage(notice(c.kind), people)
			js := blocksJSON(t, m)
			for _, w := range c.want {
				if !strings.Contains(js, w) {
					t.Errorf("blocks lack %s\n%s", w, js)
				}
			}
			for _, w := range c.notWant {
				if strings.Contains(js, w) {
					t.Errorf("blocks contain %s", w)
				}
			}
			if got := strings.Contains(js, actionApprove) && strings.Contains(js, actionDeny); got != c.buttons {
				t.Errorf("buttons %t, want %t", got, c.buttons)
			}
			if !strings.HasPrefix(m.Text, c.wantInText) {
				t.Errorf("text %q", m.Text)
			}
		})
	}
}

// A gate of a run started from detections says by what, and how long it
// took from the finding to the gate.
func TestGateMessageOfATriggeredRun(t *testing.T) {
	n := notice(workflows.NoticeWaiting)
	n.Detection = &workflows.Detection{Trigger: "guardduty-ec2-high", Mode: "launch", Findings: 1, Type: "Backdoor:EC2/C&CActivity.B", Severity: "high",
		Created: deadline.Add(-40 * time.Minute), Received: deadline.Add(-32 * time.Minute), Started: deadline.Add(-31 * time.Minute),
		GateWaiting: deadline.Add(-30*time.Minute + 1500*time.Millisecond)}
	got := blocksJSON(t, GateMessage(n, PeopleFromRoster(testRoster())))
	for _, want := range []string{"*Detected* by trigger `guardduty-ec2-high` (launch): 1 finding(s), `Backdoor:EC2/C\\u0026amp;CActivity.B` (high)",
		"finding created 2026-03-01 11:50:00Z → received +8m0s → run started +1m0s → first gate waiting +1m1.5s"} {
		if !strings.Contains(got, want) {
			t.Errorf("message lacks %q:\n%s", want, got)
		}
	}
	if plain := blocksJSON(t, GateMessage(notice(workflows.NoticeWaiting), PeopleFromRoster(testRoster()))); strings.Contains(plain, "Detected") {
		t.Errorf("a run started by hand says it was detected:\n%s", plain)
	}
}

func TestGateButtonsCarryTheGate(t *testing.T) {
	n := notice(workflows.NoticeWaiting)
	n.Item = 3
	js := blocksJSON(t, GateMessage(n, nil))
	var blocks []struct {
		Elements []struct {
			ActionID string `json:"action_id"`
			Value    string `json:"value"`
		} `json:"elements"`
	}
	if err := json.Unmarshal([]byte(js), &blocks); err != nil {
		t.Fatal(err)
	}
	found := 0
	for _, b := range blocks {
		for _, e := range b.Elements {
			if e.ActionID == "" {
				continue // context text
			}
			ref, err := decodeGateRef(e.Value)
			if err != nil {
				t.Fatal(err)
			}
			want := GateRef{RunID: n.RunID, Step: "isolate", Item: 3, PreviewHash: n.Gate.PreviewHash}
			if ref != want {
				t.Errorf("%s carries %+v, want %+v", e.ActionID, ref, want)
			}
			found++
		}
	}
	if found != 2 {
		t.Errorf("%d buttons", found)
	}
}

func TestPreviewLinesAreBounded(t *testing.T) {
	var changes []wire.Change
	for range 30 {
		changes = append(changes, wire.Change{Resource: "sg-1", Field: "rules", Before: strings.Repeat("x", 500), After: "`nil`"})
	}
	lines := PreviewLines(changes)
	if len(lines) != maxChangeLines+1 || lines[maxChangeLines] != "…and 10 more change(s)" {
		t.Fatalf("%d lines, last %q", len(lines), lines[len(lines)-1])
	}
	if len(lines[0]) > 400 || strings.Count(lines[0], "`") != 6 {
		t.Errorf("line not bounded or backticks leak: %q", lines[0])
	}
	n := notice(workflows.NoticeWaiting)
	n.Changes = changes
	for _, b := range GateMessage(n, nil).Blocks {
		js, _ := json.Marshal(b)
		if len(js) > 3500 {
			t.Errorf("block of %d bytes", len(js))
		}
	}
}

func TestLeadsAndEscalation(t *testing.T) {
	r := testRoster()
	leads := Leads(r, runbooks.Approvers{Groups: []string{"csirt-leads"}, People: []string{"eve"}})
	if strings.Join(leads, ",") != "carol,dave,eve" {
		t.Errorf("leads %v", leads)
	}
	m := EscalationMessage(notice(workflows.NoticeEscalated), PeopleFromRoster(r), leads)
	js := blocksJSON(t, m)
	for _, w := range []string{"\\u003c@UCAROL\\u003e \\u003c@UDAVE\\u003e eve — escalated", "cordon_approve"} {
		if !strings.Contains(js, w) {
			t.Errorf("escalation lacks %s\n%s", w, js)
		}
	}
}

func TestStatusText(t *testing.T) {
	s := workflows.State{Meta: workflows.RunMeta{RunID: "r1", Requester: "bob", Incident: "INC-1"}, Runbook: "ec2-compromise", Status: workflows.RunRunning, Paused: true,
		Steps: []workflows.StepState{{ID: "evidence", Status: workflows.StepSucceeded}, {ID: "isolate", Status: workflows.StepAwaiting}},
		Gates: []workflows.GateState{{Key: "isolate", Status: workflows.GateWaiting, MinApprovals: 1, Approvers: runbooks.Approvers{Groups: []string{"csirt-oncall"}}, Deadline: deadline}}}
	got := StatusText(s, PeopleFromRoster(testRoster()))
	for _, w := range []string{"*ec2-compromise* `r1`: running (paused) — INC-1", "Requested by <@UBOB>", ":white_check_mark: `evidence` succeeded", ":lock: gate `isolate` waits: 0 of 1"} {
		if !strings.Contains(got, w) {
			t.Errorf("status lacks %q:\n%s", w, got)
		}
	}
}

func TestParseCommand(t *testing.T) {
	cases := []struct {
		text    string
		want    command
		wantErr string
	}{
		{"", command{Verb: "help"}, ""},
		{"run ec2-compromise instance_id=i-1 final_action=stop --incident=INC-7 --dry-run",
			command{Verb: "run", Runbook: "ec2-compromise", Inputs: map[string]string{"instance_id": "i-1", "final_action": "stop"}, Incident: "INC-7", DryRun: true}, ""},
		{"run", command{}, "which runbook"},
		{"run ../../etc/passwd", command{}, "not a runbook name"},
		{"run x a=1 a=2", command{}, "given twice"},
		{"run x novalue", command{}, "want key=value"},
		{"run x --force", command{}, "unknown option"},
		{"status r1", command{Verb: "status", RunID: "r1"}, ""},
		{"ABORT r1 wrong   host", command{Verb: "abort", RunID: "r1", Reason: "wrong host"}, ""},
		{"pause", command{}, "which run"},
		{"skip r1 stop keep it for forensics", command{Verb: "skip", RunID: "r1", Step: "stop", Reason: "keep it for forensics"}, ""},
		{"skip r1", command{}, "which run and step"},
		{"approve r1", command{}, "unknown command"},
	}
	for _, c := range cases {
		got, err := parseCommand(c.text)
		if c.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), c.wantErr) {
				t.Errorf("%q: error %v, want %q", c.text, err, c.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("%q: %v", c.text, err)
			continue
		}
		gj, _ := json.Marshal(got)
		wj, _ := json.Marshal(c.want)
		if string(gj) != string(wj) {
			t.Errorf("%q:\n got %s\nwant %s", c.text, gj, wj)
		}
	}
}
