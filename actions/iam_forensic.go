package actions

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/cordon-ir/cordon/actions/spec"
	"github.com/cordon-ir/cordon/evidence"
)

// The forensic instance profile. A compromised host keeps a role while it
// is investigated: its SSM agent needs credentials to take commands and to
// upload what they produce (a memory image, triage output) to the evidence
// bucket. Its own role is the attacker's too, so it is swapped for a
// forensic profile, created beforehand (`cordon policy` prints its role's
// policy: the SSM agent's channel and nothing else), and the step gives
// that role, for this instance's credentials only (ec2:SourceInstanceARN),
// the right to write this host's prefix of the case in the evidence
// bucket. Every compromised host shares the one forensic profile; none can
// write another's evidence or another case's.

// forensicWritePolicyPrefix names the inline policy on the forensic role
// that lets one instance write its evidence.
const forensicWritePolicyPrefix = "CordonEvidence-"

func forensicIAMActions() []registration {
	str := spec.String
	return []registration{
		action(spec.Action{
			Name: "aws.iam.replace_instance_profile", Service: "iam",
			Summary: "Swap the instance's profile for the forensic one, whose role may only run the SSM agent and write this host's evidence of the case.",
			Description: "Records the instance's profile in the tag cordon:prior-instance-profile and the forensic one in " +
				"cordon:quarantine-instance-profile (aws.ec2.restore_instance_profile puts the old one back; aws.iam.revoke_role_sessions " +
				"still finds the old role through them), then replaces the association. With an evidence store configured, it first " +
				"puts on the forensic profile's role an inline policy (CordonEvidence-<instance>) allowing s3:PutObject on this host's " +
				"prefix of the case in the evidence bucket, only to credentials issued to this instance (ec2:SourceInstanceARN). " +
				"Credentials the instance had already stay valid until they expire: revoke them with aws.iam.revoke_role_sessions. " +
				"An instance without a profile is refused: its agent has no credentials to swap.",
			Params: []spec.Param{
				instanceIDParam(),
				{Name: "instance_profile", Type: str, Default: "cordon-forensic", Pattern: iamRoleNamePattern, Description: "The forensic instance profile, created beforehand in the instance's account."},
				{Name: "case", Type: str, Pattern: `^[A-Za-z0-9._=+@-]{1,128}$`,
					Description: "The case whose prefix the host may write (give aws.ssm.capture_memory the same); default the run's incident, else its run id."},
			},
			Outputs: []spec.Field{
				spec.F("instance_profile", str, "ARN of the forensic profile the instance has now."),
				spec.F("role_name", str, "The forensic profile's role."),
				spec.F("instance_profile_replaced", spec.Bool, "Whether the profile was replaced (by this step, possibly an earlier attempt of it)."),
				spec.F("previous_instance_profile", str, "ARN of the profile the instance had."),
				spec.F("evidence_policy", str, "The inline policy letting the instance write its evidence, empty without an evidence store."),
				spec.F("evidence_prefix", str, "Where the instance may write: s3://bucket/prefix; empty without an evidence store."),
			},
			Destructive: true, Mutating: true,
			Reverse: "aws.ec2.restore_instance_profile",
			DryRun:  "Shows the forensic role's policy and the profile change; nothing is sent (ReplaceIamInstanceProfileAssociation has no dry run).",
			Permissions: []string{
				"ec2:DescribeInstances", "iam:GetInstanceProfile", "iam:GetRolePolicy", "iam:PutRolePolicy",
				"ec2:DescribeIamInstanceProfileAssociations", "ec2:CreateTags", "ec2:ReplaceIamInstanceProfileAssociation", "iam:PassRole",
			},
			// The forensic role is a role passed to EC2, not one being
			// contained: its policies are granted where PassRole is.
			Scopes:  []spec.Scope{{Permissions: []string{"iam:GetRolePolicy", "iam:PutRolePolicy"}, Resources: []string{arnPassedRole}}},
			Timeout: 5 * minute,
		}, replaceInstanceProfile),
	}
}

type replaceProfileParams struct {
	InstanceID      string `json:"instance_id"`
	InstanceProfile string `json:"instance_profile"`
	Case            string `json:"case"`
}

