package workflows

import (
	"slices"
	"time"

	"github.com/cordon-ir/cordon/actions/wire"
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
	// SignalParentBreakGlass carries a fleet run's signed break-glass
	// requests to its running host runs, which verify them again.
	SignalParentBreakGlass = "cordon.parent_break_glass"
	// SignalFindingUpdate carries a FindingUpdateSignal (a FindingUpdate
	// and the intake's signed request for it) from the intake to the run
	// that acts on the finding.
	SignalFindingUpdate = "cordon.finding_update"

	// Activities the worker provides besides the actions.
	ActivityLoadRoster = "cordon.load_roster"
	ActivityNotifyGate = "cordon.notify_gate"
	// ActivityVouchPlan asks the worker's side which plan to run: the
	// runbook its configured source holds under the requested name, or the
	// client's plan matched against that source; it checks every step
	// against the worker's action catalog.
	ActivityVouchPlan = "cordon.vouch_plan"
	// ActivityVerifyTrigger fetches the findings of a start the intake
	// signed from their sources, through the worker's own account roles,
	// and recomputes the run's inputs from them (VerifyTriggerRequest): the
	// intake faces the internet, and its word is not a finding.
	ActivityVerifyTrigger = "cordon.verify_trigger"
	// ActivityCheckInstances refuses a start whose inputs name EC2
	// instances that do not exist (CheckInstancesRequest). It runs once
	// the start is authenticated: an AWS call made for an unsigned start
	// would let anyone who reaches the namespace spend the worker's EC2
	// budget and learn which instance ids exist.
	ActivityCheckInstances = "cordon.check_instances"
	// ActivityClaimTargets and ActivityReleaseTargets hold one
	// containment per target (TargetLock).
	ActivityClaimTargets   = "cordon.claim_targets"
	ActivityReleaseTargets = "cordon.release_targets"
)

// RunInput starts a run. Everything in it comes from a client and is
// untrusted: the workflow runs a plan only once the worker's side vouched
// for it (ActivityVouchPlan), takes the requester from the verified Start
// signature, the run's identity from Temporal, and a break-glass only from
// signed requests it verifies itself.
type RunInput struct {
	// Plan is the client's compiled plan. Optional when Runbook names a
	// runbook of the worker's source: the worker then compiles it.
	Plan *runbooks.Plan `json:"plan,omitempty"`
	// Runbook is the name of the runbook to run (metadata.name).
	Runbook string         `json:"runbook,omitempty"`
	Inputs  map[string]any `json:"inputs"`
	// InputArgs are inputs as text (cordon run NAME --input k=v), which
	// the worker resolves against the plan it compiles; used instead of
	// Inputs when the client has no plan to type them with.
	InputArgs map[string]string `json:"input_args,omitempty"`
	Meta      RunMeta           `json:"meta"`
	// Start is the requester's signed start request (Action "start").
	Start *Request `json:"start,omitempty"`
	// BreakGlass are leads' signed approve_all requests given with the
	// start, verified like the approve_all update.
	BreakGlass []Request `json:"break_glass,omitempty"`
}

// RunMeta describes the run: who asked for it, for which incident, and
// whether it is a rehearsal.
type RunMeta struct {
	RunID     string `json:"run_id"`
	Requester string `json:"requester"`
	Channel   string `json:"channel,omitempty"` // where it was started: cli, slack
	Incident  string `json:"incident,omitempty"`
	DryRun    bool   `json:"dry_run,omitempty"`
	// Parent is the run that started this one through uses:, if any. A
	// run checks it against Temporal's own record of its parent.
	Parent string `json:"parent,omitempty"`
	// PreApproved is how runs before signed break-glass inherited it. A run
	// that is not a real child refuses to start with it; a child ignores it
	// in favour of Inherited.
	PreApproved *Approval `json:"pre_approved,omitempty"`
	// Lineage lists the run's ancestors, root first (set by the parent).
	Lineage []string `json:"lineage,omitempty"`
	// Inherited are the signed break-glass requests of an ancestor, which
	// a child verifies again before it lets them pass its gates.
	Inherited []Request `json:"inherited,omitempty"`
	// Authenticated says the requester was verified from a signature (or
	// inherited from a parent that verified it).
	Authenticated bool `json:"authenticated,omitempty"`
	// Force starts the run although another run contains one of its
	// targets (cordon run --force --reason R), recorded with ForceReason.
	// Under signed starts both must be what the requester signed.
	Force       bool   `json:"force,omitempty"`
	ForceReason string `json:"force_reason,omitempty"`
	// Trigger, when set, says the run was started from detections by one
	// of the plan's triggers. Under signed starts the start request binds
	// it (Request.Trigger and Request.FindingsHash).
	Trigger *TriggerStart `json:"trigger,omitempty"`
}

