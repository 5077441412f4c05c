package actions_test

import (
	"context"
	"crypto/sha256"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/cordon-ir/cordon/actions"
	"github.com/cordon-ir/cordon/evidence"
	"github.com/cordon-ir/cordon/internal/awsemu"
)

// The evidence world of the SSM tests: the forensic account owns an
// Object Lock bucket whose policy lets the compromised account's hosts
// write the cases' prefix (their uploads are made as their instance
// role), and the runtime writes the store as the forensic account's role.
const (
	evidenceBucket = "cordon-evidence"
	// avmlSHA256 is the SHA-256 the runbook expects of the tool.
	avmlSHA256 = "4f2b5e7c0d3a1e9b8c6d5f4a3b2c1d0e9f8a7b6c5d4e3f2a1b0c9d8e7f6a5b4c"
)

// lockedBucket is the evidence bucket as docs/forensics.md sets it up:
// Object Lock with a default compliance retention.
func lockedBucket() awsemu.BucketSpec {
	return awsemu.BucketSpec{ObjectLock: true, DefaultRetention: &awsemu.S3DefaultRetention{Mode: "COMPLIANCE", Days: 30}}
}

// withEvidenceStore sets the evidence world up: the forensic account and
// its bucket, and the runtime writing to it.
func (h *harness) withEvidenceStore(bucket awsemu.BucketSpec) {
	h.t.Helper()
	bucket.Name, bucket.Account = evidenceBucket, forensicAccountID
	bucket.Policy = fmt.Sprintf(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::%s:root"},`+
		`"Action":"s3:PutObject","Resource":"arn:aws:s3:::%s/cases/*"}]}`, h.emu.AccountID(), evidenceBucket)
	if err := h.emu.AddBucket(bucket); err != nil {
		h.t.Fatal(err)
	}
	h.evidence = evidence.Config{Account: "forensic", Bucket: evidenceBucket, Prefix: "cases/"}
	h.withForensicAccount()
}

// managedInstance seeds an instance with an SSM agent, and the evidence
// world with its bucket, and returns the parameters of a step on it.
func managedInstance(h *harness, bucket awsemu.BucketSpec, spec awsemu.InstanceSpec) map[string]any {
	h.t.Helper()
	h.withEvidenceStore(bucket)
	in, err := h.emu.AddInstance(spec)
	if err != nil {
		h.t.Fatal(err)
	}
	if err := h.emu.SetSSMManaged("", "", in.ID, "Linux"); err != nil {
		h.t.Fatal(err)
	}
	return map[string]any{"instance_id": in.ID}
}

func memoryParams(h *harness) map[string]any {
	p := managedInstance(h, lockedBucket(), awsemu.InstanceSpec{Name: "confluence-01"})
	p["tool_url"], p["tool_sha256"] = "https://tools.example/avml-0.14.0", avmlSHA256
	return p
}

func triageParams(h *harness) map[string]any {
	p := managedInstance(h, lockedBucket(), awsemu.InstanceSpec{Name: "confluence-01"})
	p["command"] = "processes"
	return p
}

// manifestOf reads the case's manifest as the store does.
func manifestOf(t *testing.T, h *harness) evidence.ManifestVersion {
	t.Helper()
	m, err := evidence.New(forensicS3(t, h), h.evidence, nil).Manifest(context.Background(), "INC-42")
	if err != nil {
		t.Fatalf("the case's manifest: %v", err)
	}
	return m
}

// forensicS3 is an S3 client of the forensic account's role, through the
// runtime's own client source.
func forensicS3(t *testing.T, h *harness) *s3.Client {
	t.Helper()
	role := "arn:aws:iam::" + forensicAccountID + ":role/cordon-forensic" // withForensicAccount's
	clients, err := h.clients(actions.AWSOptions{Accounts: map[string]actions.Account{"forensic": {RoleARN: role}}}).Clients(context.Background(), actions.Target{Account: "forensic"}, actions.RunRef{RunID: "test"})
	if err != nil {
		t.Fatal(err)
	}
	return clients.S3
}

