package runctl

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
	"golang.org/x/crypto/ssh"

	"github.com/cordon-ir/cordon/runbooks"
	"github.com/cordon-ir/cordon/workflows"
)

// NewRunID names a run after its runbook and start time, so ids read well
// in Slack and in the Temporal UI, with a random suffix for uniqueness.
func NewRunID(runbook string, now time.Time) string {
	var b [3]byte
	_, _ = rand.Read(b[:])
	return fmt.Sprintf("%s-%s-%s", runbook, now.UTC().Format("20060102T150405"), hex.EncodeToString(b[:]))
}

// StartOptions is what a client asks to start.
type StartOptions struct {
	// Plan is the client's compiled plan; the worker runs it only if its
	// runbook source holds the same (or a lead approves it). Nil: the
	// worker compiles Runbook from its source.
	Plan    *runbooks.Plan
	Runbook string
	// PlanHash, when set, is the content hash the requester expects
	// (runbooks.Plan.ContentHash); the run is refused if the worker's plan
	// differs. Taken from Plan when Plan is set.
	PlanHash string
	Inputs   map[string]any
	// InputArgs are inputs as text, resolved by the worker against the
	// plan it compiles (starting by Runbook name, without a plan).
	InputArgs map[string]string
	// Meta: RunID (default: a new one), Requester, Channel, Incident,
	// DryRun. The requester is whoever Signer's key belongs to.
	Meta workflows.RunMeta
	// Signer signs the start as Meta.Requester (nil: unsigned).
	Signer ssh.Signer
	// BreakGlass are leads' signatures of a break-glass given with the
	// start (see SignBreakGlass).
	BreakGlass []workflows.Request
	// Signed, when set (and Signer is not), is the start request as its
	// requester already signed it elsewhere: a responder's launch of a
	// proposal, which the intake delivers as it is. Meta must say what it
	// signed; the workflow checks the two agree.
	Signed *workflows.Request
	// Nonce, when set, is the signed start's nonce (default: NewNonce).
	// A gateway derives it from the interaction that asked for the start,
	// so that a repeated delivery carries the same one.
	Nonce string
	// Trigger, when set, says the run is started from detections: the
	// plan's trigger and the findings (Meta.Trigger, which it replaces).
	// The start signs its name and the findings' hash. The intake signs
	// as itself (Meta.Requester its roster id, Meta.Channel
	// workflows.ChannelIntake) under a launch or dry_run trigger; a
	// responder who launched a proposal signs as themselves, with Mode
	// propose.
	Trigger *workflows.TriggerStart
}

