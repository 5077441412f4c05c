package actions_test

import (
	"context"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/cordon-ir/cordon/actions"
	"github.com/cordon-ir/cordon/internal/awsemu"
)

// addInstance seeds one instance of the given spec.
func addInstance(h *harness, spec awsemu.InstanceSpec) string {
	h.t.Helper()
	in, err := h.emu.AddInstance(spec)
	if err != nil {
		h.t.Fatal(err)
	}
	return in.ID
}

// EC2 refuses termination and stop protection on a Spot Instance
// (UnsupportedOperation): the step skips them with a note, still applies
// the rest, and does not fail (which used to leave the host unprotected
// and, in the example runbook, never isolated).
func TestProtectSpotInstanceSkipsWhatEC2Refuses(t *testing.T) {
	h := newHarness(t)
	id := addInstance(h, awsemu.InstanceSpec{Spot: true})
	setShutdownBehavior(t, h, id, "terminate")
	h.emu.ResetCalls()
	res := h.previewAndExecute("aws.ec2.enable_termination_protection", map[string]any{"instance_id": id})
	in := instanceOf(h, id)
	if in.DisableAPITermination || in.DisableAPIStop || in.ShutdownBehavior != "stop" || in.BlockDevices[0].DeleteOnTermination {
		t.Errorf("instance: termination %v stop %v shutdown %s root goes %v", in.DisableAPITermination, in.DisableAPIStop, in.ShutdownBehavior, in.BlockDevices[0].DeleteOnTermination)
	}
	if got := decodeOutput[[]string](t, res, "skipped_protections"); !slices.Equal(got, []string{"termination_protection", "stop_protection"}) {
		t.Errorf("skipped = %v", got)
	}
	if !hasNote(res.Notes, "Spot Instance") {
		t.Errorf("notes = %v", res.Notes)
	}
	if n := failedWith(h, "UnsupportedOperation"); n != 0 {
		t.Errorf("%d calls EC2 documents as refused were sent", n)
	}
	h.assertDeclared("aws.ec2.enable_termination_protection")
}

// A service that answers UnsupportedOperation where AWS would not (another
// emulator, an instance kind EC2 does not document) gets the same: a note,
// and the other protections.
func TestProtectContinuesWhenTheServiceSaysUnsupported(t *testing.T) {
	h := newHarness(t)
	id := addInstance(h, awsemu.InstanceSpec{})
	// The first ModifyInstanceAttribute is termination protection.
	h.emu.FailNext("ec2:ModifyInstanceAttribute", "UnsupportedOperation", 400, 1)
	res := h.execute("aws.ec2.enable_termination_protection", map[string]any{"instance_id": id})
	in := instanceOf(h, id)
	if in.DisableAPITermination || !in.DisableAPIStop {
		t.Errorf("termination %v stop %v", in.DisableAPITermination, in.DisableAPIStop)
	}
	if got := decodeOutput[[]string](t, res, "skipped_protections"); !slices.Equal(got, []string{"termination_protection"}) {
		t.Errorf("skipped = %v", got)
	}
	if !hasNote(res.Notes, "not supported by the service") {
		t.Errorf("notes = %v", res.Notes)
	}
}

// Stop protection, and scale-in protection in the instance's Auto Scaling
// group, are on by default and recorded; a retry reports the values from
// before the first attempt.
func TestProtectTurnsOnStopAndScaleInProtection(t *testing.T) {
	h := newHarness(t)
	fleet, id := h.seedInstance(awsemu.FleetSpec{Instances: 2, Volumes: 1, InAutoScalingGroup: 2})
	res := h.previewAndExecute("aws.ec2.enable_termination_protection", map[string]any{"instance_id": id})
	in := instanceOf(h, id)
	if !in.DisableAPIStop || !in.DisableAPITermination {
		t.Errorf("stop protection %v, termination protection %v", in.DisableAPIStop, in.DisableAPITermination)
	}
	if g, protected := h.emu.InstanceProtectedFromScaleIn(id); g != fleet.AutoScalingGroupName || !protected {
		t.Errorf("scale-in protection in %q: %v", g, protected)
	}
	if _, protected := h.emu.InstanceProtectedFromScaleIn(fleet.InstanceIDs[1]); protected {
		t.Errorf("the other member was protected too")
	}
	want := "disable_api_termination=false;shutdown=stop;disable_api_stop=false;auto_scaling_group=" + fleet.AutoScalingGroupName +
		";protected_from_scale_in=false;delete_on_termination=" + volumesOf(h, id)[0]
	if rec := in.Tags[actions.TagPriorProtection]; rec != want {
		t.Errorf("record %q, want %q", rec, want)
	}
	if res.Outputs["auto_scaling_group"] != fleet.AutoScalingGroupName || res.Outputs["previous_protected_from_scale_in"] != false ||
		res.Outputs["previous_disable_api_stop"] != false {
		t.Errorf("outputs = %v", res.Outputs)
	}
	h.assertDeclared("aws.ec2.enable_termination_protection")
	again := h.retry("aws.ec2.enable_termination_protection", map[string]any{"instance_id": id})
	if !reflect.DeepEqual(again.Outputs, res.Outputs) {
		t.Errorf("retry: outputs %v, want %v", again.Outputs, res.Outputs)
	}
}