// TriggerStart is what started a run from detections: the plan's trigger
// and the findings it acts on (one, or the findings a storm aggregated).
type TriggerStart struct {
	// Name is the trigger's name in the plan (runbooks.Trigger.Name).
	Name string `json:"name"`
	// Mode is the trigger's mode the run was started under: launch and
	// dry_run start by themselves; propose means a responder launched the
	// proposal (and signed the start).
	Mode string `json:"mode"`
	// Intake is the roster id of the intake that received the findings.
	Intake   string             `json:"intake,omitempty"`
	Findings []TriggeredFinding `json:"findings"`
}

// TriggeredFinding is one finding a triggered run acts on, as the intake
// verified it against its source, with when it was created and received.
type TriggeredFinding struct {
	Key       string    `json:"key"`
	TargetKey string    `json:"target_key,omitempty"`
	Source    string    `json:"source"`
	ID        string    `json:"id"`
	Type      string    `json:"type,omitempty"`
	Account   string    `json:"account,omitempty"`
	Region    string    `json:"region,omitempty"`
	Severity  string    `json:"severity,omitempty"`
	Resource  string    `json:"resource,omitempty"`
	Title     string    `json:"title,omitempty"`
	Count     int       `json:"count,omitempty"`
	Created   time.Time `json:"created"`
	Received  time.Time `json:"received"`
	// ProductARN is a Security Hub finding's ProductArn: with its ID, what
	// the worker fetches it by again (empty for the other sources).
	ProductARN string `json:"product_arn,omitempty"`
}

// VerifyTriggerRequest asks the worker's side whether the findings of a
// start the intake signed are what their sources hold, and whether the
// run's inputs are what those findings decide under the plan's trigger.
type VerifyTriggerRequest struct {
	// Plan is the vouched plan (the worker's own); Trigger names one of
	// its triggers.
	Plan     *runbooks.Plan     `json:"plan"`
	Trigger  string             `json:"trigger"`
	Findings []TriggeredFinding `json:"findings"`
	// Inputs are the run's inputs (its defaults filled in).
	Inputs map[string]any `json:"inputs"`
}

// VerifiedTrigger is the answer: Refusal says why the run must not start
// (empty: the findings and inputs stand). A refusal is an answer, not an
// error, so it is recorded with its reason; an error (a source that does
// not answer) is retried.
type VerifiedTrigger struct {
	Refusal string `json:"refusal,omitempty"`
	// Fetched is how many source calls the verification made.
	Fetched int `json:"fetched,omitempty"`
}

// FindingUpdate is a later delivery of a finding a run already acts on
// (SignalFindingUpdate): GuardDuty republishes a finding with a higher
// count; the run records it, it never starts another run.
type FindingUpdate struct {
	Key      string    `json:"key"`
	Count    int       `json:"count,omitempty"`
	LastSeen string    `json:"last_seen,omitempty"`
	Received time.Time `json:"received"`
	Intake   string    `json:"intake,omitempty"`
}

// FindingUpdateSignal is the payload of SignalFindingUpdate: the update
// and the intake's signed request (Action ActFindingUpdate, FindingsHash
// the update's Hash). Anyone who can reach the namespace can signal a run,
// so the run verifies the request as it verifies a decision before it
// records anything.
type FindingUpdateSignal struct {
	Request Request       `json:"request"`
	Update  FindingUpdate `json:"update"`
}

