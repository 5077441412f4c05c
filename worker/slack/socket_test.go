package slack

import (
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"

	slackapi "github.com/slack-go/slack"
	"github.com/slack-go/slack/socketmode"

	"github.com/cordon-ir/cordon/worker/slack/slackfake"
	"github.com/cordon-ir/cordon/workflows"
)

type recordingAcker struct {
	mu   sync.Mutex
	acks map[string][]any
}

func (r *recordingAcker) Ack(req socketmode.Request, payload ...any) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.acks == nil {
		r.acks = map[string][]any{}
	}
	r.acks[req.EnvelopeID] = payload
	return nil
}

// Socket Mode events reach the same handlers as HTTP requests, and each
// envelope is acknowledged with the handler's immediate answer.
func TestSocketModeDispatch(t *testing.T) {
	f := newFixture(t)
	ack := &recordingAcker{}
	var cb slackapi.InteractionCallback
	form := slackfake.Click(testTeam, "UBOB", testChannel, "1700000000.000001", actionApprove, testRef.encode())
	parsed, err := ParseInteraction(form)
	if err != nil {
		t.Fatal(err)
	}
	cb = parsed
	ctx := context.Background()
	f.gw.dispatch(ctx, socketmode.Event{Type: socketmode.EventTypeInteractive, Data: cb, Request: &socketmode.Request{EnvelopeID: "env-1"}}, ack)
	f.gw.dispatch(ctx, socketmode.Event{Type: socketmode.EventTypeSlashCommand,
		Data: slackapi.SlashCommand{TeamID: testTeam, UserID: "UBOB", ChannelID: testChannel, Command: "/cordon", Text: "help"}, Request: &socketmode.Request{EnvelopeID: "env-2"}}, ack)
	foreign := cb
	foreign.Team.ID = "T0OTHER"
	f.gw.dispatch(ctx, socketmode.Event{Type: socketmode.EventTypeInteractive, Data: foreign, Request: &socketmode.Request{EnvelopeID: "env-3"}}, ack)
	f.gw.dispatch(ctx, socketmode.Event{Type: socketmode.EventTypeInteractive, Data: "not a callback", Request: &socketmode.Request{EnvelopeID: "env-4"}}, ack)
	f.gw.Wait()

	reqs := f.runs.requests()
	if len(reqs) != 1 || reqs[0].Actor != "bob" || reqs[0].Action != workflows.ActApprove {
		t.Errorf("requests %+v", reqs)
	}
	for _, id := range []string{"env-1", "env-2", "env-3", "env-4"} {
		if _, ok := ack.acks[id]; !ok {
			t.Errorf("%s not acknowledged", id)
		}
	}
	help, _ := json.Marshal(ack.acks["env-2"])
	if !strings.Contains(string(help), "/cordon run") {
		t.Errorf("help ack %s", help)
	}
}
