package actions_test

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cordon-ir/cordon/actions"
	"github.com/cordon-ir/cordon/internal/awsemu"
)

// The stolen key of the CloudTrail tests, and the instance it was taken
// from.
const (
	stolenKey       = "AKIASTOLENKEY0000042"
	trailInstanceID = "i-0123456789abcdef0"
)

// seedAttack adds to the default account's history what the attacker
// did with the stolen key an hour ago, in two regions and from two
// addresses, one call refused; and a responder's call on the instance.
func seedAttack(t *testing.T, h *harness) time.Time {
	t.Helper()
	at := time.Now().UTC().Add(-time.Hour).Truncate(time.Second)
	add := func(region string, minutes int, ev awsemu.CloudTrailEvent) {
		t.Helper()
		ev.EventTime = at.Add(time.Duration(minutes) * time.Minute)
		if err := h.emu.AddCloudTrailEvent("", region, ev); err != nil {
			t.Fatal(err)
		}
	}
	stolen := awsemu.CloudTrailEvent{AccessKeyID: stolenKey, Username: "app", UserARN: "arn:aws:iam::" + h.emu.AccountID() + ":user/app"}
	with := func(name, source, ip string, resources ...awsemu.CallResource) awsemu.CloudTrailEvent {
		ev := stolen
		ev.EventName, ev.EventSource, ev.SourceIPAddress, ev.Resources = name, source, ip, resources
		return ev
	}
	add("", 0, with("ListBuckets", "s3.amazonaws.com", "203.0.113.7"))
	add("", 1, with("DescribeInstances", "ec2.amazonaws.com", "203.0.113.7", awsemu.CallResource{Type: "AWS::EC2::Instance", Name: trailInstanceID}))
	add("", 2, with("DescribeInstances", "ec2.amazonaws.com", "198.51.100.23"))
	failed := with("CreateUser", "iam.amazonaws.com", "198.51.100.23", awsemu.CallResource{Type: "AWS::IAM::User", Name: "backdoor"})
	failed.ErrorCode = "AccessDenied"
	add("", 3, failed)
	add("eu-west-1", 4, with("RunInstances", "ec2.amazonaws.com", "198.51.100.23"))
	// The responder's own look at the instance, with another key.
	add("", 30, awsemu.CloudTrailEvent{EventName: "StopInstances", EventSource: "ec2.amazonaws.com", AccessKeyID: "ASIARESPONDER0000001",
		Username: "cordon-run-1", SourceIPAddress: "10.0.0.5", Resources: []awsemu.CallResource{{Type: "AWS::EC2::Instance", Name: trailInstanceID}}})
	return at
}

