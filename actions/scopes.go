package actions

import (
	"slices"
	"strings"

	"github.com/cordon-ir/cordon/actions/spec"
)

// ARN patterns of the resources Cordon's permissions are granted on, in the
// notation of the AWS Service Authorization Reference ("Actions, resources,
// and condition keys for Amazon EC2", "... for AWS Identity and Access
// Management"). Region is always "*": one worker role serves every region
// the roster names.
const (
	arnInstance        = "arn:${Partition}:ec2:*:${Account}:instance/*"
	arnVolume          = "arn:${Partition}:ec2:*:${Account}:volume/*"
	arnSecurityGroup   = "arn:${Partition}:ec2:*:${Account}:security-group/*"
	arnNetworkIface    = "arn:${Partition}:ec2:*:${Account}:network-interface/*"
	arnSubnet          = "arn:${Partition}:ec2:*:${Account}:subnet/*"
	arnNetworkACL      = "arn:${Partition}:ec2:*:${Account}:network-acl/*"
	arnContainedRole   = "arn:${Partition}:iam::${Account}:role${RolePath}*"
	arnPassedRole      = "arn:${Partition}:iam::${Account}:role${PassRolePath}*"
	arnContainedUser   = "arn:${Partition}:iam::${Account}:user${UserPath}*"
	arnInstanceProfile = "arn:${Partition}:iam::${Account}:instance-profile/*"
	// The evidence store: its bucket, and the objects under its prefix
	// (every case's artefacts and manifests).
	arnEvidenceBucket  = "arn:${Partition}:s3:::${EvidenceBucket}"
	arnEvidenceObjects = "arn:${Partition}:s3:::${EvidenceBucket}/${EvidencePrefix}*"
	// Any account's KMS key: a handover uses keys of both accounts.
	arnAnyKey = "arn:${Partition}:kms:*:*:key/*"
)

// Why a permission stays on Resource "*".
const (
	// The EC2 User Guide ("Control access to EC2 resources using resource
	// tags"): Describe actions do not support resource-level permissions.
	unscopedEC2Describe = "no resource-level permissions for EC2 Describe actions"
	// What the reference was not checked for yet stays "*" rather than
	// risk a policy that denies a containment step in the middle of an
	// incident.
	unscopedUnverified = "resource-level permissions not yet verified against the Service Authorization Reference"
	// The CloudTrail reference: LookupEvents has no resource types.
	unscopedLookupEvents = "no resource-level permissions for CloudTrail LookupEvents"
	// The STS reference: GetCallerIdentity needs no permission at all.
	unscopedCallerIdentity = "needs no permission: AWS answers GetCallerIdentity for any caller (listed so that a deny cannot hide it)"
)

