package actions_test

import (
	"context"
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/smithy-go"

	"github.com/cordon-ir/cordon/actions"
	"github.com/cordon-ir/cordon/internal/awsemu"
)

func addUser(t *testing.T, h *harness, spec awsemu.UserSpec) awsemu.User {
	t.Helper()
	u, err := h.emu.AddUser(spec)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func user(t *testing.T, h *harness, name string) awsemu.User {
	t.Helper()
	return held(t, "user", name, h.emu.User)
}

func role(t *testing.T, h *harness, name string) awsemu.Role {
	t.Helper()
	return held(t, "role", name, h.emu.Role)
}

// cutoffOf reads the TokenIssueTime cut-off of a revocation policy.
func cutoffOf(t *testing.T, doc string) time.Time {
	t.Helper()
	const key = `"aws:TokenIssueTime":"`
	i := strings.Index(doc, key)
	if i < 0 || !strings.Contains(doc, `"Effect":"Deny"`) || !strings.Contains(doc, `"Action":"*"`) {
		t.Fatalf("not a revocation policy: %s", doc)
	}
	rest := doc[i+len(key):]
	ts, err := time.Parse(time.RFC3339, rest[:strings.Index(rest, `"`)])
	if err != nil {
		t.Fatalf("cut-off in %s: %v", doc, err)
	}
	return ts
}

// iamAs is an IAM client signing with the given access key (configAs).
func iamAs(h *harness, key awsemu.AccessKey) *iam.Client {
	return iam.NewFromConfig(configAs(h, key))
}

// instanceDenied checks that the role denies the credentials of one
// instance, by ec2:SourceInstanceARN, and revokes nothing fleet-wide.
func instanceDenied(t *testing.T, r awsemu.Role, instanceID string) {
	t.Helper()
	doc, ok := r.InlinePolicies["CordonDenyInstance-"+instanceID]
	want := `"Condition":{"ArnEquals":{"ec2:SourceInstanceARN":"arn:aws:ec2:us-east-1:123456789012:instance/` + instanceID + `"}}`
	if !ok || !strings.Contains(doc, `"Effect":"Deny","Action":"*","Resource":"*"`) || !strings.Contains(doc, want) {
		t.Errorf("role %s: no deny of %s's credentials: %v", r.Name, instanceID, r.InlinePolicies)
	}
	if _, ok := r.InlinePolicies["AWSRevokeOlderSessions"]; ok {
		t.Errorf("role %s: scope instance revoked every session of the role", r.Name)
	}
}

func revokedPolicyDone(t *testing.T, doc string, ok bool) {
	t.Helper()
	if !ok {
		t.Fatal("no AWSRevokeOlderSessions policy")
	}
	if c := cutoffOf(t, doc); time.Since(c) > time.Minute || time.Until(c) > 2*time.Second {
		t.Errorf("cut-off %s is not the time of the step", c)
	}
}

// oneUser seeds the user and returns the parameters naming it.
func oneUser(spec awsemu.UserSpec) func(h *harness) map[string]any {
	return func(h *harness) map[string]any {
		addUser(h.t, h, spec)
		return map[string]any{"user_name": spec.Name}
	}
}

// missingUserParams name a user that does not exist.
func missingUserParams(*harness) (map[string]any, string) {
	return map[string]any{"user_name": "ghost-user"}, "ghost-user"
}

// iamContracts are the contract cases of the IAM actions (see runContract).
func iamContracts() []contractCase {
	return []contractCase{
		{
			action: "aws.iam.revoke_role_sessions",
			seed:   oneInstance(awsemu.FleetSpec{WithInstanceRole: true}),
			done: func(t *testing.T, h *harness, params map[string]any) {
				id := params["instance_id"].(string)
				instanceDenied(t, role(t, h, "confluence-app"), id)
			},
			permission: "iam:PutRolePolicy",
			missing: func(h *harness) (map[string]any, string) {
				return map[string]any{"role_name": "ghost-role", "scope": "all_sessions"}, "ghost-role"
			},
		},
		{
			action: "aws.iam.revoke_role_sessions",
			seed: func(h *harness) map[string]any {
				fleet := h.fleet(awsemu.FleetSpec{Instances: 1, WithInstanceRole: true})
				if _, err := h.emu.AddRole(awsemu.RoleSpec{Name: "forensics", InstanceProfile: true}); err != nil {
					h.t.Fatal(err)
				}
				return map[string]any{"instance_id": fleet.InstanceIDs[0], "quarantine_instance_profile": "forensics"}
			},
			done: func(t *testing.T, h *harness, params map[string]any) {
				id := params["instance_id"].(string)
				in, _ := h.emu.Instance(id)
				if !strings.HasSuffix(in.InstanceProfileARN, "/forensics") || !strings.HasSuffix(in.Tags["cordon:prior-instance-profile"], "/confluence-app") {
					t.Errorf("profile %s, recorded %q", in.InstanceProfileARN, in.Tags["cordon:prior-instance-profile"])
				}
				instanceDenied(t, role(t, h, "confluence-app"), id)
			},
			permission: "ec2:ReplaceIamInstanceProfileAssociation",
			missing: func(h *harness) (map[string]any, string) {
				fleet := h.fleet(awsemu.FleetSpec{Instances: 1, WithInstanceRole: true, NamePrefix: "other"})
				return map[string]any{"instance_id": fleet.InstanceIDs[0], "quarantine_instance_profile": "ghost-profile"}, "ghost-profile"
			},
		},
		{
			action: "aws.iam.lock_role",
			seed: func(h *harness) map[string]any {
				if _, err := h.emu.AddRole(awsemu.RoleSpec{Name: "deploy", TrustedPrincipals: []string{"arn:aws:iam::" + h.emu.AccountID() + ":root"}}); err != nil {
					h.t.Fatal(err)
				}
				return map[string]any{"role_name": "deploy"}
			},
			done: func(t *testing.T, h *harness, _ map[string]any) {
				r := role(t, h, "deploy")
				if !strings.Contains(r.AssumeRolePolicyDocument, `"Sid":"CordonLockRole"`) || !strings.Contains(r.AssumeRolePolicyDocument, `"Effect":"Deny"`) {
					t.Errorf("trust policy %s", r.AssumeRolePolicyDocument)
				}
				if !strings.Contains(r.InlinePolicies["CordonDenyAll"], `"Effect":"Deny","Action":"*","Resource":"*"`) {
					t.Errorf("inline policies %v", r.InlinePolicies)
				}
			},
			permission: "iam:UpdateAssumeRolePolicy",
			missing: func(h *harness) (map[string]any, string) {
				return map[string]any{"role_name": "ghost-role"}, "ghost-role"
			},
		},
		{
			action: "aws.iam.deactivate_access_keys",
			seed:   oneUser(awsemu.UserSpec{Name: "ci-deploy", AccessKeys: 2}),
			done: func(t *testing.T, h *harness, _ map[string]any) {
				for _, k := range user(t, h, "ci-deploy").AccessKeys {
					if k.Status != "Inactive" {
						t.Errorf("key %s is %s", k.ID, k.Status)
					}
				}
			},
			permission: "iam:UpdateAccessKey",
			missing:    missingUserParams,
		},
		{
			action: "aws.iam.revoke_user_sessions",
			seed:   oneUser(awsemu.UserSpec{Name: "ci-deploy", AccessKeys: 1}),
			done: func(t *testing.T, h *harness, _ map[string]any) {
				doc, ok := user(t, h, "ci-deploy").InlinePolicies["AWSRevokeOlderSessions"]
				revokedPolicyDone(t, doc, ok)
			},
			permission: "iam:PutUserPolicy",
			missing:    missingUserParams,
		},
		{
			action: "aws.iam.attach_user_deny_all",
			seed:   oneUser(awsemu.UserSpec{Name: "ci-deploy", InlinePolicies: map[string]string{"deploy": `{"Version":"2012-10-17","Statement":[]}`}}),
			done: func(t *testing.T, h *harness, _ map[string]any) {
				u := user(t, h, "ci-deploy")
				doc := u.InlinePolicies["CordonDenyAll"]
				if !strings.Contains(doc, `"Effect":"Deny","Action":"*","Resource":"*"`) || strings.Contains(doc, "Condition") {
					t.Errorf("CordonDenyAll = %q", doc)
				}
				if _, ok := u.InlinePolicies["deploy"]; !ok {
					t.Error("the user's own policy was removed")
				}
			},
			permission: "iam:PutUserPolicy",
			missing:    missingUserParams,
		},
		{
			action: "aws.iam.delete_login_profile",
			seed:   oneUser(awsemu.UserSpec{Name: "alice", LoginProfile: true}),
			done: func(t *testing.T, h *harness, _ map[string]any) {
				if user(t, h, "alice").LoginProfile != nil {
					t.Error("alice still has a console password")
				}
			},
			permission: "iam:DeleteLoginProfile",
			missing:    missingUserParams,
		},
		{
			action: "aws.iam.deactivate_mfa_devices",
			seed: func(h *harness) map[string]any {
				u := addUser(h.t, h, awsemu.UserSpec{Name: "alice", MFADevices: 2})
				return map[string]any{"user_name": "alice", "added_after": u.MFADevices[0].EnableDate.Add(-time.Minute).Format(time.RFC3339)}
			},
			done: func(t *testing.T, h *harness, _ map[string]any) {
				if d := user(t, h, "alice").MFADevices; len(d) != 0 {
					t.Errorf("devices left: %+v", d)
				}
			},
			permission: "iam:DeactivateMFADevice",
			missing: func(h *harness) (map[string]any, string) {
				return map[string]any{"user_name": "ghost-user", "added_after": "2026-01-01T00:00:00Z"}, "ghost-user"
			},
		},
	}
}

func TestRevokeRoleSessionsByInstanceAndDisassociate(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	fleet, id := h.seedInstance(awsemu.FleetSpec{Instances: 2, WithInstanceRole: true})
	before := time.Now()
	res := h.execute("aws.iam.revoke_role_sessions", map[string]any{"instance_id": id, "disassociate_instance_profile": true, "scope": "all_sessions"})
	out := res.Outputs
	if out["role_name"] != fleet.RoleName || out["policy_name"] != "AWSRevokeOlderSessions" || out["instance_profile_disassociated"] != true {
		t.Errorf("outputs = %+v", out)
	}
	doc := role(t, h, fleet.RoleName).InlinePolicies["AWSRevokeOlderSessions"]
	cutoff := cutoffOf(t, doc)
	if out["revoked_before"] != cutoff.Format(time.RFC3339) {
		t.Errorf("revoked_before %v, policy says %s", out["revoked_before"], cutoff)
	}
	// Sessions issued up to the step itself are denied, not only those
	// before the run started (the harness's StartedAt is long before).
	if cutoff.Before(before.Truncate(time.Second)) {
		t.Errorf("cut-off %s is before the step started (%s)", cutoff, before)
	}
	if in, _ := h.emu.Instance(id); in.InstanceProfileARN != "" {
		t.Errorf("profile still associated: %s", in.InstanceProfileARN)
	}
	if in, _ := h.emu.Instance(fleet.InstanceIDs[1]); in.InstanceProfileARN == "" {
		t.Error("the other instance lost its profile")
	}
	if got := h.mutations(); !slices.Equal(got, []string{"iam:PutRolePolicy", "iam:PutRolePolicy", "ec2:DisassociateIamInstanceProfile"}) {
		t.Errorf("mutations = %v: the policy must be put before the profile is removed", got)
	}
	h.assertDeclared("aws.iam.revoke_role_sessions")
	assertOutputsMatchSpec(t, "aws.iam.revoke_role_sessions", res)
}

// A retry after the profile was removed can no longer find the role
// through the instance; the first attempt's record still names it.
func TestRevokeRoleSessionsRetryAfterDisassociation(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	fleet := h.fleet(awsemu.FleetSpec{Instances: 1, WithInstanceRole: true})
	params := map[string]any{"instance_id": fleet.InstanceIDs[0], "disassociate_instance_profile": true}
	results := h.attempts("aws.iam.revoke_role_sessions", params, 2)
	first, second := results[0], results[1]
	if len(h.mutations()) != 2 {
		t.Errorf("mutations = %v, want the first attempt's two", h.mutations())
	}
	for _, k := range []string{"role_name", "revoked_before", "instance_profile_disassociated"} {
		if first.Outputs[k] != second.Outputs[k] {
			t.Errorf("%s: first attempt %v, retry %v", k, first.Outputs[k], second.Outputs[k])
		}
	}
	// Without that record there is no way to the role: a clear error,
	// not a guess.
	_, err := h.run(actions.Execute, "aws.iam.revoke_role_sessions", params)
	if !permanentFailure(err, actions.ErrInvalid, "role_name") {
		t.Errorf("err = %v", err)
	}
}

func TestRevokeRoleSessionsPreviewShowsPolicyAndProfile(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	fleet := h.fleet(awsemu.FleetSpec{Instances: 1, WithInstanceRole: true})
	res, err := h.run(actions.Preview, "aws.iam.revoke_role_sessions", map[string]any{"instance_id": fleet.InstanceIDs[0], "disassociate_instance_profile": true})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Changes) != 2 || res.Changes[0].Field != "inline_policy/CordonDenyInstance-"+fleet.InstanceIDs[0] || res.Changes[0].Before != nil ||
		res.Changes[1].Before != fleet.InstanceProfileARN || res.Changes[1].After != nil {
		t.Errorf("changes = %+v", res.Changes)
	}
	if len(h.mutations()) != 0 || len(role(t, h, fleet.RoleName).InlinePolicies) != 1 {
		t.Errorf("preview changed something: %v", h.mutations())
	}
	if in, _ := h.emu.Instance(fleet.InstanceIDs[0]); in.InstanceProfileARN == "" {
		t.Error("preview removed the profile")
	}
}

