package intake_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/activity"
	tlog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/cordon-ir/cordon/intake"
	"github.com/cordon-ir/cordon/intake/intaketest"
	"github.com/cordon-ir/cordon/runbooks"
	"github.com/cordon-ir/cordon/triggers"
	"github.com/cordon-ir/cordon/workflows"
)

// fakeWorld stands in for the intake's activities in workflow tests: it
// records what the workflows asked for, and answers as the test says.
// The end-to-end tests (internal/e2e) run the real ones.
type fakeWorld struct {
	mu       sync.Mutex
	starts   []intake.StartRunRequest
	updates  []intake.SendUpdateRequest
	notices  []intake.Notice
	joins    []intake.JoinRequest
	looks    map[string]int
	progress func(runID string, look int) intake.RunProgress
	breaker  func(intake.AcquireRequest) intake.AcquireResult
}

// newEnv is a test environment (logging nowhere) whose intake activities
// are a fake world's.
func newEnv() (*testsuite.TestWorkflowEnvironment, *fakeWorld) {
	var s testsuite.WorkflowTestSuite
	s.SetLogger(tlog.NewStructuredLogger(slog.New(slog.DiscardHandler)))
	env := s.NewTestWorkflowEnvironment()
	f := &fakeWorld{looks: map[string]int{},
		progress: func(string, int) intake.RunProgress { return intake.RunProgress{Phase: intake.ProgressRunning} },
		breaker:  func(intake.AcquireRequest) intake.AcquireResult { return intake.AcquireResult{Allowed: true} },
	}
	f.register(env)
	return env, f
}

func (f *fakeWorld) register(env *testsuite.TestWorkflowEnvironment) {
	env.RegisterActivityWithOptions(recorder(&f.mu, &f.starts, struct{}{}), activity.RegisterOptions{Name: intake.ActivityStartRun})
	env.RegisterActivityWithOptions(recorder(&f.mu, &f.updates, true), activity.RegisterOptions{Name: intake.ActivitySendUpdate})
	env.RegisterActivityWithOptions(recorder(&f.mu, &f.notices, struct{}{}), activity.RegisterOptions{Name: intake.ActivityNotify})
	env.RegisterActivityWithOptions(recorder(&f.mu, &f.joins, struct{}{}), activity.RegisterOptions{Name: intake.ActivityJoinBatch})
	env.RegisterActivityWithOptions(func(_ context.Context, runID string) (intake.RunProgress, error) {
		f.mu.Lock()
		defer f.mu.Unlock()
		f.looks[runID]++
		return f.progress(runID, f.looks[runID]), nil
	}, activity.RegisterOptions{Name: intake.ActivityRunStatus})
	env.RegisterActivityWithOptions(func(_ context.Context, r intake.AcquireRequest) (intake.AcquireResult, error) {
		f.mu.Lock()
		defer f.mu.Unlock()
		return f.breaker(r), nil
	}, activity.RegisterOptions{Name: intake.ActivityAcquire})
}

// recorder is an activity that appends its argument to *list and returns
// answer (struct{}: nothing but an error).
func recorder[T, A any](mu *sync.Mutex, list *[]T, answer A) any {
	record := func(r T) {
		mu.Lock()
		defer mu.Unlock()
		*list = append(*list, r)
	}
	if _, none := any(answer).(struct{}); none {
		return func(_ context.Context, r T) error { record(r); return nil }
	}
	return func(_ context.Context, r T) (A, error) { record(r); return answer, nil }
}

// noticed says whether a notice containing text was sent.
func (f *fakeWorld) noticed(text string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, n := range f.notices {
		if strings.Contains(n.Text, text) {
			return true
		}
	}
	return false
}

var settings = intake.Settings{ProposalTimeout: 24 * time.Hour, Remember: time.Hour, StatusEvery: time.Minute}

func lookPlan(t *testing.T) *runbooks.Plan {
	return intaketest.Compile(t, filepath.Join("testdata", "look.yaml"))
}

// host is the finding the workflow tests are about.
var host = intaketest.Finding{ID: "8ab933f8a9b7e6c2b1a3d4e5f6a7b8c9", Region: "eu-west-1", Instance: "i-0abc12345def67890", Count: 3}

// seen is host's finding seen count times.
func seen(f intaketest.Finding, count int) intaketest.Finding {
	f.Count = count
	return f
}

