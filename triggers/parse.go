package triggers

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/cordon-ir/cordon/runbooks"
)

// The EventBridge event kinds Cordon reads, by source and detail-type.
// A detail-type AWS renames is reported as an event Cordon does not read,
// never silently matched against nothing.
const (
	detailGuardDuty     = "GuardDuty Finding"
	detailSecurityHub   = "Security Hub Findings - Imported"
	detailSecurityHubV2 = "Findings Imported V2"
	detailHealth        = "AWS Health Event"
	detailHealthAbuse   = "AWS Health Abuse Event"
)

// envelope is the EventBridge event around every finding. Its account and
// region are where the event was delivered, which for an aggregated or
// delegated-admin setup is not the account or region the finding is
// about: normalisation reads those from the detail.
type envelope struct {
	ID         string          `json:"id"`
	DetailType string          `json:"detail-type"`
	Source     string          `json:"source"`
	Account    string          `json:"account"`
	Region     string          `json:"region"`
	Time       string          `json:"time"`
	Resources  []string        `json:"resources"`
	Detail     json.RawMessage `json:"detail"`
}

// ParseEvent reads one EventBridge event. It returns one finding per
// finding the event holds (a Security Hub event may hold several, a Health
// event names several affected entities), or an error when the event is
// malformed. An event of a kind Cordon does not read is not an error: it
// yields one finding whose Drop says so.
func ParseEvent(b []byte) ([]Finding, error) {
	var env envelope
	if err := strictJSON(b, &env); err != nil {
		return nil, fmt.Errorf("parse EventBridge event: %w", err)
	}
	if env.Source == "" || env.DetailType == "" {
		return nil, errors.New("parse EventBridge event: no source or detail-type (is this an EventBridge event?)")
	}
	if len(bytes.TrimSpace(env.Detail)) == 0 || bytes.TrimSpace(env.Detail)[0] != '{' {
		return nil, fmt.Errorf("parse EventBridge event %s: detail is not an object", env.ID)
	}
	var (
		fs  []Finding
		err error
	)
	switch {
	case env.Source == "aws.guardduty" && env.DetailType == detailGuardDuty:
		var f Finding
		f, err = parseGuardDuty(env.Detail)
		fs = []Finding{f}
	case env.Source == "aws.securityhub" && env.DetailType == detailSecurityHub:
		fs, err = parseSecurityHub(env.Detail)
	case env.Source == "aws.securityhub" && env.DetailType == detailSecurityHubV2:
		fs = []Finding{{Drop: "Security Hub v2 (OCSF) findings are not read yet; send the ASFF \"Security Hub Findings - Imported\" events"}}
	case env.Source == "aws.health" && (env.DetailType == detailHealth || env.DetailType == detailHealthAbuse):
		fs, err = parseHealth(env.Detail, env.Account)
	default:
		fs = []Finding{{Drop: fmt.Sprintf("source %q, detail-type %q is not a finding event Cordon reads (check the EventBridge rule)", env.Source, env.DetailType)}}
	}
	if err != nil {
		return nil, fmt.Errorf("parse EventBridge event %s (%s): %w", env.ID, env.DetailType, err)
	}
	for i := range fs {
		fs[i].EventID = env.ID
		if fs[i].Source != "" {
			fs[i].finish()
		}
	}
	return fs, nil
}

// strictJSON decodes one JSON value and refuses trailing data, so a
// truncated or concatenated message is an error, not half a finding.
func strictJSON(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return errors.New("unexpected data after the JSON value")
	}
	return nil
}

