package runbooks

import "github.com/cordon-ir/cordon/actions/spec"

// The normalised finding is what a trigger sees of a GuardDuty finding, a
// Security Hub (ASFF) finding or an AWS Health event, as finding.* in its
// expressions. It is declared here, once, so the compiler can check a
// trigger's expressions and input mapping against it; package triggers
// fills it from the events (and its tests check that it fills exactly
// these fields).

// Finding sources a trigger may name.
const (
	SourceGuardDuty   = "guardduty"
	SourceSecurityHub = "securityhub"
	SourceHealth      = "health"
)

// FindingSources lists the sources a trigger may name.
func FindingSources() []string {
	return []string{SourceGuardDuty, SourceSecurityHub, SourceHealth}
}

// SeverityLabels are the normalised severities, lowest first. GuardDuty's
// 1–10 score and ASFF's labels both map onto them.
func SeverityLabels() []string {
	return []string{"informational", "low", "medium", "high", "critical"}
}

// SeverityRank orders severity labels (informational is 0); an unknown
// label is -1.
func SeverityRank(label string) int {
	for i, l := range SeverityLabels() {
		if l == label {
			return i
		}
	}
	return -1
}

// ResourceKinds are the normalised kinds of the resource a finding is
// about (GuardDuty's resourceType, ASFF's Resources[].Type, a Health
// event's affected entity).
func ResourceKinds() []string {
	return []string{"instance", "access_key", "s3_bucket", "s3_object", "eks_cluster", "ecs_cluster",
		"container", "lambda_function", "rds_db_instance", "other"}
}

// Trigger modes: what a matching finding does.
const (
	ModeLaunch  = "launch"
	ModePropose = "propose"
	ModeDryRun  = "dry_run"
)

// TriggerModes lists the modes, the default (propose) first.
func TriggerModes() []string { return []string{ModePropose, ModeLaunch, ModeDryRun} }

// FindingField is one field of the normalised finding.
type FindingField struct {
	Name        string
	Type        spec.Type
	Description string
	// Examples are values of the field's known shape. When a trigger maps
	// the field to an input with a pattern, at least one must match it:
	// a mapping that could never satisfy the pattern is a compile error.
	// No examples: the shape is not known, and only the type is checked.
	Examples []string
}

// FindingFields lists the fields of the normalised finding, in the order
// documentation shows them.
func FindingFields() []FindingField {
	return []FindingField{
		{"source", spec.String, "guardduty, securityhub or health: the event kind the finding arrived as", []string{"guardduty", "securityhub", "health"}},
		{"product", spec.String, "what produced it: guardduty (also for GuardDuty's copy in Security Hub), health, or the ASFF product name in lower case", nil},
		{"id", spec.String, "the finding id (GuardDuty), the ASFF Id, or the Health event ARN", nil},
		{"type", spec.String, "the GuardDuty type (Recon:EC2/PortProbeUnprotectedPort, also for a GuardDuty finding in ASFF), the first ASFF type, or the Health event type code", nil},
		{"types", spec.ListOf(spec.String), "every type: the ASFF Types, or the one type", nil},
		{"title", spec.String, "the finding's title (Health: the event type code)", nil},
		{"description", spec.String, "the finding's description (Health: the latest description)", nil},
		{"account", spec.String, "the 12-digit account the finding is about (GuardDuty detail.accountId, ASFF AwsAccountId, Health affectedAccount), never the account that delivered the event", []string{"123456789012"}},
		{"region", spec.String, "the region of the finding or of its resource, never the region that delivered the event; empty for a global Health event", []string{"us-east-1", "eu-west-1", "us-gov-west-1"}},
		{"severity", spec.String, "informational, low, medium, high or critical; empty for Health events", []string{"informational", "low", "medium", "high", "critical"}},
		{"severity_score", spec.Int, "0–100 (GuardDuty's score × 10, ASFF Severity.Normalized); 0 for Health events", nil},
		{"first_seen", spec.String, "when the activity was first seen, RFC 3339 UTC", []string{"2024-05-01T12:00:00Z"}},
		{"last_seen", spec.String, "when it was last seen, RFC 3339 UTC", []string{"2024-05-01T12:30:00Z"}},
		{"count", spec.Int, "how many times GuardDuty saw the activity (grows as it republishes the finding); 1 otherwise", nil},
		{"resource", spec.String, "the kind of the affected resource: " + joinComma(ResourceKinds()), ResourceKinds()},
		{"resource_arn", spec.String, "the affected resource's ARN or id, as the source gives it", nil},
		{"instance_id", spec.String, "the affected EC2 instance, when the resource is one", []string{"i-0abc12345def67890"}},
		{"access_key_id", spec.String, "the affected access key: AKIA… (an IAM user's) or ASIA… (a session's)", []string{"AKIAIOSFODNN7EXAMPLE", "ASIAIOSFODNN7EXAMPLE"}},
		{"user_name", spec.String, "the IAM user of the access key, when the source names one", nil},
		{"event_type_code", spec.String, "Health events: the event type code (AWS_RISK_CREDENTIALS_EXPOSED, AWS_ABUSE_…)", []string{"AWS_RISK_CREDENTIALS_EXPOSED", "AWS_ABUSE_EC2_PORT_SCANNING_REPORT"}},
		{"status", spec.String, "ASFF Workflow.Status, Health statusCode; empty for GuardDuty", nil},
	}
}

// AggregateFields are the finding fields an aggregate: block may gather
// by: the scalar ones (every field but types).
func AggregateFields() []string {
	var out []string
	for _, f := range FindingFields() {
		if f.Type.Kind != spec.KindList {
			out = append(out, f.Name)
		}
	}
	return out
}

// FindingType is the type of finding in trigger expressions.
func FindingType() spec.Type {
	fields := FindingFields()
	out := make([]spec.Field, len(fields))
	for i, f := range fields {
		out[i] = spec.F(f.Name, f.Type, f.Description)
	}
	return spec.ObjectOf(out...)
}

func findingField(name string) (FindingField, bool) {
	for _, f := range FindingFields() {
		if f.Name == name {
			return f, true
		}
	}
	return FindingField{}, false
}

func joinComma(s []string) string {
	out := ""
	for i, x := range s {
		if i > 0 {
			out += ", "
		}
		out += x
	}
	return out
}
