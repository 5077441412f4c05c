package actions_test

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/cordon-ir/cordon/actions"
	"github.com/cordon-ir/cordon/internal/awsemu"
)

// ec2Setup is an SDK client for arranging the world a test starts from
// (what someone else, or a crashed attempt, left behind).
func ec2Setup(h *harness) *ec2.Client { return ec2.NewFromConfig(h.emu.AWSConfig()) }

// quarantineGroups lists the groups of that name in the VPC.
func quarantineGroups(h *harness, vpcID, name string) []awsemu.SecurityGroup {
	var out []awsemu.SecurityGroup
	for _, g := range h.emu.SecurityGroups() {
		if g.VPCID == vpcID && g.Name == name {
			out = append(out, g)
		}
	}
	return out
}

func eniOf(h *harness, id string) awsemu.NetworkInterface {
	h.t.Helper()
	n, ok := h.emu.NetworkInterface(id)
	if !ok {
		h.t.Fatalf("ENI %s is gone", id)
	}
	return n
}

func instanceOf(h *harness, id string) awsemu.Instance {
	h.t.Helper()
	in, ok := h.emu.Instance(id)
	if !ok {
		h.t.Fatalf("instance %s is gone", id)
	}
	return in
}

// decodeOutput re-reads an output as a typed value (outputs come back
// from Temporal as generic JSON).
func decodeOutput[T any](t *testing.T, res actions.Result, name string) T {
	t.Helper()
	var v T
	b, err := json.Marshal(res.Outputs[name])
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("output %s = %v: %v", name, res.Outputs[name], err)
	}
	return v
}

type isolatedENI struct {
	NetworkInterfaceID string   `json:"network_interface_id"`
	OriginalGroupIDs   []string `json:"original_group_ids"`
}

// assertSealed checks the quarantine group lets nothing in or out.
func assertSealed(t *testing.T, g awsemu.SecurityGroup) {
	t.Helper()
	if len(g.Ingress) != 0 || len(g.Egress) != 0 {
		t.Errorf("quarantine group %s is not sealed: ingress %+v egress %+v", g.ID, g.Ingress, g.Egress)
	}
	if g.Tags[actions.TagQuarantine] != "empty" || g.Tags[actions.TagRun] != "run-1" {
		t.Errorf("quarantine group %s tags = %v", g.ID, g.Tags)
	}
}

func TestIsolateCutsEveryInterfaceOfAnInstanceInAnASGBehindATargetGroup(t *testing.T) {
	h := newHarness(t)
	fleet := h.fleet(awsemu.FleetSpec{Instances: 2, NetworkInterfaces: 3, InAutoScalingGroup: 2, BehindTargetGroup: 2})
	id, other := fleet.InstanceIDs[0], fleet.InstanceIDs[1]

	res := h.execute("aws.ec2.isolate_instance", map[string]any{"instance_id": id})

	groups := quarantineGroups(h, fleet.VPCID, "cordon-quarantine")
	if len(groups) != 1 {
		t.Fatalf("quarantine groups in VPC = %d, want 1", len(groups))
	}
	q := groups[0]
	assertSealed(t, q)
	if res.Outputs["quarantine_group_id"] != q.ID || res.Outputs["already_isolated"] != false {
		t.Errorf("outputs = %v", res.Outputs)
	}
	in := instanceOf(h, id)
	if len(in.NetworkInterfaceIDs) != 3 {
		t.Fatalf("ENIs = %v", in.NetworkInterfaceIDs)
	}
	enis := decodeOutput[[]isolatedENI](t, res, "network_interfaces")
	if len(enis) != 3 {
		t.Fatalf("network_interfaces = %+v", enis)
	}
	for i, eniID := range in.NetworkInterfaceIDs {
		n := eniOf(h, eniID)
		if !slices.Equal(n.SecurityGroupIDs, []string{q.ID}) {
			t.Errorf("%s groups = %v, want only %s", eniID, n.SecurityGroupIDs, q.ID)
		}
		if n.Tags[actions.TagOriginalGroups] != fleet.SecurityGroupID {
			t.Errorf("%s record = %q, want %q", eniID, n.Tags[actions.TagOriginalGroups], fleet.SecurityGroupID)
		}
		if enis[i].NetworkInterfaceID != eniID || !slices.Equal(enis[i].OriginalGroupIDs, []string{fleet.SecurityGroupID}) {
			t.Errorf("output %d = %+v", i, enis[i])
		}
	}
	// The neighbour, the Auto Scaling group and the target group are
	// untouched: isolation only swaps groups.
	for _, eniID := range instanceOf(h, other).NetworkInterfaceIDs {
		if n := eniOf(h, eniID); !slices.Equal(n.SecurityGroupIDs, []string{fleet.SecurityGroupID}) {
			t.Errorf("neighbour ENI %s groups = %v", eniID, n.SecurityGroupIDs)
		}
	}
	if asg, _ := h.emu.AutoScalingGroup(fleet.AutoScalingGroupName); len(asg.Instances) != 2 {
		t.Errorf("ASG instances = %v", asg.Instances)
	}
	if tg, _ := h.emu.TargetGroup(fleet.TargetGroupARN); len(tg.Targets) != 2 {
		t.Errorf("targets = %v", tg.Targets)
	}
	h.assertDeclared("aws.ec2.isolate_instance")
}

