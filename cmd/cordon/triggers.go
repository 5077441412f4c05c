package main

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"

	"github.com/cordon-ir/cordon/triggers"
)

const triggersUsage = "test RUNBOOK... --event FILE [--json]"

const triggersAbout = "Show what an EventBridge event (GuardDuty, Security Hub ASFF, AWS Health), or an SQS ReceiveMessage\n" +
	"response holding several, would do with these runbooks' triggers: per finding the decision (launch, propose,\n" +
	"dry_run, drop), the runbook and trigger, the inputs, the finding key and target key, and why a finding is\n" +
	"dropped. Nothing is started. Exit 0 when the input parsed, 1 when it did not."

// runTriggers dispatches cordon triggers SUBCOMMAND; test is the only one.
func runTriggers(ctx context.Context, env *cliEnv, args []string) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "-help" || args[0] == "help" {
		fmt.Fprintf(env.stderr, "Usage: cordon triggers %s\n\n%s\n", triggersUsage, triggersAbout)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	if args[0] != "test" {
		fmt.Fprintf(env.stderr, "cordon triggers: unknown subcommand %q (want: test)\n", args[0])
		return 2
	}
	return runTriggersTest(ctx, env, args[1:])
}

// eventReport is one event of the input and what its findings do.
type eventReport struct {
	MessageID string            `json:"message_id,omitempty"`
	EventID   string            `json:"event_id,omitempty"`
	Error     string            `json:"error,omitempty"`
	Findings  []triggers.Result `json:"findings,omitempty"`
}

func runTriggersTest(_ context.Context, env *cliEnv, args []string) int {
	fs := newFlagSet(env, "triggers test", "RUNBOOK... --event FILE [--json]", triggersAbout)
	event := fs.String("event", "", "an EventBridge event, an SQS message or an SQS ReceiveMessage response (JSON)")
	out := registerOutput(fs, "text", "json")
	paths, exit, ok := parsePositional(fs, args, 1, -1)
	if !ok {
		return exit
	}
	format, ok := out.resolve(env, "triggers test")
	if !ok {
		return 2
	}
	if *event == "" {
		fmt.Fprintln(env.stderr, "cordon triggers test: --event FILE is required")
		return 2
	}
	plans, ok := compileFiles(env, paths)
	if !ok {
		return 1
	}
	b, err := os.ReadFile(*event)
	if err != nil {
		fmt.Fprintf(env.stderr, "cordon triggers test: %v\n", err)
		return 1
	}
	msgs, err := triggers.SplitInput(b)
	if err != nil {
		fmt.Fprintf(env.stderr, "cordon triggers test: %s: %v\n", *event, err)
		return 1
	}
	reports := make([]eventReport, 0, len(msgs))
	failed := false
	for _, m := range msgs {
		r := eventReport{MessageID: m.MessageID}
		results, err := triggers.Decide(plans, m.Body)
		if err != nil {
			// Reported, and the rest still decided: one bad message in a
			// batch says nothing about the others.
			failed = true
			r.Error = err.Error()
		}
		r.Findings = results
		if len(results) > 0 {
			r.EventID = results[0].Finding.EventID
		}
		reports = append(reports, r)
	}
	if format == "json" {
		if code := writeJSON(env, reports); code != 0 {
			return code
		}
	} else {
		writeTriggerReports(env, reports)
	}
	if failed {
		return 1
	}
	return 0
}

func writeTriggerReports(env *cliEnv, reports []eventReport) {
	w := env.stdout
	if len(reports) == 0 {
		fmt.Fprintln(w, "no events (an empty ReceiveMessage response)")
	}
	for i, r := range reports {
		if i > 0 {
			fmt.Fprintln(w)
		}
		head := "event " + orNone(r.EventID)
		if r.MessageID != "" {
			head += " (SQS message " + r.MessageID + ")"
		}
		fmt.Fprintln(w, head)
		if r.Error != "" {
			fmt.Fprintf(w, "  malformed    %s\n", r.Error)
			continue
		}
		for _, res := range r.Findings {
			f := res.Finding
			if f.Source != "" {
				fmt.Fprintf(w, "  finding      %s %s, %s, account %s, region %s, %s %s\n", f.Source, orNone(f.Type),
					orNone(f.Severity), orNone(f.Account), orNone(f.Region), orNone(f.Resource), orNone(cmp.Or(f.InstanceID, f.AccessKeyID, f.ResourceARN)))
				fmt.Fprintf(w, "  finding key  %s\n", orNone(f.Key))
				fmt.Fprintf(w, "  target key   %s\n", orNone(f.TargetKey))
			}
			for _, d := range res.Decisions {
				who := "(every trigger)"
				if d.Runbook != "" {
					who = d.Runbook + " / " + d.Trigger
				}
				if d.Decision == triggers.Drop {
					fmt.Fprintf(w, "  %-12s %s: %s\n", d.Decision, who, d.Reason)
					continue
				}
				fmt.Fprintf(w, "  %-12s %s  %s\n", d.Decision, who, inputsText(d.Inputs))
			}
		}
	}
}

func inputsText(inputs map[string]any) string {
	names := slices.Sorted(maps.Keys(inputs))
	parts := make([]string, len(names))
	for i, k := range names {
		parts[i] = k + "=" + valueText(inputs[k])
	}
	return strings.Join(parts, " ")
}
