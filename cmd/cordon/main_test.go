package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cordon-ir/cordon/actions"
	"github.com/cordon-ir/cordon/internal/syncbuf"
	"github.com/cordon-ir/cordon/runbooks"
)

var update = flag.Bool("update", false, "rewrite golden files and generated docs")

// repoRoot is where the CLI runs in these tests, as a user would run it.
var repoRoot, _ = filepath.Abs("../..")

// cordon runs the CLI in the repository root, as a user would, with no
// input.
func cordon(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	return cordonIn(t, &cliEnv{}, args...)
}

// cordonIn runs the CLI in the repository root with env's input (and
// terminal or not), and returns what it printed.
func cordonIn(t *testing.T, env *cliEnv, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	t.Chdir(repoRoot)
	var out, errOut bytes.Buffer
	env.stdout, env.stderr = &out, &errOut
	code = run(context.Background(), env, args)
	return out.String(), errOut.String(), code
}

// cordonOK runs cordon with args and returns its standard output; it fails
// the test at once when the command exits non-zero.
func cordonOK(t *testing.T, args ...string) string {
	t.Helper()
	out, errOut, code := cordon(t, args...)
	if code != 0 {
		t.Fatalf("cordon %s: exit %d\n%s", strings.Join(args, " "), code, errOut)
	}
	return out
}

// pollUntil calls cond until it holds and says whether it did before limit
// passed. The caller fails in its own words, with the last state cond saw:
// that is what tells a slow run from a wrong one. cond may fail the test
// itself when what it sees can no longer change (a run ended, a process
// exited).
func pollUntil(limit time.Duration, cond func() bool) bool {
	for deadline := time.Now().Add(limit); !cond(); time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			return false
		}
	}
	return true
}

// backgroundCLI is the CLI running in another goroutine, as in a second
// terminal: its output is buffered for the test to watch, and interrupt is
// its Ctrl-C.
type backgroundCLI struct {
	args           []string
	stdout, stderr syncbuf.Buffer
	interrupt      context.CancelFunc
	exited         chan struct{} // closed when run returns
	code           int           // run's exit code, once exited is closed
}

// startCLI runs cordon with args in the background in the repository
// root. When the test ends it is interrupted, and it must then stop within
// a minute.
func startCLI(t *testing.T, args ...string) *backgroundCLI {
	t.Helper()
	t.Chdir(repoRoot)
	ctx, cancel := context.WithCancel(context.Background())
	c := &backgroundCLI{args: args, interrupt: cancel, exited: make(chan struct{})}
	go func() {
		c.code = run(ctx, &cliEnv{stdout: &c.stdout, stderr: &c.stderr}, args)
		close(c.exited)
	}()
	t.Cleanup(func() {
		cancel()
		if _, ok := c.wait(time.Minute); !ok {
			t.Errorf("cordon %s did not stop", strings.Join(args, " "))
		}
	})
	return c
}

// wait waits up to limit for the CLI to exit, and returns its exit code and
// whether it exited.
func (c *backgroundCLI) wait(limit time.Duration) (code int, exited bool) {
	select {
	case <-c.exited:
		return c.code, true
	case <-time.After(limit):
		return 0, false
	}
}

// failIfExited fails the test at once if the CLI has exited: what a test
// waits for from it will not come.
func (c *backgroundCLI) failIfExited(t *testing.T) {
	t.Helper()
	select {
	case <-c.exited:
		t.Fatalf("cordon %s exited %d\n%s\n%s", strings.Join(c.args, " "), c.code, c.stdout.String(), c.stderr.String())
	default:
	}
}

// mustContain checks that got, the named output of a command, holds each
// of wants.
func mustContain(t *testing.T, name, got string, wants ...string) {
	t.Helper()
	for _, want := range wants {
		if !strings.Contains(got, want) {
			t.Errorf("%s lacks %q:\n%s", name, want, got)
		}
	}
}

func TestValidateExamples(t *testing.T) {
	out := cordonOK(t, "validate", "examples/ec2-compromise.yaml", "examples/iam-credential-compromise.yaml",
		"examples/confluence-cve-2021-26084.yaml", "examples/restore-isolation.yaml")
	if n := strings.Count(out, ": ok ("); n != 4 {
		t.Errorf("want 4 ok lines, got:\n%s", out)
	}
}

