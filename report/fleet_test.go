package report_test

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/cordon-ir/cordon/report"
	"github.com/cordon-ir/cordon/workflows"
)

func fleetStates() (workflows.State, []workflows.State) {
	t0 := time.Date(2021, 9, 2, 10, 0, 0, 0, time.UTC)
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	fleet := workflows.State{
		Meta: workflows.RunMeta{RunID: "fleet-1", Requester: "alice", Incident: "INC-26084"}, Runbook: "confluence-cve-2021-26084",
		Status: workflows.RunSucceeded, StartedAt: at(0), EndedAt: at(120),
		Steps: []workflows.StepState{{ID: "contain", Phase: "containment", Uses: "ec2-compromise", Status: "succeeded",
			Children: []string{"fleet-1/contain/1", "fleet-1/contain/2"}}},
	}
	host := sampleState()
	host.Meta.RunID, host.Meta.Parent = "fleet-1/contain/1", "fleet-1"
	host.Outputs = map[string]any{"snapshot_ids": []any{"snap-1", "snap-2"}}
	// The gate reopened once because the world moved, and bob approved twice.
	host.Timeline = append(host.Timeline, workflows.Event{Time: at(59), Kind: "gate_approved", Step: "isolate", Actor: "bob"})
	failed := workflows.State{
		Meta: workflows.RunMeta{RunID: "fleet-1/contain/2", Parent: "fleet-1"}, Runbook: "ec2-compromise",
		Status: workflows.RunFailed, StartedAt: at(0), Inputs: map[string]any{"instance_id": "i-0def"},
	}
	return fleet, []workflows.State{host, failed}
}

// A fleet's record answers first which hosts were contained and how long
// each stayed exposed, then holds every host's own record.
func TestFleetMarkdownListsHostsAndNestsTheirRecords(t *testing.T) {
	fleet, children := fleetStates()
	var b bytes.Buffer
	if err := report.FleetMarkdown(&b, fleet, children); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{
		"# Containment report: fleet-1\n",
		"| i-0abc | `fleet-1/contain/1` | succeeded | 1m0s | snap-1, snap-2 | isolate approved by bob (2 rounds) |",
		"| i-0def | `fleet-1/contain/2` | failed | — |  |  |",
		"## Containment report: fleet-1/contain/1\n",
		"## Containment report: fleet-1/contain/2\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("fleet report lacks %q\n%s", want, out)
		}
	}
	if n := strings.Count(out, "\n# "); n != 0 || !strings.HasPrefix(out, "# ") {
		t.Errorf("the document must have exactly one title; found %d more", n)
	}
}

func TestFleetJSONCarriesTheChildren(t *testing.T) {
	fleet, children := fleetStates()
	var b bytes.Buffer
	if err := report.FleetJSON(&b, fleet, children); err != nil {
		t.Fatal(err)
	}
	var got struct {
		workflows.State
		Children []workflows.State `json:"children"`
	}
	if err := json.Unmarshal(b.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	if got.Meta.RunID != "fleet-1" || len(got.Children) != 2 || got.Children[1].Status != workflows.RunFailed {
		t.Errorf("round trip: %+v", got)
	}
}
