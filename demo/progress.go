package demo

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/cordon-ir/cordon/actions/wire"
	"github.com/cordon-ir/cordon/workflows"
)

// Mode is how progress is shown.
type Mode int

const (
	// Lines prints one plain line per event: for logs and CI.
	Lines Mode = iota
	// Live redraws a compact per-host board in place: for a terminal.
	Live
	// JSON prints one JSON object per event: for machines.
	JSON
)

// Event is one line of the demo's event stream: a timeline event of one
// of the runs (same kinds as the report's timeline, what the event carries
// beyond the common fields in Data) or one of the demo's own (kinds
// starting with "demo_").
type Event struct {
	Time   time.Time           `json:"time"`
	Kind   workflows.EventKind `json:"kind"`
	Run    string              `json:"run,omitempty"`
	Host   string              `json:"host,omitempty"`
	Step   string              `json:"step,omitempty"`
	Item   int                 `json:"item,omitempty"`
	Actor  string              `json:"actor,omitempty"`
	Detail string              `json:"detail,omitempty"`
	Data   map[string]any      `json:"data,omitempty"`
}

// The demo's own event kinds.
const (
	KindStarted         workflows.EventKind = "demo_started"
	KindNote            workflows.EventKind = "demo_note"
	KindIncidentChannel workflows.EventKind = "demo_incident_channel"
	KindSignedStart     workflows.EventKind = "demo_signed_start"
	// KindDecision is a decision taken at the demo's terminal (or by
	// --yes); Data holds approved, denied, reason and the changes.
	KindDecision workflows.EventKind = "demo_decision"
	KindRefused  workflows.EventKind = "demo_refused"
	KindCheck    workflows.EventKind = "demo_check"
	KindDone     workflows.EventKind = "demo_done"
	KindError    workflows.EventKind = "demo_error"
)

// progress writes what happens in the chosen mode. Its methods are safe
// for concurrent use (incident-channel messages arrive from activities).
type progress struct {
	mode  Mode
	w     io.Writer
	width int
	// colour paints the live board (off under NO_COLOR).
	colour bool

	mu    sync.Mutex
	drawn int // lines of the live board currently on screen
	said  string
}

func newProgress(mode Mode, w io.Writer) *progress {
	return &progress{mode: mode, w: w, width: terminalWidth(os.Getenv("COLUMNS")), colour: true}
}

// terminalWidth is the width the live board fits in: $COLUMNS when the
// shell exports it, else the classic 80.
func terminalWidth(columns string) int {
	if n, err := strconv.Atoi(columns); err == nil && n >= 60 {
		return n
	}
	return 80
}

// newRun forgets what the previous run said in the incident channel.
func (p *progress) newRun() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.said = ""
}

// board redraws the live view; the other modes show events instead.
func (p *progress) board(b Board) {
	if p.mode != Live {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	b.Said = p.said
	p.eraseLocked()
	lines := b.Lines(p.width, p.colour)
	for _, l := range lines {
		fmt.Fprintf(p.w, "\x1b[2K%s\n", l)
	}
	p.drawn = len(lines)
}

// eraseLocked moves up over the board last drawn and clears to the end of
// the screen, so the next drawing replaces it.
func (p *progress) eraseLocked() {
	if p.drawn > 0 {
		fmt.Fprintf(p.w, "\x1b[%dA\x1b[J", p.drawn)
		p.drawn = 0
	}
}

// clear removes the live board, so a prompt is not drawn over.
func (p *progress) clear() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.eraseLocked()
}

// keep leaves the board on screen as it is: what is written next (a
// prompt, the report) goes below it instead of being overdrawn.
func (p *progress) keep() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.drawn = 0
}

