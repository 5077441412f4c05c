package main

// Steering a fleet from its run: a fleet runbook contains each host in a
// child run, and the gates live there. cordon status FLEET shows every
// host and what waits; cordon approve FLEET STEP --host H decides the
// gate of one host's run, and --all-hosts walks every waiting host's gate
// of that step, each change shown and confirmed on its own.

import (
	"context"
	"fmt"
	"io"
	"slices"

	"go.temporal.io/sdk/client"

	"github.com/cordon-ir/cordon/report"
	"github.com/cordon-ir/cordon/runctl"
	"github.com/cordon-ir/cordon/workflows"
)

// hostRun is one host's run of a fleet run.
type hostRun struct {
	host  string
	state workflows.State
}

// hasChildren says whether the run contains hosts in child runs.
func hasChildren(s workflows.State) bool {
	return slices.ContainsFunc(s.Steps, func(st workflows.StepState) bool { return len(st.Children) > 0 })
}

// hostRuns queries every child run of s, with the host each contains.
func hostRuns(ctx context.Context, cl client.Client, s workflows.State) ([]hostRun, error) {
	children, err := runctl.ChildStates(ctx, cl, s)
	if err != nil {
		return nil, err
	}
	out := make([]hostRun, 0, len(children))
	for _, c := range children {
		out = append(out, hostRun{host: report.HostOf(c), state: c})
	}
	return out, nil
}

// writeHosts lists a fleet run's hosts: each host's run, its status and
// the gates that wait there, with the command that decides each.
func writeHosts(w io.Writer, fleetID string, hosts []hostRun) {
	fmt.Fprintf(w, "hosts (%d):\n", len(hosts))
	for _, h := range hosts {
		status := string(h.state.Status)
		if h.state.Paused {
			status += ", paused"
		}
		fmt.Fprintf(w, "  %s  %s  (run %s)\n", h.host, status, h.state.Meta.RunID)
		for _, g := range h.state.Gates {
			if g.Status != workflows.GateWaiting {
				continue
			}
			fmt.Fprintf(w, "    gate %s waits (%d of %d approvals); preview %s: %s\n", g.Key, len(g.Approvals), g.MinApprovals,
				shortHash(g.PreviewHash), hostApproveCommand(fleetID, h.host, g))
		}
	}
}

// waitingHosts are the host runs whose gate ref waits, restricted to host
// when it is given.
func waitingHosts(hosts []hostRun, ref gateRef, host string) []hostRun {
	var out []hostRun
	for _, h := range hosts {
		if host != "" && h.host != host {
			continue
		}
		if g, _ := findWaitingGate(h.state.Gates, ref); g != nil {
			out = append(out, h)
		}
	}
	return out
}
