package actions_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
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

// setShutdownBehavior sets the instance's shutdown behaviour through the
// SDK, as its owner may have: terminate, so that protecting it changes it.
func setShutdownBehavior(t *testing.T, h *harness, id, behavior string) {
	t.Helper()
	if _, err := ec2Setup(h).ModifyInstanceAttribute(context.Background(), &ec2.ModifyInstanceAttributeInput{
		InstanceId: aws.String(id), InstanceInitiatedShutdownBehavior: &ec2types.AttributeValue{Value: aws.String(behavior)}}); err != nil {
		t.Fatal(err)
	}
}

// tagResource puts one tag on an EC2 resource through the SDK, as someone
// other than this step would (or an earlier attempt did).
func tagResource(t *testing.T, h *harness, id, key, value string) {
	t.Helper()
	if _, err := ec2Setup(h).CreateTags(context.Background(), &ec2.CreateTagsInput{Resources: []string{id},
		Tags: []ec2types.Tag{{Key: aws.String(key), Value: aws.String(value)}}}); err != nil {
		t.Fatal(err)
	}
}

// addGroup creates a security group in the VPC through the SDK, as
// someone other than this step would, with the tags, and returns its id.
func addGroup(t *testing.T, client *ec2.Client, vpcID, name, description string, tags map[string]string) string {
	t.Helper()
	in := &ec2.CreateSecurityGroupInput{GroupName: aws.String(name), Description: aws.String(description), VpcId: aws.String(vpcID)}
	if len(tags) > 0 {
		var ts []ec2types.Tag
		for _, k := range slices.Sorted(maps.Keys(tags)) {
			ts = append(ts, ec2types.Tag{Key: aws.String(k), Value: aws.String(tags[k])})
		}
		in.TagSpecifications = []ec2types.TagSpecification{{ResourceType: ec2types.ResourceTypeSecurityGroup, Tags: ts}}
	}
	out, err := client.CreateSecurityGroup(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	return aws.ToString(out.GroupId)
}

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
	return held(h.t, "ENI", id, h.emu.NetworkInterface)
}

func instanceOf(h *harness, id string) awsemu.Instance {
	h.t.Helper()
	return held(h.t, "instance", id, h.emu.Instance)
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
	fleet, id := h.seedInstance(awsemu.FleetSpec{Instances: 1, NetworkInterfaces: 2})
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
	assertSealed(t, isolateInParallel(t, h, fleet, nil))
}