// RunResult is what a finished run returns (and what a parent sees).
type RunResult struct {
	Status  RunStatus      `json:"status"`
	Outputs map[string]any `json:"outputs,omitempty"`
	Error   string         `json:"error,omitempty"`
}

// RunStatus is where a run stands. The strings are part of the query's
// JSON, of recorded histories (RunResult) and of the report: keep them.
type RunStatus string

// Run statuses.
const (
	RunRunning   RunStatus = "running"
	RunSucceeded RunStatus = "succeeded"
	RunFailed    RunStatus = "failed"
	RunAborted   RunStatus = "aborted"
	// RunPartial: every step ran, but some items of a fan-out (hosts of
	// a fleet) failed within the step's max_errors: the run did not do
	// all it set out to. StepState.FailedItems names them.
	RunPartial RunStatus = "partial"
)

// StepStatus is where a step (or one item of a foreach step) stands. A
// runbook reads it too, as steps.<id>.status.
type StepStatus string

// Step statuses.
const (
	StepPending  StepStatus = "pending"
	StepRunning  StepStatus = "running"
	StepAwaiting StepStatus = "awaiting_approval"
	// StepHeld: the step may act (approved, or needs no gate) but the run
	// is paused; it acts after resume, once its preview still matches.
	StepHeld      StepStatus = "held_by_pause"
	StepSucceeded StepStatus = "succeeded"
	StepFailed    StepStatus = "failed"
	StepSkipped   StepStatus = "skipped"
	StepDenied    StepStatus = "denied"
	StepCancelled StepStatus = "cancelled"
)

// GateStatus is where an approval gate stands.
type GateStatus string

// Gate statuses.
const (
	GateWaiting  GateStatus = "waiting"
	GateApproved GateStatus = "approved"
	GateDenied   GateStatus = "denied"
	GateTimedOut GateStatus = "timed_out"
	GateSkipped  GateStatus = "skipped"
)

// EventKind says what a timeline event records. The strings are what the
// query, the JSON report, the demo's event stream and scripts reading
// them see: keep them.
type EventKind string

// The run.
const (
	EventRunStarted   EventKind = "run_started"
	EventRunSucceeded EventKind = "run_succeeded"
	EventRunFailed    EventKind = "run_failed"
	EventRunAborted   EventKind = "run_aborted"
	EventRunPartial   EventKind = "run_partial"
	// EventRefused is a request the workflow refused after it reached
	// its history (Refusal holds the same, for status and the report).
	EventRefused EventKind = "refused"
	// EventOutputError is a runbook output whose expression failed.
	EventOutputError EventKind = "output_error"
	// EventTriggered says the run was started from detections: by which
	// trigger, in which mode, through which intake, and Findings.
	EventTriggered EventKind = "triggered"
	// EventFindingUpdated is a later delivery of a finding the run acts
	// on (a higher count, a later last seen), verified and recorded.
	EventFindingUpdated EventKind = "finding_updated"
)

// Steps, their items, actions and child runs.
const (
	EventStepStarted   EventKind = "step_started"
	EventStepSucceeded EventKind = "step_succeeded"
	EventStepFailed    EventKind = "step_failed"
	EventStepSkipped   EventKind = "step_skipped"
	EventStepDenied    EventKind = "step_denied"
	EventStepCancelled EventKind = "step_cancelled"
	// EventActionDone is an action that ran (or, in a rehearsal, was
	// previewed): Changes, RequestIDs and Notes say what it did.
	EventActionDone    EventKind = "action_done"
	EventItemFailed    EventKind = "item_failed"
	EventItemCancelled EventKind = "item_cancelled"
	EventChildStarted  EventKind = "child_started"
	EventChildDone     EventKind = "child_done"
	// EventWaitRehearsed and EventGateRehearsed say what a real run
	// would have waited for (dry run only).
	EventWaitRehearsed EventKind = "wait_rehearsed"
	EventGateRehearsed EventKind = "gate_rehearsed"
)

