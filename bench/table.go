package bench

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"text/tabwriter"
	"time"

	"github.com/cordon-ir/cordon/actions"
)

// WriteTable prints one table per fleet size: each figure for the engine,
// the sequential baseline and their ratio (baseline ÷ engine, so above 1
// means the engine was faster or made fewer calls).
func WriteTable(w io.Writer, results []Result) error {
	for _, r := range results {
		throttle := "off"
		if r.Throttled {
			throttle = fmt.Sprintf("EC2-style buckets, mutating refill %.0f/s", r.MutatingRefill)
			if r.PerAction {
				throttle += " per action"
			}
		}
		pacing := "none (AWS throttling paces it)"
		if l := r.RateLimit; l != (actions.RateLimit{}) {
			pacing = fmt.Sprintf("mutating %.0f/s burst %d, reads %.0f/s burst %d per action", l.MutatingPerSecond, l.MutatingBurst, l.ReadPerSecond, l.ReadBurst)
		}
		where := ""
		if r.WorkerProcess {
			where = ", worker in its own process (cordon worker)"
		}
		if _, err := fmt.Fprintf(w, "\n%d host(s) — latency %s per AWS call, throttling %s, worker rate limit %s, engine fan-out %d (max_concurrency overridden)%s\n",
			r.Hosts, r.Latency, throttle, pacing, r.Concurrency, where); err != nil {
			return err
		}
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, "\tcordon\tbaseline\tbaseline÷cordon\t")
		row := func(name string, e, b time.Duration) {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t\n", name, dur(e), dur(b), ratio(float64(b), float64(e)))
		}
		e, b := r.Engine, r.Baseline
		// A skipped baseline (Options.SkipBaseline) has no status: its
		// counts are "–", not zeros that read as measured.
		base := func(format string, v ...any) string {
			if b.Status == "" {
				return "–"
			}
			return fmt.Sprintf(format, v...)
		}
		row("all isolated", e.Isolated, b.Isolated)
		row("all contained", e.Contained, b.Contained)
		row("per host p50", e.P50, b.P50)
		row("per host p99", e.P99, b.P99)
		fmt.Fprintf(tw, "AWS calls\t%d\t%s\t%s\t\n", e.Calls, base("%d", b.Calls), ratio(float64(b.Calls), float64(e.Calls)))
		fmt.Fprintf(tw, "throttled calls\t%d\t%s\t\t\n", e.Throttled, base("%d", b.Throttled))
		fmt.Fprintf(tw, "EC2 mutating calls\t%d\t%s\t%s\t\n", e.MutatingCalls, base("%d", b.MutatingCalls), ratio(float64(b.MutatingCalls), float64(e.MutatingCalls)))
		fmt.Fprintf(tw, "EC2 mutating calls/s\t%.1f\t%s\t%s\t\n", e.MutatingRate, base("%.1f", b.MutatingRate), ratio(b.MutatingRate, e.MutatingRate))
		fmt.Fprintf(tw, "busiest EC2 mutating action\t%s\t%s\t\t\n", busiest(e), busiest(b))
		if r.MutatingRefill > 0 {
			of := "mutating refill"
			if r.PerAction {
				of = "its bucket's refill"
			}
			fmt.Fprintf(tw, "  ÷ %s\t%.0f%%\t%s\t\t\n", of, 100*r.RefillFraction(e), base("%.0f%%", 100*r.RefillFraction(b)))
		}
		fmt.Fprintf(tw, "fleet run\t%s\t%s\t\t\n", short(e.Status), short(b.Status))
		fmt.Fprintf(tw, "hosts contained\t%d/%d\t%s\t\t\n", e.HostsContained, r.Hosts, base("%d/%d", b.HostsContained, r.Hosts))
		if r.WorkerProcess {
			fmt.Fprintf(tw, "worker peak RSS (own process)\t%s\t\t\t\n", mib(r.WorkerPeakRSS))
			fmt.Fprintf(tw, "  its file-backed RSS (binary pages) at stop\t%s\t\t\t\n", mib(r.WorkerFileRSS))
			fmt.Fprintf(tw, "peak RSS (bench process: server, emulator, baseline)\t%s\t\t\t\n", mib(r.PeakRSS))
		} else {
			fmt.Fprintf(tw, "peak RSS (whole process)\t%s\t\t\t\n", mib(r.PeakRSS))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
		for _, side := range []struct {
			name     string
			failures []string
		}{{"cordon", e.Failures}, {"baseline", b.Failures}} {
			for i, f := range side.failures {
				if i == 3 {
					fmt.Fprintf(w, "  %s: … and %d more failed steps\n", side.name, len(side.failures)-i)
					break
				}
				fmt.Fprintf(w, "  %s failed step: %s\n", side.name, clip(f, 300))
			}
		}
		if s := r.Speedup(); s > 0 {
			if _, err := fmt.Fprintf(w, "cordon contained the fleet %.2f× as fast as the sequential baseline\n", s); err != nil {
				return err
			}
		}
	}
	return nil
}

