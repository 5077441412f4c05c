package runbooks_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cordon-ir/cordon/actions"
	"github.com/cordon-ir/cordon/actions/spec"
	"github.com/cordon-ir/cordon/runbooks"
)

func mustCompile(t *testing.T, src string) *runbooks.Plan {
	t.Helper()
	plan, diags := compile(t, src)
	if plan == nil {
		t.Fatalf("does not compile:\n%s", diags.Error())
	}
	return plan
}

func TestGateMergesDefaults(t *testing.T) {
	plan := mustCompile(t, header+`approvals:
  approvers: {groups: [csirt]}
  timeout: 10m
  on_timeout: escalate
  escalate_to: {groups: [leads]}
steps:
  - id: isolate
    action: aws.ec2.isolate_instance
    approval: required
    with: {instance_id: i-0123456789abcdef0}
  - id: terminate
    action: aws.ec2.terminate_instance
    approval:
      min_approvals: 2
      on_timeout: deny
    with: {instance_id: i-0123456789abcdef0}
  - id: stop
    action: aws.ec2.stop_instance
    approval: none
    justification: pre-authorised by policy IR-7
    with: {instance_id: i-0123456789abcdef0}
  - id: tag
    action: aws.ec2.tag
    with: {resource_ids: [i-0123456789abcdef0], tags: {a: b}}
`)
	iso, _ := plan.Step("isolate")
	if iso.Gate == nil || iso.Gate.MinApprovals != 1 || iso.Gate.OnTimeout != "escalate" ||
		iso.Gate.EscalateTo.Groups[0] != "leads" || iso.Gate.Approvers.Groups[0] != "csirt" ||
		iso.Gate.AllowSelfApproval || !iso.Destructive {
		t.Errorf("isolate gate = %+v", iso.Gate)
	}
	term, _ := plan.Step("terminate")
	if term.Gate == nil || term.Gate.MinApprovals != 2 || term.Gate.OnTimeout != "deny" || term.Gate.Approvers.Groups[0] != "csirt" {
		t.Errorf("terminate gate = %+v", term.Gate)
	}
	if term.Gate.Timeout != runbooks.Duration(10*60e9) {
		t.Errorf("terminate timeout = %v", term.Gate.Timeout)
	}
	stop, _ := plan.Step("stop")
	if stop.Gate != nil || stop.Justification != "pre-authorised by policy IR-7" {
		t.Errorf("stop = %+v", stop)
	}
	tag, _ := plan.Step("tag")
	if tag.Gate != nil || tag.Destructive || !tag.Mutating {
		t.Errorf("tag = %+v", tag)
	}
}

func TestDefaultsAreFilledIn(t *testing.T) {
	plan := mustCompile(t, header+`steps:
  - id: isolate
    action: aws.ec2.isolate_instance
    approval: none
    justification: test
    with: {instance_id: i-0123456789abcdef0}
`)
	st := plan.Steps[0]
	if st.With["quarantine_group_name"].Literal != "cordon-quarantine" || st.With["two_phase"].Literal != false {
		t.Errorf("with = %+v", st.With)
	}
	if st.Retry.MaxAttempts != 10 || st.Timeout == 0 {
		t.Errorf("retry %+v timeout %v", st.Retry, st.Timeout)
	}
}

func TestForeachOutputsBecomeLists(t *testing.T) {
	plan := mustCompile(t, header+`inputs:
  ids: {type: list, default: [i-0123456789abcdef0]}
steps:
  - id: snap
    action: aws.ec2.snapshot_volumes
    foreach: inputs.ids
    max_concurrency: 5
    max_errors: 1
    with: {instance_id: "${{ item }}"}
    outputs:
      first: result.snapshot_ids[0]
  - id: n
    action: slack.notify
    with:
      message: "${{ join(flatten(steps.snap.outputs.snapshot_ids), ',') }} ${{ len(steps.snap.outputs.first) }}"
`)
	snap := plan.Steps[0]
	if snap.MaxConcurrency != 5 || snap.MaxErrors != 1 || snap.Foreach.Expr.Source != "inputs.ids" {
		t.Errorf("snap = %+v", snap)
	}
	ids, _ := snap.OutputType.Field("snapshot_ids")
	if ids.Type.String() != "list<list<string>>" {
		t.Errorf("snapshot_ids type = %s", ids.Type)
	}
	first, _ := snap.OutputType.Field("first")
	if first.Type.String() != "list<string>" {
		t.Errorf("first type = %s", first.Type)
	}
	if snap.With["instance_id"].Expr.Type.Kind != spec.KindString {
		t.Errorf("item type = %s", snap.With["instance_id"].Expr.Type)
	}
}

