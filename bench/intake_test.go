package bench

import (
	"context"
	"strings"
	"testing"
	"time"
)

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
