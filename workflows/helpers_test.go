package workflows_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"log/slog"

	"go.temporal.io/sdk/activity"
	tlog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/testsuite"
	sdkworker "go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"
	"golang.org/x/crypto/ssh"

	"github.com/cordon-ir/cordon/actions"
	"github.com/cordon-ir/cordon/actions/wire"
	"github.com/cordon-ir/cordon/runbooks"
	"github.com/cordon-ir/cordon/worker"
	"github.com/cordon-ir/cordon/workflows"
)

// fakeAWS stands in for the action activities in workflow tests (the
// actions themselves are tested through the SDK against the emulator).
// It records every call and answers with configurable results.
type fakeAWS struct {
	mu       sync.Mutex
	calls    []wire.Call
	inFlight int
	peak     int
	// outputs per action; changes per action (previews and executions).
	outputs map[string]map[string]any
	changes func(call wire.Call, n int) []wire.Change
	fail    func(call wire.Call) error
	// artefacts, when set, are the evidence a call reports stored.
	artefacts func(call wire.Call) []wire.Artefact
	delay     time.Duration
	started   chan wire.Call
}

func newFakeAWS() *fakeAWS {
	return &fakeAWS{outputs: map[string]map[string]any{}}
}

func (f *fakeAWS) run(ctx context.Context, call wire.Call) (wire.Result, error) {
	f.mu.Lock()
	f.calls = append(f.calls, call)
	n := len(f.calls)
	f.inFlight++
	f.peak = max(f.peak, f.inFlight)
	out := f.outputs[call.Action]
	f.mu.Unlock()
	defer func() {
		f.mu.Lock()
		f.inFlight--
		f.mu.Unlock()
	}()
	if f.started != nil {
		f.started <- call
	}
	if f.delay > 0 {
		select {
		case <-ctx.Done():
			return wire.Result{}, ctx.Err()
		case <-time.After(f.delay):
		}
	}
	if f.fail != nil {
		if err := f.fail(call); err != nil {
			return wire.Result{}, err
		}
	}
	res := wire.Result{Outputs: map[string]any{}, Changes: []wire.Change{
		{Resource: fmt.Sprint(call.Params["instance_id"]), Field: "groups", Before: "sg-app", After: "sg-quarantine"},
	}}
	if f.changes != nil {
		res.Changes = f.changes(call, n)
	}
	if f.artefacts != nil {
		res.Artefacts = f.artefacts(call)
	}
	for k, v := range out {
		res.Outputs[k] = v
	}
	return res, nil
}

// executed lists the calls made in Execute mode, as "action:step#item".
func (f *fakeAWS) executed() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, c := range f.calls {
		if c.Mode == wire.Execute {
			out = append(out, fmt.Sprintf("%s:%s#%d", c.Action, c.Run.StepID, c.Run.Item))
		}
	}
	return out
}

func (f *fakeAWS) count(mode wire.Mode, action string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, c := range f.calls {
		if c.Mode == mode && c.Action == action {
			n++
		}
	}
	return n
}

type fixture struct {
	t      *testing.T
	suite  testsuite.WorkflowTestSuite
	env    *testsuite.TestWorkflowEnvironment
	aws    *fakeAWS
	roster workflows.Roster
	// vouch, when set, answers the plan voucher instead of a development
	// worker's source.
	vouch func(context.Context, workflows.VouchRequest) (workflows.VouchedPlan, error)
	notes []workflows.GateNotice
	// verify, when set, answers the verification of the intake's starts
	// at the findings' sources (the worker's TriggerVerifier, tested
	// against the emulator in internal/e2e); default: verified. verified
	// are the requests it was asked.
	verify   func(context.Context, workflows.VerifyTriggerRequest) (workflows.VerifiedTrigger, error)
	verified []workflows.VerifyTriggerRequest
	// held are the target locks, target → owner run (as the worker's
	// TargetLocks keeps them on the server).
	held map[string]string
	mu   sync.Mutex
}

