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
