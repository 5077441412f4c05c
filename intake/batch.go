package intake

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"go.temporal.io/sdk/workflow"

	"github.com/cordon-ir/cordon/runbooks"
	"github.com/cordon-ir/cordon/workflows"
)

// BatchInput starts a batch workflow (from its first member's
// JoinRequest; the members after it only signal).
type BatchInput struct {
	Key     string `json:"key"`
	Runbook string `json:"runbook"`
	Trigger string `json:"trigger"`
	// Mode is the trigger's mode.
	Mode     string `json:"mode"`
	PlanHash string `json:"plan_hash,omitempty"`
	// Inputs are the run's inputs besides Into, the list each finding
	// adds its item to (the same for every member: they are in the key).
	Inputs             map[string]any `json:"inputs"`
	Into               string         `json:"into"`
	Window             time.Duration  `json:"window"`
	MaxTargets         int            `json:"max_targets"`
	MaxLaunchesPerHour int            `json:"max_launches_per_hour,omitempty"`
	Settings           Settings       `json:"settings"`
	// Carried are joins the previous batch of this key received after it
	// was decided: this batch starts with them.
	Carried []Join `json:"carried,omitempty"`
	// Previous are the previous batch's members: a join of theirs
	// delivered again (a retried activity) is not taken twice.
	Previous []string `json:"previous,omitempty"`
}

// Join is one finding joining a batch.
type Join struct {
	// Member is the finding workflow to tell which run acts on it.
	Member  string                     `json:"member"`
	Finding workflows.TriggeredFinding `json:"finding"`
	Item    any                        `json:"item"`
}

// BatchWorkflow gathers the findings of one aggregation key (a storm of
// findings about one fleet) for the trigger's window after the first,
// then starts one run with all their items in its list input (or
// proposes it: the trigger's mode, its circuit breaker, or more targets
// than max_targets, which a lead launches with break-glass). It tells
// each member which run acts on its finding. Findings that arrive once
// it has decided start the next batch of the same key (continue-as-new):
// none is lost, and none joins a run that has already started.
func BatchWorkflow(ctx workflow.Context, in BatchInput) error {
	b := &batchRun{in: in, seen: map[string]bool{}, items: map[string]bool{}}
	b.state.WorkflowID = workflow.GetInfo(ctx).WorkflowExecution.ID
	b.state.Key, b.state.Runbook, b.state.Trigger, b.state.Phase = in.Key, in.Runbook, in.Trigger, PhaseGathering
	b.state.Members, b.state.Targets = []string{}, []string{}
	b.prop = newProposer(&b.state.Record, in.Settings)
	for _, m := range in.Previous {
		b.seen[m] = true
	}
	if err := workflow.SetQueryHandler(ctx, QueryBatch, func() (BatchState, error) { return b.state, nil }); err != nil {
		return fmt.Errorf("register the state query: %w", err)
	}
	if err := b.prop.register(ctx); err != nil {
		return err
	}
	joins := workflow.GetSignalChannel(ctx, SignalJoin)
	for _, j := range in.Carried {
		b.add(j)
	}
	for len(b.joins) == 0 {
		var j Join
		joins.Receive(ctx, &j)
		b.add(j)
	}
	deadline := workflow.Now(ctx).Add(in.Window)
	for {
		left := deadline.Sub(workflow.Now(ctx))
		if left <= 0 {
			break
		}
		ok, err := workflow.AwaitWithOptions(ctx, workflow.AwaitOptions{Timeout: left,
			TimerOptions: workflow.TimerOptions{Summary: "batch window: gathering findings"}}, func() bool { return joins.Len() > 0 })
		if err != nil {
			return err
		}
		if !ok {
			break
		}
		b.take(joins)
	}
	b.take(joins)
	if err := b.decide(ctx, joins); err != nil {
		return err
	}
	// Drain: a join received now came after the decision; it starts the
	// next batch, with this one's members remembered.
	var late []Join
	for {
		var j Join
		if !joins.ReceiveAsync(&j) {
			break
		}
		if !b.seen[j.Member] {
			late = append(late, j)
		}
	}
	b.state.Late = len(late)
	if err := workflow.Await(ctx, func() bool { return workflow.AllHandlersFinished(ctx) }); err != nil {
		return err
	}
	if len(late) == 0 {
		return nil
	}
	next := in
	next.Carried, next.Previous = late, b.state.Members
	return workflow.NewContinueAsNewError(ctx, BatchWorkflowName, next)
}

