package actions_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"

	"github.com/cordon-ir/cordon/actions"
	"github.com/cordon-ir/cordon/internal/awsemu"
)

type evidenceSnapshot struct {
	SnapshotID    string `json:"snapshot_id"`
	VolumeID      string `json:"volume_id"`
	DeviceName    string `json:"device_name"`
	State         string `json:"state"`
	LockState     string `json:"lock_state"`
	LockExpiresOn string `json:"lock_expires_on"`
}

// snapshotsOf lists the emulator's snapshots by volume.
func snapshotsOf(h *harness) map[string][]awsemu.Snapshot {
	out := map[string][]awsemu.Snapshot{}
	for _, s := range h.emu.Snapshots() {
		out[s.VolumeID] = append(out[s.VolumeID], s)
	}
	return out
}

func volumesOf(h *harness, id string) []string {
	var out []string
	for _, bd := range instanceOf(h, id).BlockDevices {
		out = append(out, bd.VolumeID)
	}
	return out
}

func TestSnapshotVolumesWaitsUntilCompleted(t *testing.T) {
	h := newHarness(t)
	_, id := h.seedInstance(awsemu.FleetSpec{Instances: 1, Volumes: 3})
	h.emu.SetSnapshotCompletion(awsemu.SnapshotCompletion{AfterDescribes: 3})

	res := h.execute("aws.ec2.snapshot_volumes", map[string]any{"instance_id": id})

	snaps := decodeOutput[[]evidenceSnapshot](t, res, "snapshots")
	vols := volumesOf(h, id)
	if len(snaps) != 3 {
		t.Fatalf("snapshots = %+v", snaps)
	}
	byVolume := snapshotsOf(h)
	for _, s := range snaps {
		if s.State != "completed" || !slices.Contains(vols, s.VolumeID) || s.DeviceName == "" {
			t.Errorf("snapshot output %+v", s)
		}
		held := byVolume[s.VolumeID]
		if len(held) != 1 || held[0].ID != s.SnapshotID || held[0].State != "completed" {
			t.Errorf("emulator holds %+v for %s", held, s.VolumeID)
		}
		if tags := held[0].Tags; tags[actions.TagRun] != "run-1" || tags[actions.TagStep] != "step" || tags[actions.TagIncident] != "INC-42" {
			t.Errorf("snapshot tags = %v", tags)
		}
	}
	if ids := decodeOutput[[]string](t, res, "snapshot_ids"); len(ids) != 3 || ids[0] != snaps[0].SnapshotID {
		t.Errorf("snapshot_ids = %v", ids)
	}
	// Crash-consistent: one multi-volume call, no per-volume ones.
	if n, m := countCalls(h, "ec2:CreateSnapshots", false), countCalls(h, "ec2:CreateSnapshot", false); n != 1 || m != 0 {
		t.Errorf("CreateSnapshots %d, CreateSnapshot %d", n, m)
	}
	if n := countCalls(h, "ec2:DescribeSnapshots", false); n < 3 {
		t.Errorf("polled %d times; the snapshots needed 3 describes to complete", n)
	}
	h.assertDeclared("aws.ec2.snapshot_volumes")
}

func TestSnapshotVolumesTwiceTakesOneSnapshotPerVolume(t *testing.T) {
	h := newHarness(t)
	_, id := h.seedInstance(awsemu.FleetSpec{Instances: 1, Volumes: 2})
	first := h.execute("aws.ec2.snapshot_volumes", map[string]any{"instance_id": id, "wait": false})
	second := h.retry("aws.ec2.snapshot_volumes", map[string]any{"instance_id": id})
	if !reflect.DeepEqual(first.Outputs["snapshot_ids"], second.Outputs["snapshot_ids"]) {
		t.Errorf("snapshot ids differ: %v vs %v", first.Outputs["snapshot_ids"], second.Outputs["snapshot_ids"])
	}
	for vol, snaps := range snapshotsOf(h) {
		if len(snaps) != 1 {
			t.Errorf("%s has %d snapshots", vol, len(snaps))
		}
	}
	if len(snapshotsOf(h)) != 2 {
		t.Errorf("snapshotted volumes = %d", len(snapshotsOf(h)))
	}
}

