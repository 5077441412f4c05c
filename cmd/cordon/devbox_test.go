package main

import (
	"encoding/json"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cordon-ir/cordon/workflows"
)

// The tests that drive the CLI against a real cordon dev --sandbox, as a
// responder's terminal would, share these.

// devSandbox runs cordon dev --sandbox (embedded Temporal, worker, AWS
// emulator with a seeded fleet) for the test, as startDevSandbox does, and
// returns its Temporal address and a compromised instance.
func devSandbox(t *testing.T) (address, instance string) {
	t.Helper()
	b := startDevSandbox(t)
	return b.address, b.instance
}

// devBox is a running cordon dev --sandbox, as its banner describes it.
type devBox struct {
	address, instance string
	// awsURL is the AWS emulator's endpoint.
	awsURL string
	// compromised are the seeded fleet's compromised instances; healthy
	// the others.
	compromised, healthy []string
}

// startDevSandbox runs cordon dev --sandbox for the test (skipped with
// -short) and points the CLI's environment at it: it acts as dana, the
// requester and a lead of the dev roster, with no signing key (the dev
// roster takes unsigned requests) and no configuration of the machine.
func startDevSandbox(t *testing.T) devBox {
	t.Helper()
	if testing.Short() {
		t.Skip("starts an embedded Temporal server")
	}
	t.Setenv("CORDON_USER", "dana")
	t.Setenv("HOME", t.TempDir())
	t.Setenv("CORDON_CONFIG", "")
	t.Setenv("CORDON_TEMPORAL_ADDRESS", "")
	cli := startCLI(t, "dev", "--sandbox", "--port", "0", "--ui=false", "--dir", t.TempDir())
	addrRe := regexp.MustCompile(`Temporal:\s+(\S+)`)
	instRe := regexp.MustCompile(`compromised: (i-[0-9a-f]+)(( i-[0-9a-f]+)*)`)
	awsRe := regexp.MustCompile(`AWS sandbox:\s+(\S+)`)
	fleetRe := regexp.MustCompile(`fleet in \S+: ((?:i-[0-9a-f]+ ?)+)`)
	var b devBox
	up := pollUntil(2*time.Minute, func() bool {
		cli.failIfExited(t)
		out := cli.stdout.String()
		a, i, u := addrRe.FindStringSubmatch(out), instRe.FindStringSubmatch(out), awsRe.FindStringSubmatch(out)
		if a == nil || i == nil || u == nil {
			return false
		}
		b = devBox{address: a[1], instance: i[1], awsURL: u[1], compromised: strings.Fields(i[1] + i[2])}
		if f := fleetRe.FindStringSubmatch(out); f != nil {
			for _, id := range strings.Fields(f[1]) {
				if !slices.Contains(b.compromised, id) {
					b.healthy = append(b.healthy, id)
				}
			}
		}
		return true
	})
	if !up {
		t.Fatalf("cordon dev did not come up\n%s\n%s", cli.stdout.String(), cli.stderr.String())
	}
	return b
}

// startRun starts a run with cordon run args on the server at address
// and returns its id; the run is aborted when the test ends.
func startRun(t *testing.T, address string, args ...string) string {
	t.Helper()
	runID := strings.TrimSpace(cordonOK(t, append(append([]string{"run"}, args...), "--address", address)...))
	abortAtEnd(t, address, runID)
	return runID
}

// abortAtEnd aborts the run when the test ends (if it has not ended), so
// that no run of a test holds its targets in the next.
func abortAtEnd(t *testing.T, address, runID string) {
	t.Cleanup(func() { cordon(t, "abort", runID, "--reason", "test over", "--address", address) })
}

// runState reads the run's state with cordon status --json.
func runState(t *testing.T, address, runID string) workflows.State {
	t.Helper()
	out := cordonOK(t, "status", runID, "--json", "--address", address)
	var s workflows.State
	if err := json.Unmarshal([]byte(out), &s); err != nil {
		t.Fatal(err)
	}
	return s
}

// waitForGate polls cordon status --json until a gate other than those in
// seen waits, and returns it.
func waitForGate(t *testing.T, address, runID string, seen map[string]bool) workflows.GateState {
	t.Helper()
	var gate workflows.GateState
	waited := pollUntil(2*time.Minute, func() bool {
		s := runState(t, address, runID)
		for _, g := range s.Gates {
			if g.Status == workflows.GateWaiting && !seen[g.Key+g.PreviewHash] {
				gate = g
				return true
			}
		}
		if s.Status != workflows.RunRunning {
			t.Fatalf("run %s ended %s before a gate waited", runID, s.Status)
		}
		return false
	})
	if !waited {
		t.Fatalf("no gate waited in run %s", runID)
	}
	return gate
}
