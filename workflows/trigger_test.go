package workflows_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/cordon-ir/cordon/actions/wire"
	"github.com/cordon-ir/cordon/workflows"
)

// Runs started from detections (issue 14). A detection may start a
// runbook, never approve or steer it: the intake's key signs the start of
// a run under a launch (or dry_run) trigger of the vouched plan, binding
// the trigger and the findings, and nothing else.

// triggered is the gated runbook with a trigger of every mode.
const triggered = gated + `triggers:
  - name: gd-launch
    source: guardduty
    match: {types: ["*:EC2/*"], resource: instance}
    inputs: {instance_id: "${{ finding.instance_id }}"}
    mode: launch
  - name: gd-propose
    source: guardduty
    inputs: {instance_id: "${{ finding.instance_id }}"}
  - name: gd-rehearse
    source: guardduty
    inputs: {instance_id: "${{ finding.instance_id }}"}
    mode: dry_run
`

const intakeID = "cordon-intake"

// intakeRosters are the rosters the intake's attacks are tried on: the
// intake as configured, and an intake a roster also made a lead and an
// approver (the worker's configuration refuses that; the workflow must
// hold regardless, and on such a roster the code before the intake rules
// accepted every one of these attacks).
var intakeRosters = map[string]struct {
	roles, groups []string
}{
	"intake":                {[]string{workflows.RoleIntake}, nil},
	"intake also a lead":    {[]string{workflows.RoleIntake, workflows.RoleResponder, workflows.RoleLead}, []string{"csirt", "leads"}},
	"intake named approver": {[]string{workflows.RoleIntake}, []string{"csirt"}},
}

type signers struct{ intake, alice, bob ssh.Signer }

// intakeFixture is a production roster (signatures required) with an
// intake member of the given roles and groups, and the triggered runbook
// in the worker's source.
func intakeFixture(t *testing.T, roles, groups []string) (*fixture, signers) {
	f := newFixture(t)
	var k signers
	var intakePub, alicePub, bobPub string
	k.intake, intakePub = newKey(t)
	k.alice, alicePub = newKey(t)
	k.bob, bobPub = newKey(t)
	f.roster.RequireSignatures = true
	f.roster.Members[0].PublicKeys = []string{alicePub}
	f.roster.Members[1].PublicKeys = []string{bobPub}
	f.roster.Members = append(f.roster.Members, workflows.Member{ID: intakeID, Roles: roles, Groups: groups, PublicKeys: []string{intakePub}})
	f.reviewed(triggered)
	return f, k
}

// finding is a GuardDuty finding about the runbook's default instance,
// created ten minutes and received one minute before now.
func finding(now time.Time, id string) workflows.TriggeredFinding {
	return workflows.TriggeredFinding{Key: "guardduty/123456789012/us-east-1/" + id, TargetKey: "123456789012/us-east-1/instance/i-0123456789abcdef0",
		Source: "guardduty", ID: id, Type: "UnauthorizedAccess:EC2/TorClient", Account: "123456789012", Region: "us-east-1",
		Severity: "high", Resource: "i-0123456789abcdef0", Title: "EC2 instance talks to Tor", Count: 1,
		Created: now.Add(-10 * time.Minute).UTC(), Received: now.Add(-time.Minute).UTC()}
}

// triggerStart is what the intake would send under trigger name in mode.
func triggerStart(f *fixture, name, mode string) *workflows.TriggerStart {
	return &workflows.TriggerStart{Name: name, Mode: mode, Intake: intakeID, Findings: []workflows.TriggeredFinding{finding(f.env.Now(), "f1")}}
}

