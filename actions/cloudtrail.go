package actions

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudtrail"
	cttypes "github.com/aws/aws-sdk-go-v2/service/cloudtrail/types"
	"golang.org/x/time/rate"

	"github.com/cordon-ir/cordon/actions/spec"
	"github.com/cordon-ir/cordon/evidence"
)

// What a compromised principal did, from CloudTrail's event history
// (LookupEvents): the management events of the last 90 days, per account
// and region. The history answers one lookup attribute at a time, so a
// step that names an access key and an instance makes one lookup for
// each and merges them (an event both name is kept once). The summary
// goes to the step's outputs (and the report); the whole extract, every
// event as CloudTrail recorded it, is evidence.

// lookupEventsPerSecond is CloudTrail's documented quota for LookupEvents:
// two requests per second per account and region. A large extract pages
// at that pace rather than being throttled into the SDK's backoff.
const lookupEventsPerSecond = 2

// extractFormat names the layout of the stored extract.
const extractFormat = "cordon.cloudtrail.extract/v1"

func cloudTrailActions() []registration {
	str, strs, num := spec.String, spec.ListOf(spec.String), spec.Int
	return []registration{
		action(spec.Action{
			Name: "aws.cloudtrail.lookup_events", Service: "cloudtrail",
			Summary: "What a principal did in a time window, from CloudTrail's event history: event names, regions, source addresses, resources, counts; the whole extract kept as evidence.",
			Description: "Looks up the management events (LookupEvents) of an access key (access_key_id), of an IAM user or an assumed " +
				"role's session (username: the session name, e.g. the instance id for instance credentials), and of what named a " +
				"resource (instance_id), in each of regions: one lookup per attribute and region, merged, each event once. The history " +
				"holds 90 days of management events; data events (S3 objects) are not in it. A lookup by instance also finds the " +
				"responders' own calls on it (their sessions are named cordon-<run>). The window is start_time to end_time, by default " +
				"the lookback_hours before the step runs. At most max_events are read (truncated says when more were there), at " +
				"CloudTrail's pace of two requests a second. The extract, as JSON with every event as CloudTrail recorded it, is " +
				"stored in the evidence store when one is configured.",
			Params: []spec.Param{
				{Name: "access_key_id", Type: str, Pattern: accessKeyIDPattern, Description: "The access key whose calls to find."},
				{Name: "username", Type: str, Pattern: `^[\w+=,.@-]{1,64}$`, Description: "An IAM user's name, or an assumed role's session name (for an instance's role credentials, the instance id)."},
				{Name: "instance_id", Type: str, Pattern: instanceIDPattern, Description: "Find the calls that named this instance."},
				{Name: "start_time", Type: str, Pattern: rfc3339Pattern, Description: "Start of the window (RFC 3339); default lookback_hours before end_time."},
				{Name: "end_time", Type: str, Pattern: rfc3339Pattern, Description: "End of the window (RFC 3339); default when the step runs."},
				{Name: "lookback_hours", Type: num, Default: 24, Description: "Without start_time, how far back the window starts (1–2160, CloudTrail's 90 days)."},
				{Name: "regions", Type: strs, Pattern: `^[a-z]{2}(-gov)?-[a-z]+-[0-9]$`, Description: "Regions whose history to read; default the step's region."},
				{Name: "max_events", Type: num, Default: 5000, Description: "Read at most this many events (1–50000)."},
			},
			Outputs: []spec.Field{
				spec.F("event_count", num, "Events found (at most max_events)."),
				spec.F("event_counts", spec.MapOf(num), "Event name → how many times."),
				spec.F("error_count", num, "Events that failed (AccessDenied and the like: often an attacker probing)."),
				spec.F("regions", strs, "Regions the events happened in, sorted."),
				spec.F("source_ips", strs, "Source addresses of the calls, sorted."),
				spec.F("resources", strs, "Resources the events named, as \"type name\", sorted."),
				spec.F("access_key_ids", strs, "Access keys the events were made with, sorted."),
				spec.F("first_event_time", str, "Time of the earliest event (RFC 3339), empty when none."),
				spec.F("last_event_time", str, "Time of the latest event (RFC 3339), empty when none."),
				spec.F("start_time", str, "Start of the window read (RFC 3339)."),
				spec.F("end_time", str, "End of the window read (RFC 3339)."),
				spec.F("truncated", spec.Bool, "Whether events beyond max_events were left out."),
				spec.F("sha256", str, "SHA-256 of the extract (hex)."),
				spec.F("bytes", num, "Size of the extract."),
				spec.F("object_key", str, "Where the extract is in the evidence bucket; empty without an evidence store, and in a preview."),
				spec.F("version_id", str, "The S3 version of the extract the case's manifest vouches for."),
			},
			DryRun:              "Reads the history as a real run does; stores nothing (it says where the extract would go).",
			Permissions:         []string{"cloudtrail:LookupEvents"},
			ForensicPermissions: evidence.StorePermissions(),
			Timeout:             30 * minute,
		}, lookupEvents),
	}
}

