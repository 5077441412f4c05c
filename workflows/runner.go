package workflows

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/cordon-ir/cordon/actions/spec"
	"github.com/cordon-ir/cordon/actions/wire"
	"github.com/cordon-ir/cordon/runbooks"
)

// runner owns one run's state. Update and query handlers are methods on
// it; the workflow goroutine and the handlers share it (Temporal runs them
// one at a time, so no locking).
type runner struct {
	in        RunInput
	plan      *runbooks.Plan
	roster    Roster
	eval      *runbooks.Evaluator
	values    runbooks.Values
	state     State
	gates     map[string]*gate
	skips     map[string]string // step id → reason
	abort     *Request
	cancelRun workflow.CancelFunc
	breakGls  *Approval
	resultErr string
	// authorityVersion is the GetVersion of the signed-authority model (0
	// for runs that started before it).
	authorityVersion workflow.Version
	// nonces are the request nonces this run has accepted: a signature is
	// single-use.
	nonces map[string]bool
	// breakGlassReqs are the verified break-glass signatures so far.
	breakGlassReqs []Request
	// runningChildren are the child runs started and not yet ended, in
	// start order: a break-glass given later is forwarded to them.
	runningChildren []string
	// claimed are the target locks this run holds (targetlock.go).
	claimed []string
	// searchVersion is the GetVersion of the search attribute upserts (0
	// for runs recorded before them); searchWarned says the run logged
	// that it writes none.
	searchVersion workflow.Version
	searchWarned  bool
	// startVerified says the start was verified and the run goes on:
	// finding updates wait for it (they are judged against the trigger).
	startVerified bool
	// triggerVerified says the worker fetched the intake's findings from
	// their sources and found the run's inputs to be theirs.
	triggerVerified bool
	// instancesVersion is the GetVersion of the instance check made once
	// the start is authenticated (0: the vouch made it, before).
	instancesVersion workflow.Version
	// findingUpdateRefusals counts the refused finding updates recorded.
	findingUpdateRefusals int
}

// gate is a waiting approval, with what the workflow needs beyond GateState.
type gate struct {
	GateState
	policy *runbooks.Gate
	done   bool
	// selfApproval says the requester may approve: the runbook allows it
	// and the organisation's policy lets the runbook decide.
	selfApproval bool
	// opened is when the gate started waiting.
	opened time.Time
}

