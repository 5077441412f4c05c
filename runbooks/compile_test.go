package runbooks_test

import (
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
		{
			name: "unknown action with suggestion",
			src: header + `steps:
  - id: ev
    action: aws.ec2.describe_instanc
    with: {instance_id: i-0123456789abcdef0}
`,
			want: []wantDiag{{runbooks.CodeUnknownAction, 7, 13}},
		},
		{
			name: "unknown field in a step",
			src: header + `steps:
  - id: ev
    action: aws.ec2.describe_instance
    whn: true
    with: {instance_id: i-0123456789abcdef0}
`,
			want: []wantDiag{{runbooks.CodeUnknownField, 8, 5}},
		},
		{
			name: "unknown top-level field",
			src: header + `step:
  - id: ev
`,
			want: []wantDiag{{runbooks.CodeMissingField, 1, 1}, {runbooks.CodeUnknownField, 5, 1}},
		},
		{
			name: "duplicate step id",
			src: header + `steps:
  - id: ev
    action: aws.ec2.describe_instance
    with: {instance_id: i-0123456789abcdef0}
  - id: ev
    action: aws.ec2.describe_instance
    with: {instance_id: i-0123456789abcdef0}
`,
			want: []wantDiag{{runbooks.CodeDuplicateStep, 9, 9}},
		},
		{
			name: "missing required param",
			src: header + `steps:
  - id: ev
    action: aws.ec2.describe_instance
`,
			want: []wantDiag{{runbooks.CodeMissingParam, 6, 5}},
		},
		{
			name: "unknown param",
			src: header + `steps:
  - id: ev
    action: aws.ec2.describe_instance
    with:
      instance_id: i-0123456789abcdef0
      instance: x
`,
			want: []wantDiag{{runbooks.CodeUnknownParam, 10, 7}},
		},
		{
			name: "literal that can never match the param pattern",
			src: header + `steps:
  - id: ev
    action: aws.ec2.describe_instance
    with:
      instance_id: i-XYZ
`,
			want: []wantDiag{{runbooks.CodeBadValue, 9, 20}},
		},
		{
			name: "wrong literal type",
			src: header + `steps:
  - id: iso
    action: aws.ec2.isolate_instance
    approval: none
    justification: test
    with:
      instance_id: i-0123456789abcdef0
      two_phase: "yes"
`,
			want: []wantDiag{{runbooks.CodeTypeMismatch, 12, 18}},
		},
		{
			name: "destructive step without gate",
			src: header + `steps:
  - id: stop
    action: aws.ec2.stop_instance
    with: {instance_id: i-0123456789abcdef0}
`,
			want: []wantDiag{{runbooks.CodeMissingApproval, 7, 13}},
		},
		{
			name: "approval none on destructive step needs justification",
			src: header + `steps:
  - id: stop
    action: aws.ec2.stop_instance
    approval: none
    with: {instance_id: i-0123456789abcdef0}
`,
			want: []wantDiag{{runbooks.CodeMissingJustify, 8, 5}},
		},
		{
			name: "gate without approvers",
			src: header + `steps:
  - id: stop
    action: aws.ec2.stop_instance
    approval: required
    with: {instance_id: i-0123456789abcdef0}
`,
			want: []wantDiag{{runbooks.CodeMissingApprovers, 8, 5}},
		},
		{
			name: "four-eyes that can never be met",
			src: header + `steps:
  - id: stop
    action: aws.ec2.stop_instance
    approval:
      approvers: {people: [alice]}
      min_approvals: 2
    with: {instance_id: i-0123456789abcdef0}
`,
			want: []wantDiag{{runbooks.CodeBadValue, 8, 5}},
		},
		{
			name: "escalate without target",
			src: header + approvers + `steps:
  - id: stop
    action: aws.ec2.stop_instance
    approval:
      on_timeout: escalate
    with: {instance_id: i-0123456789abcdef0}
`,
			want: []wantDiag{{runbooks.CodeMissingApprovers, 12, 5}},
		},
		{
			name: "reference to an undeclared input",
			src: header + `inputs:
  instance_id: {type: string, required: true}
steps:
  - id: ev
    action: aws.ec2.describe_instance
    with:
      instance_id: ${{ inputs.instanceid }}
`,
			want: []wantDiag{{runbooks.CodeBadReference, 11, 24}},
		},
		{
			name: "reference to a later step",
			src: header + `steps:
  - id: ev
    action: aws.ec2.describe_instance
    when: steps.snap.outputs.snapshot_ids != nil
    with: {instance_id: i-0123456789abcdef0}
  - id: snap
    action: aws.ec2.snapshot_volumes
    with: {instance_id: i-0123456789abcdef0}
`,
			want: []wantDiag{{runbooks.CodeBadReference, 8, 11}},
		},
		{
			name: "reference to an unknown output",
			src: header + `steps:
  - id: ev
    action: aws.ec2.describe_instance
    with: {instance_id: i-0123456789abcdef0}
  - id: snap
    action: aws.ec2.snapshot_volumes
    when: steps.ev.outputs.vpc != ""
    with: {instance_id: i-0123456789abcdef0}
`,
			want: []wantDiag{{runbooks.CodeBadReference, 11, 11}},
		},
		{
			name: "reference to an unknown step",
			src: header + `steps:
  - id: ev
    action: aws.ec2.describe_instance
    when: steps.nope.status == "succeeded"
    with: {instance_id: i-0123456789abcdef0}
`,
			want: []wantDiag{{runbooks.CodeBadReference, 8, 11}},
		},
		{
			name: "when must be bool",
			src: header + `steps:
  - id: ev
    action: aws.ec2.describe_instance
    when: run.id
    with: {instance_id: i-0123456789abcdef0}
`,
			want: []wantDiag{{runbooks.CodeTypeMismatch, 8, 11}},
		},
		{
			name: "expression type does not fit the param",
			src: header + `inputs:
  n: {type: int, default: 1}
steps:
  - id: ev
    action: aws.ec2.describe_instance
    with:
      instance_id: ${{ inputs.n }}
`,
			want: []wantDiag{{runbooks.CodeTypeMismatch, 11, 24}},
		},
		{
			name: "mismatched operand types",
			src: header + `inputs:
  n: {type: int, default: 1}
steps:
  - id: ev
    action: aws.ec2.describe_instance
    when: inputs.n == "one"
    with: {instance_id: i-0123456789abcdef0}
`,
			want: []wantDiag{{runbooks.CodeTypeMismatch, 10, 20}},
		},
		{
			name: "clock functions are forbidden",
			src: header + `steps:
  - id: ev
    action: aws.ec2.describe_instance
    when: now().Year() > 2000
    with: {instance_id: i-0123456789abcdef0}
`,
			want: []wantDiag{{runbooks.CodeForbiddenFunc, 8, 11}},
		},
		{
			name: "item outside foreach",
			src: header + `steps:
  - id: ev
    action: aws.ec2.describe_instance
    with:
      instance_id: ${{ item }}
`,
			want: []wantDiag{{runbooks.CodeBadReference, 9, 24}},
		},
		{
			name: "text around an expression where a list is expected",
			src: header + `steps:
  - id: tag
    action: aws.ec2.tag
    with:
      resource_ids: "ids ${{ run.id }}"
      tags: {a: b}
`,
			want: []wantDiag{{runbooks.CodeTypeMismatch, 9, 21}},
		},
		{
			name: "unterminated interpolation",
			src: header + `steps:
  - id: n
    action: slack.notify
    with:
      message: "run ${{ run.id"
`,
			want: []wantDiag{{runbooks.CodeBadExpression, 9, 16}},
		},
		{
			name: "syntax error inside an expression",
			src: header + `steps:
  - id: ev
    action: aws.ec2.describe_instance
    when: run.dry_run &&
    with: {instance_id: i-0123456789abcdef0}
`,
			want: []wantDiag{{runbooks.CodeBadExpression, 8, 24}}, // where the parser ran out
		},
		{
			name: "input default that can never match its pattern",
			src: header + `inputs:
  instance_id:
    type: string
    pattern: ^i-[0-9a-f]{8,17}$
    default: web-1
steps:
  - id: n
    action: slack.notify
    with: {message: hi}
`,
			want: []wantDiag{{runbooks.CodeBadValue, 9, 14}},
		},
		{
			name: "enum value that can never match the pattern",
			src: header + `inputs:
  mode:
    type: string
    pattern: ^[a-z]+$
    enum: [stop, Terminate]
steps:
  - id: n
    action: slack.notify
    with: {message: hi}
`,
			want: []wantDiag{{runbooks.CodeBadPattern, 9, 18}},
		},
		{
			name: "invalid input pattern",
			src: header + `inputs:
  id:
    type: string
    pattern: "^i-[0-9"
steps:
  - id: n
    action: slack.notify
    with: {message: hi}
`,
			want: []wantDiag{{runbooks.CodeBadPattern, 8, 14}},
		},
		{
			name: "wrong input type name",
			src: header + `inputs:
  id:
    type: str
steps:
  - id: n
    action: slack.notify
    with: {message: hi}
`,
			want: []wantDiag{{runbooks.CodeBadValue, 7, 11}},
		},
		{
			name: "list where a mapping belongs",
			src: header + `inputs:
  - id
steps:
  - id: n
    action: slack.notify
    with: {message: hi}
`,
			want: []wantDiag{{runbooks.CodeWrongShape, 6, 3}},
		},
		{
			name: "step id that is not an identifier",
			src: header + `steps:
  - id: take-snapshot
    action: slack.notify
    with: {message: hi}
`,
			want: []wantDiag{{runbooks.CodeBadValue, 6, 9}},
		},
		{
			name: "both action and uses",
			src: header + `steps:
  - id: n
    action: slack.notify
    uses: other
    with: {message: hi}
`,
			want: []wantDiag{{runbooks.CodeWrongShape, 8, 11}},
		},
		{
			name: "max_concurrency without foreach",
			src: header + `steps:
  - id: n
    action: slack.notify
    max_concurrency: 3
    with: {message: hi}
`,
			want: []wantDiag{{runbooks.CodeBadValue, 8, 5}},
		},
		{
			name: "foreach over a non-list",
			src: header + `steps:
  - id: n
    action: slack.notify
    foreach: ${{ run.id }}
    with: {message: hi}
`,
			want: []wantDiag{{runbooks.CodeTypeMismatch, 8, 18}},
		},
		{
			name: "bad duration",
			src: header + `steps:
  - id: n
    action: slack.notify
    timeout: 5 minutes
    with: {message: hi}
`,
			want: []wantDiag{{runbooks.CodeTypeMismatch, 8, 14}},
		},
		{
			name: "bad phase",
			src: header + `steps:
  - id: n
    action: slack.notify
    phase: containmnet
    with: {message: hi}
`,
			want: []wantDiag{{runbooks.CodeBadValue, 8, 12}},
		},
		{
			name: "uses without a resolver",
			src: header + `steps:
  - id: c
    uses: ec2-compromise
`,
			want: []wantDiag{{runbooks.CodeUnknownRunbook, 7, 11}},
		},
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
	if !equalDiags(got, want) {
		t.Errorf("diagnostics:\n got %v\nwant %v\n%s", got, want, diags.Error())
	}
	for _, d := range diags {
		if d.Summary == "" || strings.Contains(d.Summary, "%!") {
			t.Errorf("diagnostic without a clear summary: %#v", d)
		}
	}
}

func equalDiags(a, b []wantDiag) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
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
	var codes []runbooks.Code
	for _, d := range diags {
		codes = append(codes, d.Code)
	}
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