func TestRevokeRoleSessionsCutoff(t *testing.T) {
	t.Parallel()
	policy := func(cutoff string) string {
		return `{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":["*"],"Resource":["*"],` +
			`"Condition":{"DateLessThan":{"aws:TokenIssueTime":"` + cutoff + `"}}}]}`
	}
	for _, tc := range []struct {
		name     string
		existing string
		kept     bool
	}{
		// An earlier incident's revocation lets every session issued
		// since then live: replace it with a later cut-off.
		{"older revocation is replaced", policy("2020-01-01T00:00:00.000Z"), false},
		// A revocation at or after this step's start (e.g. a parallel item
		// for another instance with the same role) already covers it.
		{"revocation since the step started is kept", policy(time.Now().Add(time.Hour).UTC().Format(time.RFC3339)), true},
		// Someone else's policy of that name that is not a revocation.
		{"foreign policy is replaced", `{"Version":"2012-10-17","Statement":[]}`, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t)
			if _, err := h.emu.AddRole(awsemu.RoleSpec{Name: "app", InlinePolicies: map[string]string{"AWSRevokeOlderSessions": tc.existing}}); err != nil {
				t.Fatal(err)
			}
			res := h.execute("aws.iam.revoke_role_sessions", map[string]any{"role_name": "app", "scope": "all_sessions"})
			doc := role(t, h, "app").InlinePolicies["AWSRevokeOlderSessions"]
			if tc.kept {
				if doc != tc.existing || len(h.mutations()) != 0 || len(res.Notes) == 0 {
					t.Errorf("replaced: %s (mutations %v)", doc, h.mutations())
				}
				return
			}
			revokedPolicyDone(t, doc, true)
			if len(res.Changes) != 1 || res.Changes[0].Before != tc.existing {
				t.Errorf("changes = %+v", res.Changes)
			}
		})
	}
}

