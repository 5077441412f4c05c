package e2e

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/workflowservice/v1"
	sdkworker "go.temporal.io/sdk/worker"

	"github.com/cordon-ir/cordon/actions"
	"github.com/cordon-ir/cordon/intake"
	"github.com/cordon-ir/cordon/intake/intaketest"
	"github.com/cordon-ir/cordon/internal/awsemu"
	"github.com/cordon-ir/cordon/runbooks"
	"github.com/cordon-ir/cordon/runctl"
	"github.com/cordon-ir/cordon/workflows"
)

// Issue 14, the intake's orchestration, on the real server: findings
// submitted as the intake's I/O side submits them (decided against the
// runbooks, then intake.Launcher.Submit), the intake's own worker starting
// runs signed with its key, and the containment worker verifying them.

// intakeWorld is a containment worker whose runbook source holds the
// given runbooks and whose roster is the shared one plus a detection
// intake, and an intake worker signing as that intake. Findings go in
// through submit.
type intakeWorld struct {
	plans    []*runbooks.Plan
	opts     intake.Options
	launcher intake.Launcher
	notices  *noticeLog
}

// newIntakeWorld starts the two workers, on task queues named after name,
// with the intake's options as tune leaves them; they stop when the test
// ends.
func newIntakeWorld(t *testing.T, name string, files map[string]string, tune ...func(*intake.Options)) *intakeWorld {
	t.Helper()
	id, queue := "intake-"+name, "e2e-intake-"+name
	dir, key := ownWorker{queue: queue, files: files, intake: id, pollInterval: 50 * time.Millisecond}.start(t)
	w := &intakeWorld{notices: &noticeLog{}}
	for file := range files {
		w.plans = append(w.plans, intaketest.Compile(t, filepath.Join(dir, file)))
	}
	w.opts = intake.Options{TaskQueue: queue + "-intake", RunTaskQueue: queue,
		IntakeID: id, Signer: key, Notifier: w.notices, Logger: slog.New(slog.DiscardHandler),
		ProposalTimeout: 10 * time.Minute, Remember: 10 * time.Minute, StatusEvery: 200 * time.Millisecond, OutcomeWait: time.Minute}
	for _, f := range tune {
		f(&w.opts)
	}
	iw, err := intake.NewWorker(shared.client, w.opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := iw.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(iw.Stop)
	w.launcher = intake.NewLauncher(shared.client, w.opts)
	return w
}

// submit decides event and submits it through l (the world's launcher
// when nil), as the intake's I/O side does once the source returned the
// finding: the finding is in the emulator's source, where the worker
// fetches it again before a run the intake launches starts.
func (w *intakeWorld) submit(t *testing.T, l intake.Launcher, event []byte) []intake.Outcome {
	t.Helper()
	if l == nil {
		l = w.launcher
	}
	intaketest.Seed(t, shared.emu, event)
	out, err := l.Submit(context.Background(), intaketest.Submission(t, w.plans, event, "test"))
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// findingState is the record of finding key's workflow for runbook.
func findingState(t *testing.T, runbook, key string) intake.FindingState {
	t.Helper()
	var s intake.FindingState
	v, err := shared.client.QueryWorkflow(context.Background(), intake.FindingWorkflowID(runbook, key), "", intake.QueryFinding)
	if err == nil {
		err = v.Get(&s)
	}
	if err != nil {
		t.Fatalf("finding %s: %v", key, err)
	}
	return s
}

// runsBy lists the runs of runbook the intake id requested, from
// visibility.
func runsBy(t *testing.T, runbook, id string) []string {
	t.Helper()
	query := fmt.Sprintf("WorkflowType = '%s' AND %s = '%s' AND %s = '%s'", workflows.WorkflowName,
		workflows.SearchRunbook.GetName(), runbook, workflows.SearchRequester.GetName(), id)
	resp, err := shared.client.ListWorkflow(context.Background(), &workflowservice.ListWorkflowExecutionsRequest{Query: query})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range resp.GetExecutions() {
		out = append(out, e.GetExecution().GetWorkflowId())
	}
	return out
}

// actionsOf counts the outcomes by action.
func actionsOf(outs []intake.Outcome) map[string]int {
	n := map[string]int{}
	for _, o := range outs {
		n[o.Action]++
	}
	return n
}

// noticeLog is the intake's notifier in these tests: what it posted.
type noticeLog struct {
	mu   sync.Mutex
	text []string
}

func (l *noticeLog) Notify(_ context.Context, m actions.Message) (actions.Posted, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.text = append(l.text, m.Text)
	return actions.Posted{Channel: "test"}, nil
}

func (l *noticeLog) has(substr string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.ContainsFunc(l.text, func(s string) bool { return strings.Contains(s, substr) })
}

// ec2Triggered is ec2-compromise with triggers for every single-finding
// case: high findings launch it (from GuardDuty and from its copy in
// Security Hub), critical ones too but at most once an hour, medium ones
// propose it.
func ec2Triggered(t *testing.T) string {
	t.Helper()
	return withTriggers(t, "ec2-compromise", `
triggers:
  - name: guardduty-ec2-high
    source: guardduty
    match: {types: ["*:EC2/*"], resource: instance, when: 'finding.severity == "high"'}
    inputs: {instance_id: "${{ finding.instance_id }}", region: "${{ finding.region }}"}
    mode: launch
  - name: securityhub-ec2-high
    source: securityhub
    match: {resource: instance, when: 'finding.severity == "high"'}
    inputs: {instance_id: "${{ finding.instance_id }}", region: "${{ finding.region }}"}
    mode: launch
  - name: guardduty-ec2-critical
    source: guardduty
    match: {resource: instance, min_severity: critical}
    inputs: {instance_id: "${{ finding.instance_id }}", region: "${{ finding.region }}"}
    mode: launch
    max_launches_per_hour: 1
  - name: guardduty-ec2-medium
    source: guardduty
    match: {resource: instance, when: 'finding.severity == "medium"'}
    inputs: {instance_id: "${{ finding.instance_id }}", region: "${{ finding.region }}"}
`)
}

// withTriggers is an example runbook with its triggers replaced.
func withTriggers(t *testing.T, example, triggers string) string {
	t.Helper()
	body, _, _ := strings.Cut(exampleSource(t, example), "\ntriggers:")
	return body + triggers
}

// A finding delivered three times, by two intake processes at once, by
// the delegated administrator's account and as its Security Hub copy
// makes one run. An update is recorded in that run; once the run has
// ended, an update is a notification, never a second run.
func TestIntakeOneRunPerFinding(t *testing.T) {
	ctx := context.Background()
	w := newIntakeWorld(t, "once", map[string]string{"ec2-compromise.yaml": ec2Triggered(t)})
	host := oneHost(t, "intake-once")
	f := intaketest.Finding{ID: "once-" + host, Region: shared.emu.Region(), Instance: host}
	var outs []intake.Outcome
	for range 3 {
		outs = append(outs, w.submit(t, nil, f.GuardDuty(t))...)
	}
	outs = append(outs, w.submit(t, nil, f.AdminCopy(t, "111122223333"))...)
	outs = append(outs, w.submit(t, nil, f.SecurityHub(t))...)
	if n := actionsOf(outs); n[intake.Started] != 1 || n[intake.Duplicate] != 4 {
		t.Fatalf("outcomes %v: %+v", n, outs)
	}
	runID := outs[0].RunID
	waitForGate(t, runID, "isolate")

	// Two intake processes submit another finding at the same moment.
	other := oneHost(t, "intake-twice")
	g := intaketest.Finding{ID: "twice-" + other, Region: shared.emu.Region(), Instance: other}
	second := intake.NewLauncher(shared.client, w.opts)
	var mu sync.Mutex
	var raced []intake.Outcome
	var wg sync.WaitGroup
	gate := make(chan struct{})
	intaketest.Seed(t, shared.emu, g.GuardDuty(t))
	sub := intaketest.Submission(t, w.plans, g.GuardDuty(t), "test")
	for i := range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-gate
			l := w.launcher
			if i%2 == 1 {
				l = second
			}
			out, err := l.Submit(ctx, sub)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				t.Error(err)
			}
			raced = append(raced, out...)
		}()
	}
	close(gate)
	wg.Wait()
	if n := actionsOf(raced); n[intake.Started] != 1 || n[intake.Duplicate] != 5 {
		t.Fatalf("two launchers at once: %v", n)
	}

	// The run's record says the intake started it from the finding.
	s, err := runctl.State(ctx, shared.client, runID)
	if err != nil {
		t.Fatal(err)
	}
	tr := s.Meta.Trigger
	if s.Meta.Requester != w.opts.IntakeID || tr == nil || tr.Name != "guardduty-ec2-high" || tr.Intake != w.opts.IntakeID ||
		len(tr.Findings) != 1 || tr.Findings[0].Key != "guardduty/123456789012/"+f.Region+"/"+f.ID {
		t.Fatalf("the run's record: requester %s, trigger %+v", s.Meta.Requester, tr)
	}

	// An update goes into the run's record.
	f.Count = 5
	if n := actionsOf(w.submit(t, nil, f.GuardDuty(t))); n[intake.Attached] != 1 {
		t.Fatalf("update: %v", n)
	}
	pollUntil(t, 30*time.Second, "finding update in the run's timeline", func() bool {
		s, err := runctl.State(ctx, shared.client, runID)
		return err == nil && slices.ContainsFunc(s.FindingUpdates, func(u workflows.FindingUpdate) bool { return u.Count == 5 }) &&
			slices.ContainsFunc(s.Timeline, func(e workflows.Event) bool { return e.Kind == workflows.EventFindingUpdated })
	})

	// The run ends; the finding is still active: a notification.
	abortRun(t, runID)
	f.Count = 9
	outs = w.submit(t, nil, f.GuardDuty(t))
	if n := actionsOf(outs); n[intake.Notified] != 1 || !strings.Contains(outs[0].Reason, "still active after containment") {
		t.Fatalf("update after the run: %+v", outs)
	}
	if !w.notices.has("Finding still active after containment") {
		t.Errorf("notices: %v", w.notices.text)
	}
	st := findingState(t, "ec2-compromise", outs[0].FindingKey)
	if st.RunID != runID || st.Deliveries != 7 || st.Duplicates != 4 || st.Notifications != 1 {
		t.Errorf("finding record: %+v", st)
	}
	// One run per finding, and no other.
	pollUntil(t, 30*time.Second, "both runs in visibility", func() bool { return len(runsBy(t, "ec2-compromise", w.opts.IntakeID)) >= 2 })
	if runs := runsBy(t, "ec2-compromise", w.opts.IntakeID); len(runs) != 2 {
		t.Errorf("runs %v, want one per finding", runs)
	}
	abortRun(t, findingState(t, "ec2-compromise", raced[0].FindingKey).RunID)
}