type lookupParams struct {
	AccessKeyID   string   `json:"access_key_id"`
	Username      string   `json:"username"`
	InstanceID    string   `json:"instance_id"`
	StartTime     string   `json:"start_time"`
	EndTime       string   `json:"end_time"`
	LookbackHours int      `json:"lookback_hours"`
	Regions       []string `json:"regions"`
	MaxEvents     int      `json:"max_events"`
}

// attributes are the lookups the params ask for, in a stable order.
func (p lookupParams) attributes() []cttypes.LookupAttribute {
	var out []cttypes.LookupAttribute
	for _, a := range []struct {
		key   cttypes.LookupAttributeKey
		value string
	}{
		{cttypes.LookupAttributeKeyAccessKeyId, p.AccessKeyID},
		{cttypes.LookupAttributeKeyUsername, p.Username},
		{cttypes.LookupAttributeKeyResourceName, p.InstanceID},
	} {
		if a.value != "" {
			out = append(out, cttypes.LookupAttribute{AttributeKey: a.key, AttributeValue: aws.String(a.value)})
		}
	}
	return out
}

// window is the time range to read: the params', or the lookback before
// now.
func (p lookupParams) window(now time.Time) (start, end time.Time, err error) {
	end = now.UTC()
	if p.EndTime != "" {
		if end, err = time.Parse(time.RFC3339, p.EndTime); err != nil {
			return start, end, fmt.Errorf("end_time: %w", err)
		}
	}
	if p.LookbackHours < 1 || p.LookbackHours > 90*24 {
		return start, end, fmt.Errorf("lookback_hours %d is outside 1–2160 (CloudTrail keeps 90 days)", p.LookbackHours)
	}
	start = end.Add(-time.Duration(p.LookbackHours) * time.Hour)
	if p.StartTime != "" {
		if start, err = time.Parse(time.RFC3339, p.StartTime); err != nil {
			return start, end, fmt.Errorf("start_time: %w", err)
		}
	}
	if !start.Before(end) {
		return start, end, fmt.Errorf("start_time %s is not before end_time %s", start.Format(time.RFC3339), end.Format(time.RFC3339))
	}
	return start.UTC(), end.UTC(), nil
}

// trailEvent is one event of the extract: what LookupEvents says of it,
// the region it was read in, and the event as CloudTrail recorded it.
type trailEvent struct {
	Region      string          `json:"region"`
	EventID     string          `json:"event_id"`
	EventName   string          `json:"event_name"`
	EventTime   time.Time       `json:"event_time"`
	EventSource string          `json:"event_source"`
	Username    string          `json:"username,omitempty"`
	AccessKeyID string          `json:"access_key_id,omitempty"`
	Resources   []string        `json:"resources,omitempty"`
	Record      json.RawMessage `json:"cloudtrail_event,omitempty"`
}

// recordFields are the fields of a CloudTrail record the summary reads.
type recordFields struct {
	SourceIPAddress string `json:"sourceIPAddress"`
	AWSRegion       string `json:"awsRegion"`
	ErrorCode       string `json:"errorCode"`
}

// trailExtract is the stored extract.
type trailExtract struct {
	Format    string            `json:"format"`
	Account   string            `json:"account,omitempty"`
	Lookups   map[string]string `json:"lookups"`
	Regions   []string          `json:"regions"`
	StartTime time.Time         `json:"start_time"`
	EndTime   time.Time         `json:"end_time"`
	MaxEvents int               `json:"max_events"`
	Truncated bool              `json:"truncated"`
	Events    []trailEvent      `json:"events"`
}

