package actions

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"
	"github.com/aws/smithy-go"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"
)

// Inline policy names Cordon puts. The revocation policy has the name the
// console's "Revoke active sessions" uses, so responders recognise it and
// a later console revocation updates the same policy instead of adding one.
const (
	revokePolicyName  = "AWSRevokeOlderSessions"
	denyAllPolicyName = "CordonDenyAll"
)

// itemsIntent is what an IAM action records (see recordIntent) before it
// changes a user: the keys, devices or profile it is about to change.
type itemsIntent struct {
	Subject string   `json:"subject"`
	Items   []string `json:"items"`
}

// priorItems returns what an earlier attempt recorded for subject.
func priorItems(ctx context.Context, subject string) []string {
	var prior itemsIntent
	if !priorIntent(ctx, &prior) || prior.Subject != subject {
		return nil
	}
	return prior.Items
}

// policyDocument is the part of an IAM policy document Cordon reads.
type policyDocument struct {
	Version   string          `json:"Version"`
	Statement json.RawMessage `json:"Statement"`
}

type policyStatement struct {
	Sid       string                    `json:"Sid,omitempty"`
	Effect    string                    `json:"Effect"`
	Action    any                       `json:"Action"`
	Resource  any                       `json:"Resource"`
	Condition map[string]map[string]any `json:"Condition,omitempty"`
}

// statements parses a policy document; Statement may be one object or a list.
func statements(doc string) ([]policyStatement, bool) {
	var d policyDocument
	if err := json.Unmarshal([]byte(doc), &d); err != nil || len(d.Statement) == 0 {
		return nil, false
	}
	var list []policyStatement
	if err := json.Unmarshal(d.Statement, &list); err == nil {
		return list, true
	}
	var one policyStatement
	if err := json.Unmarshal(d.Statement, &one); err != nil {
		return nil, false
	}
	return []policyStatement{one}, true
}

// isWildcard reports whether a policy Action or Resource is "*" or ["*"].
func isWildcard(v any) bool {
	switch t := v.(type) {
	case string:
		return t == "*"
	case []any:
		return len(t) == 1 && t[0] == "*"
	}
	return false
}

func policyJSON(st policyStatement) string {
	b, err := json.Marshal(struct {
		Version   string            `json:"Version"`
		Statement []policyStatement `json:"Statement"`
	}{"2012-10-17", []policyStatement{st}})
	if err != nil {
		// Marshalling a struct of strings and maps cannot fail.
		panic(fmt.Sprintf("marshal policy: %v", err))
	}
	return string(b)
}

// revocationPolicy denies everything to sessions issued before cutoff. Sid
// marks the step execution that wrote it (Sids allow only [A-Za-z0-9]).
func revocationPolicy(sid string, cutoff time.Time) string {
	return policyJSON(policyStatement{
		Sid: sid, Effect: "Deny", Action: "*", Resource: "*",
		Condition: map[string]map[string]any{"DateLessThan": {"aws:TokenIssueTime": cutoff.UTC().Format(time.RFC3339)}},
	})
}

// revocationCutoff finds the TokenIssueTime cut-off of a revocation policy
// (ours or the console's) and the Sid of its statement.
func revocationCutoff(doc string) (cutoff time.Time, sid string, ok bool) {
	sts, ok := statements(doc)
	if !ok {
		return time.Time{}, "", false
	}
	for _, st := range sts {
		if st.Effect != "Deny" || !isWildcard(st.Action) || !isWildcard(st.Resource) {
			continue
		}
		for key, v := range st.Condition["DateLessThan"] {
			// Condition keys are case-insensitive in IAM.
			if !strings.EqualFold(key, "aws:TokenIssueTime") {
				continue
			}
			s, isString := v.(string)
			if list, isList := v.([]any); isList && len(list) == 1 {
				s, isString = list[0].(string)
			}
			if !isString {
				continue
			}
			if t, err := time.Parse(time.RFC3339, s); err == nil {
				return t, st.Sid, true
			}
		}
	}
	return time.Time{}, "", false
}

func denyAllPolicy() string {
	return policyJSON(policyStatement{Sid: "CordonDenyAll", Effect: "Deny", Action: "*", Resource: "*"})
}

