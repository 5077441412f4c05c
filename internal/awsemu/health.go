package awsemu

import (
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"
	"time"
)

// healthAccount is what AWS Health knows of one account: Health is a
// global service, so its events are not kept per region.
type healthAccount struct {
	events map[string]*healthEvent
	order  []string
}

// healthEvent is a Health event with its description and affected
// entities.
type healthEvent struct {
	arn, service, typeCode, category, region, zone, status, scope string
	start, end, updated                                           time.Time
	description                                                   string
	metadata                                                      map[string]string
	entities                                                      []healthEntity
}

type healthEntity struct {
	arn, value, status string
	updated            time.Time
	tags               map[string]string
}

// healthOperations is the slice of AWS Health the intake uses to fetch an
// event again before acting on it. Health speaks awsJson 1.1
// (protocol_json.go).
func healthOperations() []operation {
	return []operation{
		{service: ServiceHealth, action: "DescribeEventDetails", serve: (*Emulator).healthDescribeEventDetails},
		{service: ServiceHealth, action: "DescribeAffectedEntities", serve: (*Emulator).healthDescribeAffectedEntities},
	}
}

// healthEventDetail is the detail of an "AWS Health Event" EventBridge
// event, the shape PutHealthEvent takes.
type healthEventDetail struct {
	EventARN          string            `json:"eventArn"`
	Service           string            `json:"service"`
	EventTypeCode     string            `json:"eventTypeCode"`
	EventTypeCategory string            `json:"eventTypeCategory"`
	EventScopeCode    string            `json:"eventScopeCode"`
	StatusCode        string            `json:"statusCode"`
	EventRegion       string            `json:"eventRegion"`
	AvailabilityZone  string            `json:"availabilityZone"`
	StartTime         string            `json:"startTime"`
	EndTime           string            `json:"endTime"`
	LastUpdatedTime   string            `json:"lastUpdatedTime"`
	EventMetadata     map[string]string `json:"eventMetadata"`
	EventDescription  []struct {
		Language          string `json:"language"`
		LatestDescription string `json:"latestDescription"`
	} `json:"eventDescription"`
	AffectedEntities []healthEntityDetail `json:"affectedEntities"`
}

// healthEntityDetail is an affected entity in an event's detail.
type healthEntityDetail struct {
	EntityValue     string            `json:"entityValue"`
	Status          string            `json:"status"`
	LastUpdatedTime string            `json:"lastUpdatedTime"`
	Tags            map[string]string `json:"tags"`
}

// eventTime reads a time as EventBridge events write Health's (RFC 1123,
// "Wed, 01 Feb 2023 18:05:00 GMT") or as RFC 3339; empty is the zero time.
func eventTime(field, s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	for _, layout := range []string{time.RFC1123, time.RFC1123Z, time.RFC3339Nano} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("%s %q is neither RFC 1123 nor RFC 3339", field, s)
}