func TestIsolateTwiceChangesNothingTheSecondTime(t *testing.T) {
	h := newHarness(t)
	fleet := h.fleet(awsemu.FleetSpec{Instances: 1, NetworkInterfaces: 2})
	id := fleet.InstanceIDs[0]
	first := h.execute("aws.ec2.isolate_instance", map[string]any{"instance_id": id})
	before := len(h.emu.Mutations())
	records := map[string]string{}
	for _, eniID := range instanceOf(h, id).NetworkInterfaceIDs {
		records[eniID] = eniOf(h, eniID).Tags[actions.TagOriginalGroups]
	}

	second := h.execute("aws.ec2.isolate_instance", map[string]any{"instance_id": id})

	if after := len(h.emu.Mutations()); after != before {
		t.Errorf("second run made %d mutations", after-before)
	}
	if second.Outputs["already_isolated"] != true || second.Outputs["quarantine_group_id"] != first.Outputs["quarantine_group_id"] {
		t.Errorf("second outputs = %v", second.Outputs)
	}
	if len(second.Changes) != 0 {
		t.Errorf("second run reports changes: %+v", second.Changes)
	}
	if !reflect.DeepEqual(first.Outputs["network_interfaces"], second.Outputs["network_interfaces"]) {
		t.Errorf("original groups differ: %v vs %v", first.Outputs["network_interfaces"], second.Outputs["network_interfaces"])
	}
	for eniID, rec := range records {
		if got := eniOf(h, eniID).Tags[actions.TagOriginalGroups]; got != rec {
			t.Errorf("%s record changed %q → %q", eniID, rec, got)
		}
	}
	if n := len(quarantineGroups(h, fleet.VPCID, "cordon-quarantine")); n != 1 {
		t.Errorf("quarantine groups = %d", n)
	}
}

