package awsemu_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/securityhub"
	shtypes "github.com/aws/aws-sdk-go-v2/service/securityhub/types"

	"github.com/cordon-ir/cordon/internal/awsemu"
)

const guardDutyProduct = "arn:aws:securityhub:us-east-1::product/aws/guardduty"

// shFinding is one finding of a "Security Hub Findings - Imported"
// EventBridge event, in ASFF.
const shFinding = `{
  "SchemaVersion": "2018-10-08",
  "Id": "arn:aws:guardduty:us-east-1:123456789012:detector/0cc1/finding/5ac1",
  "ProductArn": "arn:aws:securityhub:us-east-1::product/aws/guardduty",
  "ProductName": "GuardDuty",
  "CompanyName": "Amazon",
  "Region": "us-east-1",
  "GeneratorId": "arn:aws:guardduty:us-east-1:123456789012:detector/0cc1",
  "AwsAccountId": "123456789012",
  "Types": ["TTPs/Command and Control/CryptoCurrency:EC2-BitcoinTool.B!DNS"],
  "FirstObservedAt": "2026-11-26T09:58:12.000Z",
  "LastObservedAt": "2026-11-26T10:01:40.000Z",
  "CreatedAt": "2026-11-26T09:59:01.000Z",
  "UpdatedAt": "2026-11-26T10:02:00.000Z",
  "Severity": {"Product": 8, "Label": "HIGH", "Normalized": 60},
  "Title": "The EC2 instance i-0123456789abcdef0 is querying a domain name associated with Bitcoin activity.",
  "Description": "The EC2 instance i-0123456789abcdef0 is querying a domain name associated with Bitcoin activity.",
  "Resources": [{"Type": "AwsEc2Instance", "Id": "arn:aws:ec2:us-east-1:123456789012:instance/i-0123456789abcdef0",
    "Partition": "aws", "Region": "us-east-1", "Details": {"AwsEc2Instance": {"Type": "m5.large", "VpcId": "vpc-0123"}}}],
  "Workflow": {"Status": "NEW"},
  "WorkflowState": "NEW",
  "RecordState": "ACTIVE"
}`

