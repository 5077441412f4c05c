package actions

import (
	"github.com/cordon-ir/cordon/actions/spec"
	"github.com/cordon-ir/cordon/evidence"
)

// ec2Actions registers the EC2 actions, each spec with its handler (in
// ec2_*.go).
func ec2Actions() []registration {
	str, strs := spec.String, spec.ListOf(spec.String)
	// The outputs of the restores, which report alike.
	restored := spec.F("restored", strs, "What was put back (field=value).")
	conflicts := spec.F("conflicts", strs, "What was left as it is because it changed since Cordon set it; the record is kept.")
	subnetID := func(description string) spec.Param {
		return spec.Param{Name: "subnet_id", Type: str, Required: true, Pattern: `^subnet-[0-9a-f]{8,17}$`, Description: description}
	}
	// Stop protection blocks a termination too: both lift it alike.
	stopProtectionLifted := spec.F("stop_protection_lifted", spec.Bool, "Whether this step turned stop protection off.")
	// olderRestore is the restore param of a containment action whose
	// restore became an action of its own (reverse).
	olderRestore := func(what, instead, reverse string) spec.Param {
		return spec.Param{Name: "restore", Type: spec.Bool, Default: false,
			Description: "Put back " + what + " this action recorded, instead of " + instead + ": the older spelling of " + reverse + ", kept for existing runbooks."}
	}
	eniID := spec.F("network_interface_id", str, "ENI id.")
	originalGroups := spec.F("original_group_ids", strs, "Security groups attached before isolation.")
	eni := spec.ObjectOf(eniID, originalGroups)
	quarantinedENI := spec.ObjectOf(eniID, originalGroups,
		spec.F("exposure_ms", spec.Int, "With two_phase, how long the ENI was open to all traffic between the two moves."),
	)
	addressAssociation := spec.ObjectOf(
		spec.F("allocation_id", str, "Elastic IP allocation id."),
		spec.F("public_ip", str, "The public address."),
		spec.F("network_interface_id", str, "Interface it was (or is again) associated with."),
		spec.F("private_ip", str, "Private address it was (or is again) associated with."),
	)
	snapshot := spec.ObjectOf(
		spec.F("snapshot_id", str, "Snapshot id."),
		spec.F("volume_id", str, "Volume the snapshot was taken from."),
		spec.F("device_name", str, "Device name of the volume on the instance."),
		spec.F("state", str, "pending or completed."),
		spec.F("lock_state", str, "Snapshot lock: governance, compliance or compliance-cooloff; empty when lock_mode is none."),
		spec.F("lock_expires_on", str, "When the lock expires, RFC 3339; empty when not locked."),
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
			Summary: "Capture the instance's state as evidence: network, volumes, role, Auto Scaling group, load balancers.",
			Description: "The output is the record the PIR and later steps rely on; it is taken before anything changes. " +
				"With an evidence store configured, the outputs (as JSON) are also stored there as an artefact of the case; " +
				"a store that refuses or denies the write is a note, not a failure: the outputs are in the run's record anyway.",
			Params: []spec.Param{instanceIDParam()},
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
			DryRun: "Runs unchanged: it only reads (and stores nothing in the evidence store).",
			Permissions: []string{
				"ec2:DescribeInstances", "ec2:DescribeVolumes", "ec2:DescribeNetworkInterfaces",
				"iam:GetInstanceProfile", "autoscaling:DescribeAutoScalingInstances",
				"elasticloadbalancing:DescribeTargetGroups", "elasticloadbalancing:DescribeTargetHealth",
				"elasticloadbalancing:DescribeLoadBalancers",
			},
			ForensicPermissions: evidence.StorePermissions(),
			Timeout:             5 * minute,
		}, describeInstance),
		action(spec.Action{
			Name: "aws.ec2.capture_console_output", Service: "ec2",
			Summary: "Capture the instance's serial console output as evidence.",
			Description: "With an evidence store configured, the decoded output is also stored there as an artefact of the case; " +
				"a store that refuses or denies the write is a note, not a failure.",
			Params: []spec.Param{instanceIDParam()},
			Outputs: []spec.Field{
				spec.F("output", str, "Decoded console output."),
				spec.F("sha256", str, "SHA-256 of the decoded output, for the evidence record."),
				spec.F("bytes", spec.Int, "Length of the decoded output."),
			},
			DryRun:              "Runs unchanged: it only reads (and stores nothing in the evidence store).",
			Permissions:         []string{"ec2:GetConsoleOutput"},
			ForensicPermissions: evidence.StorePermissions(),
			Timeout:             5 * minute,
		}, captureConsoleOutput),
		action(spec.Action{
			Name: "aws.ec2.enable_termination_protection", Service: "ec2",
			Summary: "Protect evidence: termination and stop protection on, shutdown behaviour stop, volumes kept on termination, " +
				"scale-in protection in its Auto Scaling group.",
			Description: "Records the prior values in its output and in the cordon:prior-protection tag so the restore runbook can put " +
				"them back. A stop by anyone erases memory and instance-store data, hence stop protection. What EC2 cannot apply " +
				"(termination or stop protection on a Spot Instance, stop protection on an instance-store-backed one, anything the " +
				"service answers is unsupported) is skipped with a note and listed in skipped_protections; the rest still applies.",
			Params: []spec.Param{
				instanceIDParam(),
				{Name: "preserve_volumes", Type: spec.Bool, Default: true, Description: "Set DeleteOnTermination=false on every attached volume."},
				{Name: "stop_protection", Type: spec.Bool, Default: true, Description: "Turn stop protection (DisableApiStop) on; aws.ec2.stop_instance then needs lift_stop_protection."},
				{Name: "scale_in_protection", Type: spec.Bool, Default: true, Description: "Protect the instance from scale-in in its Auto Scaling group (SetInstanceProtection)."},
			},
			Outputs: []spec.Field{
				spec.F("previous_disable_api_termination", spec.Bool, "Termination protection before the change."),
				spec.F("previous_shutdown_behavior", str, "stop or terminate, before the change."),
				spec.F("preserved_volume_ids", strs, "Volumes whose DeleteOnTermination was switched off."),
				spec.F("previous_disable_api_stop", spec.Bool, "Stop protection before the change (false when unknown)."),
				spec.F("auto_scaling_group", str, "Auto Scaling group the instance is protected from scale-in in, empty if none."),
				spec.F("previous_protected_from_scale_in", spec.Bool, "Scale-in protection before the change."),
				spec.F("skipped_protections", strs, "Protections EC2 could not apply here (termination_protection, stop_protection, scale_in_protection); the notes say why."),
			},
			Mutating: true,
			Reverse:  "aws.ec2.restore_protection",
			DryRun: "Sends ModifyInstanceAttribute with DryRun=true and previews the change from DescribeInstanceAttribute; " +
				"scale-in protection (Auto Scaling has no dry run) is previewed from DescribeAutoScalingInstances.",
			Permissions: []string{
				"ec2:DescribeInstances", "ec2:DescribeInstanceAttribute", "ec2:ModifyInstanceAttribute", "ec2:CreateTags",
				"autoscaling:DescribeAutoScalingInstances", "autoscaling:SetInstanceProtection",
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
			Description: "Finds or creates the quarantine group in the instance's VPC (no ingress, no egress; one per VPC, found by tag and name), " +
				"or uses the group quarantine_group_ids names for the VPC (for regions at their security-group quota), " +
				"and puts it alone on every ENI. The original groups per ENI go into the output and into a tag on each ENI, so " +
				"aws.ec2.restore_isolation can put them back. Security groups are stateful: connections already tracked survive the " +
				"change. With two_phase, each ENI first gets an allow-all group (whose connections are untracked), then at once the empty " +
				"quarantine group, which drops existing sessions too; the allow-all group is this isolation's own and is deleted " +
				"(or, if AWS still sees it in use, emptied of its rules) before the step ends, and if the second move fails the ENI " +
				"goes back to the quarantine group or its original groups, never left open. How long each ENI was open between the " +
				"two moves is in exposure_ms.\n\n" +
				"What the swap does not cut, even with two_phase: ICMP and ICMPv6 flows AWS always tracks; connections through a " +
				"NAT gateway, a Network or Gateway Load Balancer, a Transit Gateway, Global Accelerator or PrivateLink, which are " +
				"tracked by those services whatever the instance's groups say; and traffic of other hosts sharing the subnet. " +
				"For those, quarantine the subnet with aws.ec2.quarantine_subnet_acl, and take the Elastic IP off with " +
				"aws.ec2.disassociate_address.\n\n" +
				"With forensic_path, the quarantine group keeps one way out: HTTPS to the VPC's SSM endpoints (the agent's channel, " +
				"for aws.ssm.capture_memory and aws.ssm.run_command) and its S3 endpoint (where their output goes), given per VPC in " +
				"forensic_endpoints or the worker configuration's aws.forensic_endpoints; a VPC with none configured is cut off whole, " +
				"and the step says so (isolation never waits on configuration). Isolate again without it once the evidence is " +
				"collected to cut that path too.\n\n" +
				"Refused before the gate (the preview fails, naming each interface and why): interfaces Cordon must not re-group " +
				"(requester-managed ones such as NAT gateway, load balancer, VPC endpoint or Lambda interfaces, and EKS/ECS trunk " +
				"and branch interfaces), and a NAT instance or router (source/destination check off and a route table sending " +
				"traffic to it) unless allow_nat_instance is true, since quarantining it cuts every subnet routed through it.",
			Params: []spec.Param{
				instanceIDParam(),
				{Name: "quarantine_group_name", Type: str, Default: "cordon-quarantine", Pattern: `^[a-zA-Z0-9 ._\-:/()#,@\[\]+=&;{}!$*]{1,255}$`, Description: "Name of the quarantine group created in each VPC."},
				{Name: "quarantine_group_ids", Type: spec.MapOf(str), Description: "VPC id → id of a quarantine group created beforehand, used instead of creating one (it must admit nothing; leftover outbound rules are revoked)."},
				{Name: "two_phase", Type: spec.Bool, Default: false, Description: "First move to this isolation's allow-all untracked group, then at once to quarantine, so tracked connections are dropped."},
				{Name: "allow_nat_instance", Type: spec.Bool, Default: false, Description: "Isolate the instance even if route tables send other subnets' traffic through it (a NAT instance or router)."},
				{Name: "forensic_path", Type: spec.Bool, Default: false, Description: "Keep the forensic path: the quarantine group (<quarantine_group_name>-forensic) allows outbound HTTPS to the VPC's SSM and S3 endpoints only, so memory capture and triage still work."},
				{Name: "forensic_endpoints", Type: spec.MapOf(strs), Description: "VPC id → the security groups (sg-), prefix lists (pl-) or CIDRs of its SSM and S3 endpoints, for forensic_path; default the worker configuration's aws.forensic_endpoints."},
			},
			Outputs: []spec.Field{
				spec.F("quarantine_group_id", str, "The quarantine group now on every ENI."),
				spec.F("network_interfaces", spec.ListOf(quarantinedENI), "Every ENI with its original groups and its exposure."),
				spec.F("already_isolated", spec.Bool, "True when every ENI already had only the quarantine group."),
				spec.F("max_exposure_ms", spec.Int, "With two_phase, the longest time an ENI was open to all traffic between the two moves (0 otherwise)."),
				spec.F("forensic_egress", strs, "With forensic_path, what the instance may still reach (\"tcp 443-443 <endpoint>\"); empty otherwise."),
			},
			Destructive: true, Mutating: true,
			Reverse: "aws.ec2.restore_isolation",
			DryRun:  "Previews each ENI's groups before → after, and the two-phase group's creation and deletion; sends ModifyNetworkInterfaceAttribute with DryRun=true.",
			Permissions: []string{
				"ec2:DescribeInstances", "ec2:DescribeNetworkInterfaces", "ec2:DescribeSecurityGroups", "ec2:DescribeRouteTables",
				"ec2:CreateSecurityGroup", "ec2:RevokeSecurityGroupEgress", "ec2:RevokeSecurityGroupIngress", "ec2:AuthorizeSecurityGroupIngress",
				"ec2:AuthorizeSecurityGroupEgress", "ec2:DeleteSecurityGroup", "ec2:CreateTags", "ec2:ModifyNetworkInterfaceAttribute",
			},
			Timeout: 10 * minute,
		}, isolateInstance),
		action(spec.Action{
			Name: "aws.ec2.restore_isolation", Service: "ec2",
			Summary: "Put back the security groups that isolation recorded on every network interface.",
			Description: "Reads the original groups from the tag aws.ec2.isolate_instance left on each ENI; it needs nothing else isolation made. " +
				"An ENI without the record is left alone.\n\n" +
				"The other restores (aws.ec2.restore_addresses, restore_subnet_acl, restore_instance_metadata, restore_protection, " +
				"restore_instance_profile) put back the rest of what Cordon recorded; examples/restore-isolation.yaml runs them all. " +
				"What no restore puts back: snapshots (evidence, kept; locked ones cannot be deleted before their lock allows); " +
				"deactivated access keys and deleted login profiles (never reactivate leaked credentials: issue new ones); deny " +
				"policies (CordonDenyAll, CordonDenyInstance-*, AWSRevokeOlderSessions, the CordonLockRole trust statement: remove " +
				"them by hand after review, once credentials have rotated); a stopped or terminated instance; an Auto Scaling " +
				"detach or standby and a lowered MinSize, and deregistered load balancer targets (recorded only in the containment " +
				"run's outputs, not on AWS: put them back by hand); an instance profile removed with disassociate_instance_profile.",
			Params: []spec.Param{instanceIDParam()},
			Outputs: []spec.Field{
				spec.F("network_interfaces", spec.ListOf(eni), "Every ENI with the groups it was given back."),
			},
			Destructive: true, Mutating: true,
			DryRun:      "Previews each ENI's groups before → after; sends ModifyNetworkInterfaceAttribute with DryRun=true.",
			Permissions: []string{"ec2:DescribeInstances", "ec2:DescribeNetworkInterfaces", "ec2:ModifyNetworkInterfaceAttribute", "ec2:DeleteTags"},
			Timeout:     10 * minute,
		}, restoreIsolation),
		action(spec.Action{
			Name: "aws.ec2.restore_instance_metadata", Service: "ec2",
			Summary: "Turn the instance metadata service back on, as aws.ec2.disable_instance_metadata recorded it.",
			Description: "Reads the cordon:prior-metadata record and puts the endpoint back only while it is still disabled, as Cordon " +
				"left it; HttpTokens, which Cordon never changes, is sent as it is now, so a move to IMDSv2 made meanwhile stays. " +
				"No record: a no-op with a note (Cordon did not change it). The record is removed once the endpoint is back, so " +
				"a second restore is a no-op; one that cannot be applied (unreadable, or an endpoint no longer as Cordon left it) " +
				"is listed in conflicts and kept. The host can fetch role credentials again: restore it only once it is clean.",
			Params: []spec.Param{instanceIDParam()},
			Outputs: []spec.Field{
				restored,
				conflicts,
			},
			Destructive: true, Mutating: true,
			DryRun:      "Sends ModifyInstanceMetadataOptions and the record's DeleteTags with DryRun=true.",
			Permissions: []string{"ec2:DescribeInstances", "ec2:ModifyInstanceMetadataOptions", "ec2:DeleteTags"},
			Timeout:     5 * minute,
		}, restoreInstanceMetadata),
		action(spec.Action{
			Name: "aws.ec2.restore_protection", Service: "ec2",
			Summary: "Put back the protection aws.ec2.enable_termination_protection recorded: termination and stop protection, " +
				"shutdown behaviour, DeleteOnTermination, scale-in protection.",
			Description: "Reads the cordon:prior-protection record. Each protection goes back only where the record says it was off " +
				"and it is still as Cordon set it (on; shutdown behaviour stop; DeleteOnTermination off on a volume still attached; " +
				"scale-in protection in the same Auto Scaling group); one the record says was already on is not Cordon's and stays. " +
				"A value neither Cordon's nor the recorded one is listed in conflicts and the record kept; otherwise the record is " +
				"removed, so a second restore is a no-op. No record: a no-op with a note. An instance detached from its group has " +
				"no scale-in protection left to lift. The instance can be terminated again: its evidence is no longer protected.",
			Params: []spec.Param{instanceIDParam()},
			Outputs: []spec.Field{
				restored,
				conflicts,
			},
			Destructive: true, Mutating: true,
			DryRun: "Sends ModifyInstanceAttribute and the record's DeleteTags with DryRun=true; scale-in protection (Auto Scaling " +
				"has no dry run) is previewed from DescribeAutoScalingInstances.",
			Permissions: []string{
				"ec2:DescribeInstances", "ec2:DescribeInstanceAttribute", "ec2:ModifyInstanceAttribute", "ec2:DeleteTags",
				"autoscaling:DescribeAutoScalingInstances", "autoscaling:SetInstanceProtection",
			},
			Timeout: 5 * minute,
		}, restoreProtection),
		action(spec.Action{
			Name: "aws.ec2.restore_instance_profile", Service: "ec2",
			Summary: "Give the instance back the instance profile aws.iam.revoke_role_sessions replaced with a quarantine profile.",
			Description: "Reads the cordon:prior-instance-profile and cordon:quarantine-instance-profile records and replaces the " +
				"association (ReplaceIamInstanceProfileAssociation) only while the instance still has Cordon's quarantine profile; " +
				"a profile someone associated or removed since is listed in conflicts and the record kept. No record: a no-op with " +
				"a note. The records are removed once the profile is back. The role's deny policy " +
				"(CordonDenyInstance-<instance>) is not removed: the role stays denied to this instance until someone deletes it " +
				"by hand, after review. A profile removed with disassociate_instance_profile is not recorded and is not put back.",
			Params: []spec.Param{instanceIDParam()},
			Outputs: []spec.Field{
				spec.F("instance_profile", str, "ARN of the instance profile the instance has after the step, empty for none."),
				restored,
				conflicts,
			},
			Destructive: true, Mutating: true,
			DryRun: "Shows the profile change (ReplaceIamInstanceProfileAssociation has no dry run) and sends the records' DeleteTags with DryRun=true.",
			Permissions: []string{
				"ec2:DescribeInstances", "ec2:DescribeIamInstanceProfileAssociations", "ec2:ReplaceIamInstanceProfileAssociation",
				"iam:PassRole", "ec2:DeleteTags",
			},
			Timeout: 5 * minute,
		}, restoreInstanceProfile),
		action(spec.Action{
			Name: "aws.ec2.disassociate_address", Service: "ec2",
			Summary: "Take the instance's Elastic IP addresses off it, so it is no longer reachable at its public addresses.",
			Description: "Each association (address, interface, private address) is recorded in a tag on the address before it is " +
				"removed; aws.ec2.restore_addresses (or restore) puts the recorded associations back (AssociateAddress without reassociation: an address " +
				"someone gave another resource meanwhile stays where it is) and the records removed. Only Elastic IPs: an " +
				"auto-assigned public IPv4 address cannot be removed this way (isolation cuts its traffic).",
			Params: []spec.Param{
				instanceIDParam(),
				olderRestore("the associations", "removing them", "aws.ec2.restore_addresses"),
			},
			Outputs: []spec.Field{
				spec.F("addresses", spec.ListOf(addressAssociation), "Every address removed (or, with restore, put back)."),
			},
			Destructive: true, Mutating: true,
			Reverse:     "aws.ec2.restore_addresses",
			DryRun:      "Previews each address's association before → after; sends DisassociateAddress (AssociateAddress with restore) and CreateTags with DryRun=true.",
			Permissions: []string{"ec2:DescribeInstances", "ec2:DescribeAddresses", "ec2:CreateTags", "ec2:DeleteTags", "ec2:DisassociateAddress", "ec2:AssociateAddress"},
			Timeout:     5 * minute,
		}, disassociateAddress),
		action(spec.Action{
			Name: "aws.ec2.restore_addresses", Service: "ec2",
			Summary: "Put back the Elastic IP associations aws.ec2.disassociate_address recorded for the instance.",
			Description: "Reads the cordon:eip-association record on each address and associates it again with the recorded " +
				"interface and private address (AssociateAddress without reassociation), then removes the record. An address " +
				"someone associated with something else since stays there, is listed in conflicts, and keeps its record. No " +
				"record: a no-op with a note. The instance is reachable at its public addresses again.",
			Params: []spec.Param{instanceIDParam()},
			Outputs: []spec.Field{
				spec.F("addresses", spec.ListOf(addressAssociation), "Every address put back (or found back already)."),
				conflicts,
			},
			Destructive: true, Mutating: true,
			DryRun:      "Previews each address's association before → after; sends AssociateAddress and DeleteTags with DryRun=true.",
			Permissions: []string{"ec2:DescribeInstances", "ec2:DescribeAddresses", "ec2:AssociateAddress", "ec2:DeleteTags"},
			Timeout:     5 * minute,
		}, restoreAddresses),
		action(spec.Action{
			Name: "aws.ec2.restore_subnet_acl", Service: "ec2",
			Summary: "Give a quarantined subnet back the network ACL aws.ec2.quarantine_subnet_acl recorded.",
			Description: "Reads the cordon:original-network-acl record on the subnet and associates that ACL again while the " +
				"subnet still has a Cordon quarantine ACL, then removes the record. An ACL someone associated since is left, " +
				"listed in conflicts, and the record kept. No record: a no-op with a note. Every host of the subnet is reachable " +
				"again. The deny-all ACL itself is not deleted (it holds no rule and costs nothing; delete it by hand).",
			Params: []spec.Param{
				subnetID("The quarantined subnet."),
			},
			Outputs: []spec.Field{
				spec.F("network_acl_id", str, "The ACL associated with the subnet after the step."),
				conflicts,
			},
			Destructive: true, Mutating: true,
			DryRun:      "Previews the subnet's ACL before → after; sends ReplaceNetworkAclAssociation and DeleteTags with DryRun=true.",
			Permissions: []string{"ec2:DescribeSubnets", "ec2:DescribeNetworkAcls", "ec2:ReplaceNetworkAclAssociation", "ec2:DeleteTags"},
			Timeout:     5 * minute,
		}, restoreSubnetACLAction),
		action(spec.Action{
			Name: "aws.ec2.quarantine_subnet_acl", Service: "ec2",
			Summary: "Cut a whole subnet off: a deny-all network ACL in place of the subnet's own.",
			Description: "Network ACLs are stateless, so unlike a security group swap this also drops connections AWS tracks " +
				"(ICMP, flows through a NAT gateway, a load balancer or a Transit Gateway), for every host of the subnet: use it when " +
				"isolating instances is not enough, and know that it cuts the subnet's neighbours too. Creates one deny-all ACL per " +
				"VPC for this step (no entries but the default deny; found again by its tags), records the subnet's ACL in a tag on " +
				"the subnet, and replaces the association. aws.ec2.restore_subnet_acl (or restore) puts the recorded ACL back while the " +
				"subnet still has Cordon's quarantine ACL, and removes the record.",
			Params: []spec.Param{
				subnetID("The subnet to quarantine."),
				olderRestore("the network ACL", "quarantining", "aws.ec2.restore_subnet_acl"),
			},
			Outputs: []spec.Field{
				spec.F("network_acl_id", str, "The ACL now associated with the subnet."),
				spec.F("original_network_acl_id", str, "The subnet's ACL before quarantine."),
			},
			Destructive: true, Mutating: true,
			Reverse:     "aws.ec2.restore_subnet_acl",
			DryRun:      "Previews the subnet's ACL before → after; sends CreateNetworkAcl, ReplaceNetworkAclAssociation and CreateTags with DryRun=true.",
			Permissions: []string{"ec2:DescribeSubnets", "ec2:DescribeNetworkAcls", "ec2:CreateNetworkAcl", "ec2:CreateTags", "ec2:DeleteTags", "ec2:ReplaceNetworkAclAssociation"},
			Timeout:     5 * minute,
		}, quarantineSubnetACL),
		action(spec.Action{
			Name: "aws.ec2.snapshot_volumes", Service: "ec2",
			Summary: "Snapshot every attached volume for forensics (crash-consistent), optionally lock the snapshots, and wait until complete.",
			Description: "Uses CreateSnapshots for a crash-consistent set (copying each volume's tags), falling back to CreateSnapshot per " +
				"volume when the multi-volume call is refused (not when it is throttled). Snapshots are tagged with incident, run and step; " +
				"a retried attempt finds them by tag instead of taking new ones. With lock_mode, each snapshot is locked (LockSnapshot) so " +
				"that no one, the attacker's credentials included, can delete it: governance until someone allowed unlocks it, " +
				"compliance until the lock expires. Instance-store volumes cannot be snapshotted: they are listed in instance_store_devices. " +
				"A run with an incident reuses the completed set another run of the same incident took of exactly these volumes " +
				"(a re-run after a failed run): the same evidence, not taken twice; reused_from_run names that run.",
			Params: []spec.Param{
				instanceIDParam(),
				{Name: "wait", Type: spec.Bool, Default: true, Description: "Wait until every snapshot is completed (heartbeating)."},
				{Name: "lock_mode", Type: str, Default: "none", Enum: []string{"none", "governance", "compliance"}, Description: "Lock the snapshots: none, governance or compliance (irreversible until it expires)."},
				{Name: "lock_duration_days", Type: spec.Int, Default: 30, Description: "How long the lock holds, in days (1–36500)."},
				{Name: "reuse_incident_snapshots", Type: spec.Bool, Default: true, Description: "Reuse the completed snapshots another run of the same incident took of these volumes instead of taking new ones."},
			},
			Outputs: []spec.Field{
				spec.F("snapshot_ids", strs, "Snapshot ids."),
				spec.F("reused_from_run", str, "The run of the same incident whose completed snapshots were reused; empty when new ones were taken."),
				spec.F("snapshots", spec.ListOf(snapshot), "Each snapshot with its volume and lock."),
				spec.F("instance_store_devices", strs, "Instance-store volumes of the instance, which no snapshot captures and a stop erases."),
			},
			Mutating: true,
			DryRun:   "Lists the volumes that would be snapshotted; sends CreateSnapshots (and LockSnapshot for existing snapshots) with DryRun=true.",
			Permissions: []string{
				"ec2:DescribeInstances", "ec2:DescribeInstanceTypes", "ec2:DescribeSnapshots", "ec2:CreateSnapshots", "ec2:CreateSnapshot",
				"ec2:CreateTags", "ec2:DescribeLockedSnapshots", "ec2:LockSnapshot",
			},
			Timeout: 4 * hour,
		}, snapshotVolumes),
		action(spec.Action{
			Name: "aws.ec2.disable_instance_metadata", Service: "ec2",
			Summary: "Turn the instance metadata service off, so nothing on the host can fetch fresh role credentials.",
			Description: "Credentials already taken stay valid until they expire: pair this with aws.iam.revoke_role_sessions. " +
				"The options before the change are recorded in the cordon:prior-metadata tag, which aws.ec2.restore_instance_metadata reads.",
			Params: []spec.Param{instanceIDParam()},
			Outputs: []spec.Field{
				spec.F("previous_http_endpoint", str, "enabled or disabled, before the change."),
				spec.F("previous_http_tokens", str, "optional or required, before the change."),
			},
			Mutating:    true,
			Reverse:     "aws.ec2.restore_instance_metadata",
			DryRun:      "Sends ModifyInstanceMetadataOptions (and the cordon:prior-metadata record's CreateTags) with DryRun=true.",
			Permissions: []string{"ec2:DescribeInstances", "ec2:CreateTags", "ec2:ModifyInstanceMetadataOptions"},
			Timeout:     5 * minute,
		}, disableInstanceMetadata),
		action(spec.Action{
			Name: "aws.ec2.stop_instance", Service: "ec2",
			Summary: "Stop (or hibernate) the instance. Memory is lost unless it hibernates; instance-store data is lost: capture what you need first.",
			Description: "Refuses while the instance has instance-store volumes not recorded as captured (tag cordon:instance-store-captured), " +
				"unless accept_instance_store_loss is true, which the gate shows as erased data. With hibernate, memory is kept on the root " +
				"volume (the instance must have been launched with hibernation enabled). Stop protection is lifted only with lift_stop_protection " +
				"(recorded). The state before the first attempt is recorded in the cordon:prior-state tag.",
			Params: []spec.Param{
				instanceIDParam(),
				{Name: "force", Type: spec.Bool, Default: false, Description: "Force the stop without a clean shutdown."},
				{Name: "hibernate", Type: spec.Bool, Default: false, Description: "Hibernate (StopInstances Hibernate=true) to keep memory; refused if the instance is not enabled for hibernation."},
				{Name: "accept_instance_store_loss", Type: spec.Bool, Default: false, Description: "Stop even though instance-store data not recorded as captured is erased."},
				{Name: "lift_stop_protection", Type: spec.Bool, Default: false, Description: "Turn stop protection off first (recorded)."},
			},
			Outputs: []spec.Field{
				spec.F("previous_state", str, "State before the first attempt of this step."),
				spec.F("state", str, "State after the call."),
				spec.F("hibernated", spec.Bool, "Whether the instance was hibernated rather than stopped."),
				stopProtectionLifted,
				spec.F("instance_store_devices", strs, "Instance-store volumes, whose data the stop erases."),
			},
			Destructive: true, Mutating: true,
			DryRun: "Sends StopInstances with DryRun=true and reports instance-store data that would be erased.",
			Permissions: []string{
				"ec2:DescribeInstances", "ec2:DescribeInstanceTypes", "ec2:DescribeInstanceAttribute", "ec2:ModifyInstanceAttribute",
				"ec2:CreateTags", "ec2:StopInstances",
			},
			Timeout: 15 * minute,
		}, stopInstance),
		action(spec.Action{
			Name: "aws.ec2.terminate_instance", Service: "ec2",
			Summary: "Terminate the instance. Irreversible; volumes with DeleteOnTermination go with it.",
			Description: "If termination or stop protection (which also blocks termination) is on, the step fails unless " +
				"lift_termination_protection is true; lifting them is recorded in the output.",
			Params: []spec.Param{
				instanceIDParam(),
				{Name: "lift_termination_protection", Type: spec.Bool, Default: false, Description: "Turn termination and stop protection off first (recorded)."},
			},
			Outputs: []spec.Field{
				spec.F("previous_state", str, "State before the call."),
				spec.F("termination_protection_lifted", spec.Bool, "Whether this step turned termination protection off."),
				stopProtectionLifted,
			},
			Destructive: true, Mutating: true,
			DryRun:      "Sends TerminateInstances with DryRun=true and reports whether protection would block it.",
			Permissions: []string{"ec2:DescribeInstances", "ec2:DescribeInstanceAttribute", "ec2:ModifyInstanceAttribute", "ec2:TerminateInstances"},
			Timeout:     15 * minute,
		}, terminateInstance),
	}
}
