// Package slacke2e drives Slack approvals against a real in-process
// Temporal server, the real worker and the AWS emulator, with Slack
// itself replaced by a local fake of its Web API. It is the one Slack
// test package that links the Temporal server; every test shares one
// server through TestMain.
package slacke2e

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"go.temporal.io/sdk/client"
	sdkworker "go.temporal.io/sdk/worker"
	"golang.org/x/crypto/ssh"

	"github.com/cordon-ir/cordon/actions"
	"github.com/cordon-ir/cordon/internal/awsemu"
	"github.com/cordon-ir/cordon/worker"
	"github.com/cordon-ir/cordon/worker/devserver"
	"github.com/cordon-ir/cordon/worker/slack"
	"github.com/cordon-ir/cordon/worker/slack/slackfake"
	"github.com/cordon-ir/cordon/workflows"
)

const (
	team    = "T0CSIRT"
	secret  = "e2e-signing-secret-0123456789abcdef"
	token   = "xoxb-e2e-bot-token-0123456789"
	channel = "C0INCIDENT"
)

// env is what every test shares.
type env struct {
	client  client.Client
	emu     *awsemu.Emulator
	slack   *slackfake.Server
	gateway *httptest.Server
	gw      *slack.Gateway
	cfg     *worker.Config

	mu   sync.Mutex
	last time.Time // last signing time, to keep signatures distinct
}

var shared *env

func TestMain(m *testing.M) {
	code, err := run(m)
	if err != nil {
		fmt.Fprintln(os.Stderr, "slacke2e setup:", err)
		os.Exit(1)
	}
	os.Exit(code)
}

func run(m *testing.M) (int, error) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	quiet := slog.New(slog.DiscardHandler)
	srv, err := devserver.Start(ctx, devserver.Options{Logger: quiet})
	if err != nil {
		return 0, err
	}
	defer srv.Stop()
	emu := awsemu.New(awsemu.Options{Logger: quiet})
	url, err := emu.Start(ctx)
	if err != nil {
		return 0, err
	}
	defer emu.Close()
	fake := slackfake.New()
	defer fake.Close()

	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return 0, err
	}
	signer, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		return 0, err
	}
	pub := strings.TrimSpace(string(ssh.MarshalAuthorizedKey(signer.PublicKey())))

	cfg := &worker.Config{}
	cfg.Temporal = worker.TemporalConfig{Address: srv.FrontendAddress(), Namespace: srv.Namespace(), TaskQueue: "slacke2e"}
	cfg.Roster.Members = []worker.MemberConfig{
		{ID: "alice", SlackID: "UALICE", Roles: []string{"responder"}, Groups: []string{"csirt-oncall"}},
		{ID: "bob", SlackID: "UBOB", Roles: []string{"responder"}, Groups: []string{"csirt-oncall"}},
		{ID: "carol", SlackID: "UCAROL", Roles: []string{"responder", "lead"}, Groups: []string{"csirt-oncall", "csirt-leads"}},
		{ID: "dave", SlackID: "UDAVE", Roles: []string{"lead"}, Groups: []string{"csirt-leads"}},
	}
	cfg.Roster.Gateways = []worker.GatewayConfig{{Name: "slack", PublicKey: pub}}
	cfg.Slack = worker.SlackConfig{BotToken: token, SigningSecret: secret, Channel: channel, APIURL: fake.URL(), TeamID: team, GatewayKeyFile: "(in memory)"}
	if err := cfg.Validate(); err != nil {
		return 0, err
	}
	roster := cfg.WorkflowRoster()
	if err := slack.CheckGatewayKey(roster, signer); err != nil {
		return 0, err
	}
	c, err := worker.Dial(ctx, cfg.Temporal, quiet)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	notifier := slack.NewNotifier(slack.NewClient(cfg.Slack), slack.NotifierOptions{Channel: channel, Roster: roster, Logger: quiet})
	rt := actions.NewRuntime(actions.Options{
		Clients:      actions.NewAWSClientSource(actions.AWSOptions{Base: emu.AWSConfig(), Endpoint: url}),
		Notifier:     notifier,
		Logger:       quiet,
		PollInterval: 50 * time.Millisecond,
	})
	w := sdkworker.New(c, cfg.Temporal.TaskQueue, sdkworker.Options{})
	worker.Register(w, cfg, rt, notifier)
	if err := w.Start(); err != nil {
		return 0, err
	}
	defer w.Stop()
	gw, err := slack.NewGateway(slack.GatewayOptions{SigningSecret: secret, TeamID: team, Roster: roster, RunbookDir: "../../../examples",
		Notifier: notifier, Runs: slack.TemporalRuns{Client: c, TaskQueue: cfg.Temporal.TaskQueue, Signer: signer}, Logger: quiet})
	if err != nil {
		return 0, err
	}
	hs := httptest.NewServer(gw)
	defer hs.Close()
	shared = &env{client: c, emu: emu, slack: fake, gateway: hs, gw: gw, cfg: cfg}
	return m.Run(), nil
}

