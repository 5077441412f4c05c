package e2e

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/cordon-ir/cordon/actions"
	"github.com/cordon-ir/cordon/internal/awsemu"
	"github.com/cordon-ir/cordon/runctl"
	"github.com/cordon-ir/cordon/workflows"
)

// The crash tests below kill the worker process at points chosen by what
// the run is doing, not by elapsed time, so each one lands where it says
// on every machine: at a gate, and halfway through isolating a host.

// A fleet containment without break-glass: the hosts' runs stop at their
// isolation gates, the worker is killed -9 while (at least) one waits,
// and a new worker takes over. The gate is still there, showing the very
// preview it showed before the kill; the approval sent after the restart
// is the one the timeline records; no gate approved itself or asked twice
// for the same preview; and the fleet ends contained, once.
func TestWorkerKilledAtGate(t *testing.T) {
	ctx := context.Background()
	fleet, before := killFleet(t, "gatekill")
	rec := newAWSRecorder(t)
	cfg, cfgPath := workerConfigFile(t, "e2e-crash-gate", rec.url)
	first := startWorkerProcess(t, cfgPath)

	runID := startFleetRun(t, shared.client, cfg.Temporal.TaskQueue, fleet, "none",
		workflows.RunMeta{RunID: "e2e-crash-gate", Requester: "alice", Channel: "cli", Incident: "INC-GATE"}, "")

	var atKill map[string]workflows.GateState
	pollUntil(t, time.Minute, "a host's run waiting at a gate", func() bool {
		atKill = waitingGates(ctx, runID)
		return len(atKill) > 0
	})
	kill9(t, first, fmt.Sprintf("with %d gate(s) waiting: %s", len(atKill), strings.Join(slices.Sorted(maps.Keys(atKill)), ", ")))
	startWorkerProcess(t, cfgPath)

	// Before anyone decides, the new worker shows every gate that waited
	// at the kill still waiting, on the same preview: the restart neither
	// decided it nor previewed again.
	pollUntil(t, time.Minute, "the gates that waited at the kill to be readable again", func() bool {
		now := waitingGatesOrDecided(ctx, runID)
		for k := range atKill {
			if _, ok := now[k]; !ok {
				return false
			}
		}
		for k, g := range atKill {
			if got := now[k]; got.Status != workflows.GateWaiting || got.PreviewHash != g.PreviewHash {
				t.Errorf("gate %s after the restart: %s on preview %.12s, want waiting on %.12s", k, got.Status, got.PreviewHash, g.PreviewHash)
			}
		}
		return true
	})

	a := &gateApprover{member: "bob", sent: map[string]bool{}}
	res := a.approveUntilDone(t, runID, 3*time.Minute)
	if res.Status != workflows.RunSucceeded {
		t.Fatalf("run %s: %+v", runID, res)
	}
	if len(a.refused) > 0 {
		t.Errorf("approvals refused: %v", a.refused)
	}
	for k, g := range atKill {
		if !a.sent[k+"/"+g.PreviewHash] {
			t.Errorf("gate %s was not approved on the preview it showed at the kill", k)
		}
	}
	checkContained(t, before, rec, "none")

	// The timelines: every approval is one we sent, recorded once; every
	// gate was decided by bob; no preview was asked for twice.
	children := fleetChildren(t, shared.client, runID)
	recorded := map[string]int{}
	for child, cs := range children {
		asked := map[string]bool{}
		for _, e := range cs.Timeline {
			key := child + "/" + gateKeyOf(e.Step, e.Item)
			hash := e.PreviewHash
			switch e.Kind {
			case workflows.EventGateWaiting:
				if asked[key+"/"+hash] {
					t.Errorf("%s asked twice for the same preview %.12s", key, hash)
				}
				asked[key+"/"+hash] = true
			case workflows.EventApproval:
				recorded[key+"/"+hash]++
				if e.Actor != "bob" || e.Channel != "cli" || !a.sent[key+"/"+hash] {
					t.Errorf("%s: approval by %s (%s) on %.12s is not one the test sent", key, e.Actor, e.Channel, hash)
				}
			case workflows.EventGateApproved:
				if e.Actor != "bob" || e.BreakGlass {
					t.Errorf("%s approved by %q (break-glass %v), want bob's signed approval", key, e.Actor, e.BreakGlass)
				}
			case workflows.EventBreakGlass:
				t.Errorf("%s: break-glass in a run nobody broke glass for", child)
			}
		}
	}
	for key := range a.sent {
		if recorded[key] != 1 {
			t.Errorf("approval %s recorded %d times in the timeline, want once", key, recorded[key])
		}
	}
	t.Logf("%d approvals sent after the restart; %d steps retried", len(a.sent), countRetries(fleetRetries(t, shared.client, runID)))
}

