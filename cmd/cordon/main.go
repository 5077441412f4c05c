// Command cordon is the CSIRT's tool: it compiles and inspects containment
// runbooks, runs the worker, the Slack gateway and the embedded dev server,
// starts runs (signed), and decides and steers them. It is a thin layer:
// flags in, library calls out.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"

	"github.com/cordon-ir/cordon/workflows"
)

// command is one subcommand of the CLI.
type command struct {
	name    string
	summary string
	run     func(ctx context.Context, env *cliEnv, args []string) int
}

// cliEnv is where a command reads and writes; tests give it buffers.
type cliEnv struct {
	stdout, stderr io.Writer
	// stdin is where a command reads a person's answers, and
	// stdinTerminal says a person types them: only then may it ask.
	stdin         io.Reader
	stdinTerminal bool
}

func commands() []command {
	return []command{
		{"validate", "compile runbooks and print every error as path:line:col: message", runValidate},
		{"plan", "show the compiled plan of a runbook: steps, conditions, gates, destructive marks", runPlan},
		{"schema", "print the JSON Schema of the runbook format, for editors", runSchema},
		{"policy", "print the least-privilege IAM policy for what the runbooks can call", runPolicy},
		{"actions", "list the action catalog", runActions},
		{"triggers", "triggers test: what an EventBridge event or SQS batch would launch, propose or drop", runTriggers},
		{"run", "start a containment run (--dry-run rehearses it); print its run id", runRun},
		{"proposals", "the runs detections proposed, waiting for a responder's launch", runProposals},
		{"launch", "launch a proposed run (signed with your SSH key); print its run id", runLaunch},
		{"status", "show a run's steps and waiting gates; --follow: its progress until it ends", runStatus},
		{"approve", "approve or deny the change a gate shows (signed with your SSH key)", runApprove},
		{"approve-all", "break-glass: a lead approves every gate of a run, recorded as such", controlCommand(workflows.ActApproveAll, "RUN --reason R", "Break-glass approval of every current and later gate of a run. Leads only; recorded in the report.", false)},
		{"pause", "hold a run: nothing changes until resume", controlCommand(workflows.ActPause, "RUN [--reason R]", "Pause a run: an action in flight finishes; nothing else starts or changes until resume (approvals given meanwhile are kept, their actions wait).", false)},
		{"resume", "resume a paused run", controlCommand(workflows.ActResume, "RUN [--reason R]", "Resume a paused run.", false)},
		{"skip", "skip a pending step (or one waiting at its gate)", controlCommand(workflows.ActSkip, "RUN STEP --reason R", "Skip a step that has not started, or is waiting for approval.", true)},
		{"abort", "abort a run; activities in flight are cancelled", controlCommand(workflows.ActAbort, "RUN --reason R", "Abort a run: cancel what is in flight and start nothing more.", false)},
		{"list", "list recent runs", runList},
		{"inbox", "every gate waiting for a decision in open runs, most urgent first, marked when yours", runInbox},
		{"dev", "embedded Temporal server + worker (+ AWS sandbox) on 127.0.0.1", runDev},
		{"demo", "the whole CVE-2021-26084 story on this machine: fleet, approvals, report, check", runDemo},
		{"worker", "run a worker against a Temporal cluster or Temporal Cloud", runWorker},
		{"intake", "the detection intake: findings from SQS and HTTPS, verified at their source, launch or propose runs", runIntake},
		{"gateway", "serve the Slack gateway (approve gates, /cordon commands) and a Slack-posting worker", runGateway},
		{"report", "print a run's post-incident record (Markdown or JSON)", runReport},
		{"evidence", "evidence verify CASE: re-read every artefact of a case from the evidence store and check its SHA-256", runEvidence},
		{"bench", "measure fleet containment speed against a sequential script (embedded server, AWS emulator)", runBench},
		{"version", "print the version: release, commit, Go, Temporal SDK, plan format", runVersion},
	}
}

func main() {
	// SIGTERM is how service managers stop a worker: finish gracefully.
	// The first Ctrl-C (or SIGTERM) cancels ctx and the command winds
	// down; the signals then get their default action back, so a second
	// Ctrl-C ends a shutdown that takes too long.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	context.AfterFunc(ctx, stop)
	os.Exit(run(ctx, &cliEnv{stdout: os.Stdout, stderr: os.Stderr, stdin: os.Stdin, stdinTerminal: isTerminal(os.Stdin)}, os.Args[1:]))
}

func run(ctx context.Context, env *cliEnv, args []string) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(env.stdout)
		return 0
	}
	if isVersionFlag(args[0]) {
		return runVersion(ctx, env, args[1:])
	}
	for _, c := range commands() {
		if c.name == args[0] {
			return c.run(ctx, env, args[1:])
		}
	}
	fmt.Fprintf(env.stderr, "cordon: unknown command %q; run cordon --help for the list\n", args[0])
	return 2
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "cordon — containment runbooks for compromised cloud servers")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Usage: cordon COMMAND [flags] [args]")
	fmt.Fprintln(w)
	cs := commands()
	sort.Slice(cs, func(i, j int) bool { return cs[i].name < cs[j].name })
	for _, c := range cs {
		fmt.Fprintf(w, "  %-10s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Run cordon COMMAND --help for a command's flags.")
}

// inputFlags collects repeated --input k=v flags.
type inputFlags map[string]string

func (f inputFlags) String() string {
	parts := make([]string, 0, len(f))
	for k, v := range f {
		parts = append(parts, k+"="+v)
	}
	sort.Strings(parts)
	return strings.Join(parts, ",")
}

func (f inputFlags) Set(s string) error {
	k, v, ok := strings.Cut(s, "=")
	if !ok || k == "" {
		return fmt.Errorf("want key=value, got %q", s)
	}
	if _, dup := f[k]; dup {
		return fmt.Errorf("input %s given twice", k)
	}
	f[k] = v
	return nil
}
