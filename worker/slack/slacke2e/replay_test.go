package slacke2e

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/cordon-ir/cordon/runctl"
	"github.com/cordon-ir/cordon/worker/slack"
	"github.com/cordon-ir/cordon/worker/slack/slackfake"
	"github.com/cordon-ir/cordon/workflows"
)

// The threat (worker/slack/nonce.go): a captured, correctly signed Slack
// request sent again within Slack's five-minute signature window, to the
// same gateway, to another replica, or to a gateway after a restart. The
// gateway holds no memory of requests; the workflow refuses the nonce it
// has accepted. Each defence below is checked on what the run recorded.

// refusedAsRepeats checks that each gateway forwarded what it was given
// once since the mark, and the run refused it as a repeat.
func refusedAsRepeats(t *testing.T, procs []*gatewayProc, marks []int, nonce string) {
	t.Helper()
	for i, p := range procs {
		sends := p.runs.sends()[marks[i]:]
		if len(sends) != 1 {
			t.Errorf("gateway %d forwarded %d request(s), want 1", i+1, len(sends))
			continue
		}
		var refused *runctl.Refused
		if s := sends[0]; s.Req.Nonce != nonce || !errors.As(s.Err, &refused) || !strings.Contains(refused.Reason, "already used") {
			t.Errorf("gateway %d: nonce %s (first %s), answer %v; want the run to refuse a repeat", i+1, s.Req.Nonce, nonce, s.Err)
		}
	}
}

func marks(procs []*gatewayProc) []int {
	out := make([]int, len(procs))
	for i, p := range procs {
		out[i] = len(p.runs.sends())
	}
	return out
}

// ephemeralsTo counts the ephemeral messages to user containing a text,
// from the since-th ephemeral message on.
func ephemeralsTo(user, containing string, since int) int {
	n := 0
	for _, c := range shared.slack.Calls("chat.postEphemeral")[since:] {
		if c.Form.Get("user") == user && strings.Contains(c.Text(), containing) {
			n++
		}
	}
	return n
}

// A click delivered again (same body, same signature headers) approves
// once: the same gateway, a replica and a restarted gateway all forward it
// with the click's nonce, and the run refuses it as a repeat. Two
// different members' clicks are two approvals (the positive control).
func TestReplayedClickApprovesOnce(t *testing.T) {
	target := seedOne(t)
	runID := startFromSlack(t, "UALICE", "run two-person-isolate instance_id="+target)
	m := waitGateMessage(t, runID, "isolate")

	click := signed(slack.PathInteractions, slackfake.Click(team, "UBOB", m.Channel, m.TS, "cordon_approve", m.Value))
	if code, _ := shared.gateway.deliver(t, click); code != http.StatusOK {
		t.Fatalf("bob's click: %d", code)
	}
	if got := lastEphemeral("UBOB"); !strings.Contains(got, "approval 1 of 2") {
		t.Fatalf("bob was told %q", got)
	}
	first := shared.gateway.runs.sends()
	nonce := first[len(first)-1].Req.Nonce
	told := len(shared.slack.Calls("chat.postEphemeral"))

	procs := []*gatewayProc{shared.gateway, gatewayFor(t, shared.roster), gatewayFor(t, shared.roster)}
	before := marks(procs)
	for i, p := range procs {
		if code, answer := p.deliver(t, click); code != http.StatusOK {
			t.Fatalf("repeat %d: status %d %s", i+1, code, answer)
		}
	}
	refusedAsRepeats(t, procs, before, nonce)
	g := gateState(t, runID, "isolate")
	if g.Status != workflows.GateWaiting || len(g.Approvals) != 1 || g.Approvals[0].Actor != "bob" {
		t.Fatalf("after the repeats the gate is %s with approvals %+v, want waiting with bob's one", g.Status, g.Approvals)
	}
	if n := len(shared.slack.Calls("chat.postEphemeral")); n != told {
		t.Errorf("the repeats told someone something (%d ephemeral message(s))", n-told)
	}

	// Positive control: another member's click is another approval.
	carol := signed(slack.PathInteractions, slackfake.Click(team, "UCAROL", m.Channel, m.TS, "cordon_approve", m.Value))
	if code, _ := shared.gateway.deliver(t, carol); code != http.StatusOK {
		t.Fatalf("carol's click: %d", code)
	}
	if got := lastEphemeral("UCAROL"); !strings.Contains(got, "approved isolate") {
		t.Errorf("carol was told %q", got)
	}
	g = gateState(t, runID, "isolate")
	if g.Status != workflows.GateApproved || len(g.Approvals) != 2 || g.Approvals[0].Actor != "bob" || g.Approvals[1].Actor != "carol" {
		t.Errorf("gate after two members' clicks: %s %+v", g.Status, g.Approvals)
	}
	res, err := runctl.Wait(context.Background(), shared.client, runID)
	if err != nil || res.Status != workflows.RunSucceeded {
		t.Errorf("run %s: %+v %v", runID, res, err)
	}
}

