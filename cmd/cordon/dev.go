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
	"github.com/cordon-ir/cordon/worker"
	"github.com/cordon-ir/cordon/worker/devserver"
	"github.com/cordon-ir/cordon/worker/slack"
)

func runWorker(ctx context.Context, env *cliEnv, args []string) int {
	fs := newFlagSet(env, "worker", "--config FILE", "Run a worker against a Temporal cluster or Temporal Cloud, with real AWS accounts. Stops gracefully on SIGTERM.")
	path := fs.String("config", os.Getenv("CORDON_CONFIG"), "cordon.yaml (env CORDON_CONFIG)")
	if _, err := parseInterleaved(fs, args); err != nil {
		return flagExit(err)
	}
	if *path == "" {
		fs.Usage()
		return 2
	}
	cfg, err := worker.LoadConfig(*path)
	if err != nil {
		fmt.Fprintf(env.stderr, "cordon worker: %v\n", err)
		return 1
	}
	if cfg.AWS.Endpoint != "" {
		fmt.Fprintf(env.stderr, "cordon worker: aws.endpoint is set (%s): this worker talks to an emulator, not AWS\n", cfg.AWS.Endpoint)
	}
	logger := slog.New(slog.NewJSONHandler(env.stderr, nil))
	c, err := worker.Dial(ctx, cfg.Temporal, logger)
	if err != nil {
		fmt.Fprintf(env.stderr, "cordon worker: %v\n", err)
		return 1
	}
	defer c.Close()
	opts := worker.Options{Logger: logger}
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

func runDev(ctx context.Context, env *cliEnv, args []string) int {
	fs := newFlagSet(env, "dev", "[--sandbox] [--config FILE]", "Run an embedded Temporal server, a worker and (with --sandbox) the AWS emulator seeded with a small fleet, all on 127.0.0.1.")
	sandbox := fs.Bool("sandbox", false, "use the AWS emulator with a seeded fleet instead of real AWS")
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
		fmt.Fprintln(env.stderr, strings.Repeat("!", 78))
		fmt.Fprintf(env.stderr, "!! DEVELOPMENT ROSTER: decisions are NOT signed or verified. Members: %s (lead), alice, bob.\n", defaultActor())
		fmt.Fprintln(env.stderr, "!! Never use cordon dev's roster for real incidents: give --config with your roster.")
		fmt.Fprintln(env.stderr, strings.Repeat("!", 78))
	}
	if err := os.MkdirAll(*dir, 0o700); err != nil {
		fmt.Fprintf(env.stderr, "cordon dev: %v\n", err)
		return 1
	}
	srv, err := devserver.Start(ctx, devserver.Options{DBFile: filepath.Join(*dir, "dev.db"), FrontendPort: *port, UI: *ui, Logger: logger})
	if err != nil {
		fmt.Fprintf(env.stderr, "cordon dev: start Temporal: %v\n", err)
		return 1
	}
	defer srv.Stop()
	cfg.Temporal.Address, cfg.Temporal.Namespace = srv.FrontendAddress(), srv.Namespace()
	if cfg.Temporal.TaskQueue == "" {
		cfg.Temporal.TaskQueue = worker.DefaultTaskQueue
	}
	opts := worker.Options{Logger: logger}
	if *sandbox {
		emu := awsemu.New(awsemu.Options{Logger: logger})
		url, err := emu.Start(ctx)
		if err != nil {
			fmt.Fprintf(env.stderr, "cordon dev: start AWS emulator: %v\n", err)
			return 1
		}
		defer emu.Close()
		fleet, err := emu.SeedFleet(awsemu.FleetSpec{Instances: 6, Compromised: []int{1, 4}, InAutoScalingGroup: 3, BehindTargetGroup: 3, WithInstanceRole: true})
		if err != nil {
			fmt.Fprintf(env.stderr, "cordon dev: seed sandbox: %v\n", err)
			return 1
		}
		opts.Clients = actions.NewAWSClientSource(actions.AWSOptions{Base: emu.AWSConfig(), Endpoint: url})
		opts.PollInterval = time.Second // the sandbox completes snapshots in seconds
		fmt.Fprintf(env.stdout, "AWS sandbox:   %s (state: %s/_emu/state) — every AWS call goes here, not to AWS\n", url, url)
		fmt.Fprintf(env.stdout, "  fleet in %s: %s\n  compromised: %s\n", fleet.VPCID, strings.Join(fleet.InstanceIDs, " "), strings.Join(fleet.CompromisedIDs, " "))
		fmt.Fprintf(env.stdout, "  try: cordon run examples/ec2-compromise.yaml --input instance_id=%s --follow\n", fleet.CompromisedIDs[0])
	}
	c, err := worker.Dial(ctx, cfg.Temporal, logger)
	if err != nil {
		fmt.Fprintf(env.stderr, "cordon dev: %v\n", err)
		return 1
	}
	defer c.Close()
	fmt.Fprintf(env.stdout, "Temporal:      %s (namespace %s)\n", srv.FrontendAddress(), srv.Namespace())
	if ui := srv.UIAddress(); ui != "" {
		fmt.Fprintf(env.stdout, "Web UI:        http://%s\n", ui)
	}
	fmt.Fprintln(env.stdout, "Worker:        running; Ctrl-C stops everything (runs resume on the next cordon dev)")
	if err := worker.Run(ctx, c, cfg, opts); err != nil {
		fmt.Fprintf(env.stderr, "cordon dev: %v\n", err)
		return 1
	}
	return 0
}
