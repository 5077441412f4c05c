package main

// cordon inbox: what waits for a decision, across every open run. A
// responder on call should not have to know run ids to find the gates
// that wait for them: inbox reads every running run (and so every host
// run of a running fleet), lists each waiting gate, most urgent first,
// with the command that decides it, and says which the user may decide.
//
// The CLI does not hold the roster: the workflow judges authority against
// the live roster when a decision arrives. So "yours" is what the CLI can
// tell from the run's state: named as a person, or in a group the user
// names with --group; never the requester's own run unless the gate allows
// self-approval; never a gate the user already approved. It is a guide to
// where to look, not a grant: the workflow still decides.

import (
	"context"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"
	"time"

	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"

	"github.com/cordon-ir/cordon/actions/wire"
	"github.com/cordon-ir/cordon/report"
	"github.com/cordon-ir/cordon/runbooks"
	"github.com/cordon-ir/cordon/runctl"
	"github.com/cordon-ir/cordon/workflows"
)

// inboxGate is one gate waiting for a decision (one object of --json).
type inboxGate struct {
	RunID string `json:"run_id"`
	// FleetRun and Host are set for a host run of a fleet: the fleet run
	// the command decides it from, and the host (report.HostOf).
	FleetRun  string `json:"fleet_run,omitempty"`
	Host      string `json:"host,omitempty"`
	Runbook   string `json:"runbook"`
	Requester string `json:"requester,omitempty"`
	Incident  string `json:"incident,omitempty"`
	// Paused: approvals are kept, but nothing acts until resume.
	Paused bool   `json:"paused,omitempty"`
	Gate   string `json:"gate"` // the gate key: step, or step#N for a foreach item
	Step   string `json:"step"`
	Item   int    `json:"item,omitempty"`
	// WaitingSince is when the gate (this round of it) opened.
	WaitingSince *time.Time `json:"waiting_since,omitempty"`
	Deadline     time.Time  `json:"deadline"`
	Approvals    int        `json:"approvals"`
	MinApprovals int        `json:"min_approvals"`
	ApprovedBy   []string   `json:"approved_by,omitempty"`
	// Approvers are the groups and people the gate names (and, when it
	// escalated, the escalation's too, which the state does not list).
	Approvers    runbooks.Approvers `json:"approvers"`
	Escalated    bool               `json:"escalated,omitempty"`
	SelfApproval bool               `json:"self_approval,omitempty"`
	PreviewHash  string             `json:"preview_hash"`
	Changes      int                `json:"changes"`
	FirstChange  *wire.Change       `json:"first_change,omitempty"`
	// Yours says the user may decide it, as far as the CLI can tell;
	// Why says how it knows, or what is missing.
	Yours   bool   `json:"yours"`
	Why     string `json:"why"`
	Command string `json:"command"`
}

// who is the user inbox marks gates for: a roster member id and the
// groups they say they are in.
type who struct {
	id     string
	groups []string
}

// named says whether approvers name u: as a person, or through one of the
// groups u gave; how is the reason.
func (u who) named(a runbooks.Approvers) (ok bool, how string) {
	if slices.Contains(a.People, u.id) {
		return true, "named as an approver"
	}
	for _, g := range u.groups {
		if slices.Contains(a.Groups, g) {
			return true, "your group " + g + " (--group) approves"
		}
	}
	return false, ""
}

