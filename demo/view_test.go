package demo

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cordon-ir/cordon/actions/wire"
	"github.com/cordon-ir/cordon/workflows"
)

var t0 = time.Date(2021, 9, 1, 12, 0, 0, 0, time.UTC)

func child(id, instance string, status workflows.RunStatus, steps ...workflows.StepState) workflows.State {
	return workflows.State{Meta: workflows.RunMeta{RunID: id}, Runbook: "ec2-compromise", Status: status, StartedAt: t0,
		Inputs: map[string]any{"instance_id": instance}, Steps: steps}
}

func TestBoardRowsPerHost(t *testing.T) {
	fleet := workflows.State{Meta: workflows.RunMeta{RunID: "fleet"}, Runbook: "confluence-cve-2021-26084", Status: workflows.RunRunning, StartedAt: t0,
		Steps: []workflows.StepState{{ID: "contain", Status: workflows.StepRunning, Children: []string{"fleet/contain/1", "fleet/contain/2", "fleet/contain/3"}}}}
	waiting := child("fleet/contain/1", "i-0aaa", workflows.RunRunning,
		workflows.StepState{ID: "evidence", Status: workflows.StepSucceeded},
		workflows.StepState{ID: "isolate", Status: workflows.StepAwaiting},
		workflows.StepState{ID: "stop", Status: workflows.StepPending})
	waiting.Gates = []workflows.GateState{{Key: "isolate", Status: workflows.GateWaiting}}
	broken := child("fleet/contain/2", "i-0bbb", workflows.RunFailed,
		workflows.StepState{ID: "evidence", Status: workflows.StepSucceeded},
		workflows.StepState{ID: "snapshot", Status: workflows.StepFailed, Error: "access denied: ec2:CreateSnapshot"},
		workflows.StepState{ID: "stop", Status: workflows.StepCancelled})
	b := BuildBoard("CVE-2021-26084 fleet", fleet, map[string]workflows.State{waiting.Meta.RunID: waiting, broken.Meta.RunID: broken}, t0.Add(5*time.Second))

	if len(b.Rows) != 3 {
		t.Fatalf("rows %+v", b.Rows)
	}
	if r := b.Rows[0]; r.Host != "i-0aaa" || r.Step != "isolate" || r.Status != string(workflows.StepAwaiting) || r.Waiting != 1 || r.Done != 1 || r.Total != 3 {
		t.Errorf("waiting row %+v", r)
	}
	if r := b.Rows[1]; r.Status != string(workflows.RunFailed) || r.Step != "snapshot" || !strings.Contains(r.Failure, "ec2:CreateSnapshot") {
		t.Errorf("failed row %+v", r)
	}
	if r := b.Rows[2]; r.Status != string(workflows.StepPending) {
		t.Errorf("a child not queried yet: %+v", r)
	}

	plain := strings.Join(b.Lines(100, false), "\n")
	mustContain(t, "board", plain, "CVE-2021-26084 fleet", "5s", "i-0aaa", "1 waiting", "✗ snapshot: access denied")
	if strings.Contains(plain, "\x1b[") {
		t.Error("colour without a terminal")
	}
	coloured := strings.Join(b.Lines(100, true), "\n")
	if !strings.Contains(coloured, red("    ✗ snapshot: access denied: ec2:CreateSnapshot")) {
		t.Errorf("failure not red:\n%q", coloured)
	}
}

func TestBoardOfARunWithoutChildren(t *testing.T) {
	key := workflows.State{Meta: workflows.RunMeta{RunID: "key"}, Status: workflows.RunSucceeded, StartedAt: t0, EndedAt: t0.Add(2 * time.Second),
		Inputs: map[string]any{"access_key_id": "AKIAEXAMPLE"}, Steps: []workflows.StepState{{ID: "deactivate_keys", Status: workflows.StepSucceeded}}}
	b := BuildBoard("leaked key", key, nil, t0.Add(time.Hour))
	if len(b.Rows) != 1 || b.Rows[0].Host != "AKIAEXAMPLE" || b.Rows[0].Status != string(workflows.RunSucceeded) || b.Elapsed != 2*time.Second {
		t.Errorf("board %+v", b)
	}
}

func TestLiveViewRedrawsInPlace(t *testing.T) {
	var out bytes.Buffer
	p := newProgress(Live, &out)
	b := Board{Title: "t", Rows: []Row{{Host: "i-1"}, {Host: "i-2"}}}
	p.board(b)
	first := out.Len()
	p.board(b)
	// The second drawing first moves up over the four lines of the first.
	if got := out.String()[first:]; !strings.HasPrefix(got, "\x1b[4A\x1b[J") {
		t.Errorf("redraw starts %q", got[:min(12, len(got))])
	}
	p.event(Event{Kind: workflows.EventStepStarted})
	p.event(Event{Kind: workflows.EventItemFailed, Detail: "boom"})
	if !strings.Contains(out.String(), red(eventLine(Event{Kind: workflows.EventItemFailed, Detail: "boom"}))) {
		t.Error("a failure is not kept on screen in red")
	}
}

