package e2e

import (
	"context"
	"strings"
	"testing"

	"github.com/cordon-ir/cordon/workflows"
)

// Issue 13, item 5, on the real server: while a containment of an
// instance is active, a second run on it is refused with the active run's
// id and changes nothing; once the first run ends, the target is free
// again; and a run terminated without releasing (a crash of its history,
// an operator's terminate) leaves a stale lock the next claim clears.
func TestOneContainmentPerTarget(t *testing.T) {
	ctx := context.Background()
	first, host := atIsolateGate(t, "e2e-lock-first", "lock", "alice")
	plan := compileExample(t, "ec2-compromise")
	second := startSigned(t, shared.client, shared.cfg.Temporal.TaskQueue, plan, ec2Inputs(t, plan, host, "stop"),
		workflows.RunMeta{RunID: "e2e-lock-second", Requester: "alice"}, "")
	s := ended(t, second)
	refusedWith(t, s, "another run is containing the same target: "+host+" by run "+first)
	if len(s.Refusals) > 0 && !strings.Contains(s.Refusals[0].Reason, "--force --reason") {
		t.Errorf("the refusal does not say how to start anyway: %s", s.Refusals[0].Reason)
	}

	// Forced, with a reason: the duplicate starts and says so.
	forced := startSigned(t, shared.client, shared.cfg.Temporal.TaskQueue, plan, ec2Inputs(t, plan, host, "stop"),
		workflows.RunMeta{RunID: "e2e-lock-forced", Requester: "alice", Force: true, ForceReason: "e2e: on purpose"}, "")
	waitForGate(t, forced, "isolate")
	abortRun(t, forced)
	if fs := ended(t, forced); !strings.Contains(strings.Join(fs.RosterNotes, " "), "e2e: on purpose") {
		t.Errorf("the forced run does not record why: %v", fs.RosterNotes)
	}

	// The first run ends: its release frees the host.
	abortRun(t, first)
	ended(t, first)
	// Histories of the claim, the release and the refusal, for replay.
	replay(t, first, "target-lock-claimed-released")
	replay(t, second, "target-lock-refused")
	third := startSigned(t, shared.client, shared.cfg.Temporal.TaskQueue, plan, ec2Inputs(t, plan, host, "stop"),
		workflows.RunMeta{RunID: "e2e-lock-third", Requester: "alice"}, "")
	waitForGate(t, third, "isolate")

	// Terminated without a release: the next claim finds the lock stale.
	if err := shared.client.TerminateWorkflow(ctx, third, "", "e2e: an operator's terminate"); err != nil {
		t.Fatal(err)
	}
	fourth := startSigned(t, shared.client, shared.cfg.Temporal.TaskQueue, plan, ec2Inputs(t, plan, host, "stop"),
		workflows.RunMeta{RunID: "e2e-lock-fourth", Requester: "alice"}, "")
	waitForGate(t, fourth, "isolate")
	abortRun(t, fourth)
	ended(t, fourth)
}
