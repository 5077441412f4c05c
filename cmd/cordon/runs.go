package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/user"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"go.temporal.io/sdk/client"
	"golang.org/x/crypto/ssh"

	"github.com/cordon-ir/cordon/actions/wire"
	"github.com/cordon-ir/cordon/report"
	"github.com/cordon-ir/cordon/runctl"
	"github.com/cordon-ir/cordon/worker"
	"github.com/cordon-ir/cordon/workflows"
)

// parseConfigCommand declares --config, the cordon.yaml that cordon worker
// and cordon gateway run from, parses args (positional arguments are not
// read) and loads the file. When the command cannot run, cfg is nil and code
// is its exit code: 0 for --help, 2 for a usage error or no file named, 1
// when the file does not load.
func parseConfigCommand(env *cliEnv, fs *flag.FlagSet, args []string) (cfg *worker.Config, path string, code int) {
	fs.StringVar(&path, "config", os.Getenv("CORDON_CONFIG"), "cordon.yaml (env CORDON_CONFIG)")
	if _, err := parseInterleaved(fs, args); err != nil {
		return nil, "", flagExit(err)
	}
	if path == "" {
		fs.Usage()
		return nil, "", 2
	}
	cfg, err := worker.LoadConfig(path)
	if err != nil {
		fmt.Fprintf(env.stderr, "cordon %s: %v\n", fs.Name(), err)
		return nil, "", 1
	}
	return cfg, path, 0
}

// connFlags are the flags every command that talks to Temporal takes.
type connFlags struct {
	config    string
	address   string
	namespace string
	taskQueue string
}

func (c *connFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&c.config, "config", os.Getenv("CORDON_CONFIG"), "cordon.yaml with the temporal section (env CORDON_CONFIG)")
	fs.StringVar(&c.address, "address", "", "Temporal address host:port (env CORDON_TEMPORAL_ADDRESS; default "+worker.DefaultAddress+", where cordon dev listens)")
	fs.StringVar(&c.namespace, "namespace", "", "Temporal namespace (default: default)")
	fs.StringVar(&c.taskQueue, "task-queue", "", "task queue of the workers (default "+worker.DefaultTaskQueue+")")
}

// newClientFlagSet is the flag set of a command that talks to Temporal:
// newFlagSet's, with the connection flags every such command takes.
func newClientFlagSet(env *cliEnv, name, usage, about string) (*flag.FlagSet, *connFlags) {
	fs := newFlagSet(env, name, usage, about)
	conn := new(connFlags)
	conn.register(fs)
	return fs, conn
}

// newSignedFlagSet is newClientFlagSet's, with who the CLI acts as and the
// key it signs with, for the commands that send signed requests.
func newSignedFlagSet(env *cliEnv, name, usage, about string) (*flag.FlagSet, *connFlags, *identity) {
	fs, conn := newClientFlagSet(env, name, usage, about)
	id := new(identity)
	id.register(fs)
	return fs, conn, id
}

// temporalConfig resolves flags, environment and config file, in that order.
func (c *connFlags) temporalConfig() (worker.TemporalConfig, error) {
	tc := worker.TemporalConfig{}
	if c.config != "" {
		cfg, err := worker.LoadConfig(c.config)
		if err != nil {
			return tc, err
		}
		tc = cfg.Temporal
	}
	if v := os.Getenv("CORDON_TEMPORAL_ADDRESS"); v != "" {
		tc.Address = v
	}
	if c.address != "" {
		tc.Address = c.address
	}
	if c.namespace != "" {
		tc.Namespace = c.namespace
	}
	if c.taskQueue != "" {
		tc.TaskQueue = c.taskQueue
	}
	if tc.Address == "" {
		tc.Address = worker.DefaultAddress
	}
	if tc.Namespace == "" {
		tc.Namespace = "default"
	}
	if tc.TaskQueue == "" {
		tc.TaskQueue = worker.DefaultTaskQueue
	}
	return tc, nil
}