// GuardDuty's finding as EventBridge sends it (camelCase). encoding/json
// matches names case-insensitively, so the PascalCase of GetFindings
// output reads the same.
type gdFinding struct {
	AccountID   string  `json:"accountId"`
	Region      string  `json:"region"`
	Partition   string  `json:"partition"`
	ID          string  `json:"id"`
	Arn         string  `json:"arn"`
	Type        string  `json:"type"`
	Title       string  `json:"title"`
	Description string  `json:"description"`
	Severity    float64 `json:"severity"`
	CreatedAt   string  `json:"createdAt"`
	UpdatedAt   string  `json:"updatedAt"`
	Resource    struct {
		ResourceType    string `json:"resourceType"`
		InstanceDetails *struct {
			InstanceID string `json:"instanceId"`
		} `json:"instanceDetails"`
		AccessKeyDetails *struct {
			AccessKeyID string `json:"accessKeyId"`
			PrincipalID string `json:"principalId"`
			UserName    string `json:"userName"`
			UserType    string `json:"userType"`
		} `json:"accessKeyDetails"`
		S3BucketDetails []struct {
			Arn string `json:"arn"`
		} `json:"s3BucketDetails"`
	} `json:"resource"`
	Service struct {
		Archived       bool            `json:"archived"`
		Count          int             `json:"count"`
		EventFirstSeen string          `json:"eventFirstSeen"`
		EventLastSeen  string          `json:"eventLastSeen"`
		AdditionalInfo json.RawMessage `json:"additionalInfo"`
	} `json:"service"`
}

// ParseGuardDutyFinding normalises one finding as GuardDuty's GetFindings
// answers it (the SDK's types.Finding in JSON, or the API's own camelCase
// JSON), as ParseEvent does a "GuardDuty Finding" event's detail.
func ParseGuardDutyFinding(b []byte) (Finding, error) {
	return finished(parseGuardDuty(b))
}

// ParseASFFFinding normalises one ASFF finding as Security Hub's
// GetFindings answers it (the SDK's types.AwsSecurityFinding in JSON), as
// ParseEvent does each finding of a "Security Hub Findings - Imported"
// event.
func ParseASFFFinding(b []byte) (Finding, error) {
	return finished(parseASFF(b))
}

// finished is a parsed finding with its keys.
func finished(f Finding, err error) (Finding, error) {
	if err != nil {
		return Finding{}, err
	}
	f.finish()
	return f, nil
}

func parseGuardDuty(detail json.RawMessage) (Finding, error) {
	var g gdFinding
	if err := json.Unmarshal(detail, &g); err != nil {
		return Finding{}, fmt.Errorf("GuardDuty finding: %w", err)
	}
	if g.ID == "" || g.AccountID == "" || g.Type == "" {
		return Finding{}, errors.New("GuardDuty finding: detail.id, detail.accountId and detail.type are required")
	}
	f := Finding{
		Source: runbooks.SourceGuardDuty, Product: "guardduty", ID: g.ID, Type: g.Type,
		Title: g.Title, Description: g.Description,
		// The affected account is detail.accountId; the envelope's account
		// is the delegated administrator's when findings are aggregated.
		Account:       g.AccountID,
		Region:        g.Region,
		Severity:      severityOfScore(g.Severity),
		SeverityScore: int(math.Round(g.Severity * 10)),
		Count:         g.Service.Count,
	}
	if f.Region == "" {
		f.Region = arnRegion(g.Arn) // never the delivery region
	}
	if err := f.setSeen(firstNonEmpty(g.Service.EventFirstSeen, g.CreatedAt), firstNonEmpty(g.Service.EventLastSeen, g.UpdatedAt)); err != nil {
		return Finding{}, fmt.Errorf("GuardDuty finding %s: %w", g.ID, err)
	}
	f.Resource = resourceKind(g.Resource.ResourceType, false)
	switch {
	case g.Resource.InstanceDetails != nil && g.Resource.InstanceDetails.InstanceID != "":
		f.InstanceID = g.Resource.InstanceDetails.InstanceID
		f.ResourceARN = fmt.Sprintf("arn:%s:ec2:%s:%s:instance/%s", firstNonEmpty(g.Partition, "aws"), f.Region, f.Account, f.InstanceID)
	case g.Resource.AccessKeyDetails != nil:
		f.AccessKeyID = g.Resource.AccessKeyDetails.AccessKeyID
		if g.Resource.AccessKeyDetails.UserType == "IAMUser" || g.Resource.AccessKeyDetails.UserType == "" {
			f.UserName = g.Resource.AccessKeyDetails.UserName
		}
	case len(g.Resource.S3BucketDetails) > 0:
		f.ResourceARN = g.Resource.S3BucketDetails[0].Arn
	}
	switch {
	case isSample(g.Service.AdditionalInfo):
		f.Drop = "a sample finding (service.additionalInfo.sample), generated by CreateSampleFindings"
	case g.Service.Archived:
		f.Drop = "an archived finding (archived by hand or by a suppression rule)"
	}
	return f, nil
}

