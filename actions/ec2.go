package actions

import "github.com/cordon-ir/cordon/actions/spec"

// ec2Actions registers the EC2 actions, each spec with its handler (in
// ec2_*.go).
func ec2Actions() []registration {
	str, strs := spec.String, spec.ListOf(spec.String)
	eni := spec.ObjectOf(
		spec.F("network_interface_id", str, "ENI id."),
		spec.F("original_group_ids", strs, "Security groups attached before isolation."),
	)
	snapshot := spec.ObjectOf(
		spec.F("snapshot_id", str, "Snapshot id."),
		spec.F("volume_id", str, "Volume the snapshot was taken from."),
		spec.F("device_name", str, "Device name of the volume on the instance."),
		spec.F("state", str, "pending or completed."),
	)
	return []registration{
		action(spec.Action{
			Name: "aws.ec2.find_instances", Service: "ec2",
			Summary:     "Find instances by tags, AMI, VPC or id, for fleet runbooks.",
			Description: "All filters combine with AND; within a list, values combine with OR. Terminated instances are never returned.",
			Params: []spec.Param{
				{Name: "tags", Type: spec.MapOf(str), Description: "Tag key → value that must match exactly."},
				{Name: "image_ids", Type: strs, Pattern: `^ami-[0-9a-f]{8,17}$`, Description: "AMI ids the instance was launched from."},
				{Name: "vpc_ids", Type: strs, Pattern: `^vpc-[0-9a-f]{8,17}$`, Description: "VPCs to search."},
				{Name: "instance_ids", Type: strs, Pattern: instanceIDPattern, Description: "Restrict to these ids."},
				{Name: "states", Type: strs, Default: []any{"pending", "running", "stopping", "stopped"}, Description: "Instance states to include."},
			},
			Outputs: []spec.Field{
				spec.F("instance_ids", strs, "Matching instance ids, sorted."),
				spec.F("count", spec.Int, "Number of matching instances."),
			},
			DryRun:      "Runs unchanged: it only reads.",
			Permissions: []string{"ec2:DescribeInstances"},
			Timeout:     5 * minute,
		}, findInstances),
		action(spec.Action{
			Name: "aws.ec2.describe_instance", Service: "ec2",
			Summary:     "Capture the instance's state as evidence: network, volumes, role, Auto Scaling group, load balancers.",
			Description: "The output is the record the PIR and later steps rely on; it is taken before anything changes.",
			Params:      []spec.Param{instanceIDParam()},
			Outputs: []spec.Field{
				spec.F("instance_id", str, "Instance id."),
				spec.F("state", str, "Instance state name."),
				spec.F("image_id", str, "AMI id."),
				spec.F("vpc_id", str, "VPC id."),
				spec.F("subnet_id", str, "Subnet id."),
				spec.F("private_ips", strs, "Private IPv4 addresses on every interface."),
				spec.F("public_ip", str, "Public IPv4 address, empty if none."),
				spec.F("launch_time", str, "Launch time, RFC 3339."),
				spec.F("network_interface_ids", strs, "Every attached ENI."),
				spec.F("security_group_ids", strs, "Every security group on any ENI."),
				spec.F("volume_ids", strs, "Every attached EBS volume."),
				spec.F("instance_profile_arn", str, "Instance profile ARN, empty if none."),
				spec.F("role_name", str, "Role in the instance profile, empty if none."),
				spec.F("auto_scaling_group", str, "Auto Scaling group name, empty if none."),
				spec.F("target_group_arns", strs, "ELBv2 target groups the instance is registered in."),
				spec.F("load_balancer_names", strs, "Classic load balancers the instance is registered with."),
				spec.F("tags", spec.MapOf(str), "Instance tags."),
			},
			DryRun: "Runs unchanged: it only reads.",
			Permissions: []string{
				"ec2:DescribeInstances", "ec2:DescribeVolumes", "ec2:DescribeNetworkInterfaces",
				"iam:GetInstanceProfile", "autoscaling:DescribeAutoScalingInstances",
				"elasticloadbalancing:DescribeTargetGroups", "elasticloadbalancing:DescribeTargetHealth",
				"elasticloadbalancing:DescribeLoadBalancers",
			},
			Timeout: 5 * minute,
		}, describeInstance),
		action(spec.Action{
			Name: "aws.ec2.capture_console_output", Service: "ec2",
			Summary: "Capture the instance's serial console output as evidence.",
			Params:  []spec.Param{instanceIDParam()},
			Outputs: []spec.Field{
				spec.F("output", str, "Decoded console output."),
				spec.F("sha256", str, "SHA-256 of the decoded output, for the evidence record."),
				spec.F("bytes", spec.Int, "Length of the decoded output."),
			},
			DryRun:      "Runs unchanged: it only reads.",
			Permissions: []string{"ec2:GetConsoleOutput"},
			Timeout:     5 * minute,
		}, captureConsoleOutput),
		action(spec.Action{
			Name: "aws.ec2.enable_termination_protection", Service: "ec2",
			Summary:     "Protect evidence: termination protection on, shutdown behaviour stop, volumes kept on termination.",
			Description: "Records the prior values in its output so the restore runbook can put them back.",
			Params: []spec.Param{
				instanceIDParam(),
				{Name: "preserve_volumes", Type: spec.Bool, Default: true, Description: "Set DeleteOnTermination=false on every attached volume."},
			},
			Outputs: []spec.Field{
				spec.F("previous_disable_api_termination", spec.Bool, "Termination protection before the change."),
				spec.F("previous_shutdown_behavior", str, "stop or terminate, before the change."),
				spec.F("preserved_volume_ids", strs, "Volumes whose DeleteOnTermination was switched off."),
			},
			Mutating: true,
			DryRun:   "Sends ModifyInstanceAttribute with DryRun=true and previews the change from DescribeInstanceAttribute.",
			Permissions: []string{
				"ec2:DescribeInstances", "ec2:DescribeInstanceAttribute", "ec2:ModifyInstanceAttribute", "ec2:CreateTags",
			},
			Timeout: 5 * minute,
		}, enableTerminationProtection),
		action(spec.Action{
			Name: "aws.ec2.tag", Service: "ec2",
			Summary: "Tag resources with the incident, run and state.",
			Params: []spec.Param{
				{Name: "resource_ids", Type: strs, Required: true, Description: "EC2 resource ids (instances, volumes, ENIs, snapshots)."},
				{Name: "tags", Type: spec.MapOf(str), Required: true, Description: "Tags to set; existing values are recorded in the output."},
			},
			Outputs: []spec.Field{
				spec.F("previous", spec.MapOf(spec.MapOf(str)), "Per resource, the previous values of the keys that were overwritten."),
			},
			Mutating:    true,
			DryRun:      "Sends CreateTags with DryRun=true and previews the change from DescribeTags.",
			Permissions: []string{"ec2:DescribeTags", "ec2:CreateTags"},
			Timeout:     5 * minute,
		}, tagResources),
		action(spec.Action{
			Name: "aws.ec2.isolate_instance", Service: "ec2",
			Summary: "Cut the instance off the network: the quarantine security group on every network interface.",
			Description: "Finds or creates the quarantine group in the instance's VPC (no ingress, no egress; one per VPC, found by tag and name) " +
				"and puts it alone on every ENI. The original groups per ENI go into the output and into a tag on each ENI, so " +
				"aws.ec2.restore_isolation can put them back. Security groups are stateful: connections already tracked survive the " +
				"change. With two_phase, the instance first gets an allow-all group (whose connections are untracked), then the empty " +
				"quarantine group, which drops existing sessions too.",
			Params: []spec.Param{
				instanceIDParam(),
				{Name: "quarantine_group_name", Type: str, Default: "cordon-quarantine", Pattern: `^[a-zA-Z0-9 ._\-:/()#,@\[\]+=&;{}!$*]{1,255}$`, Description: "Name of the quarantine group created in each VPC."},
				{Name: "two_phase", Type: spec.Bool, Default: false, Description: "First move to an allow-all untracked group, then to quarantine, so tracked connections are dropped."},
			},
			Outputs: []spec.Field{
				spec.F("quarantine_group_id", str, "The quarantine group now on every ENI."),
				spec.F("network_interfaces", spec.ListOf(eni), "Every ENI with its original groups."),
				spec.F("already_isolated", spec.Bool, "True when every ENI already had only the quarantine group."),
			},
			Destructive: true, Mutating: true,
			Reverse: "aws.ec2.restore_isolation",
			DryRun:  "Previews each ENI's groups before → after; sends ModifyNetworkInterfaceAttribute with DryRun=true.",
			Permissions: []string{
				"ec2:DescribeInstances", "ec2:DescribeNetworkInterfaces", "ec2:DescribeSecurityGroups",
				"ec2:CreateSecurityGroup", "ec2:RevokeSecurityGroupEgress", "ec2:AuthorizeSecurityGroupIngress",
				"ec2:AuthorizeSecurityGroupEgress", "ec2:CreateTags", "ec2:ModifyNetworkInterfaceAttribute",
			},
			Timeout: 10 * minute,
		}, isolateInstance),
		action(spec.Action{
			Name: "aws.ec2.restore_isolation", Service: "ec2",
			Summary:     "Put back the security groups that isolation recorded on every network interface.",
			Description: "Reads the original groups from the tag aws.ec2.isolate_instance left on each ENI.",
			Params:      []spec.Param{instanceIDParam()},
			Outputs: []spec.Field{
				spec.F("network_interfaces", spec.ListOf(eni), "Every ENI with the groups it was given back."),
			},
			Destructive: true, Mutating: true,
			DryRun:      "Previews each ENI's groups before → after; sends ModifyNetworkInterfaceAttribute with DryRun=true.",
			Permissions: []string{"ec2:DescribeInstances", "ec2:DescribeNetworkInterfaces", "ec2:ModifyNetworkInterfaceAttribute", "ec2:DeleteTags"},
			Timeout:     10 * minute,
		}, restoreIsolation),
		action(spec.Action{
			Name: "aws.ec2.snapshot_volumes", Service: "ec2",
			Summary: "Snapshot every attached volume for forensics (crash-consistent), and wait until complete.",
			Description: "Uses CreateSnapshots for a crash-consistent set, falling back to CreateSnapshot per volume. Snapshots are tagged " +
				"with incident, run and step; a retried attempt finds them by tag instead of taking new ones.",
			Params: []spec.Param{
				instanceIDParam(),
				{Name: "wait", Type: spec.Bool, Default: true, Description: "Wait until every snapshot is completed (heartbeating)."},
			},
			Outputs: []spec.Field{
				spec.F("snapshot_ids", strs, "Snapshot ids."),
				spec.F("snapshots", spec.ListOf(snapshot), "Each snapshot with its volume."),
			},
			Mutating:    true,
			DryRun:      "Lists the volumes that would be snapshotted; sends CreateSnapshots with DryRun=true.",
			Permissions: []string{"ec2:DescribeInstances", "ec2:DescribeSnapshots", "ec2:CreateSnapshots", "ec2:CreateSnapshot", "ec2:CreateTags"},
			Timeout:     4 * hour,
		}, snapshotVolumes),
		action(spec.Action{
			Name: "aws.ec2.disable_instance_metadata", Service: "ec2",
			Summary:     "Turn the instance metadata service off, so nothing on the host can fetch fresh role credentials.",
			Description: "Credentials already taken stay valid until they expire: pair this with aws.iam.revoke_role_sessions.",
			Params:      []spec.Param{instanceIDParam()},
			Outputs: []spec.Field{
				spec.F("previous_http_endpoint", str, "enabled or disabled, before the change."),
				spec.F("previous_http_tokens", str, "optional or required, before the change."),
			},
			Mutating:    true,
			DryRun:      "Sends ModifyInstanceMetadataOptions with DryRun=true.",
			Permissions: []string{"ec2:DescribeInstances", "ec2:ModifyInstanceMetadataOptions"},
			Timeout:     5 * minute,
		}, disableInstanceMetadata),
		action(spec.Action{
			Name: "aws.ec2.stop_instance", Service: "ec2",
			Summary:     "Stop the instance. Memory is lost: capture what you need first.",
			Params:      []spec.Param{instanceIDParam(), {Name: "force", Type: spec.Bool, Default: false, Description: "Force the stop without a clean shutdown."}},
			Outputs:     []spec.Field{spec.F("previous_state", str, "State before the call."), spec.F("state", str, "State after the call.")},
			Destructive: true, Mutating: true,
			DryRun:      "Sends StopInstances with DryRun=true.",
			Permissions: []string{"ec2:DescribeInstances", "ec2:StopInstances"},
			Timeout:     15 * minute,
		}, stopInstance),
		action(spec.Action{
			Name: "aws.ec2.terminate_instance", Service: "ec2",
			Summary:     "Terminate the instance. Irreversible; volumes with DeleteOnTermination go with it.",
			Description: "If termination protection is on, the step fails unless lift_termination_protection is true; lifting it is recorded in the output.",
			Params: []spec.Param{
				instanceIDParam(),
				{Name: "lift_termination_protection", Type: spec.Bool, Default: false, Description: "Turn termination protection off first (recorded)."},
			},
			Outputs: []spec.Field{
				spec.F("previous_state", str, "State before the call."),
				spec.F("termination_protection_lifted", spec.Bool, "Whether this step turned protection off."),
			},
			Destructive: true, Mutating: true,
			DryRun:      "Sends TerminateInstances with DryRun=true and reports whether protection would block it.",
			Permissions: []string{"ec2:DescribeInstances", "ec2:DescribeInstanceAttribute", "ec2:ModifyInstanceAttribute", "ec2:TerminateInstances"},
			Timeout:     15 * minute,
		}, terminateInstance),
	}
}
