package awsemu

import (
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"
)

// securityHub is Security Hub enabled in one account and region, holding
// findings in ASFF in the order they were first seeded.
type securityHub struct {
	findings map[shFindingKey]map[string]any
	order    []shFindingKey
}

// shFindingKey identifies a finding as Security Hub does: by id and the
// product that reported it.
type shFindingKey struct{ id, productARN string }

// securityHubOperations is the slice of Security Hub the intake uses to
// fetch a finding again before acting on it. Security Hub speaks
// restJson1 (protocol_json.go).
func securityHubOperations() []operation {
	return []operation{
		{service: ServiceSecurityHub, action: "GetFindings", method: http.MethodPost, path: "/findings", serve: (*Emulator).shGetFindings},
		{service: ServiceSecurityHub, action: "BatchUpdateFindings", method: http.MethodPatch, path: "/findings/batchupdate", mutating: true,
			serve: (*Emulator).shBatchUpdateFindings},
	}
}

// shFindingTypes are top-level ASFF fields with the JSON type the SDK
// decodes them as.
func shFindingTypes() map[string]string {
	return map[string]string{
		"AwsAccountId": "string", "CreatedAt": "string", "Description": "string", "GeneratorId": "string", "Id": "string",
		"ProductArn": "string", "Region": "string", "RecordState": "string", "Resources": "array", "SchemaVersion": "string",
		"Severity": "object", "Title": "string", "Types": "array", "UpdatedAt": "string", "Workflow": "object",
		"Note": "object", "Sample": "boolean", "Confidence": "number", "Criticality": "number", "UserDefinedFields": "object",
	}
}

