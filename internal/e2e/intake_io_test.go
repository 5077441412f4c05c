package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"go.temporal.io/api/serviceerror"

	"github.com/cordon-ir/cordon/actions"
	"github.com/cordon-ir/cordon/intake"
	"github.com/cordon-ir/cordon/intake/intaketest"
	"github.com/cordon-ir/cordon/intake/source"
	"github.com/cordon-ir/cordon/internal/awsemu"
	"github.com/cordon-ir/cordon/runbooks"
	"github.com/cordon-ir/cordon/triggers"
)

// Issue 14, the intake's I/O on the real server and the emulator: events
// arrive on an SQS queue (the emulator's) or at the HTTPS endpoint, each
// finding is fetched again from its source API (the emulator's GuardDuty,
// Security Hub and Health), decided against the runbooks, and submitted
// to the intake's Temporal side, which starts the runs.

// ioWorld is an intakeWorld with a Receiver in front of its launcher,
// verifying findings against the shared emulator, the emulator's account
// configured as "production".
type ioWorld struct {
	*intakeWorld
	receiver *intake.Receiver
	handled  *handledLog
}

func newIOWorld(t *testing.T, name string, files map[string]string) *ioWorld {
	return newIOWorldIn(t, name, files, nil)
}

// newIOWorldIn is newIOWorld with more accounts: their ids, and their
// names with the role the intake assumes in them.
func newIOWorldIn(t *testing.T, name string, files map[string]string, more map[string]actions.Account) *ioWorld {
	t.Helper()
	w := &ioWorld{intakeWorld: newIntakeWorld(t, name, files), handled: &handledLog{}}
	ids := map[string]string{shared.emu.AccountID(): "production"}
	roles := map[string]actions.Account{"production": {}}
	for id, acct := range more {
		named := "account-" + id
		ids[id], roles[named] = named, acct
	}
	src := source.New(actions.NewAWSClientSource(actions.AWSOptions{Base: shared.emu.AWSConfig(), Endpoint: shared.emu.URL(), Accounts: roles}), "intake")
	r, err := intake.NewReceiver(intake.ReceiverOptions{
		Plans:  func(context.Context) ([]*runbooks.Plan, error) { return w.plans, nil },
		Source: src, Accounts: source.NewAccounts(ids),
		Launcher: w.launcher, Notifier: w.notices, Logger: slog.New(slog.DiscardHandler), OnHandled: w.handled.add,
	})
	if err != nil {
		t.Fatal(err)
	}
	w.receiver = r
	return w
}

// handledLog is what the receiver reported, delivery by delivery.
type handledLog struct {
	mu  sync.Mutex
	all []handledEvent
}

type handledEvent struct {
	in  intake.Received
	out intake.Handled
	err error
}

func (l *handledLog) add(in intake.Received, out intake.Handled, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.all = append(l.all, handledEvent{in, out, err})
}

// finding is the last handling of the first finding of event id.
func (l *handledLog) finding(eventID string) (intake.HandledFinding, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, e := range slices.Backward(l.all) {
		if e.out.EventID == eventID && len(e.out.Findings) > 0 {
			return e.out.Findings[0], true
		}
	}
	return intake.HandledFinding{}, false
}

func (l *handledLog) count() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.all)
}

// seedSource puts the finding an event carries into the emulator's
// source API.
func seedSource(t *testing.T, event []byte, edits ...func(map[string]any)) {
	t.Helper()
	intaketest.Seed(t, shared.emu, event, edits...)
}

// queue creates a queue with a dead-letter queue that takes a message
// after maxReceives receives, each receive hiding it for visibility
// seconds; it returns both URLs.
func queue(t *testing.T, name string, maxReceives, visibility int) (string, string) {
	t.Helper()
	dlq, err := shared.emu.CreateQueue("", "", name+"-dlq", nil)
	if err != nil {
		t.Fatal(err)
	}
	q, err := shared.emu.Queue(dlq)
	if err != nil {
		t.Fatal(err)
	}
	url, err := shared.emu.CreateQueue("", "", name, map[string]string{
		"VisibilityTimeout": fmt.Sprint(visibility),
		"RedrivePolicy":     fmt.Sprintf(`{"deadLetterTargetArn":%q,"maxReceiveCount":%d}`, q.ARN, maxReceives),
	})
	if err != nil {
		t.Fatal(err)
	}
	return url, dlq
}