func lookupEvents(ctx context.Context, x *execution) error {
	var p lookupParams
	if err := x.decode(&p); err != nil {
		return err
	}
	attrs := p.attributes()
	if len(attrs) == 0 {
		return badParams(x.call.Action, errors.New("give access_key_id, username or instance_id: whose activity to look up"))
	}
	if p.MaxEvents < 1 || p.MaxEvents > 50000 {
		return badParams(x.call.Action, fmt.Errorf("max_events %d is outside 1–50000", p.MaxEvents))
	}
	now := x.rt.opts.Clock()
	start, end, err := p.window(now)
	if err != nil {
		return badParams(x.call.Action, err)
	}
	if oldest := now.UTC().AddDate(0, 0, -90); start.Before(oldest) {
		// An attacker may have held a key longer than the history keeps:
		// read what there is, and say where it starts.
		x.note("the event history keeps 90 days: the window starts at %s, not %s; older activity is only in a trail's S3 logs",
			oldest.Format(time.RFC3339), start.Format(time.RFC3339))
		start = oldest
	}
	regions := slices.Compact(slices.Sorted(slices.Values(p.Regions)))
	if len(regions) == 0 {
		regions = []string{x.aws.CloudTrail.Options().Region}
	}
	extract := trailExtract{Format: extractFormat, Account: x.call.Target.Account, Lookups: map[string]string{},
		Regions: regions, StartTime: start, EndTime: end, MaxEvents: p.MaxEvents, Events: []trailEvent{}}
	for _, a := range attrs {
		extract.Lookups[string(a.AttributeKey)] = aws.ToString(a.AttributeValue)
	}
	seen := map[string]bool{}
	pace := rate.NewLimiter(lookupEventsPerSecond, lookupEventsPerSecond)
	for _, region := range regions {
		client := x.aws.CloudTrail
		if region != client.Options().Region {
			clients, err := x.rt.opts.Clients.Clients(ctx, Target{Account: x.call.Target.Account, Region: region}, x.call.Run)
			if err != nil {
				return badParams(x.call.Action, fmt.Errorf("region %s: %w", region, err))
			}
			client = clients.CloudTrail
		}
		for _, a := range attrs {
			more, err := readHistory(ctx, x, client, pace, region, a, &extract, seen)
			if err != nil {
				return err
			}
			extract.Truncated = extract.Truncated || more
		}
	}
	slices.SortFunc(extract.Events, func(a, b trailEvent) int {
		return cmp.Or(a.EventTime.Compare(b.EventTime), cmp.Compare(a.EventID, b.EventID))
	})
	body, err := json.MarshalIndent(extract, "", "  ")
	if err != nil {
		return badParams(x.call.Action, fmt.Errorf("encode the extract: %w", err))
	}
	summarise(x, extract, body)
	if extract.Truncated {
		x.note("more than %d events: the extract stops there (raise max_events, or narrow the window)", p.MaxEvents)
	}
	subject := cmp.Or(p.AccessKeyID, p.Username, p.InstanceID)
	a, err := x.keepEvidence(ctx, evidence.Item{
		Kind: "cloudtrail", Subject: subject, Name: "events.json", ContentType: "application/json",
		Description: fmt.Sprintf("CloudTrail events of %s, %s to %s, in %s", lookupsText(extract.Lookups),
			start.Format(time.RFC3339), end.Format(time.RFC3339), strings.Join(regions, ", ")),
		Source: "cloudtrail:LookupEvents",
	}, body)
	if err != nil {
		return err
	}
	x.output("object_key", "")
	x.output("version_id", "")
	if a != nil {
		x.output("object_key", a.Key)
		x.output("version_id", a.VersionID)
	}
	return nil
}

// lookupsText says what was looked up: "AccessKeyId AKIA..., ResourceName i-...".
func lookupsText(lookups map[string]string) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(lookups)) {
		parts = append(parts, k+" "+lookups[k])
	}
	return strings.Join(parts, ", ")
}

