package e2e

import (
	"bufio"
	"context"
	"database/sql"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/cordon-ir/cordon/internal/awsemu"
	"github.com/cordon-ir/cordon/internal/sandbox"
	"github.com/cordon-ir/cordon/runctl"
	"github.com/cordon-ir/cordon/worker"
	"github.com/cordon-ir/cordon/worker/devserver"
	"github.com/cordon-ir/cordon/workflows"
)

// The server crash test re-executes this binary as a separate Temporal
// server process it can kill -9: serverProcessDBEnv names its SQLite file,
// serverProcessPortEnv its frontend port.
const (
	serverProcessDBEnv   = "CORDON_E2E_SERVER_DB"
	serverProcessPortEnv = "CORDON_E2E_SERVER_PORT"
	serverProcessReady   = "cordon-e2e-server-ready"
)

// init, not TestMain, dispatches to the server process: it runs before
// TestMain, so the child never starts the shared server and emulator.
func init() {
	if db := os.Getenv(serverProcessDBEnv); db != "" {
		os.Exit(serverProcess(db, os.Getenv(serverProcessPortEnv)))
	}
}

// serverProcess is the body of the separate server process: the embedded
// server on a SQLite file and a fixed port, running until it is killed or
// its parent goes away (its stdin, a pipe from the parent, closes).
func serverProcess(db, port string) int {
	p, err := strconv.Atoi(port)
	if err != nil {
		fmt.Fprintln(os.Stderr, "server process: port:", err)
		return 1
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	srv, err := devserver.Start(ctx, devserver.Options{DBFile: db, FrontendPort: p, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		fmt.Fprintln(os.Stderr, "server process:", err)
		return 1
	}
	fmt.Println(serverProcessReady)
	_, _ = io.Copy(io.Discard, os.Stdin)
	_ = srv.Stop()
	return 0
}

// startServerProcess starts a server process on db and port and returns
// once its frontend answers.
func startServerProcess(t *testing.T, db string, port int) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), serverProcessDBEnv+"="+db, serverProcessPortEnv+"="+strconv.Itoa(port))
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe() // held open: the child stops when the test binary dies
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait(); _ = stdin.Close() })
	ready := make(chan bool, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if sc.Text() == serverProcessReady {
				ready <- true
				_, _ = io.Copy(io.Discard, stdout)
				return
			}
		}
		ready <- false // the child exited before it was ready
	}()
	select {
	case ok := <-ready:
		if !ok {
			t.Fatalf("server process on %s exited before it was ready", db)
		}
	case <-time.After(2 * time.Minute):
		t.Fatalf("server process on %s not ready within 2 minutes", db)
	}
	return cmd
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// integrityCheck opens the SQLite file as the server would (rolling back
// any hot journal a killed writer left) and runs PRAGMA integrity_check.
// The driver is the one the embedded server registers.
func integrityCheck(t *testing.T, db string) {
	t.Helper()
	if info, err := os.Stat(db); err != nil || info.Size() == 0 {
		t.Fatalf("SQLite file %s after kill -9: %v (want a non-empty file)", db, err)
	}
	for _, suffix := range []string{"-journal", "-wal"} {
		if info, err := os.Stat(db + suffix); err == nil {
			t.Logf("the killed server left %s (%d bytes)", filepath.Base(db+suffix), info.Size())
		}
	}
	if !slices.Contains(sql.Drivers(), "sqlite") {
		t.Logf("no sqlite driver registered (%v); integrity check skipped", sql.Drivers())
		return
	}
	d, err := sql.Open("sqlite", "file:"+db)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	var res []string
	rows, err := d.Query("PRAGMA integrity_check")
	if err != nil {
		t.Fatalf("integrity check of %s after kill -9: %v", db, err)
	}
	defer rows.Close()
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			t.Fatal(err)
		}
		res = append(res, s)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if len(res) != 1 || res[0] != "ok" {
		t.Fatalf("integrity check of %s after kill -9: %v", db, res)
	}
	t.Logf("SQLite integrity check after kill -9: %v", res)
}