// deniesEverything reports whether doc unconditionally denies every action.
func deniesEverything(doc string) bool {
	sts, ok := statements(doc)
	if !ok {
		return false
	}
	for _, st := range sts {
		if st.Effect == "Deny" && isWildcard(st.Action) && isWildcard(st.Resource) && len(st.Condition) == 0 {
			return true
		}
	}
	return false
}

// ceilSecond rounds up to the next whole second: TokenIssueTime cut-offs
// are written with second precision, and rounding down would let a session
// issued in the same second as the step survive.
func ceilSecond(t time.Time) time.Time {
	r := t.Truncate(time.Second)
	if r.Before(t) {
		r = r.Add(time.Second)
	}
	return r.UTC()
}

// principalPolicies reads and writes the inline policies of one role or user.
type principalPolicies struct {
	kind    string // "role" or "user"
	name    string
	getPerm string
	putPerm string
	get     func(ctx context.Context, policy string) (*string, error)
	put     func(ctx context.Context, policy, doc string) error
}

func rolePolicies(x *execution, role string) principalPolicies {
	return principalPolicies{
		kind: "role", name: role, getPerm: "iam:GetRolePolicy", putPerm: "iam:PutRolePolicy",
		get: func(ctx context.Context, policy string) (*string, error) {
			out, err := x.aws.IAM.GetRolePolicy(ctx, &iam.GetRolePolicyInput{RoleName: aws.String(role), PolicyName: aws.String(policy)})
			if err != nil {
				return nil, err
			}
			return out.PolicyDocument, nil
		},
		put: func(ctx context.Context, policy, doc string) error {
			_, err := x.aws.IAM.PutRolePolicy(ctx, &iam.PutRolePolicyInput{RoleName: aws.String(role), PolicyName: aws.String(policy), PolicyDocument: aws.String(doc)})
			return err
		},
	}
}

func userPolicies(x *execution, user string) principalPolicies {
	return principalPolicies{
		kind: "user", name: user, getPerm: "iam:GetUserPolicy", putPerm: "iam:PutUserPolicy",
		get: func(ctx context.Context, policy string) (*string, error) {
			out, err := x.aws.IAM.GetUserPolicy(ctx, &iam.GetUserPolicyInput{UserName: aws.String(user), PolicyName: aws.String(policy)})
			if err != nil {
				return nil, err
			}
			return out.PolicyDocument, nil
		},
		put: func(ctx context.Context, policy, doc string) error {
			_, err := x.aws.IAM.PutUserPolicy(ctx, &iam.PutUserPolicyInput{UserName: aws.String(user), PolicyName: aws.String(policy), PolicyDocument: aws.String(doc)})
			return err
		},
	}
}

func (pp principalPolicies) resource() string { return pp.kind + "/" + pp.name }

// read returns the inline policy's document, or found=false when the
// principal has no policy of that name. IAM answers NoSuchEntity both for a
// missing policy and for a missing role or user; only the message tells
// them apart, and a missing principal must fail the step naming it.
func (pp principalPolicies) read(ctx context.Context, policy string) (doc string, found bool, err error) {
	raw, err := pp.get(ctx, policy)
	if err != nil {
		var ae smithy.APIError
		if errors.As(err, &ae) && ae.ErrorCode() == "NoSuchEntity" && strings.Contains(strings.ToLower(ae.ErrorMessage()), "policy") {
			return "", false, nil
		}
		what := fmt.Sprintf("read inline policy %s of %s %s", policy, pp.kind, pp.name)
		if pp.kind == "user" {
			return "", false, classifyUser(what, pp.getPerm, pp.name, err)
		}
		return "", false, classify(what, pp.getPerm, err)
	}
	return decodePolicyDocument(aws.ToString(raw)), true, nil
}

