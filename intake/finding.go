package intake

import (
	"fmt"
	"time"

	"go.temporal.io/sdk/workflow"

	"github.com/cordon-ir/cordon/runbooks"
	"github.com/cordon-ir/cordon/triggers"
	"github.com/cordon-ir/cordon/workflows"
)

// FindingWorkflow handles one finding for one runbook, from its first
// delivery until it has been remembered long enough after its run.
//
// Its id is derived from the finding key and the runbook
// (FindingWorkflowID), and every delivery reaches it by signal-with-start:
// redeliveries, the delegated administrator's copy, the Security Hub copy
// and a second intake process all land here. The first delivery starts
// the work (a run, a proposal, or a place in a batch); the others are
// duplicates, or updates (a higher count, a later last-seen) that go to
// the run, or become a notification once the run has ended. It never
// starts a second run.
func FindingWorkflow(ctx workflow.Context, in FindingInput) error {
	f := &findingRun{in: in}
	f.state.WorkflowID = workflow.GetInfo(ctx).WorkflowExecution.ID
	f.state.Runbook, f.state.Key = in.Runbook, in.Key
	f.prop = newProposer(&f.state.Record, in.Settings)
	if err := workflow.SetQueryHandler(ctx, QueryFinding, func() (FindingState, error) { return f.state, nil }); err != nil {
		return fmt.Errorf("register the state query: %w", err)
	}
	if err := workflow.SetQueryHandler(ctx, QueryOutcome, f.outcome); err != nil {
		return fmt.Errorf("register the outcome query: %w", err)
	}
	if err := f.prop.register(ctx); err != nil {
		return err
	}
	deliveries := workflow.GetSignalChannel(ctx, SignalDelivery)
	var first Delivery
	deliveries.Receive(ctx, &first) // the signal that came with the start
	f.begin(first)
	workflow.Go(ctx, func(ctx workflow.Context) {
		for {
			var d Delivery
			deliveries.Receive(ctx, &d)
			f.busy = true
			f.later(ctx, d)
			f.busy = false
		}
	})
	if err := f.act(ctx, first); err != nil {
		return err
	}
	if f.state.Phase == PhaseRunning {
		p, err := follow(ctx, f.state.RunID, in.Settings.StatusEvery, true)
		if err != nil {
			return err
		}
		f.ended(p)
	}
	// Remembered: a redelivery is a duplicate, an update a notification.
	if err := workflow.Sleep(ctx, in.Settings.Remember); err != nil {
		return err
	}
	// Every delivery received is handled before the workflow closes; one
	// arriving while it closes makes Temporal run this code again with it.
	return workflow.Await(ctx, func() bool {
		return !f.busy && deliveries.Len() == 0 && workflow.AllHandlersFinished(ctx)
	})
}

// findingRun is a finding workflow's state.
type findingRun struct {
	in    FindingInput
	state FindingState
	prop  *proposer
	// pending is an update received before the run started.
	pending *workflows.FindingUpdate
	busy    bool
}

// outcome answers what the workflow made of delivery id (zero: not yet).
func (f *findingRun) outcome(id string) (Outcome, error) {
	for _, o := range f.state.Outcomes {
		if o.Delivery == id {
			return o, nil
		}
	}
	return Outcome{}, nil
}

// maxOutcomes bounds the outcomes kept for Submit to read: a delivery's
// outcome is read within seconds of its signal.
const maxOutcomes = 50

func (f *findingRun) record(o Outcome) {
	o.Runbook, o.FindingKey, o.WorkflowID = f.in.Runbook, f.in.Key, f.state.WorkflowID
	if o.RunID == "" {
		o.RunID = f.state.RunID
	}
	f.state.Outcomes = append(f.state.Outcomes, o)
	if len(f.state.Outcomes) > maxOutcomes {
		f.state.Outcomes = f.state.Outcomes[len(f.state.Outcomes)-maxOutcomes:]
	}
}

// begin takes the first delivery as the finding.
func (f *findingRun) begin(d Delivery) {
	f.state.Deliveries = 1
	f.state.Trigger, f.state.Mode = d.Decision.Trigger, d.Decision.Decision
	f.state.Finding = triggered(d)
	f.state.Count, f.state.LastSeen = d.Finding.Count, d.Finding.LastSeen
	f.state.Phase = PhaseStarting
}

// act does what the first delivery decided: join a batch, propose, or
// start the run (unless the trigger's breaker has tripped).
func (f *findingRun) act(ctx workflow.Context, d Delivery) error {
	dec := d.Decision
	if dec.Batch != nil {
		return f.joinBatch(ctx, d)
	}
	spec := RunSpec{RunID: findingRunID(f.in.Runbook, f.in.Key), Runbook: f.in.Runbook, PlanHash: dec.PlanHash,
		Inputs: dec.Inputs, Incident: incidentOf(f.in.Key), DryRun: dec.Decision == runbooks.ModeDryRun,
		Trigger: workflows.TriggerStart{Name: dec.Trigger, Mode: dec.Decision, Findings: []workflows.TriggeredFinding{f.state.Finding}}}
	reason := "the trigger's mode is propose"
	switch dec.Decision {
	case runbooks.ModeLaunch, runbooks.ModeDryRun, runbooks.ModePropose:
	default:
		// The launcher submits no drop; anything else starts nothing.
		f.state.Phase = PhaseExpired
		f.state.note(ctx, "decision %q starts nothing", dec.Decision)
		f.record(Outcome{Action: Duplicate, Trigger: dec.Trigger, Delivery: d.ID, Reason: fmt.Sprintf("decision %q starts nothing", dec.Decision)})
		return nil
	}
	if dec.Decision != runbooks.ModePropose {
		allowed, why, err := f.breaker(ctx, dec, spec.RunID)
		if err != nil {
			return err
		}
		if allowed {
			return f.launch(ctx, d, spec)
		}
		reason = why
	}
	return f.propose(ctx, d, spec, reason)
}

