package main

// You approve what you saw.
//
// Threat model: a decision at a gate is signed over one preview hash, and
// the workflow refuses a decision whose hash is not the one its gate shows
// now. That binding is only worth what the hash stands for: a client that
// takes whatever hash the gate shows at the moment it signs lets a gate
// that reopened with a different change (the world moved: another host
// joined the group, the role gained a session) be approved by someone who
// never saw that change. So cordon approve signs a hash only when the
// approver has seen its change:
//
//   - on a terminal, it shows the change and asks; the answer binds to the
//     hash of the change shown;
//   - with --preview HASH (as cordon status prints it), the approver names
//     the change they reviewed earlier: a gate that shows another change
//     now is refused, and the new change printed, before anything is sent;
//   - --yes (no question asked) only comes with --preview;
//   - with neither a terminal nor --yes, nothing is sent.
//
// A change between the moment it is shown and the moment the decision
// arrives is caught by the workflow, which compares the full hash.
// --preview accepts a prefix of at least 12 hex digits (48 bits, what
// cordon status prints): to move a gate onto a change whose hash shares the
// reviewed prefix, whoever moves the world would have to steer the
// preview's exact content through about 2^48 candidates. The full hash, in
// cordon status --json, leaves no such margin.

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"go.temporal.io/sdk/client"
	"golang.org/x/crypto/ssh"
	"golang.org/x/term"

	"github.com/cordon-ir/cordon/actions/wire"
	"github.com/cordon-ir/cordon/runctl"
	"github.com/cordon-ir/cordon/workflows"
)

// minPreviewPrefix is the fewest hex digits of a preview hash --preview
// takes: what cordon status and the gate notices print.
const minPreviewPrefix = 12

// isTerminal says whether f is a terminal a person types answers on.
func isTerminal(f *os.File) bool { return f != nil && term.IsTerminal(int(f.Fd())) }

// gateRef names the gate a decision is for: a step, and its foreach item
// when the step fans out (0 when it does not).
type gateRef struct {
	step string
	item int
}

func (g gateRef) key() string { return wire.ItemKey(g.step, g.item) }

// parseGateRef reads the STEP argument, which may also be a gate key as
// cordon status prints it (step#N for a foreach item), with --item.
func parseGateRef(arg string, item int) (gateRef, error) {
	if item < 0 {
		return gateRef{}, fmt.Errorf("--item %d: items count from 1", item)
	}
	step, n, found := strings.Cut(arg, "#")
	if !found {
		return gateRef{step: arg, item: item}, nil
	}
	k, err := strconv.Atoi(n)
	if err != nil || k < 1 || step == "" {
		return gateRef{}, fmt.Errorf("%q: want STEP or STEP#N (the gate key cordon status prints)", arg)
	}
	if item != 0 && item != k {
		return gateRef{}, fmt.Errorf("%q names item %d but --item says %d", arg, k, item)
	}
	return gateRef{step: step, item: k}, nil
}

// parsePreview checks a --preview value: a preview hash, or a prefix of at
// least minPreviewPrefix hex digits of one. It returns it in lower case.
func parsePreview(s string) (string, error) {
	h := strings.ToLower(strings.TrimSpace(s))
	if len(h) < minPreviewPrefix || len(h) > 64 {
		return "", fmt.Errorf("--preview %q: want the preview hash cordon status prints (at least %d hex digits)", s, minPreviewPrefix)
	}
	for _, r := range h {
		if !strings.ContainsRune("0123456789abcdef", r) {
			return "", fmt.Errorf("--preview %q: not a hex hash (cordon status prints it after \"preview\")", s)
		}
	}
	return h, nil
}

// previewMatches says whether the hash the approver reviewed (a valid
// --preview value) names the gate's current preview.
func previewMatches(reviewed, current string) bool {
	return len(reviewed) >= minPreviewPrefix && current != "" && strings.HasPrefix(strings.ToLower(current), reviewed)
}

