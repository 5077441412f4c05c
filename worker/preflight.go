package worker

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"

	"github.com/cordon-ir/cordon/actions"
	"github.com/cordon-ir/cordon/actions/wire"
)

// The start-up check of AWS access: before a worker takes tasks, prove
// that it can become what every run will need it to be (its own identity,
// then each configured account's role) and, when it cannot, say which
// identity fails and why. Without it, a missing credential or a wrong
// trust policy shows only at the first step of the first containment,
// during an incident.
//
// The check calls STS only (GetCallerIdentity, AssumeRole): it proves
// that the worker can become each role, not that the role holds the
// permissions runbooks need (cordon policy prints those).

// AccessCheckTimeout bounds each identity's check: the worker's own, and
// each account's (AssumeRole then GetCallerIdentity).
const AccessCheckTimeout = 10 * time.Second

// accessCheckParallelism bounds the accounts checked at once.
const accessCheckParallelism = 8

// preflightRun is the run the check assumes roles for: its sessions are
// named "cordon-preflight" in CloudTrail, next to runs' "cordon-<run id>".
var preflightRun = wire.RunRef{RunID: "preflight"}

// AccessCause classifies why an identity cannot be used. The values are
// stable: tests and log queries key on them.
type AccessCause string

const (
	// CauseNoCredentials: the worker found no credentials of its own
	// (environment, shared config, instance or task role), or could not
	// load them.
	CauseNoCredentials AccessCause = "no-credentials"
	// CauseCredentialsRejected: AWS rejects the worker's own credentials
	// (unknown or deactivated key, expired session, bad secret).
	CauseCredentialsRejected AccessCause = "credentials-rejected"
	// CauseAssumeDenied: STS refuses AssumeRole (AccessDenied). Real STS
	// gives the same answer for a role that does not exist, a trust policy
	// that does not name the worker's identity, a wrong external id and an
	// identity policy without sts:AssumeRole.
	CauseAssumeDenied AccessCause = "assume-denied"
	// CauseRoleNotFound: the role does not exist (NoSuchEntity).
	CauseRoleNotFound AccessCause = "role-not-found"
	// CauseRegionDisabled: STS is not activated in the region for the account.
	CauseRegionDisabled AccessCause = "sts-region-disabled"
	// CauseUnreachable: no answer from STS (network, proxy, endpoint, timeout).
	CauseUnreachable AccessCause = "unreachable"
	// CauseAWSError: any other error AWS answered with.
	CauseAWSError AccessCause = "aws-error"
)

// AccessError is one identity the worker cannot use.
type AccessError struct {
	// Account is the configured account name; "" (with RoleARN "") is the
	// worker's own credentials.
	Account string
	RoleARN string
	Cause   AccessCause
	// Hint says what is wrong in the operator's words and what to check.
	Hint string
	// Err is what the SDK returned; nil when the account was not checked
	// because the worker's own credentials failed.
	Err error
}

// Error is one line: the account and role (none for the worker's own
// credentials, whose hints say so), the cause, what to check, and what
// AWS or the SDK said.
func (e *AccessError) Error() string {
	msg := string(e.Cause) + ": " + e.Hint
	if e.RoleARN != "" {
		msg = fmt.Sprintf("account %q (role %s): %s", e.Account, e.RoleARN, msg)
	}
	if e.Err != nil {
		msg += ": " + describeAWSError(e.Err)
	}
	return msg
}

func (e *AccessError) Unwrap() error { return e.Err }

// AccessReport is what the check found: who the worker is, and who it
// becomes in each configured account.
type AccessReport struct {
	// Identity is the ARN of the worker's own credentials; "" when they
	// failed, and Err says why.
	Identity string
	Err      *AccessError
	// Accounts are the configured accounts, by name.
	Accounts []AccountAccess
}

// AccountAccess is the check of one configured account.
type AccountAccess struct {
	Name    string
	RoleARN string // "" means the worker's own credentials
	// Identity is the ARN calls in the account are made as (here, with
	// the check's session name); "" when it failed.
	Identity string
	Err      *AccessError // nil when the account is usable
}

// Problems lists every identity that failed, the worker's own first; the
// accounts without a role share its error and are not listed again.
func (r AccessReport) Problems() []*AccessError {
	var out []*AccessError
	if r.Err != nil {
		out = append(out, r.Err)
	}
	for _, a := range r.Accounts {
		if a.Err != nil && a.RoleARN != "" {
			out = append(out, a.Err)
		}
	}
	return out
}

