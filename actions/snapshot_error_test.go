package actions_test

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/temporal"

	"github.com/cordon-ir/cordon/actions"
	"github.com/cordon-ir/cordon/internal/awsemu"
)

// A snapshot AWS fails (state error) fails the step for good, naming the
// snapshot and volume; a re-run of the step (same run and step ids) takes
// a new snapshot of that volume only and reuses the one that completed.
// Failing the root volume and failing a data volume exercise both ways
// CreateSnapshots leaves out a volume already taken (ExcludeBootVolume,
// ExcludeDataVolumeIds).
func TestSnapshotVolumesErrorStateThenRerun(t *testing.T) {
	for _, tc := range []struct {
		name     string
		failRoot bool
	}{
		{"data volume fails", false},
		{"root volume fails", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			_, id := h.seedInstance(awsemu.FleetSpec{Instances: 1, Volumes: 2})
			in := instanceOf(h, id)
			if len(in.BlockDevices) != 2 {
				t.Fatalf("block devices = %+v", in.BlockDevices)
			}
			var bad, good string
			for _, bd := range in.BlockDevices {
				if (bd.DeviceName == in.RootDeviceName) == tc.failRoot {
					bad = bd.VolumeID
				} else {
					good = bd.VolumeID
				}
			}
			if bad == "" || good == "" {
				t.Fatalf("no root/data split in %+v (root %s)", in.BlockDevices, in.RootDeviceName)
			}
			params := map[string]any{"instance_id": id}
			h.emu.SetSnapshotCompletion(awsemu.SnapshotCompletion{After: 20 * time.Millisecond, FailVolumes: []string{bad}})

			_, err := h.run(actions.Execute, "aws.ec2.snapshot_volumes", params)
			if err == nil {
				t.Fatal("the step succeeded although a snapshot failed")
			}
			first := snapshotsOf(h)
			if len(first[bad]) != 1 || first[bad][0].State != "error" || len(first[good]) != 1 {
				t.Fatalf("after the failed step the emulator holds %+v", first)
			}
			failedID, goodID := first[bad][0].ID, first[good][0].ID
			for _, want := range []string{failedID, bad, "state error", "re-run the step"} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not say %q", err, want)
				}
			}
			var ae *temporal.ApplicationError
			if !errors.As(err, &ae) {
				t.Errorf("error %v is no ApplicationError", err)
			} else if !ae.NonRetryable() || ae.Type() != actions.ErrAWSServer {
				t.Errorf("error type %q, non-retryable %v; want a non-retryable %s", ae.Type(), ae.NonRetryable(), actions.ErrAWSServer)
			}

			// The responder clears the cause and re-runs the step.
			h.emu.SetSnapshotCompletion(awsemu.SnapshotCompletion{After: 20 * time.Millisecond})
			res := h.execute("aws.ec2.snapshot_volumes", params)

			after := snapshotsOf(h)
			if len(after) != 2 {
				t.Errorf("snapshotted volumes = %d, want 2", len(after))
			}
			var retakenID string
			if held := after[bad]; len(held) != 2 || held[0].ID != failedID || held[0].State != "error" || held[1].State != "completed" {
				t.Errorf("failed volume %s holds %+v, want the error snapshot %s and one completed", bad, held, failedID)
			} else {
				retakenID = held[1].ID
				if held[1].Tags[actions.TagRun] != "run-1" || held[1].Tags[actions.TagStep] != "step" {
					t.Errorf("retaken snapshot tags = %v", held[1].Tags)
				}
			}
			if held := after[good]; len(held) != 1 || held[0].ID != goodID || held[0].State != "completed" {
				t.Errorf("volume %s holds %+v, want only its first snapshot %s, completed", good, held, goodID)
			}

			// Outputs: root first, the completed snapshot of each volume.
			want := map[string]string{bad: retakenID, good: goodID}
			snaps := decodeOutput[[]evidenceSnapshot](t, res, "snapshots")
			var ids []string
			for _, s := range snaps {
				if s.State != "completed" || want[s.VolumeID] != s.SnapshotID || s.DeviceName == "" {
					t.Errorf("snapshot output %+v, want %s for %s, completed", s, want[s.VolumeID], s.VolumeID)
				}
				ids = append(ids, s.SnapshotID)
			}
			if len(snaps) != 2 || snaps[0].DeviceName != in.RootDeviceName {
				t.Errorf("snapshots output = %+v, want 2, root first", snaps)
			}
			if got := decodeOutput[[]string](t, res, "snapshot_ids"); !slices.Equal(got, ids) || slices.Contains(got, failedID) {
				t.Errorf("snapshot_ids = %v, want %v", got, ids)
			}
			if !hasNote(res.Notes, "reusing 1 snapshot") {
				t.Errorf("notes = %v", res.Notes)
			}
			// One crash-consistent call per run, none volume by volume.
			if n, m := countCalls(h, "ec2:CreateSnapshots", false), countCalls(h, "ec2:CreateSnapshot", false); n != 2 || m != 0 {
				t.Errorf("CreateSnapshots %d, CreateSnapshot %d; want 2 and 0", n, m)
			}
			h.assertDeclared("aws.ec2.snapshot_volumes")
		})
	}
}

