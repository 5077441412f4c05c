package workflows

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"go.temporal.io/sdk/workflow"
)

// One containment per target. Two runs on the same instance took six
// snapshots of three volumes and overwrote each other's records. A run
// claims each of its targets (instance ids, access key ids, user and role
// names: Targets) before its first step, by starting a lock workflow whose
// id is the target's: Temporal lets only one run of an id be open, which
// no query of visibility (eventually consistent) would guarantee. A
// target another open run holds refuses the start with that run's id,
// unless the start says --force with a reason, which is recorded. The
// run releases what it claimed when it ends; a lock whose owner ended
// without releasing (terminated, or a worker that lost the release) is
// found stale by the next claim and replaced.

// TargetLockWorkflowName is the lock workflow's registered name.
const TargetLockWorkflowName = "cordon.target_lock"

// TargetLockQueryOwner answers the run that holds a lock;
// TargetLockSignalRelease, carrying the owner's run id, ends it.
const (
	TargetLockQueryOwner    = "owner"
	TargetLockSignalRelease = "release"
)

// TargetLockID is the workflow id of a target's lock.
func TargetLockID(target string) string { return "cordon-target:" + target }

// TargetLockInput is a lock's owner.
type TargetLockInput struct {
	Target string `json:"target"`
	Owner  string `json:"owner"`
}

// TargetLock holds a target for its owner run until the owner releases
// it. A release from anyone else is ignored: the signal names the owner,
// so a stale lock can be cleared by whoever found its owner ended.
func TargetLock(ctx workflow.Context, in TargetLockInput) error {
	if err := workflow.SetQueryHandler(ctx, TargetLockQueryOwner, func() (string, error) { return in.Owner, nil }); err != nil {
		return fmt.Errorf("register the owner query: %w", err)
	}
	release := workflow.GetSignalChannel(ctx, TargetLockSignalRelease)
	for {
		var owner string
		release.Receive(ctx, &owner)
		if owner == in.Owner {
			return nil
		}
		workflow.GetLogger(ctx).Warn("target lock: release by a run that does not own it, ignored", "target", in.Target, "owner", in.Owner, "from", owner)
	}
}

// ClaimRequest asks the worker to claim targets for a run.
type ClaimRequest struct {
	RunID string `json:"run_id"`
	// Lineage are the run's ancestors: a target a fleet run holds is its
	// hosts' runs' as well.
	Lineage []string `json:"lineage,omitempty"`
	Targets []string `json:"targets"`
	Force   bool     `json:"force,omitempty"`
}

// ClaimResult is what the claim found.
type ClaimResult struct {
	// Checked is false when the worker cannot hold locks (no Temporal
	// client): the run goes on and says so.
	Checked bool `json:"checked"`
	// Claimed are the locks this run started (and must release).
	Claimed []string `json:"claimed,omitempty"`
	// Held are targets another open run holds.
	Held []TargetHeld `json:"held,omitempty"`
}

// TargetHeld is a target and the open run that contains it.
type TargetHeld struct {
	Target string `json:"target"`
	RunID  string `json:"run_id"`
}

// ReleaseRequest releases what a run claimed.
type ReleaseRequest struct {
	RunID   string   `json:"run_id"`
	Targets []string `json:"targets"`
}

// claimTargets claims the run's targets before its first step; a target
// another open run holds refuses the start unless it was forced. Runs
// recorded before this rule, rehearsals (they change nothing) and runs
// without targets claim nothing.
func (r *runner) claimTargets(ctx workflow.Context) error {
	targets := r.targets()
	if r.in.Meta.DryRun || len(targets) == 0 ||
		workflow.GetVersion(ctx, "one-containment-per-target", workflow.DefaultVersion, 1) < 1 {
		return nil
	}
	actx := bookkeeping(ctx, 30*time.Second)
	var res ClaimResult
	req := ClaimRequest{RunID: r.in.Meta.RunID, Lineage: r.in.Meta.Lineage, Targets: targets, Force: r.in.Meta.Force}
	if err := workflow.ExecuteActivity(actx, ActivityClaimTargets, req).Get(ctx, &res); err != nil {
		return fmt.Errorf("claim the run's targets %v: %w", targets, err)
	}
	r.claimed = res.Claimed
	if !res.Checked {
		r.state.RosterNotes = append(r.state.RosterNotes, "this worker does not hold target locks: a second containment of the same targets would not be refused")
		return nil
	}
	if len(res.Held) == 0 {
		return nil
	}
	var held []string
	for _, h := range res.Held {
		held = append(held, fmt.Sprintf("%s by run %s", h.Target, h.RunID))
	}
	if r.in.Meta.Force {
		note := fmt.Sprintf("forced by %s although another run contains %s: %s", r.in.Meta.Requester, strings.Join(held, ", "), r.in.Meta.ForceReason)
		r.state.RosterNotes = append(r.state.RosterNotes, note)
		r.event(ctx, Event{Kind: EventForced, Actor: r.in.Meta.Requester, Channel: r.in.Meta.Channel, Detail: note})
		return nil
	}
	reason := fmt.Sprintf("another run is containing the same target: %s. Follow it (cordon status %s), or start anyway with --force --reason R (recorded)",
		strings.Join(held, ", "), res.Held[0].RunID)
	r.refuse(ctx, Request{Action: ActStart, Actor: r.in.Meta.Requester, Channel: r.in.Meta.Channel}, reason)
	r.releaseTargets(ctx) // what this run did claim before it met the held one
	return &refused{reason: reason}
}

// releaseTargets releases the locks the run claimed.
func (r *runner) releaseTargets(ctx workflow.Context) {
	if len(r.claimed) == 0 {
		return
	}
	ctx, _ = workflow.NewDisconnectedContext(ctx)
	actx := bookkeeping(ctx, 30*time.Second)
	req := ReleaseRequest{RunID: r.in.Meta.RunID, Targets: slices.Clone(r.claimed)}
	if err := workflow.ExecuteActivity(actx, ActivityReleaseTargets, req).Get(ctx, nil); err != nil {
		// The next claim of these targets finds this run ended and clears
		// its locks: nothing stays held for ever.
		workflow.GetLogger(ctx).Warn("release the run's targets", "targets", r.claimed, "error", err)
	}
	r.claimed = nil
}

// targets are what the run is aimed at, read once the same way for its
// locks and its search attributes.
func (r *runner) targets() []string { return Targets(r.plan, r.inputsWithDefaults()) }

// inputsWithDefaults are the run's inputs with the plan's defaults for
// those not given, as the steps see them.
func (r *runner) inputsWithDefaults() map[string]any {
	out := map[string]any{}
	for _, in := range r.plan.Inputs {
		if in.Default != nil {
			out[in.Name] = in.Default
		}
	}
	for k, v := range r.state.Inputs {
		out[k] = v
	}
	return out
}
