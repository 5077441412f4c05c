package slack

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	slackapi "github.com/slack-go/slack"
	"github.com/slack-go/slack/socketmode"

	"github.com/cordon-ir/cordon/worker/slack/slackfake"
	"github.com/cordon-ir/cordon/workflows"
)

var testRef = GateRef{RunID: "ec2-compromise-1", Step: "isolate", PreviewHash: "abc123def4567890"}

func TestClickApproveSendsMappedRequest(t *testing.T) {
	f := newFixture(t)
	rec := f.post(t, PathInteractions, slackfake.Click(testTeam, "UBOB", testChannel, "1700000000.000001", actionApprove, testRef.encode()), testSecret, f.now)
	if rec.Code != http.StatusOK {
		t.Fatalf("status %d: %s", rec.Code, rec.Body)
	}
	reqs := f.runs.requests()
	if len(reqs) != 1 {
		t.Fatalf("requests %v", reqs)
	}
	want := workflows.Request{RunID: testRef.RunID, Action: workflows.ActApprove, Step: "isolate", PreviewHash: testRef.PreviewHash,
		Actor: "bob", Channel: "slack", Time: f.now, Nonce: reqs[0].Nonce}
	if got := reqs[0]; got != want {
		t.Errorf("request\n got %+v\nwant %+v", got, want)
	}
	if n := reqs[0].Nonce; !strings.HasPrefix(n, "slack:") || len(n) > 128 {
		t.Errorf("nonce %q", n)
	}
	eph := f.slack.Calls("chat.postEphemeral")
	if len(eph) != 1 || eph[0].Form.Get("user") != "UBOB" || !strings.Contains(eph[0].Text(), "approve recorded") {
		t.Errorf("ephemeral replies %+v", eph)
	}
}

// Requests that are not Slack's never reach the runs.
func TestForgedStaleReplayedAndForeignAreRefused(t *testing.T) {
	body := func(user string) []byte {
		return slackfake.Click(testTeam, user, testChannel, "1700000000.000001", actionApprove, testRef.encode())
	}
	cases := []struct {
		name   string
		body   []byte
		secret string
		age    time.Duration
		want   int
	}{
		{"forged signature", body("UBOB"), "not-the-secret", 0, http.StatusUnauthorized},
		{"stale timestamp", body("UBOB"), testSecret, 6 * time.Minute, http.StatusUnauthorized},
		{"timestamp in the future", body("UBOB"), testSecret, -6 * time.Minute, http.StatusUnauthorized},
		{"another workspace", slackfake.Click("T0OTHER", "UBOB", testChannel, "1", actionApprove, testRef.encode()), testSecret, 0, http.StatusForbidden},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := newFixture(t)
			rec := f.post(t, PathInteractions, c.body, c.secret, f.now.Add(-c.age))
			if rec.Code != c.want {
				t.Errorf("status %d, want %d", rec.Code, c.want)
			}
			if n := len(f.runs.requests()); n != 0 {
				t.Errorf("%d request(s) reached the runs", n)
			}
			if calls := f.slack.Calls(""); len(calls) != 0 {
				t.Errorf("Slack calls %+v", calls)
			}
		})
	}
}