// startTriggered starts the triggered runbook as actor (on channel), with
// the trigger signed into the start; tamper, when set, edits the run's
// metadata after the signature.
func (f *fixture) startTriggered(actor, channel string, key ssh.Signer, t *workflows.TriggerStart, dryRun bool, tamper func(*workflows.RunMeta)) {
	f.startSignedWith(triggered, actor, key, func(req *workflows.Request, meta *workflows.RunMeta) {
		req.Channel, meta.Channel = channel, channel
		req.DryRun, meta.DryRun = dryRun, dryRun
		meta.Trigger = t
		if t != nil {
			req.Trigger, req.FindingsHash = t.Name, t.FindingsHash()
		}
		if tamper != nil {
			tamper(meta)
		}
	})
}

// refusedStart checks that the run was refused before anything ran, for
// the reason given.
func refusedStart(t *testing.T, f *fixture, reason string) {
	t.Helper()
	_, _ = f.result()
	s := f.state()
	if s.Status != workflows.RunFailed || len(s.Refusals) == 0 || !strings.Contains(s.Refusals[0].Reason, reason) {
		t.Fatalf("status %s, refusals %+v: want the start refused with %q", s.Status, s.Refusals, reason)
	}
	if got := f.aws.executed(); len(got) != 0 {
		t.Errorf("a refused start executed %v", got)
	}
	if hasEvent(s, workflows.EventTriggered) || s.Meta.Trigger != nil {
		t.Errorf("a refused start recorded its trigger: %+v, timeline %s", s.Meta.Trigger, timelineKinds(s))
	}
}

// Positive control: the intake's signed start under a launch trigger runs
// to its first gate and waits there; the record says an intake started it,
// with the trigger and the finding; a person's approval then works.
func TestIntakeLaunchesAndTheGateStillWaits(t *testing.T) {
	f, k := intakeFixture(t, []string{workflows.RoleIntake}, nil)
	var atGate workflows.State
	var executedAtGate []string
	var approve *outcome
	f.at(time.Minute, func() {
		atGate = f.state()
		executedAtGate = f.aws.executed()
		r, err := workflows.Sign(workflows.Request{RunID: "run-1", Action: workflows.ActApprove, Step: "isolate", PreviewHash: atGate.Gates[0].PreviewHash,
			Actor: "bob", Channel: "cli", Reason: "confirmed", Time: f.env.Now(), Nonce: "bob-1"}, k.bob)
		if err != nil {
			t.Fatal(err)
		}
		approve = f.send(workflows.UpdateApprove, r)
	})
	f.startTriggered(intakeID, workflows.ChannelIntake, k.intake, triggerStart(f, "gd-launch", "launch"), false, nil)
	f.wantResult(workflows.RunSucceeded)
	if stepStatus(atGate, "isolate") != workflows.StepAwaiting || strings.Join(executedAtGate, ",") != "aws.ec2.describe_instance:evidence#0" {
		t.Errorf("at one minute: isolate %s, executed %v: the triggered run must wait at its gate", stepStatus(atGate, "isolate"), executedAtGate)
	}
	wantOK(t, "a person's approval", approve)
	s := f.state()
	if s.Meta.Requester != intakeID || !s.Meta.Authenticated || s.Meta.Channel != workflows.ChannelIntake ||
		s.Provenance == nil || s.Provenance.Initiator != workflows.RoleIntake {
		t.Errorf("requester %q (authenticated %t, channel %s), provenance %+v: want the intake, verified", s.Meta.Requester, s.Meta.Authenticated, s.Meta.Channel, s.Provenance)
	}
	if s.Meta.Trigger == nil || s.Meta.Trigger.Name != "gd-launch" || len(s.Meta.Trigger.Findings) != 1 {
		t.Fatalf("state's trigger %+v", s.Meta.Trigger)
	}
	var tr *workflows.Event
	for i, e := range s.Timeline {
		if e.Kind == workflows.EventTriggered {
			tr = &s.Timeline[i]
			if i+1 >= len(s.Timeline) || s.Timeline[i+1].Kind != workflows.EventRunStarted {
				t.Errorf("triggered is not right before run_started: %s", timelineKinds(s))
			}
		}
	}
	if tr == nil || tr.Actor != intakeID || !strings.Contains(tr.Detail, "gd-launch (launch) from 1 finding") || len(tr.Findings) != 1 || tr.Findings[0].ID != "f1" {
		t.Errorf("triggered event %+v", tr)
	}
	waiting := f.notices(workflows.NoticeWaiting)
	if len(waiting) != 1 || waiting[0].Detection == nil || waiting[0].Detection.Trigger != "gd-launch" ||
		!waiting[0].Detection.Created.Equal(s.Meta.Trigger.Findings[0].Created) || waiting[0].Detection.GateWaiting.IsZero() {
		t.Errorf("the gate's notice does not say what detected it: %+v", waiting)
	}
}

