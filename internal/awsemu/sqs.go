package awsemu

import (
	"maps"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// sqsOperations is the slice of SQS that Cordon's detection intake uses:
// a standard queue fed by an EventBridge rule, long-polled, with a
// dead-letter queue. SQS speaks awsJson 1.0 (protocol_json.go).
func sqsOperations() []operation {
	op := func(action string, mutating bool, h func(*Emulator, *request) (any, *apiError)) operation {
		return operation{service: ServiceSQS, action: action, mutating: mutating, serve: h}
	}
	return []operation{
		op("CreateQueue", true, (*Emulator).sqsCreateQueue),
		op("GetQueueUrl", false, (*Emulator).sqsGetQueueURL),
		op("GetQueueAttributes", false, (*Emulator).sqsGetQueueAttributes),
		op("SetQueueAttributes", true, (*Emulator).sqsSetQueueAttributes),
		op("SendMessage", true, (*Emulator).sqsSendMessage),
		op("SendMessageBatch", true, (*Emulator).sqsSendMessageBatch),
		// Receiving and changing visibility hide a message for a while
		// and count its receives but change no resource, so, like
		// AssumeRole, they are not mutations; deleting one is.
		op("ReceiveMessage", false, (*Emulator).sqsReceiveMessage),
		op("ChangeMessageVisibility", false, (*Emulator).sqsChangeMessageVisibility),
		op("DeleteMessage", true, (*Emulator).sqsDeleteMessage),
		op("DeleteMessageBatch", true, (*Emulator).sqsDeleteMessageBatch),
		op("PurgeQueue", true, (*Emulator).sqsPurgeQueue),
	}
}

// callRegion is the region a call was signed for, which is the region of
// the endpoint a real client would have called.
func (e *Emulator) callRegion(r *request) string {
	if r.region != "" {
		return r.region
	}
	return e.region
}

// queueCall decodes a call's input into in and resolves the queue its
// QueueUrl (read into *queueURL) names.
func (e *Emulator) queueCall(r *request, in any, queueURL *string) (*sqsQueue, *apiError) {
	if aerr := r.decode(in); aerr != nil {
		return nil, aerr
	}
	return e.queueAt(*queueURL, e.callRegion(r))
}

func (e *Emulator) sqsCreateQueue(r *request) (any, *apiError) {
	var in struct {
		QueueName  string
		Attributes map[string]string
		Tags       map[string]string `json:"tags"`
	}
	if aerr := r.decode(&in); aerr != nil {
		return nil, aerr
	}
	if in.QueueName == "" {
		return nil, errMissingParameter("QueueName")
	}
	key := queueKey{account: r.caller.account, region: e.callRegion(r), name: in.QueueName}
	if _, aerr := e.createQueue(key, in.Attributes, in.Tags, r.now); aerr != nil {
		return nil, aerr
	}
	return map[string]string{"QueueUrl": queueURL("http://"+r.host, key)}, nil
}

func (e *Emulator) sqsGetQueueURL(r *request) (any, *apiError) {
	var in struct {
		QueueName              string
		QueueOwnerAWSAccountId string
	}
	if aerr := r.decode(&in); aerr != nil {
		return nil, aerr
	}
	if in.QueueName == "" {
		return nil, errMissingParameter("QueueName")
	}
	key := queueKey{account: r.caller.account, region: e.callRegion(r), name: in.QueueName}
	if in.QueueOwnerAWSAccountId != "" {
		key.account = in.QueueOwnerAWSAccountId
	}
	q, ok := e.queues[key]
	if !ok || e.notYetVisible(queueLagKey(q.arn)) {
		return nil, errNoQueue()
	}
	return map[string]string{"QueueUrl": queueURL("http://"+r.host, key)}, nil
}

// queueAttributeNames are the names GetQueueAttributes accepts besides the
// settable ones; the FIFO ones are valid names a standard queue lacks.
func queueAttributeNames() []string {
	return []string{"All", "QueueArn", "ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible",
		"ApproximateNumberOfMessagesDelayed", "CreatedTimestamp", "LastModifiedTimestamp",
		"FifoQueue", "ContentBasedDeduplication", "DeduplicationScope", "FifoThroughputLimit"}
}

// attributes answers GetQueueAttributes for the given names.
func (q *sqsQueue) attributes(names []string, now time.Time) (map[string]string, *apiError) {
	q.expire(now)
	visible, inFlight, delayed := q.counts(now)
	all := maps.Clone(q.attrs)
	all["QueueArn"] = q.arn
	all["ApproximateNumberOfMessages"] = strconv.Itoa(visible)
	all["ApproximateNumberOfMessagesNotVisible"] = strconv.Itoa(inFlight)
	all["ApproximateNumberOfMessagesDelayed"] = strconv.Itoa(delayed)
	all["CreatedTimestamp"] = strconv.FormatInt(q.created.Unix(), 10)
	all["LastModifiedTimestamp"] = strconv.FormatInt(q.modified.Unix(), 10)
	settable := settableQueueAttrs()
	out := map[string]string{}
	for _, name := range names {
		_, known := settable[name]
		switch {
		case name == "All":
			maps.Copy(out, all)
		case known || slices.Contains(queueAttributeNames(), name):
			if v, ok := all[name]; ok {
				out[name] = v
			}
		default:
			return nil, sqsErr("InvalidAttributeName", "InvalidAttributeName", "Unknown Attribute %s.", name)
		}
	}
	return out, nil
}

func (e *Emulator) sqsGetQueueAttributes(r *request) (any, *apiError) {
	var in struct {
		QueueUrl       string
		AttributeNames []string
	}
	q, aerr := e.queueCall(r, &in, &in.QueueUrl)
	if aerr != nil {
		return nil, aerr
	}
	attrs, aerr := q.attributes(in.AttributeNames, r.now)
	if aerr != nil {
		return nil, aerr
	}
	return map[string]any{"Attributes": attrs}, nil
}

func (e *Emulator) sqsSetQueueAttributes(r *request) (any, *apiError) {
	var in struct {
		QueueUrl   string
		Attributes map[string]string
	}
	q, aerr := e.queueCall(r, &in, &in.QueueUrl)
	if aerr != nil {
		return nil, aerr
	}
	given, redrive, aerr := e.validateQueueAttrs(q.key, in.Attributes)
	if aerr != nil {
		return nil, aerr
	}
	if _, ok := given["RedrivePolicy"]; ok {
		q.redrive = redrive
		if redrive == nil {
			delete(given, "RedrivePolicy")
			delete(q.attrs, "RedrivePolicy")
		}
	}
	maps.Copy(q.attrs, given)
	q.modified = r.now
	return struct{}{}, nil
}

func (e *Emulator) sqsSendMessage(r *request) (any, *apiError) {
	var in struct {
		QueueUrl string
		sqsSend
	}
	q, aerr := e.queueCall(r, &in, &in.QueueUrl)
	if aerr != nil {
		return nil, aerr
	}
	in.Id = ""
	return e.send(q, in.sqsSend, r.caller.userID, r.now)
}

var batchIDPattern = regexp.MustCompile(`^[A-Za-z0-9_-]{1,80}$`)

// checkBatch applies SQS's rules for batch entries: 1 to 10 of them, with
// distinct ids of letters, digits, hyphens and underscores.
func checkBatch(ids []string) *apiError {
	switch {
	case len(ids) == 0:
		return sqsErr("EmptyBatchRequest", "AWS.SimpleQueueService.EmptyBatchRequest", "There should be at least one entry in the request.")
	case len(ids) > 10:
		return sqsErr("TooManyEntriesInBatchRequest", "AWS.SimpleQueueService.TooManyEntriesInBatchRequest",
			"Maximum number of entries per request are 10. You have sent %d.", len(ids))
	}
	seen := map[string]bool{}
	for _, id := range ids {
		if !batchIDPattern.MatchString(id) {
			return sqsErr("InvalidBatchEntryId", "AWS.SimpleQueueService.InvalidBatchEntryId",
				"A batch entry id can only contain alphanumeric characters, hyphens and underscores. It can be at most 80 letters long.")
		}
		if seen[id] {
			return sqsErr("BatchEntryIdsNotDistinct", "AWS.SimpleQueueService.BatchEntryIdsNotDistinct", "Id %s repeated.", id)
		}
		seen[id] = true
	}
	return nil
}

// batchFailure is one failed entry of a batch call.
type batchFailure struct {
	Id          string
	SenderFault bool
	Code        string
	Message     string
}

func failedEntry(id string, aerr *apiError) batchFailure {
	return batchFailure{Id: id, SenderFault: aerr.sender, Code: aerr.Code, Message: aerr.Message}
}

func (e *Emulator) sqsSendMessageBatch(r *request) (any, *apiError) {
	var in struct {
		QueueUrl string
		Entries  []sqsSend
	}
	q, aerr := e.queueCall(r, &in, &in.QueueUrl)
	if aerr != nil {
		return nil, aerr
	}
	ids := make([]string, len(in.Entries))
	total := 0
	for i, en := range in.Entries {
		ids[i] = en.Id
		if en.MessageBody != nil {
			total += len(*en.MessageBody)
		}
	}
	if aerr := checkBatch(ids); aerr != nil {
		return nil, aerr
	}
	if max := q.maxMessageSize(); total > max {
		return nil, sqsErr("BatchRequestTooLong", "AWS.SimpleQueueService.BatchRequestTooLong",
			"Batch requests cannot be longer than %d bytes. You have sent %d bytes.", max, total)
	}
	out := struct {
		Successful []sqsSent
		Failed     []batchFailure
	}{Successful: []sqsSent{}, Failed: []batchFailure{}}
	for _, en := range in.Entries {
		sent, aerr := e.send(q, en, r.caller.userID, r.now)
		if aerr != nil {
			out.Failed = append(out.Failed, failedEntry(en.Id, aerr))
			continue
		}
		out.Successful = append(out.Successful, sent)
	}
	return out, nil
}

// sqsReceived is one message as ReceiveMessage returns it.
type sqsReceived struct {
	MessageId              string
	ReceiptHandle          string
	MD5OfBody              string
	Body                   string
	Attributes             map[string]string            `json:",omitempty"`
	MD5OfMessageAttributes string                       `json:",omitempty"`
	MessageAttributes      map[string]sqsAttributeValue `json:",omitempty"`
}

// systemAttributeNames are the message system attribute names SQS
// defines; those a standard queue's message lacks are simply not returned.
func systemAttributeNames() []string {
	return []string{"All", "SenderId", "SentTimestamp", "ApproximateReceiveCount", "ApproximateFirstReceiveTimestamp",
		"SequenceNumber", "MessageDeduplicationId", "MessageGroupId", "AWSTraceHeader", "DeadLetterQueueSourceArn"}
}

func epochMillis(t time.Time) string { return strconv.FormatInt(t.UnixMilli(), 10) }

// systemAttributes picks the system attributes a receive asked for.
func systemAttributes(m *sqsMessage, names []string) map[string]string {
	all := map[string]string{
		"SenderId":                         m.senderID,
		"SentTimestamp":                    epochMillis(m.sentAt),
		"ApproximateReceiveCount":          strconv.Itoa(m.receives),
		"ApproximateFirstReceiveTimestamp": epochMillis(m.firstReceive),
	}
	for name, v := range map[string]string{"AWSTraceHeader": m.traceHeader, "MessageGroupId": m.groupID, "DeadLetterQueueSourceArn": m.deadLetterSrc} {
		if v != "" {
			all[name] = v
		}
	}
	out := map[string]string{}
	for _, name := range names {
		if name == "All" {
			return all
		}
		if v, ok := all[name]; ok {
			out[name] = v
		}
	}
	return out
}

// messageAttributes picks the message attributes a receive asked for:
// "All" or ".*" for all, "prefix.*" for those starting with prefix, or
// exact names.
func messageAttributes(m *sqsMessage, names []string) map[string]sqsAttributeValue {
	out := map[string]sqsAttributeValue{}
	for attr, v := range m.attrs {
		for _, n := range names {
			prefix, wildcard := strings.CutSuffix(n, ".*")
			if n == "All" || n == ".*" || n == attr || (wildcard && strings.HasPrefix(attr, prefix+".")) {
				out[attr] = v
			}
		}
	}
	return out
}

// intIn reads an optional integer parameter within [lo, hi].
func intIn(name string, v *int, lo, hi, def int) (int, *apiError) {
	if v == nil {
		return def, nil
	}
	if *v < lo || *v > hi {
		return 0, errInvalid(ServiceSQS, "Value %d for parameter %s is invalid. Reason: Must be between %d and %d, if provided.", *v, name, lo, hi)
	}
	return *v, nil
}

func (e *Emulator) sqsReceiveMessage(r *request) (any, *apiError) {
	var in struct {
		QueueUrl                    string
		MaxNumberOfMessages         *int
		VisibilityTimeout           *int
		WaitTimeSeconds             *int
		AttributeNames              []string
		MessageSystemAttributeNames []string
		MessageAttributeNames       []string
		ReceiveRequestAttemptId     string // FIFO only; ignored, as SQS does for standard queues
	}
	q, aerr := e.queueCall(r, &in, &in.QueueUrl)
	if aerr != nil {
		return nil, aerr
	}
	max, aerr := intIn("MaxNumberOfMessages", in.MaxNumberOfMessages, 1, 10, 1)
	if aerr != nil {
		return nil, aerr
	}
	visibility, aerr := intIn("VisibilityTimeout", in.VisibilityTimeout, 0, 43200, int(q.seconds("VisibilityTimeout")/time.Second))
	if aerr != nil {
		return nil, aerr
	}
	wait, aerr := intIn("WaitTimeSeconds", in.WaitTimeSeconds, 0, 20, int(q.seconds("ReceiveMessageWaitTimeSeconds")/time.Second))
	if aerr != nil {
		return nil, aerr
	}
	sysNames := append(append([]string{}, in.AttributeNames...), in.MessageSystemAttributeNames...)
	for _, n := range sysNames {
		if !slices.Contains(systemAttributeNames(), n) {
			return nil, sqsErr("InvalidAttributeName", "InvalidAttributeName", "Unknown Attribute %s.", n)
		}
	}
	// The wait is measured on the real clock, so a poll ends however a
	// test drives the emulator's clock, and also on the emulator's clock,
	// so a test that moves it past the wait ends the poll at once.
	waitFor := time.Duration(wait) * time.Second
	realDeadline, clockDeadline := time.Now().Add(waitFor), r.now.Add(waitFor)
	var got []*sqsMessage
	for {
		got = e.receive(q, r.now, max, time.Duration(visibility)*time.Second)
		if len(got) > 0 || !e.waitForQueues(r, realDeadline, clockDeadline) {
			break
		}
	}
	if len(got) == 0 && r.ctx.Err() != nil {
		return nil, &apiError{Status: http.StatusServiceUnavailable, Code: "RequestCanceled", Message: "client went away during the long poll"}
	}
	msgs := make([]sqsReceived, 0, len(got))
	for _, m := range got {
		out := sqsReceived{MessageId: m.id, ReceiptHandle: m.handle, MD5OfBody: m.bodyMD5, Body: m.body}
		if len(sysNames) > 0 {
			out.Attributes = systemAttributes(m, sysNames)
		}
		if len(in.MessageAttributeNames) > 0 {
			out.MessageAttributes = messageAttributes(m, in.MessageAttributeNames)
			out.MD5OfMessageAttributes = attributesMD5(out.MessageAttributes)
		}
		msgs = append(msgs, out)
	}
	if len(msgs) == 0 {
		return struct{}{}, nil
	}
	return map[string]any{"Messages": msgs}, nil
}

func (e *Emulator) sqsDeleteMessage(r *request) (any, *apiError) {
	var in struct {
		QueueUrl      string
		ReceiptHandle string
	}
	q, aerr := e.queueCall(r, &in, &in.QueueUrl)
	if aerr != nil {
		return nil, aerr
	}
	if in.ReceiptHandle == "" {
		return nil, errMissingParameter("ReceiptHandle")
	}
	if aerr := q.deleteByHandle(in.ReceiptHandle); aerr != nil {
		return nil, aerr
	}
	return struct{}{}, nil
}

func (e *Emulator) sqsDeleteMessageBatch(r *request) (any, *apiError) {
	var in struct {
		QueueUrl string
		Entries  []struct{ Id, ReceiptHandle string }
	}
	q, aerr := e.queueCall(r, &in, &in.QueueUrl)
	if aerr != nil {
		return nil, aerr
	}
	ids := make([]string, len(in.Entries))
	for i, en := range in.Entries {
		ids[i] = en.Id
	}
	if aerr := checkBatch(ids); aerr != nil {
		return nil, aerr
	}
	type deleted struct{ Id string }
	out := struct {
		Successful []deleted
		Failed     []batchFailure
	}{Successful: []deleted{}, Failed: []batchFailure{}}
	for _, en := range in.Entries {
		if aerr := q.deleteByHandle(en.ReceiptHandle); aerr != nil {
			out.Failed = append(out.Failed, failedEntry(en.Id, aerr))
			continue
		}
		out.Successful = append(out.Successful, deleted{Id: en.Id})
	}
	return out, nil
}

// maxInFlight is how long a message may stay invisible after a receive:
// ChangeMessageVisibility cannot extend it beyond 12 hours.
const maxInFlight = 12 * time.Hour

func (e *Emulator) sqsChangeMessageVisibility(r *request) (any, *apiError) {
	var in struct {
		QueueUrl          string
		ReceiptHandle     string
		VisibilityTimeout *int
	}
	q, aerr := e.queueCall(r, &in, &in.QueueUrl)
	if aerr != nil {
		return nil, aerr
	}
	if in.ReceiptHandle == "" {
		return nil, errMissingParameter("ReceiptHandle")
	}
	if in.VisibilityTimeout == nil {
		return nil, errMissingParameter("VisibilityTimeout")
	}
	timeout, aerr := intIn("VisibilityTimeout", in.VisibilityTimeout, 0, 43200, 0)
	if aerr != nil {
		return nil, aerr
	}
	m, current, aerr := q.byHandle(in.ReceiptHandle)
	if aerr != nil {
		return nil, aerr
	}
	if m == nil || !current {
		return nil, errInvalid(ServiceSQS, "Value %s for parameter ReceiptHandle is invalid. Reason: Message does not exist or is not available for visibility timeout change.", in.ReceiptHandle)
	}
	if m.state(r.now) != MessageInFlight {
		return nil, sqsErr("MessageNotInflight", "AWS.SimpleQueueService.MessageNotInflight", "Message not inflight.")
	}
	until := r.now.Add(time.Duration(timeout) * time.Second)
	if until.Sub(m.lastReceive) > maxInFlight {
		return nil, errInvalid(ServiceSQS, "Value %d for parameter VisibilityTimeout is invalid. Reason: Total VisibilityTimeout for the message is beyond the limit [43200 seconds]", timeout)
	}
	m.visibleAt = until
	e.wakeSQS()
	return struct{}{}, nil
}

// purgeInterval is how often SQS lets a queue be purged.
const purgeInterval = time.Minute

func (e *Emulator) sqsPurgeQueue(r *request) (any, *apiError) {
	var in struct{ QueueUrl string }
	q, aerr := e.queueCall(r, &in, &in.QueueUrl)
	if aerr != nil {
		return nil, aerr
	}
	if !q.lastPurge.IsZero() && r.now.Before(q.lastPurge.Add(purgeInterval)) {
		return nil, sqsErr("PurgeQueueInProgress", "AWS.SimpleQueueService.PurgeQueueInProgress",
			"Only one PurgeQueue operation on %s is allowed every 60 seconds.", q.key.name)
	}
	q.messages, q.lastPurge = nil, r.now
	return struct{}{}, nil
}