// isSample reads GuardDuty's sample flag, in the event's form
// ({"sample": true}) and in the API's ({"value": "{\"sample\":true}"}).
func isSample(raw json.RawMessage) bool {
	var info map[string]any
	if len(raw) == 0 || json.Unmarshal(raw, &info) != nil {
		return false
	}
	for k, v := range info {
		switch strings.ToLower(k) {
		case "sample":
			if truthy(v) {
				return true
			}
		case "value":
			if s, ok := v.(string); ok && s != "" {
				if isSample(json.RawMessage(s)) {
					return true
				}
			}
		}
	}
	return false
}

func truthy(v any) bool {
	switch x := v.(type) {
	case bool:
		return x
	case string:
		b, _ := strconv.ParseBool(x)
		return b
	}
	return false
}

// resourceKind is Cordon's name for a resource type as GuardDuty names it
// ("Instance") or, with asff, as ASFF does ("AwsEc2Instance"): "" for none,
// "other" for a type Cordon has no name for. One table holds both
// vocabularies so a kind added is added to both.
func resourceKind(t string, asff bool) string {
	if t == "" {
		return ""
	}
	for _, k := range [...]struct{ kind, guardDuty, asff string }{
		{"instance", "Instance", "AwsEc2Instance"},
		{"access_key", "AccessKey", "AwsIamAccessKey"},
		{"s3_bucket", "S3Bucket", "AwsS3Bucket"},
		{"s3_object", "S3Object", "AwsS3Object"},
		{"eks_cluster", "EKSCluster", "AwsEksCluster"},
		{"ecs_cluster", "ECSCluster", "AwsEcsCluster"},
		{"container", "Container", "Container"},
		{"lambda_function", "Lambda", "AwsLambdaFunction"},
		{"rds_db_instance", "RDSDBInstance", "AwsRdsDbInstance"},
	} {
		name := k.guardDuty
		if asff {
			name = k.asff
		}
		if name == t {
			return k.kind
		}
	}
	return "other"
}

// asffFinding is the part of the AWS Security Finding Format (PascalCase)
// Cordon reads.
type asffFinding struct {
	ID              string `json:"Id"`
	ProductArn      string `json:"ProductArn"`
	ProductName     string `json:"ProductName"`
	AwsAccountID    string `json:"AwsAccountId"`
	Region          string `json:"Region"`
	Types           []string
	Title           string
	Description     string
	FirstObservedAt string
	LastObservedAt  string
	CreatedAt       string
	UpdatedAt       string
	Severity        struct {
		Label      string
		Normalized float64
	}
	ProductFields map[string]string
	Resources     []struct {
		Type    string
		ID      string `json:"Id"`
		Region  string
		Details struct {
			AwsIamAccessKey *struct {
				PrincipalName string
				PrincipalType string
				UserName      string
			}
		}
	}
	Workflow struct {
		Status string
	}
	WorkflowState string
	RecordState   string
	Sample        bool
}

func parseSecurityHub(detail json.RawMessage) ([]Finding, error) {
	var d struct {
		Findings []json.RawMessage `json:"findings"`
	}
	if err := json.Unmarshal(detail, &d); err != nil {
		return nil, fmt.Errorf("Security Hub findings: %w", err)
	}
	if len(d.Findings) == 0 {
		return nil, errors.New("Security Hub event: detail.findings is empty")
	}
	out := make([]Finding, 0, len(d.Findings))
	for i, raw := range d.Findings {
		f, err := parseASFF(raw)
		if err != nil {
			return nil, fmt.Errorf("detail.findings[%d]: %w", i, err)
		}
		out = append(out, f)
	}
	return out, nil
}