// A record from before stop protection was managed is completed, not
// replaced: its values are still the ones reported as prior.
func TestProtectCompletesAnOldRecord(t *testing.T) {
	h := newHarness(t)
	id := addInstance(h, awsemu.InstanceSpec{Volumes: 1, DisableAPITermination: true})
	old := "disable_api_termination=false;shutdown=terminate"
	tagResource(t, h, id, actions.TagPriorProtection, old)
	res := h.execute("aws.ec2.enable_termination_protection", map[string]any{"instance_id": id, "preserve_volumes": false})
	if res.Outputs["previous_disable_api_termination"] != false || res.Outputs["previous_shutdown_behavior"] != "terminate" {
		t.Errorf("outputs = %v", res.Outputs)
	}
	if rec := instanceOf(h, id).Tags[actions.TagPriorProtection]; rec != old+";disable_api_stop=false" {
		t.Errorf("record = %q", rec)
	}
}

// Stop protection blocks termination too: terminate lifts it with
// lift_termination_protection, and says so.
func TestTerminateLiftsStopProtection(t *testing.T) {
	h := newHarness(t)
	id := addInstance(h, awsemu.InstanceSpec{DisableAPIStop: true})
	if _, err := h.run(actions.Execute, "aws.ec2.terminate_instance", map[string]any{"instance_id": id}); err == nil ||
		errorType(err) != actions.ErrConflict || !strings.Contains(err.Error(), "stop protection") {
		t.Fatalf("err = %v", err)
	}
	params := map[string]any{"instance_id": id, "lift_termination_protection": true}
	res := h.previewAndExecute("aws.ec2.terminate_instance", params)
	if res.Outputs["stop_protection_lifted"] != true || res.Outputs["termination_protection_lifted"] != false {
		t.Errorf("outputs = %v", res.Outputs)
	}
	if s := instanceOf(h, id).State; s != "terminated" && s != "shutting-down" {
		t.Errorf("state = %s", s)
	}
	h.assertDeclared("aws.ec2.terminate_instance")
}

// A stop erases instance-store data, which no snapshot captures: the step
// refuses unless the data is recorded as captured or the loss accepted,
// and the gate's preview shows the erased devices.
func TestStopRefusesToEraseInstanceStoreData(t *testing.T) {
	h := newHarness(t)
	id := addInstance(h, awsemu.InstanceSpec{InstanceType: "m5d.large"})
	params := map[string]any{"instance_id": id}
	preview, err := h.run(actions.Preview, "aws.ec2.stop_instance", params)
	if err != nil {
		t.Fatal(err)
	}
	if len(preview.Changes) != 0 || !hasNote(preview.Notes, "accept_instance_store_loss") {
		t.Errorf("preview: changes %+v, notes %v", preview.Changes, preview.Notes)
	}
	if got := decodeOutput[[]string](t, preview, "instance_store_devices"); !slices.Equal(got, []string{"ephemeral0 (75 GB ssd)"}) {
		t.Errorf("devices = %v", got)
	}
	_, err = h.run(actions.Execute, "aws.ec2.stop_instance", params)
	if !permanentFailure(err, actions.ErrConflict, actions.TagInstanceStoreCaptured) {
		t.Fatalf("err = %v", err)
	}
	if m := h.mutations(); len(m) != 0 || instanceOf(h, id).State != "running" {
		t.Fatalf("refused stop mutated: %v", m)
	}

	params["accept_instance_store_loss"] = true
	preview, err = h.run(actions.Preview, "aws.ec2.stop_instance", params)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(preview.Changes, func(c actions.Change) bool {
		return c.Field == "instance-store ephemeral0 (75 GB ssd)" && c.After == "erased"
	}) ||
		!hasNote(preview.Notes, "WARNING") {
		t.Errorf("preview: changes %+v, notes %v", preview.Changes, preview.Notes)
	}
	res := h.execute("aws.ec2.stop_instance", params)
	if !reflect.DeepEqual(preview.Changes, res.Changes) {
		t.Errorf("preview %+v\nexecute %+v", preview.Changes, res.Changes)
	}
	if s := instanceOf(h, id).State; s != "stopped" && s != "stopping" {
		t.Errorf("state = %s", s)
	}
	h.assertDeclared("aws.ec2.stop_instance")

	// Recorded as captured, the data may go.
	captured := addInstance(h, awsemu.InstanceSpec{InstanceType: "m5d.large", Tags: map[string]string{actions.TagInstanceStoreCaptured: "s3://evidence/INC-42/"}})
	res = h.execute("aws.ec2.stop_instance", map[string]any{"instance_id": captured})
	if !hasNote(res.Notes, "recorded as captured") || res.Outputs["state"] != "stopping" {
		t.Errorf("captured: %v %v", res.Notes, res.Outputs)
	}
}

