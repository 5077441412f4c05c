// Package slacke2e drives Slack approvals against a real in-process
// Temporal server, the real worker and the AWS emulator, with Slack
// itself replaced by a local fake of its Web API. It is the one Slack
// test package that links the Temporal server; every test shares one
// server through TestMain.
package slacke2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sync"
	"testing"
	"time"

	"go.temporal.io/sdk/client"
	"golang.org/x/crypto/ssh"

	"github.com/cordon-ir/cordon/internal/awsemu"
	"github.com/cordon-ir/cordon/internal/sandbox"
	"github.com/cordon-ir/cordon/runctl"
	"github.com/cordon-ir/cordon/worker"
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
	cfg     *worker.Config
	roster  workflows.Roster // the configuration's, as the gateway reads it
	signer  ssh.Signer       // the gateway's key
	carol   ssh.Signer       // carol's own key, for the CLI
	gateway *gatewayProc     // the gateway most tests talk to
	dir     string           // the runbook source of the worker and the gateway

	mu           sync.Mutex
	workerRoster workflows.Roster // what the workflow's roster activity answers
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

// twoPerson is a runbook whose one gate needs two approvers, for tests
// that count approvals.
const twoPerson = `apiVersion: cordon.dev/v1
kind: Runbook
metadata:
  name: two-person-isolate
  description: Isolate one instance once two responders agree (Slack end-to-end tests).
  severity: high
target:
  account: production
  region: us-east-1
inputs:
  instance_id:
    type: string
    required: true
    pattern: ^i-[0-9a-f]{8,17}$
steps:
  - id: isolate
    name: Quarantine security group on every interface
    phase: containment
    action: aws.ec2.isolate_instance
    approval:
      min_approvals: 2
      approvers:
        groups: [csirt-oncall, csirt-leads]
      timeout: 30m
      on_timeout: deny
    with:
      instance_id: ${{ inputs.instance_id }}
`

// runbookSource is the worker's runbook source (runbooks.dir) and the
// gateway's: the examples and the two-person runbook.
func runbookSource() (string, error) {
	dir, err := os.MkdirTemp("", "slacke2e-runbooks")
	if err != nil {
		return "", err
	}
	files, err := filepath.Glob("../../../examples/*.yaml")
	if err != nil || len(files) == 0 {
		return "", fmt.Errorf("no example runbooks (%v)", err)
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return "", err
		}
		if err := os.WriteFile(filepath.Join(dir, filepath.Base(f)), b, 0o600); err != nil {
			return "", err
		}
	}
	return dir, os.WriteFile(filepath.Join(dir, "two-person-isolate.yaml"), []byte(twoPerson), 0o600)
}

