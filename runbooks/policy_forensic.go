package runbooks

import (
	"slices"
	"strings"

	"github.com/cordon-ir/cordon/actions/spec"
)

// The forensic side of `cordon policy`. Runbooks that keep evidence
// (the evidence store, the disks' handover) act in two accounts: the
// responder role in each account they contain, and the forensic account's
// role, which the worker assumes to write the evidence bucket and to copy
// the handed-over snapshots. Around those two roles, the two-account setup
// needs three resource-side documents, which docs/forensics.md walks
// through: the forensic instance profile a compromised host is given (the
// SSM agent's channel; aws.iam.replace_instance_profile adds, per
// instance, the right to write that host's evidence), the statement the
// handover key's policy needs so the forensic account may use it, and the
// evidence bucket's policy letting hosts upload what they capture.

// ResourceStatement is a statement of a resource-based policy (a key
// policy, a bucket policy, a trust policy): it names its principals.
type ResourceStatement struct {
	Sid       string                        `json:"Sid"`
	Effect    string                        `json:"Effect"`
	Principal any                           `json:"Principal"`
	Action    Strings                       `json:"Action"`
	Resource  Strings                       `json:"Resource,omitempty"`
	Condition map[string]map[string]Strings `json:"Condition,omitempty"`
}

// ResourcePolicy is a resource-based policy document.
type ResourcePolicy struct {
	Version   string              `json:"Version"`
	Statement []ResourceStatement `json:"Statement"`
}

// ForensicPolicies are the documents of the forensic side, as `cordon
// policy` prints them beside the responder role's policy.
type ForensicPolicies struct {
	// ForensicRole is the policy of the forensic account's role, which
	// the worker assumes (aws.accounts[evidence.account]).
	ForensicRole IAMPolicy `json:"forensic_role"`
	// InstanceProfileRole and InstanceProfileTrust are the forensic
	// instance profile's role, in each responder account.
	InstanceProfileRole  IAMPolicy      `json:"forensic_instance_profile_role"`
	InstanceProfileTrust ResourcePolicy `json:"forensic_instance_profile_trust"`
	// HandoverKey is the statement to add to the handover key's policy in
	// each responder account (only when the runbooks hand disks over).
	HandoverKey []ResourceStatement `json:"handover_key_policy_statements,omitempty"`
	// EvidenceBucket is the evidence bucket's policy, in the forensic
	// account.
	EvidenceBucket ResourcePolicy `json:"evidence_bucket_policy"`
}

// Placeholders written where an account id is needed and the options do
// not give it: IAM refuses them, so a policy cannot be applied half filled.
const (
	responderAccountPlaceholder = "RESPONDER_ACCOUNT_ID"
	forensicAccountPlaceholder  = "FORENSIC_ACCOUNT_ID"
)

// ssmAgentChannel are what the SSM agent calls to register and take
// commands (the channel part of AmazonSSMManagedInstanceCore): all the
// forensic instance profile's role holds besides its evidence writes.
func ssmAgentChannel() []string {
	return []string{
		"ec2messages:AcknowledgeMessage", "ec2messages:DeleteMessage", "ec2messages:FailMessage", "ec2messages:GetEndpoint",
		"ec2messages:GetMessages", "ec2messages:SendReply", "ssm:UpdateInstanceInformation", "ssmmessages:CreateControlChannel",
		"ssmmessages:CreateDataChannel", "ssmmessages:OpenControlChannel", "ssmmessages:OpenDataChannel",
	}
}

// ebsKeyUse is what the EBS guide asks a key policy to grant an account
// that copies snapshots encrypted with the key.
func ebsKeyUse() Strings {
	return Strings{"kms:CreateGrant", "kms:Decrypt", "kms:DescribeKey", "kms:GenerateDataKey*", "kms:ReEncrypt*"}
}

// ForensicSide returns the forensic side's documents for the plans, and
// what the forensic role holds on Resource "*"; nil when no step of the
// plans acts in the forensic account.
func ForensicSide(cat spec.Catalog, opts PolicyOptions, plans ...*Plan) (*ForensicPolicies, []Unscoped) {
	opts = opts.withDefaults()
	responder := opts.AccountID
	forensic := opts
	forensic.AccountID = opts.ForensicAccountID
	role, unscoped := rolePolicy(cat, forensic, true, plans)
	if len(role.Statement) == 0 {
		return nil, nil
	}
	if responder == "*" {
		responder = responderAccountPlaceholder
	}
	forensicID := opts.ForensicAccountID
	if forensicID == "*" {
		forensicID = forensicAccountPlaceholder
	}
	arn := "arn:" + opts.Partition
	objects := arn + ":s3:::" + opts.EvidenceBucket + "/" + opts.EvidencePrefix + "*"
	out := &ForensicPolicies{
		ForensicRole: role,
		InstanceProfileRole: IAMPolicy{Version: "2012-10-17", Statement: []IAMStatement{
			{Sid: "CordonForensicSSMAgent", Effect: "Allow", Action: ssmAgentChannel(), Resource: Strings{"*"}},
		}},
		InstanceProfileTrust: ResourcePolicy{Version: "2012-10-17", Statement: []ResourceStatement{
			{Sid: "CordonForensicInstances", Effect: "Allow", Principal: map[string]Strings{"Service": {"ec2.amazonaws.com"}}, Action: Strings{"sts:AssumeRole"}},
		}},
		EvidenceBucket: ResourcePolicy{Version: "2012-10-17", Statement: []ResourceStatement{
			{
				// The hosts upload their own captures as the forensic
				// profile's role, which may write only its own prefix.
				Sid: "CordonHostsWriteTheirEvidence", Effect: "Allow",
				Principal: map[string]Strings{"AWS": {arn + ":iam::" + responder + ":role" + opts.PassRolePath + opts.ForensicProfileRole}},
				Action:    Strings{"s3:PutObject"}, Resource: Strings{objects},
			},
			{
				Sid: "CordonEvidenceOverTLSOnly", Effect: "Deny", Principal: "*", Action: Strings{"s3:*"},
				Resource:  Strings{arn + ":s3:::" + opts.EvidenceBucket, arn + ":s3:::" + opts.EvidenceBucket + "/*"},
				Condition: map[string]map[string]Strings{"Bool": {"aws:SecureTransport": {"false"}}},
			},
		}},
	}
	if slices.ContainsFunc(plans, func(p *Plan) bool { return slices.Contains(p.Permissions(), "ec2:ModifySnapshotAttribute") }) {
		out.HandoverKey = []ResourceStatement{{
			Sid: "CordonHandoverToTheForensicAccount", Effect: "Allow",
			Principal: map[string]Strings{"AWS": {arn + ":iam::" + forensicID + ":root"}},
			Action:    ebsKeyUse(), Resource: Strings{"*"},
		}}
	}
	return out, unscoped
}

// Placeholders lists the account placeholders a forensic side's documents
// still hold, for the CLI to say which options fill them.
func (f *ForensicPolicies) Placeholders() []string {
	b := strings.Builder{}
	for _, st := range slices.Concat(f.InstanceProfileTrust.Statement, f.HandoverKey, f.EvidenceBucket.Statement) {
		if p, ok := st.Principal.(map[string]Strings); ok {
			for _, v := range p {
				b.WriteString(strings.Join(v, " "))
			}
		}
	}
	var out []string
	for _, ph := range []string{responderAccountPlaceholder, forensicAccountPlaceholder} {
		if strings.Contains(b.String(), ph) {
			out = append(out, ph)
		}
	}
	return out
}
