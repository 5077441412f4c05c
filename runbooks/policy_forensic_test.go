package runbooks

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
)

// The forensic role is granted the forensic permissions of the plans'
// actions, scoped with the forensic account and the evidence store; the
// key statement names the forensic account, the bucket policy the
// responder account's forensic profile role; the responder role keeps its
// own permissions only.
func TestForensicSideNamesBothAccounts(t *testing.T) {
	cat := policyCatalog(t)
	plan := stepsOf("t.handover")
	opts := PolicyOptions{AccountID: "111111111111", ForensicAccountID: "222222222222", EvidenceBucket: "acme-evidence",
		EvidencePrefix: "cases", PassRolePath: "/forensics/"}
	side, unscoped := ForensicSide(cat, opts, plan)
	if side == nil {
		t.Fatal("no forensic side for a plan acting in the forensic account")
	}
	put := statementFor(t, side.ForensicRole, "s3:PutObject")
	key := statementFor(t, side.ForensicRole, "kms:DescribeKey")
	if len(put) != 1 || strings.Join(put[0].Resource, " ") != "arn:aws:s3:::acme-evidence/cases/*" ||
		len(key) != 1 || strings.Join(key[0].Resource, " ") != "arn:aws:kms:*:222222222222:key/*" {
		t.Errorf("forensic role: %s", side.ForensicRole.JSON())
	}
	if !slices.Equal(unscoped, []Unscoped{{Permission: "ec2:CopySnapshot", Reason: "not verified"}}) {
		t.Errorf("unscoped %v", unscoped)
	}
	responder, _ := LeastPrivilegePolicy(cat, opts, plan)
	if len(statementFor(t, responder, "s3:PutObject")) != 0 || len(statementFor(t, responder, "ec2:ModifySnapshotAttribute")) != 1 {
		t.Errorf("responder role: %s", responder.JSON())
	}
	b, err := json.Marshal(side)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		`"AWS":"arn:aws:iam::222222222222:root"`, `"kms:ReEncrypt*"`,
		`"AWS":"arn:aws:iam::111111111111:role/forensics/cordon-forensic"`, `"Resource":"arn:aws:s3:::acme-evidence/cases/*"`,
		`"aws:SecureTransport":"false"`, `"Service":"ec2.amazonaws.com"`, `"ssm:UpdateInstanceInformation"`,
	} {
		if !strings.Contains(string(b), want) {
			t.Errorf("the forensic side lacks %s:\n%s", want, b)
		}
	}
	if ph := side.Placeholders(); len(ph) != 0 {
		t.Errorf("placeholders left: %v", ph)
	}
	// Without the accounts, the principals say which are missing.
	bare, _ := ForensicSide(cat, PolicyOptions{}, plan)
	if ph := bare.Placeholders(); !slices.Equal(ph, []string{"RESPONDER_ACCOUNT_ID", "FORENSIC_ACCOUNT_ID"}) {
		t.Errorf("placeholders %v", ph)
	}
	// A plan that never leaves its account has no forensic side.
	if side, _ := ForensicSide(cat, opts, stepsOf("t.bare")); side != nil {
		t.Errorf("a read-only plan has a forensic side: %+v", side)
	}
}

func TestForensicPolicyOptionsAreChecked(t *testing.T) {
	for _, bad := range []PolicyOptions{
		{ForensicAccountID: "2222"}, {EvidenceBucket: "Acme_Evidence"}, {EvidencePrefix: "cases/*"}, {ForensicProfileRole: "no/slash"},
	} {
		if bad.Validate() == nil {
			t.Errorf("%+v accepted", bad)
		}
	}
}
