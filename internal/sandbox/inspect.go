package sandbox

import (
	"fmt"

	"github.com/cordon-ir/cordon/internal/awsemu"
)

// Uncontained lists what keeps instance id in emu from being contained as
// the ec2-compromise runbook leaves it: each network interface not in the
// quarantine group alone (with the groups it is in) and, with stopped, an
// instance neither stopped nor stopping; or the instance itself when emu
// does not hold it. Empty is what the end-to-end tests of a containment
// (internal/e2e, worker/slack/slacke2e) expect once it ran.
func Uncontained(emu *awsemu.Emulator, id, quarantine string, stopped bool) []string {
	in, ok := emu.Instance(id)
	if !ok {
		return []string{"no instance " + id}
	}
	var out []string
	if stopped && in.State != "stopped" && in.State != "stopping" {
		out = append(out, fmt.Sprintf("instance %s state %s", id, in.State))
	}
	for _, eni := range in.NetworkInterfaceIDs {
		ni, _ := emu.NetworkInterface(eni)
		if len(ni.SecurityGroupIDs) != 1 || ni.SecurityGroupIDs[0] != quarantine {
			out = append(out, fmt.Sprintf("ENI %s groups %v, want only %s", eni, ni.SecurityGroupIDs, quarantine))
		}
	}
	return out
}
