package demo

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/cordon-ir/cordon/actions"
	"github.com/cordon-ir/cordon/evidence"
	"github.com/cordon-ir/cordon/internal/awsemu"
	"github.com/cordon-ir/cordon/runbooks"
	"github.com/cordon-ir/cordon/worker"
)

// The forensic side of the story, set up as docs/forensics.md tells an
// operator to: a second account, out of the attacker's reach, whose role
// the worker assumes; the evidence bucket there, with Object Lock and a
// default compliance retention; the keys of the disk handover; the
// forensic instance profile in the compromised account; and the SSM agent
// on the Confluence servers. The bucket's policy and the handover key's
// statement are the very documents `cordon policy` prints for the demo's
// runbooks: the demo applies what Cordon tells operators to apply.

const (
	forensicAccountID = "210987654321"
	forensicAccount   = "forensic"   // its name in the worker configuration
	productionAccount = "production" // the runbooks' default target account
	forensicRole      = "cordon-forensics"
	evidenceBucket    = "cordon-demo-evidence"
	evidencePrefix    = "cases/"
	// forensicProfile is the instance profile a compromised host gets
	// (aws.iam.replace_instance_profile's default).
	forensicProfile = "cordon-forensic"
	handoverKey     = "alias/cordon-handover"
	forensicKey     = "alias/cordon-evidence"
	// The memory acquisition tool the runbook names, as an organisation's
	// mirror of an AVML release would be; the emulator's agent downloads
	// and runs nothing, it returns each host's deterministic image.
	memoryToolURL    = "https://tools.cordon-demo.example/avml/v0.14.0/avml"
	memoryToolSHA256 = "5b1d0e3b4b1c2e7f9a0c8d6e4f2a1b3c5d7e9f0a2b4c6d8e0f1a3b5c7d9e1f20"
)

// Forensics is the forensic side as seeded: what the worker's
// configuration names.
type Forensics struct {
	AccountID string
	RoleARN   string
	Evidence  evidence.Config
	// ProductionAccountID is the runbooks' target account's id (the
	// emulator's): the worker maps the findings of the intake's runs to
	// the account by it.
	ProductionAccountID string
}

// accounts are the worker configuration's aws.accounts for the demo: the
// runbooks' target account through the worker's own credentials, and the
// forensic account through its role.
func (f Forensics) accounts() map[string]worker.AccountConfig {
	return map[string]worker.AccountConfig{productionAccount: {AccountID: f.ProductionAccountID}, forensicAccount: {RoleARN: f.RoleARN}}
}

// runtimeAccounts are the same accounts as the action runtime takes them.
func (f Forensics) runtimeAccounts() map[string]actions.Account {
	out := map[string]actions.Account{}
	for name, a := range f.accounts() {
		out[name] = actions.Account{RoleARN: a.RoleARN, ExternalID: a.ExternalID}
	}
	return out
}

// SeedForensics seeds the forensic account and what the compromised
// account needs for the handover, with the policies `cordon policy`
// prints for plans.
func SeedForensics(emu *awsemu.Emulator, plans ...*runbooks.Plan) (Forensics, error) {
	f := Forensics{AccountID: forensicAccountID, ProductionAccountID: emu.AccountID(),
		Evidence: evidence.Config{Account: forensicAccount, Bucket: evidenceBucket, Prefix: evidencePrefix}}
	role, err := emu.AddRole(awsemu.RoleSpec{Name: forensicRole, Account: forensicAccountID,
		TrustedPrincipals: []string{"arn:aws:iam::" + emu.AccountID() + ":root"}})
	if err != nil {
		return f, fmt.Errorf("seed the forensic account's role: %w", err)
	}
	f.RoleARN = role.ARN
	if _, err := emu.AddRole(awsemu.RoleSpec{Name: forensicProfile, InstanceProfile: true}); err != nil {
		return f, fmt.Errorf("seed the forensic instance profile: %w", err)
	}
	side, _ := runbooks.ForensicSide(actions.Catalog(), runbooks.PolicyOptions{AccountID: emu.AccountID(), ForensicAccountID: forensicAccountID,
		EvidenceBucket: evidenceBucket, EvidencePrefix: evidencePrefix, ForensicProfileRole: forensicProfile}, plans...)
	bucket := awsemu.BucketSpec{Name: evidenceBucket, Account: forensicAccountID, ObjectLock: true,
		DefaultRetention: &awsemu.S3DefaultRetention{Mode: "COMPLIANCE", Days: 30}}
	keyPolicy := []any{map[string]any{"Sid": "AccountRoot", "Effect": "Allow", "Principal": map[string]any{"AWS": "arn:aws:iam::" + emu.AccountID() + ":root"},
		"Action": "kms:*", "Resource": "*"}}
	if side != nil {
		policy, err := json.Marshal(side.EvidenceBucket)
		if err != nil {
			return f, fmt.Errorf("encode the evidence bucket's policy: %w", err)
		}
		bucket.Policy = string(policy)
		for _, st := range side.HandoverKey {
			keyPolicy = append(keyPolicy, st)
		}
	}
	if err := emu.AddBucket(bucket); err != nil {
		return f, fmt.Errorf("seed the evidence bucket: %w", err)
	}
	policy, err := json.Marshal(map[string]any{"Version": "2012-10-17", "Statement": keyPolicy})
	if err != nil {
		return f, fmt.Errorf("encode the handover key's policy: %w", err)
	}
	if _, err := emu.AddKMSKey(awsemu.KMSKeySpec{Alias: handoverKey, Description: "shares evidence snapshots with the forensic account", Policy: string(policy)}); err != nil {
		return f, fmt.Errorf("seed the handover key: %w", err)
	}
	if _, err := emu.AddKMSKey(awsemu.KMSKeySpec{Account: forensicAccountID, Alias: forensicKey, Description: "the forensic account's own evidence key"}); err != nil {
		return f, fmt.Errorf("seed the forensic account's key: %w", err)
	}
	return f, nil
}

// registerAgents gives every Confluence server an SSM agent, as the fleet's
// AMI has: memory and triage run through it.
func registerAgents(emu *awsemu.Emulator, story Story) error {
	for _, id := range story.Fleet.InstanceIDs {
		if err := emu.SetSSMManaged("", "", id, "Linux"); err != nil {
			return fmt.Errorf("register the SSM agent of %s: %w", id, err)
		}
	}
	return nil
}

// verifyEvidence re-reads every artefact of the demo's case, as the
// forensic account's role, with the code of `cordon evidence verify`.
func verifyEvidence(ctx context.Context, clients actions.ClientSource, f Forensics, caseID string) (evidence.Verification, error) {
	c, err := clients.Clients(ctx, actions.Target{Account: f.Evidence.Account}, actions.RunRef{RunID: "demo-evidence-verify"})
	if err != nil {
		return evidence.Verification{}, fmt.Errorf("reach the evidence store: %w", err)
	}
	return evidence.New(c.S3, f.Evidence, nil).Verify(ctx, caseID)
}