// Once a finding's workflow has completed (its run ended, the finding
// remembered for Options.Remember), a delivery of the same finding is a
// duplicate: the closed workflow keeps its id for the namespace's
// retention, and the reuse policy refuses to start it again.
func TestIntakeRemembersAFindingAfterItsWorkflow(t *testing.T) {
	ctx := context.Background()
	w := newIntakeWorld(t, "remember", map[string]string{"ec2-compromise.yaml": ec2Triggered(t)},
		func(o *intake.Options) { o.Remember = time.Second })
	host := oneHost(t, "intake-remember")
	f := intaketest.Finding{ID: "remember-" + host, Region: shared.emu.Region(), Instance: host}
	outs := w.submit(t, nil, f.GuardDuty(t))
	if outs[0].Action != intake.Started {
		t.Fatalf("first delivery: %+v", outs)
	}
	waitForGate(t, outs[0].RunID, "isolate")
	abortRun(t, outs[0].RunID)
	pollUntil(t, 30*time.Second, "the finding workflow completed", func() bool {
		d, err := shared.client.DescribeWorkflowExecution(ctx, outs[0].WorkflowID, "")
		return err == nil && d.GetWorkflowExecutionInfo().GetStatus() == enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED
	})
	f.Count = 12
	again := w.submit(t, nil, f.GuardDuty(t))
	if again[0].Action != intake.Duplicate || !strings.Contains(again[0].Reason, "has completed") {
		t.Fatalf("after the workflow completed: %+v", again)
	}
	pollUntil(t, 30*time.Second, "the run in visibility", func() bool { return len(runsBy(t, "ec2-compromise", w.opts.IntakeID)) >= 1 })
	if runs := runsBy(t, "ec2-compromise", w.opts.IntakeID); len(runs) != 1 {
		t.Errorf("runs %v, want the one", runs)
	}
}