// isolateInParallel isolates every instance of the fleet at once, with
// the extra params, and checks that all their interfaces ended in the
// VPC's one quarantine group, which it returns.
func isolateInParallel(t *testing.T, h *harness, fleet awsemu.FleetInfo, extra map[string]any) awsemu.SecurityGroup {
	t.Helper()
	var wg sync.WaitGroup
	errs := make(chan error, len(fleet.InstanceIDs))
	for _, id := range fleet.InstanceIDs {
		params := map[string]any{"instance_id": id}
		maps.Copy(params, extra)
		wg.Go(func() {
			if _, err := h.run(actions.Execute, "aws.ec2.isolate_instance", params); err != nil {
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
	for _, id := range fleet.InstanceIDs {
		for _, eniID := range instanceOf(h, id).NetworkInterfaceIDs {
			if n := eniOf(h, eniID); !slices.Equal(n.SecurityGroupIDs, []string{groups[0].ID}) {
				t.Errorf("%s/%s groups = %v", id, eniID, n.SecurityGroupIDs)
			}
		}
	}
	return groups[0]
}

// An attempt that crashed between creating the group and revoking its
// default allow-all egress left a leaky group: the next attempt seals it.
func TestIsolateSealsAGroupLeftOpenByACrashedAttempt(t *testing.T) {
	h := newHarness(t)
	fleet := h.fleet(awsemu.FleetSpec{Instances: 1})
	addGroup(t, ec2Setup(h), fleet.VPCID, "cordon-quarantine", "left by a crash", map[string]string{actions.TagQuarantine: "empty", actions.TagRun: "run-1"})
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
	fleet, id := h.seedInstance(awsemu.FleetSpec{Instances: 1, NetworkInterfaces: 2})
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

// cordonGroupsAdmittingTheInternet lists the groups Cordon made (tagged
// cordon:quarantine) that let anything in from 0.0.0.0/0 or ::/0.
func cordonGroupsAdmittingTheInternet(h *harness) []string {
	var out []string
	for _, g := range h.emu.SecurityGroups() {
		if g.Tags[actions.TagQuarantine] == "" {
			continue
		}
		for _, r := range g.Ingress {
			if slices.Contains(r.CIDRs, "0.0.0.0/0") || slices.Contains(r.IPv6CIDRs, "::/0") {
				out = append(out, g.ID+" ("+g.Name+")")
			}
		}
	}
	return out
}

// untrackedGroups lists the two-phase groups left in the VPC.
func untrackedGroups(h *harness, vpcID string) []awsemu.SecurityGroup {
	var out []awsemu.SecurityGroup
	for _, g := range h.emu.SecurityGroups() {
		if g.VPCID == vpcID && g.Tags[actions.TagQuarantine] == "untracked" {
			out = append(out, g)
		}
	}
	return out
}

// untrackedName is the name of the two-phase group an isolation of the
// instance would create, as its preview shows it.
func untrackedName(t *testing.T, h *harness, instanceID string) string {
	t.Helper()
	res, err := h.run(actions.Preview, "aws.ec2.isolate_instance", map[string]any{"instance_id": instanceID, "two_phase": true})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range res.Changes {
		if name, ok := strings.CutPrefix(c.Field, "security group "); ok && strings.Contains(name, "-untracked-") {
			return name
		}
	}
	t.Fatalf("no two-phase group in the preview: %+v", res.Changes)
	return ""
}

// openGroup creates a group with the two-phase group's tags and rules, as
// an attempt that crashed would have left it.
func openGroup(t *testing.T, h *harness, vpcID, name string) string {
	t.Helper()
	id := addGroup(t, ec2Setup(h), vpcID, name, "left by a crash", map[string]string{actions.TagQuarantine: "untracked", actions.TagRun: "run-1"})
	if _, err := ec2Setup(h).AuthorizeSecurityGroupIngress(context.Background(), &ec2.AuthorizeSecurityGroupIngressInput{GroupId: aws.String(id),
		IpPermissions: []ec2types.IpPermission{{IpProtocol: aws.String("-1"), IpRanges: []ec2types.IpRange{{CidrIp: aws.String("0.0.0.0/0")}}}}}); err != nil {
		t.Fatal(err)
	}
	return id
}

func TestTwoPhaseIsolationEndsInTheEmptyGroupThroughAnUntrackedOneItDeletes(t *testing.T) {
	h := newHarness(t)
	fleet, id := h.seedInstance(awsemu.FleetSpec{Instances: 1, NetworkInterfaces: 2})
	res := h.execute("aws.ec2.isolate_instance", map[string]any{"instance_id": id, "two_phase": true})

	q := quarantineGroups(h, fleet.VPCID, "cordon-quarantine")
	if len(q) != 1 {
		t.Fatalf("quarantine groups %d", len(q))
	}
	assertSealed(t, q[0])
	// The allow-all group served and is gone: nothing admitting the
	// internet is left for a responder to pick.
	if u := untrackedGroups(h, fleet.VPCID); len(u) != 0 {
		t.Errorf("two-phase groups left: %+v", u)
	}
	if open := cordonGroupsAdmittingTheInternet(h); len(open) != 0 {
		t.Errorf("groups admitting the internet: %v", open)
	}
	if n := countCalls(h, "ec2:DeleteSecurityGroup", false); n != 1 {
		t.Errorf("DeleteSecurityGroup calls = %d", n)
	}
	// The record of the passage through the untracked group, which
	// allowed all traffic both ways over IPv4 and IPv6.
	var u string
	for _, c := range res.Changes {
		if c.Field == "ingress" {
			u = c.Resource
			if got := fmt.Sprint(c.After); !strings.Contains(got, "all 0.0.0.0/0") || !strings.Contains(got, "all ::/0") {
				t.Errorf("untracked group ingress = %v", got)
			}
		}
	}
	if u == "" {
		t.Fatalf("no untracked group in the changes: %+v", res.Changes)
	}
	enis := decodeOutput[[]isolatedENIExposure](t, res, "network_interfaces")
	for i, eniID := range instanceOf(h, id).NetworkInterfaceIDs {
		n := eniOf(h, eniID)
		if !slices.Equal(n.SecurityGroupIDs, []string{q[0].ID}) || n.Tags[actions.TagOriginalGroups] != fleet.SecurityGroupID {
			t.Errorf("%s: groups %v record %q", eniID, n.SecurityGroupIDs, n.Tags[actions.TagOriginalGroups])
		}
		var path []string
		for _, c := range res.Changes {
			if c.Resource == eniID && c.Field == "security_groups" {
				path = append(path, fmt.Sprint(c.After))
			}
		}
		if want := []string{fmt.Sprint([]any{u}), fmt.Sprint([]any{q[0].ID})}; !slices.Equal(path, want) {
			t.Errorf("%s went through %v, want %v", eniID, path, want)
		}
		if enis[i].NetworkInterfaceID != eniID || enis[i].ExposureMS < 0 {
			t.Errorf("output %d = %+v", i, enis[i])
		}
	}
	if _, ok := res.Outputs["max_exposure_ms"].(float64); !ok {
		t.Errorf("max_exposure_ms = %v", res.Outputs["max_exposure_ms"])
	}
	h.assertDeclared("aws.ec2.isolate_instance")
	assertOutputsMatchSpec(t, "aws.ec2.isolate_instance", res)
}

type isolatedENIExposure struct {
	NetworkInterfaceID string   `json:"network_interface_id"`
	OriginalGroupIDs   []string `json:"original_group_ids"`
	ExposureMS         int64    `json:"exposure_ms"`
}

// Two-phase crash recovery: an interface left in this isolation's
// untracked group with its record must end quarantined with the original
// record intact, and the group left by the crash must go.
func TestTwoPhaseRetryFromTheUntrackedGroupKeepsTheOriginalRecordAndDeletesTheGroup(t *testing.T) {
	h := newHarness(t)
	fleet, id := h.seedInstance(awsemu.FleetSpec{Instances: 1, NetworkInterfaces: 1})
	u := openGroup(t, h, fleet.VPCID, untrackedName(t, h, id))
	eniID := instanceOf(h, id).NetworkInterfaceIDs[0]
	ctx := context.Background()
	tagResource(t, h, eniID, actions.TagOriginalGroups, fleet.SecurityGroupID)
	if _, err := ec2Setup(h).ModifyNetworkInterfaceAttribute(ctx, &ec2.ModifyNetworkInterfaceAttributeInput{
		NetworkInterfaceId: aws.String(eniID), Groups: []string{u}}); err != nil {
		t.Fatal(err)
	}
	res := h.execute("aws.ec2.isolate_instance", map[string]any{"instance_id": id, "two_phase": true})
	n := eniOf(h, eniID)
	if !slices.Equal(n.SecurityGroupIDs, []string{res.Outputs["quarantine_group_id"].(string)}) || n.Tags[actions.TagOriginalGroups] != fleet.SecurityGroupID {
		t.Errorf("groups %v record %q", n.SecurityGroupIDs, n.Tags[actions.TagOriginalGroups])
	}
	if enis := decodeOutput[[]isolatedENI](t, res, "network_interfaces"); !slices.Equal(enis[0].OriginalGroupIDs, []string{fleet.SecurityGroupID}) {
		t.Errorf("output = %+v", enis)
	}
	if _, ok := h.emu.SecurityGroup(u); ok {
		t.Errorf("the two-phase group %s left by the crash is still there", u)
	}
}

// A crash after the isolation but before the group was deleted: the next
// attempt finds every interface quarantined and still deletes the group.
func TestTwoPhaseRetryDeletesTheGroupACrashLeftBehind(t *testing.T) {
	h := newHarness(t)
	fleet, id := h.seedInstance(awsemu.FleetSpec{Instances: 1, NetworkInterfaces: 2})
	name := untrackedName(t, h, id)
	h.execute("aws.ec2.isolate_instance", map[string]any{"instance_id": id})
	u := openGroup(t, h, fleet.VPCID, name)
	res := h.execute("aws.ec2.isolate_instance", map[string]any{"instance_id": id, "two_phase": true})
	if res.Outputs["already_isolated"] != true {
		t.Errorf("outputs = %v", res.Outputs)
	}
	if _, ok := h.emu.SecurityGroup(u); ok {
		t.Errorf("the two-phase group %s is still there", u)
	}
}

// Hosts of a fleet are isolated in parallel in one VPC: each has its own
// two-phase group, none is left, and no isolation deletes a group another
// still needs.
func TestConcurrentTwoPhaseIsolationsLeaveNoOpenGroup(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	fleet := h.fleet(awsemu.FleetSpec{Instances: 6, NetworkInterfaces: 2})
	isolateInParallel(t, h, fleet, map[string]any{"two_phase": true})
	if u := untrackedGroups(h, fleet.VPCID); len(u) != 0 {
		t.Errorf("two-phase groups left: %d", len(u))
	}
	if n := failedWith(h, "DependencyViolation"); n != 0 {
		t.Errorf("%d deletions met a group still in use", n)
	}
}

// Someone attached the two-phase group to another interface meanwhile:
// AWS refuses to delete it (DependencyViolation), which is not a failure
// of the isolation, and the group is emptied so that it admits nothing.
func TestTwoPhaseGroupStillInUseIsEmptiedInsteadOfDeleted(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	fleet := h.fleet(awsemu.FleetSpec{Instances: 2, NetworkInterfaces: 1})
	id, other := fleet.InstanceIDs[0], fleet.InstanceIDs[1]
	u := openGroup(t, h, fleet.VPCID, untrackedName(t, h, id))
	neighbour := instanceOf(h, other).NetworkInterfaceIDs[0]
	if _, err := ec2Setup(h).ModifyNetworkInterfaceAttribute(context.Background(), &ec2.ModifyNetworkInterfaceAttributeInput{
		NetworkInterfaceId: aws.String(neighbour), Groups: []string{u}}); err != nil {
		t.Fatal(err)
	}
	res := h.execute("aws.ec2.isolate_instance", map[string]any{"instance_id": id, "two_phase": true})
	g, ok := h.emu.SecurityGroup(u)
	if !ok {
		t.Fatalf("group %s in use was deleted", u)
	}
	if len(g.Ingress) != 0 || len(g.Egress) != 0 {
		t.Errorf("group in use still has rules: %+v %+v", g.Ingress, g.Egress)
	}
	if failedWith(h, "DependencyViolation") == 0 || !hasNote(res.Notes, "still in use") {
		t.Errorf("notes %q", res.Notes)
	}
	if open := cordonGroupsAdmittingTheInternet(h); len(open) != 0 {
		t.Errorf("groups admitting the internet: %v", open)
	}
	h.assertDeclared("aws.ec2.isolate_instance")
}

// EC2 is eventually consistent: a group created a moment ago may be
// reported not found. The isolation retries with backoff, not fails.
func TestTwoPhaseIsolationToleratesAGroupNotYetVisible(t *testing.T) {
	h := newHarness(t)
	fleet := h.fleet(awsemu.FleetSpec{Instances: 1, NetworkInterfaces: 2})
	h.emu.SetConsistencyLag(3)
	res := h.execute("aws.ec2.isolate_instance", map[string]any{"instance_id": fleet.InstanceIDs[0], "two_phase": true})
	if failedWith(h, "InvalidGroup.NotFound") == 0 {
		t.Fatal("the emulator never answered InvalidGroup.NotFound: the test proves nothing")
	}
	q := res.Outputs["quarantine_group_id"].(string)
	for _, e := range instanceOf(h, fleet.InstanceIDs[0]).NetworkInterfaceIDs {
		if n := eniOf(h, e); !slices.Equal(n.SecurityGroupIDs, []string{q}) {
			t.Errorf("%s groups = %v", e, n.SecurityGroupIDs)
		}
	}
	if u := untrackedGroups(h, fleet.VPCID); len(u) != 0 {
		t.Errorf("two-phase groups left: %+v", u)
	}
}

// faultyHarness is a harness whose AWS calls pass through a proxy that
// answers some of them with an error before they reach the emulator: the
// second of two calls failing, which the emulator's FailNext (the next n
// calls) cannot single out.
func faultyHarness(t *testing.T, fail func(form url.Values) (code string, status int)) *harness {
	t.Helper()
	h := newHarness(t)
	target, err := url.Parse(h.emu.URL())
	if err != nil {
		t.Fatal(err)
	}
	forward := httputil.NewSingleHostReverseProxy(target)
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		form, _ := url.ParseQuery(string(body))
		if code, status := fail(form); code != "" {
			w.WriteHeader(status)
			fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?><Response><Errors><Error><Code>%s</Code><Message>injected by the test proxy</Message></Error></Errors><RequestID>proxy</RequestID></Response>`, code)
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		r.ContentLength = int64(len(body))
		forward.ServeHTTP(w, r)
	}))
	t.Cleanup(proxy.Close)
	h.rt = h.runtimeWith(actions.Options{Clients: h.clients(actions.AWSOptions{Endpoint: proxy.URL})})
	return h
}

// modifyCounter fails ModifyNetworkInterfaceAttribute calls chosen by
// their order (1-based, from the second host on) and the groups they set.
type modifyCounter struct {
	mu         sync.Mutex
	n          int
	quarantine string
	fail       func(n int, groups []string, quarantine string) (string, int)
}

func (m *modifyCounter) check(form url.Values) (string, int) {
	if form.Get("Action") != "ModifyNetworkInterfaceAttribute" || form.Get("DryRun") == "true" {
		return "", 0
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.n++
	var groups []string
	for i := 1; form.Has(fmt.Sprintf("SecurityGroupId.%d", i)); i++ {
		groups = append(groups, form.Get(fmt.Sprintf("SecurityGroupId.%d", i)))
	}
	return m.fail(m.n, groups, m.quarantine)
}

// twoPhaseFaults returns a harness whose ModifyNetworkInterfaceAttribute
// calls fail as fail says (modifyCounter), once a first host is isolated
// so that the VPC's quarantine group q exists; id is a second host to
// isolate.
func twoPhaseFaults(t *testing.T, fail func(n int, groups []string, quarantine string) (string, int)) (h *harness, fleet awsemu.FleetInfo, q, id string) {
	t.Helper()
	m := &modifyCounter{fail: fail}
	h = faultyHarness(t, m.check)
	fleet = h.fleet(awsemu.FleetSpec{Instances: 2, NetworkInterfaces: 1})
	res := h.execute("aws.ec2.isolate_instance", map[string]any{"instance_id": fleet.InstanceIDs[0]})
	q = res.Outputs["quarantine_group_id"].(string)
	m.mu.Lock()
	m.n, m.quarantine = 0, q
	m.mu.Unlock()
	return h, fleet, q, fleet.InstanceIDs[1]
}

// The move to quarantine is refused (an IAM condition on the group, say):
// the interface goes back to its original groups, never left open.
func TestTwoPhaseSecondMoveDeniedPutsTheInterfaceBack(t *testing.T) {
	t.Parallel()
	h, fleet, _, id := twoPhaseFaults(t, func(_ int, groups []string, q string) (string, int) {
		if slices.Equal(groups, []string{q}) {
			return "UnauthorizedOperation", http.StatusForbidden
		}
		return "", 0
	})
	_, err := h.run(actions.Execute, "aws.ec2.isolate_instance", map[string]any{"instance_id": id, "two_phase": true})
	if err == nil || errorType(err) != actions.ErrAccessDenied || !strings.Contains(err.Error(), "ec2:ModifyNetworkInterfaceAttribute") {
		t.Fatalf("err = %v", err)
	}
	eniID := instanceOf(h, id).NetworkInterfaceIDs[0]
	if n := eniOf(h, eniID); !slices.Equal(n.SecurityGroupIDs, []string{fleet.SecurityGroupID}) {
		t.Errorf("groups = %v, want the original %s", n.SecurityGroupIDs, fleet.SecurityGroupID)
	}
	if u := untrackedGroups(h, fleet.VPCID); len(u) != 0 {
		t.Errorf("two-phase groups left: %+v", u)
	}
}

// The second move is throttled beyond the SDK's retries: one more attempt
// quarantines the interface, and the isolation succeeds.
func TestTwoPhaseSecondMoveThrottledStillQuarantines(t *testing.T) {
	t.Parallel()
	h, fleet, q, id := twoPhaseFaults(t, func(n int, _ []string, _ string) (string, int) {
		// Call 1 opens; calls 2-4 are the SDK's three attempts at the
		// second move.
		if n >= 2 && n <= 4 {
			return "RequestLimitExceeded", http.StatusServiceUnavailable
		}
		return "", 0
	})
	res := h.execute("aws.ec2.isolate_instance", map[string]any{"instance_id": id, "two_phase": true})
	eniID := instanceOf(h, id).NetworkInterfaceIDs[0]
	if n := eniOf(h, eniID); !slices.Equal(n.SecurityGroupIDs, []string{q}) {
		t.Errorf("groups = %v, want %s", n.SecurityGroupIDs, q)
	}
	if !hasNote(res.Notes, "put back on the quarantine group") {
		t.Errorf("notes %q", res.Notes)
	}
	if u := untrackedGroups(h, fleet.VPCID); len(u) != 0 {
		t.Errorf("two-phase groups left: %+v", u)
	}
}

// Nothing can move the interface any more after it opened: its own
// two-phase group is emptied of its rules, so it admits nothing.
func TestTwoPhaseInterfaceStuckOpenIsClosedByEmptyingItsGroup(t *testing.T) {
	t.Parallel()
	h, _, _, id := twoPhaseFaults(t, func(n int, _ []string, _ string) (string, int) {
		if n >= 2 {
			return "UnauthorizedOperation", http.StatusForbidden
		}
		return "", 0
	})
	_, err := h.run(actions.Execute, "aws.ec2.isolate_instance", map[string]any{"instance_id": id, "two_phase": true})
	if err == nil {
		t.Fatal("want the isolation to fail")
	}
	n := eniOf(h, instanceOf(h, id).NetworkInterfaceIDs[0])
	if len(n.SecurityGroupIDs) != 1 {
		t.Fatalf("groups = %v", n.SecurityGroupIDs)
	}
	g, _ := h.emu.SecurityGroup(n.SecurityGroupIDs[0])
	if len(g.Ingress) != 0 || len(g.Egress) != 0 {
		t.Errorf("the interface is in %s, which still has rules %+v %+v", g.ID, g.Ingress, g.Egress)
	}
	if open := cordonGroupsAdmittingTheInternet(h); len(open) != 0 {
		t.Errorf("groups admitting the internet: %v", open)
	}
}

// Interfaces an AWS service manages, and EKS/ECS trunk interfaces, are
// refused before the gate: the preview fails naming them and why.
func TestIsolateRefusesInterfacesCordonMustNotMove(t *testing.T) {
	for _, c := range []struct {
		name string
		cfg  awsemu.InterfaceConfig
		want string
	}{
		{"requester-managed", awsemu.InterfaceConfig{InterfaceType: "network_load_balancer", RequesterManaged: true}, "requester-managed"},
		{"vpc endpoint", awsemu.InterfaceConfig{InterfaceType: "vpc_endpoint"}, "vpc_endpoint"},
		{"trunk", awsemu.InterfaceConfig{InterfaceType: "trunk"}, "EKS/ECS trunk"},
	} {
		t.Run(c.name, func(t *testing.T) {
			h := newHarness(t)
			_, id := h.seedInstance(awsemu.FleetSpec{Instances: 1, NetworkInterfaces: 2})
			eniID := instanceOf(h, id).NetworkInterfaceIDs[1]
			if err := h.emu.ConfigureNetworkInterface(eniID, c.cfg); err != nil {
				t.Fatal(err)
			}
			for _, mode := range []actions.Mode{actions.Preview, actions.Execute} {
				_, err := h.run(mode, "aws.ec2.isolate_instance", map[string]any{"instance_id": id})
				if !permanentFailure(err, actions.ErrConflict, eniID, c.want) {
					t.Errorf("%s: err = %v", mode, err)
				}
			}
			h.assertNoMutation()
		})
	}
}

// A NAT instance: source/destination check off and a route table sending
// a subnet's traffic to it. Quarantining it cuts that subnet: refused
// unless allow_nat_instance, and said in the preview.
func TestIsolateRefusesANATInstanceUnlessAllowed(t *testing.T) {
	h := newHarness(t)
	fleet, id := h.seedInstance(awsemu.FleetSpec{Instances: 1, NetworkInterfaces: 1})
	eniID := instanceOf(h, id).NetworkInterfaceIDs[0]
	if err := h.emu.ConfigureNetworkInterface(eniID, awsemu.InterfaceConfig{SourceDestCheckDisabled: true}); err != nil {
		t.Fatal(err)
	}
	rtb, err := h.emu.AddRouteTable(awsemu.RouteTableSpec{VPCID: fleet.VPCID, SubnetIDs: fleet.SubnetIDs[1:2],
		Routes: []awsemu.Route{{DestinationCIDR: "0.0.0.0/0", InstanceID: id}}})
	if err != nil {
		t.Fatal(err)
	}
	_, err = h.run(actions.Preview, "aws.ec2.isolate_instance", map[string]any{"instance_id": id})
	if err == nil || errorType(err) != actions.ErrConflict || !strings.Contains(err.Error(), rtb.ID) ||
		!strings.Contains(err.Error(), fleet.SubnetIDs[1]) || !strings.Contains(err.Error(), "allow_nat_instance") {
		t.Fatalf("preview err = %v", err)
	}
	h.assertNoMutation()
	res := h.execute("aws.ec2.isolate_instance", map[string]any{"instance_id": id, "allow_nat_instance": true})
	if !hasNote(res.Notes, rtb.ID) {
		t.Errorf("notes %q", res.Notes)
	}
	h.assertDeclared("aws.ec2.isolate_instance")
}

// Source/destination check off without any route through the instance
// (an appliance that forwards nothing yet): isolated, with a note.
func TestIsolateForwardingInstanceWithoutRoutesIsIsolated(t *testing.T) {
	h := newHarness(t)
	_, id := h.seedInstance(awsemu.FleetSpec{Instances: 1, NetworkInterfaces: 1})
	if err := h.emu.ConfigureNetworkInterface(instanceOf(h, id).NetworkInterfaceIDs[0], awsemu.InterfaceConfig{SourceDestCheckDisabled: true}); err != nil {
		t.Fatal(err)
	}
	res := h.execute("aws.ec2.isolate_instance", map[string]any{"instance_id": id})
	if !hasNote(res.Notes, "no route table routes through it") {
		t.Errorf("notes %q", res.Notes)
	}
}

// A region at its security-group quota cannot create a quarantine group:
// the configuration names one made beforehand, which isolation uses (and
// seals) instead of creating its own.
func TestIsolateUsesAConfiguredQuarantineGroup(t *testing.T) {
	h := newHarness(t)
	fleet := h.fleet(awsemu.FleetSpec{Instances: 1, NetworkInterfaces: 2})
	q := addGroup(t, ec2Setup(h), fleet.VPCID, "precreated-quarantine", "made by the platform team", nil)
	id := fleet.InstanceIDs[0]
	h.emu.ResetCalls()
	res := h.execute("aws.ec2.isolate_instance", map[string]any{"instance_id": id, "quarantine_group_ids": map[string]any{fleet.VPCID: q}})
	if res.Outputs["quarantine_group_id"] != q {
		t.Errorf("outputs = %v", res.Outputs)
	}
	for _, e := range instanceOf(h, id).NetworkInterfaceIDs {
		if n := eniOf(h, e); !slices.Equal(n.SecurityGroupIDs, []string{q}) {
			t.Errorf("%s groups = %v", e, n.SecurityGroupIDs)
		}
	}
	if g, _ := h.emu.SecurityGroup(q); len(g.Egress) != 0 || len(g.Ingress) != 0 {
		t.Errorf("configured group not sealed: %+v", g)
	}
	if n := countCalls(h, "ec2:CreateSecurityGroup", false); n != 0 {
		t.Errorf("CreateSecurityGroup calls = %d", n)
	}
	other := h.fleet(awsemu.FleetSpec{Instances: 1, NamePrefix: "other"})
	_, err := h.run(actions.Preview, "aws.ec2.isolate_instance", map[string]any{"instance_id": other.InstanceIDs[0], "quarantine_group_ids": map[string]any{other.VPCID: q}})
	if err == nil || errorType(err) != actions.ErrBadParams || !strings.Contains(err.Error(), fleet.VPCID) {
		t.Errorf("group of another VPC: err = %v", err)
	}
}

// The worker's configuration can name the pre-created group per VPC
// (aws.quarantine_group_ids), so runbooks need not carry account details.
func TestIsolateUsesTheWorkersQuarantineGroup(t *testing.T) {
	h := newHarness(t)
	fleet := h.fleet(awsemu.FleetSpec{Instances: 1, NetworkInterfaces: 1})
	q := addGroup(t, ec2Setup(h), fleet.VPCID, "precreated-quarantine", "made by the platform team", nil)
	h.rt = h.runtimeWith(actions.Options{QuarantineGroupIDs: map[string]string{fleet.VPCID: q}})
	h.emu.ResetCalls()
	res := h.execute("aws.ec2.isolate_instance", map[string]any{"instance_id": fleet.InstanceIDs[0]})
	if res.Outputs["quarantine_group_id"] != q {
		t.Errorf("outputs = %v, want the configured group %s", res.Outputs, q)
	}
	if n := countCalls(h, "ec2:CreateSecurityGroup", false); n != 0 {
		t.Errorf("CreateSecurityGroup calls = %d with a configured group", n)
	}
}

func TestIsolatePreviewMutatesNothingAndIsStable(t *testing.T) {
	h := newHarness(t)
	fleet, id := h.seedInstance(awsemu.FleetSpec{Instances: 1, NetworkInterfaces: 3})
	params := map[string]any{"instance_id": id, "two_phase": true}
	first, err := h.run(actions.Preview, "aws.ec2.isolate_instance", params)
	if err != nil {
		t.Fatal(err)
	}
	second := h.preview("aws.ec2.isolate_instance", params)
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
		if !record || len(afters) != 2 || !strings.HasPrefix(afters[0], "[(new) cordon-quarantine-untracked-"+id+"-") || afters[1] != "[(new) cordon-quarantine]" {
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
	res := h.preview("aws.ec2.isolate_instance", map[string]any{"instance_id": fleet.InstanceIDs[1]})
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
	addGroup(t, ec2Setup(h), fleet.VPCID, "cordon-quarantine", "someone else's", nil)
	h.emu.ResetCalls()
	_, err := h.run(actions.Execute, "aws.ec2.isolate_instance", map[string]any{"instance_id": fleet.InstanceIDs[0]})
	if !permanentFailure(err, actions.ErrConflict, "quarantine_group_name") {
		t.Fatalf("err = %v", err)
	}
	h.assertNoMutation()
}

func TestRestorePutsTheExactOriginalGroupsBackAndRemovesTheRecord(t *testing.T) {
	h := newHarness(t)
	fleet, id := h.seedInstance(awsemu.FleetSpec{Instances: 1, NetworkInterfaces: 3})
	// Give the interfaces different group sets, so a mix-up would show.
	ctx := context.Background()
	extra := addGroup(t, ec2Setup(h), fleet.VPCID, "monitoring", "monitoring", nil)
	enis := instanceOf(h, id).NetworkInterfaceIDs
	if _, err := ec2Setup(h).ModifyNetworkInterfaceAttribute(ctx, &ec2.ModifyNetworkInterfaceAttributeInput{
		NetworkInterfaceId: aws.String(enis[1]), Groups: []string{extra, fleet.SecurityGroupID}}); err != nil {
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
	again := h.retry("aws.ec2.restore_isolation", map[string]any{"instance_id": id})
	if len(again.Changes) != 0 || len(again.Notes) != 3 {
		t.Errorf("second restore: changes %+v notes %v", again.Changes, again.Notes)
	}
}

func TestRestorePreviewMutatesNothing(t *testing.T) {
	h := newHarness(t)
	fleet, id := h.seedInstance(awsemu.FleetSpec{Instances: 1, NetworkInterfaces: 2})
	iso := h.execute("aws.ec2.isolate_instance", map[string]any{"instance_id": id})
	h.emu.ResetCalls()
	res := h.preview("aws.ec2.restore_isolation", map[string]any{"instance_id": id})
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
	var groups []string
	for i := range 15 {
		groups = append(groups, addGroup(t, ec2Setup(h), fleet.VPCID, fmt.Sprintf("app-%d", i), "app", nil))
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
	addGroup(t, ec2Setup(h), fleet.VPCID, "cordon-quarantine", "being sealed by another host", map[string]string{actions.TagQuarantine: "empty"})
	for _, mode := range []actions.Mode{actions.Preview, actions.Execute} {
		h.emu.FailNext("RevokeSecurityGroupEgress", "InvalidPermission.NotFound", 400, 1)
		if _, err := h.run(mode, "aws.ec2.isolate_instance", map[string]any{"instance_id": fleet.InstanceIDs[0]}); err != nil {
			t.Fatalf("%s: %v", mode, err)
		}
	}
}
