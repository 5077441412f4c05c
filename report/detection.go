package report

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/cordon-ir/cordon/workflows"
)

// Timings are a run's milestones from detection to containment (issue
// 14): when the first finding was created and received, when the run
// started, when its first gate waited, when a person first approved, and
// when the first host was cut off the network. A fleet run's gates,
// approvals and isolations happen in its host runs: they count when the
// caller gives the children. Zero where the run has not got there (or, for
// the detection, was not started from one).
type Timings struct {
	FindingCreated time.Time `json:"finding_created,omitzero"`
	Received       time.Time `json:"received,omitzero"`
	Started        time.Time `json:"started,omitzero"`
	FirstGate      time.Time `json:"first_gate_waiting,omitzero"`
	FirstApproval  time.Time `json:"first_approval,omitzero"`
	FirstIsolated  time.Time `json:"first_isolated,omitzero"`
	// IsolatedIn names the host run where the first isolation happened,
	// when it is not the run itself.
	IsolatedIn string `json:"isolated_in,omitempty"`
}

// TimingsOf reads the timings from a run's record and its children's
// (nil for a run without children, or where they are not at hand).
func TimingsOf(s workflows.State, children []workflows.State) Timings {
	t := Timings{Started: s.StartedAt}
	if s.Meta.Trigger != nil {
		t.FindingCreated, t.Received = s.Meta.Trigger.Earliest()
	}
	for i, r := range append([]workflows.State{s}, children...) {
		for _, e := range r.Timeline {
			if e.Step == workflows.PlanGate {
				continue // the lead's approval of an ad-hoc plan is not the containment's
			}
			switch {
			case e.Kind == workflows.EventGateWaiting:
				t.FirstGate = earliest(t.FirstGate, e.Time)
			case e.Kind == workflows.EventApproval, e.Kind == workflows.EventGateApproved && e.BreakGlass:
				t.FirstApproval = earliest(t.FirstApproval, e.Time)
			}
		}
		if r.Meta.DryRun {
			continue // a rehearsal's isolating action only previewed
		}
		if at := isolatedAt(r); !at.IsZero() && (t.FirstIsolated.IsZero() || at.Before(t.FirstIsolated)) {
			t.FirstIsolated, t.IsolatedIn = at, ""
			if i > 0 {
				t.IsolatedIn = r.Meta.RunID
			}
		}
	}
	return t
}

func earliest(a, b time.Time) time.Time {
	if a.IsZero() || b.Before(a) {
		return b
	}
	return a
}

// milestone is one step of the timings, and what it is called.
type milestone struct {
	name string
	at   time.Time
}

func (t Timings) milestones() []milestone {
	isolated := "first host isolated"
	if t.IsolatedIn != "" {
		isolated += " (" + t.IsolatedIn + ")"
	}
	return []milestone{{"finding created", t.FindingCreated}, {"received", t.Received}, {"run started", t.Started},
		{"first gate waiting", t.FirstGate}, {"first approval", t.FirstApproval}, {isolated, t.FirstIsolated}}
}

// Line is the timings on one line: the first milestone at its time, each
// later one as the time since the one before (what a reader wants to
// know is where the minutes went). Milestones not reached are left out.
func (t Timings) Line() string {
	var parts []string
	var prev time.Time
	for _, m := range t.milestones() {
		if m.at.IsZero() {
			continue
		}
		if prev.IsZero() {
			parts = append(parts, m.name+" "+stamp(m.at))
		} else {
			parts = append(parts, fmt.Sprintf("%s +%s", m.name, m.at.Sub(prev).Round(100*time.Millisecond)))
		}
		prev = m.at
	}
	return strings.Join(parts, " → ")
}

// Started says what started a triggered run, in a line: "Started by
// trigger T (mode) from N finding(s)", and who received them; "" for a
// run a person started from nothing.
func Started(s workflows.State) string {
	t := s.Meta.Trigger
	if t == nil {
		return ""
	}
	line := fmt.Sprintf("Started by trigger %s (%s) from %d finding(s)", t.Name, t.Mode, len(t.Findings))
	switch {
	case s.Provenance != nil && s.Provenance.Initiator == workflows.RoleIntake:
		line += ", launched by the detection intake " + s.Meta.Requester
	case t.Mode == "propose":
		line += fmt.Sprintf(", proposed by intake %s and launched by %s", orDash(t.Intake), orDash(s.Meta.Requester))
	case t.Intake != "":
		line += ", received by intake " + t.Intake
	}
	if s.Meta.Parent != "" {
		line += ", as part of run " + s.Meta.Parent
	}
	return line
}

// FindingLine is one finding as a person reads it.
func FindingLine(f workflows.TriggeredFinding) string {
	where := strings.Trim(orDash(f.Account)+"/"+orDash(f.Region), "/")
	target := f.TargetKey
	if target == "" {
		target = f.Resource
	}
	line := fmt.Sprintf("%s %s in %s, target %s, severity %s, created %s, received %s", f.Source, orDash(f.Type), where,
		orDash(target), orDash(f.Severity), stamp(f.Created), stamp(f.Received))
	if f.Count > 1 {
		line += fmt.Sprintf(", seen %d times", f.Count)
	}
	return line + " (" + f.Key + ")"
}

// UpdateLine is one recorded update of a finding.
func UpdateLine(u workflows.FindingUpdate) string {
	line := fmt.Sprintf("%s updated: count %d", u.Key, u.Count)
	if u.LastSeen != "" {
		line += ", last seen " + u.LastSeen
	}
	return line + ", received " + stamp(u.Received)
}

// findingLines are the run's findings and their recorded updates, a
// line each.
func findingLines(s workflows.State) []string {
	var out []string
	for _, f := range s.Meta.Trigger.Findings {
		out = append(out, FindingLine(f))
	}
	for _, u := range s.FindingUpdates {
		out = append(out, UpdateLine(u))
	}
	return out
}

// writeDetection is the report's section on what started the run and how
// long containment took from there.
func writeDetection(b *strings.Builder, s workflows.State, children []workflows.State) {
	started := Started(s)
	timings := TimingsOf(s, children)
	if started == "" && timings.FirstGate.IsZero() {
		return // a run started by hand that never reached a gate: the summary says it all
	}
	b.WriteString("\n## Detection and timings\n\n")
	if started != "" {
		fmt.Fprintf(b, "%s:\n\n", started)
		for _, line := range findingLines(s) {
			fmt.Fprintf(b, "- %s\n", cell(line))
		}
		b.WriteString("\n")
	}
	fmt.Fprintf(b, "Timings: %s.\n", timings.Line())
	if s.Meta.DryRun {
		b.WriteString("(A rehearsal: nothing was isolated.)\n")
	}
}

// WriteStatus writes what cordon status says of a run's detection and
// timings (nothing for a run started by hand that never reached a gate).
func WriteStatus(w io.Writer, s workflows.State, children []workflows.State) error {
	var b strings.Builder
	if started := Started(s); started != "" {
		fmt.Fprintf(&b, "%s:\n", started)
		for _, line := range findingLines(s) {
			fmt.Fprintf(&b, "  %s\n", line)
		}
	}
	if t := TimingsOf(s, children); b.Len() > 0 || !t.FirstGate.IsZero() {
		fmt.Fprintf(&b, "timings: %s\n", t.Line())
	}
	if _, err := io.WriteString(w, b.String()); err != nil {
		return fmt.Errorf("write detection and timings: %w", err)
	}
	return nil
}