// decidable says whether u may decide gate g of run s, as far as the
// state tells: the roster's groups are the worker's, so a group counts
// only when u names it with --group.
func decidable(u who, s workflows.State, g workflows.GateState) (bool, string) {
	for _, a := range g.Approvals {
		if a.Actor == u.id {
			return false, fmt.Sprintf("you approved it already; it needs %d distinct approvers", g.MinApprovals)
		}
	}
	if u.id == s.Meta.Requester && !g.SelfApproval {
		return false, "you requested this run, and its gates do not allow self-approval"
	}
	ok, how := u.named(g.Approvers)
	if !ok {
		why := "not named as an approver"
		if len(g.Approvers.Groups) > 0 {
			why = fmt.Sprintf("not named as a person; the approvers are %s: the CLI cannot see the roster's groups, pass --group G for a group you are in", g.Approvers)
		}
		if g.Escalated {
			why += "; the gate escalated, and its escalation's approvers may decide too (not in the run's state)"
		}
		return false, why
	}
	if p := policyApprovers(s); p != nil && g.Key != workflows.PlanGate {
		if inPolicy, _ := u.named(*p); !inPolicy {
			return false, "the runbook names you, but the organisation's policy also requires " + p.String()
		}
	}
	return true, how
}

// policyApprovers is the organisation's restriction of every approver, if
// the run recorded one.
func policyApprovers(s workflows.State) *runbooks.Approvers {
	if s.Provenance == nil {
		return nil
	}
	return s.Provenance.Policy.Approvers
}

// gateOpened is when gate g began waiting: its last gate_waiting event
// (a gate reopens when the world moves; what counts is this round).
func gateOpened(s workflows.State, g workflows.GateState) *time.Time {
	for i := len(s.Timeline) - 1; i >= 0; i-- {
		e := s.Timeline[i]
		if e.Kind == workflows.EventGateWaiting && e.Step == g.Step && e.Item == g.Item {
			t := e.Time
			return &t
		}
	}
	return nil
}

// inboxOf lists the waiting gates of run s for u. fleet and host are the
// fleet run s is a host run of, and its host ("" for a run on its own).
func inboxOf(u who, s workflows.State, fleet, host string) []inboxGate {
	var out []inboxGate
	for _, g := range s.Gates {
		if g.Status != workflows.GateWaiting {
			continue
		}
		ig := inboxGate{
			RunID: s.Meta.RunID, FleetRun: fleet, Host: host, Runbook: s.Runbook, Requester: s.Meta.Requester,
			Incident: s.Meta.Incident, Paused: s.Paused, Gate: g.Key, Step: g.Step, Item: g.Item,
			WaitingSince: gateOpened(s, g), Deadline: g.Deadline, Approvals: len(g.Approvals), MinApprovals: g.MinApprovals,
			Approvers: g.Approvers, Escalated: g.Escalated, SelfApproval: g.SelfApproval, PreviewHash: g.PreviewHash,
			Changes: len(g.Changes),
		}
		for _, a := range g.Approvals {
			ig.ApprovedBy = append(ig.ApprovedBy, a.Actor)
		}
		if len(g.Changes) > 0 {
			c := g.Changes[0]
			ig.FirstChange = &c
		}
		ig.Yours, ig.Why = decidable(u, s, g)
		if fleet != "" {
			ig.Command = hostApproveCommand(fleet, host, g)
		} else {
			ig.Command = approveCommand(s.Meta.RunID, g)
		}
		out = append(out, ig)
	}
	return out
}

// sortInbox puts the most urgent first: the earliest deadline (a gate
// without one last), then by run and gate for a stable order.
func sortInbox(gs []inboxGate) {
	sort.SliceStable(gs, func(i, j int) bool {
		a, b := gs[i], gs[j]
		if a.Deadline.IsZero() != b.Deadline.IsZero() {
			return !a.Deadline.IsZero()
		}
		if !a.Deadline.Equal(b.Deadline) {
			return a.Deadline.Before(b.Deadline)
		}
		if a.RunID != b.RunID {
			return a.RunID < b.RunID
		}
		return a.Gate < b.Gate
	})
}

// runQueryTimeout bounds how long inbox waits for one run's state.
const runQueryTimeout = 10 * time.Second

