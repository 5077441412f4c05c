package actions_test

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"

	"github.com/cordon-ir/cordon/actions"
	"github.com/cordon-ir/cordon/internal/awsemu"
)

// handoverKeyPolicy keeps the owner's root and lets the forensic account
// use the key for EBS, as the EBS guide lists; perms narrows what the
// forensic account gets.
func handoverKeyPolicy(owner string, perms ...string) string {
	if len(perms) == 0 {
		perms = []string{"kms:DescribeKey", "kms:CreateGrant", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*"}
	}
	return `{"Version":"2012-10-17","Statement":[` +
		`{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::` + owner + `:root"},"Action":"kms:*","Resource":"*"},` +
		`{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::` + forensicAccountID + `:root"},"Action":["` +
		strings.Join(perms, `","`) + `"],"Resource":"*"}]}`
}

// handoverWorld seeds the two accounts of a handover: the forensic
// account and its role, the handover key (with policy, empty for the EBS
// guide's) and the forensic account's own key. It returns the handover
// key's ARN.
func handoverWorld(h *harness, policy string) string {
	h.t.Helper()
	h.withForensicAccount()
	return handoverKeys(h, policy)
}

// handoverKeys seeds the keys of a handover, in an emulator that has the
// forensic account already.
func handoverKeys(h *harness, policy string) string {
	h.t.Helper()
	if policy == "" {
		policy = handoverKeyPolicy(h.emu.AccountID())
	}
	key, err := h.emu.AddKMSKey(awsemu.KMSKeySpec{Alias: "alias/cordon-handover", Policy: policy})
	if err != nil {
		h.t.Fatal(err)
	}
	if _, err := h.emu.AddKMSKey(awsemu.KMSKeySpec{Account: forensicAccountID, Alias: "alias/cordon-evidence"}); err != nil {
		h.t.Fatal(err)
	}
	return key.ARN
}

// evidenceSnapshots snapshots a new instance's volumes (encrypted as
// spec says) in an earlier step of the run, and returns the step
// parameters handing them over. The calls it made are forgotten.
func evidenceSnapshots(h *harness, spec awsemu.InstanceSpec) map[string]any {
	h.t.Helper()
	in, err := h.emu.AddInstance(spec)
	if err != nil {
		h.t.Fatal(err)
	}
	snap := actions.Call{Action: "aws.ec2.snapshot_volumes", Mode: actions.Execute, Params: map[string]any{"instance_id": in.ID},
		Target: actions.Target{Region: h.emu.Region()}, Run: actions.RunRef{RunID: "run-1", Incident: "INC-42", StepID: "snapshot"}}
	res, err := h.runCall(snap)
	if err != nil {
		h.t.Fatal(err)
	}
	h.emu.ResetCalls()
	return map[string]any{"snapshot_ids": res.Outputs["snapshot_ids"], "forensic_account": "forensic"}
}

func handoverSeed(spec awsemu.InstanceSpec) func(h *harness) map[string]any {
	return func(h *harness) map[string]any {
		handoverWorld(h, "")
		return evidenceSnapshots(h, spec)
	}
}

// forensicCopies lists the forensic account's snapshots in one of the
// states (any when none is given) by the evidence snapshot they descend
// from.
func forensicCopies(h *harness, states ...string) map[string][]awsemu.Snapshot {
	state, _ := h.emu.AccountState(forensicAccountID)
	out := map[string][]awsemu.Snapshot{}
	for _, s := range state.Snapshots {
		if len(states) == 0 || slices.Contains(states, s.State) {
			out[s.Tags["cordon:handover-source"]] = append(out[s.Tags["cordon:handover-source"]], s)
		}
	}
	return out
}

// handedOver checks, on what the forensic account holds, that each
// evidence snapshot has one completed, locked copy there under the
// forensic account's own key, and that the evidence snapshots are locked.
func handedOver(t *testing.T, h *harness, params map[string]any) {
	t.Helper()
	forensicKey := ""
	for _, k := range h.emu.KMSKeys(forensicAccountID) {
		if slices.Contains(k.Aliases, "alias/cordon-evidence") {
			forensicKey = k.ARN
		}
	}
	// A copy EC2 gave up on stays, in state error, as in AWS.
	copies := forensicCopies(h, "pending", "completed")
	ids := params["snapshot_ids"].([]any)
	if len(ids) == 0 {
		t.Fatal("no evidence snapshot to hand over")
	}
	for _, id := range ids {
		got := copies[id.(string)]
		if len(got) != 1 {
			t.Errorf("%s: %d forensic copies, want 1", id, len(got))
			continue
		}
		c := got[0]
		if c.State != "completed" || c.OwnerID != forensicAccountID || c.KMSKeyID != forensicKey || c.Lock == nil || c.Lock.Mode != "governance" {
			t.Errorf("forensic copy of %s: state %s owner %s key %s lock %+v", id, c.State, c.OwnerID, c.KMSKeyID, c.Lock)
		}
		for _, s := range h.emu.Snapshots() {
			if s.ID == id && (s.Lock == nil || s.Lock.Mode != "governance") {
				t.Errorf("evidence snapshot %s is not locked: %+v", id, s.Lock)
			}
		}
	}
}

func handoverContracts() []contractCase {
	return []contractCase{{
		action:     "aws.ec2.handover_snapshots",
		seed:       handoverSeed(awsemu.InstanceSpec{Volumes: 2, EncryptedVolumes: true}),
		done:       handedOver,
		permission: "ec2:CopySnapshot",
		missing: func(h *harness) (map[string]any, string) {
			return map[string]any{"snapshot_ids": []any{"snap-0000000000000dead"}, "forensic_account": "forensic"}, "snap-0000000000000dead"
		},
	}}
}

// A disk encrypted with the default aws/ebs key cannot be shared: the
// step copies it to the handover key first and says so; the copy is what
// the forensic account sees, and its own copy is under its own key.
func TestHandoverOfADefaultKeyVolume(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	handoverKey := handoverWorld(h, "")
	params := evidenceSnapshots(h, awsemu.InstanceSpec{Volumes: 1, EncryptedVolumes: true})
	res := h.execute("aws.ec2.handover_snapshots", params)
	handedOver(t, h, params)
	if !hasNote(res.Notes, "encrypted with the AWS managed key aws/ebs, which cannot be shared") {
		t.Errorf("notes %q do not say why the snapshot was copied first", res.Notes)
	}
	source := params["snapshot_ids"].([]any)[0].(string)
	var shared awsemu.Snapshot
	for _, s := range h.emu.Snapshots() {
		if s.SourceSnapshotID == source {
			shared = s
		}
	}
	if shared.KMSKeyID != handoverKey || !slices.Equal(shared.CreateVolumePermissions, []string{forensicAccountID}) {
		t.Errorf("handover copy %s: key %s, shared with %v", shared.ID, shared.KMSKeyID, shared.CreateVolumePermissions)
	}
	for _, s := range h.emu.Snapshots() {
		if s.ID == source && len(s.CreateVolumePermissions) != 0 {
			t.Errorf("the aws/ebs snapshot itself was shared: %v", s.CreateVolumePermissions)
		}
	}
	snaps := res.Outputs["snapshots"].([]any)
	entry := snaps[0].(map[string]any)
	if entry["handover_snapshot_id"] != shared.ID || res.Outputs["forensic_account_id"] != forensicAccountID ||
		res.Outputs["forensic_snapshot_ids"].([]any)[0] != forensicCopies(h)[source][0].ID {
		t.Errorf("outputs %+v", res.Outputs)
	}
	h.assertDeclared("aws.ec2.handover_snapshots")
}

// An unencrypted disk's handover copy is encrypted with the handover key.
func TestHandoverOfAnUnencryptedVolume(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	handoverKey := handoverWorld(h, "")
	params := evidenceSnapshots(h, awsemu.InstanceSpec{Volumes: 1})
	res := h.execute("aws.ec2.handover_snapshots", params)
	handedOver(t, h, params)
	if !hasNote(res.Notes, "is not encrypted") {
		t.Errorf("notes %q", res.Notes)
	}
	for _, s := range h.emu.Snapshots() {
		if s.SourceSnapshotID != "" && (!s.Encrypted || s.KMSKeyID != handoverKey) {
			t.Errorf("handover copy %s: encrypted %v with %s", s.ID, s.Encrypted, s.KMSKeyID)
		}
	}
}

// A handover key the forensic account may not use is refused before
// anything changes, naming the key policy to fix; a key policy that lets
// it see the key but not use it makes EC2 fail the forensic copy, and the
// step says which key. A re-run after the key policy is fixed completes
// the handover without copying again what was copied.
func TestHandoverWithAKeyTheForensicAccountMayNotUse(t *testing.T) {
	t.Parallel()
	t.Run("not shared at all", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t)
		handoverWorld(h, `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::`+h.emu.AccountID()+`:root"},"Action":"kms:*","Resource":"*"}]}`)
		params := evidenceSnapshots(h, awsemu.InstanceSpec{Volumes: 1, EncryptedVolumes: true})
		for _, mode := range []actions.Mode{actions.Preview, actions.Execute} {
			_, err := h.run(mode, "aws.ec2.handover_snapshots", params)
			if !permanentFailure(err, actions.ErrAccessDenied, "the forensic account may not use the handover key", "arn:aws:iam::"+forensicAccountID+":root") {
				t.Errorf("%s: err = %v", mode, err)
			}
		}
		h.assertNoMutation()
	})
	t.Run("visible but not usable", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t)
		handoverWorld(h, handoverKeyPolicy(h.emu.AccountID(), "kms:DescribeKey"))
		params := evidenceSnapshots(h, awsemu.InstanceSpec{Volumes: 1, EncryptedVolumes: true})
		_, err := h.run(actions.Execute, "aws.ec2.handover_snapshots", params)
		if !permanentFailure(err, actions.ErrAccessDenied, "Given key ID is not accessible", "the handover key", "must let account "+forensicAccountID) {
			t.Fatalf("err = %v", err)
		}
		if n, failed := len(forensicCopies(h)), len(forensicCopies(h, "error")); n != 1 || failed != 1 {
			t.Errorf("%d copies in the forensic account, %d failed: want the one that failed", n, failed)
		}
		// The key policy is fixed; the step runs again and makes only the
		// forensic copy: the handover copy it shared is reused.
		fixKeyPolicy(t, h)
		copiesBefore := countCalls(h, "ec2:CopySnapshot", false)
		h.execute("aws.ec2.handover_snapshots", params)
		handedOver(t, h, params)
		if n := countCalls(h, "ec2:CopySnapshot", false) - copiesBefore; n != 1 {
			t.Errorf("the re-run made %d copies, want only the forensic account's", n)
		}
	})
}

