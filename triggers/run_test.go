package triggers_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/cordon-ir/cordon/runbooks"
	"github.com/cordon-ir/cordon/triggers"
)

// The worker recomputes a triggered run's inputs from the findings as
// their sources hold them: what the intake decided for one finding, the
// aggregate's list of a batch's items, the account's configured name; and
// it refuses a run whose findings the trigger does not act on, or too many.
func TestRunInputs(t *testing.T) {
	examples := examplePlans(t)
	ec2 := examples[0]
	single := &ec2.Triggers[0]
	a := parse(t, "guardduty-ec2.json")[0]
	named := triggers.Options{AccountName: func(string) string { return "production" }}

	got, err := triggers.RunInputs(ec2, single, []triggers.Finding{a}, named)
	want := triggers.DecideFindingsWith([]*runbooks.Plan{ec2}, []triggers.Finding{a}, named)[0].Decisions[0].Inputs
	if err != nil || canonicalJSON(t, got) != canonicalJSON(t, want) || got["account"] != "production" {
		t.Fatalf("one finding: %v %v, the intake's decision %v", got, err, want)
	}
	if _, err := triggers.RunInputs(ec2, single, []triggers.Finding{a, a}, named); err == nil || !strings.Contains(err.Error(), "at most 1 finding") {
		t.Errorf("two findings for a trigger that starts a run per finding: %v", err)
	}
	low := parse(t, "guardduty-ec2-low.json")[0]
	if _, err := triggers.RunInputs(ec2, single, []triggers.Finding{low}, named); err == nil || !strings.Contains(err.Error(), "does not act on finding") {
		t.Errorf("a finding below the trigger's severity: %v", err)
	}
	archived := a
	archived.Drop = "an archived finding"
	if _, err := triggers.RunInputs(ec2, single, []triggers.Finding{archived}, named); err == nil || !strings.Contains(err.Error(), "never acted on") {
		t.Errorf("an archived finding: %v", err)
	}

	fleet := compilePlan(t, string(fixture(t, "runbook-fleet-storm.yaml")))
	storm := &fleet.Triggers[0]
	b := a
	b.InstanceID, b.ID, b.Key = "i-0fedcba9876543210", "another", "another-key"
	again := a
	again.ID, again.Key = "same-host", "same-host-key"
	got, err = triggers.RunInputs(fleet, storm, []triggers.Finding{a, b, again}, triggers.Options{})
	if err != nil || canonicalJSON(t, got["hosts"]) != `["`+a.InstanceID+`","i-0fedcba9876543210"]` || got["region"] != a.Region {
		t.Fatalf("a batch: %v %v", got, err)
	}
	elsewhere := b
	elsewhere.Region = "us-west-2"
	if _, err := triggers.RunInputs(fleet, storm, []triggers.Finding{a, elsewhere}, triggers.Options{}); err == nil || !strings.Contains(err.Error(), "different inputs") {
		t.Errorf("findings that never share a run: %v", err)
	}
	// Several findings about one host are common; a bound holds all the
	// same (max_targets 3, so 15 findings).
	var over []triggers.Finding
	for range triggers.MaxFindings(storm) + 1 {
		over = append(over, again)
	}
	if _, err := triggers.RunInputs(fleet, storm, over, triggers.Options{}); err == nil || triggers.MaxFindings(storm) != 15 {
		t.Errorf("more findings than the batch's bound (%d): %v", triggers.MaxFindings(storm), err)
	}
}

// CheckInputs names the input the findings decide otherwise, with both
// values; what the trigger does not set may only be the plan's default;
// a batch's list is taken in any order.
func TestCheckInputs(t *testing.T) {
	fleet := compilePlan(t, string(fixture(t, "runbook-fleet-storm.yaml")))
	storm := &fleet.Triggers[0]
	want := map[string]any{"hosts": []any{"i-01", "i-02"}, "region": "us-east-1"}
	for _, c := range []struct {
		name  string
		given map[string]any
		err   string
	}{
		{"the same, in another order, with the default of an input the trigger does not set", map[string]any{"hosts": []any{"i-02", "i-01"}, "region": "us-east-1", "final_action": "none"}, ""},
		{"an input the trigger does not set, off its default", map[string]any{"hosts": []any{"i-01", "i-02"}, "region": "us-east-1", "final_action": "stop"},
			`input final_action is "stop", which trigger storm does not set: only the plan's default ("none") may stand there`},
		{"an input the plan does not declare", map[string]any{"hosts": []any{"i-01", "i-02"}, "region": "us-east-1", "extra": 1}, "input extra is 1, which trigger storm does not set"},
		{"another host", map[string]any{"hosts": []any{"i-01", "i-09"}, "region": "us-east-1"}, `input hosts is ["i-01","i-09"]; the findings give ["i-01","i-02"]`},
		{"one more host", map[string]any{"hosts": []any{"i-01", "i-02", "i-03"}, "region": "us-east-1"}, "input hosts"},
		{"a host twice", map[string]any{"hosts": []any{"i-01", "i-02", "i-02"}, "region": "us-east-1"}, "input hosts"},
		{"another region", map[string]any{"hosts": []any{"i-01", "i-02"}, "region": "eu-west-1"}, `input region is "eu-west-1"; the findings give "us-east-1"`},
		{"a missing input", map[string]any{"hosts": []any{"i-01", "i-02"}}, "input region is not given"},
		{"not a list", map[string]any{"hosts": "i-01,i-02", "region": "us-east-1"}, "input hosts"},
	} {
		err := triggers.CheckInputs(fleet, storm, want, c.given)
		if (c.err == "") != (err == nil) || err != nil && !strings.Contains(err.Error(), c.err) {
			t.Errorf("%s: %v, want %q", c.name, err, c.err)
		}
	}
	// A number read back from a workflow's history (float64) is the int
	// a finding gave.
	if err := triggers.CheckInputs(fleet, storm, map[string]any{"count": 3}, map[string]any{"count": float64(3)}); err != nil {
		t.Errorf("a number from history: %v", err)
	}
}

func canonicalJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
