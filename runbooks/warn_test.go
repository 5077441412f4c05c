package runbooks_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cordon-ir/cordon/actions"
	"github.com/cordon-ir/cordon/runbooks"
)

// warnHead starts the runbooks of the warning tests, up to their inputs.
const warnHead = `apiVersion: cordon.dev/v1
kind: Runbook
metadata:
  name: w
inputs:
  instance_id: {type: string, required: true}
`

// An input no expression reads is a warning at its line and column: the
// runbook still compiles, and inputs read through inputs.x or
// inputs["x"], in any expression, count as read.
func TestUnusedInputIsAWarning(t *testing.T) {
	src := warnHead + `  reason: {type: string, default: none}
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

// Stopping or terminating an instance destroys its memory: with no memory
// capture before it, the step gets a warning at its action naming the
// step to add; a stop that hibernates keeps memory, and a capture before
// the stop answers the warning.
func TestStopWithoutMemoryCaptureIsAWarning(t *testing.T) {
	head := warnHead + "steps:\n"
	stop := `  - id: stop
    action: aws.ec2.stop_instance
    approval: {approvers: {groups: [csirt]}}
    with: {instance_id: "${{ inputs.instance_id }}"%s}
`
	compile := func(src string) runbooks.Diagnostics {
		t.Helper()
		plan, diags := runbooks.NewCompiler(actions.Catalog(), nil).Compile("w.yaml", []byte(src))
		if plan == nil {
			t.Fatalf("did not compile: %v", diags)
		}
		return diags
	}
	diags := compile(head + fmt.Sprintf(stop, ""))
	if len(diags) != 1 || diags[0].Code != runbooks.CodeMemoryNotCaptured || diags[0].Severity != runbooks.Warning ||
		diags[0].Pos != (runbooks.Pos{Line: 9, Column: 13}) || !strings.Contains(diags[0].Error(), "aws.ssm.capture_memory") {
		t.Errorf("a stop with no capture: %v", diags)
	}
	if diags := compile(head + fmt.Sprintf(stop, ", hibernate: true")); len(diags) != 0 {
		t.Errorf("a hibernating stop: %v", diags)
	}
	capture := `  - id: memory
    action: aws.ssm.capture_memory
    continue_on_error: true
    with: {instance_id: "${{ inputs.instance_id }}", tool_url: "https://tools.example/avml", tool_sha256: "` + strings.Repeat("a", 64) + `"}
`
	if diags := compile(head + capture + fmt.Sprintf(stop, "")); len(diags) != 0 {
		t.Errorf("a stop after the capture: %v", diags)
	}
	// A capture after the stop is too late.
	if diags := compile(head + fmt.Sprintf(stop, "") + capture); len(diags) != 1 || diags[0].Code != runbooks.CodeMemoryNotCaptured {
		t.Errorf("a capture after the stop: %v", diags)
	}
	// A runbook used before the stop captures memory for it.
	dir := writeRunbooks(t, map[string]string{
		"capture.yaml": strings.Replace(warnHead, "name: w", "name: capture", 1) + "steps:\n" + capture,
		"w.yaml":       head + "  - id: evidence\n    uses: capture\n    with: {instance_id: \"${{ inputs.instance_id }}\"}\n" + fmt.Sprintf(stop, ""),
	})
	src, err := os.ReadFile(filepath.Join(dir, "w.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	plan, diags := runbooks.NewCompiler(actions.Catalog(), runbooks.NewDirResolver()).Compile(filepath.Join(dir, "w.yaml"), src)
	if plan == nil || len(diags) != 0 {
		t.Errorf("a stop after a runbook that captures: %v", diags)
	}
}
