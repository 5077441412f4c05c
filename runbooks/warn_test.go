package runbooks_test

import (
	"testing"

	"github.com/cordon-ir/cordon/actions"
	"github.com/cordon-ir/cordon/runbooks"
)

// An input no expression reads is a warning at its line and column: the
// runbook still compiles, and inputs read through inputs.x or
// inputs["x"], in any expression, count as read.
func TestUnusedInputIsAWarning(t *testing.T) {
	src := `apiVersion: cordon.dev/v1
kind: Runbook
metadata:
  name: w
inputs:
  instance_id: {type: string, required: true}
  reason: {type: string, default: none}
  region: {type: string, default: eu-west-1}
  quiet: {type: bool, default: false}
target:
  region: "${{ inputs.region }}"
steps:
  - id: tag
    action: aws.ec2.tag
    when: '!inputs["quiet"]'
    with: {resource_ids: ["${{ inputs.instance_id }}"], tags: {a: b}}
`
	plan, diags := runbooks.NewCompiler(actions.Catalog(), nil).Compile("w.yaml", []byte(src))
	if plan == nil {
		t.Fatalf("a warning blocked compilation: %v", diags)
	}
	if len(diags) != 1 {
		t.Fatalf("diagnostics %v, want one warning about reason", diags)
	}
	d := diags[0]
	if d.Severity != runbooks.Warning || d.Code != runbooks.CodeUnusedInput || d.Pos.Line != 7 || d.Pos.Column != 3 {
		t.Errorf("got %+v", d)
	}
}