func run(m *testing.M) (int, error) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	quiet := slog.New(slog.DiscardHandler)
	fake := slackfake.New()
	defer fake.Close()
	dir, err := runbookSource()
	if dir != "" {
		defer os.RemoveAll(dir)
	}
	if err != nil {
		return 0, err
	}
	box, err := sandbox.Start(ctx, sandbox.Options{})
	if err != nil {
		return 0, err
	}
	defer box.Close()

	// Only carol has a key of her own (for the CLI); the others act
	// through Slack, which the gateway's key signs for.
	people, err := sandbox.NewRoster([]sandbox.Member{
		{ID: "alice", SlackID: "UALICE", Roles: []string{"responder"}, Groups: []string{"csirt-oncall"}, NoKey: true},
		{ID: "bob", SlackID: "UBOB", Roles: []string{"responder"}, Groups: []string{"csirt-oncall"}, NoKey: true},
		{ID: "carol", SlackID: "UCAROL", Roles: []string{"responder", "lead"}, Groups: []string{"csirt-oncall", "csirt-leads"}},
		{ID: "dave", SlackID: "UDAVE", Roles: []string{"lead"}, Groups: []string{"csirt-leads"}, NoKey: true},
	}, slack.Channel)
	if err != nil {
		return 0, err
	}
	signer := people.Signer(slack.Channel)
	cfg := box.WorkerConfig("slacke2e", people, dir)
	cfg.Slack = worker.SlackConfig{BotToken: token, SigningSecret: secret, Channel: channel, APIURL: fake.URL(), TeamID: team, GatewayKeyFile: "(in memory)", RunbookDir: dir}
	if err := cfg.Validate(); err != nil {
		return 0, err
	}
	roster := cfg.WorkflowRoster()
	if !roster.RequireSignatures {
		return 0, fmt.Errorf("the roster does not require signatures")
	}
	if err := slack.CheckGatewayKey(roster, signer); err != nil {
		return 0, err
	}
	shared = &env{client: box.Client(), emu: box.Emulator(), slack: fake, cfg: cfg, roster: roster, signer: signer, carol: people.Signer("carol"),
		dir: dir, workerRoster: roster}
	notifier := slack.NewNotifier(slack.NewClient(cfg.Slack), slack.NotifierOptions{Channel: channel, Roster: roster, Logger: quiet})
	// The roster is read before every decision, as a worker reading its
	// configuration file does (worker.FileRoster); tests change it.
	if _, err := box.StartWorker(ctx, sandbox.WorkerOptions{Config: cfg, Notifier: notifier,
		Runtime: box.NewRuntime(sandbox.RuntimeOptions{Notifier: notifier, PollInterval: 50 * time.Millisecond}),
		Roster: func(context.Context) (workflows.Roster, error) {
			shared.mu.Lock()
			defer shared.mu.Unlock()
			return shared.workerRoster, nil
		}}); err != nil {
		return 0, err
	}
	gw, err := newGatewayProc(roster, notifier)
	if err != nil {
		return 0, err
	}
	defer gw.close()
	shared.gateway = gw
	return m.Run(), nil
}

// withSlackActions is the configuration's roster with the slack
// gateway's scope set to actions.
func withSlackActions(actions ...string) workflows.Roster {
	r := shared.roster
	r.Gateways = slices.Clone(r.Gateways)
	for i := range r.Gateways {
		r.Gateways[i].Actions = actions
	}
	return r
}

// setWorkerRoster makes the workflow read r as the roster until the test
// ends. A run reads it at its start and again at each decision it admits.
func setWorkerRoster(t *testing.T, r workflows.Roster) {
	t.Helper()
	shared.mu.Lock()
	shared.workerRoster = r
	shared.mu.Unlock()
	t.Cleanup(func() {
		shared.mu.Lock()
		shared.workerRoster = shared.roster
		shared.mu.Unlock()
	})
}

// gatewayProc is one gateway process: the gateway, its HTTP server, and
// what it asked of Temporal.
type gatewayProc struct {
	gw   *slack.Gateway
	srv  *httptest.Server
	runs *recordingRuns
}

// newGatewayProc starts a gateway reading roster, on Temporal with the
// gateway's key. notifier nil: a notifier of its own, as another process
// has (nothing remembered of where messages are).
func newGatewayProc(roster workflows.Roster, notifier *slack.Notifier) (*gatewayProc, error) {
	quiet := slog.New(slog.DiscardHandler)
	if notifier == nil {
		notifier = slack.NewNotifier(slack.NewClient(shared.cfg.Slack), slack.NotifierOptions{Channel: channel, Roster: roster, Logger: quiet})
	}
	runs := &recordingRuns{Runs: slack.TemporalRuns{Client: shared.client, TaskQueue: shared.cfg.Temporal.TaskQueue, Signer: shared.signer}}
	gw, err := slack.NewGateway(slack.GatewayOptions{SigningSecret: secret, TeamID: team, Roster: roster, RunbookDir: shared.dir,
		Notifier: notifier, Runs: runs, Logger: quiet})
	if err != nil {
		return nil, err
	}
	return &gatewayProc{gw: gw, srv: httptest.NewServer(gw), runs: runs}, nil
}