// A repeated delivery of one click (the same signed body, to this
// gateway, to a replica built from the same options, to a gateway after a
// restart) carries the same nonce, so the run (here its stand-in, which
// refuses a nonce it accepted, as the workflow does) counts it once. The
// gateway itself remembers nothing; the user hears once, and the repeat
// is logged.
func TestRepeatedClickCarriesTheSameNonce(t *testing.T) {
	f := newFixture(t)
	f.runs.state = workflows.State{Runbook: "ec2-compromise", Status: workflows.RunRunning,
		Gates: []workflows.GateState{{Step: "isolate", Key: "isolate", Status: workflows.GateWaiting, MinApprovals: 2}}}
	body := slackfake.Click(testTeam, "UBOB", testChannel, "1700000000.000001", actionApprove, testRef.encode())
	replica := f.gateway(t)
	for i, gw := range []*Gateway{f.gw, f.gw, replica, f.gateway(t)} {
		if rec := f.postTo(t, gw, PathInteractions, body, testSecret, f.now); rec.Code != http.StatusOK {
			t.Fatalf("delivery %d: status %d", i+1, rec.Code)
		}
	}
	reqs := f.runs.requests()
	if len(reqs) != 4 {
		t.Fatalf("%d requests reached the runs, want 4 (the gateway keeps no memory)", len(reqs))
	}
	for _, r := range reqs[1:] {
		if r.Nonce != reqs[0].Nonce {
			t.Errorf("nonce %q, first delivery's %q", r.Nonce, reqs[0].Nonce)
		}
	}
	if eph := f.slack.Calls("chat.postEphemeral"); len(eph) != 1 || !strings.Contains(eph[0].Text(), "approve recorded") {
		t.Errorf("ephemeral replies %+v", eph)
	}
	if up := f.slack.Calls("chat.update"); len(up) != 1 {
		t.Errorf("%d message updates, want 1", len(up))
	}
	if n := strings.Count(f.logs.String(), "slack request repeated"); n != 3 {
		t.Errorf("%d repeats logged, want 3:\n%s", n, f.logs)
	}
}

// Positive control: two clicks are two interactions (Slack gives each its
// own trigger id), whoever makes them; each carries its own nonce.
func TestDistinctInteractionsHaveDistinctNonces(t *testing.T) {
	f := newFixture(t)
	f.runs.refuse = "not counted here"
	for _, user := range []string{"UBOB", "UBOB", "UALICE"} {
		f.post(t, PathInteractions, slackfake.Click(testTeam, user, testChannel, "1700000000.000001", actionApprove, testRef.encode()), testSecret, f.now)
	}
	meta := `{"g":` + testRef.encode() + `,"c":"` + testChannel + `","t":"1700000000.000001"}`
	for range 2 {
		f.post(t, PathInteractions, slackfake.Submit(testTeam, "UBOB", callbackDeny, meta, blockReason, blockReason, "wrong host"), testSecret, f.now)
	}
	for range 2 {
		f.post(t, PathCommands, slackfake.Command(testTeam, "UBOB", testChannel, "/cordon", "pause ec2-compromise-1 look first"), testSecret, f.now)
	}
	seen := map[string]bool{}
	reqs := f.runs.requests()
	if len(reqs) != 7 {
		t.Fatalf("%d requests, want 7: %+v", len(reqs), reqs)
	}
	for _, r := range reqs {
		if seen[r.Nonce] {
			t.Errorf("nonce %q used twice", r.Nonce)
		}
		seen[r.Nonce] = true
	}
	if n := strings.Count(f.logs.String(), "slack request refused"); n != 7 {
		t.Errorf("%d refusals logged, want 7 (none taken for a repeat)", n)
	}
}

func TestUnsignedAndMalformedRequests(t *testing.T) {
	f := newFixture(t)
	for _, path := range []string{PathInteractions, PathCommands} {
		req := newRequest(path, []byte("payload=%7B%7D"))
		rec := serve(f.gw, req)
		if rec.Code != http.StatusUnauthorized {
			t.Errorf("%s unsigned: %d", path, rec.Code)
		}
	}
	if rec := f.post(t, PathInteractions, []byte("payload=not-json"), testSecret, f.now); rec.Code != http.StatusBadRequest {
		t.Errorf("bad payload: %d", rec.Code)
	}
	big := make([]byte, 2<<20)
	if rec := f.post(t, PathInteractions, big, testSecret, f.now); rec.Code != http.StatusRequestEntityTooLarge {
		t.Errorf("huge body: %d", rec.Code)
	}
	if n := len(f.runs.requests()); n != 0 {
		t.Errorf("%d request(s) reached the runs", n)
	}
}