// breaker asks the trigger's circuit breaker for a launch.
func (f *findingRun) breaker(ctx workflow.Context, dec triggers.Decision, id string) (bool, string, error) {
	if dec.MaxLaunchesPerHour <= 0 {
		return true, "", nil
	}
	res, err := acquireLaunch(ctx, f.in.Runbook, dec.Trigger, id, dec.MaxLaunchesPerHour)
	if err != nil || res.Allowed {
		return res.Allowed, "", err
	}
	f.state.note(ctx, "circuit breaker: %s", res.Reason)
	return false, "circuit breaker: " + res.Reason, nil
}

// launch starts the run with the intake's signature.
func (f *findingRun) launch(ctx workflow.Context, d Delivery, spec RunSpec) error {
	f.state.RunID = spec.RunID
	f.record(Outcome{Action: Started, Trigger: d.Decision.Trigger, Delivery: d.ID,
		Reason: fmt.Sprintf("trigger %s (%s) starts run %s", d.Decision.Trigger, d.Decision.Decision, spec.RunID)})
	if err := startRun(ctx, spec, nil); err != nil {
		return err
	}
	p, err := follow(ctx, spec.RunID, f.in.Settings.StatusEvery, false)
	if err != nil {
		return err
	}
	f.runKnown(ctx, spec.RunID, p, true)
	return nil
}

// runKnown records the run acting on the finding and gives it what
// arrived meanwhile. A refusal is told to the team when tell (a batch
// tells it once for all its findings).
func (f *findingRun) runKnown(ctx workflow.Context, runID string, p RunProgress, tell bool) {
	f.state.RunID, f.state.Phase = runID, PhaseRunning
	if p.Refused != "" {
		f.state.Phase, f.state.RunError = PhaseRefused, p.Refused
		f.state.note(ctx, "run %s refused: %s", runID, p.Refused)
		if tell {
			notify(ctx, Notice{RunID: runID, Severity: "warning", Text: fmt.Sprintf("Run %s for %s was refused: %s",
				runID, describeFinding(f.state.Finding), p.Refused)})
		}
		return
	}
	f.ended(p)
	if u := f.pending; u != nil {
		f.pending = nil
		f.forward(ctx, *u)
	}
}

// ended records the end of the finding's run, once it has ended.
func (f *findingRun) ended(p RunProgress) {
	if f.state.Phase != PhaseRunning || p.Phase != ProgressEnded {
		return
	}
	f.state.Phase, f.state.RunStatus, f.state.RunError = PhaseEnded, string(p.Status), p.Error
}

// propose opens a proposal of spec and waits for a launch.
func (f *findingRun) propose(ctx workflow.Context, d Delivery, spec RunSpec, reason string) error {
	f.prop.open(ctx, spec, reason, targetsOf(spec.Trigger.Findings), false)
	f.record(Outcome{Action: Proposed, Trigger: d.Decision.Trigger, Delivery: d.ID, Reason: reason})
	runID, p, launched, err := f.prop.await(ctx, nil)
	if err != nil {
		return err
	}
	if launched {
		f.runKnown(ctx, runID, p, true)
	}
	return nil
}

// targetsOf lists the findings' targets (their keys when they name none).
func targetsOf(fs []workflows.TriggeredFinding) []string {
	out := make([]string, 0, len(fs))
	for _, f := range fs {
		t := f.TargetKey
		if t == "" {
			t = f.Key
		}
		out = append(out, t)
	}
	return out
}

// triggered is a delivery's finding as a triggered run records it.
func triggered(d Delivery) workflows.TriggeredFinding {
	return Triggered(d.Finding, d.ReceivedAt)
}

// Triggered is finding f, received at received, as a run started from it
// records it (and the intake signs it); its creation is when the finding
// was first seen.
func Triggered(f triggers.Finding, received time.Time) workflows.TriggeredFinding {
	received = received.UTC()
	created := received
	if t, err := time.Parse(time.RFC3339, f.FirstSeen); err == nil {
		created = t.UTC()
	}
	return workflows.TriggeredFinding{Key: f.Key, TargetKey: f.TargetKey, Source: f.Source, ID: f.ID, Type: f.Type,
		Account: f.Account, Region: f.Region, Severity: f.Severity, Resource: f.Resource, Title: f.Title, Count: f.Count,
		Created: created, Received: received, ProductARN: f.ProductARN}
}