// gatewayFor is another gateway process for the length of the test: a
// replica, a restarted gateway, or one configured with another roster.
func gatewayFor(t *testing.T, roster workflows.Roster) *gatewayProc {
	t.Helper()
	p, err := newGatewayProc(roster, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.close)
	return p
}

func (p *gatewayProc) close() { p.srv.Close(); p.gw.Wait() }

// recordingRuns passes everything to Temporal and remembers the answers.
type recordingRuns struct {
	slack.Runs
	mu     sync.Mutex
	sent   []sendResult
	starts []startResult
}

type sendResult struct {
	Req workflows.Request
	Err error
}

type startResult struct {
	Opts runctl.StartOptions
	ID   string
	Err  error
}

func (r *recordingRuns) Send(ctx context.Context, req workflows.Request) (string, error) {
	out, err := r.Runs.Send(ctx, req)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.sent = append(r.sent, sendResult{req, err})
	return out, err
}

func (r *recordingRuns) Start(ctx context.Context, o runctl.StartOptions) (string, error) {
	id, err := r.Runs.Start(ctx, o)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.starts = append(r.starts, startResult{o, id, err})
	return id, err
}

func (r *recordingRuns) sends() []sendResult {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.sent)
}

func (r *recordingRuns) started() []startResult {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.starts)
}

// signedRequest is an HTTP request as Slack sends it: a body and the
// signature headers. Delivering one twice is a repeat of one interaction.
type signedRequest struct {
	path   string
	body   []byte
	header http.Header
}

func signed(path string, body []byte) signedRequest {
	h := http.Header{}
	h.Set("Content-Type", "application/x-www-form-urlencoded")
	slack.SignRequest(h, secret, body, time.Now())
	return signedRequest{path: path, body: body, header: h}
}

// deliver sends r to the gateway process and waits for the work it
// started; it returns the status and the immediate answer.
func (p *gatewayProc) deliver(t *testing.T, r signedRequest) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, p.srv.URL+r.path, bytes.NewReader(r.body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header = r.header.Clone()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(resp.Body)
	p.gw.Wait()
	return resp.StatusCode, string(answer)
}

// post sends a request to the shared gateway over HTTP, signed as Slack
// signs, and waits for the work it started.
func post(t *testing.T, path string, body []byte) int {
	t.Helper()
	code, _ := shared.gateway.deliver(t, signed(path, body))
	return code
}

// command runs a /cordon command as a Slack user and returns what the
// user was told (the immediate answer's text is not needed here).
func command(t *testing.T, user, text string) {
	t.Helper()
	commandTo(t, shared.gateway, user, text)
}

// commandTo runs a /cordon command through a gateway process and returns
// its immediate answer.
func commandTo(t *testing.T, p *gatewayProc, user, text string) string {
	t.Helper()
	code, answer := p.deliver(t, signed(slack.PathCommands, slackfake.Command(team, user, channel, "/cordon", text)))
	if code != http.StatusOK {
		t.Fatalf("/cordon %s: status %d", text, code)
	}
	return answer
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

// startFromSlack runs /cordon run as user and returns the run id. The
// run is terminated when the test ends, unless it has ended.
func startFromSlack(t *testing.T, user, text string) string {
	t.Helper()
	command(t, user, text)
	m := startedRun.FindStringSubmatch(lastEphemeral(user))
	if m == nil {
		t.Fatalf("/cordon %s: %q", text, lastEphemeral(user))
	}
	t.Cleanup(func() { _ = shared.client.TerminateWorkflow(context.Background(), m[1], "", "test over") })
	return m[1]
}

func runState(t *testing.T, runID string) workflows.State {
	t.Helper()
	s, err := runctl.State(context.Background(), shared.client, runID)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func gateState(t *testing.T, runID, step string) workflows.GateState {
	t.Helper()
	for _, g := range runState(t, runID).Gates {
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
