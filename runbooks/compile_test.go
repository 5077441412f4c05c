package runbooks_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/cordon-ir/cordon/actions"
	"github.com/cordon-ir/cordon/runbooks"
)

// header is the first four lines of every test runbook, so case positions
// start at line 5.
const header = `apiVersion: cordon.dev/v1
kind: Runbook
metadata:
  name: t
`

// approvers gives test runbooks a default gate policy (lines 5–8).
const approvers = `approvals:
  approvers:
    groups: [csirt]
  min_approvals: 1
`

func compile(t *testing.T, src string) (*runbooks.Plan, runbooks.Diagnostics) {
	t.Helper()
	c := runbooks.NewCompiler(actions.Catalog(), nil)
	return c.Compile("t.yaml", []byte(src))
}

// oneStep is a test runbook of one step: its id on line 6, its action on
// line 7, then lines, each indented under the step, from line 8 on.
func oneStep(id, action string, lines ...string) string {
	return header + "steps:\n" + step(id, action, lines...)
}

// step is one item of a steps: list: its id, its action, then lines, each
// indented under the step.
func step(id, action string, lines ...string) string {
	var b strings.Builder
	b.WriteString("  - id: " + id + "\n    action: " + action + "\n")
	for _, l := range lines {
		b.WriteString("    " + l + "\n")
	}
	return b.String()
}

// The actions and with: lines the compile-error cases share.
const (
	actDescribe  = "aws.ec2.describe_instance"
	actStop      = "aws.ec2.stop_instance"
	actNotify    = "slack.notify"
	actSnapshot  = "aws.ec2.snapshot_volumes"
	instanceWith = "with: {instance_id: i-0123456789abcdef0}"
	notifyWith   = "with: {message: hi}"
	// notifyStep follows an inputs: block.
	notifyStep = "steps:\n  - id: n\n    action: slack.notify\n    " + notifyWith + "\n"
	// intInput declares inputs.n (lines 5–6) and opens the steps: list.
	intInput = "inputs:\n  n: {type: int, default: 1}\nsteps:\n"
)

type wantDiag struct {
	code runbooks.Code
	line int
	col  int
}