// The embedded server (SQLite file, as cordon dev runs it), in a process
// of its own, is killed -9 while a fleet containment has snapshots pending
// and children at their gates, then started again on the same file and
// port. The client and the worker reconnect on their own, the approvals
// given after the restart go through, and the run ends with every host
// isolated once and each volume snapshotted exactly once.
func TestServerKilledMidRun(t *testing.T) {
	ctx := context.Background()
	db := filepath.Join(t.TempDir(), "dev.db")
	port := freePort(t)
	first := startServerProcess(t, db, port)
	address := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))

	rec := newAWSRecorder(t)
	const queue = "e2e-server-kill"
	// One worker for the whole test: it is not restarted after the server
	// restart, its pollers reconnect by themselves. The server's namespace
	// is the default of devserver.Options.
	box := boxOfItsOwn(t, sandbox.Options{Temporal: &worker.TemporalConfig{Address: address, Namespace: "default"}}, queue,
		sandbox.RuntimeOptions{Endpoint: rec.url, PollInterval: 50 * time.Millisecond})
	c := box.Client()

	fleet := seedFleet(t, awsemu.FleetSpec{Instances: 3, NamePrefix: "srvkill", NetworkInterfaces: 2, Volumes: 2,
		WithInstanceRole: true, Compromised: []int{0, 1}, Tags: map[string]string{"ServerKill": "yes"}})
	before := recordFleet(t, fleet)
	// Snapshots stay pending a while, so the kill lands with work in flight.
	shared.emu.SetSnapshotCompletion(awsemu.SnapshotCompletion{After: 3 * time.Second})
	t.Cleanup(shared.emu.ResetFaults)

	runID := startFleetRun(t, c, queue, fleet, "none",
		workflows.RunMeta{RunID: "e2e-server-kill", Requester: "alice", Incident: "INC-SRVKILL"}, "")

	// approve approves, as bob, every gate that waits in the run and its
	// children, until done says stop or the run ends. While the server may
	// be coming back, errors are retried until the deadline.
	approved := map[string]bool{}
	approve := func(phase string, deadline time.Time, done func() bool) {
		t.Helper()
		var last error
		for !done() {
			if time.Now().After(deadline) {
				t.Fatalf("%s: deadline passed (last error: %v)", phase, last)
			}
			rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			s, err := runctl.State(rctx, c, runID)
			if err != nil {
				cancel()
				last = err
				time.Sleep(100 * time.Millisecond)
				continue
			}
			if s.Status != workflows.RunRunning {
				cancel()
				return
			}
			runs := []string{runID}
			for _, st := range s.Steps {
				runs = append(runs, st.Children...)
			}
			for _, id := range runs {
				cs, err := runctl.State(rctx, c, id)
				if err != nil {
					last = err
					continue // a child not started yet, or the server not back
				}
				for _, g := range cs.Gates {
					key := id + "/" + g.Key + "/" + g.PreviewHash
					if g.Status != workflows.GateWaiting || approved[key] {
						continue
					}
					_, err := runctl.Send(rctx, c, workflows.Request{RunID: id, Action: workflows.ActApprove, Step: g.Step, Item: g.Item,
						PreviewHash: g.PreviewHash, Actor: "bob", Channel: "cli", Reason: "e2e"}, shared.keys["bob"])
					if err != nil {
						last = fmt.Errorf("approve %s %s: %w", id, g.Key, err)
						continue // seen again on the next round if still waiting
					}
					approved[key] = true
				}
			}
			cancel()
			time.Sleep(100 * time.Millisecond)
		}
	}

	// Approve the gates until a snapshot of the fleet is pending, then kill
	// the server with that work in flight.
	start := time.Now()
	approve("before the kill", time.Now().Add(time.Minute), snapshotPending(fleet))
	if err := first.Process.Kill(); err != nil { // SIGKILL: no graceful stop
		t.Fatal(err)
	}
	_ = first.Wait()
	t.Logf("server killed -9 %v into the run, with snapshots pending and %d gates approved", time.Since(start).Round(time.Millisecond), len(approved))

	// The file a killed server left behind opens cleanly and is intact.
	integrityCheck(t, db)

	restart := time.Now()
	startServerProcess(t, db, port)
	t.Logf("server restarted on the same file and port in %v", time.Since(restart).Round(time.Millisecond))

	// The same client and worker, reconnecting on their own: the run is
	// still there and goes on to the end.
	approve("after the restart", time.Now().Add(2*time.Minute), func() bool { return false })
	succeeded(t, c, runID, time.Minute)
	t.Logf("run succeeded %v after the restart, %v in all", time.Since(restart).Round(time.Millisecond), time.Since(start).Round(time.Millisecond))

	// For the log: steps the kill made the worker try again.
	t.Logf("%d steps succeeded on a later attempt", countRetries(fleetRetries(t, c, runID)))

	if n := checkContained(t, before, rec, "none"); n != len(fleet.CompromisedIDs) {
		t.Errorf("%d of %d hosts contained", n, len(fleet.CompromisedIDs))
	}
}
