package awsemu_test

import (
	"context"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/cordon-ir/cordon/internal/awsemu"
)

// forensicAccount is the second account of the forensic tests: where the
// evidence store and the disk copies live.
const forensicAccount = "210987654321"

// assumeRole returns a config that calls as a session of roleARN,
// assumed with cfg's credentials.
func assumeRole(t *testing.T, cfg aws.Config, roleARN, session string) aws.Config {
	t.Helper()
	out, err := sts.NewFromConfig(cfg).AssumeRole(context.Background(), &sts.AssumeRoleInput{
		RoleArn: aws.String(roleARN), RoleSessionName: aws.String(session)})
	if err != nil {
		t.Fatalf("assume %s: %v", roleARN, err)
	}
	c := out.Credentials
	cfg.Credentials = credentials.NewStaticCredentialsProvider(aws.ToString(c.AccessKeyId), aws.ToString(c.SecretAccessKey), aws.ToString(c.SessionToken))
	return cfg
}

// forensicRole adds the forensic account's role, trusted by the default
// account, and returns a config calling as a session of it.
func forensicRole(t *testing.T, emu *awsemu.Emulator) aws.Config {
	t.Helper()
	role, err := emu.AddRole(awsemu.RoleSpec{Name: "cordon-forensics", Account: forensicAccount,
		TrustedPrincipals: []string{"arn:aws:iam::" + emu.AccountID() + ":root"}})
	if err != nil {
		t.Fatal(err)
	}
	return assumeRole(t, emu.AWSConfig(), role.ARN, "cordon-handover")
}

// A role in another account is assumed across accounts when its trust
// policy names the caller's account, and its sessions then act in that
// account: they see its resources, not the default account's.
func TestCallsActInTheCallersAccount(t *testing.T) {
	emu := awsemu.NewTestServer(t, awsemu.Options{})
	ctx := context.Background()
	if _, err := emu.AddInstance(awsemu.InstanceSpec{Name: "web"}); err != nil {
		t.Fatal(err)
	}
	// A role that trusts only a third account is refused to the default one.
	other, err := emu.AddRole(awsemu.RoleSpec{Name: "elsewhere", Account: forensicAccount, TrustedPrincipals: []string{"arn:aws:iam::999999999999:root"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sts.NewFromConfig(emu.AWSConfig()).AssumeRole(ctx, &sts.AssumeRoleInput{RoleArn: aws.String(other.ARN), RoleSessionName: aws.String("x1")}); apiCode(t, err) != "AccessDenied" {
		t.Fatalf("untrusted cross-account AssumeRole: %v", err)
	}
	if other.ARN != "arn:aws:iam::"+forensicAccount+":role/elsewhere" {
		t.Errorf("role ARN = %s", other.ARN)
	}

	asForensics := forensicRole(t, emu)
	who, err := sts.NewFromConfig(asForensics).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil || aws.ToString(who.Account) != forensicAccount ||
		aws.ToString(who.Arn) != "arn:aws:sts::"+forensicAccount+":assumed-role/cordon-forensics/cordon-handover" {
		t.Fatalf("caller identity = %+v, %v", who, err)
	}
	out, err := ec2.NewFromConfig(asForensics).DescribeInstances(ctx, &ec2.DescribeInstancesInput{})
	if err != nil || len(out.Reservations) != 0 {
		t.Fatalf("forensic account sees %+v, %v; want nothing", out, err)
	}
	out, err = ec2.NewFromConfig(emu.AWSConfig()).DescribeInstances(ctx, &ec2.DescribeInstancesInput{})
	if err != nil || len(out.Reservations) != 1 {
		t.Fatalf("default account sees %+v, %v; want its instance", out, err)
	}
	if got := emu.Accounts(); len(got) != 2 || got[0] != emu.AccountID() || got[1] != forensicAccount {
		t.Errorf("accounts = %v", got)
	}
	calls := emu.Calls()
	if last := calls[len(calls)-1]; last.Account != emu.AccountID() {
		t.Errorf("last call's account = %q", last.Account)
	}
	if err := emu.AddAccount("12345"); err == nil {
		t.Error("a malformed account id was accepted")
	}
}