// shortHash is the form of a preview hash people read and type.
func shortHash(h string) string {
	if h == "" {
		return "(none)"
	}
	return h[:min(minPreviewPrefix, len(h))]
}

// findWaitingGate returns the gate ref names if it waits for a decision,
// and every gate that waits, for the message when it does not.
func findWaitingGate(gates []workflows.GateState, ref gateRef) (*workflows.GateState, []workflows.GateState) {
	var found *workflows.GateState
	var waiting []workflows.GateState
	for i, g := range gates {
		if g.Status != workflows.GateWaiting {
			continue
		}
		waiting = append(waiting, g)
		if g.Step == ref.step && g.Item == ref.item {
			found = &gates[i]
		}
	}
	return found, waiting
}

// approveCommand is the command that approves the change g shows now, and
// nothing else: what cordon status offers to copy.
func approveCommand(runID string, g workflows.GateState) string {
	return hostApproveCommand(runID, "", g)
}

// hostApproveCommand is approveCommand for the gate of one host of a
// fleet run (host "" for the run's own gate).
func hostApproveCommand(runID, host string, g workflows.GateState) string {
	item := ""
	if g.Item > 0 {
		item = fmt.Sprintf(" --item %d", g.Item)
	}
	if host != "" {
		item += " --host " + host
	}
	return fmt.Sprintf("cordon approve %s %s%s --preview %s", runID, g.Step, item, shortHash(g.PreviewHash))
}

// writeGate shows the change a decision at g signs: the runbook and step,
// the preview hash, each change, the approvals so far and how many it
// needs. Changes read as cordon status prints them, so the approver can
// compare the two.
func writeGate(w io.Writer, s workflows.State, g workflows.GateState) {
	fmt.Fprintf(w, "run %s, runbook %s (requested by %s)\n", s.Meta.RunID, s.Runbook, s.Meta.Requester)
	step := g.Key
	for _, st := range s.Steps {
		if st.ID == g.Step {
			if st.Name != "" {
				step += " — " + st.Name
			}
			if st.Action != "" {
				step += " (" + st.Action + ")"
			}
			break
		}
	}
	fmt.Fprintf(w, "step %s\n", step)
	fmt.Fprintf(w, "preview %s:\n", shortHash(g.PreviewHash))
	if len(g.Changes) == 0 {
		fmt.Fprintln(w, "    no change: the action finds nothing left to do")
	}
	for _, c := range g.Changes {
		fmt.Fprintf(w, "    %s %s: %s → %s\n", c.Resource, c.Field, valueText(c.Before), valueText(c.After))
	}
	who := g.Approvers.String()
	if g.Escalated {
		who += ", escalated"
	}
	fmt.Fprintf(w, "approvals: %d of %d needed (from %s)", len(g.Approvals), g.MinApprovals, who)
	for i, a := range g.Approvals {
		sep := ", "
		if i == 0 {
			sep = ": "
		}
		fmt.Fprintf(w, "%s%s via %s", sep, a.Actor, a.Channel)
	}
	if !g.Deadline.IsZero() {
		fmt.Fprintf(w, "; waits until %s", g.Deadline.Local().Format(time.RFC3339))
	}
	fmt.Fprintln(w)
}

// How a decision is made once the change is known.
type decisionMode int

const (
	// askApprover shows the change and asks on the terminal.
	askApprover decisionMode = iota
	// decideReviewed decides without asking: --yes, for the change
	// --preview names.
	decideReviewed
	// refuseUnseen sends nothing: nobody to ask, and no --yes.
	refuseUnseen
)

// errYesNeedsPreview is the usage error of --yes alone.
var errYesNeedsPreview = errors.New("--yes needs --preview HASH from cordon status, so you approve only the change you reviewed")