func (c *connFlags) dial(ctx context.Context, env *cliEnv) (client.Client, worker.TemporalConfig, bool) {
	tc, err := c.temporalConfig()
	if err != nil {
		fmt.Fprintf(env.stderr, "cordon: %v\n", err)
		return nil, tc, false
	}
	dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	cl, err := worker.Dial(dctx, tc, slog.New(slog.DiscardHandler))
	if err != nil {
		fmt.Fprintf(env.stderr, "cordon: %v (is cordon dev running? start it in another terminal, or pass --address)\n", err)
		return nil, tc, false
	}
	return cl, tc, true
}

// parseAndDial parses the command line of a command that lists what is in
// Temporal, as outputFlags.parse does (at most most positional arguments,
// which it does not read), then connects. When ok is false, exit is the
// command's exit code; otherwise the caller closes cl.
func (c *connFlags) parseAndDial(ctx context.Context, env *cliEnv, fs *flag.FlagSet, out *outputFlags, args []string, most int) (cl client.Client, format string, exit int, ok bool) {
	if _, format, exit, ok = out.parse(env, fs, args, 0, most); !ok {
		return nil, "", exit, false
	}
	if cl, _, ok = c.dial(ctx, env); !ok {
		return nil, "", 1, false
	}
	return cl, format, 0, true
}

// state connects and queries a run's state, printing what went wrong; the
// caller closes the client when ok.
func (c *connFlags) state(ctx context.Context, env *cliEnv, runID string) (client.Client, workflows.State, bool) {
	cl, _, ok := c.dial(ctx, env)
	if !ok {
		return nil, workflows.State{}, false
	}
	s, err := runctl.State(ctx, cl, runID)
	if err != nil {
		cl.Close()
		fmt.Fprintf(env.stderr, "cordon: %v\n", err)
		return nil, workflows.State{}, false
	}
	return cl, s, true
}

// identity is who the CLI acts as, and the key it signs with.
type identity struct {
	as  string
	key string
	// looked are the default key paths signer tried when --key was not
	// given and none of them exists, for the message that says so.
	looked []string
}

// defaultKeys are the private keys signer tries, in order, when --key is
// not given: ssh-keygen's default names under ~/.ssh.
func defaultKeys() []string { return []string{"id_ed25519", "id_ecdsa", "id_rsa"} }

func (id *identity) register(fs *flag.FlagSet) {
	fs.StringVar(&id.as, "as", defaultActor(), "roster member id to act as (env CORDON_USER)")
	fs.StringVar(&id.key, "key", "", "SSH private key to sign with (default: the first of ~/.ssh/"+strings.Join(defaultKeys(), ", ~/.ssh/")+" that exists)")
}

func defaultActor() string {
	if v := os.Getenv("CORDON_USER"); v != "" {
		return v
	}
	if u, err := user.Current(); err == nil {
		return u.Username
	}
	return "unknown"
}

// signer loads the signing key. No key is not an error: a development
// roster accepts unsigned requests, a production one refuses them and
// says so (noKeyHelp says what to do).
func (id *identity) signer(env *cliEnv) (ssh.Signer, bool) {
	path := id.key
	if path == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			id.looked = []string{"~/.ssh (no home directory: " + err.Error() + ")"}
			return nil, true
		}
		id.looked = nil
		for _, name := range defaultKeys() {
			p := filepath.Join(home, ".ssh", name)
			if _, err := os.Stat(p); err == nil {
				path = p
				break
			}
			id.looked = append(id.looked, p)
		}
		if path == "" {
			return nil, true
		}
		id.looked = nil
	}
	pem, err := os.ReadFile(path)
	if err != nil {
		fmt.Fprintf(env.stderr, "cordon: read signing key (--key): %v\n", err)
		return nil, false
	}
	s, err := ssh.ParsePrivateKey(pem)
	if err != nil {
		var missing *ssh.PassphraseMissingError
		if errors.As(err, &missing) {
			fmt.Fprintf(env.stderr, "cordon: %s is passphrase-protected: decrypt a copy for the session, or pass --key with an unencrypted key\n", path)
			return nil, false
		}
		fmt.Fprintf(env.stderr, "cordon: signing key %s: %v\n", path, err)
		return nil, false
	}
	return s, true
}