// Gates and decisions.
const (
	// EventGateWaiting opens a gate: Changes and PreviewHash are what the
	// approvers are asked to approve.
	EventGateWaiting   EventKind = "gate_waiting"
	EventApproval      EventKind = "approval" // one approval, short of or reaching the minimum
	EventGateApproved  EventKind = "gate_approved"
	EventGateDenied    EventKind = "gate_denied"
	EventGateTimedOut  EventKind = "gate_timed_out"
	EventGateEscalated EventKind = "gate_escalated"
	// EventGateReopened is an approved gate asking again because the
	// change is no longer the one approved.
	EventGateReopened EventKind = "gate_reopened"
	// EventGateStillApproved is an approved gate that passes although the
	// world moved, because what is left is part of what was approved.
	EventGateStillApproved EventKind = "gate_still_approved"
	// EventGateConfirmed is an approved gate whose preview, taken again
	// just before acting, still matches the approval: the action starts.
	EventGateConfirmed EventKind = "gate_confirmed"
	EventNotifyFailed  EventKind = "notify_failed"
	// EventPlanApproved and EventPlanRefused decide the gate of an ad-hoc
	// plan (PlanGate).
	EventPlanApproved EventKind = "plan_approved"
	EventPlanRefused  EventKind = "plan_refused"
	// EventBreakGlassSigned is one lead's signature towards a break-glass;
	// EventBreakGlass is the break-glass in force.
	EventBreakGlassSigned EventKind = "break_glass_signed"
	EventBreakGlass       EventKind = "break_glass"
)

// CSIRT controls.
const (
	// EventForced: the run started although another run contains one
	// of its targets (--force, with a reason).
	EventForced  EventKind = "forced"
	EventPaused  EventKind = "paused"
	EventResumed EventKind = "resumed"
	EventSkip    EventKind = "skip"
	EventAbort   EventKind = "abort"
	// EventHeld: a step ready to change something waits for resume.
	EventHeld EventKind = "held_by_pause"
)

// runEnded is the event that records a run ending with status: each
// terminal status has its event, named run_<status> (EventRunSucceeded and
// the others; TestEndEventsAreTheDeclaredOnes keeps them in step).
func runEnded(status RunStatus) EventKind { return EventKind("run_" + status) }

// stepEnded is the event that records a step ending with status, named
// step_<status> (EventStepSucceeded and the others).
func stepEnded(status StepStatus) EventKind { return EventKind("step_" + status) }

// NoticeKind is what a gate notice tells: the gate's status, or that a
// waiting gate was escalated.
type NoticeKind string

// Gate notice kinds.
const (
	NoticeWaiting              = NoticeKind(GateWaiting)
	NoticeEscalated NoticeKind = "escalated"
	NoticeApproved             = NoticeKind(GateApproved)
	NoticeDenied               = NoticeKind(GateDenied)
	NoticeTimedOut             = NoticeKind(GateTimedOut)
	NoticeSkipped              = NoticeKind(GateSkipped)
)

// NoticeOf is the notice kind for a gate as it stands.
func NoticeOf(g GateState) NoticeKind {
	if g.Status == GateWaiting && g.Escalated {
		return NoticeEscalated
	}
	return NoticeKind(g.Status)
}

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
	// Policy is the organisation's rules, which no runbook can loosen.
	Policy Policy `json:"policy"`
	// Version identifies this roster and policy (a hash), for the record.
	Version string `json:"version,omitempty"`
	// SearchAttributes is not configuration: the worker says it found
	// Cordon's search attributes (SearchAttributeTypes) registered in its
	// namespace when it started, so the run may write them. Without it a
	// run writes none (an unknown attribute would fail its workflow task).
	SearchAttributes bool `json:"search_attributes,omitempty"`
}