func TestUnknownSlackUserIsToldAndNothingIsSent(t *testing.T) {
	f := newFixture(t)
	rec := f.post(t, PathInteractions, slackfake.Click(testTeam, "USTRANGER", testChannel, "1700000000.000001", actionApprove, testRef.encode()), testSecret, f.now)
	if rec.Code != http.StatusOK {
		t.Fatalf("status %d", rec.Code)
	}
	if n := len(f.runs.requests()); n != 0 {
		t.Errorf("%d request(s) reached the runs", n)
	}
	eph := f.slack.Calls("chat.postEphemeral")
	if len(eph) != 1 || !strings.Contains(eph[0].Text(), "not in Cordon's roster") {
		t.Errorf("ephemeral %+v", eph)
	}
}

func TestRefusalGoesBackToTheUserAndMessageIsKept(t *testing.T) {
	f := newFixture(t)
	f.runs.refuse = "alice started this run and cannot approve its gates (allow_self_approval is off)"
	f.post(t, PathInteractions, slackfake.Click(testTeam, "UALICE", testChannel, "1700000000.000001", actionApprove, testRef.encode()), testSecret, f.now)
	eph := f.slack.Calls("chat.postEphemeral")
	if len(eph) != 1 || eph[0].Form.Get("user") != "UALICE" || !strings.Contains(eph[0].Text(), "cannot approve its gates") {
		t.Errorf("ephemeral %+v", eph)
	}
	if up := f.slack.Calls("chat.update"); len(up) != 0 {
		t.Errorf("message updated after a refusal: %+v", up)
	}
	if !strings.Contains(f.logs.String(), "slack request refused") {
		t.Errorf("refusal not logged:\n%s", f.logs)
	}
}

func TestDenyOpensModalThenSendsReason(t *testing.T) {
	f := newFixture(t)
	f.post(t, PathInteractions, slackfake.Click(testTeam, "UBOB", testChannel, "1700000000.000001", actionDeny, testRef.encode()), testSecret, f.now)
	if n := len(f.runs.requests()); n != 0 {
		t.Fatalf("deny click sent %d request(s) before a reason", n)
	}
	views := f.slack.Calls("views.open")
	if len(views) != 1 {
		t.Fatalf("views.open calls %d", len(views))
	}
	view, _ := views[0].JSON["view"].(map[string]any)
	meta, _ := view["private_metadata"].(string)
	if view["callback_id"] != callbackDeny || meta == "" {
		t.Fatalf("modal %+v", view)
	}
	rec := f.post(t, PathInteractions, slackfake.Submit(testTeam, "UBOB", callbackDeny, meta, blockReason, blockReason, "production database host; contain by NACL"), testSecret, f.now.Add(time.Second))
	if rec.Code != http.StatusOK || rec.Body.Len() != 0 {
		t.Fatalf("submission answer %d %q", rec.Code, rec.Body)
	}
	reqs := f.runs.requests()
	if len(reqs) != 1 || reqs[0].Action != workflows.ActDeny || reqs[0].Reason != "production database host; contain by NACL" || reqs[0].Actor != "bob" || reqs[0].PreviewHash != testRef.PreviewHash {
		t.Errorf("requests %+v", reqs)
	}
}

