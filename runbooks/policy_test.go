package runbooks

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/cordon-ir/cordon/actions/spec"
)

// policyCatalog has two actions that call the same permission, one with a
// scope and a condition, one without any: IAM allows the union, so the
// policy must grant the broader one and nothing narrower beside it. One
// more acts in the forensic account too.
func policyCatalog(t *testing.T) spec.Catalog {
	t.Helper()
	cat, err := spec.NewRegistry(
		&spec.Action{
			Name: "t.stop", Summary: "s", DryRun: "d", Mutating: true,
			Permissions: []string{"ec2:DescribeInstances", "ec2:StopInstances", "iam:PassRole"},
			Scopes: []spec.Scope{
				{Permissions: []string{"ec2:DescribeInstances"}, Unscoped: "no resource-level permissions"},
				{Permissions: []string{"ec2:StopInstances"}, Resources: []string{"arn:${Partition}:ec2:*:${Account}:instance/*"}},
				{
					Permissions: []string{"iam:PassRole"}, Resources: []string{"arn:${Partition}:iam::${Account}:role${PassRolePath}*"},
					Condition: map[string]map[string][]string{"StringEquals": {"iam:PassedToService": {"ec2.amazonaws.com"}}},
				},
			},
		},
		&spec.Action{
			Name: "t.pass", Summary: "s", DryRun: "d", Mutating: true,
			Permissions: []string{"iam:PassRole"},
			Scopes:      []spec.Scope{{Permissions: []string{"iam:PassRole"}, Resources: []string{"arn:${Partition}:iam::${Account}:role/*"}}},
		},
		&spec.Action{Name: "t.bare", Summary: "s", DryRun: "d", Permissions: []string{"sts:GetCallerIdentity"}},
		// t.handover acts in both accounts, as the snapshot handover does.
		&spec.Action{
			Name: "t.handover", Summary: "s", DryRun: "d", Mutating: true,
			Permissions:         []string{"ec2:ModifySnapshotAttribute"},
			ForensicPermissions: []string{"ec2:CopySnapshot", "s3:PutObject", "kms:DescribeKey"},
			Scopes: []spec.Scope{
				{Permissions: []string{"ec2:ModifySnapshotAttribute", "ec2:CopySnapshot"}, Unscoped: "not verified"},
				{Permissions: []string{"s3:PutObject"}, Resources: []string{"arn:${Partition}:s3:::${EvidenceBucket}/${EvidencePrefix}*"}},
				{Permissions: []string{"kms:DescribeKey"}, Resources: []string{"arn:${Partition}:kms:*:${Account}:key/*"}},
			},
		},
	)
	if err != nil {
		t.Fatal(err)
	}
	return cat
}

func stepsOf(actions ...string) *Plan {
	p := &Plan{}
	for _, a := range actions {
		st := Step{Action: a}
		switch a {
		case "t.stop":
			st.Permissions = []string{"ec2:DescribeInstances", "ec2:StopInstances", "iam:PassRole"}
		case "t.pass":
			st.Permissions = []string{"iam:PassRole"}
		case "t.bare":
			st.Permissions = []string{"sts:GetCallerIdentity"}
		case "t.handover":
			st.Permissions = []string{"ec2:ModifySnapshotAttribute"}
		}
		p.Steps = append(p.Steps, st)
	}
	return p
}

func statementFor(t *testing.T, doc IAMPolicy, perm string) []IAMStatement {
	t.Helper()
	var out []IAMStatement
	for _, s := range doc.Statement {
		if slices.Contains(s.Action, perm) {
			out = append(out, s)
		}
	}
	return out
}

func TestPolicyScopesResourcesAndFillsOptions(t *testing.T) {
	opts := PolicyOptions{Partition: "aws-us-gov", AccountID: "123456789012", PassRolePath: "/forensics/"}
	doc, unscoped := LeastPrivilegePolicy(policyCatalog(t), opts, stepsOf("t.stop", "t.bare"))
	stop := statementFor(t, doc, "ec2:StopInstances")
	if len(stop) != 1 || strings.Join(stop[0].Resource, " ") != "arn:aws-us-gov:ec2:*:123456789012:instance/*" || stop[0].Condition != nil {
		t.Errorf("StopInstances: %+v", stop)
	}
	pass := statementFor(t, doc, "iam:PassRole")
	if len(pass) != 1 || strings.Join(pass[0].Resource, " ") != "arn:aws-us-gov:iam::123456789012:role/forensics/*" ||
		strings.Join(pass[0].Condition["StringEquals"]["iam:PassedToService"], " ") != "ec2.amazonaws.com" {
		t.Errorf("PassRole: %+v", pass)
	}
	want := []Unscoped{
		{Permission: "ec2:DescribeInstances", Reason: "no resource-level permissions"},
		{Permission: "sts:GetCallerIdentity", Reason: "not scoped in the action catalog"},
	}
	if !slices.Equal(unscoped, want) {
		t.Errorf("unscoped = %v, want %v", unscoped, want)
	}
	sids := map[string]bool{}
	for _, s := range doc.Statement {
		if sids[s.Sid] || strings.IndexFunc(s.Sid, func(r rune) bool { return !('a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9') }) >= 0 {
			t.Errorf("Sid %q is repeated or not alphanumeric", s.Sid)
		}
		sids[s.Sid] = true
	}
}

