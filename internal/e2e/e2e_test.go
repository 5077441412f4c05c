// Package e2e runs whole containments on a real in-process Temporal
// server, with the real worker, the real AWS SDK against the wire-level
// emulator, and signed approvals. It is the one test package that links
// the Temporal server (minutes to build cold), so every test shares one
// server through TestMain.
package e2e

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.temporal.io/sdk/client"
	tlog "go.temporal.io/sdk/log"
	sdkworker "go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"
	"golang.org/x/crypto/ssh"

	"github.com/cordon-ir/cordon/actions"
	"github.com/cordon-ir/cordon/internal/awsemu"
	"github.com/cordon-ir/cordon/internal/sandbox"
	"github.com/cordon-ir/cordon/runbooks"
	"github.com/cordon-ir/cordon/runctl"
	"github.com/cordon-ir/cordon/worker"
	"github.com/cordon-ir/cordon/workflows"
)

var updateHistories = flag.Bool("update", false, "rewrite the recorded histories in workflows/testdata")

// env is what every test shares: one server, one emulator, one worker.
type env struct {
	// box is the sandbox they run on; tests start workers of their own
	// on it (box.StartWorker, a task queue of their own).
	box    *sandbox.Sandbox
	client client.Client
	emu    *awsemu.Emulator
	cfg    *worker.Config
	keys   map[string]ssh.Signer
	// roster is what the worker's roster loader returns now: tests change
	// it to show that running runs judge decisions by the live roster.
	roster *liveRoster
	// gatewayKey signs as the "slack" gateway of the roster.
	gatewayKey ssh.Signer
}

// liveRoster is a roster a test can change while runs are going.
type liveRoster struct {
	mu sync.Mutex
	r  workflows.Roster
}

func (l *liveRoster) load(context.Context) (workflows.Roster, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.r, nil
}

// change applies edit to a copy of the roster and makes it current; the
// returned function puts the previous roster back.
func (l *liveRoster) change(edit func(*workflows.Roster)) (restore func()) {
	l.mu.Lock()
	defer l.mu.Unlock()
	old := l.r
	r := old
	r.Members = slices.Clone(old.Members)
	edit(&r)
	l.r = r
	return func() {
		l.mu.Lock()
		defer l.mu.Unlock()
		l.r = old
	}
}

var shared *env

// seedFleet seeds a fleet in the shared emulator, or fails the test.
func seedFleet(t *testing.T, spec awsemu.FleetSpec) awsemu.FleetInfo {
	t.Helper()
	fleet, err := shared.emu.SeedFleet(spec)
	if err != nil {
		t.Fatal(err)
	}
	return fleet
}

func TestMain(m *testing.M) {
	// The crash test re-executes this binary as a separate worker process
	// it can kill -9.
	if path := os.Getenv(workerProcessEnv); path != "" {
		os.Exit(workerProcess(path))
	}
	flag.Parse()
	code, err := run(m)
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e setup:", err)
		os.Exit(1)
	}
	os.Exit(code)
}

func run(m *testing.M) (int, error) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	box, err := sandbox.Start(ctx, sandbox.Options{})
	if err != nil {
		return 0, err
	}
	defer box.Close()

	// Four people with keys of their own, and the Slack gateway's key.
	members := []sandbox.Member{
		{ID: "alice", SlackID: "UALICE", Roles: []string{"responder"}, Groups: []string{"csirt-oncall"}},
		{ID: "bob", SlackID: "UBOB", Roles: []string{"responder"}, Groups: []string{"csirt-oncall"}},
		{ID: "carol", SlackID: "UCAROL", Roles: []string{"responder", "lead"}, Groups: []string{"csirt-oncall", "csirt-leads"}},
		{ID: "dave", SlackID: "UDAVE", Roles: []string{"responder", "lead"}, Groups: []string{"csirt-oncall", "csirt-leads"}},
	}
	people, err := sandbox.NewRoster(members, "slack")
	if err != nil {
		return 0, err
	}
	keys := map[string]ssh.Signer{}
	for _, m := range members {
		keys[m.ID] = people.Signer(m.ID)
	}
	// The worker vouches for the example runbooks, as a production worker
	// vouches for its reviewed checkout.
	examples, err := filepath.Abs(filepath.Join("..", "..", "examples"))
	if err != nil {
		return 0, err
	}
	cfg := box.WorkerConfig("e2e", people, examples)
	roster := &liveRoster{r: cfg.WorkflowRoster()}
	if _, err := box.StartWorker(ctx, sandbox.WorkerOptions{Config: cfg, Roster: roster.load,
		Runtime: box.NewRuntime(sandbox.RuntimeOptions{PollInterval: 50 * time.Millisecond})}); err != nil {
		return 0, err
	}
	shared = &env{box: box, client: box.Client(), emu: box.Emulator(), cfg: cfg, keys: keys, roster: roster, gatewayKey: people.Signer("slack")}
	return m.Run(), nil
}

