package workflows_test

import (
	"slices"
	"testing"

	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/temporal"

	"github.com/cordon-ir/cordon/workflows"
)

// The targets of a run are read from its inputs by the shape of AWS's ids
// (the report's rule for the host), plus the inputs a step passes whole to
// a user_name or role_name parameter.
func TestTargetsFromInputs(t *testing.T) {
	plan := compilePlan(t, `apiVersion: cordon.dev/v1
kind: Runbook
metadata:
  name: t
inputs:
  user: {type: string, required: true}
  role: {type: string, required: true}
  key: {type: string, required: true}
  hosts: {type: list, required: true}
  note: {type: string, default: i-notaninstance}
approvals:
  approvers: {groups: [csirt]}
steps:
  - id: revoke
    action: aws.iam.revoke_user_sessions
    approval: required
    with: {user_name: "${{ inputs.user }}"}
  - id: role
    action: aws.iam.revoke_role_sessions
    approval: required
    with: {role_name: "${{ inputs.role }}"}
`)
	inputs := map[string]any{"user": "mallory", "role": "web-role", "key": "AKIAEXAMPLEKEY01",
		"hosts": []any{"i-0abc", "i-0def"}, "note": "i-notaninstance"}
	got := workflows.Targets(plan, inputs)
	want := []string{"i-0abc", "i-0def", "AKIAEXAMPLEKEY01", "web-role", "mallory"}
	if !slices.Equal(got, want) {
		t.Errorf("targets %v, want %v", got, want)
	}
	if s := workflows.Summary("ec2-compromise", []string{"i-0abc"}, "INC-1", false); s != "runbook ec2-compromise on i-0abc (INC-1)" {
		t.Errorf("summary %q", s)
	}
}

// upserts records the search attribute upserts of a run.
func upserts(f *fixture) *[]temporal.SearchAttributes {
	var got []temporal.SearchAttributes
	f.env.OnUpsertTypedSearchAttributes(mock.Anything).Return(nil).Run(func(args mock.Arguments) {
		got = append(got, args.Get(0).(temporal.SearchAttributes))
	})
	return &got
}

// A run writes its search attributes (what it is, then how it ended) only
// when the worker confirmed the namespace has them registered.
func TestSearchAttributesOnlyWhenTheWorkerConfirmedThem(t *testing.T) {
	const src = head + "steps:\n  - id: evidence\n    action: aws.ec2.describe_instance\n    with: {instance_id: \"${{ inputs.instance_id }}\"}\n"
	inputs := map[string]any{"instance_id": "i-0123456789abcdef0"}
	t.Run("confirmed", func(t *testing.T) {
		f := newFixture(t)
		f.roster.SearchAttributes = true
		got := upserts(f)
		f.start(src, inputs, workflows.RunMeta{Incident: "INC-7"})
		f.wantResult(workflows.RunSucceeded)
		if len(*got) != 2 {
			t.Fatalf("%d upserts, want 2 (at the start, at the end)", len(*got))
		}
		first, last := (*got)[0], (*got)[1]
		if v, _ := first.GetKeyword(workflows.SearchOutcome); v != "running" {
			t.Errorf("outcome at the start %q", v)
		}
		if v, _ := first.GetKeyword(workflows.SearchRunbook); v != "t" {
			t.Errorf("runbook %q", v)
		}
		if v, _ := first.GetKeywordList(workflows.SearchTargets); !slices.Equal(v, []string{"i-0123456789abcdef0"}) {
			t.Errorf("targets %v", v)
		}
		if v, _ := first.GetKeyword(workflows.SearchIncident); v != "INC-7" {
			t.Errorf("incident %q", v)
		}
		if v, _ := first.GetKeyword(workflows.SearchRequester); v != "alice" {
			t.Errorf("requester %q", v)
		}
		if v, _ := last.GetKeyword(workflows.SearchOutcome); v != "succeeded" {
			t.Errorf("outcome at the end %q", v)
		}
	})
	t.Run("not confirmed", func(t *testing.T) {
		f := newFixture(t)
		got := upserts(f)
		f.start(src, inputs, workflows.RunMeta{})
		f.wantResult(workflows.RunSucceeded)
		if len(*got) != 0 {
			t.Errorf("%d upserts without the worker's confirmation", len(*got))
		}
	})
}
