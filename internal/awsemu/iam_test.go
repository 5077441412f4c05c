package awsemu_test

import (
	"context"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"

	"github.com/cordon-ir/cordon/internal/awsemu"
)

func iamErrCode(err error) string {
	var ae smithy.APIError
	if errorsAs(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

// policyOfSize is a valid policy document of n characters that are not
// white space, padded with white space that IAM does not count.
func policyOfSize(n int) string {
	head, tail := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::`, `"}]}`
	return head + strings.Repeat("a", n-len(head)-len(tail)) + tail + strings.Repeat(" \n", 500)
}

// IAM limits the aggregate size of a principal's inline policies: 2,048
// characters for a user, 10,240 for a role, white space not counted.
func TestInlinePolicyAggregateQuota(t *testing.T) {
	emu := awsemu.NewTestServer(t, awsemu.Options{})
	ctx := context.Background()
	if _, err := emu.AddUser(awsemu.UserSpec{Name: "alice"}); err != nil {
		t.Fatal(err)
	}
	if _, err := emu.AddRole(awsemu.RoleSpec{Name: "app"}); err != nil {
		t.Fatal(err)
	}
	c := iam.NewFromConfig(emu.AWSConfig())
	putUser := func(name, doc string) error {
		_, err := c.PutUserPolicy(ctx, &iam.PutUserPolicyInput{UserName: aws.String("alice"), PolicyName: aws.String(name), PolicyDocument: aws.String(doc)})
		return err
	}
	if err := putUser("big", policyOfSize(2000)); err != nil {
		t.Fatalf("2,000 characters (and white space) fit: %v", err)
	}
	if err := putUser("more", policyOfSize(200)); iamErrCode(err) != "LimitExceeded" {
		t.Errorf("2,200 characters in all: %v, want LimitExceeded", err)
	}
	// Replacing a policy counts its new size, not both.
	if err := putUser("big", policyOfSize(2048)); err != nil {
		t.Errorf("replacing with 2,048 characters: %v", err)
	}
	putRole := func(name, doc string) error {
		_, err := c.PutRolePolicy(ctx, &iam.PutRolePolicyInput{RoleName: aws.String("app"), PolicyName: aws.String(name), PolicyDocument: aws.String(doc)})
		return err
	}
	if err := putRole("a", policyOfSize(6000)); err != nil {
		t.Fatal(err)
	}
	if err := putRole("b", policyOfSize(4000)); err != nil {
		t.Errorf("10,000 characters fit a role: %v", err)
	}
	if err := putRole("c", policyOfSize(300)); iamErrCode(err) != "LimitExceeded" {
		t.Errorf("10,300 characters: %v, want LimitExceeded", err)
	}
}

func TestManagedUserPolicies(t *testing.T) {
	emu := awsemu.NewTestServer(t, awsemu.Options{})
	ctx := context.Background()
	if _, err := emu.AddUser(awsemu.UserSpec{Name: "alice"}); err != nil {
		t.Fatal(err)
	}
	c := iam.NewFromConfig(emu.AWSConfig())
	deny := "arn:aws:iam::aws:policy/AWSDenyAll"
	for range 2 { // attaching twice is one attachment
		if _, err := c.AttachUserPolicy(ctx, &iam.AttachUserPolicyInput{UserName: aws.String("alice"), PolicyArn: aws.String(deny)}); err != nil {
			t.Fatal(err)
		}
	}
	out, err := c.ListAttachedUserPolicies(ctx, &iam.ListAttachedUserPoliciesInput{UserName: aws.String("alice")})
	if err != nil || len(out.AttachedPolicies) != 1 || aws.ToString(out.AttachedPolicies[0].PolicyArn) != deny ||
		aws.ToString(out.AttachedPolicies[0].PolicyName) != "AWSDenyAll" {
		t.Fatalf("attached: %+v, %v", out, err)
	}
	if _, err := c.AttachUserPolicy(ctx, &iam.AttachUserPolicyInput{UserName: aws.String("alice"), PolicyArn: aws.String("arn:aws:iam::aws:policy/NoSuchPolicy")}); iamErrCode(err) != "NoSuchEntity" {
		t.Errorf("unknown policy: %v", err)
	}
	if _, err := c.DetachUserPolicy(ctx, &iam.DetachUserPolicyInput{UserName: aws.String("alice"), PolicyArn: aws.String(deny)}); err != nil {
		t.Fatal(err)
	}
	if u, _ := emu.User("alice"); len(u.AttachedPolicies) != 0 {
		t.Errorf("still attached: %v", u.AttachedPolicies)
	}
}

// A trust policy that denies AssumeRole to everyone locks the role;
// putting the original back unlocks it.
func TestUpdateAssumeRolePolicyLocksTheRole(t *testing.T) {
	emu := awsemu.NewTestServer(t, awsemu.Options{})
	ctx := context.Background()
	role, err := emu.AddRole(awsemu.RoleSpec{Name: "app", TrustedPrincipals: []string{"arn:aws:iam::" + emu.AccountID() + ":root"}})
	if err != nil {
		t.Fatal(err)
	}
	assume := func() error {
		_, err := sts.NewFromConfig(emu.AWSConfig()).AssumeRole(ctx, &sts.AssumeRoleInput{RoleArn: aws.String(role.ARN), RoleSessionName: aws.String("attacker")})
		return err
	}
	if err := assume(); err != nil {
		t.Fatalf("before the lock: %v", err)
	}
	c := iam.NewFromConfig(emu.AWSConfig())
	locked := `{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Principal":"*","Action":["sts:AssumeRole"]},` +
		strings.TrimPrefix(strings.TrimSuffix(role.AssumeRolePolicyDocument, "]}"), `{"Version":"2012-10-17","Statement":[`) + `]}`
	if _, err := c.UpdateAssumeRolePolicy(ctx, &iam.UpdateAssumeRolePolicyInput{RoleName: aws.String("app"), PolicyDocument: aws.String(locked)}); err != nil {
		t.Fatal(err)
	}
	if err := assume(); iamErrCode(err) != "AccessDenied" {
		t.Errorf("locked role assumed: %v", err)
	}
	if _, err := c.UpdateAssumeRolePolicy(ctx, &iam.UpdateAssumeRolePolicyInput{RoleName: aws.String("app"), PolicyDocument: aws.String(role.AssumeRolePolicyDocument)}); err != nil {
		t.Fatal(err)
	}
	if err := assume(); err != nil {
		t.Errorf("after the restore: %v", err)
	}
	if _, err := c.UpdateAssumeRolePolicy(ctx, &iam.UpdateAssumeRolePolicyInput{RoleName: aws.String("app"), PolicyDocument: aws.String("{")}); iamErrCode(err) != "MalformedPolicyDocument" {
		t.Errorf("malformed: %v", err)
	}
}

// Only the service that owns a service-linked role may change it.
func TestServiceLinkedRoleIsUnmodifiable(t *testing.T) {
	emu := awsemu.NewTestServer(t, awsemu.Options{})
	ctx := context.Background()
	if _, err := emu.AddRole(awsemu.RoleSpec{Name: "AWSServiceRoleForAutoScaling", Path: "/aws-service-role/autoscaling.amazonaws.com/"}); err != nil {
		t.Fatal(err)
	}
	c := iam.NewFromConfig(emu.AWSConfig())
	_, err := c.PutRolePolicy(ctx, &iam.PutRolePolicyInput{RoleName: aws.String("AWSServiceRoleForAutoScaling"), PolicyName: aws.String("x"),
		PolicyDocument: aws.String(`{"Version":"2012-10-17","Statement":[]}`)})
	if iamErrCode(err) != "UnmodifiableEntity" {
		t.Errorf("put: %v", err)
	}
	out, err := c.GetRole(ctx, &iam.GetRoleInput{RoleName: aws.String("AWSServiceRoleForAutoScaling")})
	if err != nil || aws.ToString(out.Role.Path) != "/aws-service-role/autoscaling.amazonaws.com/" ||
		!strings.Contains(aws.ToString(out.Role.Arn), ":role/aws-service-role/autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling") {
		t.Errorf("role: %+v, %v", out, err)
	}
}

// GetAccessKeyInfo names the account of user keys, session keys and root
// keys alike; GetAccessKeyLastUsed names the root user "root".
func TestAccessKeyKinds(t *testing.T) {
	emu := awsemu.NewTestServer(t, awsemu.Options{})
	ctx := context.Background()
	u, err := emu.AddUser(awsemu.UserSpec{Name: "ci", AccessKeys: 1})
	if err != nil {
		t.Fatal(err)
	}
	role, err := emu.AddRole(awsemu.RoleSpec{Name: "app"})
	if err != nil {
		t.Fatal(err)
	}
	s := sts.NewFromConfig(emu.AWSConfig())
	session, err := s.AssumeRole(ctx, &sts.AssumeRoleInput{RoleArn: aws.String(role.ARN), RoleSessionName: aws.String("web")})
	if err != nil {
		t.Fatal(err)
	}
	root := emu.AddRootAccessKey()
	for _, id := range []string{u.AccessKeys[0].ID, aws.ToString(session.Credentials.AccessKeyId), root.ID} {
		out, err := s.GetAccessKeyInfo(ctx, &sts.GetAccessKeyInfoInput{AccessKeyId: aws.String(id)})
		if err != nil || aws.ToString(out.Account) != emu.AccountID() {
			t.Errorf("%s: %+v, %v", id, out, err)
		}
	}
	if !strings.HasPrefix(aws.ToString(session.Credentials.AccessKeyId), "ASIA") || !strings.HasPrefix(root.ID, "AKIA") {
		t.Errorf("prefixes: %s %s", aws.ToString(session.Credentials.AccessKeyId), root.ID)
	}
	if _, err := s.GetAccessKeyInfo(ctx, &sts.GetAccessKeyInfoInput{AccessKeyId: aws.String("AKIA-bad")}); iamErrCode(err) != "ValidationError" {
		t.Errorf("malformed key: %v", err)
	}
	c := iam.NewFromConfig(emu.AWSConfig())
	last, err := c.GetAccessKeyLastUsed(ctx, &iam.GetAccessKeyLastUsedInput{AccessKeyId: aws.String(root.ID)})
	if err != nil || aws.ToString(last.UserName) != "root" {
		t.Errorf("root key: %+v, %v", last, err)
	}
	// A root key belongs to no user.
	if _, err := c.UpdateAccessKey(ctx, &iam.UpdateAccessKeyInput{UserName: aws.String("ci"), AccessKeyId: aws.String(root.ID), Status: "Inactive"}); iamErrCode(err) != "NoSuchEntity" {
		t.Errorf("update root key as a user's: %v", err)
	}
}

// ReplaceIamInstanceProfileAssociation gives the association a new id (a
// retry of a replacement already made meets NotFound), and EC2 does not
// see an instance profile IAM has just created.
func TestReplaceIamInstanceProfileAssociation(t *testing.T) {
	emu := awsemu.NewTestServer(t, awsemu.Options{})
	ctx := context.Background()
	fleet, err := emu.SeedFleet(awsemu.FleetSpec{Instances: 1, WithInstanceRole: true})
	if err != nil {
		t.Fatal(err)
	}
	id := fleet.InstanceIDs[0]
	emu.SetConsistencyLag(1)
	if _, err := emu.AddRole(awsemu.RoleSpec{Name: "forensics", InstanceProfile: true}); err != nil {
		t.Fatal(err)
	}
	c := ec2.NewFromConfig(emu.AWSConfig())
	in, _ := emu.Instance(id)
	replace := func(assoc string) (*ec2.ReplaceIamInstanceProfileAssociationOutput, error) {
		return c.ReplaceIamInstanceProfileAssociation(ctx, &ec2.ReplaceIamInstanceProfileAssociationInput{
			AssociationId: aws.String(assoc), IamInstanceProfile: &ec2types.IamInstanceProfileSpecification{Name: aws.String("forensics")},
		})
	}
	if _, err := replace(in.ProfileAssociationID); iamErrCode(err) != "InvalidParameterValue" {
		t.Fatalf("profile just created: %v, want InvalidParameterValue", err)
	}
	out, err := replace(in.ProfileAssociationID)
	if err != nil {
		t.Fatalf("once visible: %v", err)
	}
	after, _ := emu.Instance(id)
	if !strings.HasSuffix(after.InstanceProfileARN, "/forensics") || after.ProfileAssociationID == in.ProfileAssociationID ||
		aws.ToString(out.IamInstanceProfileAssociation.AssociationId) != after.ProfileAssociationID {
		t.Errorf("after: %+v, answer %+v", after, out.IamInstanceProfileAssociation)
	}
	if _, err := replace(in.ProfileAssociationID); iamErrCode(err) != "InvalidAssociationID.NotFound" {
		t.Errorf("old association: %v", err)
	}
	if _, err := iam.NewFromConfig(emu.AWSConfig()).GetInstanceProfile(ctx, &iam.GetInstanceProfileInput{InstanceProfileName: aws.String("forensics")}); err != nil {
		t.Errorf("the lag is over: %v", err)
	}
}

// IAM roles created under a consistency lag are not found at first.
func TestRoleConsistencyLag(t *testing.T) {
	emu := awsemu.NewTestServer(t, awsemu.Options{})
	ctx := context.Background()
	emu.SetConsistencyLag(2)
	if _, err := emu.AddRole(awsemu.RoleSpec{Name: "fresh"}); err != nil {
		t.Fatal(err)
	}
	c := iam.NewFromConfig(emu.AWSConfig())
	for i := range 3 {
		_, err := c.GetRole(ctx, &iam.GetRoleInput{RoleName: aws.String("fresh")})
		if want := i >= 2; (err == nil) != want {
			t.Errorf("reference %d: %v", i+1, err)
		}
	}
}
