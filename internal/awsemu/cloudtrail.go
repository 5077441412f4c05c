package awsemu

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// CloudTrail's event history (LookupEvents, awsJson 1.1). An account's
// history is every management call the emulator served to a caller of that
// account, in the region the call was signed for (the call log, so "what
// did this access key do" is what it really did in a test or the demo),
// plus the events a test adds from outside with AddCloudTrailEvent (the
// attacker's calls, made before the emulator started). As in CloudTrail's
// event history, data events (S3 object calls, SQS messages) are not in
// it, events older than 90 days are gone, and the newest come first.
// Unlike CloudTrail, a call is in the history at once, not minutes later,
// and the history keeps only what the call log keeps (Options.CallLogLimit).

// ServiceCloudTrail is CloudTrail's name in [Call.Service] (and its
// signing name).
const ServiceCloudTrail = "cloudtrail"

const cloudTrailTarget = "CloudTrail_20131101"

func cloudTrailOperations() []operation {
	return []operation{{service: ServiceCloudTrail, action: "LookupEvents", serve: (*Emulator).cloudTrailLookupEvents}}
}

// CallResource is a resource a call named, as CloudTrail lists it.
type CallResource struct {
	Type string // e.g. "AWS::EC2::Instance"
	Name string
}

// CloudTrailEvent is one event of an account's history.
type CloudTrailEvent struct {
	EventID     string // generated when empty
	EventTime   time.Time
	EventName   string // e.g. "RunInstances"
	EventSource string // e.g. "ec2.amazonaws.com"
	ReadOnly    bool
	AccessKeyID string
	// Username is what LookupEvents matches the Username attribute with:
	// the IAM user's name, or the session name of an assumed role.
	Username string
	// UserIdentity is the event's userIdentity; when nil, one of type
	// IAMUser is made from UserARN, AccessKeyID and Username.
	UserIdentity    map[string]any
	UserARN         string
	SourceIPAddress string
	UserAgent       string
	Resources       []CallResource
	ErrorCode       string
	ErrorMessage    string
	// RequestParameters, when set, go into the event's requestParameters.
	RequestParameters map[string]any

	account string
	region  string
}