// post sends a request to the gateway over HTTP, signed as Slack signs,
// and waits for the work it started.
func post(t *testing.T, path string, body []byte) int {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, shared.gateway.URL+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	slack.SignRequest(req.Header, secret, body, time.Now())
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	shared.gw.Wait()
	return resp.StatusCode
}

// command runs a /cordon command as a Slack user and returns what the
// user was told (the immediate answer's text is not needed here).
func command(t *testing.T, user, text string) {
	t.Helper()
	if code := post(t, slack.PathCommands, slackfake.Command(team, user, channel, "/cordon", text)); code != http.StatusOK {
		t.Fatalf("/cordon %s: status %d", text, code)
	}
}

// gateMessage is a posted gate message with an Approve button.
type gateMessage struct {
	Channel, TS string
	Value       string // the Approve button's value
	Ref         slack.GateRef
}

// gateMessages lists the gate messages posted for a run.
func gateMessages(runID string) []gateMessage {
	var out []gateMessage
	for _, c := range shared.slack.Calls("chat.postMessage") {
		var blocks []struct {
			Elements []struct {
				ActionID string `json:"action_id"`
				Value    string `json:"value"`
			} `json:"elements"`
		}
		if json.Unmarshal([]byte(c.Blocks()), &blocks) != nil {
			continue
		}
		for _, b := range blocks {
			for _, e := range b.Elements {
				var ref slack.GateRef
				if e.ActionID != "cordon_approve" || json.Unmarshal([]byte(e.Value), &ref) != nil || ref.RunID != runID {
					continue
				}
				out = append(out, gateMessage{Channel: c.Form.Get("channel"), TS: tsOf(c), Value: e.Value, Ref: ref})
			}
		}
	}
	return out
}

// tsOf recovers the ts the fake answered a post with: calls are numbered
// in order, and the fake numbers ts the same way.
func tsOf(c slackfake.Call) string { return c.TS }

// waitGateMessage waits for the gate message of a step.
func waitGateMessage(t *testing.T, runID, step string) gateMessage {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		for _, m := range gateMessages(runID) {
			if m.Ref.Step == step {
				return m
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("no gate message for %s of %s", step, runID)
	return gateMessage{}
}

func click(t *testing.T, user string, m gateMessage) {
	t.Helper()
	if code := post(t, slack.PathInteractions, slackfake.Click(team, user, m.Channel, m.TS, "cordon_approve", m.Value)); code != http.StatusOK {
		t.Fatalf("click by %s: status %d", user, code)
	}
}

// lastEphemeral is the latest ephemeral message to a Slack user.
func lastEphemeral(user string) string {
	calls := shared.slack.Calls("chat.postEphemeral")
	for i := len(calls) - 1; i >= 0; i-- {
		if calls[i].Form.Get("user") == user {
			return calls[i].Text()
		}
	}
	return ""
}

var startedRun = regexp.MustCompile("Started run `([^`]+)`")

// startFromSlack runs /cordon run as user and returns the run id.
func startFromSlack(t *testing.T, user, text string) string {
	t.Helper()
	command(t, user, text)
	m := startedRun.FindStringSubmatch(lastEphemeral(user))
	if m == nil {
		t.Fatalf("/cordon %s: %q", text, lastEphemeral(user))
	}
	return m[1]
}

func gateState(t *testing.T, runID, step string) workflows.GateState {
	t.Helper()
	s, err := worker.State(context.Background(), shared.client, runID)
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range s.Gates {
		if g.Step == step {
			return g
		}
	}
	t.Fatalf("run %s has no gate %s", runID, step)
	return workflows.GateState{}
}

func updatesOf(ts string) []slackfake.Call {
	var out []slackfake.Call
	for _, c := range shared.slack.Calls("chat.update") {
		if c.Form.Get("ts") == ts {
			out = append(out, c)
		}
	}
	return out
}