// A fleet isolated in parallel races to create the VPC's quarantine group:
// exactly one must exist afterwards, and every instance must be in it.
func TestConcurrentIsolationsShareOneQuarantineGroup(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	fleet := h.fleet(awsemu.FleetSpec{Instances: 6, NetworkInterfaces: 1})
	var wg sync.WaitGroup
	errs := make(chan error, len(fleet.InstanceIDs))
	for _, id := range fleet.InstanceIDs {
		wg.Go(func() {
			if _, err := h.run(actions.Execute, "aws.ec2.isolate_instance", map[string]any{"instance_id": id}); err != nil {
				errs <- fmt.Errorf("%s: %w", id, err)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	groups := quarantineGroups(h, fleet.VPCID, "cordon-quarantine")
	if len(groups) != 1 {
		t.Fatalf("quarantine groups = %d, want 1", len(groups))
	}
	assertSealed(t, groups[0])
	for _, id := range fleet.InstanceIDs {
		for _, eniID := range instanceOf(h, id).NetworkInterfaceIDs {
			if n := eniOf(h, eniID); !slices.Equal(n.SecurityGroupIDs, []string{groups[0].ID}) {
				t.Errorf("%s/%s groups = %v", id, eniID, n.SecurityGroupIDs)
			}
		}
	}
}

// An attempt that crashed between creating the group and revoking its
// default allow-all egress left a leaky group: the next attempt seals it.
func TestIsolateSealsAGroupLeftOpenByACrashedAttempt(t *testing.T) {
	h := newHarness(t)
	fleet := h.fleet(awsemu.FleetSpec{Instances: 1})
	_, err := ec2Setup(h).CreateSecurityGroup(context.Background(), &ec2.CreateSecurityGroupInput{
		GroupName: aws.String("cordon-quarantine"), Description: aws.String("left by a crash"), VpcId: aws.String(fleet.VPCID),
		TagSpecifications: []ec2types.TagSpecification{{ResourceType: ec2types.ResourceTypeSecurityGroup, Tags: []ec2types.Tag{
			{Key: aws.String(actions.TagQuarantine), Value: aws.String("empty")}, {Key: aws.String(actions.TagRun), Value: aws.String("run-1")},
		}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if g := quarantineGroups(h, fleet.VPCID, "cordon-quarantine"); len(g) != 1 || len(g[0].Egress) == 0 {
		t.Fatalf("setup: %+v", g)
	}
	h.execute("aws.ec2.isolate_instance", map[string]any{"instance_id": fleet.InstanceIDs[0]})
	g := quarantineGroups(h, fleet.VPCID, "cordon-quarantine")
	if len(g) != 1 {
		t.Fatalf("groups = %+v", g)
	}
	assertSealed(t, g[0])
}

// A retry after a failure part-way must not record again: the record
// keeps the groups from before the first attempt.
func TestIsolateRetryAfterFailureKeepsTheFirstRecord(t *testing.T) {
	h := newHarness(t)
	fleet := h.fleet(awsemu.FleetSpec{Instances: 1, NetworkInterfaces: 2})
	id := fleet.InstanceIDs[0]
	h.emu.FailNext("ec2:ModifyNetworkInterfaceAttribute", "InternalError", 500, 3)
	if _, err := h.run(actions.Execute, "aws.ec2.isolate_instance", map[string]any{"instance_id": id}); err == nil || isNonRetryable(err) {
		t.Fatalf("first attempt: err = %v, want a retryable failure", err)
	}
	res := h.execute("aws.ec2.isolate_instance", map[string]any{"instance_id": id})
	q := res.Outputs["quarantine_group_id"].(string)
	recordWrites := 0
	for _, c := range h.emu.Mutations() {
		if c.IAMAction == "ec2:CreateTags" {
			recordWrites++
		}
	}
	if recordWrites != 2 {
		t.Errorf("record writes = %d, want one per ENI", recordWrites)
	}
	for _, eniID := range instanceOf(h, id).NetworkInterfaceIDs {
		n := eniOf(h, eniID)
		if !slices.Equal(n.SecurityGroupIDs, []string{q}) || n.Tags[actions.TagOriginalGroups] != fleet.SecurityGroupID {
			t.Errorf("%s: groups %v record %q", eniID, n.SecurityGroupIDs, n.Tags[actions.TagOriginalGroups])
		}
	}
}

func TestTwoPhaseIsolationEndsInTheEmptyGroupThroughTheUntrackedOne(t *testing.T) {
	h := newHarness(t)
	fleet := h.fleet(awsemu.FleetSpec{Instances: 1, NetworkInterfaces: 2})
	id := fleet.InstanceIDs[0]
	res := h.execute("aws.ec2.isolate_instance", map[string]any{"instance_id": id, "two_phase": true})

	q := quarantineGroups(h, fleet.VPCID, "cordon-quarantine")
	u := quarantineGroups(h, fleet.VPCID, "cordon-quarantine-untracked")
	if len(q) != 1 || len(u) != 1 {
		t.Fatalf("groups: quarantine %d, untracked %d", len(q), len(u))
	}
	assertSealed(t, q[0])
	if u[0].Tags[actions.TagQuarantine] != "untracked" {
		t.Errorf("untracked group tags = %v", u[0].Tags)
	}
	for _, rules := range [][]awsemu.Permission{u[0].Ingress, u[0].Egress} {
		var v4, v6 bool
		for _, r := range rules {
			v4 = v4 || r.Protocol == "-1" && slices.Contains(r.CIDRs, "0.0.0.0/0")
			v6 = v6 || r.Protocol == "-1" && slices.Contains(r.IPv6CIDRs, "::/0")
		}
		if !v4 || !v6 {
			t.Errorf("untracked group rules = %+v, want all traffic to and from 0.0.0.0/0 and ::/0", rules)
		}
	}
	for _, eniID := range instanceOf(h, id).NetworkInterfaceIDs {
		n := eniOf(h, eniID)
		if !slices.Equal(n.SecurityGroupIDs, []string{q[0].ID}) || n.Tags[actions.TagOriginalGroups] != fleet.SecurityGroupID {
			t.Errorf("%s: groups %v record %q", eniID, n.SecurityGroupIDs, n.Tags[actions.TagOriginalGroups])
		}
		// The record of the passage through the untracked group.
		var path []string
		for _, c := range res.Changes {
			if c.Resource == eniID && c.Field == "security_groups" {
				path = append(path, fmt.Sprint(c.After))
			}
		}
		if want := []string{fmt.Sprint([]any{u[0].ID}), fmt.Sprint([]any{q[0].ID})}; !slices.Equal(path, want) {
			t.Errorf("%s went through %v, want %v", eniID, path, want)
		}
	}
	h.assertDeclared("aws.ec2.isolate_instance")
}

// Two-phase crash recovery: an interface left in the untracked group with
// its record must end quarantined with the original record intact.
func TestTwoPhaseRetryFromTheUntrackedGroupKeepsTheOriginalRecord(t *testing.T) {
	h := newHarness(t)
	fleet := h.fleet(awsemu.FleetSpec{Instances: 2, NetworkInterfaces: 1})
	h.execute("aws.ec2.isolate_instance", map[string]any{"instance_id": fleet.InstanceIDs[0], "two_phase": true})
	u := quarantineGroups(h, fleet.VPCID, "cordon-quarantine-untracked")[0]
	eniID := instanceOf(h, fleet.InstanceIDs[1]).NetworkInterfaceIDs[0]
	ctx := context.Background()
	if _, err := ec2Setup(h).CreateTags(ctx, &ec2.CreateTagsInput{Resources: []string{eniID},
		Tags: []ec2types.Tag{{Key: aws.String(actions.TagOriginalGroups), Value: aws.String(fleet.SecurityGroupID)}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := ec2Setup(h).ModifyNetworkInterfaceAttribute(ctx, &ec2.ModifyNetworkInterfaceAttributeInput{
		NetworkInterfaceId: aws.String(eniID), Groups: []string{u.ID}}); err != nil {
		t.Fatal(err)
	}
	res := h.execute("aws.ec2.isolate_instance", map[string]any{"instance_id": fleet.InstanceIDs[1], "two_phase": true})
	n := eniOf(h, eniID)
	if !slices.Equal(n.SecurityGroupIDs, []string{res.Outputs["quarantine_group_id"].(string)}) || n.Tags[actions.TagOriginalGroups] != fleet.SecurityGroupID {
		t.Errorf("groups %v record %q", n.SecurityGroupIDs, n.Tags[actions.TagOriginalGroups])
	}
	if enis := decodeOutput[[]isolatedENI](t, res, "network_interfaces"); !slices.Equal(enis[0].OriginalGroupIDs, []string{fleet.SecurityGroupID}) {
		t.Errorf("output = %+v", enis)
	}
}

func TestIsolatePreviewMutatesNothingAndIsStable(t *testing.T) {
	h := newHarness(t)
	fleet := h.fleet(awsemu.FleetSpec{Instances: 1, NetworkInterfaces: 3})
	id := fleet.InstanceIDs[0]
	params := map[string]any{"instance_id": id, "two_phase": true}
	first, err := h.run(actions.Preview, "aws.ec2.isolate_instance", params)
	if err != nil {
		t.Fatal(err)
	}
	second, err := h.run(actions.Preview, "aws.ec2.isolate_instance", params)
	if err != nil {
		t.Fatal(err)
	}
	if m := h.mutations(); len(m) != 0 {
		t.Fatalf("preview mutated: %v", m)
	}
	if !reflect.DeepEqual(first.Changes, second.Changes) || !reflect.DeepEqual(first.Outputs, second.Outputs) {
		t.Errorf("previews differ:\n%+v\n%+v", first.Changes, second.Changes)
	}
	// Every ENI: app group → (new) untracked → (new) quarantine, and a record.
	for _, eniID := range instanceOf(h, id).NetworkInterfaceIDs {
		var afters []string
		record := false
		for _, c := range first.Changes {
			if c.Resource != eniID {
				continue
			}
			if c.Field == "tag "+actions.TagOriginalGroups && c.After == fleet.SecurityGroupID {
				record = true
			}
			if c.Field == "security_groups" {
				afters = append(afters, fmt.Sprint(c.After))
			}
		}
		want := []string{"[(new) cordon-quarantine-untracked]", "[(new) cordon-quarantine]"}
		if !record || !slices.Equal(afters, want) {
			t.Errorf("%s preview: record %v, groups after %v; changes %+v", eniID, record, afters, first.Changes)
		}
	}
	if n := countCalls(h, "ec2:ModifyNetworkInterfaceAttribute", true); n != 12 {
		t.Errorf("dry-run ModifyNetworkInterfaceAttribute calls = %d, want 2 per ENI per preview", n)
	}
}

func TestIsolatePreviewNamesAnExistingQuarantineGroup(t *testing.T) {
	h := newHarness(t)
	fleet := h.fleet(awsemu.FleetSpec{Instances: 2, NetworkInterfaces: 1})
	h.execute("aws.ec2.isolate_instance", map[string]any{"instance_id": fleet.InstanceIDs[0]})
	q := quarantineGroups(h, fleet.VPCID, "cordon-quarantine")[0]
	h.emu.ResetCalls()
	res, err := h.run(actions.Preview, "aws.ec2.isolate_instance", map[string]any{"instance_id": fleet.InstanceIDs[1]})
	if err != nil {
		t.Fatal(err)
	}
	if m := h.mutations(); len(m) != 0 {
		t.Fatalf("preview mutated: %v", m)
	}
	eniID := instanceOf(h, fleet.InstanceIDs[1]).NetworkInterfaceIDs[0]
	want := actions.Change{Resource: eniID, Field: "security_groups", Before: []any{fleet.SecurityGroupID}, After: []any{q.ID}}
	if !slices.ContainsFunc(res.Changes, func(c actions.Change) bool { return reflect.DeepEqual(c, want) }) {
		t.Errorf("changes = %+v, want %+v", res.Changes, want)
	}
	if res.Outputs["quarantine_group_id"] != q.ID {
		t.Errorf("outputs = %v", res.Outputs)
	}
}

func TestIsolateSucceedsThroughThrottling(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	fleet := h.fleet(awsemu.FleetSpec{Instances: 1})
	h.emu.FailNext("ModifyNetworkInterfaceAttribute", "RequestLimitExceeded", 503, 2)
	res := h.execute("aws.ec2.isolate_instance", map[string]any{"instance_id": fleet.InstanceIDs[0]})
	eniID := instanceOf(h, fleet.InstanceIDs[0]).NetworkInterfaceIDs[0]
	if n := eniOf(h, eniID); !slices.Equal(n.SecurityGroupIDs, []string{res.Outputs["quarantine_group_id"].(string)}) {
		t.Errorf("groups = %v", n.SecurityGroupIDs)
	}
	if n := len(quarantineGroups(h, fleet.VPCID, "cordon-quarantine")); n != 1 {
		t.Errorf("quarantine groups = %d", n)
	}
}

// A group that merely has our name is not ours: Cordon refuses to put
// instances in it rather than trust rules it did not set.
func TestIsolateRefusesAForeignGroupWithTheQuarantineName(t *testing.T) {
	h := newHarness(t)
	fleet := h.fleet(awsemu.FleetSpec{Instances: 1})
	if _, err := ec2Setup(h).CreateSecurityGroup(context.Background(), &ec2.CreateSecurityGroupInput{
		GroupName: aws.String("cordon-quarantine"), Description: aws.String("someone else's"), VpcId: aws.String(fleet.VPCID),
	}); err != nil {
		t.Fatal(err)
	}
	h.emu.ResetCalls()
	_, err := h.run(actions.Execute, "aws.ec2.isolate_instance", map[string]any{"instance_id": fleet.InstanceIDs[0]})
	if err == nil || !isNonRetryable(err) || errorType(err) != actions.ErrConflict || !strings.Contains(err.Error(), "quarantine_group_name") {
		t.Fatalf("err = %v", err)
	}
	if m := h.mutations(); len(m) != 0 {
		t.Errorf("mutations: %v", m)
	}
}

func TestRestorePutsTheExactOriginalGroupsBackAndRemovesTheRecord(t *testing.T) {
	h := newHarness(t)
	fleet := h.fleet(awsemu.FleetSpec{Instances: 1, NetworkInterfaces: 3})
	id := fleet.InstanceIDs[0]
	// Give the interfaces different group sets, so a mix-up would show.
	ctx := context.Background()
	extra, err := ec2Setup(h).CreateSecurityGroup(ctx, &ec2.CreateSecurityGroupInput{
		GroupName: aws.String("monitoring"), Description: aws.String("monitoring"), VpcId: aws.String(fleet.VPCID)})
	if err != nil {
		t.Fatal(err)
	}
	enis := instanceOf(h, id).NetworkInterfaceIDs
	if _, err := ec2Setup(h).ModifyNetworkInterfaceAttribute(ctx, &ec2.ModifyNetworkInterfaceAttributeInput{
		NetworkInterfaceId: aws.String(enis[1]), Groups: []string{aws.ToString(extra.GroupId), fleet.SecurityGroupID}}); err != nil {
		t.Fatal(err)
	}
	original := map[string][]string{}
	for _, e := range enis {
		original[e] = eniOf(h, e).SecurityGroupIDs
	}
	h.execute("aws.ec2.isolate_instance", map[string]any{"instance_id": id})
	h.emu.ResetCalls()

	res := h.execute("aws.ec2.restore_isolation", map[string]any{"instance_id": id})

	for _, e := range enis {
		n := eniOf(h, e)
		if !slices.Equal(n.SecurityGroupIDs, original[e]) {
			t.Errorf("%s groups = %v, want %v", e, n.SecurityGroupIDs, original[e])
		}
		for k := range n.Tags {
			if strings.HasPrefix(k, actions.TagOriginalGroups) {
				t.Errorf("%s still carries %s", e, k)
			}
		}
	}
	out := decodeOutput[[]isolatedENI](t, res, "network_interfaces")
	if len(out) != 3 || !slices.Equal(out[1].OriginalGroupIDs, original[enis[1]]) {
		t.Errorf("output = %+v", out)
	}
	h.assertDeclared("aws.ec2.restore_isolation")

	// Again: nothing left to restore, nothing changes.
	before := len(h.emu.Mutations())
	again := h.execute("aws.ec2.restore_isolation", map[string]any{"instance_id": id})
	if len(h.emu.Mutations()) != before || len(again.Changes) != 0 || len(again.Notes) != 3 {
		t.Errorf("second restore: changes %+v notes %v", again.Changes, again.Notes)
	}
}

func TestRestorePreviewMutatesNothing(t *testing.T) {
	h := newHarness(t)
	fleet := h.fleet(awsemu.FleetSpec{Instances: 1, NetworkInterfaces: 2})
	id := fleet.InstanceIDs[0]
	iso := h.execute("aws.ec2.isolate_instance", map[string]any{"instance_id": id})
	h.emu.ResetCalls()
	res, err := h.run(actions.Preview, "aws.ec2.restore_isolation", map[string]any{"instance_id": id})
	if err != nil {
		t.Fatal(err)
	}
	if m := h.mutations(); len(m) != 0 {
		t.Fatalf("preview mutated: %v", m)
	}
	q := iso.Outputs["quarantine_group_id"].(string)
	for _, e := range instanceOf(h, id).NetworkInterfaceIDs {
		want := actions.Change{Resource: e, Field: "security_groups", Before: []any{q}, After: []any{fleet.SecurityGroupID}}
		if !slices.ContainsFunc(res.Changes, func(c actions.Change) bool { return reflect.DeepEqual(c, want) }) {
			t.Errorf("changes = %+v, want %+v", res.Changes, want)
		}
		if n := eniOf(h, e); !slices.Equal(n.SecurityGroupIDs, []string{q}) {
			t.Errorf("%s groups = %v", e, n.SecurityGroupIDs)
		}
	}
	if n := countCalls(h, "ec2:ModifyNetworkInterfaceAttribute", true); n != 2 {
		t.Errorf("dry-run modify calls = %d", n)
	}
}

// Interfaces with many groups need a record longer than one tag holds.
func TestIsolateAndRestoreManyGroupsAcrossSeveralRecordTags(t *testing.T) {
	h := newHarness(t)
	fleet := h.fleet(awsemu.FleetSpec{Instances: 1})
	ctx := context.Background()
	var groups []string
	for i := range 15 {
		out, err := ec2Setup(h).CreateSecurityGroup(ctx, &ec2.CreateSecurityGroupInput{
			GroupName: aws.String(fmt.Sprintf("app-%d", i)), Description: aws.String("app"), VpcId: aws.String(fleet.VPCID)})
		if err != nil {
			t.Fatal(err)
		}
		groups = append(groups, aws.ToString(out.GroupId))
	}
	in, err := h.emu.AddInstance(awsemu.InstanceSpec{Name: "many-groups", SubnetID: fleet.SubnetIDs[0], SecurityGroupIDs: groups, NetworkInterfaces: 2})
	if err != nil {
		t.Fatal(err)
	}
	h.execute("aws.ec2.isolate_instance", map[string]any{"instance_id": in.ID})
	for _, e := range in.NetworkInterfaceIDs {
		tags := eniOf(h, e).Tags
		if len(tags[actions.TagOriginalGroups]) > 255 || tags[actions.TagOriginalGroups+":2"] == "" {
			t.Fatalf("%s record tags = %v", e, tags)
		}
	}
	h.execute("aws.ec2.restore_isolation", map[string]any{"instance_id": in.ID})
	for _, e := range in.NetworkInterfaceIDs {
		n := eniOf(h, e)
		if !slices.Equal(n.SecurityGroupIDs, groups) || len(n.Tags) != 0 {
			t.Errorf("%s: groups %v tags %v", e, n.SecurityGroupIDs, n.Tags)
		}
	}
}

// Hosts of one VPC are isolated in parallel: between reading the
// quarantine group and revoking its leftover egress rule, another
// isolation may have revoked it. The preview (and the real run) must take
// the group as it now is, not fail the host (found by cordon bench at 100
// hosts).
func TestIsolatePreviewToleratesAConcurrentSeal(t *testing.T) {
	h := newHarness(t)
	fleet := h.fleet(awsemu.FleetSpec{Instances: 1})
	_, err := ec2Setup(h).CreateSecurityGroup(context.Background(), &ec2.CreateSecurityGroupInput{
		GroupName: aws.String("cordon-quarantine"), Description: aws.String("being sealed by another host"), VpcId: aws.String(fleet.VPCID),
		TagSpecifications: []ec2types.TagSpecification{{ResourceType: ec2types.ResourceTypeSecurityGroup, Tags: []ec2types.Tag{
			{Key: aws.String(actions.TagQuarantine), Value: aws.String("empty")},
		}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, mode := range []actions.Mode{actions.Preview, actions.Execute} {
		h.emu.FailNext("RevokeSecurityGroupEgress", "InvalidPermission.NotFound", 400, 1)
		if _, err := h.run(mode, "aws.ec2.isolate_instance", map[string]any{"instance_id": fleet.InstanceIDs[0]}); err != nil {
			t.Fatalf("%s: %v", mode, err)
		}
	}
}