// examplePath is where the example runbook name is in the repository.
func examplePath(name string) string {
	return filepath.Join("..", "..", "examples", name+".yaml")
}

// exampleSource is the YAML of the example runbook name, for tests that
// run an edited copy of it.
func exampleSource(t *testing.T, name string) string {
	t.Helper()
	src, err := os.ReadFile(examplePath(name))
	if err != nil {
		t.Fatal(err)
	}
	return string(src)
}

func compileExample(t *testing.T, name string) *runbooks.Plan {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join("..", "..", "examples", "*.yaml"))
	plan, diags := runbooks.NewCompiler(actions.Catalog(), runbooks.NewDirResolver(files...)).Compile(examplePath(name), []byte(exampleSource(t, name)))
	if plan == nil {
		t.Fatal(diags.Error())
	}
	return plan
}

// compileAdHoc compiles src, a runbook from no worker's source (an ad-hoc
// plan, as a responder's own file is), under the file name file.
func compileAdHoc(tb testing.TB, file, src string) *runbooks.Plan {
	tb.Helper()
	plan, diags := runbooks.NewCompiler(actions.Catalog(), nil).Compile(file, []byte(src))
	if plan == nil {
		tb.Fatal(diags.Error())
	}
	return plan
}

// ownWorker is a worker of a test's own on the shared server, for a test
// that needs a runbook source, roster or notifier other than the shared
// worker's: its configuration is the shared one but for what is set here.
type ownWorker struct {
	queue string            // its task queue
	files map[string]string // its runbook source: file name → YAML
	// intake, when set, is the id of a detection intake added (with a key
	// of its own) to a copy of the shared roster.
	intake   string
	notifier worker.GateNotifier // nil: the sandbox's default
	// pollInterval is how often its runtime's long waits poll the
	// emulator; zero: the runtime's default.
	pollInterval time.Duration
}

