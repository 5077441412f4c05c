package actions_test

import (
	"context"
	"reflect"
	"slices"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	elbv2types "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"

	"github.com/cordon-ir/cordon/actions"
	"github.com/cordon-ir/cordon/internal/awsemu"
)

// isTarget reports whether the instance is registered in the target group
// on any port.
func isTarget(t *testing.T, h *harness, arn, id string) bool {
	t.Helper()
	tg := held(t, "target group", arn, h.emu.TargetGroup)
	return slices.ContainsFunc(tg.Targets, func(x awsemu.Target) bool { return x.ID == id })
}

func inClassicELB(t *testing.T, h *harness, name, id string) bool {
	t.Helper()
	return slices.Contains(held(t, "load balancer", name, h.emu.LoadBalancer).Instances, id)
}

// seedLoadBalanced makes two instances that are targets of the fleet's
// target group and members of a classic load balancer.
func seedLoadBalanced(h *harness) (awsemu.FleetInfo, string) {
	h.t.Helper()
	fleet := h.fleet(awsemu.FleetSpec{Instances: 2, BehindTargetGroup: 2})
	lb, err := h.emu.AddLoadBalancer(awsemu.LoadBalancerSpec{Name: "legacy-elb", Instances: fleet.InstanceIDs})
	if err != nil {
		h.t.Fatal(err)
	}
	return fleet, lb.Name
}

// elbContracts are the contract cases of the load balancer actions (see
// runContract).
func elbContracts() []contractCase {
	return []contractCase{
		{
			action: "aws.elbv2.deregister_instance",
			seed: func(h *harness) map[string]any {
				fleet, _ := seedLoadBalanced(h)
				return map[string]any{"instance_id": fleet.InstanceIDs[0]}
			},
			done: func(t *testing.T, h *harness, params map[string]any) {
				id := params["instance_id"].(string)
				tgs := h.emu.State().TargetGroups
				if len(tgs) != 1 {
					t.Fatalf("target groups = %+v", tgs)
				}
				if isTarget(t, h, tgs[0].ARN, id) || inClassicELB(t, h, "legacy-elb", id) {
					t.Errorf("%s is still registered", id)
				}
				if len(tgs[0].Targets) != 1 {
					t.Errorf("the other instance was deregistered too: %+v", tgs[0].Targets)
				}
			},
			permission: "elasticloadbalancing:DeregisterTargets",
			// An instance registered nowhere is a no-op, tested below: the
			// declared permissions cannot tell it from a missing instance.
		},
	}
}

func TestDeregisterInstanceOutputsEveryPortAndClassicELB(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	fleet, lb := seedLoadBalanced(h)
	id := fleet.InstanceIDs[0]
	// Registered twice in the same group, on two ports.
	client := elbv2.NewFromConfig(h.emu.AWSConfig())
	if _, err := client.RegisterTargets(context.Background(), &elbv2.RegisterTargetsInput{
		TargetGroupArn: aws.String(fleet.TargetGroupARN),
		Targets:        []elbv2types.TargetDescription{{Id: aws.String(id), Port: aws.Int32(9090)}},
	}); err != nil {
		t.Fatal(err)
	}
	h.emu.ResetCalls()
	res := h.execute("aws.elbv2.deregister_instance", map[string]any{"instance_id": id})
	if got := toStrings(res.Outputs["target_group_arns"]); !slices.Equal(got, []string{fleet.TargetGroupARN}) {
		t.Errorf("target_group_arns = %v", got)
	}
	if got := toStrings(res.Outputs["load_balancer_names"]); !slices.Equal(got, []string{lb}) {
		t.Errorf("load_balancer_names = %v", got)
	}
	if isTarget(t, h, fleet.TargetGroupARN, id) || inClassicELB(t, h, lb, id) {
		t.Error("still registered")
	}
	if len(res.Changes) != 3 {
		t.Errorf("changes = %+v, want both ports and the classic ELB", res.Changes)
	}
	h.assertDeclared("aws.elbv2.deregister_instance")
	assertOutputsMatchSpec(t, "aws.elbv2.deregister_instance", res)
}

