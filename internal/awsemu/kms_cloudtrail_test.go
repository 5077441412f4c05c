package awsemu_test

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/cloudtrail"
	cttypes "github.com/aws/aws-sdk-go-v2/service/cloudtrail/types"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	kmstypes "github.com/aws/aws-sdk-go-v2/service/kms/types"

	"github.com/cordon-ir/cordon/internal/awsemu"
)

// KMS keys: each account has its AWS managed alias/aws/ebs; a customer
// key's policy decides which other account may use it.
func TestKMSKeysAndPolicies(t *testing.T) {
	emu := awsemu.NewTestServer(t, awsemu.Options{})
	ctx := context.Background()
	client := kms.NewFromConfig(emu.AWSConfig())
	ebs, err := client.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: aws.String("alias/aws/ebs")})
	if err != nil || ebs.KeyMetadata.KeyManager != kmstypes.KeyManagerTypeAws || aws.ToString(ebs.KeyMetadata.AWSAccountId) != emu.AccountID() {
		t.Fatalf("DescribeKey alias/aws/ebs = %+v, %v", ebs, err)
	}
	created, err := client.CreateKey(ctx, &kms.CreateKeyInput{Description: aws.String("cordon handover")})
	if err != nil || created.KeyMetadata.KeyManager != kmstypes.KeyManagerTypeCustomer || created.KeyMetadata.KeyState != kmstypes.KeyStateEnabled {
		t.Fatalf("CreateKey = %+v, %v", created, err)
	}
	keyARN := aws.ToString(created.KeyMetadata.Arn)
	if _, err := client.CreateAlias(ctx, &kms.CreateAliasInput{AliasName: aws.String("alias/cordon-handover"), TargetKeyId: created.KeyMetadata.KeyId}); err != nil {
		t.Fatal(err)
	}
	if _, err := client.CreateAlias(ctx, &kms.CreateAliasInput{AliasName: aws.String("alias/aws/mine"), TargetKeyId: created.KeyMetadata.KeyId}); apiCode(t, err) != "InvalidAliasNameException" {
		t.Fatalf("an alias in the aws/ namespace: %v", err)
	}
	aliases, err := client.ListAliases(ctx, &kms.ListAliasesInput{})
	if err != nil || !slices.ContainsFunc(aliases.Aliases, func(a kmstypes.AliasListEntry) bool {
		return aws.ToString(a.AliasName) == "alias/cordon-handover" && aws.ToString(a.TargetKeyId) == aws.ToString(created.KeyMetadata.KeyId)
	}) {
		t.Fatalf("ListAliases = %+v, %v", aliases, err)
	}

	forensic := kms.NewFromConfig(forensicRole(t, emu))
	_, err = forensic.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: aws.String(keyARN)})
	if code := apiCode(t, err); code != "AccessDeniedException" || !strings.Contains(err.Error(), "kms:DescribeKey") {
		t.Fatalf("another account's key under the default policy: %v", err)
	}
	if _, err := client.PutKeyPolicy(ctx, &kms.PutKeyPolicyInput{KeyId: aws.String(keyARN), PolicyName: aws.String("default"),
		Policy: aws.String(keyPolicySharedWith(emu.AccountID(), forensicAccount))}); err != nil {
		t.Fatalf("PutKeyPolicy: %v", err)
	}
	if _, err := forensic.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: aws.String(keyARN)}); err != nil {
		t.Fatalf("a key whose policy names the forensic account: %v", err)
	}
	pol, err := client.GetKeyPolicy(ctx, &kms.GetKeyPolicyInput{KeyId: aws.String("alias/cordon-handover")})
	if err != nil || !strings.Contains(aws.ToString(pol.Policy), forensicAccount) {
		t.Fatalf("GetKeyPolicy = %+v, %v", pol, err)
	}
	_, err = forensic.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: aws.String("alias/cordon-handover")})
	if code := apiCode(t, err); code != "NotFoundException" {
		t.Fatalf("an alias is the account's own: %v", err)
	}
	if got := emu.KMSKeys(emu.AccountID()); len(got) != 2 {
		t.Errorf("keys = %+v", got)
	}
}

