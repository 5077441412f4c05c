package demo

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"go.temporal.io/sdk/client"
	"golang.org/x/crypto/ssh"

	"github.com/cordon-ir/cordon/report"
	"github.com/cordon-ir/cordon/runbooks"
	"github.com/cordon-ir/cordon/runctl"
	"github.com/cordon-ir/cordon/workflows"
)

// refresh is how often the demo looks at its runs: quick enough for the
// live view to feel live, slow enough not to matter to the server.
const refresh = 150 * time.Millisecond

// runRecord is a finished run and its children, for the report.
type runRecord struct {
	title    string
	state    workflows.State
	children []workflows.State // in the order they were started
}

// follower starts runs, shows their progress and decides at their gates.
type follower struct {
	c           client.Client
	p           *progress
	decide      decider
	requester   demoKey    // signs the starts
	lead        ssh.Signer // signs the decisions
	interactive bool
	// incident is the incident the runs it starts belong to.
	incident string
}

// run starts a run with the requester's signed start and follows it (and
// its children) until it ends, deciding at every gate as it opens.
func (f *follower) run(ctx context.Context, taskQueue string, plan *runbooks.Plan, inputs map[string]any, dry bool, title string) (runRecord, error) {
	runID, err := runctl.Start(ctx, f.c, taskQueue, runctl.StartOptions{
		Plan: plan, Inputs: inputs, Signer: f.requester.signer,
		Meta: workflows.RunMeta{RunID: runctl.NewRunID(plan.Runbook.Name, time.Now()), Requester: requesterID, Channel: "cli", Incident: f.incident, DryRun: dry},
	})
	if err != nil {
		return runRecord{}, err
	}
	return f.follow(ctx, runID, plan.ContentHash(), f.requester.fingerprint, title)
}

// follow shows a run's progress (and its children's) until it ends,
// deciding at every gate as it opens; keyFingerprint is the key that
// signed its start (the requester's, or the intake's).
func (f *follower) follow(ctx context.Context, runID, planHash, keyFingerprint, title string) (runRecord, error) {
	f.p.newRun()
	f.p.say("   run %s", runID)
	seen := map[string]int{}              // timeline events already shown, per run
	ended := map[string]workflows.State{} // children that ended: no need to ask again
	startShown := false
	for {
		s, err := runctl.State(ctx, f.c, runID)
		if err != nil {
			return runRecord{}, err
		}
		if !startShown && s.Provenance != nil && (s.Provenance.Authenticated || s.Status != workflows.RunRunning) {
			f.showStart(s, planHash, keyFingerprint)
			startShown = true
		}
		children := map[string]workflows.State{}
		var order []string
		for _, st := range s.Steps {
			for _, id := range st.Children {
				order = append(order, id)
				if cs, ok := ended[id]; ok {
					children[id] = cs
					continue
				}
				cs, err := runctl.State(ctx, f.c, id)
				if err != nil {
					continue // started a moment ago: not queryable yet
				}
				children[id] = cs
				if cs.Status != workflows.RunRunning {
					ended[id] = cs
				}
			}
		}
		f.showNew(s, children, seen)
		f.p.board(BuildBoard(title, s, children, time.Now()))

		if s.Status != workflows.RunRunning {
			f.p.keep()
			if reason := startRefusal(s); reason != "" {
				return runRecord{}, fmt.Errorf("the worker refused to start run %s: %s", runID, reason)
			}
			rec := runRecord{title: title, state: s}
			for _, id := range order {
				rec.children = append(rec.children, children[id])
			}
			return rec, nil
		}
		for _, rs := range append([]workflows.State{s}, statesOf(children, order)...) {
			if err := f.decideGates(ctx, rs); err != nil {
				return runRecord{}, err
			}
		}
		select {
		case <-ctx.Done():
			return runRecord{}, fmt.Errorf("follow run %s: %w", runID, ctx.Err())
		case <-time.After(refresh):
		}
	}
}

// showStart shows who the workflow verified as the run's requester and
// where its plan came from, as the run's state records them.
func (f *follower) showStart(s workflows.State, planHash, keyFingerprint string) {
	line := startLine(s, keyFingerprint, planHash)
	if started := report.Started(s); started != "" {
		line += "\n   " + started
	}
	if f.p.mode != JSON {
		f.p.say("%s", line)
		return
	}
	pv := s.Provenance
	f.p.event(Event{Time: time.Now(), Kind: KindSignedStart, Run: s.Meta.RunID, Actor: pv.Requester, Detail: strings.TrimSpace(line),
		Data: map[string]any{"authenticated": pv.Authenticated, "key": keyFingerprint, "runbook": s.Runbook,
			"plan_content_hash": planHash, "vouched": pv.Vouched, "source": pv.Source, "roster_version": pv.RosterVersion}})
}

