package devserver_test

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/cordon-ir/cordon/worker/devserver"
)

// Every test server and client logs to the test's output at Warn and above,
// so a failing test shows what the server complained about.
func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
}

func startServer(t *testing.T, opts devserver.Options) *devserver.Server {
	t.Helper()
	if opts.Logger == nil {
		opts.Logger = testLogger(t)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	s, err := devserver.Start(ctx, opts)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Stop(); err != nil {
			t.Errorf("Stop: %v", err)
		}
	})
	return s
}

func dial(t *testing.T, s *devserver.Server) client.Client {
	t.Helper()
	c, err := client.Dial(client.Options{
		HostPort:  s.FrontendAddress(),
		Namespace: s.Namespace(),
		Logger:    sdklog.NewStructuredLogger(testLogger(t)),
	})
	if err != nil {
		t.Fatalf("dial %s: %v", s.FrontendAddress(), err)
	}
	t.Cleanup(c.Close)
	return c
}

func startWorker(t *testing.T, c client.Client, taskQueue string, register func(worker.Registry)) worker.Worker {
	t.Helper()
	w := worker.New(c, taskQueue, worker.Options{WorkflowPanicPolicy: worker.FailWorkflow})
	register(w)
	if err := w.Start(); err != nil {
		t.Fatalf("start worker: %v", err)
	}
	t.Cleanup(w.Stop)
	return w
}

// Greet and Greeting are the smallest workflow that goes through an activity.
func Greet(ctx workflow.Context, name string) (string, error) {
	ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{StartToCloseTimeout: 10 * time.Second})
	var greeting string
	err := workflow.ExecuteActivity(ctx, Greeting, name).Get(ctx, &greeting)
	return greeting, err
}

func Greeting(_ context.Context, name string) (string, error) {
	return "hello " + name, nil
}

func TestWorkflowWithActivity(t *testing.T) {
	began := time.Now()
	s := startServer(t, devserver.Options{})
	t.Logf("server ready after %v", time.Since(began))
	c := dial(t, s)
	startWorker(t, c, "greet", func(r worker.Registry) {
		r.RegisterWorkflow(Greet)
		r.RegisterActivity(Greeting)
	})

	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: "greet-1", TaskQueue: "greet"}, Greet, "responder")
	if err != nil {
		t.Fatalf("ExecuteWorkflow: %v", err)
	}
	var got string
	if err := run.Get(ctx, &got); err != nil {
		t.Fatalf("workflow result: %v", err)
	}
	if got != "hello responder" {
		t.Errorf("result = %q, want %q", got, "hello responder")
	}
	// Reported, never asserted: timing belongs to BenchmarkStart.
	t.Logf("first workflow done %v after Start was called", time.Since(began))
}

const (
	approveUpdate  = "approve"
	approveSignal  = "approve"
	stateQuery     = "state"
	approvalsQueue = "approvals"
)

// Approval waits for one approval, by Update or by signal, and returns the
// approver. Its validator refuses self-approval, as Cordon's gates do.
func Approval(ctx workflow.Context, requester string) (string, error) {
	var approver string
	if err := workflow.SetQueryHandler(ctx, stateQuery, func() (string, error) {
		if approver == "" {
			return "waiting", nil
		}
		return "approved", nil
	}); err != nil {
		return "", err
	}
	err := workflow.SetUpdateHandlerWithOptions(ctx, approveUpdate,
		func(_ workflow.Context, who string) (string, error) {
			approver = who
			return "approved by " + who, nil
		},
		workflow.UpdateHandlerOptions{Validator: func(_ workflow.Context, who string) error {
			if who == requester {
				return fmt.Errorf("four-eyes: %s requested this run and cannot approve it", who)
			}
			return nil
		}},
	)
	if err != nil {
		return "", err
	}
	workflow.Go(ctx, func(ctx workflow.Context) {
		workflow.GetSignalChannel(ctx, approveSignal).Receive(ctx, &approver)
	})
	if err := workflow.Await(ctx, func() bool { return approver != "" }); err != nil {
		return "", err
	}
	// Let the Update handler's result reach the caller before completing.
	if err := workflow.Await(ctx, func() bool { return workflow.AllHandlersFinished(ctx) }); err != nil {
		return "", err
	}
	return approver, nil
}