// Runbook is the interpreter workflow.
func Runbook(ctx workflow.Context, in RunInput) (RunResult, error) {
	version := workflow.GetVersion(ctx, authorityChange, workflow.DefaultVersion, 1)
	if version == workflow.DefaultVersion {
		if err := checkPlan(in.Plan); err != nil {
			return RunResult{}, err
		}
	}
	r := newRunner(ctx, in)
	r.authorityVersion = version
	if version == workflow.DefaultVersion {
		r.setPlan(ctx, in.Plan)
		if in.Meta.PreApproved != nil {
			r.breakGls = in.Meta.PreApproved
			r.state.BreakGlass = in.Meta.PreApproved
		}
	}
	if err := r.registerHandlers(ctx); err != nil {
		return RunResult{}, err
	}
	runCtx, cancel := workflow.WithCancel(ctx)
	r.cancelRun = cancel

	if version == workflow.DefaultVersion {
		if err := r.loadRoster(ctx); err != nil {
			r.finish(ctx, RunFailed, err.Error())
			return r.result(), err
		}
	} else {
		err := r.startV1(ctx, in)
		// What the run is (runbook, targets, requester, ...) for the Web
		// UI and list queries, written once the start is verified; runs
		// recorded before these upserts replay without them.
		r.searchVersion = workflow.GetVersion(ctx, searchAttributesChange, workflow.DefaultVersion, 1)
		if err == nil {
			err = r.claimTargets(ctx)
		}
		if err != nil {
			r.markRemaining(StepCancelled, "the run was refused before it started")
			var ref *refused
			if errors.As(err, &ref) {
				r.finish(ctx, RunFailed, "refused: "+ref.reason)
			} else {
				r.finish(ctx, RunFailed, err.Error())
			}
			r.publishSearchAttributes(ctx, RunFailed, false)
			_ = workflow.Await(ctx, func() bool { return workflow.AllHandlersFinished(ctx) })
			res := r.result()
			return res, temporal.NewNonRetryableApplicationError(res.Error, string(res.Status), nil, res)
		}
		r.publishSearchAttributes(ctx, RunRunning, true)
		r.startVerified = true
		if r.in.Meta.Trigger != nil {
			r.recordTriggered(ctx)
		}
	}
	r.event(ctx, Event{Kind: EventRunStarted, Actor: r.in.Meta.Requester, Channel: r.in.Meta.Channel,
		Detail: fmt.Sprintf("runbook %s, plan %s, dry run %t", r.plan.Runbook.Name, r.state.PlanHash[:16], r.in.Meta.DryRun)})

	failed := ""
	for i := range r.plan.Steps {
		if r.abort != nil {
			break
		}
		if err := r.runStep(runCtx, &r.plan.Steps[i]); err != nil {
			failed = err.Error()
			break
		}
	}
	switch {
	case r.abort != nil:
		r.markRemaining(StepCancelled, "run aborted: "+r.abort.Reason)
		r.finish(ctx, RunAborted, "aborted by "+r.abort.Actor+": "+r.abort.Reason)
	case failed != "":
		r.markRemaining(StepCancelled, "an earlier step failed")
		r.finish(ctx, RunFailed, failed)
	default:
		r.computeOutputs(ctx)
		if partial := r.failedItems(); partial != "" &&
			workflow.GetVersion(ctx, "run-partial-outcome", workflow.DefaultVersion, 1) >= 1 {
			// A fleet with a host not contained did not succeed, even if
			// max_errors let the run go on. Runs recorded before this
			// outcome existed ended succeeded.
			r.finish(ctx, RunPartial, partial)
		} else {
			r.finish(ctx, RunSucceeded, "")
		}
	}
	r.publishSearchAttributes(ctx, r.state.Status, true)
	r.releaseTargets(ctx)
	// Let in-flight updates finish before the run closes.
	_ = workflow.Await(ctx, func() bool { return workflow.AllHandlersFinished(ctx) })
	res := r.result()
	if res.Status != RunSucceeded && res.Status != RunPartial {
		return res, temporal.NewNonRetryableApplicationError(res.Error, string(res.Status), nil, res)
	}
	return res, nil
}

func checkPlan(p *runbooks.Plan) error {
	if p == nil {
		return temporal.NewNonRetryableApplicationError("no plan in the run input", "BadInput", nil)
	}
	if p.PlanVersion != runbooks.PlanVersion {
		return temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("plan version %d is not supported by this worker (it runs version %d): upgrade the worker or recompile with a matching cordon", p.PlanVersion, runbooks.PlanVersion),
			"BadInput", nil)
	}
	return nil
}

func newRunner(ctx workflow.Context, in RunInput) *runner {
	now := workflow.Now(ctx)
	r := &runner{
		in:     in,
		eval:   runbooks.NewEvaluator(),
		gates:  map[string]*gate{},
		skips:  map[string]string{},
		nonces: map[string]bool{},
		values: runbooks.Values{
			Inputs: in.Inputs,
			Steps:  map[string]runbooks.StepValues{},
			Run: runbooks.RunInfo{ID: in.Meta.RunID, Requester: in.Meta.Requester, DryRun: in.Meta.DryRun,
				StartedAt: now, Incident: in.Meta.Incident},
		},
	}
	r.state = State{Meta: in.Meta, Inputs: in.Inputs, Status: RunRunning, StartedAt: now}
	return r
}