func TestSecurityHubGetFindings(t *testing.T) {
	emu := awsemu.NewTestServer(t, awsemu.Options{})
	ctx := context.Background()
	client := securityhub.NewFromConfig(fastRetries(emu.AWSConfig(), 1))
	_, err := client.GetFindings(ctx, &securityhub.GetFindingsInput{})
	var notSubscribed *shtypes.InvalidAccessException
	if !errors.As(err, &notSubscribed) {
		t.Fatalf("GetFindings before Security Hub is enabled: %v", err)
	}
	if err := emu.PutSecurityHubFinding("", "", json.RawMessage(shFinding)); err != nil {
		t.Fatal(err)
	}
	other := `{"Id":"inspector-1","ProductArn":"arn:aws:securityhub:us-east-1::product/aws/inspector","Severity":{"Label":"LOW"},"Resources":[],"Types":[]}`
	if err := emu.PutSecurityHubFinding("", "", json.RawMessage(other)); err != nil {
		t.Fatal(err)
	}
	id := "arn:aws:guardduty:us-east-1:123456789012:detector/0cc1/finding/5ac1"
	eq := func(v string) []shtypes.StringFilter {
		return []shtypes.StringFilter{{Value: aws.String(v), Comparison: shtypes.StringFilterComparisonEquals}}
	}
	get := func(f *shtypes.AwsSecurityFindingFilters) []shtypes.AwsSecurityFinding {
		t.Helper()
		out, err := client.GetFindings(ctx, &securityhub.GetFindingsInput{Filters: f})
		if err != nil {
			t.Fatalf("GetFindings: %v", err)
		}
		return out.Findings
	}

	found := get(&shtypes.AwsSecurityFindingFilters{Id: eq(id), ProductArn: eq(guardDutyProduct)})
	if len(found) != 1 {
		t.Fatalf("by Id and ProductArn: %d findings", len(found))
	}
	f := found[0]
	if aws.ToString(f.Id) != id || f.Severity.Label != shtypes.SeverityLabelHigh || aws.ToString(f.Resources[0].Id) == "" ||
		f.Workflow.Status != shtypes.WorkflowStatusNew || f.RecordState != shtypes.RecordStateActive ||
		aws.ToString(f.Resources[0].Details.AwsEc2Instance.VpcId) != "vpc-0123" {
		t.Errorf("finding as the SDK decoded it: %+v", f)
	}
	if got := get(&shtypes.AwsSecurityFindingFilters{Id: eq(id), ProductArn: eq("arn:aws:securityhub:us-east-1::product/aws/inspector")}); len(got) != 0 {
		t.Errorf("Id of one product with the ProductArn of another: %d findings", len(got))
	}
	if got := get(&shtypes.AwsSecurityFindingFilters{Id: eq("no-such-finding")}); len(got) != 0 {
		t.Errorf("unknown id: %d findings", len(got))
	}
	notGD := get(&shtypes.AwsSecurityFindingFilters{ProductArn: []shtypes.StringFilter{{Value: aws.String(guardDutyProduct), Comparison: shtypes.StringFilterComparisonNotEquals}}})
	if len(notGD) != 1 || aws.ToString(notGD[0].Id) != "inspector-1" || aws.ToString(notGD[0].AwsAccountId) != awsemu.DefaultAccountID {
		t.Errorf("NOT_EQUALS ProductArn: %+v", notGD)
	}
	if got := get(&shtypes.AwsSecurityFindingFilters{ResourceType: eq("AwsEc2Instance"), SeverityLabel: eq("HIGH")}); len(got) != 1 {
		t.Errorf("by resource type and severity: %d findings", len(got))
	}

	page1, err := client.GetFindings(ctx, &securityhub.GetFindingsInput{MaxResults: aws.Int32(1)})
	if err != nil || len(page1.Findings) != 1 || page1.NextToken == nil {
		t.Fatalf("first page: %v %+v", err, page1)
	}
	page2, err := client.GetFindings(ctx, &securityhub.GetFindingsInput{MaxResults: aws.Int32(1), NextToken: page1.NextToken})
	if err != nil || len(page2.Findings) != 1 || page2.NextToken != nil || aws.ToString(page2.Findings[0].Id) == aws.ToString(page1.Findings[0].Id) {
		t.Fatalf("second page: %v %+v", err, page2)
	}
	_, err = client.GetFindings(ctx, &securityhub.GetFindingsInput{Filters: &shtypes.AwsSecurityFindingFilters{
		Confidence: []shtypes.NumberFilter{{Gte: aws.Float64(50)}}}})
	var invalid *shtypes.InvalidInputException
	if !errors.As(err, &invalid) {
		t.Errorf("a filter the emulator does not evaluate: %v", err)
	}

	upd, err := client.BatchUpdateFindings(ctx, &securityhub.BatchUpdateFindingsInput{
		FindingIdentifiers: []shtypes.AwsSecurityFindingIdentifier{
			{Id: aws.String(id), ProductArn: aws.String(guardDutyProduct)},
			{Id: aws.String("gone"), ProductArn: aws.String(guardDutyProduct)},
		},
		Workflow: &shtypes.WorkflowUpdate{Status: shtypes.WorkflowStatusResolved},
		Note:     &shtypes.NoteUpdate{Text: aws.String("contained by cordon run 42"), UpdatedBy: aws.String("cordon")},
	})
	if err != nil {
		t.Fatalf("BatchUpdateFindings: %v", err)
	}
	if len(upd.ProcessedFindings) != 1 || len(upd.UnprocessedFindings) != 1 || aws.ToString(upd.UnprocessedFindings[0].ErrorCode) != "FindingNotFound" {
		t.Fatalf("BatchUpdateFindings result %+v", upd)
	}
	resolved := get(&shtypes.AwsSecurityFindingFilters{WorkflowStatus: eq("RESOLVED")})
	if len(resolved) != 1 || aws.ToString(resolved[0].Note.Text) != "contained by cordon run 42" {
		t.Errorf("resolved findings: %+v", resolved)
	}
}

func TestSecurityHubDenied(t *testing.T) {
	emu := awsemu.NewTestServer(t, awsemu.Options{})
	emu.EnableSecurityHub("", "")
	emu.Deny(awsemu.AllPrincipals, "securityhub:GetFindings")
	_, err := securityhub.NewFromConfig(emu.AWSConfig()).GetFindings(context.Background(), &securityhub.GetFindingsInput{})
	if code := apiCode(t, err); code != "AccessDeniedException" || !strings.Contains(err.Error(), "securityhub:GetFindings") {
		t.Errorf("denied GetFindings: %v", err)
	}
	for _, bad := range []string{`{"Id":"x"}`, `{"ProductArn":"p"}`, `{"Id":"x","ProductArn":"p","Severity":"HIGH"}`} {
		if err := emu.PutSecurityHubFinding("", "", json.RawMessage(bad)); err == nil {
			t.Errorf("PutSecurityHubFinding(%s) accepted it", bad)
		}
	}
}