// PutHealthEvent stores a Health event of account (empty means the
// emulator's). event is the detail of an "AWS Health Event" EventBridge
// event: eventArn (required), service, eventTypeCode, eventTypeCategory,
// eventScopeCode, statusCode, eventRegion, availabilityZone, startTime,
// endTime and lastUpdatedTime (RFC 1123 as in events, or RFC 3339),
// eventMetadata, eventDescription[].latestDescription and
// affectedEntities[] (entityValue, status, lastUpdatedTime, tags).
// entities, when not nil, replaces the detail's affected entities by these
// entity values. An event with the ARN of a stored one replaces it, as
// Health updates an event.
func (e *Emulator) PutHealthEvent(account string, event json.RawMessage, entities []string) error {
	var d healthEventDetail
	if err := json.Unmarshal(event, &d); err != nil {
		return fmt.Errorf("awsemu: put Health event: %w", err)
	}
	if !strings.HasPrefix(d.EventARN, "arn:") {
		return fmt.Errorf("awsemu: put Health event: eventArn %q is not an ARN", d.EventARN)
	}
	ev := &healthEvent{
		arn: d.EventARN, service: d.Service, typeCode: d.EventTypeCode, category: d.EventTypeCategory,
		region: d.EventRegion, zone: d.AvailabilityZone, status: d.StatusCode, scope: d.EventScopeCode,
		metadata: maps.Clone(d.EventMetadata),
	}
	for _, t := range []struct {
		field, value string
		into         *time.Time
	}{{"startTime", d.StartTime, &ev.start}, {"endTime", d.EndTime, &ev.end}, {"lastUpdatedTime", d.LastUpdatedTime, &ev.updated}} {
		v, err := eventTime(t.field, t.value)
		if err != nil {
			return fmt.Errorf("awsemu: put Health event %s: %w", d.EventARN, err)
		}
		*t.into = v
	}
	for _, desc := range d.EventDescription {
		if ev.description == "" || strings.HasPrefix(desc.Language, "en") {
			ev.description = desc.LatestDescription
		}
	}
	if entities != nil {
		d.AffectedEntities = nil
		for _, v := range entities {
			d.AffectedEntities = append(d.AffectedEntities, healthEntityDetail{EntityValue: v})
		}
	}

	e.mu.Lock()
	defer e.mu.Unlock()
	if account == "" {
		account = e.account
	}
	now := e.clock()
	if ev.updated.IsZero() {
		ev.updated = now
	}
	if ev.region == "" {
		ev.region = e.region
	}
	for _, a := range d.AffectedEntities {
		if a.EntityValue == "" {
			return fmt.Errorf("awsemu: put Health event %s: an affected entity has no entityValue", d.EventARN)
		}
		updated, err := eventTime("affectedEntities.lastUpdatedTime", a.LastUpdatedTime)
		if err != nil {
			return fmt.Errorf("awsemu: put Health event %s: %w", d.EventARN, err)
		}
		if updated.IsZero() {
			updated = ev.updated
		}
		status := a.Status
		if status == "" {
			status = "UNKNOWN"
		}
		ev.entities = append(ev.entities, healthEntity{
			arn:   fmt.Sprintf("arn:aws:health:%s:%s:entity/%016x", ev.region, account, e.rng.Uint64()),
			value: a.EntityValue, status: status, updated: updated, tags: maps.Clone(a.Tags),
		})
	}
	ha, ok := e.healthAccts[account]
	if !ok {
		ha = &healthAccount{events: map[string]*healthEvent{}}
		e.healthAccts[account] = ha
	}
	if _, ok := ha.events[ev.arn]; !ok {
		ha.order = append(ha.order, ev.arn)
	}
	ha.events[ev.arn] = ev
	return nil
}

// epochSeconds is how Health's JSON API writes a time, unlike the RFC 1123
// strings of its EventBridge events.
func epochSeconds(t time.Time) float64 { return float64(t.UnixMilli()) / 1000 }

// apiShape is an event as DescribeEventDetails returns it.
func (ev *healthEvent) apiShape() map[string]any {
	out := map[string]any{
		"arn": ev.arn, "service": ev.service, "eventTypeCode": ev.typeCode, "eventTypeCategory": ev.category,
		"region": ev.region, "statusCode": ev.status, "eventScopeCode": ev.scope,
		"lastUpdatedTime": epochSeconds(ev.updated),
	}
	if ev.zone != "" {
		out["availabilityZone"] = ev.zone
	}
	if !ev.start.IsZero() {
		out["startTime"] = epochSeconds(ev.start)
	}
	if !ev.end.IsZero() {
		out["endTime"] = epochSeconds(ev.end)
	}
	return out
}

// healthEvents is the caller's account's events; Health is global, so the
// region the call is signed for does not matter.
func (e *Emulator) healthEvents(r *request) *healthAccount {
	if ha, ok := e.healthAccts[r.caller.account]; ok {
		return ha
	}
	return &healthAccount{}
}

// checkLocale refuses a locale other than English, the only one Health
// has.
func checkLocale(locale string) *apiError {
	if locale != "" && !strings.HasPrefix(locale, "en") {
		return clientErr(http.StatusBadRequest, "UnsupportedLocale", "The specified locale (%s) is not supported.", locale)
	}
	return nil
}

// eventARNs validates a list of 1 to 10 event ARNs.
func eventARNs(arns []string) *apiError {
	if len(arns) == 0 || len(arns) > 10 {
		return errInvalid(ServiceHealth, "1 validation error detected: Value at 'eventArns' failed to satisfy constraint: Member must have length between 1 and 10")
	}
	return nil
}