func defaultRoster() workflows.Roster {
	return workflows.Roster{Members: []workflows.Member{
		{ID: "alice", Roles: []string{"responder"}, Groups: []string{"csirt"}},
		{ID: "bob", Roles: []string{"responder"}, Groups: []string{"csirt"}},
		{ID: "carol", Roles: []string{"lead"}, Groups: []string{"csirt", "leads"}},
		{ID: "dave", Roles: []string{"responder"}, Groups: []string{"finance"}},
		{ID: "erin", Roles: []string{}, Groups: []string{"leads"}},
	}}
}

func newFixture(t *testing.T) *fixture {
	f := &fixture{t: t, aws: newFakeAWS(), roster: defaultRoster()}
	f.suite.SetLogger(tlog.NewStructuredLogger(slog.New(slog.DiscardHandler)))
	f.env = f.suite.NewTestWorkflowEnvironment()
	// The test environment's guards run on the wall clock: a workflow
	// task that does not yield for 1 s is a "deadlock", a run longer
	// than 3 s is a timeout. On a loaded CI machine (go test ./... runs
	// the end-to-end servers beside this package) both fired on correct
	// code, failing tests at random. The mock clock is what the tests
	// measure; these bounds only catch real hangs.
	f.env.SetTestTimeout(2 * time.Minute)
	f.env.SetWorkerOptions(sdkworker.Options{DeadlockDetectionTimeout: 30 * time.Second})
	f.env.RegisterWorkflowWithOptions(workflows.Runbook, workflow.RegisterOptions{Name: workflows.WorkflowName})
	f.env.RegisterActivityWithOptions(func(context.Context) (workflows.Roster, error) { return f.roster, nil },
		activity.RegisterOptions{Name: workflows.ActivityLoadRoster})
	f.held = map[string]string{}
	f.env.RegisterActivityWithOptions(func(_ context.Context, req workflows.ClaimRequest) (workflows.ClaimResult, error) {
		f.mu.Lock()
		defer f.mu.Unlock()
		res := workflows.ClaimResult{Checked: true}
		for _, t := range req.Targets {
			switch owner, ok := f.held[t]; {
			case !ok:
				f.held[t] = req.RunID
				res.Claimed = append(res.Claimed, t)
			case owner != req.RunID:
				res.Held = append(res.Held, workflows.TargetHeld{Target: t, RunID: owner})
			}
		}
		return res, nil
	}, activity.RegisterOptions{Name: workflows.ActivityClaimTargets})
	f.env.RegisterActivityWithOptions(func(_ context.Context, req workflows.ReleaseRequest) error {
		f.mu.Lock()
		defer f.mu.Unlock()
		for _, t := range req.Targets {
			if f.held[t] == req.RunID {
				delete(f.held, t)
			}
		}
		return nil
	}, activity.RegisterOptions{Name: workflows.ActivityReleaseTargets})
	f.env.RegisterActivityWithOptions(func(ctx context.Context, req workflows.VouchRequest) (workflows.VouchedPlan, error) {
		src := &worker.PlanSource{Catalog: actions.Catalog(), AcceptClientPlans: !f.roster.RequireSignatures, AllowJustifiedNoGate: true}
		if f.vouch != nil {
			return f.vouch(ctx, req)
		}
		return src.Vouch(ctx, req)
	}, activity.RegisterOptions{Name: workflows.ActivityVouchPlan})
	f.env.RegisterActivityWithOptions((&worker.PlanSource{Catalog: actions.Catalog()}).CheckInstances,
		activity.RegisterOptions{Name: workflows.ActivityCheckInstances})
	f.env.RegisterActivityWithOptions(func(ctx context.Context, req workflows.VerifyTriggerRequest) (workflows.VerifiedTrigger, error) {
		f.mu.Lock()
		f.verified = append(f.verified, req)
		f.mu.Unlock()
		if f.verify != nil {
			return f.verify(ctx, req)
		}
		return workflows.VerifiedTrigger{}, nil
	}, activity.RegisterOptions{Name: workflows.ActivityVerifyTrigger})
	f.env.RegisterActivityWithOptions(func(_ context.Context, n workflows.GateNotice) error {
		f.mu.Lock()
		defer f.mu.Unlock()
		f.notes = append(f.notes, n)
		return nil
	}, activity.RegisterOptions{Name: workflows.ActivityNotifyGate})
	for _, name := range actions.Catalog().Names() {
		if name == "core.wait" {
			continue
		}
		f.env.RegisterActivityWithOptions(f.aws.run, activity.RegisterOptions{Name: name})
	}
	return f
}

