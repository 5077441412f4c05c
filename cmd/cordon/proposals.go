package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/cordon-ir/cordon/intake"
)

// cordon proposals and cordon launch: the runs detections proposed, and a
// responder's launch of one. The launch is signed with the responder's
// key like cordon run; the run it starts verifies that signature against
// its roster, so a member who may not start runs is refused there (and
// the proposal stays open).

func runProposals(ctx context.Context, env *cliEnv, args []string) int {
	fs := newFlagSet(env, "proposals", "[--json]",
		"List the runs detections proposed and that wait for a responder's launch (cordon launch ID), oldest first:\n"+
			"the runbook and trigger, the findings, the targets, how long they have waited and until when.")
	var conn connFlags
	conn.register(fs)
	out := registerOutput(fs, "text", "json")
	_, format, exit, ok := out.parse(env, fs, args, 0, 0)
	if !ok {
		return exit
	}
	cl, _, ok := conn.dial(ctx, env)
	if !ok {
		return 1
	}
	defer cl.Close()
	props, err := intake.Proposals(ctx, cl)
	if err != nil {
		fmt.Fprintf(env.stderr, "cordon: %v\n", err)
		return 1
	}
	if format == "json" {
		if props == nil {
			props = []intake.ProposalSummary{}
		}
		return writeJSON(env, props)
	}
	if len(props) == 0 {
		fmt.Fprintln(env.stdout, "no proposal waits for a launch")
		return 0
	}
	now := time.Now()
	tw := tableWriter(env)
	fmt.Fprintln(tw, "PROPOSAL\tRUNBOOK\tTRIGGER\tFINDINGS\tTARGETS\tAGE\tUNTIL\tWHY")
	for _, p := range props {
		why := p.Reason
		if p.NeedsBreakGlass {
			why += " (--break-glass)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\t%s\t%s\n", p.ID, p.Runbook, p.Trigger, p.Findings,
			orNone(targetsText(p.Targets, p.TargetCount)), now.Sub(p.Created).Round(time.Second), p.Deadline.Local().Format(time.RFC3339), why)
	}
	tw.Flush()
	return 0
}

// targetsText shows the first few of count targets.
func targetsText(ts []string, count int) string {
	const shown = 3
	if count <= shown && len(ts) == count {
		return strings.Join(ts, ",")
	}
	return fmt.Sprintf("%s,… (%d)", strings.Join(ts[:min(shown, len(ts))], ","), count)
}

func runLaunch(ctx context.Context, env *cliEnv, args []string) int {
	fs := newFlagSet(env, "launch", "PROPOSAL [--break-glass --reason R] [--wait D]",
		"Launch a proposed run (cordon proposals lists them), signed with your SSH key like cordon run: the start binds\n"+
			"the runbook, its plan, the inputs, the trigger and the findings exactly as proposed now. The run checks that\n"+
			"you may start runs; its gates are its own. A batch above its trigger's max_targets needs a lead's --break-glass.")
	var conn connFlags
	var id identity
	conn.register(fs)
	id.register(fs)
	breakGlass := fs.Bool("break-glass", false, "a lead's break-glass with the launch: every gate of the run passes (recorded, with --reason)")
	reason := fs.String("reason", "", "why --break-glass: it goes into the record")
	wait := fs.Duration("wait", 30*time.Second, "how long to wait for the run to pass its start checks")
	pos, exit, ok := parsePositional(fs, args, 1, 1)
	if !ok {
		return exit
	}
	if !reasonGiven(env, *breakGlass, *reason, "cordon launch: --break-glass needs --reason R: it goes into the record") {
		return 2
	}
	signer, ok := id.signer(env)
	if !ok {
		return 1
	}
	cl, _, ok := conn.dial(ctx, env)
	if !ok {
		return 1
	}
	defer cl.Close()
	o := intake.LaunchOptions{Actor: id.as, Signer: signer, Wait: *wait}
	if *breakGlass {
		o.BreakGlassReason = *reason
	}
	res, err := intake.Launch(ctx, cl, pos[0], o)
	if err != nil {
		// A launch the proposal turned down (intake.RefusedLaunch) says
		// why: it was signed for something else than what is proposed.
		fmt.Fprintf(env.stderr, "cordon: %v\n", err)
		return 1
	}
	p := res.Progress
	switch {
	case p.Refused != "":
		id.refusedHelp(env, "launch of run "+res.RunID, p.Refused)
		fmt.Fprintf(env.stderr, "cordon: the proposal stays open: cordon proposals\n")
		return 1
	case p.Phase == intake.ProgressPending:
		fmt.Fprintf(env.stdout, "%s\nlaunched; the run has not passed its start checks yet: cordon status %s\n", res.RunID, res.RunID)
	default:
		fmt.Fprintf(env.stdout, "%s\nlaunched: cordon status %s\n", res.RunID, res.RunID)
	}
	return 0
}

// reasonGiven says whether a flag that must be explained (--force,
// --break-glass) came with --reason; when it did not, it prints missing.
func reasonGiven(env *cliEnv, set bool, reason, missing string) bool {
	if set && strings.TrimSpace(reason) == "" {
		fmt.Fprintln(env.stderr, missing)
		return false
	}
	return true
}