func replaceInstanceProfile(ctx context.Context, x *execution) error {
	var p replaceProfileParams
	if err := x.decode(&p); err != nil {
		return err
	}
	var prior revokeIntent
	hadPrior := priorIntent(ctx, &prior) && prior.InstanceID == p.InstanceID
	in, err := getInstance(ctx, x, p.InstanceID)
	if err != nil {
		return err
	}
	current := ""
	if in.IamInstanceProfile != nil {
		current = aws.ToString(in.IamInstanceProfile.Arn)
	}
	if current == "" && !hadPrior {
		return invalidRequest(x.call.Action, fmt.Sprintf("instance %s has no instance profile: its SSM agent has no role credentials to swap "+
			"(an agent registered through Default Host Management uses that role instead)", p.InstanceID))
	}
	forensic, err := getInstanceProfile(ctx, x, fmt.Sprintf("find the forensic instance profile %s for %s", p.InstanceProfile, p.InstanceID), p.InstanceProfile)
	if err != nil {
		return err
	}
	if len(forensic.Roles) == 0 {
		return invalidRequest(x.call.Action, fmt.Sprintf("the forensic instance profile %s has no role: add its role (cordon policy prints its policy)", p.InstanceProfile))
	}
	role := forensic.Roles[0]
	x.output("instance_profile", aws.ToString(forensic.Arn))
	x.output("role_name", aws.ToString(role.RoleName))
	policy, prefix, err := grantEvidenceWrite(ctx, x, aws.ToString(role.RoleName), aws.ToString(role.Arn), p.InstanceID,
		cmp.Or(p.Case, evidence.CaseOf(x.call.Run)))
	if err != nil {
		return err
	}
	x.output("evidence_policy", policy)
	x.output("evidence_prefix", prefix)
	// After the grant: the instance gets credentials that can write its
	// evidence the moment it has the profile.
	return replaceProfile(ctx, x, revokeParams{InstanceID: p.InstanceID, Quarantine: p.InstanceProfile}, "", aws.ToString(forensic.Arn),
		tagValue(in.Tags, TagPriorInstanceProfile), tagValue(in.Tags, TagQuarantineInstanceProfile), hadPrior, prior)
}

// grantEvidenceWrite puts on the forensic role the policy letting the
// instance's credentials, and only those, write its prefix of the case in
// the evidence store. Without a store it says so and grants nothing. It
// returns the policy's name and the prefix as an S3 URL.
func grantEvidenceWrite(ctx context.Context, x *execution, role, roleARN, instanceID, caseName string) (policy, prefix string, err error) {
	cfg := x.rt.opts.Evidence
	if !cfg.Enabled() {
		x.note("no evidence store is configured (evidence in the worker configuration): the forensic role gets no right to write evidence, " +
			"so what the host uploads itself (a memory image) has nowhere to go")
		return "", "", nil
	}
	keys := cfg.HostPrefix(caseName, instanceID)
	policy = forensicWritePolicyPrefix + instanceID
	doc := policyJSON(policyStatement{
		Sid: "CordonEvidenceWrite", Effect: "Allow", Action: "s3:PutObject",
		Resource:  fmt.Sprintf("arn:%s:s3:::%s/%s*", partitionOf(roleARN), cfg.Bucket, keys),
		Condition: map[string]map[string]any{"ArnEquals": {"ec2:SourceInstanceARN": instanceARN(roleARN, x.aws.EC2.Options().Region, instanceID)}},
	})
	prefix = "s3://" + cfg.Bucket + "/" + keys
	pp := rolePolicies(x, role)
	existing, found, err := pp.read(ctx, policy)
	if err != nil {
		return "", "", err
	}
	if found && sameJSON(existing, doc) {
		x.note("the forensic role %s already lets %s write %s", role, instanceID, prefix)
		return policy, prefix, nil
	}
	x.change(pp.resource(), "inline_policy/"+policy, nilIfEmpty(existing), doc)
	if x.preview() {
		return policy, prefix, nil
	}
	if err := pp.put(ctx, policy, doc); err != nil {
		return "", "", classify(fmt.Sprintf("let %s write its evidence through the forensic role %s", instanceID, role), pp.putPerm, err)
	}
	return policy, prefix, nil
}

// partitionOf is the partition of an ARN ("aws" when it names none).
func partitionOf(arn string) string {
	if parts := strings.SplitN(arn, ":", 3); len(parts) == 3 && parts[0] == "arn" && parts[1] != "" {
		return parts[1]
	}
	return "aws"
}

// sameJSON reports whether two JSON documents hold the same value.
func sameJSON(a, b string) bool {
	var va, vb any
	return json.Unmarshal([]byte(a), &va) == nil && json.Unmarshal([]byte(b), &vb) == nil && reflect.DeepEqual(va, vb)
}
