package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/cordon-ir/cordon/actions"
	"github.com/cordon-ir/cordon/internal/awsemu"
	"github.com/cordon-ir/cordon/internal/sandbox"
	"github.com/cordon-ir/cordon/worker"
	"github.com/cordon-ir/cordon/worker/devserver"
	"github.com/cordon-ir/cordon/worker/slack"
	"github.com/cordon-ir/cordon/workflows"
)

func runWorker(ctx context.Context, env *cliEnv, args []string) int {
	fs := newFlagSet(env, "worker", "--config FILE [--skip-aws-check] [--insecure-allow-unsigned]", "Run a worker against a Temporal cluster or Temporal Cloud, with real AWS accounts. Stops gracefully on SIGTERM.")
	allowUnsigned := fs.Bool("insecure-allow-unsigned", false, "accept roster.require_signatures: false (anyone with access to the namespace can then act as any member): throwaway test workers only; logged loudly")
	skipAWSCheck := fs.Bool("skip-aws-check", false, "start without first checking that the worker can obtain AWS credentials for each configured account (for workers whose AWS access is only granted later; failures then show at a run's first AWS step)")
	cfg, path, code := parseConfigCommand(env, fs, args)
	if cfg == nil {
		return code
	}
	if cfg.AWS.Endpoint != "" {
		fmt.Fprintf(env.stderr, "cordon worker: aws.endpoint is set (%s): this worker talks to an emulator, not AWS\n", cfg.AWS.Endpoint)
	}
	if err := cfg.CheckWorker(*allowUnsigned); err != nil {
		fmt.Fprintf(env.stderr, "cordon worker: %v\n", err)
		return 1
	}
	logger := slog.New(slog.NewJSONHandler(env.stderr, nil))
	if !cfg.WorkflowRoster().RequireSignatures {
		logger.Error("SIGNATURES ARE NOT REQUIRED (--insecure-allow-unsigned): anyone who can reach the Temporal namespace can start, approve and steer runs in any member's name, and clients' plans run as they are")
	}
	if cfg.Runbooks.Dir == "" {
		logger.Warn("no runbooks.dir: every run's plan is ad-hoc and waits for a lead's approval of the plan itself")
	}
	if *skipAWSCheck {
		logger.Warn("AWS access check skipped (--skip-aws-check): a missing credential or role will show at the first AWS step of a run")
	} else {
		report, err := worker.CheckWorkerAWSAccess(ctx, cfg)
		if err != nil {
			for _, p := range report.Problems() {
				fmt.Fprintf(env.stderr, "cordon worker: aws: %v\n", p)
			}
			fmt.Fprintln(env.stderr, "cordon worker: cannot obtain AWS credentials for every configured account (above): fix them, or start with --skip-aws-check if this worker's access is granted later")
			return 1
		}
		for _, a := range report.Accounts {
			logger.Info("AWS account reachable", "account", a.Name, "role_arn", a.RoleARN, "identity", a.Identity)
		}
		logger.Info("AWS access checked", "identity", report.Identity, "accounts", len(report.Accounts))
		caveat, err := worker.CheckEvidenceStore(ctx, cfg)
		if err != nil {
			fmt.Fprintf(env.stderr, "cordon worker: evidence: %v\n", err)
			return 1
		}
		if caveat != "" {
			logger.Warn(caveat)
		}
	}
	c, err := worker.Dial(ctx, cfg.Temporal, logger)
	if err != nil {
		fmt.Fprintf(env.stderr, "cordon worker: %v\n", err)
		return 1
	}
	defer c.Close()
	// The roster and policy are read from the file again before every
	// decision: an edit (a member removed) reaches running runs at once.
	opts := worker.Options{Logger: logger, Roster: worker.FileRoster(path, *allowUnsigned)}
	if cfg.Slack.BotToken != "" && cfg.Slack.Channel != "" {
		// Every worker on the task queue may run the gate notification, so
		// every worker must post it to Slack, not only the gateway's.
		n := slack.NewNotifier(slack.NewClient(cfg.Slack), slack.NotifierOptions{Channel: cfg.Slack.Channel,
			EscalationChannel: cfg.Slack.EscalationChannel, Roster: cfg.WorkflowRoster(), Logger: logger})
		opts.Notifier, opts.ActionNotifier = n, n
	}
	if err := worker.Run(ctx, c, cfg, opts); err != nil {
		fmt.Fprintf(env.stderr, "cordon worker: %v\n", err)
		return 1
	}
	return 0
}

// devRoster is the local roster of cordon dev: you as lead and responder,
// two teammates to approve as (--as alice), and no signatures required.
func devRoster(me string) worker.RosterConfig {
	off := false
	return worker.RosterConfig{
		RequireSignatures: &off,
		Members: []worker.MemberConfig{
			{ID: me, Name: me + " (you)", Roles: []string{"responder", "lead"}, Groups: []string{"csirt-oncall", "csirt-leads"}},
			{ID: "alice", Name: "Alice (on call)", Roles: []string{"responder"}, Groups: []string{"csirt-oncall"}},
			{ID: "bob", Name: "Bob (lead)", Roles: []string{"responder", "lead"}, Groups: []string{"csirt-oncall", "csirt-leads"}},
		},
	}
}

