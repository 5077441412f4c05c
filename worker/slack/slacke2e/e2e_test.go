package slacke2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/cordon-ir/cordon/internal/awsemu"
	"github.com/cordon-ir/cordon/internal/sandbox"
	"github.com/cordon-ir/cordon/runctl"
	"github.com/cordon-ir/cordon/workflows"
)

// unusedFleetPrefix is base followed by the first number no fleet in the
// shared emulator is named with yet (its auto scaling group and instance
// role carry the prefix, and the emulator refuses a group's name twice).
// The emulator outlives a test, and go test -count runs the test again
// against it: asking it, rather than counting runs, keeps no state
// between tests.
func unusedFleetPrefix(base string) string {
	for i := 1; ; i++ {
		prefix := fmt.Sprintf("%s%d", base, i)
		_, groupUsed := shared.emu.AutoScalingGroup(prefix + "-asg")
		_, roleUsed := shared.emu.Role(prefix + "-app")
		if !groupUsed && !roleUsed {
			return prefix
		}
	}
}

// TestContainFromSlack runs examples/ec2-compromise.yaml end to end:
// started with /cordon run, every gate approved by clicking its Slack
// message (signed Slack requests only), against the AWS emulator.
func TestContainFromSlack(t *testing.T) {
	fleet, err := shared.emu.SeedFleet(awsemu.FleetSpec{Instances: 2, NamePrefix: unusedFleetPrefix("wiki"), NetworkInterfaces: 2, Volumes: 2,
		InAutoScalingGroup: 2, BehindTargetGroup: 2, WithInstanceRole: true, Compromised: []int{0}})
	if err != nil {
		t.Fatal(err)
	}
	target := fleet.InstanceIDs[0]
	runID := startFromSlack(t, "UALICE", "run ec2-compromise instance_id="+target+" final_action=stop --incident=INC-26084")

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	clicked := map[string]bool{}
	for {
		s, err := runctl.State(ctx, shared.client, runID)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range gateMessages(runID) {
			key := m.Ref.Step + "/" + m.Ref.PreviewHash
			if clicked[key] {
				continue
			}
			click(t, "UBOB", m)
			clicked[key] = true
		}
		if s.Status != workflows.RunRunning {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	res, err := runctl.Wait(ctx, shared.client, runID)
	if err != nil || res.Status != workflows.RunSucceeded {
		t.Fatalf("run %s: %+v %v", runID, res, err)
	}

	quarantine := fmt.Sprint(res.Outputs["quarantine_group_id"])
	for _, p := range sandbox.Uncontained(shared.emu, target, quarantine, true) {
		t.Error(p)
	}

	// Every gate was approved by bob through Slack, and its message says so.
	s, _ := runctl.State(ctx, shared.client, runID)
	var approvals []string
	for _, e := range s.Timeline {
		if e.Kind == workflows.EventGateApproved {
			approvals = append(approvals, e.Step+" by "+e.Actor+" via "+e.Channel)
		}
	}
	want := []string{"isolate by bob via slack", "revoke_sessions by bob via slack", "stop by bob via slack"}
	if strings.Join(approvals, "; ") != strings.Join(want, "; ") {
		t.Errorf("approvals %v, want %v", approvals, want)
	}
	for _, m := range gateMessages(runID) {
		up := updatesOf(m.TS)
		if len(up) == 0 || !strings.Contains(up[len(up)-1].Blocks(), "Approved by") {
			t.Errorf("gate message of %s not updated to approved", m.Ref.Step)
		}
	}
	// Progress is threaded under the run's announcement.
	threaded := 0
	for _, c := range shared.slack.Calls("chat.postMessage") {
		if c.Form.Get("thread_ts") != "" && strings.Contains(c.Text(), "Approved by") {
			threaded++
		}
	}
	if threaded < 3 {
		t.Errorf("%d thread replies record approvals, want at least 3", threaded)
	}
}