func TestDeregisterInstanceRegisteredNowhereIsANoOp(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	fleet := h.fleet(awsemu.FleetSpec{Instances: 2, BehindTargetGroup: 1})
	for _, id := range []string{fleet.InstanceIDs[1], "i-0123456789abcdef0"} {
		res := h.execute("aws.elbv2.deregister_instance", map[string]any{"instance_id": id})
		if len(toStrings(res.Outputs["target_group_arns"]))+len(toStrings(res.Outputs["load_balancer_names"])) != 0 ||
			len(res.Changes) != 0 || len(res.Notes) == 0 {
			t.Errorf("%s: result = %+v", id, res)
		}
		assertOutputsMatchSpec(t, "aws.elbv2.deregister_instance", res)
	}
	h.assertNoMutation()
}

// The outputs are what a restore registers the instance in again, so a
// retry after the deregistration must still report them.
func TestDeregisterInstanceRetryRemembersWhatItLeft(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	fleet, lb := seedLoadBalanced(h)
	results := h.attempts("aws.elbv2.deregister_instance", map[string]any{"instance_id": fleet.InstanceIDs[0]}, 2)
	for i, r := range results {
		if !slices.Equal(toStrings(r.Outputs["target_group_arns"]), []string{fleet.TargetGroupARN}) ||
			!slices.Equal(toStrings(r.Outputs["load_balancer_names"]), []string{lb}) {
			t.Errorf("attempt %d: outputs = %+v", i+1, r.Outputs)
		}
	}
	if len(results[1].Changes) != 0 || len(results[1].Notes) == 0 {
		t.Errorf("retry: %+v", results[1])
	}
	if got := h.mutations(); len(got) != 2 {
		t.Errorf("mutations = %v", got)
	}
}

// The runbook's containment order: detach from the Auto Scaling group
// (which also removes the group's targets), then deregister from every
// other load balancer. The instance ends in none of them; its neighbour
// stays in all.
func TestInstanceInAutoScalingGroupAndBehindTargetGroupEndsDetachedAndDeregistered(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	fleet := h.fleet(awsemu.FleetSpec{Instances: 2, InAutoScalingGroup: 2, BehindTargetGroup: 2})
	id, neighbour := fleet.InstanceIDs[0], fleet.InstanceIDs[1]
	admin, err := h.emu.AddTargetGroup(awsemu.TargetGroupSpec{Name: "admin-tg", VPCID: fleet.VPCID, Port: 8443, Targets: fleet.InstanceIDs})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.emu.AddLoadBalancer(awsemu.LoadBalancerSpec{Name: "legacy-elb", Instances: fleet.InstanceIDs}); err != nil {
		t.Fatal(err)
	}

	detached := h.execute("aws.autoscaling.detach_instance", map[string]any{"instance_id": id})
	deregistered := h.execute("aws.elbv2.deregister_instance", map[string]any{"instance_id": id})

	if detached.Outputs["auto_scaling_group"] != fleet.AutoScalingGroupName {
		t.Errorf("detach outputs = %+v", detached.Outputs)
	}
	// The group's own target group was left with the group; the step
	// reports what it removed the instance from itself.
	if got := toStrings(deregistered.Outputs["target_group_arns"]); !slices.Equal(got, []string{admin.ARN}) {
		t.Errorf("target_group_arns = %v", got)
	}
	if _, in := member(asg(t, h, fleet.AutoScalingGroupName), id); in {
		t.Error("still in the Auto Scaling group")
	}
	for _, arn := range []string{fleet.TargetGroupARN, admin.ARN} {
		if isTarget(t, h, arn, id) {
			t.Errorf("still a target of %s", arn)
		}
		if !isTarget(t, h, arn, neighbour) {
			t.Errorf("neighbour left %s", arn)
		}
	}
	if inClassicELB(t, h, "legacy-elb", id) || !inClassicELB(t, h, "legacy-elb", neighbour) {
		t.Error("classic ELB membership wrong")
	}
	if _, in := member(asg(t, h, fleet.AutoScalingGroupName), neighbour); !in {
		t.Error("neighbour left the group")
	}
}

