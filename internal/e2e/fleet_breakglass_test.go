package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/cordon-ir/cordon/internal/awsemu"
	"github.com/cordon-ir/cordon/runctl"
	"github.com/cordon-ir/cordon/workflows"
)

// Issue 13, item 6: a lead's break-glass on a fleet run used to say
// "later gates will pass" while the host runs already waiting at their
// gates kept waiting. Now the fleet run forwards the signed break-glass to
// its running host runs, each of which verifies it again. A forged
// forwarding (a responder's signature, sent straight to a host run) is
// refused there and approves nothing.
func TestBreakGlassOnTheFleetReachesRunningHosts(t *testing.T) {
	ctx := context.Background()
	fleet := seedFleet(t, awsemu.FleetSpec{Instances: 3, NamePrefix: "bgfleet", Compromised: []int{0, 1, 2}})
	runID := startFleetRun(t, shared.client, shared.cfg.Temporal.TaskQueue, fleet, "none",
		workflows.RunMeta{RunID: "e2e-fleet-break-glass", Requester: "alice", Incident: "INC-BG"}, "")
	hosts := hostsAtGates(t, runID, 3)

	// Negative control: anyone who can reach the namespace can signal a
	// host run; a break-glass signed by a responder is refused there.
	forged, err := runctl.SignBreakGlass(runID, "bob", "forged: bob is no lead", shared.keys["bob"])
	if err != nil {
		t.Fatal(err)
	}
	if err := shared.client.SignalWorkflow(ctx, hosts[0], "", workflows.SignalParentBreakGlass, []workflows.Request{forged}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		s, err := runctl.State(ctx, shared.client, hosts[0])
		if err == nil && len(s.Refusals) > 0 {
			if !strings.Contains(s.Refusals[0].Reason, "lead") || s.BreakGlass != nil {
				t.Fatalf("forged forwarding: refusals %+v, break-glass %+v", s.Refusals, s.BreakGlass)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the forged forwarding was neither refused nor recorded (state error %v)", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	for _, id := range fleet.CompromisedIDs {
		untouched(t, id)
	}

	// A lead's break-glass on the fleet run reaches every waiting host.
	bg, err := runctl.SignBreakGlass(runID, "carol", "active botnet: contain every host now", shared.keys["carol"])
	if err != nil {
		t.Fatal(err)
	}
	out, err := runctl.Send(ctx, shared.client, bg, shared.keys["carol"])
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "forwarded to 3 running host run(s)") {
		t.Errorf("approve-all on the fleet run says %q", out)
	}
	s := ended(t, runID)
	if s.Status != workflows.RunSucceeded {
		t.Fatalf("fleet run %s", s.Status)
	}
	// The forwarding (a signal per running host) and a host that refused
	// a forged forwarding, then took the real one: histories for replay.
	replay(t, runID, "fleet-break-glass-forwarded")
	replay(t, hosts[0], "host-break-glass-forwarded")
	for _, id := range fleet.CompromisedIDs {
		in, _ := shared.emu.Instance(id)
		for _, eni := range in.NetworkInterfaceIDs {
			ni, _ := shared.emu.NetworkInterface(eni)
			g, ok := shared.emu.SecurityGroup(ni.SecurityGroupIDs[0])
			if len(ni.SecurityGroupIDs) != 1 || !ok || !strings.Contains(g.Name, "quarantine") {
				t.Errorf("%s interface %s is not isolated after the break-glass: groups %v", id, eni, ni.SecurityGroupIDs)
			}
		}
	}
}
