// Package bench measures fleet containment speed: the Confluence fleet
// runbook on the embedded Temporal server against the AWS emulator (with
// per-call latency and EC2-style throttling), next to a plain sequential
// program that makes the same action calls with no engine. It owns the
// measurement and its table; it must not hold business rules (those stay in
// runbooks/, actions/ and workflows/, which it drives as they are).
package bench

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"syscall"
	"time"

	"github.com/cordon-ir/cordon/actions"
	"github.com/cordon-ir/cordon/worker"
)

// Defaults, chosen so `cordon bench` finishes in a few minutes on a small
// machine while keeping AWS-like timing (see docs/performance.md).
const (
	DefaultLatency            = 50 * time.Millisecond
	DefaultConcurrency        = 100
	DefaultSnapshotCompletion = time.Second
	DefaultPollInterval       = 500 * time.Millisecond
)

// DefaultHosts are the fleet sizes measured when Options.Hosts is empty;
// 1000 is only measured when asked for.
func DefaultHosts() []int { return []int{1, 10, 100} }

// Options configures a benchmark run. The zero value is the default run.
type Options struct {
	// Hosts are the fleet sizes to measure, in order (default 1, 10, 100).
	Hosts []int
	// Latency delays every AWS call in the emulator (default 50ms, like a
	// regional endpoint). Negative means none.
	Latency time.Duration
	// NoThrottle turns off the emulator's EC2-style token buckets
	// (awsemu.EC2DefaultThrottle), which are on by default.
	NoThrottle bool
	// NoRateLimit turns off the worker's own rate limit, so only AWS's
	// throttling (and retries) pace the engine. By default the worker
	// paces itself with RateLimit.
	NoRateLimit bool
	// RateLimit is the worker's per-action pacing (default: the worker's
	// default, worker.DefaultRateLimit: EC2's refill rates, half its
	// buckets as burst).
	RateLimit actions.RateLimit
	// Concurrency overrides the fleet runbook's max_concurrency on its
	// contain step (default 100; the runbook itself says 10).
	Concurrency int
	// SnapshotCompletion is how long a snapshot stays pending (default 1s):
	// long enough that waiting for it is part of the work, short enough
	// that the sequential baseline finishes.
	SnapshotCompletion time.Duration
	// PollInterval is how often actions poll for snapshots (default 500ms),
	// in a worker process too (its aws.poll_interval).
	PollInterval time.Duration
	// Examples is the directory holding the example runbooks (default
	// "examples", i.e. run from the repository root).
	Examples string
	// SkipBaseline measures the engine only (e.g. for 1000 hosts, where
	// the sequential program would take most of an hour).
	SkipBaseline bool
	// WorkerProcess is the path of a cordon binary: when set, the engine's
	// worker runs as `cordon worker --config FILE`, a fresh process per
	// fleet size, so Result.WorkerPeakRSS is the worker's own peak RSS.
	// Empty keeps the worker in the bench process.
	WorkerProcess string
	// Logger receives progress; nil discards. The server, SDK and emulator
	// are always quiet.
	Logger *slog.Logger
}