// decideHow says how to make the decision: --yes only with --preview (a
// usage error otherwise), a question on a terminal, and nothing sent
// without either.
func decideHow(preview string, yes, terminal bool) (decisionMode, error) {
	switch {
	case yes && preview == "":
		return refuseUnseen, errYesNeedsPreview
	case yes:
		return decideReviewed, nil
	case terminal:
		return askApprover, nil
	default:
		return refuseUnseen, nil
	}
}

// confirm asks question on w and reads one line of answer from r: y or
// yes, in any case, is yes; anything else, or no answer, is no.
func confirm(r io.Reader, w io.Writer, question string) bool {
	fmt.Fprintf(w, "%s [y/N] ", question)
	if r == nil {
		fmt.Fprintln(w)
		return false
	}
	line, err := bufio.NewReader(r).ReadString('\n')
	if err != nil && line == "" {
		fmt.Fprintln(w)
		return false
	}
	switch strings.ToLower(strings.TrimSpace(line)) {
	case "y", "yes":
		return true
	}
	return false
}

// approveArgs are cordon approve's arguments once parsed.
type approveArgs struct {
	runID   string
	gate    gateRef
	deny    bool
	reason  string
	preview string // lower-case hex, "" when not given
	yes     bool
	// host picks one host's run of a fleet run; allHosts walks every
	// host's run whose gate of the step waits.
	host     string
	allHosts bool
}

func (a approveArgs) verb() string {
	if a.deny {
		return "deny"
	}
	return "approve"
}

// approveGate shows the change at the gate, makes sure the approver saw
// it, and sends the decision bound to it. Exit 0 only when the workflow
// accepted the decision.
func approveGate(ctx context.Context, env *cliEnv, conn *connFlags, id *identity, a approveArgs) int {
	mode, err := decideHow(a.preview, a.yes, env.stdinTerminal)
	if err != nil {
		fmt.Fprintf(env.stderr, "cordon approve: %v\n", err)
		return 2
	}
	if a.deny && a.reason == "" {
		fmt.Fprintln(env.stderr, "cordon approve: --deny needs --reason R; the reason goes into the report")
		return 2
	}
	signer, ok := id.signer(env)
	if !ok {
		return 1
	}
	cl, s, ok := conn.state(ctx, env, a.runID)
	if !ok {
		return 1
	}
	defer cl.Close()
	g, waiting := findWaitingGate(s.Gates, a.gate)
	switch {
	case (a.host != "" || a.allHosts) && !hasChildren(s):
		fmt.Fprintf(env.stderr, "cordon approve: run %s contains no hosts in child runs; --host and --all-hosts are for fleet runs\n", a.runID)
		return 2
	case g == nil && hasChildren(s):
		return decideForHosts(ctx, env, cl, signer, id, s, a, mode)
	case g == nil:
		writeNotWaiting(env, s, a.gate, waiting)
		return 1
	}
	return decideAt(ctx, env, cl, signer, id, s, *g, a, mode)
}

