package actions

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"
	"github.com/aws/smithy-go"
)

// Revocation scopes of aws.iam.revoke_role_sessions.
const (
	// scopeInstance denies the role's credentials issued to the
	// compromised instance, and only those (ec2:SourceInstanceARN).
	scopeInstance = "instance"
	// scopeAllSessions denies every session of the role issued before the
	// step (aws:TokenIssueTime): the whole fleet using the role.
	scopeAllSessions = "all_sessions"
)

// TagPriorInstanceProfile records, on an instance whose profile Cordon
// replaced with a quarantine profile, the profile it had: what a restore
// puts back.
const TagPriorInstanceProfile = "cordon:prior-instance-profile"

// TagQuarantineInstanceProfile records, beside TagPriorInstanceProfile,
// the quarantine profile Cordon put on: a restore puts the prior profile
// back only while the instance still has this one, never over a profile
// someone associated since.
const TagQuarantineInstanceProfile = "cordon:quarantine-instance-profile"

// instanceDenyPolicyPrefix names the inline policy that denies one
// instance's role credentials. One policy per instance: foreach items
// containing several hosts of one role in parallel each write their own,
// so none overwrites another's (a shared document would lose updates).
const instanceDenyPolicyPrefix = "CordonDenyInstance-"

// Role paths and names IAM does not let a responder change.
const (
	serviceLinkedRolePath = "/aws-service-role/"
	ssoRolePathPrefix     = "/aws-reserved/sso.amazonaws.com/"
	ssoRoleNamePrefix     = "AWSReservedSSO_"
)

// identityCenterAdvice says how to contain what IAM cannot: the roles and
// users IAM Identity Center manages.
const identityCenterAdvice = "contain it in IAM Identity Center instead: remove the user's account assignments " +
	"(or the permission set's assignment to this account), revoke the user's active sessions there, " +
	"and add a deny to the permission set if it must stay assigned"

// refuseProtectedRole explains why IAM will not let Cordon change a role,
// and what to do instead; nil for an ordinary role.
func refuseProtectedRole(action, name, path string) error {
	switch {
	case strings.HasPrefix(name, ssoRoleNamePrefix) || strings.HasPrefix(path, ssoRolePathPrefix):
		return invalidRequest(action, fmt.Sprintf("role %s belongs to an IAM Identity Center permission set: Identity Center "+
			"owns it and overwrites or refuses changes made in IAM; %s", name, identityCenterAdvice))
	case strings.HasPrefix(path, serviceLinkedRolePath):
		return invalidRequest(action, fmt.Sprintf("role %s is a service-linked role: only the AWS service that owns it may change it, "+
			"and its sessions cannot be revoked; contain the resource the service acts for instead", name))
	}
	return nil
}

// eventually calls fn until it succeeds, fails with something other
// than what retry recognises, or the bounded backoff runs out. IAM is
// eventually consistent: a role or instance profile a runbook has just
// created may be reported missing for a few seconds, and failing the step
// for that would send a responder chasing a resource that exists.
func eventually(ctx context.Context, x *execution, retry func(error) bool, fn func() error) error {
	return withBackoff(ctx, 6, min(x.rt.opts.PollInterval, time.Second), 8*time.Second, retry, fn)
}

func isNoSuchEntity(err error) bool { return isCode(err, "NoSuchEntity") }

// invalidProfileParam is EC2's answer to an instance profile it cannot
// see yet (or at all).
func invalidProfileParam(err error) bool {
	var ae smithy.APIError
	return errors.As(err, &ae) && ae.ErrorCode() == "InvalidParameterValue" &&
		strings.Contains(strings.ToLower(ae.ErrorMessage()), "instance profile")
}

// getRole reads a role, waiting out IAM's eventual consistency.
func getRole(ctx context.Context, x *execution, name string) (*iamtypes.Role, error) {
	var out *iam.GetRoleOutput
	err := eventually(ctx, x, isNoSuchEntity, func() (err error) {
		out, err = x.aws.IAM.GetRole(ctx, &iam.GetRoleInput{RoleName: aws.String(name)})
		return err
	})
	if err != nil {
		return nil, classify("read role "+name, "iam:GetRole", err)
	}
	if out.Role == nil {
		return nil, classify("read role "+name, "iam:GetRole", notFound("NoSuchEntity", "role "+name+" not found"))
	}
	return out.Role, nil
}

