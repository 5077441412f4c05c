package actions_test

import (
	"context"
	"encoding/json"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/cordon-ir/cordon/actions"
	"github.com/cordon-ir/cordon/internal/awsemu"
)

// The default scope denies only the compromised instance's credentials:
// the other hosts of the fleet sharing the role keep working.
func TestRevokeRoleSessionsInstanceScopeLeavesTheFleetAlone(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	fleet := h.fleet(awsemu.FleetSpec{Instances: 3, WithInstanceRole: true})
	for _, id := range fleet.InstanceIDs[:2] {
		res := h.execute("aws.iam.revoke_role_sessions", map[string]any{"instance_id": id})
		if res.Outputs["scope"] != "instance" || res.Outputs["revoked_before"] != "" || res.Outputs["policy_name"] != "CordonDenyInstance-"+id {
			t.Errorf("%s: outputs %+v", id, res.Outputs)
		}
		assertOutputsMatchSpec(t, "aws.iam.revoke_role_sessions", res)
	}
	r := role(t, h, fleet.RoleName)
	instanceDenied(t, r, fleet.InstanceIDs[0])
	instanceDenied(t, r, fleet.InstanceIDs[1])
	if _, ok := r.InlinePolicies["CordonDenyInstance-"+fleet.InstanceIDs[2]]; ok {
		t.Error("the healthy host was denied")
	}
	h.assertDeclared("aws.iam.revoke_role_sessions")
}

// The fleet-wide revocation is an explicit choice, and its preview says
// what it breaks.
func TestRevokeRoleSessionsAllSessionsSaysWhatItBreaks(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	fleet := h.fleet(awsemu.FleetSpec{Instances: 2, WithInstanceRole: true})
	res, err := h.run(actions.Preview, "aws.iam.revoke_role_sessions", map[string]any{"instance_id": fleet.InstanceIDs[0], "scope": "all_sessions"})
	if err != nil {
		t.Fatal(err)
	}
	notes := strings.Join(res.Notes, "\n")
	for _, want := range []string{"every session of role " + fleet.RoleName, "do not fetch new ones on AccessDenied", "scope instance"} {
		if !strings.Contains(notes, want) {
			t.Errorf("preview notes do not say %q:\n%s", want, notes)
		}
	}
	if len(res.Changes) != 2 || !strings.HasPrefix(res.Changes[0].Field, "inline_policy/CordonDenyInstance-") || res.Changes[1].Field != "inline_policy/AWSRevokeOlderSessions" {
		t.Errorf("changes %+v", res.Changes)
	}
	// Without an instance, only all_sessions makes sense, and it must be
	// asked for.
	_, err = h.run(actions.Execute, "aws.iam.revoke_role_sessions", map[string]any{"role_name": fleet.RoleName})
	if err == nil || errorType(err) != actions.ErrBadParams || !strings.Contains(err.Error(), "scope: all_sessions") {
		t.Errorf("role_name without scope: %v", err)
	}
}

// IAM Identity Center and service-linked roles cannot be changed in IAM:
// the action refuses and says what to do instead.
func TestRoleActionsRefuseProtectedRoles(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	for _, spec := range []awsemu.RoleSpec{
		{Name: "AWSReservedSSO_AdministratorAccess_0123456789abcdef", Path: "/aws-reserved/sso.amazonaws.com/"},
		{Name: "AWSServiceRoleForAutoScaling", Path: "/aws-service-role/autoscaling.amazonaws.com/"},
	} {
		if _, err := h.emu.AddRole(spec); err != nil {
			t.Fatal(err)
		}
		want := "IAM Identity Center"
		if strings.HasPrefix(spec.Path, "/aws-service-role/") {
			want = "service-linked"
		}
		for action, params := range map[string]map[string]any{
			"aws.iam.revoke_role_sessions": {"role_name": spec.Name, "scope": "all_sessions"},
			"aws.iam.lock_role":            {"role_name": spec.Name},
		} {
			_, err := h.run(actions.Execute, action, params)
			if !permanentFailure(err, actions.ErrInvalid, want) {
				t.Errorf("%s on %s: %v, want a refusal saying %q", action, spec.Name, err, want)
			}
		}
	}
	h.assertNoMutation()
}

