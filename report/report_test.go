package report_test

import (
	"bytes"
	"encoding/json"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/cordon-ir/cordon/actions/wire"
	"github.com/cordon-ir/cordon/report"
	"github.com/cordon-ir/cordon/workflows"
)

func sampleState() workflows.State {
	t0 := time.Date(2021, 9, 2, 10, 0, 0, 0, time.UTC)
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	return workflows.State{
		Meta:    workflows.RunMeta{RunID: "ec2-compromise-1", Requester: "alice", Channel: "cli", Incident: "INC-26084"},
		Runbook: "ec2-compromise", PlanHash: strings.Repeat("ab", 32), Status: workflows.RunSucceeded,
		StartedAt: at(0), EndedAt: at(95),
		Inputs: map[string]any{"instance_id": "i-0abc"},
		Steps: []workflows.StepState{
			{ID: "evidence", Phase: "detection", Action: "aws.ec2.describe_instance", Status: workflows.StepSucceeded, StartedAt: at(1), EndedAt: at(2),
				Outputs: map[string]any{"vpc_id": "vpc-1"}, RequestIDs: []string{"req-1"}},
			{ID: "isolate", Phase: "containment", Action: "aws.ec2.isolate_instance", Status: workflows.StepSucceeded, StartedAt: at(2), EndedAt: at(60)},
			{ID: "terminate", Phase: "eradication", Action: "aws.ec2.terminate_instance", Status: workflows.StepSkipped, Reason: "condition false: inputs.final_action == \"terminate\""},
		},
		Timeline: []workflows.Event{
			{Time: at(0), Kind: workflows.EventRunStarted, Actor: "alice", Channel: "cli"},
			{Time: at(2), Kind: workflows.EventActionDone, Step: "evidence"},
			{Time: at(3), Kind: workflows.EventGateWaiting, Step: "isolate"},
			{Time: at(58), Kind: workflows.EventApproval, Step: "isolate", Actor: "bob", Channel: "slack", Detail: "1 of 1"},
			{Time: at(58), Kind: workflows.EventGateApproved, Step: "isolate", Actor: "bob", Channel: "slack"},
			{Time: at(60), Kind: workflows.EventActionDone, Step: "isolate", Changes: []wire.Change{{Resource: "eni-1", Field: "groups", Before: []any{"sg-app"}, After: []any{"sg-q"}}}},
			{Time: at(95), Kind: workflows.EventRunSucceeded},
		},
	}
}

// rendered is what write wrote, or the test stops.
func rendered(t *testing.T, write func(io.Writer) error) string {
	t.Helper()
	var b bytes.Buffer
	if err := write(&b); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// wantIn reports each of wants that out (a report) lacks.
func wantIn(t *testing.T, out string, wants ...string) {
	t.Helper()
	for _, want := range wants {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q\n%s", want, out)
		}
	}
}

func TestMarkdownIsAPIRRecord(t *testing.T) {
	out := rendered(t, func(w io.Writer) error { return report.Markdown(w, sampleState()) })
	wantIn(t, out,
		"# Containment report: ec2-compromise-1",
		"| Incident | INC-26084 |",
		"| Outcome | **succeeded** |",
		"Time from launch to isolation: **1m0s**.",
		"gate_approved of isolate by bob via slack (approval 1 of 1)",
		"### Detection", "### Containment", "### Eradication",
		"- AWS request ids: req-1",
		"- **terminate** skipped: condition false",
		"| run_started |  | alice (cli) |",
		"isolate changed:\n  - `eni-1` groups: [\"sg-app\"] → [\"sg-q\"]",
	)
	// One vocabulary (issue 13 item 4): each decision once, changes as
	// lines a person reads, not JSON blobs.
	decisions := out[strings.Index(out, "## Decisions"):strings.Index(out, "## Steps")]
	if n := strings.Count(decisions, "of isolate by bob"); n != 1 {
		t.Errorf("bob's decision is listed %d times:\n%s", n, decisions)
	}
	if strings.Contains(out, `[{"resource"`) {
		t.Errorf("changes printed as JSON:\n%s", out)
	}
}

func TestJSONRoundTrips(t *testing.T) {
	var b bytes.Buffer
	if err := report.JSON(&b, sampleState()); err != nil {
		t.Fatal(err)
	}
	var back workflows.State
	if err := json.Unmarshal(b.Bytes(), &back); err != nil || back.Meta.RunID != "ec2-compromise-1" || len(back.Timeline) != 7 || len(back.Timeline[5].Changes) != 1 {
		t.Fatalf("%v %+v", err, back.Meta)
	}
}
