package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/cordon-ir/cordon/internal/awsemu"
	"github.com/cordon-ir/cordon/runctl"
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

// describeInstancesCalls counts the EC2 DescribeInstances calls since the
// emulator's call log was reset.
func describeInstancesCalls() int {
	n := 0
	for _, c := range shared.emu.Calls() {
		if c.Service == awsemu.ServiceEC2 && c.Action == "DescribeInstances" {
			n++
		}
	}
	return n
}

// The instance check is an AWS call with the worker's own role, so it
// waits until the start is authenticated: before, the vouch made it for
// any start, and anyone who reaches the namespace could spend the
// responder role's EC2 budget with unsigned starts and learn which
// instance ids exist.
func TestNoInstanceCheckBeforeTheStartIsAuthenticated(t *testing.T) {
	plan := compileExample(t, "ec2-compromise")
	host := oneHost(t, "preauth")
	inputs := ec2Inputs(t, plan, host, "stop")
	meta := func(name string) workflows.RunMeta {
		return workflows.RunMeta{RunID: fmt.Sprintf("e2e-preauth-%s-%d", name, time.Now().UnixNano()), Requester: "alice", Channel: "cli"}
	}
	shared.emu.ResetCalls()

	// Unsigned, and signed in alice's name with bob's key: refused, and
	// the worker asked AWS nothing.
	unsigned := meta("unsigned")
	startRaw(t, unsigned.RunID, workflows.RunInput{Plan: plan, Inputs: inputs, Meta: unsigned})
	refusedWith(t, ended(t, unsigned.RunID), "the start is not signed")
	forged := meta("forged")
	if _, err := runctl.Start(context.Background(), shared.client, shared.cfg.Temporal.TaskQueue,
		runctl.StartOptions{Plan: plan, Inputs: inputs, Meta: forged, Signer: shared.keys["bob"]}); err != nil {
		t.Fatal(err)
	}
	refusedWith(t, ended(t, forged.RunID), "signature")
	if n := describeInstancesCalls(); n != 0 {
		t.Errorf("%d DescribeInstances call(s) for starts that were not authenticated", n)
	}
	untouched(t, host)

	// Positive control: signed by alice, a start naming an instance that
	// does not exist is refused by the check, which the call log shows.
	const ghost = "i-0fedcba9876543210"
	if _, ok := shared.emu.Instance(ghost); ok {
		t.Fatalf("%s exists in the emulator", ghost)
	}
	runID := startSigned(t, shared.client, shared.cfg.Temporal.TaskQueue, plan, ec2Inputs(t, plan, ghost, "stop"), meta("ghost"), "")
	refusedWith(t, ended(t, runID), "instance "+ghost+" does not exist in account production region us-east-1")
	if n := describeInstancesCalls(); n == 0 {
		t.Error("no DescribeInstances call for the signed start: the check did not run")
	}

	// A signed start naming the existing host passes the check and waits
	// at its first gate: recorded for replay (the check after the
	// authentication, under its GetVersion).
	runID = startSigned(t, shared.client, shared.cfg.Temporal.TaskQueue, plan, inputs, meta("signed"), "")
	waitForGate(t, runID, "isolate")
	abortRun(t, runID)
	ended(t, runID)
	replay(t, runID, "ec2-compromise-instances-checked-after-auth")
}
