package e2e

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/cordon-ir/cordon/internal/awsemu"
	"github.com/cordon-ir/cordon/worker"
	"github.com/cordon-ir/cordon/workflows"
)

const workerProcessEnv = "CORDON_E2E_WORKER_CONFIG"

// workerProcess is the body of the separate worker process: the real
// worker, configured from a file, running until it is killed.
func workerProcess(path string) int {
	cfg, err := worker.LoadConfig(path)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	ctx := context.Background()
	logger := slog.New(slog.DiscardHandler)
	c, err := worker.Dial(ctx, cfg.Temporal, logger)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if err := worker.Run(ctx, c, cfg, worker.Options{Logger: logger, PollInterval: 100 * time.Millisecond}); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// workerConfigFile writes the configuration of a worker process that
// serves queue (a queue of its own, so that no other test's worker takes
// its tasks) and reaches AWS at endpoint: the emulator, or a recorder in
// front of it.
func workerConfigFile(t *testing.T, queue, endpoint string) (worker.Config, string) {
	t.Helper()
	cfg := worker.Config{
		Temporal: worker.TemporalConfig{Address: shared.cfg.Temporal.Address, Namespace: shared.cfg.Temporal.Namespace, TaskQueue: queue},
		Roster:   shared.cfg.Roster,
		AWS:      worker.AWSConfig{Region: shared.emu.Region(), Endpoint: endpoint},
		Runbooks: shared.cfg.Runbooks,
	}
	raw, err := yaml.Marshal(cfg)
	if err != nil {
		t.Fatalf("worker config: %v", err)
	}
	path := filepath.Join(t.TempDir(), "cordon.yaml")
	if err := os.WriteFile(path, raw, 0o600); err != nil {
		t.Fatalf("worker config: %v", err)
	}
	return cfg, path
}

// startWorkerProcess starts a worker process configured by cfgPath.
func startWorkerProcess(t *testing.T, cfgPath string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(),
		workerProcessEnv+"="+cfgPath,
		"AWS_ACCESS_KEY_ID="+awsemu.DefaultAccessKeyID,
		"AWS_SECRET_ACCESS_KEY="+awsemu.DefaultSecretAccessKey,
		"AWS_REGION="+shared.emu.Region(),
		"AWS_EC2_METADATA_DISABLED=true",
		"AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null",
	)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	return cmd
}

func kill9(t *testing.T, cmd *exec.Cmd, when string) {
	t.Helper()
	if err := cmd.Process.Kill(); err != nil { // SIGKILL: no graceful stop
		t.Fatal(err)
	}
	_ = cmd.Wait()
	t.Logf("worker killed %s", when)
}

// A fleet containment whose worker is killed -9 twice — once while
// snapshots are pending, once a moment after a new worker picked the work
// up — still ends with every host contained, each volume snapshotted
// exactly once, one quarantine group, and the retries in the timeline.
func TestWorkerKilledMidContainment(t *testing.T) {
	fleet := seedFleet(t, awsemu.FleetSpec{Instances: 4, NamePrefix: "crash", NetworkInterfaces: 2, Volumes: 2,
		WithInstanceRole: true, Compromised: []int{0, 1, 2}, Tags: map[string]string{"Crash": "yes"}})
	shared.emu.SetSnapshotCompletion(awsemu.SnapshotCompletion{After: 3 * time.Second})
	t.Cleanup(shared.emu.ResetFaults)

	before := recordFleet(t, fleet)
	rec := newAWSRecorder(t)
	cfg, cfgPath := workerConfigFile(t, "e2e-crash", rec.url)
	first := startWorkerProcess(t, cfgPath)
	runID := startFleetRun(t, shared.client, cfg.Temporal.TaskQueue, fleet, "none",
		workflows.RunMeta{RunID: "e2e-crash", Requester: "alice", Incident: "INC-CRASH"}, "contain now")

	// Kill the worker while snapshots of the fleet are pending.
	pollUntil(t, time.Minute, "snapshot of the fleet pending", snapshotPending(fleet))
	kill9(t, first, "with snapshots pending")

	second := startWorkerProcess(t, cfgPath)
	time.Sleep(20 * time.Second) // long enough for the retry to be picked up and under way
	kill9(t, second, "again, 20s after a new worker took over")

	startWorkerProcess(t, cfgPath)
	succeeded(t, shared.client, runID, 4*time.Minute)

	if n := checkContained(t, before, rec, "none"); n != len(fleet.CompromisedIDs) {
		t.Errorf("%d of %d hosts contained", n, len(fleet.CompromisedIDs))
	}
	// The timeline shows that some action needed more than one attempt.
	retried := countRetries(fleetRetries(t, shared.client, runID))
	if retried == 0 {
		t.Error("no retried action in the children's timelines")
	}
	t.Logf("%d steps succeeded on a later attempt", retried)
}
