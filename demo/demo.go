package demo

import (
	"bufio"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/cordon-ir/cordon/actions"
	"github.com/cordon-ir/cordon/evidence"
	"github.com/cordon-ir/cordon/internal/sandbox"
	"github.com/cordon-ir/cordon/runbooks"
	"github.com/cordon-ir/cordon/worker"
	"github.com/cordon-ir/cordon/workflows"
)

// The demo's cast and case.
const (
	requesterID = "you"
	leadID      = "demo-lead"
	incidentID  = "DEMO-CVE-2021-26084"

	fleetRunbook = "confluence-cve-2021-26084.yaml"
	keyRunbook   = "iam-credential-compromise.yaml"
)

// Options configure Run. The zero value is not usable: Stdout is required.
type Options struct {
	// Yes approves every gate as the demo lead without asking.
	Yes bool
	// DryRun rehearses: no gate waits, nothing changes, the plan of
	// changes is printed and the check is that nothing was mutated.
	DryRun bool
	// Mode is how progress is shown (Live needs a terminal on Stdout).
	Mode Mode
	// NoColor draws the live board and the check without ANSI colours
	// (the CLI sets it from NO_COLOR, https://no-color.org).
	NoColor bool

	Stdout io.Writer
	// Stdin answers gate prompts; StdinTerminal says a person is there.
	// Without one (and without Yes) Run refuses with ErrNobodyToAsk.
	Stdin         io.Reader
	StdinTerminal bool
	// Prompts is where gate prompts go (default Stdout; the CLI sends them
	// to stderr with --json so stdout stays one JSON object per line).
	Prompts io.Writer

	// Examples is the directory holding the example runbooks (default "examples").
	Examples string
	// ReportDir is where the PIR report is written (default ".cordon/reports").
	ReportDir string
	// Logger receives the infrastructure's own logs (Temporal server and
	// SDK, emulator); default: discarded, so the demo's output stays readable.
	Logger *slog.Logger
	// Temporal, when set, is a running Temporal server to use instead of
	// starting one in process (tests share one server across runs).
	Temporal *worker.TemporalConfig
	// PollInterval is how often snapshot waits poll the emulator (default 100ms).
	PollInterval time.Duration
}

// Result is what a demo run did.
type Result struct {
	// Incident is the runs' incident, and the evidence store's case: the
	// one the intake opened for the detections (a rehearsal's, the
	// demo's own).
	Incident   string
	FleetRunID string
	KeyRunID   string
	// Report is the path of the Markdown PIR report.
	Report string
	Check  Checklist
	// Evidence is the verification of the case's evidence, by the code of
	// cordon evidence verify (empty in a rehearsal).
	Evidence evidence.Verification
	// Elapsed is from the start of Run to the end of the check.
	Elapsed time.Duration
}