func TestSlashCommands(t *testing.T) {
	f := newFixture(t)
	cmd := func(user, text string) string {
		rec := f.post(t, PathCommands, slackfake.Command(testTeam, user, testChannel, "/cordon", text), testSecret, f.now)
		f.now = f.now.Add(time.Second) // distinct signatures
		if rec.Code != http.StatusOK {
			t.Fatalf("%s: status %d", text, rec.Code)
		}
		return rec.Body.String()
	}
	if out := cmd("UBOB", "help"); !strings.Contains(out, "/cordon run") {
		t.Errorf("help: %s", out)
	}
	if out := cmd("UBOB", "run no-such-runbook"); !strings.Contains(out, "no runbook") || !strings.Contains(out, "ec2-compromise") {
		t.Errorf("unknown runbook: %s", out)
	}
	if out := cmd("UBOB", "run ec2-compromise instance_id=not-an-id"); !strings.Contains(out, "instance_id") {
		t.Errorf("bad input: %s", out)
	}
	if out := cmd("UBOB", "run ../etc/passwd"); !strings.Contains(out, "not a runbook name") {
		t.Errorf("path: %s", out)
	}
	if out := cmd("USTRANGER", "run ec2-compromise instance_id=i-0123456789abcdef0"); !strings.Contains(out, "not in Cordon's roster") {
		t.Errorf("stranger: %s", out)
	}
	if started := f.runs.starts(); len(started) != 0 {
		t.Fatalf("started %v", started)
	}
	out := cmd("UBOB", "run ec2-compromise instance_id=i-0123456789abcdef0 --incident=INC-26084")
	if !strings.Contains(out, "Starting ec2-compromise") {
		t.Errorf("run: %s", out)
	}
	started := f.runs.starts()
	if len(started) != 1 {
		t.Fatalf("started %+v", started)
	}
	st := started[0]
	if st.Meta.Requester != "bob" || st.Meta.Channel != "slack" || st.Meta.Incident != "INC-26084" || st.Plan == nil || st.Plan.Runbook.Name != "ec2-compromise" ||
		st.Inputs["instance_id"] != "i-0123456789abcdef0" || !strings.HasPrefix(st.Nonce, "slack:") || !strings.HasPrefix(st.Meta.RunID, "ec2-compromise-slack-") {
		t.Errorf("started %+v", st)
	}
	posts := f.slack.Calls("chat.postMessage")
	if len(posts) != 1 || posts[0].Form.Get("channel") != testChannel || !strings.Contains(posts[0].Text(), "started by <@UBOB>") {
		t.Errorf("announcement %+v", posts)
	}
	if _, ok := f.note.threads.root(st.Meta.RunID); !ok {
		t.Error("the announcement is not the run's thread")
	}

	cmd("UCAROL", "pause ec2-compromise-1 wrong host")
	reqs := f.runs.requests()
	if len(reqs) != 1 || reqs[0].Action != workflows.ActPause || reqs[0].Reason != "wrong host" || reqs[0].Actor != "carol" || reqs[0].Channel != "slack" || reqs[0].Nonce == "" {
		t.Errorf("pause request %+v", reqs)
	}
	f.runs.state = workflows.State{Runbook: "ec2-compromise", Status: workflows.RunRunning, Steps: []workflows.StepState{{ID: "isolate", Status: workflows.StepAwaiting}}}
	cmd("UBOB", "status ec2-compromise-1")
	eph := f.slack.Calls("chat.postEphemeral")
	if last := eph[len(eph)-1]; !strings.Contains(last.Text(), "`isolate` awaiting_approval") {
		t.Errorf("status reply %q", last.Text())
	}
}

// withSlackScope is the test roster with a slack gateway allowed actions
// (none: the default scope).
func withSlackScope(actions ...string) workflows.Roster {
	r := testRoster()
	r.Gateways = []workflows.Gateway{{Name: Channel, PublicKey: "ssh-ed25519 AAAA test", Actions: actions}}
	return r
}

