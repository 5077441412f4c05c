package actions

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"
	"go.temporal.io/sdk/temporal"
)

// Kinds of access key (find_access_key_owner's key_kind).
const (
	keyKindUser    = "user"
	keyKindSession = "session"
	keyKindRoot    = "root"
)

// sessionKeyAdvice is what to do about a leaked ASIA key: it is a
// temporary credential of a role session (or of a user's GetSessionToken),
// owned by no IAM user, so no access key call can touch it.
const sessionKeyAdvice = "session key: contain the role. ASIA keys are temporary credentials issued by STS and belong to no IAM user, " +
	"so UpdateAccessKey cannot deactivate them: find the role in CloudTrail (the STS events that issued this key, " +
	"userIdentity.sessionContext.sessionIssuer of the calls made with it), then run aws.iam.revoke_role_sessions " +
	"(scope all_sessions, or scope instance when the role is an EC2 instance's) or aws.iam.lock_role; " +
	"if CloudTrail shows a user's GetSessionToken, run aws.iam.revoke_user_sessions on that user; " +
	"if the role is AWSReservedSSO_*, " + identityCenterAdvice

// rootKeyAdvice is what to do about a leaked key of the root user, which
// IAM's user actions cannot change.
const rootKeyAdvice = "root key: this access key belongs to the account's root user, which no IAM policy restricts and no IAM user " +
	"action can deactivate. Sign in as the root user and delete the key (Security credentials page), rotate the root " +
	"password and MFA, and open a case with AWS Support if you cannot sign in as root"

// keyKind classifies an access key id by its prefix: AKIA keys are
// long-term (an IAM user's or the root user's), ASIA keys temporary (STS).
func keyKind(id string) string {
	if strings.HasPrefix(id, "ASIA") {
		return keyKindSession
	}
	return keyKindUser
}

// stsClient is an STS client with the IAM client's configuration (its
// credentials, region, endpoint, retryer and middleware: rate limits,
// request ids). Clients carries no STS client of its own.
func stsClient(x *execution) *sts.Client {
	o := x.aws.IAM.Options()
	return sts.New(sts.Options{
		APIOptions: o.APIOptions, AppID: o.AppID, BaseEndpoint: o.BaseEndpoint, ClientLogMode: o.ClientLogMode,
		Credentials: o.Credentials, HTTPClient: o.HTTPClient, Logger: o.Logger, Region: o.Region,
		RetryMaxAttempts: o.RetryMaxAttempts, RetryMode: o.RetryMode, Retryer: o.Retryer,
	})
}

// keyAccount asks STS which account a key belongs to.
func keyAccount(ctx context.Context, x *execution, id string) (string, error) {
	out, err := stsClient(x).GetAccessKeyInfo(ctx, &sts.GetAccessKeyInfoInput{AccessKeyId: aws.String(id)})
	if err != nil {
		return "", classify("find the account of access key "+id, "sts:GetAccessKeyInfo", err)
	}
	return aws.ToString(out.Account), nil
}

// isRootOwner reports whether GetAccessKeyLastUsed's owner is the root
// user: IAM names it "root" (no IAM user can be told apart by that name
// alone, but a root key is the case that matters), or its ARN.
func isRootOwner(owner string) bool {
	return owner == "root" || strings.HasSuffix(owner, ":root")
}

func findAccessKeyOwner(ctx context.Context, x *execution) error {
	var p struct {
		AccessKeyID string `json:"access_key_id"`
	}
	if err := x.decode(&p); err != nil {
		return err
	}
	account, err := keyAccount(ctx, x, p.AccessKeyID)
	if err != nil {
		return err
	}
	x.output("account_id", account)
	x.output("user_name", "")
	x.output("last_used_date", "")
	x.output("last_used_service", "")
	x.output("last_used_region", "")
	if keyKind(p.AccessKeyID) == keyKindSession {
		// GetAccessKeyLastUsed knows only IAM users' keys.
		x.output("key_kind", keyKindSession)
		x.output("next_step", sessionKeyAdvice)
		x.note("access key %s of account %s is a %s", p.AccessKeyID, account, sessionKeyAdvice)
		return nil
	}
	out, err := x.aws.IAM.GetAccessKeyLastUsed(ctx, &iam.GetAccessKeyLastUsedInput{AccessKeyId: aws.String(p.AccessKeyID)})
	if err != nil {
		return classify(fmt.Sprintf("find the owner of access key %s (account %s)", p.AccessKeyID, account), "iam:GetAccessKeyLastUsed", err)
	}
	last := out.AccessKeyLastUsed
	if last == nil {
		last = &iamtypes.AccessKeyLastUsed{}
	}
	date := ""
	if last.LastUsedDate != nil {
		date = last.LastUsedDate.UTC().Format(time.RFC3339)
	}
	owner := aws.ToString(out.UserName)
	kind, next := keyKindUser, "user key: deactivate it (aws.iam.deactivate_access_keys) and revoke the user's sessions (aws.iam.revoke_user_sessions)"
	if isRootOwner(owner) {
		kind, next = keyKindRoot, rootKeyAdvice
		x.note("access key %s: %s", p.AccessKeyID, rootKeyAdvice)
	}
	x.output("key_kind", kind)
	x.output("next_step", next)
	x.output("user_name", owner)
	x.output("last_used_date", date)
	// IAM says "N/A" for a key never used; empty is what runbook
	// expressions test for, as with last_used_date.
	x.output("last_used_service", notApplicable(aws.ToString(last.ServiceName)))
	x.output("last_used_region", notApplicable(aws.ToString(last.Region)))
	if date == "" {
		x.note("access key %s has never been used", p.AccessKeyID)
	}
	return nil
}

// refuseUncontainableKeys fails, saying what to do instead, when a key
// given to deactivate_access_keys is one UpdateAccessKey cannot touch.
func refuseUncontainableKeys(action, user string, ids []string) error {
	for _, id := range ids {
		if keyKind(id) == keyKindSession {
			return invalidRequest(action, fmt.Sprintf("access key %s is a %s", id, sessionKeyAdvice))
		}
	}
	if isRootOwner(user) {
		return invalidRequest(action, rootKeyAdvice)
	}
	return nil
}

// noSuchUser reports whether err is IAM's NoSuchEntity for the user
// itself, not for something of the user (a policy, a login profile, an
// MFA device), which IAM reports with the same code.
func noSuchUser(err error) bool {
	var ae smithy.APIError
	if !errors.As(err, &ae) || ae.ErrorCode() != "NoSuchEntity" {
		return false
	}
	msg := strings.ToLower(ae.ErrorMessage())
	return strings.Contains(msg, "user") && !strings.Contains(msg, "policy") && !strings.Contains(msg, "login profile") &&
		!strings.Contains(msg, "mfa") && !strings.Contains(msg, "access key")
}

// classifyUser classifies an error of a call about an IAM user. A user
// IAM does not know may be an IAM Identity Center user, who has no IAM
// user, console password, MFA device or access key that IAM could
// change: the NotFound says where to contain them instead.
func classifyUser(what, permission, user string, err error) error {
	if !noSuchUser(err) {
		return classify(what, permission, err)
	}
	var ae smithy.APIError
	errors.As(err, &ae)
	return temporal.NewNonRetryableApplicationError(fmt.Sprintf(
		"%s: %s: not found: %s: there is no IAM user %s. If %s is an IAM Identity Center (SSO) user, IAM has nothing of theirs to change: %s",
		what, permission, ae.ErrorMessage(), user, user, identityCenterAdvice), ErrNotFound, err)
}
