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
			Summary: "Invalidate every credential already issued for the instance's role.",
			Description: "Puts an inline deny-all policy on the role with the condition aws:TokenIssueTime before now, which is what " +
				"the console's \"Revoke active sessions\" does. Swapping or disassociating the instance profile alone does not " +
				"invalidate credentials already stolen from the metadata service. Every workload using this role must fetch new " +
				"credentials, which the SDKs do on their own. Give instance_id to find the role through the instance profile, or role_name.",
			Params: []spec.Param{
				{Name: "instance_id", Type: str, Pattern: instanceIDPattern, Description: "Find the role through this instance's profile."},
				{Name: "role_name", Type: str, Pattern: iamRoleNamePattern, Description: "The role, when known."},
				{Name: "disassociate_instance_profile", Type: spec.Bool, Default: false, Description: "Also remove the instance profile from the instance."},
			},
			Outputs: []spec.Field{
				spec.F("role_name", str, "The role whose sessions were revoked."),
				spec.F("policy_name", str, "The inline policy that was put."),
				spec.F("revoked_before", str, "Sessions issued before this time (RFC 3339) are denied."),
				spec.F("instance_profile_disassociated", spec.Bool, "Whether the profile was removed from the instance."),
			},
			Destructive: true, Mutating: true,
			DryRun: "Shows the policy that would be put and the role it applies to; nothing is sent.",
			Permissions: []string{
				"ec2:DescribeInstances", "iam:GetInstanceProfile", "iam:GetRolePolicy", "iam:PutRolePolicy",
				"ec2:DescribeIamInstanceProfileAssociations", "ec2:DisassociateIamInstanceProfile",
			},
			Timeout: 5 * minute,
		}, revokeRoleSessions),
		action(spec.Action{
			Name: "aws.iam.find_access_key_owner", Service: "iam",
			Summary: "Find which user a leaked access key belongs to, and when it was last used.",
			Params: []spec.Param{
				{Name: "access_key_id", Type: str, Required: true, Pattern: accessKeyIDPattern, Description: "The leaked access key id."},
			},
			Outputs: []spec.Field{
				spec.F("user_name", str, "Owner of the key."),
				spec.F("last_used_date", str, "RFC 3339, empty if never used."),
				spec.F("last_used_service", str, "Service of the last use."),
				spec.F("last_used_region", str, "Region of the last use."),
			},
			DryRun:      "Runs unchanged: it only reads.",
			Permissions: []string{"iam:GetAccessKeyLastUsed"},
			Timeout:     5 * minute,
		}, findAccessKeyOwner),
		action(spec.Action{
			Name: "aws.iam.deactivate_access_keys", Service: "iam",
			Summary:     "Deactivate the user's access keys. Never deletes them: they are evidence.",
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
			Summary:     "Put an inline deny-all policy on the user: nothing the user's credentials do is allowed any more.",
			Params:      []spec.Param{user},
			Outputs:     []spec.Field{spec.F("policy_name", str, "The inline policy that was put.")},
			Destructive: true, Mutating: true,
			DryRun:      "Shows the policy that would be put; nothing is sent.",
			Permissions: []string{"iam:GetUserPolicy", "iam:PutUserPolicy"},
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
