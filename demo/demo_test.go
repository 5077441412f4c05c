package demo

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cordon-ir/cordon/runctl"
	"github.com/cordon-ir/cordon/worker"
	"github.com/cordon-ir/cordon/worker/devserver"
	"github.com/cordon-ir/cordon/workflows"
)

// temporal is the one in-process server every whole-demo test shares:
// starting one costs seconds and its memory stays until the process
// exits. Each demo brings its own task queue, emulator and worker.
var temporal *worker.TemporalConfig

func TestMain(m *testing.M) {
	os.Exit(testMain(m))
}

func testMain(m *testing.M) int {
	ctx := context.Background()
	srv, err := devserver.Start(ctx, devserver.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		fmt.Fprintln(os.Stderr, "demo tests: start Temporal:", err)
		return 1
	}
	defer srv.Stop()
	temporal = &worker.TemporalConfig{Address: srv.FrontendAddress(), Namespace: srv.Namespace()}
	return m.Run()
}

func demoOptions(t *testing.T, out *bytes.Buffer) Options {
	return Options{
		Stdout:    out,
		Mode:      Lines,
		Examples:  filepath.Join("..", "examples"),
		ReportDir: t.TempDir(),
		Temporal:  temporal,
	}
}

// mustContain checks that got, the named output, holds each of wants.
func mustContain(t *testing.T, name, got string, wants ...string) {
	t.Helper()
	for _, want := range wants {
		if !strings.Contains(got, want) {
			t.Errorf("%s lacks %q:\n%s", name, want, got)
		}
	}
}

// runDemo runs the demo with demoOptions as set changes them, and returns
// its result and what it printed.
func runDemo(t *testing.T, set func(*Options)) (Result, string) {
	t.Helper()
	var out bytes.Buffer
	o := demoOptions(t, &out)
	set(&o)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	res, err := Run(ctx, o)
	if err != nil {
		t.Fatalf("demo: %v\n%s", err, out.String())
	}
	return res, out.String()
}

// The newcomer's path, as CI runs it: cordon demo --yes with no terminal.
func TestDemoContainsTheFleetWithYes(t *testing.T) {
	res, text := runDemo(t, func(o *Options) { o.Yes = true })
	if !res.Check.OK() {
		var b strings.Builder
		res.Check.Write(&b, false)
		t.Fatalf("final check failed:\n%s\n%s", b.String(), text)
	}
	md, err := os.ReadFile(res.Report)
	if err != nil {
		t.Fatalf("report: %v", err)
	}
	mustContain(t, "report", string(md), res.FleetRunID, res.FleetRunID+"/contain/4", res.KeyRunID, "gate_approved of isolate by demo-lead via cli", "- [x] leaked access key inactive")
	// The case is the incident the intake opened for the abuse notice; the
	// leaked key's run joins it, and the check verifies the hosts'
	// artefacts (their memory among them), not the key's alone.
	incident := res.Incident
	if !strings.HasPrefix(incident, "det-") {
		t.Errorf("incident %q: not the intake's", incident)
	}
	mustContain(t, "output", text, "Evidence in the forensic account 210987654321", "  disks  ", "manifest s3://cordon-demo-evidence/cases/"+incident+"/manifest.json",
		"[x] memory of every compromised host in the evidence store", "[x] every volume of each compromised host copied into the forensic account",
		"[x] every artefact of case "+incident+" matches its manifest", " 4 memory, ")
	mustContain(t, "output", text, "approved AUTOMATICALLY as demo-lead", "approved (--yes: automatic)", "CONTAINED in",
		"Start  signed by you (key SHA256:", "runbook confluence-cve-2021-26084, plan ", "runbook iam-credential-compromise, plan ",
		// The worker vouches for the demo's copy of the examples (demoSource).
		"; the worker vouched for it: ", "confluence-cve-2021-26084.yaml (sha256 ")
	// The story starts with the detections: the fleet run is the intake's,
	// launched by the abuse notice's trigger from the notice's hosts, and
	// the findings started no other run.
	mustContain(t, "output", text, "demo_detection", "health AWS_ABUSE_EC2_PORT_SCANNING_REPORT: confluence-cve-2021-26084 joined",
		"guardduty Recon:EC2/Portscan (medium): no trigger acts (ec2-compromise: severity medium is below high",
		"Start  signed by cordon-intake (key SHA256:", "Started by trigger abuse-notice-fleet (launch) from 4 finding(s)",
		"  from detection: finding created ", "first gate waiting +", "[x] the findings started exactly one run")
	mustContain(t, "report", string(md), "launched by the detection intake cordon-intake", "Timings: finding created ")
}