// loops runs n SQS loops of the world's receiver on url until the test
// ends (and checks each stopped cleanly).
func (w *ioWorld) loops(t *testing.T, url string, n int) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	client := sqs.NewFromConfig(shared.emu.AWSConfig())
	var wg sync.WaitGroup
	for range n {
		l, err := intake.NewSQSLoop(w.receiver, intake.SQSOptions{QueueURL: url, Client: client, Wait: 2 * time.Second,
			MinBackoff: 50 * time.Millisecond, Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			t.Fatal(err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := l.Run(ctx); err != nil {
				t.Errorf("SQS loop: %v", err)
			}
		}()
	}
	t.Cleanup(func() {
		cancel()
		wg.Wait()
	})
}

func send(t *testing.T, url string, body []byte) {
	t.Helper()
	if _, err := shared.emu.SendToQueue(url, string(body)); err != nil {
		t.Fatal(err)
	}
}

// drained waits until the queue holds no message.
func drained(t *testing.T, url string) {
	t.Helper()
	pollUntil(t, time.Minute, "the queue drained", func() bool {
		q, err := shared.emu.Queue(url)
		return err == nil && len(q.Messages) == 0
	})
}

// noFindingWorkflow checks that nothing was submitted for key: no finding
// workflow of runbook exists for it.
func noFindingWorkflow(t *testing.T, runbook, key string) {
	t.Helper()
	_, err := shared.client.DescribeWorkflowExecution(context.Background(), intake.FindingWorkflowID(runbook, key), "")
	var nf *serviceerror.NotFound
	if !errors.As(err, &nf) {
		t.Errorf("finding %s: a finding workflow exists (%v): it was submitted", key, err)
	}
}

// The same SQS message three times, read by two loops at once, makes one
// run; every copy is deleted.
func TestIntakeSQSOneRunPerFinding(t *testing.T) {
	w := newIOWorld(t, "sqs-once", map[string]string{"ec2-compromise.yaml": ec2Triggered(t)})
	url, dlq := queue(t, "intake-sqs-once", 3, 30)
	host := oneHost(t, "intake-sqs-once")
	f := intaketest.Finding{ID: "sqs-once-" + host, Region: shared.emu.Region(), Instance: host}
	event := f.GuardDuty(t)
	seedSource(t, event)
	for range 3 {
		send(t, url, event)
	}
	w.loops(t, url, 2)
	drained(t, url)
	key := "guardduty/123456789012/" + f.Region + "/" + f.ID
	st := findingState(t, "ec2-compromise", key)
	if st.RunID == "" || st.Deliveries != 3 || st.Duplicates != 2 {
		t.Fatalf("finding record: %+v", st)
	}
	c := w.receiver.Counters()
	if c.Get(intake.Started) != 1 || c.Get(intake.Duplicate) != 2 {
		t.Errorf("counters: %s", c)
	}
	pollUntil(t, 10*time.Second, "the run in visibility", func() bool { return len(runsBy(t, "ec2-compromise", w.opts.IntakeID)) >= 1 })
	if runs := runsBy(t, "ec2-compromise", w.opts.IntakeID); len(runs) != 1 || runs[0] != st.RunID {
		t.Errorf("runs %v, want %s alone", runs, st.RunID)
	}
	if q, err := shared.emu.Queue(dlq); err != nil || len(q.Messages) != 0 {
		t.Errorf("dead-letter queue: %+v, %v", q.Messages, err)
	}
	waitForGate(t, st.RunID, "isolate")
	abortRun(t, st.RunID)
}

// Findings nothing may act on are dropped, each with its reason, their
// messages deleted, and nothing submitted: a sample, an archived finding,
// a NOTIFIED echo of Cordon's own Security Hub update, a closed Health
// event, a finding of an account no aws.accounts entry covers (alerted),
// a low severity, a finding archived since its event was sent, and a
// forged finding its source does not return.
func TestIntakeDropsWithReasons(t *testing.T) {
	w := newIOWorld(t, "drops", map[string]string{"ec2-compromise.yaml": ec2Triggered(t)})
	url, _ := queue(t, "intake-drops", 3, 30)
	region := shared.emu.Region()
	host := oneHost(t, "intake-drops")
	gd := func(id string, severity float64, account string) []byte {
		return intaketest.Finding{ID: id, Region: region, Instance: host, Severity: severity, Account: account}.GuardDuty(t)
	}
	low := gd("drops-low-"+host, 2, "")
	stale := gd("drops-stale-"+host, 8, "")
	seedSource(t, low)
	seedSource(t, stale, func(d map[string]any) { d["service"].(map[string]any)["archived"] = true })
	cases := map[string]struct {
		event []byte
		why   string
	}{
		"sample":              {intaketest.Event(t, "guardduty-sample.json", nil), "sample"},
		"archived":            {intaketest.Event(t, "guardduty-archived.json", nil), "archived"},
		"NOTIFIED echo":       {intaketest.Event(t, "securityhub-notified.json", nil), "workflow status NOTIFIED"},
		"closed Health event": {intaketest.Event(t, "health-closed.json", nil), "closed Health event"},
		"unknown account":     {gd("drops-elsewhere-"+host, 8, "999988887777"), "finding for account 999988887777 that no aws.accounts entry covers"},
		"low severity":        {low, "severity low is below critical"},
		"archived since":      {stale, "changed since the event was sent: the source now holds an archived finding"},
		"forged":              {gd("drops-forged-"+host, 8, ""), "the source does not return this finding"},
	}
	for _, c := range cases {
		send(t, url, c.event)
	}
	w.loops(t, url, 1)
	drained(t, url)
	for name, c := range cases {
		fs, err := triggers.ParseEvent(c.event)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		h, ok := w.handled.finding(fs[0].EventID)
		if !ok {
			t.Errorf("%s: not handled", name)
			continue
		}
		if reasons := dropReasons(h); !strings.Contains(reasons, c.why) || len(h.Outcomes) > 0 {
			t.Errorf("%s: dropped for %q, outcomes %+v; want %q", name, reasons, h.Outcomes, c.why)
		}
		noFindingWorkflow(t, "ec2-compromise", fs[0].Key)
	}
	if !w.notices.has("account 999988887777 that no aws.accounts entry covers") {
		t.Errorf("the uncovered account was not alerted: %v", w.notices.text)
	}
	if n := w.receiver.Counters().Get("dropped_unknown_account"); n != 1 {
		t.Errorf("unknown-account drops counted %d", n)
	}
	untouched(t, host)
}

// dropReasons are why nothing acts on a handled finding.
func dropReasons(h intake.HandledFinding) string {
	reasons := []string{h.Dropped}
	for _, d := range h.Decisions {
		reasons = append(reasons, d.Reason)
	}
	return strings.Join(reasons, "; ")
}

// A truncated message is reported, never deleted, and moves to the
// dead-letter queue after maxReceiveCount receives; the loop goes on
// handling the messages after it.
func TestIntakeMalformedMessageGoesToTheDeadLetterQueue(t *testing.T) {
	w := newIOWorld(t, "malformed", map[string]string{"ec2-compromise.yaml": ec2Triggered(t)})
	url, dlq := queue(t, "intake-malformed", 2, 1)
	truncated := intaketest.Event(t, "guardduty-ec2.json", nil)
	truncated = truncated[:len(truncated)/2]
	send(t, url, truncated)
	host := oneHost(t, "intake-malformed")
	f := intaketest.Finding{ID: "after-malformed-" + host, Region: shared.emu.Region(), Instance: host}
	good := f.GuardDuty(t)
	seedSource(t, good)
	send(t, url, good)
	w.loops(t, url, 1)
	pollUntil(t, time.Minute, "the malformed message in the dead-letter queue", func() bool {
		q, err := shared.emu.Queue(dlq)
		return err == nil && len(q.Messages) == 1
	})
	q, _ := shared.emu.Queue(dlq)
	if m := q.Messages[0]; m.Body != string(truncated) || m.ReceiveCount < 2 {
		t.Errorf("dead letter: %+v", m)
	}
	drained(t, url)
	if n := w.receiver.Counters().Get("malformed"); n < 2 {
		t.Errorf("malformed counted %d times, want once per receive (2)", n)
	}
	// The loop is alive: the good message after it started its run.
	st := findingState(t, "ec2-compromise", "guardduty/123456789012/"+f.Region+"/"+f.ID)
	if st.RunID == "" {
		t.Fatalf("the message after the malformed one: %+v", st)
	}
	// And it still reads: a message sent now is handled.
	before := w.handled.count()
	send(t, url, intaketest.Event(t, "guardduty-sample.json", nil))
	pollUntil(t, 30*time.Second, "a message handled after the dead letter", func() bool { return w.handled.count() > before })
	abortRun(t, st.RunID)
}

// The HTTPS endpoint: without the secret, or with a wrong one, 401 and
// nothing started; a malformed event 400; a forged event (its finding is
// not in the source) 202 and nothing started; a legitimate event 202 and
// one run.
func TestIntakeHTTPSEndpoint(t *testing.T) {
	w := newIOWorld(t, "https", map[string]string{"ec2-compromise.yaml": ec2Triggered(t)})
	const secret = "0123456789abcdef0123456789abcdef-test"
	h, err := intake.NewHTTPHandler(w.receiver, intake.HTTPOptions{Secret: secret, Header: "X-Cordon-Intake-Key", Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	post := func(key string, body []byte) (int, map[string]any) {
		t.Helper()
		req, err := http.NewRequest(http.MethodPost, srv.URL+"/events", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		if key != "" {
			req.Header.Set("X-Cordon-Intake-Key", key)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&out)
		return resp.StatusCode, out
	}
	region := shared.emu.Region()
	host := oneHost(t, "intake-https")
	legit := intaketest.Finding{ID: "https-legit-" + host, Region: region, Instance: host}
	event := legit.GuardDuty(t)
	seedSource(t, event)
	key := "guardduty/123456789012/" + region + "/" + legit.ID

	for name, k := range map[string]string{"no secret": "", "a wrong secret": "0123456789abcdef0123456789abcdef-nope", "the secret's prefix": secret[:20]} {
		if code, _ := post(k, event); code != http.StatusUnauthorized {
			t.Errorf("%s: %d, want 401", name, code)
		}
	}
	if w.handled.count() != 0 {
		t.Fatalf("an unauthorized request was handled: %+v", w.handled.all)
	}
	noFindingWorkflow(t, "ec2-compromise", key)
	if n := w.receiver.Counters().Get("unauthorized"); n != 3 {
		t.Errorf("unauthorized counted %d", n)
	}

	if code, out := post(secret, event[:len(event)-10]); code != http.StatusBadRequest || !strings.Contains(fmt.Sprint(out["error"]), "parse EventBridge event") {
		t.Errorf("malformed: %d %v", code, out)
	}

	// A forged event: a well-formed finding about the host that GuardDuty
	// never reported.
	other := oneHost(t, "intake-https-forged")
	forged := intaketest.Finding{ID: "https-forged-" + other, Region: region, Instance: other}
	code, out := post(secret, forged.GuardDuty(t))
	if code != http.StatusAccepted || !strings.Contains(fmt.Sprint(out), "the source does not return this finding") {
		t.Errorf("forged: %d %v", code, out)
	}
	noFindingWorkflow(t, "ec2-compromise", "guardduty/123456789012/"+region+"/"+forged.ID)
	untouched(t, other)

	// The positive control: the same request with the finding GuardDuty
	// holds starts its run.
	code, out = post(secret, event)
	if code != http.StatusAccepted || !strings.Contains(fmt.Sprint(out), intake.Started) {
		t.Fatalf("legitimate: %d %v", code, out)
	}
	st := findingState(t, "ec2-compromise", key)
	waitForGate(t, st.RunID, "isolate")
	pollUntil(t, 10*time.Second, "the run in visibility", func() bool { return len(runsBy(t, "ec2-compromise", w.opts.IntakeID)) >= 1 })
	if runs := runsBy(t, "ec2-compromise", w.opts.IntakeID); !slices.Equal(runs, []string{st.RunID}) {
		t.Errorf("runs %v, want %s alone", runs, st.RunID)
	}
	abortRun(t, st.RunID)
}

// A finding of another account is fetched again in that account, through
// the role the configuration names for it, and its run gets the account's
// configured name as its account input.
func TestIntakeVerifiesInTheFindingsAccount(t *testing.T) {
	const member = "222233334444"
	role, err := shared.emu.AddRole(awsemu.RoleSpec{Name: "cordon-intake-read", Account: member})
	if err != nil {
		t.Fatal(err)
	}
	w := newIOWorldIn(t, "member", map[string]string{"ec2-compromise.yaml": ec2Triggered(t)},
		map[string]actions.Account{member: {RoleARN: role.ARN}})
	f := intaketest.Finding{ID: "member-finding", Account: member, Region: shared.emu.Region(), Instance: "i-0123456789abcdef0", Severity: 5}
	event := f.GuardDuty(t)
	seedSource(t, event) // in the member account only
	shared.emu.ResetCalls()
	h, err := w.receiver.Receive(context.Background(), intake.Received{Body: event, Via: "test"})
	if err != nil {
		t.Fatal(err)
	}
	if len(h.Findings) != 1 || len(h.Findings[0].Outcomes) != 1 || h.Findings[0].Outcomes[0].Action != intake.Proposed {
		t.Fatalf("handled: %+v", h)
	}
	var p intake.Proposal
	pollUntil(t, 30*time.Second, "the proposal", func() bool {
		p, err = intake.GetProposal(context.Background(), shared.client, h.Findings[0].Outcomes[0].WorkflowID)
		return err == nil
	})
	if p.Run.Inputs["account"] != "account-"+member {
		t.Errorf("the proposed run's inputs: %v", p.Run.Inputs)
	}
	var assumed, fetched bool
	for _, c := range shared.emu.Calls() {
		assumed = assumed || c.Action == "AssumeRole" && c.Status == http.StatusOK
		fetched = fetched || c.Action == "GetFindings" && c.Account == member && c.Status == http.StatusOK
	}
	if !assumed || !fetched {
		t.Errorf("the role was assumed: %v; GuardDuty was asked in %s: %v", assumed, member, fetched)
	}
}