// fixKeyPolicy gives the handover key the EBS guide's policy, as its
// owner would.
func fixKeyPolicy(t *testing.T, h *harness) {
	t.Helper()
	_, err := kms.NewFromConfig(h.emu.AWSConfig()).PutKeyPolicy(context.Background(), &kms.PutKeyPolicyInput{
		KeyId: aws.String("alias/cordon-handover"), Policy: aws.String(handoverKeyPolicy(h.emu.AccountID())), PolicyName: aws.String("default"),
	})
	if err != nil {
		t.Fatal(err)
	}
}

// An AWS managed key cannot be the handover key, and the forensic key
// must be the forensic account's own: both refused before any change.
func TestHandoverRefusesKeysThatCannotWork(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	handoverWorld(h, "")
	params := evidenceSnapshots(h, awsemu.InstanceSpec{Volumes: 1, EncryptedVolumes: true})
	params["handover_kms_key_id"] = "alias/aws/ebs"
	_, err := h.run(actions.Preview, "aws.ec2.handover_snapshots", params)
	if !permanentFailure(err, actions.ErrBadParams, "AWS managed key") {
		t.Errorf("aws/ebs as the handover key: %v", err)
	}
	params["handover_kms_key_id"] = "alias/cordon-handover"
	params["forensic_kms_key_id"] = "alias/nowhere"
	_, err = h.run(actions.Preview, "aws.ec2.handover_snapshots", params)
	if !permanentFailure(err, actions.ErrNotFound, "forensic key alias/nowhere") {
		t.Errorf("a forensic key that does not exist: %v", err)
	}
	h.assertNoMutation()
}