func TestDemoRehearsalMutatesNothing(t *testing.T) {
	res, text := runDemo(t, func(o *Options) { o.DryRun = true })
	if !res.Check.OK() {
		t.Fatalf("rehearsal check: %+v\n%s", res.Check, text)
	}
	mustContain(t, "output", text, "Plan of changes", "security_groups:", "status: Active → Inactive", "REHEARSED: nothing changed", "Start  signed by you (key SHA256:",
		"Detection (rehearsal)", "health AWS_ABUSE_EC2_PORT_SCANNING_REPORT: confluence-cve-2021-26084 would launch; ec2-compromise would propose")
	if strings.Contains(text, "demo_decision") {
		t.Error("a rehearsal decided at a gate")
	}
}

// A person answers the first prompt (the forensic profile's gate) with a
// reason (a denial), then closes stdin: the next prompt gets no answer,
// and the demo stops with the refusal instead of hanging or guessing.
func TestDemoDeniesThenStopsWhenNobodyAnswers(t *testing.T) {
	var out bytes.Buffer
	o := demoOptions(t, &out)
	o.StdinTerminal, o.Stdin = true, strings.NewReader("pentest host, not the botnet\n")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, err := Run(ctx, o)
	if !errors.Is(err, ErrNoAnswer) {
		t.Fatalf("err = %v, want ErrNoAnswer\n%s", err, out.String())
	}
	// The first gate is the forensic profile's, before memory is captured.
	mustContain(t, "output", out.String(), "approve? [y/N/reason to deny]", "iam_instance_profile:", "→ denied: pentest host, not the botnet (signed as demo-lead)")
}

func TestDemoRefusesWithoutATerminalOrYes(t *testing.T) {
	var out bytes.Buffer
	o := demoOptions(t, &out)
	o.Temporal = nil // it must refuse before starting anything
	_, err := Run(context.Background(), o)
	if !errors.Is(err, ErrNobodyToAsk) {
		t.Fatalf("err = %v, want ErrNobodyToAsk", err)
	}
}

// The demo's worker runs a production roster, so the signed starts the
// other tests show are not for decoration: a start nobody signed is
// refused before any AWS call, and so is a signed one that carries a
// pre-approval nobody signed (the old break-glass field). The positive
// control is every other demo test, whose signed starts run.
func TestDemoWorkerRefusesUnsignedStarts(t *testing.T) {
	var out bytes.Buffer
	o := withDefaults(demoOptions(t, &out))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	fleet, key, err := compileStory(o.Examples)
	if err != nil {
		t.Fatal(err)
	}
	box, err := startStage(ctx, o, o.Examples, newProgress(Lines, &out), fleet, key)
	if err != nil {
		t.Fatal(err)
	}
	defer box.Close()
	inputs, err := fleet.ResolveInputs(map[string]string{"compromised": "i-0123456789abcdef0"})
	if err != nil {
		t.Fatal(err)
	}
	meta := func() workflows.RunMeta {
		return workflows.RunMeta{RunID: runctl.NewRunID(fleet.Runbook.Name, time.Now()), Requester: requesterID, Channel: "cli", Incident: incidentID}
	}
	preApproved := meta()
	preApproved.PreApproved = &workflows.Approval{Actor: leadID, Channel: "cli", BreakGlass: true, Reason: "trust me", Time: time.Now().UTC()}
	for name, start := range map[string]runctl.StartOptions{
		"unsigned":                      {Plan: fleet, Inputs: inputs, Meta: meta()},
		"signed, unsigned pre-approval": {Plan: fleet, Inputs: inputs, Meta: preApproved, Signer: box.requester.signer},
	} {
		runID, err := runctl.Start(ctx, box.Client(), box.taskQueue, start)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if res, err := runctl.Wait(ctx, box.Client(), runID); err != nil || res.Status == workflows.RunSucceeded {
			t.Errorf("%s: run %s, %v", name, res.Status, err)
		}
		s, err := runctl.State(ctx, box.Client(), runID)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if reason := startRefusal(s); s.Status != workflows.RunFailed || reason == "" {
			t.Errorf("%s: status %s, start refusal %q, want a refused start", name, s.Status, reason)
		} else {
			t.Logf("%s: refused: %s", name, reason)
		}
	}
	if calls := box.Emulator().Calls(); len(calls) != 0 {
		t.Errorf("refused runs made %d AWS call(s), first %+v", len(calls), calls[0])
	}
}
