package slack

import (
	"net/http"
	"strings"
	"testing"
	"time"

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
		Actor: "bob", Channel: "slack", Time: f.now}
	if got := reqs[0]; got != want {
		t.Errorf("request\n got %+v\nwant %+v", got, want)
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

func TestReplayIsRefused(t *testing.T) {
	f := newFixture(t)
	body := slackfake.Click(testTeam, "UBOB", testChannel, "1700000000.000001", actionApprove, testRef.encode())
	if rec := f.post(t, PathInteractions, body, testSecret, f.now); rec.Code != http.StatusOK {
		t.Fatalf("first: %d", rec.Code)
	}
	if rec := f.post(t, PathInteractions, body, testSecret, f.now); rec.Code != http.StatusUnauthorized {
		t.Errorf("replay: %d", rec.Code)
	}
	if n := len(f.runs.requests()); n != 1 {
		t.Errorf("%d requests reached the runs, want 1", n)
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
	if len(f.runs.started) != 0 {
		t.Fatalf("started %v", f.runs.started)
	}
	out := cmd("UBOB", "run ec2-compromise instance_id=i-0123456789abcdef0 --incident=INC-26084")
	if !strings.Contains(out, "Starting ec2-compromise") {
		t.Errorf("run: %s", out)
	}
	if len(f.runs.started) != 1 || f.runs.started[0].Requester != "bob" || f.runs.started[0].Channel != "slack" || f.runs.started[0].Incident != "INC-26084" {
		t.Errorf("started %+v", f.runs.started)
	}
	posts := f.slack.Calls("chat.postMessage")
	if len(posts) != 1 || posts[0].Form.Get("channel") != testChannel || !strings.Contains(posts[0].Text(), "started by <@UBOB>") {
		t.Errorf("announcement %+v", posts)
	}
	if _, ok := f.note.threads.root(f.runs.started[0].RunID); !ok {
		t.Error("the announcement is not the run's thread")
	}

	cmd("UCAROL", "abort ec2-compromise-1 wrong host")
	reqs := f.runs.requests()
	if len(reqs) != 1 || reqs[0].Action != workflows.ActAbort || reqs[0].Reason != "wrong host" || reqs[0].Actor != "carol" || reqs[0].Channel != "slack" {
		t.Errorf("abort request %+v", reqs)
	}
	f.runs.state = workflows.State{Runbook: "ec2-compromise", Status: workflows.RunRunning, Steps: []workflows.StepState{{ID: "isolate", Status: workflows.StepAwaiting}}}
	cmd("UBOB", "status ec2-compromise-1")
	eph := f.slack.Calls("chat.postEphemeral")
	if last := eph[len(eph)-1]; !strings.Contains(last.Text(), "`isolate` awaiting_approval") {
		t.Errorf("status reply %q", last.Text())
	}
}