// A launch trigger whose circuit breaker has tripped proposes; a
// proposal is launched by a responder, never by the intake itself.
func TestIntakeBreakerAndProposals(t *testing.T) {
	ctx := context.Background()
	w := newIntakeWorld(t, "propose", map[string]string{"ec2-compromise.yaml": ec2Triggered(t)})
	region := shared.emu.Region()
	critical := func(host string) intaketest.Finding {
		return intaketest.Finding{ID: "crit-" + host, Region: region, Instance: host, Severity: 9.5}
	}
	first := w.submit(t, nil, critical(oneHost(t, "intake-crit")).GuardDuty(t))
	tripped := w.submit(t, nil, critical(oneHost(t, "intake-crit")).GuardDuty(t))
	if first[0].Action != intake.Started || tripped[0].Action != intake.Proposed || !strings.Contains(tripped[0].Reason, "circuit breaker") {
		t.Fatalf("breaker: %+v %+v", first, tripped)
	}

	host := oneHost(t, "intake-medium")
	medium := intaketest.Finding{ID: "medium-" + host, Region: region, Instance: host, Severity: 5}
	outs := w.submit(t, nil, medium.GuardDuty(t))
	if outs[0].Action != intake.Proposed || !w.notices.has("cordon launch "+outs[0].WorkflowID) {
		t.Fatalf("propose: %+v, notices %v", outs, w.notices.text)
	}
	id := outs[0].WorkflowID
	pollUntil(t, 30*time.Second, "the proposal in cordon proposals", func() bool {
		props, err := intake.Proposals(ctx, shared.client)
		return err == nil && slices.ContainsFunc(props, func(p intake.ProposalSummary) bool {
			return p.ID == id && p.Targets[0] == "123456789012/"+region+"/instance/"+host
		})
	})

	// The intake's own key cannot launch it: the run refuses the start and
	// the proposal stays open, under the next run id.
	res, err := intake.Launch(ctx, shared.client, id, intake.LaunchOptions{Actor: w.opts.IntakeID, Signer: w.opts.Signer, Wait: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if res.Progress.Refused == "" || !strings.Contains(res.Progress.Refused, "detection intake") {
		t.Fatalf("the intake's launch: %+v", res)
	}
	untouched(t, host)
	var p intake.Proposal
	pollUntil(t, 30*time.Second, "the proposal open again under the next run id", func() bool {
		p, err = intake.GetProposal(ctx, shared.client, id)
		return err == nil && p.Run.RunID == res.RunID+"-2"
	})
	if len(p.Attempts) != 1 || p.Attempts[0].Actor != w.opts.IntakeID || p.Attempts[0].Progress.Refused == "" {
		t.Errorf("attempts: %+v", p.Attempts)
	}

	// A responder's launch starts the run, as hers.
	res, err = intake.Launch(ctx, shared.client, id, intake.LaunchOptions{Actor: "alice", Signer: shared.keys["alice"], Wait: time.Minute})
	if err != nil || res.Progress.Refused != "" || res.RunID != p.Run.RunID {
		t.Fatalf("alice's launch: %+v %v", res, err)
	}
	waitForGate(t, res.RunID, "isolate")
	s, err := runctl.State(ctx, shared.client, res.RunID)
	if err != nil {
		t.Fatal(err)
	}
	if s.Meta.Requester != "alice" || s.Meta.Trigger == nil || s.Meta.Trigger.Mode != "propose" || s.Meta.Trigger.Intake != w.opts.IntakeID {
		t.Errorf("launched run: requester %s, trigger %+v", s.Meta.Requester, s.Meta.Trigger)
	}
	pollUntil(t, 30*time.Second, "the proposal closed by its launch", func() bool {
		_, err := intake.GetProposal(ctx, shared.client, id)
		return err != nil && strings.Contains(err.Error(), "proposes nothing now")
	})
	abortRun(t, res.RunID)
	abortRun(t, first[0].RunID)
}

// confluenceStorm is the fleet runbook with a launch trigger that
// gathers the GuardDuty findings of one account (the emulator's, which
// the worker reaches to verify them) and type, over a short window, into
// its compromised list; account 222222222222's findings go to a trigger
// whose ceiling is 5 targets. The windows are long enough for
// every submission to arrive inside them on a loaded CI machine (with 3s,
// thirty concurrent submissions once spilled into a second batch there,
// which is the design: a finding after the window starts the next batch).
func confluenceStorm(t *testing.T) map[string]string {
	t.Helper()
	return map[string]string{
		"ec2-compromise.yaml": withTriggers(t, "ec2-compromise", ""),
		"confluence-cve-2021-26084.yaml": withTriggers(t, "confluence-cve-2021-26084", `
triggers:
  - name: storm
    source: guardduty
    match: {resource: instance, accounts: ["123456789012"]}
    inputs: {region: "${{ finding.region }}"}
    mode: launch
    aggregate: {by: [account, region, type], window: 15s, into: compromised, item: "${{ finding.instance_id }}", max_targets: 50}
  - name: ceiling
    source: guardduty
    match: {resource: instance, accounts: ["222222222222"]}
    inputs: {region: "${{ finding.region }}"}
    mode: launch
    aggregate: {by: [account, region], window: 8s, into: compromised, item: "${{ finding.instance_id }}", max_targets: 5}
`),
	}
}

// submitAll submits the GuardDuty findings of hosts at once, as an intake
// polling its queue with several receivers does.
func (w *intakeWorld) submitAll(t *testing.T, fs []intaketest.Finding) []intake.Outcome {
	t.Helper()
	var mu sync.Mutex
	var outs []intake.Outcome
	var wg sync.WaitGroup
	for _, f := range fs {
		intaketest.Seed(t, shared.emu, f.GuardDuty(t))
		sub := intaketest.Submission(t, w.plans, f.GuardDuty(t), "test")
		wg.Add(1)
		go func() {
			defer wg.Done()
			out, err := w.launcher.Submit(context.Background(), sub)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				t.Error(err)
			}
			outs = append(outs, out...)
		}()
	}
	wg.Wait()
	return outs
}

// storm seeds a fleet of n hosts and submits a GuardDuty finding about
// each, in account, to a world running confluenceStorm; every finding
// joins a batch.
func storm(t *testing.T, name string, n int, account string) (*intakeWorld, awsemu.FleetInfo, []intake.Outcome) {
	t.Helper()
	w := newIntakeWorld(t, name, confluenceStorm(t))
	fleet := seedFleet(t, awsemu.FleetSpec{Instances: n, NamePrefix: "intake-" + name, NetworkInterfaces: 1, Volumes: 1})
	var fs []intaketest.Finding
	for _, id := range fleet.InstanceIDs {
		fs = append(fs, intaketest.Finding{ID: "storm-" + id, Account: account, Region: shared.emu.Region(), Instance: id})
	}
	outs := w.submitAll(t, fs)
	if got := actionsOf(outs); got[intake.Joined] != n {
		t.Fatalf("outcomes %v", got)
	}
	return w, fleet, outs
}

// Thirty hosts of one fleet reported within the window are one fleet run
// of thirty targets, which every finding knows as its run.
func TestIntakeStormIsOneFleetRun(t *testing.T) {
	ctx := context.Background()
	w, fleet, outs := storm(t, "storm", 30, awsemu.DefaultAccountID)
	const runbook = "confluence-cve-2021-26084"
	var runID string
	pollUntil(t, time.Minute, "every finding knowing its run", func() bool {
		runs := map[string]bool{}
		for _, o := range outs {
			runs[findingState(t, runbook, o.FindingKey).RunID] = true
		}
		for id := range runs {
			runID = id
		}
		return len(runs) == 1 && runID != ""
	})
	s, err := runctl.State(ctx, shared.client, runID)
	if err != nil {
		t.Fatal(err)
	}
	hosts, _ := s.Inputs["compromised"].([]any)
	if len(hosts) != 30 || s.Meta.Trigger == nil || len(s.Meta.Trigger.Findings) != 30 || s.Meta.Trigger.Mode != "launch" {
		t.Fatalf("fleet run %s: %d hosts, trigger %+v", runID, len(hosts), s.Meta.Trigger)
	}
	for _, id := range fleet.InstanceIDs {
		if !slices.Contains(hosts, any(id)) {
			t.Errorf("host %s is not among the run's targets", id)
		}
	}
	if runs := runsBy(t, runbook, w.opts.IntakeID); len(runs) != 1 {
		t.Errorf("fleet runs %v, want one", runs)
	}
	// The batch that launched it, once it has ended: replayed, and with
	// -update kept for the intake's offline replay test.
	batch := findingState(t, runbook, outs[0].FindingKey).Batch
	if err := shared.client.GetWorkflow(ctx, batch, "").Get(ctx, nil); err != nil {
		t.Fatalf("batch %s: %v", batch, err)
	}
	replayWorkflow(t, batch, filepath.Join("..", "..", "intake", "testdata", "histories", "batch-storm-launched.json"),
		func(r sdkworker.WorkflowReplayer) { intake.RegisterWorkflows(r) })
	abortRun(t, runID)
}

// Above the trigger's max_targets a batch launches nothing by itself: it
// is a proposal that only a lead's launch with break-glass may start.
func TestIntakeStormAboveItsCeiling(t *testing.T) {
	ctx := context.Background()
	w, fleet, outs := storm(t, "ceiling", 6, "222222222222")
	batch := findingState(t, "confluence-cve-2021-26084", outs[0].FindingKey).Batch
	var p intake.Proposal
	pollUntil(t, 30*time.Second, "the batch's proposal", func() bool {
		var err error
		p, err = intake.GetProposal(ctx, shared.client, batch)
		return err == nil
	})
	if !p.NeedsBreakGlass || len(p.Targets) != 6 || !strings.Contains(p.Reason, "above the trigger's max_targets 5") {
		t.Fatalf("proposal: %+v", p)
	}
	_, err := intake.Launch(ctx, shared.client, batch, intake.LaunchOptions{Actor: "alice", Signer: shared.keys["alice"]})
	if err == nil || !strings.Contains(err.Error(), "--break-glass") {
		t.Fatalf("a launch without break-glass: %v", err)
	}
	if runs := runsBy(t, "confluence-cve-2021-26084", w.opts.IntakeID); len(runs) != 0 {
		t.Errorf("runs %v: the batch launched by itself", runs)
	}
	for _, id := range fleet.InstanceIDs {
		untouched(t, id)
	}
}