// PutSecurityHubFinding stores an ASFF finding (PascalCase, as in
// GetFindings and in the findings of a "Security Hub Findings - Imported"
// EventBridge event) in Security Hub of account in region (empty means the
// emulator's), enabling Security Hub there. It needs an Id and a
// ProductArn; absent AwsAccountId, Region, SchemaVersion, CreatedAt,
// UpdatedAt, RecordState (ACTIVE) and Workflow.Status (NEW) are filled
// in. A finding with the Id and ProductArn of a stored one replaces it, as
// BatchImportFindings would.
func (e *Emulator) PutSecurityHubFinding(account, region string, asff json.RawMessage) error {
	doc, err := parseDocument(asff)
	if err == nil {
		err = checkTypes(doc, shFindingTypes())
	}
	if err != nil {
		return fmt.Errorf("awsemu: put Security Hub finding: %w", err)
	}
	key := shFindingKey{}
	key.id, _ = doc["Id"].(string)
	key.productARN, _ = doc["ProductArn"].(string)
	if key.id == "" || key.productARN == "" {
		return fmt.Errorf("awsemu: put Security Hub finding: it needs an Id and a ProductArn")
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	scope := e.adminAccountRegion(account, region)
	hub := e.enableSecurityHub(scope)
	now := isoMillis(e.clock())
	defaults := map[string]any{
		"AwsAccountId": scope.account, "Region": scope.region, "SchemaVersion": "2018-10-08",
		"CreatedAt": now, "UpdatedAt": now, "RecordState": "ACTIVE",
	}
	for k, v := range defaults {
		if _, ok := doc[k]; !ok {
			doc[k] = v
		}
	}
	if wf, _ := child(doc, "Workflow"); wf["Status"] == nil {
		wf["Status"] = "NEW"
	}
	if _, ok := hub.findings[key]; !ok {
		hub.order = append(hub.order, key)
	}
	hub.findings[key] = doc
	return nil
}

// EnableSecurityHub enables Security Hub, with no findings, in account and
// region (empty means the emulator's). Until then its API answers
// InvalidAccessException there, as for an account not subscribed.
func (e *Emulator) EnableSecurityHub(account, region string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.enableSecurityHub(e.adminAccountRegion(account, region))
}

func (e *Emulator) enableSecurityHub(scope accountRegion) *securityHub {
	hub, ok := e.hubs[scope]
	if !ok {
		hub = &securityHub{findings: map[shFindingKey]map[string]any{}}
		e.hubs[scope] = hub
	}
	return hub
}

// hub is Security Hub where the caller acts.
func (e *Emulator) hub(r *request) (*securityHub, *apiError) {
	scope := e.callerScope(r)
	hub, ok := e.hubs[scope]
	if !ok {
		return nil, clientErr(http.StatusUnauthorized, "InvalidAccessException",
			"Account %s is not subscribed to AWS Security Hub in %s", scope.account, scope.region)
	}
	return hub, nil
}

// shStringFields maps the string filters the emulator supports to where
// the value lives in ASFF (dotted, fanning out over arrays).
func shStringFields() map[string]string {
	return map[string]string{
		"Id": "Id", "ProductArn": "ProductArn", "ProductName": "ProductName", "CompanyName": "CompanyName",
		"AwsAccountId": "AwsAccountId", "AwsAccountName": "AwsAccountName", "Region": "Region", "GeneratorId": "GeneratorId",
		"Title": "Title", "Description": "Description", "SourceUrl": "SourceUrl", "Type": "Types",
		"RecordState": "RecordState", "WorkflowStatus": "Workflow.Status", "WorkflowState": "WorkflowState",
		"SeverityLabel": "Severity.Label", "ComplianceStatus": "Compliance.Status", "VerificationState": "VerificationState",
		"NoteText": "Note.Text", "NoteUpdatedBy": "Note.UpdatedBy",
		"ResourceId": "Resources.Id", "ResourceType": "Resources.Type", "ResourceRegion": "Resources.Region",
		"ResourcePartition": "Resources.Partition",
	}
}

// shStringFilter is Security Hub's StringFilter.
type shStringFilter struct {
	Value      string
	Comparison string
}

// shFieldFilter is every filter on one field. As Security Hub documents,
// EQUALS, PREFIX and CONTAINS filters on a field are joined by OR,
// NOT_EQUALS, PREFIX_NOT_EQUALS and NOT_CONTAINS ones by AND; fields are
// joined by AND.
type shFieldFilter struct {
	path    []string
	strings []shStringFilter
	boolean *bool
}

func (f shFieldFilter) matches(doc map[string]any) bool {
	values := valuesAt(doc, f.path)
	if f.boolean != nil {
		return slices.ContainsFunc(values, func(v any) bool { b, ok := v.(bool); return ok && b == *f.boolean }) ||
			(len(values) == 0 && !*f.boolean)
	}
	anyPositive, positive := false, false
	for _, sf := range f.strings {
		test := func(v any) bool {
			s := scalarText(v)
			switch sf.Comparison {
			case "EQUALS", "NOT_EQUALS":
				return s == sf.Value
			case "PREFIX", "PREFIX_NOT_EQUALS":
				return strings.HasPrefix(s, sf.Value)
			default: // CONTAINS, NOT_CONTAINS
				return strings.Contains(s, sf.Value)
			}
		}
		hit := slices.ContainsFunc(values, test)
		switch sf.Comparison {
		case "EQUALS", "PREFIX", "CONTAINS":
			anyPositive = true
			positive = positive || hit
		default:
			if hit {
				return false
			}
		}
	}
	return !anyPositive || positive
}

// parseFilters reads GetFindings' Filters, refusing the ones the emulator
// does not evaluate rather than ignoring them.
func parseFilters(raw map[string]json.RawMessage) ([]shFieldFilter, *apiError) {
	fields := shStringFields()
	var out []shFieldFilter
	for _, name := range sortedKeys(raw) {
		if name == "Sample" {
			var bs []struct{ Value *bool }
			if err := json.Unmarshal(raw[name], &bs); err != nil || len(bs) != 1 || bs[0].Value == nil {
				return nil, errInvalid(ServiceSecurityHub, "Filter Sample must be one BooleanFilter with a Value")
			}
			out = append(out, shFieldFilter{path: []string{"Sample"}, boolean: bs[0].Value})
			continue
		}
		path, ok := fields[name]
		if !ok {
			return nil, errInvalid(ServiceSecurityHub, "Filter %s is not supported by the emulator; it evaluates the string filters %s and Sample",
				name, strings.Join(sortedKeys(fields), ", "))
		}
		var sfs []shStringFilter
		if err := json.Unmarshal(raw[name], &sfs); err != nil {
			return nil, errInvalid(ServiceSecurityHub, "Filter %s must be a list of StringFilter: %v", name, err)
		}
		for _, sf := range sfs {
			switch sf.Comparison {
			case "EQUALS", "PREFIX", "NOT_EQUALS", "PREFIX_NOT_EQUALS", "CONTAINS", "NOT_CONTAINS":
			default:
				return nil, errInvalid(ServiceSecurityHub, "Comparison %q of filter %s is not supported by the emulator", sf.Comparison, name)
			}
		}
		out = append(out, shFieldFilter{path: strings.Split(path, "."), strings: sfs})
	}
	return out, nil
}

func (e *Emulator) shGetFindings(r *request) (any, *apiError) {
	var in struct {
		Filters      map[string]json.RawMessage
		SortCriteria []struct{ Field, SortOrder string }
		MaxResults   *int
		NextToken    string
	}
	if aerr := r.decode(&in); aerr != nil {
		return nil, aerr
	}
	hub, aerr := e.hub(r)
	if aerr != nil {
		return nil, aerr
	}
	limit := 100
	if in.MaxResults != nil {
		if *in.MaxResults < 1 || *in.MaxResults > 100 {
			return nil, errInvalid(ServiceSecurityHub, "MaxResults must be between 1 and 100; it is %d", *in.MaxResults)
		}
		limit = *in.MaxResults
	}
	filters, aerr := parseFilters(in.Filters)
	if aerr != nil {
		return nil, aerr
	}
	var docs []map[string]any
	for _, k := range hub.order {
		f := hub.findings[k]
		if !slices.ContainsFunc(filters, func(ff shFieldFilter) bool { return !ff.matches(f) }) {
			docs = append(docs, f)
		}
	}
	fields := shStringFields()
	// The first criterion sorts last, so that it decides the order.
	for i := len(in.SortCriteria) - 1; i >= 0; i-- {
		c := in.SortCriteria[i]
		path := c.Field
		if p, ok := fields[c.Field]; ok {
			path = p
		}
		sortDocuments(docs, path, c.SortOrder == "desc")
	}
	lo, hi, next, aerr := pageBounds(ServiceSecurityHub, len(docs), limit, in.NextToken)
	if aerr != nil {
		return nil, aerr
	}
	page := make([]any, 0, hi-lo)
	for _, f := range docs[lo:hi] {
		page = append(page, cloneDocument(f))
	}
	out := map[string]any{"Findings": page}
	if next != "" {
		out["NextToken"] = next
	}
	return out, nil
}

// shIdentifier is Security Hub's AwsSecurityFindingIdentifier.
type shIdentifier struct {
	Id         string
	ProductArn string
}

func oneOf(v string, allowed ...string) bool { return v == "" || slices.Contains(allowed, v) }

func (e *Emulator) shBatchUpdateFindings(r *request) (any, *apiError) {
	var in struct {
		FindingIdentifiers []shIdentifier
		Note               *struct{ Text, UpdatedBy string }
		Workflow           *struct{ Status string }
		Severity           *struct {
			Label      string
			Normalized *int
			Product    *float64
		}
		VerificationState string
		Confidence        *int
		Criticality       *int
		Types             []string
		UserDefinedFields map[string]string
		RelatedFindings   []shIdentifier
	}
	if aerr := r.decode(&in); aerr != nil {
		return nil, aerr
	}
	hub, aerr := e.hub(r)
	if aerr != nil {
		return nil, aerr
	}
	switch {
	case len(in.FindingIdentifiers) == 0 || len(in.FindingIdentifiers) > 100:
		return nil, errInvalid(ServiceSecurityHub, "FindingIdentifiers must hold 1 to 100 identifiers; it holds %d", len(in.FindingIdentifiers))
	case in.Note == nil && in.Workflow == nil && in.Severity == nil && in.VerificationState == "" && in.Confidence == nil &&
		in.Criticality == nil && in.Types == nil && in.UserDefinedFields == nil && in.RelatedFindings == nil:
		return nil, errInvalid(ServiceSecurityHub, "At least one field to update is required")
	case in.Note != nil && (in.Note.Text == "" || in.Note.UpdatedBy == ""):
		return nil, errInvalid(ServiceSecurityHub, "Note needs a Text and an UpdatedBy")
	case in.Workflow != nil && !oneOf(in.Workflow.Status, "NEW", "NOTIFIED", "RESOLVED", "SUPPRESSED"):
		return nil, errInvalid(ServiceSecurityHub, "Workflow.Status %q is not NEW, NOTIFIED, RESOLVED or SUPPRESSED", in.Workflow.Status)
	case in.Severity != nil && !oneOf(in.Severity.Label, "INFORMATIONAL", "LOW", "MEDIUM", "HIGH", "CRITICAL"):
		return nil, errInvalid(ServiceSecurityHub, "Severity.Label %q is not a severity label", in.Severity.Label)
	case !oneOf(in.VerificationState, "UNKNOWN", "TRUE_POSITIVE", "FALSE_POSITIVE", "BENIGN_POSITIVE"):
		return nil, errInvalid(ServiceSecurityHub, "VerificationState %q is not a verification state", in.VerificationState)
	case in.Confidence != nil && (*in.Confidence < 0 || *in.Confidence > 100), in.Criticality != nil && (*in.Criticality < 0 || *in.Criticality > 100):
		return nil, errInvalid(ServiceSecurityHub, "Confidence and Criticality must be between 0 and 100")
	}
	type unprocessed struct {
		FindingIdentifier shIdentifier
		ErrorCode         string
		ErrorMessage      string
	}
	out := struct {
		ProcessedFindings   []shIdentifier
		UnprocessedFindings []unprocessed
	}{ProcessedFindings: []shIdentifier{}, UnprocessedFindings: []unprocessed{}}
	seen := map[shIdentifier]bool{}
	for _, id := range in.FindingIdentifiers {
		f, ok := hub.findings[shFindingKey{id: id.Id, productARN: id.ProductArn}]
		switch {
		case seen[id]:
			out.UnprocessedFindings = append(out.UnprocessedFindings, unprocessed{id, "DuplicatedFindingIdentifier", "Duplicated finding identifier"})
			continue
		case !ok:
			out.UnprocessedFindings = append(out.UnprocessedFindings, unprocessed{id, "FindingNotFound", "Finding Not Found"})
			continue
		}
		seen[id] = true
		update := map[string]any{}
		if in.Note != nil {
			update["Note"] = map[string]any{"Text": in.Note.Text, "UpdatedBy": in.Note.UpdatedBy, "UpdatedAt": isoMillis(r.now)}
		}
		if in.Workflow != nil && in.Workflow.Status != "" {
			wf, _ := child(f, "Workflow")
			wf["Status"] = in.Workflow.Status
		}
		if in.Severity != nil {
			sev, _ := child(f, "Severity")
			if in.Severity.Label != "" {
				sev["Label"] = in.Severity.Label
			}
			if in.Severity.Normalized != nil {
				sev["Normalized"] = json.Number(fmt.Sprint(*in.Severity.Normalized))
			}
			if in.Severity.Product != nil {
				sev["Product"] = json.Number(fmt.Sprint(*in.Severity.Product))
			}
		}
		if in.VerificationState != "" {
			update["VerificationState"] = in.VerificationState
		}
		if in.Confidence != nil {
			update["Confidence"] = json.Number(fmt.Sprint(*in.Confidence))
		}
		if in.Criticality != nil {
			update["Criticality"] = json.Number(fmt.Sprint(*in.Criticality))
		}
		if in.Types != nil {
			update["Types"] = in.Types
		}
		if in.UserDefinedFields != nil {
			update["UserDefinedFields"] = in.UserDefinedFields
		}
		if in.RelatedFindings != nil {
			update["RelatedFindings"] = in.RelatedFindings
		}
		// Round-trip the update through JSON so the finding holds only
		// the types a seeded document does (maps, []any, json.Number).
		b, err := json.Marshal(update)
		if err != nil {
			panic(err) // strings, numbers and lists of them always marshal
		}
		doc, err := parseDocument(b)
		if err != nil {
			panic(err) // json.Marshal wrote it
		}
		maps.Copy(f, doc)
		out.ProcessedFindings = append(out.ProcessedFindings, id)
	}
	return out, nil
}