// With a worker clock behind Temporal's, the cut-off written by the first
// attempt is earlier than the step's scheduled time; the policy's Sid
// still tells a retry that it wrote it, while another step replaces it.
func TestRevokeUserSessionsRecognisesItsOwnPolicy(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	lagging := time.Now().Add(-time.Hour)
	h.rt = h.runtimeWith(actions.Options{Clock: func() time.Time { return lagging }})
	addUser(t, h, awsemu.UserSpec{Name: "alice"})
	call := func(step string) actions.Result {
		res, err := h.runCall(actions.Call{
			Action: "aws.iam.revoke_user_sessions", Params: map[string]any{"user_name": "alice"}, Mode: actions.Execute,
			Target: actions.Target{Region: h.emu.Region()},
			Run:    actions.RunRef{RunID: "run-1", StepID: step, StartedAt: lagging.Add(-time.Hour)},
		})
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	first := call("revoke")
	retry := call("revoke")
	if len(h.mutations()) != 1 || retry.Outputs["revoked_before"] != first.Outputs["revoked_before"] {
		t.Errorf("retry rewrote the policy: mutations %v, outputs %v then %v", h.mutations(), first.Outputs, retry.Outputs)
	}
	call("revoke-again")
	if len(h.mutations()) != 2 {
		t.Errorf("another step kept an older revocation: mutations %v", h.mutations())
	}
}

func TestRevokeRoleSessionsNeedsExactlyOneWayToTheRole(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	fleet := h.fleet(awsemu.FleetSpec{Instances: 2, WithInstanceRole: true})
	for _, tc := range []struct {
		params map[string]any
		typ    string
		says   string
	}{
		{map[string]any{}, actions.ErrBadParams, "instance_id"},
		{map[string]any{"instance_id": fleet.InstanceIDs[0], "role_name": fleet.RoleName}, actions.ErrBadParams, "not both"},
		{map[string]any{"role_name": fleet.RoleName, "disassociate_instance_profile": true}, actions.ErrBadParams, "needs instance_id"},
		{map[string]any{"instance_id": "i-0123456789abcdef0"}, actions.ErrNotFound, "i-0123456789abcdef0"},
	} {
		_, err := h.run(actions.Execute, "aws.iam.revoke_role_sessions", tc.params)
		if err == nil || errorType(err) != tc.typ || !isNonRetryable(err) || !strings.Contains(err.Error(), tc.says) {
			t.Errorf("%v: err = %v, want non-retryable %s saying %q", tc.params, err, tc.typ, tc.says)
		}
	}
	if len(h.mutations()) != 0 {
		t.Errorf("mutated: %v", h.mutations())
	}
}

func TestRevokeRoleSessionsInstanceWithoutProfile(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	fleet := h.fleet(awsemu.FleetSpec{Instances: 1})
	_, err := h.run(actions.Execute, "aws.iam.revoke_role_sessions", map[string]any{"instance_id": fleet.InstanceIDs[0]})
	if !permanentFailure(err, actions.ErrInvalid, "no instance profile") {
		t.Errorf("err = %v", err)
	}
}

// leakedKey seeds the user ci-deploy with two access keys, the first of
// which leaked: an attacker calls IAM with it (GetUser), and that call,
// which is not the action's, is forgotten.
func leakedKey(t *testing.T, h *harness) awsemu.User {
	t.Helper()
	u := addUser(t, h, awsemu.UserSpec{Name: "ci-deploy", AccessKeys: 2})
	if _, err := iamAs(h, u.AccessKeys[0]).GetUser(context.Background(), &iam.GetUserInput{}); err != nil {
		t.Fatalf("the leaked key works before containment: %v", err)
	}
	h.emu.ResetCalls()
	return u
}

func TestFindAccessKeyOwner(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	u := leakedKey(t, h)
	leaked := u.AccessKeys[0]
	res := h.execute("aws.iam.find_access_key_owner", map[string]any{"access_key_id": leaked.ID})
	used, err := time.Parse(time.RFC3339, res.Outputs["last_used_date"].(string))
	if res.Outputs["user_name"] != "ci-deploy" || err != nil || time.Since(used) > time.Minute ||
		res.Outputs["last_used_service"] != "iam" || res.Outputs["last_used_region"] != h.emu.Region() {
		t.Errorf("outputs = %+v", res.Outputs)
	}
	assertOutputsMatchSpec(t, "aws.iam.find_access_key_owner", res)
	h.assertDeclared("aws.iam.find_access_key_owner")

	res = h.execute("aws.iam.find_access_key_owner", map[string]any{"access_key_id": u.AccessKeys[1].ID})
	if res.Outputs["user_name"] != "ci-deploy" || res.Outputs["last_used_date"] != "" || res.Outputs["last_used_service"] != "" {
		t.Errorf("never used key: outputs = %+v", res.Outputs)
	}
	if len(h.mutations()) != 0 {
		t.Errorf("a lookup mutated: %v", h.mutations())
	}

	// Preview runs the same read.
	res, err = h.run(actions.Preview, "aws.iam.find_access_key_owner", map[string]any{"access_key_id": leaked.ID})
	if err != nil || res.Outputs["user_name"] != "ci-deploy" || len(res.Changes) != 0 {
		t.Errorf("preview: %v %+v", err, res)
	}
}

func TestFindAccessKeyOwnerFailures(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	u := addUser(t, h, awsemu.UserSpec{Name: "ci-deploy", AccessKeys: 1})
	_, err := h.run(actions.Execute, "aws.iam.find_access_key_owner", map[string]any{"access_key_id": "AKIAUNKNOWNKEY000000"})
	if !permanentFailure(err, actions.ErrNotFound, "AKIAUNKNOWNKEY000000") {
		t.Errorf("unknown key: err = %v", err)
	}

	h.emu.FailNext("iam:GetAccessKeyLastUsed", "Throttling", 400, 2)
	if res := h.execute("aws.iam.find_access_key_owner", map[string]any{"access_key_id": u.AccessKeys[0].ID}); res.Outputs["user_name"] != "ci-deploy" {
		t.Errorf("throttled: outputs = %+v", res.Outputs)
	}

	h.emu.Deny(awsemu.AllPrincipals, "iam:GetAccessKeyLastUsed")
	_, err = h.run(actions.Execute, "aws.iam.find_access_key_owner", map[string]any{"access_key_id": u.AccessKeys[0].ID})
	if !permanentFailure(err, actions.ErrAccessDenied, "iam:GetAccessKeyLastUsed") {
		t.Errorf("denied: err = %v", err)
	}
}

func TestDeactivatedLeakedKeyIsRefused(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	u := leakedKey(t, h)
	leaked, other := u.AccessKeys[0], u.AccessKeys[1]
	ctx := context.Background()
	res := h.execute("aws.iam.deactivate_access_keys", map[string]any{"user_name": "ci-deploy", "access_key_ids": []any{leaked.ID}})
	if got := res.Outputs["deactivated"]; !slices.Equal(toStrings(got), []string{leaked.ID}) {
		t.Errorf("deactivated = %v", got)
	}
	_, err := iamAs(h, leaked).GetUser(ctx, &iam.GetUserInput{})
	var ae smithy.APIError
	if !errors.As(err, &ae) || ae.ErrorCode() != "InvalidClientTokenId" {
		t.Errorf("call with the deactivated key: %v", err)
	}
	if _, err := iamAs(h, other).GetUser(ctx, &iam.GetUserInput{}); err != nil {
		t.Errorf("the key not named was deactivated too: %v", err)
	}
	for _, k := range user(t, h, "ci-deploy").AccessKeys {
		if k.ID == leaked.ID && k.Status != "Inactive" || k.ID == other.ID && k.Status != "Active" {
			t.Errorf("key %s is %s", k.ID, k.Status)
		}
	}
	// Deactivated, never deleted: the keys are evidence.
	if n := len(user(t, h, "ci-deploy").AccessKeys); n != 2 {
		t.Errorf("%d keys left, want 2", n)
	}

	// A plain re-run (no record of this step) reports the key as found
	// inactive; a retry of the same activity still reports it as its own.
	res = h.execute("aws.iam.deactivate_access_keys", map[string]any{"user_name": "ci-deploy", "access_key_ids": []any{leaked.ID}})
	if !slices.Equal(toStrings(res.Outputs["already_inactive"]), []string{leaked.ID}) || len(toStrings(res.Outputs["deactivated"])) != 0 {
		t.Errorf("re-run outputs = %+v", res.Outputs)
	}

	_, err = h.run(actions.Execute, "aws.iam.deactivate_access_keys", map[string]any{"user_name": "ci-deploy", "access_key_ids": []any{"AKIANOTHERUSERSKEY00"}})
	if err == nil || errorType(err) != actions.ErrNotFound || !strings.Contains(err.Error(), "AKIANOTHERUSERSKEY00") {
		t.Errorf("key of nobody: err = %v", err)
	}
}

func TestDeactivateAccessKeysRetryKeepsItsRecord(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	addUser(t, h, awsemu.UserSpec{Name: "ci-deploy", AccessKeys: 2})
	results := h.attempts("aws.iam.deactivate_access_keys", map[string]any{"user_name": "ci-deploy"}, 2)
	if len(h.mutations()) != 2 {
		t.Errorf("mutations = %v", h.mutations())
	}
	if a, b := toStrings(results[0].Outputs["deactivated"]), toStrings(results[1].Outputs["deactivated"]); len(a) != 2 || !slices.Equal(a, b) {
		t.Errorf("deactivated: first attempt %v, retry %v", a, b)
	}
	if len(toStrings(results[1].Outputs["already_inactive"])) != 0 {
		t.Errorf("retry: already_inactive = %v", results[1].Outputs["already_inactive"])
	}
}

func TestDeleteLoginProfileWithoutOne(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	addUser(t, h, awsemu.UserSpec{Name: "robot", AccessKeys: 1})
	res := h.execute("aws.iam.delete_login_profile", map[string]any{"user_name": "robot"})
	if res.Outputs["had_login_profile"] != false || len(res.Changes) != 0 || len(h.mutations()) != 0 {
		t.Errorf("result = %+v, mutations %v", res, h.mutations())
	}

	addUser(t, h, awsemu.UserSpec{Name: "alice", LoginProfile: true})
	results := h.attempts("aws.iam.delete_login_profile", map[string]any{"user_name": "alice"}, 2)
	if results[0].Outputs["had_login_profile"] != true || results[1].Outputs["had_login_profile"] != true {
		t.Errorf("retry forgot the password it deleted: %+v / %+v", results[0].Outputs, results[1].Outputs)
	}
}

func TestDeactivateMFADevicesKeepsOlderOnes(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	u := addUser(t, h, awsemu.UserSpec{Name: "alice", MFADevices: 2})
	enabled := u.MFADevices[0].EnableDate
	res := h.execute("aws.iam.deactivate_mfa_devices", map[string]any{"user_name": "alice", "added_after": enabled.Format(time.RFC3339)})
	if got := toStrings(res.Outputs["deactivated"]); len(got) != 0 || len(user(t, h, "alice").MFADevices) != 2 || len(h.mutations()) != 0 {
		t.Errorf("devices enabled at (not after) the cut-off were deactivated: %v", got)
	}

	results := h.attempts("aws.iam.deactivate_mfa_devices", map[string]any{"user_name": "alice", "added_after": enabled.Add(-time.Second).Format(time.RFC3339)}, 2)
	want := []string{u.MFADevices[0].SerialNumber, u.MFADevices[1].SerialNumber}
	for i, r := range results {
		if got := toStrings(r.Outputs["deactivated"]); !slices.Equal(got, want) {
			t.Errorf("attempt %d: deactivated = %v, want %v", i+1, got, want)
		}
	}

	_, err := h.run(actions.Execute, "aws.iam.deactivate_mfa_devices", map[string]any{"user_name": "alice", "added_after": "2026-13-01T00:00:00Z"})
	if err == nil || errorType(err) != actions.ErrBadParams || !strings.Contains(err.Error(), "added_after") {
		t.Errorf("bad time: err = %v", err)
	}
}

// IAM returns policy documents URL-encoded; the actions decode them.
func TestPolicyDocumentsRoundTripThroughIAMEncoding(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	// A console-written revocation with fractional seconds, escaped as IAM
	// does, must be recognised (and here kept: its cut-off is ahead).
	cutoff := time.Now().Add(time.Hour).UTC().Format("2006-01-02T15:04:05.000Z")
	doc := `{"Version":"2012-10-17","Statement":{"Effect":"Deny","Action":"*","Resource":"*","Condition":{"DateLessThan":{"aws:tokenissuetime":"` + cutoff + `"}}}}`
	addUser(t, h, awsemu.UserSpec{Name: "alice", InlinePolicies: map[string]string{"AWSRevokeOlderSessions": doc}})
	res := h.execute("aws.iam.revoke_user_sessions", map[string]any{"user_name": "alice"})
	want, _ := time.Parse(time.RFC3339, cutoff)
	if res.Outputs["revoked_before"] != want.Format(time.RFC3339) || len(h.mutations()) != 0 {
		t.Errorf("outputs = %+v, mutations %v", res.Outputs, h.mutations())
	}
}

func toStrings(v any) []string {
	items, _ := v.([]any)
	out := []string{}
	for _, it := range items {
		s, _ := it.(string)
		out = append(out, s)
	}
	return out
}

// Approvals bind to the preview's hash and the gate re-previews just
// before acting, so a preview of an unchanged world must not change with
// the clock (revocation cut-offs are timestamps).
func TestRevocationPreviewIsStableOverTime(t *testing.T) {
	h := newHarness(t)
	fleet := h.fleet(awsemu.FleetSpec{Instances: 1, WithInstanceRole: true})
	params := map[string]any{"role_name": fleet.RoleName, "scope": "all_sessions"}
	first, err := h.run(actions.Preview, "aws.iam.revoke_role_sessions", params)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(1100 * time.Millisecond) // cross a second boundary: cut-offs are whole seconds
	second, err := h.run(actions.Preview, "aws.iam.revoke_role_sessions", params)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(first.Changes, second.Changes) {
		t.Errorf("previews differ:\n%v\n%v", first.Changes, second.Changes)
	}
}