func parseASFF(raw json.RawMessage) (Finding, error) {
	var a asffFinding
	if err := json.Unmarshal(raw, &a); err != nil {
		return Finding{}, fmt.Errorf("ASFF finding: %w", err)
	}
	if a.ID == "" || a.ProductArn == "" || a.AwsAccountID == "" {
		return Finding{}, errors.New("ASFF finding: Id, ProductArn and AwsAccountId are required")
	}
	f := Finding{
		Source: runbooks.SourceSecurityHub, ID: a.ID, Types: a.Types,
		Title: a.Title, Description: a.Description, Account: a.AwsAccountID,
		Severity:      strings.ToLower(a.Severity.Label),
		SeverityScore: int(math.Round(a.Severity.Normalized)),
		Status:        firstNonEmpty(a.Workflow.Status, a.WorkflowState),
		ProductARN:    a.ProductArn,
	}
	if len(a.Types) > 0 {
		f.Type = a.Types[0]
	}
	f.Region = firstNonEmpty(a.Region, arnRegion(a.ID))
	if f.Region == "" && len(a.Resources) > 0 {
		f.Region = a.Resources[0].Region
	}
	if err := f.setSeen(firstNonEmpty(a.FirstObservedAt, a.CreatedAt), firstNonEmpty(a.LastObservedAt, a.UpdatedAt)); err != nil {
		return Finding{}, fmt.Errorf("ASFF finding %s: %w", a.ID, err)
	}
	f.Product = strings.ToLower(firstNonEmpty(a.ProductName, a.ProductFields["aws/securityhub/ProductName"], a.ProductArn))
	if isGuardDutyProduct(a) {
		f.Product = "guardduty"
		// GuardDuty writes its type into ASFF as
		// "TTPs/Discovery/Recon:EC2-PortProbeUnprotectedPort"; a trigger
		// sees the GuardDuty form too, so one pattern serves both.
		for _, t := range a.Types {
			if gd := guardDutyTypeOfASFF(t); gd != "" {
				f.Type = gd
				break
			}
		}
		if n, err := strconv.Atoi(a.ProductFields["aws/guardduty/service/count"]); err == nil {
			f.Count = n
		}
		// The copy of a GuardDuty finding has the same key as the
		// finding: account, region and id come from the GuardDuty ARN.
		if account, region, id, ok := guardDutyFindingARN(a.ID); ok {
			f.Key = guardDutyKey(account, region, id)
		}
	}
	if f.Key == "" {
		f.Key = "securityhub/" + a.ProductArn + "/" + a.ID
	}
	if len(a.Resources) > 0 {
		r := a.Resources[0]
		f.Resource = resourceKind(r.Type, true)
		switch f.Resource {
		case "instance":
			f.ResourceARN = r.ID
			f.InstanceID = arnResourceID(r.ID, "instance/")
		case "access_key":
			// GuardDuty names the key "AWS::IAM::AccessKey:AKIA…".
			f.AccessKeyID = r.ID[strings.LastIndex(r.ID, ":")+1:]
			if k := r.Details.AwsIamAccessKey; k != nil && (k.PrincipalType == "IAMUser" || k.PrincipalType == "") {
				f.UserName = firstNonEmpty(k.PrincipalName, k.UserName)
			}
		default:
			f.ResourceARN = r.ID
		}
	}
	switch {
	case a.Sample || truthy(a.ProductFields["aws/guardduty/service/additionalInfo/sample"]):
		f.Drop = "a sample finding (ASFF Sample)"
	case a.RecordState == "ARCHIVED" || truthy(a.ProductFields["aws/guardduty/service/archived"]):
		f.Drop = "an archived finding (RecordState ARCHIVED)"
	case f.Status != "NEW":
		// Security Hub republishes a finding on every workflow change,
		// Cordon's own included: only NEW findings may start anything.
		f.Drop = fmt.Sprintf("workflow status %s, not NEW: an update of a finding already seen (perhaps Cordon's own), never a new trigger", firstNonEmpty(f.Status, "(none)"))
	}
	return f, nil
}

func isGuardDutyProduct(a asffFinding) bool {
	return strings.HasSuffix(a.ProductArn, "/aws/guardduty") ||
		a.ProductFields["aws/securityhub/ProductName"] == "GuardDuty" || a.ProductName == "GuardDuty"
}

// guardDutyTypeOfASFF turns an ASFF type written by GuardDuty
// (namespace/category/ThreatPurpose:Resource-Name) back into the GuardDuty
// type (ThreatPurpose:Resource/Name): the last path segment, with the
// first '-' after the colon restored to '/'. "" when t is not of that form.
func guardDutyTypeOfASFF(t string) string {
	last := t[strings.LastIndex(t, "/")+1:]
	purpose, rest, ok := strings.Cut(last, ":")
	if !ok || purpose == "" {
		return ""
	}
	resource, name, ok := strings.Cut(rest, "-")
	if !ok || resource == "" || name == "" {
		return ""
	}
	return purpose + ":" + resource + "/" + name
}