func TestValidatePrintsEveryErrorWithPosition(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	src := `apiVersion: cordon.dev/v1
kind: Runbook
metadata:
  name: bad
steps:
  - id: a
    action: aws.ec2.stop_instanse
  - id: b
    action: aws.ec2.stop_instance
    with: {instance_id: i-0123456789abcdef0}
`
	if err := os.WriteFile(bad, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	_, errOut, code := cordon(t, "validate", bad)
	if code != 1 {
		t.Fatalf("exit %d, want 1", code)
	}
	lines := strings.Split(strings.TrimSpace(errOut), "\n")
	want := []string{bad + ":7:13: ", bad + ":9:13: "}
	if len(lines) != len(want) {
		t.Fatalf("want %d lines, got:\n%s", len(want), errOut)
	}
	for i, prefix := range want {
		if !strings.HasPrefix(lines[i], prefix) {
			t.Errorf("line %d = %q, want prefix %q", i, lines[i], prefix)
		}
	}
}

func TestValidateMissingFile(t *testing.T) {
	_, errOut, code := cordon(t, "validate", "examples/nope.yaml")
	if code != 1 || !strings.Contains(errOut, "examples/nope.yaml: cannot read") {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
}

// Golden tests pin plan --json for the examples: any change to the plan
// shape or to how an example compiles shows up as a diff to review.
func TestPlanJSONGolden(t *testing.T) {
	cases := map[string][]string{
		"ec2-compromise":            {"--input", "instance_id=i-0abc12345def67890"},
		"iam-credential-compromise": {"--input", "access_key_id=AKIAIOSFODNN7EXAMPLE", "--input", "compromised_since=2021-09-01T00:00:00Z"},
		"confluence-cve-2021-26084": {"--input", "compromised=i-0abc12345def67890,i-0abc12345def67891"},
		"restore-isolation":         {"--input", "instance_id=i-0abc12345def67890", "--input", "reason=INC-42 forensic sign-off"},
	}
	for name, inputs := range cases {
		t.Run(name, func(t *testing.T) {
			args := append([]string{"plan", "examples/" + name + ".yaml", "--json"}, inputs...)
			out := cordonOK(t, args...)
			golden(t, filepath.Join("cmd/cordon/testdata", name+".plan.json"), out)
		})
	}
}

func TestPlanRejectsBadInputs(t *testing.T) {
	_, errOut, code := cordon(t, "plan", "examples/ec2-compromise.yaml", "--input", "instance_id=web-1", "--input", "final_action=nuke", "--input", "regon=x")
	if code != 1 {
		t.Fatalf("exit %d, want 1", code)
	}
	mustContain(t, "stderr", errOut,
		`input instance_id: "web-1" does not match ^i-[0-9a-f]{8,17}$`,
		`input final_action: "nuke" is not one of none, stop, terminate`,
		`input regon is not declared by runbook ec2-compromise (did you mean "region"?)`,
	)
}

func TestPlanTextShowsGatesAndDestructiveSteps(t *testing.T) {
	out := cordonOK(t, "plan", "examples/ec2-compromise.yaml", "--input", "instance_id=i-0abc12345def67890")
	mustContain(t, "plan", out,
		"! 10. isolate",
		"gate: 1 approval(s) from group csirt-oncall, within 30m, then escalate to group csirt-leads; not by the requester",
		"gate: 2 approval(s) from group csirt-leads, within 1h, then deny",
		`when: inputs.final_action == "terminate"`,
	)
}

// decodePolicy reads cordon policy's output as an IAM policy and checks
// what IAM requires of every statement: a unique alphanumeric Sid, Allow,
// actions, resources that are "*" or ARNs of the partition, and conditions
// with known operators.
func decodePolicy(t *testing.T, out string) runbooks.IAMPolicy {
	t.Helper()
	var doc runbooks.IAMPolicy
	dec := json.NewDecoder(strings.NewReader(out))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&doc); err != nil {
		t.Fatalf("not an IAM policy: %v\n%s", err, out)
	}
	if doc.Version != "2012-10-17" || len(doc.Statement) == 0 {
		t.Fatalf("bad policy: %+v", doc)
	}
	sid := regexp.MustCompile(`^[A-Za-z0-9]+$`)
	arn := regexp.MustCompile(`^arn:aws:(ec2|iam|autoscaling|elasticloadbalancing|sts|kms|guardduty|securityhub|health):[a-z0-9*-]*:(\d{12}|\*)?:[a-z-]+[/:].+$|^arn:aws:s3:::[a-z0-9.*-]+(/.*)?$`)
	seen := map[string]bool{}
	for _, s := range doc.Statement {
		if !sid.MatchString(s.Sid) || seen[s.Sid] || s.Effect != "Allow" || len(s.Action) == 0 || len(s.Resource) == 0 {
			t.Errorf("bad statement %+v", s)
		}
		seen[s.Sid] = true
		for _, r := range s.Resource {
			if r != "*" && !arn.MatchString(r) {
				t.Errorf("%s: resource %q is neither * nor an ARN", s.Sid, r)
			}
		}
		for op := range s.Condition {
			if !slices.Contains([]string{"StringEquals", "StringLike", "ArnEquals", "ArnLike", "Null"}, op) {
				t.Errorf("%s: condition operator %s", s.Sid, op)
			}
		}
	}
	return doc
}

// grantsOf maps each permission to the statements that grant it.
func grantsOf(doc runbooks.IAMPolicy) map[string][]runbooks.IAMStatement {
	m := map[string][]runbooks.IAMStatement{}
	for _, s := range doc.Statement {
		for _, a := range s.Action {
			m[a] = append(m[a], s)
		}
	}
	return m
}

// The policy names exactly the permissions of the actions the runbooks
// use, nothing from actions they do not use, each on the resources AWS
// lets it be scoped to: the user a credential-compromise runbook contains;
// and, as the runbook has triggers, the reads of its triggers' sources
// the worker verifies an intake's start with (GuardDuty, Health).
// What stays on "*" is listed on stderr.
func TestPolicyIsLeastPrivilege(t *testing.T) {
	out, errOut, code := cordon(t, "policy", "--side", "responder_role", "examples/iam-credential-compromise.yaml")
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, errOut)
	}
	doc := decodePolicy(t, out)
	grants := grantsOf(doc)
	got := slices.Sorted(maps.Keys(grants))
	want := []string{
		"cloudtrail:LookupEvents", "guardduty:GetFindings", "guardduty:ListDetectors",
		"health:DescribeAffectedEntities", "health:DescribeEventDetails",
		"iam:AttachUserPolicy", "iam:DeactivateMFADevice", "iam:DeleteLoginProfile", "iam:GetAccessKeyLastUsed", "iam:GetLoginProfile",
		"iam:GetUserPolicy", "iam:ListAccessKeys", "iam:ListAttachedUserPolicies", "iam:ListMFADevices", "iam:PutUserPolicy",
		"iam:UpdateAccessKey", "sts:GetAccessKeyInfo",
	}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("permissions\n got %v\nwant %v", got, want)
	}
	perm := regexp.MustCompile(`^[a-z0-9-]+:[A-Z][A-Za-z0-9]+$`)
	for _, p := range got {
		if !perm.MatchString(p) {
			t.Errorf("%q is not an IAM action name", p)
		}
		if len(grants[p]) != 1 {
			t.Errorf("%s granted by %d statements", p, len(grants[p]))
		}
	}
	for _, p := range got {
		s := grants[p][0]
		switch {
		case p == "guardduty:GetFindings" || strings.HasPrefix(p, "health:"):
			if r := strings.Join(s.Resource, " "); r != "arn:aws:guardduty:*:*:detector/*" && r != "arn:aws:health:*::event/*" {
				t.Errorf("%s on %v, want the detectors or the events", p, s.Resource)
			}
		case p == "sts:GetAccessKeyInfo" || p == "cloudtrail:LookupEvents" || p == "guardduty:ListDetectors":
			if strings.Join(s.Resource, " ") != "*" || !strings.Contains(errOut, "  "+p+": ") {
				t.Errorf("%s: want Resource * and listed as unscoped; resource %v, stderr:\n%s", p, s.Resource, errOut)
			}
		default:
			if strings.Join(s.Resource, " ") != "arn:aws:iam::*:user/*" {
				t.Errorf("%s on %v, want the users' ARN", p, s.Resource)
			}
			if strings.Contains(errOut, p+":") {
				t.Errorf("%s is scoped yet listed as unscoped:\n%s", p, errOut)
			}
		}
	}
	// The worker attaches AWSDenyAll and nothing else.
	if c := grants["iam:AttachUserPolicy"][0].Condition; strings.Join(c["ArnEquals"]["iam:PolicyARN"], " ") != "arn:aws:iam::aws:policy/AWSDenyAll" {
		t.Errorf("AttachUserPolicy condition %v", c)
	}
}

