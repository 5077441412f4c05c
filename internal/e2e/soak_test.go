package e2e

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"

	"github.com/cordon-ir/cordon/internal/awsemu"
	"github.com/cordon-ir/cordon/runctl"
	"github.com/cordon-ir/cordon/workflows"
)

// soakEnv turns the soak on: a Go duration, e.g. CORDON_SOAK=10m.
// soakSeedEnv replays the random choices of an earlier soak.
const (
	soakEnv     = "CORDON_SOAK"
	soakSeedEnv = "CORDON_SOAK_SEED"
)

// soakTotals is what the soak reports at the end.
type soakTotals struct {
	runs, hosts, compromised, contained, kills, retries, approvals int
}

// TestSoakFleetUnderFaults runs fleet containments back to back for as
// long as CORDON_SOAK says, with AWS misbehaving (5xx on a fraction of
// calls, EC2's request buckets) and the worker process killed -9 at
// random points of each run: after a random number of AWS answers, at a
// waiting gate, or after a random delay. Fleets, gates or break-glass,
// the final action and the kills are drawn from a seeded generator (the
// seed is logged; CORDON_SOAK_SEED replays the same choices, though not
// the same timing). After each run the invariants of the crash tests must
// hold. Skipped, at no cost, unless CORDON_SOAK is set:
//
//	CORDON_SOAK=10m go test ./internal/e2e -run Soak -count=1 -v -timeout 30m
func TestSoakFleetUnderFaults(t *testing.T) {
	budget := os.Getenv(soakEnv)
	if budget == "" {
		t.Skip("soak: set " + soakEnv + " to a duration (e.g. " + soakEnv + "=10m) to run it")
	}
	length, err := time.ParseDuration(budget)
	if err != nil || length <= 0 {
		t.Fatalf("%s=%q: want a positive Go duration such as 10m", soakEnv, budget)
	}
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv(soakSeedEnv); s != "" {
		if seed, err = strconv.ParseUint(s, 10, 64); err != nil {
			t.Fatalf("%s=%q: %v", soakSeedEnv, s, err)
		}
	}
	t.Logf("soak for %s, seed %d (%s=%d replays the choices)", length, seed, soakSeedEnv, seed)
	rng := rand.New(rand.NewPCG(seed, seed^0x5eed))

	shared.emu.SetServerErrorRate(0.05, seed)
	shared.emu.SetThrottling(awsemu.EC2DefaultThrottle())
	shared.emu.SetSnapshotCompletion(awsemu.SnapshotCompletion{After: 2 * time.Second})
	t.Cleanup(func() {
		shared.emu.ResetFaults()
		shared.emu.SetSnapshotCompletion(awsemu.SnapshotCompletion{})
	})
	rec := newAWSRecorder(t)
	_, cfgPath := workerConfigFile(t, "e2e-soak", rec.url)
	s := &soak{t: t, rng: rng, seed: seed, rec: rec, cfgPath: cfgPath}
	s.worker = startWorkerProcess(t, cfgPath)

	started := time.Now()
	end := started.Add(length)
	for i := 0; time.Now().Before(end) && !t.Failed(); i++ {
		// A run under kills can take minutes; do not start one the test's
		// own deadline would cut short.
		if dl, ok := t.Deadline(); ok && time.Until(dl) < 6*time.Minute {
			t.Logf("stopping early: the test deadline (-timeout) is %s away", time.Until(dl).Round(time.Second))
			break
		}
		s.run(i)
	}
	tt := s.totals
	t.Logf("soak summary: seed %d, %s, %d runs, %d hosts (%d compromised, %d contained), %d kills, %d steps retried, %d approvals",
		seed, time.Since(started).Round(time.Second), tt.runs, tt.hosts, tt.compromised, tt.contained, tt.kills, tt.retries, tt.approvals)
}

type soak struct {
	t       *testing.T
	rng     *rand.Rand
	seed    uint64
	rec     *awsRecorder
	cfgPath string
	worker  *exec.Cmd
	totals  soakTotals
}