// A permission one step needs unconditioned is not also granted under a
// condition: the unconditioned grant covers it.
func TestPolicyDropsGrantsCoveredByABroaderOne(t *testing.T) {
	doc, _ := LeastPrivilegePolicy(policyCatalog(t), PolicyOptions{}, stepsOf("t.stop", "t.pass"))
	pass := statementFor(t, doc, "iam:PassRole")
	if len(pass) != 1 || strings.Join(pass[0].Resource, " ") != "arn:aws:iam::*:role/*" || pass[0].Condition != nil {
		b, _ := json.Marshal(pass)
		t.Errorf("PassRole granted as %s, want once on role/* without condition", b)
	}
}

func TestPolicyJSONWritesOneResourceAsAString(t *testing.T) {
	doc, _ := LeastPrivilegePolicy(policyCatalog(t), PolicyOptions{}, stepsOf("t.bare"))
	if got := string(doc.JSON()); !strings.Contains(got, `"Resource": "*"`) {
		t.Errorf("want a single resource as a string:\n%s", got)
	}
	var back IAMPolicy
	if err := json.Unmarshal(doc.JSON(), &back); err != nil || len(back.Statement) != 1 {
		t.Errorf("round trip: %v %+v", err, back)
	}
}

func TestPolicyOptionsRefuseWhatIAMWouldNot(t *testing.T) {
	for _, bad := range []PolicyOptions{
		{Partition: "azure"}, {AccountID: "12"}, {RolePath: "cordon"}, {RolePath: "/a*/"}, {UserPath: "/x"},
	} {
		if bad.Validate() == nil {
			t.Errorf("%+v accepted", bad)
		}
	}
	if err := (PolicyOptions{Partition: "aws-cn", AccountID: "123456789012", RolePath: "/cordon-contained/", UserPath: "/"}).Validate(); err != nil {
		t.Errorf("good options refused: %v", err)
	}
}

// A runbook with triggers grants the responder role the reads that fetch
// its triggers' findings again (the worker verifies the intake's starts
// with them), per source and scoped as SourceReads says; a runbook
// without triggers, and the forensic side, grant none.
func TestPolicyGrantsTheTriggerSourcesReads(t *testing.T) {
	opts := PolicyOptions{AccountID: "123456789012"}
	plain := stepsOf("t.stop")
	doc, _ := LeastPrivilegePolicy(policyCatalog(t), opts, plain)
	for _, r := range SourceReads() {
		if got := statementFor(t, doc, r.Action); len(got) != 0 {
			t.Errorf("a runbook without triggers grants %s: %+v", r.Action, got)
		}
	}
	triggered := stepsOf("t.stop")
	triggered.Triggers = []Trigger{{Name: "gd", Source: SourceGuardDuty}, {Name: "gd2", Source: SourceGuardDuty}, {Name: "abuse", Source: SourceHealth}}
	doc, unscoped := LeastPrivilegePolicy(policyCatalog(t), opts, triggered)
	for action, want := range map[string]string{
		"guardduty:ListDetectors":         "*",
		"guardduty:GetFindings":           "arn:aws:guardduty:*:123456789012:detector/*",
		"health:DescribeEventDetails":     "arn:aws:health:*::event/*",
		"health:DescribeAffectedEntities": "arn:aws:health:*::event/*",
	} {
		if got := statementFor(t, doc, action); len(got) != 1 || strings.Join(got[0].Resource, " ") != want {
			t.Errorf("%s: %+v, want on %s", action, got, want)
		}
	}
	if got := statementFor(t, doc, "securityhub:GetFindings"); len(got) != 0 {
		t.Errorf("no Security Hub trigger, yet %+v", got)
	}
	if !slices.Contains(unscoped, Unscoped{Permission: "guardduty:ListDetectors", Reason: "GuardDuty's ListDetectors has no resource type"}) {
		t.Errorf("unscoped %v", unscoped)
	}
}
