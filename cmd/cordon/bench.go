package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"

	"github.com/cordon-ir/cordon/bench"
)

func runBench(ctx context.Context, env *cliEnv, args []string) int {
	if len(args) > 0 && args[0] == "intake" {
		return runBenchIntake(ctx, env, args[1:])
	}
	fs := newFlagSet(env, "bench", "[--hosts 1,10,100] [--latency 50ms] [--throttle=true] [--rate-limit=true] [--concurrency N] [--worker-process]",
		"Contain fleets of compromised Confluence servers with the fleet runbook on an in-process Temporal server against\n"+
			"the AWS emulator (a responder's signed start, every gate passed by a lead's signed break-glass), and with a plain\n"+
			"sequential program making the same action calls, in the same run; print a table per fleet size. See docs/performance.md.")
	hosts := fs.String("hosts", "1,10,100", "fleet sizes to measure, comma-separated (1000 works, and takes long)")
	latency := fs.Duration("latency", bench.DefaultLatency, "delay of every AWS call in the emulator (0 for none)")
	throttle := fs.Bool("throttle", true, "EC2's request-token buckets, one per API action, in the emulator")
	rateLimit := fs.Bool("rate-limit", true, "the worker paces its calls with its default rate limit (false: only AWS throttling and retries pace it)")
	calls := fs.Bool("calls", false, "also print the calls per AWS action of each side")
	concurrency := fs.Int("concurrency", bench.DefaultConcurrency, "hosts contained at once by the engine (overrides the runbook's max_concurrency)")
	snapshot := fs.Duration("snapshot", bench.DefaultSnapshotCompletion, "how long a snapshot stays pending in the emulator")
	poll := fs.Duration("poll", bench.DefaultPollInterval, "how often actions poll for snapshots")
	noBaseline := fs.Bool("no-baseline", false, "measure the engine only (the baseline for 1000 hosts takes most of an hour)")
	examples := fs.String("examples", "examples", "directory holding the example runbooks")
	workerProcess := fs.Bool("worker-process", false, "run the engine's worker as a separate process (cordon worker, this binary), a fresh one per fleet size, and report its own peak RSS")
	verbose := fs.Bool("verbose", false, "log progress to stderr")
	if _, err := parseInterleaved(fs, args); err != nil {
		return flagExit(err)
	}
	sizes, err := parseHosts(*hosts)
	if err != nil {
		fmt.Fprintf(env.stderr, "cordon bench: --hosts: %v\n", err)
		return 2
	}
	if *latency == 0 {
		*latency = -1 // bench.Options reads 0 as the default
	}
	opts := bench.Options{Hosts: sizes, Latency: *latency, NoThrottle: !*throttle, NoRateLimit: !*rateLimit, Concurrency: *concurrency,
		SnapshotCompletion: *snapshot, PollInterval: *poll, Examples: *examples, SkipBaseline: *noBaseline}
	if *workerProcess {
		// This very binary is the cordon whose worker is measured.
		if opts.WorkerProcess, err = os.Executable(); err != nil {
			fmt.Fprintf(env.stderr, "cordon bench: --worker-process: find the cordon binary: %v\n", err)
			return 1
		}
	}
	if *verbose {
		opts.Logger = slog.New(slog.NewTextHandler(env.stderr, nil))
	}
	results, err := bench.Run(ctx, opts)
	writes := []func() error{func() error { return bench.WriteTable(env.stdout, results) }}
	if *calls {
		writes = append(writes, func() error { return bench.WriteCalls(env.stdout, results) })
	}
	return benchDone(env, "cordon bench", err, writes...)
}

// benchDone prints what was measured, even when a measurement failed
// (the figures up to it), and exits 1 with the first error.
func benchDone(env *cliEnv, name string, err error, writes ...func() error) int {
	for _, w := range writes {
		if werr := w(); werr != nil && err == nil {
			err = werr
		}
	}
	if err != nil {
		fmt.Fprintf(env.stderr, "%s: %v\n", name, err)
		return 1
	}
	return 0
}

func parseHosts(s string) ([]int, error) {
	var out []int
	for _, part := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(part))
		if err != nil || n < 1 {
			return nil, fmt.Errorf("want positive host counts separated by commas, got %q", part)
		}
		out = append(out, n)
	}
	return out, nil
}

const benchIntakeAbout = `Measure the detection intake on an in-process Temporal server against the AWS emulator: detection (a
GuardDuty finding delivered to the SQS queue) to the first gate waiting in its run, p50 and p99, and findings per
minute through the queue, each next to the same runs started by a responder (runctl.Start) in the same process;
then check that every finding (and its duplicates) started exactly one run. See docs/performance.md.`

// runBenchIntake is cordon bench intake: the detection intake's latency
// and throughput, each next to a responder's direct start.
func runBenchIntake(ctx context.Context, env *cliEnv, args []string) int {
	fs := newFlagSet(env, "bench intake", "[--samples 20] [--findings 200] [--receivers 2] [--latency 50ms]", benchIntakeAbout)
	samples := fs.Int("samples", 20, "findings timed one at a time from the queue to their run's first gate")
	findings := fs.Int("findings", 200, "findings put on the queue at once for the throughput (10% delivered twice)")
	receivers := fs.Int("receivers", 2, "SQS loops reading the queue")
	latency := fs.Duration("latency", bench.DefaultLatency, "delay of every AWS call in the emulator (0 for none)")
	examples := fs.String("examples", "examples", "directory holding the example runbooks")
	verbose := fs.Bool("verbose", false, "log progress to stderr")
	if _, err := parseInterleaved(fs, args); err != nil {
		return flagExit(err)
	}
	if *latency == 0 {
		*latency = -1 // bench.IntakeOptions reads 0 as the default
	}
	o := bench.IntakeOptions{Samples: *samples, Findings: *findings, Receivers: *receivers, Latency: *latency, Examples: *examples}
	if *verbose {
		o.Logger = slog.New(slog.NewTextHandler(env.stderr, nil))
	}
	r, err := bench.RunIntake(ctx, o)
	return benchDone(env, "cordon bench intake", err, func() error { return bench.WriteIntakeTable(env.stdout, r) })
}