// A fleet containment (break-glass) whose worker is killed -9 halfway
// through isolating a host: one of the host's interfaces already has only
// the quarantine group, and the next one has just been moved to the
// two-phase (untracked) group. The answers to applied
// ModifyNetworkInterfaceAttribute calls are held back, so the kill lands
// in that window, after AWS made the change and before the worker heard
// of it. The retry must take each interface from where it is: the
// original groups recorded once, never replaced by Cordon's own groups,
// and no interface moved away from quarantine.
func TestWorkerKilledMidIsolation(t *testing.T) {
	fleet, before := killFleet(t, "isokill")
	rec := newAWSRecorder(t)
	rec.hold("ModifyNetworkInterfaceAttribute", 750*time.Millisecond)
	cfg, cfgPath := workerConfigFile(t, "e2e-crash-isolate", rec.url)
	first := startWorkerProcess(t, cfgPath)

	runID := startFleetRun(t, shared.client, cfg.Temporal.TaskQueue, fleet, "none",
		workflows.RunMeta{RunID: "e2e-crash-isolate", Requester: "alice", Incident: "INC-ISOLATE"}, "contain now")

	var caught string
	pollUntil(t, 90*time.Second, "a host halfway through isolation", func() bool {
		caught = halfIsolated(before, rec)
		return caught != ""
	})
	kill9(t, first, "halfway through isolating "+caught)
	rec.hold("ModifyNetworkInterfaceAttribute", 0)
	startWorkerProcess(t, cfgPath)

	succeeded(t, shared.client, runID, 3*time.Minute)
	checkContained(t, before, rec, "none")

	// The caught host's isolation was retried, and the timeline says so.
	retries := fleetRetries(t, shared.client, runID)
	if retries[caught]["isolate"] < 2 {
		t.Errorf("isolation of %s: retries in the timeline %v, want isolate on attempt 2 or later", caught, retries[caught])
	}
	t.Logf("retried steps: %v", retries)
}