func TestSnapshotVolumesFallsBackToOneByOne(t *testing.T) {
	h := newHarness(t)
	_, id := h.seedInstance(awsemu.FleetSpec{Instances: 1, Volumes: 3})
	h.emu.FailNext("ec2:CreateSnapshots", "UnsupportedOperation", 400, 1)
	res := h.execute("aws.ec2.snapshot_volumes", map[string]any{"instance_id": id})
	if n := countCalls(h, "ec2:CreateSnapshot", false); n != 3 {
		t.Errorf("CreateSnapshot calls = %d", n)
	}
	byVolume := snapshotsOf(h)
	for _, v := range volumesOf(h, id) {
		if len(byVolume[v]) != 1 || byVolume[v][0].Tags[actions.TagStep] != "step" {
			t.Errorf("%s snapshots = %+v", v, byVolume[v])
		}
	}
	if !hasNote(res.Notes, "not crash-consistent") {
		t.Errorf("notes = %v", res.Notes)
	}
	h.assertDeclared("aws.ec2.snapshot_volumes")
}

func TestSnapshotVolumesDeniedDoesNotFallBack(t *testing.T) {
	h := newHarness(t)
	fleet := h.fleet(awsemu.FleetSpec{Instances: 1})
	h.emu.Deny(awsemu.AllPrincipals, "ec2:CreateSnapshots")
	_, err := h.run(actions.Execute, "aws.ec2.snapshot_volumes", map[string]any{"instance_id": fleet.InstanceIDs[0]})
	if !permanentFailure(err, actions.ErrAccessDenied, "ec2:CreateSnapshots") {
		t.Fatalf("err = %v", err)
	}
	if n := countCalls(h, "ec2:CreateSnapshot", false); n != 0 || len(h.emu.Snapshots()) != 0 {
		t.Errorf("fell back: %d calls, %d snapshots", n, len(h.emu.Snapshots()))
	}
}

func TestSnapshotVolumesPreviewListsVolumesAndTakesNone(t *testing.T) {
	h := newHarness(t)
	_, id := h.seedInstance(awsemu.FleetSpec{Instances: 1, Volumes: 2})
	res, err := h.run(actions.Preview, "aws.ec2.snapshot_volumes", map[string]any{"instance_id": id})
	if err != nil {
		t.Fatal(err)
	}
	if m := h.mutations(); len(m) != 0 || len(h.emu.Snapshots()) != 0 {
		t.Fatalf("preview mutated: %v", m)
	}
	var changed []string
	for _, c := range res.Changes {
		changed = append(changed, c.Resource)
	}
	if !slices.Equal(changed, volumesOf(h, id)) {
		t.Errorf("changes on %v, want the volumes %v", changed, volumesOf(h, id))
	}
	if countCalls(h, "ec2:CreateSnapshots", true) != 1 {
		t.Error("no dry-run CreateSnapshots")
	}
}

func TestCaptureConsoleOutput(t *testing.T) {
	h := newHarness(t)
	fleet := h.fleet(awsemu.FleetSpec{Instances: 2, Compromised: []int{1}})
	id := fleet.CompromisedIDs[0]
	res := h.execute("aws.ec2.capture_console_output", map[string]any{"instance_id": id})
	want := instanceOf(h, id).ConsoleOutput
	sum := sha256.Sum256([]byte(want))
	if res.Outputs["output"] != want || res.Outputs["sha256"] != hex.EncodeToString(sum[:]) || res.Outputs["bytes"] != float64(len(want)) {
		t.Errorf("outputs = %v", res.Outputs)
	}
	if !strings.Contains(want, "kinsing") {
		t.Errorf("console output lacks the compromise traces: %q", want)
	}
	h.assertNoMutation()
	h.assertDeclared("aws.ec2.capture_console_output")
}

func TestTagRecordsOverwrittenValues(t *testing.T) {
	h := newHarness(t)
	_, id := h.seedInstance(awsemu.FleetSpec{Instances: 1, Volumes: 2})
	vol := volumesOf(h, id)[1]
	params := map[string]any{"resource_ids": []any{id, vol}, "tags": map[string]any{"Env": "quarantine", actions.TagIncident: "INC-42"}}

	res := h.previewAndExecute("aws.ec2.tag", params)
	prev := decodeOutput[map[string]map[string]string](t, res, "previous")
	if !reflect.DeepEqual(prev, map[string]map[string]string{id: {"Env": "demo"}, vol: {}}) {
		t.Errorf("previous = %v", prev)
	}
	if tags := instanceOf(h, id).Tags; tags["Env"] != "quarantine" || tags[actions.TagIncident] != "INC-42" || tags["App"] != "confluence" {
		t.Errorf("instance tags = %v", tags)
	}
	if v, _ := h.emu.Volume(vol); v.Tags["Env"] != "quarantine" {
		t.Errorf("volume tags = %v", v.Tags)
	}
	h.assertDeclared("aws.ec2.tag")

	again := h.retry("aws.ec2.tag", params)
	if len(again.Changes) != 0 {
		t.Errorf("second run: changes %+v", again.Changes)
	}
}

