package workflows

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/cordon-ir/cordon/runbooks"
)

// The trust model (docs/security.md): everything a client sends is
// untrusted. A run's identity is Temporal's (its workflow id and parent
// execution); its plan is the one the worker's side vouched for; its
// requester is whoever signed the start; its break-glass is the signed
// requests of leads, verified here and again in every child; every
// signature is single-use. Runs that started before this model replay
// the old path (authorityVersion 0).

// authorityChange is the GetVersion id of the signed-authority model.
const authorityChange = "signed-authority"

// maxNonce bounds a nonce's length, so a client cannot grow state.
const maxNonce = 128

// InputsHash is what a start request signs of the inputs: the sha256 of
// their canonical JSON (encoding/json sorts map keys). A number decoded
// back from JSON encodes as it did, so client and workflow agree.
func InputsHash(inputs map[string]any) string {
	if inputs == nil {
		inputs = map[string]any{}
	}
	return jsonHash(inputs)
}

// jsonHash is the sha256 of v's canonical JSON (encoding/json sorts map
// keys and writes struct fields in order), what a signature binds to.
func jsonHash(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return "unencodable:" + err.Error()
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// FindingsHash is what a triggered start signs of its findings: the
// sha256 of their canonical JSON.
func (t *TriggerStart) FindingsHash() string {
	if t == nil {
		return ""
	}
	return jsonHash(t.Findings)
}

// Hash is what the intake's signed finding_update request binds of the
// update (Request.FindingsHash): the sha256 of its canonical JSON.
func (u FindingUpdate) Hash() string { return jsonHash(u) }

// SignedInputsHash is the InputsHash a start request signs for this input:
// of the text inputs when the worker is to resolve them, else of the typed
// ones.
func (in RunInput) SignedInputsHash() string {
	if in.InputArgs == nil {
		return InputsHash(in.Inputs)
	}
	args := make(map[string]any, len(in.InputArgs))
	for k, v := range in.InputArgs {
		args[k] = v
	}
	return InputsHash(args)
}

// refused is a start the workflow refuses before anything runs.
type refused struct{ reason string }

func (e *refused) Error() string { return e.reason }

// refuse records a refused attempt in the timeline and the state, for the
// team to see in status and in the report.
func (r *runner) refuse(ctx workflow.Context, req Request, reason string) {
	r.state.Refusals = append(r.state.Refusals, Refusal{Time: workflow.Now(ctx), Action: req.Action,
		Actor: req.Actor, Channel: req.Channel, Step: gateKeyOf(req), Reason: reason})
	r.event(ctx, Event{Kind: EventRefused, Step: req.Step, Item: req.Item, Actor: req.Actor, Channel: req.Channel,
		Detail: fmt.Sprintf("%s refused: %s", req.Action, reason)})
	workflow.GetLogger(ctx).Warn("request refused", "run", r.in.Meta.RunID, "action", req.Action, "actor", req.Actor, "channel", req.Channel, "reason", reason)
}

func gateKeyOf(req Request) string {
	if req.Step == "" {
		return ""
	}
	return gateKey(req.Step, req.Item)
}

// startV1 establishes the run's authority: identity from Temporal, the
// roster, the vouched plan, the signed requester, break-glass. It returns
// a *refused error when the run must not go on.
func (r *runner) startV1(ctx workflow.Context, in RunInput) error {
	info := workflow.GetInfo(ctx)
	claimed := in.Meta
	r.in.Meta.RunID = info.WorkflowExecution.ID
	r.in.Meta.Parent = ""
	r.in.Meta.PreApproved = nil
	r.in.Meta.Authenticated = false
	// What started the run is recorded only once verified (a child's is
	// its parent's, written by the parent's workflow code).
	r.in.Meta.Trigger = nil
	if info.ParentWorkflowExecution != nil {
		r.in.Meta.Parent = info.ParentWorkflowExecution.ID
	}
	r.state.Meta = r.in.Meta
	r.values.Run.ID = r.in.Meta.RunID

	if err := r.loadRoster(ctx); err != nil {
		return err
	}
	startReq := Request{Action: ActStart, Actor: claimed.Requester, Channel: claimed.Channel}
	if in.Start != nil {
		startReq = *in.Start
	}
	fail := func(reason string) error {
		r.refuse(ctx, startReq, reason)
		return &refused{reason: reason}
	}
	if claimed.RunID != "" && claimed.RunID != r.in.Meta.RunID {
		return fail(fmt.Sprintf("the input names run %q but this run is %q: a run's identity is its workflow id", claimed.RunID, r.in.Meta.RunID))
	}

	if info.ParentWorkflowExecution == nil {
		if claimed.PreApproved != nil {
			return fail(fmt.Sprintf("the start carries a pre-approval in the name of %s that nobody signed: break-glass is a lead's signed approve-all (cordon approve-all), never a field of the input", claimed.PreApproved.Actor))
		}
		if claimed.Parent != "" || len(claimed.Lineage) > 0 || len(claimed.Inherited) > 0 {
			return fail(fmt.Sprintf("the input claims run %q as parent, but Temporal records no parent for this run", claimed.Parent))
		}
		// Asked once, before the vouch, which it changes: runs recorded
		// before checked the instances inside the vouch, before the start
		// was authenticated.
		r.instancesVersion = workflow.GetVersion(ctx, instancesCheckedChange, workflow.DefaultVersion, 1)
		vouched, err := r.vouch(ctx, in)
		if err != nil {
			return err
		}
		if vouched.Refusal != "" {
			return fail(vouched.Refusal)
		}
		if in.InputArgs != nil {
			r.in.Inputs, r.state.Inputs, r.values.Inputs = vouched.Inputs, vouched.Inputs, vouched.Inputs
		}
		r.setPlan(ctx, vouched.Plan)
		if filled, ok := withDefaults(vouched.Plan, r.in.Inputs); ok &&
			workflow.GetVersion(ctx, "typed-inputs-defaults", workflow.DefaultVersion, 1) >= 1 {
			// Typed inputs from a client that has no plan (the intake
			// starts by name with a trigger's inputs) leave the defaults
			// to the run. Runs recorded before this evaluated them as
			// missing.
			r.in.Inputs, r.state.Inputs, r.values.Inputs = filled, filled, filled
		}
		r.state.Provenance = &Provenance{Source: vouched.Source, Vouched: vouched.Vouched, VouchedHash: vouched.VouchedHash,
			Policy: r.roster.Policy, RosterVersion: r.roster.Version}
		if err := r.authenticateStart(ctx, in, vouched); err != nil {
			return fail(err.Error())
		}
		r.state.Provenance.Requester, r.state.Provenance.Authenticated = r.in.Meta.Requester, r.in.Meta.Authenticated
		reason, err := r.checkInstances(ctx, in, vouched)
		if err != nil {
			return err
		}
		if reason != "" {
			return fail(reason)
		}
		for _, bg := range in.BreakGlass {
			if err := r.checkBreakGlass(ctx, bg, true); err != nil {
				r.refuse(ctx, bg, err.Error())
				return &refused{reason: "break-glass given with the start: " + err.Error()}
			}
			r.nonces[bg.Nonce] = true
			r.addBreakGlass(ctx, bg)
		}
		if !vouched.Vouched && !vouched.Development {
			return r.awaitPlanApproval(ctx, vouched)
		}
		return nil
	}

	// A child run: its input was written by its parent's workflow code,
	// which only the worker runs, so Temporal's record of the parent is the
	// proof. The plan and requester come from the parent; the inherited
	// break-glass is verified again against the roster as it is now.
	parent := info.ParentWorkflowExecution.ID
	if claimed.Parent != parent || len(claimed.Lineage) == 0 || claimed.Lineage[len(claimed.Lineage)-1] != parent {
		return fail(fmt.Sprintf("the input names parent %q (lineage %v) but Temporal records parent %q", claimed.Parent, claimed.Lineage, parent))
	}
	if err := checkPlan(in.Plan); err != nil {
		return fail(err.Error())
	}
	r.in.Meta.Lineage = claimed.Lineage
	r.in.Meta.Requester, r.in.Meta.Authenticated, r.in.Meta.Channel = claimed.Requester, claimed.Authenticated, claimed.Channel
	r.in.Meta.Incident, r.in.Meta.DryRun, r.in.Meta.Trigger = claimed.Incident, claimed.DryRun, claimed.Trigger
	r.values.Run.Requester = claimed.Requester
	r.state.Meta = r.in.Meta
	r.setPlan(ctx, in.Plan)
	r.state.Provenance = &Provenance{Source: "child of run " + parent + " (its plan vouched for the whole tree)", Vouched: true,
		Requester: claimed.Requester, Authenticated: claimed.Authenticated, Policy: r.roster.Policy, RosterVersion: r.roster.Version}
	for _, bg := range claimed.Inherited {
		if err := r.checkInherited(bg); err != nil {
			r.refuse(ctx, bg, "inherited break-glass: "+err.Error())
			continue // the gates of this run then wait for decisions
		}
		r.addBreakGlass(ctx, bg)
	}
	return nil
}

// withDefaults is inputs with the plan's defaults for the inputs not
// given, and whether any was missing.
func withDefaults(p *runbooks.Plan, inputs map[string]any) (map[string]any, bool) {
	var filled map[string]any
	for _, decl := range p.Inputs {
		if _, given := inputs[decl.Name]; given || decl.Default == nil {
			continue
		}
		if filled == nil {
			filled = make(map[string]any, len(p.Inputs))
			for k, v := range inputs {
				filled[k] = v
			}
		}
		filled[decl.Name] = decl.Default
	}
	return filled, filled != nil
}

// vouch asks the worker's side for the plan to run.
func (r *runner) vouch(ctx workflow.Context, in RunInput) (VouchedPlan, error) {
	actx := bookkeeping(ctx, time.Minute)
	req := VouchRequest{Runbook: in.Runbook, Plan: in.Plan, Inputs: in.Inputs, InputArgs: in.InputArgs,
		DeferInstanceCheck: r.instancesVersion >= 1}
	if in.Start != nil {
		req.PlanHash = in.Start.PlanHash
	}
	if req.Runbook == "" && in.Plan != nil {
		req.Runbook = in.Plan.Runbook.Name
	}
	var v VouchedPlan
	if err := workflow.ExecuteActivity(actx, ActivityVouchPlan, req).Get(ctx, &v); err != nil {
		return v, fmt.Errorf("vouch for the plan: %w", err)
	}
	if v.Refusal == "" && v.Plan == nil {
		v.Refusal = "the worker returned no plan"
	}
	if v.Refusal == "" && v.Plan.PlanVersion != runbooks.PlanVersion {
		v.Refusal = fmt.Sprintf("plan version %d is not supported by this worker (it runs version %d): upgrade the worker or recompile with a matching cordon", v.Plan.PlanVersion, runbooks.PlanVersion)
	}
	return v, nil
}

// instancesCheckedChange is the GetVersion id of the instance check made
// once the start is authenticated (ActivityCheckInstances), not inside
// the vouch.
const instancesCheckedChange = "instances-checked-after-auth"

// checkInstances asks the worker's side, once the start is authenticated,
// whether the EC2 instances the inputs name exist, and returns why the run
// must not start ("" when it may). It judges the inputs the vouch judged
// when it made this check (before the plan's defaults are filled in). As
// when the worker cannot tell, a check that fails goes on: the steps say.
func (r *runner) checkInstances(ctx workflow.Context, in RunInput, v VouchedPlan) (string, error) {
	if r.instancesVersion < 1 {
		return "", nil // checked in the vouch
	}
	req := CheckInstancesRequest{Plan: v.Plan, Inputs: in.Inputs}
	if in.InputArgs != nil {
		req.Inputs = v.Inputs
	}
	var c CheckedInstances
	if err := workflow.ExecuteActivity(bookkeeping(ctx, time.Minute), ActivityCheckInstances, req).Get(ctx, &c); err != nil {
		if temporal.IsCanceledError(err) {
			return "", fmt.Errorf("check the run's instances: %w", err)
		}
		workflow.GetLogger(ctx).Warn("could not check that the run's instances exist; the run goes on", "run", r.in.Meta.RunID, "error", err)
		return "", nil
	}
	return c.Refusal, nil
}

// authenticateStart verifies the signed start against the roster and the
// plan the run will execute (v), and sets the requester and the trigger.
func (r *runner) authenticateStart(ctx workflow.Context, in RunInput, v VouchedPlan) error {
	plan := v.Plan
	if in.Start == nil {
		if r.roster.RequireSignatures {
			return errors.New("the start is not signed: cordon run signs it with your SSH key (--key), and the workflow verifies it against the roster before anything runs")
		}
		r.in.Meta.Requester = in.Meta.Requester
		r.values.Run.Requester = in.Meta.Requester
		r.state.RosterNotes = append(r.state.RosterNotes, "the requester "+in.Meta.Requester+" is a name the client gave, not a verified identity (development roster)")
		if t := in.Meta.Trigger; t != nil {
			r.in.Meta.Trigger = t
			r.state.RosterNotes = append(r.state.RosterNotes, fmt.Sprintf("the trigger %s and its %d finding(s) are what the client said, not verified (development roster)", t.Name, len(t.Findings)))
		}
		r.state.Meta = r.in.Meta
		return nil
	}
	req := *in.Start
	m, err := r.authenticate(ctx, req, ActStart)
	if err != nil {
		return err
	}
	if !m.Responds() && !m.IsIntake() {
		return fmt.Errorf("%s needs the responder or lead role to start a run; has %v", m.ID, m.Roles)
	}
	if req.Runbook != plan.Runbook.Name {
		return fmt.Errorf("the start was signed for runbook %q, not %q", req.Runbook, plan.Runbook.Name)
	}
	if req.PlanHash != "" && req.PlanHash != plan.ContentHash() {
		return fmt.Errorf("the start was signed for plan %s, but the run's plan is %s", short(req.PlanHash), short(plan.ContentHash()))
	}
	if got := in.SignedInputsHash(); req.InputsHash != got {
		return fmt.Errorf("the start was signed for other inputs (%s, the run has %s)", short(req.InputsHash), short(got))
	}
	if req.Incident != in.Meta.Incident || req.DryRun != in.Meta.DryRun {
		return fmt.Errorf("the start was signed for incident %q, dry run %t; the input says incident %q, dry run %t", req.Incident, req.DryRun, in.Meta.Incident, in.Meta.DryRun)
	}
	if req.Force != in.Meta.Force || (in.Meta.Force && req.Reason != in.Meta.ForceReason) {
		return fmt.Errorf("the start was signed with force %t (%q); the input says force %t (%q)", req.Force, req.Reason, in.Meta.Force, in.Meta.ForceReason)
	}
	if err := checkTriggerStart(req, in.Meta, v, m); err != nil {
		return err
	}
	if m.IsIntake() && workflow.GetVersion(ctx, triggerVerifiedChange, workflow.DefaultVersion, 1) >= 1 {
		// Only now that the start is authenticated: an unsigned client
		// must not make the worker call AWS.
		if reason := r.verifyTrigger(ctx, plan, in.Meta.Trigger); reason != "" {
			return errors.New(reason)
		}
	}
	r.nonces[req.Nonce] = true
	if in.Meta.Requester != "" && in.Meta.Requester != m.ID {
		r.state.RosterNotes = append(r.state.RosterNotes, fmt.Sprintf("the input named %q as requester; the start was signed by %s, who is recorded", in.Meta.Requester, m.ID))
	}
	r.in.Meta.Requester, r.in.Meta.Authenticated, r.in.Meta.Channel = m.ID, true, req.Channel
	r.in.Meta.Trigger = in.Meta.Trigger
	if m.IsIntake() {
		r.state.Provenance.Initiator = RoleIntake
	}
	r.values.Run.Requester = m.ID
	r.state.Meta = r.in.Meta
	return nil
}

// checkBreakGlass checks a break-glass request (approve_all) as the
// approve_all update does; fresh says the signature must be recent (it
// must, except for one inherited from an ancestor).
func (r *runner) checkBreakGlass(ctx workflow.Context, req Request, fresh bool) error {
	m, err := r.authenticate(ctx, req, ActApproveAll)
	if err != nil {
		return err
	}
	if !m.Leads() {
		return fmt.Errorf("break-glass approval needs the lead role; %s has %v", m.ID, m.Roles)
	}
	if req.Reason == "" {
		return errors.New("break-glass approval needs a reason; it goes into the report")
	}
	if r.breakGls != nil {
		return fmt.Errorf("break-glass approval was already given by %s", r.breakGls.Actor)
	}
	for _, bg := range r.breakGlassReqs {
		if bg.Actor == m.ID {
			return fmt.Errorf("%s has already signed this run's break-glass; it needs %d distinct leads", m.ID, r.breakGlassNeed(append(r.breakGlassReqs, req)))
		}
	}
	return nil
}

// checkInherited verifies a break-glass an ancestor accepted: signed by a
// lead of the roster as it is now, for one of this run's ancestors.
// Freshness was checked where it was given.
func (r *runner) checkInherited(req Request) error {
	if req.Action != ActApproveAll {
		return fmt.Errorf("an inherited request must be approve_all, not %q", req.Action)
	}
	if !slices.Contains(r.in.Meta.Lineage, req.RunID) {
		return fmt.Errorf("it was signed for run %q, which is not an ancestor of this run", req.RunID)
	}
	m, ok := r.member(req.Actor)
	if !ok {
		return fmt.Errorf("%q is no longer in the roster", req.Actor)
	}
	if !m.Leads() {
		return fmt.Errorf("%s no longer has the lead role", m.ID)
	}
	if r.roster.RequireSignatures {
		keys, err := r.signerKeys(m, req)
		if err != nil {
			return err
		}
		if err := verifySignature(req, keys); err != nil {
			return fmt.Errorf("%s (%s via %s)", err, req.Actor, req.Channel)
		}
	}
	return nil
}

// breakGlassNeed is how many distinct leads a break-glass needs: the
// policy's number, and at least two when the requester is among them and
// the policy does not let a requester break-glass alone.
func (r *runner) breakGlassNeed(signed []Request) int {
	if r.authorityVersion < 1 {
		return 1
	}
	need := max(r.roster.Policy.BreakGlassLeads, 1)
	if !r.roster.Policy.RequesterMayBreakGlass {
		for _, s := range signed {
			if s.Actor == r.in.Meta.Requester {
				need = max(need, 2)
			}
		}
	}
	return need
}

// addBreakGlass counts a verified break-glass request; once enough leads
// signed, every gate of the run passes. It says what happened.
func (r *runner) addBreakGlass(ctx workflow.Context, req Request) string {
	r.breakGlassReqs = append(r.breakGlassReqs, req)
	need := r.breakGlassNeed(r.breakGlassReqs)
	if len(r.breakGlassReqs) < need {
		r.event(ctx, Event{Kind: EventBreakGlassSigned, Actor: req.Actor, Channel: req.Channel,
			Detail: fmt.Sprintf("%d of %d leads: %s", len(r.breakGlassReqs), need, req.Reason)})
		return fmt.Sprintf("break-glass: signature %d of %d recorded; another lead must sign (policy)", len(r.breakGlassReqs), need)
	}
	var leads []string
	for _, s := range r.breakGlassReqs {
		leads = append(leads, s.Actor)
	}
	a := Approval{Actor: strings.Join(leads, "+"), Channel: req.Channel, Time: workflow.Now(ctx), Reason: req.Reason, BreakGlass: true}
	r.breakGls, r.state.BreakGlass = &a, &a
	r.event(ctx, Event{Kind: EventBreakGlass, Actor: a.Actor, Channel: req.Channel, Detail: req.Reason})
	approved := 0
	for _, k := range sortedGateKeys(r.gates) {
		g := r.gates[k]
		if g.done {
			continue
		}
		g.Approvals = append(g.Approvals, a)
		g.Status, g.DecidedBy, g.done = GateApproved, a.Actor, true
		r.event(ctx, Event{Kind: EventGateApproved, Step: g.Step, Item: g.Item, Actor: a.Actor, Channel: req.Channel, Detail: "break-glass", BreakGlass: true})
		approved++
	}
	forwarded := r.forwardBreakGlass(ctx)
	msg := fmt.Sprintf("break-glass: %d waiting gate(s) approved, later gates will pass", approved)
	if forwarded > 0 {
		msg += fmt.Sprintf("; forwarded to %d running host run(s), which verify it again", forwarded)
	}
	return msg
}

// forwardBreakGlass sends the run's break-glass signatures to the child
// runs still running, whose gates would otherwise keep waiting (children
// started later inherit it with their input). Each child verifies the
// signatures itself; the signal is a courier, not an authority. It
// returns how many children it reached.
func (r *runner) forwardBreakGlass(ctx workflow.Context) int {
	if len(r.runningChildren) == 0 || r.authorityVersion < 1 ||
		workflow.GetVersion(ctx, "forward-break-glass", workflow.DefaultVersion, 1) < 1 {
		return 0
	}
	reached := 0
	for _, id := range slices.Clone(r.runningChildren) {
		err := workflow.SignalExternalWorkflow(ctx, id, "", SignalParentBreakGlass, r.breakGlassReqs).Get(ctx, nil)
		if err != nil {
			// The host's run ended meanwhile: nothing waits there.
			workflow.GetLogger(ctx).Info("break-glass not forwarded", "child", id, "error", err)
			continue
		}
		reached++
	}
	r.event(ctx, Event{Kind: EventBreakGlass, Detail: fmt.Sprintf("forwarded to %d running host run(s): %s", reached, strings.Join(r.runningChildren, ", "))})
	return reached
}

// acceptForwarded takes the break-glass signatures a parent forwarded:
// each is verified as the parent verified it (a lead of the roster as it
// is now, signed for an ancestor of this run, fresh, never used before,
// with a reason, one per lead), then counted like one given here. Anyone
// who can reach the namespace can send the signal, so nothing in it is
// taken on trust.
func (r *runner) acceptForwarded(ctx workflow.Context, reqs []Request) {
	for _, req := range reqs {
		if r.breakGls != nil {
			return // enough leads already signed
		}
		if err := r.admit(ctx, req, r.checkForwarded); err != nil {
			continue // refused and recorded by admit
		}
		r.addBreakGlass(ctx, req)
	}
}

// checkForwarded is checkInherited for a request that arrives while the
// run is going: it must also be fresh and unused, as at its first
// delivery.
func (r *runner) checkForwarded(ctx workflow.Context, req Request) error {
	if err := r.checkInherited(req); err != nil {
		return fmt.Errorf("forwarded break-glass: %w", err)
	}
	if req.Reason == "" {
		return errors.New("forwarded break-glass: no reason")
	}
	if r.roster.RequireSignatures {
		now := workflow.Now(ctx)
		if d := now.Sub(req.Time); d > r.roster.MaxSkew || d < -r.roster.MaxSkew {
			return fmt.Errorf("forwarded break-glass: signed at %s, more than %s from now", req.Time.UTC().Format(time.RFC3339), r.roster.MaxSkew)
		}
		if req.Nonce == "" || r.nonces[req.Nonce] {
			return errors.New("forwarded break-glass: " + RefusedRepeat + ": a signature is good for one request")
		}
	}
	for _, bg := range r.breakGlassReqs {
		if bg.Actor == req.Actor {
			return fmt.Errorf("forwarded break-glass: %s has already signed this run's break-glass", req.Actor)
		}
	}
	return nil
}

// awaitPlanApproval holds an ad-hoc plan (one the worker's runbook source
// does not hold) until a lead approves the plan itself, shown as a diff
// against the vouched version. A rehearsal changes nothing, so it needs
// no such approval.
func (r *runner) awaitPlanApproval(ctx workflow.Context, v VouchedPlan) error {
	if r.in.Meta.DryRun {
		r.state.RosterNotes = append(r.state.RosterNotes, "the plan is not from the worker's runbook source; a rehearsal changes nothing, so it runs without a lead's approval of the plan")
		return nil
	}
	var leads []string
	for _, m := range r.roster.Members {
		if m.Leads() {
			leads = append(leads, m.ID)
		}
	}
	timeout := 30 * time.Minute
	st := &runbooks.Step{ID: PlanGate, Name: "approve the ad-hoc plan", Action: "cordon.approve_plan",
		Gate: &runbooks.Gate{Approvers: runbooks.Approvers{People: leads}, MinApprovals: 1, Timeout: runbooks.Duration(timeout), OnTimeout: "deny"}}
	g := &gate{policy: st.Gate, opened: workflow.Now(ctx), GateState: GateState{
		Step: PlanGate, Key: PlanGate, Status: GateWaiting, PreviewHash: r.plan.Hash(), Changes: v.Diff,
		Approvers: st.Gate.Approvers, MinApprovals: 1, Approvals: []Approval{},
		Deadline: workflow.Now(ctx).Add(timeout), Rule: "policy: a plan not in the worker's runbook source needs a lead's approval",
	}}
	r.gates[PlanGate] = g
	if r.breakGls != nil {
		g.Approvals = append(g.Approvals, *r.breakGls)
		g.Status, g.DecidedBy, g.done = GateApproved, r.breakGls.Actor, true
	} else {
		base := v.VouchedHash
		if base == "" {
			base = "none: the runbook source holds no runbook of this name"
		}
		r.event(ctx, Event{Kind: EventGateWaiting, Step: PlanGate,
			Detail:      fmt.Sprintf("the plan is not in the worker's runbook source (vouched version %s): waiting for a lead to approve plan %s until %s", short(base), short(g.PreviewHash), g.Deadline.Format(time.RFC3339)),
			PreviewHash: g.PreviewHash, Changes: v.Diff})
		r.notifyGate(ctx, st, g, "waiting", g.Approvers)
		ok, err := workflow.AwaitWithOptions(ctx, workflow.AwaitOptions{Timeout: max(g.Deadline.Sub(workflow.Now(ctx)), time.Millisecond),
			TimerOptions: workflow.TimerOptions{Summary: "gate " + PlanGate + ": waiting for a lead to approve the ad-hoc plan"}},
			func() bool { return g.done || r.abort != nil })
		if err != nil {
			return err
		}
		if !ok {
			g.Status, g.Reason, g.done = GateTimedOut, "no lead approved the plan in time", true
		}
	}
	switch {
	case r.abort != nil:
		return nil
	case g.Status == GateApproved:
		r.state.Provenance.PlanApprovedBy = g.DecidedBy
		r.event(ctx, Event{Kind: EventPlanApproved, Step: PlanGate, Actor: g.DecidedBy, Detail: "ad-hoc plan " + short(g.PreviewHash) + " approved"})
		return nil
	default:
		reason := fmt.Sprintf("the ad-hoc plan was not approved (%s): %s", g.Status, g.Reason)
		r.event(ctx, Event{Kind: EventPlanRefused, Step: PlanGate, Detail: reason})
		return &refused{reason: reason}
	}
}

// signerKeys are the keys that may sign req for m: the member's own on
// the CLI, or a gateway's whose scope covers the action and the member.
func (r *runner) signerKeys(m *Member, req Request) ([]string, error) {
	if m.IsIntake() || req.Channel == ChannelIntake {
		return intakeKeys(m, req)
	}
	if req.Channel == "cli" {
		if len(m.PublicKeys) == 0 {
			return nil, fmt.Errorf("the roster holds no key for %s on channel %q", req.Actor, req.Channel)
		}
		return m.PublicKeys, nil
	}
	var keys []string
	for _, g := range r.roster.Gateways {
		if g.Name != req.Channel {
			continue
		}
		scope := g.Actions
		if len(scope) == 0 {
			scope = DefaultGatewayActions()
		}
		if !slices.Contains(scope, req.Action) {
			return nil, fmt.Errorf("the %s gateway may not sign %s requests (it may sign %s); use the CLI with your own key", g.Name, req.Action, strings.Join(scope, ", "))
		}
		if g.Name == "slack" && m.SlackID == "" {
			return nil, fmt.Errorf("the slack gateway may only sign for members mapped from Slack users; %s has no slack_id", m.ID)
		}
		keys = append(keys, g.PublicKey)
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("the roster holds no key for %s on channel %q", req.Actor, req.Channel)
	}
	return keys, nil
}

// reloadRoster reads the roster again through the recorded activity, so a
// decision is judged by the roster as it is when it is made: a member
// removed, or whose roles changed, loses that authority on running runs at
// their next request.
func (r *runner) reloadRoster(ctx workflow.Context) error {
	if r.authorityVersion < 1 {
		return nil
	}
	return r.loadRoster(ctx)
}

// admit re-checks an update after the roster reload (the validator judged
// it against the roster as it was): a refusal here reached history, so it
// is recorded for the team.
func (r *runner) admit(ctx workflow.Context, req Request, validate func(workflow.Context, Request) error) error {
	if r.authorityVersion < 1 {
		return nil
	}
	// The nonce is taken at once, before anything yields, so the same
	// request delivered twice is admitted once.
	r.nonces[req.Nonce] = true
	if err := r.reloadRoster(ctx); err != nil {
		r.refuse(ctx, req, "the roster could not be read: "+err.Error())
		return err
	}
	delete(r.nonces, req.Nonce)
	err := validate(ctx, req)
	r.nonces[req.Nonce] = true
	if err != nil {
		r.refuse(ctx, req, err.Error())
		return err
	}
	return nil
}