// With an evidence store, the handover's record is an artefact of the
// case, of the instance the snapshots were taken of: what went where,
// under which keys. A second run records nothing new.
func TestHandoverRecordIsEvidence(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.withEvidenceStore(lockedBucket())
	handoverKeys(h, "")
	params := evidenceSnapshots(h, awsemu.InstanceSpec{Volumes: 2, EncryptedVolumes: true})
	res := h.execute("aws.ec2.handover_snapshots", params)
	m := manifestOf(t, h)
	if len(m.Artefacts) != 1 || len(res.Artefacts) != 1 {
		t.Fatalf("manifest %+v, result artefacts %+v: want the handover's record", m.Artefacts, res.Artefacts)
	}
	a := m.Artefacts[0]
	source := params["snapshot_ids"].([]any)[0].(string)
	var instance string
	for _, s := range h.emu.Snapshots() {
		if s.ID == source {
			instance = s.Tags["cordon:instance"]
		}
	}
	if a.Kind != "snapshots" || a.Subject != instance || instance == "" || !strings.HasSuffix(a.Key, "/handover.json") || a.RunID != "run-1" {
		t.Errorf("artefact %+v, want the snapshots of %s", a, instance)
	}
	obj, ok := h.emu.S3Object(evidenceBucket, a.Key, a.VersionID)
	if !ok || obj.SHA256 != a.SHA256 {
		t.Fatalf("stored %+v, manifest says %s", obj, a.SHA256)
	}
	var record struct {
		ForensicAccount string `json:"forensic_account"`
		Snapshots       []struct {
			Source   string `json:"source_snapshot_id"`
			Forensic string `json:"forensic_snapshot_id"`
		} `json:"snapshots"`
	}
	if err := json.Unmarshal(obj.Body, &record); err != nil || record.ForensicAccount != forensicAccountID || len(record.Snapshots) != 2 {
		t.Fatalf("the record %s: %v", obj.Body, err)
	}
	for i, s := range record.Snapshots {
		if s.Forensic != res.Outputs["forensic_snapshot_ids"].([]any)[i] {
			t.Errorf("record %+v, outputs %v", record.Snapshots, res.Outputs["forensic_snapshot_ids"])
		}
	}
	h.execute("aws.ec2.handover_snapshots", params)
	if again := manifestOf(t, h); again.Revision != m.Revision {
		t.Errorf("a second run changed the manifest: revision %d then %d", m.Revision, again.Revision)
	}
}
