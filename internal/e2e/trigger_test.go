package e2e

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/cordon-ir/cordon/intake"
	"github.com/cordon-ir/cordon/intake/intaketest"
	"github.com/cordon-ir/cordon/internal/awsemu"
	"github.com/cordon-ir/cordon/report"
	"github.com/cordon-ir/cordon/runbooks"
	"github.com/cordon-ir/cordon/runctl"
	"github.com/cordon-ir/cordon/triggers"
	"github.com/cordon-ir/cordon/workflows"
)

// Issue 14: a run started from a detection, on the real server. The
// intake signs the start under a launch trigger with its own key; the run
// waits at its first gate like any other, the intake can neither approve
// nor abort it, its finding updates are recorded, and a person's approval
// contains the host.

const intakeID = "cordon-intake"

// triggerWorker starts a worker of its own on queue whose runbook source
// holds ec2-compromise with its GuardDuty trigger in mode launch (the
// example proposes; its Health trigger stays propose), and whose roster
// is the shared one with a detection intake added. It returns the
// intake's key.
func triggerWorker(t *testing.T, queue string) ssh.Signer {
	t.Helper()
	src := exampleSource(t, "ec2-compromise")
	launch := strings.Replace(src, "      region: ${{ finding.region }}\n    mode: propose\n",
		"      region: ${{ finding.region }}\n    mode: launch\n", 1)
	if launch == src {
		t.Fatal("the example's first trigger is no longer in mode propose: adjust this test")
	}
	_, key := ownWorker{queue: queue, files: map[string]string{"ec2-compromise.yaml": launch}, intake: intakeID}.start(t)
	return key
}