func TestJSONEventsOnePerLine(t *testing.T) {
	var out bytes.Buffer
	p := newProgress(JSON, &out)
	p.event(Event{Time: t0, Kind: workflows.EventGateWaiting, Run: "r", Host: "i-1", Step: "isolate"})
	p.say("hello %s", "world")
	p.board(Board{Title: "ignored"})
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("lines %q", lines)
	}
	for _, l := range lines {
		var e Event
		if err := json.Unmarshal([]byte(l), &e); err != nil || e.Kind == "" {
			t.Errorf("line %q: %v", l, err)
		}
	}
}

func TestParseAnswer(t *testing.T) {
	for in, want := range map[string]decision{
		"y\n":                    {Approve: true, Reason: "approved at the demo terminal"},
		" YES ":                  {Approve: true, Reason: "approved at the demo terminal"},
		"\n":                     {Reason: "denied at the demo terminal"},
		"n":                      {Reason: "denied at the demo terminal"},
		"false positive: a scan": {Reason: "false positive: a scan"},
	} {
		if got := parseAnswer(in); got != want {
			t.Errorf("parseAnswer(%q) = %+v, want %+v", in, got, want)
		}
	}
}

func TestPromptShowsTheChange(t *testing.T) {
	var out bytes.Buffer
	pr := &prompter{in: bufioReader("reason: maintenance window\n"), out: &out}
	g := pendingGate{RunID: "r/contain/1", Host: "i-0aaa", Gate: workflows.GateState{Key: "isolate", MinApprovals: 1,
		Changes: []wire.Change{{Resource: "eni-1", Field: "security_groups", Before: []any{"sg-app"}, After: []any{"sg-q"}}}}}
	d, err := pr.decide(context.Background(), g)
	if err != nil || d.Approve || d.Reason != "reason: maintenance window" {
		t.Fatalf("decision %+v, %v", d, err)
	}
	mustContain(t, "prompt", out.String(), "Gate isolate on i-0aaa", "eni-1 security_groups: [sg-app] → [sg-q]", "approve? [y/N/reason to deny]")
	if _, err := pr.decide(context.Background(), g); err != ErrNoAnswer {
		t.Errorf("at end of input: %v", err)
	}
}

// A prompt gives way to the context (Ctrl-C) while the read of stdin
// blocks: the demo must not wait for an answer after it was told to stop.
func TestPromptGivesWayToInterrupt(t *testing.T) {
	r, w := io.Pipe() // nobody writes: the read blocks as a terminal's does
	defer w.Close()
	var out bytes.Buffer
	pr := &prompter{in: bufio.NewReader(r), out: &out}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := pr.decide(ctx, pendingGate{RunID: "r", Gate: workflows.GateState{Key: "isolate", MinApprovals: 1}})
		done <- err
	}()
	cancel()
	select {
	case err := <-done:
		if err != ErrInterrupted {
			t.Errorf("interrupted prompt: %v, want ErrInterrupted", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the prompt ignored the cancelled context")
	}
}

func TestPlanOfChanges(t *testing.T) {
	s := child("r/contain/1", "i-0aaa", workflows.RunSucceeded)
	// As the query returns it: decoded from JSON.
	var events []workflows.Event
	if err := json.Unmarshal([]byte(`[{"kind":"action_done","step":"stop","changes":[{"resource":"i-0aaa","field":"state","before":"running","after":"stopping"}]},
		{"kind":"step_started","step":"stop"}]`), &events); err != nil {
		t.Fatal(err)
	}
	s.Timeline = events
	plan := PlanOfChanges(s)
	if len(plan) != 1 || plan[0].Host != "i-0aaa" || plan[0].Change.After != "stopping" {
		t.Errorf("plan %+v", plan)
	}
}

func TestIsTerminal(t *testing.T) {
	f, err := os.Create(filepath.Join(t.TempDir(), "out"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if IsTerminal(f) {
		t.Error("a regular file is a terminal")
	}
	null, err := os.Open(os.DevNull)
	if err != nil {
		t.Skip(err)
	}
	defer null.Close()
	if IsTerminal(null) {
		t.Error("the null device is a terminal")
	}
}

func bufioReader(s string) *bufio.Reader { return bufio.NewReader(strings.NewReader(s)) }

// Under NO_COLOR (the CLI sets Options.NoColor) the live view keeps
// redrawing in place but paints nothing.
func TestLiveViewWithoutColour(t *testing.T) {
	var out bytes.Buffer
	p := newProgress(Live, &out)
	p.colour = false
	p.board(Board{Title: "t", Rows: []Row{{Host: "i-1", Failure: "boom", Waiting: 1}}})
	p.event(Event{Kind: workflows.EventItemFailed, Detail: "boom"})
	for _, code := range []string{"\x1b[1m", "\x1b[31m", "\x1b[32m", "\x1b[33m"} {
		if strings.Contains(out.String(), code) {
			t.Errorf("colour %q drawn without colour:\n%q", code, out.String())
		}
	}
	if !strings.Contains(out.String(), "boom") {
		t.Errorf("the failure is not shown:\n%s", out.String())
	}
}