// The gateway forwards only what the roster lets its key sign (the
// workflow would refuse the rest): a control outside the scope is refused
// at once, with what to do instead, and never sent; inside it, it is.
func TestControlsOutsideTheGatewayScopeAreNotForwarded(t *testing.T) {
	for _, c := range []struct {
		name   string
		roster workflows.Roster
	}{{"no slack gateway in the roster", testRoster()}, {"default scope", withSlackScope()}} {
		t.Run(c.name, func(t *testing.T) {
			f := newFixtureWith(t, c.roster)
			for _, text := range []string{"abort ec2-compromise-1 wrong host", "resume ec2-compromise-1", "skip ec2-compromise-1 stop not needed"} {
				rec := f.post(t, PathCommands, slackfake.Command(testTeam, "UCAROL", testChannel, "/cordon", text), testSecret, f.now)
				verb := strings.Fields(text)[0]
				if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), "may not sign "+verb+" requests") ||
					!strings.Contains(rec.Body.String(), "approve, deny, pause, start") || !strings.Contains(rec.Body.String(), "cordon "+verb+" RUN") {
					t.Errorf("%s: %d %s", text, rec.Code, rec.Body)
				}
			}
			if reqs := f.runs.requests(); len(reqs) != 0 {
				t.Errorf("forwarded %+v", reqs)
			}
			help := f.post(t, PathCommands, slackfake.Command(testTeam, "UCAROL", testChannel, "/cordon", "help"), testSecret, f.now).Body.String()
			if !strings.Contains(help, "does not let Cordon resume, abort, skip") {
				t.Errorf("help: %s", help)
			}
			// Inside the default scope: forwarded.
			f.post(t, PathCommands, slackfake.Command(testTeam, "UCAROL", testChannel, "/cordon", "pause ec2-compromise-1"), testSecret, f.now)
			if reqs := f.runs.requests(); len(reqs) != 1 || reqs[0].Action != workflows.ActPause {
				t.Errorf("pause: %+v", reqs)
			}
		})
	}
	t.Run("abort in scope", func(t *testing.T) {
		f := newFixtureWith(t, withSlackScope(workflows.ActApprove, workflows.ActDeny, workflows.ActAbort))
		f.post(t, PathCommands, slackfake.Command(testTeam, "UCAROL", testChannel, "/cordon", "abort ec2-compromise-1 wrong host"), testSecret, f.now)
		reqs := f.runs.requests()
		if len(reqs) != 1 || reqs[0].Action != workflows.ActAbort || reqs[0].Reason != "wrong host" || reqs[0].Actor != "carol" {
			t.Errorf("abort: %+v", reqs)
		}
		// This roster leaves out start and pause.
		out := f.post(t, PathCommands, slackfake.Command(testTeam, "UBOB", testChannel, "/cordon", "run ec2-compromise instance_id=i-0123456789abcdef0"), testSecret, f.now).Body.String()
		if !strings.Contains(out, "may not sign start requests") || len(f.runs.starts()) != 0 || len(f.slack.Calls("chat.postMessage")) != 0 {
			t.Errorf("run outside the scope: %s, %d start(s)", out, len(f.runs.starts()))
		}
	})
	t.Run("approvals out of scope", func(t *testing.T) {
		f := newFixtureWith(t, withSlackScope(workflows.ActPause))
		f.post(t, PathInteractions, slackfake.Click(testTeam, "UBOB", testChannel, "1700000000.000001", actionApprove, testRef.encode()), testSecret, f.now)
		f.post(t, PathInteractions, slackfake.Click(testTeam, "UBOB", testChannel, "1700000000.000001", actionDeny, testRef.encode()), testSecret, f.now)
		if reqs := f.runs.requests(); len(reqs) != 0 {
			t.Errorf("forwarded %+v", reqs)
		}
		if views := f.slack.Calls("views.open"); len(views) != 0 {
			t.Errorf("deny form opened for a denial the gateway may not sign")
		}
		eph := f.slack.Calls("chat.postEphemeral")
		if len(eph) != 2 || !strings.Contains(eph[0].Text(), "may not sign approve requests") || !strings.Contains(eph[1].Text(), "may not sign deny requests") {
			t.Errorf("ephemeral %+v", eph)
		}
	})
}

// A repeated delivery of one /cordon run names the same run (its id and
// nonce come from the command), so nothing new starts; the user is told
// once, and the repeat's announcement says what it was.
func TestRepeatedRunCommandStartsOneRun(t *testing.T) {
	f := newFixture(t)
	body := slackfake.Command(testTeam, "UBOB", testChannel, "/cordon", "run ec2-compromise instance_id=i-0123456789abcdef0")
	f.post(t, PathCommands, body, testSecret, f.now)
	f.postTo(t, f.gateway(t), PathCommands, body, testSecret, f.now)
	started := f.runs.starts()
	if len(started) != 2 || started[0].Meta.RunID != started[1].Meta.RunID || started[0].Nonce != started[1].Nonce {
		t.Fatalf("starts %+v", started)
	}
	var told int
	for _, c := range f.slack.Calls("chat.postEphemeral") {
		if strings.Contains(c.Text(), "Started run") {
			told++
		}
	}
	if told != 1 {
		t.Errorf("told %d times of a start", told)
	}
	up := f.slack.Calls("chat.update")
	if len(up) != 1 || !strings.Contains(up[0].Text(), "repeated delivery") {
		t.Errorf("updates %+v", up)
	}
	// A genuine second command is another run.
	f.post(t, PathCommands, slackfake.Command(testTeam, "UBOB", testChannel, "/cordon", "run ec2-compromise instance_id=i-0123456789abcdef0"), testSecret, f.now)
	if started := f.runs.starts(); len(started) != 3 || started[2].Meta.RunID == started[0].Meta.RunID {
		t.Errorf("second command: %+v", started)
	}
}