// startLine is the signed start in one line: who signed it, with which
// key, what it runs, and whether the worker's runbook source vouched for
// the plan.
func startLine(s workflows.State, keyFingerprint, planHash string) string {
	pv := s.Provenance
	signed := fmt.Sprintf("signed by %s (key %s)", pv.Requester, keyFingerprint)
	if !pv.Authenticated {
		signed = "NOT verified: no signature of a roster member was accepted"
	}
	vouched := "the worker vouched for it: " + pv.Source
	if !pv.Vouched {
		vouched = "NOT vouched for by the worker (" + pv.Source + "): a lead must approve the plan at gate " + workflows.PlanGate
	}
	return fmt.Sprintf("   Start  %s — runbook %s, plan %s (content hash, as signed); %s", signed, s.Runbook, shortHash(planHash), vouched)
}

func shortHash(h string) string {
	if len(h) > 12 {
		return h[:12]
	}
	return h
}

// startRefusal is why the workflow refused the run's start, if it did.
func startRefusal(s workflows.State) string {
	for _, r := range s.Refusals {
		if r.Action == workflows.ActStart {
			return r.Reason
		}
	}
	return ""
}

func statesOf(m map[string]workflows.State, order []string) []workflows.State {
	out := make([]workflows.State, 0, len(order))
	for _, id := range order {
		if s, ok := m[id]; ok {
			out = append(out, s)
		}
	}
	return out
}

// showNew shows the timeline events not shown yet, across the run and its
// children, in time order.
func (f *follower) showNew(s workflows.State, children map[string]workflows.State, seen map[string]int) {
	var fresh []Event
	add := func(rs workflows.State) {
		id := rs.Meta.RunID
		for _, e := range rs.Timeline[min(seen[id], len(rs.Timeline)):] {
			fresh = append(fresh, timelineEvent(id, report.HostOf(rs), e))
		}
		seen[id] = len(rs.Timeline)
	}
	add(s)
	ids := make([]string, 0, len(children))
	for id := range children {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		add(children[id])
	}
	sort.SliceStable(fresh, func(i, j int) bool { return fresh[i].Time.Before(fresh[j].Time) })
	for _, e := range fresh {
		f.p.event(e)
	}
}

// decideGates decides every gate of one run that waits for the lead's
// decision. A decision binds to the preview it was made on: when the
// world moves (hosts sharing a role revoke its sessions one after the
// other) the gate reopens as a new round, with no approvals, and the lead
// is asked again, even if the preview is one seen before.
func (f *follower) decideGates(ctx context.Context, rs workflows.State) error {
	for _, g := range rs.Gates {
		if g.Status != workflows.GateWaiting || approvedBy(g, leadID) {
			continue
		}
		pg := pendingGate{RunID: rs.Meta.RunID, Host: report.HostOf(rs), Gate: g}
		if f.interactive {
			f.p.clear()
		}
		d, err := f.decide.decide(ctx, pg)
		if err != nil {
			return err
		}
		req := workflows.Request{RunID: pg.RunID, Action: workflows.ActApprove, Step: g.Step, Item: g.Item,
			PreviewHash: g.PreviewHash, Actor: leadID, Channel: "cli", Reason: d.Reason}
		verdict := "approved"
		if !d.Approve {
			req.Action, verdict = workflows.ActDeny, "denied: "+d.Reason
		}
		if !f.interactive {
			verdict += " (--yes: automatic)"
		}
		_, err = runctl.Send(ctx, f.c, req, f.lead)
		var refused *runctl.Refused
		switch {
		case errors.As(err, &refused):
			// The gate moved on between the query and the decision (a new
			// preview, a timeout): the next look shows what it asks now.
			f.p.event(Event{Time: time.Now(), Kind: KindRefused, Run: pg.RunID, Host: pg.Host, Step: g.Step, Item: g.Item, Detail: refused.Reason})
			continue
		case err != nil:
			return fmt.Errorf("decide at gate %s of %s: %w", g.Key, pg.RunID, err)
		}
		f.p.event(Event{Time: time.Now(), Kind: KindDecision, Run: pg.RunID, Host: pg.Host, Step: g.Step, Item: g.Item, Actor: leadID,
			Detail: fmt.Sprintf("%s, %d change(s)", verdict, len(g.Changes)),
			Data:   map[string]any{"approved": d.Approve, "denied": !d.Approve, "reason": d.Reason, "preview_hash": g.PreviewHash, "changes": g.Changes}})
	}
	return nil
}

func approvedBy(g workflows.GateState, who string) bool {
	for _, a := range g.Approvals {
		if a.Actor == who {
			return true
		}
	}
	return false
}