// A target group of target type ip registers the instance's private
// address, not its id: the step deregisters that too. Addresses are
// unique only within a VPC, so the same address in another VPC's group
// (another host) is left alone, as is the neighbour.
func TestDeregisterInstanceFromIPTargetGroup(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	fleet := h.fleet(awsemu.FleetSpec{Instances: 2, BehindTargetGroup: 1})
	id, neighbour := fleet.InstanceIDs[0], fleet.InstanceIDs[1]
	ip, neighbourIP := instanceOf(h, id).PrivateIP, instanceOf(h, neighbour).PrivateIP
	ipGroup, err := h.emu.AddTargetGroup(awsemu.TargetGroupSpec{Name: "api-ip-tg", VPCID: fleet.VPCID, Port: 8443, TargetType: "ip", Targets: []string{ip, neighbourIP}})
	if err != nil {
		t.Fatal(err)
	}
	other, _ := h.emu.AddVPC(awsemu.VPCSpec{CIDR: "10.0.0.0/16"})
	elsewhere, err := h.emu.AddTargetGroup(awsemu.TargetGroupSpec{Name: "other-vpc-tg", VPCID: other.ID, TargetType: "ip", Targets: []string{ip}})
	if err != nil {
		t.Fatal(err)
	}

	pre, err := h.run(actions.Preview, "aws.elbv2.deregister_instance", map[string]any{"instance_id": id})
	if err != nil || len(h.mutations()) != 0 {
		t.Fatalf("preview: %v, mutations %v", err, h.mutations())
	}
	res := h.execute("aws.elbv2.deregister_instance", map[string]any{"instance_id": id})
	if got, want := toStrings(res.Outputs["target_group_arns"]), []string{fleet.TargetGroupARN, ipGroup.ARN}; !slices.Equal(got, sorted(want)) {
		t.Errorf("target_group_arns = %v, want %v", got, sorted(want))
	}
	if !slices.ContainsFunc(res.Changes, func(c actions.Change) bool { return c.Resource == ipGroup.ARN && c.Before == ip+":8443" }) {
		t.Errorf("changes = %+v", res.Changes)
	}
	if !reflect.DeepEqual(pre.Changes, res.Changes) {
		t.Errorf("preview %+v, execution %+v", pre.Changes, res.Changes)
	}
	if isTarget(t, h, fleet.TargetGroupARN, id) || isTarget(t, h, ipGroup.ARN, ip) {
		t.Error("still registered")
	}
	if !isTarget(t, h, ipGroup.ARN, neighbourIP) || !isTarget(t, h, elsewhere.ARN, ip) {
		t.Error("another host was deregistered")
	}
	h.assertDeclared("aws.elbv2.deregister_instance")
	assertOutputsMatchSpec(t, "aws.elbv2.deregister_instance", res)

	// Run again: nothing left, one effect.
	again := h.execute("aws.elbv2.deregister_instance", map[string]any{"instance_id": id})
	if len(again.Changes) != 0 || len(again.Notes) == 0 {
		t.Errorf("second run: %+v", again)
	}
}

func sorted(s []string) []string { s = slices.Clone(s); slices.Sort(s); return s }

// AWS has no "target groups of an instance" call. The common case (one
// Auto Scaling group, one target group, all of type instance in one VPC)
// costs what it did: DescribeTargetGroups, one DescribeTargetHealth,
// DescribeLoadBalancers and the deregistration. Groups of other VPCs are
// not read once they outnumber the one DescribeInstances that tells them
// apart.
func TestDeregisterInstanceCallCount(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	fleet := h.fleet(awsemu.FleetSpec{Instances: 2, InAutoScalingGroup: 2, BehindTargetGroup: 2})
	h.emu.ResetCalls()
	h.execute("aws.elbv2.deregister_instance", map[string]any{"instance_id": fleet.InstanceIDs[0]})
	if n := len(h.emu.Calls()); n != 4 {
		t.Errorf("common case: %d calls, want 4: %+v", n, h.emu.Calls())
	}

	other, _ := h.emu.AddVPC(awsemu.VPCSpec{CIDR: "10.1.0.0/16"})
	for _, name := range []string{"a-tg", "b-tg", "c-tg"} {
		if _, err := h.emu.AddTargetGroup(awsemu.TargetGroupSpec{Name: name, VPCID: other.ID}); err != nil {
			t.Fatal(err)
		}
	}
	h.emu.ResetCalls()
	h.execute("aws.elbv2.deregister_instance", map[string]any{"instance_id": fleet.InstanceIDs[1]})
	if n := countCalls(h, "elasticloadbalancing:DescribeTargetHealth", false); n != 1 {
		t.Errorf("DescribeTargetHealth calls = %d, want 1 (only the instance's VPC)", n)
	}
	if n := countCalls(h, "ec2:DescribeInstances", false); n != 1 {
		t.Errorf("DescribeInstances calls = %d, want 1", n)
	}
}
