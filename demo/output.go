package demo

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/cordon-ir/cordon/actions/wire"
	"github.com/cordon-ir/cordon/evidence"
	"github.com/cordon-ir/cordon/report"
	"github.com/cordon-ir/cordon/workflows"
)

// PlannedChange is one change a rehearsal says a real run would make.
type PlannedChange struct {
	Host   string
	Step   string
	Change wire.Change
}

// PlanOfChanges collects what a rehearsal previewed: the changes of every
// action_done event of the given runs.
func PlanOfChanges(runs ...workflows.State) []PlannedChange {
	var out []PlannedChange
	for _, s := range runs {
		for _, e := range s.Timeline {
			if e.Kind != workflows.EventActionDone {
				continue
			}
			for _, c := range e.Changes {
				out = append(out, PlannedChange{Host: report.HostOf(s), Step: e.Step, Change: c})
			}
		}
	}
	return out
}

// writeReport writes the PIR record of the demo's incident to
// dir/<fleet run>.md: what the demo checked, then the fleet run's report,
// each child run's (one per host) and the key run's. The runs live in an
// in-memory server that is gone when the demo ends, so the file must be
// complete on its own: `cordon report RUN` cannot be asked later.
func writeReport(dir string, runs []runRecord, check Checklist) (string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("create the report directory: %w", err)
	}
	fleet := runs[0]
	path := filepath.Join(dir, fleet.state.Meta.RunID+".md")
	b := &bytes.Buffer{}
	fmt.Fprintf(b, "# Incident %s: CVE-2021-26084 on the Confluence demo servers\n\n", fleet.state.Meta.Incident)
	if fleet.state.Meta.DryRun {
		b.WriteString("**Rehearsal (dry run): nothing was changed.** The changes below are what a real run would make.\n\n")
	}
	fmt.Fprintf(b, "Written by `cordon demo` against the AWS emulator. Runs: %s (fleet, %d child runs, one per host) and %s (leaked key).\n\n",
		fleet.state.Meta.RunID, len(fleet.children), runs[1].state.Meta.RunID)
	if len(fleet.children) > 0 && !fleet.state.Meta.DryRun {
		if err := report.WriteHosts(b, fleet.state, fleet.children); err != nil {
			return "", err
		}
	}
	b.WriteString("## Final check of the emulator\n\n")
	for _, it := range check {
		mark := "x"
		if !it.OK {
			mark = " "
		}
		fmt.Fprintf(b, "- [%s] %s", mark, it.Claim)
		if it.Detail != "" {
			fmt.Fprintf(b, " — %s", it.Detail)
		}
		b.WriteString("\n")
	}
	b.WriteString("\n")
	for _, r := range runs {
		if err := report.AppendNested(b, r.state); err != nil {
			return "", err
		}
		for _, c := range r.children {
			if err := report.AppendNested(b, c); err != nil {
				return "", err
			}
		}
	}
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		return "", fmt.Errorf("write the report: %w", err)
	}
	return path, nil
}

func durationOrDash(d time.Duration) string {
	if d == 0 {
		return "—"
	}
	return d.Round(100 * time.Millisecond).String()
}

// finish prints the end of the story: what was contained (or, for a
// rehearsal, the plan of changes), where the report is, and the check.
func finish(p *progress, o Options, fleet, key runRecord, res Result) {
	if o.Mode == JSON {
		for _, it := range res.Check {
			p.event(Event{Time: time.Now(), Kind: KindCheck, Detail: it.Claim, Data: map[string]any{"ok": it.OK, "detail": it.Detail}})
		}
		p.event(Event{Time: time.Now(), Kind: KindDone, Data: map[string]any{"ok": res.Check.OK(), "report": res.Report,
			"incident": res.Incident, "fleet_run": res.FleetRunID, "key_run": res.KeyRunID, "elapsed_seconds": res.Elapsed.Seconds(), "dry_run": o.DryRun,
			"evidence_artefacts": len(res.Evidence.Checks), "evidence_manifest_sha256": res.Evidence.Manifest.SHA256}})
		return
	}
	w := &strings.Builder{}
	if o.DryRun {
		writePlan(w, append([]workflows.State{fleet.state}, append(fleet.children, key.state)...))
	} else {
		writeSummary(w, fleet, key)
		writeEvidence(w, fleet, res.Evidence)
	}
	fmt.Fprintf(w, "\nReport: %s (the fleet run, its %d child runs and the key run; the in-memory server is gone after the demo)\n",
		res.Report, len(fleet.children))
	fmt.Fprintf(w, "\nFinal check of the emulator:\n")
	p.say("%s", strings.TrimRight(w.String(), "\n"))
	var c strings.Builder
	res.Check.Write(&c, o.Mode == Live && !o.NoColor)
	p.say("%s", strings.TrimRight(c.String(), "\n"))
	verdict := "CONTAINED"
	switch {
	case o.DryRun && res.Check.OK():
		verdict = "REHEARSED: nothing changed"
	case o.DryRun:
		verdict = "REHEARSAL CHANGED SOMETHING"
	case !res.Check.OK():
		verdict = "NOT CONTAINED"
	}
	p.say("\n%s in %s.", verdict, res.Elapsed.Round(100*time.Millisecond))
}