// noKeyHelp says, in one line, that the request went unsigned because no
// key was found, where cordon looked, and how to fix it. Empty when a
// key was found.
func (id *identity) noKeyHelp() string {
	if len(id.looked) == 0 {
		return ""
	}
	return fmt.Sprintf("no SSH key to sign with: --key was not given and none of %s exists; "+
		"only a development worker (cordon dev) accepts unsigned requests. Fix: create a key (ssh-keygen -t ed25519), "+
		"ask a lead to add its public key (%s.pub) to your entry in the roster (roster.members[].public_keys of the worker's cordon.yaml, member %q), "+
		"or pass --key PATH to a key the roster holds", strings.Join(id.looked, ", "), id.looked[0], id.as)
}

// refusedHelp is what to print after a refusal: the refusal, and when the
// request went unsigned for want of a key, how to sign it.
func (id *identity) refusedHelp(env *cliEnv, action, reason string) {
	fmt.Fprintf(env.stderr, "cordon: %s refused: %s\n", action, reason)
	if help := id.noKeyHelp(); help != "" && strings.Contains(reason, "not signed") {
		fmt.Fprintf(env.stderr, "cordon: %s\n", help)
	}
}

func runRun(ctx context.Context, env *cliEnv, args []string) int {
	fs, conn, id := newSignedFlagSet(env, "run", "PATH|NAME [--input k=v...] [--dry-run] [--follow] [--plan-hash H] [--force --reason R]",
		"Start a containment run, signed with your SSH key; print its run id.\n"+
			"PATH is a runbook file, compiled here: the worker runs it as it is only if its runbook source holds the same\n"+
			"runbook (otherwise a lead must approve the plan first). NAME is a runbook of the worker's source, compiled there.")
	inputs := inputFlags{}
	fs.Var(inputs, "input", "runbook input as key=value (repeatable)")
	dry := fs.Bool("dry-run", false, "rehearse: preview every step, change nothing, do not wait at gates")
	follow := fs.Bool("follow", false, "show progress until the run ends (Ctrl-C stops following, not the run: cordon status RUN --follow re-attaches)")
	incident := fs.String("incident", "", "incident id, recorded on every resource Cordon tags")
	planHash := fs.String("plan-hash", "", "refuse to start unless the plan to run has this content hash (cordon plan prints it)")
	force := fs.Bool("force", false, "start although another run is containing the same target (recorded with --reason)")
	reason := fs.String("reason", "", "why --force: it goes into the record")
	pos, exit, ok := parsePositional(fs, args, 1, 1)
	if !ok {
		return exit
	}
	if !reasonGiven(env, *force, *reason, "cordon run: --force needs --reason R: a second containment of the same target is recorded with why") {
		return 2
	}
	start := runctl.StartOptions{PlanHash: *planHash,
		Meta: workflows.RunMeta{Requester: id.as, Channel: "cli", Incident: *incident, DryRun: *dry, Force: *force, ForceReason: *reason}}
	if _, err := os.Stat(pos[0]); err == nil || strings.ContainsAny(pos[0], "/.") {
		plans, ok := compileFiles(env, pos)
		if !ok {
			return 1
		}
		plan := plans[0]
		values, err := plan.ResolveInputs(inputs)
		if err != nil {
			fmt.Fprintf(env.stderr, "%s: %v\n", pos[0], err)
			return 1
		}
		if *planHash != "" && !strings.HasPrefix(plan.ContentHash(), *planHash) {
			fmt.Fprintf(env.stderr, "cordon: %s compiles to plan %s, not %s: review what changed\n", pos[0], plan.ContentHash()[:16], *planHash)
			return 1
		}
		start.Plan, start.Inputs, start.PlanHash = plan, values, ""
	} else {
		start.Runbook, start.InputArgs = pos[0], map[string]string(inputs)
	}
	signer, ok := id.signer(env)
	if !ok {
		return 1
	}
	start.Signer = signer
	cl, tc, ok := conn.dial(ctx, env)
	if !ok {
		return 1
	}
	defer cl.Close()
	runID, err := runctl.Start(ctx, cl, tc.TaskQueue, start)
	if err != nil {
		fmt.Fprintf(env.stderr, "cordon: %v\n", err)
		return 1
	}
	fmt.Fprintln(env.stdout, runID)
	if help := id.noKeyHelp(); help != "" {
		fmt.Fprintf(env.stderr, "cordon: the start is not signed: %s\n", help)
	}
	if !*follow {
		return 0
	}
	return followRun(ctx, env, cl, runID, 0)
}