func TestTemplateParts(t *testing.T) {
	plan := mustCompile(t, header+`steps:
  - id: n
    action: slack.notify
    with:
      message: "run ${{ run.id }} by ${{ run.requester }}!"
`)
	parts := plan.Steps[0].With["message"].Template
	if len(parts) != 5 || parts[0].Text != "run " || parts[1].Expr.Source != "run.id" || parts[4].Text != "!" {
		b, _ := json.Marshal(parts)
		t.Errorf("parts = %s", b)
	}
}

func TestPlanHashIsStable(t *testing.T) {
	src := header + `steps:
  - id: n
    action: slack.notify
    with: {message: hi}
`
	a, b := mustCompile(t, src), mustCompile(t, src)
	if a.Hash() != b.Hash() || len(a.Hash()) != 64 {
		t.Fatalf("hashes %s %s", a.Hash(), b.Hash())
	}
	c := mustCompile(t, strings.Replace(src, "hi", "ho", 1))
	if c.Hash() == a.Hash() {
		t.Fatal("different plans hash equal")
	}
	// The plan round-trips through JSON (as it does through workflow history).
	raw, err := json.Marshal(a)
	if err != nil {
		t.Fatal(err)
	}
	var back runbooks.Plan
	if err := json.Unmarshal(raw, &back); err != nil {
		t.Fatal(err)
	}
	if back.Hash() != a.Hash() {
		t.Fatalf("hash changed through JSON: %s != %s", back.Hash(), a.Hash())
	}
}