// pollUntil calls cond until it holds, failing the test after limit.
func pollUntil(t *testing.T, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("no %s within %s", what, limit)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// snapshotPending says whether a snapshot of a volume of the fleet's
// compromised hosts is pending in the emulator.
func snapshotPending(fleet awsemu.FleetInfo) func() bool {
	volumes := map[string]bool{}
	for _, id := range fleet.CompromisedIDs {
		in, _ := shared.emu.Instance(id)
		for _, bd := range in.BlockDevices {
			volumes[bd.VolumeID] = true
		}
	}
	return func() bool {
		for _, sn := range shared.emu.Snapshots() {
			if volumes[sn.VolumeID] && sn.State == "pending" {
				return true
			}
		}
		return false
	}
}

// queryState reads a run's state, giving up after a few seconds: right
// after a kill a query may wait for the dead worker's sticky queue, and
// the callers would rather ask again.
func queryState(ctx context.Context, c client.Client, runID string) (workflows.State, error) {
	qctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	return runctl.State(qctx, c, runID)
}

// runsOf lists a run and its children (the fleet runbook's per-host runs).
func runsOf(s workflows.State, runID string) []string {
	runs := []string{runID}
	for _, st := range s.Steps {
		runs = append(runs, st.Children...)
	}
	return runs
}

// waitingGates returns the gates waiting in a run and its children, keyed
// run/gate; runs that cannot be read right now are left out.
func waitingGates(ctx context.Context, runID string) map[string]workflows.GateState {
	out := map[string]workflows.GateState{}
	for k, g := range waitingGatesOrDecided(ctx, runID) {
		if g.Status == workflows.GateWaiting {
			out[k] = g
		}
	}
	return out
}

// waitingGatesOrDecided returns every gate of a run and its children,
// whatever its status, keyed run/gate.
func waitingGatesOrDecided(ctx context.Context, runID string) map[string]workflows.GateState {
	out := map[string]workflows.GateState{}
	s, err := queryState(ctx, shared.client, runID)
	if err != nil {
		return out
	}
	for _, id := range runsOf(s, runID) {
		cs := s
		if id != runID {
			if cs, err = queryState(ctx, shared.client, id); err != nil {
				continue
			}
		}
		for _, g := range cs.Gates {
			out[id+"/"+g.Key] = g
		}
	}
	return out
}

// gateKeyOf names a gate the way the workflow does (step, or step#item).
func gateKeyOf(step string, item int) string {
	if item > 0 {
		return fmt.Sprintf("%s#%d", step, item)
	}
	return step
}

// errNoState is a pass over a run whose own state could not be read (a
// worker just restarted): the next pass tries again.
var errNoState = errors.New("run state not readable")

// gateApprover approves, as one roster member with the member's signing
// key, every gate waiting in a run and its children, once per preview,
// and remembers what it sent.
type gateApprover struct {
	member string
	// sent holds run/gate/preview for each approval the run accepted.
	sent map[string]bool
	// refused lists approvals the run's validator turned down, with why.
	refused []string
}

// pass makes one round over the run and its children and returns the
// run's state. A child that cannot be read is skipped until the next
// round; a failed delivery is returned.
func (a *gateApprover) pass(ctx context.Context, runID string) (workflows.State, error) {
	s, err := queryState(ctx, shared.client, runID)
	if err != nil {
		return s, fmt.Errorf("%w: %w", errNoState, err)
	}
	for _, id := range runsOf(s, runID) {
		cs := s
		if id != runID {
			if cs, err = queryState(ctx, shared.client, id); err != nil {
				continue // not started yet, or its worker just died
			}
		}
		for _, g := range cs.Gates {
			key := id + "/" + g.Key + "/" + g.PreviewHash
			if g.Status != workflows.GateWaiting || a.sent[key] {
				continue
			}
			sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			_, err := runctl.Send(sctx, shared.client, workflows.Request{RunID: id, Action: workflows.ActApprove, Step: g.Step, Item: g.Item,
				PreviewHash: g.PreviewHash, Actor: a.member, Channel: "cli", Reason: "e2e crash test"}, shared.keys[a.member])
			cancel()
			var refused *runctl.Refused
			switch {
			case err == nil:
				a.sent[key] = true
			case errors.As(err, &refused):
				a.sent[key] = true // decided already (an earlier, timed-out send got through) or moved on
				a.refused = append(a.refused, key+": "+refused.Reason)
			default:
				return s, fmt.Errorf("approve %s at %s: %w", id, g.Key, err)
			}
		}
	}
	return s, nil
}

// approveUntilDone approves gates until the run ends and returns its
// result; any failed delivery fails the test.
func (a *gateApprover) approveUntilDone(t *testing.T, runID string, limit time.Duration) workflows.RunResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	for {
		s, err := a.pass(ctx, runID)
		switch {
		case err != nil && !errors.Is(err, errNoState):
			t.Fatal(err)
		case err == nil && s.Status != workflows.RunRunning:
			res, err := runctl.Wait(ctx, shared.client, runID)
			if err != nil {
				t.Fatalf("run %s: %v", runID, err)
			}
			return res
		case ctx.Err() != nil:
			t.Fatalf("run %s still running after %s: %v", runID, limit, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// fleetBefore is the fleet as seeded, before any run touched it.
type fleetBefore struct {
	info        awsemu.FleetInfo
	compromised map[string]bool
	enis        map[string][]string // instance → its interfaces
	groups      map[string][]string // interface → its security groups
	volumes     map[string][]string // instance → its volumes
}

// killFleet seeds the fleet of a worker-kill test, named prefix: four
// hosts, three of them compromised, whose snapshots complete at once; and
// records it before the run.
func killFleet(t *testing.T, prefix string) (awsemu.FleetInfo, fleetBefore) {
	t.Helper()
	fleet := seedFleet(t, awsemu.FleetSpec{Instances: 4, NamePrefix: prefix, NetworkInterfaces: 2, Volumes: 2,
		WithInstanceRole: true, Compromised: []int{0, 1, 2}})
	before := recordFleet(t, fleet)
	shared.emu.SetSnapshotCompletion(awsemu.SnapshotCompletion{})
	t.Cleanup(shared.emu.ResetFaults)
	return fleet, before
}

func recordFleet(t *testing.T, info awsemu.FleetInfo) fleetBefore {
	t.Helper()
	b := fleetBefore{info: info, compromised: map[string]bool{}, enis: map[string][]string{},
		groups: map[string][]string{}, volumes: map[string][]string{}}
	for _, id := range info.CompromisedIDs {
		b.compromised[id] = true
	}
	for _, id := range info.InstanceIDs {
		in, ok := shared.emu.Instance(id)
		if !ok {
			t.Fatalf("seeded instance %s is missing", id)
		}
		b.enis[id] = in.NetworkInterfaceIDs
		for _, eni := range in.NetworkInterfaceIDs {
			ni, _ := shared.emu.NetworkInterface(eni)
			b.groups[eni] = ni.SecurityGroupIDs
		}
		for _, bd := range in.BlockDevices {
			b.volumes[id] = append(b.volumes[id], bd.VolumeID)
		}
	}
	return b
}

// vpcGroups returns Cordon's quarantine and two-phase groups in a VPC.
func vpcGroups(vpcID string) (quarantine, untracked []string) {
	for _, g := range shared.emu.SecurityGroups() {
		if g.VPCID != vpcID {
			continue
		}
		switch g.Tags[actions.TagQuarantine] {
		case "empty":
			quarantine = append(quarantine, g.ID)
		case "untracked":
			untracked = append(untracked, g.ID)
		}
	}
	return quarantine, untracked
}

func groupExists(id string) bool {
	_, ok := shared.emu.SecurityGroup(id)
	return ok
}

// halfIsolated names a compromised host one of whose interfaces has only
// the quarantine group while another has only the two-phase group: the
// middle of the host's isolation and of an interface's. It reads the
// recorder (the last groups each interface was given), not the emulator's
// whole state, so that it can be polled cheaply.
func halfIsolated(b fleetBefore, rec *awsRecorder) string {
	last := map[string][]string{}
	for eni, changes := range rec.groupChanges() {
		last[eni] = changes[len(changes)-1]
	}
	kind := func(groups []string) string {
		if len(groups) != 1 {
			return ""
		}
		g, _ := shared.emu.SecurityGroup(groups[0])
		return g.Tags[actions.TagQuarantine]
	}
	for _, host := range b.info.CompromisedIDs {
		seen := map[string]bool{}
		for _, eni := range b.enis[host] {
			seen[kind(last[eni])] = true
		}
		if seen["empty"] && seen["untracked"] {
			return host
		}
	}
	return ""
}

// checkContained asserts the end state of a fleet containment against the
// fleet as seeded and what the recorder saw: every compromised host's
// interfaces on exactly the VPC's one quarantine group, their original
// groups recorded once and correctly, each interface moved at most once to
// the two-phase group and exactly once to quarantine and never after;
// each of their volumes snapshotted once; healthy hosts untouched. It
// returns the number of hosts contained.
func checkContained(t *testing.T, b fleetBefore, rec *awsRecorder, finalAction string) int {
	t.Helper()
	quarantine, untracked := vpcGroups(b.info.VPCID)
	if len(quarantine) != 1 || len(untracked) != 0 {
		// Each isolation's two-phase group admits the internet: it must
		// not outlive the isolation that needed it, crash or no crash.
		t.Errorf("%s: quarantine groups %v, two-phase groups left %v; want exactly one quarantine group and no two-phase group left",
			b.info.VPCID, quarantine, untracked)
		return 0
	}
	q := []string{quarantine[0]}
	perVolume := map[string]int{}
	for _, sn := range shared.emu.Snapshots() {
		perVolume[sn.VolumeID]++
	}
	changes := rec.groupChanges()
	records := rec.tagWrites(actions.TagOriginalGroups)
	contained := 0
	for _, host := range b.info.InstanceIDs {
		in, _ := shared.emu.Instance(host)
		if !b.compromised[host] {
			for _, eni := range b.enis[host] {
				ni, _ := shared.emu.NetworkInterface(eni)
				if !slices.Equal(ni.SecurityGroupIDs, b.groups[eni]) || len(changes[eni]) > 0 || len(records[eni]) > 0 {
					t.Errorf("healthy %s: ENI %s groups %v (were %v), changed %v, records %v", host, eni, ni.SecurityGroupIDs, b.groups[eni], changes[eni], records[eni])
				}
			}
			for _, v := range b.volumes[host] {
				if perVolume[v] != 0 {
					t.Errorf("healthy %s: volume %s has %d snapshots", host, v, perVolume[v])
				}
			}
			continue
		}
		ok := true
		fail := func(format string, args ...any) {
			ok = false
			t.Errorf(host+": "+format, args...)
		}
		for _, eni := range b.enis[host] {
			ni, _ := shared.emu.NetworkInterface(eni)
			if !slices.Equal(ni.SecurityGroupIDs, q) {
				fail("ENI %s groups %v, want only the quarantine group %s", eni, ni.SecurityGroupIDs, q[0])
			}
			want := strings.Join(sorted(b.groups[eni]), ",")
			if got := ni.Tags[actions.TagOriginalGroups]; strings.Join(sorted(strings.Split(got, ",")), ",") != want {
				fail("ENI %s records original groups %q, want %q (its groups before the run)", eni, got, want)
			}
			if len(records[eni]) != 1 {
				fail("ENI %s had its original groups written %d times (%v), want once", eni, len(records[eni]), records[eni])
			}
			toQuarantine, toUntracked := 0, 0
			for _, groups := range changes[eni] {
				switch {
				case toQuarantine > 0:
					fail("ENI %s was given %v after quarantine (all changes %v)", eni, groups, changes[eni])
				case slices.Equal(groups, q):
					toQuarantine++
				case len(groups) == 1 && !groupExists(groups[0]) && !slices.Contains(b.groups[eni], groups[0]):
					// An isolation's own two-phase group, deleted since.
					toUntracked++
				default:
					fail("ENI %s was given %v, not one of Cordon's groups (all changes %v)", eni, groups, changes[eni])
				}
			}
			if toQuarantine != 1 || toUntracked > 1 {
				fail("ENI %s moved %d times to quarantine and %d times to the two-phase group (%v), want once and at most once",
					eni, toQuarantine, toUntracked, changes[eni])
			}
		}
		for _, v := range b.volumes[host] {
			if perVolume[v] != 1 {
				fail("volume %s has %d snapshots, want exactly 1", v, perVolume[v])
			}
		}
		if finalAction == "stop" && in.State != "stopped" && in.State != "stopping" {
			fail("state %s, want stopped", in.State)
		}
		if ok {
			contained++
		}
	}
	return contained
}

func sorted(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}

// fleetChildren returns the state of each host's run of a fleet run, read
// through c.
func fleetChildren(t *testing.T, c client.Client, runID string) map[string]workflows.State {
	t.Helper()
	ctx := context.Background()
	s, err := queryState(ctx, c, runID)
	if err != nil {
		t.Fatalf("state of %s: %v", runID, err)
	}
	out := map[string]workflows.State{}
	for _, id := range runsOf(s, runID)[1:] {
		cs, err := queryState(ctx, c, id)
		if err != nil {
			t.Fatalf("state of %s: %v", id, err)
		}
		out[id] = cs
	}
	return out
}

// fleetRetries returns, per host, the steps whose action succeeded on a
// later attempt, with that attempt, as the hosts' timelines record them
// (read through c).
func fleetRetries(t *testing.T, c client.Client, runID string) map[string]map[string]int {
	t.Helper()
	out := map[string]map[string]int{}
	for _, cs := range fleetChildren(t, c, runID) {
		host := fmt.Sprint(cs.Inputs["instance_id"])
		for _, e := range cs.Timeline {
			_, after, ok := strings.Cut(e.Detail, "succeeded on attempt ")
			if e.Kind != workflows.EventActionDone || !ok {
				continue
			}
			var attempt int
			if _, err := fmt.Sscan(after, &attempt); err != nil {
				t.Errorf("%s: unreadable attempt in %q", host, e.Detail)
				continue
			}
			if out[host] == nil {
				out[host] = map[string]int{}
			}
			out[host][e.Step] = max(out[host][e.Step], attempt)
		}
	}
	return out
}

func countRetries(r map[string]map[string]int) int {
	n := 0
	for _, steps := range r {
		n += len(steps)
	}
	return n
}
