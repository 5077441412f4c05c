package workflows

import (
	"time"

	"github.com/cordon-ir/cordon/actions"
	"github.com/cordon-ir/cordon/runbooks"
)

// Names registered with Temporal. Clients and the worker use these.
const (
	WorkflowName = "Runbook"

	UpdateApprove    = "approve"
	UpdateApproveAll = "approve_all"
	UpdatePause      = "pause"
	UpdateResume     = "resume"
	UpdateSkip       = "skip"
	UpdateAbort      = "abort"
	QueryState       = "state"

	// Activities the worker provides besides the actions.
	ActivityLoadRoster = "cordon.load_roster"
	ActivityNotifyGate = "cordon.notify_gate"
)

// RunInput starts a run.
type RunInput struct {
	Plan   *runbooks.Plan `json:"plan"`
	Inputs map[string]any `json:"inputs"`
	Meta   RunMeta        `json:"meta"`
}

// RunMeta describes the run: who asked for it, for which incident, and
// whether it is a rehearsal.
type RunMeta struct {
	RunID     string `json:"run_id"`
	Requester string `json:"requester"`
	Channel   string `json:"channel,omitempty"` // where it was started: cli, slack
	Incident  string `json:"incident,omitempty"`
	DryRun    bool   `json:"dry_run,omitempty"`
	// Parent is the run that started this one through uses:, if any.
	Parent string `json:"parent,omitempty"`
	// PreApproved records a break-glass approval inherited from the parent.
	PreApproved *Approval `json:"pre_approved,omitempty"`
}

// RunResult is what a finished run returns (and what a parent sees).
type RunResult struct {
	Status  string         `json:"status"`
	Outputs map[string]any `json:"outputs,omitempty"`
	Error   string         `json:"error,omitempty"`
}

// Run statuses.
const (
	RunRunning   = "running"
	RunSucceeded = "succeeded"
	RunFailed    = "failed"
	RunAborted   = "aborted"
)

// Step statuses.
const (
	StepPending   = "pending"
	StepRunning   = "running"
	StepAwaiting  = "awaiting_approval"
	StepSucceeded = "succeeded"
	StepFailed    = "failed"
	StepSkipped   = "skipped"
	StepDenied    = "denied"
	StepCancelled = "cancelled"
)

// Roster is who may do what. The worker loads it from its configuration
// through an activity at the start of each run, so it is recorded in
// history and a client starting a run cannot bring its own.
type Roster struct {
	Members []Member `json:"members"`
	// Gateways are services allowed to vouch for a member's identity (the
	// Slack gateway, after verifying Slack's request signature).
	Gateways []Gateway `json:"gateways,omitempty"`
	// RequireSignatures refuses unsigned decisions. Only cordon dev, on a
	// local roster, may turn it off, and it says so loudly.
	RequireSignatures bool `json:"require_signatures"`
	// MaxSkew is how old (or how far in the future) a signed decision may
	// be; default 5 minutes.
	MaxSkew time.Duration `json:"max_skew,omitempty"`
}

// Member is one responder.
type Member struct {
	ID      string   `json:"id"`
	Name    string   `json:"name,omitempty"`
	SlackID string   `json:"slack_id,omitempty"`
	Roles   []string `json:"roles,omitempty"` // responder, lead
	Groups  []string `json:"groups,omitempty"`
	// PublicKeys are SSH public keys (authorized_keys format) the member
	// signs CLI decisions with.
	PublicKeys []string `json:"public_keys,omitempty"`
}

// Gateway is a service that signs decisions on behalf of members.
type Gateway struct {
	Name      string `json:"name"` // also the decision channel it may sign for, e.g. slack
	PublicKey string `json:"public_key"`
}

// Roles.
const (
	RoleResponder = "responder"
	RoleLead      = "lead"
)

// Request is a signed request from a person: a decision at a gate or a
// control over the run. The signature covers every field but itself.
type Request struct {
	RunID  string `json:"run_id"`
	Action string `json:"action"` // approve, deny, approve_all, pause, resume, skip, abort
	Step   string `json:"step,omitempty"`
	// Item is the foreach item of the gate, when the step fans out.
	Item        int       `json:"item,omitempty"`
	PreviewHash string    `json:"preview_hash,omitempty"`
	Actor       string    `json:"actor"`   // roster member id
	Channel     string    `json:"channel"` // cli, slack
	Reason      string    `json:"reason,omitempty"`
	Time        time.Time `json:"time"`
	Signature   string    `json:"signature,omitempty"` // base64 of an SSH signature
}

