package bench

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/cordon-ir/cordon/intake"
	"github.com/cordon-ir/cordon/internal/awsemu"
	"github.com/cordon-ir/cordon/internal/detections"
	sbx "github.com/cordon-ir/cordon/internal/sandbox"
	"github.com/cordon-ir/cordon/runctl"
	"github.com/cordon-ir/cordon/triggers"
	"github.com/cordon-ir/cordon/worker"
	"github.com/cordon-ir/cordon/workflows"
)

// The intake's benchmark (issue 14): detection → first gate waiting, and
// findings per minute, each next to a baseline measured in the same run:
// the same work started by a responder with runctl.Start, no intake.

// IntakeOptions configure RunIntake. The zero value is the default run.
type IntakeOptions struct {
	// Samples is how many findings are timed from the queue to their
	// run's first gate (default 20), each next to a start of the same
	// run by a responder.
	Samples int
	// Findings is how many findings are put on the queue at once for the
	// throughput (default 200), and started by a responder for its
	// baseline.
	Findings int
	// Duplicates is the share of findings delivered a second time
	// (default 0.1): none may start a second run.
	Duplicates float64
	// Receivers is how many SQS loops read the queue (default 2).
	Receivers int
	// Latency delays every AWS call in the emulator (default 50ms).
	// Negative means none.
	Latency time.Duration
	// Examples holds ec2-compromise, the runbook the samples launch.
	Examples string
	Logger   *slog.Logger
}

// IntakeResult is what RunIntake measured.
type IntakeResult struct {
	Latency time.Duration
	// Samples, and the detection (the event's delivery to the queue) →
	// first gate waiting of their runs; Baseline* from runctl.Start to
	// the first gate of the same run started by a responder.
	Samples                          int
	GateP50, GateP99                 time.Duration
	BaselineGateP50, BaselineGateP99 time.Duration
	// Findings on the queue (Deliveries with the duplicates), the time
	// until every one was in Temporal's hands, and the runs found at the
	// end: one per finding, none lost, none twice.
	Findings, Deliveries int
	// Durable is until every delivery was in Temporal's hands (its SQS
	// message deleted); Intake until every finding's run had started.
	Durable, Intake, Baseline time.Duration
	Runs, Lost, Extra         int
}

// PerMinute is findings per minute taken off the queue into Temporal's
// hands (durable), findings per minute whose run has started, and runs
// per minute started by a responder (the baseline).
func (r IntakeResult) PerMinute() (durable, runs, baseline float64) {
	per := func(n int, d time.Duration) float64 {
		if d <= 0 {
			return 0
		}
		return float64(n) / d.Minutes()
	}
	return per(r.Deliveries, r.Durable), per(r.Findings, r.Intake), per(r.Findings, r.Baseline)
}

const (
	benchIntake = "bench-intake"
	// The samples' findings launch ec2-compromise up to its first gate;
	// the throughput's launch intake-bench, a one-step runbook, so that
	// the runs' own work does not stand for the intake's.
	sampleType     = "Backdoor:EC2/C&CActivity.B"
	throughputType = "Recon:EC2/Portscan"
	throughputBook = "intake-bench"
)

// throughputRunbook is one read of the instance a finding names (its
// trigger added by launchTrigger).
const throughputRunbook = `apiVersion: cordon.dev/v1
kind: Runbook
metadata: {name: intake-bench, description: One look at the instance a finding names.}
inputs:
  instance_id: {type: string, required: true, pattern: '^i-[0-9a-f]{8,17}$'}
  region: {type: string, default: us-east-1}
target: {region: "${{ inputs.region }}"}
steps:
  - id: look
    action: aws.ec2.describe_instance
    with: {instance_id: "${{ inputs.instance_id }}"}
`

// launchTrigger is a runbook's triggers: GuardDuty findings about an
// instance of the types matching pattern launch it, without a practical
// limit per hour.
func launchTrigger(name, pattern string) string {
	return fmt.Sprintf(`
triggers:
  - {name: %s, source: guardduty, mode: launch, max_launches_per_hour: 1000000,
     match: {types: [%q], resource: instance},
     inputs: {instance_id: "${{ finding.instance_id }}", region: "${{ finding.region }}"}}
`, name, pattern)
}

// intakeRig is the intake benchmark's world: the server and emulator, a
// containment worker, the intake (intake.Service, as cordon intake runs
// it) on an SQS queue, and a responder's key for the baselines.
type intakeRig struct {
	o         IntakeOptions
	box       *sbx.Sandbox
	emu       *awsemu.Emulator
	svc       *intake.Service
	queueURL  string
	taskQueue string
	responder ssh.Signer
	stop      func()
}

