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