// decideForHosts decides a gate that lives in the host runs of fleet run
// s: the one host's (--host, or the only one waiting), or with
// --all-hosts each waiting host's in turn, each change shown and asked.
func decideForHosts(ctx context.Context, env *cliEnv, cl client.Client, signer ssh.Signer, id *identity, s workflows.State, a approveArgs, mode decisionMode) int {
	hosts, err := hostRuns(ctx, cl, s)
	if err != nil {
		fmt.Fprintf(env.stderr, "cordon: %v\n", err)
		return 1
	}
	waiting := waitingHosts(hosts, a.gate, a.host)
	switch {
	case len(waiting) == 0:
		who := "no host run"
		if a.host != "" {
			who = "the run of host " + a.host + " does not wait, and no other host run"
		}
		fmt.Fprintf(env.stderr, "cordon: gate %s of fleet run %s: %s waits there; nothing was sent. What waits:\n", a.gate.key(), s.Meta.RunID, who)
		writeHosts(env.stderr, s.Meta.RunID, hosts)
		return 1
	case len(waiting) > 1 && !a.allHosts:
		fmt.Fprintf(env.stderr, "cordon: %d hosts of fleet run %s wait at gate %s, each with its own change; nothing was sent. Decide one with --host, or each in turn on a terminal with --all-hosts:\n",
			len(waiting), s.Meta.RunID, a.gate.key())
		writeHosts(env.stderr, s.Meta.RunID, waiting)
		return 1
	case a.allHosts && mode != askApprover:
		fmt.Fprintln(env.stderr, "cordon approve: --all-hosts shows each host's change and asks on a terminal; without one, decide each host with --host H --preview HASH --yes")
		return 2
	}
	code := 0
	for _, h := range waiting {
		g, _ := findWaitingGate(h.state.Gates, a.gate)
		fmt.Fprintf(env.stdout, "host %s (run %s):\n", h.host, h.state.Meta.RunID)
		b := a
		b.runID = h.state.Meta.RunID
		if c := decideAt(ctx, env, cl, signer, id, h.state, *g, b, mode); c != 0 {
			code = c
		}
	}
	return code
}

// decideAt shows gate g of run s, makes sure the approver saw its change,
// and sends the decision bound to it.
func decideAt(ctx context.Context, env *cliEnv, cl client.Client, signer ssh.Signer, id *identity, s workflows.State, gs workflows.GateState, a approveArgs, mode decisionMode) int {
	g := &gs
	writeGate(env.stdout, s, *g)
	if a.preview != "" && !previewMatches(a.preview, g.PreviewHash) {
		fmt.Fprintf(env.stderr, "cordon: the change at gate %s differs from what you reviewed (preview %s): it is now preview %s, printed above; nothing was sent. Review it and %s again: %s\n",
			g.Key, a.preview, shortHash(g.PreviewHash), a.verb(), decisionCommand(a, *g))
		return 1
	}
	switch mode {
	case refuseUnseen:
		if a.preview == "" {
			fmt.Fprintf(env.stderr, "cordon: no terminal to ask on, and a decision is never signed unseen; nothing was sent. Review the change above and pass --preview HASH --yes: %s --yes\n", decisionCommand(a, *g))
		} else {
			fmt.Fprintf(env.stderr, "cordon: no terminal to ask on; nothing was sent. Pass --yes with --preview to %s the change you reviewed without a question\n", a.verb())
		}
		return 1
	case askApprover:
		if !confirm(env.stdin, env.stdout, a.verb()+"?") {
			fmt.Fprintf(env.stderr, "cordon: not %s; nothing was sent\n", pastTense(a.verb()))
			return 1
		}
	}
	action := workflows.ActApprove
	if a.deny {
		action = workflows.ActDeny
	}
	req := workflows.Request{RunID: a.runID, Action: action, Step: g.Step, Item: g.Item, PreviewHash: g.PreviewHash, Reason: a.reason,
		Actor: id.as, Channel: "cli"}
	return sendDecision(ctx, env, cl, req, signer, id)
}

// decisionCommand is the command that repeats this decision for the
// change g shows now.
func decisionCommand(a approveArgs, g workflows.GateState) string {
	cmd := approveCommand(a.runID, g)
	if a.deny {
		cmd += " --deny --reason " + strconv.Quote(a.reason)
	}
	return cmd
}

func pastTense(verb string) string {
	if verb == "deny" {
		return "denied"
	}
	return verb + "d"
}

// writeNotWaiting says that no gate of ref waits, and which gates do.
func writeNotWaiting(env *cliEnv, s workflows.State, ref gateRef, waiting []workflows.GateState) {
	if len(waiting) == 0 {
		fmt.Fprintf(env.stderr, "cordon: step %s is not waiting for approval, and no gate of run %s is (run %s); nothing was sent\n", ref.key(), s.Meta.RunID, s.Status)
		return
	}
	fmt.Fprintf(env.stderr, "cordon: step %s is not waiting for approval; nothing was sent. Gates waiting:\n", ref.key())
	for _, g := range waiting {
		fmt.Fprintf(env.stderr, "cordon:   gate %s, preview %s: %s\n", g.Key, shortHash(g.PreviewHash), approveCommand(s.Meta.RunID, g))
	}
}