func (o IntakeOptions) withDefaults() IntakeOptions {
	if o.Samples <= 0 {
		o.Samples = 20
	}
	if o.Findings <= 0 {
		o.Findings = 200
	}
	if o.Duplicates <= 0 {
		o.Duplicates = 0.1
	}
	if o.Receivers <= 0 {
		o.Receivers = 2
	}
	if o.Latency == 0 {
		o.Latency = DefaultLatency
	}
	o.Latency = max(o.Latency, 0)
	if o.Examples == "" {
		o.Examples = "examples"
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o
}

// RunIntake measures the intake: the samples one at a time, then the
// throughput, each next to its baseline. It checks at the end that every
// finding started exactly one run.
func RunIntake(ctx context.Context, opts IntakeOptions) (IntakeResult, error) {
	o := opts.withDefaults()
	rig, err := startIntakeRig(ctx, o)
	if err != nil {
		return IntakeResult{}, err
	}
	defer rig.close()
	r := IntakeResult{Latency: o.Latency, Samples: o.Samples}
	if err := rig.samples(ctx, &r); err != nil {
		return r, err
	}
	return r, rig.throughput(ctx, &r)
}

func startIntakeRig(ctx context.Context, o IntakeOptions) (rig *intakeRig, err error) {
	rig = &intakeRig{o: o, taskQueue: "cordon-bench-intake", stop: func() {}}
	defer func() {
		if err != nil {
			rig.close()
		}
	}()
	dir, err := os.MkdirTemp("", "cordon-bench-intake-")
	if err != nil {
		return rig, fmt.Errorf("temporary directory for the bench's runbooks: %w", err)
	}
	rig.stop = func() { _ = os.RemoveAll(dir) }
	host, err := os.ReadFile(filepath.Join(o.Examples, hostRunbook+".yaml"))
	if err != nil {
		return rig, fmt.Errorf("read the example %s (run from the repository root, or pass --examples DIR): %w", hostRunbook, err)
	}
	body, _, _ := bytes.Cut(host, []byte("\ntriggers:"))
	for name, src := range map[string]string{hostRunbook: string(body) + launchTrigger("backdoor", "Backdoor:*"),
		throughputBook: throughputRunbook + launchTrigger("storm", "Recon:*")} {
		if err := os.WriteFile(filepath.Join(dir, name+".yaml"), []byte(src), 0o600); err != nil {
			return rig, fmt.Errorf("write the bench's runbooks: %w", err)
		}
	}
	roster, err := sbx.NewRoster([]sbx.Member{
		{ID: requester, Roles: []string{workflows.RoleResponder}, Groups: []string{"csirt-oncall"}},
		{ID: benchIntake, Roles: []string{workflows.RoleIntake}},
	})
	if err != nil {
		return rig, fmt.Errorf("bench roster: %w", err)
	}
	rig.responder = roster.Signer(requester)
	if rig.box, err = sbx.Start(ctx, sbx.Options{}); err != nil {
		return rig, err
	}
	rig.emu = rig.box.Emulator()
	rig.emu.SetLatency(o.Latency)
	cfg := rig.box.WorkerConfig(rig.taskQueue, roster, dir)
	if _, err := rig.box.StartWorker(ctx, sbx.WorkerOptions{Config: cfg}); err != nil {
		return rig, err
	}
	dlq, err := rig.emu.CreateQueue("", "", "bench-findings-dlq", nil)
	if err != nil {
		return rig, err
	}
	q, err := rig.emu.Queue(dlq)
	if err != nil {
		return rig, err
	}
	if rig.queueURL, err = rig.emu.CreateQueue("", "", "bench-findings", map[string]string{
		"RedrivePolicy": fmt.Sprintf(`{"deadLetterTargetArn":%q,"maxReceiveCount":5}`, q.ARN)}); err != nil {
		return rig, err
	}
	icfg := *cfg
	icfg.AWS.Accounts = map[string]worker.AccountConfig{"production": {AccountID: rig.emu.AccountID()}}
	icfg.Intake = worker.IntakeConfig{Member: benchIntake, QueueURL: rig.queueURL, Receivers: o.Receivers, TaskQueue: rig.taskQueue + "-findings"}
	base := rig.emu.AWSConfig()
	rig.svc, err = intake.NewService(ctx, intake.ServiceOptions{Config: &icfg, Client: rig.box.Client(), Signer: roster.Signer(benchIntake),
		AWS: &base, Logger: o.Logger, Tune: func(io *intake.Options) { io.StatusEvery = time.Second }})
	if err != nil {
		return rig, err
	}
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- rig.svc.Run(runCtx) }()
	rig.stop = func() {
		cancel()
		if err := <-done; err != nil {
			o.Logger.Warn("bench: the intake stopped with an error", "err", err)
		}
		_ = os.RemoveAll(dir)
	}
	return rig, nil
}

