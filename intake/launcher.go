package intake

import (
	"context"
	"errors"
	"fmt"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"

	"github.com/cordon-ir/cordon/runctl"
	"github.com/cordon-ir/cordon/triggers"
)

// NewLauncher is the Launcher findings are submitted through: c reaches
// the Temporal namespace the intake's worker polls (o.TaskQueue).
func NewLauncher(c client.Client, o Options) Launcher {
	return &launcher{c: c, o: o.withDefaults()}
}

type launcher struct {
	c client.Client
	o Options
}

// Submit hands the finding to the finding workflow of each runbook it
// decided for, by signal-with-start on the workflow id derived from the
// finding key: whichever delivery comes first starts it, the others are
// signals to it, and Temporal keeps one workflow per id however many
// intake processes submit at once. Once the signal is accepted the
// finding is durable; Submit then waits up to Options.OutcomeWait for the
// workflow to say what it made of it.
func (l *launcher) Submit(ctx context.Context, s Submission) ([]Outcome, error) {
	if s.Finding.Key == "" {
		return nil, fmt.Errorf("submit finding %s (%s): it has no key, so it cannot be handled once", s.Finding.ID, s.Finding.Source)
	}
	if s.ReceivedAt.IsZero() {
		s.ReceivedAt = time.Now()
	}
	var out []Outcome
	for _, d := range s.Decisions {
		if d.Decision == triggers.Drop {
			continue
		}
		o, err := l.deliver(ctx, s, d)
		if err != nil {
			return out, err
		}
		out = append(out, o)
	}
	return out, nil
}

// deliver signals one decision's finding workflow, starting it if need be.
func (l *launcher) deliver(ctx context.Context, s Submission, d triggers.Decision) (Outcome, error) {
	id := FindingWorkflowID(d.Runbook, s.Finding.Key)
	delivery := Delivery{ID: runctl.NewNonce(), Finding: s.Finding, Decision: d, ReceivedAt: s.ReceivedAt.UTC(), Via: s.Via, DeliveryID: s.DeliveryID}
	base := Outcome{Runbook: d.Runbook, Trigger: d.Trigger, FindingKey: s.Finding.Key, WorkflowID: id, Delivery: delivery.ID}
	_, err := l.c.SignalWithStartWorkflow(ctx, id, SignalDelivery, delivery, client.StartWorkflowOptions{
		ID: id, TaskQueue: l.o.TaskQueue,
		// A finding workflow that completed has handled its finding: it
		// is not started again while Temporal keeps its record. One that
		// failed or was terminated may be.
		WorkflowIDReusePolicy: enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE_FAILED_ONLY,
		StaticSummary:         fmt.Sprintf("finding %s for runbook %s", s.Finding.Key, d.Runbook),
	}, FindingWorkflowName, FindingInput{Runbook: d.Runbook, Key: s.Finding.Key, Settings: l.o.settings()})
	var done *serviceerror.WorkflowExecutionAlreadyStarted
	if errors.As(err, &done) {
		base.Action = Duplicate
		base.Reason = "this finding was handled by finding workflow " + id + ", which has completed; Temporal keeps its record for the namespace's retention"
		return base, nil
	}
	if err != nil {
		return base, fmt.Errorf("submit finding %s to runbook %s: %w", s.Finding.Key, d.Runbook, err)
	}
	return l.outcome(ctx, base), nil
}

// outcome asks the finding workflow what it made of the delivery, for up
// to Options.OutcomeWait; without an answer the delivery is Accepted.
func (l *launcher) outcome(ctx context.Context, base Outcome) Outcome {
	ctx, cancel := context.WithTimeout(ctx, max(l.o.OutcomeWait, 0))
	defer cancel()
	wait := 20 * time.Millisecond
	for {
		if v, err := l.c.QueryWorkflow(ctx, base.WorkflowID, "", QueryOutcome, base.Delivery); err == nil {
			var o Outcome
			if err := v.Get(&o); err == nil && o.Action != "" {
				return o
			}
		}
		select {
		case <-ctx.Done():
			base.Action, base.Reason = Accepted, "the finding workflow has the delivery; it did not say yet what it made of it"
			return base
		case <-time.After(wait):
			wait = min(2*wait, 500*time.Millisecond)
		}
	}
}