func TestEnableTerminationProtectionRecordsPriorValuesOnce(t *testing.T) {
	h := newHarness(t)
	_, id := h.seedInstance(awsemu.FleetSpec{Instances: 1, Volumes: 2})
	setShutdownBehavior(t, h, id, "terminate")
	h.emu.ResetCalls()
	root := volumesOf(h, id)[0] // the root volume goes with the instance by default

	res := h.previewAndExecute("aws.ec2.enable_termination_protection", map[string]any{"instance_id": id})
	in := instanceOf(h, id)
	if !in.DisableAPITermination || in.ShutdownBehavior != "stop" {
		t.Errorf("instance: protection %v shutdown %s", in.DisableAPITermination, in.ShutdownBehavior)
	}
	for _, bd := range in.BlockDevices {
		if bd.DeleteOnTermination {
			t.Errorf("%s still deleted on termination", bd.VolumeID)
		}
	}
	want := map[string]any{"previous_disable_api_termination": false, "previous_shutdown_behavior": "terminate", "preserved_volume_ids": []any{root},
		"previous_disable_api_stop": false, "auto_scaling_group": "", "previous_protected_from_scale_in": false, "skipped_protections": []any{}}
	if !reflect.DeepEqual(res.Outputs, want) {
		t.Errorf("outputs = %v, want %v", res.Outputs, want)
	}
	if !in.DisableAPIStop {
		t.Error("stop protection is off")
	}
	if rec := in.Tags[actions.TagPriorProtection]; rec != "disable_api_termination=false;shutdown=terminate;disable_api_stop=false;delete_on_termination="+root {
		t.Errorf("record = %q", rec)
	}
	h.assertDeclared("aws.ec2.enable_termination_protection")

	// A retry after success reports the same prior values, from the record,
	// and changes nothing.
	again := h.retry("aws.ec2.enable_termination_protection", map[string]any{"instance_id": id})
	if !reflect.DeepEqual(again.Outputs, want) {
		t.Errorf("retry: outputs %v", again.Outputs)
	}
}

func TestDisableInstanceMetadata(t *testing.T) {
	h := newHarness(t)
	_, id := h.seedInstance(awsemu.FleetSpec{Instances: 1})
	res := h.previewAndExecute("aws.ec2.disable_instance_metadata", map[string]any{"instance_id": id})
	if n := countCalls(h, "ec2:ModifyInstanceMetadataOptions", true); n != 1 {
		t.Errorf("the preview sent %d dry runs, want 1", n)
	}
	// The record of the values before, then the change.
	if len(res.Changes) != 2 {
		t.Errorf("changes %+v", res.Changes)
	}
	if res.Outputs["previous_http_endpoint"] != "enabled" || res.Outputs["previous_http_tokens"] != "optional" {
		t.Errorf("outputs = %v", res.Outputs)
	}
	if in := instanceOf(h, id); in.MetadataHTTPEndpoint != "disabled" {
		t.Errorf("endpoint = %s", in.MetadataHTTPEndpoint)
	}
	h.assertDeclared("aws.ec2.disable_instance_metadata")
	// The same step again is a retry: it reports the values from before
	// its first attempt, from the record.
	h.retryReports("aws.ec2.disable_instance_metadata", map[string]any{"instance_id": id}, "previous_http_endpoint", "enabled")
}

func TestStopInstance(t *testing.T) {
	h := newHarness(t)
	_, id := h.seedInstance(awsemu.FleetSpec{Instances: 1})
	if _, err := h.run(actions.Preview, "aws.ec2.stop_instance", map[string]any{"instance_id": id}); err != nil {
		t.Fatal(err)
	}
	if m := h.mutations(); len(m) != 0 || instanceOf(h, id).State != "running" {
		t.Fatalf("preview mutated: %v", m)
	}
	res := h.execute("aws.ec2.stop_instance", map[string]any{"instance_id": id, "force": true})
	if res.Outputs["previous_state"] != "running" || res.Outputs["state"] != "stopping" {
		t.Errorf("outputs = %v", res.Outputs)
	}
	if s := instanceOf(h, id).State; s != "stopped" {
		t.Errorf("state = %s", s)
	}
	h.assertDeclared("aws.ec2.stop_instance")
	h.retryReports("aws.ec2.stop_instance", map[string]any{"instance_id": id}, "previous_state", "running")
}

