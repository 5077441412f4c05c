package intake

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/cordon-ir/cordon/actions"
	"github.com/cordon-ir/cordon/intake/source"
	"github.com/cordon-ir/cordon/runbooks"
	"github.com/cordon-ir/cordon/triggers"
)

// The intake's I/O side: what arrives (an SQS message, an HTTPS post)
// is parsed, each finding verified at its source and mapped to its
// account, decided against the runbooks' triggers, and handed to the
// Launcher. The SQS loop and the HTTPS endpoint share this Receiver.

// Received is one delivered EventBridge event.
type Received struct {
	Body []byte
	// Via is how it arrived (sqs, https); DeliveryID the SQS message id
	// or the HTTPS request's id, for the record only.
	Via        string
	DeliveryID string
	// At is when it was received (default now).
	At time.Time
}

// Handled is what became of one delivered event.
type Handled struct {
	EventID  string           `json:"event_id,omitempty"`
	Findings []HandledFinding `json:"findings"`
}

// HandledFinding is what became of one finding of an event.
type HandledFinding struct {
	// Finding is the event's finding, or the source's version of it once
	// verified (what the triggers decided on).
	Finding triggers.Finding `json:"finding"`
	// Dropped says why nothing acts on the finding before any trigger
	// decided: always dropped, an uncovered account, not verified at its
	// source.
	Dropped string `json:"dropped,omitempty"`
	// Decisions say why each trigger dropped it, or what it does;
	// Outcomes what the Launcher did, per runbook (none for a drop or a
	// rehearsal).
	Decisions []triggers.Decision `json:"decisions,omitempty"`
	Outcomes  []Outcome           `json:"outcomes,omitempty"`
}

// MalformedError is an event Cordon cannot read: a truncated or
// concatenated message, not JSON, not an EventBridge event, or a finding
// without its identity. It never gets better by waiting: an SQS message
// is left to the queue's dead-letter redrive, an HTTPS post answered 400.
type MalformedError struct{ Err error }

func (e *MalformedError) Error() string { return "malformed event: " + e.Err.Error() }
func (e *MalformedError) Unwrap() error { return e.Err }

// ReceiverOptions configure a Receiver.
type ReceiverOptions struct {
	// Plans are the runbooks whose triggers decide (the worker's runbook
	// source, CachedPlans).
	Plans func(context.Context) ([]*runbooks.Plan, error)
	// Source fetches each finding again before anything acts on it.
	Source *source.Source
	// Accounts maps a finding's account to its configured name; a finding
	// for an account it does not cover is dropped, and alerted.
	Accounts source.Accounts
	// Launcher takes the verified, decided findings; nil decides only (a
	// rehearsal: nothing is submitted, Handled says what would be).
	Launcher Launcher
	// Notifier receives the alerts (an uncovered account); nil: the log.
	Notifier actions.Notifier
	Logger   *slog.Logger
	// Counters counts what the receiver does; nil: its own.
	Counters *Counters
	// AlertEvery is how often the same uncovered account is alerted
	// again (default 1h): every finding is counted and logged, the team is
	// told once in a while.
	AlertEvery time.Duration
	// OnHandled, when set, is told what became of every delivered event
	// (the demo shows it; tests read it).
	OnHandled func(Received, Handled, error)
}

// Receiver turns delivered events into submissions. It is safe for
// concurrent use: the SQS loops and the HTTPS endpoint share one.
type Receiver struct {
	o ReceiverOptions

	mu      sync.Mutex
	alerted map[string]time.Time
}