// err joins the problems, or is nil.
func (r AccessReport) err() error {
	var errs []error
	for _, p := range r.Problems() {
		errs = append(errs, p)
	}
	return errors.Join(errs...)
}

// CheckWorkerAWSAccess is CheckAWSAccess with the credentials cordon
// worker uses: the default chain (environment, shared config, instance or
// task role).
func CheckWorkerAWSAccess(ctx context.Context, cfg *Config) (AccessReport, error) {
	base, err := LoadAWSConfig(ctx, cfg.AWS.Region)
	if err != nil {
		return CheckAWSAccess(ctx, cfg, aws.Config{Credentials: failedCredentials{err}})
	}
	return CheckAWSAccess(ctx, cfg, base)
}

// failedCredentials stands for credentials the default chain could not load.
type failedCredentials struct{ err error }

func (f failedCredentials) Retrieve(context.Context) (aws.Credentials, error) {
	return aws.Credentials{}, f.err
}

// CheckAWSAccess proves that the worker can obtain AWS credentials for
// every account cfg configures: it asks STS who base's credentials are
// (GetCallerIdentity), then, for each account with a role_arn, assumes the
// role exactly as actions do (same session naming, external id, region and
// cfg.AWS.Endpoint) and asks who the session is. Each check is bounded by
// AccessCheckTimeout. The error joins one *AccessError per failing
// identity: every failing account, not the first.
func CheckAWSAccess(ctx context.Context, cfg *Config, base aws.Config) (AccessReport, error) {
	c := base.Copy()
	if c.Region == "" {
		c.Region = cfg.AWS.Region
	}
	if c.Region == "" {
		c.Region = "us-east-1" // STS answers in every region; actions need aws.region anyway
	}
	if cfg.AWS.Endpoint != "" {
		c.BaseEndpoint = aws.String(cfg.AWS.Endpoint)
	}
	// As actions do: a few quick attempts, short backoff, inside the
	// check's own deadline.
	c.Retryer = func() aws.Retryer {
		return retry.NewStandard(func(o *retry.StandardOptions) {
			o.MaxAttempts = 3
			o.MaxBackoff = 2 * time.Second
		})
	}

	names := make([]string, 0, len(cfg.AWS.Accounts))
	for name := range cfg.AWS.Accounts {
		names = append(names, name)
	}
	slices.Sort(names)
	report := AccessReport{Accounts: make([]AccountAccess, len(names))}
	for i, name := range names {
		report.Accounts[i] = AccountAccess{Name: name, RoleARN: cfg.AWS.Accounts[name].RoleARN}
	}

	identity, baseErr := checkBase(ctx, c)
	if baseErr != nil {
		// Every role is assumed with the worker's own credentials: without
		// them, nothing else can be checked, and saying "access denied"
		// for each role would send the operator to the trust policies.
		report.Err = baseErr
		for i := range report.Accounts {
			a := &report.Accounts[i]
			a.Err = baseErr
			if a.RoleARN != "" {
				a.Err = &AccessError{Account: a.Name, RoleARN: a.RoleARN, Cause: baseErr.Cause,
					Hint: "not checked: assuming the role needs the worker's own credentials first"}
			}
		}
		return report, report.err()
	}
	report.Identity = identity

	sem := make(chan struct{}, accessCheckParallelism)
	var wg sync.WaitGroup
	for i := range report.Accounts {
		a := &report.Accounts[i]
		if a.RoleARN == "" {
			a.Identity = identity
			continue
		}
		acct := cfg.AWS.Accounts[a.Name]
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			a.Identity, a.Err = checkRole(ctx, c, identity, a.Name, acct)
		})
	}
	wg.Wait()
	return report, report.err()
}

// checkBase returns the ARN of the worker's own credentials.
func checkBase(ctx context.Context, c aws.Config) (string, *AccessError) {
	ctx, cancel := context.WithTimeout(ctx, AccessCheckTimeout)
	defer cancel()
	fail := func(cause AccessCause, hint string, err error) (string, *AccessError) {
		return "", &AccessError{Cause: cause, Hint: hint, Err: err}
	}
	const none = "the worker has no AWS credentials of its own (environment, shared config, instance or task role)"
	if c.Credentials == nil {
		return fail(CauseNoCredentials, none, nil)
	}
	creds, err := c.Credentials.Retrieve(ctx)
	if err != nil {
		return fail(CauseNoCredentials, none, err)
	}
	if !creds.HasKeys() {
		return fail(CauseNoCredentials, none+": the credentials found have no access key", nil)
	}
	out, err := sts.NewFromConfig(c).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil {
		cause, hint := classifyAccess(c, err)
		if cause == CauseCredentialsRejected {
			hint = fmt.Sprintf("AWS rejects the worker's own credentials (access key %s from %s): replace or refresh them", creds.AccessKeyID, credentialSource(creds))
		} else {
			hint = "the worker cannot check its own AWS credentials: " + hint
		}
		return fail(cause, hint, err)
	}
	return aws.ToString(out.Arn), nil
}

