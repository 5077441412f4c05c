package slack

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/cordon-ir/cordon/runctl"
	"github.com/cordon-ir/cordon/worker"
	"github.com/cordon-ir/cordon/worker/slack/slackfake"
	"github.com/cordon-ir/cordon/workflows"
)

const (
	testTeam    = "T0CSIRT"
	testSecret  = "8f742231b10e8888abcd99yyyzzz85a5"
	testToken   = "xoxb-test-token-not-real-123456"
	testChannel = "C0INCIDENT"
)

// fakeRuns records what reaches "Temporal" and answers as told. Like a
// run, it refuses a nonce it has accepted before (in the workflow's
// words), and like Temporal it refuses to start a run id twice.
type fakeRuns struct {
	mu      sync.Mutex
	sent    []workflows.Request
	started []runctl.StartOptions
	refuse  string
	state   workflows.State
	nonces  map[string]bool
	runs    map[string]bool
}

func (f *fakeRuns) Send(_ context.Context, req workflows.Request) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.sent = append(f.sent, req)
	if f.nonces[req.RunID+" "+req.Nonce] {
		return "", &runctl.Refused{Reason: "this signed request was already used: a signature is good for one request; sign a new one"}
	}
	if f.refuse != "" {
		return "", &runctl.Refused{Reason: f.refuse}
	}
	if f.nonces == nil {
		f.nonces = map[string]bool{}
	}
	f.nonces[req.RunID+" "+req.Nonce] = true
	return req.Action + " recorded", nil
}

func (f *fakeRuns) State(_ context.Context, runID string) (workflows.State, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	s := f.state
	s.Meta.RunID = runID
	return s, nil
}

func (f *fakeRuns) Start(_ context.Context, o runctl.StartOptions) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.started = append(f.started, o)
	if f.runs[o.Meta.RunID] {
		return o.Meta.RunID, fmt.Errorf("%w: start run %s: a run with this id already exists", ErrAlreadyStarted, o.Meta.RunID)
	}
	if f.runs == nil {
		f.runs = map[string]bool{}
	}
	f.runs[o.Meta.RunID] = true
	return o.Meta.RunID, nil
}

func (f *fakeRuns) starts() []runctl.StartOptions {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]runctl.StartOptions(nil), f.started...)
}

func (f *fakeRuns) requests() []workflows.Request {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]workflows.Request(nil), f.sent...)
}

func testRoster() workflows.Roster {
	return workflows.Roster{RequireSignatures: true, Members: []workflows.Member{
		{ID: "alice", SlackID: "UALICE", Roles: []string{"responder"}, Groups: []string{"csirt-oncall"}},
		{ID: "bob", SlackID: "UBOB", Roles: []string{"responder"}, Groups: []string{"csirt-oncall"}},
		{ID: "carol", SlackID: "UCAROL", Roles: []string{"responder", "lead"}, Groups: []string{"csirt-oncall", "csirt-leads"}},
		{ID: "dave", SlackID: "UDAVE", Roles: []string{"lead"}, Groups: []string{"csirt-leads"}},
		{ID: "eve"},
	}}
}

// fixture is a gateway on a fake Slack and fake runs.
type fixture struct {
	slack *slackfake.Server
	runs  *fakeRuns
	gw    *Gateway
	note  *Notifier
	logs  *bytes.Buffer
	now   time.Time
	opts  GatewayOptions
}

func newFixture(t *testing.T) *fixture { t.Helper(); return newFixtureWith(t, testRoster()) }

// newFixtureWith is newFixture with another roster (a gateway scope).
func newFixtureWith(t *testing.T, roster workflows.Roster) *fixture {
	t.Helper()
	fake := slackfake.New()
	t.Cleanup(fake.Close)
	logs := &bytes.Buffer{}
	logger := slog.New(slog.NewTextHandler(&lockedWriter{w: logs}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	note := NewNotifier(NewClient(worker.SlackConfig{BotToken: testToken, APIURL: fake.URL()}),
		NotifierOptions{Channel: testChannel, EscalationChannel: "C0LEADS", Roster: roster, Logger: logger})
	runs := &fakeRuns{}
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	f := &fixture{slack: fake, runs: runs, note: note, logs: logs, now: now}
	f.opts = GatewayOptions{SigningSecret: testSecret, TeamID: testTeam, Roster: roster, RunbookDir: "../../examples",
		Notifier: note, Runs: runs, Logger: logger, Now: func() time.Time { return f.now }}
	f.gw = f.gateway(t)
	return f
}

// gateway is another gateway from the fixture's options: a replica, or
// the same gateway after a restart. It shares the fake runs (one Temporal).
func (f *fixture) gateway(t *testing.T) *Gateway {
	t.Helper()
	gw, err := NewGateway(f.opts)
	if err != nil {
		t.Fatal(err)
	}
	return gw
}

// post sends body to path signed at the given time (with secret), and
// waits for the work it started.
func (f *fixture) post(t *testing.T, path string, body []byte, secret string, at time.Time) *httptest.ResponseRecorder {
	t.Helper()
	return f.postTo(t, f.gw, path, body, secret, at)
}

// postTo is post to another gateway.
func (f *fixture) postTo(t *testing.T, gw *Gateway, path string, body []byte, secret string, at time.Time) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(http.MethodPost, path, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	SignRequest(req.Header, secret, body, at)
	rec := httptest.NewRecorder()
	gw.ServeHTTP(rec, req)
	gw.Wait()
	return rec
}

type lockedWriter struct {
	mu sync.Mutex
	w  *bytes.Buffer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func newRequest(path string, body []byte) *http.Request {
	req := httptest.NewRequest(http.MethodPost, path, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return req
}

func serve(h http.Handler, req *http.Request) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func workerSlack(apiURL string) worker.SlackConfig {
	return worker.SlackConfig{BotToken: testToken, APIURL: apiURL}
}