func TestUpdateRoundTrip(t *testing.T) {
	s := startServer(t, devserver.Options{})
	c := dial(t, s)
	startWorker(t, c, approvalsQueue, func(r worker.Registry) { r.RegisterWorkflow(Approval) })

	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: "gate-1", TaskQueue: approvalsQueue}, Approval, "alice")
	if err != nil {
		t.Fatalf("ExecuteWorkflow: %v", err)
	}

	update := func(who string) (string, error) {
		h, err := c.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{
			WorkflowID:   run.GetID(),
			UpdateName:   approveUpdate,
			Args:         []any{who},
			WaitForStage: client.WorkflowUpdateStageCompleted,
		})
		if err != nil {
			return "", err
		}
		var out string
		err = h.Get(ctx, &out)
		return out, err
	}

	if _, err := update("alice"); err == nil || !strings.Contains(err.Error(), "four-eyes") {
		t.Fatalf("self-approval: err = %v, want the validator's four-eyes rejection", err)
	}
	got, err := update("bob")
	if err != nil {
		t.Fatalf("approval by bob: %v", err)
	}
	if got != "approved by bob" {
		t.Errorf("update result = %q, want %q", got, "approved by bob")
	}
	var approver string
	if err := run.Get(ctx, &approver); err != nil {
		t.Fatalf("workflow result: %v", err)
	}
	if approver != "bob" {
		t.Errorf("approver = %q, want bob", approver)
	}

	// Update-With-Start: how a Slack click can both start and approve.
	start := c.NewWithStartWorkflowOperation(client.StartWorkflowOptions{
		ID:                       "gate-2",
		TaskQueue:                approvalsQueue,
		WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING,
	}, Approval, "alice")
	h, err := c.UpdateWithStartWorkflow(ctx, client.UpdateWithStartWorkflowOptions{
		StartWorkflowOperation: start,
		UpdateOptions: client.UpdateWorkflowOptions{
			UpdateName:   approveUpdate,
			Args:         []any{"carol"},
			WaitForStage: client.WorkflowUpdateStageCompleted,
		},
	})
	if err != nil {
		t.Fatalf("UpdateWithStartWorkflow: %v", err)
	}
	if err := h.Get(ctx, &got); err != nil || got != "approved by carol" {
		t.Fatalf("update-with-start result = %q, %v; want %q", got, err, "approved by carol")
	}
}

