package e2e

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

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
	port := freePort(t)
	// start runs the server on db and port, a client and a worker, against
	// the shared emulator.
	start := func() *sandbox.Sandbox {
		return boxOfItsOwn(t, sandbox.Options{Server: devserver.Options{DBFile: db, FrontendPort: port}}, "e2e-restart",
			sandbox.RuntimeOptions{PollInterval: 50 * time.Millisecond})
	}
	box := start()
	c := box.Client()

	fleet := seedFleet(t, awsemu.FleetSpec{Instances: 1, NamePrefix: "restart", WithInstanceRole: true})
	plan := compileExample(t, "ec2-compromise")
	runID := startSigned(t, c, "e2e-restart", plan, ec2Inputs(t, plan, fleet.InstanceIDs[0], "none"), workflows.RunMeta{RunID: "e2e-restart", Requester: "alice"}, "")
	gateWaiting(t, c, runID, "isolate")

	// Stop everything, start the server again on the same file and port.
	if err := box.Close(); err != nil {
		t.Fatal(err)
	}
	c = start().Client()

	for _, step := range []string{"isolate", "revoke_sessions"} {
		g := gateWaiting(t, c, runID, step)
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