// Slack gives every interaction its own trigger id; without one nothing
// tells a command from the next identical one, so it is not forwarded.
func TestCommandWithoutTriggerIDIsNotForwarded(t *testing.T) {
	f := newFixture(t)
	ack := &recordingAcker{}
	f.gw.dispatch(context.Background(), socketmode.Event{Type: socketmode.EventTypeSlashCommand,
		Data:    slackapi.SlashCommand{TeamID: testTeam, UserID: "UBOB", ChannelID: testChannel, Command: "/cordon", Text: "pause ec2-compromise-1"},
		Request: &socketmode.Request{EnvelopeID: "env-1"}}, ack)
	f.gw.Wait()
	if reqs := f.runs.requests(); len(reqs) != 0 {
		t.Errorf("forwarded %+v", reqs)
	}
	reply, _ := json.Marshal(ack.acks["env-1"])
	if !strings.Contains(string(reply), "without a trigger id") {
		t.Errorf("reply %s", reply)
	}
}

func TestNonceDerivation(t *testing.T) {
	cb, err := ParseInteraction(slackfake.Click(testTeam, "UBOB", testChannel, "1700000000.000001", actionApprove, testRef.encode()))
	if err != nil {
		t.Fatal(err)
	}
	act := cb.ActionCallback.BlockActions[0]
	base := clickNonce(&cb, act)
	if base != clickNonce(&cb, act) || len(base) > 128 || !strings.HasPrefix(base, "slack:") {
		t.Fatalf("nonce %q", base)
	}
	for name, change := range map[string]func(c *slackapi.InteractionCallback, a *slackapi.BlockAction){
		"team":      func(c *slackapi.InteractionCallback, _ *slackapi.BlockAction) { c.Team.ID = "T2" },
		"user":      func(c *slackapi.InteractionCallback, _ *slackapi.BlockAction) { c.User.ID = "UALICE" },
		"trigger":   func(c *slackapi.InteractionCallback, _ *slackapi.BlockAction) { c.TriggerID = "1.2.3" },
		"action ts": func(_ *slackapi.InteractionCallback, a *slackapi.BlockAction) { a.ActionTs = "1.5" },
		"action":    func(_ *slackapi.InteractionCallback, a *slackapi.BlockAction) { a.ActionID = actionDeny },
		"value":     func(_ *slackapi.InteractionCallback, a *slackapi.BlockAction) { a.Value = `{"r":"other"}` },
		// Fields must not run into each other.
		"shifted": func(c *slackapi.InteractionCallback, _ *slackapi.BlockAction) {
			c.Team.ID, c.User.ID = c.Team.ID+c.User.ID[:1], c.User.ID[1:]
		},
	} {
		c, a := cb, *act
		change(&c, &a)
		if clickNonce(&c, &a) == base {
			t.Errorf("changing the %s keeps the nonce", name)
		}
	}
	sc := slackapi.SlashCommand{TeamID: testTeam, UserID: "UBOB", TriggerID: "1.2.3", Command: "/cordon", Text: "pause r"}
	other := sc
	other.TriggerID = "1.2.4"
	if commandNonce(sc) == commandNonce(other) || commandNonce(sc) != commandNonce(sc) {
		t.Error("command nonces do not follow the trigger id")
	}
	if id := startRunID("ec2-compromise", commandNonce(sc)); !strings.HasPrefix(id, "ec2-compromise-slack-") || id != startRunID("ec2-compromise", commandNonce(sc)) || id == startRunID("ec2-compromise", commandNonce(other)) {
		t.Errorf("run id %s", id)
	}
}
