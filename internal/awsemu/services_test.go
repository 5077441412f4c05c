package awsemu_test

import (
	"context"
	"net/url"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	elb "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancing"
	elbtypes "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancing/types"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	elbv2types "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/cordon-ir/cordon/internal/awsemu"
)

func TestIAMRoleAndInstanceProfile(t *testing.T) {
	emu, info := newFleet(t, awsemu.FleetSpec{Instances: 1, WithInstanceRole: true})
	ctx := context.Background()
	client := iam.NewFromConfig(emu.AWSConfig())

	prof, err := client.GetInstanceProfile(ctx, &iam.GetInstanceProfileInput{InstanceProfileName: aws.String(info.RoleName)})
	if err != nil || aws.ToString(prof.InstanceProfile.Arn) != info.InstanceProfileARN || len(prof.InstanceProfile.Roles) != 1 {
		t.Fatalf("GetInstanceProfile: %v %+v", err, prof)
	}
	role, err := client.GetRole(ctx, &iam.GetRoleInput{RoleName: aws.String(info.RoleName)})
	if err != nil || aws.ToString(role.Role.RoleName) != info.RoleName || role.Role.CreateDate == nil {
		t.Fatalf("GetRole: %v %+v", err, role)
	}
	deny := `{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"*","Resource":"*",` +
		`"Condition":{"DateLessThan":{"aws:TokenIssueTime":"2026-11-26T10:00:00Z"}}}]}`
	if _, err := client.PutRolePolicy(ctx, &iam.PutRolePolicyInput{RoleName: aws.String(info.RoleName),
		PolicyName: aws.String("cordon-revoke-sessions"), PolicyDocument: aws.String(deny)}); err != nil {
		t.Fatalf("PutRolePolicy: %v", err)
	}
	got, err := client.GetRolePolicy(ctx, &iam.GetRolePolicyInput{RoleName: aws.String(info.RoleName), PolicyName: aws.String("cordon-revoke-sessions")})
	if err != nil {
		t.Fatalf("GetRolePolicy: %v", err)
	}
	if doc, _ := url.QueryUnescape(aws.ToString(got.PolicyDocument)); doc != deny {
		t.Errorf("policy document round trip = %q", doc)
	}
	list, err := client.ListRolePolicies(ctx, &iam.ListRolePoliciesInput{RoleName: aws.String(info.RoleName)})
	if err != nil || len(list.PolicyNames) != 2 {
		t.Fatalf("ListRolePolicies: %v %+v", err, list)
	}
	if _, err := client.DeleteRolePolicy(ctx, &iam.DeleteRolePolicyInput{RoleName: aws.String(info.RoleName), PolicyName: aws.String("cordon-revoke-sessions")}); err != nil {
		t.Fatalf("DeleteRolePolicy: %v", err)
	}
	_, err = client.GetRole(ctx, &iam.GetRoleInput{RoleName: aws.String("nope")})
	var nse *iamtypes.NoSuchEntityException
	if code := apiCode(t, err); code != "NoSuchEntity" || !errorsAs(err, &nse) {
		t.Errorf("missing role: %v", err)
	}
	_, err = client.PutRolePolicy(ctx, &iam.PutRolePolicyInput{RoleName: aws.String(info.RoleName), PolicyName: aws.String("x"), PolicyDocument: aws.String("{not json")})
	if code := apiCode(t, err); code != "MalformedPolicyDocument" {
		t.Errorf("bad policy: %s", code)
	}
}