func (rig *intakeRig) close() {
	rig.stop()
	if rig.box != nil {
		if err := rig.box.Close(); err != nil {
			rig.o.Logger.Warn("bench: stop the sandbox", "err", err)
		}
	}
}

// hosts seeds n instances to be reported.
func (rig *intakeRig) hosts(n int, label string) ([]string, error) {
	f, err := rig.emu.SeedFleet(awsemu.FleetSpec{Instances: n, NamePrefix: label, NetworkInterfaces: 1, Volumes: 1})
	if err != nil {
		return nil, fmt.Errorf("seed %d hosts: %w", n, err)
	}
	return f.InstanceIDs, nil
}

// finding stores a GuardDuty finding about host in the emulator and
// returns its event and finding key.
func (rig *intakeRig) finding(host, typ string) ([]byte, string, error) {
	now := time.Now()
	event, err := detections.PutGuardDuty(rig.emu, detections.GuardDuty{Instance: host, Type: typ, Severity: 8, FirstSeen: now, Now: now})
	if err != nil {
		return nil, "", err
	}
	fs, err := triggers.ParseEvent(event)
	if err != nil {
		return nil, "", err
	}
	return event, fs[0].Key, nil
}

// samples times each sample from its event's delivery to its run's first
// gate, then the same run started by a responder.
func (rig *intakeRig) samples(ctx context.Context, r *IntakeResult) error {
	hosts, err := rig.hosts(2*rig.o.Samples, "intake-sample")
	if err != nil {
		return err
	}
	var viaIntake, direct []time.Duration
	for i := range rig.o.Samples {
		event, key, err := rig.finding(hosts[2*i], sampleType)
		if err != nil {
			return err
		}
		sent := time.Now()
		if _, err := rig.emu.SendToQueue(rig.queueURL, string(event)); err != nil {
			return err
		}
		runID, err := rig.runOf(ctx, hostRunbook, key)
		if err != nil {
			return err
		}
		gate, err := rig.firstGate(ctx, runID)
		if err != nil {
			return err
		}
		viaIntake = append(viaIntake, gate.Sub(sent))

		start := time.Now()
		runID, err = runctl.Start(ctx, rig.box.Client(), rig.taskQueue, runctl.StartOptions{Runbook: hostRunbook,
			Inputs: map[string]any{"instance_id": hosts[2*i+1], "region": rig.emu.Region()}, Signer: rig.responder,
			Meta: workflows.RunMeta{RunID: runctl.NewRunID(hostRunbook, start), Requester: requester, Channel: "cli", Incident: "bench"}})
		if err != nil {
			return fmt.Errorf("baseline start: %w", err)
		}
		if gate, err = rig.firstGate(ctx, runID); err != nil {
			return err
		}
		direct = append(direct, gate.Sub(start))
		rig.o.Logger.Info("bench: sample", "n", i+1, "intake", viaIntake[i], "baseline", direct[i])
	}
	r.GateP50, r.GateP99 = percentile(viaIntake, 50), percentile(viaIntake, 99)
	r.BaselineGateP50, r.BaselineGateP99 = percentile(direct, 50), percentile(direct, 99)
	return nil
}

// runOf waits for the run the intake started for a finding.
func (rig *intakeRig) runOf(ctx context.Context, runbook, key string) (string, error) {
	return poll(ctx, time.Minute, "the run of finding "+key, func() (string, bool) {
		s, err := findingState(ctx, rig, runbook, key)
		return s.RunID, err == nil && s.RunID != ""
	})
}

// firstGate waits for a run's first gate and says when it opened, by the
// run's own record.
func (rig *intakeRig) firstGate(ctx context.Context, runID string) (time.Time, error) {
	return poll(ctx, 2*time.Minute, "the first gate of run "+runID, func() (time.Time, bool) {
		s, err := runctl.State(ctx, rig.box.Client(), runID)
		if err != nil {
			return time.Time{}, false
		}
		for _, e := range s.Timeline {
			if e.Kind == workflows.EventGateWaiting {
				return e.Time, true
			}
		}
		return time.Time{}, false
	})
}

