package worker

import (
	"strings"
	"testing"
)

// intakeConfig is validConfig with an intake member and section.
func intakeConfig(section string) string {
	return strings.Replace(validConfig, "aws:\n", `    - id: cordon-intake
      roles: [intake]
      public_keys:
        - ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIG6/zmuxlZHj0oiKIpQI+/Hm4H9O0dCbEfHgcXWvGWgJ cordon-intake
aws:
`, 1) + "intake:\n" + section
}

const intakeSection = `  member: cordon-intake
  key: /etc/cordon/intake
  queue_url: https://sqs.eu-central-1.amazonaws.com/123456789012/cordon-findings
`

func TestIntakeConfig(t *testing.T) {
	t.Setenv("CORDON_INTAKE_SECRET", "0123456789abcdef0123456789abcdef")
	cfg, err := LoadConfig(writeConfig(t, intakeConfig(intakeSection+"  https: {listen: 127.0.0.1:8443}\n")))
	if err != nil {
		t.Fatal(err)
	}
	in := cfg.Intake
	if in.TaskQueue != DefaultIntakeTaskQueue || in.WaitSeconds != 20 || in.Receivers != 1 || in.HTTPS.Header != DefaultIntakeHeader ||
		in.HTTPS.Secret != "0123456789abcdef0123456789abcdef" || in.QueueRegion(cfg.AWS) != "eu-central-1" {
		t.Errorf("intake %+v", in)
	}
	if err := cfg.CheckIntake(); err != nil {
		t.Error(err)
	}
	ids, err := cfg.AccountIDs()
	if err != nil || ids["123456789012"] != "production" {
		t.Errorf("account ids %v, %v", ids, err)
	}
	// The documented example is an intake's configuration too.
	example, err := LoadConfig("../docs/cordon.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := example.CheckIntake(); err != nil {
		t.Errorf("docs/cordon.example.yaml: %v", err)
	}
	if ids, _ := example.AccountIDs(); ids["333333333333"] != "security" || ids["111111111111"] != "production" {
		t.Errorf("example's account ids %v", ids)
	}
}

func TestIntakeConfigErrors(t *testing.T) {
	cases := map[string]struct{ body, want string }{
		"wait too long": {intakeConfig(intakeSection + "  wait_seconds: 30\n"), "intake.wait_seconds is 30"},
		"not a queue":   {intakeConfig(strings.Replace(intakeSection, "https://sqs.", "ftp://sqs.", 1)), "is not an SQS queue URL"},
		"no secret":     {intakeConfig(intakeSection + "  https: {listen: 127.0.0.1:8443}\n"), "intake.https needs a secret of at least 32 characters"},
		"plain HTTP on the network": {intakeConfig(intakeSection + "  https: {listen: 0.0.0.0:8443, secret: 0123456789abcdef0123456789abcdef}\n"),
			"is not a loopback address"},
		"member not in the roster": {intakeConfig(strings.Replace(intakeSection, "member: cordon-intake", "member: ghost", 1)), "intake.member ghost is not in the roster"},
		"member who is a person":   {intakeConfig(strings.Replace(intakeSection, "member: cordon-intake", "member: alice", 1)), "intake.member alice must have the role intake"},
		"account id of another role": {strings.Replace(validConfig, "external_id: ir-7}", "external_id: ir-7, account_id: \"999999999999\"}", 1),
			"account_id 999999999999 is not the account of role_arn (123456789012)"},
		"account id not an id": {strings.Replace(validConfig, "external_id: ir-7}", "external_id: ir-7, account_id: prod}", 1), `account_id "prod" is not a 12-digit account id`},
	}
	for name, c := range cases {
		_, err := LoadConfig(writeConfig(t, c.body))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %q", name, err, c.want)
		}
	}
}

// What cordon intake needs besides a valid file: who it is, something to
// read, and an id for every account findings may name.
func TestCheckIntake(t *testing.T) {
	cases := map[string]struct{ body, want string }{
		"no identity": {intakeConfig("  queue_url: https://sqs.eu-central-1.amazonaws.com/123456789012/q\n"), "intake.member and intake.key are required"},
		"nothing to read": {intakeConfig(strings.Replace(intakeSection, "  queue_url: https://sqs.eu-central-1.amazonaws.com/123456789012/cordon-findings\n", "", 1)),
			"the intake has nothing to read"},
		"an account without id": {strings.Replace(intakeConfig(intakeSection), "    production:", "    lab: {}\n    production:", 1),
			"aws.accounts.lab: the intake needs its 12-digit account_id"},
		"one account twice": {strings.Replace(intakeConfig(intakeSection), "    production:", "    prod2: {account_id: \"123456789012\"}\n    production:", 1),
			"aws.accounts.prod2 and aws.accounts.production are both account 123456789012"},
	}
	for name, c := range cases {
		cfg, err := LoadConfig(writeConfig(t, c.body))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if err := cfg.CheckIntake(); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %q", name, err, c.want)
		}
	}
}