// getInstanceProfile reads an instance profile by name, waiting out IAM's
// eventual consistency.
func getInstanceProfile(ctx context.Context, x *execution, what, name string) (*iamtypes.InstanceProfile, error) {
	var out *iam.GetInstanceProfileOutput
	err := eventually(ctx, x, isNoSuchEntity, func() (err error) {
		out, err = x.aws.IAM.GetInstanceProfile(ctx, &iam.GetInstanceProfileInput{InstanceProfileName: aws.String(name)})
		return err
	})
	if err != nil {
		return nil, classify(what, "iam:GetInstanceProfile", err)
	}
	if out.InstanceProfile == nil {
		return nil, classify(what, "iam:GetInstanceProfile", notFound("NoSuchEntity", "instance profile "+name+" not found"))
	}
	return out.InstanceProfile, nil
}

// lastPathElement is the name in an IAM ARN (".../path/name").
func lastPathElement(arn string) string { return arn[strings.LastIndex(arn, "/")+1:] }

// profileRole finds the role of an instance profile given its ARN.
func profileRole(ctx context.Context, x *execution, instanceID, profileARN string) (string, error) {
	name := lastPathElement(profileARN)
	p, err := getInstanceProfile(ctx, x, fmt.Sprintf("find the role of %s through instance profile %s", instanceID, name), name)
	if err != nil {
		return "", err
	}
	if len(p.Roles) == 0 {
		return "", invalidRequest(x.call.Action, fmt.Sprintf("instance profile %s of %s has no role: nothing to revoke", name, instanceID))
	}
	return aws.ToString(p.Roles[0].RoleName), nil
}

// instanceARN is the ARN ec2:SourceInstanceARN carries for an instance:
// the partition and account of its role, the region of its clients.
func instanceARN(roleARN, region, instanceID string) string {
	partition, account := "aws", ""
	if parts := strings.Split(roleARN, ":"); len(parts) >= 5 {
		partition, account = parts[1], parts[4]
	}
	return fmt.Sprintf("arn:%s:ec2:%s:%s:instance/%s", partition, region, account, instanceID)
}

// instanceDenyPolicy denies everything to the role's credentials issued
// to one instance. ec2:SourceInstanceARN is set on every role credential
// the instance metadata service hands out, wherever it is used from, so
// this cuts what was stolen and what the host fetches next, and leaves
// the role's other instances alone (the EC2 User Guide's policy examples
// use this key with ArnEquals to scope a role to one instance).
func instanceDenyPolicy(arn string) string {
	return policyJSON(policyStatement{
		Sid: "CordonDenyInstanceCredentials", Effect: "Deny", Action: "*", Resource: "*",
		Condition: map[string]map[string]any{"ArnEquals": {"ec2:SourceInstanceARN": arn}},
	})
}

// deniesInstance reports whether doc unconditionally denies everything to
// the credentials of the instance arn.
func deniesInstance(doc, arn string) bool {
	sts, ok := statements(doc)
	if !ok {
		return false
	}
	for _, st := range sts {
		if st.Effect != "Deny" || !isWildcard(st.Action) || !isWildcard(st.Resource) || len(st.Condition) != 1 {
			continue
		}
		for op, kv := range st.Condition {
			if !strings.EqualFold(op, "ArnEquals") && !strings.EqualFold(op, "StringEquals") {
				continue
			}
			for key, v := range kv {
				if !strings.EqualFold(key, "ec2:SourceInstanceARN") || len(kv) != 1 {
					continue
				}
				if s, isString := v.(string); isString && s == arn {
					return true
				}
				if list, isList := v.([]any); isList && len(list) == 1 && list[0] == arn {
					return true
				}
			}
		}
	}
	return false
}