// A /cordon pause delivered again after someone resumed the run does not
// pause it again: the run refuses the command's nonce as a repeat, through
// every gateway. (Without the workflow's nonce check a replica or a
// restarted gateway would pause it again: the gateway remembers nothing.)
func TestReplayedPauseDoesNotPauseAgain(t *testing.T) {
	target := seedOne(t)
	runID := startFromSlack(t, "UALICE", "run two-person-isolate instance_id="+target)
	waitGateMessage(t, runID, "isolate")

	pause := signed(slack.PathCommands, slackfake.Command(team, "UBOB", channel, "/cordon", "pause "+runID+" checking the host first"))
	if code, _ := shared.gateway.deliver(t, pause); code != http.StatusOK {
		t.Fatal(code)
	}
	if s := runState(t, runID); !s.Paused {
		t.Fatalf("not paused: %q", lastEphemeral("UBOB"))
	}
	sends := shared.gateway.runs.sends()
	nonce := sends[len(sends)-1].Req.Nonce
	// carol resumes from the CLI, with her own key.
	if _, err := runctl.Send(context.Background(), shared.client, workflows.Request{RunID: runID, Action: workflows.ActResume,
		Actor: "carol", Channel: "cli", Reason: "host checked"}, shared.carol); err != nil {
		t.Fatal(err)
	}

	told := len(shared.slack.Calls("chat.postEphemeral"))
	procs := []*gatewayProc{shared.gateway, gatewayFor(t, shared.roster), gatewayFor(t, shared.roster)}
	before := marks(procs)
	for i, p := range procs {
		if code, _ := p.deliver(t, pause); code != http.StatusOK {
			t.Fatalf("repeat %d: %d", i+1, code)
		}
	}
	refusedAsRepeats(t, procs, before, nonce)
	s := runState(t, runID)
	paused := 0
	for _, e := range s.Timeline {
		if e.Kind == workflows.EventPaused {
			paused++
		}
	}
	if s.Paused || paused != 1 {
		t.Errorf("after the repeats: paused %t, %d pause(s) in the timeline", s.Paused, paused)
	}
	if n := ephemeralsTo("UBOB", "refused", told); n != 0 {
		t.Errorf("bob was told of %d refusal(s) for repeats he did not send", n)
	}
}

// /cordon run starts a run signed with the gateway's key for the member
// the Slack user maps to: the run records that member as an authenticated
// requester, and its plan as the worker's own. The same command delivered
// again starts nothing: its run id comes from the command.
func TestSlackStartIsSignedAndSingle(t *testing.T) {
	target := seedOne(t)
	start := signed(slack.PathCommands, slackfake.Command(team, "UALICE", channel, "/cordon", "run two-person-isolate instance_id="+target+" --incident=INC-SIGNED"))
	if code, _ := shared.gateway.deliver(t, start); code != http.StatusOK {
		t.Fatal(code)
	}
	m := startedRun.FindStringSubmatch(lastEphemeral("UALICE"))
	if m == nil {
		t.Fatalf("alice was told %q", lastEphemeral("UALICE"))
	}
	runID := m[1]
	t.Cleanup(func() { _ = shared.client.TerminateWorkflow(context.Background(), runID, "", "test over") })
	waitGateMessage(t, runID, "isolate") // the run has authenticated its start
	s := runState(t, runID)
	if s.Meta.Requester != "alice" || !s.Meta.Authenticated || s.Meta.Channel != "slack" || s.Meta.Incident != "INC-SIGNED" {
		t.Errorf("meta %+v", s.Meta)
	}
	if p := s.Provenance; p == nil || p.Requester != "alice" || !p.Authenticated || !p.Vouched {
		t.Errorf("provenance %+v", p)
	}
	if len(s.Refusals) != 0 {
		t.Errorf("refusals %+v", s.Refusals)
	}

	told := len(shared.slack.Calls("chat.postEphemeral"))
	procs := []*gatewayProc{shared.gateway, gatewayFor(t, shared.roster), gatewayFor(t, shared.roster)}
	for i, p := range procs {
		mark := len(p.runs.started())
		if code, _ := p.deliver(t, start); code != http.StatusOK {
			t.Fatalf("repeat %d: %d", i+1, code)
		}
		st := p.runs.started()[mark:]
		if len(st) != 1 || st[0].Opts.Meta.RunID != runID || !errors.Is(st[0].Err, slack.ErrAlreadyStarted) {
			t.Errorf("repeat %d through gateway %d: %+v, want the start of %s refused as existing", i+1, i+1, st, runID)
		}
	}
	if n := ephemeralsTo("UALICE", "Started run", told); n != 0 {
		t.Errorf("alice was told of %d more start(s)", n)
	}
	if n := ephemeralsTo("UALICE", "did not start", told); n != 0 {
		t.Errorf("alice was told %d time(s) that a repeat did not start", n)
	}
	if got := runState(t, runID); got.Meta.Requester != "alice" || got.Status != workflows.RunRunning {
		t.Errorf("the run after the repeats: %+v", got.Meta)
	}
}

