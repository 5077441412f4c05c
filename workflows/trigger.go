package workflows

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"go.temporal.io/sdk/workflow"

	"github.com/cordon-ir/cordon/runbooks"
)

// Runs started from detections (docs/triggers.md). A detection may start
// a runbook; it never approves or steers anything. The intake is a roster
// member with the intake role and a key of its own: it signs the start of
// a run under one of the plan's launch (or dry_run) triggers, binding the
// trigger and the findings (Request.Trigger, Request.FindingsHash), and
// later updates of those findings. Everything else it might sign is
// refused (authenticate), and it never counts as an approver (mayApprove).

// maxFindingUpdates bounds the finding updates a run records, accepted or
// refused: anyone who can reach the namespace can signal a run, and each
// recorded update grows the state every query returns.
const maxFindingUpdates = 100

// intakeKeys are the keys that may sign req for the intake member m: its
// own, on the intake channel. No gateway speaks for the intake, and nobody
// else signs on its channel.
func intakeKeys(m *Member, req Request) ([]string, error) {
	if !m.IsIntake() {
		return nil, fmt.Errorf("channel %q is the detection intake's; %s signs on the CLI with their own key or through a gateway", ChannelIntake, m.ID)
	}
	if req.Channel != ChannelIntake {
		return nil, fmt.Errorf("%s is a detection intake: it signs with its own key on channel %q, and no gateway (%q) may sign for it", m.ID, ChannelIntake, req.Channel)
	}
	if len(m.PublicKeys) == 0 {
		return nil, fmt.Errorf("the roster holds no key for the intake %s", m.ID)
	}
	return m.PublicKeys, nil
}

// checkTriggerStart verifies what a signed start says about the detections
// that started it. The signature binds the trigger's name and the findings
// (so a client can neither add a trigger to a person's start nor change
// the findings of the intake's); a person's start under a trigger is a
// proposal they launched; the intake's must be one the vouched plan lets a
// detection start by itself.
func checkTriggerStart(req Request, meta RunMeta, v VouchedPlan, m *Member) error {
	t := meta.Trigger
	name, hash := "", ""
	if t != nil {
		name, hash = t.Name, t.FindingsHash()
	}
	if req.Trigger != name || req.FindingsHash != hash {
		return fmt.Errorf("the start was signed for trigger %q with findings %s; the input says trigger %q with findings %s",
			req.Trigger, short(req.FindingsHash), name, short(hash))
	}
	if !m.IsIntake() {
		if t == nil {
			return nil
		}
		if t.Mode != runbooks.ModePropose {
			return fmt.Errorf("%s signed a start under trigger %s in mode %q: a person's start under a trigger is a proposal they launched (mode %s); %s is the intake's", m.ID, t.Name, t.Mode, runbooks.ModePropose, t.Mode)
		}
		_, err := triggerOf(t, v.Plan)
		return err
	}
	if t == nil {
		return fmt.Errorf("%s is a detection intake: it may only start a run under one of the plan's triggers, and this start names none", m.ID)
	}
	if meta.Force || req.Force {
		return fmt.Errorf("the intake %s may not force a second containment of a target: a responder decides that (cordon run --force --reason)", m.ID)
	}
	if !v.Vouched && !v.Development {
		return fmt.Errorf("the intake %s may only start a runbook of the worker's runbook source; this plan is not in it", m.ID)
	}
	pt, err := triggerOf(t, v.Plan)
	if err != nil {
		return err
	}
	switch {
	case pt.Mode == runbooks.ModePropose:
		return fmt.Errorf("trigger %s of runbook %s is in mode propose: a detection only proposes the run, and a responder must launch it (the intake cannot)", pt.Name, v.Plan.Runbook.Name)
	case pt.Mode == runbooks.ModeDryRun && !meta.DryRun:
		return fmt.Errorf("trigger %s of runbook %s is in mode dry_run: the intake may start it only as a rehearsal (dry run)", pt.Name, v.Plan.Runbook.Name)
	case pt.Mode != runbooks.ModeLaunch && pt.Mode != runbooks.ModeDryRun:
		return fmt.Errorf("trigger %s of runbook %s has mode %q, which no intake may start", pt.Name, v.Plan.Runbook.Name, pt.Mode)
	}
	if t.Mode != pt.Mode {
		return fmt.Errorf("the start says trigger %s is in mode %q, but the plan's trigger is in mode %q", t.Name, t.Mode, pt.Mode)
	}
	if t.Intake != m.ID {
		return fmt.Errorf("the start names intake %q, but %s signed it", t.Intake, m.ID)
	}
	return nil
}

// triggerVerifiedChange is the GetVersion id of the verification of an
// intake's start at the findings' sources (ActivityVerifyTrigger).
const triggerVerifiedChange = "trigger-verified-at-source"

