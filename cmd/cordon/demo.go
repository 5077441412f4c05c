package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"syscall"

	"github.com/cordon-ir/cordon/demo"
)

func runDemo(ctx context.Context, env *cliEnv, args []string) int {
	fs := newFlagSet(env, "demo", "[--yes] [--dry-run] [--json]",
		"The whole CVE-2021-26084 story on this machine alone: an in-process Temporal server, the AWS emulator seeded with a\n"+
			"Confluence fleet, signed approvals at every gate, the PIR report and a check of what the emulator holds.\n"+
			"Exit 0 when everything is contained (or, with --dry-run, nothing changed), 1 when not, 2 when nobody can approve\n"+
			"(no terminal, or Ctrl-D at a prompt), 130 when interrupted (Ctrl-C).")
	yes := fs.Bool("yes", false, "approve every gate automatically as the demo lead (needed without a terminal on stdin)")
	dry := fs.Bool("dry-run", false, "rehearse: preview every step, change nothing, print the plan of changes")
	jsonOut := fs.Bool("json", false, "one JSON event per line on stdout, for machines")
	examples := fs.String("examples", "examples", "directory holding the example runbooks")
	reports := fs.String("reports", ".cordon/reports", "where the PIR report is written")
	verbose := fs.Bool("verbose", false, "log the Temporal server, SDK and emulator to stderr")
	if _, err := parseInterleaved(fs, args); err != nil {
		return flagExit(err)
	}
	opts := demo.Options{
		Yes: *yes, DryRun: *dry, Stdout: env.stdout, Stdin: os.Stdin, StdinTerminal: demo.IsTerminal(os.Stdin),
		Examples: *examples, ReportDir: *reports, Mode: demo.Lines, NoColor: noColor(),
	}
	switch {
	case *jsonOut:
		opts.Mode, opts.Prompts = demo.JSON, env.stderr
	case env.stdout == os.Stdout && demo.IsTerminal(os.Stdout):
		opts.Mode = demo.Live
	}
	if *verbose {
		opts.Logger = slog.New(slog.NewTextHandler(env.stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	}
	res, err := demo.Run(ctx, opts)
	switch {
	case errors.Is(err, demo.ErrInterrupted):
		fmt.Fprintf(env.stderr, "\ncordon demo: %v\n", err)
		return interruptedExit(ctx)
	case errors.Is(err, demo.ErrNoAnswer), errors.Is(err, demo.ErrNobodyToAsk):
		fmt.Fprintf(env.stderr, "cordon demo: %v\n", err)
		return 2
	case err != nil:
		fmt.Fprintf(env.stderr, "cordon demo: %v\n", err)
		return 1
	case !res.Check.OK():
		fmt.Fprintf(env.stderr, "cordon demo: the final check failed; see %s\n", res.Report)
		return 1
	}
	return 0
}

// interruptedExit is the shell's code for a command a signal ended: 128
// plus the signal's number (130 for Ctrl-C's SIGINT, 143 for SIGTERM).
func interruptedExit(ctx context.Context) int {
	if c := context.Cause(ctx); c != nil && strings.Contains(c.Error(), syscall.SIGTERM.String()) {
		return 128 + int(syscall.SIGTERM)
	}
	return 128 + int(syscall.SIGINT)
}
