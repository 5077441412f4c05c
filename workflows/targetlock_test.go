package workflows_test

import (
	"strings"
	"testing"
	"time"

	"github.com/cordon-ir/cordon/workflows"
)

// Issue 13, item 5: while a containment of a target is active, a second
// one is refused with the active run's id, and changes nothing.
func TestSecondContainmentOfATargetIsRefused(t *testing.T) {
	f := newFixture(t)
	f.held["i-0123456789abcdef0"] = "run-first"
	f.start(gated, nil, workflows.RunMeta{})
	_, _ = f.result()
	s := f.state()
	if s.Status != workflows.RunFailed || len(s.Refusals) == 0 || !strings.Contains(s.Refusals[0].Reason, "i-0123456789abcdef0 by run run-first") {
		t.Fatalf("status %s, refusals %+v: want refused naming run-first", s.Status, s.Refusals)
	}
	if !strings.Contains(s.Refusals[0].Reason, "--force --reason") {
		t.Errorf("the refusal does not say how to start anyway: %s", s.Refusals[0].Reason)
	}
	if got := f.aws.executed(); len(got) != 0 {
		t.Errorf("a refused duplicate executed %v", got)
	}
	if f.held["i-0123456789abcdef0"] != "run-first" {
		t.Errorf("the refused run disturbed the first run's lock: %v", f.held)
	}
}

// Positive control: a run claims its target, holds it while it runs and
// releases it when it ends; --force with a reason starts a duplicate on
// purpose, recorded.
func TestTargetIsHeldWhileTheRunGoesAndReleasedAfter(t *testing.T) {
	f := newFixture(t)
	var during string
	f.at(time.Minute, func() {
		f.mu.Lock()
		during = f.held["i-0123456789abcdef0"]
		f.mu.Unlock()
		f.decide(workflows.ActApprove, "isolate", "bob", "ok")
	})
	f.start(gated, nil, workflows.RunMeta{})
	f.wantResult(workflows.RunSucceeded)
	if during != "run-1" {
		t.Errorf("while the run waited at its gate the target was held by %q, want run-1", during)
	}
	if len(f.held) != 0 {
		t.Errorf("locks left after the run ended: %v", f.held)
	}

	g := newFixture(t)
	g.held["i-0123456789abcdef0"] = "run-first"
	g.at(time.Minute, func() { g.decide(workflows.ActApprove, "isolate", "bob", "ok") })
	g.start(gated, nil, workflows.RunMeta{Force: true, ForceReason: "the first run is stuck on a dead worker"})
	if res, err := g.result(); err != nil || res.Status != workflows.RunSucceeded {
		t.Fatalf("forced: %+v %v", res, err)
	}
	s := g.state()
	if !hasEvent(s, workflows.EventForced) || len(s.RosterNotes) == 0 || !strings.Contains(strings.Join(s.RosterNotes, " "), "the first run is stuck") {
		t.Errorf("the forced duplicate is not recorded: notes %v, timeline %s", s.RosterNotes, timelineKinds(s))
	}
}

// --force is the signer's choice: a client that adds force to a start
// signed without it (to run a second containment past the lock in the
// requester's name) is refused before anything runs; the same force,
// signed, is accepted (positive control).
func TestForceMustBeSigned(t *testing.T) {
	for _, tc := range []struct {
		name   string
		signed bool
	}{{"claimed, not signed", false}, {"signed", true}} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			aliceKey, alicePub := newKey(t)
			f.roster.RequireSignatures = true
			f.roster.Members[0].PublicKeys = []string{alicePub}
			f.reviewed(gated)
			f.held["i-0123456789abcdef0"] = "run-first"
			f.at(time.Minute, func() { f.decide(workflows.ActApprove, "isolate", "bob", "ok") })
			f.startSignedWith(gated, "alice", aliceKey, func(req *workflows.Request, meta *workflows.RunMeta) {
				meta.Force, meta.ForceReason = true, "the first run is stuck"
				if tc.signed {
					req.Force, req.Reason = true, "the first run is stuck"
				}
			})
			_, _ = f.result()
			s := f.state()
			if !tc.signed {
				if s.Status != workflows.RunFailed || len(s.Refusals) == 0 || !strings.Contains(s.Refusals[0].Reason, "signed with force false") {
					t.Fatalf("status %s, refusals %+v: an unsigned force must be refused", s.Status, s.Refusals)
				}
				if got := f.aws.executed(); len(got) != 0 {
					t.Errorf("executed %v", got)
				}
				return
			}
			if !hasEvent(s, workflows.EventForced) {
				t.Errorf("a signed force did not start the run: status %s, refusals %+v, timeline %s", s.Status, s.Refusals, timelineKinds(s))
			}
		})
	}
}