// checkRole assumes acct's role as actions do and returns the session's ARN.
func checkRole(ctx context.Context, c aws.Config, base, name string, acct AccountConfig) (string, *AccessError) {
	ctx, cancel := context.WithTimeout(ctx, AccessCheckTimeout)
	defer cancel()
	fail := func(err error) (string, *AccessError) {
		cause, hint := classifyAccess(c, err)
		switch cause {
		case CauseAssumeDenied:
			// STS says the same whether the role is missing or does not
			// trust the worker: name both, most likely first.
			ext := "requires no external id (none is configured)"
			if acct.ExternalID != "" {
				ext = fmt.Sprintf("the external id set in aws.accounts.%s.external_id", name)
			}
			hint = fmt.Sprintf("%s may not assume the role: check that the role's trust policy names %s and %s, "+
				"that the worker's own policy allows sts:AssumeRole on the role, and that the role exists",
				base, base, ext)
		case CauseRoleNotFound:
			hint = fmt.Sprintf("the role does not exist: check aws.accounts.%s.role_arn", name)
		}
		return "", &AccessError{Account: name, RoleARN: acct.RoleARN, Cause: cause, Hint: hint, Err: err}
	}
	roleCfg := c.Copy()
	roleCfg.Credentials = actions.RoleCredentials(c, actions.Account{RoleARN: acct.RoleARN, ExternalID: acct.ExternalID}, preflightRun)
	// AssumeRole on its own first, so that its failure is not mistaken for
	// one of the call made with its credentials.
	if _, err := roleCfg.Credentials.Retrieve(ctx); err != nil {
		return fail(err)
	}
	out, err := sts.NewFromConfig(roleCfg).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil {
		return fail(err)
	}
	return aws.ToString(out.Arn), nil
}

// classifyAccess reads an STS error by its code; anything AWS did not
// answer is the network's or the endpoint's.
func classifyAccess(c aws.Config, err error) (AccessCause, string) {
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		where := "STS in " + c.Region
		if c.BaseEndpoint != nil {
			where = "the STS endpoint " + *c.BaseEndpoint + " (aws.endpoint)"
		}
		if errors.Is(err, context.DeadlineExceeded) {
			return CauseUnreachable, fmt.Sprintf("no answer from %s within %s: check the network, proxy and firewall", where, AccessCheckTimeout)
		}
		return CauseUnreachable, fmt.Sprintf("cannot reach %s: check the network, proxy, DNS and aws.region/aws.endpoint", where)
	}
	switch code := ae.ErrorCode(); code {
	case "AccessDenied", "AccessDeniedException":
		return CauseAssumeDenied, "access denied"
	case "NoSuchEntity", "NoSuchEntityException":
		return CauseRoleNotFound, "the role does not exist"
	case "InvalidClientTokenId", "UnrecognizedClientException", "InvalidAccessKeyId", "SignatureDoesNotMatch",
		"IncompleteSignature", "MissingAuthenticationToken", "ExpiredToken", "ExpiredTokenException", "InvalidToken", "AuthFailure":
		return CauseCredentialsRejected, "AWS rejects the worker's own credentials: replace or refresh them"
	case "RegionDisabledException":
		return CauseRegionDisabled, fmt.Sprintf("STS is not activated in %s for the account: activate it (IAM, Account settings) or set aws.region to a region where it is", c.Region)
	default:
		return CauseAWSError, "STS refused the request"
	}
}

// describeAWSError is an SDK error in one short line: AWS's code, message
// and request id when AWS answered, the SDK's own text otherwise.
func describeAWSError(err error) string {
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		return err.Error()
	}
	s := "AWS: " + ae.ErrorCode() + ": " + ae.ErrorMessage()
	var re *awshttp.ResponseError
	if errors.As(err, &re) && re.ServiceRequestID() != "" {
		s += "; request id " + re.ServiceRequestID()
	}
	return s
}

// credentialSource names where the SDK found credentials, for the operator.
func credentialSource(c aws.Credentials) string {
	if c.Source == "" {
		return "the configured provider"
	}
	return c.Source
}