// readDenyAll reads the principal's deny-all policy (existing is its
// document when found); done says it already denies everything, which it
// notes: nothing is left to put.
func (pp principalPolicies) readDenyAll(ctx context.Context, x *execution) (existing string, found, done bool, err error) {
	existing, found, err = pp.read(ctx, denyAllPolicyName)
	if err != nil {
		return "", false, false, err
	}
	if found && deniesEverything(existing) {
		x.note("%s %s already has the deny-all policy %s", pp.kind, pp.name, denyAllPolicyName)
		return existing, true, true, nil
	}
	return existing, found, false, nil
}

// decodePolicyDocument undoes the URL encoding IAM applies to documents it
// returns (RFC 3986), tolerating an already decoded document.
func decodePolicyDocument(raw string) string {
	if strings.HasPrefix(strings.TrimSpace(raw), "{") {
		return raw
	}
	if doc, err := url.PathUnescape(raw); err == nil {
		return doc
	}
	return raw
}

// stepStart is when this step was first scheduled: Temporal keeps the
// activity's ScheduledTime across retries. Outside an activity there is no
// such time, and the current time makes only this step's own policy count.
func stepStart(ctx context.Context, now time.Time) time.Time {
	if activity.IsActivity(ctx) {
		if t := activity.GetInfo(ctx).ScheduledTime; !t.IsZero() {
			return t
		}
	}
	return now
}

// revocationSid names the step execution in the policy it writes, so that
// a retry recognises its own policy whatever the clocks say.
func (x *execution) revocationSid() string {
	return "CordonRevoke" + x.stepDigest(8)
}

// revokeOlderSessions puts the TokenIssueTime deny policy on a role or user
// and returns its cut-off.
//
// The cut-off is the time of this step's first attempt, not the run's
// start: the run may have waited minutes or hours at approval gates, and a
// session issued in that time (an attacker refreshing credentials from the
// metadata service) must not survive. Nor is it simply "now" on every
// attempt: a retry would rewrite the policy each time, a mutation the
// approver never saw, and revoke again the sessions of workloads that had
// already recovered. So an existing revocation policy is kept when this
// step execution wrote it (its Sid) or when its cut-off is at or after the
// step was first scheduled (a parallel step, e.g. another instance with
// the same role, revoked at least as much); an older one is replaced, as
// a later cut-off denies strictly more.
func revokeOlderSessions(ctx context.Context, x *execution, pp principalPolicies) (time.Time, error) {
	existing, found, err := pp.read(ctx, revokePolicyName)
	if err != nil {
		return time.Time{}, err
	}
	now := ceilSecond(x.rt.opts.Clock())
	sid := x.revocationSid()
	if found {
		if cutoff, by, ok := revocationCutoff(existing); ok && (by == sid || !cutoff.Before(stepStart(ctx, now))) {
			x.note("%s %s already denies sessions issued before %s (%s): kept", pp.kind, pp.name, cutoff.UTC().Format(time.RFC3339), revokePolicyName)
			return cutoff.UTC(), nil
		}
	}
	doc := revocationPolicy(sid, now)
	var before any
	if found {
		before = existing
	}
	if x.preview() {
		// The preview must not carry the clock: approvals bind to its hash,
		// and the gate compares a fresh preview with the approved one just
		// before acting. A timestamp would make every preview differ and
		// the gate ask again forever.
		shown := strings.Replace(doc, now.UTC().Format(time.RFC3339), "(the moment this step runs)", 1)
		x.change(pp.resource(), "inline_policy/"+revokePolicyName, before, shown)
		x.note("the cut-off is set when the step runs; sessions issued before it are denied")
		return now, nil
	}
	x.change(pp.resource(), "inline_policy/"+revokePolicyName, before, doc)
	if err := pp.put(ctx, revokePolicyName, doc); err != nil {
		return time.Time{}, classify(fmt.Sprintf("revoke sessions of %s %s", pp.kind, pp.name), pp.putPerm, err)
	}
	return now, nil
}

func invalidRequest(action, msg string) error {
	return temporal.NewNonRetryableApplicationError(action+": "+msg, ErrInvalid, nil)
}

func notApplicable(s string) string {
	if s == "N/A" {
		return ""
	}
	return s
}