// setPlan makes p the plan the run executes.
func (r *runner) setPlan(ctx workflow.Context, p *runbooks.Plan) {
	r.plan = p
	r.state.Plan, r.state.Runbook, r.state.PlanHash = p, p.Runbook.Name, p.Hash()
	r.state.Steps = nil
	for _, st := range p.Steps {
		r.state.Steps = append(r.state.Steps, StepState{ID: st.ID, Name: st.Name, Phase: st.Phase, Action: st.Action, Uses: st.Uses, Status: StepPending})
	}
}

// bookkeeping is the context for the worker's own activities (the roster,
// the plan's vouching, the target locks): short calls, worth a few tries
// before the run fails on them.
func bookkeeping(ctx workflow.Context, timeout time.Duration) workflow.Context {
	return workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: timeout,
		RetryPolicy:         &temporal.RetryPolicy{MaximumAttempts: 5},
	})
}

func (r *runner) loadRoster(ctx workflow.Context) error {
	actx := bookkeeping(ctx, 30*time.Second)
	// Decode into a fresh value: decoding into the old roster would keep
	// what the new one leaves out (an omitted slack_id, a role list gone).
	var fresh Roster
	if err := workflow.ExecuteActivity(actx, ActivityLoadRoster).Get(ctx, &fresh); err != nil {
		return fmt.Errorf("load roster: %w", err)
	}
	r.roster = fresh
	if r.roster.MaxSkew <= 0 {
		r.roster.MaxSkew = 5 * time.Minute
	}
	if !r.roster.RequireSignatures {
		r.state.RosterNotes = append(r.state.RosterNotes, "signatures are NOT required for decisions in this run (development roster)")
	}
	return nil
}

func (r *runner) step(id string) *StepState {
	for i := range r.state.Steps {
		if r.state.Steps[i].ID == id {
			return &r.state.Steps[i]
		}
	}
	return nil
}

func (r *runner) event(ctx workflow.Context, e Event) {
	e.Time = workflow.Now(ctx)
	r.state.Timeline = append(r.state.Timeline, e)
}

func (r *runner) finish(ctx workflow.Context, status RunStatus, errText string) {
	r.state.Status = status
	r.state.EndedAt = workflow.Now(ctx)
	detail := string(status)
	if errText != "" {
		detail += ": " + errText
	}
	r.event(ctx, Event{Kind: runEnded(status), Detail: detail})
	if errText != "" && status != RunPartial {
		// A partial run's outputs are real (failed items hold zero
		// values); a failed run's would mislead.
		r.state.Outputs = nil
	}
	r.resultErr = errText
}

func (r *runner) markRemaining(status StepStatus, reason string) {
	for i := range r.state.Steps {
		if s := &r.state.Steps[i]; s.Status == StepPending {
			s.Status, s.Reason = status, reason
		}
	}
}

func (r *runner) computeOutputs(ctx workflow.Context) {
	out := map[string]any{}
	for _, o := range r.plan.Outputs {
		v, err := r.eval.Expr(o.Expr, &r.values)
		if err != nil {
			r.event(ctx, Event{Kind: EventOutputError, Detail: fmt.Sprintf("%s: %v", o.Name, err)})
			continue
		}
		out[o.Name] = v
	}
	r.state.Outputs = out
}

func (r *runner) result() RunResult {
	return RunResult{Status: r.state.Status, Outputs: r.state.Outputs, Error: r.resultErr}
}

