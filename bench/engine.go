package bench

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/cordon-ir/cordon/runctl"
	"github.com/cordon-ir/cordon/workflows"
)

// engine contains a fresh fleet of n hosts with the fleet runbook on the
// embedded server: the start signed by a responder, every gate approved
// by a lead's signed break-glass given with it.
func (s *sandbox) engine(ctx context.Context, round, n int) (Measurement, error) {
	var m Measurement
	f, err := s.seed(round, n, "engine")
	if err != nil {
		return m, err
	}
	// Signed before the clock starts, as a lead would ahead of the run.
	breakGlass, err := runctl.SignBreakGlass(f.runID, lead, "benchmark: every gate approved in advance by the lead, so no human is in the loop", s.leadKey)
	if err != nil {
		return m, fmt.Errorf("sign the break-glass: %w", err)
	}
	launch := time.Now()
	if _, err := runctl.Start(ctx, s.client, taskQueue, runctl.StartOptions{
		Plan: f.plan, Inputs: f.inputs, Signer: s.requesterKey, BreakGlass: []workflows.Request{breakGlass},
		Meta: workflows.RunMeta{RunID: f.runID, Requester: requester, Channel: "cli", Incident: "BENCH-26084"},
	}); err != nil {
		return m, fmt.Errorf("start the fleet run: %w", err)
	}
	// A run that ends failed (too many hosts failed, e.g. retries used
	// up under throttling) is a result, not a benchmark error: the table
	// shows it with its contained and failed hosts.
	_, _ = runctl.Wait(ctx, s.client, f.runID)
	end := time.Now()
	if err := ctx.Err(); err != nil {
		return m, err
	}
	m.Contained = end.Sub(launch)
	s.measure(f, launch, &m)

	// Per host: each child run's end, from its own state.
	st, err := runctl.State(ctx, s.client, f.runID)
	if err != nil {
		return m, fmt.Errorf("state of %s: %w", f.runID, err)
	}
	// A refused start, or a plan the worker did not vouch for (it would
	// pass the plan's own gate under break-glass), is not the path the
	// benchmark measures.
	if len(st.Refusals) > 0 {
		r := st.Refusals[0]
		return m, fmt.Errorf("the worker refused %s of run %s: %s", r.Action, f.runID, r.Reason)
	}
	if pv := st.Provenance; pv == nil || !pv.Vouched || !pv.Authenticated || st.BreakGlass == nil {
		return m, fmt.Errorf("run %s ran without a vouched plan, a verified requester and break-glass: provenance %+v, break-glass %+v", f.runID, pv, st.BreakGlass)
	}
	m.Status = string(st.Status)
	var hosts []time.Duration
	for _, step := range st.Steps {
		if step.ID != containStep {
			continue
		}
		for _, child := range step.Children {
			cs, err := runctl.State(ctx, s.client, child)
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

// engineInWorkerProcess is engine with a fresh `cordon worker` process of
// its own (Options.WorkerProcess), so the peak RSS it returns is this
// fleet size's alone: VmHWM is a process's lifetime peak, and a worker
// kept across sizes would carry the largest one forward. The process is
// stopped on every path, errors and cancellation included.
func (s *sandbox) engineInWorkerProcess(ctx context.Context, round, n int) (m Measurement, rss workerRSS, err error) {
	p, err := startWorkerProcess(s.o.WorkerProcess, s.workerConfig, s.workerEnv, s.o.Logger)
	if err != nil {
		return m, rss, err
	}
	defer func() {
		var serr error
		rss, serr = p.stop(workerStopTimeout)
		if err == nil && serr != nil {
			err = serr
		}
	}()
	// A worker process that dies mid-run would leave runctl.Wait waiting
	// for a workflow nobody runs: its exit cancels the measurement.
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	go func() {
		select {
		case <-p.done:
			cancel(p.exited())
		case <-ctx.Done():
		}
	}()
	if err := p.waitReady(ctx, s.client, taskQueue); err != nil {
		return m, rss, causeOf(ctx, err)
	}
	// What the worker holds before any work: the part of its peak that
	// does not grow with the fleet.
	if st, err := procStatus(p.cmd.Process.Pid); err == nil {
		s.o.Logger.Info("bench: worker process ready", "pid", p.cmd.Process.Pid, "peak_rss_mib_so_far", st["VmHWM"]>>20,
			"rss_anon_mib", st["RssAnon"]>>20, "rss_file_mib", st["RssFile"]>>20)
	}
	m, err = s.engine(ctx, round, n)
	return m, rss, causeOf(ctx, err)
}

// causeOf prefers why ctx was cancelled (the worker process exited) to the
// bare context.Canceled a cancelled call returns.
func causeOf(ctx context.Context, err error) error {
	if err == nil {
		return nil
	}
	if cause := context.Cause(ctx); cause != nil && !errors.Is(cause, context.Canceled) && !errors.Is(cause, context.DeadlineExceeded) {
		return cause
	}
	return err
}
