// Package report turns a run's recorded state into the post-incident
// review record: a Markdown document for people and JSON for tools. It is
// pure rendering: the state comes from the workflow's query.
package report

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/cordon-ir/cordon/actions/wire"
	"github.com/cordon-ir/cordon/runbooks"
	"github.com/cordon-ir/cordon/workflows"
)

// JSON writes the full record, with the timings and the chain of custody
// read from it.
func JSON(w io.Writer, s workflows.State) error {
	return writeJSON(w, struct {
		workflows.State
		Timings Timings         `json:"timings"`
		Custody []wire.Artefact `json:"chain_of_custody,omitempty"`
	}{s, TimingsOf(s, nil), CustodyOf(s, nil)})
}

func writeJSON(w io.Writer, s any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(s); err != nil {
		return fmt.Errorf("write report JSON: %w", err)
	}
	return nil
}

// phases orders steps as NIST SP 800-61 does, then the steps that declare
// no phase.
var phases = append(runbooks.Phases(), "")

// Markdown writes a PIR-ready document: summary, decisions, steps by NIST
// phase with evidence references, what was skipped or failed and why, and
// the full timeline.
func Markdown(w io.Writer, s workflows.State) error {
	return markdown(w, s, nil)
}

// markdown is Markdown with the run's children, whose gates and
// isolations count in the timings.
func markdown(w io.Writer, s workflows.State, children []workflows.State) error {
	b := &strings.Builder{}
	fmt.Fprintf(b, "# Containment report: %s\n\n", s.Meta.RunID)
	fmt.Fprintf(b, "| | |\n| --- | --- |\n")
	fmt.Fprintf(b, "| Runbook | `%s` (plan `%s`) |\n", s.Runbook, short(s.PlanHash))
	if s.Meta.Incident != "" {
		fmt.Fprintf(b, "| Incident | %s |\n", s.Meta.Incident)
	}
	fmt.Fprintf(b, "| Requested by | %s (%s) |\n", s.Meta.Requester, orDash(s.Meta.Channel))
	if started := Started(s); started != "" {
		fmt.Fprintf(b, "| Trigger | %s |\n", cell(started))
	}
	fmt.Fprintf(b, "| Outcome | **%s** |\n", s.Status)
	if s.Status == workflows.RunPartial {
		var notDone []string
		for _, st := range s.Steps {
			for _, fi := range st.FailedItems {
				notDone = append(notDone, fmt.Sprintf("%s #%d %s", st.ID, fi.Item, fi.Value))
			}
		}
		fmt.Fprintf(b, "| Not done | %s (see Skipped, denied or failed) |\n", cell(strings.Join(notDone, ", ")))
	}
	fmt.Fprintf(b, "| Started | %s |\n", stamp(s.StartedAt))
	if !s.EndedAt.IsZero() {
		fmt.Fprintf(b, "| Ended | %s (%s) |\n", stamp(s.EndedAt), s.EndedAt.Sub(s.StartedAt).Round(time.Second))
	}
	if s.Meta.DryRun {
		fmt.Fprintf(b, "| Mode | **rehearsal (dry run): nothing was changed** |\n")
	}
	if s.Meta.Parent != "" {
		fmt.Fprintf(b, "| Part of | %s |\n", s.Meta.Parent)
	}
	if s.BreakGlass != nil {
		fmt.Fprintf(b, "| Break-glass | approved every gate: %s at %s: %s |\n", s.BreakGlass.Actor, stamp(s.BreakGlass.Time), s.BreakGlass.Reason)
	}
	for _, n := range s.RosterNotes {
		fmt.Fprintf(b, "| Note | %s |\n", n)
	}
	if len(s.Inputs) > 0 {
		b.WriteString("\n## Inputs\n\n")
		for _, k := range sortedKeys(s.Inputs) {
			v, _ := json.Marshal(s.Inputs[k])
			fmt.Fprintf(b, "- `%s` = `%s`\n", k, v)
		}
	}
	if iso := isolatedAt(s); !iso.IsZero() {
		fmt.Fprintf(b, "\nTime from launch to isolation: **%s**.\n", iso.Sub(s.StartedAt).Round(time.Second))
	}
	writeDetection(b, s, children)

	writeAuthority(b, s)

	b.WriteString("\n## Decisions\n\n")
	decisions := 0
	for i, e := range s.Timeline {
		if e.Kind == workflows.EventGateApproved && completedBy(s.Timeline, i) {
			continue // said with the approval that completed it
		}
		switch e.Kind {
		case workflows.EventApproval:
			decisions++
			what := "approval"
			if completes(s.Timeline, i) {
				what = "gate_approved"
			}
			fmt.Fprintf(b, "- %s — %s%s%s (approval %s)\n", stamp(e.Time), what, stepText(e), actorText(e), e.Detail)
		case workflows.EventGateApproved, workflows.EventGateDenied, workflows.EventGateTimedOut,
			workflows.EventGateEscalated, workflows.EventGateReopened, workflows.EventGateStillApproved,
			workflows.EventBreakGlass, workflows.EventBreakGlassSigned, workflows.EventPlanApproved, workflows.EventPlanRefused,
			workflows.EventPaused, workflows.EventResumed, workflows.EventSkip, workflows.EventAbort:
			decisions++
			fmt.Fprintf(b, "- %s — %s%s%s%s\n", stamp(e.Time), e.Kind, stepText(e), actorText(e), detailText(e))
		}
	}
	if decisions == 0 {
		b.WriteString("No gate was reached and nobody intervened.\n")
	}

	b.WriteString("\n## Steps\n")
	for _, phase := range phases {
		var rows []workflows.StepState
		for _, st := range s.Steps {
			if st.Phase == phase {
				rows = append(rows, st)
			}
		}
		if len(rows) == 0 {
			continue
		}
		title := phase
		if title == "" {
			title = "unassigned phase"
		}
		fmt.Fprintf(b, "\n### %s\n\n| step | action | status | duration | notes |\n| --- | --- | --- | --- | --- |\n", strings.ToUpper(title[:1])+title[1:])
		for _, st := range rows {
			what := st.Action
			if st.Uses != "" {
				what = "uses " + st.Uses
			}
			dur := ""
			if !st.StartedAt.IsZero() && !st.EndedAt.IsZero() {
				dur = st.EndedAt.Sub(st.StartedAt).Round(time.Second).String()
			}
			fmt.Fprintf(b, "| %s | `%s` | %s | %s | %s |\n", st.ID, what, st.Status, dur, cell(st.Reason))
		}
	}

	b.WriteString("\n## Evidence and changes\n\n")
	evidence := 0
	for _, st := range s.Steps {
		if len(st.Outputs) == 0 && len(st.RequestIDs) == 0 && len(st.Children) == 0 {
			continue
		}
		evidence++
		fmt.Fprintf(b, "### %s\n\n", st.ID)
		for _, k := range sortedKeys(st.Outputs) {
			v, _ := json.Marshal(st.Outputs[k])
			if len(v) > 400 {
				v = append(v[:400], []byte("…")...)
			}
			fmt.Fprintf(b, "- `%s`: `%s`\n", k, v)
		}
		for _, c := range st.Children {
			fmt.Fprintf(b, "- child run: `%s` (cordon report %s)\n", c, c)
		}
		if len(st.RequestIDs) > 0 {
			fmt.Fprintf(b, "- AWS request ids: %s\n", strings.Join(st.RequestIDs, ", "))
		}
		b.WriteString("\n")
	}
	for _, e := range s.Timeline {
		if e.Kind != workflows.EventActionDone || len(e.Changes) == 0 {
			continue
		}
		fmt.Fprintf(b, "- %s %s changed:\n", stamp(e.Time), itemName(e))
		for _, c := range e.Changes {
			fmt.Fprintf(b, "  - `%s` %s: %s → %s\n", c.Resource, c.Field, value(c.Before), value(c.After))
		}
	}
	if evidence == 0 {
		b.WriteString("No evidence was captured.\n")
	}
	writeCustody(b, s, children)

	b.WriteString("\n## Skipped, denied or failed\n\n")
	problems := 0
	for _, st := range s.Steps {
		switch st.Status {
		case workflows.StepSkipped, workflows.StepDenied, workflows.StepFailed, workflows.StepCancelled:
			problems++
			fmt.Fprintf(b, "- **%s** %s: %s\n", st.ID, st.Status, orDash(st.Reason))
		}
		for _, fi := range st.FailedItems {
			problems++
			fmt.Fprintf(b, "- **%s #%d** (%s) failed: %s\n", st.ID, fi.Item, cell(fi.Value), orDash(fi.Error))
		}
	}
	if problems == 0 {
		b.WriteString("Nothing.\n")
	}

	b.WriteString("\n## Timeline\n\n| time | event | step | who | detail |\n| --- | --- | --- | --- | --- |\n")
	for _, e := range s.Timeline {
		step := e.Step
		if e.Item > 0 {
			step = fmt.Sprintf("%s #%d", e.Step, e.Item)
		}
		who := e.Actor
		if e.Channel != "" && who != "" {
			who += " (" + e.Channel + ")"
		}
		fmt.Fprintf(b, "| %s | %s | %s | %s | %s |\n", stamp(e.Time), e.Kind, step, who, cell(e.Detail))
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// completes says whether the approval at i is the one that approved its
// gate: the gate's gate_approved follows it, by the same actor.
func completes(tl []workflows.Event, i int) bool {
	for _, e := range tl[i+1:] {
		if e.Step != tl[i].Step || e.Item != tl[i].Item {
			continue
		}
		return e.Kind == workflows.EventGateApproved && e.Actor == tl[i].Actor
	}
	return false
}

// completedBy says whether the gate_approved at i was completed by the
// approval just before it for the same gate (and so already listed).
func completedBy(tl []workflows.Event, i int) bool {
	for j := i - 1; j >= 0; j-- {
		e := tl[j]
		if e.Step != tl[i].Step || e.Item != tl[i].Item {
			continue
		}
		return e.Kind == workflows.EventApproval && e.Actor == tl[i].Actor
	}
	return false
}

// itemName is the step (and foreach item) an event is about.
func itemName(e workflows.Event) string {
	if e.Item > 0 {
		return fmt.Sprintf("%s #%d", e.Step, e.Item)
	}
	return e.Step
}

// value is a change's before or after as people read it: text as it is,
// nothing as "(none)", anything else as compact JSON.
func value(v any) string {
	switch x := v.(type) {
	case nil:
		return "(none)"
	case string:
		if x == "" {
			return `""`
		}
		return x
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

func stepText(e workflows.Event) string {
	if e.Step == "" {
		return ""
	}
	if e.Item > 0 {
		return fmt.Sprintf(" of %s #%d", e.Step, e.Item)
	}
	return " of " + e.Step
}

func actorText(e workflows.Event) string {
	if e.Actor == "" {
		return ""
	}
	return fmt.Sprintf(" by %s via %s", e.Actor, orDash(e.Channel))
}

func detailText(e workflows.Event) string {
	if e.Detail == "" {
		return ""
	}
	return ": " + e.Detail
}

func stamp(t time.Time) string {
	if t.IsZero() {
		return "—"
	}
	return t.UTC().Format("2006-01-02 15:04:05Z")
}

func short(h string) string {
	if len(h) > 16 {
		return h[:16]
	}
	return h
}

func orDash(s string) string {
	if s == "" {
		return "—"
	}
	return s
}

func cell(s string) string {
	return strings.NewReplacer("|", `\|`, "\n", " ").Replace(s)
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// writeAuthority says on what authority the run acted: where its plan came
// from and who vouched for it, who requested it and how that was verified,
// the organisation's policy and the rule each gate followed, and every
// attempt the run refused.
func writeAuthority(b *strings.Builder, s workflows.State) {
	p := s.Provenance
	if p == nil && len(s.Refusals) == 0 {
		return // a run from before signed authority
	}
	b.WriteString("\n## Authority\n\n")
	if p != nil {
		vouched := "**not** in the worker's runbook source"
		if p.Vouched {
			vouched = "vouched for by the worker"
		}
		fmt.Fprintf(b, "- Plan: %s — %s.\n", p.Source, vouched)
		if p.VouchedHash != "" {
			fmt.Fprintf(b, "- The worker's version of this runbook is plan `%s`; this run's plan differs.\n", short(p.VouchedHash))
		}
		if p.PlanApprovedBy != "" {
			fmt.Fprintf(b, "- The ad-hoc plan was approved by %s.\n", p.PlanApprovedBy)
		}
		how := "a name the client gave, not verified (development roster)"
		if p.Authenticated {
			how = "verified from the signed start"
		}
		who := orDash(p.Requester)
		if p.Initiator == workflows.RoleIntake {
			who += " (the detection intake: it may start a run under a trigger, never approve or steer one)"
		}
		fmt.Fprintf(b, "- Requester: %s, %s.\n", who, how)
		pol := p.Policy
		fmt.Fprintf(b, "- Policy: self-approval %s; at least %d approval(s) for destructive steps; break-glass by %d lead(s)%s.\n",
			orDash(pol.SelfApproval), max(pol.MinApprovals, 1), max(pol.BreakGlassLeads, 1), map[bool]string{true: ", a requesting lead may break-glass alone", false: ", a requesting lead needs a second lead"}[pol.RequesterMayBreakGlass])
		if p.RosterVersion != "" {
			fmt.Fprintf(b, "- Roster version at start: `%s` (read again before every decision).\n", p.RosterVersion)
		}
	}
	for _, g := range s.Gates {
		if g.Rule != "" && g.Rule != "runbook" {
			fmt.Fprintf(b, "- Gate %s: %s.\n", g.Key, g.Rule)
		}
	}
	if len(s.Refusals) > 0 {
		b.WriteString("\n### Refused attempts\n\n")
		for _, r := range s.Refusals {
			who := r.Actor
			if who == "" {
				who = "(unnamed)"
			}
			step := ""
			if r.Step != "" {
				step = " at " + r.Step
			}
			fmt.Fprintf(b, "- %s — %s by %s via %s%s: %s\n", stamp(r.Time), r.Action, who, orDash(r.Channel), step, cell(r.Reason))
		}
	}
}