// Every example's policy is a valid IAM policy that grants each permission
// its plan needs; destructive EC2 calls are scoped to instances, IAM
// writes to roles, read-only calls EC2 cannot scope stay on "*" and are
// listed as such.
func TestPolicyOfEveryExample(t *testing.T) {
	for _, name := range []string{"ec2-compromise", "iam-credential-compromise", "confluence-cve-2021-26084", "restore-isolation"} {
		t.Run(name, func(t *testing.T) {
			out, errOut, code := cordon(t, "policy", "--side", "responder_role", "examples/"+name+".yaml")
			if code != 0 {
				t.Fatalf("exit %d\n%s", code, errOut)
			}
			grants := grantsOf(decodePolicy(t, out))
			for p, statements := range grants {
				onStar := slices.ContainsFunc(statements, func(s runbooks.IAMStatement) bool {
					return slices.Contains(s.Resource, "*") && s.Condition == nil
				})
				if onStar != strings.Contains(errOut, "  "+p+": ") {
					t.Errorf("%s: on * = %v, but listed as unscoped = %v", p, onStar, !onStar)
				}
			}
		})
	}
	out, errOut, _ := cordon(t, "policy", "--side", "responder_role", "examples/ec2-compromise.yaml")
	grants := grantsOf(decodePolicy(t, out))
	for p, want := range map[string]string{
		"ec2:TerminateInstances": "arn:aws:ec2:*:*:instance/*", "ec2:StopInstances": "arn:aws:ec2:*:*:instance/*",
		"ec2:ModifyInstanceAttribute": "arn:aws:ec2:*:*:instance/*", "ec2:ModifyInstanceMetadataOptions": "arn:aws:ec2:*:*:instance/*",
		"ec2:ModifyNetworkInterfaceAttribute": "arn:aws:ec2:*:*:network-interface/*",
		"iam:PutRolePolicy":                   "arn:aws:iam::*:role/*", "iam:GetRole": "arn:aws:iam::*:role/*",
		"iam:PassRole": "arn:aws:iam::*:role/*",
	} {
		if len(grants[p]) != 1 || !slices.Contains(grants[p][0].Resource, want) || slices.Contains(grants[p][0].Resource, "*") {
			t.Errorf("%s granted as %+v, want on %s", p, grants[p], want)
		}
	}
	if c := grants["iam:PassRole"][0].Condition; strings.Join(c["StringEquals"]["iam:PassedToService"], "") != "ec2.amazonaws.com" {
		t.Errorf("PassRole condition %v", c)
	}
	if !strings.Contains(errOut, "  ec2:DescribeInstances: no resource-level permissions for EC2 Describe actions") {
		t.Errorf("stderr does not say why ec2:DescribeInstances stays on *:\n%s", errOut)
	}
}

