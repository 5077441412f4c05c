package intake

import (
	"context"
	"log/slog"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/cordon-ir/cordon/actions"
	"github.com/cordon-ir/cordon/triggers"
	"github.com/cordon-ir/cordon/workflows"
)

// Names registered with Temporal.
const (
	// DefaultTaskQueue is the intake's own task queue; its workflows never
	// run on the containment workers' queue.
	DefaultTaskQueue = "cordon-intake"

	FindingWorkflowName = "cordon.intake.finding"
	BatchWorkflowName   = "cordon.intake.batch"
	BreakerWorkflowName = "cordon.intake.breaker"

	// SignalDelivery carries a Delivery to a finding workflow.
	SignalDelivery = "cordon.intake.delivery"
	// SignalJoin carries a Join to a batch workflow.
	SignalJoin = "cordon.intake.join"
	// SignalBatchNews carries a BatchNews from a batch to its members.
	SignalBatchNews = "cordon.intake.batch_news"
	// UpdateLaunch carries a responder's signed LaunchRequest to a
	// proposal (a finding or batch workflow).
	UpdateLaunch = "cordon.intake.launch"
	// UpdateAcquire asks a breaker for one launch (AcquireRequest).
	UpdateAcquire = "cordon.intake.acquire"
	// QueryFinding and QueryBatch answer a FindingState and a BatchState;
	// QueryOutcome answers what a finding workflow made of one delivery.
	QueryFinding = "cordon.intake.finding_state"
	QueryBatch   = "cordon.intake.batch_state"
	QueryOutcome = "cordon.intake.outcome"

	ActivityStartRun   = "cordon.intake.start_run"
	ActivityRunStatus  = "cordon.intake.run_status"
	ActivitySendUpdate = "cordon.intake.send_update"
	ActivityNotify     = "cordon.intake.notify"
	ActivityJoinBatch  = "cordon.intake.join_batch"
	ActivityAcquire    = "cordon.intake.acquire"
)

// Submission is one finding as the intake verified it, with what the
// triggers decided for it.
type Submission struct {
	Finding triggers.Finding
	// Decisions are the triggers' decisions; drops are ignored.
	Decisions  []triggers.Decision
	ReceivedAt time.Time
	// Via says how it arrived: sqs, https, test.
	Via string
	// DeliveryID is the SQS message id or the request id, for the record
	// only: the finding key, never the delivery, identifies the finding.
	DeliveryID string
}

// Outcome is what one submission did for one runbook.
type Outcome struct {
	// Action is one of Started, Joined, Proposed, Attached, Duplicate,
	// Notified, Accepted.
	Action string `json:"action"`
	// Runbook and Trigger are the decision's; FindingKey the finding's.
	Runbook    string `json:"runbook"`
	Trigger    string `json:"trigger,omitempty"`
	FindingKey string `json:"finding_key"`
	// WorkflowID is the finding workflow; RunID the run acting on the
	// finding, once there is one.
	WorkflowID string `json:"workflow_id"`
	RunID      string `json:"run_id,omitempty"`
	Reason     string `json:"reason,omitempty"`
	// Delivery is the submission's own id (one per Submit call).
	Delivery string `json:"delivery,omitempty"`
}

// Outcome actions: what a submission did for one runbook.
const (
	// Started: the first delivery of the finding; a run is being started.
	Started = "started"
	// Joined: the finding joined a batch that will start one run for many.
	Joined = "joined"
	// Proposed: a proposal waits for a responder (the trigger's mode, the
	// circuit breaker, or a batch above its ceiling).
	Proposed = "proposed"
	// Attached: a later update of the finding, sent to its run (or kept
	// for it until it starts).
	Attached = "attached"
	// Duplicate: a redelivery or another copy of a finding already handled.
	Duplicate = "duplicate"
	// Notified: an update after the finding's run ended: a notification,
	// never a new run.
	Notified = "notified"
	// Accepted: the finding workflow has the delivery durably but did not
	// say within Options.OutcomeWait what it made of it.
	Accepted = "accepted"
)

// Launcher is what the intake's I/O side submits verified findings to. An
// error means: try again later (an SQS message is then not deleted).
type Launcher interface {
	Submit(ctx context.Context, s Submission) ([]Outcome, error)
}