// deliveries are an event's decisions for runbook look, one delivery per
// decision (the launcher sends each to its runbook's finding workflow).
func deliveryOf(t *testing.T, ev []byte, id string) intake.Delivery {
	t.Helper()
	s := intaketest.Submission(t, []*runbooks.Plan{lookPlan(t)}, ev, "test")
	for _, d := range s.Decisions {
		if d.Decision != triggers.Drop {
			return intake.Delivery{ID: id, Finding: s.Finding, Decision: d, ReceivedAt: time.Date(2024, 5, 1, 12, 31, 0, 0, time.UTC)}
		}
	}
	t.Fatalf("no trigger of look takes the event: %+v", s.Decisions)
	return intake.Delivery{}
}

func findingState(t *testing.T, env *testsuite.TestWorkflowEnvironment) intake.FindingState {
	t.Helper()
	v, err := env.QueryWorkflow(intake.QueryFinding)
	if err != nil {
		t.Fatal(err)
	}
	var s intake.FindingState
	if err := v.Get(&s); err != nil {
		t.Fatal(err)
	}
	return s
}

func outcomeActions(s intake.FindingState) []string {
	var out []string
	for _, o := range s.Outcomes {
		out = append(out, o.Action)
	}
	return out
}

// One finding, delivered again, copied by Security Hub and updated: one
// run; redeliveries and the copy are duplicates; the update goes to the
// run; an update after the run ended is a notification, never a run.
func TestFindingOnceUpdatesAndStillActive(t *testing.T) {
	env, world := newEnv()
	ended := false
	world.progress = func(_ string, look int) intake.RunProgress {
		switch {
		case look == 1:
			return intake.RunProgress{Phase: intake.ProgressPending}
		case ended:
			return intake.RunProgress{Phase: intake.ProgressEnded, Status: workflows.RunSucceeded}
		}
		return intake.RunProgress{Phase: intake.ProgressRunning}
	}
	first := deliveryOf(t, host.GuardDuty(t), "d1")
	again := deliveryOf(t, host.AdminCopy(t, "111122223333"), "d2")
	hub := deliveryOf(t, host.SecurityHub(t), "d3")
	updated := deliveryOf(t, seen(host, 5).GuardDuty(t), "d4")
	late := deliveryOf(t, seen(host, 9).GuardDuty(t), "d5")
	if hub.Finding.Key != first.Finding.Key || hub.Decision.Trigger != "hub" {
		t.Fatalf("the Security Hub copy: %+v", hub.Decision)
	}
	for i, d := range []intake.Delivery{first, again, hub, updated} {
		env.RegisterDelayedCallback(func() { env.SignalWorkflow(intake.SignalDelivery, d) }, time.Duration(i)*time.Second)
	}
	env.RegisterDelayedCallback(func() { ended = true }, 10*time.Minute)
	env.RegisterDelayedCallback(func() { env.SignalWorkflow(intake.SignalDelivery, late) }, 20*time.Minute)
	env.ExecuteWorkflow(intake.FindingWorkflow, intake.FindingInput{Runbook: "look", Key: first.Finding.Key, Settings: settings})
	if err := env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	st := findingState(t, env)
	if got := strings.Join(outcomeActions(st), ","); got != "started,duplicate,duplicate,attached,notified" {
		t.Errorf("outcomes %s", got)
	}
	if len(world.starts) != 1 {
		t.Fatalf("%d runs started", len(world.starts))
	}
	start := world.starts[0]
	tr := start.Spec.Trigger
	if start.Launch != nil || tr.Name != "high" || tr.Mode != "launch" || len(tr.Findings) != 1 || start.Spec.Runbook != "look" ||
		!tr.Findings[0].Created.Equal(time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)) || start.Spec.Inputs["instance_id"] != "i-0abc12345def67890" {
		t.Errorf("start: %+v", start)
	}
	if len(world.updates) != 1 || world.updates[0].Update.Count != 5 || world.updates[0].RunID != start.Spec.RunID {
		t.Errorf("updates: %+v", world.updates)
	}
	if !world.noticed("Finding still active after containment") || st.Notifications != 1 || st.Phase != intake.PhaseEnded || st.Count != 9 {
		t.Errorf("after the run: %+v %+v", st, world.notices)
	}
}