// openRuns reads the state of every running run. A run whose state cannot
// be read is named in errs and left out: the others still show.
func openRuns(ctx context.Context, cl client.Client) (runs []workflows.State, errs []error, err error) {
	req := &workflowservice.ListWorkflowExecutionsRequest{
		PageSize: 100,
		Query:    "WorkflowType = '" + workflows.WorkflowName + "' AND ExecutionStatus = 'Running'",
	}
	for {
		resp, err := cl.ListWorkflow(ctx, req)
		if err != nil {
			return runs, errs, fmt.Errorf("list open runs: %w", err)
		}
		for _, e := range resp.GetExecutions() {
			// A run no worker answers for must not hold up the others.
			qctx, cancel := context.WithTimeout(ctx, runQueryTimeout)
			s, err := runctl.State(qctx, cl, e.GetExecution().GetWorkflowId())
			cancel()
			if err != nil {
				errs = append(errs, err)
				continue
			}
			runs = append(runs, s)
		}
		if len(resp.GetNextPageToken()) == 0 {
			return runs, errs, nil
		}
		req.NextPageToken = resp.GetNextPageToken()
	}
}

// collectInbox lists the waiting gates of runs for u. A run started by
// another run in the list is a host of that run when the parent lists it
// among its children: its gates are decided from the parent with --host,
// as cordon status of the fleet run offers.
func collectInbox(u who, runs []workflows.State) []inboxGate {
	byID := make(map[string]workflows.State, len(runs))
	for _, s := range runs {
		byID[s.Meta.RunID] = s
	}
	var out []inboxGate
	for _, s := range runs {
		fleet, host := "", ""
		if p, ok := byID[s.Meta.Parent]; ok && s.Meta.Parent != "" && isChildOf(p, s.Meta.RunID) {
			fleet, host = p.Meta.RunID, report.HostOf(s)
		}
		out = append(out, inboxOf(u, s, fleet, host)...)
	}
	sortInbox(out)
	return out
}

// isChildOf says whether run id is one of the child runs parent started.
func isChildOf(parent workflows.State, id string) bool {
	for _, st := range parent.Steps {
		if slices.Contains(st.Children, id) {
			return true
		}
	}
	return false
}

// groupFlags collects repeated --group G (or G1,G2) flags.
type groupFlags []string

func (f *groupFlags) String() string { return strings.Join(*f, ",") }

func (f *groupFlags) Set(s string) error {
	for _, g := range strings.Split(s, ",") {
		if g = strings.TrimSpace(g); g != "" && !slices.Contains(*f, g) {
			*f = append(*f, g)
		}
	}
	return nil
}

func runInbox(ctx context.Context, env *cliEnv, args []string) int {
	fs, conn := newClientFlagSet(env, "inbox", "[--as ID] [--group G...] [--json]",
		"List every gate waiting for a decision in the open runs (and the host runs of open fleet runs), the most urgent\n"+
			"(earliest deadline) first: run, host, gate, how long it waited and until when, approvals so far and needed, the\n"+
			"approvers, the change, and the command that decides it. Gates you may decide are marked: the CLI does not hold\n"+
			"the roster, so a group counts only when you name it with --group; the requester of a run never decides its\n"+
			"gates unless they allow self-approval. The workflow still judges every decision against the live roster.")
	as := fs.String("as", defaultActor(), "roster member id to list for (env CORDON_USER)")
	var groups groupFlags
	fs.Var(&groups, "group", "a roster group you are in (repeatable, or G1,G2): gates it approves are yours")
	out := registerOutput(fs, "text", "json")
	cl, format, exit, ok := conn.parseAndDial(ctx, env, fs, out, args, 0)
	if !ok {
		return exit
	}
	defer cl.Close()
	runs, errs, err := openRuns(ctx, cl)
	if err != nil {
		fmt.Fprintf(env.stderr, "cordon: %v\n", err)
		return 1
	}
	u := who{id: *as, groups: groups}
	gates := collectInbox(u, runs)
	if format == "json" {
		if gates == nil {
			gates = []inboxGate{}
		}
		if code := writeJSON(env, gates); code != 0 {
			return code
		}
	} else {
		writeInbox(env.stdout, u, len(runs), gates, time.Now())
	}
	for _, e := range errs {
		fmt.Fprintf(env.stderr, "cordon: left out: %v\n", e)
	}
	if len(errs) > 0 {
		// The list is incomplete: a script must not take it for all there is.
		return 1
	}
	return 0
}