// exitInterrupted is the exit code of a command stopped by Ctrl-C (128 +
// SIGINT, as shells report it).
const exitInterrupted = 130

// followRun prints the run's timeline as it grows, from event seen on,
// and gates as they open, until the run ends. Ctrl-C (ctx cancelled) stops
// the following, not the run: the workflow goes on without the CLI, and
// the message says how to follow it again.
func followRun(ctx context.Context, env *cliEnv, cl client.Client, runID string, seen int) int {
	stopped := func() int {
		fmt.Fprintf(env.stderr, "cordon: stopped following; the run goes on: cordon status %s --follow\n", runID)
		return exitInterrupted
	}
	shownRetries := map[string]bool{}
	for {
		s, err := runctl.State(ctx, cl, runID)
		if ctx.Err() != nil {
			return stopped()
		}
		if err != nil {
			fmt.Fprintf(env.stderr, "cordon: %v\n", err)
			return 1
		}
		for _, e := range s.Timeline[min(seen, len(s.Timeline)):] {
			printEvent(env, runID, e)
		}
		seen = len(s.Timeline)
		// A step being retried says so once per attempt, with its last
		// error, instead of looking merely slow.
		if rs, err := runctl.Retries(ctx, cl, runID); err == nil {
			for _, r := range rs {
				key := fmt.Sprintf("%s#%d", r.Action, r.Attempt)
				if !shownRetries[key] {
					shownRetries[key] = true
					fmt.Fprintf(env.stdout, "%s  %-16s %s\n", time.Now().Format("15:04:05"), "retrying", r)
				}
			}
		}
		if s.Status != workflows.RunRunning {
			fmt.Fprintf(env.stdout, "run %s %s\n", runID, s.Status)
			return runExitCode(env, s)
		}
		select {
		case <-ctx.Done():
			return stopped()
		case <-time.After(500 * time.Millisecond):
		}
	}
}

func printEvent(env *cliEnv, runID string, e workflows.Event) {
	step := wire.ItemKey(e.Step, e.Item)
	who := ""
	if e.Actor != "" {
		who = " by " + e.Actor
	}
	fmt.Fprintf(env.stdout, "%s  %-16s %-14s%s %s\n", e.Time.Local().Format("15:04:05"), e.Kind, step, who, e.Detail)
	if e.Kind == workflows.EventGateWaiting {
		for _, c := range e.Changes {
			fmt.Fprintf(env.stdout, "          %v %v: %s → %s\n", c.Resource, c.Field, valueText(c.Before), valueText(c.After))
		}
		item := ""
		if e.Item > 0 {
			item = fmt.Sprintf(" --item %d", e.Item)
		}
		fmt.Fprintf(env.stdout, "          approve: cordon approve %s %s%s    deny: cordon approve %s %s%s --deny --reason ...\n", runID, e.Step, item, runID, e.Step, item)
	}
}

