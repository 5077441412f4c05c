package report_test

import (
	"io"
	"strings"
	"testing"
	"time"

	"github.com/cordon-ir/cordon/report"
	"github.com/cordon-ir/cordon/workflows"
)

func fleetStates() (workflows.State, []workflows.State) {
	fleet := workflows.State{
		Meta: workflows.RunMeta{RunID: "fleet-1", Requester: "alice", Incident: "INC-26084"}, Runbook: "confluence-cve-2021-26084",
		Status: workflows.RunSucceeded, StartedAt: at(0), EndedAt: at(120),
		Steps: []workflows.StepState{{ID: "contain", Phase: "containment", Uses: "ec2-compromise", Status: workflows.StepSucceeded,
			Children: []string{"fleet-1/contain/1", "fleet-1/contain/2"}}},
	}
	host := sampleState()
	host.Meta.RunID, host.Meta.Parent = "fleet-1/contain/1", "fleet-1"
	// The snapshots are read from the step that took them (its action's
	// declared output), not from whatever the runbook calls its outputs.
	host.Steps = append(host.Steps, workflows.StepState{ID: "snapshot", Phase: "containment", Action: "aws.ec2.snapshot_volumes",
		Status: workflows.StepSucceeded, Outputs: map[string]any{"snapshot_ids": []any{"snap-1", "snap-2"}, "snapshots": []any{}}})
	host.Outputs = map[string]any{"evidence": []any{"not-a-snapshot"}}
	// The gate reopened once because the world moved, and bob approved twice.
	host.Timeline = append(host.Timeline, workflows.Event{Time: at(59), Kind: workflows.EventGateApproved, Step: "isolate", Actor: "bob"})
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
	out := rendered(t, func(w io.Writer) error { return report.FleetMarkdown(w, fleet, children) })
	wantIn(t, out,
		"# Containment report: fleet-1\n",
		"| i-0abc | `fleet-1/contain/1` | succeeded | 1m0s | snap-1, snap-2 | isolate approved by bob (2 rounds) |",
		"| i-0def | `fleet-1/contain/2` | failed | — |  |  |",
		"## Containment report: fleet-1/contain/1\n",
		"## Containment report: fleet-1/contain/2\n",
	)
	if n := strings.Count(out, "\n# "); n != 0 || !strings.HasPrefix(out, "# ") {
		t.Errorf("the document must have exactly one title; found %d more", n)
	}
}

func TestFleetJSONCarriesTheChildren(t *testing.T) {
	fleet, children := fleetStates()
	var got struct {
		workflows.State
		Children []workflows.State `json:"children"`
	}
	decoded(t, func(w io.Writer) error { return report.FleetJSON(w, fleet, children) }, &got)
	if got.Meta.RunID != "fleet-1" || len(got.Children) != 2 || got.Children[1].Status != workflows.RunFailed {
		t.Errorf("round trip: %+v", got)
	}
}

// The report reads a run through the actions its steps call, so a
// runbook whose steps, inputs and outputs are named unlike the examples'
// gets the same record.
func TestHostsKeyOnActionsNotOnNames(t *testing.T) {
	fleet := workflows.State{Meta: workflows.RunMeta{RunID: "f"}, StartedAt: at(0)}
	host := workflows.State{
		Meta: workflows.RunMeta{RunID: "f/hosts/1"}, Runbook: "our-own", Status: workflows.RunFailed, StartedAt: at(0),
		Inputs: map[string]any{"account": "production", "server": "i-0123456789abcdef0", "why": "scanning the internet"},
		Steps: []workflows.StepState{
			// A step named like the examples' isolation step, calling
			// something else: not the moment of isolation.
			{ID: "isolate", Action: "aws.ec2.tag", Status: workflows.StepSucceeded},
			{ID: "cut_off", Action: "aws.ec2.isolate_instance", Status: workflows.StepSucceeded},
			// A fleet of volumes per item: outputs are lists per item.
			{ID: "disks", Action: "aws.ec2.snapshot_volumes", Status: workflows.StepSucceeded,
				Outputs: map[string]any{"snapshot_ids": []any{[]any{"snap-a"}, []any{}, []any{"snap-b", "snap-c"}}}},
			{ID: "halt", Action: "aws.ec2.stop_instance", Status: workflows.StepFailed},
		},
		Timeline: []workflows.Event{
			{Time: at(5), Kind: workflows.EventActionDone, Step: "isolate"},
			{Time: at(42), Kind: workflows.EventActionDone, Step: "cut_off"},
			{Time: at(50), Kind: workflows.EventActionDone, Step: "cut_off", Item: 2},
		},
	}
	hosts := report.Hosts(fleet, []workflows.State{host})
	if len(hosts) != 1 {
		t.Fatalf("hosts %+v", hosts)
	}
	h := hosts[0]
	if h.Host != "i-0123456789abcdef0" || h.Isolated != 42*time.Second || strings.Join(h.Snapshots, ",") != "snap-a,snap-b,snap-c" || h.Status != workflows.RunFailed {
		t.Errorf("host %+v", h)
	}
	if out := rendered(t, func(w io.Writer) error { return report.Markdown(w, host) }); !strings.Contains(out, "Time from launch to isolation: **42s**.") {
		t.Errorf("report:\n%s", out)
	}
	key := workflows.State{Runbook: "keys", Inputs: map[string]any{"leaked": "AKIAIOSFODNN7EXAMPLE", "since": "2021-09-01T00:00:00Z"}}
	if got := report.HostOf(key); got != "AKIAIOSFODNN7EXAMPLE" {
		t.Errorf("HostOf(key run) = %q", got)
	}
	if got := report.HostOf(workflows.State{Runbook: "fleet", Inputs: map[string]any{"compromised": []any{"i-0abc"}}}); got != "fleet" {
		t.Errorf("HostOf(fleet run) = %q, want its runbook", got)
	}
}