// memoryCaptured checks the manifest's entry against the image the
// instance's memory really is.
func memoryCaptured(t *testing.T, h *harness, params map[string]any) {
	t.Helper()
	id := params["instance_id"].(string)
	image := awsemu.MemoryImage(id, awsemu.DefaultMemoryImageBytes)
	want := fmt.Sprintf("%x", sha256.Sum256(image))
	m := manifestOf(t, h)
	if len(m.Artefacts) != 1 {
		t.Fatalf("manifest lists %d artefacts, want the one image: %+v", len(m.Artefacts), m.Artefacts)
	}
	a := m.Artefacts[0]
	stored, ok := h.emu.S3Object(evidenceBucket, a.Key, a.VersionID)
	if !ok || a.Kind != "memory" || a.Subject != id || a.SHA256 != want || stored.SHA256 != want || a.Size != int64(len(image)) ||
		a.WrittenBy != evidence.WrittenByInstance || stored.LockMode != "COMPLIANCE" {
		t.Fatalf("memory artefact %+v, stored %s (%v)", a, stored.SHA256, ok)
	}
}

// triageStored checks the triage output is in the store and the manifest.
func triageStored(t *testing.T, h *harness, params map[string]any) {
	t.Helper()
	m := manifestOf(t, h)
	if len(m.Artefacts) != 1 || m.Artefacts[0].Kind != "triage" || !strings.HasSuffix(m.Artefacts[0].Key, "/processes.txt") {
		t.Fatalf("manifest = %+v", m.Artefacts)
	}
	stored, ok := h.emu.S3Object(evidenceBucket, m.Artefacts[0].Key, m.Artefacts[0].VersionID)
	if !ok || stored.SHA256 != m.Artefacts[0].SHA256 || !strings.Contains(string(stored.Body), "ps -eo pid,ppid") {
		t.Fatalf("stored triage output = %q", stored.Body)
	}
}

// missingWith is a step naming an instance that does not exist, with the
// action's other required parameters.
func missingWith(params map[string]any) func(*harness) (map[string]any, string) {
	return func(*harness) (map[string]any, string) {
		p := map[string]any{"instance_id": missingInstance}
		for k, v := range params {
			p[k] = v
		}
		return p, missingInstance
	}
}

func ssmContracts() []contractCase {
	return []contractCase{
		{action: "aws.ssm.capture_memory", seed: memoryParams, done: memoryCaptured, permission: "ssm:SendCommand", missing: missingWith(map[string]any{"tool_url": "https://tools.example/avml", "tool_sha256": avmlSHA256})},
		{action: "aws.ssm.run_command", seed: triageParams, done: triageStored, permission: "ssm:SendCommand", missing: missingWith(map[string]any{"command": "processes"})},
	}
}

// The command the instance runs fetches the tool the runbook names and
// runs it only if it has the expected SHA-256; the image goes to the
// case's key; outputs name the artefact; the gate's approver is recorded.
func TestCaptureMemoryVerifiesTheTool(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	params := memoryParams(h)
	h.ref = &actions.RunRef{RunID: "run-1", Incident: "INC-42", StepID: "memory", Requester: "alice", Approvers: []string{"bob"}}
	res := h.execute("aws.ssm.capture_memory", params)
	cmds := h.emu.SSMCommands(h.emu.AccountID())
	if len(cmds) != 1 {
		t.Fatalf("commands = %+v", cmds)
	}
	script := strings.Join(cmds[0].Parameters["commands"], "\n")
	key := res.Outputs["object_key"].(string)
	for _, want := range []string{"curl -fsS --proto '=https'", "'https://tools.example/avml-0.14.0'", "echo '" + avmlSHA256 + "  '", "sha256sum -c", "exit 3",
		"aws s3 cp \"$work/memory.lime\" 's3://" + evidenceBucket + "/" + key + "'"} {
		if !strings.Contains(script, want) {
			t.Errorf("script lacks %q:\n%s", want, script)
		}
	}
	if key != "cases/INC-42/"+params["instance_id"].(string)+"/memory/run-1/memory/memory.lime" || res.Outputs["command_id"] != cmds[0].CommandID ||
		!strings.HasPrefix(res.Outputs["location"].(string), "s3://cordon-evidence/"+key+"?versionId=") {
		t.Errorf("outputs %v", res.Outputs)
	}
	memoryCaptured(t, h, params)
	a := manifestOf(t, h).Artefacts[0]
	if a.Requester != "alice" || !slices.Equal(a.Approvers, []string{"bob"}) || a.Step != "memory" || !strings.Contains(a.Source, cmds[0].CommandID) {
		t.Errorf("custody %+v", a)
	}
	if len(res.Artefacts) != 1 || res.Artefacts[0].VersionID != a.VersionID {
		t.Errorf("result artefacts %+v", res.Artefacts)
	}
}