func deactivateAccessKeys(ctx context.Context, x *execution) error {
	var p struct {
		UserName     string   `json:"user_name"`
		AccessKeyIDs []string `json:"access_key_ids"`
	}
	if err := x.decode(&p); err != nil {
		return err
	}
	if err := refuseUncontainableKeys(x.call.Action, p.UserName, p.AccessKeyIDs); err != nil {
		return err
	}
	status := map[string]iamtypes.StatusType{}
	var all []string
	pages := iam.NewListAccessKeysPaginator(x.aws.IAM, &iam.ListAccessKeysInput{UserName: aws.String(p.UserName)})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return classifyUser("list the access keys of user "+p.UserName, "iam:ListAccessKeys", p.UserName, err)
		}
		for _, k := range page.AccessKeyMetadata {
			id := aws.ToString(k.AccessKeyId)
			status[id] = k.Status
			all = append(all, id)
		}
	}
	selected := all
	if len(p.AccessKeyIDs) > 0 {
		selected = nil
		for _, id := range p.AccessKeyIDs {
			if _, ok := status[id]; !ok {
				return classify("deactivate access key "+id, "iam:ListAccessKeys",
					notFound("NoSuchEntity", fmt.Sprintf("access key %s is not a key of user %s", id, p.UserName)))
			}
			if !slices.Contains(selected, id) {
				selected = append(selected, id)
			}
		}
	}
	sort.Strings(selected)
	earlier := priorItems(ctx, "user/"+p.UserName)
	deactivated, already, todo := []string{}, []string{}, []string{}
	for _, id := range selected {
		switch {
		case status[id] == iamtypes.StatusTypeActive:
			todo = append(todo, id)
			deactivated = append(deactivated, id)
			x.change(id, "status", string(iamtypes.StatusTypeActive), string(iamtypes.StatusTypeInactive))
		case slices.Contains(earlier, id):
			deactivated = append(deactivated, id)
			x.note("access key %s was deactivated by an earlier attempt of this step", id)
		default:
			already = append(already, id)
			x.note("access key %s is already %s", id, status[id])
		}
	}
	x.output("deactivated", deactivated)
	x.output("already_inactive", already)
	if len(selected) == 0 {
		x.note("user %s has no access keys", p.UserName)
	}
	if x.preview() || len(todo) == 0 {
		return nil
	}
	recordIntent(ctx, x, itemsIntent{Subject: "user/" + p.UserName, Items: deactivated})
	for _, id := range todo {
		_, err := x.aws.IAM.UpdateAccessKey(ctx, &iam.UpdateAccessKeyInput{
			UserName: aws.String(p.UserName), AccessKeyId: aws.String(id), Status: iamtypes.StatusTypeInactive,
		})
		if err != nil {
			return classify(fmt.Sprintf("deactivate access key %s of user %s", id, p.UserName), "iam:UpdateAccessKey", err)
		}
	}
	return nil
}

func revokeUserSessions(ctx context.Context, x *execution) error {
	var p struct {
		UserName string `json:"user_name"`
	}
	if err := x.decode(&p); err != nil {
		return err
	}
	x.output("policy_name", revokePolicyName)
	cutoff, err := revokeOlderSessions(ctx, x, userPolicies(x, p.UserName))
	if err != nil {
		return err
	}
	x.output("revoked_before", cutoff.Format(time.RFC3339))
	return nil
}

// awsDenyAllARN is the AWS managed policy that denies everything: the
// fallback when the user's inline policies leave no room for Cordon's.
const awsDenyAllARN = "arn:aws:iam::aws:policy/AWSDenyAll"

// attachedPolicies lists the ARNs of the managed policies attached to a
// user.
func attachedPolicies(ctx context.Context, x *execution, user string) ([]string, error) {
	var arns []string
	pages := iam.NewListAttachedUserPoliciesPaginator(x.aws.IAM, &iam.ListAttachedUserPoliciesInput{UserName: aws.String(user)})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return nil, classifyUser("list the managed policies of user "+user, "iam:ListAttachedUserPolicies", user, err)
		}
		for _, ap := range page.AttachedPolicies {
			arns = append(arns, aws.ToString(ap.PolicyArn))
		}
	}
	return arns, nil
}

