package runbooks_test

import (
	"strings"
	"testing"
	"time"

	"github.com/cordon-ir/cordon/actions"
	"github.com/cordon-ir/cordon/runbooks"
)

// FuzzExpression puts hostile expressions where runbooks put them (a
// when: condition and a ${{ }} parameter) and, when they type-check,
// evaluates them the way the workflow does. Neither step may panic or
// run away: expressions are evaluated inside the workflow.
//
//	go test ./runbooks -run '^$' -fuzz FuzzExpression -fuzztime 10m
func FuzzExpression(f *testing.F) {
	for _, seed := range []string{
		`inputs.ids[0] == "i-1"`, `len(steps.ev.outputs.volume_ids) > 0`, `1..1000000 | count(# > 0) > 0`,
		`filter(inputs.ids, # matches "^i-")[0] != ""`, `run.started_at > run.started_at - duration("1h")`,
		`"x" + string(inputs.n) == "x3"`, `inputs.ids[-1] == ""`, `toJSON(inputs)`, `now() > 0`, `{a: 1}.a == 1`,
		`let x = inputs.n; x * x > 1`, `steps.ev.outputs.tags["Env"] == "demo"`, `int("nope") > 0`,
	} {
		f.Add(seed)
	}
	compiler := runbooks.NewCompiler(actions.Catalog(), nil)
	f.Fuzz(func(t *testing.T, expr string) {
		if strings.ContainsAny(expr, "\n\r") || len(expr) > 2000 {
			return // one-line expressions, as runbooks hold them
		}
		quoted := strings.ReplaceAll(expr, `'`, `''`)
		src := `apiVersion: cordon.dev/v1
kind: Runbook
metadata:
  name: fuzz
inputs:
  ids: {type: list, default: [i-1, i-2]}
  n: {type: int, default: 3}
steps:
  - id: ev
    action: aws.ec2.describe_instance
    with: {instance_id: i-0123456789abcdef0}
  - id: n
    action: slack.notify
    when: '` + quoted + `'
    with: {message: '${{ ` + strings.ReplaceAll(quoted, "}}", "} }") + ` }}'}
`
		plan, diags := compiler.Compile("fuzz.yaml", []byte(src))
		if plan == nil {
			if !diags.HasErrors() {
				t.Fatal("no plan and no error")
			}
			return
		}
		st, _ := plan.Step("n")
		vals := &runbooks.Values{
			Inputs: map[string]any{"ids": []any{"i-1", "i-2"}, "n": 3.0},
			Steps: map[string]runbooks.StepValues{"ev": {Status: "succeeded", Outputs: map[string]any{
				"volume_ids": []any{"vol-1"}, "tags": map[string]any{"Env": "demo"}}}},
			Run: runbooks.RunInfo{ID: "r", StartedAt: time.Unix(0, 0)},
		}
		done := make(chan struct{})
		go func() {
			defer close(done)
			ev := runbooks.NewEvaluator()
			if st.When != nil {
				_, _ = ev.Bool(*st.When, vals)
			}
			_, _ = ev.Value(st.With["message"], vals)
		}()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Fatalf("evaluating %q did not finish in 5s", expr)
		}
	})
}