// readHistory reads one attribute's events in one region into the
// extract, newest first as CloudTrail pages them, until the history or
// max_events runs out. It reports whether events were left unread.
func readHistory(ctx context.Context, x *execution, client *cloudtrail.Client, pace *rate.Limiter, region string,
	attr cttypes.LookupAttribute, extract *trailExtract, seen map[string]bool,
) (bool, error) {
	what := fmt.Sprintf("look up the CloudTrail events of %s %s in %s", attr.AttributeKey, aws.ToString(attr.AttributeValue), region)
	pages := cloudtrail.NewLookupEventsPaginator(client, &cloudtrail.LookupEventsInput{
		LookupAttributes: []cttypes.LookupAttribute{attr},
		StartTime:        aws.Time(extract.StartTime), EndTime: aws.Time(extract.EndTime), MaxResults: aws.Int32(50),
	})
	for pages.HasMorePages() {
		if len(extract.Events) >= extract.MaxEvents {
			return true, nil
		}
		if err := pace.Wait(ctx); err != nil {
			return false, fmt.Errorf("%s: %w", what, err)
		}
		page, err := pages.NextPage(ctx)
		if err != nil {
			return false, classify(what, "cloudtrail:LookupEvents", err)
		}
		x.heartbeat(ctx, map[string]any{"region": region, "lookup": string(attr.AttributeKey), "events": len(extract.Events)})
		for i, ev := range page.Events {
			id := aws.ToString(ev.EventId)
			if seen[id] {
				continue
			}
			if len(extract.Events) >= extract.MaxEvents {
				return i < len(page.Events) || pages.HasMorePages(), nil
			}
			seen[id] = true
			extract.Events = append(extract.Events, trailEventOf(region, ev))
		}
	}
	return false, nil
}

func trailEventOf(region string, ev cttypes.Event) trailEvent {
	out := trailEvent{
		Region: region, EventID: aws.ToString(ev.EventId), EventName: aws.ToString(ev.EventName), EventTime: aws.ToTime(ev.EventTime).UTC(),
		EventSource: aws.ToString(ev.EventSource), Username: aws.ToString(ev.Username), AccessKeyID: aws.ToString(ev.AccessKeyId),
	}
	for _, r := range ev.Resources {
		out.Resources = append(out.Resources, aws.ToString(r.ResourceType)+" "+aws.ToString(r.ResourceName))
	}
	if raw := aws.ToString(ev.CloudTrailEvent); json.Valid([]byte(raw)) {
		out.Record = json.RawMessage(raw)
	}
	return out
}

// summarise sets the outputs from the extract.
func summarise(x *execution, extract trailExtract, body []byte) {
	counts := map[string]int{}
	regions, ips, resources, keys := map[string]bool{}, map[string]bool{}, map[string]bool{}, map[string]bool{}
	failed := 0
	for _, ev := range extract.Events {
		counts[ev.EventName]++
		var rec recordFields
		_ = json.Unmarshal(ev.Record, &rec) // a record CloudTrail did not give leaves the fields empty
		regions[cmp.Or(rec.AWSRegion, ev.Region)] = true
		if rec.SourceIPAddress != "" {
			ips[rec.SourceIPAddress] = true
		}
		if rec.ErrorCode != "" {
			failed++
		}
		for _, r := range ev.Resources {
			resources[r] = true
		}
		if ev.AccessKeyID != "" {
			keys[ev.AccessKeyID] = true
		}
	}
	first, last := "", ""
	if n := len(extract.Events); n > 0 {
		first, last = extract.Events[0].EventTime.Format(time.RFC3339), extract.Events[n-1].EventTime.Format(time.RFC3339)
	}
	x.output("event_count", len(extract.Events))
	x.output("event_counts", counts)
	x.output("error_count", failed)
	x.output("regions", sortedSet(regions))
	x.output("source_ips", sortedSet(ips))
	x.output("resources", sortedSet(resources))
	x.output("access_key_ids", sortedSet(keys))
	x.output("first_event_time", first)
	x.output("last_event_time", last)
	x.output("start_time", extract.StartTime.Format(time.RFC3339))
	x.output("end_time", extract.EndTime.Format(time.RFC3339))
	x.output("truncated", extract.Truncated)
	x.output("sha256", sha256Hex(body))
	x.output("bytes", len(body))
}