// Run runs the whole demo and returns its result; the caller exits 0 only
// if Result.Check.OK(). Errors are infrastructure or input problems,
// ErrNobodyToAsk when gates would wait for nobody, ErrNoAnswer when the
// input ended at a prompt, and ErrInterrupted when ctx ended (Ctrl-C):
// by then the in-process server is stopped.
func Run(ctx context.Context, o Options) (res Result, err error) {
	// Registered first, so it runs last: after the stage is closed.
	defer func() {
		if err != nil && ctx.Err() != nil && !errors.Is(err, ErrNoAnswer) {
			err = ErrInterrupted
		}
	}()
	start := time.Now()
	o = withDefaults(o)
	if !o.Yes && !o.DryRun && !o.StdinTerminal {
		return Result{}, ErrNobodyToAsk
	}
	source, removeSource, err := demoSource(o.Examples)
	if err != nil {
		return Result{}, err
	}
	defer removeSource()
	fleetPlan, keyPlan, err := compileStory(source)
	if err != nil {
		return Result{}, err
	}
	p := newProgress(o.Mode, o.Stdout)
	p.colour = !o.NoColor
	box, err := startStage(ctx, o, source, p, fleetPlan, keyPlan)
	if err != nil {
		return Result{}, err
	}
	defer box.Close()
	story, err := SeedStory(box.Emulator(), time.Now())
	if err != nil {
		return Result{}, err
	}
	if err := registerAgents(box.Emulator(), story); err != nil {
		return Result{}, err
	}
	events, err := seedDetections(box.Emulator(), story, time.Now())
	if err != nil {
		return Result{}, err
	}
	before := box.Emulator().State()
	if o.Mode == JSON {
		p.event(Event{Time: time.Now(), Kind: KindStarted, Detail: "cordon demo", Data: map[string]any{
			"dry_run": o.DryRun, "auto_approve": o.Yes, "approver": leadID, "requester": requesterID, "temporal": box.Temporal().Address,
			"aws_emulator": box.Emulator().URL(), "compromised": story.Compromised, "leaked_key": story.LeakedKeyID, "lead_key": box.lead.fingerprint,
			"requester_key": box.requester.fingerprint, "intake": intakeID, "intake_key": box.intake.fingerprint, "runbook_source": o.Examples}})
	} else {
		intro(p, o, box, story)
	}

	var d decider = autoApprove{}
	if !o.Yes {
		d = &prompter{in: bufio.NewReader(o.Stdin), out: o.Prompts}
	}
	f := &follower{c: box.Client(), p: p, decide: d, requester: box.requester, lead: box.lead.signer, interactive: !o.Yes, incident: incidentID}

	// 1. Detection: the findings arrive; the intake launches the fleet run
	// (a rehearsal decides them and rehearses that run).
	det := &detection{p: p, emu: box.Emulator(), c: box.Client(), acting: map[string]bool{}}
	stopIntake := func() {}
	defer func() { stopIntake() }()
	var fleet runRecord
	if o.DryRun {
		fleet, err = rehearseFleet(ctx, o, box, det, f, fleetPlan, events)
	} else {
		stopIntake, fleet, err = detectAndFollow(ctx, o, box, det, f, fleetPlan, events)
	}
	if err != nil {
		return res, err
	}
	res.FleetRunID = fleet.state.Meta.RunID
	// The leaked key is the same incident as the fleet: the one the intake
	// opened for the abuse notice (a rehearsal's is the demo's own), so
	// that its evidence and the hosts' are one case.
	f.incident, res.Incident = fleet.state.Meta.Incident, fleet.state.Meta.Incident

	// 3. Then the leaked key: once the hosts are cut off, the attacker's
	// remaining way in is the CI user's key they read on a host.
	keyInputs, err := keyPlan.ResolveInputs(map[string]string{
		"access_key_id": story.LeakedKeyID, "compromised_since": story.CompromisedSince.Format(time.RFC3339)})
	if err != nil {
		return res, fmt.Errorf("inputs of %s: %w", keyRunbook, err)
	}
	p.say("\n== 3/3  Contain the leaked access key: %s --input access_key_id=%s --input compromised_since=%s",
		filepath.Join(o.Examples, keyRunbook), story.LeakedKeyID, story.CompromisedSince.Format(time.RFC3339))
	key, err := f.run(ctx, box.taskQueue, keyPlan, keyInputs, o.DryRun, "leaked key of "+story.LeakedUser)
	if err != nil {
		return res, err
	}
	res.KeyRunID = key.state.Meta.RunID

	// 4. The record and the check.
	if o.DryRun {
		res.Check = CheckRehearsal(box.Emulator().Calls(), box.Emulator().Mutations())
	} else {
		after := box.Emulator().State()
		forensic, _ := box.Emulator().AccountState(forensicAccountID)
		v, verr := verifyEvidence(ctx, box.clients, box.forensics, res.Incident)
		res.Evidence = v
		did := forensicChecks{memory: usesAction(fleetPlan, "aws.ssm.capture_memory"), handover: usesAction(fleetPlan, "aws.ec2.handover_snapshots")}
		res.Check = append(CheckContained(story, before, after), CheckEvidence(story, did, after, forensic, v, verr)...)
		runs, err := det.runsStarted(ctx)
		if err != nil {
			return res, err
		}
		res.Check = append(res.Check, checkOneRun(runs, res.FleetRunID, det.findingCount()))
	}
	if res.Report, err = writeReport(o.ReportDir, []runRecord{fleet, key}, res.Check); err != nil {
		return res, err
	}
	res.Elapsed = time.Since(start)
	finish(p, o, fleet, key, res)
	return res, nil
}

