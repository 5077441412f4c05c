package bench

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"go.temporal.io/sdk/client"
	"golang.org/x/crypto/ssh"

	"github.com/cordon-ir/cordon/actions"
	"github.com/cordon-ir/cordon/internal/awsemu"
	// Named sbx here: this package's own sandbox is the bench's rig.
	sbx "github.com/cordon-ir/cordon/internal/sandbox"
	"github.com/cordon-ir/cordon/runbooks"
	"github.com/cordon-ir/cordon/worker"
	"github.com/cordon-ir/cordon/workflows"
)

const (
	fleetRunbook = "confluence-cve-2021-26084.yaml"
	hostRunbook  = "ec2-compromise"
	containStep  = "contain"
	taskQueue    = "cordon-bench"
	requester    = "bench-responder"
	lead         = "bench-lead"
	// healthyHosts are seeded next to the compromised ones and must be
	// left alone, so find has something to filter.
	healthyHosts = 3
)

// sandbox is what every measurement shares: one server, one emulator, one
// worker (or, with Options.WorkerProcess, the configuration of a worker
// process started per fleet size), and the runtime the baseline calls
// directly.
type sandbox struct {
	o   Options
	box *sbx.Sandbox
	// emu and client are the box's.
	emu      *awsemu.Emulator
	client   client.Client
	rt       *actions.Runtime
	throttle awsemu.Throttle
	compiler *runbooks.Compiler
	source   []byte
	path     string
	// requesterKey signs the starts (a responder), leadKey the
	// break-glass given with each start (a lead, another member).
	requesterKey, leadKey ssh.Signer
	// tmp holds the bench's runbook source (runbooks/, which the worker
	// vouches for) and, with Options.WorkerProcess, the worker process's
	// configuration, workerConfig; workerEnv is that process's
	// environment.
	tmp          string
	workerConfig string
	workerEnv    []string
}

func startSandbox(ctx context.Context, o Options) (s *sandbox, err error) {
	s = &sandbox{o: o}
	defer func() {
		if err != nil {
			s.stop()
		}
	}()
	// The worker vouches for the bench's own copy of the examples, whose
	// fleet runbook says the benchmark's fan-out; the runs are compiled
	// from the same files.
	if s.tmp, err = os.MkdirTemp("", "cordon-bench-"); err != nil {
		return s, fmt.Errorf("temporary directory for the bench's runbooks: %w", err)
	}
	source := filepath.Join(s.tmp, "runbooks")
	if err := writeRunbookSource(source, o.Examples, o.Concurrency); err != nil {
		return s, err
	}
	files, err := filepath.Glob(filepath.Join(source, "*.yaml"))
	if err != nil || len(files) == 0 {
		return s, fmt.Errorf("no runbooks in %s: run cordon bench from the repository root, or pass --examples DIR", o.Examples)
	}
	s.path = filepath.Join(source, fleetRunbook)
	if s.source, err = os.ReadFile(s.path); err != nil {
		return s, fmt.Errorf("read the fleet runbook: %w", err)
	}
	s.compiler = runbooks.NewCompiler(actions.Catalog(), runbooks.NewDirResolver(files...))
	if _, err := s.plan(); err != nil {
		return s, err
	}
	// A production roster (signatures required): a responder signs each
	// start, and a lead, another member, signs a break-glass given with
	// it, so every gate passes and no human is in the loop.
	roster, err := sbx.NewRoster([]sbx.Member{
		{ID: requester, Roles: []string{workflows.RoleResponder}, Groups: []string{"csirt-oncall"}},
		{ID: lead, Roles: []string{workflows.RoleResponder, workflows.RoleLead}, Groups: []string{"csirt-oncall", "csirt-leads"}},
	})
	if err != nil {
		return s, fmt.Errorf("bench roster: %w", err)
	}
	s.requesterKey, s.leadKey = roster.Signer(requester), roster.Signer(lead)

	// The server, the SDK and the emulator are quiet (the sandbox's
	// default logger discards).
	if s.box, err = sbx.Start(ctx, sbx.Options{}); err != nil {
		return s, err
	}
	s.emu, s.client = s.box.Emulator(), s.box.Client()
	s.emu.SetLatency(o.Latency)
	s.emu.SetSnapshotCompletion(awsemu.SnapshotCompletion{After: o.SnapshotCompletion})
	if !o.NoThrottle {
		s.throttle = awsemu.EC2DefaultThrottle()
	}
	cfg := s.box.WorkerConfig(taskQueue, roster, source)
	s.rt = s.box.NewRuntime(sbx.RuntimeOptions{RateLimit: o.RateLimit, PollInterval: o.PollInterval})
	if o.WorkerProcess != "" {
		// No worker in this process: only the worker process, started
		// per fleet size, polls the task queue.
		if s.workerConfig, err = writeWorkerConfig(s.tmp, *cfg, s.emu.Region(), s.emu.URL(), worker.RateLimitConfig(o.RateLimit), o.PollInterval); err != nil {
			return s, err
		}
		s.workerEnv = workerEnv(s.emu.Region())
		return s, nil
	}
	if _, err := s.box.StartWorker(ctx, sbx.WorkerOptions{Config: cfg, Runtime: s.rt}); err != nil {
		return s, err
	}
	return s, nil
}