// denyInstanceCredentials puts the per-instance deny policy on the role.
func denyInstanceCredentials(ctx context.Context, x *execution, pp principalPolicies, arn, instanceID string) (string, error) {
	name := instanceDenyPolicyPrefix + instanceID
	existing, found, err := pp.read(ctx, name)
	if err != nil {
		return "", err
	}
	if found && deniesInstance(existing, arn) {
		x.note("role %s already denies the credentials of %s (%s)", pp.name, instanceID, name)
		return name, nil
	}
	doc := instanceDenyPolicy(arn)
	var before any
	if found {
		before = existing
	}
	x.change(pp.resource(), "inline_policy/"+name, before, doc)
	if x.preview() {
		return name, nil
	}
	if err := pp.put(ctx, name, doc); err != nil {
		return "", classify(fmt.Sprintf("deny the credentials of %s on role %s", instanceID, pp.name), pp.putPerm, err)
	}
	return name, nil
}

// allSessionsWarning is what a fleet-wide revocation breaks, said in its
// preview so that the approver sees it.
func allSessionsWarning(role string) string {
	return fmt.Sprintf("scope all_sessions: every session of role %s issued before this step is denied, on every instance, "+
		"container, function and person using the role, healthy or not. Instance profile credentials rotate about hourly "+
		"and the AWS SDKs do not fetch new ones on AccessDenied, so the rest of the fleet fails until its credentials "+
		"rotate or it restarts; meanwhile the compromised host fetches fresh, valid credentials unless its metadata "+
		"service is off or its profile replaced. scope instance (the default) cuts only the compromised instance.", role)
}

// revokeIntent is what revoke_role_sessions records before it changes or
// removes the instance profile, which is the only link from the instance
// to the role.
type revokeIntent struct {
	InstanceID string `json:"instance_id"`
	RoleName   string `json:"role_name"`
	// PriorProfile is the profile ARN replaced or removed.
	PriorProfile string `json:"prior_profile,omitempty"`
}

type revokeParams struct {
	InstanceID   string `json:"instance_id"`
	RoleName     string `json:"role_name"`
	Scope        string `json:"scope"`
	Quarantine   string `json:"quarantine_instance_profile"`
	Disassociate bool   `json:"disassociate_instance_profile"`
}

func (p revokeParams) check() error {
	switch {
	case p.InstanceID == "" && p.RoleName == "":
		return errors.New("give instance_id (the role is found through its instance profile) or role_name")
	case p.InstanceID != "" && p.RoleName != "":
		return errors.New("give instance_id or role_name, not both: the role must come from exactly one of them")
	case p.Disassociate && p.InstanceID == "":
		return errors.New("disassociate_instance_profile needs instance_id")
	case p.Quarantine != "" && p.InstanceID == "":
		return errors.New("quarantine_instance_profile needs instance_id")
	case p.Quarantine != "" && p.Disassociate:
		return errors.New("give quarantine_instance_profile or disassociate_instance_profile, not both")
	case p.Scope == scopeInstance && p.InstanceID == "":
		return errors.New("scope instance needs instance_id (the instance whose credentials are denied); " +
			"to revoke every session of role_name, which cuts every workload using the role, give scope: all_sessions")
	}
	return nil
}

