package actions_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/cordon-ir/cordon/actions"
	"github.com/cordon-ir/cordon/internal/awsemu"
)

const (
	prodRoleName   = "cordon-responder"
	prodExternalID = "incident-response-7f3a"
)

// accountHarness is a runtime whose worker reaches the "prod" account by
// assuming a role through STS, as production workers do.
func accountHarness(t *testing.T, externalID string) (*harness, awsemu.Role) {
	t.Helper()
	h := newHarness(t)
	r, err := h.emu.AddRole(awsemu.RoleSpec{Name: prodRoleName, RequiredExternalID: prodExternalID})
	if err != nil {
		t.Fatal(err)
	}
	h.rt = h.runtime(map[string]actions.Account{"prod": {RoleARN: r.ARN, ExternalID: externalID}})
	return h, r
}

// runIn executes an action in the given account, as the workflow would.
func (h *harness) runIn(account, action string, params map[string]any) (actions.Result, error) {
	h.t.Helper()
	return h.runCall(actions.Call{
		Action: action, Params: params, Mode: actions.Execute,
		Target: actions.Target{Account: account, Region: h.emu.Region()},
		Run:    actions.RunRef{RunID: "run-7", StepID: "deactivate", StartedAt: time.Now()},
	})
}

// sessionCredentials lists what identifies the assumed-role session: its
// access key ids, as the emulator saw them.
func sessionKeyIDs(h *harness) []string {
	var ids []string
	for _, c := range h.emu.Calls() {
		if strings.HasPrefix(c.AccessKeyID, "ASIA") {
			ids = append(ids, c.AccessKeyID)
		}
	}
	return ids
}

func TestAccountCallsAreMadeAsTheAssumedRole(t *testing.T) {
	t.Parallel()
	h, r := accountHarness(t, prodExternalID)
	u := addUser(t, h, awsemu.UserSpec{Name: "ci-deploy", AccessKeys: 1})

	res, err := h.runIn("prod", "aws.iam.deactivate_access_keys", map[string]any{"user_name": "ci-deploy"})
	if err != nil {
		t.Fatal(err)
	}
	if k := user(t, h, "ci-deploy").AccessKeys[0]; k.Status != "Inactive" {
		t.Errorf("key is %s", k.Status)
	}
	// CloudTrail (here: the emulator's call log) ties each call to the
	// role and to the run, through the session name.
	wantPrincipal := "arn:aws:sts::" + h.emu.AccountID() + ":assumed-role/" + prodRoleName + "/cordon-run-7"
	assumed := 0
	for _, c := range h.emu.Calls() {
		switch {
		case c.IAMAction == "sts:AssumeRole":
			assumed++
		case c.Principal != wantPrincipal:
			t.Errorf("%s was made as %s, want %s", c.IAMAction, c.Principal, wantPrincipal)
		}
	}
	if assumed != 1 || len(h.mutations()) != 1 || h.mutations()[0] != "iam:UpdateAccessKey" {
		t.Errorf("AssumeRole calls %d, mutations %v", assumed, h.mutations())
	}

	// Nothing that authenticates, neither the session's keys nor its
	// token nor the user's secret, reaches the result (workflow history).
	blob, err := json.Marshal(res)
	if err != nil {
		t.Fatal(err)
	}
	secrets := append(sessionKeyIDs(h), "FwoGZXIvYXdzE", u.AccessKeys[0].SecretAccessKey, awsemu.DefaultSecretAccessKey+`"`)
	for _, s := range secrets {
		if strings.Contains(string(blob), s) {
			t.Errorf("result carries a credential (%s): %s", s, blob)
		}
	}
	if len(sessionKeyIDs(h)) == 0 {
		t.Error("no call used the session's credentials")
	}

	// A deny on the role covers its sessions: the worker really acts as it.
	h.emu.Deny(r.ARN, "iam:ListAccessKeys")
	_, err = h.runIn("prod", "aws.iam.deactivate_access_keys", map[string]any{"user_name": "ci-deploy"})
	if err == nil || errorType(err) != actions.ErrAccessDenied {
		t.Errorf("denied to the role: err = %v", err)
	}
}

func TestAccountWithWrongExternalIDIsDenied(t *testing.T) {
	t.Parallel()
	h, _ := accountHarness(t, "guessed")
	addUser(t, h, awsemu.UserSpec{Name: "ci-deploy", AccessKeys: 1})
	_, err := h.runIn("prod", "aws.iam.deactivate_access_keys", map[string]any{"user_name": "ci-deploy"})
	if !permanentFailure(err, actions.ErrAccessDenied, "sts:AssumeRole") {
		t.Fatalf("err = %v (type %q)", err, errorType(err))
	}
	for _, s := range append(sessionKeyIDs(h), "FwoGZXIvYXdzE") {
		if strings.Contains(err.Error(), s) {
			t.Errorf("error carries a credential: %v", err)
		}
	}
	h.assertNoMutation()
	for _, c := range h.emu.Calls() {
		if c.IAMAction != "sts:AssumeRole" {
			t.Errorf("%s was called without the role", c.IAMAction)
		}
	}
}

func TestUnknownAccountIsAClearError(t *testing.T) {
	t.Parallel()
	h, _ := accountHarness(t, prodExternalID)
	_, err := h.runIn("staging", "aws.iam.deactivate_access_keys", map[string]any{"user_name": "ci-deploy"})
	if !permanentFailure(err, actions.ErrBadParams, `account "staging" is not in the worker configuration`) {
		t.Fatalf("err = %v", err)
	}
	if n := len(h.emu.Calls()); n != 0 {
		t.Errorf("%d AWS calls made for an unknown account", n)
	}
}
