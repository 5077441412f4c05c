package slack

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/cordon-ir/cordon/actions"
	"github.com/cordon-ir/cordon/workflows"
)

func TestGateMessageLifecycle(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	if err := f.note.NotifyGate(ctx, notice(workflows.NoticeWaiting)); err != nil {
		t.Fatal(err)
	}
	posts := f.slack.Calls("chat.postMessage")
	if len(posts) != 1 {
		t.Fatalf("posts %d", len(posts))
	}
	p := posts[0]
	if p.Form.Get("channel") != testChannel || p.Token != testToken || !strings.Contains(p.Blocks(), actionApprove) || !strings.Contains(p.Text(), "Approval needed") {
		t.Errorf("gate post %+v", p.Form)
	}
	// A retried activity updates instead of posting twice.
	if err := f.note.NotifyGate(ctx, notice(workflows.NoticeWaiting)); err != nil {
		t.Fatal(err)
	}
	if n := len(f.slack.Calls("chat.postMessage")); n != 1 {
		t.Errorf("retry posted again (%d posts)", n)
	}

	// Escalation: the leads are mentioned in the escalation channel.
	if err := f.note.NotifyGate(ctx, notice(workflows.NoticeEscalated)); err != nil {
		t.Fatal(err)
	}
	posts = f.slack.Calls("chat.postMessage")
	esc := posts[len(posts)-1]
	if esc.Form.Get("channel") != "C0LEADS" || !strings.Contains(esc.Blocks(), "\\u003c@UCAROL\\u003e \\u003c@UDAVE\\u003e") {
		t.Errorf("escalation %+v", esc.Form)
	}

	// Resolution: both messages updated in place, a line in the thread.
	f.slack.Reset()
	if err := f.note.NotifyGate(ctx, notice(workflows.NoticeApproved)); err != nil {
		t.Fatal(err)
	}
	ups := f.slack.Calls("chat.update")
	if len(ups) != 2 || ups[0].Form.Get("ts") != p.TS || ups[1].Form.Get("ts") != esc.TS {
		t.Fatalf("updates %+v", ups)
	}
	if strings.Contains(ups[0].Blocks(), actionApprove) || !strings.Contains(ups[0].Blocks(), "Approved by") {
		t.Errorf("approved message %s", ups[0].Blocks())
	}
	replies := f.slack.Calls("chat.postMessage")
	if len(replies) != 1 || replies[0].Form.Get("thread_ts") != p.TS || !strings.Contains(replies[0].Text(), "Approved by <@UBOB>") {
		t.Errorf("thread replies %+v", replies)
	}
}

func TestLaterGatesAreThreadedUnderTheRun(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	first := notice(workflows.NoticeWaiting)
	second := notice(workflows.NoticeWaiting)
	second.Step, second.Gate.Key = "stop", "stop"
	if err := f.note.NotifyGate(ctx, first); err != nil {
		t.Fatal(err)
	}
	if err := f.note.NotifyGate(ctx, second); err != nil {
		t.Fatal(err)
	}
	posts := f.slack.Calls("chat.postMessage")
	if len(posts) != 2 || posts[1].Form.Get("thread_ts") != posts[0].TS || posts[1].Form.Get("reply_broadcast") != "true" {
		t.Errorf("second gate not threaded and broadcast: %+v", posts[1].Form)
	}
}

// Without memory of the message (a restart), the outcome is posted anew.
func TestOutcomeWithoutMemoryIsPosted(t *testing.T) {
	f := newFixture(t)
	if err := f.note.NotifyGate(context.Background(), notice(workflows.NoticeTimedOut)); err != nil {
		t.Fatal(err)
	}
	posts := f.slack.Calls("chat.postMessage")
	if len(posts) != 1 || !strings.Contains(posts[0].Text(), "Timed out") {
		t.Errorf("posts %+v", posts)
	}
}

// Secrets never surface in errors (which the workflow records) or logs.
func TestSecretsStayOutOfErrorsAndLogs(t *testing.T) {
	f := newFixture(t)
	f.slack.Fail("chat.postMessage", "invalid_auth")
	f.slack.Fail("chat.postEphemeral", "not_in_channel")
	err := f.note.NotifyGate(context.Background(), notice(workflows.NoticeWaiting))
	if err == nil {
		t.Fatal("no error from a refused post")
	}
	_, nerr := f.note.Notify(context.Background(), actions.Message{Text: "isolated", RunID: "r1"})
	if nerr == nil {
		t.Fatal("no error from a refused notify")
	}
	f.post(t, PathInteractions, []byte("payload=%7B"), testSecret, f.now)
	f.post(t, PathInteractions, []byte("payload=%7B%7D"), "wrong", f.now)
	f.runs.refuse = "nope"
	f.post(t, PathCommands, []byte("team_id="+testTeam+"&user_id=UBOB&channel_id=C1&text=pause+r1"), testSecret, f.now.Add(time.Second))
	for _, text := range []string{err.Error(), nerr.Error(), f.logs.String()} {
		for _, secret := range []string{testToken, testSecret} {
			if strings.Contains(text, secret) {
				t.Errorf("secret %q… appears in %q", secret[:6], text)
			}
		}
	}
	if !strings.Contains(err.Error(), "invalid_auth") {
		t.Errorf("error does not say what Slack said: %v", err)
	}
}

func TestNotifyThreadsAndRehearses(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	if err := f.note.NotifyGate(ctx, notice(workflows.NoticeWaiting)); err != nil {
		t.Fatal(err)
	}
	root := f.slack.Calls("chat.postMessage")[0]
	got, err := f.note.Notify(ctx, actions.Message{Text: "snapshots <done>", Severity: "info", RunID: notice("").RunID})
	if err != nil || got.Channel != testChannel || got.TS == "" {
		t.Fatalf("posted %+v %v", got, err)
	}
	last := f.slack.Calls("chat.postMessage")[1]
	if last.Form.Get("thread_ts") != root.TS || last.Text() != "[info] snapshots &lt;done&gt;" {
		t.Errorf("notify %+v", last.Form)
	}
	if _, err := f.note.Notify(ctx, actions.Message{Text: "x", DryRun: true}); err != nil {
		t.Fatal(err)
	}
	if n := len(f.slack.Calls("chat.postMessage")); n != 2 {
		t.Errorf("a rehearsal posted (%d posts)", n)
	}
}
