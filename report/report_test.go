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

// at is s seconds into the test runs' day.
func at(s int) time.Time {
	return time.Date(2021, 9, 2, 10, 0, 0, 0, time.UTC).Add(time.Duration(s) * time.Second)
}

func sampleState() workflows.State {
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

// decoded decodes what write wrote as JSON into v, or the test stops.
func decoded(t *testing.T, write func(io.Writer) error, v any) {
	t.Helper()
	if err := json.Unmarshal([]byte(rendered(t, write)), v); err != nil {
		t.Fatal(err)
	}
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
	var back workflows.State
	decoded(t, func(w io.Writer) error { return report.JSON(w, sampleState()) }, &back)
	if back.Meta.RunID != "ec2-compromise-1" || len(back.Timeline) != 7 || len(back.Timeline[5].Changes) != 1 {
		t.Fatalf("%+v", back.Meta)
	}
}

// custodyState is a run that captured memory under bob's approval, and a
// host run of it that stored triage output without a gate.
func custodyState() (workflows.State, workflows.State) {
	s := sampleState()
	collected := at(30)
	memory := wire.Artefact{Case: "INC-26084", Kind: "memory", Subject: "i-0abc", Description: "memory image", Bucket: "acme-evidence",
		Key: "cases/INC-26084/i-0abc/memory/ec2-compromise-1/memory/memory.lime", VersionID: "v1", SHA256: strings.Repeat("a", 64), Size: 262144,
		CollectedAt: collected, WrittenBy: "instance", LockMode: "COMPLIANCE", RetainUntil: collected.AddDate(0, 0, 30),
		RunID: "ec2-compromise-1", Step: "memory", Action: "aws.ssm.capture_memory", Requester: "alice", Approvers: []string{"bob"}}
	s.Timeline = append(s.Timeline, workflows.Event{Time: collected, Kind: workflows.EventActionDone, Step: "memory", Artefacts: []wire.Artefact{memory}},
		// A retry reported the same artefact again.
		workflows.Event{Time: collected, Kind: workflows.EventActionDone, Step: "memory", Artefacts: []wire.Artefact{memory}})
	child := sampleState()
	child.Meta.RunID = "ec2-compromise-1/contain/1"
	triage := memory
	triage.Kind, triage.Key, triage.VersionID, triage.SHA256, triage.WrittenBy, triage.Approvers = "triage", "cases/INC-26084/i-0abc/triage/x/processes.txt", "v2", strings.Repeat("b", 64), "cordon", nil
	triage.CollectedAt = at(29)
	child.Timeline = append(child.Timeline, workflows.Event{Time: collected, Kind: workflows.EventActionDone, Step: "triage", Artefacts: []wire.Artefact{triage}})
	return s, child
}

// The chain of custody lists every artefact once, in the order collected:
// what, its hash, where (version included), who collected it under whose
// approval, when; and says how to check it.
func TestChainOfCustody(t *testing.T) {
	s, child := custodyState()
	custody := report.CustodyOf(s, []workflows.State{child})
	if len(custody) != 2 || custody[0].Kind != "triage" || custody[1].Kind != "memory" {
		t.Fatalf("custody = %+v", custody)
	}
	out := rendered(t, func(w io.Writer) error { return report.FleetMarkdown(w, s, []workflows.State{child}) })
	section := out[strings.Index(out, "## Chain of custody"):]
	wantIn(t, section,
		"| 2021-09-02 10:00:30Z | memory of i-0abc: memory image | `"+strings.Repeat("a", 64)+"` | 262144 | `s3://acme-evidence/cases/INC-26084/i-0abc/memory/ec2-compromise-1/memory/memory.lime?versionId=v1` (compliance until 2021-10-02) |",
		"ec2-compromise-1 step memory (`aws.ssm.capture_memory`), written by instance; run requested by alice | bob |",
		"— (the step has no gate)",
		"`cordon evidence verify INC-26084`",
	)
	if n := strings.Count(section[:strings.Index(section, "\n\n#")], "memory.lime?versionId=v1"); n != 1 {
		t.Errorf("the memory image is listed %d times in the fleet's chain of custody", n)
	}
	var back struct {
		Custody []wire.Artefact `json:"chain_of_custody"`
	}
	decoded(t, func(w io.Writer) error { return report.FleetJSON(w, s, []workflows.State{child}) }, &back)
	if len(back.Custody) != 2 || back.Custody[1].Approvers[0] != "bob" {
		t.Fatalf("JSON chain of custody = %+v", back.Custody)
	}
	if plain := rendered(t, func(w io.Writer) error { return report.Markdown(w, sampleState()) }); strings.Contains(plain, "Chain of custody") {
		t.Error("a run without artefacts has a chain of custody section")
	}
}
