package demo

import (
	"context"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/cordon-ir/cordon/actions"
	"github.com/cordon-ir/cordon/intake"
	"github.com/cordon-ir/cordon/intake/source"
	"github.com/cordon-ir/cordon/internal/awsemu"
	"github.com/cordon-ir/cordon/internal/detections"
	"github.com/cordon-ir/cordon/runbooks"
	"github.com/cordon-ir/cordon/triggers"
	"github.com/cordon-ir/cordon/worker"
	"github.com/cordon-ir/cordon/workflows"
)

// Where the story starts: AWS's abuse notice naming the compromised
// Confluence servers, and GuardDuty's findings about the same hosts,
// arrive on the SQS queue an EventBridge rule fills. The detection intake
// (cordon intake, in process, with a roster identity and a key of its
// own) fetches each finding again from its source, decides it against the
// example runbooks' triggers, and launches the fleet run through the
// fleet runbook's abuse-notice trigger.

const (
	// intakeID is the demo's detection intake, a roster member whose only
	// role is intake.
	intakeID = "cordon-intake"
	// abuseType is the abuse notice's Health event type code.
	abuseType = "AWS_ABUSE_EC2_PORT_SCANNING_REPORT"
	// queueName is the queue the EventBridge rule targets.
	queueName = "cordon-findings"
)

// KindDetection is a finding the intake handled: Host is the instance it
// is about, Detail what the triggers did with it, Data the finding and the
// outcomes.
const KindDetection workflows.EventKind = "demo_detection"

// detectionEvent is one event as EventBridge delivers it.
type detectionEvent struct {
	what string
	body []byte
}

// seedDetections puts the story's findings where their sources keep them
// (GuardDuty's detector, AWS Health) and returns their EventBridge events:
// GuardDuty saw every compromised host port-scanning the internet (a
// medium finding: nobody acts on it alone, as nobody did in the
// incident), then AWS's abuse notice named them.
func seedDetections(emu *awsemu.Emulator, story Story, now time.Time) ([]detectionEvent, error) {
	var out []detectionEvent
	for i, id := range story.Compromised {
		body, err := detections.PutGuardDuty(emu, detections.GuardDuty{Instance: id, Type: "Recon:EC2/Portscan", Severity: 5,
			Count: 40 + i, FirstSeen: now.Add(-6 * time.Hour), Now: now})
		if err != nil {
			return nil, err
		}
		out = append(out, detectionEvent{what: "GuardDuty Recon:EC2/Portscan on " + id, body: body})
	}
	body, err := detections.PutAbuse(emu, detections.Abuse{TypeCode: abuseType, Instances: story.Compromised, Start: now,
		Description: "We have received reports that your EC2 instances are port-scanning remote hosts on the Internet. " +
			"Abusive activity is forbidden by the AWS Acceptable Use Policy."})
	if err != nil {
		return nil, err
	}
	return append(out, detectionEvent{what: "AWS's abuse notice naming " + strings.Join(story.Compromised, " "), body: body}), nil
}

// detection is the demo's intake and what it did.
type detection struct {
	p   *progress
	emu *awsemu.Emulator
	c   client.Client

	mu sync.Mutex
	// acting are the finding workflows the intake submitted findings to.
	acting map[string]bool
	// fleet are the findings of the fleet runbook's trigger.
	fleet []string
	// findings counts the findings handled.
	findings int
}

func (d *detection) findingCount() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.findings
}

// start runs the intake (intake.Service, as cordon intake does) on the
// stage until ctx ends; stop waits for it.
func (d *detection) start(ctx context.Context, o Options, box *stage) (stop func(), queueURL string, err error) {
	dlq, err := d.emu.CreateQueue("", "", queueName+"-dlq", nil)
	if err != nil {
		return nil, "", fmt.Errorf("create the dead-letter queue: %w", err)
	}
	q, err := d.emu.Queue(dlq)
	if err != nil {
		return nil, "", err
	}
	queueURL, err = d.emu.CreateQueue("", "", queueName, map[string]string{
		"RedrivePolicy": fmt.Sprintf(`{"deadLetterTargetArn":%q,"maxReceiveCount":5}`, q.ARN)})
	if err != nil {
		return nil, "", fmt.Errorf("create the findings queue: %w", err)
	}
	cfg := *box.config
	cfg.AWS.Accounts = map[string]worker.AccountConfig{"production": {AccountID: d.emu.AccountID()}}
	cfg.Intake = worker.IntakeConfig{Member: intakeID, QueueURL: queueURL, TaskQueue: box.taskQueue + "-intake"}
	base := d.emu.AWSConfig()
	svc, err := intake.NewService(ctx, intake.ServiceOptions{Config: &cfg, Client: d.c, Signer: box.intake.signer,
		Notifier: incidentChannel{p: d.p}, AWS: &base, Logger: o.Logger, OnHandled: d.handled,
		// The finding workflows look at their run often: the demo is short.
		Tune: func(io *intake.Options) { io.StatusEvery = time.Second }})
	if err != nil {
		return nil, "", fmt.Errorf("start the detection intake: %w", err)
	}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- svc.Run(ctx) }()
	return func() {
		cancel()
		if err := <-done; err != nil {
			o.Logger.Warn("demo: the intake stopped with an error", "err", err)
		}
	}, queueURL, nil
}

