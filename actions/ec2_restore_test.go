package actions_test

import (
	"context"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/cordon-ir/cordon/actions"
	"github.com/cordon-ir/cordon/internal/awsemu"
)

// containedBy seeds what seed seeds, contains it with the action, and
// forgets the calls, so that a restore's contract case sees only its own.
func containedBy(action string, seed func(h *harness) map[string]any) func(h *harness) map[string]any {
	return func(h *harness) map[string]any {
		params := seed(h)
		h.execute(action, params)
		h.emu.ResetCalls()
		return params
	}
}

// quarantinedProfile seeds an instance with a role whose profile
// revoke_role_sessions replaced with the forensics profile.
func quarantinedProfile(h *harness) map[string]any {
	h.t.Helper()
	fleet := h.fleet(awsemu.FleetSpec{Instances: 1, WithInstanceRole: true})
	if _, err := h.emu.AddRole(awsemu.RoleSpec{Name: "forensics", InstanceProfile: true}); err != nil {
		h.t.Fatal(err)
	}
	id := fleet.InstanceIDs[0]
	h.execute("aws.iam.revoke_role_sessions", map[string]any{"instance_id": id, "quarantine_instance_profile": "forensics"})
	return map[string]any{"instance_id": id}
}

// noRecord checks that no tag of the record is left on the instance.
func noRecord(t *testing.T, in awsemu.Instance, key string) {
	t.Helper()
	for k := range in.Tags {
		if k == key || strings.HasPrefix(k, key+":") {
			t.Errorf("%s still carries %s=%q", in.ID, k, in.Tags[k])
		}
	}
}

// restores are the restore steps of examples/restore-isolation.yaml that
// take only the instance.
var restores = []string{
	"aws.ec2.restore_isolation", "aws.ec2.restore_instance_metadata",
	"aws.ec2.restore_protection", "aws.ec2.restore_instance_profile",
}

// A containment of every reversible kind, then every restore: the
// emulator holds the values from before the containment, no record is
// left, and a second restore changes nothing.
func TestRestoreUndoesAContainment(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	_, id := h.seedInstance(awsemu.FleetSpec{Instances: 1, NetworkInterfaces: 2, Volumes: 2, InAutoScalingGroup: 1, WithInstanceRole: true})
	if _, err := h.emu.AddRole(awsemu.RoleSpec{Name: "forensics", InstanceProfile: true}); err != nil {
		t.Fatal(err)
	}
	// A shutdown behaviour of terminate, so that protecting changes it.
	setShutdownBehavior(t, h, id, "terminate")
	before := instanceOf(h, id)
	groupsBefore := map[string][]string{}
	for _, e := range before.NetworkInterfaceIDs {
		groupsBefore[e] = eniOf(h, e).SecurityGroupIDs
	}
	instance := map[string]any{"instance_id": id}
	h.execute("aws.ec2.enable_termination_protection", instance)
	h.execute("aws.ec2.isolate_instance", instance)
	h.execute("aws.ec2.disable_instance_metadata", instance)
	h.execute("aws.iam.revoke_role_sessions", map[string]any{"instance_id": id, "quarantine_instance_profile": "forensics"})

	contained := instanceOf(h, id)
	if !contained.DisableAPITermination || !contained.DisableAPIStop || contained.ShutdownBehavior != "stop" ||
		contained.MetadataHTTPEndpoint != "disabled" || !strings.HasSuffix(contained.InstanceProfileARN, "/forensics") {
		t.Fatalf("not contained: %+v", contained)
	}
	if _, protected := h.emu.InstanceProtectedFromScaleIn(id); !protected {
		t.Fatal("not protected from scale-in")
	}

	h.emu.ResetCalls()
	for _, a := range restores {
		h.emu.ResetCalls()
		res := h.execute(a, instance)
		if len(res.Changes) == 0 {
			t.Errorf("%s changed nothing: notes %q", a, res.Notes)
		}
		if c, ok := res.Outputs["conflicts"].([]any); ok && len(c) > 0 {
			t.Errorf("%s: conflicts %v", a, c)
		}
		h.assertDeclared(a)
		assertOutputsMatchSpec(t, a, res)
	}

	after := instanceOf(h, id)
	if after.DisableAPITermination != before.DisableAPITermination || after.DisableAPIStop != before.DisableAPIStop ||
		after.ShutdownBehavior != "terminate" || after.MetadataHTTPEndpoint != before.MetadataHTTPEndpoint ||
		after.MetadataHTTPTokens != before.MetadataHTTPTokens || after.InstanceProfileARN != before.InstanceProfileARN {
		t.Errorf("after restore:\n%+v\nbefore containment:\n%+v", after, before)
	}
	for i, bd := range after.BlockDevices {
		if bd.DeleteOnTermination != before.BlockDevices[i].DeleteOnTermination {
			t.Errorf("%s: DeleteOnTermination %v, was %v", bd.VolumeID, bd.DeleteOnTermination, before.BlockDevices[i].DeleteOnTermination)
		}
	}
	if _, protected := h.emu.InstanceProtectedFromScaleIn(id); protected {
		t.Error("still protected from scale-in")
	}
	for e, groups := range groupsBefore {
		if got := eniOf(h, e).SecurityGroupIDs; !slices.Equal(got, groups) {
			t.Errorf("%s groups %v, were %v", e, got, groups)
		}
	}
	for _, key := range []string{actions.TagPriorMetadata, actions.TagPriorProtection, actions.TagPriorInstanceProfile, actions.TagQuarantineInstanceProfile} {
		noRecord(t, after, key)
	}

	// A second restore finds nothing recorded and changes nothing.
	h.emu.ResetCalls()
	world := h.emu.State()
	for _, a := range restores {
		res := h.execute(a, instance)
		if len(res.Changes) != 0 || len(res.Notes) == 0 {
			t.Errorf("%s again: changes %+v, notes %q", a, res.Changes, res.Notes)
		}
	}
	h.assertNoMutation()
	if !reflect.DeepEqual(world, h.emu.State()) {
		t.Error("the second restore changed the world")
	}
}