func TestCompileErrors(t *testing.T) {
	cases := []struct {
		name string
		src  string
		want []wantDiag
	}{
		{"unknown action with suggestion", oneStep("ev", "aws.ec2.describe_instanc", instanceWith),
			[]wantDiag{{runbooks.CodeUnknownAction, 7, 13}}},
		{"unknown field in a step", oneStep("ev", actDescribe, "whn: true", instanceWith),
			[]wantDiag{{runbooks.CodeUnknownField, 8, 5}}},
		{"unknown top-level field", header + "step:\n  - id: ev\n",
			[]wantDiag{{runbooks.CodeMissingField, 1, 1}, {runbooks.CodeUnknownField, 5, 1}}},
		{"duplicate step id", oneStep("ev", actDescribe, instanceWith) + step("ev", actDescribe, instanceWith),
			[]wantDiag{{runbooks.CodeDuplicateStep, 9, 9}}},
		{"missing required param", oneStep("ev", actDescribe),
			[]wantDiag{{runbooks.CodeMissingParam, 6, 5}}},
		{"unknown param", oneStep("ev", actDescribe, "with:", "  instance_id: i-0123456789abcdef0", "  instance: x"),
			[]wantDiag{{runbooks.CodeUnknownParam, 10, 7}}},
		{"literal that can never match the param pattern", oneStep("ev", actDescribe, "with:", "  instance_id: i-XYZ"),
			[]wantDiag{{runbooks.CodeBadValue, 9, 20}}},
		{"wrong literal type", oneStep("iso", "aws.ec2.isolate_instance", "approval: none", "justification: test",
			"with:", "  instance_id: i-0123456789abcdef0", `  two_phase: "yes"`),
			[]wantDiag{{runbooks.CodeTypeMismatch, 12, 18}}},
		{"destructive step without gate", oneStep("stop", actStop, instanceWith),
			[]wantDiag{{runbooks.CodeMissingApproval, 7, 13}}},
		{"approval none on destructive step needs justification", oneStep("stop", actStop, "approval: none", instanceWith),
			[]wantDiag{{runbooks.CodeMissingJustify, 8, 5}}},
		{"gate without approvers", oneStep("stop", actStop, "approval: required", instanceWith),
			[]wantDiag{{runbooks.CodeMissingApprovers, 8, 5}}},
		{"four-eyes that can never be met", oneStep("stop", actStop, "approval:", "  approvers: {people: [alice]}", "  min_approvals: 2", instanceWith),
			[]wantDiag{{runbooks.CodeBadValue, 8, 5}}},
		{"escalate without target", header + approvers + "steps:\n" + step("stop", actStop, "approval:", "  on_timeout: escalate", instanceWith),
			[]wantDiag{{runbooks.CodeMissingApprovers, 12, 5}}},
		{"reference to an undeclared input", header + "inputs:\n  instance_id: {type: string, required: true}\nsteps:\n" +
			step("ev", actDescribe, "with:", "  instance_id: ${{ inputs.instanceid }}"),
			[]wantDiag{{runbooks.CodeBadReference, 11, 24}}},
		{"reference to a later step", oneStep("ev", actDescribe, "when: steps.snap.outputs.snapshot_ids != nil", instanceWith) +
			step("snap", actSnapshot, instanceWith),
			[]wantDiag{{runbooks.CodeBadReference, 8, 11}}},
		{"reference to an unknown output", oneStep("ev", actDescribe, instanceWith) +
			step("snap", actSnapshot, `when: steps.ev.outputs.vpc != ""`, instanceWith),
			[]wantDiag{{runbooks.CodeBadReference, 11, 11}}},
		{"reference to an unknown step", oneStep("ev", actDescribe, `when: steps.nope.status == "succeeded"`, instanceWith),
			[]wantDiag{{runbooks.CodeBadReference, 8, 11}}},
		{"when must be bool", oneStep("ev", actDescribe, "when: run.id", instanceWith),
			[]wantDiag{{runbooks.CodeTypeMismatch, 8, 11}}},
		{"expression type does not fit the param", header + intInput + step("ev", actDescribe, "with:", "  instance_id: ${{ inputs.n }}"),
			[]wantDiag{{runbooks.CodeTypeMismatch, 11, 24}}},
		{"mismatched operand types", header + intInput + step("ev", actDescribe, `when: inputs.n == "one"`, instanceWith),
			[]wantDiag{{runbooks.CodeTypeMismatch, 10, 20}}},
		{"clock functions are forbidden", oneStep("ev", actDescribe, "when: now().Year() > 2000", instanceWith),
			[]wantDiag{{runbooks.CodeForbiddenFunc, 8, 11}}},
		{"item outside foreach", oneStep("ev", actDescribe, "with:", "  instance_id: ${{ item }}"),
			[]wantDiag{{runbooks.CodeBadReference, 9, 24}}},
		{"text around an expression where a list is expected", oneStep("tag", "aws.ec2.tag", "with:", `  resource_ids: "ids ${{ run.id }}"`, "  tags: {a: b}"),
			[]wantDiag{{runbooks.CodeTypeMismatch, 9, 21}}},
		{"unterminated interpolation", oneStep("n", actNotify, "with:", `  message: "run ${{ run.id"`),
			[]wantDiag{{runbooks.CodeBadExpression, 9, 16}}},
		{"syntax error inside an expression", oneStep("ev", actDescribe, "when: run.dry_run &&", instanceWith),
			[]wantDiag{{runbooks.CodeBadExpression, 8, 24}}}, // where the parser ran out
		{"input default that can never match its pattern", header + `inputs:
  instance_id:
    type: string
    pattern: ^i-[0-9a-f]{8,17}$
    default: web-1
` + notifyStep,
			[]wantDiag{{runbooks.CodeBadValue, 9, 14}}},
		{"enum value that can never match the pattern", header + `inputs:
  mode:
    type: string
    pattern: ^[a-z]+$
    enum: [stop, Terminate]
` + notifyStep,
			[]wantDiag{{runbooks.CodeBadPattern, 9, 18}}},
		{"invalid input pattern", header + `inputs:
  id:
    type: string
    pattern: "^i-[0-9"
` + notifyStep,
			[]wantDiag{{runbooks.CodeBadPattern, 8, 14}}},
		{"wrong input type name", header + `inputs:
  id:
    type: str
` + notifyStep,
			[]wantDiag{{runbooks.CodeBadValue, 7, 11}}},
		{"list where a mapping belongs", header + "inputs:\n  - id\n" + notifyStep,
			[]wantDiag{{runbooks.CodeWrongShape, 6, 3}}},
		{"step id that is not an identifier", oneStep("take-snapshot", actNotify, notifyWith),
			[]wantDiag{{runbooks.CodeBadValue, 6, 9}}},
		{"both action and uses", oneStep("n", actNotify, "uses: other", notifyWith),
			[]wantDiag{{runbooks.CodeWrongShape, 8, 11}}},
		{"max_concurrency without foreach", oneStep("n", actNotify, "max_concurrency: 3", notifyWith),
			[]wantDiag{{runbooks.CodeBadValue, 8, 5}}},
		{"foreach over a non-list", oneStep("n", actNotify, "foreach: ${{ run.id }}", notifyWith),
			[]wantDiag{{runbooks.CodeTypeMismatch, 8, 18}}},
		{"bad duration", oneStep("n", actNotify, "timeout: 5 minutes", notifyWith),
			[]wantDiag{{runbooks.CodeTypeMismatch, 8, 14}}},
		{"bad phase", oneStep("n", actNotify, "phase: containmnet", notifyWith),
			[]wantDiag{{runbooks.CodeBadValue, 8, 12}}},
		{"uses without a resolver", header + "steps:\n  - id: c\n    uses: ec2-compromise\n",
			[]wantDiag{{runbooks.CodeUnknownRunbook, 7, 11}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) { wantErrors(t, tc.src, tc.want) })
	}
}