// The options narrow the policy to an account, a partition and IAM paths;
// what IAM would reject is refused before anything is printed.
func TestPolicyOptions(t *testing.T) {
	out := cordonOK(t, "policy", "--account-id", "123456789012", "--role-path", "/cordon-contained/",
		"--pass-role-path", "/forensics/", "examples/ec2-compromise.yaml")
	mustContain(t, "policy", out,
		`"arn:aws:iam::123456789012:role/cordon-contained/*"`, `"arn:aws:iam::123456789012:role/forensics/*"`,
		`"arn:aws:ec2:*:123456789012:instance/*"`,
	)
	for _, bad := range [][]string{{"--role-path", "cordon"}, {"--account-id", "12"}, {"--partition", "gcp"}} {
		out, errOut, code := cordon(t, append([]string{"policy", "examples/ec2-compromise.yaml"}, bad...)...)
		if code != 2 || out != "" || !strings.Contains(errOut, "cordon policy: ") {
			t.Errorf("%v: exit %d, stdout %q, stderr %q", bad, code, out, errOut)
		}
	}
}

// The fleet runbook's policy includes its child's permissions.
func TestPolicyIncludesChildRunbooks(t *testing.T) {
	out, _, code := cordon(t, "policy", "examples/confluence-cve-2021-26084.yaml")
	if code != 0 || !strings.Contains(out, `"ec2:ModifyNetworkInterfaceAttribute"`) || !strings.Contains(out, `"iam:PutRolePolicy"`) {
		t.Fatalf("exit %d, policy lacks the child's permissions:\n%s", code, out)
	}
}