func TestDBFileSurvivesRestart(t *testing.T) {
	dbFile := t.TempDir() + "/cordon-dev.sqlite"
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()

	// First life: start a run that waits for approval, and see a worker
	// pick it up, so its history holds more than the start event.
	first, err := devserver.Start(ctx, devserver.Options{DBFile: dbFile, Logger: testLogger(t)})
	if err != nil {
		t.Fatalf("first Start: %v", err)
	}
	defer first.Stop()
	c1, err := client.Dial(client.Options{HostPort: first.FrontendAddress(), Namespace: first.Namespace(),
		Logger: sdklog.NewStructuredLogger(testLogger(t))})
	if err != nil {
		t.Fatalf("dial first: %v", err)
	}
	w1 := worker.New(c1, approvalsQueue, worker.Options{})
	w1.RegisterWorkflow(Approval)
	if err := w1.Start(); err != nil {
		t.Fatalf("start first worker: %v", err)
	}
	run, err := c1.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: "survivor", TaskQueue: approvalsQueue}, Approval, "alice")
	if err != nil {
		t.Fatalf("ExecuteWorkflow: %v", err)
	}
	waitForState(ctx, t, c1, run.GetID(), "waiting")
	w1.Stop()
	c1.Close()
	if err := first.Stop(); err != nil {
		t.Fatalf("first Stop: %v", err)
	}

	// Second life, on the same file and the same port, as `cordon dev`
	// restarting on 7233 would be.
	_, port, _ := net.SplitHostPort(first.FrontendAddress())
	frontendPort, _ := strconv.Atoi(port)
	second := startServer(t, devserver.Options{DBFile: dbFile, FrontendPort: frontendPort})
	if second.FrontendAddress() != first.FrontendAddress() {
		t.Errorf("second FrontendAddress = %s, want %s", second.FrontendAddress(), first.FrontendAddress())
	}
	c2 := dial(t, second)
	startWorker(t, c2, approvalsQueue, func(r worker.Registry) { r.RegisterWorkflow(Approval) })
	if err := c2.SignalWorkflow(ctx, run.GetID(), run.GetRunID(), approveSignal, "bob"); err != nil {
		t.Fatalf("signal after restart: %v", err)
	}
	var approver string
	if err := c2.GetWorkflow(ctx, run.GetID(), run.GetRunID()).Get(ctx, &approver); err != nil {
		t.Fatalf("workflow result after restart: %v", err)
	}
	if approver != "bob" {
		t.Errorf("approver = %q, want bob", approver)
	}
}

// waitForState polls the workflow's state query until it answers want, which
// shows that a worker has processed the workflow's first task.
func waitForState(ctx context.Context, t *testing.T, c client.Client, workflowID, want string) {
	t.Helper()
	var last error
	for ctx.Err() == nil {
		v, err := c.QueryWorkflow(ctx, workflowID, "", stateQuery)
		if err == nil {
			var got string
			if err = v.Get(&got); err == nil && got == want {
				return
			}
			if err == nil {
				err = fmt.Errorf("state %q", got)
			}
		}
		last = err
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("workflow %s never reached state %q: %v", workflowID, want, last)
}

func TestBindsLoopbackOnly(t *testing.T) {
	s := startServer(t, devserver.Options{})
	host, port, err := net.SplitHostPort(s.FrontendAddress())
	if err != nil {
		t.Fatalf("FrontendAddress %q: %v", s.FrontendAddress(), err)
	}
	if host != "127.0.0.1" {
		t.Errorf("FrontendAddress host = %s, want 127.0.0.1", host)
	}
	if runtime.GOOS != "linux" {
		return
	}
	// On Linux all of 127.0.0.0/8 reaches the loopback interface, so a
	// socket bound to the wildcard would accept on 127.0.0.2 as well; one
	// bound to 127.0.0.1 alone refuses it.
	c, err := net.DialTimeout("tcp", net.JoinHostPort("127.0.0.2", port), time.Second)
	if err == nil {
		c.Close()
		t.Errorf("frontend port %s accepts connections on 127.0.0.2: bound wider than 127.0.0.1", port)
	}
	// And every listening socket this process holds (the frontend and the
	// three internal services; no metrics, pprof or membership port) is on
	// 127.0.0.1.
	listeners := ownTCPListeners(t)
	if len(listeners) < 4 {
		t.Errorf("found %d listening sockets in this process, want at least 4: %v", len(listeners), listeners)
	}
	for _, addr := range listeners {
		if !strings.HasPrefix(addr, "127.0.0.1:") {
			t.Errorf("listening on %s, want 127.0.0.1 only (all: %v)", addr, listeners)
		}
	}
}

// ownTCPListeners lists the local addresses of the TCP sockets in LISTEN state
// that this process holds, from /proc (Linux only).
func ownTCPListeners(t *testing.T) []string {
	t.Helper()
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatalf("list own file descriptors: %v", err)
	}
	inodes := map[string]bool{}
	for _, fd := range fds {
		target, err := os.Readlink("/proc/self/fd/" + fd.Name())
		if inode, ok := strings.CutPrefix(target, "socket:["); err == nil && ok {
			inodes[strings.TrimSuffix(inode, "]")] = true
		}
	}
	var addrs []string
	for _, table := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		data, err := os.ReadFile(table)
		if err != nil {
			t.Fatalf("read %s: %v", table, err)
		}
		for _, line := range strings.Split(string(data), "\n")[1:] {
			f := strings.Fields(line)
			const listenState = "0A"
			if len(f) < 10 || f[3] != listenState || !inodes[f[9]] {
				continue
			}
			addrs = append(addrs, decodeProcAddr(t, f[1]))
		}
	}
	return addrs
}