// guardDutyFindingARN splits
// arn:aws:guardduty:REGION:ACCOUNT:detector/DETECTOR/finding/ID.
func guardDutyFindingARN(s string) (account, region, id string, ok bool) {
	parts := strings.SplitN(s, ":", 6)
	if len(parts) != 6 || parts[0] != "arn" || parts[2] != "guardduty" {
		return "", "", "", false
	}
	i := strings.LastIndex(parts[5], "/finding/")
	if i < 0 {
		return "", "", "", false
	}
	return parts[4], parts[3], parts[5][i+len("/finding/"):], true
}

// healthEvent is the detail of an AWS Health event (camelCase; times in
// RFC 1123, "Tue, 10 Sep 2019 19:06:00 GMT").
type healthEvent struct {
	EventArn         string `json:"eventArn"`
	Service          string `json:"service"`
	EventTypeCode    string `json:"eventTypeCode"`
	StartTime        string `json:"startTime"`
	LastUpdatedTime  string `json:"lastUpdatedTime"`
	StatusCode       string `json:"statusCode"`
	EventRegion      string `json:"eventRegion"`
	AffectedAccount  string `json:"affectedAccount"`
	EventDescription []struct {
		Language          string `json:"language"`
		LatestDescription string `json:"latestDescription"`
	} `json:"eventDescription"`
	AffectedEntities []struct {
		EntityValue string `json:"entityValue"`
	} `json:"affectedEntities"`
}

func parseHealth(detail json.RawMessage, envAccount string) ([]Finding, error) {
	var h healthEvent
	if err := json.Unmarshal(detail, &h); err != nil {
		return nil, fmt.Errorf("Health event: %w", err)
	}
	if h.EventArn == "" || h.EventTypeCode == "" {
		return nil, errors.New("Health event: detail.eventArn and detail.eventTypeCode are required")
	}
	base := Finding{
		Source: runbooks.SourceHealth, Product: "health", ID: h.EventArn,
		Type: h.EventTypeCode, Title: h.EventTypeCode, EventTypeCode: h.EventTypeCode,
		// An organizational view names the affected account; otherwise the
		// event is delivered in the account it is about.
		Account: firstNonEmpty(h.AffectedAccount, envAccount),
		Status:  h.StatusCode,
	}
	for _, d := range h.EventDescription {
		if base.Description == "" || strings.HasPrefix(d.Language, "en") {
			base.Description = d.LatestDescription
		}
	}
	var err error
	if base.FirstSeen, err = rfc1123(h.StartTime); err != nil {
		return nil, fmt.Errorf("Health event %s: startTime: %w", h.EventArn, err)
	}
	if base.LastSeen, err = rfc1123(firstNonEmpty(h.LastUpdatedTime, h.StartTime)); err != nil {
		return nil, fmt.Errorf("Health event %s: lastUpdatedTime: %w", h.EventArn, err)
	}
	if h.EventRegion != "global" {
		base.Region = h.EventRegion
	}
	if h.StatusCode == "closed" {
		base.Drop = "a closed Health event: AWS considers it resolved"
	}
	if len(h.AffectedEntities) == 0 {
		return []Finding{base}, nil
	}
	// One finding per affected entity (an abuse notice may name several
	// instances), each with a key and a target of its own.
	out := make([]Finding, 0, len(h.AffectedEntities))
	for _, e := range h.AffectedEntities {
		f := base
		healthEntity(&f, e.EntityValue)
		out = append(out, f)
	}
	return out, nil
}

// HealthEvent is an AWS Health event as the Health API describes it
// (DescribeEventDetails, and DescribeAffectedEntities for its entities),
// in the account it was asked in.
type HealthEvent struct {
	Arn, Service, EventTypeCode, StatusCode string
	// Region is the event's region ("global" for a global event).
	Region                     string
	StartTime, LastUpdatedTime time.Time
	// Description is the event's latest description.
	Description string
	// Account is the account the API was asked in: the affected one.
	Account string
	// Entities are the affected entities' values (instance ARNs or ids,
	// access key ids, other ARNs).
	Entities []string
}