func runStatus(ctx context.Context, env *cliEnv, args []string) int {
	fs, conn := newClientFlagSet(env, "status", "RUN [--json] [--follow]", "Show a run's steps, gates waiting and latest events.\n"+
		"With --follow, then show its progress from now until it ends, as cordon run --follow does\n"+
		"(exit 0 succeeded, 3 partial, 1 failed or aborted): how to follow a run again after Ctrl-C.")
	out := registerOutput(fs, "text", "json")
	follow := fs.Bool("follow", false, "after the state, show new events and gates until the run ends")
	pos, format, exit, ok := out.parse(env, fs, args, 1, 1)
	if !ok {
		return exit
	}
	if *follow && format == "json" {
		// One JSON document, then a stream of text lines, is neither.
		fmt.Fprintln(env.stderr, "cordon status: --follow prints text; take --json without it")
		return 2
	}
	cl, s, ok := conn.state(ctx, env, pos[0])
	if !ok {
		return 1
	}
	defer cl.Close()
	if format == "json" {
		return writeJSON(env, s)
	}
	fmt.Fprintf(env.stdout, "run %s: %s (runbook %s, requested by %s)", s.Meta.RunID, s.Status, orNone(s.Runbook), orNone(s.Meta.Requester))
	if s.Paused {
		fmt.Fprint(env.stdout, " — PAUSED: nothing changes until resume")
	}
	if s.Meta.DryRun {
		fmt.Fprint(env.stdout, " — rehearsal")
	}
	fmt.Fprintln(env.stdout)
	tw := tableWriter(env)
	for _, st := range s.Steps {
		what := st.Action
		if st.Uses != "" {
			what = "uses " + st.Uses
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\n", st.ID, what, st.Status, st.Reason)
		for _, c := range st.Children {
			fmt.Fprintf(tw, "  \t  child run %s\t\t\n", c)
		}
	}
	tw.Flush()
	for _, g := range s.Gates {
		if g.Status == workflows.GateWaiting {
			fmt.Fprintf(env.stdout, "gate %s waits for %d approval(s) (%d so far) until %s; preview %s:\n", g.Key, g.MinApprovals, len(g.Approvals), g.Deadline.Local().Format(time.RFC3339), g.PreviewHash[:min(12, len(g.PreviewHash))])
			for _, c := range g.Changes {
				fmt.Fprintf(env.stdout, "    %s %s: %s → %s\n", c.Resource, c.Field, valueText(c.Before), valueText(c.After))
			}
			fmt.Fprintf(env.stdout, "    approve: %s\n", approveCommand(s.Meta.RunID, g))
		}
	}
	var children []workflows.State // a fleet's host runs, for the timings
	if hasChildren(s) {
		// A fleet's gates live in its host runs: say what waits where.
		if hosts, err := hostRuns(ctx, cl, s); err == nil {
			writeHosts(env.stdout, s.Meta.RunID, hosts)
			for _, h := range hosts {
				children = append(children, h.state)
			}
		} else {
			fmt.Fprintf(env.stderr, "cordon: %v\n", err)
		}
	}
	if s.Status == workflows.RunRunning {
		printRetries(ctx, env.stdout, cl, s.Meta.RunID)
	}
	if p := s.Provenance; p != nil {
		vouched := "NOT in the worker's runbook source"
		if p.Vouched {
			vouched = "vouched for by the worker"
		}
		who := "unverified (development roster)"
		if p.Authenticated {
			who = "signed start"
		}
		fmt.Fprintf(env.stdout, "plan: %s — %s; requester %s: %s\n", p.Source, vouched, p.Requester, who)
	}
	if err := report.WriteStatus(env.stdout, s, children); err != nil {
		fmt.Fprintf(env.stderr, "cordon: %v\n", err)
	}
	for _, r := range s.Refusals {
		fmt.Fprintf(env.stdout, "refused: %s by %s via %s at %s: %s\n", r.Action, r.Actor, r.Channel, r.Time.Local().Format("15:04:05"), r.Reason)
	}
	if *follow {
		// The state above is the past; from here on, only what happens
		// next, so re-attaching does not replay the whole timeline.
		fmt.Fprintf(env.stdout, "following run %s from now (Ctrl-C stops following, not the run):\n", s.Meta.RunID)
		return followRun(ctx, env, cl, s.Meta.RunID, len(s.Timeline))
	}
	return 0
}

func runApprove(ctx context.Context, env *cliEnv, args []string) int {
	fs, conn, id := newSignedFlagSet(env, "approve", "RUN STEP [--preview HASH [--yes]] [--deny --reason R] [--as ID] [--item N] [--host H | --all-hosts]",
		"Approve (or deny) the change a gate shows. It shows the change and asks on the terminal; with --preview HASH\n"+
			"(from cordon status) it decides only if the gate still shows the change you reviewed, and --yes skips the question.\n"+
			"Without a terminal, it needs --preview HASH --yes. The decision is signed with your SSH key and binds to that change.")
	deny := fs.Bool("deny", false, "deny instead of approve")
	reason := fs.String("reason", "", "why (required with --deny)")
	item := fs.Int("item", 0, "the foreach item of the gate, when the step fans out (or give STEP#N)")
	preview := fs.String("preview", "", "the preview hash you reviewed, as cordon status prints it (at least 12 hex digits): refuse if the gate now shows another change")
	yes := fs.Bool("yes", false, "decide without asking; only with --preview")
	host := fs.String("host", "", "for a fleet run: the host (instance id, as cordon status lists it) whose gate to decide")
	allHosts := fs.Bool("all-hosts", false, "for a fleet run: every host waiting at STEP in turn, each change shown and asked on the terminal")
	pos, exit, ok := parsePositional(fs, args, 2, 2)
	if !ok {
		return exit
	}
	gate, err := parseGateRef(pos[1], *item)
	if err != nil {
		fmt.Fprintf(env.stderr, "cordon approve: %v\n", err)
		return 2
	}
	a := approveArgs{runID: pos[0], gate: gate, deny: *deny, reason: *reason, yes: *yes, host: *host, allHosts: *allHosts}
	if a.allHosts && (a.host != "" || *preview != "") {
		fmt.Fprintln(env.stderr, "cordon approve: --all-hosts asks for each host's change in turn; it takes neither --host nor --preview")
		return 2
	}
	if *preview != "" {
		if a.preview, err = parsePreview(*preview); err != nil {
			fmt.Fprintf(env.stderr, "cordon approve: %v\n", err)
			return 2
		}
	}
	return approveGate(ctx, env, conn, id, a)
}

// controlCommand builds pause, resume, abort, skip and approve-all.
func controlCommand(action, usage, about string, needsStep bool) func(context.Context, *cliEnv, []string) int {
	return func(ctx context.Context, env *cliEnv, args []string) int {
		fs, conn, id := newSignedFlagSet(env, strings.ReplaceAll(action, "_", "-"), usage, about)
		reason := fs.String("reason", "", "why; recorded in the report")
		want := 1
		if needsStep {
			want = 2
		}
		pos, exit, ok := parsePositional(fs, args, want, -1)
		if !ok {
			return exit
		}
		if len(pos) > want && *reason == "" {
			*reason = strings.Join(pos[want:], " ")
		}
		cl, _, ok := conn.dial(ctx, env)
		if !ok {
			return 1
		}
		defer cl.Close()
		req := workflows.Request{RunID: pos[0], Action: action, Reason: *reason}
		if needsStep {
			req.Step = pos[1]
		}
		return send(ctx, env, cl, id, req)
	}
}

func send(ctx context.Context, env *cliEnv, cl client.Client, id *identity, req workflows.Request) int {
	signer, ok := id.signer(env)
	if !ok {
		return 1
	}
	req.Actor, req.Channel = id.as, "cli"
	out, err := runctl.Send(ctx, cl, req, signer)
	if err != nil {
		var refused *runctl.Refused
		if errors.As(err, &refused) {
			id.refusedHelp(env, req.Action, refused.Reason)
			return 1
		}
		fmt.Fprintf(env.stderr, "cordon: %v\n", err)
		return 1
	}
	fmt.Fprintln(env.stdout, out)
	return 0
}

func runReport(ctx context.Context, env *cliEnv, args []string) int {
	fs, conn := newClientFlagSet(env, "report", "RUN [--format md|json | --json | -o md|json] [--children=true]", "Print the post-incident record of a run: decisions, steps by NIST phase, evidence, timeline;\n"+
		"for a fleet run, also each host: launch → isolation, evidence, decisions, and its own record.")
	out := registerOutput(fs, "md", "json")
	fs.StringVar(&out.format, "format", "", "md or json (the same as -o; default md)")
	withChildren := fs.Bool("children", true, "include the child runs (one per host in a fleet run)")
	pos, format, exit, ok := out.parse(env, fs, args, 1, 1)
	if !ok {
		return exit
	}
	cl, s, ok := conn.state(ctx, env, pos[0])
	if !ok {
		return 1
	}
	defer cl.Close()
	var children []workflows.State
	var err error
	if *withChildren {
		if children, err = runctl.ChildStates(ctx, cl, s); err != nil {
			fmt.Fprintf(env.stderr, "cordon: %v (--children=false reports the run alone)\n", err)
			return 1
		}
	}
	if format == "json" {
		err = report.FleetJSON(env.stdout, s, children)
	} else {
		err = report.FleetMarkdown(env.stdout, s, children)
	}
	if err != nil {
		fmt.Fprintf(env.stderr, "cordon: %v\n", err)
		return 1
	}
	return 0
}

func runList(ctx context.Context, env *cliEnv, args []string) int {
	fs, conn := newClientFlagSet(env, "list", "[--limit N] [--json]", "List recent runs, newest first: outcome (running, succeeded, failed, aborted, partial), runbook,\n"+
		"targets and incident, from the search attributes each run writes (else from Temporal's record of the run).")
	limit := fs.Int("limit", 20, "how many")
	out := registerOutput(fs, "text", "json")
	cl, format, exit, ok := conn.parseAndDial(ctx, env, fs, out, args, -1)
	if !ok {
		return exit
	}
	defer cl.Close()
	resp, err := cl.ListWorkflow(ctx, listRequest(*limit))
	if err != nil {
		fmt.Fprintf(env.stderr, "cordon: list runs: %v\n", err)
		return 1
	}
	execs := resp.GetExecutions()
	sort.SliceStable(execs, func(i, j int) bool { return execs[i].GetStartTime().AsTime().After(execs[j].GetStartTime().AsTime()) })
	runs := make([]listedRun, 0, len(execs))
	for _, e := range execs {
		runs = append(runs, listedRunOf(ctx, cl, e))
	}
	if format == "json" {
		return writeJSON(env, runs)
	}
	tw := tableWriter(env)
	fmt.Fprintln(tw, "RUN\tOUTCOME\tRUNBOOK\tTARGETS\tINCIDENT\tSTARTED")
	for _, r := range runs {
		outcome := r.Outcome
		if r.DryRun {
			outcome += " (rehearsal)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", r.RunID, outcome, orNone(r.Runbook), orNone(strings.Join(r.Targets, ",")),
			orNone(r.Incident), r.StartedAt.Local().Format(time.RFC3339))
	}
	tw.Flush()
	return 0
}

// exitPartial is the exit code of a run that ended partial: every step ran,
// but some hosts of a fleet were not contained (see cordon status).
const exitPartial = 3

// runExitCode maps how a run ended to the exit code of the commands that
// wait for it: 0 succeeded, 3 partial (named hosts not contained), 1
// failed or aborted.
func runExitCode(env *cliEnv, s workflows.State) int {
	switch s.Status {
	case workflows.RunSucceeded:
		return 0
	case workflows.RunPartial:
		for _, st := range s.Steps {
			for _, fi := range st.FailedItems {
				fmt.Fprintf(env.stderr, "cordon: not done: step %s item #%d %s: %s\n", st.ID, fi.Item, fi.Value, fi.Error)
			}
		}
		return exitPartial
	}
	return 1
}