// throughput puts every finding (and some twice) on the queue at once,
// times until every one is in Temporal's hands, then starts as many runs
// directly for the baseline, and checks one run per finding.
func (rig *intakeRig) throughput(ctx context.Context, r *IntakeResult) error {
	n := rig.o.Findings
	hosts, err := rig.hosts(2*n, "intake-storm")
	if err != nil {
		return err
	}
	events, keys := make([][]byte, n), make([]string, n)
	for i := range n {
		if events[i], keys[i], err = rig.finding(hosts[i], throughputType); err != nil {
			return err
		}
	}
	deliveries := events
	for i := range int(float64(n) * rig.o.Duplicates) {
		deliveries = append(deliveries, events[i*len(events)/max(1, int(float64(n)*rig.o.Duplicates))])
	}
	r.Findings, r.Deliveries = n, len(deliveries)
	c := rig.svc.Counters()
	before := c.Get(intake.Started) + c.Get(intake.Duplicate) + c.Get(intake.Accepted)
	start := time.Now()
	for _, ev := range deliveries {
		if _, err := rig.emu.SendToQueue(rig.queueURL, string(ev)); err != nil {
			return err
		}
	}
	if _, err := poll(ctx, 10*time.Minute, "every delivery handled", func() (bool, bool) {
		handled := c.Get(intake.Started) + c.Get(intake.Duplicate) + c.Get(intake.Accepted) - before
		return true, handled >= int64(len(deliveries))
	}); err != nil {
		return fmt.Errorf("%w (counters %s)", err, c)
	}
	r.Durable = time.Since(start)
	// Then until every finding's run has started.
	for _, key := range keys {
		if _, err := poll(ctx, 10*time.Minute, "the run of finding "+key, func() (bool, bool) {
			s, err := findingState(ctx, rig, throughputBook, key)
			if err != nil || s.RunID == "" {
				return false, false
			}
			_, err = rig.box.Client().DescribeWorkflowExecution(ctx, s.RunID, "")
			return true, err == nil
		}); err != nil {
			return err
		}
	}
	r.Intake = time.Since(start)
	rig.o.Logger.Info("bench: intake throughput", "findings", n, "deliveries", len(deliveries), "durable", r.Durable, "runs", r.Intake)

	start = time.Now()
	sem := make(chan struct{}, sqsBatchTimes(rig.o.Receivers))
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			_, err := runctl.Start(ctx, rig.box.Client(), rig.taskQueue, runctl.StartOptions{Runbook: throughputBook,
				Inputs: map[string]any{"instance_id": hosts[n+i], "region": rig.emu.Region()}, Signer: rig.responder,
				Meta: workflows.RunMeta{RunID: fmt.Sprintf("bench-direct-%d-%d", start.UnixNano(), i), Requester: requester, Channel: "cli", Incident: "bench"}})
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	r.Baseline = time.Since(start)
	for err := range errs {
		if err != nil {
			return fmt.Errorf("baseline start: %w", err)
		}
	}
	return rig.oneRunEach(ctx, keys, r)
}

// sqsBatchTimes is how many findings the intake handles at once: each
// loop, a ReceiveMessage batch of ten. The baseline starts as many at once.
func sqsBatchTimes(receivers int) int { return 10 * receivers }

// oneRunEach checks that every finding has its own run, that the run
// exists, and that no finding has two.
func (rig *intakeRig) oneRunEach(ctx context.Context, keys []string, r *IntakeResult) error {
	runs := map[string]bool{}
	for _, key := range keys {
		s, err := findingState(ctx, rig, throughputBook, key)
		if err != nil || s.RunID == "" {
			r.Lost++
			continue
		}
		if runs[s.RunID] {
			r.Extra++
		}
		runs[s.RunID] = true
		if _, err := rig.box.Client().DescribeWorkflowExecution(ctx, s.RunID, ""); err != nil {
			r.Lost++
		}
		if s.Deliveries > 1 && s.Duplicates != s.Deliveries-1 {
			r.Extra++
		}
	}
	r.Runs = len(runs)
	if r.Lost > 0 || r.Extra > 0 {
		return fmt.Errorf("bench: %d findings, %d runs: %d lost, %d extra", len(keys), r.Runs, r.Lost, r.Extra)
	}
	return nil
}

// findingState is a finding workflow's record (an error before its first
// delivery).
func findingState(ctx context.Context, rig *intakeRig, runbook, key string) (intake.FindingState, error) {
	var s intake.FindingState
	v, err := rig.box.Client().QueryWorkflow(ctx, intake.FindingWorkflowID(runbook, key), "", intake.QueryFinding)
	if err == nil {
		err = v.Get(&s)
	}
	return s, err
}

// poll calls f until it says done, for at most limit.
func poll[T any](ctx context.Context, limit time.Duration, what string, f func() (T, bool)) (T, error) {
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	for {
		if v, ok := f(); ok {
			return v, nil
		}
		select {
		case <-ctx.Done():
			var zero T
			return zero, fmt.Errorf("bench: no %s within %s", what, limit)
		case <-time.After(20 * time.Millisecond):
		}
	}
}
