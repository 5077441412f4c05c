package bench

import (
	"context"
	"fmt"
	"time"

	"github.com/cordon-ir/cordon/worker"
	"github.com/cordon-ir/cordon/workflows"
)

// engine contains a fresh fleet of n hosts with the fleet runbook on the
// embedded server, gates pre-approved by the lead.
func (s *sandbox) engine(ctx context.Context, round, n int) (Measurement, error) {
	var m Measurement
	f, err := s.seed(n, "engine")
	if err != nil {
		return m, err
	}
	runID := fmt.Sprintf("bench-%d-engine-%d", round, n)
	approval := &workflows.Approval{Actor: lead, Channel: "cli", BreakGlass: true,
		Reason: "benchmark: gates pre-approved by the lead", Time: time.Now().UTC()}
	launch := time.Now()
	if _, err := worker.StartRun(ctx, s.client, taskQueue, f.plan, f.inputs,
		workflows.RunMeta{RunID: runID, Requester: requester, Channel: "cli", Incident: "BENCH-26084", PreApproved: approval}); err != nil {
		return m, fmt.Errorf("start the fleet run: %w", err)
	}
	// A run that ends failed (too many hosts failed, e.g. retries used
	// up under throttling) is a result, not a benchmark error: the table
	// shows it with its contained and failed hosts.
	_, _ = worker.Wait(ctx, s.client, runID)
	end := time.Now()
	if err := ctx.Err(); err != nil {
		return m, err
	}
	m.Contained = end.Sub(launch)
	s.measure(f, launch, &m)

	// Per host: each child run's end, from its own state.
	st, err := worker.State(ctx, s.client, runID)
	if err != nil {
		return m, fmt.Errorf("state of %s: %w", runID, err)
	}
	m.Status = st.Status
	var hosts []time.Duration
	for _, step := range st.Steps {
		if step.ID != containStep {
			continue
		}
		for _, child := range step.Children {
			cs, err := worker.State(ctx, s.client, child)
			if err != nil {
				return m, fmt.Errorf("state of %s: %w", child, err)
			}
			if cs.Status == workflows.RunSucceeded {
				hosts = append(hosts, cs.EndedAt.Sub(launch))
				continue
			}
			for _, cst := range cs.Steps {
				if cst.Status == workflows.StepFailed {
					m.Failures = append(m.Failures, fmt.Sprintf("%s: %s: %s", child, cst.ID, cst.Error))
				}
			}
		}
	}
	m.P50, m.P99 = percentile(hosts, 50), percentile(hosts, 99)
	return m, nil
}
