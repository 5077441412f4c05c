package sandbox

import (
	"bytes"
	"context"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cordon-ir/cordon/actions"
	"github.com/cordon-ir/cordon/internal/awsemu"
	"github.com/cordon-ir/cordon/runbooks"
	"github.com/cordon-ir/cordon/runctl"
	"github.com/cordon-ir/cordon/worker"
	"github.com/cordon-ir/cordon/workflows"
)

func TestRosterSignsAsItsMembers(t *testing.T) {
	r, err := NewRoster([]Member{
		{ID: "alice", Roles: []string{workflows.RoleResponder}, Groups: []string{"csirt-oncall"}},
		{ID: "bob", SlackID: "UBOB", Roles: []string{workflows.RoleResponder}, NoKey: true},
	}, "slack")
	if err != nil {
		t.Fatal(err)
	}
	cfg := &worker.Config{Roster: r.Config()}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("the roster does not validate: %v", err)
	}
	wr := cfg.WorkflowRoster()
	if !wr.RequireSignatures {
		t.Error("a sandbox roster must require signatures")
	}
	alice, bob := wr.Members[0], wr.Members[1]
	if len(alice.PublicKeys) != 1 || workflows.Fingerprint(alice.PublicKeys[0]) != r.Fingerprint("alice") || r.Signer("alice") == nil {
		t.Errorf("alice: keys %v, fingerprint %q", alice.PublicKeys, r.Fingerprint("alice"))
	}
	if len(bob.PublicKeys) != 0 || r.Signer("bob") != nil || r.Fingerprint("bob") != "" || bob.SlackID != "UBOB" {
		t.Errorf("bob (no key): %+v, signer %v", bob, r.Signer("bob"))
	}
	if len(wr.Gateways) != 1 || workflows.Fingerprint(wr.Gateways[0].PublicKey) != r.Fingerprint("slack") {
		t.Errorf("gateways %+v", wr.Gateways)
	}
	if r.Fingerprint("alice") == r.Fingerprint("slack") {
		t.Error("two holders share a key")
	}
	// Config is a copy: editing it changes nothing in the roster.
	c := r.Config()
	c.Members[0].PublicKeys[0] = "edited"
	if r.Config().Members[0].PublicKeys[0] == "edited" {
		t.Error("Config shares its slices with the roster")
	}
	if _, err := NewRoster([]Member{{ID: "slack"}}, "slack"); err == nil {
		t.Error("a member and a gateway of one name: no error")
	}
}

// The package doc's rule: the core (runbooks, workflows, actions) never
// links the sandbox, and so never the Temporal server.
func TestCoreDoesNotImportTheSandbox(t *testing.T) {
	const self = "github.com/cordon-ir/cordon/internal/sandbox"
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("go", "list", "-deps", "-test", "./runbooks/...", "./workflows/...", "./actions/...")
	cmd.Dir = root
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Skipf("go list: %v\n%s", err, stderr.String()) // no toolchain here
	}
	for _, pkg := range strings.Fields(string(out)) {
		if pkg == self {
			t.Fatalf("%s is linked by runbooks/, workflows/ or actions/ (go list -deps -test)", self)
		}
	}
}

const describeRunbook = `apiVersion: cordon.dev/v1
kind: Runbook
metadata:
  name: sandbox-describe
inputs:
  instance_id: {type: string, required: true}
steps:
  - id: evidence
    action: aws.ec2.describe_instance
    with: {instance_id: "${{ inputs.instance_id }}"}
`