// A key's activity in both regions, summarised in the outputs; a lookup
// by instance as well merges the events that name it, each once.
func TestLookupEventsOfAStolenKey(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	at := seedAttack(t, h)
	res := h.execute("aws.cloudtrail.lookup_events", map[string]any{
		"access_key_id": stolenKey, "regions": []any{h.emu.Region(), "eu-west-1"},
	})
	out := res.Outputs
	wantCounts := map[string]any{"ListBuckets": float64(1), "DescribeInstances": float64(2), "CreateUser": float64(1), "RunInstances": float64(1)}
	if !maps.Equal(out["event_counts"].(map[string]any), wantCounts) || out["event_count"] != float64(5) || out["error_count"] != float64(1) {
		t.Errorf("counts %v, %v events, %v failed", out["event_counts"], out["event_count"], out["error_count"])
	}
	for name, want := range map[string][]any{
		"regions":        {"eu-west-1", h.emu.Region()},
		"source_ips":     {"198.51.100.23", "203.0.113.7"},
		"resources":      {"AWS::EC2::Instance " + trailInstanceID, "AWS::IAM::User backdoor"},
		"access_key_ids": {stolenKey},
	} {
		if got := out[name].([]any); !slices.Equal(got, want) {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
	if out["first_event_time"] != at.Format(time.RFC3339) || out["last_event_time"] != at.Add(4*time.Minute).Format(time.RFC3339) || out["truncated"] != false {
		t.Errorf("first %v last %v truncated %v", out["first_event_time"], out["last_event_time"], out["truncated"])
	}
	assertOutputsMatchSpec(t, "aws.cloudtrail.lookup_events", res)
	h.assertDeclared("aws.cloudtrail.lookup_events")

	both := h.execute("aws.cloudtrail.lookup_events", map[string]any{"access_key_id": stolenKey, "instance_id": trailInstanceID})
	// Four of the key's events in this region, and the responder's stop:
	// the DescribeInstances that both lookups find is there once.
	if both.Outputs["event_count"] != float64(5) || both.Outputs["event_counts"].(map[string]any)["StopInstances"] != float64(1) {
		t.Errorf("key and instance: %v events, %v", both.Outputs["event_count"], both.Outputs["event_counts"])
	}
}

// The window and max_events bound what is read; what max_events left out
// is said. The extract's hash is of its bytes, stable for the same events.
func TestLookupEventsWindowAndBound(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	at := seedAttack(t, h)
	for i := range 60 {
		ev := awsemu.CloudTrailEvent{EventName: fmt.Sprintf("GetObject%02d", i), EventSource: "s3.amazonaws.com", AccessKeyID: stolenKey,
			EventTime: at.Add(10*time.Minute + time.Duration(i)*time.Second)}
		if err := h.emu.AddCloudTrailEvent("", "", ev); err != nil {
			t.Fatal(err)
		}
	}
	window := map[string]any{"access_key_id": stolenKey,
		"start_time": at.Add(time.Minute).Format(time.RFC3339), "end_time": at.Add(3 * time.Minute).Format(time.RFC3339)}
	res := h.execute("aws.cloudtrail.lookup_events", window)
	if res.Outputs["event_count"] != float64(3) {
		t.Errorf("window: %v events, want the three between minutes 1 and 3", res.Outputs["event_count"])
	}
	again := h.execute("aws.cloudtrail.lookup_events", window)
	if again.Outputs["sha256"] != res.Outputs["sha256"] || res.Outputs["bytes"].(float64) < 100 {
		t.Errorf("the same events hash %v then %v (%v bytes)", res.Outputs["sha256"], again.Outputs["sha256"], res.Outputs["bytes"])
	}
	bounded := h.execute("aws.cloudtrail.lookup_events", map[string]any{"access_key_id": stolenKey, "max_events": 55})
	if bounded.Outputs["event_count"] != float64(55) || bounded.Outputs["truncated"] != true || !hasNote(bounded.Notes, "more than 55 events") {
		t.Errorf("bounded: %v events, truncated %v, notes %q", bounded.Outputs["event_count"], bounded.Outputs["truncated"], bounded.Notes)
	}
	old := h.execute("aws.cloudtrail.lookup_events", map[string]any{"access_key_id": stolenKey, "start_time": "2020-01-01T00:00:00Z"})
	if !hasNote(old.Notes, "the event history keeps 90 days") || old.Outputs["start_time"] == "2020-01-01T00:00:00Z" || old.Outputs["event_count"] != float64(64) {
		t.Errorf("a window older than the history: start %v, %v events, notes %q", old.Outputs["start_time"], old.Outputs["event_count"], old.Notes)
	}
	all := h.execute("aws.cloudtrail.lookup_events", map[string]any{"access_key_id": stolenKey})
	if all.Outputs["event_count"] != float64(64) || all.Outputs["truncated"] != false {
		t.Errorf("all: %v events (two pages and more), truncated %v", all.Outputs["event_count"], all.Outputs["truncated"])
	}
}

// Bad lookups fail at once, saying what to give; a denied LookupEvents
// names the permission.
func TestLookupEventsRefusals(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	for _, c := range []struct {
		params map[string]any
		says   string
	}{
		{map[string]any{}, "give access_key_id, username or instance_id"},
		{map[string]any{"username": "app", "lookback_hours": 3000}, "lookback_hours 3000"},
		{map[string]any{"username": "app", "start_time": "2026-01-02T00:00:00Z", "end_time": "2026-01-01T00:00:00Z"}, "is not before end_time"},
	} {
		_, err := h.run(actions.Execute, "aws.cloudtrail.lookup_events", c.params)
		if !permanentFailure(err, actions.ErrBadParams, c.says) {
			t.Errorf("%v: err = %v, want it to say %q", c.params, err, c.says)
		}
	}
	h.emu.Deny(awsemu.AllPrincipals, "cloudtrail:LookupEvents")
	_, err := h.run(actions.Execute, "aws.cloudtrail.lookup_events", map[string]any{"username": "app"})
	if !permanentFailure(err, actions.ErrAccessDenied, "add cloudtrail:LookupEvents") {
		t.Errorf("denied: %v", err)
	}
}

// With an evidence store, the extract is an artefact of the case whose
// hash is the output's; a preview stores nothing.
func TestLookupEventsExtractIsEvidence(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.withEvidenceStore(lockedBucket())
	seedAttack(t, h)
	params := map[string]any{"access_key_id": stolenKey}
	preview := h.preview("aws.cloudtrail.lookup_events", params)
	if preview.Outputs["object_key"] != "" || !hasNote(preview.Notes, "a real run stores the cloudtrail") {
		t.Errorf("preview: outputs %v, notes %q", preview.Outputs, preview.Notes)
	}
	res := h.execute("aws.cloudtrail.lookup_events", params)
	m := manifestOf(t, h)
	if len(m.Artefacts) != 1 {
		t.Fatalf("manifest %+v", m.Artefacts)
	}
	a := m.Artefacts[0]
	if a.Kind != "cloudtrail" || a.Subject != stolenKey || a.SHA256 != res.Outputs["sha256"] || a.Key != res.Outputs["object_key"] ||
		a.VersionID != res.Outputs["version_id"] || a.Size != int64(res.Outputs["bytes"].(float64)) {
		t.Errorf("artefact %+v, outputs %v", a, res.Outputs)
	}
	obj, ok := h.emu.S3Object(evidenceBucket, a.Key, a.VersionID)
	if !ok || !strings.Contains(string(obj.Body), `"CreateUser"`) || !strings.Contains(string(obj.Body), `"sourceIPAddress": "198.51.100.23"`) {
		t.Errorf("the stored extract lacks the events as CloudTrail recorded them: %s", obj.Body)
	}
	h.assertDeclared("aws.cloudtrail.lookup_events")
}
