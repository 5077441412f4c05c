package workflows

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"go.temporal.io/sdk/workflow"

	"github.com/cordon-ir/cordon/runbooks"
)

// registerHandlers installs the query and the updates. Every update has a
// validator: a refused request never reaches history, and the caller gets
// the reason.
func (r *runner) registerHandlers(ctx workflow.Context) error {
	if err := workflow.SetQueryHandler(ctx, QueryState, func() (State, error) { return r.snapshot(), nil }); err != nil {
		return fmt.Errorf("register %s query: %w", QueryState, err)
	}
	updates := []struct {
		name     string
		validate func(workflow.Context, Request) error
		handle   func(workflow.Context, Request) (string, error)
	}{
		{UpdateApprove, r.validateDecision, r.handleDecision},
		{UpdateApproveAll, r.validateApproveAll, r.handleApproveAll},
		{UpdatePause, r.validateControl(ActPause), r.handlePaused(true)},
		{UpdateResume, r.validateControl(ActResume), r.handlePaused(false)},
		{UpdateSkip, r.validateSkip, r.handleSkip},
		{UpdateAbort, r.validateControl(ActAbort), r.handleAbort},
	}
	// A fleet run forwards a break-glass given after its hosts started;
	// each host verifies it as if it were given to it (acceptForwarded).
	forwarded := workflow.GetSignalChannel(ctx, SignalParentBreakGlass)
	workflow.Go(ctx, func(gctx workflow.Context) {
		for {
			var reqs []Request
			if more := forwarded.Receive(gctx, &reqs); !more {
				return
			}
			r.acceptForwarded(gctx, reqs)
		}
	})
	r.receiveFindingUpdates(ctx)
	for _, u := range updates {
		validate := u.validate
		// A request refused here never reaches history (that is what
		// validators are for); the worker's log is its record.
		logged := func(ctx workflow.Context, req Request) error {
			err := validate(ctx, req)
			if err != nil {
				workflow.GetLogger(ctx).Warn("request refused", "run", r.in.Meta.RunID, "action", req.Action, "step", req.Step,
					"actor", req.Actor, "channel", req.Channel, "reason", err.Error())
			}
			return err
		}
		if err := workflow.SetUpdateHandlerWithOptions(ctx, u.name, u.handle,
			workflow.UpdateHandlerOptions{Validator: logged}); err != nil {
			return fmt.Errorf("register %s update: %w", u.name, err)
		}
	}
	return nil
}

func (r *runner) snapshot() State {
	s := r.state
	s.Gates = make([]GateState, 0, len(r.gates))
	for _, k := range sortedGateKeys(r.gates) {
		s.Gates = append(s.Gates, r.gates[k].GateState)
	}
	return s
}

func (r *runner) member(id string) (*Member, bool) {
	for i := range r.roster.Members {
		if r.roster.Members[i].ID == id {
			return &r.roster.Members[i], true
		}
	}
	return nil, false
}

// authenticate checks that a request is about this run (its workflow id,
// from Temporal), comes from a roster member, and (unless the roster is a
// development one) carries a fresh, single-use signature by that member's
// key (cli) or by a gateway whose scope covers the action and the member.
func (r *runner) authenticate(ctx workflow.Context, req Request, action string) (*Member, error) {
	if req.Action != action {
		return nil, fmt.Errorf("this update takes %q requests, not %q", action, req.Action)
	}
	if req.RunID != r.in.Meta.RunID {
		return nil, fmt.Errorf("the request is for run %q, not %q", req.RunID, r.in.Meta.RunID)
	}
	m, ok := r.member(req.Actor)
	if !ok {
		return nil, fmt.Errorf("%q is not in the roster", req.Actor)
	}
	if m.IsIntake() && action != ActStart && action != ActFindingUpdate {
		// Checked before anything else, signatures or not: a detection
		// may start a run, never decide or steer one.
		return nil, fmt.Errorf("%s is a detection intake: it may start a run under one of the plan's triggers and report finding updates, never %s (a person decides, with their own key or through Slack)", m.ID, action)
	}
	if !r.roster.RequireSignatures {
		return m, nil
	}
	now := workflow.Now(ctx)
	if d := now.Sub(req.Time); d > r.roster.MaxSkew || d < -r.roster.MaxSkew {
		return nil, fmt.Errorf("the request was signed at %s, more than %s from now (%s): sign it again", req.Time.UTC().Format(time.RFC3339), r.roster.MaxSkew, now.UTC().Format(time.RFC3339))
	}
	switch {
	case req.Nonce == "":
		return nil, errors.New("the request carries no nonce, so it could be replayed: upgrade the client (cordon, the Slack gateway)")
	case len(req.Nonce) > maxNonce:
		return nil, fmt.Errorf("the request's nonce is longer than %d characters", maxNonce)
	case r.nonces[req.Nonce]:
		return nil, errors.New(RefusedRepeat + ": a signature is good for one request; sign a new one")
	}
	keys, err := r.signerKeys(m, req)
	if err != nil {
		return nil, err
	}
	if err := verifySignature(req, keys); err != nil {
		return nil, fmt.Errorf("%s (%s via %s)", err, req.Actor, req.Channel)
	}
	return m, nil
}