// An instance Cordon never contained: every restore is a no-op saying
// that nothing was recorded.
func TestRestoreWithoutRecordsIsANoOp(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	fleet := h.fleet(awsemu.FleetSpec{Instances: 1, Volumes: 2, InAutoScalingGroup: 1, WithInstanceRole: true})
	instance := map[string]any{"instance_id": fleet.InstanceIDs[0]}
	for _, a := range restores {
		for _, mode := range []actions.Mode{actions.Preview, actions.Execute} {
			res, err := h.run(mode, a, instance)
			if err != nil {
				t.Fatalf("%s (%s): %v", a, mode, err)
			}
			if len(res.Changes) != 0 {
				t.Errorf("%s (%s): changes %+v", a, mode, res.Changes)
			}
			if a != "aws.ec2.restore_isolation" && !hasNote(res.Notes, "nothing recorded") {
				t.Errorf("%s (%s): notes %q, want one saying nothing was recorded", a, mode, res.Notes)
			}
			assertOutputsMatchSpec(t, a, res)
		}
	}
	h.assertNoMutation()
}

// Someone put another profile on the instance after Cordon's quarantine:
// the restore leaves it, lists the conflict and keeps the record.
func TestRestoreInstanceProfileLeavesAProfileChangedSince(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	params := quarantinedProfile(h)
	id := params["instance_id"].(string)
	other, err := h.emu.AddRole(awsemu.RoleSpec{Name: "rebuilt", InstanceProfile: true})
	if err != nil {
		t.Fatal(err)
	}
	in := instanceOf(h, id)
	if _, err := ec2Setup(h).ReplaceIamInstanceProfileAssociation(context.Background(), &ec2.ReplaceIamInstanceProfileAssociationInput{
		AssociationId: aws.String(in.ProfileAssociationID), IamInstanceProfile: &ec2types.IamInstanceProfileSpecification{Name: aws.String(other.Name)},
	}); err != nil {
		t.Fatal(err)
	}
	h.emu.ResetCalls()
	res := h.execute("aws.ec2.restore_instance_profile", params)
	after := instanceOf(h, id)
	if !strings.HasSuffix(after.InstanceProfileARN, "/rebuilt") {
		t.Errorf("profile %s, want the one put on since", after.InstanceProfileARN)
	}
	if c := res.Outputs["conflicts"].([]any); len(c) != 1 || !strings.Contains(c[0].(string), "someone changed it since") {
		t.Errorf("conflicts %v", c)
	}
	if after.Tags[actions.TagPriorInstanceProfile] == "" || after.Tags[actions.TagQuarantineInstanceProfile] == "" {
		t.Errorf("records removed: %v", after.Tags)
	}
	h.assertNoMutation()
}

// IMDSv2 required since the containment: the endpoint comes back, the
// tokens setting made since stays.
func TestRestoreInstanceMetadataKeepsTokensChangedSince(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	params := containedBy("aws.ec2.disable_instance_metadata", oneInstance(awsemu.FleetSpec{}))(h)
	id := params["instance_id"].(string)
	if _, err := ec2Setup(h).ModifyInstanceMetadataOptions(context.Background(), &ec2.ModifyInstanceMetadataOptionsInput{
		InstanceId: aws.String(id), HttpTokens: ec2types.HttpTokensStateRequired,
	}); err != nil {
		t.Fatal(err)
	}
	res := h.execute("aws.ec2.restore_instance_metadata", params)
	in := instanceOf(h, id)
	if in.MetadataHTTPEndpoint != "enabled" || in.MetadataHTTPTokens != "required" {
		t.Errorf("endpoint %s, tokens %s; want enabled and the required set since", in.MetadataHTTPEndpoint, in.MetadataHTTPTokens)
	}
	if !hasNote(res.Notes, "is kept") {
		t.Errorf("notes %q", res.Notes)
	}
	noRecord(t, in, actions.TagPriorMetadata)
}

// A responder turned termination protection off by hand after Cordon
// turned it on: the restore puts back the rest and touches it no more.
func TestRestoreProtectionTakesWhatIsAlreadyBack(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	params := containedBy("aws.ec2.enable_termination_protection", oneInstance(awsemu.FleetSpec{Volumes: 2}))(h)
	id := params["instance_id"].(string)
	if _, err := ec2Setup(h).ModifyInstanceAttribute(context.Background(), &ec2.ModifyInstanceAttributeInput{
		InstanceId: aws.String(id), DisableApiTermination: &ec2types.AttributeBooleanValue{Value: aws.Bool(false)},
	}); err != nil {
		t.Fatal(err)
	}
	h.emu.ResetCalls()
	res := h.execute("aws.ec2.restore_protection", params)
	for _, c := range res.Changes {
		if c.Field == "disable_api_termination" {
			t.Errorf("changed termination protection again: %+v", c)
		}
	}
	in := instanceOf(h, id)
	if in.DisableAPITermination || in.DisableAPIStop {
		t.Errorf("termination %v, stop %v", in.DisableAPITermination, in.DisableAPIStop)
	}
	noRecord(t, in, actions.TagPriorProtection)
}
