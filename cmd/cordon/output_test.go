package main

import (
	"encoding/json"
	"flag"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cordon-ir/cordon/workflows"
)

// --json and -o json are the same everywhere; a format the command does
// not know, or flags that disagree, are usage errors.
func TestJSONOutputFlags(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
		ok   bool
	}{
		{nil, "text", true},
		{[]string{"--json"}, "json", true},
		{[]string{"-o", "json"}, "json", true},
		{[]string{"-o", "text"}, "text", true},
		{[]string{"--json", "-o", "json"}, "json", true},
		{[]string{"--json", "-o", "text"}, "", false},
		{[]string{"-o", "yaml"}, "", false},
	} {
		fs := flag.NewFlagSet("t", flag.ContinueOnError)
		out := registerOutput(fs, "text", "json")
		if err := fs.Parse(c.args); err != nil {
			t.Fatal(err)
		}
		var errOut strings.Builder
		got, ok := out.resolve(&cliEnv{stdout: io.Discard, stderr: &errOut}, "t")
		if got != c.want || ok != c.ok {
			t.Errorf("%v: %q %t, want %q %t (%s)", c.args, got, ok, c.want, c.ok, errOut.String())
		}
	}
}

// Output flags are checked before anything is dialled: every command that
// prints state takes -o json, and refuses a format it does not know.
func TestJSONFlagsOnEveryStateCommand(t *testing.T) {
	for _, args := range [][]string{
		{"status", "r", "-o", "yaml"},
		{"list", "-o", "yaml"},
		{"report", "r", "-o", "yaml"},
		{"report", "r", "--json", "--format", "md"},
		{"plan", "examples/ec2-compromise.yaml", "-o", "yaml"},
		{"actions", "-o", "yaml"},
	} {
		_, errOut, code := cordon(t, args...)
		if code != 2 || !strings.Contains(errOut, "cordon "+args[0]+":") {
			t.Errorf("%v: exit %d, stderr %q; want a usage error", args, code, errOut)
		}
	}
	out, errOut, code := cordon(t, "actions", "-o", "json")
	var all []map[string]any
	if code != 0 || json.Unmarshal([]byte(out), &all) != nil || len(all) == 0 {
		t.Errorf("actions -o json: exit %d %s", code, errOut)
	}
	out, _, code = cordon(t, "plan", "examples/ec2-compromise.yaml", "-o", "json")
	var plan map[string]any
	if code != 0 || json.Unmarshal([]byte(out), &plan) != nil || plan["hash"] == nil {
		t.Errorf("plan -o json: exit %d", code)
	}
}

// NO_COLOR, set to anything, turns colours off (https://no-color.org).
func TestNoColorJSONConventions(t *testing.T) {
	t.Setenv("NO_COLOR", "")
	if noColor() {
		t.Error("an empty NO_COLOR turned colours off")
	}
	t.Setenv("NO_COLOR", "0")
	if !noColor() {
		t.Error("NO_COLOR=0 left colours on")
	}
	if valueText(nil) != "(none)" || valueText("") != "(none)" || valueText("sg-1") != "sg-1" {
		t.Errorf("valueText: %q %q %q", valueText(nil), valueText(""), valueText("sg-1"))
	}
}

// waitEnded polls cordon status --json until the run is over.
func waitEnded(t *testing.T, address, runID string) workflows.State {
	t.Helper()
	var s workflows.State
	if !pollUntil(2*time.Minute, func() bool { s = runState(t, address, runID); return s.Status != workflows.RunRunning }) {
		t.Fatalf("run %s did not end", runID)
	}
	return s
}