// Without an agent nothing can run: the step says so and, where the
// instance was launched with hibernation, names the alternative; the
// preview says the same in a note, so the gate shows it.
func TestCaptureMemoryWithoutAgent(t *testing.T) {
	t.Parallel()
	for _, hibernates := range []bool{true, false} {
		h := newHarness(t)
		h.withEvidenceStore(lockedBucket())
		in, err := h.emu.AddInstance(awsemu.InstanceSpec{HibernationConfigured: hibernates})
		if err != nil {
			t.Fatal(err)
		}
		params := map[string]any{"instance_id": in.ID, "tool_url": "https://tools.example/avml", "tool_sha256": avmlSHA256}
		_, err = h.run(actions.Execute, "aws.ssm.capture_memory", params)
		alternative := "aws.ec2.stop_instance with hibernate: true"
		if !permanentFailure(err, actions.ErrConflict, in.ID+" is not managed by SSM") || strings.Contains(fmt.Sprint(err), alternative) != hibernates {
			t.Errorf("hibernation %v: err = %v", hibernates, err)
		}
		res := h.preview("aws.ssm.capture_memory", params)
		if !hasNote(res.Notes, "not managed by SSM") {
			t.Errorf("preview notes %q", res.Notes)
		}
		if n := len(h.emu.SSMCommands(h.emu.AccountID())); n != 0 {
			t.Errorf("%d commands sent to an instance without an agent", n)
		}
	}
}

// A command that fails, or runs out of time, is a clear error saying what
// the instance printed; nothing is recorded in the manifest.
func TestCaptureMemoryFailureAndTimeout(t *testing.T) {
	t.Parallel()
	for name, c := range map[string]struct {
		result awsemu.SSMResult
		says   string
	}{
		"tool refused": {awsemu.SSMResult{ExitCode: 3, Stderr: "the memory tool from https://tools.example/avml does not have SHA-256 …: not running it\n"},
			"failed (exit code 3): the memory tool from https://tools.example/avml does not have SHA-256"},
		"timed out": {awsemu.SSMResult{TimedOut: true, Delay: 20 * time.Millisecond, Stdout: "avml: reading /proc/kcore\n"},
			"ran out of time (ExecutionTimedOut, executionTimeout): raise timeout_seconds"},
	} {
		t.Run(name, func(t *testing.T) {
			h := newHarness(t)
			params := memoryParams(h)
			h.emu.SetSSMResponder(func(awsemu.SSMInvocation) awsemu.SSMResult { return c.result })
			_, err := h.run(actions.Execute, "aws.ssm.capture_memory", params)
			if !permanentFailure(err, actions.ErrConflict, c.says) {
				t.Fatalf("err = %v", err)
			}
			if _, err := evidence.New(forensicS3(t, h), h.evidence, nil).Manifest(context.Background(), "INC-42"); err == nil {
				t.Error("a failed capture left a manifest")
			}
		})
	}
}