func revokeRoleSessions(ctx context.Context, x *execution) error {
	var p revokeParams
	if err := x.decode(&p); err != nil {
		return err
	}
	if p.Scope == "" {
		p.Scope = scopeInstance
	}
	if err := p.check(); err != nil {
		return badParams(x.call.Action, err)
	}
	role := p.RoleName
	var prior revokeIntent
	hadPrior := priorIntent(ctx, &prior) && p.InstanceID != "" && prior.InstanceID == p.InstanceID && prior.RoleName != ""
	var current string // the instance's profile ARN now
	priorProfile, quarantineTag := "", ""
	if p.InstanceID != "" {
		in, err := getInstance(ctx, x, p.InstanceID)
		if err != nil {
			return err
		}
		if in.IamInstanceProfile != nil {
			current = aws.ToString(in.IamInstanceProfile.Arn)
		}
		priorProfile = tagValue(in.Tags, TagPriorInstanceProfile)
		quarantineTag = tagValue(in.Tags, TagQuarantineInstanceProfile)
		// Quarantined: the instance has the profile this step puts on, or
		// the one a forensic swap (aws.iam.replace_instance_profile)
		// recorded putting on; the role to revoke is then the one of the
		// profile it had.
		quarantined := current != "" && (p.Quarantine != "" && lastPathElement(current) == p.Quarantine || current == quarantineTag)
		switch {
		case current != "" && !quarantined:
			if role, err = profileRole(ctx, x, p.InstanceID, current); err != nil {
				return err
			}
		case hadPrior:
			// An earlier attempt revoked and then removed or replaced the
			// profile.
			role = prior.RoleName
			x.note("the instance profile of %s was changed by an earlier attempt of this step; its role was %s", p.InstanceID, role)
		case quarantined && priorProfile != "":
			// Already quarantined (by an earlier run): the role to revoke
			// is the one of the profile it had, which the tag records.
			if role, err = profileRole(ctx, x, p.InstanceID, priorProfile); err != nil {
				return err
			}
		case quarantined:
			return invalidRequest(x.call.Action, fmt.Sprintf("instance %s already has the quarantine profile %s and no record (tag %s) of the profile it had: "+
				"revoke that role with role_name and scope all_sessions", p.InstanceID, p.Quarantine, TagPriorInstanceProfile))
		default:
			return invalidRequest(x.call.Action, fmt.Sprintf("instance %s has no instance profile, so no role to revoke; give role_name if you know the role", p.InstanceID))
		}
	}
	r, err := getRole(ctx, x, role)
	if err != nil {
		return err
	}
	if err := refuseProtectedRole(x.call.Action, role, aws.ToString(r.Path)); err != nil {
		return err
	}
	quarantineARN := ""
	if p.Quarantine != "" {
		// Before any change: a missing quarantine profile must fail the
		// step with nothing done. It may have been created moments ago by
		// the runbook; getInstanceProfile waits for IAM to show it.
		q, err := getInstanceProfile(ctx, x, fmt.Sprintf("find the quarantine instance profile %s for %s", p.Quarantine, p.InstanceID), p.Quarantine)
		if err != nil {
			return err
		}
		quarantineARN = aws.ToString(q.Arn)
	}
	x.output("role_name", role)
	x.output("scope", p.Scope)
	x.output("revoked_before", "")
	x.output("instance_profile_disassociated", false)
	x.output("instance_profile_replaced", false)
	x.output("previous_instance_profile", "")
	pp := rolePolicies(x, role)
	if p.InstanceID != "" {
		arn := instanceARN(aws.ToString(r.Arn), x.aws.EC2.Options().Region, p.InstanceID)
		name, err := denyInstanceCredentials(ctx, x, pp, arn, p.InstanceID)
		if err != nil {
			return err
		}
		x.output("policy_name", name)
	}
	if p.Scope == scopeAllSessions {
		x.note("%s", allSessionsWarning(role))
		x.output("policy_name", revokePolicyName)
		cutoff, err := revokeOlderSessions(ctx, x, pp)
		if err != nil {
			return err
		}
		x.output("revoked_before", cutoff.Format(time.RFC3339))
	}
	// The profile changes only after the deny is in place: on its own a
	// new profile invalidates nothing already stolen, and without the old
	// one a retry could no longer find the role.
	switch {
	case p.Disassociate:
		removed, err := disassociateProfile(ctx, x, p.InstanceID, role, hadPrior)
		if err != nil {
			return err
		}
		x.output("instance_profile_disassociated", removed)
		if removed {
			x.output("previous_instance_profile", firstNonEmpty(current, prior.PriorProfile))
		}
	case p.Quarantine != "":
		return replaceProfile(ctx, x, p, role, quarantineARN, priorProfile, quarantineTag, hadPrior, prior)
	}
	return nil
}

func firstNonEmpty(ss ...string) string {
	for _, s := range ss {
		if s != "" {
			return s
		}
	}
	return ""
}

func tagValue(tags []ec2types.Tag, key string) string {
	for _, t := range tags {
		if aws.ToString(t.Key) == key {
			return aws.ToString(t.Value)
		}
	}
	return ""
}