// A quarantine profile the runbook has just created may not be visible
// to IAM and EC2 yet: the step waits for it instead of failing.
func TestRevokeRoleSessionsWaitsForANewQuarantineProfile(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	fleet, id := h.seedInstance(awsemu.FleetSpec{Instances: 1, WithInstanceRole: true})
	h.emu.SetConsistencyLag(2)
	if _, err := h.emu.AddRole(awsemu.RoleSpec{Name: "forensics", InstanceProfile: true}); err != nil {
		t.Fatal(err)
	}
	res := h.execute("aws.iam.revoke_role_sessions", map[string]any{"instance_id": id, "quarantine_instance_profile": "forensics"})
	in, _ := h.emu.Instance(id)
	if !strings.HasSuffix(in.InstanceProfileARN, "/forensics") || res.Outputs["instance_profile_replaced"] != true ||
		res.Outputs["previous_instance_profile"] != fleet.InstanceProfileARN || in.Tags["cordon:prior-instance-profile"] != fleet.InstanceProfileARN {
		t.Errorf("instance %+v, outputs %+v", in, res.Outputs)
	}
	if failedWith(h, "NoSuchEntity") == 0 {
		t.Error("the lag was not met: the test proves nothing")
	}
	// The role revoked is the instance's own, not the forensic one.
	instanceDenied(t, role(t, h, fleet.RoleName), id)
	if p := role(t, h, "forensics").InlinePolicies; len(p) != 0 {
		t.Errorf("the forensic role was changed: %v", p)
	}
}

// After a lost response the SDK's retry meets a world where the change is
// made: the step succeeds, saying so, and reports the state before it.
func TestLostResponsesAreAlreadyDone(t *testing.T) {
	t.Parallel()
	t.Run("DeleteLoginProfile", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t)
		addUser(t, h, awsemu.UserSpec{Name: "alice", LoginProfile: true})
		h.emu.LoseResponses("iam:DeleteLoginProfile", 1)
		res := h.execute("aws.iam.delete_login_profile", map[string]any{"user_name": "alice"})
		if res.Outputs["had_login_profile"] != true || !hasNote(res.Notes, "already done") || user(t, h, "alice").LoginProfile != nil {
			t.Errorf("result %+v", res)
		}
	})
	t.Run("DeactivateMFADevice", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t)
		u := addUser(t, h, awsemu.UserSpec{Name: "alice", MFADevices: 1})
		h.emu.LoseResponses("iam:DeactivateMFADevice", 1)
		res := h.execute("aws.iam.deactivate_mfa_devices", map[string]any{"user_name": "alice", "added_after": "2000-01-01T00:00:00Z"})
		if got := toStrings(res.Outputs["deactivated"]); !slices.Equal(got, []string{u.MFADevices[0].SerialNumber}) || !hasNote(res.Notes, "already done") {
			t.Errorf("result %+v", res)
		}
	})
	t.Run("DisassociateIamInstanceProfile", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t)
		fleet := h.fleet(awsemu.FleetSpec{Instances: 1, WithInstanceRole: true})
		h.emu.LoseResponses("ec2:DisassociateIamInstanceProfile", 1)
		res := h.execute("aws.iam.revoke_role_sessions", map[string]any{"instance_id": fleet.InstanceIDs[0], "disassociate_instance_profile": true})
		if res.Outputs["instance_profile_disassociated"] != true || res.Outputs["previous_instance_profile"] != fleet.InstanceProfileARN || !hasNote(res.Notes, "already done") {
			t.Errorf("result %+v", res)
		}
	})
	t.Run("ReplaceIamInstanceProfileAssociation", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t)
		fleet := h.fleet(awsemu.FleetSpec{Instances: 1, WithInstanceRole: true})
		if _, err := h.emu.AddRole(awsemu.RoleSpec{Name: "forensics", InstanceProfile: true}); err != nil {
			t.Fatal(err)
		}
		h.emu.LoseResponses("ec2:ReplaceIamInstanceProfileAssociation", 1)
		res := h.execute("aws.iam.revoke_role_sessions", map[string]any{"instance_id": fleet.InstanceIDs[0], "quarantine_instance_profile": "forensics"})
		if res.Outputs["instance_profile_replaced"] != true || res.Outputs["previous_instance_profile"] != fleet.InstanceProfileARN || !hasNote(res.Notes, "already done") {
			t.Errorf("result %+v", res)
		}
	})
	t.Run("ReplaceIamInstanceProfileAssociation on restore", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t)
		params := quarantinedProfile(h)
		quarantined := instanceOf(h, params["instance_id"].(string))
		h.emu.LoseResponses("ec2:ReplaceIamInstanceProfileAssociation", 1)
		res := h.execute("aws.ec2.restore_instance_profile", params)
		prior, now := quarantined.Tags[actions.TagPriorInstanceProfile], instanceOf(h, quarantined.ID).InstanceProfileARN
		if prior == "" || now != prior || !hasNote(res.Notes, "had its profile back when the call was retried") || failedWith(h, "InvalidAssociationID.NotFound") != 1 {
			t.Errorf("profile %s, want the recorded %q back; notes %q", now, prior, res.Notes)
		}
	})
}

