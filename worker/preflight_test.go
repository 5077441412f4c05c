package worker_test

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"

	"github.com/cordon-ir/cordon/evidence"
	"github.com/cordon-ir/cordon/internal/awsemu"
	"github.com/cordon-ir/cordon/worker"
)

const prodExternalID = "incident-response-7f3a"

// accessSandbox is an emulated AWS with the worker's identity (the
// emulator's default user) and roles for it to assume: "prod" requires an
// external id, "staging" trusts the worker by name in its trust policy.
type accessSandbox struct {
	emu           *awsemu.Emulator
	workerARN     string
	prod, staging awsemu.Role
}

func newAccessSandbox(t *testing.T) *accessSandbox {
	t.Helper()
	emu := awsemu.NewTestServer(t, awsemu.Options{Logger: slog.New(slog.DiscardHandler)})
	s := &accessSandbox{emu: emu, workerARN: "arn:aws:iam::" + emu.AccountID() + ":user/responder"}
	var err error
	if s.prod, err = emu.AddRole(awsemu.RoleSpec{Name: "cordon-prod", RequiredExternalID: prodExternalID}); err != nil {
		t.Fatal(err)
	}
	if s.staging, err = emu.AddRole(awsemu.RoleSpec{Name: "cordon-staging", TrustedPrincipals: []string{s.workerARN}}); err != nil {
		t.Fatal(err)
	}
	return s
}

// config is a worker configuration that reaches the emulator the way the
// sandbox does, through aws.endpoint.
func (s *accessSandbox) config(accounts map[string]worker.AccountConfig) *worker.Config {
	return &worker.Config{AWS: worker.AWSConfig{Region: s.emu.Region(), Endpoint: s.emu.URL(), Accounts: accounts}}
}

// base is the worker's own credentials, with no endpoint of its own: the
// check must take it from the configuration.
func (s *accessSandbox) base() aws.Config {
	c := s.emu.AWSConfig()
	c.BaseEndpoint = nil
	return c
}

func (s *accessSandbox) goodAccounts() map[string]worker.AccountConfig {
	return map[string]worker.AccountConfig{
		"prod":    {RoleARN: s.prod.ARN, ExternalID: prodExternalID},
		"staging": {RoleARN: s.staging.ARN},
		"shared":  {}, // the worker's own credentials
	}
}

// problems maps each failing account ("" for the worker's own
// credentials) to its cause, from the error itself.
func problems(t *testing.T, err error) map[string]worker.AccessCause {
	t.Helper()
	joined, ok := err.(interface{ Unwrap() []error })
	if !ok {
		t.Fatalf("want joined errors, got %T: %v", err, err)
	}
	out := map[string]worker.AccessCause{}
	for _, e := range joined.Unwrap() {
		var ae *worker.AccessError
		if !errors.As(e, &ae) {
			t.Fatalf("not an AccessError: %T %v", e, e)
		}
		out[ae.Account] = ae.Cause
	}
	return out
}

func TestAccessCheckPassesWhenEveryAccountIsReachable(t *testing.T) {
	t.Parallel()
	s := newAccessSandbox(t)
	report, err := worker.CheckAWSAccess(t.Context(), s.config(s.goodAccounts()), s.base())
	if err != nil {
		t.Fatal(err)
	}
	if report.Identity != s.workerARN || len(report.Problems()) != 0 {
		t.Errorf("report = %+v", report)
	}
	// Each role was assumed as actions assume it: a session named after
	// the run ("cordon-<run id>"), with the external id the role demands.
	want := map[string]string{
		"prod":    "arn:aws:sts::" + s.emu.AccountID() + ":assumed-role/cordon-prod/cordon-preflight",
		"staging": "arn:aws:sts::" + s.emu.AccountID() + ":assumed-role/cordon-staging/cordon-preflight",
		"shared":  s.workerARN,
	}
	if len(report.Accounts) != len(want) {
		t.Fatalf("accounts = %+v", report.Accounts)
	}
	for _, a := range report.Accounts {
		if a.Identity != want[a.Name] || a.Err != nil {
			t.Errorf("account %s: identity %q err %v, want %q", a.Name, a.Identity, a.Err, want[a.Name])
		}
	}
	// The check only asks STS who it is: nothing else, nothing changed.
	for _, c := range s.emu.Calls() {
		if c.Service != awsemu.ServiceSTS || c.Status != 200 {
			t.Errorf("unexpected call %s %s (status %d)", c.IAMAction, c.ErrorCode, c.Status)
		}
	}
	if len(s.emu.Mutations()) != 0 {
		t.Errorf("mutations: %v", s.emu.Mutations())
	}
}

