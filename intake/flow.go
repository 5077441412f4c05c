package intake

import (
	"fmt"
	"strings"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/cordon-ir/cordon/workflows"
)

// What the finding and batch workflows share: their activities, how they
// follow a run, and how they notify. Workflow code only: every call out
// is an activity, so keys and clients never enter it.

// StartRunRequest asks the intake's worker to start a run: signed by the
// intake, or with a responder's launch (Launch).
type StartRunRequest struct {
	Spec   RunSpec        `json:"spec"`
	Launch *LaunchRequest `json:"launch,omitempty"`
}

// Run progress phases.
const (
	ProgressPending = "pending"
	ProgressRunning = "running"
	ProgressEnded   = "ended"
)

// RunProgress is how far a run is, as RunStatus found it.
type RunProgress struct {
	// Phase is ProgressPending (its start is not verified yet),
	// ProgressRunning or ProgressEnded.
	Phase string `json:"phase"`
	// Status and Error are the run's, as its state or result says.
	Status workflows.RunStatus `json:"status,omitempty"`
	Error  string              `json:"error,omitempty"`
	// Refused is the containment workflow's refusal of the start: the run
	// ended before its first step.
	Refused string `json:"refused,omitempty"`
}

// SendUpdateRequest carries a finding update to its run.
type SendUpdateRequest struct {
	RunID  string                  `json:"run_id"`
	Update workflows.FindingUpdate `json:"update"`
}

// Notice is a message for the team (a proposal, a refusal, a finding
// still active after its containment).
type Notice struct {
	Text     string `json:"text"`
	Severity string `json:"severity,omitempty"`
	RunID    string `json:"run_id,omitempty"`
}

// withActivity gives ctx the options of the intake's short activities:
// each is a few client calls, retried with backoff until it succeeds (a
// Temporal frontend that is briefly away must not lose a finding).
func withActivity(ctx workflow.Context, summary string) workflow.Context {
	return workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: time.Minute,
		RetryPolicy:         &temporal.RetryPolicy{InitialInterval: time.Second, MaximumInterval: time.Minute},
		Summary:             summary,
	})
}

// startRun starts spec's run (the intake's signature, or launch's).
func startRun(ctx workflow.Context, spec RunSpec, launch *LaunchRequest) error {
	req := StartRunRequest{Spec: spec, Launch: launch}
	if err := workflow.ExecuteActivity(withActivity(ctx, "start run "+spec.RunID), ActivityStartRun, req).Get(ctx, nil); err != nil {
		return fmt.Errorf("start run %s: %w", spec.RunID, err)
	}
	return nil
}

// follow looks at run runID until it is past its start (untilEnd false)
// or has ended. It looks again after a second, then twice as long each
// time up to every; a run still going after an hour (paused, or waiting
// at a gate for days) is looked at less and less often, so that following
// it keeps the workflow's history short. Nothing waits on the moment the
// run ends: an update sent to an ended run is noticed there.
func follow(ctx workflow.Context, runID string, every time.Duration, untilEnd bool) (RunProgress, error) {
	wait := time.Second
	began := workflow.Now(ctx)
	for {
		var p RunProgress
		if err := workflow.ExecuteActivity(withActivity(ctx, "look at run "+runID), ActivityRunStatus, runID).Get(ctx, &p); err != nil {
			return p, fmt.Errorf("look at run %s: %w", runID, err)
		}
		if p.Phase == ProgressEnded || (!untilEnd && p.Phase == ProgressRunning) {
			return p, nil
		}
		if err := workflow.Sleep(ctx, wait); err != nil {
			return p, err
		}
		wait = min(2*wait, max(every, time.Second))
		if since := workflow.Now(ctx).Sub(began); since > time.Hour {
			wait = min(max(wait, since/10), time.Hour)
		}
	}
}

// notify tells the team; a notifier that fails is logged, never a reason
// to stop handling the finding.
func notify(ctx workflow.Context, n Notice) {
	actx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 30 * time.Second,
		RetryPolicy:         &temporal.RetryPolicy{MaximumAttempts: 5},
		Summary:             "notify",
	})
	if err := workflow.ExecuteActivity(actx, ActivityNotify, n).Get(ctx, nil); err != nil {
		workflow.GetLogger(ctx).Warn("intake notice not delivered", "text", n.Text, "error", err)
	}
}

// acquireLaunch asks the trigger's breaker for one launch; id makes a
// repeated ask count once.
func acquireLaunch(ctx workflow.Context, runbook, trigger, id string, limit int) (AcquireResult, error) {
	var res AcquireResult
	req := AcquireRequest{Runbook: runbook, Trigger: trigger, ID: id, Limit: limit}
	if err := workflow.ExecuteActivity(withActivity(ctx, "circuit breaker of "+trigger), ActivityAcquire, req).Get(ctx, &res); err != nil {
		return res, fmt.Errorf("ask the circuit breaker of trigger %s: %w", trigger, err)
	}
	return res, nil
}

// maxNotes bounds a record's notes: a storm of refusals must not grow a
// workflow's state without end.
const maxNotes = 50

// note records something that happened.
func (r *Record) note(ctx workflow.Context, format string, args ...any) {
	r.Notes = append(r.Notes, Note{Time: workflow.Now(ctx), Text: fmt.Sprintf(format, args...)})
	if len(r.Notes) > maxNotes {
		r.Notes = r.Notes[len(r.Notes)-maxNotes:]
	}
}

// describeFinding is a finding in one line for people.
func describeFinding(f workflows.TriggeredFinding) string {
	what := f.Type
	if f.Title != "" {
		what = f.Title
	}
	where := strings.Trim(f.Account+"/"+f.Region, "/")
	if f.TargetKey != "" {
		where = f.TargetKey
	}
	sev := ""
	if f.Severity != "" {
		sev = " (" + f.Severity + ")"
	}
	return fmt.Sprintf("%s%s on %s", what, sev, where)
}