// sendDecision signs and sends the decision, and prints what the workflow
// made of it. When the workflow refuses because the gate moved on to
// another change meanwhile, it shows that change.
func sendDecision(ctx context.Context, env *cliEnv, cl client.Client, req workflows.Request, signer ssh.Signer, id *identity) int {
	out, err := runctl.Send(ctx, cl, req, signer)
	if err == nil {
		if req.Action != workflows.ActApprove || !strings.HasPrefix(out, "approved ") {
			fmt.Fprintln(env.stdout, out) // a denial, or an approval still short of the count
			return 0
		}
		return reportAftermath(ctx, env, cl, req)
	}
	var refused *runctl.Refused
	if !errors.As(err, &refused) {
		fmt.Fprintf(env.stderr, "cordon: %v\n", err)
		return 1
	}
	id.refusedHelp(env, req.Action, refused.Reason)
	if s, err := runctl.State(ctx, cl, req.RunID); err == nil {
		if g, _ := findWaitingGate(s.Gates, gateRef{step: req.Step, item: req.Item}); g != nil && g.PreviewHash != req.PreviewHash {
			writeGate(env.stdout, s, *g)
			fmt.Fprintf(env.stderr, "cordon: the change at gate %s changed while you decided: it is now preview %s, printed above. Review it and decide again: %s\n",
				g.Key, shortHash(g.PreviewHash), approveCommand(req.RunID, *g))
		}
	}
	return 1
}

// aftermathWait bounds how long cordon approve waits to say what the
// approval led to: the workflow previews once more before acting.
const aftermathWait = 15 * time.Second

// reportAftermath says what the workflow made of an approval that
// completed a gate: acting, held by a pause, or asking again because the
// change moved. "approved" alone would claim more than is known.
func reportAftermath(ctx context.Context, env *cliEnv, cl client.Client, req workflows.Request) int {
	key := wire.ItemKey(req.Step, req.Item)
	a, err := runctl.AfterApproval(ctx, cl, req.RunID, req.Step, req.Item, aftermathWait)
	if err != nil {
		fmt.Fprintf(env.stdout, "approved %s; could not read what followed: %v (cordon status %s)\n", key, err, req.RunID)
		return 0
	}
	switch a.Fate {
	case runctl.FateActing:
		fmt.Fprintf(env.stdout, "approved %s: the change is as approved; acting now (cordon status %s --follow)\n", key, req.RunID)
	case runctl.FateHeld:
		fmt.Fprintf(env.stdout, "approved %s; held: the run is paused, and %s acts after resume (cordon resume %s)\n", key, key, req.RunID)
	case runctl.FateReopened:
		s, serr := runctl.State(ctx, cl, req.RunID)
		if serr == nil {
			writeGate(env.stdout, s, a.Gate)
		}
		fmt.Fprintf(env.stderr, "cordon: your approval of %s was recorded, but before acting the change was no longer the one approved (the world moved): the gate asks again with preview %s, printed above. Nothing was changed. Review it and decide again: %s\n",
			key, shortHash(a.Gate.PreviewHash), approveCommand(req.RunID, a.Gate))
		return 1
	case runctl.FateEnded:
		fmt.Fprintf(env.stderr, "cordon: approved %s, but the step ended without acting: %s\n", key, a.Detail)
		return 1
	default:
		fmt.Fprintf(env.stdout, "approved %s; it has not acted yet (the preview before acting is still running): cordon status %s\n", key, req.RunID)
	}
	return 0
}
