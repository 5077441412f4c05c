package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/cordon-ir/cordon/intake"
	"github.com/cordon-ir/cordon/intake/intaketest"
	"github.com/cordon-ir/cordon/internal/awsemu"
	"github.com/cordon-ir/cordon/internal/sandbox"
	"github.com/cordon-ir/cordon/runbooks"
	"github.com/cordon-ir/cordon/worker"
	"github.com/cordon-ir/cordon/workflows"
)

// The intake's role policy grants the queue and the reads of the sources
// the runbooks' triggers read, no more, scoped as asked.
func TestIntakePolicy(t *testing.T) {
	out, errOut, code := cordon(t, "policy", "--intake", "--account-id", "123456789012", "--queue-arn",
		"arn:aws:sqs:us-east-1:123456789012:cordon-findings", "examples/ec2-compromise.yaml", "examples/iam-credential-compromise.yaml")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var doc runbooks.IAMPolicy
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatalf("not a policy: %v\n%s", err, out)
	}
	grants := map[string][]string{}
	for _, st := range doc.Statement {
		if st.Effect != "Allow" || st.Sid == "" {
			t.Errorf("statement %+v", st)
		}
		for _, a := range st.Action {
			grants[a] = append(grants[a], st.Resource...)
		}
	}
	want := map[string]string{
		"sqs:ReceiveMessage":              "arn:aws:sqs:us-east-1:123456789012:cordon-findings",
		"sqs:DeleteMessage":               "arn:aws:sqs:us-east-1:123456789012:cordon-findings",
		"sqs:GetQueueAttributes":          "arn:aws:sqs:us-east-1:123456789012:cordon-findings",
		"guardduty:ListDetectors":         "*",
		"guardduty:GetFindings":           "arn:aws:guardduty:*:123456789012:detector/*",
		"health:DescribeEventDetails":     "arn:aws:health:*::event/*",
		"health:DescribeAffectedEntities": "arn:aws:health:*::event/*",
	}
	for action, resource := range want {
		if strings.Join(grants[action], " ") != resource {
			t.Errorf("%s on %v, want %s", action, grants[action], resource)
		}
	}
	if len(grants) != len(want) {
		t.Errorf("granted %v: the examples' triggers read GuardDuty and Health only", grants)
	}
	mustContain(t, "stderr", errOut, "sts:AssumeRole")

	// Security Hub's read comes with a Security Hub trigger.
	dir := exampleDir(t, `
  - name: securityhub-ec2
    source: securityhub
    match: {resource: instance}
    inputs: {instance_id: "${{ finding.instance_id }}"}
`)
	out, errOut, code = cordon(t, "policy", "--intake", filepath.Join(dir, "ec2-compromise.yaml"))
	if code != 0 || !strings.Contains(out, `"securityhub:GetFindings"`) || !strings.Contains(out, "arn:aws:securityhub:*:*:hub/default") {
		t.Errorf("with a Security Hub trigger: exit %d\n%s%s", code, out, errOut)
	}
	if _, errOut, code := cordon(t, "policy", "--intake", "examples/restore-isolation.yaml"); code != 1 || !strings.Contains(errOut, "no triggers") {
		t.Errorf("no triggers: exit %d %s", code, errOut)
	}
	if _, errOut, _ := cordon(t, "policy", "examples/ec2-compromise.yaml"); !strings.Contains(errOut, "cordon policy --intake") {
		t.Errorf("the worker's policy does not point at the intake's: %s", errOut)
	}
}