// The gateway's key signs only what the roster lets it (default: approve,
// deny, pause, start). An abort from Slack is refused by the gateway at
// once, with what to do instead; a gateway configured to forward it
// anyway is refused by the workflow; with abort in the roster's scope for
// the slack gateway, it works.
func TestSlackGatewayScope(t *testing.T) {
	target := seedOne(t)
	runID := startFromSlack(t, "UALICE", "run two-person-isolate instance_id="+target)
	waitGateMessage(t, runID, "isolate")

	mark := len(shared.gateway.runs.sends())
	answer := commandTo(t, shared.gateway, "UCAROL", "abort "+runID+" contained by hand")
	if !strings.Contains(answer, "may not sign abort requests") || !strings.Contains(answer, "cordon abort RUN --reason R") {
		t.Errorf("abort outside the scope was answered %s", answer)
	}
	if n := len(shared.gateway.runs.sends()) - mark; n != 0 {
		t.Errorf("the gateway forwarded %d request(s)", n)
	}
	// A gateway whose configuration claims abort, before the workflow's
	// roster does: the workflow refuses, whatever the gateway thinks.
	claims := gatewayFor(t, withSlackActions(workflows.ActApprove, workflows.ActDeny, workflows.ActPause, workflows.ActStart, workflows.ActAbort))
	commandTo(t, claims, "UCAROL", "abort "+runID+" contained by hand")
	if got := lastEphemeral("UCAROL"); !strings.Contains(got, "refused your abort") || !strings.Contains(got, "may not sign abort requests") {
		t.Errorf("carol was told %q", got)
	}
	if s := runState(t, runID); s.Status != workflows.RunRunning {
		t.Errorf("run %s is %s after refused aborts", runID, s.Status)
	}

	// The roster lets the slack gateway abort: the gateway forwards, the
	// workflow decides (a reason is required), the run is aborted.
	scoped := withSlackActions(workflows.ActApprove, workflows.ActDeny, workflows.ActPause, workflows.ActStart, workflows.ActAbort)
	setWorkerRoster(t, scoped)
	other := startFromSlack(t, "UALICE", "run two-person-isolate instance_id="+seedOne(t))
	waitGateMessage(t, other, "isolate")
	gw := gatewayFor(t, scoped)
	commandTo(t, gw, "UCAROL", "abort "+other)
	if got := lastEphemeral("UCAROL"); !strings.Contains(got, "needs a reason") {
		t.Errorf("abort without a reason: %q", got)
	}
	commandTo(t, gw, "UCAROL", "abort "+other+" test over")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	res, err := runctl.Wait(ctx, shared.client, other)
	if err != nil || res.Status != workflows.RunAborted {
		t.Errorf("run %s after an abort in scope: %+v %v", other, res, err)
	}
	var by string
	for _, e := range runState(t, other).Timeline {
		if e.Kind == workflows.EventAbort {
			by = e.Actor + " via " + e.Channel
		}
	}
	if by != "carol via slack" {
		t.Errorf("abort recorded as %q", by)
	}
}
