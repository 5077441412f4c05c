package awsemu_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/guardduty"
	gdtypes "github.com/aws/aws-sdk-go-v2/service/guardduty/types"

	"github.com/cordon-ir/cordon/internal/awsemu"
)

// gdFinding is the detail of a "GuardDuty Finding" EventBridge event, which
// is also GuardDuty's API shape.
const gdFinding = `{
  "schemaVersion": "2.0",
  "accountId": "123456789012",
  "region": "us-east-1",
  "partition": "aws",
  "id": "5ac1f0b1d2e3f4a5b6c7d8e9f0a1b2c3",
  "arn": "arn:aws:guardduty:us-east-1:123456789012:detector/0cc1f0b1d2e3f4a5b6c7d8e9f0a1b2c3/finding/5ac1f0b1d2e3f4a5b6c7d8e9f0a1b2c3",
  "type": "CryptoCurrency:EC2/BitcoinTool.B!DNS",
  "resource": {
    "resourceType": "Instance",
    "instanceDetails": {
      "instanceId": "i-0123456789abcdef0",
      "instanceType": "m5.large",
      "networkInterfaces": [{"networkInterfaceId": "eni-0123456789abcdef0", "privateIpAddress": "10.0.1.17"}],
      "tags": [{"key": "App", "value": "confluence"}]
    }
  },
  "service": {
    "serviceName": "guardduty",
    "detectorId": "0cc1f0b1d2e3f4a5b6c7d8e9f0a1b2c3",
    "action": {"actionType": "DNS_REQUEST", "dnsRequestAction": {"domain": "pool.minexmr.com", "protocol": "UDP", "blocked": false}},
    "resourceRole": "TARGET",
    "eventFirstSeen": "2026-11-26T09:58:12.000Z",
    "eventLastSeen": "2026-11-26T10:01:40.000Z",
    "archived": false,
    "count": 3
  },
  "severity": 8,
  "createdAt": "2026-11-26T09:59:01.000Z",
  "updatedAt": "2026-11-26T10:02:00.000Z",
  "title": "The EC2 instance i-0123456789abcdef0 is querying a domain name that is associated with Bitcoin-related activity.",
  "description": "The EC2 instance i-0123456789abcdef0 is querying a domain name that is associated with Bitcoin-related activity."
}`