// runStep runs one step (all its items); it returns an error only when the
// run must stop.
func (r *runner) runStep(ctx workflow.Context, st *runbooks.Step) error {
	if err := r.waitWhilePaused(ctx); err != nil {
		return nil // aborted while paused; the caller sees r.abort
	}
	ss := r.step(st.ID)
	if reason, ok := r.skips[st.ID]; ok {
		r.endStep(ctx, st, StepSkipped, "skipped: "+reason, nil)
		return nil
	}
	if st.When != nil {
		ok, err := r.eval.Bool(*st.When, &r.values)
		if err != nil {
			return r.stepFailed(ctx, st, fmt.Errorf("when: %w", err))
		}
		if !ok {
			r.endStep(ctx, st, StepSkipped, "condition false: "+st.When.Source, nil)
			return nil
		}
	}
	ss.Status, ss.StartedAt = StepRunning, workflow.Now(ctx)
	r.event(ctx, Event{Kind: EventStepStarted, Step: st.ID, Detail: describeStep(st)})

	if st.Foreach == nil {
		res := r.runItem(ctx, st, 0, nil, false)
		if res.status == StepSucceeded {
			r.endStep(ctx, st, StepSucceeded, "", res.outputs)
			return nil
		}
		r.endStep(ctx, st, res.status, res.err, nil)
		if res.detail != res.err {
			r.step(st.ID).ErrorDetail = res.detail
		}
		if res.status == StepDenied && !st.ContinueOnError {
			// A denied gate stops the run unless the runbook says to go on:
			// later steps may depend on what the denied step would have done.
			return fmt.Errorf("step %s was not approved: %s", st.ID, res.err)
		}
		if res.status == StepFailed && !st.ContinueOnError {
			return fmt.Errorf("step %s failed: %s", st.ID, res.err)
		}
		return nil
	}
	return r.runForeach(ctx, st)
}

// itemResult is the outcome of one execution of a step.
type itemResult struct {
	status  StepStatus
	outputs map[string]any
	err     string
	// detail is the full error chain behind err, a one-line summary.
	detail string
}

func (r *runner) runForeach(ctx workflow.Context, st *runbooks.Step) error {
	raw, err := r.eval.Value(*st.Foreach, &r.values)
	if err != nil {
		return r.stepFailed(ctx, st, fmt.Errorf("foreach: %w", err))
	}
	items, ok := raw.([]any)
	if !ok {
		if ss, isStrings := raw.([]string); isStrings {
			for _, s := range ss {
				items = append(items, s)
			}
		} else if raw != nil {
			return r.stepFailed(ctx, st, fmt.Errorf("foreach: expression yielded %T, not a list", raw))
		}
	}
	ss := r.step(st.ID)
	ss.Items = len(items)
	results := make([]itemResult, len(items))
	inFlight, failed, next := 0, 0, 0
	limit := max(st.MaxConcurrency, 1)
	stopped := false
	for {
		// Start items up to the limit; stop starting on pause, abort or
		// once more than max_errors items failed; leave when nothing is
		// left in flight.
		canStart := func() bool {
			return next < len(items) && inFlight < limit && !stopped && !r.state.Paused && r.abort == nil
		}
		finished := func() bool {
			return (next >= len(items) || stopped || r.abort != nil) && inFlight == 0
		}
		if err := workflow.Await(ctx, func() bool { return canStart() || finished() }); err != nil || finished() {
			if inFlight > 0 {
				// On abort ctx is cancelled, and an Await on it returns at
				// once: the step would end while its items still run and
				// later change its counts. Wait on a context the abort does
				// not cancel (the items themselves are cancelled through
				// theirs). Runs recorded before the fix keep the old wait.
				wait := ctx
				if workflow.GetVersion(ctx, "foreach-abort-waits-for-items", workflow.DefaultVersion, 1) >= 1 {
					wait, _ = workflow.NewDisconnectedContext(ctx)
				}
				_ = workflow.Await(wait, func() bool { return inFlight == 0 })
			}
			break
		}
		idx := next
		next++
		inFlight++
		workflow.Go(ctx, func(gctx workflow.Context) {
			res := r.runItem(gctx, st, idx+1, items[idx], true)
			results[idx] = res
			if res.status == StepFailed {
				failed++
				ss.Failed = failed
				if failed > st.MaxErrors {
					stopped = true
				}
			}
			inFlight--
		})
	}
	for i := next; i < len(items); i++ {
		results[i] = itemResult{status: StepCancelled, err: "not started: the fan-out stopped"}
	}
	for i, res := range results {
		if res.status == StepFailed {
			ss.FailedItems = append(ss.FailedItems, FailedItem{Item: i + 1, Value: itemText(items[i]), Error: res.err})
		}
	}
	// Outputs of a foreach step are lists, one entry per item, in order.
	// An item that failed or was skipped contributes its type's zero value
	// ("" or an empty list), so expressions over the lists (join, flatten,
	// filter) still work on a partly failed fleet.
	// Runs that started before zero values existed keep nil entries, so
	// their replays take the same decisions (see docs/operations.md).
	zeroFill := workflow.GetVersion(ctx, "foreach-zero-outputs", workflow.DefaultVersion, 1) >= 1
	outputs := map[string]any{}
	for _, f := range st.OutputType.Fields {
		list := make([]any, len(items))
		for i, res := range results {
			v, ok := res.outputs[f.Name]
			if (!ok || v == nil) && zeroFill {
				v = zeroValue(*f.Type.Elem)
			}
			list[i] = v
		}
		outputs[f.Name] = list
	}
	switch {
	case failed > st.MaxErrors:
		msg := fmt.Sprintf("%d of %d items failed (max_errors %d)", failed, len(items), st.MaxErrors)
		r.endStep(ctx, st, StepFailed, msg, outputs)
		if !st.ContinueOnError {
			return fmt.Errorf("step %s: %s", st.ID, msg)
		}
	case r.abort != nil:
		r.endStep(ctx, st, StepCancelled, "run aborted", outputs)
	default:
		reason := ""
		if failed > 0 {
			reason = fmt.Sprintf("%d of %d items failed (within max_errors %d)", failed, len(items), st.MaxErrors)
		}
		r.endStep(ctx, st, StepSucceeded, reason, outputs)
	}
	return nil
}