// wantErrors compiles src and checks it fails with exactly the
// diagnostics want (code, line, column), each with a clear summary.
func wantErrors(t *testing.T, src string, want []wantDiag) {
	t.Helper()
	plan, diags := compile(t, src)
	if plan != nil {
		t.Fatalf("compiled, want errors %v", want)
	}
	var got []wantDiag
	for _, d := range diags {
		got = append(got, wantDiag{d.Code, d.Pos.Line, d.Pos.Column})
	}
	if !slices.Equal(got, want) {
		t.Errorf("diagnostics:\n got %v\nwant %v\n%s", got, want, diags.Error())
	}
	for _, d := range diags {
		if d.Summary == "" || strings.Contains(d.Summary, "%!") {
			t.Errorf("diagnostic without a clear summary: %#v", d)
		}
	}
}

// A runbook with several mistakes reports every one, in file order.
func TestCompileReportsEveryError(t *testing.T) {
	_, diags := compile(t, header+`steps:
  - id: a
    action: aws.ec2.nope
  - id: b
    action: aws.ec2.stop_instance
    with: {instance_id: i-0123456789abcdef0}
  - id: c
    action: slack.notify
    with: {mesage: hi}
`)
	codes := codesOf(diags)
	want := []runbooks.Code{runbooks.CodeUnknownAction, runbooks.CodeMissingApproval, runbooks.CodeMissingParam, runbooks.CodeUnknownParam}
	if len(codes) != len(want) {
		t.Fatalf("codes %v, want %v\n%s", codes, want, diags.Error())
	}
	for i := range want {
		if codes[i] != want[i] {
			t.Fatalf("codes %v, want %v", codes, want)
		}
	}
}