// A user's inline policies may total 2,048 characters: when the deny-all
// does not fit, AWSDenyAll is attached instead, and recorded.
func TestAttachUserDenyAllFallsBackToTheManagedPolicy(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	big := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::` + strings.Repeat("b", 1900) + `"}]}`
	addUser(t, h, awsemu.UserSpec{Name: "ci-deploy", InlinePolicies: map[string]string{"deploy": big}})
	res := h.execute("aws.iam.attach_user_deny_all", map[string]any{"user_name": "ci-deploy"})
	u := user(t, h, "ci-deploy")
	if !slices.Equal(u.AttachedPolicies, []string{"arn:aws:iam::aws:policy/AWSDenyAll"}) || res.Outputs["policy_arn"] != "arn:aws:iam::aws:policy/AWSDenyAll" ||
		res.Outputs["policy_name"] != "AWSDenyAll" || len(res.Changes) != 1 || res.Changes[0].Field != "attached_policy/AWSDenyAll" {
		t.Errorf("user %+v, result %+v", u, res)
	}
	if _, ok := u.InlinePolicies["CordonDenyAll"]; ok || failedWith(h, "LimitExceeded") != 1 {
		t.Errorf("inline policies %v, LimitExceeded %d", u.InlinePolicies, failedWith(h, "LimitExceeded"))
	}
	assertOutputsMatchSpec(t, "aws.iam.attach_user_deny_all", res)
	h.assertDeclared("aws.iam.attach_user_deny_all")
	before := h.mutations()
	again := h.execute("aws.iam.attach_user_deny_all", map[string]any{"user_name": "ci-deploy"})
	if !slices.Equal(h.mutations(), before) || len(again.Changes) != 0 || again.Outputs["policy_arn"] != "arn:aws:iam::aws:policy/AWSDenyAll" {
		t.Errorf("second run: %+v, mutations %v", again, h.mutations())
	}
}

// configAs is an SDK configuration signing with the given access key, as
// an attacker holding a leaked key would, and trying each call once.
func configAs(h *harness, key awsemu.AccessKey) aws.Config {
	cfg := h.emu.AWSConfig()
	cfg.Credentials = credentials.NewStaticCredentialsProvider(key.ID, key.SecretAccessKey, "")
	cfg.RetryMaxAttempts = 1
	return cfg
}

// lock_role stops anyone assuming the role again, and reports the
// original trust policy for the restore, the same on a retry.
func TestLockRoleStopsReassuming(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	attacker := addUser(t, h, awsemu.UserSpec{Name: "leaked", AccessKeys: 1})
	r, err := h.emu.AddRole(awsemu.RoleSpec{Name: "deploy", TrustedPrincipals: []string{attacker.ARN}})
	if err != nil {
		t.Fatal(err)
	}
	assume := func() error {
		_, err := sts.NewFromConfig(configAs(h, attacker.AccessKeys[0])).AssumeRole(context.Background(), &sts.AssumeRoleInput{RoleArn: aws.String(r.ARN), RoleSessionName: aws.String("again")})
		return err
	}
	if err := assume(); err != nil {
		t.Fatalf("before: %v", err)
	}
	h.emu.ResetCalls()
	first := h.execute("aws.iam.lock_role", map[string]any{"role_name": "deploy"})
	if err := assume(); err == nil {
		t.Error("the role can still be assumed")
	}
	var want, got any
	if err := json.Unmarshal([]byte(r.AssumeRolePolicyDocument), &want); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(first.Outputs["original_trust_policy"].(string)), &got); err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("original trust policy %v, want %v (%v)", got, want, err)
	}
	second := h.execute("aws.iam.lock_role", map[string]any{"role_name": "deploy"})
	if second.Outputs["original_trust_policy"] != first.Outputs["original_trust_policy"] || len(second.Changes) != 0 {
		t.Errorf("second run: %+v", second)
	}
}