// cordon intake, wired as in production from its configuration: it reads
// its queue and serves its HTTPS endpoint, verifies findings at their
// source (the emulator's GuardDuty), learns its own account from STS, and
// proposes the example runbook once per finding; Ctrl-C stops it cleanly.
func TestIntakeCommand(t *testing.T) {
	ctx := context.Background()
	box, dir := exampleSandbox(t)
	emu := box.Emulator()
	keyPath, _, pub := keyFile(t, "intake")
	nobody, err := sandbox.NewRoster(nil)
	if err != nil {
		t.Fatal(err)
	}
	queueURL, err := emu.CreateQueue("", "", "cli-intake", nil)
	if err != nil {
		t.Fatal(err)
	}
	const secret = "cli-intake-secret-0123456789abcdef"
	cfg := box.WorkerConfig("cli-intake", nobody, dir)
	cfg.Roster.Members = []worker.MemberConfig{{ID: "cordon-intake", Roles: []string{workflows.RoleIntake}, PublicKeys: []string{pub}}}
	cfg.Intake = worker.IntakeConfig{Member: "cordon-intake", Key: keyPath, QueueURL: queueURL, WaitSeconds: 1, TaskQueue: "cli-intake-findings",
		HTTPS: worker.IntakeHTTPSConfig{Listen: "127.0.0.1:0", Secret: secret}}
	b, err := yaml.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "cordon.yaml")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	// The intake's own credentials, found the standard way: the emulator's.
	t.Setenv("AWS_ACCESS_KEY_ID", awsemu.DefaultAccessKeyID)
	t.Setenv("AWS_SECRET_ACCESS_KEY", awsemu.DefaultSecretAccessKey)
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(dir, "none"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(dir, "none"))

	fleet, err := emu.SeedFleet(awsemu.FleetSpec{Instances: 2, NamePrefix: "cli-intake", NetworkInterfaces: 1, Volumes: 1})
	if err != nil {
		t.Fatal(err)
	}
	viaQueue := intaketest.Finding{ID: "cli-intake-sqs", Region: emu.Region(), Instance: fleet.InstanceIDs[0]}
	viaHTTPS := intaketest.Finding{ID: "cli-intake-https", Region: emu.Region(), Instance: fleet.InstanceIDs[1]}
	for _, f := range []intaketest.Finding{viaQueue, viaHTTPS} {
		intaketest.Seed(t, emu, f.GuardDuty(t))
	}

	cli := startCLI(t, "intake", "--config", path)
	var addr string
	started := pollUntil(time.Minute, func() bool {
		for _, line := range strings.Split(cli.stderr.String(), "\n") {
			var rec struct{ Msg, HTTPS string }
			if json.Unmarshal([]byte(line), &rec) == nil && rec.Msg == "intake started" {
				addr = rec.HTTPS
			}
		}
		if addr == "" {
			cli.failIfExited(t)
		}
		return addr != ""
	})
	if !started {
		t.Fatalf("cordon intake did not start:\n%s", cli.stderr.String())
	}

	post := func(key string, body []byte) int {
		req, err := http.NewRequest(http.MethodPost, "http://"+addr+"/events", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set(worker.DefaultIntakeHeader, key)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := post("not the secret", viaHTTPS.GuardDuty(t)); code != http.StatusUnauthorized {
		t.Errorf("a wrong secret: %d", code)
	}
	if code := post(secret, viaHTTPS.GuardDuty(t)); code != http.StatusAccepted {
		t.Errorf("the secret: %d\n%s", code, cli.stderr.String())
	}
	if _, err := emu.SendToQueue(queueURL, string(viaQueue.GuardDuty(t))); err != nil {
		t.Fatal(err)
	}
	for _, f := range []intaketest.Finding{viaQueue, viaHTTPS} {
		id := intake.FindingWorkflowID("ec2-compromise", "guardduty/123456789012/"+f.Region+"/"+f.ID)
		var p intake.Proposal
		proposed := pollUntil(time.Minute, func() bool {
			var err error
			p, err = intake.GetProposal(ctx, box.Client(), id)
			return err == nil
		})
		if !proposed {
			t.Fatalf("no proposal for %s:\n%s", f.ID, cli.stderr.String())
		}
		if p.Run.Inputs["instance_id"] != f.Instance {
			t.Errorf("proposal %s: %+v", id, p.Run)
		}
	}
	deleted := pollUntil(30*time.Second, func() bool {
		q, err := emu.Queue(queueURL)
		return err == nil && len(q.Messages) == 0
	})
	if !deleted {
		t.Fatal("the handled message was not deleted")
	}
	cli.interrupt()
	code, stopped := cli.wait(time.Minute)
	if !stopped {
		t.Fatal("cordon intake did not stop")
	}
	if code != 0 || !strings.Contains(cli.stderr.String(), "intake stopped") {
		t.Errorf("exit %d after Ctrl-C:\n%s", code, cli.stderr.String())
	}
}