func TestTriggeredRunEndToEnd(t *testing.T) {
	ctx := context.Background()
	queue := "e2e-trigger"
	key := triggerWorker(t, queue)
	target := oneHost(t, "detected")
	region := shared.emu.Region()
	now := time.Now().UTC()
	finding := func(source, key string) workflows.TriggeredFinding {
		return workflows.TriggeredFinding{Key: key, TargetKey: "123456789012/" + region + "/instance/" + target, Source: source, ID: "f-" + target,
			Type: "Backdoor:EC2/DenialOfService.Tcp", Account: "123456789012", Region: region, Severity: "high", Resource: target, Count: 1,
			Created: now.Add(-3 * time.Minute), Received: now.Add(-2 * time.Second)}
	}
	gd := finding("guardduty", "guardduty/123456789012/"+region+"/f-"+target)
	// GuardDuty holds the finding: the worker fetches it again before the
	// run starts.
	intaketest.Seed(t, shared.emu, intaketest.Finding{ID: gd.ID, Region: region, Instance: target}.GuardDuty(t),
		func(d map[string]any) { d["type"] = gd.Type })
	start := func(runID, trigger, mode string, f workflows.TriggeredFinding) string {
		t.Helper()
		id, err := runctl.Start(ctx, shared.client, queue, runctl.StartOptions{Runbook: "ec2-compromise",
			Inputs: map[string]any{"instance_id": target, "region": region}, Signer: key,
			Meta:    workflows.RunMeta{RunID: runID, Requester: intakeID, Channel: workflows.ChannelIntake, Incident: "INC-GD"},
			Trigger: &workflows.TriggerStart{Name: trigger, Mode: mode, Intake: intakeID, Findings: []workflows.TriggeredFinding{f}}})
		if err != nil {
			t.Fatal(err)
		}
		return id
	}

	// A proposal is a responder's to launch: the intake's start under the
	// Health trigger (mode propose) is refused before anything runs.
	refusedWith(t, ended(t, start("e2e-trigger-propose-"+target, "health-abuse-report", "propose",
		finding("health", "health/123456789012/arn:aws:health:"+region+"::event/EC2/AWS_ABUSE_DOS_REPORT/e2e"))), "a responder must launch it")
	untouched(t, target)

	// Under the launch trigger the run starts and waits at its first gate.
	runID := start("e2e-trigger-launch-"+target, "guardduty-ec2-high", "launch", gd)
	waitForGate(t, runID, "isolate")
	untouched(t, target)
	s, err := runctl.State(ctx, shared.client, runID)
	if err != nil {
		t.Fatal(err)
	}
	gate := s.Gates[0]
	for _, action := range []string{workflows.ActApprove, workflows.ActAbort} {
		_, err := runctl.Send(ctx, shared.client, workflows.Request{RunID: runID, Action: action, Step: gate.Step, PreviewHash: gate.PreviewHash,
			Actor: intakeID, Channel: workflows.ChannelIntake, Reason: "the finding says so"}, key)
		if !isRefused(err, "is a detection intake") {
			t.Errorf("the intake's %s: %v, want refused", action, err)
		}
	}

	// The finding is updated: the intake's update is recorded, one signed
	// with another key in the intake's name is refused, and neither
	// changes anything else.
	if err := runctl.SendFindingUpdate(ctx, shared.client, runID, workflows.FindingUpdate{Key: gd.Key, Count: 4, LastSeen: now.Format(time.RFC3339)}, key, intakeID); err != nil {
		t.Fatal(err)
	}
	if err := runctl.SendFindingUpdate(ctx, shared.client, runID, workflows.FindingUpdate{Key: gd.Key, Count: 99}, shared.keys["bob"], intakeID); err != nil {
		t.Fatal(err)
	}
	pollUntil(t, 30*time.Second, "two finding updates recorded", func() bool {
		s, err = runctl.State(ctx, shared.client, runID)
		return err == nil && len(s.FindingUpdates)+len(s.Refusals) >= 2
	})
	if len(s.FindingUpdates) != 1 || s.FindingUpdates[0].Count != 4 || len(s.Refusals) != 1 || s.Refusals[0].Action != workflows.ActFindingUpdate ||
		!strings.Contains(s.Refusals[0].Reason, "does not match any key") {
		t.Errorf("updates %+v, refusals %+v", s.FindingUpdates, s.Refusals)
	}
	if s.Gates[0].Status != workflows.GateWaiting || len(s.Gates[0].Approvals) != 0 {
		t.Errorf("the intake's requests moved the gate: %+v", s.Gates[0])
	}
	untouched(t, target)

	// A person's approval works as in any run.
	if res := approveGates(t, runID, "bob"); res.Status != workflows.RunSucceeded {
		t.Fatalf("run %s: %+v", runID, res)
	}
	in, _ := shared.emu.Instance(target)
	if in.State != "stopped" && in.State != "stopping" {
		t.Errorf("instance %s is %s after the approved run", target, in.State)
	}

	// The record says the intake started it, from which finding, and how
	// long each stage took.
	s, err = runctl.State(ctx, shared.client, runID)
	if err != nil {
		t.Fatal(err)
	}
	if s.Meta.Requester != intakeID || s.Provenance == nil || s.Provenance.Initiator != workflows.RoleIntake || s.Meta.Trigger == nil ||
		s.Meta.Trigger.FindingsHash() != (&workflows.TriggerStart{Findings: []workflows.TriggeredFinding{gd}}).FindingsHash() {
		t.Errorf("requester %s, provenance %+v, trigger %+v", s.Meta.Requester, s.Provenance, s.Meta.Trigger)
	}
	tm := report.TimingsOf(s, nil)
	if !tm.FindingCreated.Equal(gd.Created) || !tm.Received.Equal(gd.Received) || tm.FirstGate.Before(tm.Started) ||
		tm.FirstApproval.Before(tm.FirstGate) || tm.FirstIsolated.Before(tm.FirstApproval) || tm.FirstIsolated.IsZero() {
		t.Errorf("timings %+v", tm)
	}
	var md strings.Builder
	if err := report.Markdown(&md, s); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Started by trigger guardduty-ec2-high (launch) from 1 finding(s), launched by the detection intake " + intakeID,
		"- guardduty Backdoor:EC2/DenialOfService.Tcp in 123456789012/" + region, gd.Key + " updated: count 4", "→ first host isolated +"} {
		if !strings.Contains(md.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, md.String())
		}
	}

	replay(t, runID, "ec2-compromise-triggered-verified")
}

// A run the intake starts is verified at its findings' sources by the
// worker, on the real server against the emulator's GuardDuty: the
// intake faces the internet, and a thief of its key signs whatever it
// likes. Each start below is signed with the intake's own key.