// NewNonce returns a fresh single-use nonce for a request.
func NewNonce() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// Start starts a containment run with a signed start request and returns
// its id.
func Start(ctx context.Context, c client.Client, taskQueue string, o StartOptions) (string, error) {
	meta := o.Meta
	if o.Trigger != nil {
		meta.Trigger = o.Trigger
	}
	name := o.Runbook
	if o.Plan != nil {
		name = o.Plan.Runbook.Name
		if o.PlanHash == "" {
			o.PlanHash = o.Plan.ContentHash()
		}
	}
	if meta.RunID == "" {
		meta.RunID = NewRunID(name, time.Now())
	}
	if meta.Channel == "" {
		meta.Channel = "cli"
	}
	in := workflows.RunInput{Plan: o.Plan, Runbook: name, Inputs: o.Inputs, InputArgs: o.InputArgs, Meta: meta, BreakGlass: o.BreakGlass}
	if in.Inputs == nil {
		in.Inputs = map[string]any{}
	}
	if o.Signer != nil {
		if o.Nonce == "" {
			o.Nonce = NewNonce()
		}
		req := workflows.Request{RunID: meta.RunID, Action: workflows.ActStart, Actor: meta.Requester, Channel: meta.Channel,
			Time: time.Now().UTC(), Nonce: o.Nonce, Runbook: name, PlanHash: o.PlanHash,
			InputsHash: in.SignedInputsHash(), Incident: meta.Incident, DryRun: meta.DryRun}
		if meta.Force {
			req.Force, req.Reason = true, meta.ForceReason
		}
		if meta.Trigger != nil {
			req.Trigger, req.FindingsHash = meta.Trigger.Name, meta.Trigger.FindingsHash()
		}
		signed, err := workflows.Sign(req, o.Signer)
		if err != nil {
			return "", err
		}
		in.Start = &signed
	} else if o.Signed != nil {
		signed := *o.Signed
		in.Start = &signed
	}
	targets := startTargets(o.Plan, in)
	opts := client.StartWorkflowOptions{
		ID:                    meta.RunID,
		TaskQueue:             taskQueue,
		WorkflowIDReusePolicy: enumspb.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE,
		// Without this the SDK answers a reused id with the existing run,
		// and the caller would take an old containment for a new one.
		WorkflowExecutionErrorWhenAlreadyStarted: true,
		// What the Web UI and `temporal workflow list/describe` show. The
		// search attributes make the run findable at once; the workflow
		// writes its own values over them once it verified the start.
		StaticSummary:         workflows.Summary(name, targets, meta.Incident, meta.DryRun),
		StaticDetails:         startDetails(name, targets, meta),
		TypedSearchAttributes: startSearchAttributes(name, targets, meta),
	}
	_, err := c.ExecuteWorkflow(ctx, opts, workflows.WorkflowName, in)
	if isUnknownSearchAttribute(err) {
		// A namespace where nobody registered Cordon's search attributes
		// (docs/operations.md): start without them.
		opts.TypedSearchAttributes = temporal.SearchAttributes{}
		_, err = c.ExecuteWorkflow(ctx, opts, workflows.WorkflowName, in)
	}
	var started *serviceerror.WorkflowExecutionAlreadyStarted
	if errors.As(err, &started) {
		return "", fmt.Errorf("start run %s: a run with this id already exists (cordon status %s shows it); start with another id: %w", meta.RunID, meta.RunID, started)
	}
	if err != nil {
		return "", fmt.Errorf("start run %s: %w", meta.RunID, err)
	}
	return meta.RunID, nil
}

// startTargets are what the run is aimed at, as far as the client can
// tell: from the plan and typed inputs, or from the text inputs.
func startTargets(plan *runbooks.Plan, in workflows.RunInput) []string {
	if len(in.Inputs) > 0 || in.InputArgs == nil {
		return workflows.Targets(plan, in.Inputs)
	}
	args := make(map[string]any, len(in.InputArgs))
	for k, v := range in.InputArgs {
		args[k] = v
	}
	return workflows.Targets(plan, args)
}

func startSearchAttributes(runbook string, targets []string, meta workflows.RunMeta) temporal.SearchAttributes {
	updates := []temporal.SearchAttributeUpdate{
		workflows.SearchRunbook.ValueSet(runbook),
		workflows.SearchRequester.ValueSet(meta.Requester),
		workflows.SearchDryRun.ValueSet(meta.DryRun),
		workflows.SearchOutcome.ValueSet(string(workflows.RunRunning)),
	}
	if len(targets) > 0 {
		updates = append(updates, workflows.SearchTargets.ValueSet(targets))
	}
	if meta.Incident != "" {
		updates = append(updates, workflows.SearchIncident.ValueSet(meta.Incident))
	}
	return temporal.NewSearchAttributes(updates...)
}