// liveAssociations lists the instance's profile associations that hold.
func liveAssociations(ctx context.Context, x *execution, what, instanceID string) ([]ec2types.IamInstanceProfileAssociation, error) {
	out, err := x.aws.EC2.DescribeIamInstanceProfileAssociations(ctx, &ec2.DescribeIamInstanceProfileAssociationsInput{
		Filters: []ec2types.Filter{{Name: aws.String("instance-id"), Values: []string{instanceID}}},
	})
	if err != nil {
		return nil, classify(what, "ec2:DescribeIamInstanceProfileAssociations", err)
	}
	var assocs []ec2types.IamInstanceProfileAssociation
	for _, a := range out.IamInstanceProfileAssociations {
		if a.State == ec2types.IamInstanceProfileAssociationStateAssociated || a.State == ec2types.IamInstanceProfileAssociationStateAssociating {
			assocs = append(assocs, a)
		}
	}
	return assocs, nil
}

func associationProfile(a ec2types.IamInstanceProfileAssociation) string {
	if a.IamInstanceProfile == nil {
		return ""
	}
	return aws.ToString(a.IamInstanceProfile.Arn)
}

// reassociateProfile replaces the instance's profile association assoc
// with profile (named by ARN or by name), waiting out EC2's view of IAM. A
// replacement gives the association a new id, so the SDK's retry of a call
// whose answer was lost meets NotFound: then the instance is looked at,
// and lostAnswer says it has the profile already.
func reassociateProfile(ctx context.Context, x *execution, instanceID string, assoc ec2types.IamInstanceProfileAssociation,
	profile ec2types.IamInstanceProfileSpecification, what string) (lostAnswer bool, err error) {
	err = eventually(ctx, x, invalidProfileParam, func() error {
		_, err := x.aws.EC2.ReplaceIamInstanceProfileAssociation(ctx, &ec2.ReplaceIamInstanceProfileAssociationInput{
			AssociationId:      assoc.AssociationId,
			IamInstanceProfile: &profile,
		})
		return err
	})
	if err == nil {
		return false, nil
	}
	if !isCode(err, "InvalidAssociationID.NotFound") {
		return false, classify(what, "ec2:ReplaceIamInstanceProfileAssociation", err)
	}
	now, derr := liveAssociations(ctx, x, what, instanceID)
	if derr != nil {
		return false, derr
	}
	if len(now) == 0 || !profileNamed(associationProfile(now[0]), profile) {
		return false, classify(what, "ec2:ReplaceIamInstanceProfileAssociation", err)
	}
	return true, nil
}

// profileNamed says whether the instance profile arn is the one profile
// names, by its ARN or by its name.
func profileNamed(arn string, profile ec2types.IamInstanceProfileSpecification) bool {
	if profile.Arn != nil {
		return arn == aws.ToString(profile.Arn)
	}
	return lastPathElement(arn) == aws.ToString(profile.Name)
}

// disassociateProfile removes the instance profile from the instance and
// reports whether it is gone (by this step, possibly an earlier attempt).
func disassociateProfile(ctx context.Context, x *execution, instanceID, role string, hadPrior bool) (bool, error) {
	what := "remove the instance profile from " + instanceID
	assocs, err := liveAssociations(ctx, x, what, instanceID)
	if err != nil {
		return false, err
	}
	if len(assocs) == 0 {
		if !hadPrior {
			x.note("%s has no instance profile associated", instanceID)
		}
		return hadPrior, nil
	}
	for _, a := range assocs {
		x.change(instanceID, "iam_instance_profile", associationProfile(a), nil)
	}
	if x.preview() {
		// DisassociateIamInstanceProfile has no DryRun form: the preview
		// only reads.
		return true, nil
	}
	recordIntent(ctx, x, revokeIntent{InstanceID: instanceID, RoleName: role, PriorProfile: associationProfile(assocs[0])})
	for _, a := range assocs {
		_, err := x.aws.EC2.DisassociateIamInstanceProfile(ctx, &ec2.DisassociateIamInstanceProfileInput{AssociationId: a.AssociationId})
		if err == nil {
			continue
		}
		// The SDK retried a call whose answer was lost: the association
		// is gone because this step removed it. Look before concluding.
		if !isCode(err, "InvalidAssociationID.NotFound") {
			return false, classify(what, "ec2:DisassociateIamInstanceProfile", err)
		}
		left, derr := liveAssociations(ctx, x, what, instanceID)
		if derr != nil {
			return false, derr
		}
		for _, l := range left {
			if aws.ToString(l.AssociationId) == aws.ToString(a.AssociationId) {
				return false, classify(what, "ec2:DisassociateIamInstanceProfile", err)
			}
		}
		x.note("already done: association %s of %s was gone when the call was retried (its first answer was lost)", aws.ToString(a.AssociationId), instanceID)
	}
	return true, nil
}

