package actions

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.temporal.io/sdk/activity"

	"github.com/cordon-ir/cordon/actions/spec"
	"github.com/cordon-ir/cordon/actions/wire"
	"github.com/cordon-ir/cordon/evidence"
)

// handler implements one action.
type handler func(ctx context.Context, x *execution) error

// Notifier posts messages for slack.notify and gates. Slack provides the
// real one; LogNotifier writes to the log.
type Notifier interface {
	Notify(ctx context.Context, msg Message) (Posted, error)
}

// Message is a notification.
type Message struct {
	Channel  string `json:"channel,omitempty"`
	Text     string `json:"text"`
	Severity string `json:"severity,omitempty"`
	RunID    string `json:"run_id,omitempty"`
	DryRun   bool   `json:"dry_run,omitempty"`
}

// Posted says where a message went.
type Posted struct {
	Channel string `json:"channel"`
	TS      string `json:"ts"`
}

// LogNotifier "posts" to the log, for runs without Slack.
type LogNotifier struct{ Logger *slog.Logger }

// Notify implements Notifier.
func (n LogNotifier) Notify(_ context.Context, msg Message) (Posted, error) {
	logger := n.Logger
	if logger == nil {
		logger = slog.Default()
	}
	logger.Info("notify", "channel", msg.Channel, "severity", msg.Severity, "run", msg.RunID, "dry_run", msg.DryRun, "text", msg.Text)
	return Posted{Channel: msg.Channel, TS: strconv.FormatInt(time.Now().UnixNano(), 10)}, nil
}

// Options configure a Runtime.
type Options struct {
	Clients  ClientSource
	Notifier Notifier
	Logger   *slog.Logger
	// Clock is the time source for revocation cut-offs (defaults to time.Now).
	Clock func() time.Time
	// PollInterval is how often long waits (snapshots) poll AWS; default 15s.
	PollInterval time.Duration
	// QuarantineGroupIDs maps VPC ids to quarantine groups created
	// beforehand (worker configuration), for the VPCs a step's own
	// quarantine_group_ids does not name.
	QuarantineGroupIDs map[string]string
	// ForensicEndpoints maps VPC ids to what isolation with forensic_path
	// still lets an instance reach over HTTPS (the security groups or
	// prefix lists of the VPC's SSM and S3 endpoints), for the VPCs a
	// step's own forensic_endpoints does not name.
	ForensicEndpoints map[string][]string
	// Evidence is where artefacts go (memory images, triage outputs,
	// describe results, ...): an S3 bucket with Object Lock in the
	// forensic account. The zero value is no store: the evidence stays in
	// the run's record, and actions say so.
	Evidence evidence.Config
}

// Runtime executes actions: it is what the worker registers as activities.
type Runtime struct {
	catalog  *spec.Registry
	handlers map[string]handler
	opts     Options
}

// NewRuntime returns a runtime with every implemented action.
func NewRuntime(opts Options) *Runtime {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Notifier == nil {
		opts.Notifier = LogNotifier{Logger: opts.Logger}
	}
	if opts.Clock == nil {
		opts.Clock = time.Now
	}
	if opts.PollInterval <= 0 {
		opts.PollInterval = 15 * time.Second
	}
	catalog, handlers := mustAssemble()
	return &Runtime{catalog: catalog, handlers: handlers, opts: opts}
}