// An image whose hash in the bucket differs from the one the instance
// printed is refused, naming both: the bucket's bytes are what counts,
// and a mismatch means the upload was altered or replaced.
func TestCaptureMemoryRefusesAnImageThatDoesNotHashAsPrinted(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	params := memoryParams(h)
	h.emu.SetSSMResponder(func(inv awsemu.SSMInvocation) awsemu.SSMResult {
		r := awsemu.MemoryAcquisition(inv, 4096)
		r.Stdout = strings.Repeat("0", 64) + r.Stdout[64:]
		return r
	})
	_, err := h.run(actions.Execute, "aws.ssm.capture_memory", params)
	if !permanentFailure(err, actions.ErrConflict, "the writer reported SHA-256 "+strings.Repeat("0", 64)) {
		t.Fatalf("err = %v", err)
	}
}

// The evidence store must lock what it keeps: a bucket without Object
// Lock is refused before anything runs on the instance.
func TestCaptureMemoryRefusesAnUnlockedBucket(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	params := managedInstance(h, awsemu.BucketSpec{Versioning: true}, awsemu.InstanceSpec{})
	params["tool_url"], params["tool_sha256"] = "https://tools.example/avml", avmlSHA256
	_, err := h.run(actions.Execute, "aws.ssm.capture_memory", params)
	if !permanentFailure(err, actions.ErrConflict, "evidence bucket cordon-evidence has no Object Lock", "object_lock: optional") {
		t.Fatalf("err = %v", err)
	}
	if n := len(h.emu.SSMCommands(h.emu.AccountID())); n != 0 {
		t.Errorf("%d commands sent for an evidence store that was refused", n)
	}
}

// Triage output is bounded on the instance, kept with its hash and exit
// code; a non-zero exit is recorded, not a failure.
func TestRunCommandKeepsBoundedOutput(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	params := managedInstance(h, lockedBucket(), awsemu.InstanceSpec{})
	params["command"], params["max_output_bytes"] = "connections", 2048
	out := strings.Repeat("ESTAB 10.0.1.5:41234 45.133.203.192:80 users:((\"kinsing\",pid=4242))\n", 40)[:2048]
	h.emu.SetSSMResponder(func(inv awsemu.SSMInvocation) awsemu.SSMResult {
		return awsemu.SSMResult{Stdout: out, Stderr: "ss: some sockets hidden\n", ExitCode: 1}
	})
	res := h.execute("aws.ssm.run_command", params)
	script := strings.Join(h.emu.SSMCommands(h.emu.AccountID())[0].Parameters["commands"], "\n")
	if !strings.Contains(script, "ss -tanpu") || !strings.Contains(script, "} | head -c 2048") {
		t.Errorf("script:\n%s", script)
	}
	body := out + "\n--- stderr ---\nss: some sockets hidden\n"
	if res.Outputs["sha256"] != fmt.Sprintf("%x", sha256.Sum256([]byte(body))) || res.Outputs["exit_code"] != float64(1) || res.Outputs["truncated"] != true ||
		!strings.Contains(res.Outputs["excerpt"].(string), "45.133.203.192") {
		t.Errorf("outputs %v", res.Outputs)
	}
	if !hasNote(res.Notes, "connections exited 1") || !hasNote(res.Notes, "reached max_output_bytes") {
		t.Errorf("notes %q", res.Notes)
	}
	stored, ok := h.emu.S3Object(evidenceBucket, res.Outputs["object_key"].(string), res.Outputs["version_id"].(string))
	if !ok || string(stored.Body) != body {
		t.Errorf("stored %q", stored.Body)
	}
	if _, err := h.run(actions.Execute, "aws.ssm.run_command", map[string]any{"instance_id": params["instance_id"], "command": "rm -rf /"}); !permanentFailure(err, actions.ErrBadParams) {
		t.Errorf("a command outside the catalogue: %v", err)
	}
}

