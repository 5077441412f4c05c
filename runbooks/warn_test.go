package runbooks_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/cordon-ir/cordon/runbooks"
)

// warnHead starts the runbooks of the warning tests, up to their inputs.
func warnHead(name string) string {
	return runbookNamed(name, "inputs:\n  instance_id: {type: string, required: true}\n")
}

// An input no expression reads is a warning at its line and column: the
// runbook still compiles, and inputs read through inputs.x or
// inputs["x"], in any expression, count as read.
func TestUnusedInputIsAWarning(t *testing.T) {
	src := warnHead("w") + `  reason: {type: string, default: none}
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
	diags := compileWithWarnings(t, src)
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
	head := warnHead("w") + "steps:\n"
	stop := `  - id: stop
    action: aws.ec2.stop_instance
    approval: {approvers: {groups: [csirt]}}
    with: {instance_id: "${{ inputs.instance_id }}"%s}
`
	diags := compileWithWarnings(t, head+fmt.Sprintf(stop, ""))
	if len(diags) != 1 || diags[0].Code != runbooks.CodeMemoryNotCaptured || diags[0].Severity != runbooks.Warning ||
		diags[0].Pos != (runbooks.Pos{Line: 9, Column: 13}) || !strings.Contains(diags[0].Error(), "aws.ssm.capture_memory") {
		t.Errorf("a stop with no capture: %v", diags)
	}
	if diags := compileWithWarnings(t, head+fmt.Sprintf(stop, ", hibernate: true")); len(diags) != 0 {
		t.Errorf("a hibernating stop: %v", diags)
	}
	capture := `  - id: memory
    action: aws.ssm.capture_memory
    continue_on_error: true
    with: {instance_id: "${{ inputs.instance_id }}", tool_url: "https://tools.example/avml", tool_sha256: "` + strings.Repeat("a", 64) + `"}
`
	if diags := compileWithWarnings(t, head+capture+fmt.Sprintf(stop, "")); len(diags) != 0 {
		t.Errorf("a stop after the capture: %v", diags)
	}
	// A capture after the stop is too late.
	if diags := compileWithWarnings(t, head+fmt.Sprintf(stop, "")+capture); len(diags) != 1 || diags[0].Code != runbooks.CodeMemoryNotCaptured {
		t.Errorf("a capture after the stop: %v", diags)
	}
	// A runbook used before the stop captures memory for it.
	dir := writeRunbooks(t, map[string]string{
		"capture.yaml": warnHead("capture") + "steps:\n" + capture,
		"w.yaml":       head + "  - id: evidence\n    uses: capture\n    with: {instance_id: \"${{ inputs.instance_id }}\"}\n" + fmt.Sprintf(stop, ""),
	})
	plan, diags := compileIn(t, dir, "w.yaml")
	if plan == nil || len(diags) != 0 {
		t.Errorf("a stop after a runbook that captures: %v", diags)
	}
}

// compileWithWarnings compiles src, which must compile: warnings do not
// block a plan.
func compileWithWarnings(t *testing.T, src string) runbooks.Diagnostics {
	t.Helper()
	plan, diags := compile(t, src)
	if plan == nil {
		t.Fatalf("a warning blocked compilation: %v", diags)
	}
	return diags
}