// Policy is the organisation's approval policy, from the worker's
// configuration. Where a runbook and the policy disagree, the stricter
// wins, and the record says which applied.
type Policy struct {
	// MinApprovals is the least number of distinct approvals a gate of a
	// destructive step needs, whatever the runbook says (default 1).
	MinApprovals int `json:"min_approvals,omitempty"`
	// SelfApproval is "never" (the default: the requester never approves
	// a gate of their own run, whatever the runbook says) or "runbook"
	// (the runbook's allow_self_approval decides).
	SelfApproval string `json:"self_approval,omitempty"`
	// Approvers, when set, restricts who may approve gates at all: an
	// approver must be one of these as well as one of the runbook's.
	Approvers *runbooks.Approvers `json:"approvers,omitempty"`
	// BreakGlassLeads is how many distinct leads must sign a break-glass
	// (default 1).
	BreakGlassLeads int `json:"break_glass_leads,omitempty"`
	// RequesterMayBreakGlass lets a lead who requested a run break-glass
	// it alone. Off by default: the requester's break-glass then needs a
	// second lead.
	RequesterMayBreakGlass bool `json:"requester_may_break_glass,omitempty"`
	// AllowJustifiedNoGate lets a vouched runbook run a destructive step
	// without a gate when the step carries a justification (approval:
	// none). Default on; a client's ad-hoc plan never may.
	AllowJustifiedNoGate *bool `json:"allow_justified_no_gate,omitempty"`
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
	// Actions are the requests its key may sign (DefaultGatewayActions
	// when empty). Break-glass only when listed.
	Actions []string `json:"actions,omitempty"`
}

// DefaultGatewayActions are what a gateway's key may sign unless the
// configuration says otherwise: decisions, a pause, and starting a run for
// the member it mapped (Slack's /cordon run). Break-glass and the other
// controls only when configured.
func DefaultGatewayActions() []string { return []string{ActApprove, ActDeny, ActPause, ActStart} }

// Roles.
const (
	RoleResponder = "responder"
	RoleLead      = "lead"
	// RoleIntake is the detection intake's identity: it may sign the start
	// of a run one of the plan's triggers allows, and nothing else (never a
	// decision at a gate, never a control).
	RoleIntake = "intake"
)

// ChannelIntake is the channel of the intake's requests: signed with the
// intake member's own key (no gateway may sign for it).
const ChannelIntake = "intake"

// Responds says whether m may start and steer runs (pause, resume, skip,
// abort): the responder or the lead role. The intake never does, whatever
// other role a roster gives it (the worker's configuration refuses that).
func (m Member) Responds() bool {
	return !m.IsIntake() && (slices.Contains(m.Roles, RoleResponder) || slices.Contains(m.Roles, RoleLead))
}

// Leads says whether m has the lead role (break-glass, ad-hoc plans); the
// intake never does.
func (m Member) Leads() bool {
	return !m.IsIntake() && slices.Contains(m.Roles, RoleLead)
}

// IsIntake says whether m is a detection intake: it may sign triggered
// starts and finding updates, nothing else.
func (m Member) IsIntake() bool { return slices.Contains(m.Roles, RoleIntake) }

// Request is a signed request from a person: the start of a run, a
// decision at a gate or a control over the run. The signature covers every
// field but itself. Nonce makes it single-use: a run refuses a nonce it
// has accepted before, on every channel.
type Request struct {
	RunID  string `json:"run_id"`
	Action string `json:"action"` // start, approve, deny, approve_all, pause, resume, skip, abort, finding_update
	Step   string `json:"step,omitempty"`
	// Item is the foreach item of the gate, when the step fans out.
	Item        int       `json:"item,omitempty"`
	PreviewHash string    `json:"preview_hash,omitempty"`
	Actor       string    `json:"actor"`   // roster member id
	Channel     string    `json:"channel"` // cli, slack, intake
	Reason      string    `json:"reason,omitempty"`
	Time        time.Time `json:"time"`
	Nonce       string    `json:"nonce,omitempty"`
	// A start request also binds what is started: the runbook, the plan
	// hash expected (empty: the worker's vouched version), the inputs
	// (InputsHash), the incident and whether it is a rehearsal.
	Runbook    string `json:"runbook,omitempty"`
	PlanHash   string `json:"plan_hash,omitempty"`
	InputsHash string `json:"inputs_hash,omitempty"`
	Incident   string `json:"incident,omitempty"`
	DryRun     bool   `json:"dry_run,omitempty"`
	// Force binds a start's --force (its reason is the request's Reason):
	// a second containment of a target is the signer's choice, not a
	// field any client can set.
	Force bool `json:"force,omitempty"`
	// Trigger and FindingsHash bind a start by a trigger: the plan's
	// trigger it was started under and what the run's findings hash to
	// (TriggerStart.FindingsHash).
	Trigger      string `json:"trigger,omitempty"`
	FindingsHash string `json:"findings_hash,omitempty"`
	Signature    string `json:"signature,omitempty"` // base64 of an SSH signature
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
	ActStart      = "start"
	// ActFindingUpdate is the intake's report of a finding update
	// (SignalFindingUpdate); its FindingsHash is FindingUpdate.Hash.
	ActFindingUpdate = "finding_update"
)