func attachUserDenyAll(ctx context.Context, x *execution) error {
	var p struct {
		UserName string `json:"user_name"`
	}
	if err := x.decode(&p); err != nil {
		return err
	}
	pp := userPolicies(x, p.UserName)
	x.output("policy_name", denyAllPolicyName)
	x.output("policy_arn", "")
	existing, found, done, err := pp.readDenyAll(ctx, x)
	if err != nil || done {
		return err
	}
	attached, err := attachedPolicies(ctx, x, p.UserName)
	if err != nil {
		return err
	}
	if slices.Contains(attached, awsDenyAllARN) {
		x.output("policy_name", "AWSDenyAll")
		x.output("policy_arn", awsDenyAllARN)
		x.note("user %s already has the AWS managed policy AWSDenyAll attached", p.UserName)
		return nil
	}
	doc := denyAllPolicy()
	var before any
	if found {
		before = existing
	}
	if x.preview() {
		// Whether the inline policy fits the user's 2,048-character quota
		// is known only by putting it; the preview shows the inline policy
		// and says what happens if it does not fit.
		x.change(pp.resource(), "inline_policy/"+denyAllPolicyName, before, doc)
		x.note("if the user's inline policies leave no room (2,048 characters in all), the AWS managed policy AWSDenyAll is attached instead")
		return nil
	}
	err = pp.put(ctx, denyAllPolicyName, doc)
	switch {
	case err == nil:
		x.change(pp.resource(), "inline_policy/"+denyAllPolicyName, before, doc)
		return nil
	case !isCode(err, "LimitExceeded"):
		return classify("deny everything to user "+p.UserName, pp.putPerm, err)
	}
	// The user's inline policies are at their aggregate size quota: a
	// managed policy does not count against it.
	x.note("the inline policy did not fit the user's inline policy quota (LimitExceeded): attaching the AWS managed policy AWSDenyAll instead")
	x.output("policy_name", "AWSDenyAll")
	x.output("policy_arn", awsDenyAllARN)
	x.change(pp.resource(), "attached_policy/AWSDenyAll", nil, awsDenyAllARN)
	if _, err := x.aws.IAM.AttachUserPolicy(ctx, &iam.AttachUserPolicyInput{UserName: aws.String(p.UserName), PolicyArn: aws.String(awsDenyAllARN)}); err != nil {
		return classify("attach AWSDenyAll to user "+p.UserName, "iam:AttachUserPolicy", err)
	}
	return nil
}

func deleteLoginProfile(ctx context.Context, x *execution) error {
	var p struct {
		UserName string `json:"user_name"`
	}
	if err := x.decode(&p); err != nil {
		return err
	}
	subject := "user/" + p.UserName
	_, err := x.aws.IAM.GetLoginProfile(ctx, &iam.GetLoginProfileInput{UserName: aws.String(p.UserName)})
	if err != nil {
		// NoSuchEntity means either no password or no user; the message
		// tells which, and only a missing user is an error.
		var ae smithy.APIError
		if !errors.As(err, &ae) || ae.ErrorCode() != "NoSuchEntity" || !strings.Contains(strings.ToLower(ae.ErrorMessage()), "login profile") {
			return classifyUser("read the console password of user "+p.UserName, "iam:GetLoginProfile", p.UserName, err)
		}
		if slices.Contains(priorItems(ctx, subject), "login_profile") {
			x.output("had_login_profile", true)
			x.note("the console password of %s was deleted by an earlier attempt of this step", p.UserName)
			return nil
		}
		x.output("had_login_profile", false)
		x.note("user %s has no console password", p.UserName)
		return nil
	}
	x.output("had_login_profile", true)
	x.change(subject, "login_profile", "present", nil)
	if x.preview() {
		return nil
	}
	recordIntent(ctx, x, itemsIntent{Subject: subject, Items: []string{"login_profile"}})
	_, err = x.aws.IAM.DeleteLoginProfile(ctx, &iam.DeleteLoginProfileInput{UserName: aws.String(p.UserName)})
	if err == nil || !isNoSuchEntity(err) || noSuchUser(err) {
		return classify("delete the console password of user "+p.UserName, "iam:DeleteLoginProfile", err)
	}
	// The SDK retried a call whose answer was lost, and the retry found
	// the password gone. Look before calling it done: someone else may
	// have replaced it in between.
	if _, gerr := x.aws.IAM.GetLoginProfile(ctx, &iam.GetLoginProfileInput{UserName: aws.String(p.UserName)}); gerr == nil || !isNoSuchEntity(gerr) {
		return classify("delete the console password of user "+p.UserName, "iam:DeleteLoginProfile", err)
	}
	x.note("already done: the console password of %s was gone when the call was retried (its first answer was lost); it had one before", p.UserName)
	return nil
}