// thief is a worker whose runbook source holds ec2-compromise with launch
// triggers and the Confluence fleet runbook with a storm trigger of at
// most 3 targets, with the intake in its roster, and the intake's key.
type thief struct {
	queue string
	key   ssh.Signer
}

func newThief(t *testing.T, name string) thief {
	t.Helper()
	queue := "e2e-verify-" + name
	_, key := ownWorker{queue: queue, intake: intakeID, files: map[string]string{
		"ec2-compromise.yaml": ec2Triggered(t),
		"confluence-cve-2021-26084.yaml": withTriggers(t, "confluence-cve-2021-26084", `
triggers:
  - name: storm
    source: guardduty
    match: {resource: instance}
    inputs: {region: "${{ finding.region }}"}
    mode: launch
    aggregate: {by: [account, region], window: 1m, into: compromised, item: "${{ finding.instance_id }}", max_targets: 3}
`),
	}}.start(t)
	return thief{queue: queue, key: key}
}

// start signs a start of runbook under trigger with the findings, as the
// intake does, with signer (the intake's key, unless said otherwise), and
// returns the run id.
func (th thief) start(t *testing.T, signer ssh.Signer, runbook, trigger string, inputs map[string]any, fs ...workflows.TriggeredFinding) string {
	t.Helper()
	id, err := runctl.Start(context.Background(), shared.client, th.queue, runctl.StartOptions{Runbook: runbook, Inputs: inputs, Signer: signer,
		Meta:    workflows.RunMeta{RunID: fmt.Sprintf("e2e-verify-%s-%d", runbook, time.Now().UnixNano()), Requester: intakeID, Channel: workflows.ChannelIntake},
		Trigger: &workflows.TriggerStart{Name: trigger, Mode: "launch", Intake: intakeID, Findings: fs}})
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// held is a high GuardDuty finding about host that GuardDuty holds (seeded
// in the emulator unless seed is false), as the intake records it.
func held(t *testing.T, id, host string, seed bool) workflows.TriggeredFinding {
	t.Helper()
	event := intaketest.Finding{ID: id, Region: shared.emu.Region(), Instance: host}.GuardDuty(t)
	if seed {
		intaketest.Seed(t, shared.emu, event)
	}
	fs, err := triggers.ParseEvent(event)
	if err != nil {
		t.Fatal(err)
	}
	return intake.Triggered(fs[0], time.Now())
}

// sourceCalls counts the calls to the findings' sources since the
// emulator's call log was reset.
func sourceCalls() int {
	n := 0
	for _, c := range shared.emu.Calls() {
		if c.Service == awsemu.ServiceGuardDuty || c.Service == awsemu.ServiceSecurityHub || c.Service == awsemu.ServiceHealth {
			n++
		}
	}
	return n
}

func hostInputs(host string) map[string]any {
	return map[string]any{"instance_id": host, "region": shared.emu.Region()}
}

func TestIntakeStartVerifiedAtTheSource(t *testing.T) {
	th := newThief(t, "single")
	host := oneHost(t, "verify")

	// A finding GuardDuty never held.
	forged := held(t, "forged-"+host, host, false)
	refusedWith(t, ended(t, th.start(t, th.key, "ec2-compromise", "guardduty-ec2-high", hostInputs(host), forged)),
		"the source does not return this finding (GuardDuty in account 123456789012 has no forged-"+host+")")
	untouched(t, host)

	// A real finding, but the run names another instance.
	real := held(t, "real-"+host, host, true)
	other := oneHost(t, "verify-other")
	refusedWith(t, ended(t, th.start(t, th.key, "ec2-compromise", "guardduty-ec2-high", hostInputs(other), real)),
		fmt.Sprintf("input instance_id is %q; the findings give %q", other, host))
	untouched(t, other)

	// A real finding whose instance was changed in the signed copy.
	changed := real
	changed.TargetKey = strings.Replace(real.TargetKey, host, other, 1)
	refusedWith(t, ended(t, th.start(t, th.key, "ec2-compromise", "guardduty-ec2-high", hostInputs(other), changed)),
		"the source holds this finding differently: target")
	untouched(t, other)

	// A real finding and its inputs, plus an input the trigger does not
	// set, off the plan's default: the thief chooses the final action.
	chosen := hostInputs(host)
	chosen["final_action"] = "terminate"
	refusedWith(t, ended(t, th.start(t, th.key, "ec2-compromise", "guardduty-ec2-high", chosen, real)),
		`input final_action is "terminate", which trigger guardduty-ec2-high does not set: only the plan's default ("stop") may stand there`)
	untouched(t, host)

	// Positive control: the real finding and its inputs start the run,
	// which waits at its gate, recorded as verified.
	runID := th.start(t, th.key, "ec2-compromise", "guardduty-ec2-high", hostInputs(host), real)
	waitForGate(t, runID, "isolate")
	untouched(t, host)
	s, err := runctl.State(context.Background(), shared.client, runID)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(s.Timeline, func(e workflows.Event) bool {
		return e.Kind == workflows.EventTriggered && strings.Contains(e.Detail, "verified at their sources")
	}) {
		t.Errorf("the verified run's timeline: %+v", s.Timeline)
	}
	abortRun(t, runID)
}

func TestIntakeFleetStartVerifiedAtTheSource(t *testing.T) {
	th := newThief(t, "fleet")
	fleet := seedFleet(t, awsemu.FleetSpec{Instances: 5, NamePrefix: "verify-fleet", NetworkInterfaces: 1, Volumes: 1})
	a, b := fleet.InstanceIDs[0], fleet.InstanceIDs[1]
	fa, fb := held(t, "fleet-"+a, a, true), held(t, "fleet-"+b, b, true)
	fleetInputs := func(hosts ...string) map[string]any {
		list := make([]any, 0, len(hosts))
		for _, h := range hosts {
			list = append(list, h)
		}
		return map[string]any{"compromised": list, "region": shared.emu.Region()}
	}
	const fleetRunbook = "confluence-cve-2021-26084"

	// Real findings, but the run's compromised list names another host,
	// or none (which would contain every Confluence server).
	for _, hosts := range [][]string{{a, fleet.InstanceIDs[2]}, {}} {
		refusedWith(t, ended(t, th.start(t, th.key, fleetRunbook, "storm", fleetInputs(hosts...), fa, fb)), "input compromised is")
	}

	// More findings than the trigger's bound (max_targets 3: 15 findings):
	// refused before any source is asked.
	var many []workflows.TriggeredFinding
	for i := range runbooks.MaxBatchFindings(3) + 1 {
		h := fleet.InstanceIDs[i%4]
		many = append(many, held(t, fmt.Sprintf("many-%d-%s", i, h), h, false))
	}
	shared.emu.ResetCalls()
	refusedWith(t, ended(t, th.start(t, th.key, fleetRunbook, "storm", fleetInputs(fleet.InstanceIDs[:4]...), many...)),
		"the start carries 16 finding(s); trigger storm starts a run of 1 to 15 by itself")
	if n := sourceCalls(); n != 0 {
		t.Errorf("%d source call(s) for a start over the limit", n)
	}

	// Unsigned, or signed in the intake's name with another key: no source
	// call either (the verification comes after authentication).
	refusedWith(t, ended(t, th.start(t, nil, fleetRunbook, "storm", fleetInputs(a, b), fa, fb)), "not signed")
	refusedWith(t, ended(t, th.start(t, shared.keys["bob"], fleetRunbook, "storm", fleetInputs(a, b), fa, fb)), "signature")
	if n := sourceCalls(); n != 0 {
		t.Errorf("%d source call(s) for unauthenticated starts", n)
	}
	for _, h := range fleet.InstanceIDs {
		untouched(t, h)
	}

	// Positive control: the findings and the list they give (in any
	// order) start the fleet run, after one source call per finding.
	runID := th.start(t, th.key, fleetRunbook, "storm", fleetInputs(b, a), fa, fb)
	pollUntil(t, time.Minute, "the fleet run past its start", func() bool {
		s, err := runctl.State(context.Background(), shared.client, runID)
		return err == nil && slices.ContainsFunc(s.Timeline, func(e workflows.Event) bool { return e.Kind == workflows.EventRunStarted })
	})
	if s, _ := runctl.State(context.Background(), shared.client, runID); len(s.Refusals) != 0 {
		t.Fatalf("refusals %+v", s.Refusals)
	}
	if n := sourceCalls(); n < 2 {
		t.Errorf("%d source call(s) to verify two findings", n)
	}
	abortRun(t, runID)
}