// start starts the worker until the test ends. It returns its runbook
// source's directory and the intake's key (nil without an intake).
func (o ownWorker) start(t *testing.T) (dir string, intakeKey ssh.Signer) {
	t.Helper()
	dir = t.TempDir()
	for file, src := range o.files {
		if err := os.WriteFile(filepath.Join(dir, file), []byte(src), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	cfg := *shared.cfg
	cfg.Runbooks.Dir = dir
	cfg.Temporal.TaskQueue = o.queue
	if o.intake != "" {
		people, err := sandbox.NewRoster([]sandbox.Member{{ID: o.intake, Roles: []string{workflows.RoleIntake}}})
		if err != nil {
			t.Fatal(err)
		}
		// A copy: the shared worker's roster stays as it is.
		cfg.Roster.Members = append(slices.Clone(cfg.Roster.Members), people.Config().Members...)
		intakeKey = people.Signer(o.intake)
	}
	opts := sandbox.WorkerOptions{Config: &cfg, Notifier: o.notifier}
	if o.pollInterval != 0 {
		opts.Runtime = shared.box.NewRuntime(sandbox.RuntimeOptions{PollInterval: o.pollInterval})
	}
	w, err := shared.box.StartWorker(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Stop)
	return dir, intakeKey
}

// boxOfItsOwn starts a sandbox as o says (a server of the test's own, or
// one it runs elsewhere) next to the shared emulator, and on it a worker
// of the shared configuration on queue, its runtime as rt says. Both stop
// when the test ends, if the test has not closed the sandbox before.
func boxOfItsOwn(t *testing.T, o sandbox.Options, queue string, rt sandbox.RuntimeOptions) *sandbox.Sandbox {
	t.Helper()
	ctx := context.Background()
	o.AWS = shared.emu
	box, err := sandbox.Start(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = box.Close() })
	cfg := *shared.cfg
	cfg.Temporal.TaskQueue = queue
	if _, err := box.StartWorker(ctx, sandbox.WorkerOptions{Config: &cfg, Runtime: box.NewRuntime(rt)}); err != nil {
		t.Fatal(err)
	}
	return box
}

// startFleetRun starts the Confluence fleet runbook on queue, through c,
// against the fleet's compromised hosts, and returns the run id. The start
// is signed by meta.Requester; a non-empty breakGlassReason adds carol's
// (a lead's) signed break-glass to the start.
func startFleetRun(t *testing.T, c client.Client, queue string, fleet awsemu.FleetInfo, finalAction string, meta workflows.RunMeta, breakGlassReason string) string {
	t.Helper()
	plan := compileExample(t, "confluence-cve-2021-26084")
	inputs, err := plan.ResolveInputs(map[string]string{"compromised": strings.Join(fleet.CompromisedIDs, ","), "final_action": finalAction})
	if err != nil {
		t.Fatal(err)
	}
	return startSigned(t, c, queue, plan, inputs, meta, breakGlassReason)
}

// startSigned starts plan as a responder's cordon run does: the start
// signed with meta.Requester's key, and, with a reason, carol's signed
// break-glass given with it.
func startSigned(t *testing.T, c client.Client, queue string, plan *runbooks.Plan, inputs map[string]any, meta workflows.RunMeta, breakGlassReason string) string {
	t.Helper()
	if meta.RunID == "" {
		meta.RunID = runctl.NewRunID(plan.Runbook.Name, time.Now())
	}
	opts := runctl.StartOptions{Plan: plan, Inputs: inputs, Meta: meta, Signer: shared.keys[meta.Requester]}
	if breakGlassReason != "" {
		bg, err := runctl.SignBreakGlass(meta.RunID, "carol", breakGlassReason, shared.keys["carol"])
		if err != nil {
			t.Fatal(err)
		}
		opts.BreakGlass = []workflows.Request{bg}
	}
	runID, err := runctl.Start(context.Background(), c, queue, opts)
	if err != nil {
		t.Fatal(err)
	}
	return runID
}

// approveGates approves every gate that waits, in this run and its
// children, as approver, until the run ends; it returns the run's result.
func approveGates(t *testing.T, runID, approver string) workflows.RunResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	approved := map[string]bool{}
	for {
		runs := []string{runID}
		s, err := runctl.State(ctx, shared.client, runID)
		if err != nil {
			t.Fatal(err)
		}
		for _, st := range s.Steps {
			runs = append(runs, st.Children...)
		}
		for _, id := range runs {
			cs, err := runctl.State(ctx, shared.client, id)
			if err != nil {
				continue // a child not started yet
			}
			for _, g := range cs.Gates {
				key := id + "/" + g.Key + "/" + g.PreviewHash
				if g.Status != workflows.GateWaiting || approved[key] {
					continue
				}
				_, err := runctl.Send(ctx, shared.client, workflows.Request{RunID: id, Action: workflows.ActApprove, Step: g.Step, Item: g.Item,
					PreviewHash: g.PreviewHash, Actor: approver, Channel: "cli", Reason: "e2e"}, shared.keys[approver])
				if err != nil {
					t.Fatalf("approve %s %s: %v", id, g.Key, err)
				}
				approved[key] = true
			}
		}
		if s.Status != workflows.RunRunning {
			res, err := runctl.Wait(ctx, shared.client, runID)
			if err != nil {
				t.Fatalf("run %s: %v", runID, err)
			}
			return res
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// succeeded waits up to within for run runID, through c, to end, and fails
// the test unless it succeeded.
func succeeded(t *testing.T, c client.Client, runID string, within time.Duration) workflows.RunResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	res, err := runctl.Wait(ctx, c, runID)
	if err != nil || res.Status != workflows.RunSucceeded {
		t.Fatalf("run %s: %+v %v", runID, res, err)
	}
	return res
}

func TestContainOneInstanceEndToEnd(t *testing.T) {
	ctx := context.Background()
	fleet := seedFleet(t, awsemu.FleetSpec{Instances: 2, NamePrefix: "wiki", NetworkInterfaces: 2, Volumes: 2,
		InAutoScalingGroup: 2, BehindTargetGroup: 2, WithInstanceRole: true, Compromised: []int{0}})
	target := fleet.InstanceIDs[0]
	plan := compileExample(t, "ec2-compromise")
	runID := startSigned(t, shared.client, shared.cfg.Temporal.TaskQueue, plan, ec2Inputs(t, plan, target, "stop"),
		workflows.RunMeta{RunID: "e2e-ec2-" + target, Requester: "alice", Channel: "cli", Incident: "INC-26084"}, "")

	// The requester cannot approve her own run, and an unsigned decision
	// is refused: both are the validator's answer, returned to the caller.
	waitForGate(t, runID, "isolate")
	s, _ := runctl.State(ctx, shared.client, runID)
	hash := s.Gates[0].PreviewHash
	_, err := runctl.Send(ctx, shared.client, workflows.Request{RunID: runID, Action: workflows.ActApprove, Step: "isolate",
		PreviewHash: hash, Actor: "alice", Channel: "cli"}, shared.keys["alice"])
	if !isRefused(err, "cannot approve") {
		t.Errorf("self-approval: %v", err)
	}
	_, err = runctl.Send(ctx, shared.client, workflows.Request{RunID: runID, Action: workflows.ActApprove, Step: "isolate",
		PreviewHash: hash, Actor: "bob", Channel: "cli"}, nil)
	if !isRefused(err, "not signed") {
		t.Errorf("unsigned approval: %v", err)
	}

	res := approveGates(t, runID, "bob")
	if res.Status != workflows.RunSucceeded {
		t.Fatalf("run %s: %+v", runID, res)
	}

	// What AWS (the emulator) ended up holding.
	quarantine := fmt.Sprint(res.Outputs["quarantine_group_id"])
	for _, p := range sandbox.Uncontained(shared.emu, target, quarantine, true) {
		t.Error(p)
	}
	in, _ := shared.emu.Instance(target)
	perVolume := map[string]int{}
	for _, sn := range shared.emu.Snapshots() {
		perVolume[sn.VolumeID]++
	}
	for _, bd := range in.BlockDevices {
		if perVolume[bd.VolumeID] != 1 {
			t.Errorf("volume %s has %d snapshots", bd.VolumeID, perVolume[bd.VolumeID])
		}
	}
	role, _ := shared.emu.Role(fleet.RoleName)
	if len(role.InlinePolicies) == 0 {
		t.Errorf("role %s has no revocation policy", fleet.RoleName)
	}
	asg, _ := shared.emu.AutoScalingGroup(fleet.AutoScalingGroupName)
	for _, member := range asg.Instances {
		if member.InstanceID == target {
			t.Error("instance still in its Auto Scaling group")
		}
	}
	// The neighbour was not touched.
	other, _ := shared.emu.Instance(fleet.InstanceIDs[1])
	for _, eni := range other.NetworkInterfaceIDs {
		ni, _ := shared.emu.NetworkInterface(eni)
		if len(ni.SecurityGroupIDs) == 1 && ni.SecurityGroupIDs[0] == quarantine {
			t.Error("the healthy neighbour was isolated")
		}
	}

	// The timeline records who decided what, and the report renders it.
	s, _ = runctl.State(ctx, shared.client, runID)
	var approvals []string
	for _, e := range s.Timeline {
		if e.Kind == workflows.EventGateApproved {
			approvals = append(approvals, e.Step+" by "+e.Actor)
		}
	}
	if len(approvals) != 3 {
		t.Errorf("approvals %v (want isolate, revoke_sessions, stop by bob)", approvals)
	}

	// The recorded history replays against today's workflow code.
	replay(t, runID, "ec2-compromise-signed")
}

func waitForGate(t *testing.T, runID, step string) {
	t.Helper()
	gateWaiting(t, shared.client, runID, step)
}

// gateWaiting waits, through c, until run runID's gate of step waits for
// a decision, and returns that gate.
func gateWaiting(t *testing.T, c client.Client, runID, step string) workflows.GateState {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		s, err := runctl.State(context.Background(), c, runID)
		if err == nil {
			for _, g := range s.Gates {
				if g.Step == step && g.Status == workflows.GateWaiting {
					return g
				}
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("run %s never reached the %s gate", runID, step)
	return workflows.GateState{}
}

func isRefused(err error, substr string) bool {
	return err != nil && strings.Contains(err.Error(), "refused") && strings.Contains(err.Error(), substr)
}

// replay fetches a run's history, replays it with the SDK's replayer
// (a non-deterministic change to the interpreter fails here), and with
// -update saves it for the workflows package's offline replay test.
func replay(t *testing.T, runID, name string) {
	t.Helper()
	replayWorkflow(t, runID, filepath.Join("..", "..", "workflows", "testdata", "histories", name+".json"), registerForReplay)
}

// replayWorkflow is replay for any workflow: the history of workflow id
// (its latest run), replayed with the workflows register registers, and
// with -update saved at path for its package's offline replay test.
func replayWorkflow(t *testing.T, id, path string, register func(sdkworker.WorkflowReplayer)) {
	t.Helper()
	ctx := context.Background()
	iter := shared.client.GetWorkflowHistory(ctx, id, "", false, 0)
	var events []*historyEvent
	for iter.HasNext() {
		e, err := iter.Next()
		if err != nil {
			t.Fatal(err)
		}
		events = append(events, e)
	}
	h := newHistory(events)
	if *updateHistories {
		if err := saveHistory(path, h); err != nil {
			t.Fatal(err)
		}
	}
	r := sdkworker.NewWorkflowReplayer()
	register(r)
	// The interpreter reads the run's identity from Temporal: replay it
	// under its own workflow id.
	if err := r.ReplayWorkflowHistoryWithOptions(tlog.NewStructuredLogger(slog.New(slog.DiscardHandler)), h,
		sdkworker.ReplayWorkflowHistoryOptions{OriginalExecution: workflow.Execution{ID: id}}); err != nil {
		t.Fatalf("replay %s: %v", id, err)
	}
}