func TestTerminateIsRefusedUnderProtectionUnlessLifted(t *testing.T) {
	h := newHarness(t)
	_, id := h.seedInstance(awsemu.FleetSpec{Instances: 1, TerminationProtection: true})

	preview, err := h.run(actions.Preview, "aws.ec2.terminate_instance", map[string]any{"instance_id": id})
	if err != nil {
		t.Fatal(err)
	}
	if len(preview.Changes) != 0 || !hasNote(preview.Notes, "lift_termination_protection") {
		t.Errorf("preview: changes %+v notes %v", preview.Changes, preview.Notes)
	}
	_, err = h.run(actions.Execute, "aws.ec2.terminate_instance", map[string]any{"instance_id": id})
	if !permanentFailure(err, actions.ErrConflict, "lift_termination_protection") {
		t.Fatalf("err = %v", err)
	}
	if m := h.mutations(); len(m) != 0 || instanceOf(h, id).State != "running" {
		t.Fatalf("refused terminate mutated: %v", m)
	}

	params := map[string]any{"instance_id": id, "lift_termination_protection": true}
	res := h.previewAndExecute("aws.ec2.terminate_instance", params)
	if res.Outputs["termination_protection_lifted"] != true || res.Outputs["previous_state"] != "running" {
		t.Errorf("outputs = %v", res.Outputs)
	}
	if s := instanceOf(h, id).State; s != "terminated" {
		t.Errorf("state = %s", s)
	}
	h.assertDeclared("aws.ec2.terminate_instance")
	h.retryReports("aws.ec2.terminate_instance", params, "previous_state", "terminated")
}

func TestFindInstances(t *testing.T) {
	h := newHarness(t)
	fleet := h.fleet(awsemu.FleetSpec{Instances: 5})
	other := h.fleet(awsemu.FleetSpec{Instances: 2, NamePrefix: "jira", Tags: map[string]string{"App": "jira"}})
	if _, err := ec2Setup(h).TerminateInstances(context.Background(), &ec2.TerminateInstancesInput{InstanceIds: fleet.InstanceIDs[4:]}); err != nil {
		t.Fatal(err)
	}
	h.emu.ResetCalls()
	want := slices.Sorted(slices.Values(fleet.InstanceIDs[:4]))

	res := h.execute("aws.ec2.find_instances", map[string]any{"tags": map[string]any{"App": "confluence"}, "vpc_ids": []any{fleet.VPCID}})
	if got := decodeOutput[[]string](t, res, "instance_ids"); !slices.Equal(got, want) || res.Outputs["count"] != float64(4) {
		t.Errorf("found %v (count %v), want %v", got, res.Outputs["count"], want)
	}
	// Asking for terminated instances still never returns them.
	res = h.execute("aws.ec2.find_instances", map[string]any{"instance_ids": []any{fleet.InstanceIDs[4], other.InstanceIDs[0]}, "states": []any{"running", "terminated"}})
	if got := decodeOutput[[]string](t, res, "instance_ids"); !slices.Equal(got, []string{other.InstanceIDs[0]}) {
		t.Errorf("found %v", got)
	}
	res = h.execute("aws.ec2.find_instances", map[string]any{"image_ids": []any{"ami-0123456789abcdef0"}})
	if res.Outputs["count"] != float64(0) {
		t.Errorf("outputs = %v", res.Outputs)
	}
	h.assertDeclared("aws.ec2.find_instances")
}

// A cancelled step stops waiting at once instead of polling on.
func TestSnapshotWaitHonoursCancellation(t *testing.T) {
	h := newHarness(t)
	fleet := h.fleet(awsemu.FleetSpec{Instances: 1})
	h.emu.SetSnapshotCompletion(awsemu.SnapshotCompletion{AfterDescribes: 1 << 30})
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	_, err := h.rt.Run(ctx, actions.Call{
		Action: "aws.ec2.snapshot_volumes", Mode: actions.Execute,
		Params: map[string]any{"instance_id": fleet.InstanceIDs[0]},
		Target: actions.Target{Region: h.emu.Region()},
		Run:    actions.RunRef{RunID: "run-1", StepID: "step"},
	})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v", err)
	}
	if n := len(h.emu.Snapshots()); n == 0 {
		t.Error("no snapshot was started")
	}
}

