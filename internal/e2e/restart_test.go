package e2e

import (
	"context"
	"fmt"
	"net"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/cordon-ir/cordon/internal/awsemu"
	"github.com/cordon-ir/cordon/internal/sandbox"
	"github.com/cordon-ir/cordon/runctl"
	"github.com/cordon-ir/cordon/worker/devserver"
	"github.com/cordon-ir/cordon/workflows"
)

// The embedded server (SQLite file, as cordon dev runs it) is stopped and
// started again while a containment waits at a gate: the run is still
// there, the approval given after the restart goes through, and the run
// completes.
func TestServerRestartMidRun(t *testing.T) {
	ctx := context.Background()
	db := filepath.Join(t.TempDir(), "dev.db")
	cfg := *shared.cfg
	cfg.Temporal.TaskQueue = "e2e-restart"
	// start runs the server on db and port (0: a free one), a client and a
	// worker, against the shared emulator.
	start := func(port int) *sandbox.Sandbox {
		box, err := sandbox.Start(ctx, sandbox.Options{Server: devserver.Options{DBFile: db, FrontendPort: port}, AWS: shared.emu})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = box.Close() })
		if _, err := box.StartWorker(ctx, sandbox.WorkerOptions{Config: &cfg,
			Runtime: box.NewRuntime(sandbox.RuntimeOptions{PollInterval: 50 * time.Millisecond})}); err != nil {
			t.Fatal(err)
		}
		return box
	}
	box := start(0)
	c := box.Client()

	fleet := seedFleet(t, awsemu.FleetSpec{Instances: 1, NamePrefix: "restart", WithInstanceRole: true})
	plan := compileExample(t, "ec2-compromise")
	runID := startSigned(t, c, "e2e-restart", plan, ec2Inputs(t, plan, fleet.InstanceIDs[0], "none"), workflows.RunMeta{RunID: "e2e-restart", Requester: "alice"}, "")
	waitGate := func(c client.Client, step string) workflows.GateState {
		deadline := time.Now().Add(time.Minute)
		for time.Now().Before(deadline) {
			if s, err := runctl.State(ctx, c, runID); err == nil {
				for _, g := range s.Gates {
					if g.Step == step && g.Status == workflows.GateWaiting {
						return g
					}
				}
			}
			time.Sleep(100 * time.Millisecond)
		}
		t.Fatalf("run never reached the %s gate", step)
		return workflows.GateState{}
	}
	waitGate(c, "isolate")

	// Stop everything, start the server again on the same file and port.
	if err := box.Close(); err != nil {
		t.Fatal(err)
	}
	_, port, _ := splitHostPort(box.Temporal().Address)
	c = start(port).Client()

	for _, step := range []string{"isolate", "revoke_sessions"} {
		g := waitGate(c, step)
		if _, err := runctl.Send(ctx, c, workflows.Request{RunID: runID, Action: workflows.ActApprove, Step: step,
			PreviewHash: g.PreviewHash, Actor: "bob", Channel: "cli"}, shared.keys["bob"]); err != nil {
			t.Fatalf("approve %s after restart: %v", step, err)
		}
	}
	res := succeeded(t, c, runID, 2*time.Minute)
	for _, p := range sandbox.Uncontained(shared.emu, fleet.InstanceIDs[0], fmt.Sprint(res.Outputs["quarantine_group_id"]), false) {
		t.Errorf("after the run: %s", p)
	}
}

func splitHostPort(addr string) (string, int, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, err
	}
	n, err := strconv.Atoi(port)
	return host, n, err
}
