package e2e

import (
	"strings"
	"testing"

	"github.com/cordon-ir/cordon/workflows"
)

// An instance id that does not exist in the run's account and region is
// refused before the first step, in one line that names the id, the
// account and region and the input to fix, found by the worker's own
// DescribeInstances (the CLI has no AWS access). Rehearsals are checked
// too: the read is one their steps need anyway. Before, such a run
// started and failed at its first step with a long error chain.
func TestUnknownInstanceIsRefusedBeforeAnythingRuns(t *testing.T) {
	plan := compileExample(t, "ec2-compromise")
	const ghost = "i-0123456789abcdef0" // the emulator draws random ids: this one is not seeded
	if _, ok := shared.emu.Instance(ghost); ok {
		t.Fatalf("%s exists in the emulator", ghost)
	}
	want := "instance " + ghost + " does not exist in account production region us-east-1: check the id (cordon run ec2-compromise --input instance_id=…)"
	for _, dry := range []bool{false, true} {
		runID := startSigned(t, shared.client, shared.cfg.Temporal.TaskQueue, plan, ec2Inputs(t, plan, ghost, "stop"),
			workflows.RunMeta{Requester: "alice", Channel: "cli", DryRun: dry}, "")
		s := ended(t, runID)
		refusedWith(t, s, want)
		if r := s.Refusals[0].Reason; r != want || strings.Contains(r, "\n") {
			t.Errorf("dry run %t: refusal %q, want exactly %q", dry, r, want)
		}
	}

	// The control: a host that exists passes the check and waits at its
	// first gate.
	runID, _ := atIsolateGate(t, "", "preflight-real", "alice")
	abortRun(t, runID)
}
