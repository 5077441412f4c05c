package intake

import (
	"context"
	"errors"
	"fmt"
	"strings"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"

	"github.com/cordon-ir/cordon/actions"
	"github.com/cordon-ir/cordon/runctl"
	"github.com/cordon-ir/cordon/workflows"
)

// activities are the intake worker's calls out: to Temporal (starting and
// looking at runs, signalling batches, asking breakers) and to the
// notifier. The intake's key lives here, never in workflow code.
type activities struct {
	c client.Client
	o Options
}

// StartRun starts a run: signed by the intake as its roster member, or
// with the responder's signed launch. A run that already exists under
// the id (a retried attempt) is the one this started.
func (a *activities) StartRun(ctx context.Context, req StartRunRequest) error {
	spec := req.Spec
	trigger := spec.Trigger
	trigger.Intake = a.o.IntakeID
	opts := runctl.StartOptions{Runbook: spec.Runbook, PlanHash: spec.PlanHash, Inputs: spec.Inputs, Trigger: &trigger,
		Meta: workflows.RunMeta{RunID: spec.RunID, Requester: a.o.IntakeID, Channel: workflows.ChannelIntake, Incident: spec.Incident,
			DryRun: spec.DryRun},
		Signer: a.o.Signer, Nonce: nonceOf(ctx, spec.RunID)}
	if l := req.Launch; l != nil {
		opts.Signer, opts.Signed, opts.BreakGlass = nil, &l.Start, l.BreakGlass
		opts.Meta.Requester, opts.Meta.Channel = l.Start.Actor, l.Start.Channel
	}
	_, err := runctl.Start(ctx, a.c, a.o.RunTaskQueue, opts)
	var exists *serviceerror.WorkflowExecutionAlreadyStarted
	if errors.As(err, &exists) {
		a.o.Logger.Info("intake: run already started", "run", spec.RunID)
		return nil
	}
	return err
}

// nonceOf is a start's nonce: derived from the attempt's activity, so the
// same attempt signs the same request.
func nonceOf(ctx context.Context, runID string) string {
	if !activity.IsActivity(ctx) {
		return ""
	}
	info := activity.GetInfo(ctx)
	return digest("start", runID, info.WorkflowExecution.RunID, info.ActivityID)[:32]
}

// RunStatus says how far a run is.
func (a *activities) RunStatus(ctx context.Context, runID string) (RunProgress, error) {
	p, found, err := runProgress(ctx, a.c, runID)
	if err == nil && !found {
		return RunProgress{Phase: ProgressEnded, Error: "the run's record is gone (past the namespace's retention)"}, nil
	}
	return p, err
}

// runProgress says how far run runID is, and whether it exists at all.
func runProgress(ctx context.Context, c client.Client, runID string) (RunProgress, bool, error) {
	d, err := c.DescribeWorkflowExecution(ctx, runID, "")
	var nf *serviceerror.NotFound
	if errors.As(err, &nf) {
		return RunProgress{}, false, nil
	}
	if err != nil {
		return RunProgress{}, false, fmt.Errorf("describe run %s: %w", runID, err)
	}
	if d.GetWorkflowExecutionInfo().GetStatus() == enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING {
		s, err := runctl.State(ctx, c, runID)
		if err != nil {
			// Its first task has not run (no containment worker yet).
			return RunProgress{Phase: ProgressPending}, true, nil
		}
		for _, e := range s.Timeline {
			if e.Kind == workflows.EventRunStarted {
				return RunProgress{Phase: ProgressRunning, Status: s.Status}, true, nil
			}
		}
		return RunProgress{Phase: ProgressPending}, true, nil
	}
	res, err := runctl.Wait(ctx, c, runID)
	if err != nil {
		// Terminated, timed out: no result of the run's own.
		return RunProgress{Phase: ProgressEnded, Status: workflows.RunFailed, Error: err.Error()}, true, nil
	}
	p := RunProgress{Phase: ProgressEnded, Status: res.Status, Error: res.Error}
	if reason, ok := strings.CutPrefix(res.Error, "refused: "); ok && res.Status == workflows.RunFailed {
		p.Refused = reason
	}
	return p, true, nil
}

// SendUpdate gives a running run a later delivery of its finding, signed
// by the intake. False: the run is no longer running.
func (a *activities) SendUpdate(ctx context.Context, req SendUpdateRequest) (bool, error) {
	err := runctl.SendFindingUpdate(ctx, a.c, req.RunID, req.Update, a.o.Signer, a.o.IntakeID)
	if errors.Is(err, runctl.ErrRunNotRunning) {
		return false, nil
	}
	return err == nil, err
}

// Notify tells the team, through the worker's notifier, or the log.
func (a *activities) Notify(ctx context.Context, n Notice) error {
	if a.o.Notifier == nil {
		a.o.Logger.Info("intake: "+n.Text, "run", n.RunID, "severity", n.Severity)
		return nil
	}
	if _, err := a.o.Notifier.Notify(ctx, actions.Message{Text: n.Text, Severity: n.Severity, RunID: n.RunID}); err != nil {
		return fmt.Errorf("notify: %w", err)
	}
	return nil
}

// JoinBatch gives a finding to its batch, starting the batch when there
// is none: after a batch completes, the next finding of its key starts
// the next one.
func (a *activities) JoinBatch(ctx context.Context, req JoinRequest) error {
	_, err := a.c.SignalWithStartWorkflow(ctx, req.BatchID, SignalJoin, req.Join, client.StartWorkflowOptions{
		ID: req.BatchID, TaskQueue: a.o.TaskQueue,
		WorkflowIDReusePolicy: enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE,
		StaticSummary:         fmt.Sprintf("batch of trigger %s (%s): %s", req.Input.Trigger, req.Input.Runbook, req.Input.Key),
	}, BatchWorkflowName, req.Input)
	if err != nil {
		return fmt.Errorf("join batch %s: %w", req.BatchID, err)
	}
	return nil
}

// Acquire asks the trigger's breaker for a launch (update-with-start).
func (a *activities) Acquire(ctx context.Context, req AcquireRequest) (AcquireResult, error) {
	id := BreakerWorkflowID(a.o.TaskQueue, req.Runbook, req.Trigger)
	start := a.c.NewWithStartWorkflowOperation(client.StartWorkflowOptions{
		ID: id, TaskQueue: a.o.TaskQueue,
		WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING,
		WorkflowIDReusePolicy:    enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE,
		StaticSummary:            fmt.Sprintf("circuit breaker of trigger %s (%s)", req.Trigger, req.Runbook),
	}, BreakerWorkflowName, BreakerInput{Runbook: req.Runbook, Trigger: req.Trigger})
	h, err := a.c.UpdateWithStartWorkflow(ctx, client.UpdateWithStartWorkflowOptions{
		StartWorkflowOperation: start,
		UpdateOptions: client.UpdateWorkflowOptions{UpdateName: UpdateAcquire, Args: []any{req},
			UpdateID: digest("acquire", req.ID), WaitForStage: client.WorkflowUpdateStageCompleted},
	})
	var res AcquireResult
	if err == nil {
		err = h.Get(ctx, &res)
	}
	if err != nil {
		return res, fmt.Errorf("ask breaker %s: %w", id, err)
	}
	return res, nil
}