func TestStopHibernatesWhenTheInstanceCan(t *testing.T) {
	h := newHarness(t)
	plain := addInstance(h, awsemu.InstanceSpec{})
	_, err := h.run(actions.Execute, "aws.ec2.stop_instance", map[string]any{"instance_id": plain, "hibernate": true})
	if err == nil || errorType(err) != actions.ErrConflict || !strings.Contains(err.Error(), "hibernation") {
		t.Fatalf("err = %v", err)
	}
	if instanceOf(h, plain).State != "running" {
		t.Fatal("a refused hibernation stopped the instance")
	}
	id := addInstance(h, awsemu.InstanceSpec{HibernationConfigured: true})
	res := h.execute("aws.ec2.stop_instance", map[string]any{"instance_id": id, "hibernate": true})
	if in := instanceOf(h, id); !in.Hibernated || res.Outputs["hibernated"] != true {
		t.Errorf("hibernated %v, outputs %v", in.Hibernated, res.Outputs)
	}
	h.assertDeclared("aws.ec2.stop_instance")
}

// Cordon's own stop protection is lifted only when the step says so.
func TestStopLiftsStopProtectionOnlyWhenAsked(t *testing.T) {
	h := newHarness(t)
	id := addInstance(h, awsemu.InstanceSpec{})
	h.execute("aws.ec2.enable_termination_protection", map[string]any{"instance_id": id})
	_, err := h.run(actions.Execute, "aws.ec2.stop_instance", map[string]any{"instance_id": id})
	if err == nil || errorType(err) != actions.ErrConflict || !strings.Contains(err.Error(), "lift_stop_protection") {
		t.Fatalf("err = %v", err)
	}
	params := map[string]any{"instance_id": id, "lift_stop_protection": true}
	res := h.previewAndExecute("aws.ec2.stop_instance", params)
	in := instanceOf(h, id)
	if in.DisableAPIStop || (in.State != "stopped" && in.State != "stopping") || res.Outputs["stop_protection_lifted"] != true {
		t.Errorf("stop protection %v, state %s, outputs %v", in.DisableAPIStop, in.State, res.Outputs)
	}
}

// A response lost after the change (the SDK's attempts all answered 500,
// so the activity is retried) must not make the retry report the changed
// value as the one before.
func TestLostResponsesStillReportTheOriginalValues(t *testing.T) {
	t.Run("disable_instance_metadata", func(t *testing.T) {
		h := newHarness(t)
		id := addInstance(h, awsemu.InstanceSpec{})
		params := map[string]any{"instance_id": id}
		h.loseEveryAnswer("aws.ec2.disable_instance_metadata", "ec2:ModifyInstanceMetadataOptions", params)
		if in := instanceOf(h, id); in.MetadataHTTPEndpoint != "disabled" {
			t.Fatalf("the lost call did not take effect: %s", in.MetadataHTTPEndpoint)
		}
		res := h.execute("aws.ec2.disable_instance_metadata", params)
		if res.Outputs["previous_http_endpoint"] != "enabled" || res.Outputs["previous_http_tokens"] != "optional" {
			t.Errorf("retry outputs = %v, want the values before the first attempt", res.Outputs)
		}
		// Another step is another change: it reports what it finds.
		other, err := h.runStep("other", actions.Execute, "aws.ec2.disable_instance_metadata", params)
		if err != nil || other.Outputs["previous_http_endpoint"] != "disabled" {
			t.Errorf("another step: %v, %v", other.Outputs, err)
		}
	})
	t.Run("stop_instance", func(t *testing.T) {
		h := newHarness(t)
		id := addInstance(h, awsemu.InstanceSpec{})
		params := map[string]any{"instance_id": id}
		h.loseEveryAnswer("aws.ec2.stop_instance", "ec2:StopInstances", params)
		res := h.execute("aws.ec2.stop_instance", params)
		if res.Outputs["previous_state"] != "running" {
			t.Errorf("retry outputs = %v, want previous_state running", res.Outputs)
		}
	})
}

// loseEveryAnswer runs the action once with the answers to every SDK
// attempt of call lost (the change is made, the answer never comes): the
// step must fail retryably, so that Temporal retries it.
func (h *harness) loseEveryAnswer(action, call string, params map[string]any) {
	h.t.Helper()
	h.emu.LoseResponses(call, 3)
	if _, err := h.run(actions.Execute, action, params); err == nil || isNonRetryable(err) {
		h.t.Fatalf("first attempt: err = %v, want a retryable failure", err)
	}
}

// runStep runs an action as another step of the same run.
func (h *harness) runStep(step string, mode actions.Mode, action string, params map[string]any) (actions.Result, error) {
	h.t.Helper()
	return h.rt.Run(context.Background(), actions.Call{
		Action: action, Mode: mode, Params: params,
		Target: actions.Target{Account: h.account, Region: h.emu.Region()},
		Run:    actions.RunRef{RunID: "run-1", Incident: "INC-42", StepID: step},
	})
}