// handled shows what the intake did with a delivered event, a line per
// finding, and remembers which finding workflows act.
func (d *detection) handled(in intake.Received, h intake.Handled, err error) {
	if err != nil {
		d.p.event(Event{Time: time.Now(), Kind: KindError, Detail: fmt.Sprintf("the intake could not handle message %s: %v", in.DeliveryID, err)})
		return
	}
	for _, f := range h.Findings {
		d.mu.Lock()
		d.findings++
		for _, o := range f.Outcomes {
			d.acting[o.WorkflowID] = true
			if o.Runbook == fleetRunbookName && o.Action == intake.Joined {
				d.fleet = append(d.fleet, o.WorkflowID)
			}
		}
		d.mu.Unlock()
		what := fmt.Sprintf("%s %s", f.Finding.Source, f.Finding.Type)
		if f.Finding.Severity != "" {
			what += " (" + f.Finding.Severity + ")"
		}
		d.p.event(Event{Time: in.At, Kind: KindDetection, Host: f.Finding.InstanceID, Actor: intakeID,
			Detail: what + ": " + verdict(f), Data: map[string]any{"finding": f.Finding.Key, "via": in.Via, "message": in.DeliveryID,
				"dropped": f.Dropped, "decisions": f.Decisions, "outcomes": f.Outcomes}})
	}
}

// fleetRunbookName is the fleet runbook's name (its file is fleetRunbook).
const fleetRunbookName = "confluence-cve-2021-26084"

// verdict says in a line what became of a finding: each runbook that acts
// and how, else why nothing does.
func verdict(f intake.HandledFinding) string {
	if f.Dropped != "" {
		return "dropped: " + f.Dropped
	}
	var acts, drops []string
	for _, d := range f.Decisions {
		if d.Decision == triggers.Drop {
			if d.Runbook != "" {
				drops = append(drops, d.Runbook+": "+d.Reason)
			}
			continue
		}
		// What the intake's Temporal side made of it; a rehearsal has
		// only the decision.
		act := d.Runbook + " would " + d.Decision
		for _, o := range f.Outcomes {
			if o.Runbook == d.Runbook && o.Trigger == d.Trigger {
				act = d.Runbook + " " + o.Action
			}
		}
		acts = append(acts, act)
	}
	if len(acts) > 0 {
		return strings.Join(acts, "; ")
	}
	return "no trigger acts (" + strings.Join(drops, "; ") + ")"
}

// fleetRun waits for the fleet run the intake started for the abuse
// notice's findings (once the trigger's window has gathered them).
func (d *detection) fleetRun(ctx context.Context, wait time.Duration) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	for {
		d.mu.Lock()
		members := append([]string(nil), d.fleet...)
		d.mu.Unlock()
		for _, id := range members {
			var s intake.FindingState
			if v, err := d.c.QueryWorkflow(ctx, id, "", intake.QueryFinding); err == nil && v.Get(&s) == nil && s.RunID != "" {
				return s.RunID, nil
			}
		}
		select {
		case <-ctx.Done():
			return "", fmt.Errorf("the intake started no fleet run for the abuse notice within %s (findings gathered: %d)", wait, len(members))
		case <-time.After(refresh):
		}
	}
}

// runsStarted are the runs acting on the findings the intake submitted
// (proposals waiting for a responder are not runs).
func (d *detection) runsStarted(ctx context.Context) ([]string, error) {
	d.mu.Lock()
	var ids []string
	for id := range d.acting {
		ids = append(ids, id)
	}
	d.mu.Unlock()
	var runs []string
	for _, id := range ids {
		var s intake.FindingState
		v, err := d.c.QueryWorkflow(ctx, id, "", intake.QueryFinding)
		if err == nil {
			err = v.Get(&s)
		}
		if err != nil {
			return nil, fmt.Errorf("ask finding workflow %s what it started: %w", id, err)
		}
		if s.RunID != "" && !has(runs, s.RunID) {
			runs = append(runs, s.RunID)
		}
	}
	sort.Strings(runs)
	return runs, nil
}

// checkOneRun is the final check's claim that the findings started
// exactly one run: the fleet run.
func checkOneRun(runs []string, fleetRunID string, findings int) CheckItem {
	var bad []string
	for _, r := range runs {
		if r != fleetRunID {
			bad = append(bad, "run "+r+" was started too")
		}
	}
	if !has(runs, fleetRunID) {
		bad = append(bad, "the fleet run "+fleetRunID+" is not the findings' run")
	}
	return item("the findings started exactly one run", bad, fmt.Sprintf("fleet run %s, from %d findings on the queue", fleetRunID, findings))
}