func writeRunbooks(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, src := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(src), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func runbookNamed(name, body string) string {
	return fmt.Sprintf("apiVersion: cordon.dev/v1\nkind: Runbook\nmetadata:\n  name: %s\n%s", name, body)
}

// compileIn compiles file of dir as the CLI does: by its path, with the
// runbooks beside it resolving its uses:.
func compileIn(t *testing.T, dir, file string) (*runbooks.Plan, runbooks.Diagnostics) {
	t.Helper()
	path := filepath.Join(dir, file)
	src, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return runbooks.NewCompiler(actions.Catalog(), runbooks.NewDirResolver()).Compile(path, src)
}

// codesOf lists the codes of diags, in order.
func codesOf(diags runbooks.Diagnostics) []runbooks.Code {
	var codes []runbooks.Code
	for _, d := range diags {
		codes = append(codes, d.Code)
	}
	return codes
}

func TestUsesCompilesChildAndChecksItsInputs(t *testing.T) {
	dir := writeRunbooks(t, map[string]string{
		"child.yaml": runbookNamed("child", `inputs:
  instance_id: {type: string, required: true, pattern: "^i-[0-9a-f]{8,17}$"}
steps:
  - id: ev
    action: aws.ec2.describe_instance
    with: {instance_id: "${{ inputs.instance_id }}"}
outputs:
  vpc: steps.ev.outputs.vpc_id
`),
		"parent.yaml": runbookNamed("parent", `steps:
  - id: each
    uses: child
    foreach: [i-0123456789abcdef0, i-0123456789abcdef1]
    max_concurrency: 2
    with: {instance_id: "${{ item }}"}
  - id: n
    action: slack.notify
    with: {message: "${{ join(steps.each.outputs.vpc, ',') }}"}
`),
		"broken-parent.yaml": runbookNamed("broken-parent", `steps:
  - id: each
    uses: child
    with: {instance_id: web-1, extra: 1}
`),
	})
	plan, diags := compileIn(t, dir, "parent.yaml")
	if plan == nil {
		t.Fatal(diags.Error())
	}
	if plan.Children["child"] == nil || plan.Steps[0].Uses != "child" || plan.Steps[0].Permissions[0] == "" {
		t.Fatalf("child not embedded: %+v", plan.Steps[0])
	}
	_, diags = compileIn(t, dir, "broken-parent.yaml")
	if codes := codesOf(diags); fmt.Sprint(codes) != "[bad-value unknown-param]" {
		t.Fatalf("codes %v\n%s", codes, diags.Error())
	}
}

func TestUsesCycleIsAnError(t *testing.T) {
	dir := writeRunbooks(t, map[string]string{
		"a.yaml": runbookNamed("a", "steps:\n  - id: b\n    uses: b\n"),
		"b.yaml": runbookNamed("b", "steps:\n  - id: a\n    uses: a\n"),
		"c.yaml": runbookNamed("c", "steps:\n  - id: me\n    uses: c\n"),
	})
	for file, want := range map[string]string{"a.yaml": "a → b → a", "c.yaml": "c → c"} {
		_, diags := compileIn(t, dir, file)
		found := false
		for _, d := range diags {
			if d.Code == runbooks.CodeUsesCycle && strings.Contains(d.Summary, want) {
				found = true
			}
		}
		if !found {
			t.Errorf("%s: no uses-cycle %q in:\n%s", file, want, diags.Error())
		}
	}
}

func TestResolveInputs(t *testing.T) {
	plan := mustCompile(t, header+`inputs:
  id: {type: string, required: true, pattern: "^i-[0-9a-f]{8,17}$"}
  n: {type: int, default: 3}
  dry: {type: bool, default: false}
  wait: {type: duration, default: 5m}
  ids: {type: list, pattern: "^i-[0-9a-f]{8,17}$", default: []}
  mode: {type: string, enum: [stop, terminate], default: stop}
steps:
  - id: n
    action: slack.notify
    with: {message: hi}
`)
	got, err := plan.ResolveInputs(map[string]string{"id": "i-0123456789abcdef0", "n": "7", "ids": "i-0123456789abcdef0, i-0123456789abcdef1", "wait": "90s"})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(got)
	want := `{"dry":false,"id":"i-0123456789abcdef0","ids":["i-0123456789abcdef0","i-0123456789abcdef1"],"mode":"stop","n":7,"wait":"1m30s"}`
	if string(b) != want {
		t.Errorf("got  %s\nwant %s", b, want)
	}
	_, err = plan.ResolveInputs(map[string]string{"n": "seven", "dry": "maybe", "wait": "soon", "ids": "i-1", "mode": "nuke", "idd": "x"})
	if err == nil {
		t.Fatal("bad inputs accepted")
	}
	for _, want := range []string{
		"input id is required", `input n: "seven" is not an integer`, `input dry: "maybe" is not true or false`,
		`input wait: "soon" is not a duration`, `input ids: "i-1" does not match`, `input mode: "nuke" is not one of stop, terminate`,
		`input idd is not declared by runbook t (did you mean "id"?)`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
}

// The language reference documents every diagnostic code and every
// function expressions may call.
func TestReferenceDocumentsCodesAndFunctions(t *testing.T) {
	doc, err := os.ReadFile("../docs/runbooks.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range runbooks.Codes() {
		if !strings.Contains(string(doc), "`"+string(c)+"`") {
			t.Errorf("docs/runbooks.md does not document code %s", c)
		}
	}
	words := map[string]bool{}
	for _, w := range strings.FieldsFunc(string(doc), func(r rune) bool { return r == ' ' || r == '\n' || r == '`' }) {
		words[w] = true
	}
	for _, f := range runbooks.AllowedFunctions() {
		if !words[f] {
			t.Errorf("docs/runbooks.md does not list function %s", f)
		}
	}
	if want := "NIST SP 800-61 phase for the report: " + strings.Join(runbooks.Phases(), ", ") + " |"; !strings.Contains(string(doc), want) {
		t.Errorf("docs/runbooks.md does not list the phases as %q", want)
	}
}

func Example() {
	src := []byte(`apiVersion: cordon.dev/v1
kind: Runbook
metadata:
  name: quick-isolate
inputs:
  instance_id: {type: string, required: true, pattern: "^i-[0-9a-f]{8,17}$"}
approvals:
  approvers: {groups: [csirt-oncall]}
steps:
  - id: isolate
    action: aws.ec2.isolate_instance
    approval: required
    with: {instance_id: "${{ inputs.instance_id }}"}
`)
	compiler := runbooks.NewCompiler(actions.Catalog(), nil)
	plan, diags := compiler.Compile("quick-isolate.yaml", src)
	if diags.HasErrors() {
		fmt.Println(diags)
		return
	}
	inputs, err := plan.ResolveInputs(map[string]string{"instance_id": "i-0abc12345def67890"})
	if err != nil {
		fmt.Println(err)
		return
	}
	st := plan.Steps[0]
	fmt.Println(st.ID, st.Action, "destructive:", st.Destructive, "gate:", st.Gate.Approvers.Groups)
	fmt.Println(inputs["instance_id"])
	// Output:
	// isolate aws.ec2.isolate_instance destructive: true gate: [csirt-oncall]
	// i-0abc12345def67890
}