// run seeds a fresh fleet, contains it with kills along the way and
// checks the invariants.
func (s *soak) run(i int) {
	t, rng := s.t, s.rng
	ctx := context.Background()
	began := time.Now()
	n := 3 + rng.IntN(2)
	var compromised []int
	for j := range n {
		if rng.IntN(3) > 0 {
			compromised = append(compromised, j)
		}
	}
	if len(compromised) == 0 {
		compromised = []int{rng.IntN(n)}
	}
	// NetworkInterfaces and Volumes left at zero: the emulator varies
	// them per instance (1–3 interfaces, 2–3 volumes).
	fleet := seedFleet(t, awsemu.FleetSpec{Instances: n, NamePrefix: fmt.Sprintf("soak%03d", i), Compromised: compromised,
		WithInstanceRole: rng.IntN(2) == 0, InAutoScalingGroup: rng.IntN(n + 1), BehindTargetGroup: rng.IntN(n + 1),
		Tags: map[string]string{"Soak": strconv.FormatUint(s.seed, 10)}})
	before := recordFleet(t, fleet)
	gated := rng.IntN(2) == 0
	final := []string{"none", "stop"}[rng.IntN(2)]

	meta := workflows.RunMeta{RunID: fmt.Sprintf("e2e-soak-%d-%d", s.seed, i), Requester: "alice", Channel: "cli", Incident: "INC-SOAK"}
	breakGlassReason := ""
	if !gated {
		breakGlassReason = "soak"
	}
	runID := startFleetRun(t, shared.client, "e2e-soak", fleet, final, meta, breakGlassReason)

	// Gates are approved from the side while the kills go on; a send cut
	// short by a kill is tried again on the next round.
	actx, stopApproving := context.WithCancel(ctx)
	a := &gateApprover{member: "bob", sent: map[string]bool{}}
	var approving sync.WaitGroup
	if gated {
		approving.Go(func() {
			for actx.Err() == nil {
				if _, err := a.pass(actx, runID); err != nil && !errors.Is(err, errNoState) && actx.Err() == nil {
					t.Logf("%s: %v (trying again)", runID, err)
				}
				time.Sleep(200 * time.Millisecond)
			}
		})
	}

	// One to three kills a run: the soak is about crashes.
	var kills []string
	missed := ""
	for range 1 + rng.IntN(3) {
		point, reached := s.killPoint(runID, len(fleet.CompromisedIDs), gated)
		if !reached {
			missed = "; the run ended before the kill " + point
			break
		}
		kill9(t, s.worker, point)
		kills = append(kills, point)
		// The worker stays dead for a while, as a real one would between
		// the crash and its restart; the length is the variable here.
		time.Sleep(time.Duration(rng.IntN(3000)) * time.Millisecond)
		s.worker = startWorkerProcess(t, s.cfgPath)
	}

	wctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	res, err := runctl.Wait(wctx, shared.client, runID)
	cancel()
	stopApproving()
	approving.Wait()
	if err != nil || res.Status != workflows.RunSucceeded {
		t.Errorf("%s: run %+v, %v", runID, res, err)
	}
	contained := checkContained(t, before, s.rec, final)
	if contained != len(fleet.CompromisedIDs) {
		s.explain(runID)
	}
	if gated && len(a.refused) > 0 {
		t.Logf("%s: approvals refused (a send cut short by a kill had got through): %v", runID, a.refused)
	}
	retries := countRetries(fleetRetries(t, shared.client, runID))
	s.totals.runs++
	s.totals.hosts += n
	s.totals.contained += contained
	s.totals.kills += len(kills)
	s.totals.retries += retries
	s.totals.approvals += len(a.sent)
	s.totals.compromised += len(fleet.CompromisedIDs)
	mode := "break-glass"
	if gated {
		mode = fmt.Sprintf("gated, %d approval(s)", len(a.sent))
	}
	t.Logf("run %d: %d hosts, %d/%d contained, %s, final %s, kills [%s]%s, %d steps retried, %s",
		i, n, contained, len(fleet.CompromisedIDs), mode, final, strings.Join(kills, "; "), missed, retries, time.Since(began).Round(time.Second))
}

// killPoint waits for a randomly chosen point of the run and describes
// it; reached is false when the run ended first. Delays are drawn below
// six seconds because an uninterrupted break-glass run of a few hosts
// takes about three: later points would mostly miss it.
func (s *soak) killPoint(runID string, hosts int, gated bool) (point string, reached bool) {
	ctx := context.Background()
	var cond func() bool
	switch kind := s.rng.IntN(3); {
	case kind == 0:
		k := s.rec.answered() + 1 + s.rng.IntN(25*hosts)
		point = fmt.Sprintf("after AWS answer #%d", k)
		cond = func() bool { return s.rec.answered() >= k }
	case kind == 1 && gated:
		point = "with a gate waiting"
		cond = func() bool { return len(waitingGates(ctx, runID)) > 0 }
	default:
		d := time.Duration(s.rng.IntN(6000)) * time.Millisecond
		at := time.Now().Add(d)
		point = "after " + d.Round(time.Millisecond).String()
		cond = func() bool { return time.Now().After(at) }
	}
	// Past the deadline the kill lands wherever the run is.
	deadline := time.Now().Add(2 * time.Minute)
	for checked := time.Now(); !cond() && time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if time.Since(checked) > 500*time.Millisecond {
			checked = time.Now()
			if !running(ctx, runID) {
				return point, false
			}
		}
	}
	return point, running(ctx, runID)
}

// running asks the server, not a worker, whether the run is still open.
func running(ctx context.Context, runID string) bool {
	d, err := shared.client.DescribeWorkflowExecution(ctx, runID, "")
	if err != nil {
		return true // ask again later
	}
	return d.GetWorkflowExecutionInfo().GetStatus() == enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING
}

// explain logs why hosts of a run were not contained: the failed steps of
// its children.
func (s *soak) explain(runID string) {
	for id, cs := range fleetChildren(s.t, shared.client, runID) {
		for _, st := range cs.Steps {
			if st.Status != workflows.StepSucceeded && st.Status != workflows.StepSkipped {
				s.t.Logf("%s (%v): step %s %s: %s", id, cs.Inputs["instance_id"], st.ID, st.Status, st.Error)
			}
		}
	}
}