// Without an evidence store, triage output stays in the run's record,
// hashed, and the step says so.
func TestRunCommandWithoutAStore(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	in, err := h.emu.AddInstance(awsemu.InstanceSpec{})
	if err != nil {
		t.Fatal(err)
	}
	if err := h.emu.SetSSMManaged("", "", in.ID, "Linux"); err != nil {
		t.Fatal(err)
	}
	res := h.execute("aws.ssm.run_command", map[string]any{"instance_id": in.ID, "command": "logins"})
	if res.Outputs["object_key"] != "" || res.Outputs["sha256"] == "" || !hasNote(res.Notes, "no evidence store is configured") || len(res.Artefacts) != 0 {
		t.Errorf("outputs %v, notes %q", res.Outputs, res.Notes)
	}
	assertOutputsMatchSpec(t, "aws.ssm.run_command", res)
	if len(h.emu.Buckets()) != 0 {
		t.Error("a bucket appeared")
	}
}

// A retry after the command ran (the image could not be read back: a
// server error) finds the step's command by its comment and adopts its
// image, instead of capturing memory a second time.
func TestCaptureMemoryRetryFindsTheCommand(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	params := memoryParams(h)
	h.emu.FailNext("HeadObject", "InternalError", 500, 3)
	if _, err := h.run(actions.Execute, "aws.ssm.capture_memory", params); err == nil || isNonRetryable(err) {
		t.Fatalf("first attempt: err = %v, want a retryable server error", err)
	}
	res := h.execute("aws.ssm.capture_memory", params)
	if n := len(h.emu.SSMCommands(h.emu.AccountID())); n != 1 {
		t.Errorf("%d commands sent, want the one", n)
	}
	if !hasNote(res.Notes, "sent by an earlier attempt of this step") {
		t.Errorf("notes %q", res.Notes)
	}
	memoryCaptured(t, h, params)
}

// The evidence actions that already capture the instance (its describe
// result, its console output) store what they captured as artefacts of
// the case when a store is configured, and a rehearsal stores nothing.
func TestDescribeAndConsoleOutputGoToTheStore(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.withEvidenceStore(lockedBucket())
	in, err := h.emu.AddInstance(awsemu.InstanceSpec{ConsoleOutput: "confluence: OGNL injection from 45.133.203.192\n"})
	if err != nil {
		t.Fatal(err)
	}
	params := map[string]any{"instance_id": in.ID}
	for _, action := range []string{"aws.ec2.describe_instance", "aws.ec2.capture_console_output"} {
		res := h.preview(action, params)
		if !hasNote(res.Notes, "a real run stores") || len(res.Artefacts) != 0 {
			t.Errorf("%s preview: notes %q, artefacts %+v", action, res.Notes, res.Artefacts)
		}
	}
	h.emu.ResetCalls()
	describe := h.execute("aws.ec2.describe_instance", params)
	h.assertDeclared("aws.ec2.describe_instance")
	console := h.execute("aws.ec2.capture_console_output", params)
	m := manifestOf(t, h)
	var kinds []string
	for _, a := range m.Artefacts {
		kinds = append(kinds, a.Kind)
	}
	if !slices.Equal(kinds, []string{"describe", "console"}) || m.Artefacts[1].SHA256 != console.Outputs["sha256"] ||
		len(describe.Artefacts) != 1 || describe.Artefacts[0].Key != m.Artefacts[0].Key {
		t.Fatalf("manifest %+v; results %+v, %+v", m.Artefacts, describe.Artefacts, console.Artefacts)
	}
	if again := h.retry("aws.ec2.capture_console_output", params); !hasNote(again.Notes, "was stored already") {
		t.Errorf("again: notes %q", again.Notes)
	}
}

// A store that refuses (no Object Lock) does not fail the capture: the
// output is in the run's record, and the step says it was not stored.
func TestDescribeSurvivesARefusingStore(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	params := managedInstance(h, awsemu.BucketSpec{Versioning: true}, awsemu.InstanceSpec{})
	res, err := h.run(actions.Execute, "aws.ec2.describe_instance", params)
	if err != nil || res.Outputs["instance_id"] != params["instance_id"] || !hasNote(res.Notes, "not stored in the evidence store") || !hasNote(res.Notes, "no Object Lock") {
		t.Fatalf("describe = %v, notes %q", err, res.Notes)
	}
}
