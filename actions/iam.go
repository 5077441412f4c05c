package actions

import "github.com/cordon-ir/cordon/actions/spec"

// iamActions registers the IAM actions, each spec with its handler (in
// iam_impl.go).
func iamActions() []registration {
	str, strs := spec.String, spec.ListOf(spec.String)
	user := spec.Param{Name: "user_name", Type: str, Required: true, Pattern: iamUserNamePattern, Description: "IAM user name."}
	return []registration{
		action(spec.Action{
			Name: "aws.iam.revoke_role_sessions", Service: "iam",
			Summary: "Deny the role's credentials to a compromised instance (default), or revoke every session of the role.",
			Description: "scope instance (the default) puts an inline deny-all policy on the role conditioned on ec2:SourceInstanceARN: " +
				"every credential the instance's metadata service issued or will issue is denied, wherever it is used from, and the " +
				"role's other instances keep working. scope all_sessions also denies every session of the role issued before now " +
				"(aws:TokenIssueTime, what the console's \"Revoke active sessions\" does): it cuts every healthy instance, container " +
				"and person using the role until their credentials rotate (instance credentials rotate about hourly; the SDKs do not " +
				"fetch new ones on AccessDenied), while a compromised host that can still reach its metadata service fetches fresh " +
				"credentials, so choose it only when the credentials were used away from the instance, and gate it separately. " +
				"quarantine_instance_profile then swaps the instance's profile for a forensic one (the old profile is recorded in the " +
				"tag cordon:prior-instance-profile, the forensic one in cordon:quarantine-instance-profile: " +
				"aws.ec2.restore_instance_profile puts the old one back), or disassociate_instance_profile removes it (not " +
				"recorded: previous_instance_profile says what to put back by hand). The deny policies stay after any restore: " +
				"remove them by hand once the credentials have rotated. Refuses IAM Identity Center " +
				"(AWSReservedSSO_*) and service-linked roles, which IAM does not let you change.",
			Params: []spec.Param{
				{Name: "instance_id", Type: str, Pattern: instanceIDPattern, Description: "The compromised instance; its role is found through its instance profile."},
				{Name: "role_name", Type: str, Pattern: iamRoleNamePattern, Description: "The role, when there is no instance (needs scope all_sessions)."},
				{Name: "scope", Type: str, Default: "instance", Enum: []string{"instance", "all_sessions"}, Description: "instance: deny only the instance's credentials; all_sessions: also every session of the role (the whole fleet)."},
				{Name: "quarantine_instance_profile", Type: str, Pattern: iamRoleNamePattern, Description: "Replace the instance's profile with this (forensic) instance profile."},
				{Name: "disassociate_instance_profile", Type: spec.Bool, Default: false, Description: "Also remove the instance profile from the instance."},
			},
			Outputs: []spec.Field{
				spec.F("role_name", str, "The role whose credentials were denied."),
				spec.F("scope", str, "instance or all_sessions."),
				spec.F("policy_name", str, "The inline policy that was put (the last one, for all_sessions with an instance)."),
				spec.F("revoked_before", str, "all_sessions: sessions issued before this time (RFC 3339) are denied; empty for scope instance."),
				spec.F("instance_profile_disassociated", spec.Bool, "Whether the profile was removed from the instance."),
				spec.F("instance_profile_replaced", spec.Bool, "Whether the profile was replaced with the quarantine profile."),
				spec.F("previous_instance_profile", str, "ARN of the profile the instance had, when it was replaced or removed."),
			},
			Destructive: true, Mutating: true,
			DryRun: "Shows the policies that would be put and the profile change, and for all_sessions what it breaks; nothing is sent.",
			Permissions: []string{
				"ec2:DescribeInstances", "iam:GetInstanceProfile", "iam:GetRole", "iam:GetRolePolicy", "iam:PutRolePolicy",
				"ec2:DescribeIamInstanceProfileAssociations", "ec2:DisassociateIamInstanceProfile",
				"ec2:ReplaceIamInstanceProfileAssociation", "iam:PassRole", "ec2:CreateTags",
			},
			Timeout: 5 * minute,
		}, revokeRoleSessions),
		action(spec.Action{
			Name: "aws.iam.lock_role", Service: "iam",
			Summary: "Lock a role: nobody can assume it again (trust policy deny) and nothing its sessions do is allowed (deny-all).",
			Description: "After credentials are cut off, an attacker holding a principal the role trusts can simply assume it again. " +
				"lock_trust_policy adds a statement denying sts:AssumeRole (and its SAML and web identity forms) to every principal " +
				"to the trust policy (UpdateAssumeRolePolicy); the original trust policy is an output, for the restore. deny_all puts " +
				"an inline deny-all policy on the role, which stops every session, old or new, of every workload using it. " +
				"Refuses IAM Identity Center (AWSReservedSSO_*) and service-linked roles.",
			Params: []spec.Param{
				{Name: "role_name", Type: str, Required: true, Pattern: iamRoleNamePattern, Description: "The role to lock."},
				{Name: "lock_trust_policy", Type: spec.Bool, Default: true, Description: "Deny assuming the role to every principal."},
				{Name: "deny_all", Type: spec.Bool, Default: true, Description: "Put an inline deny-all policy on the role."},
			},
			Outputs: []spec.Field{
				spec.F("original_trust_policy", str, "The trust policy without Cordon's lock: what a restore puts back (empty when not locked)."),
				spec.F("trust_policy_locked", spec.Bool, "Whether the trust policy denies assuming the role."),
				spec.F("deny_all_policy", str, "The inline deny-all policy put, or empty."),
			},
			Destructive: true, Mutating: true,
			DryRun:      "Shows the trust policy and the inline policy that would be put; nothing is sent.",
			Permissions: []string{"iam:GetRole", "iam:UpdateAssumeRolePolicy", "iam:GetRolePolicy", "iam:PutRolePolicy"},
			Timeout:     5 * minute,
		}, lockRole),
		action(spec.Action{
			Name: "aws.iam.find_access_key_owner", Service: "iam",
			Summary: "Find what a leaked access key belongs to (a user, a role session or the root user), and when it was last used.",
			Description: "ASIA keys are temporary (STS) credentials of a session, owned by no IAM user: key_kind session, and next_step " +
				"says to contain the role. AKIA keys belong to an IAM user, or to the root user (key_kind root: only the root user can " +
				"delete them). account_id comes from sts:GetAccessKeyInfo.",
			Params: []spec.Param{
				{Name: "access_key_id", Type: str, Required: true, Pattern: accessKeyIDPattern, Description: "The leaked access key id."},
			},
			Outputs: []spec.Field{
				spec.F("key_kind", str, "user, session (ASIA: a role session's temporary key) or root."),
				spec.F("account_id", str, "The account the key belongs to."),
				spec.F("next_step", str, "What contains this kind of key."),
				spec.F("user_name", str, "Owner of a user key (\"root\" for a root key); empty for a session key."),
				spec.F("last_used_date", str, "RFC 3339, empty if never used."),
				spec.F("last_used_service", str, "Service of the last use."),
				spec.F("last_used_region", str, "Region of the last use."),
			},
			DryRun:      "Runs unchanged: it only reads.",
			Permissions: []string{"sts:GetAccessKeyInfo", "iam:GetAccessKeyLastUsed"},
			Timeout:     5 * minute,
		}, findAccessKeyOwner),
		action(spec.Action{
			Name: "aws.iam.deactivate_access_keys", Service: "iam",
			Summary: "Deactivate the user's access keys. Never deletes them: they are evidence.",
			Description: "Refuses ASIA keys (temporary session credentials, owned by no user: contain the role) and the root user's keys " +
				"(only the root user can delete them). A user unknown to IAM may be an IAM Identity Center user: the error says to " +
				"contain them in Identity Center.",
			Params:      []spec.Param{user, {Name: "access_key_ids", Type: strs, Pattern: accessKeyIDPattern, Description: "Only these keys; all of the user's keys when empty."}},
			Outputs:     []spec.Field{spec.F("deactivated", strs, "Keys this step deactivated."), spec.F("already_inactive", strs, "Keys that were inactive already.")},
			Destructive: true, Mutating: true,
			Reverse:     "",
			DryRun:      "Lists the keys and their status and previews the change; nothing is sent.",
			Permissions: []string{"iam:ListAccessKeys", "iam:UpdateAccessKey"},
			Timeout:     5 * minute,
		}, deactivateAccessKeys),
		action(spec.Action{
			Name: "aws.iam.revoke_user_sessions", Service: "iam",
			Summary:     "Deny every session the user obtained before now (aws:TokenIssueTime), e.g. from a leaked key.",
			Params:      []spec.Param{user},
			Outputs:     []spec.Field{spec.F("policy_name", str, "The inline policy that was put."), spec.F("revoked_before", str, "RFC 3339.")},
			Destructive: true, Mutating: true,
			DryRun:      "Shows the policy that would be put; nothing is sent.",
			Permissions: []string{"iam:GetUserPolicy", "iam:PutUserPolicy"},
			Timeout:     5 * minute,
		}, revokeUserSessions),
		action(spec.Action{
			Name: "aws.iam.attach_user_deny_all", Service: "iam",
			Summary: "Put an inline deny-all policy on the user: nothing the user's credentials do is allowed any more.",
			Description: "A user's inline policies may total at most 2,048 characters: when the deny-all does not fit (LimitExceeded), " +
				"the AWS managed policy AWSDenyAll is attached instead, which does not count against that quota.",
			Params: []spec.Param{user},
			Outputs: []spec.Field{
				spec.F("policy_name", str, "The inline policy that was put, or AWSDenyAll when it was attached instead."),
				spec.F("policy_arn", str, "The managed policy attached (arn:aws:iam::aws:policy/AWSDenyAll), or empty."),
			},
			Destructive: true, Mutating: true,
			DryRun:      "Shows the policy that would be put; nothing is sent.",
			Permissions: []string{"iam:GetUserPolicy", "iam:PutUserPolicy", "iam:ListAttachedUserPolicies", "iam:AttachUserPolicy"},
			Timeout:     5 * minute,
		}, attachUserDenyAll),
		action(spec.Action{
			Name: "aws.iam.delete_login_profile", Service: "iam",
			Summary:     "Delete the user's console password so nobody can sign in as them.",
			Params:      []spec.Param{user},
			Outputs:     []spec.Field{spec.F("had_login_profile", spec.Bool, "False when the user had no console password.")},
			Destructive: true, Mutating: true,
			DryRun:      "Checks whether a login profile exists; nothing is sent.",
			Permissions: []string{"iam:GetLoginProfile", "iam:DeleteLoginProfile"},
			Timeout:     5 * minute,
		}, deleteLoginProfile),
		action(spec.Action{
			Name: "aws.iam.deactivate_mfa_devices", Service: "iam",
			Summary: "Deactivate MFA devices added after a given time (an attacker's persistence).",
			Params: []spec.Param{
				user,
				{Name: "added_after", Type: str, Required: true, Pattern: rfc3339Pattern, Description: "Devices enabled after this time (RFC 3339) are deactivated."},
			},
			Outputs:     []spec.Field{spec.F("deactivated", strs, "Serial numbers of the devices deactivated.")},
			Destructive: true, Mutating: true,
			DryRun:      "Lists the devices that would be deactivated; nothing is sent.",
			Permissions: []string{"iam:ListMFADevices", "iam:DeactivateMFADevice"},
			Timeout:     5 * minute,
		}, deactivateMFADevices),
	}
}