// replaceProfile swaps the instance's profile for the quarantine profile
// (ReplaceIamInstanceProfileAssociation), recording the profile it had in
// a tag on the instance first, with the quarantine profile it puts on:
// what aws.ec2.restore_instance_profile puts back, and what it checks is
// still there.
func replaceProfile(ctx context.Context, x *execution, p revokeParams, role, quarantineARN, priorTag, setTag string, hadPrior bool, prior revokeIntent) error {
	what := fmt.Sprintf("replace the instance profile of %s with %s", p.InstanceID, p.Quarantine)
	assocs, err := liveAssociations(ctx, x, what, p.InstanceID)
	if err != nil {
		return err
	}
	var assoc *ec2types.IamInstanceProfileAssociation
	if len(assocs) > 0 {
		assoc = &assocs[0]
	}
	previous := firstNonEmpty(priorTag, prior.PriorProfile)
	switch {
	case assoc != nil && lastPathElement(associationProfile(*assoc)) == p.Quarantine:
		x.output("instance_profile_replaced", hadPrior)
		x.output("previous_instance_profile", previous)
		if hadPrior {
			x.note("the profile of %s was replaced with %s by an earlier attempt of this step", p.InstanceID, p.Quarantine)
		} else {
			x.note("instance %s already has the quarantine profile %s", p.InstanceID, p.Quarantine)
		}
		return nil
	case assoc == nil:
		return invalidRequest(x.call.Action, fmt.Sprintf("instance %s has no instance profile association to replace", p.InstanceID))
	}
	was := associationProfile(*assoc)
	x.output("instance_profile_replaced", true)
	x.output("previous_instance_profile", was)
	x.change(p.InstanceID, "tag/"+TagPriorInstanceProfile, nilIfEmpty(priorTag), was)
	x.change(p.InstanceID, "tag/"+TagQuarantineInstanceProfile, nilIfEmpty(setTag), quarantineARN)
	x.change(p.InstanceID, "iam_instance_profile", was, quarantineARN)
	if x.preview() {
		// ReplaceIamInstanceProfileAssociation has no DryRun form: the
		// preview only reads.
		return nil
	}
	recordIntent(ctx, x, revokeIntent{InstanceID: p.InstanceID, RoleName: role, PriorProfile: was})
	if priorTag != was || setTag != quarantineARN {
		_, err := x.aws.EC2.CreateTags(ctx, &ec2.CreateTagsInput{
			Resources: []string{p.InstanceID},
			Tags: []ec2types.Tag{
				{Key: aws.String(TagPriorInstanceProfile), Value: aws.String(was)},
				{Key: aws.String(TagQuarantineInstanceProfile), Value: aws.String(quarantineARN)},
			},
		})
		if err != nil {
			return classify("record the instance profile of "+p.InstanceID, "ec2:CreateTags", err)
		}
	}
	lost, err := reassociateProfile(ctx, x, p.InstanceID, *assoc, ec2types.IamInstanceProfileSpecification{Name: aws.String(p.Quarantine)}, what)
	if lost {
		x.note("already done: %s had the quarantine profile %s when the call was retried (its first answer was lost)", p.InstanceID, p.Quarantine)
	}
	return err
}

func nilIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// trustLockSid marks the statement aws.iam.lock_role adds to a trust
// policy, so that a retry recognises it and the original is the policy
// without it.
const trustLockSid = "CordonLockRole"