func TestAccessCheckNamesTheAccountWhoseRoleCannotBeAssumed(t *testing.T) {
	t.Parallel()
	s := newAccessSandbox(t)
	// The staging role's trust policy names someone else.
	other, err := s.emu.AddRole(awsemu.RoleSpec{Name: "cordon-other",
		TrustedPrincipals: []string{"arn:aws:iam::" + s.emu.AccountID() + ":user/someone-else"}})
	if err != nil {
		t.Fatal(err)
	}
	accounts := s.goodAccounts()
	accounts["staging"] = worker.AccountConfig{RoleARN: other.ARN}
	report, err := worker.CheckAWSAccess(t.Context(), s.config(accounts), s.base())
	if err == nil {
		t.Fatal("no error for a role the worker may not assume")
	}
	if got := problems(t, err); len(got) != 1 || got["staging"] != worker.CauseAssumeDenied {
		t.Fatalf("problems = %v (%v)", got, err)
	}
	msg := err.Error()
	for _, s := range []string{`account "staging"`, other.ARN, "trust policy", s.workerARN, "AccessDenied"} {
		if !strings.Contains(msg, s) {
			t.Errorf("error does not say %q: %s", s, msg)
		}
	}
	// The other accounts are still checked and fine.
	if report.Identity != s.workerARN {
		t.Errorf("identity = %q", report.Identity)
	}
	for _, a := range report.Accounts {
		if (a.Name == "staging") != (a.Err != nil) {
			t.Errorf("account %s: err %v", a.Name, a.Err)
		}
	}
}

func TestAccessCheckReportsEveryFailingAccount(t *testing.T) {
	t.Parallel()
	s := newAccessSandbox(t)
	missing := "arn:aws:iam::" + s.emu.AccountID() + ":role/cordon-deleted"
	accounts := s.goodAccounts()
	accounts["prod"] = worker.AccountConfig{RoleARN: s.prod.ARN, ExternalID: "guessed"}
	accounts["legacy"] = worker.AccountConfig{RoleARN: missing}
	report, err := worker.CheckAWSAccess(t.Context(), s.config(accounts), s.base())
	want := map[string]worker.AccessCause{"prod": worker.CauseAssumeDenied, "legacy": worker.CauseAssumeDenied}
	if got := problems(t, err); len(got) != len(want) || got["prod"] != want["prod"] || got["legacy"] != want["legacy"] {
		t.Fatalf("problems = %v, want %v (%v)", got, want, err)
	}
	for _, s := range []string{`account "prod"`, s.prod.ARN, "external id set in aws.accounts.prod.external_id", `account "legacy"`, missing, "the role exists"} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error does not say %q: %s", s, err)
		}
	}
	// One line per failing identity, in account order; the external id
	// itself is not printed.
	lines := strings.Split(err.Error(), "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[0], `account "legacy"`) || !strings.HasPrefix(lines[1], `account "prod"`) {
		t.Errorf("lines = %q", lines)
	}
	if strings.Contains(err.Error(), "guessed") {
		t.Errorf("error carries the external id: %v", err)
	}
	if len(report.Problems()) != 2 {
		t.Errorf("problems = %v", report.Problems())
	}
}

// failingProvider is what the default chain amounts to on a host with no
// credentials anywhere.
type failingProvider struct{}

func (failingProvider) Retrieve(context.Context) (aws.Credentials, error) {
	return aws.Credentials{}, errors.New("no EC2 IMDS role found")
}

func TestAccessCheckSaysWhenTheWorkerHasNoCredentials(t *testing.T) {
	t.Parallel()
	for name, creds := range map[string]aws.CredentialsProvider{
		"provider fails": aws.NewCredentialsCache(failingProvider{}),
		"anonymous":      aws.AnonymousCredentials{},
		"none":           nil,
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			s := newAccessSandbox(t)
			base := s.base()
			base.Credentials = creds
			report, err := worker.CheckAWSAccess(t.Context(), s.config(s.goodAccounts()), base)
			got := problems(t, err)
			want := map[string]worker.AccessCause{"": worker.CauseNoCredentials, "prod": worker.CauseNoCredentials, "staging": worker.CauseNoCredentials}
			if len(got) != len(want) || got[""] != want[""] || got["prod"] != want["prod"] || got["staging"] != want["staging"] {
				t.Fatalf("problems = %v, want %v (%v)", got, want, err)
			}
			lines := strings.Split(err.Error(), "\n")
			if !strings.HasPrefix(lines[0], "no-credentials: the worker has no AWS credentials of its own (environment, shared config, instance or task role)") {
				t.Errorf("first line = %q", lines[0])
			}
			// Not a trust-policy problem: no role was even tried.
			if strings.Contains(err.Error(), "trust policy") || strings.Contains(err.Error(), "AccessDenied") {
				t.Errorf("missing credentials reported as a trust problem: %v", err)
			}
			if n := len(s.emu.Calls()); n != 0 {
				t.Errorf("%d calls sent without credentials", n)
			}
			if report.Identity != "" || report.Err == nil || report.Err.Cause != worker.CauseNoCredentials {
				t.Errorf("report = %+v", report)
			}
		})
	}
}

