package main

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/cordon-ir/cordon/actions"
	"github.com/cordon-ir/cordon/intake"
	"github.com/cordon-ir/cordon/runbooks"
	"github.com/cordon-ir/cordon/worker"
	"github.com/cordon-ir/cordon/worker/slack"
)

const intakeAbout = "Run the detection intake: read the SQS queue an EventBridge rule fills with GuardDuty, Security Hub and\n" +
	"AWS Health findings (intake.queue_url), serve POST /events for EventBridge API destinations (intake.https), verify\n" +
	"each finding at its source, decide it against the runbooks' triggers (runbooks.dir), and launch or propose runs,\n" +
	"once per finding, signed with the intake's own key. Runs until SIGTERM. See docs/triggers.md."

// runIntake runs the intake's SQS loops, its HTTPS endpoint and its
// Temporal worker (finding, batch and breaker workflows) in one process,
// apart from the containment worker and the Slack gateway: it holds a
// key of its own and needs no Slack secret or AWS write permission.
func runIntake(ctx context.Context, env *cliEnv, args []string) int {
	fs := newFlagSet(env, "intake", "--config FILE", intakeAbout)
	cfg, _, code := parseConfigCommand(env, fs, args)
	if cfg == nil {
		return code
	}
	if err := serveIntake(ctx, cfg, slog.New(slog.NewJSONHandler(env.stderr, nil))); err != nil {
		fmt.Fprintf(env.stderr, "cordon intake: %v\n", err)
		return 1
	}
	return 0
}

// serveIntake runs the intake cfg describes until ctx is done.
func serveIntake(ctx context.Context, cfg *worker.Config, logger *slog.Logger) error {
	if err := cfg.CheckIntake(); err != nil {
		return err
	}
	c, err := worker.Dial(ctx, cfg.Temporal, logger)
	if err != nil {
		return err
	}
	defer c.Close()
	svc, err := intake.NewService(ctx, intake.ServiceOptions{Config: cfg, Client: c, Notifier: intakeNotifier(cfg, logger), Logger: logger})
	if err != nil {
		return err
	}
	return svc.Run(ctx)
}

// intakeNotifier is where the intake's proposals, notices and alerts go:
// Slack (intake.slack_channel, else slack.channel) when a bot token is
// configured, else the log.
func intakeNotifier(cfg *worker.Config, logger *slog.Logger) actions.Notifier {
	channel := cfg.Intake.SlackChannel
	if channel == "" {
		channel = cfg.Slack.Channel
	}
	if cfg.Slack.BotToken == "" || channel == "" {
		return actions.LogNotifier{Logger: logger}
	}
	return slack.NewNotifier(slack.NewClient(cfg.Slack), slack.NotifierOptions{Channel: channel, Roster: cfg.WorkflowRoster(), Logger: logger})
}

// printIntakePolicy prints the intake's role policy for the triggers of
// the runbooks at paths.
func printIntakePolicy(env *cliEnv, paths []string, o intake.PolicyOptions) int {
	plans, ok := compileFiles(env, paths)
	if !ok {
		return 1
	}
	var triggered []*runbooks.Plan
	for _, p := range plans {
		if len(p.Triggers) > 0 {
			triggered = append(triggered, p)
		}
	}
	if len(triggered) == 0 {
		fmt.Fprintln(env.stderr, "cordon policy --intake: these runbooks have no triggers: no detection starts them, and the intake needs no permissions for them")
		return 1
	}
	fmt.Fprintln(env.stdout, string(intake.Policy(o, triggered...).JSON()))
	fmt.Fprintln(env.stderr, "cordon policy --intake: with aws.accounts roles, the finding reads (CordonIntakeFindings, CordonIntakeListDetectors) run under each account's role, which needs them; the intake's role then needs sts:AssumeRole on those roles")
	return 0
}