// AddCloudTrailEvent adds an event to the history of account (empty: the
// default account) in region (empty: the emulator's), e.g. the calls an
// attacker made with a stolen key before the containment began.
func (e *Emulator) AddCloudTrailEvent(account, region string, ev CloudTrailEvent) error {
	if account == "" {
		account = e.account
	}
	if region == "" {
		region = e.region
	}
	if !accountIDPattern.MatchString(account) {
		return fmt.Errorf("awsemu: CloudTrail event: %q is not a 12-digit AWS account id", account)
	}
	if ev.EventName == "" || ev.EventSource == "" || ev.EventTime.IsZero() {
		return fmt.Errorf("awsemu: CloudTrail event: EventName, EventSource and EventTime are required")
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if ev.EventID == "" {
		ev.EventID = e.newUUID()
	}
	ev.account, ev.region = account, region
	ev.Resources = slices.Clone(ev.Resources)
	e.trail = append(e.trail, &ev)
	return nil
}

// dataEvents are the calls CloudTrail logs as data events, which its
// event history leaves out.
var dataEvents = map[string][]string{
	ServiceS3:  {"PutObject", "GetObject", "HeadObject", "DeleteObject", "ListObjectsV2"},
	ServiceSQS: {"SendMessage", "SendMessageBatch", "ReceiveMessage", "DeleteMessage", "DeleteMessageBatch", "ChangeMessageVisibility"},
}

// eventOfCall is the CloudTrail event of a call the emulator served.
func eventOfCall(c Call) *CloudTrailEvent {
	ev := &CloudTrailEvent{
		EventID: c.RequestID, EventTime: c.Time, EventName: c.Action, EventSource: iamPrefix(c.Service) + ".amazonaws.com",
		ReadOnly: !c.Mutating, AccessKeyID: c.AccessKeyID, UserARN: c.Principal, SourceIPAddress: c.SourceIP, UserAgent: c.UserAgent,
		Resources: c.Resources, account: c.Account, region: c.Region,
	}
	if c.Status/100 != 2 {
		ev.ErrorCode = c.ErrorCode
	}
	who := c.identity
	if who.sessionName != "" {
		roleName := who.roleARN[strings.LastIndex(who.roleARN, "/")+1:]
		ev.Username = who.sessionName
		ev.UserIdentity = map[string]any{
			"type": "AssumedRole", "principalId": who.userID, "arn": who.arn, "accountId": who.account, "accessKeyId": who.accessKeyID,
			"sessionContext": map[string]any{
				"sessionIssuer": map[string]any{"type": "Role", "principalId": strings.Split(who.userID, ":")[0], "arn": who.roleARN,
					"accountId": who.account, "userName": roleName},
				"attributes": map[string]any{"mfaAuthenticated": "false"},
			},
		}
	} else {
		ev.Username = who.userName
	}
	return ev
}

// identityJSON is the event's userIdentity.
func (ev *CloudTrailEvent) identityJSON() map[string]any {
	if ev.UserIdentity != nil {
		return ev.UserIdentity
	}
	return map[string]any{"type": "IAMUser", "arn": ev.UserARN, "accountId": ev.account, "accessKeyId": ev.AccessKeyID, "userName": ev.Username}
}

// document is the event's CloudTrailEvent JSON.
func (ev *CloudTrailEvent) document() string {
	doc := map[string]any{
		"eventVersion": "1.09", "userIdentity": ev.identityJSON(), "eventTime": ev.EventTime.UTC().Format(time.RFC3339),
		"eventSource": ev.EventSource, "eventName": ev.EventName, "awsRegion": ev.region, "sourceIPAddress": ev.SourceIPAddress,
		"userAgent": ev.UserAgent, "requestParameters": ev.RequestParameters, "responseElements": nil, "requestID": ev.EventID,
		"eventID": ev.EventID, "readOnly": ev.ReadOnly, "eventType": "AwsApiCall", "managementEvent": true,
		"recipientAccountId": ev.account, "eventCategory": "Management",
	}
	if ev.ErrorCode != "" {
		doc["errorCode"], doc["errorMessage"] = ev.ErrorCode, ev.ErrorMessage
	}
	var resources []map[string]string
	for _, r := range ev.Resources {
		resources = append(resources, map[string]string{"type": r.Type, "ARN": r.Name})
	}
	if resources != nil {
		doc["resources"] = resources
	}
	out, err := json.Marshal(doc)
	if err != nil {
		// Only strings, times and the caller's RequestParameters go in;
		// a value that cannot be marshalled is left out rather than lost whole.
		delete(doc, "requestParameters")
		out, _ = json.Marshal(doc)
	}
	return string(out)
}

// matches reports whether ev has the lookup attribute key = value.
func (ev *CloudTrailEvent) matches(key, value string) bool {
	switch key {
	case "EventId":
		return ev.EventID == value
	case "EventName":
		return ev.EventName == value
	case "ReadOnly":
		return strconv.FormatBool(ev.ReadOnly) == value
	case "Username":
		return ev.Username == value
	case "AccessKeyId":
		return ev.AccessKeyID == value
	case "EventSource":
		return ev.EventSource == value
	case "ResourceType", "ResourceName":
		for _, r := range ev.Resources {
			if key == "ResourceType" && r.Type == value || key == "ResourceName" && r.Name == value {
				return true
			}
		}
	}
	return false
}

func (e *Emulator) cloudTrailLookupEvents(r *request) (any, *apiError) {
	var in struct {
		LookupAttributes []struct{ AttributeKey, AttributeValue string }
		StartTime        *float64
		EndTime          *float64
		MaxResults       int
		NextToken        string
	}
	if aerr := r.decode(&in); aerr != nil {
		return nil, aerr
	}
	if len(in.LookupAttributes) > 1 {
		return nil, clientErr(http.StatusBadRequest, "InvalidLookupAttributesException", "You cannot specify more than one lookup attribute.")
	}
	var key, value string
	if len(in.LookupAttributes) == 1 {
		key, value = in.LookupAttributes[0].AttributeKey, in.LookupAttributes[0].AttributeValue
		switch key {
		case "EventId", "EventName", "ReadOnly", "Username", "ResourceType", "ResourceName", "EventSource", "AccessKeyId":
		default:
			return nil, clientErr(http.StatusBadRequest, "InvalidLookupAttributesException", "The attribute key %s is not valid.", key)
		}
	}
	if in.MaxResults < 0 || in.MaxResults > 50 {
		return nil, clientErr(http.StatusBadRequest, "InvalidMaxResultsException", "MaxResults must be between 1 and 50.")
	}
	from, to := r.now.AddDate(0, 0, -90), r.now
	if in.StartTime != nil {
		from = epochTime(*in.StartTime)
	}
	if in.EndTime != nil {
		to = epochTime(*in.EndTime)
	}
	if from.After(to) {
		return nil, clientErr(http.StatusBadRequest, "InvalidTimeRangeException", "The start time must be before the end time.")
	}
	if oldest := r.now.AddDate(0, 0, -90); from.Before(oldest) {
		from = oldest
	}
	account, region := e.w.account, e.callRegion(r)
	var events []*CloudTrailEvent
	keep := func(ev *CloudTrailEvent) {
		if ev.account == account && ev.region == region && !ev.EventTime.Before(from) && !ev.EventTime.After(to) && (key == "" || ev.matches(key, value)) {
			events = append(events, ev)
		}
	}
	for _, ev := range e.trail {
		keep(ev)
	}
	for _, c := range e.calls {
		if c.Account != "" && !slices.Contains(dataEvents[c.Service], c.Action) {
			keep(eventOfCall(c))
		}
	}
	// Newest first; the call log is in time order already, seeded events
	// need not be.
	slices.SortStableFunc(events, func(a, b *CloudTrailEvent) int { return b.EventTime.Compare(a.EventTime) })
	lo, hi, next, aerr := pageBounds(ServiceCloudTrail, len(events), limitOr(in.MaxResults, 50), in.NextToken)
	if aerr != nil {
		return nil, clientErr(http.StatusBadRequest, "InvalidNextTokenException", "Invalid NextToken")
	}
	out := make([]map[string]any, 0, hi-lo)
	for _, ev := range events[lo:hi] {
		var resources []map[string]string
		for _, res := range ev.Resources {
			resources = append(resources, map[string]string{"ResourceType": res.Type, "ResourceName": res.Name})
		}
		out = append(out, map[string]any{
			"EventId": ev.EventID, "EventName": ev.EventName, "ReadOnly": strconv.FormatBool(ev.ReadOnly), "AccessKeyId": ev.AccessKeyID,
			"EventTime": epochSeconds(ev.EventTime), "EventSource": ev.EventSource, "Username": ev.Username,
			"Resources": orEmpty(resources), "CloudTrailEvent": ev.document(),
		})
	}
	result := map[string]any{"Events": out}
	if next != "" {
		result["NextToken"] = next
	}
	return result, nil
}

func epochTime(s float64) time.Time {
	return time.UnixMilli(int64(s * 1000)).UTC()
}

// remoteIP is the caller's address, as CloudTrail's sourceIPAddress.
func remoteIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// resourceTypes maps request parameters that name a resource to its
// CloudTrail type; ids in a generic parameter (CreateTags' ResourceId) are
// typed by their prefix.
var resourceTypes = map[string]string{
	"InstanceId": "AWS::EC2::Instance", "InstanceIds": "AWS::EC2::Instance", "SnapshotId": "AWS::EC2::Snapshot",
	"SourceSnapshotId": "AWS::EC2::Snapshot", "VolumeId": "AWS::EC2::Volume", "GroupId": "AWS::EC2::SecurityGroup",
	"NetworkInterfaceId": "AWS::EC2::NetworkInterface", "UserName": "AWS::IAM::User", "RoleName": "AWS::IAM::Role",
	"AccessKeyId": "AWS::IAM::AccessKey", "RoleArn": "AWS::IAM::Role", "InstanceProfileName": "AWS::IAM::InstanceProfile",
	"AutoScalingGroupName": "AWS::AutoScaling::AutoScalingGroup", "TargetGroupArn": "AWS::ElasticLoadBalancingV2::TargetGroup",
	"KeyId": "AWS::KMS::Key", "TargetKeyId": "AWS::KMS::Key", "QueueUrl": "AWS::SQS::Queue",
}

var idPrefixTypes = map[string]string{
	"i": "AWS::EC2::Instance", "snap": "AWS::EC2::Snapshot", "vol": "AWS::EC2::Volume", "sg": "AWS::EC2::SecurityGroup",
	"eni": "AWS::EC2::NetworkInterface", "vpc": "AWS::EC2::VPC", "subnet": "AWS::EC2::Subnet",
}

// requestResources lists the resources a decoded request names, for the
// call log and CloudTrail.
func requestResources(r *request) []CallResource {
	var out []CallResource
	add := func(typ, name string) {
		if name != "" && typ != "" && !slices.Contains(out, CallResource{typ, name}) {
			out = append(out, CallResource{typ, name})
		}
	}
	for _, k := range sortedKeys(r.p.v) {
		base := k
		if i := strings.LastIndex(k, "."); i >= 0 {
			if _, err := strconv.Atoi(k[i+1:]); err == nil {
				base = k[:i]
			}
		}
		base = base[strings.LastIndex(base, ".")+1:]
		for _, v := range r.p.v[k] {
			if typ, ok := resourceTypes[base]; ok {
				add(typ, v)
			} else if base == "ResourceId" {
				prefix, _, _ := strings.Cut(v, "-")
				add(idPrefixTypes[prefix], v)
			}
		}
	}
	var body map[string]any
	if json.Unmarshal(r.body, &body) == nil {
		for _, k := range sortedKeys(body) {
			typ, ok := resourceTypes[k]
			if !ok {
				continue
			}
			switch v := body[k].(type) {
			case string:
				add(typ, v)
			case []any:
				for _, x := range v {
					if s, ok := x.(string); ok {
						add(typ, s)
					}
				}
			}
		}
	}
	return out
}