func writeSummary(w io.Writer, fleet, key runRecord) {
	fmt.Fprintf(w, "\nFleet run %s %s in %s:\n", fleet.state.Meta.RunID, fleet.state.Status, runTime(fleet.state))
	fmt.Fprintf(w, "  %-21s %-10s %-11s %s\n", "host", "outcome", "isolated", "snapshots")
	for _, h := range report.Hosts(fleet.state, fleet.children) {
		fmt.Fprintf(w, "  %-21s %-10s %-11s %s\n", h.Host, h.Status, "+"+durationOrDash(h.Isolated), strings.Join(h.Snapshots, " "))
	}
	if fleet.state.Meta.Trigger != nil {
		fmt.Fprintf(w, "  from detection: %s\n", report.TimingsOf(fleet.state, fleet.children).Line())
	}
	fmt.Fprintf(w, "Key run %s %s in %s", key.state.Meta.RunID, key.state.Status, runTime(key.state))
	if ks, ok := key.state.Outputs["deactivated_keys"].([]any); ok {
		fmt.Fprintf(w, ": deactivated %v", ks)
	}
	fmt.Fprintln(w)
}

// writeEvidence says what the forensic account holds now: each memory
// image with its hash, the disks' copies there, and the case's manifest.
func writeEvidence(w io.Writer, fleet runRecord, v evidence.Verification) {
	fmt.Fprintf(w, "\nEvidence in the forensic account %s (bucket %s, Object Lock):\n", forensicAccountID, evidenceBucket)
	for _, a := range report.CustodyOf(fleet.state, fleet.children) {
		if a.Kind == "memory" {
			fmt.Fprintf(w, "  memory %-21s sha256 %s  %d bytes\n", a.Subject, a.SHA256, a.Size)
		}
	}
	for _, c := range fleet.children {
		for _, st := range c.Steps {
			if ids, ok := st.Outputs["forensic_snapshot_ids"].([]any); ok && st.Action == "aws.ec2.handover_snapshots" {
				fmt.Fprintf(w, "  disks  %-21s copied to %v\n", report.HostOf(c), ids)
			}
		}
	}
	if v.Manifest.Key != "" {
		fmt.Fprintf(w, "  manifest s3://%s/%s: %d artefacts, revision %d, sha256 %s\n", v.Bucket, v.Manifest.Key, len(v.Checks), v.Manifest.Revision, v.Manifest.SHA256)
	}
}

func runTime(s workflows.State) time.Duration {
	if s.EndedAt.IsZero() || s.StartedAt.IsZero() {
		return 0
	}
	return s.EndedAt.Sub(s.StartedAt).Round(100 * time.Millisecond)
}

// writePlan prints the rehearsal's plan of changes, host by host.
func writePlan(w io.Writer, runs []workflows.State) {
	plan := PlanOfChanges(runs...)
	fmt.Fprintf(w, "\nPlan of changes (what a real run would do; %d changes, none made):\n", len(plan))
	host := ""
	for _, pc := range plan {
		if pc.Host != host {
			host = pc.Host
			fmt.Fprintf(w, "  %s\n", host)
		}
		fmt.Fprintf(w, "    %-16s%s", pc.Step, changeLine(pc.Change)[1:])
	}
}
