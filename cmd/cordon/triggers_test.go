package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var triggerRunbooks = []string{"examples/ec2-compromise.yaml", "examples/iam-credential-compromise.yaml"}

// triggersTestArgs is the command line of cordon triggers test on the example
// runbooks and the event in triggers/testdata, with extra flags.
func triggersTestArgs(event string, extra ...string) []string {
	args := append(append([]string{"triggers", "test"}, triggerRunbooks...), "--event", "triggers/testdata/"+event)
	return append(args, extra...)
}

func TestTriggersTestOnAFinding(t *testing.T) {
	out := cordonOK(t, triggersTestArgs("guardduty-ec2.json")...)
	mustContain(t, "output", out,
		"finding key  guardduty/123456789012/eu-west-1/8ab933f8a9b7e6c2b1a3d4e5f6a7b8c9",
		"target key   123456789012/eu-west-1/instance/i-0abc12345def67890",
		"propose      ec2-compromise / guardduty-ec2-high  instance_id=i-0abc12345def67890 region=eu-west-1",
		"drop         iam-credential-compromise / guardduty-iam-user: type CryptoCurrency:EC2/BitcoinTool.B!DNS matches none of *:IAMUser/*",
	)
}

func TestTriggersTestOnAnSQSResponse(t *testing.T) {
	out := cordonOK(t, triggersTestArgs("sqs-receive.json")...)
	if n := strings.Count(out, "(SQS message "); n != 4 {
		t.Errorf("%d events, want 4:\n%s", n, out)
	}
	mustContain(t, "output", out,
		"propose      iam-credential-compromise / health-credentials-exposed  access_key_id=AKIAIOSFODNN7EXAMPLE compromised_since=2019-09-10T19:06:00Z",
		"drop         (every trigger): a sample finding",
	)

	out = cordonOK(t, triggersTestArgs("sqs-receive.json", "--json")...)
	var reports []struct {
		MessageID string `json:"message_id"`
		Findings  []struct {
			Finding struct {
				Key string `json:"key"`
			} `json:"finding"`
			Decisions []struct {
				Decision   string         `json:"decision"`
				Runbook    string         `json:"runbook"`
				Inputs     map[string]any `json:"inputs"`
				FindingKey string         `json:"finding_key"`
				Reason     string         `json:"reason"`
			} `json:"decisions"`
		} `json:"findings"`
	}
	if err := json.Unmarshal([]byte(out), &reports); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, out)
	}
	if len(reports) != 4 || reports[0].MessageID != "5fea7756-0ea4-451a-a703-a558b933e274" {
		t.Fatalf("reports: %+v", reports)
	}
	// The GuardDuty finding and its Security Hub copy: one key.
	if k0, k1 := reports[0].Findings[0].Finding.Key, reports[1].Findings[0].Finding.Key; k0 == "" || k0 != k1 {
		t.Errorf("keys %q and %q", k0, k1)
	}
	d := reports[0].Findings[0].Decisions[0]
	if d.Decision != "propose" || d.Runbook != "ec2-compromise" || d.Inputs["instance_id"] != "i-0abc12345def67890" || d.FindingKey == "" {
		t.Errorf("first decision: %+v", d)
	}
	if d := reports[3].Findings[0].Decisions[0]; d.Decision != "drop" || !strings.Contains(d.Reason, "sample") {
		t.Errorf("sample: %+v", d)
	}
}

func TestTriggersTestOnMalformedInput(t *testing.T) {
	out, errOut, code := cordon(t, triggersTestArgs("malformed.json")...)
	if code != 1 || !strings.Contains(errOut, "parse input") {
		t.Errorf("exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	// One bad message in a batch: reported, the others still decided, exit 1.
	batch := filepath.Join(t.TempDir(), "batch.json")
	body := `{"Messages":[{"MessageId":"m-bad","Body":"{\"source\": \"aws.guardduty\", \"detail-"},` +
		`{"MessageId":"m-unknown","Body":"{\"id\":\"e1\",\"source\":\"aws.ec2\",\"detail-type\":\"EC2 Spot Instance Interruption Warning\",\"detail\":{}}"}]}`
	if err := os.WriteFile(batch, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	out, errOut, code = cordon(t, "triggers", "test", "examples/ec2-compromise.yaml", "--event", batch)
	if code != 1 || !strings.Contains(out, "malformed    parse EventBridge event") ||
		!strings.Contains(out, `is not a finding event Cordon reads`) {
		t.Errorf("batch: exit %d\n%s%s", code, out, errOut)
	}
	_, _, code = cordon(t, "triggers", "test", "examples/ec2-compromise.yaml")
	if code != 2 {
		t.Errorf("without --event: exit %d, want 2", code)
	}
	_, _, code = cordon(t, "triggers", "frob")
	if code != 2 {
		t.Errorf("unknown subcommand: exit %d, want 2", code)
	}
}
