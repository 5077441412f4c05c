// Package detections writes the findings the demo and the bench start
// from, as AWS holds and sends them: a GuardDuty finding about an
// instance and an AWS Health abuse notice naming instances, stored in the
// emulator's GuardDuty and Health (where the intake fetches them again
// before acting) and returned as the EventBridge events a rule delivers to
// the intake's queue. It holds no rules: what a finding does is package
// triggers' and the intake's to decide.
package detections

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/cordon-ir/cordon/internal/awsemu"
)

// GuardDuty is a GuardDuty finding about an EC2 instance.
type GuardDuty struct {
	Instance string
	// Type is the finding type, e.g. Recon:EC2/Portscan.
	Type string
	// Severity is GuardDuty's score (1.0 to 10.0).
	Severity float64
	// Count is how often GuardDuty saw the activity.
	Count int
	// FirstSeen is when the activity was first seen; the finding is
	// updated at Now.
	FirstSeen, Now time.Time
}

// PutGuardDuty stores f in the emulator's GuardDuty (its account and
// region) and returns its "GuardDuty Finding" event.
func PutGuardDuty(emu *awsemu.Emulator, f GuardDuty) ([]byte, error) {
	account, region := emu.AccountID(), emu.Region()
	sum := sha256.Sum256([]byte(f.Type + "/" + f.Instance))
	title := fmt.Sprintf("%s on EC2 instance %s.", f.Type, f.Instance)
	detail := map[string]any{
		"schemaVersion": "2.0", "accountId": account, "region": region, "partition": "aws", "id": hex.EncodeToString(sum[:16]),
		"type": f.Type, "severity": f.Severity, "title": title, "description": title,
		"createdAt": rfc3339(f.FirstSeen), "updatedAt": rfc3339(f.Now),
		"resource": map[string]any{"resourceType": "Instance", "instanceDetails": map[string]any{"instanceId": f.Instance}},
		"service": map[string]any{"serviceName": "guardduty", "archived": false, "count": max(f.Count, 1),
			"eventFirstSeen": rfc3339(f.FirstSeen), "eventLastSeen": rfc3339(f.Now), "additionalInfo": map[string]any{"sample": false}},
	}
	return put("GuardDuty Finding", "aws.guardduty", account, region, detail, func(raw json.RawMessage) error {
		_, err := emu.PutGuardDutyFinding(account, region, raw)
		return err
	})
}

// Abuse is an AWS Health abuse notice naming instances.
type Abuse struct {
	// TypeCode is the event type, e.g. AWS_ABUSE_EC2_PORT_SCANNING_REPORT.
	TypeCode    string
	Description string
	Instances   []string
	Start       time.Time
}

// PutAbuse stores the notice in the emulator's AWS Health (its account)
// and returns its "AWS Health Abuse Event".
func PutAbuse(emu *awsemu.Emulator, a Abuse) ([]byte, error) {
	account, region := emu.AccountID(), emu.Region()
	arn := fmt.Sprintf("arn:aws:health:global::event/ABUSE/%s/%s_%d", a.TypeCode, a.TypeCode, a.Start.Unix())
	entities := make([]map[string]string, 0, len(a.Instances))
	for _, id := range a.Instances {
		entities = append(entities, map[string]string{"entityValue": fmt.Sprintf("arn:aws:ec2:%s:%s:instance/%s", region, account, id)})
	}
	detail := map[string]any{
		"eventArn": arn, "service": "ABUSE", "eventTypeCode": a.TypeCode, "eventTypeCategory": "issue",
		"eventScopeCode": "ACCOUNT_SPECIFIC", "statusCode": "open", "eventRegion": region,
		"startTime": a.Start.UTC().Format(http.TimeFormat), "lastUpdatedTime": a.Start.UTC().Format(http.TimeFormat),
		"eventDescription": []map[string]string{{"language": "en_US", "latestDescription": a.Description}},
		"affectedEntities": entities,
	}
	return put("AWS Health Abuse Event", "aws.health", account, "global", detail, func(raw json.RawMessage) error {
		return emu.PutHealthEvent(account, raw, nil)
	})
}

// put stores detail with its source and returns the EventBridge event
// that carries it, with an id of its own.
func put(detailType, source, account, region string, detail map[string]any, store func(json.RawMessage) error) ([]byte, error) {
	raw, err := json.Marshal(detail)
	if err == nil {
		err = store(raw)
	}
	if err != nil {
		return nil, fmt.Errorf("seed the %s: %w", detailType, err)
	}
	sum := sha256.Sum256(raw)
	id := hex.EncodeToString(sum[:16])
	return json.Marshal(map[string]any{"version": "0", "id": id[:8] + "-" + id[8:12] + "-" + id[12:16] + "-" + id[16:20] + "-" + id[20:],
		"detail-type": detailType, "source": source, "account": account, "time": time.Now().UTC().Format(time.RFC3339),
		"region": region, "resources": []string{}, "detail": json.RawMessage(raw)})
}

func rfc3339(t time.Time) string { return t.UTC().Truncate(time.Second).Format(time.RFC3339) }