// mayApprove says whether a member is one of a gate's approvers. The
// intake never is, even where a runbook's approvers name it.
func mayApprove(m *Member, g *gate, policy Policy) bool {
	if m.IsIntake() {
		return false
	}
	if policy.Approvers != nil && g.Key != PlanGate && !isOneOf(m, *policy.Approvers) {
		return false
	}
	approvers := g.Approvers
	if g.Escalated {
		approvers.Groups = append(slices.Clone(approvers.Groups), g.policy.EscalateTo.Groups...)
		approvers.People = append(slices.Clone(approvers.People), g.policy.EscalateTo.People...)
	}
	return isOneOf(m, approvers)
}

func isOneOf(m *Member, approvers runbooks.Approvers) bool {
	if slices.Contains(approvers.People, m.ID) {
		return true
	}
	for _, grp := range m.Groups {
		if slices.Contains(approvers.Groups, grp) {
			return true
		}
	}
	return false
}

func (r *runner) waitingGate(req Request) (*gate, error) {
	key := gateKey(req.Step, req.Item)
	g, ok := r.gates[key]
	if !ok || g.done || g.Status != GateWaiting {
		var waiting []string
		for k, other := range r.gates {
			if !other.done {
				waiting = append(waiting, k)
			}
		}
		slices.Sort(waiting)
		if len(waiting) == 0 {
			return nil, fmt.Errorf("step %s is not waiting for approval (no gate is)", key)
		}
		return nil, fmt.Errorf("step %s is not waiting for approval; waiting: %v", key, waiting)
	}
	return g, nil
}

func (r *runner) validateDecision(ctx workflow.Context, req Request) error {
	if req.Action != ActApprove && req.Action != ActDeny {
		return fmt.Errorf("a decision is approve or deny, not %q", req.Action)
	}
	m, err := r.authenticate(ctx, req, req.Action)
	if err != nil {
		return err
	}
	g, err := r.waitingGate(req)
	if err != nil {
		return err
	}
	if !mayApprove(m, g, r.roster.Policy) {
		needs := g.Approvers.String()
		if p := r.roster.Policy.Approvers; p != nil {
			needs += "; and by policy, " + p.String()
		}
		return fmt.Errorf("%s is not an approver of step %s (needs %s)", m.ID, g.Key, needs)
	}
	if m.ID == r.in.Meta.Requester && !g.selfApproval {
		why := "allow_self_approval is off"
		if g.policy.AllowSelfApproval {
			why = "the organisation's policy forbids self-approval, whatever the runbook says"
		}
		return fmt.Errorf("%s started this run and cannot approve its gates (%s)", m.ID, why)
	}
	if req.PreviewHash != g.PreviewHash {
		return fmt.Errorf("the decision is for preview %s, but the gate shows preview %s: review the current change and decide again", short(req.PreviewHash), short(g.PreviewHash))
	}
	if req.Action == ActApprove {
		for _, a := range g.Approvals {
			if a.Actor == m.ID {
				return fmt.Errorf("%s has already approved step %s; it needs %d distinct approvers", m.ID, g.Key, g.MinApprovals)
			}
		}
	}
	if req.Action == ActDeny && req.Reason == "" {
		return errors.New("a denial needs a reason")
	}
	return nil
}

func short(h string) string {
	if len(h) > 12 {
		return h[:12]
	}
	if h == "" {
		return "(none)"
	}
	return h
}

func (r *runner) handleDecision(ctx workflow.Context, req Request) (string, error) {
	if err := r.admit(ctx, req, r.validateDecision); err != nil {
		return "", err
	}
	g, err := r.waitingGate(req)
	if err != nil {
		return "", err // the gate resolved between validation and handling
	}
	if req.Action == ActDeny {
		g.Status, g.DecidedBy, g.Reason, g.done = GateDenied, req.Actor, req.Reason, true
		r.event(ctx, Event{Kind: EventGateDenied, Step: req.Step, Item: req.Item, Actor: req.Actor, Channel: req.Channel, Detail: req.Reason})
		return fmt.Sprintf("denied %s", g.Key), nil
	}
	g.Approvals = append(g.Approvals, Approval{Actor: req.Actor, Channel: req.Channel, Time: workflow.Now(ctx), Reason: req.Reason})
	r.event(ctx, Event{Kind: EventApproval, Step: req.Step, Item: req.Item, Actor: req.Actor, Channel: req.Channel,
		Detail: fmt.Sprintf("%d of %d", len(g.Approvals), g.MinApprovals), PreviewHash: g.PreviewHash})
	if len(g.Approvals) >= g.MinApprovals {
		g.Status, g.DecidedBy, g.done = GateApproved, req.Actor, true
		r.event(ctx, Event{Kind: EventGateApproved, Step: req.Step, Item: req.Item, Actor: req.Actor, Channel: req.Channel})
		return fmt.Sprintf("approved %s", g.Key), nil
	}
	return fmt.Sprintf("approval %d of %d recorded for %s", len(g.Approvals), g.MinApprovals, g.Key), nil
}