// A worker started on the sandbox is a production worker: it runs a start
// signed by a roster member, of a plan from the runbook source it vouches
// for, against the emulator; Close stops everything, once.
func TestWorkerRunsASignedStartAndCloseStopsAll(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	box, err := Start(ctx, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer box.Close()
	if box.Server() == nil || box.Emulator() == nil || box.Client() == nil || box.Temporal().Address == "" {
		t.Fatalf("incomplete sandbox: server %v, emulator %v, client %v, temporal %+v", box.Server(), box.Emulator(), box.Client(), box.Temporal())
	}
	people, err := NewRoster([]Member{{ID: "alice", Roles: []string{workflows.RoleResponder}, Groups: []string{"csirt-oncall"}}})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "sandbox-describe.yaml")
	if err := os.WriteFile(path, []byte(describeRunbook), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := box.WorkerConfig("sandbox-test", people, dir)
	if cfg.AWS.Endpoint != box.Emulator().URL() || cfg.Temporal.TaskQueue != "sandbox-test" {
		t.Errorf("worker config: aws %+v, temporal %+v", cfg.AWS, cfg.Temporal)
	}
	if _, err := box.StartWorker(ctx, WorkerOptions{Config: cfg, Runtime: box.NewRuntime(RuntimeOptions{PollInterval: 50 * time.Millisecond})}); err != nil {
		t.Fatal(err)
	}

	fleet, err := box.Emulator().SeedFleet(awsemu.FleetSpec{Instances: 1})
	if err != nil {
		t.Fatal(err)
	}
	plan, diags := runbooks.NewCompiler(actions.Catalog(), nil).Compile(path, []byte(describeRunbook))
	if plan == nil {
		t.Fatal(diags)
	}
	inputs, err := plan.ResolveInputs(map[string]string{"instance_id": fleet.InstanceIDs[0]})
	if err != nil {
		t.Fatal(err)
	}
	runID, err := runctl.Start(ctx, box.Client(), cfg.Temporal.TaskQueue, runctl.StartOptions{Plan: plan, Inputs: inputs,
		Signer: people.Signer("alice"), Meta: workflows.RunMeta{Requester: "alice", Channel: "cli"}})
	if err != nil {
		t.Fatal(err)
	}
	res, err := runctl.Wait(ctx, box.Client(), runID)
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != workflows.RunSucceeded {
		t.Fatalf("run %s: %s %s", runID, res.Status, res.Error)
	}
	st, err := runctl.State(ctx, box.Client(), runID)
	if err != nil {
		t.Fatal(err)
	}
	if pv := st.Provenance; pv == nil || !pv.Vouched || !pv.Authenticated {
		t.Errorf("provenance %+v: want a vouched plan and alice's verified start", pv)
	}
	if len(box.Emulator().Calls()) == 0 {
		t.Error("the run made no AWS call to the emulator")
	}

	emuURL := box.Emulator().URL()
	if err := box.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	if err := box.Close(); err != nil {
		t.Errorf("second close: %v", err)
	}
	if resp, err := http.Get(emuURL); err == nil {
		resp.Body.Close()
		t.Errorf("the emulator still answers at %s after Close", emuURL)
	}
	if _, err := box.StartWorker(ctx, WorkerOptions{Config: cfg}); err == nil {
		t.Error("StartWorker after Close: no error")
	}
}

// Uncontained names every interface outside the quarantine group, a
// running instance when it should be stopped, and an instance that is not
// there; a stopped instance whose interfaces are all in the group alone has
// nothing to name.
func TestUncontained(t *testing.T) {
	emu := awsemu.New(awsemu.Options{})
	fleet, err := emu.SeedFleet(awsemu.FleetSpec{Instances: 1, NetworkInterfaces: 2})
	if err != nil {
		t.Fatal(err)
	}
	id := fleet.InstanceIDs[0]
	if got := Uncontained(emu, id, "sg-quarantine", false); len(got) != 2 || !strings.Contains(got[0], fleet.SecurityGroupID) {
		t.Errorf("in the application group: %q", got)
	}
	if got := Uncontained(emu, id, fleet.SecurityGroupID, false); len(got) != 0 {
		t.Errorf("in the one group: %q", got)
	}
	if got := Uncontained(emu, id, fleet.SecurityGroupID, true); len(got) != 1 || !strings.Contains(got[0], "state running") {
		t.Errorf("running: %q", got)
	}
	if got := Uncontained(emu, "i-0000000000000000f", fleet.SecurityGroupID, false); len(got) != 1 || !strings.Contains(got[0], "no instance") {
		t.Errorf("no such instance: %q", got)
	}
}