// RefusedRepeat starts the refusal of a signed request the run has already
// accepted once (its nonce is spent). Gateways that derive nonces from what
// they forward (the same Slack click, delivered twice) match on it to treat
// the repeat as delivered, not as an error.
const RefusedRepeat = "this signed request was already used"

// PlanGate is the key of the gate an ad-hoc plan waits at for a lead's
// approval of the plan itself (no step id can start with @).
const PlanGate = "@plan"

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
	Step        string        `json:"step"`
	Item        int           `json:"item,omitempty"`
	Key         string        `json:"key"`
	Status      GateStatus    `json:"status"`
	PreviewHash string        `json:"preview_hash"`
	Changes     []wire.Change `json:"changes"`
	// Unpreviewed marks a gate passed under break-glass without a preview:
	// PreviewHash and Changes are empty; the step's own result holds the
	// changes made.
	Unpreviewed bool `json:"unpreviewed,omitempty"`
	Approvers   runbooks.Approvers
	// SelfApproval says the run's requester may decide this gate (the
	// runbook allows it and the policy lets it): a client listing what
	// waits for someone cannot tell otherwise, the plan not being part of
	// the state.
	SelfApproval bool       `json:"self_approval,omitempty"`
	MinApprovals int        `json:"min_approvals"`
	Approvals    []Approval `json:"approvals"`
	Deadline     time.Time  `json:"deadline"`
	Escalated    bool       `json:"escalated,omitempty"`
	// Rule says which rule set the gate: the runbook's, or the
	// organisation's policy where it was stricter.
	Rule      string `json:"rule,omitempty"`
	DecidedBy string `json:"decided_by,omitempty"`
	Reason    string `json:"reason,omitempty"`
}

// StepState is one step's progress.
type StepState struct {
	ID        string         `json:"id"`
	Name      string         `json:"name,omitempty"`
	Phase     string         `json:"phase,omitempty"`
	Action    string         `json:"action,omitempty"`
	Uses      string         `json:"uses,omitempty"`
	Status    StepStatus     `json:"status"`
	Reason    string         `json:"reason,omitempty"`
	StartedAt time.Time      `json:"started_at,omitempty"`
	EndedAt   time.Time      `json:"ended_at,omitempty"`
	Outputs   map[string]any `json:"outputs,omitempty"`
	Items     int            `json:"items,omitempty"`
	Failed    int            `json:"failed,omitempty"`
	// FailedItems names the items of a foreach step that failed, in
	// order (the run is partial when a step tolerated them).
	FailedItems []FailedItem `json:"failed_items,omitempty"`
	Children    []string     `json:"children,omitempty"`
	Error       string       `json:"error,omitempty"`
	// ErrorDetail is the full error chain behind Error (a one-line
	// summary), for the JSON report.
	ErrorDetail string   `json:"error_detail,omitempty"`
	RequestIDs  []string `json:"request_ids,omitempty"`
}

// FailedItem is one item of a foreach step that did not succeed.
type FailedItem struct {
	Item  int    `json:"item"`
	Value string `json:"value,omitempty"` // the item (a host's instance id), as text
	Error string `json:"error,omitempty"`
}