// writeInbox prints the gates as text, for a person deciding what to do
// next; now is the time the waits and deadlines are counted from.
func writeInbox(w io.Writer, u who, runs int, gates []inboxGate, now time.Time) {
	groups := "no --group given"
	if len(u.groups) > 0 {
		groups = "groups " + strings.Join(u.groups, ", ")
	}
	mine := 0
	for _, g := range gates {
		if g.Yours {
			mine++
		}
	}
	fmt.Fprintf(w, "%d gate(s) wait in %d open run(s); %d yours to decide (as %s, %s)\n", len(gates), runs, mine, u.id, groups)
	for _, g := range gates {
		mark := "  "
		if g.Yours {
			mark = "* "
		}
		where := "run " + g.RunID
		if g.FleetRun != "" {
			where = fmt.Sprintf("host %s of fleet run %s (host run %s)", g.Host, g.FleetRun, g.RunID)
		}
		fmt.Fprintf(w, "\n%sgate %s of %s — runbook %s, requested by %s", mark, g.Gate, where, orNone(g.Runbook), orNone(g.Requester))
		if g.Incident != "" {
			fmt.Fprintf(w, ", incident %s", g.Incident)
		}
		if g.Paused {
			fmt.Fprint(w, " — PAUSED")
		}
		fmt.Fprintln(w)
		waited := none
		if g.WaitingSince != nil {
			waited = fmt.Sprintf("%s (since %s)", roundDuration(now.Sub(*g.WaitingSince)), g.WaitingSince.Local().Format("15:04:05"))
		}
		until := none
		if !g.Deadline.IsZero() {
			left := g.Deadline.Sub(now)
			if left > 0 {
				until = fmt.Sprintf("%s (in %s)", g.Deadline.Local().Format(time.RFC3339), roundDuration(left))
			} else {
				until = fmt.Sprintf("%s (passed)", g.Deadline.Local().Format(time.RFC3339))
			}
		}
		fmt.Fprintf(w, "    waited %s, until %s\n", waited, until)
		approvers := g.Approvers.String()
		if g.Escalated {
			approvers += ", escalated"
		}
		fmt.Fprintf(w, "    approvals %d of %d (from %s)", g.Approvals, g.MinApprovals, approvers)
		if len(g.ApprovedBy) > 0 {
			fmt.Fprintf(w, ": %s", strings.Join(g.ApprovedBy, ", "))
		}
		fmt.Fprintln(w)
		switch {
		case g.FirstChange == nil:
			fmt.Fprintln(w, "    no change: the action finds nothing left to do")
		case g.Changes == 1:
			fmt.Fprintf(w, "    1 change: %s\n", changeText(*g.FirstChange))
		default:
			fmt.Fprintf(w, "    %d changes, first: %s\n", g.Changes, changeText(*g.FirstChange))
		}
		verdict := "not yours"
		if g.Yours {
			verdict = "yours"
		}
		fmt.Fprintf(w, "    %s: %s\n", verdict, g.Why)
		fmt.Fprintf(w, "    decide: %s\n", g.Command)
	}
}

// changeText prints a change as cordon status and cordon approve do.
func changeText(c wire.Change) string {
	return fmt.Sprintf("%s %s: %s → %s", c.Resource, c.Field, valueText(c.Before), valueText(c.After))
}

// roundDuration is d as people read a wait: to the second, and to the
// minute beyond an hour.
func roundDuration(d time.Duration) string {
	if d >= time.Hour {
		return d.Round(time.Minute).String()
	}
	return d.Round(time.Second).String()
}
