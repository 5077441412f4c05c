package awsemu_test

import (
	"context"
	"net/url"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/cordon-ir/cordon/internal/awsemu"
)

// A role's trust policy decides who may assume it, and STS gives one
// answer for "not trusted" and "no such role", so a caller cannot learn
// which roles exist by trying.
func TestAssumeRoleHonoursTheTrustPolicy(t *testing.T) {
	emu := awsemu.NewTestServer(t, awsemu.Options{})
	ctx := context.Background()
	worker, err := emu.AddUser(awsemu.UserSpec{Name: "cordon-worker", AccessKeys: 1})
	if err != nil {
		t.Fatal(err)
	}
	role, err := emu.AddRole(awsemu.RoleSpec{Name: "cordon-responder", TrustedPrincipals: []string{worker.ARN}, RequiredExternalID: "ir-2026"})
	if err != nil {
		t.Fatal(err)
	}
	asWorker := emu.AWSConfig()
	asWorker.Credentials = credentials.NewStaticCredentialsProvider(worker.AccessKeys[0].ID, worker.AccessKeys[0].SecretAccessKey, "")
	assume := func(cfg aws.Config, arn string) error {
		_, err := sts.NewFromConfig(cfg).AssumeRole(ctx, &sts.AssumeRoleInput{RoleArn: aws.String(arn),
			RoleSessionName: aws.String("cordon-check"), ExternalId: aws.String("ir-2026")})
		return err
	}

	// Positive control: the principal the trust policy names.
	if err := assume(asWorker, role.ARN); err != nil {
		t.Fatalf("trusted principal: %v", err)
	}
	// Anyone else, with the right external id, is refused with STS's words.
	notTrusted := assume(emu.AWSConfig(), role.ARN)
	if code := apiCode(t, notTrusted); code != "AccessDenied" {
		t.Fatalf("untrusted principal: %v", notTrusted)
	}
	want := "User: arn:aws:iam::123456789012:user/responder is not authorized to perform: sts:AssumeRole on resource: " + role.ARN
	if !strings.Contains(notTrusted.Error(), want) {
		t.Errorf("untrusted principal: %v, want %q", notTrusted, want)
	}
	// A role that does not exist answers the same.
	missing := assume(emu.AWSConfig(), "arn:aws:iam::123456789012:role/no-such-role")
	if code := apiCode(t, missing); code != "AccessDenied" ||
		!strings.Contains(missing.Error(), "is not authorized to perform: sts:AssumeRole on resource: arn:aws:iam::123456789012:role/no-such-role") {
		t.Errorf("missing role: %v", missing)
	}

	// The trust policy document says what the emulator enforces.
	got, err := iam.NewFromConfig(emu.AWSConfig()).GetRole(ctx, &iam.GetRoleInput{RoleName: aws.String(role.Name)})
	if err != nil {
		t.Fatal(err)
	}
	// IAM returns policy documents URL-encoded.
	doc, err := url.QueryUnescape(aws.ToString(got.Role.AssumeRolePolicyDocument))
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{worker.ARN, "sts:ExternalId", "ir-2026"} {
		if !strings.Contains(doc, s) {
			t.Errorf("trust policy %s does not name %s", doc, s)
		}
	}

	// The account root trusts every principal of the account.
	open, err := emu.AddRole(awsemu.RoleSpec{Name: "cordon-account", TrustedPrincipals: []string{"arn:aws:iam::" + emu.AccountID() + ":root"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := assume(emu.AWSConfig(), open.ARN); err != nil {
		t.Errorf("account root trust: %v", err)
	}
}
