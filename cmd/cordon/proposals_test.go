package main

import (
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/cordon-ir/cordon/intake"
	"github.com/cordon-ir/cordon/intake/intaketest"
	"github.com/cordon-ir/cordon/internal/awsemu"
	"github.com/cordon-ir/cordon/internal/sandbox"
	"github.com/cordon-ir/cordon/runbooks"
	"github.com/cordon-ir/cordon/runctl"
	"github.com/cordon-ir/cordon/worker"
	"github.com/cordon-ir/cordon/workflows"
)

// exampleSandbox starts a sandbox (an in-process server and the
// emulator) and a runbook directory holding the example ec2-compromise.
func exampleSandbox(t *testing.T) (*sandbox.Sandbox, string) {
	t.Helper()
	box, err := sandbox.Start(context.Background(), sandbox.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = box.Close() })
	return box, exampleDir(t, "")
}

// exampleDir is a runbook directory holding the example ec2-compromise,
// with more appended to it.
func exampleDir(t *testing.T, more string) string {
	t.Helper()
	dir := t.TempDir()
	src, err := os.ReadFile(filepath.Join(repoRoot, "examples", "ec2-compromise.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "ec2-compromise.yaml"), append(src, more...), 0o600); err != nil {
		t.Fatal(err)
	}
	return dir
}

// keyFile writes a fresh key for who and returns its path, its signer
// and its public key.
func keyFile(t *testing.T, who string) (string, ssh.Signer, string) {
	path := filepath.Join(t.TempDir(), who)
	signer, pub := writeKey(t, path)
	return path, signer, pub
}

// A GuardDuty finding proposes ec2-compromise (the example's trigger);
// cordon proposals lists it; cordon launch with the intake's own key is
// refused by the run and leaves it proposed; a responder's cordon launch
// starts the run, as hers. On an in-process server, with the worker and
// the intake's worker wired as in production.
func TestProposalsAndLaunch(t *testing.T) {
	ctx := context.Background()
	box, dir := exampleSandbox(t)
	aliceKey, alice, alicePub := keyFile(t, "alice")
	intakeKey, intakeSigner, intakePub := keyFile(t, "intake")
	nobody, err := sandbox.NewRoster(nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg := box.WorkerConfig("cli-launch", nobody, dir)
	cfg.Roster.Members = []worker.MemberConfig{
		{ID: "alice", Roles: []string{workflows.RoleResponder}, Groups: []string{"csirt-oncall"}, PublicKeys: []string{alicePub}},
		{ID: "cordon-intake", Roles: []string{workflows.RoleIntake}, PublicKeys: []string{intakePub}},
	}
	if _, err := box.StartWorker(ctx, sandbox.WorkerOptions{Config: cfg}); err != nil {
		t.Fatal(err)
	}
	opts := intake.Options{TaskQueue: "cli-launch-intake", RunTaskQueue: "cli-launch", IntakeID: "cordon-intake", Signer: intakeSigner,
		Logger: slog.New(slog.DiscardHandler), StatusEvery: 200 * time.Millisecond, OutcomeWait: time.Minute}
	iw, err := intake.NewWorker(box.Client(), opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := iw.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(iw.Stop)
	fleet, err := box.Emulator().SeedFleet(awsemu.FleetSpec{Instances: 1, NamePrefix: "proposed", NetworkInterfaces: 1, Volumes: 1})
	if err != nil {
		t.Fatal(err)
	}
	plan := intaketest.Compile(t, filepath.Join(dir, "ec2-compromise.yaml"))
	f := intaketest.Finding{ID: "proposed-1", Region: box.Emulator().Region(), Instance: fleet.InstanceIDs[0]}
	outs, err := intake.NewLauncher(box.Client(), opts).Submit(ctx, intaketest.Submission(t, []*runbooks.Plan{plan}, f.GuardDuty(t), "test"))
	if err != nil || len(outs) != 1 || outs[0].Action != intake.Proposed {
		t.Fatalf("submit: %+v %v", outs, err)
	}
	id := outs[0].WorkflowID
	conn := []string{"--address", box.Temporal().Address, "--namespace", box.Temporal().Namespace}

	var listed []intake.ProposalSummary
	anyListed := pollUntil(30*time.Second, func() bool {
		stdout := cordonOK(t, append([]string{"proposals", "--json"}, conn...)...)
		if err := json.Unmarshal([]byte(stdout), &listed); err != nil {
			t.Fatalf("cordon proposals --json: %v\n%s", err, stdout)
		}
		return len(listed) > 0
	})
	if !anyListed {
		t.Fatal("cordon proposals never listed the proposal")
	}
	if listed[0].ID != id || listed[0].Runbook != "ec2-compromise" || listed[0].Trigger != "guardduty-ec2-high" || listed[0].Findings != 1 {
		t.Errorf("listed: %+v", listed)
	}
	if stdout, _, _ := cordon(t, append([]string{"proposals"}, conn...)...); !strings.Contains(stdout, id) || !strings.Contains(stdout, "guardduty-ec2-high") {
		t.Errorf("cordon proposals:\n%s", stdout)
	}

	_, stderr, code := cordon(t, append([]string{"launch", id, "--as", "cordon-intake", "--key", intakeKey, "--wait", "2m"}, conn...)...)
	if code != 1 || !strings.Contains(stderr, "refused") || !strings.Contains(stderr, "the proposal stays open") {
		t.Fatalf("the intake's launch: exit %d\n%s", code, stderr)
	}
	var stdout string
	pollUntil(30*time.Second, func() bool {
		stdout, stderr, code = cordon(t, append([]string{"launch", id, "--as", "alice", "--key", aliceKey, "--wait", "2m"}, conn...)...)
		// The proposal takes a moment to reopen after the refusal: only
		// that is worth another try.
		return code == 0 || !strings.Contains(stderr, "under way")
	})
	if code != 0 {
		t.Fatalf("alice's launch: exit %d\n%s", code, stderr)
	}
	runID := strings.SplitN(stdout, "\n", 2)[0]
	s, err := runctl.State(ctx, box.Client(), runID)
	if err != nil {
		t.Fatal(err)
	}
	if s.Meta.Requester != "alice" || s.Meta.Trigger == nil || s.Meta.Trigger.Mode != "propose" || !strings.HasSuffix(runID, "-2") {
		t.Errorf("run %s: requester %s, trigger %+v", runID, s.Meta.Requester, s.Meta.Trigger)
	}
	if _, err := runctl.Send(ctx, box.Client(), workflows.Request{RunID: runID, Action: workflows.ActAbort, Actor: "alice", Channel: "cli",
		Reason: "test over"}, alice); err != nil {
		t.Errorf("abort %s: %v", runID, err)
	}
}

func TestLaunchUsage(t *testing.T) {
	if _, stderr, code := cordon(t, "launch"); code != 2 || !strings.Contains(stderr, "Usage: cordon launch PROPOSAL") {
		t.Errorf("no proposal: exit %d\n%s", code, stderr)
	}
	if _, stderr, code := cordon(t, "launch", "cordon-batch-x", "--break-glass"); code != 2 || !strings.Contains(stderr, "--break-glass needs --reason") {
		t.Errorf("break-glass without a reason: exit %d\n%s", code, stderr)
	}
}