// triggeredFleet is the fleet of fleetStates, started by the intake from
// two GuardDuty findings created and received before the run, one of
// them updated since.
func triggeredFleet() (workflows.State, []workflows.State) {
	fleet, children := fleetStates()
	t0 := fleet.StartedAt
	fleet.Meta.Requester, fleet.Meta.Channel, fleet.Meta.Authenticated = "cordon-intake", workflows.ChannelIntake, true
	fleet.Provenance = &workflows.Provenance{Requester: "cordon-intake", Authenticated: true, Initiator: workflows.RoleIntake}
	finding := func(id, instance string, created, received time.Duration) workflows.TriggeredFinding {
		return workflows.TriggeredFinding{Key: "guardduty/123456789012/us-east-1/" + id, TargetKey: "123456789012/us-east-1/instance/" + instance,
			Source: "guardduty", ID: id, Type: "Backdoor:EC2/DenialOfService.Tcp", Account: "123456789012", Region: "us-east-1",
			Severity: "high", Resource: instance, Count: 3, Created: t0.Add(created), Received: t0.Add(received)}
	}
	fleet.Meta.Trigger = &workflows.TriggerStart{Name: "guardduty-fleet", Mode: "launch", Intake: "cordon-intake", Findings: []workflows.TriggeredFinding{
		finding("f2", "i-0def", -5*time.Minute, -4*time.Second), finding("f1", "i-0abc", -9*time.Minute, -3*time.Second)}}
	fleet.FindingUpdates = []workflows.FindingUpdate{{Key: "guardduty/123456789012/us-east-1/f1", Count: 7, LastSeen: "2021-09-02T10:01:00Z",
		Received: t0.Add(90 * time.Second), Intake: "cordon-intake"}}
	return fleet, children
}

// A triggered run's record says what started it, each finding, each
// update, and the time from detection to isolation, which for a fleet is
// read from its host runs.
func TestTriggeredFleetReport(t *testing.T) {
	fleet, children := triggeredFleet()
	wantIn(t, rendered(t, func(w io.Writer) error { return report.FleetMarkdown(w, fleet, children) }),
		"| Requested by | cordon-intake (intake) |",
		"| Trigger | Started by trigger guardduty-fleet (launch) from 2 finding(s), launched by the detection intake cordon-intake |",
		"## Detection and timings",
		"- Requester: cordon-intake (the detection intake: it may start a run under a trigger, never approve or steer one), verified from the signed start.",
		"- guardduty Backdoor:EC2/DenialOfService.Tcp in 123456789012/us-east-1, target 123456789012/us-east-1/instance/i-0def, severity high, "+
			"created 2021-09-02 09:55:00Z, received 2021-09-02 09:59:56Z, seen 3 times (guardduty/123456789012/us-east-1/f2)",
		"- guardduty/123456789012/us-east-1/f1 updated: count 7, last seen 2021-09-02T10:01:00Z, received 2021-09-02 10:01:30Z",
		// The earliest finding was created 09:51; the first received at
		// 09:59:56; the gate, the approval and the isolation are the
		// first host's.
		"Timings: finding created 2021-09-02 09:51:00Z → received +8m56s → run started +4s → first gate waiting +3s → first approval +55s → "+
			"first host isolated (fleet-1/contain/1) +2s.",
	)

	var back struct {
		workflows.State
		Timings report.Timings `json:"timings"`
	}
	decoded(t, func(w io.Writer) error { return report.FleetJSON(w, fleet, children) }, &back)
	want := report.TimingsOf(fleet, children)
	if back.Meta.Trigger == nil || len(back.Meta.Trigger.Findings) != 2 || !back.Timings.FirstIsolated.Equal(want.FirstIsolated) ||
		!back.Timings.FindingCreated.Equal(fleet.Meta.Trigger.Findings[1].Created) || back.Timings.IsolatedIn != "fleet-1/contain/1" {
		t.Errorf("JSON trigger %+v, timings %+v", back.Meta.Trigger, back.Timings)
	}

	if s := rendered(t, func(w io.Writer) error { return report.WriteStatus(w, fleet, children) }); !strings.HasPrefix(s, "Started by trigger guardduty-fleet (launch) from 2 finding(s)") ||
		strings.Count(s, "\n  guardduty ") != 2 || !strings.Contains(s, "\ntimings: finding created") {
		t.Errorf("status:\n%s", s)
	}
}

// A responder who launched a proposal is named as such; a run started by
// hand says nothing of triggers, and its timings start at the run.
func TestStartedSaysWhoLaunched(t *testing.T) {
	fleet, _ := triggeredFleet()
	fleet.Provenance.Initiator, fleet.Meta.Requester, fleet.Meta.Trigger.Mode = "", "alice", "propose"
	if got := report.Started(fleet); !strings.HasSuffix(got, "proposed by intake cordon-intake and launched by alice") {
		t.Errorf("started %q", got)
	}
	s := sampleState()
	if got := report.Started(s); got != "" {
		t.Errorf("a run started by hand: %q", got)
	}
	if got := report.TimingsOf(s, nil).Line(); got != "run started 2021-09-02 10:00:00Z → first gate waiting +3s → first approval +55s → first host isolated +2s" {
		t.Errorf("timings %q", got)
	}
}