// ParseHealthEvent normalises an event the Health API describes, as
// ParseEvent does the event's detail (one finding per affected entity):
// it is written as that detail, RFC 1123 times included, and read by the
// same code.
func ParseHealthEvent(e HealthEvent) ([]Finding, error) {
	if e.Arn == "" || e.EventTypeCode == "" || e.Account == "" {
		return nil, errors.New("Health event: its ARN, type code and account are required")
	}
	type entity struct {
		EntityValue string `json:"entityValue"`
	}
	detail := map[string]any{"eventArn": e.Arn, "service": e.Service, "eventTypeCode": e.EventTypeCode,
		"statusCode": e.StatusCode, "eventRegion": e.Region, "affectedAccount": e.Account,
		"startTime": httpTime(e.StartTime), "lastUpdatedTime": httpTime(e.LastUpdatedTime),
		"eventDescription": []map[string]string{{"language": "en_US", "latestDescription": e.Description}}}
	entities := make([]entity, 0, len(e.Entities))
	for _, v := range e.Entities {
		entities = append(entities, entity{EntityValue: v})
	}
	detail["affectedEntities"] = entities
	b, err := json.Marshal(detail)
	if err != nil {
		return nil, fmt.Errorf("Health event %s: %w", e.Arn, err)
	}
	fs, err := parseHealth(b, e.Account)
	if err != nil {
		return nil, err
	}
	for i := range fs {
		fs[i].finish()
	}
	return fs, nil
}

// httpTime is t as Health events write it (RFC 1123, GMT); "" for the
// zero time.
func httpTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(http.TimeFormat)
}

// healthEntity reads an affected entity: an instance ARN or id, an access
// key id, or another ARN.
func healthEntity(f *Finding, v string) {
	switch {
	case strings.HasPrefix(v, "arn:"):
		f.ResourceARN = v
		if f.Region == "" {
			f.Region = arnRegion(v)
		}
		if id := arnResourceID(v, "instance/"); id != "" && strings.Contains(v, ":ec2:") {
			f.Resource, f.InstanceID = "instance", id
		} else {
			f.Resource = "other"
		}
	case strings.HasPrefix(v, "i-"):
		f.Resource, f.InstanceID = "instance", v
	case strings.HasPrefix(v, "AKIA") || strings.HasPrefix(v, "ASIA"):
		f.Resource, f.AccessKeyID = "access_key", v
	case v != "":
		f.Resource, f.ResourceARN = "other", v
	}
}

// arnRegion is the region field of an ARN, "" when it has none.
func arnRegion(arn string) string {
	parts := strings.SplitN(arn, ":", 6)
	if len(parts) < 6 || parts[0] != "arn" {
		return ""
	}
	return parts[3]
}

// arnResourceID is what follows prefix (e.g. "instance/") in an ARN.
func arnResourceID(arn, prefix string) string {
	i := strings.LastIndex(arn, ":"+prefix)
	if i < 0 {
		return ""
	}
	return arn[i+1+len(prefix):]
}

// setSeen sets when the finding was first and last seen from RFC 3339
// times (GuardDuty's and ASFF's).
func (f *Finding) setSeen(first, last string) error {
	var err error
	if f.FirstSeen, err = rfc3339(first); err != nil {
		return fmt.Errorf("first seen: %w", err)
	}
	if f.LastSeen, err = rfc3339(last); err != nil {
		return fmt.Errorf("last seen: %w", err)
	}
	return nil
}

// rfc3339 normalises an RFC 3339 time to UTC seconds ("" stays "").
func rfc3339(s string) (string, error) {
	if s == "" {
		return "", nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return "", err
	}
	return t.UTC().Format(time.RFC3339), nil
}

// rfc1123 reads a Health time ("Tue, 10 Sep 2019 19:06:00 GMT") into RFC
// 3339 UTC, the form every other finding time has.
func rfc1123(s string) (string, error) {
	if s == "" {
		return "", nil
	}
	t, err := time.Parse(time.RFC1123, s)
	if err != nil {
		return "", fmt.Errorf("%q is not an RFC 1123 time (Tue, 10 Sep 2019 19:06:00 GMT): %w", s, err)
	}
	return t.UTC().Format(time.RFC3339), nil
}

func firstNonEmpty(ss ...string) string {
	for _, s := range ss {
		if s != "" {
			return s
		}
	}
	return ""
}
