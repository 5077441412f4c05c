package e2e

import (
	"context"
	"log/slog"
	"net"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"go.temporal.io/sdk/client"
	sdkworker "go.temporal.io/sdk/worker"

	"github.com/cordon-ir/cordon/actions"
	"github.com/cordon-ir/cordon/internal/awsemu"
	"github.com/cordon-ir/cordon/worker"
	"github.com/cordon-ir/cordon/worker/devserver"
	"github.com/cordon-ir/cordon/workflows"
)

// The embedded server (SQLite file, as cordon dev runs it) is stopped and
// started again while a containment waits at a gate: the run is still
// there, the approval given after the restart goes through, and the run
// completes.
func TestServerRestartMidRun(t *testing.T) {
	ctx := context.Background()
	quiet := slog.New(slog.DiscardHandler)
	db := filepath.Join(t.TempDir(), "dev.db")
	srv, err := devserver.Start(ctx, devserver.Options{DBFile: db, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	port := srv.FrontendAddress()

	connect := func(address string) (client.Client, sdkworker.Worker) {
		c, err := worker.Dial(ctx, worker.TemporalConfig{Address: address, Namespace: srv.Namespace()}, quiet)
		if err != nil {
			t.Fatal(err)
		}
		rt := actions.NewRuntime(actions.Options{
			Clients:      actions.NewAWSClientSource(actions.AWSOptions{Base: shared.emu.AWSConfig(), Endpoint: shared.emu.URL()}),
			Logger:       quiet,
			PollInterval: 50 * time.Millisecond,
		})
		w := sdkworker.New(c, "e2e-restart", sdkworker.Options{})
		worker.Register(w, shared.cfg, rt, worker.LogGateNotifier{Logger: quiet})
		if err := w.Start(); err != nil {
			t.Fatal(err)
		}
		return c, w
	}
	c, w := connect(port)

	fleet, err := shared.emu.SeedFleet(awsemu.FleetSpec{Instances: 1, NamePrefix: "restart", WithInstanceRole: true})
	if err != nil {
		t.Fatal(err)
	}
	plan := compileExample(t, "ec2-compromise")
	inputs, err := plan.ResolveInputs(map[string]string{"instance_id": fleet.InstanceIDs[0], "final_action": "none"})
	if err != nil {
		t.Fatal(err)
	}
	runID := startSigned(t, c, "e2e-restart", plan, inputs, workflows.RunMeta{RunID: "e2e-restart", Requester: "alice"}, "")
	waitGate := func(c client.Client, step string) workflows.GateState {
		deadline := time.Now().Add(time.Minute)
		for time.Now().Before(deadline) {
			if s, err := worker.State(ctx, c, runID); err == nil {
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
	w.Stop()
	c.Close()
	if err := srv.Stop(); err != nil {
		t.Fatal(err)
	}
	_, portNum, _ := splitHostPort(port)
	srv, err = devserver.Start(ctx, devserver.Options{DBFile: db, Logger: quiet, FrontendPort: portNum})
	if err != nil {
		t.Fatalf("restart: %v", err)
	}
	t.Cleanup(func() { _ = srv.Stop() })
	c, w = connect(srv.FrontendAddress())
	t.Cleanup(func() { w.Stop(); c.Close() })

	for _, step := range []string{"isolate", "revoke_sessions"} {
		g := waitGate(c, step)
		if _, err := worker.Send(ctx, c, workflows.Request{RunID: runID, Action: workflows.ActApprove, Step: step,
			PreviewHash: g.PreviewHash, Actor: "bob", Channel: "cli"}, shared.keys["bob"]); err != nil {
			t.Fatalf("approve %s after restart: %v", step, err)
		}
	}
	wctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	res, err := worker.Wait(wctx, c, runID)
	if err != nil || res.Status != workflows.RunSucceeded {
		t.Fatalf("after restart: %+v %v", res, err)
	}
	in, _ := shared.emu.Instance(fleet.InstanceIDs[0])
	for _, eni := range in.NetworkInterfaceIDs {
		ni, _ := shared.emu.NetworkInterface(eni)
		if len(ni.SecurityGroupIDs) != 1 || ni.SecurityGroupIDs[0] != res.Outputs["quarantine_group_id"] {
			t.Errorf("ENI %s groups %v after the run", eni, ni.SecurityGroupIDs)
		}
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