func TestAccessCheckSaysWhenAWSRejectsTheWorkersCredentials(t *testing.T) {
	t.Parallel()
	s := newAccessSandbox(t)
	u, err := s.emu.AddUser(awsemu.UserSpec{Name: "cordon-worker", AccessKeys: 1})
	if err != nil {
		t.Fatal(err)
	}
	key := u.AccessKeys[0]
	if _, err := iam.NewFromConfig(s.emu.AWSConfig()).UpdateAccessKey(t.Context(), &iam.UpdateAccessKeyInput{
		UserName: aws.String(u.Name), AccessKeyId: aws.String(key.ID), Status: iamtypes.StatusTypeInactive}); err != nil {
		t.Fatal(err)
	}
	base := s.base()
	base.Credentials = credentials.NewStaticCredentialsProvider(key.ID, key.SecretAccessKey, "")
	_, err = worker.CheckAWSAccess(t.Context(), s.config(s.goodAccounts()), base)
	if got := problems(t, err); got[""] != worker.CauseCredentialsRejected || got["prod"] != worker.CauseCredentialsRejected {
		t.Fatalf("problems = %v (%v)", got, err)
	}
	if !strings.Contains(err.Error(), "InvalidClientTokenId") || strings.Contains(err.Error(), "trust policy") {
		t.Errorf("error = %v", err)
	}
	if strings.Contains(err.Error(), key.SecretAccessKey) {
		t.Errorf("error carries the secret: %v", err)
	}
}

func TestAccessCheckSaysWhenSTSCannotBeReached(t *testing.T) {
	t.Parallel()
	s := newAccessSandbox(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "http://" + ln.Addr().String()
	if err := ln.Close(); err != nil {
		t.Fatal(err)
	}
	cfg := s.config(s.goodAccounts())
	cfg.AWS.Endpoint = closed
	_, err = worker.CheckAWSAccess(t.Context(), cfg, s.base())
	if got := problems(t, err); got[""] != worker.CauseUnreachable || got["staging"] != worker.CauseUnreachable {
		t.Fatalf("problems = %v (%v)", got, err)
	}
	if !strings.Contains(err.Error(), "cannot reach the STS endpoint "+closed) || strings.Contains(err.Error(), "trust policy") {
		t.Errorf("error = %v", err)
	}
}

// A worker checks its evidence store before it starts, as the actions
// will judge it: a bucket without Object Lock is refused there, not in the
// middle of an incident; a locked one passes; object_lock: optional is a
// caveat for the log.
func TestCheckEvidenceStore(t *testing.T) {
	emu := awsemu.NewTestServer(t, awsemu.Options{})
	emu.UseCredentialsInEnv(t)
	role, err := emu.AddRole(awsemu.RoleSpec{Name: "cordon-forensics", Account: "210987654321"})
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range []awsemu.BucketSpec{
		{Name: "locked-evidence", ObjectLock: true, DefaultRetention: &awsemu.S3DefaultRetention{Mode: "COMPLIANCE", Days: 1}},
		{Name: "plain-evidence", Versioning: true},
	} {
		b.Account = "210987654321"
		if err := emu.AddBucket(b); err != nil {
			t.Fatal(err)
		}
	}
	cfg := func(bucket, lock string) *worker.Config {
		return &worker.Config{AWS: worker.AWSConfig{Region: emu.Region(), Endpoint: emu.URL(), Accounts: map[string]worker.AccountConfig{"forensic": {RoleARN: role.ARN}}},
			Evidence: evidence.Config{Account: "forensic", Bucket: bucket, ObjectLock: lock}}
	}
	if caveat, err := worker.CheckEvidenceStore(t.Context(), cfg("locked-evidence", "")); err != nil || caveat != "" {
		t.Errorf("locked bucket: %q, %v", caveat, err)
	}
	if _, err := worker.CheckEvidenceStore(t.Context(), cfg("plain-evidence", "")); err == nil || !strings.Contains(err.Error(), "evidence bucket plain-evidence has no Object Lock") {
		t.Errorf("unlocked bucket: %v", err)
	}
	if caveat, err := worker.CheckEvidenceStore(t.Context(), cfg("plain-evidence", "optional")); err != nil || !strings.Contains(caveat, "no Object Lock") {
		t.Errorf("unlocked bucket, lock optional: %q, %v", caveat, err)
	}
	if _, err := worker.CheckEvidenceStore(t.Context(), cfg("missing-evidence", "")); err == nil || !strings.Contains(err.Error(), "NoSuchBucket") {
		t.Errorf("no bucket: %v", err)
	}
	if caveat, err := worker.CheckEvidenceStore(t.Context(), &worker.Config{}); err != nil || caveat != "" {
		t.Errorf("no store: %q, %v", caveat, err)
	}
}