// SnapshotCreationPerVolumeRateExceeded is throttling: the multi-volume
// call is retried, never replaced by per-volume snapshots (which would
// lose crash consistency and meet the same limit).
func TestSnapshotPerVolumeRateIsThrottlingNotAFallback(t *testing.T) {
	h := newHarness(t)
	id := h.fleet(awsemu.FleetSpec{Instances: 1, Volumes: 2}).InstanceIDs[0]
	h.emu.FailNext("ec2:CreateSnapshots", "SnapshotCreationPerVolumeRateExceeded", 400, 2)
	res := h.execute("aws.ec2.snapshot_volumes", map[string]any{"instance_id": id})
	if n, m := countCalls(h, "ec2:CreateSnapshots", false), countCalls(h, "ec2:CreateSnapshot", false); n != 3 || m != 0 {
		t.Errorf("CreateSnapshots %d, CreateSnapshot %d; want 3 and 0", n, m)
	}
	if hasNote(res.Notes, "not crash-consistent") || len(decodeOutput[[]string](t, res, "snapshot_ids")) != 2 {
		t.Errorf("notes %v, outputs %v", res.Notes, res.Outputs)
	}

	// Past the step's own retries it is a retryable throttle for Temporal,
	// still without a fallback.
	h2 := newHarness(t)
	id2 := h2.fleet(awsemu.FleetSpec{Instances: 1, Volumes: 2}).InstanceIDs[0]
	h2.emu.FailNext("ec2:CreateSnapshots", "SnapshotCreationPerVolumeRateExceeded", 400, 100)
	_, err := h2.run(actions.Execute, "aws.ec2.snapshot_volumes", map[string]any{"instance_id": id2})
	if err == nil || isNonRetryable(err) || errorType(err) != actions.ErrThrottled {
		t.Fatalf("err = %v (type %q), want a retryable %s", err, errorType(err), actions.ErrThrottled)
	}
	if m := countCalls(h2, "ec2:CreateSnapshot", false); m != 0 || len(h2.emu.Snapshots()) != 0 {
		t.Errorf("fell back: %d per-volume calls, %d snapshots", m, len(h2.emu.Snapshots()))
	}
}

// EC2 is eventually consistent: the ids CreateSnapshots returns may be
// unknown (InvalidSnapshot.NotFound) to the next calls naming them. The
// wait (and the lock) retry with backoff instead of failing.
func TestSnapshotWaitSurvivesEventualConsistency(t *testing.T) {
	h := newHarness(t)
	id := h.fleet(awsemu.FleetSpec{Instances: 1, Volumes: 2}).InstanceIDs[0]
	h.emu.SetSnapshotCompletion(awsemu.SnapshotCompletion{AfterDescribes: 1})
	h.emu.SetConsistencyLag(2)
	res := h.execute("aws.ec2.snapshot_volumes", map[string]any{"instance_id": id, "lock_mode": "governance", "lock_duration_days": 7})
	if n := failedWith(h, "InvalidSnapshot.NotFound"); n == 0 {
		t.Fatal("the lag hid nothing: the test proves nothing")
	}
	for _, s := range decodeOutput[[]evidenceSnapshot](t, res, "snapshots") {
		if s.State != "completed" || s.LockState != "governance" {
			t.Errorf("snapshot %+v", s)
		}
	}
}

// Issue 13, item 5: a re-run of the same incident (after a failed run)
// reuses the completed snapshots an earlier run took of the same volumes,
// and says so, instead of snapshotting the disks twice; another incident,
// or reuse turned off, takes its own.
func TestRerunOfTheSameIncidentReusesItsSnapshots(t *testing.T) {
	h := newHarness(t)
	_, id := h.seedInstance(awsemu.FleetSpec{Instances: 1, Volumes: 2})
	params := map[string]any{"instance_id": id}
	first := h.execute("aws.ec2.snapshot_volumes", params)
	taken := len(h.emu.Snapshots())

	h.ref = &actions.RunRef{RunID: "run-2", Incident: "INC-42", StepID: "preserve", StartedAt: time.Now()}
	again := h.execute("aws.ec2.snapshot_volumes", params)
	if n := len(h.emu.Snapshots()); n != taken {
		t.Errorf("the re-run of the same incident took %d new snapshot(s)", n-taken)
	}
	if again.Outputs["reused_from_run"] != "run-1" || fmt.Sprint(again.Outputs["snapshot_ids"]) != fmt.Sprint(first.Outputs["snapshot_ids"]) {
		t.Errorf("re-run outputs %v, want run-1's snapshots %v", again.Outputs, first.Outputs["snapshot_ids"])
	}
	if !strings.Contains(strings.Join(again.Notes, " "), "reusing the completed snapshots run run-1 took") {
		t.Errorf("the reuse is not said: %v", again.Notes)
	}

	h.ref = &actions.RunRef{RunID: "run-3", Incident: "INC-43", StepID: "preserve", StartedAt: time.Now()}
	other := h.execute("aws.ec2.snapshot_volumes", params)
	if n := len(h.emu.Snapshots()); n != taken+2 || other.Outputs["reused_from_run"] != "" {
		t.Errorf("another incident: %d snapshots (want %d), reused from %q", n, taken+2, other.Outputs["reused_from_run"])
	}
	h.ref = &actions.RunRef{RunID: "run-4", Incident: "INC-43", StepID: "preserve", StartedAt: time.Now()}
	h.execute("aws.ec2.snapshot_volumes", map[string]any{"instance_id": id, "reuse_incident_snapshots": false})
	if n := len(h.emu.Snapshots()); n != taken+4 {
		t.Errorf("with reuse off: %d snapshots, want %d", n, taken+4)
	}
}