// rehearseDetections decides the story's events as the intake would
// (each finding fetched again from its source), submitting nothing, and
// returns the hosts the fleet trigger would gather: a rehearsal starts
// nothing from detections.
func rehearseDetections(ctx context.Context, d *detection, plans []*runbooks.Plan, events []detectionEvent, logger *slog.Logger) ([]string, error) {
	src := source.New(actions.NewAWSClientSource(actions.AWSOptions{Base: d.emu.AWSConfig(), Endpoint: d.emu.URL()}), "intake")
	r, err := intake.NewReceiver(intake.ReceiverOptions{Plans: func(context.Context) ([]*runbooks.Plan, error) { return plans, nil },
		Source: src, Accounts: source.NewAccounts(map[string]string{d.emu.AccountID(): "production"}), OnHandled: d.handled,
		Logger: logger})
	if err != nil {
		return nil, err
	}
	var hosts []string
	for _, ev := range events {
		h, err := r.Receive(ctx, intake.Received{Body: ev.body, Via: "rehearsal"})
		if err != nil {
			return nil, fmt.Errorf("decide %s: %w", ev.what, err)
		}
		for _, f := range h.Findings {
			for _, dec := range f.Decisions {
				if dec.Runbook == fleetRunbookName && dec.Batch != nil && dec.Decision != triggers.Drop {
					hosts = append(hosts, fmt.Sprint(dec.Batch.Item))
				}
			}
		}
	}
	return hosts, nil
}

func has(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// fleetTrigger is the fleet runbook's trigger that launches the story's
// run (the abuse notice's), and its window.
func fleetTrigger(plan *runbooks.Plan) (string, time.Duration) {
	for _, t := range plan.Triggers {
		if t.Mode == runbooks.ModeLaunch && t.Aggregate != nil {
			return t.Name, time.Duration(t.Aggregate.Window)
		}
	}
	return "", 0
}

// detectAndFollow starts the intake, puts the story's events on its
// queue, and follows the fleet run it launches. stop stops the intake.
func detectAndFollow(ctx context.Context, o Options, box *stage, d *detection, f *follower, plan *runbooks.Plan, events []detectionEvent) (stop func(), fleet runRecord, err error) {
	name, window := fleetTrigger(plan)
	if name == "" {
		return func() {}, fleet, fmt.Errorf("%s has no launch trigger with aggregate: the demo starts from its detections", fleetRunbook)
	}
	stop, queueURL, err := d.start(ctx, o, box)
	if err != nil {
		return func() {}, fleet, err
	}
	d.p.say("\n== 1/3  Detection: %d events on the SQS queue %s, read by the intake %s (its own key %s)", len(events), queueName, intakeID, box.intake.fingerprint)
	for _, ev := range events {
		if _, err := d.emu.SendToQueue(queueURL, string(ev.body)); err != nil {
			return stop, fleet, fmt.Errorf("put %s on the queue: %w", ev.what, err)
		}
	}
	d.p.say("   each finding is fetched again from GuardDuty or AWS Health before anything acts on it; trigger %s of %s gathers the abuse notice's hosts for %s, then launches one fleet run",
		name, fleetRunbookName, window)
	runID, err := d.fleetRun(ctx, window+2*time.Minute)
	if err != nil {
		return stop, fleet, err
	}
	d.p.say("\n== 2/3  Contain the Confluence fleet: the run %s launched from the abuse notice", intakeID)
	fleet, err = f.follow(ctx, runID, plan.ContentHash(), box.intake.fingerprint, "CVE-2021-26084 fleet")
	return stop, fleet, err
}

// rehearseFleet decides the story's events as the intake would, and
// rehearses the fleet run the trigger would launch, started by the
// requester: a rehearsal launches nothing from detections, and deletes
// nothing from a queue (it reads none: the events are decided as they
// are).
func rehearseFleet(ctx context.Context, o Options, box *stage, d *detection, f *follower, plan *runbooks.Plan, events []detectionEvent) (runRecord, error) {
	plans, err := box.config.PlanSource().Plans()
	if err != nil {
		return runRecord{}, err
	}
	d.p.say("\n== 1/3  Detection (rehearsal): %d events decided as the intake would, each finding fetched again from its source; nothing is launched", len(events))
	hosts, err := rehearseDetections(ctx, d, plans, events, o.Logger)
	if err != nil {
		return runRecord{}, err
	}
	if len(hosts) == 0 {
		// An empty list would mean every Confluence server: never by accident.
		return runRecord{}, fmt.Errorf("the rehearsal of the detections gathered no host for %s", fleetRunbookName)
	}
	inputs, err := plan.ResolveInputs(map[string]string{"compromised": strings.Join(hosts, ",")})
	if err != nil {
		return runRecord{}, fmt.Errorf("inputs of %s: %w", fleetRunbook, err)
	}
	d.p.say("\n== 2/3  Contain the Confluence fleet (rehearsal of the run the abuse notice would launch): %s --dry-run --input compromised=%s",
		fleetRunbook, strings.Join(hosts, ","))
	return f.run(ctx, box.taskQueue, plan, inputs, true, "CVE-2021-26084 fleet")
}