func TestIAMUserCredentialContainment(t *testing.T) {
	emu := awsemu.NewTestServer(t, awsemu.Options{})
	u, err := emu.AddUser(awsemu.UserSpec{Name: "svc-deploy", AccessKeys: 2, LoginProfile: true, MFADevices: 1})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	client := iam.NewFromConfig(emu.AWSConfig())
	key := u.AccessKeys[0]

	// The attacker's use of the key shows up in last-used data.
	attacker := emu.AWSConfig()
	attacker.Credentials = credentials.NewStaticCredentialsProvider(key.ID, key.SecretAccessKey, "")
	who, err := sts.NewFromConfig(attacker).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil || aws.ToString(who.Arn) != u.ARN {
		t.Fatalf("GetCallerIdentity as user: %v %+v", err, who)
	}
	last, err := client.GetAccessKeyLastUsed(ctx, &iam.GetAccessKeyLastUsedInput{AccessKeyId: aws.String(key.ID)})
	if err != nil || aws.ToString(last.UserName) != "svc-deploy" || aws.ToString(last.AccessKeyLastUsed.ServiceName) != "sts" {
		t.Fatalf("GetAccessKeyLastUsed: %v %+v", err, last)
	}
	keys, err := client.ListAccessKeys(ctx, &iam.ListAccessKeysInput{UserName: aws.String("svc-deploy")})
	if err != nil || len(keys.AccessKeyMetadata) != 2 {
		t.Fatalf("ListAccessKeys: %v %+v", err, keys)
	}
	if _, err := client.UpdateAccessKey(ctx, &iam.UpdateAccessKeyInput{UserName: aws.String("svc-deploy"), AccessKeyId: aws.String(key.ID), Status: iamtypes.StatusTypeInactive}); err != nil {
		t.Fatalf("UpdateAccessKey: %v", err)
	}
	_, err = sts.NewFromConfig(attacker).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if code := apiCode(t, err); code != "InvalidClientTokenId" {
		t.Errorf("deactivated key still works: %v", err)
	}

	if _, err := client.GetUser(ctx, &iam.GetUserInput{UserName: aws.String("svc-deploy")}); err != nil {
		t.Fatalf("GetUser: %v", err)
	}
	if _, err := client.PutUserPolicy(ctx, &iam.PutUserPolicyInput{UserName: aws.String("svc-deploy"), PolicyName: aws.String("deny-all"),
		PolicyDocument: aws.String(`{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"*","Resource":"*"}]}`)}); err != nil {
		t.Fatalf("PutUserPolicy: %v", err)
	}
	if _, err := client.GetUserPolicy(ctx, &iam.GetUserPolicyInput{UserName: aws.String("svc-deploy"), PolicyName: aws.String("deny-all")}); err != nil {
		t.Fatalf("GetUserPolicy: %v", err)
	}
	up, err := client.ListUserPolicies(ctx, &iam.ListUserPoliciesInput{UserName: aws.String("svc-deploy")})
	if err != nil || len(up.PolicyNames) != 1 {
		t.Fatalf("ListUserPolicies: %v %+v", err, up)
	}
	if _, err := client.DeleteUserPolicy(ctx, &iam.DeleteUserPolicyInput{UserName: aws.String("svc-deploy"), PolicyName: aws.String("deny-all")}); err != nil {
		t.Fatalf("DeleteUserPolicy: %v", err)
	}
	if _, err := client.GetLoginProfile(ctx, &iam.GetLoginProfileInput{UserName: aws.String("svc-deploy")}); err != nil {
		t.Fatalf("GetLoginProfile: %v", err)
	}
	if _, err := client.DeleteLoginProfile(ctx, &iam.DeleteLoginProfileInput{UserName: aws.String("svc-deploy")}); err != nil {
		t.Fatalf("DeleteLoginProfile: %v", err)
	}
	_, err = client.GetLoginProfile(ctx, &iam.GetLoginProfileInput{UserName: aws.String("svc-deploy")})
	if code := apiCode(t, err); code != "NoSuchEntity" {
		t.Errorf("login profile after delete: %v", err)
	}
	mfa, err := client.ListMFADevices(ctx, &iam.ListMFADevicesInput{UserName: aws.String("svc-deploy")})
	if err != nil || len(mfa.MFADevices) != 1 || mfa.MFADevices[0].EnableDate == nil {
		t.Fatalf("ListMFADevices: %v %+v", err, mfa)
	}
	if _, err := client.DeactivateMFADevice(ctx, &iam.DeactivateMFADeviceInput{UserName: aws.String("svc-deploy"), SerialNumber: mfa.MFADevices[0].SerialNumber}); err != nil {
		t.Fatalf("DeactivateMFADevice: %v", err)
	}
	got, _ := emu.User("svc-deploy")
	if got.AccessKeys[0].Status != "Inactive" || got.LoginProfile != nil || len(got.MFADevices) != 0 {
		t.Errorf("user after containment = %+v", got)
	}
}