// cordon list shows each run's outcome in Cordon's words (an aborted run
// aborted, not Temporal's failed), its runbook, targets and incident,
// as text or JSON; report takes --json like the rest.
func TestListShowsOutcomesRunbooksTargetsJSON(t *testing.T) {
	address, instance := devSandbox(t)
	at := []string{"--address", address}

	rehearsal := strings.TrimSpace(cordonOK(t, append([]string{"run", "examples/ec2-compromise.yaml", "--input", "instance_id=" + instance,
		"--dry-run", "--incident", "INC-77"}, at...)...))
	if s := waitEnded(t, address, rehearsal); s.Status != workflows.RunSucceeded {
		t.Fatalf("rehearsal ended %s", s.Status)
	}
	aborted := strings.TrimSpace(cordonOK(t, append([]string{"run", "examples/ec2-compromise.yaml", "--input", "instance_id=" + instance}, at...)...))
	waitForGate(t, address, aborted, map[string]bool{})
	cordonOK(t, append([]string{"abort", aborted, "--reason", "wrong host"}, at...)...)
	if s := waitEnded(t, address, aborted); s.Status != workflows.RunAborted {
		t.Fatalf("aborted run ended %s", s.Status)
	}

	// Visibility is written asynchronously: wait for the outcomes.
	var runs []listedRun
	var out string
	byID := map[string]listedRun{}
	listed := pollUntil(30*time.Second, func() bool {
		out = cordonOK(t, append([]string{"list", "--json"}, at...)...)
		runs = nil
		if err := json.Unmarshal([]byte(out), &runs); err != nil {
			t.Fatalf("list --json: %v\n%s", err, out)
		}
		clear(byID)
		for _, r := range runs {
			byID[r.RunID] = r
		}
		// The outcome is written a moment before the run closes (it then
		// releases its target locks): wait for both.
		return byID[rehearsal].Outcome == "succeeded" && byID[aborted].Outcome == "aborted" && byID[aborted].Temporal != "running"
	})
	if !listed {
		t.Fatalf("list never showed the outcomes:\n%s", out)
	}
	r := byID[rehearsal]
	if r.Runbook != "ec2-compromise" || !slices.Equal(r.Targets, []string{instance}) || r.Incident != "INC-77" || !r.DryRun || r.Requester != "dana" {
		t.Errorf("rehearsal listed as %+v", r)
	}
	if a := byID[aborted]; a.Temporal != "failed" || a.Incident != "" || a.Runbook != "ec2-compromise" {
		t.Errorf("aborted run listed as %+v", a)
	}
	out, _, _ = cordon(t, append([]string{"list", "-o", "json"}, at...)...)
	var again []listedRun
	if err := json.Unmarshal([]byte(out), &again); err != nil || len(again) != len(runs) {
		t.Errorf("list -o json: %v, %d runs (want %d)", err, len(again), len(runs))
	}
	text, _, _ := cordon(t, append([]string{"list"}, at...)...)
	for _, line := range strings.Split(text, "\n") {
		fields := strings.Fields(line)
		switch {
		case strings.HasPrefix(line, aborted+" "):
			if len(fields) < 6 || fields[1] != "aborted" || fields[2] != "ec2-compromise" || fields[3] != instance || fields[4] != "(none)" {
				t.Errorf("aborted run's line %q", line)
			}
		case strings.HasPrefix(line, rehearsal+" "):
			if !strings.Contains(line, "succeeded (rehearsal)") || !strings.Contains(line, "INC-77") {
				t.Errorf("rehearsal's line %q", line)
			}
		}
	}
	if strings.Contains(text, "<nil>") || !strings.HasPrefix(text, "RUN ") {
		t.Errorf("list:\n%s", text)
	}

	// report: --json is --format json is -o json.
	for _, flags := range [][]string{{"--json"}, {"--format", "json"}, {"-o", "json"}} {
		out, errOut, code := cordon(t, append(append([]string{"report", aborted}, flags...), at...)...)
		var v map[string]any
		if code != 0 || json.Unmarshal([]byte(out), &v) != nil {
			t.Errorf("report %v: exit %d %s", flags, code, errOut)
		}
	}
	if out, _, code := cordon(t, append([]string{"report", aborted, "-o", "md"}, at...)...); code != 0 || !strings.HasPrefix(out, "#") {
		t.Errorf("report -o md: exit %d\n%.200s", code, out)
	}
}