// permissionScope is how one IAM action is granted wherever Cordon calls
// it. Every row was checked against the Service Authorization Reference:
// the action's resource types (required ones marked * there) and, for
// conditions, its condition keys. Optional resource types are listed when
// Cordon's request names such a resource (ModifyInstanceAttribute's
// BlockDeviceMappings name volumes; ModifyNetworkInterfaceAttribute's
// Groups name security groups), since IAM then authorizes them too.
//
// No EC2 permission is conditioned on a tag. Cordon's own records
// (cordon:prior-state, cordon:prior-metadata) are written by the same step
// just before the call, but a preview's CreateTags is a dry run that
// writes nothing, while its dry-run StopInstances is authorized against the
// instance's tags as they are: an aws:ResourceTag condition on them would
// deny every preview. The tags a runbook's aws.ec2.tag step sets
// (cordon:incident, cordon:state) precede destructive steps only when the
// runbook is written so (examples/ec2-compromise.yaml tags after
// aws.ec2.enable_termination_protection), which the generator cannot rely on.
func permissionScope(perm string) spec.Scope {
	scope := func(resources ...string) spec.Scope {
		return spec.Scope{Permissions: []string{perm}, Resources: resources}
	}
	// scopeIf is scope granted only under one condition.
	scopeIf := func(op, key, value string, resources ...string) spec.Scope {
		s := scope(resources...)
		s.Condition = map[string]map[string][]string{op: {key: {value}}}
		return s
	}
	unscoped := func(reason string) spec.Scope { return spec.Scope{Permissions: []string{perm}, Unscoped: reason} }
	switch perm {
	case "ec2:StopInstances", "ec2:TerminateInstances", "ec2:ModifyInstanceMetadataOptions",
		"ec2:ReplaceIamInstanceProfileAssociation":
		return scope(arnInstance)
	case "ec2:ModifyInstanceAttribute":
		return scope(arnInstance, arnVolume)
	case "ec2:ModifyNetworkInterfaceAttribute":
		// network-interface is required; instance, security-group and
		// subnet are optional types the request may bring in.
		return scope(arnNetworkIface, arnSecurityGroup, arnInstance, arnSubnet)
	case "ec2:ReplaceNetworkAclAssociation":
		return scope(arnNetworkACL, arnSubnet)

	case "iam:GetRole", "iam:GetRolePolicy", "iam:PutRolePolicy", "iam:UpdateAssumeRolePolicy":
		return scope(arnContainedRole)
	case "iam:PassRole":
		// Only to EC2: the quarantine instance profile's role.
		return scopeIf("StringEquals", "iam:PassedToService", "ec2.amazonaws.com", arnPassedRole)
	case "iam:GetInstanceProfile":
		return scope(arnInstanceProfile)
	case "iam:AttachUserPolicy":
		// Cordon attaches nothing but AWSDenyAll: without this condition the
		// worker could attach AdministratorAccess to any user.
		return scopeIf("ArnEquals", "iam:PolicyARN", "arn:${Partition}:iam::aws:policy/AWSDenyAll", arnContainedUser)
	case "iam:GetUserPolicy", "iam:PutUserPolicy", "iam:ListAttachedUserPolicies", "iam:ListAccessKeys",
		"iam:UpdateAccessKey", "iam:GetAccessKeyLastUsed", "iam:GetLoginProfile", "iam:DeleteLoginProfile",
		"iam:ListMFADevices", "iam:DeactivateMFADevice":
		return scope(arnContainedUser)

	case "s3:GetObject", "s3:GetObjectVersion", "s3:PutObject", "s3:PutObjectRetention":
		return scope(arnEvidenceObjects)
	case "s3:GetBucketObjectLockConfiguration":
		return scope(arnEvidenceBucket)
	case "kms:CreateGrant", "kms:Decrypt", "kms:ReEncryptFrom", "kms:ReEncryptTo", "kms:GenerateDataKeyWithoutPlaintext":
		// What EBS does with the keys on the caller's behalf when it
		// copies an encrypted snapshot (the EBS guide's list for copies):
		// only through EC2.
		return scopeIf("StringLike", "kms:ViaService", "ec2.*.amazonaws.com", arnAnyKey)
	case "kms:DescribeKey":
		return scope(arnAnyKey)
	case "cloudtrail:LookupEvents":
		return unscoped(unscopedLookupEvents)
	case "sts:GetCallerIdentity":
		return unscoped(unscopedCallerIdentity)
	}
	if strings.HasPrefix(perm, "ec2:Describe") {
		return unscoped(unscopedEC2Describe)
	}
	return unscoped(unscopedUnverified)
}

// withScopes completes an action's Scopes: a scope the spec declares itself
// wins for its permissions (an action may narrow further than the table);
// every other permission, the forensic account's included, gets its row of
// permissionScope.
func withScopes(s spec.Action) spec.Action {
	declared := map[string]bool{}
	for _, sc := range s.Scopes {
		for _, p := range sc.Permissions {
			declared[p] = true
		}
	}
	scopes := slices.Clone(s.Scopes)
	for _, p := range slices.Concat(s.Permissions, s.ForensicPermissions) {
		if !declared[p] {
			declared[p] = true // one scope for a permission both roles hold
			scopes = append(scopes, permissionScope(p))
		}
	}
	s.Scopes = scopes
	return s
}