// startDetails is the run's description in the Web UI (Markdown).
func startDetails(runbook string, targets []string, meta workflows.RunMeta) string {
	var b strings.Builder
	fmt.Fprintf(&b, "**Cordon run** of runbook `%s`, requested by %s via %s", runbook, meta.Requester, meta.Channel)
	if meta.Incident != "" {
		fmt.Fprintf(&b, " for incident %s", meta.Incident)
	}
	b.WriteString(".\n\n")
	if len(targets) > 0 {
		fmt.Fprintf(&b, "Targets: %s.\n\n", strings.Join(targets, ", "))
	}
	if t := meta.Trigger; t != nil {
		fmt.Fprintf(&b, "Started by trigger `%s` (%s) from %d finding(s).\n\n", t.Name, t.Mode, len(t.Findings))
	}
	if meta.DryRun {
		b.WriteString("A rehearsal: every step previews, nothing changes.\n\n")
	}
	b.WriteString("As the client asked for it: the run's own record (`cordon status`, `cordon report`) says what the workflow verified.")
	return b.String()
}

// isUnknownSearchAttribute says the server refused a start because the
// namespace does not know a search attribute it carries.
func isUnknownSearchAttribute(err error) bool {
	var invalid *serviceerror.InvalidArgument
	return errors.As(err, &invalid) && strings.Contains(strings.ToLower(invalid.Error()), "search attribute")
}

// SignBreakGlass signs a lead's break-glass (approve every gate) of run
// runID, to give with its start.
func SignBreakGlass(runID, lead, reason string, signer ssh.Signer) (workflows.Request, error) {
	req := workflows.Request{RunID: runID, Action: workflows.ActApproveAll, Actor: lead, Channel: "cli", Reason: reason,
		Time: time.Now().UTC(), Nonce: NewNonce()}
	return workflows.Sign(req, signer)
}

// State queries a run's state.
func State(ctx context.Context, c client.Client, runID string) (workflows.State, error) {
	var s workflows.State
	v, err := c.QueryWorkflow(ctx, runID, "", workflows.QueryState)
	if err != nil {
		var nf *serviceerror.NotFound
		if errors.As(err, &nf) {
			return s, fmt.Errorf("no run %q (cordon list shows recent runs)", runID)
		}
		return s, fmt.Errorf("query run %s: %w", runID, err)
	}
	if err := v.Get(&s); err != nil {
		return s, fmt.Errorf("decode state of %s: %w", runID, err)
	}
	return s, nil
}

// ChildStates queries the state of every child run s started (a fleet run
// contains each host in a child), in step order.
func ChildStates(ctx context.Context, c client.Client, s workflows.State) ([]workflows.State, error) {
	var out []workflows.State
	for _, st := range s.Steps {
		for _, id := range st.Children {
			cs, err := State(ctx, c, id)
			if err != nil {
				return out, fmt.Errorf("child run of %s (step %s): %w", s.Meta.RunID, st.ID, err)
			}
			out = append(out, cs)
		}
	}
	return out, nil
}

// updateFor maps a request action to the update that carries it.
func updateFor(action string) (string, error) {
	switch action {
	case workflows.ActApprove, workflows.ActDeny:
		return workflows.UpdateApprove, nil
	case workflows.ActApproveAll:
		return workflows.UpdateApproveAll, nil
	case workflows.ActPause:
		return workflows.UpdatePause, nil
	case workflows.ActResume:
		return workflows.UpdateResume, nil
	case workflows.ActSkip:
		return workflows.UpdateSkip, nil
	case workflows.ActAbort:
		return workflows.UpdateAbort, nil
	}
	return "", fmt.Errorf("unknown request %q", action)
}

// Refused is a request the workflow's validator turned down; Reason says
// why in the validator's words.
type Refused struct{ Reason string }

func (r *Refused) Error() string { return "refused: " + r.Reason }