// itemText is a foreach item as people name it: a host's instance id
// as it is, anything else as its JSON.
func itemText(v any) string {
	if s, ok := v.(string); ok {
		return s
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

// failedItems says which foreach items failed in steps that tolerated
// them (within max_errors), or "" when none did.
func (r *runner) failedItems() string {
	var parts []string
	for _, ss := range r.state.Steps {
		if ss.Status != StepSucceeded || len(ss.FailedItems) == 0 {
			continue
		}
		var names []string
		for _, fi := range ss.FailedItems {
			names = append(names, fmt.Sprintf("#%d %s", fi.Item, fi.Value))
		}
		parts = append(parts, fmt.Sprintf("step %s: %d of %d items failed (%s)", ss.ID, len(ss.FailedItems), ss.Items, strings.Join(names, ", ")))
	}
	return strings.Join(parts, "; ")
}

func (r *runner) stepFailed(ctx workflow.Context, st *runbooks.Step, err error) error {
	r.endStep(ctx, st, StepFailed, err.Error(), nil)
	if st.ContinueOnError {
		return nil
	}
	return fmt.Errorf("step %s: %w", st.ID, err)
}

func (r *runner) endStep(ctx workflow.Context, st *runbooks.Step, status StepStatus, reason string, outputs map[string]any) {
	ss := r.step(st.ID)
	ss.Status, ss.Reason, ss.EndedAt = status, reason, workflow.Now(ctx)
	if status == StepFailed {
		ss.Error = reason
	}
	if outputs != nil {
		ss.Outputs = outputs
	}
	r.values.Steps[st.ID] = runbooks.StepValues{Status: string(status), Outputs: outputs}
	r.event(ctx, Event{Kind: stepEnded(status), Step: st.ID, Detail: reason})
}

func describeStep(st *runbooks.Step) string {
	if st.Uses != "" {
		return "uses " + st.Uses
	}
	return st.Action
}

// runItem runs one execution of a step: evaluate parameters, pass the
// gate, run the activity (or child runbook), compute extra outputs.
func (r *runner) runItem(ctx workflow.Context, st *runbooks.Step, item int, itemValue any, hasItem bool) itemResult {
	vals := r.values
	vals.Item, vals.HasItem = itemValue, hasItem
	params, err := r.eval.Params(st, &vals)
	if err != nil {
		return r.itemFailed(ctx, st, item, err)
	}
	var target wire.Target
	target.Account, target.Region, err = r.eval.Target(st.Target, &vals)
	if err != nil {
		return r.itemFailed(ctx, st, item, err)
	}

	var outputs map[string]any
	switch {
	case st.Uses != "":
		outputs, err = r.runChild(ctx, st, item, params)
	case st.Action == "core.wait":
		outputs, err = r.wait(ctx, st, params)
	default:
		var res wire.Result
		res, err = r.runAction(ctx, st, item, params, target)
		outputs = res.Outputs
		if err == nil {
			ss := r.step(st.ID)
			ss.RequestIDs = append(ss.RequestIDs, res.RequestIDs...)
		}
	}
	if err != nil {
		var denied *deniedError
		if errors.As(err, &denied) {
			return itemResult{status: denied.status, err: denied.reason}
		}
		if r.abort != nil {
			r.event(ctx, Event{Kind: EventItemCancelled, Step: st.ID, Item: item, Detail: "cancelled: the run was aborted"})
			return itemResult{status: StepCancelled, err: "cancelled: the run was aborted"}
		}
		return r.itemFailed(ctx, st, item, err)
	}
	outputs, err = r.eval.StepOutputs(st, outputs, &vals)
	if err != nil {
		return r.itemFailed(ctx, st, item, err)
	}
	return itemResult{status: StepSucceeded, outputs: outputs}
}

func (r *runner) itemFailed(ctx workflow.Context, st *runbooks.Step, item int, err error) itemResult {
	summary, full := errorSummary(err), err.Error()
	e := Event{Kind: EventItemFailed, Step: st.ID, Item: item, Detail: summary}
	if full != summary {
		e.ErrorDetail = full
	}
	r.event(ctx, e)
	return itemResult{status: StepFailed, err: summary, detail: full}
}

// deniedError ends an item without failing it: a gate said no.
type deniedError struct {
	status StepStatus
	reason string
}

func (e *deniedError) Error() string { return e.reason }

// actionHeartbeatTimeout is how long an action may go without a heartbeat
// before Temporal considers its worker gone.
const actionHeartbeatTimeout = 15 * time.Second

func (r *runner) activityOptions(st *runbooks.Step) workflow.ActivityOptions {
	opts := workflow.ActivityOptions{
		StartToCloseTimeout: time.Duration(st.Timeout),
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval:        time.Duration(st.Retry.Backoff),
			BackoffCoefficient:     2,
			MaximumInterval:        time.Duration(st.Retry.MaxBackoff),
			MaximumAttempts:        int32(st.Retry.MaxAttempts),
			NonRetryableErrorTypes: wire.NonRetryable(),
		},
	}
	if opts.StartToCloseTimeout <= 0 {
		opts.StartToCloseTimeout = 10 * time.Minute
	}
	// Every action heartbeats while it runs (the actions runtime keeps it
	// alive), so a worker killed mid-action is noticed in seconds and the
	// action is retried elsewhere, instead of at the end of its timeout.
	opts.HeartbeatTimeout = actionHeartbeatTimeout
	return opts
}

func (r *runner) call(st *runbooks.Step, item int, params map[string]any, target wire.Target, mode wire.Mode) wire.Call {
	return wire.Call{
		Action: st.Action, Params: params, Target: target, Mode: mode,
		Run: wire.RunRef{RunID: r.in.Meta.RunID, Incident: r.in.Meta.Incident, StepID: st.ID,
			Requester: r.in.Meta.Requester, Item: item, StartedAt: r.values.Run.StartedAt, Approvers: r.approversOf(st, item)},
	}
}

// approversOf names who approved the step's gate, once approved (a
// lead's break-glass marked so): the authority an artefact the step
// collects is recorded under. Activity inputs are not compared on replay,
// so runs recorded before this field replay unchanged.
func (r *runner) approversOf(st *runbooks.Step, item int) []string {
	g, ok := r.gates[gateKey(st.ID, item)]
	if !ok || g.Status != GateApproved {
		return nil
	}
	out := make([]string, 0, len(g.Approvals))
	for _, a := range g.Approvals {
		if a.BreakGlass {
			out = append(out, a.Actor+" (break-glass)")
		} else {
			out = append(out, a.Actor)
		}
	}
	return out
}

func (r *runner) runAction(ctx workflow.Context, st *runbooks.Step, item int, params map[string]any, target wire.Target) (wire.Result, error) {
	dry := r.in.Meta.DryRun
	for {
		if st.Gate != nil && !dry {
			if err := r.passGate(ctx, st, item, params, target); err != nil {
				return wire.Result{}, err
			}
		}
		if dry || !st.Mutating || !r.state.Paused ||
			workflow.GetVersion(ctx, "pause-holds-mutations", workflow.DefaultVersion, 1) < 1 {
			break
		}
		// A pause means nothing changes until resume, whatever was
		// approved meanwhile (an approval given during a pause is kept).
		// After resume the gate previews again: the approval holds only if
		// the world is still as approved. Runs recorded before this rule
		// acted on an approval given during a pause.
		if err := r.holdWhilePaused(ctx, st, item); err != nil {
			return wire.Result{}, err
		}
	}
	if st.Gate != nil && !dry {
		// Said aloud, so whoever approved can tell "acting" from "asked
		// again" (cordon approve waits for one or the other).
		r.event(ctx, Event{Kind: EventGateConfirmed, Step: st.ID, Item: item, Detail: "the change is as approved: acting"})
	}
	mode := wire.Execute
	if dry {
		mode = wire.Preview
		if st.Gate != nil {
			r.event(ctx, Event{Kind: EventGateRehearsed, Step: st.ID, Item: item,
				Detail: fmt.Sprintf("a real run would wait here for %d approval(s) from %s", st.Gate.MinApprovals, st.Gate.Approvers.String())})
		}
	}
	opts := r.activityOptions(st)
	opts.Summary = actionSummary(st, item, params, mode)
	actx := workflow.WithActivityOptions(ctx, opts)
	var res wire.Result
	err := workflow.ExecuteActivity(actx, st.Action, r.call(st, item, params, target, mode)).Get(ctx, &res)
	if err != nil {
		return res, err
	}
	r.event(ctx, Event{Kind: EventActionDone, Step: st.ID, Item: item,
		Detail:  fmt.Sprintf("%s (%s): %d change(s)%s", st.Action, mode, len(res.Changes), attemptText(res.Attempt)),
		Changes: res.Changes, RequestIDs: res.RequestIDs, Notes: res.Notes, Artefacts: res.Artefacts})
	return res, nil
}

func attemptText(attempt int32) string {
	if attempt > 1 {
		return fmt.Sprintf(", succeeded on attempt %d", attempt)
	}
	return ""
}

// previewHash is what an approval binds to: the exact list of changes.
// Changes come back from activities through JSON, so they always encode.
func previewHash(changes []wire.Change) string {
	return jsonHash(changes)
}

func (r *runner) wait(ctx workflow.Context, st *runbooks.Step, params map[string]any) (map[string]any, error) {
	s, _ := params["duration"].(string)
	d, err := time.ParseDuration(s)
	if err != nil {
		return nil, fmt.Errorf("core.wait: duration %q: %w", s, err)
	}
	if r.in.Meta.DryRun {
		r.event(ctx, Event{Kind: EventWaitRehearsed, Step: st.ID, Detail: "a real run would wait " + d.String()})
		return map[string]any{}, nil
	}
	if err := workflow.NewTimerWithOptions(ctx, d, workflow.TimerOptions{Summary: st.ID + ": core.wait " + d.String()}).Get(ctx, nil); err != nil {
		return nil, fmt.Errorf("core.wait: %w", err)
	}
	return map[string]any{}, nil
}

func (r *runner) runChild(ctx workflow.Context, st *runbooks.Step, item int, params map[string]any) (map[string]any, error) {
	child := r.plan.Children[st.Uses]
	if child == nil {
		return nil, fmt.Errorf("child runbook %s is not in the plan", st.Uses)
	}
	id := fmt.Sprintf("%s/%s", r.in.Meta.RunID, st.ID)
	if item > 0 {
		id = fmt.Sprintf("%s/%d", id, item)
	}
	ss := r.step(st.ID)
	ss.Children = append(ss.Children, id)
	cctx := workflow.WithChildOptions(ctx, workflow.ChildWorkflowOptions{
		WorkflowID:        id,
		StaticSummary:     Summary(st.Uses, Targets(child, params), r.in.Meta.Incident, r.in.Meta.DryRun),
		ParentClosePolicy: enumspb.PARENT_CLOSE_POLICY_TERMINATE, // a host's run never outlives its fleet run
	})
	meta := r.in.Meta
	meta.RunID, meta.Parent = id, r.in.Meta.RunID
	meta.Trigger = r.in.Meta.Trigger.about(Targets(child, params))
	if r.authorityVersion >= 1 {
		// The child verifies the signed break-glass again; the lineage
		// lets it check whom it was signed for.
		meta.PreApproved = nil
		meta.Lineage = append(slices.Clone(r.in.Meta.Lineage), r.in.Meta.RunID)
		if r.breakGls != nil {
			meta.Inherited = slices.Clone(r.breakGlassReqs)
		} else {
			meta.Inherited = nil
		}
	} else {
		meta.PreApproved = r.breakGls
	}
	r.event(ctx, Event{Kind: EventChildStarted, Step: st.ID, Item: item, Detail: "run " + id + " of " + st.Uses})
	var res RunResult
	r.runningChildren = append(r.runningChildren, id)
	err := workflow.ExecuteChildWorkflow(cctx, WorkflowName, RunInput{Plan: child, Inputs: params, Meta: meta}).Get(ctx, &res)
	r.runningChildren = slices.DeleteFunc(r.runningChildren, func(c string) bool { return c == id })
	if err != nil {
		var ae *temporal.ApplicationError
		if errors.As(err, &ae) {
			var detail RunResult
			if ae.Details(&detail) == nil && detail.Error != "" {
				return nil, fmt.Errorf("child run %s %s: %s", id, detail.Status, detail.Error)
			}
		}
		return nil, fmt.Errorf("child run %s: %w", id, err)
	}
	r.event(ctx, Event{Kind: EventChildDone, Step: st.ID, Item: item, Detail: "run " + id + " " + string(res.Status)})
	return res.Outputs, nil
}

// holdWhilePaused keeps a step that is ready to change something from
// acting until the run is resumed; an abort meanwhile ends the item.
func (r *runner) holdWhilePaused(ctx workflow.Context, st *runbooks.Step, item int) error {
	ss := r.step(st.ID)
	ss.Status = StepHeld
	r.event(ctx, Event{Kind: EventHeld, Step: st.ID, Item: item,
		Detail: "ready to act, held: the run is paused; it acts after resume, once its preview still matches what was approved"})
	err := r.waitWhilePaused(ctx)
	if err != nil || r.abort != nil {
		return &deniedError{status: StepCancelled, reason: "cancelled while held by a pause: the run was aborted"}
	}
	if reason, skipped := r.skips[st.ID]; skipped {
		return &deniedError{status: StepSkipped, reason: "skipped while held by the pause: " + reason}
	}
	ss.Status = StepRunning
	return nil
}

func (r *runner) waitWhilePaused(ctx workflow.Context) error {
	if !r.state.Paused {
		return nil
	}
	return workflow.Await(ctx, func() bool { return !r.state.Paused || r.abort != nil })
}

// zeroValue is the JSON-shaped zero value of a runbook type.
func zeroValue(t spec.Type) any {
	switch t.Kind {
	case spec.KindString, spec.KindDuration:
		return ""
	case spec.KindInt:
		return 0
	case spec.KindBool:
		return false
	case spec.KindList:
		return []any{}
	case spec.KindMap, spec.KindObject:
		return map[string]any{}
	default:
		return nil
	}
}
