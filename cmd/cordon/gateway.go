package main

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/cordon-ir/cordon/worker"
	"github.com/cordon-ir/cordon/worker/slack"
)

// runGateway serves the Slack gateway and, unless --worker=false, a worker
// whose gate notifications and slack.notify messages go to Slack. The
// gateway signs what it forwards with its key; the runs decide (see
// docs/slack.md). It keeps no state a replica or a restart would need.
func runGateway(ctx context.Context, env *cliEnv, args []string) int {
	fs := newFlagSet(env, "gateway", "--config FILE [--worker=false]", "Serve the Slack gateway (HTTP or Socket Mode, as slack.transport says) and a worker that posts gate messages to Slack. See docs/slack.md.")
	withWorker := fs.Bool("worker", true, "also run a worker on the task queue, posting gates to Slack")
	cfg, path, code := parseConfigCommand(env, fs, args)
	if cfg == nil {
		return code
	}
	if *withWorker {
		// The same checks as cordon worker: signatures required, a
		// runbook source it can read.
		if err := cfg.CheckWorker(false); err != nil {
			fmt.Fprintf(env.stderr, "cordon gateway: %v\n", err)
			return 1
		}
	}
	logger := slog.New(slog.NewJSONHandler(env.stderr, nil))
	c, err := worker.Dial(ctx, cfg.Temporal, logger)
	if err != nil {
		fmt.Fprintf(env.stderr, "cordon gateway: %v\n", err)
		return 1
	}
	defer c.Close()
	notifier, gw, err := slack.FromConfig(cfg, c, logger)
	if err != nil {
		fmt.Fprintf(env.stderr, "cordon gateway: %v\n", err)
		return 1
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	workerDone := make(chan error, 1)
	if *withWorker {
		go func() {
			// The runs read the roster from the file before every decision,
			// so a member removed, or a gateway scope changed, counts at once.
			workerDone <- worker.Run(ctx, c, cfg, worker.Options{Logger: logger, Notifier: notifier, ActionNotifier: notifier,
				Roster: worker.FileRoster(path, false)})
			cancel()
		}()
	} else {
		workerDone <- nil
	}
	serveErr := slack.Serve(ctx, cfg.Slack, gw)
	cancel()
	if werr := <-workerDone; werr != nil {
		fmt.Fprintf(env.stderr, "cordon gateway: %v\n", werr)
		return 1
	}
	if serveErr != nil {
		fmt.Fprintf(env.stderr, "cordon gateway: %v\n", serveErr)
		return 1
	}
	return 0
}
