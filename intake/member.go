package intake

import (
	"fmt"
	"maps"
	"time"

	"go.temporal.io/sdk/workflow"

	"github.com/cordon-ir/cordon/workflows"
)

// What a finding workflow does with later deliveries, and as the member
// of a batch.

// later handles a delivery after the first: a duplicate, or an update
// that goes to the run (kept for it until it starts), or, once the run
// has ended, a notification.
func (f *findingRun) later(ctx workflow.Context, d Delivery) {
	f.state.Deliveries++
	o := Outcome{Trigger: d.Decision.Trigger, Delivery: d.ID}
	if !f.newer(d) {
		f.state.Duplicates++
		o.Action = Duplicate
		o.Reason = fmt.Sprintf("already received (count %d): delivery %d of this finding", f.state.Count, f.state.Deliveries)
		if d.Decision.Trigger != f.state.Trigger {
			o.Reason = fmt.Sprintf("runbook %s already acts on this finding through trigger %s", f.in.Runbook, f.state.Trigger)
		}
		f.record(o)
		return
	}
	f.state.Count = max(f.state.Count, d.Finding.Count)
	if after(d.Finding.LastSeen, f.state.LastSeen) {
		f.state.LastSeen = d.Finding.LastSeen
	}
	u := workflows.FindingUpdate{Key: f.in.Key, Count: f.state.Count, LastSeen: f.state.LastSeen, Received: d.ReceivedAt.UTC()}
	switch f.state.Phase {
	case PhaseStarting, PhaseJoined, PhaseProposed:
		f.state.Updates++
		f.pending = &u
		o.Action, o.Reason = Attached, "kept for the finding's run, which gets it once it starts"
	case PhaseRunning:
		if f.forward(ctx, u) {
			o.Action, o.Reason = Attached, "sent to run "+f.state.RunID
			break
		}
		o.Action, o.Reason = Notified, f.stillActive(ctx, u)
	default:
		o.Action, o.Reason = Notified, f.stillActive(ctx, u)
	}
	f.record(o)
}

// newer says whether d is an update of the finding: a higher count or a
// later last-seen than known.
func (f *findingRun) newer(d Delivery) bool {
	return d.Finding.Count > f.state.Count || after(d.Finding.LastSeen, f.state.LastSeen)
}

// after says whether RFC 3339 time a is later than b (an unreadable or
// missing a is not).
func after(a, b string) bool {
	ta, err := time.Parse(time.RFC3339, a)
	if err != nil {
		return false
	}
	tb, err := time.Parse(time.RFC3339, b)
	return err != nil || ta.After(tb)
}

// forward sends an update to the running run; false when the run has
// ended meanwhile.
func (f *findingRun) forward(ctx workflow.Context, u workflows.FindingUpdate) bool {
	var delivered bool
	req := SendUpdateRequest{RunID: f.state.RunID, Update: u}
	err := workflow.ExecuteActivity(withActivity(ctx, "finding update to run "+f.state.RunID), ActivitySendUpdate, req).Get(ctx, &delivered)
	if err != nil {
		f.state.note(ctx, "update (count %d) not sent to run %s: %v", u.Count, f.state.RunID, err)
		return false
	}
	if delivered {
		f.state.Updates++
	}
	return delivered
}

// stillActive tells the team that the finding is updated although its
// run has ended (or was refused, or never launched), and says so.
func (f *findingRun) stillActive(ctx workflow.Context, u workflows.FindingUpdate) string {
	f.state.Notifications++
	after := "its proposal expired without a launch"
	switch {
	case f.state.Phase == PhaseRefused:
		after = fmt.Sprintf("its run %s was refused (%s)", f.state.RunID, f.state.RunError)
	case f.state.RunID != "":
		after = fmt.Sprintf("its run %s has ended", f.state.RunID)
		if f.state.RunStatus != "" {
			after += " " + f.state.RunStatus
		}
	}
	text := fmt.Sprintf("Finding still active after containment: %s, count %d, last seen %s; %s. Cordon starts no new run for it.",
		describeFinding(f.state.Finding), u.Count, u.LastSeen, after)
	notify(ctx, Notice{Text: text, Severity: "warning", RunID: f.state.RunID})
	return text
}

// BatchNews is what a batch tells its members.
type BatchNews struct {
	// Phase is the batch's: proposed, running, refused or expired.
	Phase   string `json:"phase"`
	RunID   string `json:"run_id,omitempty"`
	Refused string `json:"refused,omitempty"`
}

// JoinRequest asks the intake's worker to add a finding to its batch,
// starting the batch when it is the first.
type JoinRequest struct {
	BatchID string     `json:"batch_id"`
	Input   BatchInput `json:"input"`
	Join    Join       `json:"join"`
}

// joinBatch gives the finding to its batch and waits for the batch to say
// which run acts on it.
func (f *findingRun) joinBatch(ctx workflow.Context, d Delivery) error {
	b := d.Decision.Batch
	batchID := BatchWorkflowID(workflow.GetInfo(ctx).TaskQueueName, b.Key)
	others := maps.Clone(d.Decision.Inputs)
	delete(others, b.Into)
	in := BatchInput{Key: b.Key, Runbook: f.in.Runbook, Trigger: d.Decision.Trigger, Mode: d.Decision.Decision,
		PlanHash: d.Decision.PlanHash, Inputs: others, Into: b.Into, Window: time.Duration(b.Window), MaxTargets: b.MaxTargets,
		MaxLaunchesPerHour: d.Decision.MaxLaunchesPerHour, Settings: f.in.Settings}
	req := JoinRequest{BatchID: batchID, Input: in, Join: Join{Member: f.state.WorkflowID, Finding: f.state.Finding, Item: b.Item}}
	f.state.Batch, f.state.Phase, f.prop.batch = batchID, PhaseJoined, batchID
	if err := workflow.ExecuteActivity(withActivity(ctx, "join batch "+batchID), ActivityJoinBatch, req).Get(ctx, nil); err != nil {
		return fmt.Errorf("join batch %s: %w", batchID, err)
	}
	f.record(Outcome{Action: Joined, Trigger: d.Decision.Trigger, Delivery: d.ID,
		Reason: fmt.Sprintf("batch %s gathers the findings of %s for %s", batchID, b.Key, time.Duration(b.Window))})

	// The batch answers within its window, or, proposed, by its deadline;
	// a batch that never answers (terminated) does not hold this finding
	// for ever.
	news := workflow.GetSignalChannel(ctx, SignalBatchNews)
	give := time.Duration(b.Window) + f.in.Settings.ProposalTimeout + time.Hour
	timer := workflow.NewTimerWithOptions(ctx, give, workflow.TimerOptions{Summary: "waiting for batch " + batchID})
	for {
		var n BatchNews
		timedOut := false
		sel := workflow.NewSelector(ctx)
		sel.AddReceive(news, func(c workflow.ReceiveChannel, _ bool) { c.Receive(ctx, &n) })
		sel.AddFuture(timer, func(workflow.Future) { timedOut = true })
		sel.Select(ctx)
		switch {
		case timedOut:
			f.state.Phase = PhaseExpired
			f.state.note(ctx, "batch %s never said which run acts on this finding", batchID)
			return nil
		case n.RunID != "":
			p := RunProgress{Phase: ProgressRunning, Refused: n.Refused}
			f.runKnown(ctx, n.RunID, p, false)
			return nil
		case n.Phase == PhaseExpired:
			f.state.Phase = PhaseExpired
			f.state.note(ctx, "batch %s's proposal expired without a launch", batchID)
			return nil
		case n.Phase == PhaseProposed:
			f.state.Phase = PhaseProposed
		}
	}
}