func withDefaults(o Options) Options {
	if o.Examples == "" {
		o.Examples = "examples"
	}
	if o.ReportDir == "" {
		o.ReportDir = filepath.Join(".cordon", "reports")
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Stdin == nil {
		o.Stdin = strings.NewReader("")
	}
	if o.Prompts == nil {
		o.Prompts = o.Stdout
	}
	if o.PollInterval <= 0 {
		o.PollInterval = 100 * time.Millisecond
	}
	return o
}

// compileStory compiles the two runbooks the story uses, with every
// example available to uses:.
func compileStory(dir string) (fleet, key *runbooks.Plan, err error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil || len(files) == 0 {
		return nil, nil, fmt.Errorf("no runbooks in %s: run cordon demo from the repository root, or pass --examples DIR", dir)
	}
	compiler := runbooks.NewCompiler(actions.Catalog(), runbooks.NewDirResolver(files...))
	var plans []*runbooks.Plan
	for _, name := range []string{fleetRunbook, keyRunbook} {
		path := filepath.Join(dir, name)
		src, err := os.ReadFile(path)
		if err != nil {
			return nil, nil, fmt.Errorf("read runbook %s (run cordon demo from the repository root, or pass --examples DIR): %w", path, err)
		}
		plan, diags := compiler.Compile(path, src)
		if plan == nil {
			return nil, nil, fmt.Errorf("compile %s: %w", path, diags)
		}
		plans = append(plans, plan)
	}
	return plans[0], plans[1], nil
}

// stage is everything the demo runs on: the sandbox (Temporal, the
// emulator and a worker), the two people of its roster, and the forensic
// account the worker keeps the evidence in.
type stage struct {
	*sandbox.Sandbox
	taskQueue string
	// config is the demo worker's configuration.
	config *worker.Config
	// requester signs the starts, lead the decisions at gates, intake the
	// starts of runs detections launch.
	requester, lead, intake demoKey
	forensics               Forensics
	// clients reach the emulator as the worker does, its accounts included.
	clients actions.ClientSource
}

// demoKey is a roster member's key that exists only for one demo:
// signatures are required exactly as in production, but nobody's real
// key is used.
type demoKey struct {
	signer ssh.Signer
	// fingerprint is the key's SHA256 fingerprint.
	fingerprint string
}

// startStage starts the sandbox and the demo's worker: a production
// roster (signatures required, the default), with keys generated for this
// demo: the requester signs the starts, the lead the decisions. The worker
// vouches for the runbooks in the examples directory, the same files the
// demo compiles, so the starts run without a lead's approval of the plan.
// It keeps evidence in the forensic account seeded here, with the policies
// `cordon policy` prints for plans. The worker vouches for the runbooks
// in source (the demo's copy of the examples, see demoSource).
func startStage(ctx context.Context, o Options, source string, p *progress, plans ...*runbooks.Plan) (w *stage, err error) {
	if o.Temporal == nil && o.Mode != JSON {
		p.say("Starting an in-process Temporal server (in memory, 127.0.0.1 only)…")
	}
	box, err := sandbox.Start(ctx, sandbox.Options{Logger: o.Logger, Temporal: o.Temporal})
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			_ = box.Close()
		}
	}()
	// A task queue of its own, so a demo never shares work with another
	// worker on the same server (tests run several demos on one server).
	w = &stage{Sandbox: box, taskQueue: "cordon-demo-" + rand.Text()}
	roster, err := sandbox.NewRoster([]sandbox.Member{
		{ID: requesterID, Name: "You (at this terminal)", Roles: []string{workflows.RoleResponder}, Groups: []string{"csirt-oncall"}},
		{ID: leadID, Name: "Demo lead", Roles: []string{workflows.RoleResponder, workflows.RoleLead}, Groups: []string{"csirt-oncall", "csirt-leads"}},
		{ID: intakeID, Name: "Detection intake", Roles: []string{workflows.RoleIntake}},
	})
	if err != nil {
		return nil, err
	}
	w.requester = demoKey{signer: roster.Signer(requesterID), fingerprint: roster.Fingerprint(requesterID)}
	w.lead = demoKey{signer: roster.Signer(leadID), fingerprint: roster.Fingerprint(leadID)}
	w.intake = demoKey{signer: roster.Signer(intakeID), fingerprint: roster.Fingerprint(intakeID)}
	if w.forensics, err = SeedForensics(box.Emulator(), plans...); err != nil {
		return nil, err
	}
	w.config = box.WorkerConfig(w.taskQueue, roster, source)
	w.config.AWS.Accounts, w.config.Evidence = w.forensics.accounts(), w.forensics.Evidence
	rt := sandbox.RuntimeOptions{Notifier: incidentChannel{p: p}, PollInterval: o.PollInterval, Accounts: w.forensics.runtimeAccounts(), Evidence: w.forensics.Evidence}
	w.clients = box.AWSClientsWith(rt)
	if _, err := box.StartWorker(ctx, sandbox.WorkerOptions{Config: w.config, Runtime: box.NewRuntime(rt)}); err != nil {
		return nil, fmt.Errorf("start the demo worker: %w", err)
	}
	return w, nil
}