// Options configure the intake's Temporal side: NewLauncher reads the
// queue and the settings, NewWorker everything.
type Options struct {
	// TaskQueue is the intake's task queue (default DefaultTaskQueue).
	TaskQueue string
	// RunTaskQueue is the containment workers' task queue, where runs
	// start (default worker.DefaultTaskQueue).
	RunTaskQueue string
	// IntakeID is the intake's roster member id (role intake); Signer its
	// key. Starts and finding updates are signed with it.
	IntakeID string
	Signer   ssh.Signer
	// Notifier posts proposals and notices (the worker's Slack client);
	// nil: they are logged.
	Notifier actions.Notifier
	Logger   *slog.Logger
	// ProposalTimeout is how long a proposal waits for a launch (default
	// 24h).
	ProposalTimeout time.Duration
	// Remember is how long a finding workflow stays open after its run
	// ended, turning updates into notifications (default 7 days).
	Remember time.Duration
	// StatusEvery is the longest wait between two looks at a run's
	// progress (default 1m; the first looks are sooner).
	StatusEvery time.Duration
	// OutcomeWait is how long Submit waits for the finding workflow to
	// say what it made of a delivery (default 5s; the delivery is durable
	// before that, whatever the answer).
	OutcomeWait time.Duration
}

// Defaults of Options.
const (
	DefaultProposalTimeout = 24 * time.Hour
	DefaultRemember        = 7 * 24 * time.Hour
	DefaultStatusEvery     = time.Minute
	DefaultOutcomeWait     = 5 * time.Second
)

// Settings are the options a finding or batch workflow follows; they are
// recorded in its input, so a replay follows the same ones.
type Settings struct {
	ProposalTimeout time.Duration `json:"proposal_timeout"`
	Remember        time.Duration `json:"remember"`
	StatusEvery     time.Duration `json:"status_every"`
}

