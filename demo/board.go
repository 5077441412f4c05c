package demo

import (
	"cmp"
	"fmt"
	"strings"
	"time"

	"github.com/cordon-ir/cordon/report"
	"github.com/cordon-ir/cordon/workflows"
)

// Board is what the live view draws: one run and a row per host it
// contains (each host is a child run), or a single row when the run has
// no children.
type Board struct {
	Title   string
	RunID   string
	Status  workflows.RunStatus
	DryRun  bool
	Elapsed time.Duration
	Rows    []Row
	// Said is the last message posted to the incident channel.
	Said string
	// Timings are a run a detection started's milestones, from the
	// finding to the first host isolated ("" for a run a person started).
	Timings string
}

// Row is one host's (or one run's) progress.
type Row struct {
	Host    string // instance id, or the access key of a credential run
	RunID   string
	Step    string // the step in progress, or the last one to finish
	Status  string // that step's status (a StepStatus), or the run's (a RunStatus) once it ended
	Done    int    // steps finished (succeeded, skipped, denied, failed)
	Total   int
	Waiting int // gates waiting for a decision
	Failure string
}

// BuildBoard summarises a run and its children (keyed by run id; a child
// not queried yet is simply absent).
func BuildBoard(title string, run workflows.State, children map[string]workflows.State, now time.Time) Board {
	b := Board{Title: title, RunID: run.Meta.RunID, Status: run.Status, DryRun: run.Meta.DryRun}
	if !run.StartedAt.IsZero() {
		end := run.EndedAt
		if end.IsZero() {
			end = now
		}
		b.Elapsed = end.Sub(run.StartedAt).Round(100 * time.Millisecond)
	}
	var ids []string
	for _, st := range run.Steps {
		ids = append(ids, st.Children...)
	}
	if run.Meta.Trigger != nil {
		b.Timings = shortTimings(report.TimingsOf(run, statesOf(children, ids)))
	}
	if len(ids) == 0 {
		b.Rows = append(b.Rows, rowOf(run, run.Meta.RunID))
		return b
	}
	for _, id := range ids {
		if cs, ok := children[id]; ok {
			b.Rows = append(b.Rows, rowOf(cs, id))
		} else {
			b.Rows = append(b.Rows, Row{Host: "…", RunID: id, Status: string(workflows.StepPending)})
		}
	}
	return b
}

func rowOf(s workflows.State, id string) Row {
	r := Row{Host: report.HostOf(s), RunID: id, Total: len(s.Steps)}
	last, lastStatus, failed := "", workflows.StepStatus(""), ""
	for _, st := range s.Steps {
		switch st.Status {
		case workflows.StepSucceeded, workflows.StepSkipped, workflows.StepDenied, workflows.StepFailed, workflows.StepCancelled:
			r.Done++
			if st.Status == workflows.StepSucceeded {
				last, lastStatus = st.ID, st.Status
			}
			if (st.Status == workflows.StepFailed || st.Status == workflows.StepDenied) && failed == "" {
				failed = st.ID
				r.Failure = st.ID + ": " + cmp.Or(st.Error, st.Reason, string(st.Status))
			}
		case workflows.StepRunning, workflows.StepAwaiting, workflows.StepHeld:
			if r.Step == "" {
				r.Step, r.Status = st.ID, string(st.Status)
			}
		}
	}
	switch {
	case r.Step != "":
	case failed != "":
		// Where it went wrong, not the steps cancelled after it.
		r.Step, r.Status = failed, string(workflows.StepFailed)
	default:
		r.Step, r.Status = last, string(lastStatus)
	}
	if s.Status != "" && s.Status != workflows.RunRunning {
		r.Status = string(s.Status)
	}
	for _, g := range s.Gates {
		if g.Status == workflows.GateWaiting {
			r.Waiting++
		}
	}
	return r
}

// shortTimings is the timings in a line that fits the board: detection →
// received → run → gate → approval → isolated, each as the time since the
// one before (the report has the long form).
func shortTimings(t report.Timings) string {
	parts := []string{}
	var prev time.Time
	for _, m := range []struct {
		name string
		at   time.Time
	}{{"detected", t.FindingCreated}, {"received", t.Received}, {"run", t.Started}, {"gate", t.FirstGate},
		{"approved", t.FirstApproval}, {"isolated", t.FirstIsolated}} {
		switch {
		case m.at.IsZero():
		case prev.IsZero():
			parts = append(parts, m.name+" "+m.at.Local().Format("15:04:05"))
		default:
			parts = append(parts, fmt.Sprintf("%s +%s", m.name, m.at.Sub(prev).Round(100*time.Millisecond)))
		}
		if !m.at.IsZero() {
			prev = m.at
		}
	}
	return strings.Join(parts, " → ")
}

// Lines renders the board for a terminal of the given width; colour adds
// ANSI colours (failures red, waiting gates yellow, finished hosts green).
func (b Board) Lines(width int, colour bool) []string {
	paint := func(f func(string) string, s string) string {
		if colour {
			return f(s)
		}
		return s
	}
	mode := ""
	if b.DryRun {
		mode = " (rehearsal: nothing changes)"
	}
	// The run id is printed when the run starts; the board stays narrow
	// enough for an 80-column terminal, since a wrapped line would throw
	// off the redraw.
	lines := []string{paint(bold, b.Title+mode) + fmt.Sprintf("  %s  %s", b.Status, b.Elapsed)}
	if b.Timings != "" {
		lines = append(lines, "  "+clip(b.Timings, max(20, width-2)))
	}
	lines = append(lines, fmt.Sprintf("  %-21s %-18s %-19s %-6s %s", "host", "step", "status", "steps", "gates"))
	for _, r := range b.Rows {
		gates := ""
		if r.Waiting > 0 {
			gates = paint(yellow, fmt.Sprintf("%d waiting", r.Waiting))
		}
		status := fmt.Sprintf("%-19s", r.Status)
		switch r.Status {
		case string(workflows.RunFailed), string(workflows.RunAborted), string(workflows.StepDenied):
			status = paint(red, status)
		case string(workflows.StepAwaiting), string(workflows.StepHeld), string(workflows.RunPartial):
			status = paint(yellow, status)
		case string(workflows.RunSucceeded):
			status = paint(green, status)
		}
		line := fmt.Sprintf("  %-21s %-18s %s %-6s %s", clip(r.Host, 21), clip(r.Step, 18), status, fmt.Sprintf("%d/%d", r.Done, r.Total), gates)
		lines = append(lines, line)
		if r.Failure != "" {
			lines = append(lines, paint(red, "    ✗ "+clip(r.Failure, max(20, width-6))))
		}
	}
	if b.Said != "" {
		lines = append(lines, "  #incident: "+clip(b.Said, max(20, width-14)))
	}
	return lines
}

func clip(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}

func bold(s string) string   { return "\x1b[1m" + s + "\x1b[0m" }
func red(s string) string    { return "\x1b[31m" + s + "\x1b[0m" }
func yellow(s string) string { return "\x1b[33m" + s + "\x1b[0m" }
func green(s string) string  { return "\x1b[32m" + s + "\x1b[0m" }
