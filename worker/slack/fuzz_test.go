package slack

import (
	"context"
	"log/slog"
	"net/url"
	"testing"

	"github.com/cordon-ir/cordon/worker/slack/slackfake"
)

// FuzzParseInteraction feeds arbitrary bodies to the interaction parser
// and whatever parses to the gateway's handler (with a fake Slack and no
// runs behind it): neither may panic.
func FuzzParseInteraction(f *testing.F) {
	f.Add(slackfake.Click(testTeam, "UBOB", testChannel, "1.2", actionApprove, testRef.encode()))
	f.Add(slackfake.Click(testTeam, "UBOB", testChannel, "1.2", actionDeny, `{"r":"x"}`))
	f.Add(slackfake.Submit(testTeam, "UBOB", callbackDeny, `{"g":{"r":"r","s":"s","h":"h"}}`, blockReason, blockReason, "why"))
	f.Add([]byte("payload=" + url.QueryEscape(`{"type":"block_actions","actions":[null]}`)))
	f.Add([]byte("payload=" + url.QueryEscape(`{"type":"view_submission","view":{"callback_id":"cordon_deny_reason","state":{"values":{}}}}`)))
	f.Add([]byte("%zz"))
	fake := slackfake.New()
	defer fake.Close()
	note := NewNotifier(NewClient(workerSlack(fake.URL())), NotifierOptions{Channel: testChannel, Logger: slog.New(slog.DiscardHandler)})
	gw, err := NewGateway(GatewayOptions{TeamID: testTeam, Roster: testRoster(), Notifier: note, Runs: &fakeRuns{refuse: "fuzz"}, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		cb, err := ParseInteraction(body)
		if err != nil {
			return
		}
		_, _ = gw.Interaction(context.Background(), &cb)
		gw.Wait()
	})
}