// A medium finding proposes the run; a launch signed for something else
// is refused before anything starts; the run refusing a launch (the
// signer may not start runs) reopens the proposal under the next run id,
// which a responder then launches. An update received meanwhile reaches
// the run once it runs.
func TestProposalLaunchRefusedThenLaunched(t *testing.T) {
	env, world := newEnv()
	world.progress = func(runID string, _ int) intake.RunProgress {
		if !strings.HasSuffix(runID, "-2") {
			return intake.RunProgress{Phase: intake.ProgressEnded, Status: workflows.RunFailed, Refused: "intake-bot needs the responder or lead role to start a run"}
		}
		return intake.RunProgress{Phase: intake.ProgressEnded, Status: workflows.RunSucceeded}
	}
	medium := host
	medium.Severity = 5
	first := deliveryOf(t, medium.GuardDuty(t), "d1")
	update := deliveryOf(t, seen(medium, 4).GuardDuty(t), "d2")
	env.RegisterDelayedCallback(func() { env.SignalWorkflow(intake.SignalDelivery, first) }, 0)
	env.RegisterDelayedCallback(func() { env.SignalWorkflow(intake.SignalDelivery, update) }, time.Second)
	var rejected []string
	launch := func(actor string, edit func(*workflows.Request)) {
		st := findingState(t, env)
		p := st.Proposal
		if p == nil {
			t.Fatalf("no proposal: %+v", st)
		}
		req := p.StartRequest(actor)
		req.Signature = "signed"
		if edit != nil {
			edit(&req)
		}
		env.UpdateWorkflow(intake.UpdateLaunch, actor+req.RunID, &testsuite.TestUpdateCallback{
			OnReject:   func(err error) { rejected = append(rejected, err.Error()) },
			OnAccept:   func() {},
			OnComplete: func(any, error) {},
		}, intake.LaunchRequest{Start: req})
	}
	env.RegisterDelayedCallback(func() {
		launch("bob", func(r *workflows.Request) { r.InputsHash = "stale" })
		launch("intake-bot", nil)
	}, time.Minute)
	env.RegisterDelayedCallback(func() { launch("alice", nil) }, 10*time.Minute)
	env.ExecuteWorkflow(intake.FindingWorkflow, intake.FindingInput{Runbook: "look", Key: first.Finding.Key, Settings: settings})
	if err := env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	if len(rejected) != 1 || !strings.Contains(rejected[0], "the proposal changed since it was signed") {
		t.Errorf("rejected: %v", rejected)
	}
	if len(world.starts) != 2 || world.starts[0].Launch.Start.Actor != "intake-bot" || world.starts[1].Launch.Start.Actor != "alice" ||
		world.starts[1].Spec.RunID != world.starts[0].Spec.RunID+"-2" || world.starts[1].Spec.Trigger.Mode != "propose" {
		t.Fatalf("starts: %+v", world.starts)
	}
	if !world.noticed("Cordon proposes runbook look") || !world.noticed("was refused") {
		t.Errorf("notices: %+v", world.notices)
	}
	st := findingState(t, env)
	if st.RunID != world.starts[1].Spec.RunID || len(world.updates) != 1 || world.updates[0].Update.Count != 4 || world.updates[0].RunID != st.RunID {
		t.Errorf("state %+v, updates %+v", st, world.updates)
	}
	if got := strings.Join(outcomeActions(st), ","); got != "proposed,attached" {
		t.Errorf("outcomes %s", got)
	}
}

// A launch trigger whose breaker has tripped proposes instead.
func TestBreakerTrippedProposes(t *testing.T) {
	env, world := newEnv()
	world.breaker = func(r intake.AcquireRequest) intake.AcquireResult {
		return intake.AcquireResult{Limit: r.Limit, Count: r.Limit, Reason: fmt.Sprintf("%d runs in the last hour", r.Limit)}
	}
	first := deliveryOf(t, host.GuardDuty(t), "d1")
	env.RegisterDelayedCallback(func() { env.SignalWorkflow(intake.SignalDelivery, first) }, 0)
	env.ExecuteWorkflow(intake.FindingWorkflow, intake.FindingInput{Runbook: "look", Key: first.Finding.Key, Settings: settings})
	if err := env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	st := findingState(t, env)
	if len(world.starts) != 0 || len(st.Outcomes) != 1 || st.Outcomes[0].Action != intake.Proposed ||
		!strings.Contains(st.Outcomes[0].Reason, "circuit breaker: 2 runs in the last hour") || st.Phase != intake.PhaseExpired {
		t.Errorf("state %+v, starts %+v", st, world.starts)
	}
}