// Implemented lists the actions that run as activities, sorted: every
// catalog action except those the workflow carries out itself (core.wait).
func (r *Runtime) Implemented() []string {
	names := make([]string, 0, len(r.handlers))
	for n := range r.handlers {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Activities returns one activity function per implemented action, keyed
// by action name, for worker registration (history then shows the action
// name of every step).
func (r *Runtime) Activities() map[string]func(context.Context, Call) (Result, error) {
	out := make(map[string]func(context.Context, Call) (Result, error), len(r.handlers))
	for name := range r.handlers {
		out[name] = func(ctx context.Context, call Call) (Result, error) {
			if call.Action != name {
				return Result{}, badParams(name, fmt.Errorf("activity %s received a call for %s", name, call.Action))
			}
			return r.Run(ctx, call)
		}
	}
	return out
}

// Run executes one call.
func (r *Runtime) Run(ctx context.Context, call Call) (Result, error) {
	sp, ok := r.catalog.Lookup(call.Action)
	if !ok {
		return Result{}, badParams(call.Action, fmt.Errorf("no implementation for action %q in this worker", call.Action))
	}
	h, implemented := r.handlers[call.Action]
	if !implemented {
		// Every registration is whole (assemble): a catalog action without
		// a handler is one the workflow carries out itself.
		return Result{}, badParams(call.Action, fmt.Errorf("action %q is carried out by the workflow itself, not by an activity", call.Action))
	}
	if call.Mode == "" {
		call.Mode = Execute
	}
	if call.Mode != Execute && call.Mode != Preview {
		return Result{}, badParams(call.Action, fmt.Errorf("unknown mode %q", call.Mode))
	}
	params := withDefaults(sp, call.Params)
	if err := sp.CheckParams(params); err != nil {
		return Result{}, badParams(call.Action, err)
	}
	call.Params = params
	x := &execution{
		call: call, spec: sp, rt: r,
		res: Result{Outputs: map[string]any{}, Changes: []Change{}},
		log: r.opts.Logger.With("action", call.Action, "run", call.Run.RunID, "step", call.Run.StepID, "mode", call.Mode),
	}
	ctx, reqs := withRequestLog(ctx)
	if sp.Service != "slack" && sp.Service != "core" {
		clients, err := r.opts.Clients.Clients(ctx, call.Target, call.Run)
		if err != nil {
			return Result{}, badParams(call.Action, err)
		}
		x.aws = clients
	}
	if activity.IsActivity(ctx) {
		x.res.Attempt = activity.GetInfo(ctx).Attempt
		stop := x.keepAlive(ctx)
		defer stop()
	}
	err := h(ctx, x)
	x.res.RequestIDs = reqs.list()
	if err != nil {
		x.log.Warn("action failed", "err", err, "request_ids", x.res.RequestIDs)
		return x.res, err
	}
	x.log.Info("action done", "changes", len(x.res.Changes), "request_ids", len(x.res.RequestIDs))
	return x.res, nil
}

func withDefaults(sp *spec.Action, params map[string]any) map[string]any {
	out := make(map[string]any, len(sp.Params))
	for k, v := range params {
		out[k] = v
	}
	for _, p := range sp.Params {
		if _, ok := out[p.Name]; !ok && p.Default != nil {
			out[p.Name] = p.Default
		}
	}
	return out
}

// execution is one running call: its parameters, clients and result.
type execution struct {
	call Call
	spec *spec.Action
	aws  *Clients
	rt   *Runtime
	res  Result
	log  *slog.Logger

	beatMu   sync.Mutex
	lastBeat any // latest heartbeat details, re-sent by keepAlive
}

// decode fills a parameter struct (json tags = parameter names).
func (x *execution) decode(v any) error {
	b, err := json.Marshal(x.call.Params)
	if err != nil {
		return badParams(x.call.Action, err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		return badParams(x.call.Action, err)
	}
	return nil
}

func (x *execution) preview() bool { return x.call.Mode == Preview }

func (x *execution) change(resource, field string, before, after any) {
	x.res.Changes = append(x.res.Changes, Change{Resource: resource, Field: field, Before: before, After: after})
}

func (x *execution) note(format string, args ...any) {
	x.res.Notes = append(x.res.Notes, fmt.Sprintf(format, args...))
}

func (x *execution) output(name string, v any) { x.res.Outputs[name] = v }

// heartbeat tells Temporal the activity is alive (and what it is doing),
// when running as an activity. The details are what the next attempt of
// this activity receives after a crash.
func (x *execution) heartbeat(ctx context.Context, details any) {
	if activity.IsActivity(ctx) {
		x.beatMu.Lock()
		x.lastBeat = details
		x.beatMu.Unlock()
		activity.RecordHeartbeat(ctx, details)
	}
}

// keepAlive heartbeats in the background while the action runs, so that a
// worker killed mid-action is noticed within the step's heartbeat timeout
// (seconds) rather than its start-to-close timeout (minutes), and Temporal
// retries the action on another worker. It re-sends the latest details
// (starting with those an earlier attempt left), never clearing them:
// actions keep what they are about to change there.
func (x *execution) keepAlive(ctx context.Context) (stop func()) {
	timeout := activity.GetInfo(ctx).HeartbeatTimeout
	if timeout <= 0 {
		return func() {}
	}
	if activity.HasHeartbeatDetails(ctx) {
		var prior any
		if activity.GetHeartbeatDetails(ctx, &prior) == nil {
			x.lastBeat = prior
		}
	}
	every := max(timeout/3, 200*time.Millisecond)
	done := make(chan struct{})
	go func() {
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-ctx.Done():
				return
			case <-t.C:
				x.beatMu.Lock()
				last := x.lastBeat
				x.beatMu.Unlock()
				activity.RecordHeartbeat(ctx, last)
			}
		}
	}()
	return func() { close(done) }
}

// Tag keys Cordon writes. Actions find what earlier attempts made by them.
const (
	TagIncident        = "cordon:incident"
	TagRun             = "cordon:run"
	TagStep            = "cordon:step"
	TagState           = "cordon:state"
	TagQuarantine      = "cordon:quarantine"
	TagOriginalGroups  = "cordon:original-groups"
	TagPriorProtection = "cordon:prior-protection"
)

// runTags are the tags every resource Cordon creates carries.
func (x *execution) runTags() map[string]string {
	t := map[string]string{TagRun: x.call.Run.RunID, TagStep: x.stepKey()}
	if x.call.Run.Incident != "" {
		t[TagIncident] = x.call.Run.Incident
	}
	return t
}

// stepKey identifies this step execution (a foreach item has its own).
func (x *execution) stepKey() string {
	return wire.ItemKey(x.call.Run.StepID, x.call.Run.Item)
}

// stepDigest is the hex of the first n bytes of the SHA-256 of the run,
// the step item and parts, NUL-separated: the names and tokens made from
// it are the same on every attempt of the step, so a retry finds what an
// earlier attempt made, and differ between runs, steps and parts.
func (x *execution) stepDigest(n int, parts ...string) string {
	sum := sha256.Sum256([]byte(strings.Join(append([]string{x.call.Run.RunID, x.stepKey()}, parts...), "\x00")))
	return hex.EncodeToString(sum[:n])
}