// verifyTrigger asks the worker's side to fetch the findings of the
// intake's start from their sources and to recompute the run's inputs
// from them, and returns why the run must not start ("" when it may).
// The intake's signature proves who sent the start, not that GuardDuty
// reported what it says: a stolen intake key must not contain anything.
// A source that keeps failing refuses the start too (the intake may
// deliver the finding again).
func (r *runner) verifyTrigger(ctx workflow.Context, plan *runbooks.Plan, t *TriggerStart) string {
	req := VerifyTriggerRequest{Plan: plan, Trigger: t.Name, Findings: t.Findings, Inputs: r.in.Inputs}
	var v VerifiedTrigger
	if err := workflow.ExecuteActivity(bookkeeping(ctx, 2*time.Minute), ActivityVerifyTrigger, req).Get(ctx, &v); err != nil {
		return "the findings could not be verified at their sources: " + err.Error()
	}
	if v.Refusal != "" {
		return "the findings are not verified at their sources: " + v.Refusal
	}
	r.triggerVerified = true
	return ""
}

// triggerOf is the plan's trigger the start names, once its findings fit
// it: at least one, each from the trigger's source, each with a key.
func triggerOf(t *TriggerStart, p *runbooks.Plan) (*runbooks.Trigger, error) {
	var pt *runbooks.Trigger
	var names []string
	for i := range p.Triggers {
		names = append(names, p.Triggers[i].Name)
		if p.Triggers[i].Name == t.Name {
			pt = &p.Triggers[i]
		}
	}
	if pt == nil {
		has := "has no triggers"
		if len(names) > 0 {
			has = "has " + strings.Join(names, ", ")
		}
		return nil, fmt.Errorf("runbook %s has no trigger %q (it %s)", p.Runbook.Name, t.Name, has)
	}
	if len(t.Findings) == 0 {
		return nil, fmt.Errorf("the start under trigger %s carries no finding", t.Name)
	}
	for i, f := range t.Findings {
		if f.Source != pt.Source {
			return nil, fmt.Errorf("finding %d (%s) comes from %q, but trigger %s reads %s findings", i+1, f.Key, f.Source, pt.Name, pt.Source)
		}
		if f.Key == "" {
			return nil, fmt.Errorf("finding %d of trigger %s has no key", i+1, pt.Name)
		}
	}
	return pt, nil
}

// recordTriggered opens the timeline of a triggered run with what started
// it: the trigger, its mode, the intake and the findings.
func (r *runner) recordTriggered(ctx workflow.Context) {
	t := r.in.Meta.Trigger
	detail := fmt.Sprintf("started by trigger %s (%s) from %d finding(s)", t.Name, t.Mode, len(t.Findings))
	if t.Intake != "" {
		detail += " received by intake " + t.Intake
	}
	if r.triggerVerified {
		detail += ", verified at their sources"
	}
	if r.in.Meta.Parent != "" {
		detail += ", as part of run " + r.in.Meta.Parent
	}
	r.event(ctx, Event{Kind: EventTriggered, Actor: t.Intake, Channel: ChannelIntake, Detail: detail, Findings: t.Findings})
}

// detection is the run's trigger in a few words for the notices of gate
// g, or nil for a run a person started from nothing.
func (r *runner) detection(g *gate) *Detection {
	t := r.in.Meta.Trigger
	if t == nil {
		return nil
	}
	d := &Detection{Trigger: t.Name, Mode: t.Mode, Findings: len(t.Findings), Started: r.state.StartedAt, GateWaiting: g.opened}
	d.Created, d.Received = t.Earliest()
	if len(t.Findings) > 0 {
		d.Type, d.Severity = t.Findings[0].Type, t.Findings[0].Severity
	}
	return d
}

// Earliest is when the first of the findings was created, and when the
// first was received: the start of the detection → containment clock.
func (t *TriggerStart) Earliest() (created, received time.Time) {
	for _, f := range t.Findings {
		if !f.Created.IsZero() && (created.IsZero() || f.Created.Before(created)) {
			created = f.Created
		}
		if !f.Received.IsZero() && (received.IsZero() || f.Received.Before(received)) {
			received = f.Received
		}
	}
	return created, received
}

// about is the trigger as a child run that contains targets sees it: the
// findings about those targets (all of them when none names one), so a
// host's run of a storm-sized fleet does not carry every host's finding.
func (t *TriggerStart) about(targets []string) *TriggerStart {
	if t == nil {
		return nil
	}
	c := *t
	c.Findings = nil
	for _, f := range t.Findings {
		for _, target := range targets {
			if f.Resource == target || strings.HasSuffix(f.TargetKey, "/"+target) {
				c.Findings = append(c.Findings, f)
				break
			}
		}
	}
	if len(c.Findings) == 0 {
		c.Findings = slices.Clone(t.Findings)
	}
	return &c
}

