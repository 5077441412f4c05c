package workflows

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/cordon-ir/cordon/actions/wire"
	"github.com/cordon-ir/cordon/runbooks"
)

func gateKey(step string, item int) string {
	if item > 0 {
		return wire.ItemKey(step, item)
	}
	return step
}

// passGate holds a destructive step until it is approved. Approvers see a
// preview of the exact change; their approval binds to its hash. Just
// before acting, the step is previewed again: if the world moved and the
// change is no longer the one approved, the gate asks again.
//
// Under a lead's break-glass approval nobody reads the preview, so the gate
// passes without one: a preview is a full round of AWS reads and DryRun
// calls (about a quarter of a host's calls, spent from the same API
// buckets the containment needs), and the action's own record lists the
// changes it made. Runs started before this rule replay the old path.
func (r *runner) passGate(ctx workflow.Context, st *runbooks.Step, item int, params map[string]any, target wire.Target) error {
	popts := r.activityOptions(st)
	popts.Summary = actionSummary(st, item, params, wire.Preview)
	pctx := workflow.WithActivityOptions(ctx, popts)
	key := gateKey(st.ID, item)
	if r.breakGls != nil && workflow.GetVersion(ctx, "break-glass-skips-preview", workflow.DefaultVersion, 1) >= 1 {
		minApprovals, _, rule := r.effectiveGate(st)
		r.gates[key] = &gate{policy: st.Gate, GateState: GateState{
			Step: st.ID, Item: item, Key: key, Status: GateApproved, Unpreviewed: true, Rule: rule,
			Approvers: st.Gate.Approvers, MinApprovals: minApprovals,
			Approvals: []Approval{*r.breakGls}, DecidedBy: r.breakGls.Actor,
		}, done: true}
		r.event(ctx, Event{Kind: EventGateApproved, Step: st.ID, Item: item, Actor: r.breakGls.Actor, Channel: r.breakGls.Channel,
			Detail:     "break-glass approval of every gate, without a preview (the action records its changes): " + r.breakGls.Reason,
			BreakGlass: true, Unpreviewed: true})
		return nil
	}
	for round := 1; ; round++ {
		var preview wire.Result
		if err := workflow.ExecuteActivity(pctx, st.Action, r.call(st, item, params, target, wire.Preview)).Get(ctx, &preview); err != nil {
			return fmt.Errorf("preview for approval: %w", err)
		}
		hash := previewHash(preview.Changes)
		if old, ok := r.gates[key]; ok && old.Status == GateApproved && old.PreviewHash == hash {
			return nil // approved, and the world is as previewed
		} else if ok && old.Status == GateApproved && subsetOf(preview.Changes, old.Changes) &&
			workflow.GetVersion(ctx, "gate-passes-approved-subset", workflow.DefaultVersion, 1) >= 1 {
			// Part of the approved change is already done (in a fleet,
			// another host revoked the shared role's sessions first): what is
			// left was approved, exactly, so asking again would only make
			// the approvers sign the same thing twice.
			r.event(ctx, Event{Kind: EventGateStillApproved, Step: st.ID, Item: item,
				Detail:      fmt.Sprintf("the world moved, but what is left to do (%d of the %d approved changes) was approved as it is", len(preview.Changes), len(old.Changes)),
				PreviewHash: hash, ApprovedPreviewHash: old.PreviewHash})
			return nil
		} else if ok && old.Status == GateApproved {
			r.event(ctx, Event{Kind: EventGateReopened, Step: st.ID, Item: item,
				Detail: "the change differs from what was approved (the world moved); asking again"})
		}
		minApprovals, selfApproval, rule := r.effectiveGate(st)
		g := &gate{policy: st.Gate, selfApproval: selfApproval, opened: workflow.Now(ctx), GateState: GateState{
			Step: st.ID, Item: item, Key: key, Status: GateWaiting, PreviewHash: hash, Changes: preview.Changes,
			Approvers: st.Gate.Approvers, SelfApproval: selfApproval, MinApprovals: minApprovals, Approvals: []Approval{},
			Deadline: workflow.Now(ctx).Add(time.Duration(st.Gate.Timeout)), Rule: rule,
		}}
		r.gates[key] = g
		if r.breakGls != nil {
			// The preview just taken is fresh: act on it at once.
			g.Approvals = append(g.Approvals, *r.breakGls)
			g.Status, g.DecidedBy, g.done = GateApproved, r.breakGls.Actor, true
			r.event(ctx, Event{Kind: EventGateApproved, Step: st.ID, Item: item, Actor: r.breakGls.Actor, Channel: r.breakGls.Channel,
				Detail: "break-glass approval of every gate: " + r.breakGls.Reason, PreviewHash: hash, BreakGlass: true})
			return nil
		}
		if reason, skipped := r.skips[st.ID]; skipped {
			return &deniedError{status: StepSkipped, reason: "skipped at the gate: " + reason}
		}
		r.step(st.ID).Status = StepAwaiting
		r.event(ctx, Event{Kind: EventGateWaiting, Step: st.ID, Item: item,
			Detail:      fmt.Sprintf("round %d: waiting for %d approval(s) from %s until %s", round, g.MinApprovals, g.Approvers.String(), g.Deadline.Format(time.RFC3339)),
			PreviewHash: hash, Changes: preview.Changes})
		r.notifyGate(ctx, st, g, NoticeWaiting, g.Approvers)
		if err := r.awaitDecision(ctx, st, g); err != nil {
			return err
		}
		r.step(st.ID).Status = StepRunning
		if g.Status != GateApproved {
			status := StepDenied
			if g.Status == GateSkipped {
				status = StepSkipped
			}
			return &deniedError{status: status, reason: fmt.Sprintf("gate %s: %s", g.Status, g.Reason)}
		}
		// Approved: loop to preview once more and compare before acting.
	}
}