// batchRun is a batch workflow's state.
type batchRun struct {
	in    BatchInput
	state BatchState
	prop  *proposer
	joins []Join
	seen  map[string]bool // members
	items map[string]bool // targets, as text
	// told are the members told the batch is proposed.
	told int
	// countFindings says the ceiling counts findings too (decide).
	countFindings bool
}

// add takes a join, once per member and item.
func (b *batchRun) add(j Join) {
	if b.seen[j.Member] {
		return
	}
	b.seen[j.Member] = true
	b.joins = append(b.joins, j)
	b.state.Members = append(b.state.Members, j.Member)
	if item := fmt.Sprint(j.Item); !b.items[item] {
		b.items[item] = true
		b.state.Targets = append(b.state.Targets, item)
	}
}

// take adds every join waiting.
func (b *batchRun) take(joins workflow.ReceiveChannel) {
	for {
		var j Join
		if !joins.ReceiveAsync(&j) {
			return
		}
		b.add(j)
	}
}

// spec is the batch's run as its members stand.
func (b *batchRun) spec(mode string) RunSpec {
	first := b.joins[0].Finding.Key
	inputs := maps.Clone(b.in.Inputs)
	if inputs == nil {
		inputs = map[string]any{}
	}
	items := make([]any, 0, len(b.state.Targets))
	for _, t := range b.state.Targets {
		items = append(items, t)
	}
	inputs[b.in.Into] = items
	findings := make([]workflows.TriggeredFinding, len(b.joins))
	for i, j := range b.joins {
		findings[i] = j.Finding
	}
	return RunSpec{RunID: batchRunID(b.in.Runbook, b.in.Key, first), Runbook: b.in.Runbook, PlanHash: b.in.PlanHash,
		Inputs: inputs, Incident: incidentOf(b.in.Key, first), DryRun: b.in.Mode == runbooks.ModeDryRun,
		Trigger: workflows.TriggerStart{Name: b.in.Trigger, Mode: mode, Findings: findings}}
}

// decide launches the batch's run, or proposes it, and tells the
// members.
func (b *batchRun) decide(ctx workflow.Context, joins workflow.ReceiveChannel) error {
	// The worker refuses a start carrying more findings than
	// runbooks.MaxBatchFindings (it fetches each from its source): batches
	// decided since count their findings as well as their targets, so such
	// a batch goes to a lead.
	b.countFindings = workflow.GetVersion(ctx, "batch-ceiling-counts-findings", workflow.DefaultVersion, 1) >= 1
	spec := b.spec(b.in.Mode)
	reason := "the trigger's mode is propose"
	switch {
	case b.overCeiling():
		reason = b.ceiling()
	case b.in.Mode != runbooks.ModePropose && b.in.MaxLaunchesPerHour > 0:
		res, err := acquireLaunch(ctx, b.in.Runbook, b.in.Trigger, spec.RunID, b.in.MaxLaunchesPerHour)
		if err != nil {
			return err
		}
		if res.Allowed {
			return b.launch(ctx, spec)
		}
		reason = "circuit breaker: " + res.Reason
	case b.in.Mode != runbooks.ModePropose:
		return b.launch(ctx, spec)
	}
	return b.propose(ctx, joins, reason)
}

// ceiling says why a batch above max_targets waits for a lead.
func (b *batchRun) ceiling() string {
	if len(b.state.Targets) <= b.in.MaxTargets {
		return fmt.Sprintf("%d findings (about %d targets), above the %d a batch of max_targets %d launches with: a lead launches it with break-glass",
			len(b.joins), len(b.state.Targets), runbooks.MaxBatchFindings(b.in.MaxTargets), b.in.MaxTargets)
	}
	return fmt.Sprintf("%d targets, above the trigger's max_targets %d: a lead launches it with break-glass", len(b.state.Targets), b.in.MaxTargets)
}

