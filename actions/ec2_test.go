package actions_test

import (
	"strings"
	"testing"

	"github.com/cordon-ir/cordon/actions"
	"github.com/cordon-ir/cordon/internal/awsemu"
)

func TestDescribeInstanceCapturesEvidence(t *testing.T) {
	h := newHarness(t)
	fleet := h.fleet(awsemu.FleetSpec{Instances: 3, NetworkInterfaces: 2, Volumes: 3, InAutoScalingGroup: 2, BehindTargetGroup: 2, WithInstanceRole: true})
	id := fleet.InstanceIDs[0]
	res := h.execute("aws.ec2.describe_instance", map[string]any{"instance_id": id})
	out := res.Outputs
	if out["instance_id"] != id || out["vpc_id"] != fleet.VPCID || out["role_name"] != fleet.RoleName ||
		out["auto_scaling_group"] != fleet.AutoScalingGroupName {
		t.Errorf("outputs = %+v", out)
	}
	if got := out["network_interface_ids"].([]any); len(got) != 2 {
		t.Errorf("ENIs = %v", got)
	}
	if got := out["volume_ids"].([]any); len(got) != 3 {
		t.Errorf("volumes = %v", got)
	}
	if got := out["target_group_arns"].([]any); len(got) != 1 || got[0] != fleet.TargetGroupARN {
		t.Errorf("target groups = %v", got)
	}
	if len(res.RequestIDs) == 0 {
		t.Error("no AWS request ids recorded")
	}
	if m := h.mutations(); len(m) != 0 {
		t.Errorf("evidence capture changed something: %v", m)
	}
	h.assertDeclared("aws.ec2.describe_instance")
}

func TestMissingInstanceIsNonRetryableAndNamed(t *testing.T) {
	h := newHarness(t)
	h.fleet(awsemu.FleetSpec{Instances: 1})
	_, err := h.run(actions.Execute, "aws.ec2.describe_instance", map[string]any{"instance_id": "i-0123456789abcdef0"})
	if err == nil || !isNonRetryable(err) || errorType(err) != actions.ErrNotFound || !strings.Contains(err.Error(), "i-0123456789abcdef0") {
		t.Fatalf("err = %v (type %q)", err, errorType(err))
	}
}

func TestBadParamsAreRefusedBeforeAnyCall(t *testing.T) {
	h := newHarness(t)
	_, err := h.run(actions.Execute, "aws.ec2.describe_instance", map[string]any{"instance_id": "web-1", "extra": 1})
	if err == nil || errorType(err) != actions.ErrBadParams || !strings.Contains(err.Error(), `"web-1" does not match`) || !strings.Contains(err.Error(), `unknown parameter "extra"`) {
		t.Fatalf("err = %v", err)
	}
	if len(h.emu.Calls()) != 0 {
		t.Errorf("calls made: %v", h.usedPermissions())
	}
}

func TestAccessDeniedNamesThePermission(t *testing.T) {
	h := newHarness(t)
	fleet := h.fleet(awsemu.FleetSpec{Instances: 1})
	h.emu.Deny("*", "ec2:DescribeInstances")
	_, err := h.run(actions.Execute, "aws.ec2.describe_instance", map[string]any{"instance_id": fleet.InstanceIDs[0]})
	if err == nil || !isNonRetryable(err) || errorType(err) != actions.ErrAccessDenied || !strings.Contains(err.Error(), "add ec2:DescribeInstances") {
		t.Fatalf("err = %v", err)
	}
}

func TestThrottledCallsSucceedAfterRetries(t *testing.T) {
	h := newHarness(t)
	fleet := h.fleet(awsemu.FleetSpec{Instances: 1})
	h.emu.FailNext("DescribeInstances", "RequestLimitExceeded", 503, 2)
	res := h.execute("aws.ec2.describe_instance", map[string]any{"instance_id": fleet.InstanceIDs[0]})
	if res.Outputs["instance_id"] != fleet.InstanceIDs[0] {
		t.Fatalf("outputs = %v", res.Outputs)
	}
	throttled := 0
	for _, c := range h.emu.Calls() {
		if c.ErrorCode == "RequestLimitExceeded" {
			throttled++
		}
	}
	if throttled != 2 {
		t.Errorf("throttled calls = %d, want 2", throttled)
	}
}

// Throttling that outlasts the SDK's few quick attempts reaches Temporal
// as a retryable error, so the step's own backoff takes over visibly.
func TestPersistentThrottlingIsRetryableForTemporal(t *testing.T) {
	h := newHarness(t)
	fleet := h.fleet(awsemu.FleetSpec{Instances: 1})
	h.emu.FailNext("DescribeInstances", "RequestLimitExceeded", 503, 10)
	_, err := h.run(actions.Execute, "aws.ec2.describe_instance", map[string]any{"instance_id": fleet.InstanceIDs[0]})
	if err == nil || isNonRetryable(err) || errorType(err) != actions.ErrThrottled {
		t.Fatalf("err = %v", err)
	}
}
