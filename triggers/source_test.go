package triggers_test

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/cordon-ir/cordon/runbooks"
	"github.com/cordon-ir/cordon/triggers"
)

// What a source API answers is normalised as the event was: the intake
// acts on the fetched finding, so its key, target and fields must be the
// event's for the same finding.
func TestFetchedFindingsNormaliseAsTheirEvents(t *testing.T) {
	detail := func(file string) (json.RawMessage, []triggers.Finding) {
		var ev struct{ Detail json.RawMessage }
		if err := json.Unmarshal(fixture(t, file), &ev); err != nil {
			t.Fatal(err)
		}
		return ev.Detail, parse(t, file)
	}
	same := func(what string, got, want triggers.Finding) {
		t.Helper()
		want.EventID = "" // the delivery's, never the source's
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s:\n got  %+v\n want %+v", what, got, want)
		}
	}

	gd, fromEvent := detail("guardduty-ec2.json")
	f, err := triggers.ParseGuardDutyFinding(gd)
	if err != nil {
		t.Fatal(err)
	}
	same("GuardDuty", f, fromEvent[0])

	sh, fromEvent := detail("securityhub-guardduty.json")
	var findings struct{ Findings []json.RawMessage }
	if err := json.Unmarshal(sh, &findings); err != nil {
		t.Fatal(err)
	}
	f, err = triggers.ParseASFFFinding(findings.Findings[0])
	if err != nil {
		t.Fatal(err)
	}
	same("ASFF", f, fromEvent[0])

	abuse := parse(t, "health-abuse.json")
	api, err := triggers.ParseHealthEvent(triggers.HealthEvent{
		Arn: abuse[0].ID, Service: "ABUSE", EventTypeCode: abuse[0].EventTypeCode, Region: "global",
		StartTime:   time.Date(2024, 5, 1, 6, 27, 57, 0, time.UTC),
		Description: abuse[0].Description, Account: "123456789012",
		// The API may name an instance by its id where the event had its ARN.
		Entities: []string{"arn:aws:ec2:eu-west-1:123456789012:instance/i-0abc12345def67890", "i-0abc12345def67891"},
	})
	if err != nil || len(api) != 2 {
		t.Fatalf("Health: %+v, %v", api, err)
	}
	for i := range api {
		if api[i].Key != abuse[i].Key || api[i].InstanceID != abuse[i].InstanceID || api[i].FirstSeen != abuse[i].FirstSeen {
			t.Errorf("Health entity %d:\n got  %+v\n want %+v", i, api[i], abuse[i])
		}
	}
	closed, err := triggers.ParseHealthEvent(triggers.HealthEvent{Arn: abuse[0].ID, EventTypeCode: "X", StatusCode: "closed", Account: "123456789012"})
	if err != nil || len(closed) != 1 || !strings.Contains(closed[0].Drop, "closed") {
		t.Errorf("closed Health event: %+v, %v", closed, err)
	}
	if _, err := triggers.ParseHealthEvent(triggers.HealthEvent{Arn: abuse[0].ID}); err == nil {
		t.Error("a Health event without type code and account parsed")
	}
}

// The finding's account becomes the run's account input, by the name the
// worker configuration gives it, unless the trigger maps that input itself
// or the runbook has none.
func TestAccountNameFillsTheAccountInput(t *testing.T) {
	withAccount := compilePlan(t, `apiVersion: cordon.dev/v1
kind: Runbook
metadata: {name: with-account}
inputs:
  account: {type: string, default: production}
  instance_id: {type: string, required: true}
steps:
  - id: ev
    action: aws.ec2.describe_instance
    target: {account: "${{ inputs.account }}"}
    with: {instance_id: "${{ inputs.instance_id }}"}
triggers:
  - name: unmapped
    source: guardduty
    inputs: {instance_id: "${{ finding.instance_id }}"}
  - name: mapped
    source: guardduty
    inputs: {instance_id: "${{ finding.instance_id }}", account: staging}
`)
	// A fleet runbook without an account input.
	without := compilePlan(t, string(fixture(t, "runbook-fleet-storm.yaml")))
	names := map[string]string{"123456789012": "prod-eu"}
	rs := triggers.DecideFindingsWith([]*runbooks.Plan{withAccount, without}, parse(t, "guardduty-ec2.json"),
		triggers.Options{AccountName: func(id string) string { return names[id] }})
	got := map[string]map[string]any{}
	for _, d := range rs[0].Decisions {
		if d.Decision == triggers.Drop {
			t.Fatalf("%s dropped: %s", d.Trigger, d.Reason)
		}
		got[d.Trigger] = d.Inputs
	}
	if got["unmapped"]["account"] != "prod-eu" || got["mapped"]["account"] != "staging" {
		t.Errorf("account inputs: unmapped %v, mapped %v", got["unmapped"], got["mapped"])
	}
	if _, ok := got["storm"]["account"]; ok {
		t.Errorf("a runbook without an account input got one: %v", got["any"])
	}
	// Without the intake's mapping the input keeps its default.
	plain := triggers.DecideFindings([]*runbooks.Plan{withAccount}, parse(t, "guardduty-ec2.json"))
	if _, ok := plain[0].Decisions[0].Inputs["account"]; ok {
		t.Errorf("no mapping given, yet: %v", plain[0].Decisions[0].Inputs)
	}
}