// receiveFindingUpdates records the intake's updates of the run's
// findings (SignalFindingUpdate), once the start is verified. An update
// records a line and changes nothing else: it never starts, approves or
// resumes anything.
func (r *runner) receiveFindingUpdates(ctx workflow.Context) {
	ch := workflow.GetSignalChannel(ctx, SignalFindingUpdate)
	workflow.Go(ctx, func(gctx workflow.Context) {
		if err := workflow.Await(gctx, func() bool { return r.startVerified }); err != nil {
			return
		}
		for {
			var sig FindingUpdateSignal
			if more := ch.Receive(gctx, &sig); !more {
				return
			}
			r.acceptFindingUpdate(gctx, sig)
		}
	})
}

// acceptFindingUpdate verifies one update and records it, or records why
// not. The cheap checks (signature, key) come before the roster is read
// again, so a flood of forged signals costs no activity.
func (r *runner) acceptFindingUpdate(ctx workflow.Context, sig FindingUpdateSignal) {
	if len(r.state.FindingUpdates)+r.findingUpdateRefusals >= maxFindingUpdates {
		workflow.GetLogger(ctx).Warn("finding update not recorded: the run holds the most it records", "run", r.in.Meta.RunID,
			"key", sig.Update.Key, "actor", sig.Request.Actor, "max", maxFindingUpdates)
		return
	}
	validate := func(ctx workflow.Context, req Request) error { return r.checkFindingUpdate(ctx, req, sig.Update) }
	if err := validate(ctx, sig.Request); err != nil {
		r.refuseFindingUpdate(ctx, sig.Request, err)
		return
	}
	if r.repeatsFinding(sig.Update) {
		workflow.GetLogger(ctx).Info("finding update ignored: the run already holds it", "run", r.in.Meta.RunID, "key", sig.Update.Key, "count", sig.Update.Count)
		r.nonces[sig.Request.Nonce] = true
		return
	}
	if err := r.admit(ctx, sig.Request, validate); err != nil {
		r.findingUpdateRefusals++ // admit recorded it
		return
	}
	u := sig.Update
	u.Intake = sig.Request.Actor
	r.state.FindingUpdates = append(r.state.FindingUpdates, u)
	seen := ""
	if u.LastSeen != "" {
		seen = ", last seen " + u.LastSeen
	}
	r.event(ctx, Event{Kind: EventFindingUpdated, Actor: u.Intake, Channel: sig.Request.Channel,
		Detail: fmt.Sprintf("finding %s updated (count %d%s): recorded; the run goes on as it was", u.Key, u.Count, seen)})
}

func (r *runner) refuseFindingUpdate(ctx workflow.Context, req Request, err error) {
	r.findingUpdateRefusals++
	if req.Action == "" {
		req.Action = ActFindingUpdate
	}
	r.refuse(ctx, req, err.Error())
}

// checkFindingUpdate verifies the intake's signed request for upd: an
// intake of the roster, fresh, single-use, bound to this update, about a
// finding this run acts on.
func (r *runner) checkFindingUpdate(ctx workflow.Context, req Request, upd FindingUpdate) error {
	m, err := r.authenticate(ctx, req, ActFindingUpdate)
	if err != nil {
		return err
	}
	if !m.IsIntake() {
		return fmt.Errorf("%s is not a detection intake: only the intake reports finding updates", m.ID)
	}
	if req.FindingsHash != upd.Hash() {
		return fmt.Errorf("the request was signed for update %s, not for the update it carries (%s)", short(req.FindingsHash), short(upd.Hash()))
	}
	if upd.Intake != "" && upd.Intake != m.ID {
		return fmt.Errorf("the update names intake %q, but %s signed it", upd.Intake, m.ID)
	}
	t := r.in.Meta.Trigger
	if t == nil {
		return errors.New("this run was not started from detections: it acts on no finding")
	}
	if !slices.ContainsFunc(t.Findings, func(f TriggeredFinding) bool { return f.Key == upd.Key }) {
		return fmt.Errorf("this run does not act on finding %q (it acts on %d finding(s) of trigger %s)", upd.Key, len(t.Findings), t.Name)
	}
	return nil
}

// repeatsFinding says whether upd tells nothing new: the same count and
// last seen as an update already recorded (the intake received the same
// delivery twice).
func (r *runner) repeatsFinding(upd FindingUpdate) bool {
	for _, u := range r.state.FindingUpdates {
		if u.Key == upd.Key && u.Count == upd.Count && u.LastSeen == upd.LastSeen {
			return true
		}
	}
	return false
}
