package awsemu

import (
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// gdDetector is an account's GuardDuty detector in one region, holding its
// findings in the order they were first seeded.
type gdDetector struct {
	id       string
	findings map[string]map[string]any
	order    []string
}

// accountRegion keys the regional state of an account.
type accountRegion struct{ account, region string }

// guardDutyOperations is the slice of GuardDuty the intake uses to fetch a
// finding again from its source before acting on an event about it.
// GuardDuty speaks restJson1 (protocol_json.go).
func guardDutyOperations() []operation {
	op := func(action, method, path string, mutating bool, h func(*Emulator, *request) (any, *apiError)) operation {
		return operation{service: ServiceGuardDuty, action: action, method: method, path: path, mutating: mutating, serve: h}
	}
	return []operation{
		op("ListDetectors", http.MethodGet, "/detector", false, (*Emulator).gdListDetectors),
		op("GetFindings", http.MethodPost, "/detector/{detectorId}/findings/get", false, (*Emulator).gdGetFindings),
		op("ListFindings", http.MethodPost, "/detector/{detectorId}/findings", false, (*Emulator).gdListFindings),
		op("ArchiveFindings", http.MethodPost, "/detector/{detectorId}/findings/archive", true, (*Emulator).gdArchiveFindings),
		op("UnarchiveFindings", http.MethodPost, "/detector/{detectorId}/findings/unarchive", true, (*Emulator).gdArchiveFindings),
	}
}

// gdFindingTypes are the top-level fields of a GuardDuty finding with the
// JSON type the SDK decodes them as.
func gdFindingTypes() map[string]string {
	return map[string]string{
		"accountId": "string", "arn": "string", "confidence": "number", "createdAt": "string", "description": "string",
		"id": "string", "partition": "string", "region": "string", "resource": "object", "schemaVersion": "string",
		"service": "object", "severity": "number", "title": "string", "type": "string", "updatedAt": "string",
	}
}

var detectorIDPattern = regexp.MustCompile(`^[A-Za-z0-9]{1,300}$`)

// PutGuardDutyFinding stores a finding in the GuardDuty detector of account
// in region (empty means the emulator's), creating the detector if there
// is none, and returns the detector id. The finding is GuardDuty's JSON
// shape, camelCase, as in GetFindings and in the detail of a "GuardDuty
// Finding" EventBridge event; it needs an id. Absent accountId, region,
// partition, arn, schemaVersion, createdAt, updatedAt, service.detectorId
// and service.archived are filled in; a service.detectorId that is set
// names the detector (and must match the one the account has there). A
// finding with the id of a stored one replaces it, as GuardDuty updates a
// recurring finding.
func (e *Emulator) PutGuardDutyFinding(account, region string, finding json.RawMessage) (string, error) {
	doc, err := parseDocument(finding)
	if err == nil {
		err = checkTypes(doc, gdFindingTypes())
	}
	if err != nil {
		return "", fmt.Errorf("awsemu: put GuardDuty finding: %w", err)
	}
	id, _ := doc["id"].(string)
	if id == "" {
		return "", fmt.Errorf("awsemu: put GuardDuty finding: it has no id")
	}
	svc, ok := child(doc, "service")
	if !ok {
		return "", fmt.Errorf("awsemu: put GuardDuty finding %s: service must be a JSON object", id)
	}
	wantDetector, ok := svc["detectorId"].(string)
	if _, present := svc["detectorId"]; present && (!ok || !detectorIDPattern.MatchString(wantDetector)) {
		return "", fmt.Errorf("awsemu: put GuardDuty finding %s: service.detectorId %v is not a detector id", id, svc["detectorId"])
	}

	e.mu.Lock()
	defer e.mu.Unlock()
	key := e.adminAccountRegion(account, region)
	d, ok := e.detectors[key]
	switch {
	case ok && wantDetector != "" && wantDetector != d.id:
		return "", fmt.Errorf("awsemu: put GuardDuty finding %s: account %s has detector %s in %s, not %s", id, key.account, d.id, key.region, wantDetector)
	case !ok:
		if wantDetector == "" {
			wantDetector = fmt.Sprintf("%016x%016x", e.rng.Uint64(), e.rng.Uint64())
		}
		d = &gdDetector{id: wantDetector, findings: map[string]map[string]any{}}
		e.detectors[key] = d
	}
	now := isoMillis(e.clock())
	defaults := map[string]any{
		"accountId": key.account, "region": key.region, "partition": "aws", "schemaVersion": "2.0",
		"arn":       fmt.Sprintf("arn:aws:guardduty:%s:%s:detector/%s/finding/%s", key.region, key.account, d.id, id),
		"createdAt": now, "updatedAt": now,
	}
	for k, v := range defaults {
		if _, ok := doc[k]; !ok {
			doc[k] = v
		}
	}
	svc["detectorId"] = d.id
	if _, ok := svc["archived"]; !ok {
		svc["archived"] = false
	}
	if _, ok := d.findings[id]; !ok {
		d.order = append(d.order, id)
	}
	d.findings[id] = doc
	return d.id, nil
}

// adminAccountRegion fills in the emulator's account and region.
func (e *Emulator) adminAccountRegion(account, region string) accountRegion {
	if account == "" {
		account = e.account
	}
	if region == "" {
		region = e.region
	}
	return accountRegion{account: account, region: region}
}

// callerScope is the account and region a call acts in.
func (e *Emulator) callerScope(r *request) accountRegion {
	return accountRegion{account: r.caller.account, region: e.callRegion(r)}
}

func (e *Emulator) gdListDetectors(r *request) (any, *apiError) {
	limit := 50
	if s := r.query.Get("maxResults"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 50 {
			return nil, errInvalid(ServiceGuardDuty, "The request is rejected because maxResults %q is not between 1 and 50.", s)
		}
		limit = n
	}
	var ids []string
	if d, ok := e.detectors[e.callerScope(r)]; ok {
		ids = append(ids, d.id)
	}
	lo, hi, next, aerr := pageBounds(ServiceGuardDuty, len(ids), limit, r.query.Get("nextToken"))
	if aerr != nil {
		return nil, aerr
	}
	out := map[string]any{"detectorIds": append([]string{}, ids[lo:hi]...)}
	if next != "" {
		out["nextToken"] = next
	}
	return out, nil
}

// detector is the caller's detector named in the path.
func (e *Emulator) detector(r *request) (*gdDetector, *apiError) {
	d, ok := e.detectors[e.callerScope(r)]
	if !ok || d.id != r.pathParams["detectorId"] {
		return nil, errInvalid(ServiceGuardDuty, "The request is rejected because the input detectorId is not owned by the current account.")
	}
	return d, nil
}

// gdSortCriteria is GuardDuty's SortCriteria.
type gdSortCriteria struct {
	AttributeName string `json:"attributeName"`
	OrderBy       string `json:"orderBy"`
}

func (c *gdSortCriteria) apply(docs []map[string]any) {
	if c != nil && c.AttributeName != "" {
		sortDocuments(docs, c.AttributeName, c.OrderBy == "DESC")
	}
}

// detectorCall decodes a call's input into in and resolves the caller's
// detector the path names; ids, when not nil, must hold 1 to 50 finding
// ids.
func (e *Emulator) detectorCall(r *request, in any, ids *[]string) (*gdDetector, *apiError) {
	if aerr := r.decode(in); aerr != nil {
		return nil, aerr
	}
	d, aerr := e.detector(r)
	if aerr != nil {
		return nil, aerr
	}
	if ids != nil && (len(*ids) == 0 || len(*ids) > 50) {
		return nil, errInvalid(ServiceGuardDuty, "The request is rejected because findingIds must hold 1 to 50 ids; it holds %d.", len(*ids))
	}
	return d, nil
}

func (e *Emulator) gdGetFindings(r *request) (any, *apiError) {
	var in struct {
		FindingIDs   []string        `json:"findingIds"`
		SortCriteria *gdSortCriteria `json:"sortCriteria"`
	}
	d, aerr := e.detectorCall(r, &in, &in.FindingIDs)
	if aerr != nil {
		return nil, aerr
	}
	// An id the detector does not hold is simply absent from the answer.
	var found []map[string]any
	seen := map[string]bool{}
	for _, id := range in.FindingIDs {
		if f, ok := d.findings[id]; ok && !seen[id] {
			seen[id] = true
			found = append(found, cloneDocument(f).(map[string]any))
		}
	}
	in.SortCriteria.apply(found)
	if found == nil {
		found = []map[string]any{}
	}
	return map[string]any{"findings": found}, nil
}

// gdCondition is one criterion of GuardDuty's FindingCriteria. Both the
// short and the long (newer) names of each comparison are accepted.
type gdCondition struct {
	Eq                 []string `json:"eq"`
	Equals             []string `json:"equals"`
	Neq                []string `json:"neq"`
	NotEquals          []string `json:"notEquals"`
	Gt                 *float64 `json:"gt"`
	GreaterThan        *float64 `json:"greaterThan"`
	Gte                *float64 `json:"gte"`
	GreaterThanOrEqual *float64 `json:"greaterThanOrEqual"`
	Lt                 *float64 `json:"lt"`
	LessThan           *float64 `json:"lessThan"`
	Lte                *float64 `json:"lte"`
	LessThanOrEqual    *float64 `json:"lessThanOrEqual"`
	Matches            []string `json:"matches"`
	NotMatches         []string `json:"notMatches"`
}

// matches reports whether the values at a criterion's attribute meet it:
// some value equals one of eq, none equals one of neq, and some value is
// within every bound given.
func (c gdCondition) matches(values []any) bool {
	eq, neq := slices.Concat(c.Eq, c.Equals), slices.Concat(c.Neq, c.NotEquals)
	texts := make([]string, len(values))
	for i, v := range values {
		texts[i] = scalarText(v)
	}
	if len(eq) > 0 && !slices.ContainsFunc(texts, func(s string) bool { return slices.Contains(eq, s) }) {
		return false
	}
	if slices.ContainsFunc(texts, func(s string) bool { return slices.Contains(neq, s) }) {
		return false
	}
	type bound struct {
		v  *float64
		ok func(x, b float64) bool
	}
	bounds := []bound{
		{first(c.Gt, c.GreaterThan), func(x, b float64) bool { return x > b }},
		{first(c.Gte, c.GreaterThanOrEqual), func(x, b float64) bool { return x >= b }},
		{first(c.Lt, c.LessThan), func(x, b float64) bool { return x < b }},
		{first(c.Lte, c.LessThanOrEqual), func(x, b float64) bool { return x <= b }},
	}
	for _, b := range bounds {
		if b.v == nil {
			continue
		}
		if !slices.ContainsFunc(values, func(v any) bool {
			x, ok := scalarNumber(v)
			return ok && b.ok(x, *b.v)
		}) {
			return false
		}
	}
	return true
}

func first(a, b *float64) *float64 {
	if a != nil {
		return a
	}
	return b
}

func (e *Emulator) gdListFindings(r *request) (any, *apiError) {
	var in struct {
		FindingCriteria *struct {
			Criterion map[string]gdCondition `json:"criterion"`
		} `json:"findingCriteria"`
		MaxResults   *int            `json:"maxResults"`
		NextToken    string          `json:"nextToken"`
		SortCriteria *gdSortCriteria `json:"sortCriteria"`
	}
	d, aerr := e.detectorCall(r, &in, nil)
	if aerr != nil {
		return nil, aerr
	}
	limit := 50
	if in.MaxResults != nil {
		if *in.MaxResults < 1 || *in.MaxResults > 50 {
			return nil, errInvalid(ServiceGuardDuty, "The request is rejected because maxResults %d is not between 1 and 50.", *in.MaxResults)
		}
		limit = *in.MaxResults
	}
	var criteria map[string]gdCondition
	if in.FindingCriteria != nil {
		criteria = in.FindingCriteria.Criterion
	}
	for attr, c := range criteria {
		if len(c.Matches)+len(c.NotMatches) > 0 {
			return nil, errInvalid(ServiceGuardDuty, "The emulator does not support matches or notMatches (criterion %s).", attr)
		}
	}
	var docs []map[string]any
	for _, id := range d.order {
		f := d.findings[id]
		ok := true
		for attr, c := range criteria {
			if !c.matches(valuesAt(f, strings.Split(attr, "."))) {
				ok = false
				break
			}
		}
		if ok {
			docs = append(docs, f)
		}
	}
	in.SortCriteria.apply(docs)
	lo, hi, next, aerr := pageBounds(ServiceGuardDuty, len(docs), limit, in.NextToken)
	if aerr != nil {
		return nil, aerr
	}
	ids := []string{}
	for _, f := range docs[lo:hi] {
		ids = append(ids, f["id"].(string))
	}
	out := map[string]any{"findingIds": ids}
	if next != "" {
		out["nextToken"] = next
	}
	return out, nil
}

// gdArchiveFindings archives (or, for UnarchiveFindings, unarchives) the
// findings named; ids the detector does not hold are ignored.
func (e *Emulator) gdArchiveFindings(r *request) (any, *apiError) {
	var in struct {
		FindingIDs []string `json:"findingIds"`
	}
	d, aerr := e.detectorCall(r, &in, &in.FindingIDs)
	if aerr != nil {
		return nil, aerr
	}
	for _, id := range in.FindingIDs {
		if f, ok := d.findings[id]; ok {
			svc, _ := child(f, "service") // checked an object when stored
			svc["archived"] = r.action == "ArchiveFindings"
		}
	}
	return struct{}{}, nil
}