// A runbook that keeps evidence acts in two accounts: the policy prints
// both sides, named after the accounts, the evidence bucket and the
// forensic profile the flags give; --side prints one document alone, as
// IAM takes it.
func TestPolicyPrintsBothSides(t *testing.T) {
	args := []string{"policy", "--side", "all", "--account-id", "111111111111", "--forensic-account-id", "222222222222", "--evidence-bucket", "acme-evidence",
		"--evidence-prefix", "cases/", "--pass-role-path", "/forensics/", "examples/ec2-compromise.yaml"}
	out, errOut, code := cordon(t, args...)
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, errOut)
	}
	var sides map[string]json.RawMessage
	if err := json.Unmarshal([]byte(out), &sides); err != nil {
		t.Fatalf("not an object of documents: %v\n%s", err, out)
	}
	if got := slices.Sorted(maps.Keys(sides)); !slices.Equal(got, []string{"evidence_bucket_policy", "forensic_instance_profile_role",
		"forensic_instance_profile_trust", "forensic_role", "handover_key_policy_statements", "responder_role"}) {
		t.Fatalf("documents %v", got)
	}
	forensic := grantsOf(decodePolicy(t, string(sides["forensic_role"])))
	for perm, on := range map[string]string{
		"s3:PutObject": "arn:aws:s3:::acme-evidence/cases/*", "s3:GetBucketObjectLockConfiguration": "arn:aws:s3:::acme-evidence",
		"ec2:CopySnapshot": "*", "kms:Decrypt": "arn:aws:kms:*:*:key/*",
	} {
		if len(forensic[perm]) != 1 || !slices.Contains(forensic[perm][0].Resource, on) {
			t.Errorf("the forensic role grants %s as %+v, want on %s", perm, forensic[perm], on)
		}
	}
	if c := forensic["kms:Decrypt"][0].Condition; strings.Join(c["StringLike"]["kms:ViaService"], "") != "ec2.*.amazonaws.com" {
		t.Errorf("kms:Decrypt is not only through EC2: %v", c)
	}
	responder := grantsOf(decodePolicy(t, string(sides["responder_role"])))
	if len(responder["s3:PutObject"]) != 0 || len(responder["ec2:ModifySnapshotAttribute"]) != 1 {
		t.Errorf("the responder role holds the store's writes, or cannot share a snapshot: %s", sides["responder_role"])
	}
	mustContain(t, "the resource policies", out,
		`"arn:aws:iam::222222222222:root"`, `"arn:aws:iam::111111111111:role/forensics/cordon-forensic"`,
		`"ssm:UpdateInstanceInformation"`, `"ec2.amazonaws.com"`, `"aws:SecureTransport": "false"`)
	if strings.Contains(errOut, "ACCOUNT_ID") {
		t.Errorf("placeholders reported though both accounts were given:\n%s", errOut)
	}

	one, _, code := cordon(t, append([]string{"policy", "--side", "handover_key_policy_statements"}, args[3:]...)...)
	var statements []runbooks.ResourceStatement
	if code != 0 || json.Unmarshal([]byte(one), &statements) != nil || len(statements) != 1 {
		t.Errorf("--side handover_key_policy_statements: exit %d\n%s", code, one)
	}
	_, errOut, code = cordon(t, "policy", "--side", "everything", "examples/ec2-compromise.yaml")
	if code != 2 || !strings.Contains(errOut, `--side "everything" is not one of responder_role`) {
		t.Errorf("an unknown side: exit %d, %s", code, errOut)
	}
	_, errOut, _ = cordon(t, "policy", "examples/ec2-compromise.yaml")
	if !strings.Contains(errOut, "RESPONDER_ACCOUNT_ID and FORENSIC_ACCOUNT_ID: give --account-id and --forensic-account-id") {
		t.Errorf("without the accounts, stderr does not say which flags fill the principals:\n%s", errOut)
	}
}

// docs/ is generated from the catalog and the runbook shape; this test
// fails when they drift (go test ./cmd/cordon -update rewrites them).
func TestGeneratedDocsAreCurrent(t *testing.T) {
	schema := cordonOK(t, "schema")
	var v map[string]any
	if err := json.Unmarshal([]byte(schema), &v); err != nil {
		t.Fatalf("schema is not JSON: %v", err)
	}
	golden(t, "docs/runbook.schema.json", schema)
	var md bytes.Buffer
	if err := actions.WriteMarkdown(&md, actions.Catalog()); err != nil {
		t.Fatal(err)
	}
	golden(t, "docs/actions.md", md.String())
}

func TestEveryCommandHasHelp(t *testing.T) {
	for _, c := range commands() {
		_, errOut, code := cordon(t, c.name, "--help")
		if code != 0 || !strings.Contains(errOut, "Usage: cordon "+c.name) {
			t.Errorf("%s --help: exit %d, %q", c.name, code, errOut)
		}
	}
	out, _, code := cordon(t, "--help")
	if code != 0 || !strings.Contains(out, "validate") {
		t.Errorf("--help: exit %d\n%s", code, out)
	}
	_, errOut, code := cordon(t, "frobnicate")
	if code != 2 || !strings.Contains(errOut, `unknown command "frobnicate"`) {
		t.Errorf("unknown command: exit %d, %q", code, errOut)
	}
}

func golden(t *testing.T, path, got string) {
	t.Helper()
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./cmd/cordon -update to create it)", err)
	}
	if string(want) != got {
		t.Errorf("%s is out of date (run go test ./cmd/cordon -update and review the diff)", path)
	}
}
