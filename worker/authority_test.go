package worker

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cordon-ir/cordon/actions"
	"github.com/cordon-ir/cordon/runbooks"
	"github.com/cordon-ir/cordon/workflows"
)

// A production configuration that turns signatures off is refused unless
// the worker is started with the explicit override; the default and an
// explicit true pass.
func TestUnsignedRosterFailsClosed(t *testing.T) {
	off, err := LoadConfig(writeConfig(t, strings.Replace(validConfig, "roster:\n", "roster:\n  require_signatures: false\n", 1)))
	if err != nil {
		t.Fatal(err)
	}
	if err := off.CheckSignaturesRequired(false); err == nil || !strings.Contains(err.Error(), "--insecure-allow-unsigned") {
		t.Errorf("require_signatures: false accepted silently: %v", err)
	}
	if err := off.CheckSignaturesRequired(true); err != nil {
		t.Errorf("with the override: %v", err)
	}
	on, err := LoadConfig(writeConfig(t, validConfig))
	if err != nil {
		t.Fatal(err)
	}
	if err := on.CheckSignaturesRequired(false); err != nil {
		t.Errorf("default roster: %v", err)
	}
	on.Runbooks.Dir = "/no/such/dir"
	if err := on.CheckWorker(false); err == nil || !strings.Contains(err.Error(), "is not a directory") {
		t.Errorf("missing runbook source: %v", err)
	}
	// The live roster loader refuses it too, so an edit of the file on a
	// running worker cannot turn signatures off.
	if _, err := FileRoster(writeConfig(t, strings.Replace(validConfig, "roster:\n", "roster:\n  require_signatures: false\n", 1)), false)(context.Background()); err == nil {
		t.Error("FileRoster accepted an unsigned roster")
	}
}

// The live roster loader reads the file as it is at each call.
func TestFileRosterReadsTheFileAgain(t *testing.T) {
	path := writeConfig(t, validConfig)
	load := FileRoster(path, false)
	r, err := load(context.Background())
	if err != nil || len(r.Members) != 1 {
		t.Fatalf("%+v %v", r, err)
	}
	removed := strings.Replace(validConfig, "    - id: alice", "    - id: bob", 1)
	writeFile(t, path, removed)
	r2, err := load(context.Background())
	if err != nil || r2.Members[0].ID != "bob" || r2.Version == r.Version {
		t.Errorf("after the edit: %+v %v", r2.Members, err)
	}
	writeFile(t, path, "roster: [broken")
	if _, err := load(context.Background()); err == nil {
		t.Error("a broken file fell back to an old roster")
	}
}

func TestPolicyIsValidatedAndReachesTheWorkflow(t *testing.T) {
	body := validConfig + "policy:\n  min_approvals: 2\n  self_approval: runbook\n  break_glass_leads: 2\n  approvers: {groups: [csirt-oncall]}\n"
	cfg, err := LoadConfig(writeConfig(t, body))
	if err != nil {
		t.Fatal(err)
	}
	p := cfg.WorkflowRoster().Policy
	if p.MinApprovals != 2 || p.SelfApproval != "runbook" || p.BreakGlassLeads != 2 || p.Approvers == nil {
		t.Errorf("policy %+v", p)
	}
	if d := (&Config{}).WorkflowRoster().Policy; d.SelfApproval != "never" {
		t.Errorf("default self-approval %q, want never", d.SelfApproval)
	}
	for body, want := range map[string]string{
		"policy:\n  self_approval: always\n":        "neither never nor runbook",
		"policy:\n  break_glass_leads: 3\n":         "use 1 or 2",
		"policy:\n  approvers: {}\n":                "names nobody",
		"policy:\n  approvers: {people: [mallory]}": "mallory is not in the roster",
	} {
		if _, err := LoadConfig(writeConfig(t, validConfig+body)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want %q", body, err, want)
		}
	}
	gw := strings.Replace(validConfig, "aws:\n", "  gateways:\n    - {name: slack, public_key: \"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIG0z1yUNtpJ0DmWMv3oVfF8wGc+3cR9gN0bZuSOKmUo4\", actions: [approve, detonate]}\naws:\n", 1)
	if _, err := LoadConfig(writeConfig(t, gw)); err == nil || !strings.Contains(err.Error(), `action "detonate"`) {
		t.Errorf("gateway scope: %v", err)
	}
}

const sourceRunbook = `apiVersion: cordon.dev/v1
kind: Runbook
metadata:
  name: contain
inputs:
  instance_id: {type: string, required: true, pattern: "^i-[0-9a-f]{8,17}$"}
approvals:
  approvers: {groups: [csirt]}
steps:
  - id: isolate
    action: aws.ec2.isolate_instance
    approval: required
    with: {instance_id: "${{ inputs.instance_id }}"}
`