// warnDevRoster says what the worker of cordon dev trusts. A roster that
// does not require signatures (the development roster, or a --config that
// turns them off) accepts unsigned starts, decisions and controls, and
// runs clients' plans as they are: it says so in one line, loudly.
func warnDevRoster(env *cliEnv, cfg *worker.Config, path string) {
	if cfg.WorkflowRoster().RequireSignatures {
		if cfg.Runbooks.Dir == "" {
			fmt.Fprintf(env.stderr, "cordon dev: %s sets no runbooks.dir: the worker vouches for no runbook, so every run waits for a lead to approve its plan (gate %s)\n", path, workflows.PlanGate)
		}
		return
	}
	fmt.Fprintln(env.stderr, strings.Repeat("!", 78))
	fmt.Fprintln(env.stderr, "!! DEVELOPMENT ROSTER: unsigned requests and client plans accepted (nothing is signed or verified, no plan vouched for).")
	if path == "" {
		fmt.Fprintf(env.stderr, "!! Members: %s (lead), alice, bob. Never use it for real incidents: give --config with your roster.\n", defaultActor())
	} else {
		fmt.Fprintf(env.stderr, "!! %s sets roster.require_signatures: false. Never use it for real incidents.\n", path)
	}
	fmt.Fprintln(env.stderr, strings.Repeat("!", 78))
}

func runDev(ctx context.Context, env *cliEnv, args []string) int {
	fs := newFlagSet(env, "dev", "[--sandbox] [--config FILE]", "Run an embedded Temporal server, a worker and (with --sandbox) the AWS emulator seeded with a small fleet, all on 127.0.0.1.")
	useSandbox := fs.Bool("sandbox", false, "use the AWS emulator with a seeded fleet instead of real AWS")
	path := fs.String("config", "", "cordon.yaml for the roster and AWS accounts (default: a local development roster)")
	dir := fs.String("dir", ".cordon", "where the dev server keeps its SQLite file")
	port := fs.Int("port", 7233, "Temporal frontend port on 127.0.0.1")
	ui := fs.Bool("ui", true, "start the Temporal Web UI")
	if _, err := parseInterleaved(fs, args); err != nil {
		return flagExit(err)
	}
	logger := slog.New(slog.NewTextHandler(env.stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	cfg := &worker.Config{}
	if *path != "" {
		loaded, err := worker.LoadConfig(*path)
		if err != nil {
			fmt.Fprintf(env.stderr, "cordon dev: %v\n", err)
			return 1
		}
		cfg = loaded
	} else {
		cfg.Roster = devRoster(defaultActor())
		cfg.Temporal.TaskQueue = worker.DefaultTaskQueue
	}
	warnDevRoster(env, cfg, *path)
	if err := os.MkdirAll(*dir, 0o700); err != nil {
		fmt.Fprintf(env.stderr, "cordon dev: %v\n", err)
		return 1
	}
	// The server (and with --sandbox the emulator) on 127.0.0.1, and a
	// client; the worker is the production one (worker.Run).
	box, err := sandbox.Start(ctx, sandbox.Options{Logger: logger, NoEmulator: !*useSandbox,
		Server: devserver.Options{DBFile: filepath.Join(*dir, "dev.db"), FrontendPort: *port, UI: *ui}})
	if err != nil {
		fmt.Fprintf(env.stderr, "cordon dev: %v\n", err)
		return 1
	}
	defer box.Close()
	srv := box.Server()
	cfg.Temporal.Address, cfg.Temporal.Namespace = srv.FrontendAddress(), srv.Namespace()
	if cfg.Temporal.TaskQueue == "" {
		cfg.Temporal.TaskQueue = worker.DefaultTaskQueue
	}
	opts := worker.Options{Logger: logger}
	if emu := box.Emulator(); emu != nil {
		url := emu.URL()
		fleet, err := emu.SeedFleet(awsemu.FleetSpec{Instances: 6, Compromised: []int{1, 4}, InAutoScalingGroup: 3, BehindTargetGroup: 3, WithInstanceRole: true})
		if err != nil {
			fmt.Fprintf(env.stderr, "cordon dev: seed sandbox: %v\n", err)
			return 1
		}
		opts.Clients = box.AWSClients(actions.RateLimit{})
		opts.PollInterval = time.Second // the sandbox completes snapshots in seconds
		fmt.Fprintf(env.stdout, "AWS sandbox:   %s (state: %s/_emu/state) — every AWS call goes here, not to AWS\n", url, url)
		fmt.Fprintf(env.stdout, "  fleet in %s: %s\n  compromised: %s\n", fleet.VPCID, strings.Join(fleet.InstanceIDs, " "), strings.Join(fleet.CompromisedIDs, " "))
		fmt.Fprintf(env.stdout, "  try: cordon run examples/ec2-compromise.yaml --input instance_id=%s --follow\n", fleet.CompromisedIDs[0])
	}
	fmt.Fprintf(env.stdout, "Temporal:      %s (namespace %s)\n", srv.FrontendAddress(), srv.Namespace())
	if ui := srv.UIAddress(); ui != "" {
		fmt.Fprintf(env.stdout, "Web UI:        http://%s\n", ui)
	}
	fmt.Fprintln(env.stdout, "Worker:        running; Ctrl-C stops everything (runs resume on the next cordon dev)")
	if err := worker.Run(ctx, box.Client(), cfg, opts); err != nil {
		fmt.Fprintf(env.stderr, "cordon dev: %v\n", err)
		return 1
	}
	return 0
}
