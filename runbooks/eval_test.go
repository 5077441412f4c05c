package runbooks_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/cordon-ir/cordon/runbooks"
)

// Values at run time come from workflow history (numbers as float64); the
// evaluator must give what the compile-time types promised.
func TestEvaluateStepAsTheWorkflowDoes(t *testing.T) {
	plan := mustCompile(t, header+`inputs:
  ids: {type: list, default: []}
  n: {type: int, default: 2}
steps:
  - id: ev
    action: aws.ec2.describe_instance
    with: {instance_id: i-0123456789abcdef0}
  - id: tag
    action: aws.ec2.tag
    when: len(steps.ev.outputs.volume_ids) >= inputs.n
    target: {account: "prod-${{ run.incident }}", region: eu-west-1}
    with:
      resource_ids: ${{ concat(inputs.ids, steps.ev.outputs.volume_ids) }}
      tags: {cordon:run: "${{ run.id }}", count: "${{ inputs.n }} volumes"}
    outputs:
      first: result.previous
`)
	st, _ := plan.Step("tag")
	vals := &runbooks.Values{
		Inputs: map[string]any{"ids": []any{"i-1"}, "n": 2.0},
		Steps: map[string]runbooks.StepValues{"ev": {Status: "succeeded", Outputs: map[string]any{
			"volume_ids": []any{"vol-1", "vol-2"}}}},
		Run: runbooks.RunInfo{ID: "run-9", Incident: "INC-1", StartedAt: time.Unix(0, 0)},
	}
	ev := runbooks.NewEvaluator()
	ok, err := ev.Bool(*st.When, vals)
	if err != nil || !ok {
		t.Fatalf("when = %v, %v", ok, err)
	}
	params, err := ev.Params(st, vals)
	if err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(params["resource_ids"], params["tags"]); got != "[i-1 vol-1 vol-2] map[cordon:run:run-9 count:2 volumes]" {
		t.Errorf("params %s", got)
	}
	account, region, err := ev.Target(st.Target, vals)
	if err != nil || account != "prod-INC-1" || region != "eu-west-1" {
		t.Errorf("target %q %q %v", account, region, err)
	}
	out, err := ev.StepOutputs(st, map[string]any{"previous": map[string]any{"i-1": map[string]any{}}}, vals)
	if err != nil || out["first"] == nil || out["previous"] == nil {
		t.Errorf("outputs %v %v", out, err)
	}
}