func deactivateMFADevices(ctx context.Context, x *execution) error {
	var p struct {
		UserName   string `json:"user_name"`
		AddedAfter string `json:"added_after"`
	}
	if err := x.decode(&p); err != nil {
		return err
	}
	after, err := time.Parse(time.RFC3339, p.AddedAfter)
	if err != nil {
		return badParams(x.call.Action, fmt.Errorf("added_after %q is not an RFC 3339 time: %w", p.AddedAfter, err))
	}
	subject := "user/" + p.UserName
	listed := map[string]bool{}
	var todo []string
	pages := iam.NewListMFADevicesPaginator(x.aws.IAM, &iam.ListMFADevicesInput{UserName: aws.String(p.UserName)})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return classifyUser("list the MFA devices of user "+p.UserName, "iam:ListMFADevices", p.UserName, err)
		}
		for _, d := range page.MFADevices {
			serial := aws.ToString(d.SerialNumber)
			listed[serial] = true
			if d.EnableDate != nil && d.EnableDate.After(after) {
				todo = append(todo, serial)
			}
		}
	}
	sort.Strings(todo)
	deactivated := []string{}
	// Deactivating a device also removes it from the user, so devices an
	// earlier attempt deactivated are known only from its record.
	for _, serial := range priorItems(ctx, subject) {
		if !listed[serial] {
			deactivated = append(deactivated, serial)
			x.note("MFA device %s was deactivated by an earlier attempt of this step", serial)
		}
	}
	for _, serial := range todo {
		deactivated = append(deactivated, serial)
		x.change(serial, "user", p.UserName, nil)
	}
	sort.Strings(deactivated)
	x.output("deactivated", deactivated)
	if len(deactivated) == 0 {
		x.note("user %s has no MFA device enabled after %s", p.UserName, after.UTC().Format(time.RFC3339))
	}
	if x.preview() || len(todo) == 0 {
		return nil
	}
	recordIntent(ctx, x, itemsIntent{Subject: subject, Items: deactivated})
	for _, serial := range todo {
		what := fmt.Sprintf("deactivate MFA device %s of user %s", serial, p.UserName)
		_, err := x.aws.IAM.DeactivateMFADevice(ctx, &iam.DeactivateMFADeviceInput{UserName: aws.String(p.UserName), SerialNumber: aws.String(serial)})
		if err == nil {
			continue
		}
		if !isNoSuchEntity(err) || noSuchUser(err) {
			return classifyUser(what, "iam:DeactivateMFADevice", p.UserName, err)
		}
		// A lost answer retried by the SDK meets a device already
		// deactivated (and so removed from the user): check that it is.
		still, lerr := mfaSerials(ctx, x, p.UserName)
		if lerr != nil {
			return lerr
		}
		if slices.Contains(still, serial) {
			return classify(what, "iam:DeactivateMFADevice", err)
		}
		x.note("already done: MFA device %s was no longer on %s when the call was retried (its first answer was lost)", serial, p.UserName)
	}
	return nil
}

// mfaSerials lists the serial numbers of the user's MFA devices.
func mfaSerials(ctx context.Context, x *execution, user string) ([]string, error) {
	var serials []string
	pages := iam.NewListMFADevicesPaginator(x.aws.IAM, &iam.ListMFADevicesInput{UserName: aws.String(user)})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return nil, classifyUser("list the MFA devices of user "+user, "iam:ListMFADevices", user, err)
		}
		for _, d := range page.MFADevices {
			serials = append(serials, aws.ToString(d.SerialNumber))
		}
	}
	return serials, nil
}