func TestAutoScalingAndTargetGroups(t *testing.T) {
	emu, info := newFleet(t, awsemu.FleetSpec{Instances: 4, InAutoScalingGroup: 3, BehindTargetGroup: 3})
	ctx := context.Background()
	asg := autoscaling.NewFromConfig(emu.AWSConfig())
	lb := elbv2.NewFromConfig(emu.AWSConfig())
	id := info.InstanceIDs[0]

	inst, err := asg.DescribeAutoScalingInstances(ctx, &autoscaling.DescribeAutoScalingInstancesInput{InstanceIds: []string{id}})
	if err != nil || len(inst.AutoScalingInstances) != 1 || aws.ToString(inst.AutoScalingInstances[0].AutoScalingGroupName) != info.AutoScalingGroupName {
		t.Fatalf("DescribeAutoScalingInstances: %v %+v", err, inst)
	}
	groups, err := asg.DescribeAutoScalingGroups(ctx, &autoscaling.DescribeAutoScalingGroupsInput{AutoScalingGroupNames: []string{info.AutoScalingGroupName}})
	if err != nil || len(groups.AutoScalingGroups) != 1 || len(groups.AutoScalingGroups[0].Instances) != 3 || aws.ToInt32(groups.AutoScalingGroups[0].DesiredCapacity) != 3 {
		t.Fatalf("DescribeAutoScalingGroups: %v %+v", err, groups)
	}
	if _, err := asg.EnterStandby(ctx, &autoscaling.EnterStandbyInput{AutoScalingGroupName: aws.String(info.AutoScalingGroupName),
		InstanceIds: []string{info.InstanceIDs[1]}, ShouldDecrementDesiredCapacity: aws.Bool(true)}); err != nil {
		t.Fatalf("EnterStandby: %v", err)
	}
	if _, err := asg.ExitStandby(ctx, &autoscaling.ExitStandbyInput{AutoScalingGroupName: aws.String(info.AutoScalingGroupName),
		InstanceIds: []string{info.InstanceIDs[1]}}); err != nil {
		t.Fatalf("ExitStandby: %v", err)
	}
	det, err := asg.DetachInstances(ctx, &autoscaling.DetachInstancesInput{AutoScalingGroupName: aws.String(info.AutoScalingGroupName),
		InstanceIds: []string{id}, ShouldDecrementDesiredCapacity: aws.Bool(true)})
	if err != nil || len(det.Activities) != 1 {
		t.Fatalf("DetachInstances: %v %+v", err, det)
	}
	g, _ := emu.AutoScalingGroup(info.AutoScalingGroupName)
	if len(g.Instances) != 2 || g.DesiredCapacity != 2 {
		t.Errorf("group after detach = %+v", g)
	}
	if _, err := asg.AttachInstances(ctx, &autoscaling.AttachInstancesInput{AutoScalingGroupName: aws.String(info.AutoScalingGroupName),
		InstanceIds: []string{info.InstanceIDs[3]}}); err != nil {
		t.Fatalf("AttachInstances: %v", err)
	}

	tgs, err := lb.DescribeTargetGroups(ctx, &elbv2.DescribeTargetGroupsInput{TargetGroupArns: []string{info.TargetGroupARN}})
	if err != nil || len(tgs.TargetGroups) != 1 || aws.ToInt32(tgs.TargetGroups[0].Port) != 8090 {
		t.Fatalf("DescribeTargetGroups: %v %+v", err, tgs)
	}
	health, err := lb.DescribeTargetHealth(ctx, &elbv2.DescribeTargetHealthInput{TargetGroupArn: aws.String(info.TargetGroupARN),
		Targets: []elbv2types.TargetDescription{{Id: aws.String(id)}}})
	if err != nil || health.TargetHealthDescriptions[0].TargetHealth.State != elbv2types.TargetHealthStateEnumUnused {
		t.Fatalf("detached instance should have left the target group: %v %+v", err, health)
	}
	if _, err := lb.RegisterTargets(ctx, &elbv2.RegisterTargetsInput{TargetGroupArn: aws.String(info.TargetGroupARN),
		Targets: []elbv2types.TargetDescription{{Id: aws.String(id)}}}); err != nil {
		t.Fatalf("RegisterTargets: %v", err)
	}
	if _, err := lb.DeregisterTargets(ctx, &elbv2.DeregisterTargetsInput{TargetGroupArn: aws.String(info.TargetGroupARN),
		Targets: []elbv2types.TargetDescription{{Id: aws.String(info.InstanceIDs[2])}}}); err != nil {
		t.Fatalf("DeregisterTargets: %v", err)
	}
	all, err := lb.DescribeTargetHealth(ctx, &elbv2.DescribeTargetHealthInput{TargetGroupArn: aws.String(info.TargetGroupARN)})
	if err != nil || len(all.TargetHealthDescriptions) != 3 {
		t.Fatalf("DescribeTargetHealth all: %v, %d targets", err, len(all.TargetHealthDescriptions))
	}
	_, err = lb.DescribeTargetGroups(ctx, &elbv2.DescribeTargetGroupsInput{TargetGroupArns: []string{"arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/x/1"}})
	if code := apiCode(t, err); code != "TargetGroupNotFound" {
		t.Errorf("missing target group: %s", code)
	}
}

