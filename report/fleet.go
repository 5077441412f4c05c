package report

import (
	"bytes"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/cordon-ir/cordon/workflows"
)

// HostSummary is one host of a fleet run: its child run's outcome, how
// long it took from the fleet's launch to isolate it, its evidence, and
// who decided its gates.
type HostSummary struct {
	Host   string
	RunID  string
	Status workflows.RunStatus
	// Isolated is from the fleet run's launch to this host's isolation;
	// zero when it was not isolated.
	Isolated  time.Duration
	Snapshots []string
	Decisions []string // "isolate approved by alice"
}

// Hosts summarises the child runs of a fleet run, one per host, in the
// order given.
func Hosts(fleet workflows.State, children []workflows.State) []HostSummary {
	out := make([]HostSummary, 0, len(children))
	for _, c := range children {
		h := HostSummary{Host: HostOf(c), RunID: c.Meta.RunID, Status: c.Status, Snapshots: snapshotsOf(c)}
		if at := isolatedAt(c); !at.IsZero() {
			h.Isolated = at.Sub(fleet.StartedAt)
		}
		for _, e := range c.Timeline {
			switch e.Kind {
			case workflows.EventGateApproved:
				h.Decisions = append(h.Decisions, fmt.Sprintf("%s approved by %s", e.Step, e.Actor))
			case workflows.EventGateDenied:
				h.Decisions = append(h.Decisions, fmt.Sprintf("%s denied by %s", e.Step, e.Actor))
			}
		}
		h.Decisions = foldRounds(h.Decisions)
		out = append(out, h)
	}
	return out
}

// foldRounds folds repeated decisions (a gate that reopened because the
// world moved, decided the same way again) into one entry with a count.
func foldRounds(ds []string) []string {
	var out []string
	n := 0
	for i, d := range ds {
		n++
		if i+1 < len(ds) && ds[i+1] == d {
			continue
		}
		if n > 1 {
			d = fmt.Sprintf("%s (%d rounds)", d, n)
		}
		out = append(out, d)
		n = 0
	}
	return out
}

// WriteHosts writes the hosts table of a fleet run: for the post-incident
// review the first question is which hosts were contained, and how long
// each stayed exposed after the containment was launched.
func WriteHosts(w io.Writer, fleet workflows.State, children []workflows.State) error {
	b := &strings.Builder{}
	b.WriteString("## Hosts\n\n| host | child run | outcome | launch → isolation | snapshots | decisions |\n| --- | --- | --- | --- | --- | --- |\n")
	for _, h := range Hosts(fleet, children) {
		iso := "—"
		if h.Isolated > 0 {
			iso = h.Isolated.Round(100 * time.Millisecond).String()
		}
		fmt.Fprintf(b, "| %s | `%s` | %s | %s | %s | %s |\n", cell(h.Host), h.RunID, h.Status, iso,
			strings.Join(h.Snapshots, ", "), cell(strings.Join(h.Decisions, "; ")))
	}
	b.WriteString("\n")
	if _, err := io.WriteString(w, b.String()); err != nil {
		return fmt.Errorf("write hosts table: %w", err)
	}
	return nil
}

// FleetMarkdown writes the record of a run together with its child runs
// (a fleet containment runs each host in a child): the run's own report,
// the hosts table, then each child's report one heading level down, so
// the document keeps a single title.
func FleetMarkdown(w io.Writer, s workflows.State, children []workflows.State) error {
	var b bytes.Buffer
	if err := markdown(&b, s, children); err != nil {
		return err
	}
	if len(children) > 0 {
		b.WriteString("\n")
		if err := WriteHosts(&b, s, children); err != nil {
			return err
		}
		for _, c := range children {
			if err := AppendNested(&b, c); err != nil {
				return err
			}
		}
	}
	if _, err := w.Write(b.Bytes()); err != nil {
		return fmt.Errorf("write fleet report: %w", err)
	}
	return nil
}

// AppendNested adds one run's report to b one heading level down.
func AppendNested(b *bytes.Buffer, s workflows.State) error {
	var one bytes.Buffer
	if err := Markdown(&one, s); err != nil {
		return fmt.Errorf("render the report of %s: %w", s.Meta.RunID, err)
	}
	for _, line := range strings.SplitAfter(one.String(), "\n") {
		if strings.HasPrefix(line, "#") {
			b.WriteString("#")
		}
		b.WriteString(line)
	}
	b.WriteString("\n")
	return nil
}

// FleetJSON writes the run's full record, its timings (the children's
// gates and isolations count) and its child runs' records under
// "children" (omitted when there are none).
func FleetJSON(w io.Writer, s workflows.State, children []workflows.State) error {
	return writeJSON(w, struct {
		workflows.State
		Timings  Timings           `json:"timings"`
		Children []workflows.State `json:"children,omitempty"`
	}{s, TimingsOf(s, children), children})
}
