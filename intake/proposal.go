package intake

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"go.temporal.io/sdk/workflow"

	"github.com/cordon-ir/cordon/runbooks"
	"github.com/cordon-ir/cordon/workflows"
)

// memoProposal is the memo key a workflow with an open proposal carries,
// so cordon proposals lists them from visibility without asking every
// finding workflow.
const memoProposal = "cordon_proposal"

// proposer holds a proposal (its record's) open for a responder's launch.
// The intake cannot tell a responder from anyone else: it checks that a
// launch is signed for exactly the run proposed (a clear answer to a
// stale one), and the containment workflow, which holds the roster,
// verifies who signed it. A refused launch reopens the proposal under a
// new run id.
type proposer struct {
	rec    *Record
	launch *LaunchRequest
	base   string // the run id of the first attempt
	// every is the longest wait between looks at a launched run.
	every time.Duration
	// timeout is how long a proposal waits for a launch.
	timeout time.Duration
	// batch, for a finding gathered into a batch, is where it is proposed.
	batch string
}

func newProposer(rec *Record, s Settings) *proposer {
	return &proposer{rec: rec, every: s.StatusEvery, timeout: s.ProposalTimeout}
}

// register installs the launch update; it refuses while nothing is
// proposed.
func (p *proposer) register(ctx workflow.Context) error {
	err := workflow.SetUpdateHandlerWithOptions(ctx, UpdateLaunch,
		func(ctx workflow.Context, req LaunchRequest) (string, error) {
			p.launch = &req
			return "launching run " + req.Start.RunID, nil
		},
		workflow.UpdateHandlerOptions{Validator: func(ctx workflow.Context, req LaunchRequest) error { return p.check(req) }})
	if err != nil {
		return fmt.Errorf("register the launch update: %w", err)
	}
	return nil
}

// check says why a launch does not fit the proposal as it stands.
func (p *proposer) check(req LaunchRequest) error {
	prop := p.rec.Proposal
	if prop == nil && p.batch != "" {
		return fmt.Errorf("this finding is gathered with others in batch %s: launch that one (cordon launch %s)", p.batch, p.batch)
	}
	if prop == nil {
		return errors.New("nothing is proposed here: the finding was launched by its trigger, or its proposal was launched or expired")
	}
	if p.launch != nil {
		return fmt.Errorf("%s's launch (run %s) is under way", p.launch.Start.Actor, p.launch.Start.RunID)
	}
	s, run := req.Start, prop.Run
	again := "; look at it again (cordon proposals) and launch what it shows now"
	switch {
	case s.Action != workflows.ActStart:
		return fmt.Errorf("a launch is a signed start, not %q", s.Action)
	case s.Signature == "":
		return errors.New("the launch is not signed: cordon launch signs it with your SSH key")
	case s.RunID != run.RunID:
		return fmt.Errorf("the launch was signed for run %s; the proposal now starts run %s%s", s.RunID, run.RunID, again)
	case s.Runbook != run.Runbook || s.PlanHash != run.PlanHash || s.Trigger != run.Trigger.Name:
		return fmt.Errorf("the launch was signed for runbook %s (plan %s, trigger %s), not what is proposed%s", s.Runbook, short(s.PlanHash), s.Trigger, again)
	case s.FindingsHash != run.Trigger.FindingsHash() || s.InputsHash != workflows.InputsHash(run.Inputs):
		return fmt.Errorf("the proposal changed since it was signed (now %d finding(s), targets %s)%s", len(run.Trigger.Findings), strings.Join(prop.Targets, ", "), again)
	case s.Incident != run.Incident || s.DryRun != run.DryRun:
		return fmt.Errorf("the launch was signed for incident %q, dry run %t; the proposal is incident %q, dry run %t", s.Incident, s.DryRun, run.Incident, run.DryRun)
	}
	if prop.NeedsBreakGlass {
		ok := false
		for _, bg := range req.BreakGlass {
			ok = ok || (bg.Action == workflows.ActApproveAll && bg.RunID == run.RunID && bg.Signature != "")
		}
		if !ok {
			return fmt.Errorf("%s: a lead launches it with a signed break-glass (cordon launch %s --break-glass --reason R)", prop.Reason, prop.ID)
		}
	}
	return nil
}

func short(h string) string { return h[:min(len(h), 12)] }