// ASIA keys are session credentials and root keys the root user's: no
// IAM user action can contain them, and the outputs say what can.
func TestAccessKeysOfSessionsAndRoot(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	r, err := h.emu.AddRole(awsemu.RoleSpec{Name: "app"})
	if err != nil {
		t.Fatal(err)
	}
	session, err := sts.NewFromConfig(h.emu.AWSConfig()).AssumeRole(context.Background(), &sts.AssumeRoleInput{RoleArn: aws.String(r.ARN), RoleSessionName: aws.String("web")})
	if err != nil {
		t.Fatal(err)
	}
	asia := aws.ToString(session.Credentials.AccessKeyId)
	h.emu.ResetCalls()
	res := h.execute("aws.iam.find_access_key_owner", map[string]any{"access_key_id": asia})
	if res.Outputs["key_kind"] != "session" || res.Outputs["account_id"] != h.emu.AccountID() || res.Outputs["user_name"] != "" ||
		!strings.Contains(res.Outputs["next_step"].(string), "session key: contain the role") {
		t.Errorf("session key: %+v", res.Outputs)
	}
	assertOutputsMatchSpec(t, "aws.iam.find_access_key_owner", res)
	h.assertDeclared("aws.iam.find_access_key_owner")

	root := h.emu.AddRootAccessKey()
	res = h.execute("aws.iam.find_access_key_owner", map[string]any{"access_key_id": root.ID})
	if res.Outputs["key_kind"] != "root" || !strings.Contains(res.Outputs["next_step"].(string), "root user") {
		t.Errorf("root key: %+v", res.Outputs)
	}
	u := addUser(t, h, awsemu.UserSpec{Name: "ci", AccessKeys: 1})
	if res = h.execute("aws.iam.find_access_key_owner", map[string]any{"access_key_id": u.AccessKeys[0].ID}); res.Outputs["key_kind"] != "user" {
		t.Errorf("user key: %+v", res.Outputs)
	}

	for _, tc := range []struct {
		params map[string]any
		says   string
	}{
		{map[string]any{"user_name": "ci", "access_key_ids": []any{asia}}, "session key: contain the role"},
		{map[string]any{"user_name": "root"}, "root user"},
	} {
		_, err := h.run(actions.Execute, "aws.iam.deactivate_access_keys", tc.params)
		if !permanentFailure(err, actions.ErrInvalid, tc.says) {
			t.Errorf("%v: %v, want a refusal saying %q", tc.params, err, tc.says)
		}
	}
	h.assertNoMutation()
}

// An IAM Identity Center user has no IAM user: the user actions fail
// NotFound and say to contain them in Identity Center.
func TestIdentityCenterUserIsNotAnIAMUser(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	for action, params := range map[string]map[string]any{
		"aws.iam.delete_login_profile":   {"user_name": "alice@example.com"},
		"aws.iam.deactivate_mfa_devices": {"user_name": "alice@example.com", "added_after": "2026-01-01T00:00:00Z"},
		"aws.iam.deactivate_access_keys": {"user_name": "alice@example.com"},
		"aws.iam.attach_user_deny_all":   {"user_name": "alice@example.com"},
	} {
		_, err := h.run(actions.Execute, action, params)
		if err == nil || errorType(err) != actions.ErrNotFound || !strings.Contains(err.Error(), "IAM Identity Center") || !strings.Contains(err.Error(), "account assignments") {
			t.Errorf("%s: %v", action, err)
		}
	}
}
