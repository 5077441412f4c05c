package triggers_test

import (
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/cordon-ir/cordon/actions"
	"github.com/cordon-ir/cordon/actions/spec"
	"github.com/cordon-ir/cordon/runbooks"
	"github.com/cordon-ir/cordon/triggers"
)

func fixture(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func parse(t *testing.T, name string) []triggers.Finding {
	t.Helper()
	fs, err := triggers.ParseEvent(fixture(t, name))
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return fs
}

// examplePlans compiles the two example runbooks that carry triggers.
func examplePlans(t *testing.T) []*runbooks.Plan {
	t.Helper()
	var plans []*runbooks.Plan
	for _, name := range []string{"ec2-compromise", "iam-credential-compromise"} {
		path := filepath.Join("..", "examples", name+".yaml")
		src, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		p, diags := runbooks.NewCompiler(actions.Catalog(), nil).Compile(path, src)
		if p == nil {
			t.Fatalf("%s: %s", name, diags.Error())
		}
		plans = append(plans, p)
	}
	return plans
}

func compilePlan(t *testing.T, src string) *runbooks.Plan {
	t.Helper()
	p, diags := runbooks.NewCompiler(actions.Catalog(), nil).Compile("t.yaml", []byte(src))
	if p == nil {
		t.Fatal(diags.Error())
	}
	return p
}

// The finding triggers see is exactly the one the compiler checks
// trigger expressions against, field for field and type for type.
func TestFindingFieldsAreTheDeclaredOnes(t *testing.T) {
	f := parse(t, "guardduty-ec2.json")[0]
	got := f.Fields()
	var declared []string
	for _, d := range runbooks.FindingFields() {
		declared = append(declared, d.Name)
		v, ok := got[d.Name]
		if !ok {
			t.Errorf("finding.%s is declared but not filled", d.Name)
			continue
		}
		var kind spec.Kind
		switch v.(type) {
		case string:
			kind = spec.KindString
		case int:
			kind = spec.KindInt
		case []any:
			kind = spec.KindList
		}
		if kind != d.Type.Kind {
			t.Errorf("finding.%s is %T, declared %s", d.Name, v, d.Type)
		}
	}
	var filled []string
	for k := range got {
		filled = append(filled, k)
	}
	sort.Strings(filled)
	sort.Strings(declared)
	if !reflect.DeepEqual(filled, declared) {
		t.Errorf("filled %v\ndeclared %v", filled, declared)
	}
}

// Each fixture normalises to the finding it is about, whatever account
// and region delivered it.
func TestNormalise(t *testing.T) {
	// One EC2 finding, delivered three ways: by GuardDuty, by GuardDuty
	// with the region only in the resource's ARN, and by Security Hub.
	gdEC2 := triggers.Finding{
		Source: "guardduty", Product: "guardduty", Type: "CryptoCurrency:EC2/BitcoinTool.B!DNS",
		Account: "123456789012", Region: "eu-west-1", Severity: "high", SeverityScore: 80, Count: 3,
		FirstSeen: "2024-05-01T12:00:00Z", LastSeen: "2024-05-01T12:30:00Z",
		Resource: "instance", InstanceID: "i-0abc12345def67890",
		Key:       "guardduty/123456789012/eu-west-1/8ab933f8a9b7e6c2b1a3d4e5f6a7b8c9",
		TargetKey: "123456789012/eu-west-1/instance/i-0abc12345def67890"}
	shEC2 := gdEC2
	shEC2.Source, shEC2.Status, shEC2.ProductARN = "securityhub", "NEW", "arn:aws:securityhub:eu-west-1::product/aws/guardduty"
	cases := []struct {
		file string
		want triggers.Finding
	}{
		{"guardduty-ec2.json", gdEC2},
		{"guardduty-ec2-region-from-arn.json", gdEC2},
		{"securityhub-guardduty.json", shEC2},
		{"guardduty-iam-user.json", triggers.Finding{
			Source: "guardduty", Product: "guardduty", Type: "UnauthorizedAccess:IAMUser/MaliciousIPCaller.Custom",
			Account: "123456789012", Region: "us-east-1", Severity: "medium", SeverityScore: 50, Count: 4,
			FirstSeen: "2024-05-02T07:58:12Z", LastSeen: "2024-05-02T08:10:44Z",
			Resource: "access_key", AccessKeyID: "AKIAIOSFODNN7EXAMPLE", UserName: "deploy-bot",
			Key:       "guardduty/123456789012/us-east-1/4d5e6f708192a3b4c5d6e7f8091a2b3c",
			TargetKey: "123456789012/access_key/AKIAIOSFODNN7EXAMPLE"}},
		{"guardduty-iam-session.json", triggers.Finding{
			Source: "guardduty", Product: "guardduty", Type: "UnauthorizedAccess:IAMUser/InstanceCredentialExfiltration.OutsideAWS",
			Account: "123456789012", Region: "us-east-1", Severity: "high", SeverityScore: 80, Count: 4,
			FirstSeen: "2024-05-02T07:58:12Z", LastSeen: "2024-05-02T08:10:44Z",
			Resource: "access_key", AccessKeyID: "ASIAIOSFODNN7EXAMPLE", // an assumed role has no IAM user
			Key:       "guardduty/123456789012/us-east-1/5e6f708192a3b4c5d6e7f8091a2b3c4d",
			TargetKey: "123456789012/access_key/ASIAIOSFODNN7EXAMPLE"}},
		{"health-credentials-exposed.json", triggers.Finding{
			Source: "health", Product: "health", Type: "AWS_RISK_CREDENTIALS_EXPOSED", EventTypeCode: "AWS_RISK_CREDENTIALS_EXPOSED",
			Account: "123456789012", Region: "", Count: 1, Status: "open",
			FirstSeen: "2019-09-10T19:06:00Z", LastSeen: "2019-09-10T19:06:00Z", // RFC 1123 in the event
			Resource: "access_key", AccessKeyID: "AKIAIOSFODNN7EXAMPLE",
			Key:       "health/123456789012/arn:aws:health:global::event/RISK/AWS_RISK_CREDENTIALS_EXPOSED/AWS_RISK_CREDENTIALS_EXPOSED_XXXXXXXXXXXXXXXXX/AKIAIOSFODNN7EXAMPLE",
			TargetKey: "123456789012/access_key/AKIAIOSFODNN7EXAMPLE"}},
	}
	for _, tc := range cases {
		t.Run(tc.file, func(t *testing.T) {
			fs := parse(t, tc.file)
			if len(fs) != 1 {
				t.Fatalf("%d findings", len(fs))
			}
			got := fs[0]
			// Compared apart: long texts and ids every fixture has.
			if got.ID == "" || got.Title == "" || got.EventID == "" || len(got.Types) == 0 || got.Drop != "" {
				t.Errorf("id %q, title %q, event %q, types %v, drop %q", got.ID, got.Title, got.EventID, got.Types, got.Drop)
			}
			got.ID, got.Title, got.Description, got.EventID, got.Types, got.ResourceARN = "", "", "", "", nil, ""
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got  %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

// AWS's abuse notice names two instances: one finding per instance, each
// with a key of its own (the event's and the instance: the intake handles
// each key once, so one key would contain the first instance alone), and
// the region from the instances' ARNs (the event says "global").
func TestHealthAbuseNamesEveryInstance(t *testing.T) {
	fs := parse(t, "health-abuse.json")
	if len(fs) != 2 {
		t.Fatalf("%d findings", len(fs))
	}
	event := "health/123456789012/" + fs[0].ID + "/"
	for i, id := range []string{"i-0abc12345def67890", "i-0abc12345def67891"} {
		f := fs[i]
		if f.InstanceID != id || f.Region != "eu-west-1" || f.Resource != "instance" || f.Key != event+id ||
			f.FirstSeen != "2024-05-01T06:27:57Z" || f.TargetKey != "123456789012/eu-west-1/instance/"+id {
			t.Errorf("finding %d: %+v", i, f)
		}
	}
}

// A GuardDuty finding, its copy in the administrator account and its copy
// in Security Hub are one finding.
func TestGuardDutyAndItsSecurityHubCopyShareAKey(t *testing.T) {
	gd := parse(t, "guardduty-ec2.json")[0]
	sh := parse(t, "securityhub-guardduty.json")[0]
	noRegion := parse(t, "guardduty-ec2-region-from-arn.json")[0]
	if gd.Key == "" || gd.Key != sh.Key || gd.Key != noRegion.Key || gd.TargetKey != sh.TargetKey {
		t.Errorf("keys differ:\n%s %s\n%s %s\n%s", gd.Key, gd.TargetKey, sh.Key, sh.TargetKey, noRegion.Key)
	}
	if gd.EventID == sh.EventID {
		t.Error("the event ids should differ: the key is the finding's, not the delivery's")
	}
}

// Every always-drop rule, whatever the triggers say.
func TestAlwaysDropped(t *testing.T) {
	plans := examplePlans(t)
	cases := map[string]string{
		"guardduty-sample.json":       "sample",
		"guardduty-archived.json":     "archived",
		"securityhub-sample.json":     "sample",
		"securityhub-archived.json":   "RecordState ARCHIVED",
		"securityhub-notified.json":   "workflow status NOTIFIED, not NEW",
		"securityhub-suppressed.json": "workflow status SUPPRESSED",
		"health-closed.json":          "closed Health event",
		"securityhub-v2.json":         "not read yet",
		"unknown-kind.json":           `"EC2 Instance State-change Notification" is not a finding event`,
	}
	for file, reason := range cases {
		t.Run(file, func(t *testing.T) {
			results, err := triggers.Decide(plans, fixture(t, file))
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range results {
				if len(r.Decisions) != 1 || r.Decisions[0].Decision != triggers.Drop || !strings.Contains(r.Decisions[0].Reason, reason) {
					t.Errorf("decisions %+v, want one drop because %q", r.Decisions, reason)
				}
			}
		})
	}
}

func decisionFor(t *testing.T, results []triggers.Result, runbook string) triggers.Decision {
	t.Helper()
	for _, r := range results {
		for _, d := range r.Decisions {
			if d.Runbook == runbook {
				return d
			}
		}
	}
	t.Fatalf("no decision for %s in %+v", runbook, results)
	return triggers.Decision{}
}

func TestDecideWithTheExamples(t *testing.T) {
	plans := examplePlans(t)
	decide := func(file string) []triggers.Result {
		t.Helper()
		rs, err := triggers.Decide(plans, fixture(t, file))
		if err != nil {
			t.Fatal(err)
		}
		return rs
	}

	d := decisionFor(t, decide("guardduty-ec2.json"), "ec2-compromise")
	want := map[string]any{"instance_id": "i-0abc12345def67890", "region": "eu-west-1"}
	if d.Decision != "propose" || d.Trigger != "guardduty-ec2-high" || !reflect.DeepEqual(d.Inputs, want) ||
		d.FindingKey == "" || d.TargetKey != "123456789012/eu-west-1/instance/i-0abc12345def67890" {
		t.Errorf("GuardDuty EC2 high: %+v", d)
	}
	if d := decisionFor(t, decide("guardduty-ec2.json"), "iam-credential-compromise"); d.Decision != "drop" || !strings.Contains(d.Reason, "matches none of *:IAMUser/*") {
		t.Errorf("an EC2 finding for the IAM runbook: %+v", d)
	}

	if d := decisionFor(t, decide("guardduty-ec2-low.json"), "ec2-compromise"); d.Decision != "drop" || d.Reason != "severity low is below high" {
		t.Errorf("low severity: %+v", d)
	}

	d = decisionFor(t, decide("health-credentials-exposed.json"), "iam-credential-compromise")
	want = map[string]any{"access_key_id": "AKIAIOSFODNN7EXAMPLE", "compromised_since": "2019-09-10T19:06:00Z"}
	if d.Decision != "propose" || d.Trigger != "health-credentials-exposed" || !reflect.DeepEqual(d.Inputs, want) {
		t.Errorf("credentials exposed: %+v", d)
	}

	d = decisionFor(t, decide("guardduty-iam-user.json"), "iam-credential-compromise")
	if d.Decision != "propose" || d.Inputs["access_key_id"] != "AKIAIOSFODNN7EXAMPLE" || d.Inputs["compromised_since"] != "2024-05-02T07:58:12Z" {
		t.Errorf("GuardDuty IAM user: %+v", d)
	}

	abuse := decide("health-abuse.json")
	if len(abuse) != 2 {
		t.Fatalf("abuse: %+v", abuse)
	}
	for i, r := range abuse {
		d := r.Decisions[0]
		if d.Decision != "propose" || d.Runbook != "ec2-compromise" || d.Inputs["instance_id"] != r.Finding.InstanceID || d.Inputs["region"] != "eu-west-1" {
			t.Errorf("abuse %d: %+v", i, r.Decisions)
		}
	}
}

// A session key offered to a runbook whose input takes only an IAM
// user's key is dropped, with the reason; the example runbook, which
// takes both and says how to contain a session key, gets it.
func TestSessionKeyForAUserKeyRunbook(t *testing.T) {
	userOnly := compilePlan(t, `apiVersion: cordon.dev/v1
kind: Runbook
metadata:
  name: user-key-only
inputs:
  access_key_id: {type: string, required: true, pattern: '^AKIA[A-Z0-9]{16}$'}
steps:
  - id: owner
    action: aws.iam.find_access_key_owner
    with: {access_key_id: "${{ inputs.access_key_id }}"}
triggers:
  - name: gd
    source: guardduty
    match: {resource: access_key}
    inputs: {access_key_id: "${{ finding.access_key_id }}"}
    mode: launch
`)
	plans := append(examplePlans(t), userOnly)
	rs, err := triggers.Decide(plans, fixture(t, "guardduty-iam-session.json"))
	if err != nil {
		t.Fatal(err)
	}
	if d := decisionFor(t, rs, "user-key-only"); d.Decision != "drop" || !strings.Contains(d.Reason, "ASIAIOSFODNN7EXAMPLE is a session key") {
		t.Errorf("session key: %+v", d)
	}
	if d := decisionFor(t, rs, "iam-credential-compromise"); d.Decision != "propose" {
		t.Errorf("the example takes session keys: %+v", d)
	}
	rs, err = triggers.Decide(plans, fixture(t, "guardduty-iam-user.json"))
	if err != nil {
		t.Fatal(err)
	}
	if d := decisionFor(t, rs, "user-key-only"); d.Decision != "launch" || d.Inputs["access_key_id"] != "AKIAIOSFODNN7EXAMPLE" {
		t.Errorf("user key: %+v", d)
	}
}

// match.when and accounts are evaluated against the finding; a finding
// missing a required input is dropped by the plan's own check.
func TestWhenAccountsAndMissingInputs(t *testing.T) {
	p := compilePlan(t, `apiVersion: cordon.dev/v1
kind: Runbook
metadata:
  name: r
inputs:
  instance_id: {type: string, required: true, pattern: '^i-[0-9a-f]{8,17}$'}
steps:
  - id: ev
    action: aws.ec2.describe_instance
    with: {instance_id: "${{ inputs.instance_id }}"}
triggers:
  - name: repeated
    source: guardduty
    match: {when: "finding.count >= 5"}
    inputs: {instance_id: "${{ finding.instance_id }}"}
  - name: other-account
    source: guardduty
    match: {accounts: ["999999999999"]}
    inputs: {instance_id: "${{ finding.instance_id }}"}
  - name: any
    source: guardduty
    mode: dry_run
    inputs: {instance_id: "${{ finding.instance_id }}"}
`)
	rs := triggers.DecideFindings([]*runbooks.Plan{p}, parse(t, "guardduty-ec2.json"))
	got := map[string]triggers.Decision{}
	for _, d := range rs[0].Decisions {
		got[d.Trigger] = d
	}
	if d := got["repeated"]; d.Decision != "drop" || d.Reason != "when: finding.count >= 5 is false" {
		t.Errorf("when: %+v", d)
	}
	if d := got["other-account"]; d.Decision != "drop" || !strings.Contains(d.Reason, "account 123456789012 is not one of") {
		t.Errorf("accounts: %+v", d)
	}
	if d := got["any"]; d.Decision != "dry_run" {
		t.Errorf("dry run: %+v", d)
	}
	rs = triggers.DecideFindings([]*runbooks.Plan{p}, parse(t, "guardduty-iam-user.json"))
	for _, d := range rs[0].Decisions {
		if d.Trigger == "any" && (d.Decision != "drop" || !strings.Contains(d.Reason, "input instance_id is required")) {
			t.Errorf("no instance: %+v", d)
		}
	}
}

func TestSplitSQSResponse(t *testing.T) {
	msgs, err := triggers.SplitInput(fixture(t, "sqs-receive.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != 4 || msgs[0].MessageID != "5fea7756-0ea4-451a-a703-a558b933e274" {
		t.Fatalf("messages: %+v", msgs)
	}
	first, err := triggers.ParseEvent(msgs[0].Body)
	if err != nil || first[0].Key != parse(t, "guardduty-ec2.json")[0].Key {
		t.Errorf("first message: %+v, %v", first, err)
	}
	one, err := triggers.SplitInput(fixture(t, "guardduty-ec2.json"))
	if err != nil || len(one) != 1 || one[0].MessageID != "" {
		t.Errorf("a bare event: %+v, %v", one, err)
	}
}

func TestMalformedEvents(t *testing.T) {
	for name, body := range map[string]string{
		"truncated":       string(fixture(t, "malformed.json")),
		"not an event":    `{"hello": "world"}`,
		"no finding id":   `{"source": "aws.guardduty", "detail-type": "GuardDuty Finding", "detail": {"accountId": "123456789012"}}`,
		"bad Health time": `{"source": "aws.health", "detail-type": "AWS Health Event", "detail": {"eventArn": "arn:x", "eventTypeCode": "X", "startTime": "2019-09-10"}}`,
		"two values":      `{"source": "aws.guardduty"} {}`,
	} {
		if _, err := triggers.ParseEvent([]byte(body)); err == nil {
			t.Errorf("%s: parsed", name)
		}
	}
	if _, err := triggers.SplitInput(fixture(t, "malformed.json")); err == nil {
		t.Error("truncated SQS input: parsed")
	}
}

// A trigger with aggregate: puts the finding's item alone in the list
// input and names the batch it joins: findings of the same fleet share a
// batch, a finding elsewhere (another region, so other inputs) does not,
// and a finding with no item is dropped with the reason.
func TestAggregatedDecisions(t *testing.T) {
	p := compilePlan(t, string(fixture(t, "runbook-fleet-storm.yaml")))
	a := parse(t, "guardduty-ec2.json")[0]
	b := a
	b.InstanceID, b.ID = "i-0fedcba9876543210", "another"
	elsewhere := a
	elsewhere.Region = "us-west-2"
	noHost := parse(t, "guardduty-iam-user.json")[0]
	noHost.Type = a.Type
	rs := triggers.DecideFindings([]*runbooks.Plan{p}, []triggers.Finding{a, b, elsewhere, noHost})
	da, db, de, dn := rs[0].Decisions[0], rs[1].Decisions[0], rs[2].Decisions[0], rs[3].Decisions[0]
	if da.Decision != "launch" || da.Batch == nil || da.Batch.Item != a.InstanceID || da.Batch.Into != "hosts" ||
		da.Batch.MaxTargets != 3 || !reflect.DeepEqual(da.Inputs["hosts"], []any{a.InstanceID}) {
		t.Fatalf("first: %+v %+v", da, da.Batch)
	}
	if db.Batch == nil || db.Batch.Key != da.Batch.Key || db.Batch.Item != b.InstanceID {
		t.Errorf("same fleet, another host: %+v", db.Batch)
	}
	if de.Batch == nil || de.Batch.Key == da.Batch.Key {
		t.Errorf("another region gives other inputs, so another batch: %+v", de.Batch)
	}
	if dn.Decision != "drop" || !strings.Contains(dn.Reason, "aggregate.item is empty") {
		t.Errorf("no host: %+v", dn)
	}
	if da.PlanHash != p.ContentHash() || da.MaxLaunchesPerHour != runbooks.DefaultMaxLaunchesPerHour {
		t.Errorf("plan hash %s, breaker %d", da.PlanHash, da.MaxLaunchesPerHour)
	}
}