// Event is one line of the timeline: every state change and decision.
// Beyond the common fields, an event carries what its kind records, typed
// (the fields a kind does not use are empty and left out of the JSON).
type Event struct {
	Time    time.Time `json:"time"`
	Kind    EventKind `json:"kind"`
	Step    string    `json:"step,omitempty"`
	Item    int       `json:"item,omitempty"`
	Actor   string    `json:"actor,omitempty"`
	Channel string    `json:"channel,omitempty"`
	Detail  string    `json:"detail,omitempty"`
	// Changes are what an action changed (action_done; in a rehearsal,
	// what it would change) or what a gate asks approval for
	// (gate_waiting; for the ad-hoc plan gate, the plan's differences).
	Changes []wire.Change `json:"changes,omitempty"`
	// RequestIDs are the AWS request ids of an action (action_done).
	RequestIDs []string `json:"request_ids,omitempty"`
	// Notes are the action's facts worth a line in the report
	// (action_done).
	Notes []string `json:"notes,omitempty"`
	// Artefacts are the evidence the action stored in the evidence store
	// (action_done): the report's chain of custody.
	Artefacts []wire.Artefact `json:"artefacts,omitempty"`
	// PreviewHash is the preview a gate shows or a decision binds to
	// (gate_waiting, approval, gate_approved, gate_still_approved).
	PreviewHash string `json:"preview_hash,omitempty"`
	// ApprovedPreviewHash is the preview approved before the world moved,
	// of which the current one is a part (gate_still_approved).
	ApprovedPreviewHash string `json:"approved_preview_hash,omitempty"`
	// BreakGlass marks a gate passed under a lead's break-glass
	// (gate_approved).
	BreakGlass bool `json:"break_glass,omitempty"`
	// Unpreviewed marks a break-glass pass without a preview: the
	// action_done that follows holds the changes made (gate_approved).
	Unpreviewed bool `json:"unpreviewed,omitempty"`
	// ErrorDetail is the full error chain behind Detail, a one-line
	// summary, when they differ (item_failed).
	ErrorDetail string `json:"error_detail,omitempty"`
	// Findings are the findings a triggered run acts on (triggered).
	Findings []TriggeredFinding `json:"findings,omitempty"`
}

// State is the query result: the whole run as the CLI, Slack and the
// report see it.
type State struct {
	Meta        RunMeta        `json:"meta"`
	Runbook     string         `json:"runbook"`
	PlanHash    string         `json:"plan_hash"`
	Inputs      map[string]any `json:"inputs"`
	Status      RunStatus      `json:"status"`
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
	// Provenance says where the plan came from and who vouched for it.
	Provenance *Provenance `json:"provenance,omitempty"`
	// Refusals are requests the workflow refused after they reached its
	// history (at the start, or when the live roster said no).
	Refusals []Refusal `json:"refusals,omitempty"`
	// FindingUpdates are the verified updates of the run's findings, in
	// the order received (Meta.Trigger holds the findings as started).
	FindingUpdates []FindingUpdate `json:"finding_updates,omitempty"`
}

// Provenance is the record of why the workflow trusted its plan and
// requester.
type Provenance struct {
	// Source is where the plan came from: the worker's runbook source
	// (file and sha256), or a client's plan.
	Source string `json:"source"`
	// Vouched says the worker's side holds this exact plan.
	Vouched bool `json:"vouched"`
	// VouchedHash is the hash of the worker's version of the same runbook,
	// when the run's plan is an ad-hoc one.
	VouchedHash string `json:"vouched_hash,omitempty"`
	// PlanApprovedBy is the lead who approved an ad-hoc plan.
	PlanApprovedBy string `json:"plan_approved_by,omitempty"`
	// Requester is who signed the start, and how it was verified.
	Requester     string `json:"requester"`
	Authenticated bool   `json:"authenticated"`
	// Initiator is "intake" when the detection intake signed the start
	// (a launch or dry_run trigger); empty when a person did.
	Initiator string `json:"initiator,omitempty"`
	// RosterVersion is the roster and policy the run started under.
	RosterVersion string `json:"roster_version,omitempty"`
	// Policy is the organisation's policy applied to the gates.
	Policy Policy `json:"policy"`
}