func compileAt(t *testing.T, file, src string) *runbooks.Plan {
	t.Helper()
	p, diags := runbooks.NewCompiler(actions.Catalog(), nil).Compile(file, []byte(src))
	if p == nil {
		t.Fatal(diags.Error())
	}
	return p
}

func TestVouchMatchesTheSourceWhereverItWasCompiled(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "contain.yaml"), sourceRunbook)
	ps := &PlanSource{Dir: dir, Catalog: actions.Catalog(), AllowJustifiedNoGate: true}
	ctx := context.Background()
	inputs := map[string]any{"instance_id": "i-0123456789abcdef0"}
	// The same text compiled on a laptop under another path: vouched.
	laptop := compileAt(t, "/home/alice/runbooks/contain.yaml", sourceRunbook)
	v, err := ps.Vouch(ctx, workflows.VouchRequest{Plan: laptop, Inputs: inputs})
	if err != nil || !v.Vouched || v.Refusal != "" || !strings.Contains(v.Source, ps.Dir) {
		t.Fatalf("%+v %v", v, err)
	}
	// By name, with text inputs.
	v, _ = ps.Vouch(ctx, workflows.VouchRequest{Runbook: "contain", InputArgs: map[string]string{"instance_id": "i-0123456789abcdef0"}})
	if !v.Vouched || v.Inputs["instance_id"] != "i-0123456789abcdef0" {
		t.Errorf("by name: %+v", v)
	}
	// An edited copy: not vouched, with a diff against the source.
	edited := compileAt(t, "contain.yaml", strings.Replace(sourceRunbook, "groups: [csirt]", "people: [alice]", 1))
	v, _ = ps.Vouch(ctx, workflows.VouchRequest{Plan: edited, Inputs: inputs})
	if v.Vouched || v.Refusal != "" || v.VouchedHash != laptop.ContentHash() || !strings.Contains(changesText(v), "approvers.people") {
		t.Errorf("edited copy: vouched %t refusal %q diff %s", v.Vouched, v.Refusal, changesText(v))
	}
	// Inputs are checked by the worker too.
	v, _ = ps.Vouch(ctx, workflows.VouchRequest{Plan: laptop, Inputs: map[string]any{"instance_id": "i-nope; rm -rf"}})
	if !strings.Contains(v.Refusal, "does not match") {
		t.Errorf("bad input: %q", v.Refusal)
	}
	// Unknown name, and a stale expected hash.
	if v, _ = ps.Vouch(ctx, workflows.VouchRequest{Runbook: "nope"}); !strings.Contains(v.Refusal, `no runbook named "nope"`) {
		t.Errorf("unknown: %q", v.Refusal)
	}
	if v, _ = ps.Vouch(ctx, workflows.VouchRequest{Runbook: "contain", PlanHash: "abc", InputArgs: map[string]string{"instance_id": "i-0123456789abcdef0"}}); !strings.Contains(v.Refusal, "changed since you compiled it") {
		t.Errorf("stale hash: %q", v.Refusal)
	}
}

func changesText(v workflows.VouchedPlan) string {
	var b strings.Builder
	for _, c := range v.Diff {
		b.WriteString(c.Field + "; ")
	}
	return b.String()
}

func TestCheckPlanGatesTrustsTheCatalogNotThePlan(t *testing.T) {
	justified := strings.Replace(sourceRunbook, "    approval: required\n", "    approval: none\n    justification: pre-authorised by policy\n", 1)
	p := compileAt(t, "contain.yaml", justified)
	if got := CheckPlanGates(p, actions.Catalog(), true); len(got) != 0 {
		t.Errorf("a justified, vouched opt-out: %v", got)
	}
	if got := CheckPlanGates(p, actions.Catalog(), false); len(got) != 1 || !strings.Contains(got[0], "without an approval gate") {
		t.Errorf("justified but not allowed: %v", got)
	}
	p.Steps[0].Destructive = false
	if got := CheckPlanGates(p, actions.Catalog(), true); len(got) == 0 || !strings.Contains(got[0], "the catalog says destructive=true") {
		t.Errorf("a plan lying about its step: %v", got)
	}
	gated := compileAt(t, "contain.yaml", sourceRunbook)
	if got := CheckPlanGates(gated, actions.Catalog(), false); len(got) != 0 {
		t.Errorf("a gated step: %v", got)
	}
	gated.Steps[0].Action = "aws.ec2.nuke_everything"
	if got := CheckPlanGates(gated, actions.Catalog(), false); len(got) != 1 || !strings.Contains(got[0], "not in the worker's catalog") {
		t.Errorf("unknown action: %v", got)
	}
}