func (o Options) withDefaults() Options {
	if o.TaskQueue == "" {
		o.TaskQueue = DefaultTaskQueue
	}
	for _, d := range []struct {
		v   *time.Duration
		def time.Duration
	}{{&o.ProposalTimeout, DefaultProposalTimeout}, {&o.Remember, DefaultRemember}, {&o.StatusEvery, DefaultStatusEvery}} {
		if *d.v <= 0 {
			*d.v = d.def
		}
	}
	if o.OutcomeWait == 0 { // negative: do not wait
		o.OutcomeWait = DefaultOutcomeWait
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return o
}

func (o Options) settings() Settings {
	return Settings{ProposalTimeout: o.ProposalTimeout, Remember: o.Remember, StatusEvery: o.StatusEvery}
}

// FindingInput starts a finding workflow. The deliveries come as signals
// (the first with the start).
type FindingInput struct {
	Runbook  string   `json:"runbook"`
	Key      string   `json:"key"`
	Settings Settings `json:"settings"`
}

// Delivery is one submission of a finding to one runbook's finding
// workflow.
type Delivery struct {
	// ID is the submission's own id, for its outcome.
	ID         string            `json:"id"`
	Finding    triggers.Finding  `json:"finding"`
	Decision   triggers.Decision `json:"decision"`
	ReceivedAt time.Time         `json:"received_at"`
	Via        string            `json:"via,omitempty"`
	DeliveryID string            `json:"delivery_id,omitempty"`
}

// RunSpec is the run a finding or batch workflow starts, or proposes.
type RunSpec struct {
	// RunID is derived from the finding (or the batch): a retried start
	// cannot start a second run.
	RunID string `json:"run_id"`
	// Runbook is started by name from the worker's runbook source, which
	// must hold the plan the trigger was decided with (PlanHash).
	Runbook  string `json:"runbook"`
	PlanHash string `json:"plan_hash,omitempty"`
	// Inputs are the trigger's, typed and checked against the plan
	// (a batch's list holds every finding's item).
	Inputs map[string]any `json:"inputs"`
	// Incident is derived from the finding key (or the batch's).
	Incident string `json:"incident"`
	DryRun   bool   `json:"dry_run,omitempty"`
	// Trigger names the trigger and mode, and lists the findings; the
	// activity fills in the intake.
	Trigger workflows.TriggerStart `json:"trigger"`
}

// LaunchRequest is a responder's launch of a proposal: the run's start
// signed for exactly the proposed run (and, above a batch's ceiling, a
// lead's signed break-glass).
type LaunchRequest struct {
	Start      workflows.Request   `json:"start"`
	BreakGlass []workflows.Request `json:"break_glass,omitempty"`
}

// Proposal is a run that waits for a responder's launch.
type Proposal struct {
	// ID is the workflow to launch (cordon launch ID).
	ID string `json:"id"`
	// Run is the run a launch starts, as it must be signed (its id is a
	// new one after a refused launch; its trigger's mode is propose).
	Run     RunSpec  `json:"run"`
	Targets []string `json:"targets,omitempty"`
	// Reason says why it is a proposal.
	Reason string `json:"reason"`
	// NeedsBreakGlass: a lead must launch it with a signed break-glass
	// (a batch above its ceiling).
	NeedsBreakGlass bool            `json:"needs_break_glass,omitempty"`
	Created         time.Time       `json:"created"`
	Deadline        time.Time       `json:"deadline"`
	Attempts        []LaunchAttempt `json:"attempts,omitempty"`
}

// ProposalSummary is a proposal as cordon proposals lists it, from the
// memo of the workflow that proposes: small (Temporal warns above 2 KiB
// of memo), so without the inputs and findings, and with the first
// targets only. GetProposal reads the whole proposal.
type ProposalSummary struct {
	ID       string `json:"id"`
	Runbook  string `json:"runbook"`
	Trigger  string `json:"trigger"`
	RunID    string `json:"run_id"`
	DryRun   bool   `json:"dry_run,omitempty"`
	Findings int    `json:"findings"`
	// Targets are the first targets (TargetCount in all).
	Targets         []string  `json:"targets,omitempty"`
	TargetCount     int       `json:"target_count"`
	Reason          string    `json:"reason"`
	NeedsBreakGlass bool      `json:"needs_break_glass,omitempty"`
	Created         time.Time `json:"created"`
	Deadline        time.Time `json:"deadline"`
}

// summaryTargets is how many targets a ProposalSummary names.
const summaryTargets = 10

// Summary is the proposal as cordon proposals lists it.
func (p Proposal) Summary() ProposalSummary {
	return ProposalSummary{ID: p.ID, Runbook: p.Run.Runbook, Trigger: p.Run.Trigger.Name, RunID: p.Run.RunID, DryRun: p.Run.DryRun,
		Findings: len(p.Run.Trigger.Findings), Targets: p.Targets[:min(len(p.Targets), summaryTargets)], TargetCount: len(p.Targets),
		Reason: p.Reason, NeedsBreakGlass: p.NeedsBreakGlass, Created: p.Created, Deadline: p.Deadline}
}

// LaunchAttempt is one launch of a proposal and what became of it: how
// far its run got past its start checks (Progress.Refused, in the
// containment workflow's words, when it was refused).
type LaunchAttempt struct {
	Actor    string      `json:"actor"`
	RunID    string      `json:"run_id"`
	Time     time.Time   `json:"time"`
	Progress RunProgress `json:"progress"`
}

// Run phases, as a finding or batch workflow sees them.
const (
	PhaseStarting  = "starting"
	PhaseJoined    = "joined"
	PhaseGathering = "gathering"
	PhaseProposed  = "proposed"
	PhaseRunning   = "running"
	PhaseEnded     = "ended"
	PhaseRefused   = "refused"
	PhaseExpired   = "expired"
)

// Note is something a finding or batch workflow recorded.
type Note struct {
	Time time.Time `json:"time"`
	Text string    `json:"text"`
}

// Record is what finding and batch workflows keep alike.
type Record struct {
	WorkflowID string `json:"workflow_id"`
	Runbook    string `json:"runbook"`
	Trigger    string `json:"trigger"`
	Phase      string `json:"phase"`
	// RunID is the run acting on the finding(s), once there is one.
	RunID string `json:"run_id,omitempty"`
	// Proposal is the proposal waiting for a launch, if any.
	Proposal *Proposal `json:"proposal,omitempty"`
	Notes    []Note    `json:"notes,omitempty"`
}

// FindingState is a finding workflow's record (QueryFinding).
type FindingState struct {
	Record
	Mode string `json:"mode"`
	Key  string `json:"key"`
	// Finding is the finding as first received; Count and LastSeen are
	// the latest known.
	Finding  workflows.TriggeredFinding `json:"finding"`
	Count    int                        `json:"count"`
	LastSeen string                     `json:"last_seen,omitempty"`
	// Batch is the batch workflow the finding joined.
	Batch string `json:"batch,omitempty"`
	// RunStatus and RunError say how the run ended.
	RunStatus string `json:"run_status,omitempty"`
	RunError  string `json:"run_error,omitempty"`
	// Deliveries counts every delivery; Duplicates, Updates (sent to the
	// run or kept for it) and Notifications what they were.
	Deliveries    int       `json:"deliveries"`
	Duplicates    int       `json:"duplicates"`
	Updates       int       `json:"updates"`
	Notifications int       `json:"notifications"`
	Outcomes      []Outcome `json:"outcomes,omitempty"`
}

// BatchState is a batch workflow's record (QueryBatch).
type BatchState struct {
	Record
	Key string `json:"key"`
	// Members are the finding workflows gathered; Targets their items.
	Members []string `json:"members"`
	Targets []string `json:"targets"`
	// Late counts joins that came after the batch was decided; they
	// start the next batch.
	Late int `json:"late,omitempty"`
}