func (o Options) withDefaults() Options {
	if len(o.Hosts) == 0 {
		o.Hosts = DefaultHosts()
	}
	if o.Latency == 0 {
		o.Latency = DefaultLatency
	}
	if o.Latency < 0 {
		o.Latency = 0
	}
	if o.Concurrency <= 0 {
		o.Concurrency = DefaultConcurrency
	}
	if o.SnapshotCompletion <= 0 {
		o.SnapshotCompletion = DefaultSnapshotCompletion
	}
	if o.PollInterval <= 0 {
		o.PollInterval = DefaultPollInterval
	}
	if o.Examples == "" {
		o.Examples = "examples"
	}
	if o.NoRateLimit {
		o.RateLimit = actions.RateLimit{}
	} else if o.RateLimit == (actions.RateLimit{}) {
		o.RateLimit = actions.RateLimit(worker.DefaultRateLimit())
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o
}

// Result is one fleet size, measured with the engine and with the baseline
// in the same process, one after the other, each on a fresh fleet.
type Result struct {
	Hosts       int
	Concurrency int
	Latency     time.Duration
	Throttled   bool
	// MutatingRefill is the emulator's EC2 mutating refill rate (calls/s),
	// 0 when unthrottled; per action when PerAction.
	MutatingRefill float64
	PerAction      bool
	// RateLimit is the worker's own pacing (zero: none).
	RateLimit actions.RateLimit
	Engine    Measurement
	// Baseline is the zero Measurement when Options.SkipBaseline is set.
	Baseline Measurement
	// PeakRSS is the bench process's peak resident set size after this
	// fleet size, in bytes: a lifetime peak, so at least every earlier
	// size's. The process holds the Temporal server, the emulator, the
	// baseline and, unless WorkerProcess, the worker.
	PeakRSS int64
	// WorkerProcess says the worker ran as a process of its own, and
	// WorkerPeakRSS is
	// that process's peak resident set size in bytes (its VmHWM just
	// before it was stopped), for this fleet size alone; 0 when not
	// measured.
	WorkerProcess bool
	WorkerPeakRSS int64
	// WorkerFileRSS is the file-backed part of the worker process's RSS
	// (pages of the binary, shared and reclaimable, not heap) just before
	// it was stopped: the peak counts them too. 0 when not measured.
	WorkerFileRSS int64
}

// Speedup is how many times faster the engine contained the whole fleet
// than the baseline (baseline / engine); 0 without a baseline.
func (r Result) Speedup() float64 {
	if r.Baseline.Contained <= 0 || r.Engine.Contained <= 0 {
		return 0
	}
	return float64(r.Baseline.Contained) / float64(r.Engine.Contained)
}

// Measurement is what one containment of a fleet took.
type Measurement struct {
	// Isolated is launch → the last successful, non-dry-run
	// ModifyNetworkInterfaceAttribute (the moment the last host lost its
	// network), from the emulator's call log.
	Isolated time.Duration
	// Contained is launch → every host fully contained (the run's end).
	Contained time.Duration
	// P50 and P99 are over the hosts that succeeded, of launch → that
	// host contained.
	P50, P99 time.Duration
	// Calls is every AWS call the emulator saw, throttled ones included.
	Calls int
	// Throttled are calls refused with RequestLimitExceeded or Throttling.
	Throttled int
	// MutatingCalls are EC2 mutating calls that passed the rate limiter
	// (dry runs included: they take a token too).
	MutatingCalls int
	// MutatingRate is MutatingCalls per second over launch → last such call.
	MutatingRate float64
	// Busiest is the EC2 mutating action with the most calls (the bucket
	// that bounds a fleet when EC2 meters each action on its own), and
	// BusiestCalls and BusiestRate its calls and calls per second over
	// launch → its last call.
	Busiest      string
	BusiestCalls int
	BusiestRate  float64
	// CallsByAction counts the calls that passed throttling by
	// "Service:Action", with " (dry run)" for DryRun calls.
	CallsByAction map[string]int
	// Status is how the fleet run ended ("succeeded", "failed", ...).
	Status string
	// Failures say why hosts failed: "run: step: error", one per failed
	// step (engine) or the error that ended the baseline.
	Failures []string
	// HostsContained counts hosts whose every interface left its
	// application group; FailedHosts are the rest.
	HostsContained, FailedHosts int
}

// RefillFraction is the achieved mutating-call rate as a fraction of the
// emulator's mutating refill rate; 0 when unthrottled. When EC2 meters each
// action on its own it is the busiest action's rate against its bucket's
// refill: the bucket that bounds the fleet. Above 1 means the bucket's
// burst was still being spent.
func (r Result) RefillFraction(m Measurement) float64 {
	if r.MutatingRefill <= 0 {
		return 0
	}
	if r.PerAction {
		return m.BusiestRate / r.MutatingRefill
	}
	return m.MutatingRate / r.MutatingRefill
}

// Run measures each fleet size in turn on one server, emulator and worker
// (with Options.WorkerProcess, a worker process per size). It returns
// what it measured so far along with any error.
func Run(ctx context.Context, opts Options) ([]Result, error) {
	o := opts.withDefaults()
	for _, n := range o.Hosts {
		if n < 1 || n > 5000 {
			return nil, fmt.Errorf("bench: %d hosts is out of range 1–5000", n)
		}
	}
	s, err := startSandbox(ctx, o)
	if err != nil {
		return nil, err
	}
	defer s.stop()
	var results []Result
	for i, n := range o.Hosts {
		r := Result{Hosts: n, Concurrency: o.Concurrency, Latency: o.Latency, Throttled: !o.NoThrottle, RateLimit: o.RateLimit,
			WorkerProcess: o.WorkerProcess != ""}
		if r.Throttled {
			r.MutatingRefill, r.PerAction = s.throttle.Mutating.RefillPerSecond, s.throttle.PerAction
		}
		o.Logger.Info("bench: engine", "hosts", n, "concurrency", o.Concurrency, "worker_process", r.WorkerProcess)
		if r.WorkerProcess {
			var rss workerRSS
			r.Engine, rss, err = s.engineInWorkerProcess(ctx, i, n)
			r.WorkerPeakRSS, r.WorkerFileRSS = rss.peak, rss.file
		} else {
			r.Engine, err = s.engine(ctx, i, n)
		}
		if err != nil {
			return results, fmt.Errorf("bench: engine, %d hosts: %w", n, err)
		}
		if !o.SkipBaseline {
			o.Logger.Info("bench: sequential baseline", "hosts", n)
			if r.Baseline, err = s.baseline(ctx, i, n); err != nil {
				return results, fmt.Errorf("bench: baseline, %d hosts: %w", n, err)
			}
		}
		r.PeakRSS = peakRSS()
		results = append(results, r)
	}
	return results, nil
}

// peakRSS reads the process's high-water mark.
func peakRSS() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return maxrssBytes(int64(ru.Maxrss))
}

// percentile returns the p-th percentile (nearest rank) of ds.
func percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	rank := int(p/100*float64(len(s))+0.999999) - 1
	return s[min(max(rank, 0), len(s)-1)]
}