// lockStatement denies assuming the role to every principal. Principal
// "*" (not {"AWS":"*"}) also covers service principals such as
// ec2.amazonaws.com, so no instance can be given fresh credentials.
var lockStatement = map[string]any{
	"Sid": trustLockSid, "Effect": "Deny", "Principal": "*",
	"Action": []any{"sts:AssumeRole", "sts:AssumeRoleWithSAML", "sts:AssumeRoleWithWebIdentity"},
}

// lockTrust returns the trust policy with the lock statement first, the
// policy without it (the original, for a restore), and whether it was
// locked already.
func lockTrust(doc string) (locked, original string, already bool, err error) {
	var d map[string]any
	if err := json.Unmarshal([]byte(doc), &d); err != nil {
		return "", "", false, fmt.Errorf("trust policy is not JSON: %w", err)
	}
	var stmts []any
	switch s := d["Statement"].(type) {
	case []any:
		stmts = s
	case map[string]any:
		stmts = []any{s}
	}
	var others []any
	for _, s := range stmts {
		if m, ok := s.(map[string]any); ok && m["Sid"] == trustLockSid {
			already = true
			continue
		}
		others = append(others, s)
	}
	orig := maps.Clone(d)
	orig["Statement"] = others
	lockedDoc := maps.Clone(d)
	lockedDoc["Statement"] = append([]any{lockStatement}, others...)
	ob, err := json.Marshal(orig)
	if err != nil {
		return "", "", false, err
	}
	lb, err := json.Marshal(lockedDoc)
	if err != nil {
		return "", "", false, err
	}
	if already {
		return doc, string(ob), true, nil
	}
	return string(lb), string(ob), false, nil
}

func lockRole(ctx context.Context, x *execution) error {
	var p struct {
		RoleName  string `json:"role_name"`
		LockTrust bool   `json:"lock_trust_policy"`
		DenyAll   bool   `json:"deny_all"`
	}
	if err := x.decode(&p); err != nil {
		return err
	}
	if !p.LockTrust && !p.DenyAll {
		return badParams(x.call.Action, errors.New("lock_trust_policy and deny_all are both false: nothing to do"))
	}
	r, err := getRole(ctx, x, p.RoleName)
	if err != nil {
		return err
	}
	if err := refuseProtectedRole(x.call.Action, p.RoleName, aws.ToString(r.Path)); err != nil {
		return err
	}
	resource := "role/" + p.RoleName
	trust := decodePolicyDocument(aws.ToString(r.AssumeRolePolicyDocument))
	x.output("original_trust_policy", "")
	x.output("trust_policy_locked", false)
	x.output("deny_all_policy", "")
	if p.LockTrust {
		locked, original, already, err := lockTrust(trust)
		if err != nil {
			return invalidRequest(x.call.Action, fmt.Sprintf("role %s: %v", p.RoleName, err))
		}
		x.output("original_trust_policy", original)
		x.output("trust_policy_locked", true)
		if already {
			x.note("the trust policy of role %s already denies assuming it (%s)", p.RoleName, trustLockSid)
		} else {
			x.change(resource, "trust_policy", trust, locked)
			if !x.preview() {
				_, err := x.aws.IAM.UpdateAssumeRolePolicy(ctx, &iam.UpdateAssumeRolePolicyInput{RoleName: aws.String(p.RoleName), PolicyDocument: aws.String(locked)})
				if err != nil {
					return classify("lock the trust policy of role "+p.RoleName, "iam:UpdateAssumeRolePolicy", err)
				}
			}
		}
	}
	if p.DenyAll {
		pp := rolePolicies(x, p.RoleName)
		x.output("deny_all_policy", denyAllPolicyName)
		existing, _, done, err := pp.readDenyAll(ctx, x)
		if err != nil || done {
			return err
		}
		doc := denyAllPolicy()
		x.change(pp.resource(), "inline_policy/"+denyAllPolicyName, nilIfEmpty(existing), doc)
		if x.preview() {
			return nil
		}
		if err := pp.put(ctx, denyAllPolicyName, doc); err != nil {
			return classify("deny everything to role "+p.RoleName, pp.putPerm, err)
		}
	}
	return nil
}