// incidentChannel stands in for Slack: slack.notify messages appear in
// the demo's output.
type incidentChannel struct{ p *progress }

func (c incidentChannel) Notify(_ context.Context, m actions.Message) (actions.Posted, error) {
	text := m.Text
	if m.DryRun {
		text = "(rehearsal, not posted) " + text
	}
	c.p.incident(text, m.RunID, m.DryRun)
	return actions.Posted{Channel: "#incident-demo", TS: fmt.Sprint(time.Now().UnixNano())}, nil
}

// intro says what is about to happen, in the responder's words.
func intro(p *progress, o Options, box *stage, story Story) {
	f := story.Fleet
	p.say("Cordon demo: CVE-2021-26084 (Confluence OGNL injection), on this machine only.")
	p.say("  Temporal   in-process server at %s (in memory; gone when the demo ends)", box.Temporal().Address)
	p.say("  AWS        emulator at %s: every AWS call goes there, none leaves this machine", box.Emulator().URL())
	p.say("  Fleet      12 Confluence servers (App=confluence, Env=demo) in %s, role %s;", f.VPCID, f.RoleName)
	p.say("             the first 6 in Auto Scaling group %s behind target group confluence-tg; plus jira-01 and build-runner-01", f.AutoScalingGroupName)
	p.say("  Detection  GuardDuty saw %s port-scanning the internet (medium findings);", strings.Join(story.Compromised, " "))
	p.say("             then AWS's abuse notice names them: both reach the intake (%s, a roster member with a key of its own)", intakeID)
	p.say("             on the SQS queue %s, as an EventBridge rule delivers them", queueName)
	p.say("  SOC        leaked access key %s of IAM user %s (in a public repository)", story.LeakedKeyID, story.LeakedUser)
	p.say("  Forensics  account %s, out of the attacker's reach: evidence bucket %s (Object Lock, compliance), role %s;",
		forensicAccountID, evidenceBucket, forensicRole)
	p.say("             the Confluence servers run the SSM agent (memory and triage go through it)")
	p.say("  Roster     %s (requester, key %s) and %s (approver, key %s), keys generated for this demo;",
		requesterID, box.requester.fingerprint, leadID, box.lead.fingerprint)
	p.say("             signatures required: every start and decision is signed and checked; the requester cannot approve her own run")
	p.say("  Runbooks   the worker vouches for the runbooks in %s/ (a plan matching none of them would wait for a lead)", o.Examples)
	switch {
	case o.DryRun:
		p.say("  Mode       REHEARSAL (--dry-run): every step previewed, nothing changed, no gate waits")
	case o.Yes:
		p.say("  Approvals  --yes: every gate is approved AUTOMATICALLY as %s, and each approval is shown", leadID)
	default:
		p.say("  Approvals  at each gate you see the change and decide; your answer is signed as %s", leadID)
	}
}

// usesAction says whether the plan, or a runbook it uses, has a step of
// the action.
func usesAction(p *runbooks.Plan, action string) bool {
	for _, st := range p.Steps {
		if st.Action == action {
			return true
		}
	}
	for _, c := range p.Children {
		if usesAction(c, action) {
			return true
		}
	}
	return false
}