func (f *fixture) notices(kind workflows.NoticeKind) []workflows.GateNotice {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []workflows.GateNotice
	for _, n := range f.notes {
		if n.Kind == kind {
			out = append(out, n)
		}
	}
	return out
}

func compilePlan(t *testing.T, src string) *runbooks.Plan {
	t.Helper()
	files := map[string][]byte{"child.yaml": []byte(childRunbook)}
	c := runbooks.NewCompiler(actions.Catalog(), mapResolver(files))
	plan, diags := c.Compile("test.yaml", []byte(src))
	if plan == nil {
		t.Fatalf("compile: %s", diags.Error())
	}
	return plan
}

type mapResolver map[string][]byte

func (m mapResolver) Resolve(_, name string) (string, []byte, error) {
	src, ok := m[name+".yaml"]
	if !ok {
		return "", nil, fmt.Errorf("no runbook %s", name)
	}
	return name + ".yaml", src, nil
}

const childRunbook = `apiVersion: cordon.dev/v1
kind: Runbook
metadata:
  name: child
inputs:
  instance_id: {type: string, required: true}
approvals:
  approvers: {groups: [csirt]}
steps:
  - id: isolate
    action: aws.ec2.isolate_instance
    approval: required
    with: {instance_id: "${{ inputs.instance_id }}"}
outputs:
  group: steps.isolate.outputs.quarantine_group_id
`

func (f *fixture) start(src string, inputs map[string]any, meta workflows.RunMeta) {
	if meta.RunID == "" {
		meta.RunID = "run-1"
	}
	if meta.Requester == "" {
		meta.Requester = "alice"
	}
	f.env.SetStartWorkflowOptions(clientStartOptions(meta.RunID))
	f.env.ExecuteWorkflow(workflows.WorkflowName, workflows.RunInput{Plan: compilePlan(f.t, src), Inputs: inputs, Meta: meta})
}

// reviewed puts src (and the child runbook) in a runbook source the
// worker vouches for, as a production worker's runbooks.dir.
func (f *fixture) reviewed(src string) {
	dir := f.t.TempDir()
	for name, text := range map[string]string{"test.yaml": src, "child.yaml": childRunbook} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o600); err != nil {
			f.t.Fatal(err)
		}
	}
	source := &worker.PlanSource{Dir: dir, Catalog: actions.Catalog(), AllowJustifiedNoGate: true}
	f.vouch = source.Vouch
}

// startSigned starts src with a start request signed by requester's key,
// as cordon run does, with any break-glass requests given.
func (f *fixture) startSigned(src string, requester string, key ssh.Signer, breakGlass ...workflows.Request) {
	f.startSignedWith(src, requester, key, nil, breakGlass...)
}

// startSignedWith is startSigned with edit applied to the start request
// (before it is signed) and to the run's metadata: what a client may
// sign, and what it may claim besides.
func (f *fixture) startSignedWith(src string, requester string, key ssh.Signer, edit func(*workflows.Request, *workflows.RunMeta), breakGlass ...workflows.Request) {
	plan := compilePlan(f.t, src)
	inputs := map[string]any{}
	req := workflows.Request{RunID: "run-1", Action: workflows.ActStart, Actor: requester, Channel: "cli", Time: f.env.Now(),
		Nonce: "start-" + requester, Runbook: plan.Runbook.Name, PlanHash: plan.ContentHash(), InputsHash: workflows.InputsHash(inputs)}
	meta := workflows.RunMeta{RunID: "run-1", Requester: requester, Channel: "cli"}
	if edit != nil {
		edit(&req, &meta)
	}
	signed, err := workflows.Sign(req, key)
	if err != nil {
		f.t.Fatal(err)
	}
	f.env.SetStartWorkflowOptions(clientStartOptions("run-1"))
	f.env.ExecuteWorkflow(workflows.WorkflowName, workflows.RunInput{Plan: plan, Runbook: plan.Runbook.Name, Inputs: inputs,
		Meta: meta, Start: &signed, BreakGlass: breakGlass})
}