func TestGuardDutyGetFindings(t *testing.T) {
	emu := awsemu.NewTestServer(t, awsemu.Options{})
	detector, err := emu.PutGuardDutyFinding("", "", json.RawMessage(gdFinding))
	if err != nil {
		t.Fatal(err)
	}
	if detector != "0cc1f0b1d2e3f4a5b6c7d8e9f0a1b2c3" {
		t.Fatalf("detector %s is not the one the finding names", detector)
	}
	// A finding without the fields GuardDuty always sets gets them.
	if _, err := emu.PutGuardDutyFinding("", "", json.RawMessage(`{"id":"f2","type":"Recon:EC2/PortProbeUnprotectedPort","severity":2}`)); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	client := guardduty.NewFromConfig(fastRetries(emu.AWSConfig(), 1))

	dets, err := client.ListDetectors(ctx, &guardduty.ListDetectorsInput{})
	if err != nil || len(dets.DetectorIds) != 1 || dets.DetectorIds[0] != detector {
		t.Fatalf("ListDetectors: %v %+v", err, dets)
	}
	got, err := client.GetFindings(ctx, &guardduty.GetFindingsInput{DetectorId: &detector,
		FindingIds: []string{"5ac1f0b1d2e3f4a5b6c7d8e9f0a1b2c3", "ffffffffffffffffffffffffffffffff", "f2"}})
	if err != nil {
		t.Fatalf("GetFindings: %v", err)
	}
	if len(got.Findings) != 2 {
		t.Fatalf("want the 2 known findings and nothing for the unknown id, got %d", len(got.Findings))
	}
	f := got.Findings[0]
	if aws.ToString(f.Id) != "5ac1f0b1d2e3f4a5b6c7d8e9f0a1b2c3" || aws.ToString(f.Type) != "CryptoCurrency:EC2/BitcoinTool.B!DNS" ||
		aws.ToFloat64(f.Severity) != 8 || aws.ToString(f.Resource.InstanceDetails.InstanceId) != "i-0123456789abcdef0" ||
		aws.ToBool(f.Service.Archived) || aws.ToInt32(f.Service.Count) != 3 ||
		aws.ToString(f.Service.Action.DnsRequestAction.Domain) != "pool.minexmr.com" {
		t.Errorf("finding as the SDK decoded it: %+v", f)
	}
	filled := got.Findings[1]
	if aws.ToString(filled.AccountId) != awsemu.DefaultAccountID || aws.ToString(filled.Region) != "us-east-1" ||
		aws.ToString(filled.Service.DetectorId) != detector || aws.ToString(filled.CreatedAt) == "" ||
		!strings.HasSuffix(aws.ToString(filled.Arn), "/finding/f2") {
		t.Errorf("defaults of a sparse finding: %+v", filled)
	}

	list, err := client.ListFindings(ctx, &guardduty.ListFindingsInput{DetectorId: &detector,
		FindingCriteria: &gdtypes.FindingCriteria{Criterion: map[string]gdtypes.Condition{
			"service.archived": {Equals: []string{"false"}},
			"severity":         {GreaterThanOrEqual: aws.Int64(7)},
		}}})
	if err != nil || len(list.FindingIds) != 1 || list.FindingIds[0] != "5ac1f0b1d2e3f4a5b6c7d8e9f0a1b2c3" {
		t.Fatalf("ListFindings of active high-severity findings: %v %+v", err, list)
	}
	if _, err := client.ArchiveFindings(ctx, &guardduty.ArchiveFindingsInput{DetectorId: &detector, FindingIds: list.FindingIds}); err != nil {
		t.Fatalf("ArchiveFindings: %v", err)
	}
	again, err := client.GetFindings(ctx, &guardduty.GetFindingsInput{DetectorId: &detector, FindingIds: list.FindingIds})
	if err != nil || len(again.Findings) != 1 || !aws.ToBool(again.Findings[0].Service.Archived) {
		t.Fatalf("archived finding: %v %+v", err, again)
	}
	active, err := client.ListFindings(ctx, &guardduty.ListFindingsInput{DetectorId: &detector,
		FindingCriteria: &gdtypes.FindingCriteria{Criterion: map[string]gdtypes.Condition{"service.archived": {Equals: []string{"false"}}}}})
	if err != nil || len(active.FindingIds) != 1 || active.FindingIds[0] != "f2" {
		t.Fatalf("active findings after archiving: %v %+v", err, active)
	}

	// State is per account: another account's detector is not the
	// caller's to read.
	theirs, err := emu.PutGuardDutyFinding("210987654321", "", json.RawMessage(`{"id":"f3"}`))
	if err != nil {
		t.Fatal(err)
	}
	_, err = client.GetFindings(ctx, &guardduty.GetFindingsInput{DetectorId: &theirs, FindingIds: []string{"f3"}})
	var bad *gdtypes.BadRequestException
	if !errors.As(err, &bad) {
		t.Errorf("another account's detector: %v", err)
	}
	west := emu.AWSConfig()
	west.Region = "us-west-2"
	if dets, err := guardduty.NewFromConfig(west).ListDetectors(ctx, &guardduty.ListDetectorsInput{}); err != nil || len(dets.DetectorIds) != 0 {
		t.Errorf("detectors in another region: %v %+v", err, dets)
	}
	if !emu.Mutations()[0].Mutating || emu.Mutations()[0].IAMAction != "guardduty:ArchiveFindings" {
		t.Errorf("mutations %+v", emu.Mutations())
	}
}

func TestGuardDutySeedRejectsBadFindings(t *testing.T) {
	emu := awsemu.NewTestServer(t, awsemu.Options{})
	for _, bad := range []string{`[]`, `{"type":"x"}`, `{"id":"a","severity":"high"}`, `{"id":"a","service":[]}`, `{"id":"a"} {}`, `null`} {
		if _, err := emu.PutGuardDutyFinding("", "", json.RawMessage(bad)); err == nil {
			t.Errorf("PutGuardDutyFinding(%s) accepted it", bad)
		}
	}
	if _, err := emu.PutGuardDutyFinding("", "", json.RawMessage(`{"id":"a"}`)); err != nil {
		t.Fatal(err)
	}
	if _, err := emu.PutGuardDutyFinding("", "", json.RawMessage(`{"id":"b","service":{"detectorId":"ffff"}}`)); err == nil {
		t.Error("a finding naming another detector of the same account and region was accepted")
	}
}

func TestGuardDutyDeniedAndThrottled(t *testing.T) {
	emu := awsemu.NewTestServer(t, awsemu.Options{})
	detector, err := emu.PutGuardDutyFinding("", "", json.RawMessage(gdFinding))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	client := guardduty.NewFromConfig(fastRetries(emu.AWSConfig(), 1))
	emu.Deny(awsemu.AllPrincipals, "guardduty:GetFindings")
	_, err = client.GetFindings(ctx, &guardduty.GetFindingsInput{DetectorId: &detector, FindingIds: []string{"x"}})
	var denied *gdtypes.AccessDeniedException
	if !errors.As(err, &denied) || !strings.Contains(err.Error(), "guardduty:GetFindings") {
		t.Errorf("denied GetFindings: %v", err)
	}
	emu.ResetFaults()
	emu.SetThrottling(awsemu.Throttle{NonMutating: awsemu.Bucket{Capacity: 1}})
	if _, err := client.ListDetectors(ctx, &guardduty.ListDetectorsInput{}); err != nil {
		t.Fatal(err)
	}
	_, err = client.ListDetectors(ctx, &guardduty.ListDetectorsInput{})
	if code := apiCode(t, err); code != "ThrottlingException" {
		t.Errorf("throttled ListDetectors: %v", err)
	}
}
