package intake_test

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/cordon-ir/cordon/actions"
	"github.com/cordon-ir/cordon/intake"
	"github.com/cordon-ir/cordon/intake/intaketest"
	"github.com/cordon-ir/cordon/intake/source"
	"github.com/cordon-ir/cordon/internal/awsemu"
	"github.com/cordon-ir/cordon/runbooks"
)

// The intake's I/O without Temporal: a receiver that decides only (no
// Launcher, as a rehearsal), fetching findings from the emulator's
// sources. The end-to-end tests (internal/e2e) submit for real.

// rehearsal is a decide-only receiver over emu, with the example
// ec2-compromise and the emulator's account as "production".
func rehearsal(t *testing.T, emu *awsemu.Emulator) *intake.Receiver {
	t.Helper()
	plan := intaketest.Compile(t, filepath.Join("..", "examples", "ec2-compromise.yaml"))
	r, err := intake.NewReceiver(intake.ReceiverOptions{
		Plans:    func(context.Context) ([]*runbooks.Plan, error) { return []*runbooks.Plan{plan}, nil },
		Source:   source.New(actions.NewAWSClientSource(actions.AWSOptions{Base: emu.AWSConfig(), Endpoint: emu.URL()}), "intake"),
		Accounts: source.NewAccounts(map[string]string{emu.AccountID(): "production"}),
		Logger:   slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// The endpoint reads nothing without its secret, bounds what it reads,
// refuses a malformed batch whole, and answers what became of a finding.
func TestHTTPSEndpointChecksBeforeItReads(t *testing.T) {
	emu := awsemu.NewTestServer(t, awsemu.Options{})
	r := rehearsal(t, emu)
	const secret = "a-secret-of-at-least-32-characters!"
	h, err := intake.NewHTTPHandler(r, intake.HTTPOptions{Secret: secret, Header: "X-Key", MaxBodyBytes: 4096, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	f := intaketest.Finding{ID: "endpoint", Region: emu.Region(), Instance: "i-0123456789abcdef0"}
	event := f.GuardDuty(t)
	intaketest.Seed(t, emu, event)
	post := func(key string, body []byte) (int, string) {
		t.Helper()
		req := httptest.NewRequest(http.MethodPost, "/events", bytes.NewReader(body))
		if key != "" {
			req.Header.Set("X-Key", key)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec.Code, rec.Body.String()
	}
	cases := []struct {
		name, key string
		body      []byte
		code      int
		says      string
	}{
		{"no secret", "", event, http.StatusUnauthorized, "does not carry the intake's secret"},
		{"a longer secret", secret + "x", event, http.StatusUnauthorized, ""},
		{"too large", secret, bytes.Repeat([]byte(" "), 5000), http.StatusRequestEntityTooLarge, "larger than 4096 bytes"},
		{"one event of a batch malformed", secret, []byte("[" + string(event) + `, {"hello": 1}]`), http.StatusBadRequest, "event 1: parse EventBridge event"},
		{"an empty batch", secret, []byte("[]"), http.StatusBadRequest, "an empty batch"},
		{"a batch of two", secret, []byte("[" + string(event) + "," + string(event) + "]"), http.StatusAccepted, `"decision":"propose"`},
	}
	for _, c := range cases {
		code, body := post(c.key, c.body)
		if code != c.code || !strings.Contains(body, c.says) {
			t.Errorf("%s: %d %s", c.name, code, body)
		}
	}
	if n := r.Counters().Get("unauthorized"); n != 2 {
		t.Errorf("unauthorized counted %d", n)
	}
	// Only the batch of two was handled: nothing before the checks passed.
	if n := r.Counters().Get("findings"); n != 2 {
		t.Errorf("findings handled %d, want the batch's 2", n)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/events", nil))
	if rec.Code != http.StatusMethodNotAllowed {
		t.Errorf("GET /events: %d", rec.Code)
	}
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/healthz", nil))
	if rec.Code != http.StatusOK {
		t.Errorf("GET /healthz: %d", rec.Code)
	}
}

// A throttled queue does not stop the loop: it backs off and reads again,
// handles what comes, deletes it, and stops when told.
func TestSQSLoopBacksOffAndStops(t *testing.T) {
	emu := awsemu.NewTestServer(t, awsemu.Options{})
	r := rehearsal(t, emu)
	url, err := emu.CreateQueue("", "", "findings", nil)
	if err != nil {
		t.Fatal(err)
	}
	emu.FailNext("ReceiveMessage", "RequestThrottled", http.StatusBadRequest, 3)
	sample := intaketest.Event(t, "guardduty-sample.json", nil)
	if _, err := emu.SendToQueue(url, string(sample)); err != nil {
		t.Fatal(err)
	}
	cfg := emu.AWSConfig()
	l, err := intake.NewSQSLoop(r, intake.SQSOptions{QueueURL: url, Client: sqs.NewFromConfig(cfg, func(o *sqs.Options) { o.RetryMaxAttempts = 1 }),
		Wait: time.Second, MinBackoff: 10 * time.Millisecond, MaxBackoff: 40 * time.Millisecond, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- l.Run(ctx) }()
	deadline := time.Now().Add(30 * time.Second)
	for {
		q, err := emu.Queue(url)
		if err == nil && len(q.Messages) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the message was never handled and deleted: counters %s", r.Counters())
		}
		time.Sleep(10 * time.Millisecond)
	}
	if n := r.Counters().Get("receive_errors"); n != 3 {
		t.Errorf("receive errors %d, want the 3 throttled receives", n)
	}
	cancel()
	if err := <-done; err != nil { // the test's deadline bounds the wait
		t.Errorf("Run: %v", err)
	}
	if r.Counters().Get("dropped") != 1 || r.Counters().Get("deleted") != 1 {
		t.Errorf("counters %s: the sample is dropped and its message deleted", r.Counters())
	}
}
