package actions_test

import (
	"strings"
	"testing"

	"github.com/cordon-ir/cordon/actions"
	"github.com/cordon-ir/cordon/evidence"
	"github.com/cordon-ir/cordon/internal/awsemu"
)

// forensicProfileSeed seeds an instance with its application role, and
// the forensic profile and role the setup creates beforehand.
func forensicProfileSeed(h *harness) map[string]any {
	h.t.Helper()
	fleet := h.fleet(awsemu.FleetSpec{Instances: 1, WithInstanceRole: true})
	if _, err := h.emu.AddRole(awsemu.RoleSpec{Name: "cordon-forensic", Path: "/forensics/", InstanceProfile: true}); err != nil {
		h.t.Fatal(err)
	}
	return map[string]any{"instance_id": fleet.InstanceIDs[0]}
}

// hasForensicProfile checks on the emulator that the instance has the
// forensic profile, and the record of the one it had.
func hasForensicProfile(t *testing.T, h *harness, params map[string]any) {
	t.Helper()
	in := instanceOf(h, params["instance_id"].(string))
	if !strings.HasSuffix(in.InstanceProfileARN, "/cordon-forensic") || !strings.HasSuffix(in.Tags[actions.TagPriorInstanceProfile], "/confluence-app") ||
		in.Tags[actions.TagQuarantineInstanceProfile] != in.InstanceProfileARN {
		t.Errorf("instance profile %s, tags %v", in.InstanceProfileARN, in.Tags)
	}
}

func forensicProfileContracts() []contractCase {
	return []contractCase{{
		action:     "aws.iam.replace_instance_profile",
		seed:       forensicProfileSeed,
		done:       hasForensicProfile,
		permission: "ec2:ReplaceIamInstanceProfileAssociation",
		missing:    missingInstanceParams,
	}}
}

// With an evidence store, the forensic role may write this host's prefix
// of the case, and only with this instance's credentials; the revocation
// that follows still denies the application role, found through the
// record; the restore gives the instance its profile back.
func TestForensicProfileWritesOnlyItsEvidence(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	params := forensicProfileSeed(h)
	id := params["instance_id"].(string)
	h.evidence = evidence.Config{Account: "forensic", Bucket: "cordon-evidence", Prefix: "cases/"}
	h.rt = h.runtime(nil)
	res := h.execute("aws.iam.replace_instance_profile", params)
	hasForensicProfile(t, h, params)
	if res.Outputs["evidence_prefix"] != "s3://cordon-evidence/cases/INC-42/"+id+"/" || res.Outputs["evidence_policy"] != "CordonEvidence-"+id {
		t.Errorf("outputs %v", res.Outputs)
	}
	role := held(t, "role", "cordon-forensic", h.emu.Role)
	doc := role.InlinePolicies["CordonEvidence-"+id]
	for _, want := range []string{`"s3:PutObject"`, `"arn:aws:s3:::cordon-evidence/cases/INC-42/` + id + `/*"`,
		`"ec2:SourceInstanceARN":"arn:aws:ec2:` + h.emu.Region() + `:` + h.emu.AccountID() + `:instance/` + id + `"`} {
		if !strings.Contains(doc, want) {
			t.Errorf("the forensic role's policy %s lacks %s", doc, want)
		}
	}
	h.assertDeclared("aws.iam.replace_instance_profile")
	// Another case: the grant follows it.
	params["case"] = "INC-43"
	if res := h.execute("aws.iam.replace_instance_profile", params); res.Outputs["evidence_prefix"] != "s3://cordon-evidence/cases/INC-43/"+id+"/" {
		t.Errorf("case INC-43: %v", res.Outputs["evidence_prefix"])
	}
	delete(params, "case")
	h.execute("aws.iam.replace_instance_profile", params)

	revoke := h.execute("aws.iam.revoke_role_sessions", map[string]any{"instance_id": id})
	if revoke.Outputs["role_name"] != "confluence-app" {
		t.Errorf("after the forensic swap, the revocation denied %v, want the application role", revoke.Outputs["role_name"])
	}
	if _, ok := held(t, "role", "confluence-app", h.emu.Role).InlinePolicies["CordonDenyInstance-"+id]; !ok {
		t.Error("the application role does not deny the instance's credentials")
	}
	h.execute("aws.ec2.restore_instance_profile", map[string]any{"instance_id": id})
	if in := instanceOf(h, id); !strings.HasSuffix(in.InstanceProfileARN, "/confluence-app") {
		t.Errorf("restored profile %s", in.InstanceProfileARN)
	}
}

// Without an evidence store the swap still happens, and says the host has
// nowhere to upload; an instance without a profile, or a forensic profile
// that does not exist, is refused before any change.
func TestForensicProfileRefusals(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	params := forensicProfileSeed(h)
	res := h.execute("aws.iam.replace_instance_profile", params)
	if !hasNote(res.Notes, "no evidence store is configured") || res.Outputs["evidence_prefix"] != "" {
		t.Errorf("without a store: notes %q, outputs %v", res.Notes, res.Outputs)
	}
	h.emu.ResetCalls()
	bare := h.fleet(awsemu.FleetSpec{Instances: 1, NamePrefix: "bare"}).InstanceIDs[0]
	_, err := h.run(actions.Execute, "aws.iam.replace_instance_profile", map[string]any{"instance_id": bare})
	if !permanentFailure(err, actions.ErrInvalid, bare+" has no instance profile") {
		t.Errorf("no profile: %v", err)
	}
	_, err = h.run(actions.Preview, "aws.iam.replace_instance_profile", map[string]any{"instance_id": params["instance_id"], "instance_profile": "nowhere"})
	if !permanentFailure(err, actions.ErrNotFound, "nowhere") {
		t.Errorf("a forensic profile that does not exist: %v", err)
	}
	h.assertNoMutation()
}