// CloudTrail's history of an access key is the calls the emulator served
// for it, with events added from outside (the attacker's, before the
// containment), newest first; data events are left out.
func TestCloudTrailLookupByAccessKey(t *testing.T) {
	emu := awsemu.NewTestServer(t, awsemu.Options{})
	ctx := context.Background()
	leaked, err := emu.AddUser(awsemu.UserSpec{Name: "deploy", AccessKeys: 1})
	if err != nil {
		t.Fatal(err)
	}
	key := leaked.AccessKeys[0]
	asLeaked := emu.AWSConfig()
	asLeaked.Credentials = credentials.NewStaticCredentialsProvider(key.ID, key.SecretAccessKey, "")
	in := addInstance(t, emu, awsemu.InstanceSpec{Name: "web"})
	if _, err := ec2.NewFromConfig(asLeaked).DescribeInstances(ctx, &ec2.DescribeInstancesInput{InstanceIds: []string{in}}); err != nil {
		t.Fatal(err)
	}
	if _, err := iam.NewFromConfig(asLeaked).PutUserPolicy(ctx, &iam.PutUserPolicyInput{UserName: aws.String("deploy"),
		PolicyName: aws.String("backdoor"), PolicyDocument: aws.String(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}`)}); err != nil {
		t.Fatal(err)
	}
	// Data events stay out of the history.
	if _, err := s3Client(asLeaked).CreateBucket(ctx, s3CreateBucket("loot")); err != nil {
		t.Fatal(err)
	}
	putObject(t, s3Client(asLeaked), "loot", "dump.sql", "secrets")
	// Someone else's calls are not the key's.
	if _, err := ec2.NewFromConfig(emu.AWSConfig()).DescribeInstances(ctx, &ec2.DescribeInstancesInput{}); err != nil {
		t.Fatal(err)
	}
	before := time.Now().Add(-2 * time.Hour)
	if err := emu.AddCloudTrailEvent("", "", awsemu.CloudTrailEvent{EventTime: before, EventName: "RunInstances", EventSource: "ec2.amazonaws.com",
		AccessKeyID: key.ID, Username: "deploy", UserARN: leaked.ARN, SourceIPAddress: "45.133.203.192",
		Resources: []awsemu.CallResource{{Type: "AWS::EC2::Instance", Name: "i-0badbadbadbadbad0"}}}); err != nil {
		t.Fatal(err)
	}

	client := cloudtrail.NewFromConfig(emu.AWSConfig())
	out, err := client.LookupEvents(ctx, &cloudtrail.LookupEventsInput{
		LookupAttributes: []cttypes.LookupAttribute{{AttributeKey: cttypes.LookupAttributeKeyAccessKeyId, AttributeValue: aws.String(key.ID)}},
		StartTime:        aws.Time(time.Now().Add(-24 * time.Hour)), EndTime: aws.Time(time.Now().Add(time.Minute))})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, ev := range out.Events {
		names = append(names, aws.ToString(ev.EventName))
	}
	want := []string{"CreateBucket", "PutUserPolicy", "DescribeInstances", "RunInstances"}
	if !slices.Equal(names, want) {
		t.Fatalf("events of the key = %v, want %v (newest first)", names, want)
	}
	var doc struct {
		EventName       string
		AWSRegion       string `json:"awsRegion"`
		SourceIPAddress string
		UserIdentity    struct{ Type, UserName, AccessKeyID string } `json:"userIdentity"`
		Resources       []struct{ Type, ARN string }
	}
	if err := json.Unmarshal([]byte(aws.ToString(out.Events[2].CloudTrailEvent)), &doc); err != nil {
		t.Fatal(err)
	}
	if doc.EventName != "DescribeInstances" || doc.AWSRegion != emu.Region() || doc.SourceIPAddress != "127.0.0.1" || doc.UserIdentity.Type != "IAMUser" ||
		doc.UserIdentity.UserName != "deploy" || len(doc.Resources) != 1 || doc.Resources[0].ARN != in {
		t.Fatalf("CloudTrailEvent = %+v", doc)
	}
	if seeded := out.Events[3]; aws.ToString(seeded.Username) != "deploy" || len(seeded.Resources) != 1 ||
		!strings.Contains(aws.ToString(seeded.CloudTrailEvent), "45.133.203.192") {
		t.Fatalf("seeded event = %+v", seeded)
	}

	// By resource, and one attribute at most.
	byInstance, err := client.LookupEvents(ctx, &cloudtrail.LookupEventsInput{LookupAttributes: []cttypes.LookupAttribute{
		{AttributeKey: cttypes.LookupAttributeKeyResourceName, AttributeValue: aws.String(in)}}})
	if err != nil || len(byInstance.Events) != 1 {
		t.Fatalf("events naming the instance = %+v, %v", byInstance, err)
	}
	_, err = client.LookupEvents(ctx, &cloudtrail.LookupEventsInput{LookupAttributes: []cttypes.LookupAttribute{
		{AttributeKey: cttypes.LookupAttributeKeyUsername, AttributeValue: aws.String("deploy")},
		{AttributeKey: cttypes.LookupAttributeKeyEventName, AttributeValue: aws.String("RunInstances")}}})
	if code := apiCode(t, err); code != "InvalidLookupAttributesException" {
		t.Fatalf("two lookup attributes: %v", err)
	}
	// Pages of MaxResults, the next one by NextToken.
	page, err := client.LookupEvents(ctx, &cloudtrail.LookupEventsInput{MaxResults: aws.Int32(2), LookupAttributes: []cttypes.LookupAttribute{
		{AttributeKey: cttypes.LookupAttributeKeyUsername, AttributeValue: aws.String("deploy")}}})
	if err != nil || len(page.Events) != 2 || page.NextToken == nil {
		t.Fatalf("first page = %+v, %v", page, err)
	}
	rest, err := client.LookupEvents(ctx, &cloudtrail.LookupEventsInput{MaxResults: aws.Int32(2), NextToken: page.NextToken, LookupAttributes: []cttypes.LookupAttribute{
		{AttributeKey: cttypes.LookupAttributeKeyUsername, AttributeValue: aws.String("deploy")}}})
	if err != nil || len(rest.Events) != 2 || rest.NextToken != nil {
		t.Fatalf("second page = %+v, %v", rest, err)
	}
}
