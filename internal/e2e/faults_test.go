package e2e

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cordon-ir/cordon/internal/awsemu"
	"github.com/cordon-ir/cordon/report"
	"github.com/cordon-ir/cordon/runctl"
	"github.com/cordon-ir/cordon/workflows"
)

// A fleet containment under AWS trouble: one call in ten fails with a
// server error, API buckets are small, and one host's isolation meets a
// permanent UnauthorizedOperation. That host fails with the permission
// named; every other host ends contained, and nothing happens twice.
// Gates are pre-approved by a lead (break-glass, recorded as such).
func TestFleetContainmentUnderAWSFaults(t *testing.T) {
	ctx := context.Background()
	fleet := seedFleet(t, awsemu.FleetSpec{Instances: 5, NamePrefix: "kb", NetworkInterfaces: 2, Volumes: 2,
		InAutoScalingGroup: 3, BehindTargetGroup: 3, WithInstanceRole: true, Compromised: []int{0, 1, 2, 3}})
	shared.emu.SetServerErrorRate(0.1, 26084)
	shared.emu.SetThrottling(awsemu.Throttle{
		NonMutating: awsemu.Bucket{Capacity: 20, RefillPerSecond: 40},
		Mutating:    awsemu.Bucket{Capacity: 10, RefillPerSecond: 20},
	})
	shared.emu.FailNext("ModifyNetworkInterfaceAttribute", "UnauthorizedOperation", 403, 1)
	t.Cleanup(shared.emu.ResetFaults)

	runID := startFleetRun(t, shared.client, shared.cfg.Temporal.TaskQueue, fleet, "none",
		workflows.RunMeta{RunID: "e2e-fleet-faults", Requester: "alice", Incident: "INC-26084"}, "active botnet: contain now")
	wctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	res, err := runctl.Wait(wctx, shared.client, runID)
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	s, err := runctl.State(ctx, shared.client, runID)
	if err != nil {
		t.Fatal(err)
	}
	var contain workflows.StepState
	for _, st := range s.Steps {
		if st.ID == "contain" {
			contain = st
		}
	}
	if contain.Failed != 1 {
		for _, child := range contain.Children {
			if cs, err := runctl.State(ctx, shared.client, child); err == nil && cs.Status != workflows.RunSucceeded {
				for _, st := range cs.Steps {
					if st.Status == workflows.StepFailed {
						t.Logf("%s: %s failed: %s", child, st.ID, st.Error)
					}
				}
			}
		}
	}
	// A fleet with a host not contained did not succeed: it is partial,
	// and names the host.
	if res.Status != workflows.RunPartial || contain.Failed != 1 || contain.Items != 4 || len(contain.FailedItems) != 1 {
		t.Fatalf("run %s, contain %+v (want partial: one failed host of four, within max_errors)", res.Status, contain)
	}

	// The failed host's own run names the missing permission.
	failedHost, succeededChild := "", ""
	for _, child := range contain.Children {
		cs, err := runctl.State(ctx, shared.client, child)
		if err != nil {
			t.Fatal(err)
		}
		if cs.Status == workflows.RunSucceeded && succeededChild == "" {
			succeededChild = child
		}
		if cs.Status == workflows.RunFailed {
			failedHost = fmt.Sprint(cs.Inputs["instance_id"])
			isolate := cs.Steps[slices.IndexFunc(cs.Steps, func(st workflows.StepState) bool { return st.ID == "isolate" })]
			if !strings.Contains(isolate.Error+fmt.Sprint(cs.Timeline), "ec2:ModifyNetworkInterfaceAttribute") {
				t.Errorf("failed child %s does not name the permission: %+v", child, isolate)
			}
		}
	}
	if failedHost == "" {
		t.Fatal("no child run failed")
	}
	// A host's run under break-glass, throttling and server errors: its
	// history guards the break-glass gate path (no preview) in replay.
	replay(t, succeededChild, "ec2-compromise-break-glass-signed")
	// The fleet run itself: a foreach of child runs with one item failing
	// within max_errors.
	replay(t, runID, "fleet-foreach-item-failed")
	// The same run ends partial since run-partial-outcome: its history
	// under that name guards the new path (the one above, recorded
	// before it, the old).
	replay(t, runID, "fleet-partial")

	// The fleet's record (cordon report) lists every host with its outcome.
	children, err := runctl.ChildStates(ctx, shared.client, s)
	if err != nil {
		t.Fatal(err)
	}
	var record strings.Builder
	if err := report.FleetMarkdown(&record, s, children); err != nil {
		t.Fatal(err)
	}
	if len(children) != len(fleet.CompromisedIDs) {
		t.Errorf("%d child runs for %d hosts", len(children), len(fleet.CompromisedIDs))
	}
	for _, c := range children {
		host := fmt.Sprint(c.Inputs["instance_id"])
		status := workflows.RunSucceeded
		if host == failedHost {
			status = workflows.RunFailed
		}
		if row := "| " + host + " | `" + c.Meta.RunID + "` | " + string(status) + " |"; !strings.Contains(record.String(), row) {
			t.Errorf("the fleet record lacks the row %q", row)
		}
	}

	quarantineGroups := map[string]int{}
	for _, g := range shared.emu.SecurityGroups() {
		if g.VPCID == fleet.VPCID && g.Tags["cordon:quarantine"] == "empty" {
			quarantineGroups[g.ID]++
		}
	}
	if len(quarantineGroups) != 1 {
		t.Errorf("quarantine groups in %s: %v, want exactly one", fleet.VPCID, quarantineGroups)
	}
	perVolume := map[string]int{}
	for _, sn := range shared.emu.Snapshots() {
		perVolume[sn.VolumeID]++
	}
	for _, id := range fleet.CompromisedIDs {
		in, _ := shared.emu.Instance(id)
		for _, bd := range in.BlockDevices {
			if id != failedHost && perVolume[bd.VolumeID] != 1 {
				t.Errorf("%s volume %s has %d snapshots, want 1", id, bd.VolumeID, perVolume[bd.VolumeID])
			}
		}
		for _, eni := range in.NetworkInterfaceIDs {
			ni, _ := shared.emu.NetworkInterface(eni)
			isolated := len(ni.SecurityGroupIDs) == 1 && quarantineGroups[ni.SecurityGroupIDs[0]] == 1
			if id != failedHost && !isolated {
				t.Errorf("%s ENI %s not isolated: %v", id, eni, ni.SecurityGroupIDs)
			}
		}
	}
	// The healthy instance was left alone.
	healthy := fleet.InstanceIDs[4]
	in, _ := shared.emu.Instance(healthy)
	for _, eni := range in.NetworkInterfaceIDs {
		ni, _ := shared.emu.NetworkInterface(eni)
		if len(ni.SecurityGroupIDs) == 1 && quarantineGroups[ni.SecurityGroupIDs[0]] == 1 {
			t.Errorf("healthy %s was isolated", healthy)
		}
	}
	if s.BreakGlass == nil || s.BreakGlass.Actor != "carol" {
		t.Errorf("break-glass not recorded: %+v", s.BreakGlass)
	}
}