// NewReceiver checks o and returns a Receiver.
func NewReceiver(o ReceiverOptions) (*Receiver, error) {
	if o.Plans == nil || o.Source == nil {
		return nil, errors.New("intake receiver: the runbooks' plans and the finding source are required")
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Counters == nil {
		o.Counters = &Counters{}
	}
	if o.AlertEvery <= 0 {
		o.AlertEvery = time.Hour
	}
	return &Receiver{o: o, alerted: map[string]time.Time{}}, nil
}

// Counters are the receiver's.
func (r *Receiver) Counters() *Counters { return r.o.Counters }

// Receive handles one delivered event: every finding in it is dropped
// with its reason or submitted. The error is a *MalformedError for an
// event that cannot be read, else a failure to verify or submit (try
// again later: nothing was lost, and submitting again is safe).
func (r *Receiver) Receive(ctx context.Context, in Received) (Handled, error) {
	if in.At.IsZero() {
		in.At = time.Now()
	}
	h, err := r.receive(ctx, in)
	if r.o.OnHandled != nil {
		r.o.OnHandled(in, h, err)
	}
	return h, err
}

func (r *Receiver) receive(ctx context.Context, in Received) (Handled, error) {
	fs, err := triggers.ParseEvent(in.Body)
	if err != nil {
		r.o.Counters.Add("malformed", 1)
		return Handled{}, &MalformedError{Err: err}
	}
	plans, err := r.o.Plans(ctx)
	if err != nil {
		return Handled{}, fmt.Errorf("load the runbooks' triggers: %w", err)
	}
	out := Handled{Findings: make([]HandledFinding, len(fs))}
	if len(fs) > 0 {
		out.EventID = fs[0].EventID
	}
	verified, err := r.verify(ctx, fs, out.Findings)
	if err != nil {
		r.o.Counters.Add("errors", 1)
		return out, err
	}
	accountName := func(id string) string { name, _ := r.o.Accounts.Name(id); return name }
	for i, res := range triggers.DecideFindingsWith(plans, verified.findings, triggers.Options{AccountName: accountName}) {
		h := &out.Findings[verified.index[i]]
		h.Decisions = res.Decisions
		if err := r.submit(ctx, in, res, h); err != nil {
			r.o.Counters.Add("errors", 1)
			return out, err
		}
	}
	for _, h := range out.Findings {
		r.log(in, h)
	}
	return out, nil
}

// verifiedFindings are the findings the sources returned, and which of
// the event's findings each stands for.
type verifiedFindings struct {
	findings []triggers.Finding
	index    []int
}

// verify drops what must be dropped before any trigger decides (always
// dropped, an uncovered account) and fetches the rest again from their
// sources: what a source returns is what the intake acts on.
func (r *Receiver) verify(ctx context.Context, fs []triggers.Finding, out []HandledFinding) (verifiedFindings, error) {
	var v verifiedFindings
	// One call per finding of the source: a Health event's entities are
	// one event there.
	asked := map[string][]triggers.Finding{}
	for i, f := range fs {
		h := &out[i]
		*h = HandledFinding{Finding: f}
		r.o.Counters.Add("findings", 1)
		if f.Drop != "" {
			h.Dropped = f.Drop
			r.o.Counters.Add("dropped", 1)
			continue
		}
		name, ok := r.o.Accounts.Name(f.Account)
		if !ok {
			h.Dropped = fmt.Sprintf("finding for account %s that no aws.accounts entry covers", f.Account)
			r.o.Counters.Add("dropped_unknown_account", 1)
			r.alert(ctx, f, h.Dropped)
			continue
		}
		id := f.Source + "|" + f.Account + "|" + f.Region + "|" + f.ID
		got, done := asked[id]
		if !done {
			var err error
			if got, err = r.o.Source.Fetch(ctx, name, f); err != nil {
				return v, fmt.Errorf("verify finding %s at its source: %w", f.Key, err)
			}
			asked[id] = got
		}
		g, why := source.Match(source.ClaimOf(f), got)
		if why != "" {
			h.Dropped = why
			r.o.Counters.Add("dropped_unverified", 1)
			continue
		}
		g.EventID = f.EventID
		h.Finding = g
		v.findings = append(v.findings, g)
		v.index = append(v.index, i)
	}
	return v, nil
}

// submit hands one decided finding to the Launcher (unless every
// decision drops it, or this is a rehearsal).
func (r *Receiver) submit(ctx context.Context, in Received, res triggers.Result, h *HandledFinding) error {
	acting := false
	for _, d := range res.Decisions {
		if d.Decision != triggers.Drop {
			acting = true
		}
	}
	if !acting {
		r.o.Counters.Add("dropped", 1)
		return nil
	}
	if r.o.Launcher == nil {
		r.o.Counters.Add("decided", 1)
		return nil
	}
	outs, err := r.o.Launcher.Submit(ctx, Submission{Finding: res.Finding, Decisions: res.Decisions, ReceivedAt: in.At, Via: in.Via, DeliveryID: in.DeliveryID})
	h.Outcomes = outs
	if err != nil {
		return err
	}
	for _, o := range outs {
		r.o.Counters.Add(o.Action, 1)
	}
	return nil
}

// alert tells the team about a finding for an account the configuration
// does not cover, once per AlertEvery and account: a detection the
// intake cannot act on is something to hear about, not a silent drop.
func (r *Receiver) alert(ctx context.Context, f triggers.Finding, text string) {
	r.o.Logger.Warn("intake: "+text, "finding", f.Key, "type", f.Type, "region", f.Region, "target", f.TargetKey)
	now := time.Now()
	r.mu.Lock()
	last, seen := r.alerted[f.Account]
	tell := !seen || now.Sub(last) >= r.o.AlertEvery
	if tell {
		r.alerted[f.Account] = now
	}
	r.mu.Unlock()
	if !tell || r.o.Notifier == nil {
		return
	}
	msg := actions.Message{Severity: "warning", Text: fmt.Sprintf("Cordon's intake dropped a %s finding (%s, %s) for account %s that no aws.accounts entry covers: add the account to the worker configuration to act on its findings. Further findings of this account are dropped quietly for %s.",
		f.Source, f.Type, orNoTarget(f.TargetKey), f.Account, r.o.AlertEvery)}
	if _, err := r.o.Notifier.Notify(ctx, msg); err != nil {
		r.o.Logger.Warn("intake: alert not posted", "account", f.Account, "err", err)
	}
}

func orNoTarget(t string) string {
	if t == "" {
		return "no resource"
	}
	return t
}

// log records what became of one finding, at info (warn for the drops
// that mean something is wrong upstream).
func (r *Receiver) log(in Received, h HandledFinding) {
	f := h.Finding
	attrs := []any{"via", in.Via, "delivery", in.DeliveryID, "finding", f.Key, "account", f.Account, "target", f.TargetKey}
	switch {
	case h.Dropped != "":
		r.o.Logger.Info("intake: finding dropped", append(attrs, "reason", h.Dropped)...)
	case len(h.Outcomes) > 0:
		for _, o := range h.Outcomes {
			r.o.Logger.Info("intake: finding "+o.Action, append(attrs, "runbook", o.Runbook, "trigger", o.Trigger, "run", o.RunID, "reason", o.Reason)...)
		}
	default:
		for _, d := range h.Decisions {
			r.o.Logger.Info("intake: finding "+d.Decision, append(attrs, "runbook", d.Runbook, "trigger", d.Trigger, "reason", d.Reason)...)
		}
	}
}

// Counters count what the intake did, by name: messages, malformed,
// findings, dropped (and dropped_unknown_account, dropped_unverified),
// decided (a rehearsal), each outcome action (started, joined, …),
// errors, unauthorized.
type Counters struct {
	mu sync.Mutex
	n  map[string]int64
}

// Add adds d to counter name.
func (c *Counters) Add(name string, d int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.n == nil {
		c.n = map[string]int64{}
	}
	c.n[name] += d
}

// Get is counter name's value.
func (c *Counters) Get(name string) int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n[name]
}

// String lists the counters, for the log.
func (c *Counters) String() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := ""
	for _, k := range slices.Sorted(maps.Keys(c.n)) {
		s += fmt.Sprintf("%s=%d ", k, c.n[k])
	}
	return s
}