// decodeProcAddr turns /proc/net/tcp's "0100007F:1F90" into "127.0.0.1:8080".
// The kernel prints each 32-bit word of the address in host byte order.
func decodeProcAddr(t *testing.T, s string) string {
	hexIP, hexPort, _ := strings.Cut(s, ":")
	raw, err := hex.DecodeString(hexIP)
	if err != nil {
		t.Fatalf("address %q: %v", s, err)
	}
	ip := make(net.IP, 0, len(raw))
	for word := range slices.Chunk(raw, 4) {
		ip = binary.BigEndian.AppendUint32(ip, binary.NativeEndian.Uint32(word))
	}
	port, err := strconv.ParseUint(hexPort, 16, 16)
	if err != nil {
		t.Fatalf("address %q: %v", s, err)
	}
	return net.JoinHostPort(ip.String(), strconv.FormatUint(port, 10))
}

func TestUIServesPages(t *testing.T) {
	s := startServer(t, devserver.Options{UI: true})
	if !strings.HasPrefix(s.UIAddress(), "127.0.0.1:") {
		t.Fatalf("UIAddress = %q, want 127.0.0.1:port", s.UIAddress())
	}
	resp, err := http.Get("http://" + s.UIAddress() + "/")
	if err != nil {
		t.Fatalf("GET UI: %v", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || !strings.Contains(strings.ToLower(string(body)), "<html") {
		t.Errorf("GET UI: status %d, body starts %.80q", resp.StatusCode, body)
	}
}

func TestStopTwiceAndNoUI(t *testing.T) {
	s, err := devserver.Start(t.Context(), devserver.Options{Logger: testLogger(t)})
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	if s.UIAddress() != "" {
		t.Errorf("UIAddress = %q without UI, want empty", s.UIAddress())
	}
	if err := s.Stop(); err != nil {
		t.Fatalf("first Stop: %v", err)
	}
	if err := s.Stop(); err != nil {
		t.Fatalf("second Stop: %v", err)
	}
}

func TestBusyPortIsAnError(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	port := l.Addr().(*net.TCPAddr).Port
	_, err = devserver.Start(t.Context(), devserver.Options{FrontendPort: port, Logger: testLogger(t)})
	if err == nil || !strings.Contains(err.Error(), strconv.Itoa(port)) {
		t.Fatalf("Start on busy port %d: err = %v, want an error naming the port", port, err)
	}
	var opErr *net.OpError
	if !errors.As(err, &opErr) {
		t.Errorf("error %v does not wrap the bind error", err)
	}
}

// BenchmarkStart measures start-to-ready: from Start until the frontend
// answers and the namespace is usable. In-memory servers keep their database
// until the process exits (see the package doc), so keep -benchtime small.
func BenchmarkStart(b *testing.B) {
	logger := testLogger(b)
	var stopping time.Duration
	for range b.N {
		s, err := devserver.Start(b.Context(), devserver.Options{Logger: logger})
		if err != nil {
			b.Fatalf("Start: %v", err)
		}
		b.StopTimer()
		t0 := time.Now()
		if err := s.Stop(); err != nil {
			b.Fatalf("Stop: %v", err)
		}
		stopping += time.Since(t0)
		b.StartTimer()
	}
	b.ReportMetric(float64(stopping.Milliseconds())/float64(b.N), "stop-ms/op")
}