// Snapshots carry their volume's tags (CopyTagsFromSource), with Cordon's
// tags on top.
func TestSnapshotsCopyTheVolumeTags(t *testing.T) {
	h := newHarness(t)
	id := h.fleet(awsemu.FleetSpec{Instances: 1, Volumes: 2}).InstanceIDs[0]
	vol := volumesOf(h, id)[1]
	tagResource(t, h, vol, "DataClass", "customer")
	h.execute("aws.ec2.snapshot_volumes", map[string]any{"instance_id": id})
	held := snapshotsOf(h)[vol]
	if len(held) != 1 || held[0].Tags["DataClass"] != "customer" || held[0].Tags["App"] != "confluence" || held[0].Tags[actions.TagStep] != "step" {
		t.Errorf("snapshot of %s: %+v", vol, held)
	}
}

// With lock_mode, every snapshot is locked so that credentials allowed to
// delete snapshots cannot destroy the evidence; locking again changes
// nothing.
func TestSnapshotLockIsIdempotentAndRecorded(t *testing.T) {
	h := newHarness(t)
	id := h.fleet(awsemu.FleetSpec{Instances: 1, Volumes: 2}).InstanceIDs[0]
	params := map[string]any{"instance_id": id, "lock_mode": "compliance", "lock_duration_days": 30}
	preview := h.preview("aws.ec2.snapshot_volumes", params)
	locks := 0
	for _, c := range preview.Changes {
		if c.Field == "snapshot lock" && c.After == "compliance for 30 days" {
			locks++
		}
	}
	if locks != 2 {
		t.Errorf("preview changes %+v", preview.Changes)
	}
	res := h.execute("aws.ec2.snapshot_volumes", params)
	for _, s := range decodeOutput[[]evidenceSnapshot](t, res, "snapshots") {
		if s.LockState != "compliance" || s.LockExpiresOn == "" {
			t.Errorf("snapshot output %+v", s)
		}
	}
	h.assertDeclared("aws.ec2.snapshot_volumes")
	for _, s := range h.emu.Snapshots() {
		if s.Lock == nil || s.Lock.Mode != "compliance" || s.Lock.DurationDays != 30 {
			t.Errorf("%s lock = %+v", s.ID, s.Lock)
		}
		_, err := ec2Setup(h).DeleteSnapshot(context.Background(), &ec2.DeleteSnapshotInput{SnapshotId: aws.String(s.ID)})
		if err == nil {
			t.Errorf("locked %s was deleted", s.ID)
		}
	}

	again := h.retry("aws.ec2.snapshot_volumes", params)
	if len(again.Changes) != 0 || !hasNote(again.Notes, "already locked") {
		t.Errorf("second run: changes %+v, notes %v", again.Changes, again.Notes)
	}
	// A governance lock asked over a compliance one keeps the stronger.
	weaker := h.execute("aws.ec2.snapshot_volumes", map[string]any{"instance_id": id, "lock_mode": "governance"})
	if len(weaker.Changes) != 0 {
		t.Errorf("governance over compliance changed %+v", weaker.Changes)
	}
	if _, err := h.run(actions.Execute, "aws.ec2.snapshot_volumes", map[string]any{"instance_id": id, "lock_mode": "governance", "lock_duration_days": 0}); err == nil ||
		errorType(err) != actions.ErrBadParams {
		t.Errorf("lock_duration_days 0: err = %v", err)
	}
}

// Instance-store volumes are listed where responders read the evidence:
// no snapshot takes them.
func TestSnapshotListsInstanceStoreVolumes(t *testing.T) {
	h := newHarness(t)
	in, err := h.emu.AddInstance(awsemu.InstanceSpec{InstanceType: "d2.xlarge", Volumes: 1})
	if err != nil {
		t.Fatal(err)
	}
	res, err := h.run(actions.Preview, "aws.ec2.snapshot_volumes", map[string]any{"instance_id": in.ID})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"ephemeral0 (2000 GB hdd)", "ephemeral1 (2000 GB hdd)", "ephemeral2 (2000 GB hdd)"}
	if got := decodeOutput[[]string](t, res, "instance_store_devices"); !slices.Equal(got, want) || !hasNote(res.Notes, "instance-store") {
		t.Errorf("devices %v, notes %v", got, res.Notes)
	}
	h.assertDeclared("aws.ec2.snapshot_volumes")
}
