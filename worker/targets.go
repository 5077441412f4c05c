package worker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"

	"github.com/cordon-ir/cordon/workflows"
)

// TargetLocks claims and releases the lock workflows that keep one
// containment per target (workflows/targetlock.go). A nil Client holds no
// locks: Claim says so and the run notes it.
type TargetLocks struct {
	Client    client.Client
	TaskQueue string
	Logger    *slog.Logger
}

// Claim starts a lock workflow per target that no open run holds, and
// reports the ones another open run holds. A lock whose owner has ended
// is stale: it is released and claimed again.
func (l TargetLocks) Claim(ctx context.Context, req workflows.ClaimRequest) (workflows.ClaimResult, error) {
	if l.Client == nil {
		return workflows.ClaimResult{}, nil
	}
	res := workflows.ClaimResult{Checked: true}
	for _, target := range req.Targets {
		owner, claimed, err := l.claim(ctx, target, req.RunID)
		if err != nil {
			return res, fmt.Errorf("claim %s for run %s: %w", target, req.RunID, err)
		}
		switch {
		case claimed:
			res.Claimed = append(res.Claimed, target)
		case owner == req.RunID || slices.Contains(req.Lineage, owner):
			// Already this run's (a retried claim) or a fleet run's whose
			// host this run contains.
		default:
			res.Held = append(res.Held, workflows.TargetHeld{Target: target, RunID: owner})
		}
	}
	return res, nil
}

// claim tries to start target's lock for runID. It returns the owner of
// a lock it could not start, and whether it started one.
func (l TargetLocks) claim(ctx context.Context, target, runID string) (owner string, claimed bool, err error) {
	id := workflows.TargetLockID(target)
	for range 3 {
		_, err := l.Client.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
			ID: id, TaskQueue: l.TaskQueue,
			WorkflowExecutionErrorWhenAlreadyStarted: true,
			WorkflowIDConflictPolicy:                 enumspb.WORKFLOW_ID_CONFLICT_POLICY_FAIL,
			WorkflowIDReusePolicy:                    enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE,
			StaticSummary:                            "lock: " + target + " is being contained by " + runID,
		}, workflows.TargetLockWorkflowName, workflows.TargetLockInput{Target: target, Owner: runID})
		if err == nil {
			return runID, true, nil
		}
		var started *serviceerror.WorkflowExecutionAlreadyStarted
		if !errors.As(err, &started) {
			return "", false, fmt.Errorf("start the lock: %w", err)
		}
		v, err := l.Client.QueryWorkflow(ctx, id, "", workflows.TargetLockQueryOwner)
		if err != nil {
			var nf *serviceerror.NotFound
			if errors.As(err, &nf) {
				continue // released meanwhile: try again
			}
			return "", false, fmt.Errorf("ask the lock its owner: %w", err)
		}
		if err := v.Get(&owner); err != nil {
			return "", false, fmt.Errorf("read the lock's owner: %w", err)
		}
		if owner == runID || !l.ended(ctx, owner) {
			return owner, false, nil
		}
		// The owner ended without releasing (terminated, or its release
		// was lost): the lock is stale.
		l.Logger.Warn("target lock: its run ended without releasing it; releasing", "target", target, "owner", owner)
		if err := l.Client.SignalWorkflow(ctx, id, "", workflows.TargetLockSignalRelease, owner); err != nil && !isNotFound(err) {
			return "", false, fmt.Errorf("release the stale lock of run %s: %w", owner, err)
		}
		if err := l.Client.GetWorkflow(ctx, id, "").Get(ctx, nil); err != nil && !isNotFound(err) {
			return "", false, fmt.Errorf("wait for the stale lock to end: %w", err)
		}
	}
	return owner, false, fmt.Errorf("the lock of %s kept changing hands", target)
}

// ended says whether run runID is no longer running (or was never found).
func (l TargetLocks) ended(ctx context.Context, runID string) bool {
	d, err := l.Client.DescribeWorkflowExecution(ctx, runID, "")
	if err != nil {
		return isNotFound(err)
	}
	return d.GetWorkflowExecutionInfo().GetStatus() != enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING
}

// Release ends the locks runID holds; a lock gone already is fine.
func (l TargetLocks) Release(ctx context.Context, req workflows.ReleaseRequest) error {
	if l.Client == nil {
		return nil
	}
	var errs []error
	for _, target := range req.Targets {
		err := l.Client.SignalWorkflow(ctx, workflows.TargetLockID(target), "", workflows.TargetLockSignalRelease, req.RunID)
		if err != nil && !isNotFound(err) {
			errs = append(errs, fmt.Errorf("release %s: %w", target, err))
		}
	}
	return errors.Join(errs...)
}

func isNotFound(err error) bool {
	var nf *serviceerror.NotFound
	return errors.As(err, &nf)
}