// WriteCalls prints, per fleet size, the calls each side made per AWS
// action (throttled attempts excluded; dry runs apart).
func WriteCalls(w io.Writer, results []Result) error {
	for _, r := range results {
		fmt.Fprintf(w, "\n%d host(s): calls per action\n", r.Hosts)
		names := map[string]bool{}
		for n := range r.Engine.CallsByAction {
			names[n] = true
		}
		for n := range r.Baseline.CallsByAction {
			names[n] = true
		}
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, "action\tcordon\tbaseline\t")
		for _, n := range slices.Sorted(maps.Keys(names)) {
			fmt.Fprintf(tw, "%s\t%d\t%d\t\n", n, r.Engine.CallsByAction[n], r.Baseline.CallsByAction[n])
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	return nil
}

func busiest(m Measurement) string {
	if m.Busiest == "" {
		return "–"
	}
	return fmt.Sprintf("%s %d (%.1f/s)", m.Busiest, m.BusiestCalls, m.BusiestRate)
}

// mib prints a byte count in MiB; "–" when it was not measured.
func mib(b int64) string {
	if b <= 0 {
		return "–"
	}
	return fmt.Sprintf("%d MiB", b>>20)
}

func dur(d time.Duration) string {
	if d <= 0 {
		return "–"
	}
	return d.Round(time.Millisecond).String()
}

func ratio(a, b float64) string {
	if a <= 0 || b <= 0 {
		return "–"
	}
	return fmt.Sprintf("%.2f×", a/b)
}

// clip keeps the first n bytes of a long error (the SDK repeats itself).
func clip(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

// short keeps a status cell readable; the full error is in the result.
func short(s string) string {
	if s == "" {
		return "–"
	}
	return clip(s, 40)
}

// WriteIntakeTable prints an intake measurement: each figure through the
// intake, the same without it (a responder's runctl.Start), and their
// ratio.
func WriteIntakeTable(w io.Writer, r IntakeResult) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	durable, runs, direct := r.PerMinute()
	ratio := func(a, b float64) string {
		if a <= 0 || b <= 0 {
			return "—"
		}
		return fmt.Sprintf("%.2f×", a/b)
	}
	fmt.Fprintf(tw, "emulator latency %s per call\t\t\t\n", r.Latency)
	fmt.Fprintf(tw, "\tintake\tresponder's start\tratio\n")
	fmt.Fprintf(tw, "detection → first gate, p50 (%d samples)\t%s\t%s\t%s\n", r.Samples, r.GateP50.Round(time.Millisecond),
		r.BaselineGateP50.Round(time.Millisecond), ratio(r.GateP50.Seconds(), r.BaselineGateP50.Seconds()))
	fmt.Fprintf(tw, "detection → first gate, p99\t%s\t%s\t%s\n", r.GateP99.Round(time.Millisecond),
		r.BaselineGateP99.Round(time.Millisecond), ratio(r.GateP99.Seconds(), r.BaselineGateP99.Seconds()))
	fmt.Fprintf(tw, "deliveries per minute off the queue (%d)\t%.0f\t—\t\n", r.Deliveries, durable)
	fmt.Fprintf(tw, "runs started per minute (%d findings)\t%.0f\t%.0f\t%s\n", r.Findings, runs, direct, ratio(runs, direct))
	fmt.Fprintf(tw, "runs at the end\t%d (lost %d, extra %d)\t\t\n", r.Runs, r.Lost, r.Extra)
	return tw.Flush()
}