// The breaker counts launches over the last hour, an ask repeated (a
// retried activity) once, and ends after an hour without a launch.
func TestBreakerWorkflow(t *testing.T) {
	env, _ := newEnv()
	var answers []string
	ask := func(id string) {
		env.UpdateWorkflow(intake.UpdateAcquire, id+fmt.Sprint(len(answers)), &testsuite.TestUpdateCallback{
			OnReject: func(err error) { answers = append(answers, "rejected: "+err.Error()) },
			OnAccept: func() {},
			OnComplete: func(v any, err error) {
				r := v.(intake.AcquireResult)
				answers = append(answers, fmt.Sprintf("%s:%t:%d", id, r.Allowed, r.Count))
			},
		}, intake.AcquireRequest{Runbook: "look", Trigger: "high", ID: id, Limit: 2})
	}
	env.RegisterDelayedCallback(func() { ask("a") }, 0)
	env.RegisterDelayedCallback(func() { ask("b") }, 20*time.Minute)
	env.RegisterDelayedCallback(func() { ask("c"); ask("a") }, 30*time.Minute)
	env.RegisterDelayedCallback(func() { ask("c") }, 65*time.Minute) // a has left the hour
	env.ExecuteWorkflow(intake.BreakerWorkflow, intake.BreakerInput{Runbook: "look", Trigger: "high"})
	if err := env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(answers, " "); got != "a:true:1 b:true:2 c:false:2 a:true:2 c:true:2" {
		t.Errorf("answers: %s", got)
	}
}

// batchMember is a join of finding i of a storm.
func batchMember(i int) intake.Join {
	return intake.Join{Member: fmt.Sprintf("cordon-finding-%02d", i), Item: fmt.Sprintf("i-%017x", i),
		Finding: workflows.TriggeredFinding{Key: fmt.Sprintf("guardduty/123456789012/eu-west-1/f%02d", i), Source: "guardduty"}}
}

var stormInput = intake.BatchInput{Key: "fleet/storm/account=123456789012/inputs=x", Runbook: "fleet", Trigger: "storm", Mode: "launch",
	Inputs: map[string]any{"region": "eu-west-1"}, Into: "hosts", Window: 2 * time.Minute, MaxTargets: 50, MaxLaunchesPerHour: 10, Settings: settings}

// Thirty findings within the window become one run of thirty targets;
// every member is told its run; two findings that arrive after the batch
// decided start the next batch (continue-as-new), not this run.
func TestBatchGathersAStorm(t *testing.T) {
	env, world := newEnv()
	world.progress = func(_ string, look int) intake.RunProgress {
		if look < 3 {
			return intake.RunProgress{Phase: intake.ProgressPending}
		}
		return intake.RunProgress{Phase: intake.ProgressRunning}
	}
	var mu sync.Mutex
	told := map[string]string{}
	env.OnSignalExternalWorkflow(mock.Anything, mock.Anything, "", intake.SignalBatchNews, mock.Anything).Return(
		func(_, id, _, _ string, arg any) error {
			mu.Lock()
			defer mu.Unlock()
			told[id] = arg.(intake.BatchNews).RunID
			return nil
		})
	for i := range 30 {
		env.RegisterDelayedCallback(func() { env.SignalWorkflow(intake.SignalJoin, batchMember(i)) }, time.Duration(i)*3*time.Second)
	}
	// After the window, while the batch waits for its run to start.
	env.RegisterDelayedCallback(func() {
		env.SignalWorkflow(intake.SignalJoin, batchMember(30))
		env.SignalWorkflow(intake.SignalJoin, batchMember(31))
		env.SignalWorkflow(intake.SignalJoin, batchMember(3)) // a join delivered twice
	}, 2*time.Minute+500*time.Millisecond)
	env.ExecuteWorkflow(intake.BatchWorkflow, stormInput)
	var next *workflow.ContinueAsNewError
	if err := env.GetWorkflowError(); !errors.As(err, &next) {
		t.Fatalf("the late findings should start the next batch: %v", err)
	}
	if len(world.starts) != 1 {
		t.Fatalf("%d runs", len(world.starts))
	}
	spec := world.starts[0].Spec
	hosts, _ := spec.Inputs["hosts"].([]any)
	if len(hosts) != 30 || len(spec.Trigger.Findings) != 30 || spec.Inputs["region"] != "eu-west-1" || spec.Trigger.Mode != "launch" {
		t.Errorf("run: %d hosts, %d findings, %+v", len(hosts), len(spec.Trigger.Findings), spec.Inputs)
	}
	if len(told) != 30 || told["cordon-finding-00"] != spec.RunID || told["cordon-finding-29"] != spec.RunID {
		t.Errorf("told %d members: %v", len(told), told)
	}
}

