package intake

import (
	"fmt"
	"slices"
	"time"

	"go.temporal.io/sdk/workflow"
)

// The circuit breaker of a trigger counts the runs it started by itself
// in the last hour, for every intake process at once: it is one workflow
// per runbook and trigger (BreakerWorkflowID, for the intakes of a task
// queue), asked through update-with-start, so Temporal serialises the
// asks and no two processes can both take the last launch. Over the limit the finding (or batch) is
// proposed instead. The breaker ends once an hour has passed without a
// launch; the next ask starts a fresh one.

// AcquireRequest asks for one launch of a trigger.
type AcquireRequest struct {
	Runbook string `json:"runbook"`
	Trigger string `json:"trigger"`
	// ID names what launches (its run id): asked again, it is the same
	// launch, counted once.
	ID    string `json:"id"`
	Limit int    `json:"limit"`
}

// AcquireResult is the breaker's answer.
type AcquireResult struct {
	Allowed bool `json:"allowed"`
	// Count is the launches in the last hour, this one included when
	// allowed.
	Count  int    `json:"count"`
	Limit  int    `json:"limit"`
	Reason string `json:"reason,omitempty"`
}

// BreakerInput starts (or continues) a breaker.
type BreakerInput struct {
	Runbook  string          `json:"runbook"`
	Trigger  string          `json:"trigger"`
	Launches []BreakerLaunch `json:"launches,omitempty"`
}

// BreakerLaunch is one launch the breaker allowed.
type BreakerLaunch struct {
	ID   string    `json:"id"`
	Time time.Time `json:"time"`
}

// breakerWindow is how far back a breaker counts.
const breakerWindow = time.Hour

// breakerAsksPerRun bounds a breaker's history: after this many asks it
// continues as new with the launches it counts.
const breakerAsksPerRun = 500

// BreakerWorkflow is a trigger's circuit breaker.
func BreakerWorkflow(ctx workflow.Context, in BreakerInput) error {
	launches := slices.Clone(in.Launches)
	asks := 0
	prune := func(now time.Time) {
		launches = slices.DeleteFunc(launches, func(l BreakerLaunch) bool { return now.Sub(l.Time) >= breakerWindow })
	}
	acquire := func(ctx workflow.Context, req AcquireRequest) (AcquireResult, error) {
		asks++
		now := workflow.Now(ctx)
		prune(now)
		res := AcquireResult{Limit: req.Limit, Count: len(launches)}
		if slices.ContainsFunc(launches, func(l BreakerLaunch) bool { return l.ID == req.ID }) {
			res.Allowed = true
			return res, nil
		}
		if len(launches) >= req.Limit {
			res.Reason = fmt.Sprintf("trigger %s of runbook %s started %d runs by itself in the last hour (max_launches_per_hour %d)",
				in.Trigger, in.Runbook, len(launches), req.Limit)
			return res, nil
		}
		launches = append(launches, BreakerLaunch{ID: req.ID, Time: now})
		res.Allowed, res.Count = true, len(launches)
		return res, nil
	}
	if err := workflow.SetUpdateHandlerWithOptions(ctx, UpdateAcquire, acquire, workflow.UpdateHandlerOptions{
		Validator: func(ctx workflow.Context, req AcquireRequest) error {
			if req.Limit < 1 || req.ID == "" {
				return fmt.Errorf("an ask names what launches and a limit of at least 1 (got %q, %d)", req.ID, req.Limit)
			}
			return nil
		},
	}); err != nil {
		return fmt.Errorf("register the acquire update: %w", err)
	}
	for {
		seen := asks
		prune(workflow.Now(ctx))
		wait := breakerWindow
		if len(launches) > 0 {
			// Until the oldest launch leaves the window.
			wait = launches[0].Time.Add(breakerWindow).Sub(workflow.Now(ctx))
		}
		asked, err := workflow.AwaitWithOptions(ctx, workflow.AwaitOptions{Timeout: max(wait, time.Millisecond),
			TimerOptions: workflow.TimerOptions{Summary: "circuit breaker: counting launches"}}, func() bool { return asks != seen })
		if err != nil {
			return err
		}
		prune(workflow.Now(ctx))
		if !asked && len(launches) == 0 {
			return workflow.Await(ctx, func() bool { return workflow.AllHandlersFinished(ctx) })
		}
		if asks >= breakerAsksPerRun || workflow.GetInfo(ctx).GetContinueAsNewSuggested() {
			if err := workflow.Await(ctx, func() bool { return workflow.AllHandlersFinished(ctx) }); err != nil {
				return err
			}
			return workflow.NewContinueAsNewError(ctx, BreakerWorkflowName, BreakerInput{Runbook: in.Runbook, Trigger: in.Trigger, Launches: launches})
		}
	}
}