func (s *sandbox) stop() {
	if s.box != nil {
		if err := s.box.Close(); err != nil {
			s.o.Logger.Warn("bench: stop the sandbox", "err", err)
		}
	}
	if s.tmp != "" {
		if err := os.RemoveAll(s.tmp); err != nil {
			s.o.Logger.Warn("bench: remove the bench's runbooks and worker config", "dir", s.tmp, "err", err)
		}
	}
}

// plan compiles the fleet runbook of the bench's runbook source afresh
// for each measurement, and checks it is the one the benchmark follows,
// with the fan-out asked for.
func (s *sandbox) plan() (*runbooks.Plan, error) {
	plan, diags := s.compiler.Compile(s.path, s.source)
	if plan == nil {
		return nil, fmt.Errorf("compile %s: %w", s.path, diags)
	}
	found := false
	for _, st := range plan.Steps {
		if st.ID == containStep && st.MaxConcurrency == s.o.Concurrency {
			found = true
		}
	}
	if !found || plan.Children[hostRunbook] == nil {
		return nil, fmt.Errorf("%s has no %s step using %s with max_concurrency %d: the benchmark follows that runbook", s.path, containStep, hostRunbook, s.o.Concurrency)
	}
	return plan, nil
}

// fleet is one freshly seeded fleet and the inputs that target it.
type fleet struct {
	info   awsemu.FleetInfo
	inputs map[string]any
	plan   *runbooks.Plan
	// runID names the run that contains it: the round, the side
	// measured and the fleet size.
	runID string
}

// seed creates n compromised Confluence servers plus a few healthy ones,
// under an App tag of their own so find sees only this fleet, and resets
// the call log and the rate limiter so each measurement starts alike.
func (s *sandbox) seed(round, n int, label string) (fleet, error) {
	tag := fmt.Sprintf("confluence-bench-%s-%d", label, n)
	compromised := make([]int, n)
	for i := range compromised {
		compromised[i] = i
	}
	total := n + healthyHosts
	info, err := s.emu.SeedFleet(awsemu.FleetSpec{
		Instances: total, NamePrefix: tag, NetworkInterfaces: 2, Volumes: 2,
		InAutoScalingGroup: total, BehindTargetGroup: total, WithInstanceRole: true,
		Compromised: compromised, Tags: map[string]string{"App": tag},
	})
	if err != nil {
		return fleet{}, fmt.Errorf("seed the fleet: %w", err)
	}
	plan, err := s.plan()
	if err != nil {
		return fleet{}, err
	}
	inputs, err := plan.ResolveInputs(map[string]string{
		"compromised": strings.Join(info.CompromisedIDs, ","), "final_action": "stop", "app_tag": tag,
	})
	if err != nil {
		return fleet{}, fmt.Errorf("fleet inputs: %w", err)
	}
	s.emu.SetThrottling(s.throttle) // refills every bucket
	s.emu.ResetCalls()
	return fleet{info: info, inputs: inputs, plan: plan, runID: fmt.Sprintf("bench-%d-%s-%d", round, label, n)}, nil
}

// measure fills in what the emulator saw since seed, relative to launch.
func (s *sandbox) measure(f fleet, launch time.Time, m *Measurement) {
	var lastIsolation, lastMutation time.Time
	// Per EC2 mutating action: its calls (dry runs take a token from its
	// bucket too) and the time of its last one.
	mutating, lastByAction := map[string]int{}, map[string]time.Time{}
	m.CallsByAction = map[string]int{}
	for _, c := range s.emu.Calls() {
		m.Calls++
		if c.ErrorCode == "RequestLimitExceeded" || c.ErrorCode == "Throttling" {
			m.Throttled++
			continue
		}
		name := c.Service + ":" + c.Action
		if c.DryRun {
			name += " (dry run)"
		}
		m.CallsByAction[name]++
		if c.Service == awsemu.ServiceEC2 && c.Mutating {
			m.MutatingCalls++
			mutating[c.Action]++
			lastMutation = later(lastMutation, c.Time)
			lastByAction[c.Action] = later(lastByAction[c.Action], c.Time)
		}
		if c.Action == "ModifyNetworkInterfaceAttribute" && !c.DryRun && c.Status/100 == 2 {
			lastIsolation = later(lastIsolation, c.Time)
		}
	}
	for action, n := range mutating {
		if n > m.BusiestCalls || (n == m.BusiestCalls && action < m.Busiest) {
			m.Busiest, m.BusiestCalls = action, n
		}
	}
	if !lastIsolation.IsZero() {
		m.Isolated = lastIsolation.Sub(launch)
	}
	if span := lastMutation.Sub(launch).Seconds(); span > 0 {
		m.MutatingRate = float64(m.MutatingCalls) / span
	}
	if span := lastByAction[m.Busiest].Sub(launch).Seconds(); span > 0 {
		m.BusiestRate = float64(m.BusiestCalls) / span
	}
	for _, id := range f.info.CompromisedIDs {
		in, _ := s.emu.Instance(id)
		isolated := len(in.NetworkInterfaceIDs) > 0
		for _, eni := range in.NetworkInterfaceIDs {
			ni, _ := s.emu.NetworkInterface(eni)
			for _, g := range ni.SecurityGroupIDs {
				if g == f.info.SecurityGroupID {
					isolated = false
				}
			}
		}
		if isolated {
			m.HostsContained++
		} else {
			m.FailedHosts++
		}
	}
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}
