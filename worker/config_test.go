package worker

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const validConfig = `temporal:
  address: temporal.example.internal:7233
  namespace: csirt
roster:
  members:
    - id: alice
      slack_id: U012ABC
      roles: [responder]
      groups: [csirt-oncall]
      public_keys:
        - ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIG0z1yUNtpJ0DmWMv3oVfF8wGc+3cR9gN0bZuSOKmUo4 alice@laptop
aws:
  region: eu-west-1
  accounts:
    production: {role_arn: "arn:aws:iam::123456789012:role/cordon-responder", external_id: ir-7}
`

func writeConfig(t *testing.T, body string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "cordon.yaml")
	writeFile(t, path, body)
	return path
}

// writeFile writes body to path, or fails the test.
func writeFile(t *testing.T, path, body string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestLoadConfig(t *testing.T) {
	t.Setenv("CORDON_TEMPORAL_API_KEY", "secret-from-env")
	cfg, err := LoadConfig(writeConfig(t, validConfig))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Temporal.TaskQueue != DefaultTaskQueue || cfg.Temporal.APIKey != "secret-from-env" || cfg.AWS.Accounts["production"].ExternalID != "ir-7" {
		t.Errorf("config %+v", cfg)
	}
	r := cfg.WorkflowRoster()
	if !r.RequireSignatures || len(r.Members) != 1 || r.Members[0].SlackID != "U012ABC" {
		t.Errorf("roster %+v: signatures must be required unless turned off", r)
	}
}

func TestConfigErrorsAreSpecific(t *testing.T) {
	cases := map[string]struct{ body, want string }{
		"typo in a key": {strings.Replace(validConfig, "namespace:", "namespac:", 1), "field namespac not found"},
		"unknown role":  {strings.Replace(validConfig, "roles: [responder]", "roles: [admin]", 1), `role "admin" is not responder, lead or intake`},
		"intake with another role": {strings.Replace(validConfig, "roles: [responder]", "roles: [intake, lead]", 1),
			"roster member alice: the intake role goes alone (it has intake, lead)"},
		"intake without a key": {strings.Replace(strings.Replace(validConfig, "roles: [responder]", "roles: [intake]", 1),
			"      public_keys:\n        - ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIG0z1yUNtpJ0DmWMv3oVfF8wGc+3cR9gN0bZuSOKmUo4 alice@laptop\n", "", 1),
			"roster member alice: an intake needs public_keys"},
		"intake on Slack": {strings.Replace(validConfig, "roles: [responder]", "roles: [intake]", 1), "an intake has no slack_id"},
		"gateway named intake": {strings.Replace(validConfig, "aws:\n", "  gateways:\n    - {name: intake, public_key: \"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIG0z1yUNtpJ0DmWMv3oVfF8wGc+3cR9gN0bZuSOKmUo4\"}\naws:\n", 1),
			"a gateway needs a name other than cli and intake"},
		"bad key":      {strings.Replace(validConfig, "ssh-ed25519 AAAAC3", "ssh-ed25519 XXXX", 1), "is not an SSH authorized_keys line"},
		"bad role ARN": {strings.Replace(validConfig, `"arn:aws:iam::123456789012:role/cordon-responder"`, "cordon-responder", 1), "is not an ARN"},
		"negative rate": {strings.Replace(validConfig, "external_id: ir-7}", "external_id: ir-7, rate_limit: {mutating_per_second: -5}}", 1),
			"aws.accounts.production.rate_limit.mutating_per_second is -5"},
		"old burst key": {validConfig + "  rate_limit: {burst: 50}\n", "field burst not found"},
		"forensic endpoint that is not one": {validConfig + "  forensic_endpoints: {vpc-0abc1234: [vpce-0abc1234]}\n",
			`aws.forensic_endpoints: vpc-0abc1234: "vpce-0abc1234" is neither a security group (sg-...), a prefix list (pl-...) nor a CIDR`},
		"evidence in an unknown account": {validConfig + "evidence: {account: forensic, bucket: acme-evidence}\n",
			`evidence.account "forensic" is not in aws.accounts`},
		"evidence without a bucket": {validConfig + "evidence: {account: production}\n", "evidence: bucket is required"},
		"evidence lock typo":        {validConfig + "evidence: {bucket: acme-evidence, object_lock: maybe}\n", `evidence.object_lock "maybe"`},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := LoadConfig(writeConfig(t, c.body))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want %q", err, c.want)
			}
		})
	}
}

// An intake alone in its role, with a key, is a valid roster member.
func TestIntakeMemberLoads(t *testing.T) {
	intake := `    - id: cordon-intake
      roles: [intake]
      public_keys:
        - ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIG0z1yUNtpJ0DmWMv3oVfF8wGc+3cR9gN0bZuSOKmUo4 intake@host
`
	cfg, err := LoadConfig(writeConfig(t, strings.Replace(validConfig, "aws:\n", intake+"aws:\n", 1)))
	if err != nil {
		t.Fatal(err)
	}
	if r := cfg.WorkflowRoster(); len(r.Members) != 2 || !r.Members[1].IsIntake() || r.Members[1].Responds() {
		t.Errorf("roster %+v", r.Members)
	}
}

// The documented example is a valid configuration.
func TestExampleConfigLoads(t *testing.T) {
	cfg, err := LoadConfig("../docs/cordon.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Roster.Members) == 0 || len(cfg.AWS.Accounts) == 0 || !cfg.Evidence.Enabled() {
		t.Errorf("example config is empty: %+v", cfg)
	}
}
