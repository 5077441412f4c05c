package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/cordon-ir/cordon/report"
	"github.com/cordon-ir/cordon/runctl"
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

	replay(t, runID, "ec2-compromise-triggered")
}