// joinsOverThree is a batch of max_targets 3 that the joins join(0) to
// join(n-1) reach a second apart.
func joinsOverThree(n int, join func(i int) intake.Join) (*testsuite.TestWorkflowEnvironment, *fakeWorld, intake.BatchInput) {
	env, world := newEnv()
	env.OnSignalExternalWorkflow(mock.Anything, mock.Anything, "", intake.SignalBatchNews, mock.Anything).Return(nil)
	in := stormInput
	in.MaxTargets = 3
	for i := range n {
		j := join(i)
		env.RegisterDelayedCallback(func() { env.SignalWorkflow(intake.SignalJoin, j) }, time.Duration(i)*time.Second)
	}
	return env, world, in
}

// Above max_targets a batch does not launch by itself: it is a proposal
// that a lead launches with a signed break-glass.
func TestBatchAboveCeilingNeedsBreakGlass(t *testing.T) {
	env, world, in := joinsOverThree(4, func(i int) intake.Join { return batchMember(i) })
	var rejected []string
	launch := func(bg bool) {
		v, err := env.QueryWorkflow(intake.QueryBatch)
		if err != nil {
			t.Fatal(err)
		}
		var st intake.BatchState
		if err := v.Get(&st); err != nil || st.Proposal == nil {
			t.Fatalf("no proposal: %+v %v", st, err)
		}
		p := st.Proposal
		req := intake.LaunchRequest{Start: p.StartRequest("carol")}
		req.Start.Signature = "signed"
		if bg {
			req.BreakGlass = []workflows.Request{{RunID: p.Run.RunID, Action: workflows.ActApproveAll, Actor: "carol", Signature: "signed"}}
		}
		env.UpdateWorkflow(intake.UpdateLaunch, fmt.Sprint(bg), &testsuite.TestUpdateCallback{
			OnReject: func(err error) { rejected = append(rejected, err.Error()) }, OnAccept: func() {}, OnComplete: func(any, error) {},
		}, req)
	}
	env.RegisterDelayedCallback(func() { launch(false); launch(true) }, 10*time.Minute)
	env.ExecuteWorkflow(intake.BatchWorkflow, in)
	if err := env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	if len(rejected) != 1 || !strings.Contains(rejected[0], "above the trigger's max_targets 3: a lead launches it with break-glass") {
		t.Errorf("rejected: %v", rejected)
	}
	if len(world.starts) != 1 || world.starts[0].Launch == nil || len(world.starts[0].Launch.BreakGlass) != 1 ||
		world.starts[0].Spec.Trigger.Mode != "propose" || len(world.starts[0].Spec.Trigger.Findings) != 4 {
		t.Errorf("starts: %+v", world.starts)
	}
	if !world.noticed("A lead launches it") {
		t.Errorf("notices: %+v", world.notices)
	}
}

// A batch with more findings than runbooks.MaxBatchFindings allows, though
// about fewer targets than max_targets, does not launch by itself either:
// the worker would refuse a start carrying that many findings.
func TestBatchWithMoreFindingsThanItsCeiling(t *testing.T) {
	over := runbooks.MaxBatchFindings(3) + 1
	env, world, in := joinsOverThree(over, func(i int) intake.Join {
		j := batchMember(i)
		j.Item = batchMember(i % 2).Item // several findings about each of two hosts
		return j
	})
	var st intake.BatchState
	env.RegisterDelayedCallback(func() {
		v, err := env.QueryWorkflow(intake.QueryBatch)
		if err == nil {
			err = v.Get(&st)
		}
		if err != nil {
			t.Error(err)
		}
	}, 10*time.Minute)
	env.ExecuteWorkflow(intake.BatchWorkflow, in)
	if err := env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	if len(world.starts) != 0 || st.Proposal == nil || !st.Proposal.NeedsBreakGlass ||
		!strings.Contains(st.Proposal.Reason, fmt.Sprintf("%d findings (about 2 targets), above the %d a batch of max_targets 3 launches with", over, over-1)) {
		t.Errorf("starts %+v, proposal %+v", world.starts, st.Proposal)
	}
}