func TestClassicLoadBalancer(t *testing.T) {
	emu, info := newFleet(t, awsemu.FleetSpec{Instances: 2})
	if _, err := emu.AddLoadBalancer(awsemu.LoadBalancerSpec{Name: "wiki", Instances: info.InstanceIDs}); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	client := elb.NewFromConfig(emu.AWSConfig())
	out, err := client.DeregisterInstancesFromLoadBalancer(ctx, &elb.DeregisterInstancesFromLoadBalancerInput{
		LoadBalancerName: aws.String("wiki"), Instances: []elbtypes.Instance{{InstanceId: aws.String(info.InstanceIDs[0])}}})
	if err != nil || len(out.Instances) != 1 {
		t.Fatalf("DeregisterInstancesFromLoadBalancer: %v %+v", err, out)
	}
	if _, err := client.RegisterInstancesWithLoadBalancer(ctx, &elb.RegisterInstancesWithLoadBalancerInput{
		LoadBalancerName: aws.String("wiki"), Instances: []elbtypes.Instance{{InstanceId: aws.String(info.InstanceIDs[0])}}}); err != nil {
		t.Fatalf("RegisterInstancesWithLoadBalancer: %v", err)
	}
	desc, err := client.DescribeLoadBalancers(ctx, &elb.DescribeLoadBalancersInput{LoadBalancerNames: []string{"wiki"}})
	if err != nil || len(desc.LoadBalancerDescriptions) != 1 || len(desc.LoadBalancerDescriptions[0].Instances) != 2 {
		t.Fatalf("DescribeLoadBalancers: %v %+v", err, desc)
	}
}

func TestAssumeRoleThenCallAsRole(t *testing.T) {
	emu := awsemu.NewTestServer(t, awsemu.Options{})
	role, err := emu.AddRole(awsemu.RoleSpec{Name: "cordon-responder", RequiredExternalID: "ir-2026"})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	client := sts.NewFromConfig(emu.AWSConfig())
	_, err = client.AssumeRole(ctx, &sts.AssumeRoleInput{RoleArn: aws.String(role.ARN), RoleSessionName: aws.String("csirt"), ExternalId: aws.String("wrong")})
	if code := apiCode(t, err); code != "AccessDenied" {
		t.Fatalf("wrong external id: %v", err)
	}
	out, err := client.AssumeRole(ctx, &sts.AssumeRoleInput{RoleArn: aws.String(role.ARN), RoleSessionName: aws.String("csirt"), ExternalId: aws.String("ir-2026")})
	if err != nil {
		t.Fatalf("AssumeRole: %v", err)
	}
	asRole := emu.AWSConfig()
	c := out.Credentials
	asRole.Credentials = credentials.NewStaticCredentialsProvider(aws.ToString(c.AccessKeyId), aws.ToString(c.SecretAccessKey), aws.ToString(c.SessionToken))
	who, err := sts.NewFromConfig(asRole).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	want := "arn:aws:sts::123456789012:assumed-role/cordon-responder/csirt"
	if err != nil || aws.ToString(who.Arn) != want {
		t.Fatalf("caller as role = %v %+v, want %s", err, who, want)
	}
	// A deny on the role covers its sessions, and the call log names them.
	emu.Deny(role.ARN, "ec2:Describe*")
	_, err = ec2.NewFromConfig(asRole).DescribeInstances(ctx, &ec2.DescribeInstancesInput{})
	if code := apiCode(t, err); code != "UnauthorizedOperation" {
		t.Fatalf("role deny: %v", err)
	}
	calls := emu.Calls()
	if last := calls[len(calls)-1]; last.Principal != want || last.IAMAction != "ec2:DescribeInstances" || last.Status != 403 {
		t.Errorf("last call = %+v", last)
	}
}