// Positive control: a responder who launched a proposal signs the start
// with the trigger (mode propose); it is recorded, and the responder is
// the requester.
func TestResponderLaunchesAProposal(t *testing.T) {
	f, k := intakeFixture(t, []string{workflows.RoleIntake}, nil)
	f.at(time.Minute, func() {
		f.send(workflows.UpdateAbort, signed(t, f, k.bob, "bob", "cli", workflows.ActAbort, "b-abort"))
	})
	tr := triggerStart(f, "gd-propose", "propose")
	f.startTriggered("alice", "cli", k.alice, tr, false, nil)
	_, _ = f.result()
	s := f.state()
	if len(s.Refusals) != 0 || !hasEvent(s, workflows.EventTriggered) || s.Meta.Requester != "alice" || s.Meta.Trigger == nil ||
		s.Meta.Trigger.Mode != "propose" || s.Provenance.Initiator != "" {
		t.Errorf("refusals %+v, requester %s, trigger %+v, provenance %+v, timeline %s", s.Refusals, s.Meta.Requester, s.Meta.Trigger, s.Provenance, timelineKinds(s))
	}
}

// signed is a request of action by actor on channel, signed with key.
func signed(t *testing.T, f *fixture, key ssh.Signer, actor, channel, action, nonce string) workflows.Request {
	t.Helper()
	st := f.state()
	req := workflows.Request{RunID: "run-1", Action: action, Actor: actor, Channel: channel, Reason: "from a finding", Time: f.env.Now(), Nonce: nonce}
	for _, g := range st.Gates {
		if g.Status == workflows.GateWaiting {
			req.Step, req.PreviewHash = g.Step, g.PreviewHash
		}
	}
	r, err := workflows.Sign(req, key)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// The intake signs nothing but starts: an approve, a deny, a break-glass,
// a pause and an abort it signed are refused, on its own channel and on
// the CLI, even where the roster also made it a lead and an approver; the
// gate then still waits for a person.
func TestIntakeNeverDecidesOrSteers(t *testing.T) {
	for name, ro := range intakeRosters {
		t.Run(name, func(t *testing.T) {
			f, k := intakeFixture(t, ro.roles, ro.groups)
			got := map[string]*outcome{}
			n := 0
			for _, channel := range []string{"cli", workflows.ChannelIntake} {
				for _, a := range []struct{ update, action string }{
					{workflows.UpdateApprove, workflows.ActApprove}, {workflows.UpdateApprove, workflows.ActDeny},
					{workflows.UpdateApproveAll, workflows.ActApproveAll}, {workflows.UpdatePause, workflows.ActPause},
					{workflows.UpdateAbort, workflows.ActAbort},
				} {
					n++
					at, label, nonce := time.Duration(n)*time.Minute, a.action+" on "+channel, "attack-"+a.action+"-"+channel
					f.at(at, func() { got[label] = f.send(a.update, signed(t, f, k.intake, intakeID, channel, a.action, nonce)) })
				}
			}
			var after workflows.State
			f.at(time.Duration(n+1)*time.Minute, func() {
				after = f.state()
				f.send(workflows.UpdateAbort, signed(t, f, k.bob, "bob", "cli", workflows.ActAbort, "bob-abort"))
			})
			f.startTriggered(intakeID, workflows.ChannelIntake, k.intake, triggerStart(f, "gd-launch", "launch"), false, nil)
			_, _ = f.result()
			if len(got) != n {
				t.Fatalf("%d attacks sent, want %d (the run ended early: %s)", len(got), n, timelineKinds(f.state()))
			}
			for label, o := range got {
				wantRefused(t, label, o, "is a detection intake")
			}
			if stepStatus(after, "isolate") != workflows.StepAwaiting || after.Paused || after.BreakGlass != nil || len(after.Gates[0].Approvals) != 0 {
				t.Errorf("after the attacks: isolate %s, paused %t, break-glass %+v, approvals %+v", stepStatus(after, "isolate"), after.Paused, after.BreakGlass, after.Gates[0].Approvals)
			}
			if n := f.aws.count(wire.Execute, "aws.ec2.isolate_instance"); n != 0 {
				t.Errorf("isolated %d time(s) on the intake's say", n)
			}
		})
	}
}

// The intake's start must be one the vouched plan lets a detection start
// by itself, with exactly the findings it signed. Each start below is
// refused before anything runs, whatever role the roster gave the intake.
func TestIntakeStartsOnlyWhatATriggerAllows(t *testing.T) {
	cases := []struct {
		name    string
		trigger func(f *fixture) *workflows.TriggerStart
		dryRun  bool
		tamper  func(*workflows.RunMeta)
		want    string
	}{
		{name: "propose-mode trigger", trigger: func(f *fixture) *workflows.TriggerStart { return triggerStart(f, "gd-propose", "propose") },
			want: "a responder must launch it"},
		{name: "propose trigger claimed as launch", trigger: func(f *fixture) *workflows.TriggerStart { return triggerStart(f, "gd-propose", "launch") },
			want: "a responder must launch it"},
		{name: "trigger the plan lacks", trigger: func(f *fixture) *workflows.TriggerStart { return triggerStart(f, "gd-anything", "launch") },
			want: `has no trigger "gd-anything"`},
		{name: "dry_run trigger for real", trigger: func(f *fixture) *workflows.TriggerStart { return triggerStart(f, "gd-rehearse", "dry_run") },
			want: "only as a rehearsal"},
		{name: "no trigger", trigger: func(f *fixture) *workflows.TriggerStart { return nil },
			want: "only start a run under one of the plan's triggers"},
		{name: "no finding", trigger: func(f *fixture) *workflows.TriggerStart {
			return &workflows.TriggerStart{Name: "gd-launch", Mode: "launch", Intake: intakeID}
		}, want: "carries no finding"},
		{name: "another source's finding", trigger: func(f *fixture) *workflows.TriggerStart {
			t := triggerStart(f, "gd-launch", "launch")
			t.Findings[0].Source = "health"
			return t
		}, want: `comes from "health"`},
		{name: "another intake named", trigger: func(f *fixture) *workflows.TriggerStart {
			t := triggerStart(f, "gd-launch", "launch")
			t.Intake = "other-intake"
			return t
		}, want: `names intake "other-intake"`},
		{name: "findings tampered after signing", trigger: func(f *fixture) *workflows.TriggerStart { return triggerStart(f, "gd-launch", "launch") },
			tamper: func(m *workflows.RunMeta) {
				t := *m.Trigger
				t.Findings = append(t.Findings, finding(time.Now(), "f-forged"))
				m.Trigger = &t
			}, want: "the start was signed for trigger \"gd-launch\" with findings"},
		{name: "trigger removed after signing", trigger: func(f *fixture) *workflows.TriggerStart { return triggerStart(f, "gd-launch", "launch") },
			tamper: func(m *workflows.RunMeta) { m.Trigger = nil }, want: "the input says trigger \"\""},
	}
	for name, ro := range intakeRosters {
		for _, c := range cases {
			t.Run(name+"/"+c.name, func(t *testing.T) {
				f, k := intakeFixture(t, ro.roles, ro.groups)
				f.startTriggered(intakeID, workflows.ChannelIntake, k.intake, c.trigger(f), c.dryRun, c.tamper)
				refusedStart(t, f, c.want)
			})
		}
	}
}

// The intake's authenticated start is verified at the findings' sources
// by the worker's side (ActivityVerifyTrigger, against the emulator in
// internal/e2e): its refusal, or a source that keeps failing, refuses
// the start with the reason before anything runs; it is asked with the
// vouched plan, the trigger, the signed findings and the run's inputs
// (defaults filled in), and a verified start says so in its record.
func TestIntakeStartIsVerifiedAtTheSource(t *testing.T) {
	t.Run("verified", func(t *testing.T) {
		f, k := intakeFixture(t, []string{workflows.RoleIntake}, nil)
		f.at(time.Minute, func() {
			f.send(workflows.UpdateAbort, signed(t, f, k.bob, "bob", "cli", workflows.ActAbort, "b-abort"))
		})
		tr := triggerStart(f, "gd-launch", "launch")
		f.startTriggered(intakeID, workflows.ChannelIntake, k.intake, tr, false, nil)
		_, _ = f.result()
		s := f.state()
		if len(f.verified) != 1 || f.verified[0].Trigger != "gd-launch" || f.verified[0].Plan == nil ||
			f.verified[0].Plan.Runbook.Name != s.Provenance.Source && f.verified[0].Plan.ContentHash() == "" ||
			(&workflows.TriggerStart{Findings: f.verified[0].Findings}).FindingsHash() != tr.FindingsHash() ||
			f.verified[0].Inputs["instance_id"] != "i-0123456789abcdef0" {
			t.Fatalf("verification asked %+v", f.verified)
		}
		if len(s.Refusals) != 0 || !slices.ContainsFunc(s.Timeline, func(e workflows.Event) bool {
			return e.Kind == workflows.EventTriggered && strings.Contains(e.Detail, "verified at their sources")
		}) {
			t.Errorf("refusals %+v, timeline %+v", s.Refusals, s.Timeline)
		}
	})
	t.Run("refused", func(t *testing.T) {
		f, k := intakeFixture(t, []string{workflows.RoleIntake}, nil)
		f.verify = func(context.Context, workflows.VerifyTriggerRequest) (workflows.VerifiedTrigger, error) {
			return workflows.VerifiedTrigger{Refusal: "finding guardduty/x: the source does not return this finding"}, nil
		}
		f.startTriggered(intakeID, workflows.ChannelIntake, k.intake, triggerStart(f, "gd-launch", "launch"), false, nil)
		refusedStart(t, f, "the findings are not verified at their sources: finding guardduty/x: the source does not return")
	})
	t.Run("source keeps failing", func(t *testing.T) {
		f, k := intakeFixture(t, []string{workflows.RoleIntake}, nil)
		f.verify = func(context.Context, workflows.VerifyTriggerRequest) (workflows.VerifiedTrigger, error) {
			return workflows.VerifiedTrigger{}, errors.New("GuardDuty GetFindings: throttled")
		}
		f.startTriggered(intakeID, workflows.ChannelIntake, k.intake, triggerStart(f, "gd-launch", "launch"), false, nil)
		refusedStart(t, f, "the findings could not be verified at their sources")
		if len(f.verified) < 2 {
			t.Errorf("asked %d time(s): a failing source is retried", len(f.verified))
		}
	})
	// Neither a start that fails authentication nor a person's start
	// makes the worker call a source.
	t.Run("not authenticated", func(t *testing.T) {
		f, k := intakeFixture(t, []string{workflows.RoleIntake}, nil)
		f.startTriggered(intakeID, workflows.ChannelIntake, k.alice, triggerStart(f, "gd-launch", "launch"), false, nil)
		refusedStart(t, f, "signature")
		if len(f.verified) != 0 {
			t.Errorf("an unauthenticated start was verified at the source: %+v", f.verified)
		}
	})
	t.Run("a person's launch", func(t *testing.T) {
		f, k := intakeFixture(t, []string{workflows.RoleIntake}, nil)
		f.at(time.Minute, func() {
			f.send(workflows.UpdateAbort, signed(t, f, k.bob, "bob", "cli", workflows.ActAbort, "b-abort"))
		})
		f.startTriggered("alice", "cli", k.alice, triggerStart(f, "gd-propose", "propose"), false, nil)
		_, _ = f.result()
		if len(f.verified) != 0 || len(f.state().Refusals) != 0 {
			t.Errorf("a responder's launch: verified %+v, refusals %+v", f.verified, f.state().Refusals)
		}
	})
}

// A dry_run trigger is the intake's to start as a rehearsal (positive
// control of the case above): it previews, and changes nothing.
func TestIntakeRehearsesADryRunTrigger(t *testing.T) {
	f, k := intakeFixture(t, []string{workflows.RoleIntake}, nil)
	f.startTriggered(intakeID, workflows.ChannelIntake, k.intake, triggerStart(f, "gd-rehearse", "dry_run"), true, nil)
	f.wantResult(workflows.RunSucceeded)
	if got := f.aws.executed(); len(got) != 0 {
		t.Errorf("a rehearsal executed %v", got)
	}
	if s := f.state(); !hasEvent(s, workflows.EventTriggered) || !hasEvent(s, workflows.EventGateRehearsed) {
		t.Errorf("timeline %s", timelineKinds(s))
	}
}

// A person's start carries a trigger only as signed: a client that adds
// one to a start signed without it (to pass a run off as detected, or to
// launch in a mode only the intake has) is refused; the same start signed
// with the proposal's trigger is accepted (TestResponderLaunchesAProposal).
func TestTriggerAddedToAPersonsStartIsRefused(t *testing.T) {
	for _, c := range []struct {
		name, mode, want string
		signTrigger      bool
	}{
		{"added after signing", "propose", "the start was signed for trigger \"\"", false},
		{"launch mode signed by a person", "launch", "a person's start under a trigger is a proposal", true},
	} {
		t.Run(c.name, func(t *testing.T) {
			f, k := intakeFixture(t, []string{workflows.RoleIntake}, nil)
			tr := triggerStart(f, "gd-launch", c.mode)
			f.startSignedWith(triggered, "alice", k.alice, func(req *workflows.Request, meta *workflows.RunMeta) {
				meta.Trigger = tr
				if c.signTrigger {
					req.Trigger, req.FindingsHash = tr.Name, tr.FindingsHash()
				}
			})
			refusedStart(t, f, c.want)
		})
	}
}

// A start signed by the intake on the CLI, or by a gateway for it, is
// refused: the intake signs with its own key on its own channel.
func TestIntakeSignsOnlyOnItsChannel(t *testing.T) {
	f, k := intakeFixture(t, []string{workflows.RoleIntake}, nil)
	f.startTriggered(intakeID, "cli", k.intake, triggerStart(f, "gd-launch", "launch"), false, nil)
	refusedStart(t, f, `signs with its own key on channel "intake"`)
}

// sendUpdate signals a finding update signed by key as actor.
func (f *fixture) sendUpdate(key ssh.Signer, actor, nonce string, upd workflows.FindingUpdate, tamper func(*workflows.FindingUpdateSignal)) workflows.FindingUpdateSignal {
	req := workflows.Request{RunID: "run-1", Action: workflows.ActFindingUpdate, Actor: actor, Channel: workflows.ChannelIntake,
		Time: f.env.Now(), Nonce: nonce, FindingsHash: upd.Hash()}
	sig := workflows.FindingUpdateSignal{Request: req, Update: upd}
	if key != nil {
		var err error
		if sig.Request, err = workflows.Sign(req, key); err != nil {
			f.t.Fatal(err)
		}
	}
	if tamper != nil {
		tamper(&sig)
	}
	f.env.SignalWorkflow(workflows.SignalFindingUpdate, sig)
	return sig
}

// A finding update is recorded when the intake signed it for a finding the
// run acts on; a forged, unsigned, tampered, replayed or foreign one is
// recorded as refused; none of them changes anything else: the gate still
// waits, nothing is approved or executed.
func TestFindingUpdates(t *testing.T) {
	f, k := intakeFixture(t, []string{workflows.RoleIntake}, nil)
	key := "guardduty/123456789012/us-east-1/f1"
	upd := func(count int) workflows.FindingUpdate {
		return workflows.FindingUpdate{Key: key, Count: count, LastSeen: "2021-09-02T10:05:00Z", Received: f.env.Now().UTC()}
	}
	var atGate workflows.State
	var first workflows.FindingUpdateSignal
	// Half a minute apart: the replayed signature is still fresh.
	half := 30 * time.Second
	f.at(1*half, func() { first = f.sendUpdate(k.intake, intakeID, "u1", upd(5), nil) })
	f.at(2*half, func() { f.sendUpdate(k.bob, "bob", "u2", upd(6), nil) })      // a responder is not the intake
	f.at(3*half, func() { f.sendUpdate(nil, intakeID, "u3", upd(7), nil) })     // unsigned
	f.at(4*half, func() { f.sendUpdate(k.alice, intakeID, "u4", upd(8), nil) }) // another key
	f.at(5*half, func() {
		f.sendUpdate(k.intake, intakeID, "u5", upd(9), func(s *workflows.FindingUpdateSignal) { s.Update.Count = 900 }) // changed after signing
	})
	f.at(6*half, func() {
		other := upd(10)
		other.Key = "guardduty/123456789012/us-east-1/not-this-run"
		f.sendUpdate(k.intake, intakeID, "u6", other, nil)
	})
	f.at(7*half, func() { f.env.SignalWorkflow(workflows.SignalFindingUpdate, first) }) // replayed
	f.at(8*half, func() { f.sendUpdate(k.intake, intakeID, "u8", upd(5), nil) })        // the same update delivered again
	f.at(9*half, func() { f.env.SignalWorkflow(workflows.SignalFindingUpdate, "not an update") })
	f.at(10*half, func() {
		atGate = f.state()
		f.send(workflows.UpdateAbort, signed(t, f, k.bob, "bob", "cli", workflows.ActAbort, "bob-abort"))
	})
	f.startTriggered(intakeID, workflows.ChannelIntake, k.intake, triggerStart(f, "gd-launch", "launch"), false, nil)
	_, _ = f.result()
	if len(atGate.FindingUpdates) != 1 || atGate.FindingUpdates[0].Count != 5 || atGate.FindingUpdates[0].Intake != intakeID {
		t.Errorf("finding updates %+v: want the intake's count 5 only", atGate.FindingUpdates)
	}
	var updated []string
	for _, e := range atGate.Timeline {
		if e.Kind == workflows.EventFindingUpdated {
			updated = append(updated, e.Detail)
		}
	}
	if len(updated) != 1 || !strings.Contains(updated[0], "updated (count 5, last seen 2021-09-02T10:05:00Z)") {
		t.Errorf("finding_updated events %q", updated)
	}
	want := []string{`channel "intake" is the detection intake's`, "not signed", "does not match any key", "not for the update it carries",
		`does not act on finding "guardduty/123456789012/us-east-1/not-this-run"`, workflows.RefusedRepeat}
	if len(atGate.Refusals) != len(want) {
		t.Fatalf("refusals %+v, want %d", atGate.Refusals, len(want))
	}
	for i, w := range want {
		if r := atGate.Refusals[i]; r.Action != workflows.ActFindingUpdate || !strings.Contains(r.Reason, w) {
			t.Errorf("refusal %d: %+v, want %q", i, r, w)
		}
	}
	if stepStatus(atGate, "isolate") != workflows.StepAwaiting || len(atGate.Gates[0].Approvals) != 0 || atGate.Paused {
		t.Errorf("finding updates changed the run: isolate %s, approvals %+v, paused %t", stepStatus(atGate, "isolate"), atGate.Gates[0].Approvals, atGate.Paused)
	}
	if n := f.aws.count(wire.Execute, "aws.ec2.isolate_instance"); n != 0 {
		t.Errorf("isolated %d time(s) after finding updates", n)
	}
}

// A run a person started from nothing acts on no finding: the intake's
// update is refused.
func TestFindingUpdateOfAnUntriggeredRun(t *testing.T) {
	f, k := intakeFixture(t, []string{workflows.RoleIntake}, nil)
	var s workflows.State
	f.at(time.Minute, func() {
		f.sendUpdate(k.intake, intakeID, "u1", workflows.FindingUpdate{Key: "guardduty/123456789012/us-east-1/f1", Count: 2}, nil)
	})
	f.at(2*time.Minute, func() {
		s = f.state()
		f.send(workflows.UpdateAbort, signed(t, f, k.bob, "bob", "cli", workflows.ActAbort, "bob-abort"))
	})
	f.startSigned(triggered, "alice", k.alice)
	_, _ = f.result()
	if len(s.FindingUpdates) != 0 || len(s.Refusals) != 1 || !strings.Contains(s.Refusals[0].Reason, "acts on no finding") {
		t.Errorf("updates %+v, refusals %+v", s.FindingUpdates, s.Refusals)
	}
}

// On a development roster (signatures off), a start may carry the trigger
// the client says, noted as unverified like the requester.
func TestUnsignedTriggerOnADevelopmentRoster(t *testing.T) {
	f := newFixture(t)
	f.at(time.Minute, func() { f.decide(workflows.ActApprove, "isolate", "bob", "ok") })
	f.start(triggered, nil, workflows.RunMeta{Trigger: triggerStart(f, "gd-launch", "launch")})
	f.wantResult(workflows.RunSucceeded)
	s := f.state()
	if s.Meta.Trigger == nil || !hasEvent(s, workflows.EventTriggered) || !strings.Contains(strings.Join(s.RosterNotes, " "), "not verified (development roster)") {
		t.Errorf("trigger %+v, notes %v, timeline %s", s.Meta.Trigger, s.RosterNotes, timelineKinds(s))
	}
}

// A client without the plan (the intake starts by name, with a trigger's
// inputs) leaves inputs with defaults out: the run fills them in, so a
// condition on one reads its default rather than failing on nothing.
func TestTypedInputsGetTheirDefaults(t *testing.T) {
	f := newFixture(t)
	src := strings.Replace(strings.Replace(gated, "inputs:\n", "inputs:\n  isolate_too: {type: bool, default: true}\n", 1),
		"    approval: required\n", "    approval: required\n    when: inputs.isolate_too\n", 1)
	f.at(time.Minute, func() { f.decide(workflows.ActApprove, "isolate", "bob", "ok") })
	f.start(src, map[string]any{"instance_id": "i-0fedcba9876543210"}, workflows.RunMeta{})
	f.wantResult(workflows.RunSucceeded)
	s := f.state()
	if s.Inputs["isolate_too"] != true || s.Inputs["instance_id"] != "i-0fedcba9876543210" || f.aws.count(wire.Execute, "aws.ec2.isolate_instance") != 1 {
		t.Errorf("inputs %v, isolations %d", s.Inputs, f.aws.count(wire.Execute, "aws.ec2.isolate_instance"))
	}
}