func (r *runner) validateApproveAll(ctx workflow.Context, req Request) error {
	return r.checkBreakGlass(ctx, req, true)
}

func (r *runner) handleApproveAll(ctx workflow.Context, req Request) (string, error) {
	if err := r.admit(ctx, req, r.validateApproveAll); err != nil {
		return "", err
	}
	return r.addBreakGlass(ctx, req), nil
}

// sortedGateKeys orders the gates by key: what the workflow records or
// reports must not depend on map iteration.
func sortedGateKeys(m map[string]*gate) []string {
	return slices.Sorted(maps.Keys(m))
}

// validateControl checks pause, resume and abort: a responder or lead of
// the roster, with the run in a state where the control makes sense.
func (r *runner) validateControl(action string) func(workflow.Context, Request) error {
	return func(ctx workflow.Context, req Request) error {
		m, err := r.authenticate(ctx, req, action)
		if err != nil {
			return err
		}
		if !m.Responds() {
			return fmt.Errorf("%s needs the responder or lead role to %s a run", m.ID, action)
		}
		if r.state.Status != RunRunning {
			return fmt.Errorf("the run has ended (%s)", r.state.Status)
		}
		switch action {
		case ActPause:
			if r.state.Paused {
				return errors.New("the run is already paused")
			}
		case ActResume:
			if !r.state.Paused {
				return errors.New("the run is not paused")
			}
		case ActAbort:
			if req.Reason == "" {
				return errors.New("an abort needs a reason; it goes into the report")
			}
			if r.abort != nil {
				return fmt.Errorf("the run is already being aborted by %s", r.abort.Actor)
			}
		}
		return nil
	}
}

// handlePaused pauses (paused) or resumes the run: the two controls differ
// only in the action checked, the event recorded and what the caller is
// told.
func (r *runner) handlePaused(paused bool) func(workflow.Context, Request) (string, error) {
	action, kind, told := ActResume, EventResumed, "resumed"
	if paused {
		action, kind, told = ActPause, EventPaused,
			"paused: an action already running finishes; nothing else changes until resume (approvals given meanwhile are kept, and their actions wait)"
	}
	return func(ctx workflow.Context, req Request) (string, error) {
		if err := r.admit(ctx, req, r.validateControl(action)); err != nil {
			return "", err
		}
		r.state.Paused = paused
		r.event(ctx, Event{Kind: kind, Actor: req.Actor, Channel: req.Channel, Detail: req.Reason})
		return told, nil
	}
}

func (r *runner) handleAbort(ctx workflow.Context, req Request) (string, error) {
	if err := r.admit(ctx, req, r.validateControl(ActAbort)); err != nil {
		return "", err
	}
	r.abort = &req
	r.event(ctx, Event{Kind: EventAbort, Actor: req.Actor, Channel: req.Channel, Detail: req.Reason})
	if r.cancelRun != nil {
		r.cancelRun() // cancels activities and children in flight
	}
	return "aborting: activities in flight are cancelled", nil
}

func (r *runner) validateSkip(ctx workflow.Context, req Request) error {
	if err := r.validateControl(ActSkip)(ctx, req); err != nil {
		return err
	}
	if req.Reason == "" {
		return errors.New("a skip needs a reason; it goes into the report")
	}
	ss := r.step(req.Step)
	if ss == nil {
		return fmt.Errorf("there is no step %q", req.Step)
	}
	if ss.Status != StepPending && ss.Status != StepAwaiting && ss.Status != StepHeld {
		return fmt.Errorf("step %s is %s; only a pending step, one waiting for approval or one held by the pause can be skipped", req.Step, ss.Status)
	}
	if _, ok := r.skips[req.Step]; ok {
		return fmt.Errorf("step %s is already marked to be skipped", req.Step)
	}
	return nil
}

func (r *runner) handleSkip(ctx workflow.Context, req Request) (string, error) {
	if err := r.admit(ctx, req, r.validateSkip); err != nil {
		return "", err
	}
	r.skips[req.Step] = fmt.Sprintf("%s (by %s)", req.Reason, req.Actor)
	r.event(ctx, Event{Kind: EventSkip, Step: req.Step, Actor: req.Actor, Channel: req.Channel, Detail: req.Reason})
	for _, k := range sortedGateKeys(r.gates) {
		if g := r.gates[k]; g.Step == req.Step && !g.done {
			g.Status, g.Reason, g.DecidedBy, g.done = GateSkipped, req.Reason, req.Actor, true
		}
	}
	return "step " + req.Step + " will be skipped", nil
}
