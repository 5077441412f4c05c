package bench

import (
	"context"
	"strings"
	"testing"
	"time"
)

// One host, no latency: the whole measurement runs end to end and both
// sides contain the host. Never a timing assertion.
func TestSmokeOneHost(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	results, err := Run(ctx, Options{Hosts: []int{1}, Latency: -1, Examples: "../examples",
		SnapshotCompletion: 10 * time.Millisecond, PollInterval: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if len(results) != 1 {
		t.Fatalf("%d results", len(results))
	}
	r := results[0]
	for name, m := range map[string]Measurement{"engine": r.Engine, "baseline": r.Baseline} {
		if m.HostsContained != 1 || m.FailedHosts != 0 || m.Calls == 0 || m.Isolated <= 0 {
			t.Errorf("%s: %+v", name, m)
		}
	}
	var out strings.Builder
	if err := WriteTable(&out, results); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "all contained") {
		t.Errorf("table:\n%s", out.String())
	}
	t.Log("\n" + out.String())
}

// BenchmarkFleet runs the default measurement for ten hosts under Go's
// benchmark tooling and reports the figures as metrics (one iteration is
// one engine run and one baseline run, on fresh fleets):
//
//	go test ./bench -run '^$' -bench Fleet -benchtime 1x
func BenchmarkFleet(b *testing.B) {
	for b.Loop() {
		results, err := Run(context.Background(), Options{Hosts: []int{10}, Examples: "../examples"})
		if err != nil {
			b.Fatal(err)
		}
		r := results[0]
		b.ReportMetric(r.Engine.Contained.Seconds(), "engine-s")
		b.ReportMetric(r.Baseline.Contained.Seconds(), "baseline-s")
		b.ReportMetric(r.Speedup(), "speedup")
		b.ReportMetric(float64(r.Engine.Throttled), "throttled")
		b.ReportMetric(float64(r.PeakRSS>>20), "peak-MiB")
	}
}

// A small intake measurement, no latency: every sample reaches its gate
// both ways, every finding (and its duplicates) makes exactly one run.
// Never a timing assertion.
func TestIntakeSmoke(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	r, err := RunIntake(ctx, IntakeOptions{Samples: 2, Findings: 20, Duplicates: 0.25, Latency: -1, Examples: "../examples"})
	if err != nil {
		t.Fatal(err)
	}
	if r.GateP50 <= 0 || r.BaselineGateP50 <= 0 || r.Intake <= 0 || r.Baseline <= 0 {
		t.Errorf("missing figures: %+v", r)
	}
	if r.Findings != 20 || r.Deliveries != 25 || r.Runs != 20 || r.Lost != 0 || r.Extra != 0 {
		t.Errorf("findings %d, deliveries %d, runs %d, lost %d, extra %d", r.Findings, r.Deliveries, r.Runs, r.Lost, r.Extra)
	}
	var out strings.Builder
	if err := WriteIntakeTable(&out, r); err != nil {
		t.Fatal(err)
	}
	t.Logf("durable after %s, every run started after %s", r.Durable, r.Intake)
	if !strings.Contains(out.String(), "20 (lost 0, extra 0)") {
		t.Errorf("table:\n%s", out.String())
	}
	t.Log("\n" + out.String())
}

// BenchmarkIntake measures detection → first gate and the intake's
// throughput with the emulator's latency on, and reports them as metrics
// next to their baselines:
//
//	go test ./bench -run '^$' -bench Intake -benchtime 1x
func BenchmarkIntake(b *testing.B) {
	for b.Loop() {
		r, err := RunIntake(context.Background(), IntakeOptions{Examples: "../examples"})
		if err != nil {
			b.Fatal(err)
		}
		durable, runs, direct := r.PerMinute()
		b.ReportMetric(r.GateP50.Seconds(), "gate-p50-s")
		b.ReportMetric(r.GateP99.Seconds(), "gate-p99-s")
		b.ReportMetric(r.BaselineGateP50.Seconds(), "baseline-gate-p50-s")
		b.ReportMetric(durable, "deliveries/min")
		b.ReportMetric(runs, "runs/min")
		b.ReportMetric(direct, "baseline-runs/min")
	}
}