// Request actions.
const (
	ActApprove    = "approve"
	ActDeny       = "deny"
	ActApproveAll = "approve_all"
	ActPause      = "pause"
	ActResume     = "resume"
	ActSkip       = "skip"
	ActAbort      = "abort"
)

// Approval is one counted approval.
type Approval struct {
	Actor      string    `json:"actor"`
	Channel    string    `json:"channel"`
	Time       time.Time `json:"time"`
	Reason     string    `json:"reason,omitempty"`
	BreakGlass bool      `json:"break_glass,omitempty"`
}

// GateState is a gate as approvers see it.
type GateState struct {
	Step        string           `json:"step"`
	Item        int              `json:"item,omitempty"`
	Key         string           `json:"key"`
	Status      string           `json:"status"` // waiting, approved, denied, timed_out, skipped
	PreviewHash string           `json:"preview_hash"`
	Changes     []actions.Change `json:"changes"`
	// Unpreviewed marks a gate passed under break-glass without a preview:
	// PreviewHash and Changes are empty; the step's own result holds the
	// changes made.
	Unpreviewed  bool `json:"unpreviewed,omitempty"`
	Approvers    runbooks.Approvers
	MinApprovals int        `json:"min_approvals"`
	Approvals    []Approval `json:"approvals"`
	Deadline     time.Time  `json:"deadline"`
	Escalated    bool       `json:"escalated,omitempty"`
	DecidedBy    string     `json:"decided_by,omitempty"`
	Reason       string     `json:"reason,omitempty"`
}

// StepState is one step's progress.
type StepState struct {
	ID         string         `json:"id"`
	Name       string         `json:"name,omitempty"`
	Phase      string         `json:"phase,omitempty"`
	Action     string         `json:"action,omitempty"`
	Uses       string         `json:"uses,omitempty"`
	Status     string         `json:"status"`
	Reason     string         `json:"reason,omitempty"`
	StartedAt  time.Time      `json:"started_at,omitempty"`
	EndedAt    time.Time      `json:"ended_at,omitempty"`
	Outputs    map[string]any `json:"outputs,omitempty"`
	Items      int            `json:"items,omitempty"`
	Failed     int            `json:"failed,omitempty"`
	Children   []string       `json:"children,omitempty"`
	Error      string         `json:"error,omitempty"`
	RequestIDs []string       `json:"request_ids,omitempty"`
}

// Event is one line of the timeline: every state change and decision.
type Event struct {
	Time    time.Time `json:"time"`
	Kind    string    `json:"kind"`
	Step    string    `json:"step,omitempty"`
	Item    int       `json:"item,omitempty"`
	Actor   string    `json:"actor,omitempty"`
	Channel string    `json:"channel,omitempty"`
	Detail  string    `json:"detail,omitempty"`
	// Data carries what the report needs: changes, request ids, outputs.
	Data map[string]any `json:"data,omitempty"`
}

// State is the query result: the whole run as the CLI, Slack and the
// report see it.
type State struct {
	Meta        RunMeta        `json:"meta"`
	Runbook     string         `json:"runbook"`
	PlanHash    string         `json:"plan_hash"`
	Inputs      map[string]any `json:"inputs"`
	Status      string         `json:"status"`
	Paused      bool           `json:"paused"`
	StartedAt   time.Time      `json:"started_at"`
	EndedAt     time.Time      `json:"ended_at,omitempty"`
	Steps       []StepState    `json:"steps"`
	Gates       []GateState    `json:"gates"`
	Timeline    []Event        `json:"timeline"`
	Outputs     map[string]any `json:"outputs,omitempty"`
	BreakGlass  *Approval      `json:"break_glass,omitempty"`
	Plan        *runbooks.Plan `json:"-"`
	RosterNotes []string       `json:"roster_notes,omitempty"`
}

// GateNotice asks people to decide at a gate (or tells them it resolved).
type GateNotice struct {
	RunID     string           `json:"run_id"`
	Runbook   string           `json:"runbook"`
	Incident  string           `json:"incident,omitempty"`
	Requester string           `json:"requester"`
	Step      string           `json:"step"`
	StepName  string           `json:"step_name,omitempty"`
	Action    string           `json:"action"`
	Item      int              `json:"item,omitempty"`
	Kind      string           `json:"kind"` // waiting, escalated, approved, denied, timed_out
	Gate      GateState        `json:"gate"`
	Changes   []actions.Change `json:"changes"`
	To        runbooks.Approvers
}
