package main

import (
	"context"
	"os"
	"strings"
	"testing"

	"github.com/cordon-ir/cordon/actions/wire"
	"github.com/cordon-ir/cordon/evidence"
	"github.com/cordon-ir/cordon/internal/awsemu"
	"github.com/cordon-ir/cordon/worker"
)

// forensicAccount owns the evidence bucket of the CLI's tests.
const forensicAccount = "210987654321"

// cordon evidence verify re-reads a case's artefacts from the store the
// configuration names, as the forensic account's role: exit 0 while they
// match the manifest, 1 naming the one altered behind S3's back (whose
// own checksum S3 recomputed, so only the manifest tells).
func TestEvidenceVerify(t *testing.T) {
	emu := awsemu.NewTestServer(t, awsemu.Options{})
	emu.UseCredentialsInEnv(t)
	role, err := emu.AddRole(awsemu.RoleSpec{Name: "cordon-forensics", Account: forensicAccount, TrustedPrincipals: []string{"arn:aws:iam::" + emu.AccountID() + ":root"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := emu.AddBucket(awsemu.BucketSpec{Name: "acme-evidence", Account: forensicAccount, ObjectLock: true,
		DefaultRetention: &awsemu.S3DefaultRetention{Mode: "COMPLIANCE", Days: 30}}); err != nil {
		t.Fatal(err)
	}
	config := t.TempDir() + "/cordon.yaml"
	yaml := strings.NewReplacer("REGION", emu.Region(), "URL", emu.URL(), "ROLE", role.ARN).Replace(
		"aws:\n  region: REGION\n  endpoint: URL\n  accounts:\n    forensic: {role_arn: ROLE}\n" +
			"evidence: {account: forensic, bucket: acme-evidence, prefix: cases/}\n")
	if err := os.WriteFile(config, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := worker.LoadConfig(config)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	store, err := worker.EvidenceStore(ctx, cfg, "test")
	if err != nil {
		t.Fatal(err)
	}
	run := wire.RunRef{RunID: "run-1", Incident: "INC-42", StepID: "triage"}
	var stored []wire.Artefact
	for _, name := range []string{"processes", "connections"} {
		a, _, err := store.Put(ctx, evidence.Item{Case: "INC-42", Kind: "triage", Subject: "i-0abc12345def67890", Name: name + ".txt", Run: run}, []byte("output of "+name))
		if err != nil {
			t.Fatal(err)
		}
		stored = append(stored, a)
	}

	out, errOut, code := cordon(t, "evidence", "verify", "INC-42", "--config", config)
	if code != 0 || strings.Count(out, "\nok ") != 2 || !strings.Contains(out, "all 2 artefact(s) match the manifest") {
		t.Fatalf("exit %d\n%s%s", code, out, errOut)
	}
	if err := emu.TamperObject(forensicAccount, "acme-evidence", stored[1].Key, stored[1].VersionID, []byte("output of connections, cleaned up")); err != nil {
		t.Fatal(err)
	}
	out, errOut, code = cordon(t, "evidence", "verify", "INC-42", "--config", config)
	if code != 1 || !strings.Contains(out, "ALTERED    triage i-0abc12345def67890  s3://acme-evidence/"+stored[1].Key) ||
		!strings.Contains(out, "1 of 2 artefact(s) do not match the manifest: "+stored[1].Key+" (ALTERED)") {
		t.Fatalf("after tampering: exit %d\n%s%s", code, out, errOut)
	}
	out, _, code = cordon(t, "evidence", "verify", "INC-42", "--config", config, "--json")
	if code != 1 || !strings.Contains(out, `"verdict": "ALTERED"`) {
		t.Errorf("--json: exit %d\n%s", code, out)
	}

	for _, c := range []struct {
		args []string
		code int
		says string
	}{
		{[]string{"evidence", "verify", "INC-43", "--config", config}, 1, "case INC-43 has no manifest"},
		{[]string{"evidence", "verify", "INC-42"}, 2, "--config FILE is required"},
		{[]string{"evidence", "verify", "../INC-42", "--config", config}, 2, "a case is an incident or run id"},
		{[]string{"evidence", "check", "INC-42"}, 2, `unknown subcommand "check"`},
	} {
		t.Setenv("CORDON_CONFIG", "")
		if _, errOut, code := cordon(t, c.args...); code != c.code || !strings.Contains(errOut, c.says) {
			t.Errorf("cordon %s: exit %d, stderr %q; want %d saying %q", strings.Join(c.args, " "), code, errOut, c.code, c.says)
		}
	}
}