// Send signs (when signer is set) and delivers a request to a run and
// waits for the outcome. A validator refusal comes back as *Refused.
func Send(ctx context.Context, c client.Client, req workflows.Request, signer ssh.Signer) (string, error) {
	name, err := updateFor(req.Action)
	if err != nil {
		return "", err
	}
	if req.Time.IsZero() {
		req.Time = time.Now().UTC()
	}
	if req.Nonce == "" {
		req.Nonce = NewNonce()
	}
	if signer != nil {
		if req, err = workflows.Sign(req, signer); err != nil {
			return "", err
		}
	}
	h, err := c.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{
		WorkflowID: req.RunID, UpdateName: name, Args: []any{req},
		WaitForStage: client.WorkflowUpdateStageCompleted,
	})
	if err != nil {
		return "", refusal(req.RunID, err)
	}
	var result string
	if err := h.Get(ctx, &result); err != nil {
		return "", refusal(req.RunID, err)
	}
	return result, nil
}

func refusal(runID string, err error) error {
	var nf *serviceerror.NotFound
	if errors.As(err, &nf) {
		return fmt.Errorf("no run %q is in progress", runID)
	}
	var ae *temporal.ApplicationError
	if errors.As(err, &ae) {
		return &Refused{Reason: ae.Message()}
	}
	msg := err.Error()
	if i := strings.Index(msg, "validation error:"); i >= 0 {
		return &Refused{Reason: strings.TrimSpace(msg[i+len("validation error:"):])}
	}
	return fmt.Errorf("send to run %s: %w", runID, err)
}

// ErrRunNotRunning is what SendFindingUpdate returns (wrapped) when the
// run has ended or never existed: the intake then tells people that the
// finding is still active after the run, instead of starting another.
var ErrRunNotRunning = errors.New("the run is not running")

// SendFindingUpdate reports a later delivery of a finding to the run that
// acts on it, signed by the intake (signer is the key of roster member
// intakeID, whose role is intake; nil sends it unsigned, which only a
// development roster accepts). The run verifies it, records it as a
// line of its timeline, and changes nothing else; a refusal is recorded
// in the run, not returned (a signal has no answer): the run's state says
// (State.FindingUpdates, State.Refusals).
func SendFindingUpdate(ctx context.Context, c client.Client, runID string, upd workflows.FindingUpdate, signer ssh.Signer, intakeID string) error {
	if upd.Intake == "" {
		upd.Intake = intakeID
	}
	if upd.Received.IsZero() {
		upd.Received = time.Now().UTC()
	}
	req := workflows.Request{RunID: runID, Action: workflows.ActFindingUpdate, Actor: intakeID, Channel: workflows.ChannelIntake,
		Time: time.Now().UTC(), Nonce: NewNonce(), FindingsHash: upd.Hash()}
	if signer != nil { // nil: unsigned, which only a development roster accepts
		var err error
		if req, err = workflows.Sign(req, signer); err != nil {
			return err
		}
	}
	// A run that has decided its outcome (aborted, failed, succeeded) may
	// stay open a moment to finish its record; to the finding it has ended.
	if s, err := State(ctx, c, runID); err == nil && s.Status != workflows.RunRunning {
		return fmt.Errorf("update finding %s of run %s: %w (it is %s)", upd.Key, runID, ErrRunNotRunning, s.Status)
	}
	err := c.SignalWorkflow(ctx, runID, "", workflows.SignalFindingUpdate, workflows.FindingUpdateSignal{Request: req, Update: upd})
	var nf *serviceerror.NotFound
	if errors.As(err, &nf) {
		return fmt.Errorf("update finding %s of run %s: %w (%v)", upd.Key, runID, ErrRunNotRunning, err)
	}
	if err != nil {
		return fmt.Errorf("update finding %s of run %s: %w", upd.Key, runID, err)
	}
	return nil
}

// Wait blocks until the run ends and returns its result.
func Wait(ctx context.Context, c client.Client, runID string) (workflows.RunResult, error) {
	var res workflows.RunResult
	err := c.GetWorkflow(ctx, runID, "").Get(ctx, &res)
	if err != nil {
		var ae *temporal.ApplicationError
		if errors.As(err, &ae) && ae.HasDetails() {
			if ae.Details(&res) == nil {
				return res, nil
			}
		}
		return res, fmt.Errorf("run %s: %w", runID, err)
	}
	return res, nil
}
