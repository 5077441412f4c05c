package actions_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/cordon-ir/cordon/actions"
	"github.com/cordon-ir/cordon/internal/awsemu"
)

// missingInstance is a well-formed id of no instance.
const missingInstance = "i-0123456789abcdef0"

func missingInstanceParams(*harness) (map[string]any, string) {
	return map[string]any{"instance_id": missingInstance}, missingInstance
}

// oneInstance seeds one instance of the fleet spec and returns the
// parameters naming it.
func oneInstance(spec awsemu.FleetSpec) func(h *harness) map[string]any {
	spec.Instances = 1
	return func(h *harness) map[string]any {
		// The contract's subtests run in parallel: each reads its own copy.
		s := spec
		return map[string]any{"instance_id": h.fleet(s).InstanceIDs[0]}
	}
}

// instanceIn checks that the instance is in one of the states.
func instanceIn(states ...string) func(t *testing.T, h *harness, params map[string]any) {
	return func(t *testing.T, h *harness, params map[string]any) {
		if in := instanceOf(h, params["instance_id"].(string)); !slices.Contains(states, in.State) {
			t.Errorf("state %s, want one of %v", in.State, states)
		}
	}
}

// ec2Contracts are the contract cases of the EC2 actions (see runContract).
func ec2Contracts() []contractCase {
	return []contractCase{
		{
			action: "aws.ec2.enable_termination_protection",
			seed:   oneInstance(awsemu.FleetSpec{Volumes: 2}),
			done: func(t *testing.T, h *harness, params map[string]any) {
				in := instanceOf(h, params["instance_id"].(string))
				if !in.DisableAPITermination || in.ShutdownBehavior != "stop" {
					t.Errorf("termination protection %v, shutdown behaviour %s", in.DisableAPITermination, in.ShutdownBehavior)
				}
				for _, bd := range in.BlockDevices {
					if bd.DeleteOnTermination {
						t.Errorf("%s still goes with the instance", bd.VolumeID)
					}
				}
				if in.Tags[actions.TagPriorProtection] == "" {
					t.Errorf("no %s record", actions.TagPriorProtection)
				}
			},
			permission: "ec2:ModifyInstanceAttribute",
			missing:    missingInstanceParams,
		},
		{
			action: "aws.ec2.tag",
			seed: func(h *harness) map[string]any {
				id := h.fleet(awsemu.FleetSpec{Instances: 1, Volumes: 2}).InstanceIDs[0]
				return map[string]any{
					"resource_ids": []any{id, volumesOf(h, id)[1]},
					"tags":         map[string]any{actions.TagState: "contained", "Env": "quarantine"},
				}
			},
			done: func(t *testing.T, h *harness, params map[string]any) {
				ids := params["resource_ids"].([]any)
				in, vol := instanceOf(h, ids[0].(string)), ids[1].(string)
				v, _ := h.emu.Volume(vol)
				for _, tags := range []map[string]string{in.Tags, v.Tags} {
					if tags[actions.TagState] != "contained" || tags["Env"] != "quarantine" {
						t.Errorf("tags = %v", tags)
					}
				}
			},
			permission: "ec2:CreateTags",
			missing: func(*harness) (map[string]any, string) {
				return map[string]any{"resource_ids": []any{"vol-0123456789abcdef0"}, "tags": map[string]any{"k": "v"}}, "vol-0123456789abcdef0"
			},
		},
		{
			action: "aws.ec2.isolate_instance",
			seed:   oneInstance(awsemu.FleetSpec{NetworkInterfaces: 2}),
			done: func(t *testing.T, h *harness, params map[string]any) {
				in := instanceOf(h, params["instance_id"].(string))
				groups := quarantineGroups(h, in.VPCID, "cordon-quarantine")
				if len(groups) != 1 {
					t.Fatalf("quarantine groups = %+v", groups)
				}
				assertSealed(t, groups[0])
				for _, e := range in.NetworkInterfaceIDs {
					if n := eniOf(h, e); !slices.Equal(n.SecurityGroupIDs, []string{groups[0].ID}) || n.Tags[actions.TagOriginalGroups] == "" {
						t.Errorf("%s: groups %v, record %q", e, n.SecurityGroupIDs, n.Tags[actions.TagOriginalGroups])
					}
				}
			},
			permission: "ec2:ModifyNetworkInterfaceAttribute",
			missing:    missingInstanceParams,
		},
		{
			action: "aws.ec2.restore_isolation",
			seed:   containedBy("aws.ec2.isolate_instance", oneInstance(awsemu.FleetSpec{NetworkInterfaces: 2})),
			done: func(t *testing.T, h *harness, params map[string]any) {
				in := instanceOf(h, params["instance_id"].(string))
				quarantine := quarantineGroups(h, in.VPCID, "cordon-quarantine")
				for _, e := range in.NetworkInterfaceIDs {
					n := eniOf(h, e)
					if len(n.SecurityGroupIDs) == 0 || len(quarantine) != 1 || slices.Contains(n.SecurityGroupIDs, quarantine[0].ID) {
						t.Errorf("%s groups = %v", e, n.SecurityGroupIDs)
					}
					for k := range n.Tags {
						if strings.HasPrefix(k, actions.TagOriginalGroups) {
							t.Errorf("%s still carries %s", e, k)
						}
					}
				}
			},
			permission: "ec2:ModifyNetworkInterfaceAttribute",
			missing:    missingInstanceParams,
		},
		{
			action: "aws.ec2.snapshot_volumes",
			seed:   oneInstance(awsemu.FleetSpec{Volumes: 2}),
			done: func(t *testing.T, h *harness, params map[string]any) {
				byVolume := snapshotsOf(h)
				for _, v := range volumesOf(h, params["instance_id"].(string)) {
					if s := byVolume[v]; len(s) != 1 || s[0].State != "completed" || s[0].Tags[actions.TagStep] != "step" {
						t.Errorf("%s snapshots = %+v", v, s)
					}
				}
			},
			permission: "ec2:CreateSnapshots",
			missing:    missingInstanceParams,
		},
		{
			action: "aws.ec2.disable_instance_metadata",
			seed:   oneInstance(awsemu.FleetSpec{}),
			done: func(t *testing.T, h *harness, params map[string]any) {
				if in := instanceOf(h, params["instance_id"].(string)); in.MetadataHTTPEndpoint != "disabled" {
					t.Errorf("metadata endpoint %s", in.MetadataHTTPEndpoint)
				}
			},
			permission: "ec2:ModifyInstanceMetadataOptions",
			missing:    missingInstanceParams,
		},
		{
			action: "aws.ec2.restore_instance_metadata",
			seed:   containedBy("aws.ec2.disable_instance_metadata", oneInstance(awsemu.FleetSpec{})),
			done: func(t *testing.T, h *harness, params map[string]any) {
				in := instanceOf(h, params["instance_id"].(string))
				if in.MetadataHTTPEndpoint != "enabled" || in.MetadataHTTPTokens != "optional" {
					t.Errorf("metadata endpoint %s, tokens %s", in.MetadataHTTPEndpoint, in.MetadataHTTPTokens)
				}
				noRecord(t, in, actions.TagPriorMetadata)
			},
			permission: "ec2:ModifyInstanceMetadataOptions",
			missing:    missingInstanceParams,
		},
		{
			action: "aws.ec2.restore_protection",
			seed:   containedBy("aws.ec2.enable_termination_protection", oneInstance(awsemu.FleetSpec{Volumes: 2, InAutoScalingGroup: 1})),
			done: func(t *testing.T, h *harness, params map[string]any) {
				id := params["instance_id"].(string)
				in := instanceOf(h, id)
				if in.DisableAPITermination || in.DisableAPIStop || in.ShutdownBehavior != "stop" {
					t.Errorf("termination protection %v, stop protection %v, shutdown %s", in.DisableAPITermination, in.DisableAPIStop, in.ShutdownBehavior)
				}
				// The root volume went with the instance, as seeded; the
				// others did not and still do not.
				for i, bd := range in.BlockDevices {
					if bd.DeleteOnTermination != (i == 0) {
						t.Errorf("%s: DeleteOnTermination %v", bd.VolumeID, bd.DeleteOnTermination)
					}
				}
				if group, protected := h.emu.InstanceProtectedFromScaleIn(id); group == "" || protected {
					t.Errorf("scale-in protection in %q: %v", group, protected)
				}
				noRecord(t, in, actions.TagPriorProtection)
			},
			permission: "ec2:ModifyInstanceAttribute",
			missing:    missingInstanceParams,
		},
		{
			action: "aws.ec2.restore_instance_profile",
			seed: func(h *harness) map[string]any {
				params := quarantinedProfile(h)
				h.emu.ResetCalls()
				return params
			},
			done: func(t *testing.T, h *harness, params map[string]any) {
				in := instanceOf(h, params["instance_id"].(string))
				if !strings.HasSuffix(in.InstanceProfileARN, "/confluence-app") {
					t.Errorf("profile %s", in.InstanceProfileARN)
				}
				noRecord(t, in, actions.TagPriorInstanceProfile)
				noRecord(t, in, actions.TagQuarantineInstanceProfile)
			},
			permission: "ec2:ReplaceIamInstanceProfileAssociation",
			missing:    missingInstanceParams,
		},
		{
			action:     "aws.ec2.stop_instance",
			seed:       oneInstance(awsemu.FleetSpec{}),
			done:       instanceIn("stopping", "stopped"),
			permission: "ec2:StopInstances",
			missing:    missingInstanceParams,
		},
		{
			action:     "aws.ec2.terminate_instance",
			seed:       oneInstance(awsemu.FleetSpec{}),
			done:       instanceIn("shutting-down", "terminated"),
			permission: "ec2:TerminateInstances",
			missing:    missingInstanceParams,
		},
	}
}

func TestDescribeInstanceCapturesEvidence(t *testing.T) {
	h := newHarness(t)
	fleet, id := h.seedInstance(awsemu.FleetSpec{Instances: 3, NetworkInterfaces: 2, Volumes: 3, InAutoScalingGroup: 2, BehindTargetGroup: 2, WithInstanceRole: true})
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
	h.assertNoMutation()
	h.assertDeclared("aws.ec2.describe_instance")
}

func TestMissingInstanceIsNonRetryableAndNamed(t *testing.T) {
	h := newHarness(t)
	h.fleet(awsemu.FleetSpec{Instances: 1})
	_, err := h.run(actions.Execute, "aws.ec2.describe_instance", map[string]any{"instance_id": "i-0123456789abcdef0"})
	if !permanentFailure(err, actions.ErrNotFound, "i-0123456789abcdef0") {
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
	if !permanentFailure(err, actions.ErrAccessDenied, "add ec2:DescribeInstances") {
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
	if n := failedWith(h, "RequestLimitExceeded"); n != 2 {
		t.Errorf("throttled calls = %d, want 2", n)
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