func (f *fixture) state() workflows.State {
	f.t.Helper()
	v, err := f.env.QueryWorkflow(workflows.QueryState)
	if err != nil {
		f.t.Fatalf("query: %v", err)
	}
	var s workflows.State
	if err := v.Get(&s); err != nil {
		f.t.Fatal(err)
	}
	return s
}

// outcome is what became of one update.
type outcome struct {
	done   bool
	result string
	err    error
}

// send delivers an update. Updates are processed asynchronously by the
// test environment, so the outcome is filled in later: check it in a later
// callback or after the run.
func (f *fixture) send(name string, req workflows.Request) *outcome {
	o := &outcome{}
	f.env.UpdateWorkflow(name, fmt.Sprintf("u-%d", time.Now().UnixNano()), &testsuite.TestUpdateCallback{
		OnAccept: func() {},
		OnReject: func(err error) { o.err, o.done = err, true },
		OnComplete: func(v any, err error) {
			if s, ok := v.(string); ok {
				o.result = s
			}
			o.err, o.done = err, true
		},
	}, req)
	return o
}

// decide approves or denies the waiting gate of step as actor, binding to
// the preview the gate shows now.
func (f *fixture) decide(action, step, actor, reason string) *outcome {
	st := f.state()
	hash := ""
	for _, g := range st.Gates {
		if g.Step == step && g.Status == workflows.GateWaiting {
			hash = g.PreviewHash
		}
	}
	return f.send(workflows.UpdateApprove, workflows.Request{RunID: st.Meta.RunID, Action: action, Step: step,
		PreviewHash: hash, Actor: actor, Channel: "cli", Reason: reason, Time: f.env.Now()})
}

func (f *fixture) control(update, action, actor, step, reason string) *outcome {
	return f.send(update, workflows.Request{RunID: "run-1", Action: action, Step: step, Actor: actor, Channel: "cli", Reason: reason, Time: f.env.Now()})
}

// wantOK and wantRefused check an outcome once it is in.
func wantOK(t *testing.T, label string, o *outcome) {
	t.Helper()
	if !o.done || o.err != nil {
		t.Errorf("%s: done=%t err=%v", label, o.done, o.err)
	}
}

func wantRefused(t *testing.T, label string, o *outcome, substr string) {
	t.Helper()
	if !o.done || o.err == nil || !strings.Contains(o.err.Error(), substr) {
		t.Errorf("%s: done=%t err=%v, want refusal containing %q", label, o.done, o.err, substr)
	}
}

// at runs fn at workflow time d after start.
func (f *fixture) at(d time.Duration, fn func()) { f.env.RegisterDelayedCallback(fn, d) }

func (f *fixture) result() (workflows.RunResult, error) {
	f.t.Helper()
	if !f.env.IsWorkflowCompleted() {
		f.t.Fatal("workflow did not complete")
	}
	var res workflows.RunResult
	err := f.env.GetWorkflowResult(&res)
	return res, err
}

// wantResult is the run's result; it fails the test at once unless the run
// ended with status want (saying why it did not: the error, the refusals).
func (f *fixture) wantResult(want workflows.RunStatus) workflows.RunResult {
	f.t.Helper()
	res, err := f.result()
	if err != nil || res.Status != want {
		f.t.Fatalf("result %+v, %v: want %s; refusals %+v", res, err, want, f.state().Refusals)
	}
	return res
}

func stepStatus(s workflows.State, id string) workflows.StepStatus {
	for _, st := range s.Steps {
		if st.ID == id {
			return st.Status
		}
	}
	return "(no step)"
}