func (e *Emulator) healthDescribeEventDetails(r *request) (any, *apiError) {
	var in struct {
		EventARNs []string `json:"eventArns"`
		Locale    string   `json:"locale"`
	}
	if aerr := r.decode(&in); aerr != nil {
		return nil, aerr
	}
	if aerr := checkLocale(in.Locale); aerr != nil {
		return nil, aerr
	}
	if aerr := eventARNs(in.EventARNs); aerr != nil {
		return nil, aerr
	}
	ha := e.healthEvents(r)
	successful, failed := []any{}, []any{}
	for _, arn := range in.EventARNs {
		ev, ok := ha.events[arn]
		if !ok {
			// The reference leaves errorName open; the emulator names
			// the case as Health's other not-found errors do.
			failed = append(failed, map[string]string{"eventArn": arn, "errorName": "NotFoundException",
				"errorMessage": fmt.Sprintf("Event %s could not be found", arn)})
			continue
		}
		metadata := ev.metadata
		if metadata == nil {
			metadata = map[string]string{}
		}
		successful = append(successful, map[string]any{
			"event":            ev.apiShape(),
			"eventDescription": map[string]string{"latestDescription": ev.description},
			"eventMetadata":    metadata,
		})
	}
	return map[string]any{"successfulSet": successful, "failedSet": failed}, nil
}

func (e *Emulator) healthDescribeAffectedEntities(r *request) (any, *apiError) {
	var in struct {
		Filter *struct {
			EventARNs    []string `json:"eventArns"`
			EntityARNs   []string `json:"entityArns"`
			EntityValues []string `json:"entityValues"`
			StatusCodes  []string `json:"statusCodes"`
			// Filters the emulator does not evaluate, refused when set.
			LastUpdatedTimes json.RawMessage `json:"lastUpdatedTimes"`
			Tags             json.RawMessage `json:"tags"`
		} `json:"filter"`
		Locale     string `json:"locale"`
		MaxResults *int   `json:"maxResults"`
		NextToken  string `json:"nextToken"`
	}
	if aerr := r.decode(&in); aerr != nil {
		return nil, aerr
	}
	if in.Filter == nil {
		return nil, errInvalid(ServiceHealth, "1 validation error detected: Value null at 'filter' failed to satisfy constraint: Member must not be null")
	}
	f := in.Filter
	if len(f.LastUpdatedTimes) > 0 && string(f.LastUpdatedTimes) != "null" || len(f.Tags) > 0 && string(f.Tags) != "null" {
		return nil, errInvalid(ServiceHealth, "The emulator does not evaluate the lastUpdatedTimes and tags filters")
	}
	if aerr := checkLocale(in.Locale); aerr != nil {
		return nil, aerr
	}
	if aerr := eventARNs(f.EventARNs); aerr != nil {
		return nil, aerr
	}
	limit := 100
	if in.MaxResults != nil {
		if *in.MaxResults < 10 || *in.MaxResults > 100 {
			return nil, errInvalid(ServiceHealth, "1 validation error detected: Value at 'maxResults' failed to satisfy constraint: Member must be between 10 and 100")
		}
		limit = *in.MaxResults
	}
	in1 := func(list []string, v string) bool { return len(list) == 0 || slices.Contains(list, v) }
	ha := e.healthEvents(r)
	var entities []any
	for _, arn := range f.EventARNs {
		ev, ok := ha.events[arn]
		if !ok {
			continue
		}
		for _, en := range ev.entities {
			if !in1(f.EntityARNs, en.arn) || !in1(f.EntityValues, en.value) || !in1(f.StatusCodes, en.status) {
				continue
			}
			item := map[string]any{
				"entityArn": en.arn, "eventArn": ev.arn, "entityValue": en.value, "awsAccountId": r.caller.account,
				"lastUpdatedTime": epochSeconds(en.updated), "statusCode": en.status,
			}
			if len(en.tags) > 0 {
				item["tags"] = en.tags
			}
			entities = append(entities, item)
		}
	}
	lo, hi, next, aerr := pageBounds(ServiceHealth, len(entities), limit, in.NextToken)
	if aerr != nil {
		return nil, clientErr(http.StatusBadRequest, "InvalidPaginationToken", "%s", aerr.Message)
	}
	out := map[string]any{"entities": append([]any{}, entities[lo:hi]...)}
	if next != "" {
		out["nextToken"] = next
	}
	return out, nil
}