// effectiveGate applies the organisation's policy to a step's gate: the
// stricter of the two wins, and rule says which applied.
func (r *runner) effectiveGate(st *runbooks.Step) (minApprovals int, selfApproval bool, rule string) {
	minApprovals, selfApproval = st.Gate.MinApprovals, st.Gate.AllowSelfApproval
	if r.authorityVersion < 1 {
		return minApprovals, selfApproval, ""
	}
	p := r.roster.Policy
	var rules []string
	if st.Destructive && p.MinApprovals > minApprovals {
		rules = append(rules, fmt.Sprintf("policy: %d approvals for a destructive step (the runbook asks %d)", p.MinApprovals, minApprovals))
		minApprovals = p.MinApprovals
	}
	if selfApproval && p.SelfApproval != "runbook" {
		rules = append(rules, "policy: no self-approval (the runbook allows it)")
		selfApproval = false
	}
	if p.Approvers != nil {
		rules = append(rules, "policy: approvers must also be "+p.Approvers.String())
	}
	if len(rules) == 0 {
		return minApprovals, selfApproval, "runbook"
	}
	return minApprovals, selfApproval, strings.Join(rules, "; ")
}

// awaitDecision waits for the gate to be decided, applying on_timeout.
func (r *runner) awaitDecision(ctx workflow.Context, st *runbooks.Step, g *gate) error {
	decided := func() bool { return g.done || r.abort != nil }
	// The gate's clock runs from its deadline, set when it opened: the
	// time its notification took (Slack slow, or down and retried) counts
	// against the timeout instead of delaying it. Runs recorded before
	// this wait the full timeout after the notification.
	onTime := workflow.GetVersion(ctx, "gate-timeout-from-deadline", workflow.DefaultVersion, 1) >= 1
	wait := func() (bool, error) {
		d := time.Duration(st.Gate.Timeout)
		if onTime {
			d = g.Deadline.Sub(workflow.Now(ctx))
			if d <= 0 {
				return decided(), nil
			}
		}
		return workflow.AwaitWithOptions(ctx, workflow.AwaitOptions{Timeout: d,
			TimerOptions: workflow.TimerOptions{Summary: gateSummary(g.Key, g)}}, decided)
	}
	ok, err := wait()
	if err != nil {
		return err
	}
	if !ok && st.Gate.OnTimeout == "escalate" && r.abort == nil {
		g.Escalated = true
		g.Deadline = workflow.Now(ctx).Add(time.Duration(st.Gate.Timeout))
		r.event(ctx, Event{Kind: EventGateEscalated, Step: st.ID, Item: g.Item,
			Detail: fmt.Sprintf("no decision in %s; escalated to %s until %s", time.Duration(st.Gate.Timeout), st.Gate.EscalateTo.String(), g.Deadline.Format(time.RFC3339))})
		r.notifyGate(ctx, st, g, NoticeEscalated, st.Gate.EscalateTo)
		if ok, err = wait(); err != nil {
			return err
		}
	}
	if r.abort != nil && !g.done {
		g.Status, g.Reason, g.done = GateDenied, "run aborted", true
		return nil
	}
	if !ok {
		// A gate never approves by default.
		g.Status, g.Reason, g.done = GateTimedOut, "no decision in time: denied", true
		r.event(ctx, Event{Kind: EventGateTimedOut, Step: st.ID, Item: g.Item, Detail: "no decision in time; denied"})
		r.notifyGate(ctx, st, g, NoticeTimedOut, st.Gate.Approvers)
		return nil
	}
	r.notifyGate(ctx, st, g, NoticeKind(g.Status), st.Gate.Approvers)
	return nil
}

// notifyGate tells people about a gate. A failed notification is recorded,
// not fatal: the gate can still be decided from the CLI. Its retries are
// bounded (a nil policy would retry for ever while Slack is down, and the
// gate waits for the notification before it waits for people).
func (r *runner) notifyGate(ctx workflow.Context, st *runbooks.Step, g *gate, kind NoticeKind, to runbooks.Approvers) {
	actx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout:    20 * time.Second,
		ScheduleToCloseTimeout: time.Minute,
		RetryPolicy: &temporal.RetryPolicy{InitialInterval: time.Second, BackoffCoefficient: 2,
			MaximumInterval: 10 * time.Second, MaximumAttempts: 3},
	})
	notice := GateNotice{
		RunID: r.in.Meta.RunID, Runbook: r.plan.Runbook.Name, Incident: r.in.Meta.Incident, Requester: r.in.Meta.Requester,
		Step: st.ID, StepName: st.Name, Action: st.Action, Item: g.Item, Kind: kind, Gate: g.GateState, Changes: g.Changes, To: to,
		Detection: r.detection(g),
	}
	if err := workflow.ExecuteActivity(actx, ActivityNotifyGate, notice).Get(ctx, nil); err != nil {
		r.event(ctx, Event{Kind: EventNotifyFailed, Step: st.ID, Item: g.Item, Detail: err.Error()})
	}
}

// subsetOf says whether every change in part is, exactly (resource, field,
// before and after), one of the changes in whole. encoding/json sorts map
// keys, so equal changes encode alike; a change that cannot be encoded is
// never taken as approved.
func subsetOf(part, whole []wire.Change) bool {
	approved := make(map[string]bool, len(whole))
	for _, c := range whole {
		b, err := json.Marshal(c)
		if err != nil {
			return false
		}
		approved[string(b)] = true
	}
	for _, c := range part {
		b, err := json.Marshal(c)
		if err != nil || !approved[string(b)] {
			return false
		}
	}
	return true
}