// event shows one event: a plain line, a JSON line, or (live) nothing,
// except decisions and failures, which stay on screen above the board.
func (p *progress) event(e Event) {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch p.mode {
	case JSON:
		b, err := json.Marshal(e)
		if err != nil {
			b, _ = json.Marshal(Event{Time: e.Time, Kind: KindError, Detail: fmt.Sprintf("encode event %s: %v", e.Kind, err)})
		}
		fmt.Fprintf(p.w, "%s\n", b)
	case Lines:
		fmt.Fprintln(p.w, eventLine(e))
		if e.Kind == KindDecision {
			// What was decided on, for the log: the previewed change.
			changes, _ := e.Data["changes"].([]wire.Change)
			for _, c := range changes {
				fmt.Fprint(p.w, "            "+changeLine(c))
			}
		}
	case Live:
		if keepOnScreen(e.Kind) {
			p.eraseLocked()
			line := eventLine(e)
			// Failures and time-outs in red; a decision only when it denies,
			// an abort not at all (a person chose it).
			if p.colour && e.Kind != workflows.EventRunAborted && e.Kind != KindDetection && (e.Kind != KindDecision || e.Data["denied"] == true) {
				line = red(line)
			}
			fmt.Fprintln(p.w, line)
		}
	}
}

// keepOnScreen are the events a person wants to scroll back to in the
// live view: the detections, the demo's decisions and failures. The rest
// is what the board shows.
func keepOnScreen(kind workflows.EventKind) bool {
	switch kind {
	case workflows.EventGateTimedOut, workflows.EventItemFailed, workflows.EventStepFailed, workflows.EventRunFailed,
		workflows.EventRunAborted, KindDecision, KindDetection:
		return true
	}
	return false
}

// eventLine is an event as one plain line.
func eventLine(e Event) string {
	step := wire.ItemKey(e.Step, e.Item)
	who := ""
	if e.Actor != "" {
		who = " by " + e.Actor
	}
	where := e.Host
	if where == "" {
		where = "-"
	}
	return strings.TrimRight(fmt.Sprintf("%s  %-21s %-15s %-16s%s %s", e.Time.Local().Format("15:04:05.0"), clip(where, 21), e.Kind, step, who, e.Detail), " ")
}

// say writes narration for people; in JSON mode it becomes a demo_note
// event so the stream stays one object per line.
func (p *progress) say(format string, args ...any) {
	text := fmt.Sprintf(format, args...)
	if p.mode == JSON {
		p.event(Event{Time: time.Now(), Kind: KindNote, Detail: strings.TrimSpace(text)})
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.eraseLocked()
	fmt.Fprintln(p.w, text)
}

// incident records a message posted to the incident channel.
func (p *progress) incident(text string, runID string, dry bool) {
	p.mu.Lock()
	p.said = text
	p.mu.Unlock()
	e := Event{Time: time.Now(), Kind: KindIncidentChannel, Run: runID, Detail: text}
	if dry {
		e.Data = map[string]any{"dry_run": true}
	}
	if p.mode != Live {
		p.event(e)
	}
}

// timelineEvent converts a run's timeline event for the stream.
func timelineEvent(runID, host string, e workflows.Event) Event {
	return Event{Time: e.Time, Kind: e.Kind, Run: runID, Host: host, Step: e.Step, Item: e.Item, Actor: e.Actor, Detail: e.Detail, Data: timelineData(e)}
}

// timelineData is what a timeline event carries beyond the common fields,
// under the names the run's JSON gives them; nil when it carries nothing.
func timelineData(e workflows.Event) map[string]any {
	d := map[string]any{}
	if len(e.Changes) > 0 {
		d["changes"] = e.Changes
	}
	if len(e.RequestIDs) > 0 {
		d["request_ids"] = e.RequestIDs
	}
	if len(e.Notes) > 0 {
		d["notes"] = e.Notes
	}
	if e.PreviewHash != "" {
		d["preview_hash"] = e.PreviewHash
	}
	if e.ApprovedPreviewHash != "" {
		d["approved_preview_hash"] = e.ApprovedPreviewHash
	}
	if e.BreakGlass {
		d["break_glass"] = true
	}
	if e.Unpreviewed {
		d["unpreviewed"] = true
	}
	if e.ErrorDetail != "" {
		d["error_detail"] = e.ErrorDetail
	}
	if len(d) == 0 {
		return nil
	}
	return d
}