// open makes the run a proposal: it tells the team and marks the workflow
// for cordon proposals.
func (p *proposer) open(ctx workflow.Context, run RunSpec, reason string, targets []string, needsBreakGlass bool) {
	now := workflow.Now(ctx)
	run.Trigger.Mode = runbooks.ModePropose
	prop := &Proposal{ID: p.rec.WorkflowID, Run: run, Targets: targets, Reason: reason, NeedsBreakGlass: needsBreakGlass,
		Created: now, Deadline: now.Add(p.timeout)}
	p.rec.Proposal, p.rec.Phase, p.base = prop, PhaseProposed, run.RunID
	p.publish(ctx)
	text := fmt.Sprintf("Cordon proposes runbook %s (trigger %s) for %s: %s. Launch it with: cordon launch %s (until %s).",
		run.Runbook, run.Trigger.Name, describeFindings(run.Trigger.Findings), reason, prop.ID, prop.Deadline.UTC().Format(time.RFC3339))
	if prop.NeedsBreakGlass {
		text += " A lead launches it, with --break-glass --reason R."
	}
	notify(ctx, Notice{Text: text, Severity: "warning"})
}

// publish writes the proposal's summary to the memo (nil: none waits).
func (p *proposer) publish(ctx workflow.Context) {
	var memo any
	if p.rec.Proposal != nil {
		memo = p.rec.Proposal.Summary()
	}
	if err := workflow.UpsertMemo(ctx, map[string]any{memoProposal: memo}); err != nil {
		workflow.GetLogger(ctx).Warn("proposal memo not written", "error", err)
	}
}

// wake is what a proposal's wait also watches: news that changes the
// proposal (a batch's new findings), handled by handle.
type wake struct {
	ready  func() bool
	handle func(ctx workflow.Context)
}

// await waits for a launch until the proposal's deadline and starts the
// run it signs; a refused launch reopens the proposal under the next run
// id. It returns the run launched and how far it got, or false when the
// proposal expired.
func (p *proposer) await(ctx workflow.Context, w *wake) (string, RunProgress, bool, error) {
	attempt := 1
	for {
		prop := p.rec.Proposal
		left := prop.Deadline.Sub(workflow.Now(ctx))
		ok := left > 0
		if ok {
			var err error
			ok, err = workflow.AwaitWithOptions(ctx, workflow.AwaitOptions{Timeout: left,
				TimerOptions: workflow.TimerOptions{Summary: "proposal: waiting for a responder's launch"}},
				func() bool { return p.launch != nil || (w != nil && w.ready()) })
			if err != nil {
				return "", RunProgress{}, false, err
			}
		}
		if p.launch == nil && ok && w != nil {
			w.handle(ctx)
			p.publish(ctx)
			continue
		}
		if p.launch == nil {
			p.rec.Proposal, p.rec.Phase = nil, PhaseExpired
			p.publish(ctx)
			p.rec.note(ctx, "the proposal expired without a launch")
			notify(ctx, Notice{Severity: "warning", Text: fmt.Sprintf("The proposal of runbook %s for %s (targets %s) expired without a launch.",
				prop.Run.Runbook, describeFindings(prop.Run.Trigger.Findings), strings.Join(prop.Targets, ", "))})
			return "", RunProgress{}, false, nil
		}
		launch, run := p.launch, prop.Run
		prop.Attempts = append(prop.Attempts, LaunchAttempt{Actor: launch.Start.Actor, RunID: run.RunID, Time: workflow.Now(ctx)})
		last := &prop.Attempts[len(prop.Attempts)-1]
		if err := startRun(ctx, run, launch); err != nil {
			return "", RunProgress{}, false, err
		}
		progress, err := follow(ctx, run.RunID, p.every, false)
		if err != nil {
			return "", progress, false, err
		}
		last.Progress = progress
		if progress.Refused == "" {
			p.rec.Proposal, p.launch = nil, nil
			p.publish(ctx)
			return run.RunID, progress, true, nil
		}
		attempt++
		prop.Run.RunID, p.launch = attemptRunID(p.base, attempt), nil
		p.publish(ctx)
		p.rec.note(ctx, "the launch of %s by %s was refused: %s", run.RunID, launch.Start.Actor, progress.Refused)
		notify(ctx, Notice{RunID: run.RunID, Severity: "warning", Text: fmt.Sprintf("The launch of %s by %s was refused: %s. The proposal stays open: cordon launch %s",
			run.RunID, launch.Start.Actor, progress.Refused, prop.ID)})
	}
}

// describeFindings names one finding, or counts many.
func describeFindings(fs []workflows.TriggeredFinding) string {
	switch len(fs) {
	case 0:
		return "no finding"
	case 1:
		return describeFinding(fs[0])
	}
	return fmt.Sprintf("%d findings (first: %s)", len(fs), describeFinding(fs[0]))
}
