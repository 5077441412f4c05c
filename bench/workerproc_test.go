package bench

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cordon-ir/cordon/worker"
)

// testWorkerMode makes the test binary, started as `BIN worker --config
// FILE` by startWorkerProcess, misbehave on purpose: "ignore-term" or
// "exit". Unset, it is a worker.
const testWorkerMode = "BENCH_TEST_WORKER_MODE"

// TestMain lets the test binary stand in for the cordon binary: the tests
// cannot build cmd/cordon cheaply (it links the Temporal server), and
// `cordon worker` is LoadConfig, Dial and worker.Run, which the stand-in
// does alike.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == "worker" {
		os.Exit(standInWorker(os.Args[2:]))
	}
	os.Exit(m.Run())
}

func standInWorker(args []string) int {
	switch os.Getenv(testWorkerMode) {
	case "ignore-term":
		signal.Ignore(syscall.SIGTERM)
		fmt.Fprintln(os.Stderr, "ignoring SIGTERM")
		time.Sleep(time.Minute) // never outlive a broken test for long
		return 0
	case "exit":
		fmt.Fprintln(os.Stderr, "boom: no config")
		return 3
	}
	if len(args) != 2 || args[0] != "--config" {
		fmt.Fprintf(os.Stderr, "stand-in worker: want --config FILE, got %q\n", args)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	cfg, err := worker.LoadConfig(args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	c, err := worker.Dial(ctx, cfg.Temporal, logger)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer c.Close()
	// As cordon worker: the snapshot poll comes from aws.poll_interval.
	if err := worker.Run(ctx, c, cfg, worker.Options{Logger: logger}); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

func testBinary(t *testing.T) string {
	t.Helper()
	bin, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return bin
}

// One host with the worker in a process of its own: the host is
// contained, the worker's own peak RSS is measured and printed, and no
// in-process worker took the tasks (there is none to take them).
func TestWorkerProcessOneHost(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	results, err := Run(ctx, Options{Hosts: []int{1}, Latency: -1, Examples: "../examples", SkipBaseline: true,
		SnapshotCompletion: 10 * time.Millisecond, PollInterval: 10 * time.Millisecond, WorkerProcess: testBinary(t)})
	if err != nil {
		t.Fatal(err)
	}
	r := results[0]
	if m := r.Engine; m.HostsContained != 1 || m.FailedHosts != 0 || m.Calls == 0 || m.Isolated <= 0 {
		t.Errorf("engine: %+v", m)
	}
	if !r.WorkerProcess || r.WorkerPeakRSS <= 0 || r.WorkerFileRSS <= 0 || r.PeakRSS <= 0 {
		t.Errorf("worker process %v, its peak RSS %d (file-backed %d), the bench's %d", r.WorkerProcess, r.WorkerPeakRSS, r.WorkerFileRSS, r.PeakRSS)
	}
	var out strings.Builder
	if err := WriteTable(&out, results); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"worker peak RSS (own process)", "peak RSS (bench process", "worker in its own process"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, out.String())
		}
	}
	t.Log("\n" + out.String())
}

// The worker process's config loads as cordon worker loads it, and
// NoRateLimit's zeros reach it as zeros (unlimited), not as a missing
// rate_limit, which would mean the default.
func TestWorkerConfigRateLimit(t *testing.T) {
	cfg := worker.Config{Temporal: worker.TemporalConfig{Address: "127.0.0.1:1", Namespace: "ns", TaskQueue: taskQueue},
		Roster: worker.RosterConfig{Members: []worker.MemberConfig{{ID: lead, Roles: []string{"responder", "lead"}}}}}
	for name, limit := range map[string]worker.RateLimitConfig{"none": {}, "default": worker.DefaultRateLimit()} {
		path, err := writeWorkerConfig(t.TempDir(), cfg, "eu-west-1", "http://127.0.0.1:2", limit, time.Second)
		if err != nil {
			t.Fatal(err)
		}
		got, err := worker.LoadConfig(path)
		if err != nil {
			t.Fatal(err)
		}
		if got.AWS.RateLimit == nil || *got.AWS.RateLimit != limit {
			t.Errorf("%s: rate_limit %v, want %+v", name, got.AWS.RateLimit, limit)
		}
		if got.AWS.Endpoint != "http://127.0.0.1:2" || got.AWS.Region != "eu-west-1" || got.AWS.PollInterval != time.Second ||
			got.Temporal != cfg.Temporal || len(got.Roster.Members) != 1 {
			t.Errorf("%s: %+v", name, got)
		}
	}
}

// A worker process that ignores SIGTERM is killed after the timeout and
// reaped; its peak RSS is still read.
func TestWorkerProcessKilledAfterTimeout(t *testing.T) {
	p, err := startWorkerProcess(testBinary(t), "unused", append(os.Environ(), testWorkerMode+"=ignore-term"), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	// Only once it ignores SIGTERM does SIGTERM prove anything.
	for deadline := time.Now().Add(time.Minute); !strings.Contains(p.stderr.String(), "ignoring SIGTERM"); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			_ = p.cmd.Process.Kill()
			t.Fatalf("the child never said it ignores SIGTERM: %s", p.stderr.String())
		}
	}
	rss, err := p.stop(200 * time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	ws, ok := p.cmd.ProcessState.Sys().(syscall.WaitStatus)
	if !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Errorf("process state %v, want killed by SIGKILL", p.cmd.ProcessState)
	}
	if rss.peak <= 0 || rss.file <= 0 {
		t.Errorf("RSS %+v", rss)
	}
	if err := syscall.Kill(p.cmd.Process.Pid, 0); !errors.Is(err, syscall.ESRCH) {
		t.Errorf("pid %d still exists: %v", p.cmd.Process.Pid, err)
	}
}

// A worker process that exits on its own is an error that says why, with
// its stderr; stop still reaps it and reports the peak wait4 saw.
func TestWorkerProcessExitedEarly(t *testing.T) {
	p, err := startWorkerProcess(testBinary(t), "unused", append(os.Environ(), testWorkerMode+"=exit"), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	<-p.done
	rss, err := p.stop(time.Second)
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 3 || !strings.Contains(err.Error(), "boom: no config") {
		t.Errorf("stop: %v", err)
	}
	if rss.peak <= 0 {
		t.Errorf("peak RSS %d", rss.peak)
	}
}