// Refusal is a refused attempt, for the team to see.
type Refusal struct {
	Time    time.Time `json:"time"`
	Action  string    `json:"action"`
	Actor   string    `json:"actor,omitempty"`
	Channel string    `json:"channel,omitempty"`
	Step    string    `json:"step,omitempty"`
	Reason  string    `json:"reason"`
}

// VouchRequest asks the worker's side to vouch for the plan of a run.
type VouchRequest struct {
	Runbook  string         `json:"runbook,omitempty"`
	PlanHash string         `json:"plan_hash,omitempty"`
	Plan     *runbooks.Plan `json:"plan,omitempty"`
	Inputs   map[string]any `json:"inputs,omitempty"`
	// InputArgs, when set, are resolved against the plan (text inputs).
	InputArgs map[string]string `json:"input_args,omitempty"`
	// DeferInstanceCheck says the run checks its instances itself once
	// the start is authenticated (ActivityCheckInstances): the vouch,
	// which runs before, calls no AWS. Unset by runs recorded before.
	DeferInstanceCheck bool `json:"defer_instance_check,omitempty"`
}

// CheckInstancesRequest asks the worker's side whether the EC2 instances
// the run's inputs name exist: Plan is the vouched plan, Inputs the
// inputs the vouch judged (resolved from text ones, defaults not filled).
type CheckInstancesRequest struct {
	Plan   *runbooks.Plan `json:"plan"`
	Inputs map[string]any `json:"inputs,omitempty"`
}

// CheckedInstances is the answer: Refusal, when set, is why the run must
// not start (an instance that does not exist), in the words the vouch
// used before the check moved after authentication.
type CheckedInstances struct {
	Refusal string `json:"refusal,omitempty"`
}

// VouchedPlan is the worker's answer: the plan to run and why, or why not.
type VouchedPlan struct {
	Plan    *runbooks.Plan `json:"plan,omitempty"`
	Vouched bool           `json:"vouched"`
	Source  string         `json:"source"`
	// Refusal, when set, is why the run must not start (an unknown
	// runbook, a hash that does not match, a destructive step without a
	// gate, inputs that do not fit).
	Refusal string `json:"refusal,omitempty"`
	// VouchedHash and Diff compare an ad-hoc plan with the source's
	// version of the same runbook, for the lead who must approve it.
	VouchedHash string        `json:"vouched_hash,omitempty"`
	Diff        []wire.Change `json:"diff,omitempty"`
	// Development says the worker accepts clients' plans as they are
	// (cordon dev only).
	Development bool `json:"development,omitempty"`
	// Inputs are the typed inputs resolved from the request's InputArgs.
	Inputs map[string]any `json:"inputs,omitempty"`
}

// GateNotice asks people to decide at a gate (or tells them it resolved).
type GateNotice struct {
	RunID     string        `json:"run_id"`
	Runbook   string        `json:"runbook"`
	Incident  string        `json:"incident,omitempty"`
	Requester string        `json:"requester"`
	Step      string        `json:"step"`
	StepName  string        `json:"step_name,omitempty"`
	Action    string        `json:"action"`
	Item      int           `json:"item,omitempty"`
	Kind      NoticeKind    `json:"kind"`
	Gate      GateState     `json:"gate"`
	Changes   []wire.Change `json:"changes"`
	To        runbooks.Approvers
	// Detection, for a run started from detections, says by what and
	// when: the message shows detection → gate.
	Detection *Detection `json:"detection,omitempty"`
}

// Detection is a triggered run in a few words, for a gate's notice: the
// trigger (Name and Mode), how many findings, what the first is (Type,
// Severity), and the clock from the earliest finding's Created and
// Received to the run's start and this gate's opening.
type Detection struct {
	Trigger     string    `json:"trigger"`
	Created     time.Time `json:"created"`
	Mode        string    `json:"mode"`
	Received    time.Time `json:"received"`
	Findings    int       `json:"findings"`
	Started     time.Time `json:"started"`
	Type        string    `json:"type,omitempty"`
	GateWaiting time.Time `json:"gate_waiting"`
	Severity    string    `json:"severity,omitempty"`
}
