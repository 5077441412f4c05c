package bench

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.temporal.io/sdk/temporal"

	"github.com/cordon-ir/cordon/actions"
	"github.com/cordon-ir/cordon/actions/wire"
	"github.com/cordon-ir/cordon/runbooks"
)

// baseline contains a fresh fleet of n hosts the way a responder's script
// would: one program, one host after another, each step of the same
// compiled plans in order, with when and with evaluated as the workflow
// evaluates them, and the actions called directly in Execute mode. No
// Temporal, no gates (a script has none), no previews.
func (s *sandbox) baseline(ctx context.Context, round, n int) (Measurement, error) {
	var m Measurement
	f, err := s.seed(round, n, "baseline")
	if err != nil {
		return m, err
	}
	seq := &sequential{rt: s.rt, eval: runbooks.NewEvaluator(), plans: f.plan.Children}
	launch := time.Now()
	var hosts []time.Duration
	seq.hostDone = func() { hosts = append(hosts, time.Since(launch)) }
	m.Status = "succeeded"
	if _, err := seq.run(ctx, f.plan, f.inputs, f.runID, launch, true); err != nil {
		if ctx.Err() != nil {
			return m, ctx.Err()
		}
		// Like the engine's failed run: a result, shown in the table.
		m.Status = "failed"
		m.Failures = append(m.Failures, err.Error())
	}
	m.Contained = time.Since(launch)
	m.Failures = append(seq.failures, m.Failures...)
	s.measure(f, launch, &m)
	m.P50, m.P99 = percentile(hosts, 50), percentile(hosts, 99)
	return m, nil
}

// sequential is the engine-less interpreter of the baseline.
type sequential struct {
	rt       *actions.Runtime
	eval     *runbooks.Evaluator
	plans    map[string]*runbooks.Plan
	hostDone func()
	failures []string // items that failed within max_errors
}

// run executes plan's steps in order and returns its outputs. top is set
// for the fleet runbook, whose foreach items are the hosts.
func (q *sequential) run(ctx context.Context, plan *runbooks.Plan, inputs map[string]any, runID string, started time.Time, top bool) (map[string]any, error) {
	vals := runbooks.Values{Inputs: inputs, Steps: map[string]runbooks.StepValues{},
		Run: runbooks.RunInfo{ID: runID, Requester: requester, StartedAt: started, Incident: "BENCH-26084"}}
	for i := range plan.Steps {
		st := &plan.Steps[i]
		if st.When != nil {
			ok, err := q.eval.Bool(*st.When, &vals)
			if err != nil {
				return nil, fmt.Errorf("%s: when: %w", st.ID, err)
			}
			if !ok {
				vals.Steps[st.ID] = runbooks.StepValues{Status: "skipped"}
				continue
			}
		}
		if st.Foreach == nil {
			out, err := q.item(ctx, st, &vals, runID, 0, nil, false)
			if err != nil {
				if st.ContinueOnError {
					vals.Steps[st.ID] = runbooks.StepValues{Status: "failed"}
					continue
				}
				return nil, fmt.Errorf("%s: %w", st.ID, err)
			}
			vals.Steps[st.ID] = runbooks.StepValues{Status: "succeeded", Outputs: out}
			continue
		}
		raw, err := q.eval.Value(*st.Foreach, &vals)
		if err != nil {
			return nil, fmt.Errorf("%s: foreach: %w", st.ID, err)
		}
		items, ok := raw.([]any)
		if !ok {
			if ss, isStrings := raw.([]string); isStrings {
				for _, s := range ss {
					items = append(items, s)
				}
			}
		}
		lists := map[string][]any{}
		for _, fld := range st.OutputType.Fields {
			lists[fld.Name] = make([]any, len(items))
		}
		failed := 0
		for idx, it := range items {
			out, err := q.item(ctx, st, &vals, runID, idx+1, it, true)
			if err != nil {
				failed++
				q.failures = append(q.failures, fmt.Sprintf("%s item %d: %v", st.ID, idx+1, err))
				if failed > st.MaxErrors {
					return nil, fmt.Errorf("%s: item %d: %w", st.ID, idx+1, err)
				}
				continue
			}
			if top && st.Uses != "" {
				q.hostDone()
			}
			for k := range lists {
				lists[k][idx] = out[k]
			}
		}
		outputs := map[string]any{}
		for k, v := range lists {
			outputs[k] = v
		}
		vals.Steps[st.ID] = runbooks.StepValues{Status: "succeeded", Outputs: outputs}
	}
	out := map[string]any{}
	for _, o := range plan.Outputs {
		v, err := q.eval.Expr(o.Expr, &vals)
		if err != nil {
			return nil, fmt.Errorf("output %s: %w", o.Name, err)
		}
		out[o.Name] = v
	}
	return out, nil
}

// item runs one execution of a step, as workflows' runItem does: the
// parameters in name order, then the child runbook or the action, then
// the step's extra outputs.
func (q *sequential) item(ctx context.Context, st *runbooks.Step, parent *runbooks.Values, runID string, item int, value any, hasItem bool) (map[string]any, error) {
	vals := *parent
	vals.Item, vals.HasItem = value, hasItem
	// The workflow's own evaluation (runbooks.Evaluator), so the script
	// sends exactly the parameters and target the engine would.
	params, err := q.eval.Params(st, &vals)
	if err != nil {
		return nil, err
	}
	account, region, err := q.eval.Target(st.Target, &vals)
	if err != nil {
		return nil, err
	}
	target := wire.Target{Account: account, Region: region}

	var outputs map[string]any
	switch {
	case st.Uses != "":
		child := q.plans[st.Uses]
		if child == nil {
			return nil, fmt.Errorf("child runbook %s is not in the plan", st.Uses)
		}
		id := fmt.Sprintf("%s/%s/%d", runID, st.ID, item)
		out, err := q.run(ctx, child, params, id, time.Now(), false)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", id, err)
		}
		outputs = out
	default:
		call := wire.Call{Action: st.Action, Params: params, Target: target, Mode: wire.Execute,
			Run: wire.RunRef{RunID: runID, Incident: vals.Run.Incident, StepID: st.ID, Requester: requester,
				Item: item, StartedAt: vals.Run.StartedAt}}
		res, err := q.call(ctx, st, call)
		if err != nil {
			return nil, err
		}
		outputs = res.Outputs
	}
	return q.eval.StepOutputs(st, outputs, &vals)
}

// call runs an action, retrying what the step's retry policy would retry
// (throttling, server errors) with the same backoff, as a careful script
// would; without it a throttled call would end the baseline.
func (q *sequential) call(ctx context.Context, st *runbooks.Step, call wire.Call) (wire.Result, error) {
	backoff := time.Duration(st.Retry.Backoff)
	if backoff <= 0 {
		backoff = time.Second
	}
	for attempt := 1; ; attempt++ {
		res, err := q.rt.Run(ctx, call)
		if err == nil {
			return res, nil
		}
		var ae *temporal.ApplicationError
		if !errors.As(err, &ae) || ae.NonRetryable() || (st.Retry.MaxAttempts > 0 && attempt >= st.Retry.MaxAttempts) {
			return res, fmt.Errorf("%s (attempt %d): %w", call.Action, attempt, err)
		}
		select {
		case <-ctx.Done():
			return res, ctx.Err()
		case <-time.After(backoff):
		}
		backoff *= 2
		if maxB := time.Duration(st.Retry.MaxBackoff); maxB > 0 && backoff > maxB {
			backoff = maxB
		}
	}
}
