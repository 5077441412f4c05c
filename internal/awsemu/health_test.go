package awsemu_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/health"
	healthtypes "github.com/aws/aws-sdk-go-v2/service/health/types"

	"github.com/cordon-ir/cordon/internal/awsemu"
)

const healthARN = "arn:aws:health:us-east-1::event/EC2/AWS_EC2_INSTANCE_STORE_DRIVE_PERFORMANCE_DEGRADED/AWS_EC2_INSTANCE_STORE_DRIVE_PERFORMANCE_DEGRADED_1a2b3c"

// healthDetail is the detail of an "AWS Health Event" EventBridge event,
// with its times in RFC 1123 as events carry them.
const healthDetail = `{
  "eventArn": "` + healthARN + `",
  "service": "EC2",
  "eventScopeCode": "ACCOUNT_SPECIFIC",
  "communicationId": "1a2b3c4d",
  "lastUpdatedTime": "Thu, 26 Nov 2026 10:06:05 GMT",
  "statusCode": "open",
  "eventRegion": "us-east-1",
  "eventTypeCode": "AWS_EC2_INSTANCE_STORE_DRIVE_PERFORMANCE_DEGRADED",
  "eventTypeCategory": "issue",
  "startTime": "Thu, 26 Nov 2026 10:05:00 GMT",
  "eventDescription": [{"language": "en_US", "latestDescription": "The instance store drive of your instance is degraded."}],
  "affectedEntities": [{"entityValue": "i-0123456789abcdef0", "status": "IMPAIRED"}, {"entityValue": "i-0fedcba9876543210"}],
  "affectedAccount": "123456789012"
}`

func TestHealthDescribeEventDetailsAndEntities(t *testing.T) {
	emu := awsemu.NewTestServer(t, awsemu.Options{})
	if err := emu.PutHealthEvent("", json.RawMessage(healthDetail), nil); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	client := health.NewFromConfig(fastRetries(emu.AWSConfig(), 1))
	missing := "arn:aws:health:us-east-1::event/EC2/AWS_EC2_OPERATIONAL_ISSUE/AWS_EC2_OPERATIONAL_ISSUE_nope"
	out, err := client.DescribeEventDetails(ctx, &health.DescribeEventDetailsInput{EventArns: []string{healthARN, missing}})
	if err != nil {
		t.Fatalf("DescribeEventDetails: %v", err)
	}
	if len(out.SuccessfulSet) != 1 || len(out.FailedSet) != 1 {
		t.Fatalf("successful %d, failed %d", len(out.SuccessfulSet), len(out.FailedSet))
	}
	ev := out.SuccessfulSet[0].Event
	start := time.Date(2026, 11, 26, 10, 5, 0, 0, time.UTC)
	if aws.ToString(ev.Arn) != healthARN || aws.ToString(ev.EventTypeCode) != "AWS_EC2_INSTANCE_STORE_DRIVE_PERFORMANCE_DEGRADED" ||
		ev.EventTypeCategory != healthtypes.EventTypeCategoryIssue || ev.StatusCode != healthtypes.EventStatusCodeOpen ||
		ev.EventScopeCode != healthtypes.EventScopeCodeAccountSpecific || !aws.ToTime(ev.StartTime).Equal(start) ||
		!aws.ToTime(ev.LastUpdatedTime).Equal(start.Add(65*time.Second)) || ev.EndTime != nil {
		t.Errorf("event as the SDK decoded it: %+v", ev)
	}
	if d := aws.ToString(out.SuccessfulSet[0].EventDescription.LatestDescription); !strings.Contains(d, "degraded") {
		t.Errorf("description %q", d)
	}
	if f := out.FailedSet[0]; aws.ToString(f.EventArn) != missing || aws.ToString(f.ErrorName) == "" || aws.ToString(f.ErrorMessage) == "" {
		t.Errorf("failed set %+v", f)
	}

	ents, err := client.DescribeAffectedEntities(ctx, &health.DescribeAffectedEntitiesInput{Filter: &healthtypes.EntityFilter{EventArns: []string{healthARN, missing}}})
	if err != nil {
		t.Fatalf("DescribeAffectedEntities: %v", err)
	}
	if len(ents.Entities) != 2 || aws.ToString(ents.Entities[0].EntityValue) != "i-0123456789abcdef0" ||
		ents.Entities[0].StatusCode != healthtypes.EntityStatusCodeImpaired || aws.ToString(ents.Entities[0].AwsAccountId) != awsemu.DefaultAccountID ||
		aws.ToString(ents.Entities[0].EventArn) != healthARN || aws.ToString(ents.Entities[0].EntityArn) == "" {
		t.Fatalf("entities %+v", ents.Entities)
	}
	impaired, err := client.DescribeAffectedEntities(ctx, &health.DescribeAffectedEntitiesInput{Filter: &healthtypes.EntityFilter{
		EventArns: []string{healthARN}, StatusCodes: []healthtypes.EntityStatusCode{healthtypes.EntityStatusCodeImpaired}}})
	if err != nil || len(impaired.Entities) != 1 {
		t.Fatalf("impaired entities: %v %+v", err, impaired)
	}

	// Health is global: a client of another region sees the same events.
	west := emu.AWSConfig()
	west.Region = "eu-west-1"
	if out, err := health.NewFromConfig(west).DescribeEventDetails(ctx, &health.DescribeEventDetailsInput{EventArns: []string{healthARN}}); err != nil || len(out.SuccessfulSet) != 1 {
		t.Errorf("from another region: %v %+v", err, out)
	}
	_, err = client.DescribeEventDetails(ctx, &health.DescribeEventDetailsInput{EventArns: make([]string, 11)})
	if code := apiCode(t, err); code != "ValidationException" {
		t.Errorf("11 ARNs: %v", err)
	}

	emu.Deny(awsemu.AllPrincipals, "health:DescribeEventDetails")
	_, err = client.DescribeEventDetails(ctx, &health.DescribeEventDetailsInput{EventArns: []string{healthARN}})
	if code := apiCode(t, err); code != "AccessDeniedException" || !strings.Contains(err.Error(), "health:DescribeEventDetails") {
		t.Errorf("denied: %v", err)
	}
}

func TestHealthSeedEntitiesAndBadEvents(t *testing.T) {
	emu := awsemu.NewTestServer(t, awsemu.Options{})
	if err := emu.PutHealthEvent("", json.RawMessage(healthDetail), []string{"vol-0123"}); err != nil {
		t.Fatal(err)
	}
	ents, err := health.NewFromConfig(emu.AWSConfig()).DescribeAffectedEntities(context.Background(),
		&health.DescribeAffectedEntitiesInput{Filter: &healthtypes.EntityFilter{EventArns: []string{healthARN}}})
	if err != nil || len(ents.Entities) != 1 || aws.ToString(ents.Entities[0].EntityValue) != "vol-0123" {
		t.Fatalf("entities given to PutHealthEvent: %v %+v", err, ents)
	}
	for _, bad := range []string{`{}`, `{"eventArn":"arn:x","startTime":"yesterday"}`, `{"eventArn":"arn:x","affectedEntities":[{}]}`, `[1]`} {
		if err := emu.PutHealthEvent("", json.RawMessage(bad), nil); err == nil {
			t.Errorf("PutHealthEvent(%s) accepted it", bad)
		}
	}
}
