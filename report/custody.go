package report

import (
	"fmt"
	"slices"
	"strings"

	"github.com/cordon-ir/cordon/actions/wire"
	"github.com/cordon-ir/cordon/workflows"
)

// CustodyOf is the chain of custody of a run and its children (a fleet
// run's hosts): every artefact their actions stored in the evidence store,
// in the order collected, as the actions reported them to the record. The
// case's manifest in the store lists the same; `cordon evidence verify`
// checks the bytes against it.
func CustodyOf(s workflows.State, children []workflows.State) []wire.Artefact {
	var out []wire.Artefact
	for _, r := range append([]workflows.State{s}, children...) {
		for _, e := range r.Timeline {
			if e.Kind != workflows.EventActionDone {
				continue
			}
			for _, a := range e.Artefacts {
				// A retried step reports an artefact it found stored again.
				if !slices.ContainsFunc(out, func(o wire.Artefact) bool { return o.Key == a.Key && o.VersionID == a.VersionID }) {
					out = append(out, a)
				}
			}
		}
	}
	slices.SortStableFunc(out, func(a, b wire.Artefact) int { return a.CollectedAt.Compare(b.CollectedAt) })
	return out
}

// writeCustody writes the chain of custody: for each artefact what it is,
// its SHA-256, where it is, who collected it under whose approval, and
// when; then how to check it.
func writeCustody(b *strings.Builder, s workflows.State, children []workflows.State) {
	custody := CustodyOf(s, children)
	if len(custody) == 0 {
		return
	}
	b.WriteString("\n## Chain of custody\n\n")
	b.WriteString("| collected | artefact | sha256 | size | location | collected by | under the approval of |\n| --- | --- | --- | --- | --- | --- | --- |\n")
	cases := map[string]bool{}
	for _, a := range custody {
		cases[a.Case] = true
		what := a.Kind
		if a.Subject != "" {
			what += " of " + a.Subject
		}
		if a.Description != "" {
			what += ": " + a.Description
		}
		by := fmt.Sprintf("%s step %s (`%s`), written by %s", a.RunID, a.Step, a.Action, orDash(a.WrittenBy))
		if a.Requester != "" {
			by += "; run requested by " + a.Requester
		}
		approval := strings.Join(a.Approvers, ", ")
		if approval == "" {
			approval = "— (the step has no gate)"
		}
		lock := ""
		if a.LockMode != "" {
			lock = fmt.Sprintf(" (%s until %s)", strings.ToLower(a.LockMode), a.RetainUntil.UTC().Format("2006-01-02"))
		}
		fmt.Fprintf(b, "| %s | %s | `%s` | %d | `%s`%s | %s | %s |\n", stamp(a.CollectedAt), cell(what), a.SHA256, a.Size,
			a.Location(), lock, cell(by), cell(approval))
	}
	names := make([]string, 0, len(cases))
	for c := range cases {
		names = append(names, c)
	}
	slices.Sort(names)
	fmt.Fprintf(b, "\nEach SHA-256 is Cordon's own, over the bytes stored; the case's manifest lists them too. "+
		"Check every artefact against it with `cordon evidence verify %s`.\n", strings.Join(names, "` and `cordon evidence verify "))
}