// launch starts the batch's run with the intake's signature.
func (b *batchRun) launch(ctx workflow.Context, spec RunSpec) error {
	b.state.RunID, b.state.Phase = spec.RunID, PhaseRunning
	if err := startRun(ctx, spec, nil); err != nil {
		return err
	}
	p, err := follow(ctx, spec.RunID, b.in.Settings.StatusEvery, false)
	if err != nil {
		return err
	}
	news := BatchNews{Phase: PhaseRunning, RunID: spec.RunID, Refused: p.Refused}
	if p.Refused != "" {
		b.state.Phase = PhaseRefused
		b.state.note(ctx, "run %s refused: %s", spec.RunID, p.Refused)
		notify(ctx, Notice{RunID: spec.RunID, Severity: "warning", Text: fmt.Sprintf("Run %s for %s (%d targets) was refused: %s",
			spec.RunID, describeFindings(spec.Trigger.Findings), len(b.state.Targets), p.Refused)})
		news.Phase = PhaseRefused
	}
	b.tell(ctx, b.state.Members, news)
	return nil
}

// propose opens the batch's proposal; findings joining while it waits
// join it. A launch then starts the run as the responder signed it.
func (b *batchRun) propose(ctx workflow.Context, joins workflow.ReceiveChannel, reason string) error {
	b.prop.open(ctx, b.spec(runbooks.ModePropose), reason, slices.Clone(b.state.Targets), b.overCeiling())
	b.tellProposed(ctx)
	grow := &wake{
		ready: func() bool { return joins.Len() > 0 },
		handle: func(ctx workflow.Context) {
			b.take(joins)
			b.refresh()
			b.tellProposed(ctx)
		},
	}
	runID, p, launched, err := b.prop.await(ctx, grow)
	if err != nil {
		return err
	}
	if !launched {
		b.tell(ctx, b.state.Members, BatchNews{Phase: PhaseExpired})
		return nil
	}
	b.state.RunID, b.state.Phase = runID, PhaseRunning
	if p.Phase == ProgressEnded {
		b.state.Phase = PhaseEnded
	}
	b.tell(ctx, b.state.Members, BatchNews{Phase: PhaseRunning, RunID: runID})
	return nil
}

// overCeiling says the batch has more targets than it may launch by
// itself.
func (b *batchRun) overCeiling() bool {
	return b.in.MaxTargets > 0 && (len(b.state.Targets) > b.in.MaxTargets || b.countFindings && len(b.joins) > runbooks.MaxBatchFindings(b.in.MaxTargets))
}

// refresh makes the proposal show the batch as it stands now (under the
// run id of its current attempt).
func (b *batchRun) refresh() {
	prop := b.state.Proposal
	run := b.spec(runbooks.ModePropose)
	run.RunID = prop.Run.RunID
	prop.Run, prop.Targets = run, slices.Clone(b.state.Targets)
	if b.overCeiling() {
		prop.NeedsBreakGlass, prop.Reason = true, b.ceiling()
	}
}

// tellProposed tells the members not told yet that the batch is a
// proposal.
func (b *batchRun) tellProposed(ctx workflow.Context) {
	b.tell(ctx, b.state.Members[b.told:], BatchNews{Phase: PhaseProposed})
	b.told = len(b.state.Members)
}

// tell signals news to members, all at once; a member gone (terminated)
// is noted, not an error.
func (b *batchRun) tell(ctx workflow.Context, members []string, news BatchNews) {
	futures := make([]workflow.Future, len(members))
	for i, m := range members {
		futures[i] = workflow.SignalExternalWorkflow(ctx, m, "", SignalBatchNews, news)
	}
	var gone []string
	for i, f := range futures {
		if err := f.Get(ctx, nil); err != nil {
			gone = append(gone, members[i])
		}
	}
	if len(gone) > 0 {
		b.state.note(ctx, "not told (%s): %s", news.Phase, strings.Join(gone, ", "))
	}
}
