package awsemu

import (
	"crypto/md5"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// queueKey names a queue: SQS queues live in one account and region.
type queueKey struct{ account, region, name string }

// sqsQueue is an emulated standard SQS queue. Messages are kept in send
// order and received oldest first, so tests are reproducible; real
// standard queues promise no order.
type sqsQueue struct {
	key      queueKey
	arn      string
	attrs    map[string]string // the settable attributes, defaults included
	redrive  *redrivePolicy
	tags     map[string]string
	created  time.Time
	modified time.Time
	messages []*sqsMessage
	// lastPurge is when PurgeQueue last ran; SQS allows one purge a minute.
	lastPurge time.Time
}

type redrivePolicy struct {
	DeadLetterTargetARN string `json:"deadLetterTargetArn"`
	MaxReceiveCount     int    `json:"maxReceiveCount"`
}

// sqsMessage is one message. It is visible once the clock reaches
// visibleAt: before its first receive that is its delay, after a receive
// its visibility timeout.
type sqsMessage struct {
	id            string
	body          string
	bodyMD5       string
	attrs         map[string]sqsAttributeValue
	traceHeader   string // the AWSTraceHeader system attribute
	groupID       string
	sentAt        time.Time
	senderID      string
	visibleAt     time.Time
	receives      int
	firstReceive  time.Time
	lastReceive   time.Time
	handle        string // the latest receipt handle; only it deletes the message
	deadLetterSrc string // the ARN of the queue that redrove the message here
}

// sqsAttributeValue is a message attribute as SQS's JSON protocol carries
// it. The list values are reserved by SQS and refused.
type sqsAttributeValue struct {
	DataType         string   `json:"DataType"`
	StringValue      *string  `json:"StringValue,omitempty"`
	BinaryValue      []byte   `json:"BinaryValue,omitempty"`
	StringListValues []string `json:"StringListValues,omitempty"`
	BinaryListValues [][]byte `json:"BinaryListValues,omitempty"`
}

// Message states as [QueueMessage.State] reports them.
const (
	MessageVisible  = "visible"
	MessageInFlight = "in-flight"
	MessageDelayed  = "delayed"
)

func (m *sqsMessage) state(now time.Time) string {
	switch {
	case !now.Before(m.visibleAt):
		return MessageVisible
	case m.receives > 0:
		return MessageInFlight
	default:
		return MessageDelayed
	}
}

// queueAttr describes one settable queue attribute: an integer range, or
// (min > max) a string kept as given.
type queueAttr struct {
	min, max int
	def      string
}

// settableQueueAttrs are the attributes of a standard queue the emulator
// accepts, with the ranges and defaults of the CreateQueue reference.
// RedrivePolicy is parsed on its own (parseRedrivePolicy).
func settableQueueAttrs() map[string]queueAttr {
	return map[string]queueAttr{
		"DelaySeconds":                  {0, 900, "0"},
		"MaximumMessageSize":            {1024, 1048576, "1048576"},
		"MessageRetentionPeriod":        {60, 1209600, "345600"},
		"ReceiveMessageWaitTimeSeconds": {0, 20, "0"},
		"VisibilityTimeout":             {0, 43200, "30"},
		"KmsDataKeyReusePeriodSeconds":  {60, 86400, ""},
		"Policy":                        {1, 0, ""},
		"KmsMasterKeyId":                {1, 0, ""},
		"SqsManagedSseEnabled":          {1, 0, "true"},
		"RedriveAllowPolicy":            {1, 0, ""},
		"RedrivePolicy":                 {1, 0, ""},
	}
}

func (q *sqsQueue) seconds(name string) time.Duration {
	n, _ := strconv.Atoi(q.attrs[name]) // validated when set
	return time.Duration(n) * time.Second
}

func (q *sqsQueue) maxMessageSize() int {
	n, _ := strconv.Atoi(q.attrs["MaximumMessageSize"])
	return n
}

// sqsErr is an SQS error: shape is the modelled error type the SDK
// decodes, code the query-compatible code it reports as ErrorCode.
func sqsErr(shape, code, format string, args ...any) *apiError {
	aerr := clientErr(http.StatusBadRequest, code, format, args...)
	aerr.jsonType = "com.amazonaws.sqs#" + shape
	return aerr
}

func errNoQueue() *apiError {
	return sqsErr("QueueDoesNotExist", "AWS.SimpleQueueService.NonExistentQueue", "The specified queue does not exist.")
}

// validateQueueAttrs checks attributes for CreateQueue and
// SetQueueAttributes, returning them normalised and the redrive policy
// they set (nil when they do not mention one).
func (e *Emulator) validateQueueAttrs(key queueKey, attrs map[string]string) (map[string]string, *redrivePolicy, *apiError) {
	known := settableQueueAttrs()
	out := map[string]string{}
	var redrive *redrivePolicy
	for _, name := range sortedKeys(attrs) {
		v := attrs[name]
		switch name {
		case "FifoQueue", "ContentBasedDeduplication", "DeduplicationScope", "FifoThroughputLimit":
			// The emulator has only standard queues.
			if name == "FifoQueue" && v == "false" {
				continue
			}
			return nil, nil, sqsErr("InvalidAttributeName", "InvalidAttributeName", "Unknown Attribute %s. (FIFO queues are not emulated)", name)
		}
		spec, ok := known[name]
		if !ok {
			return nil, nil, sqsErr("InvalidAttributeName", "InvalidAttributeName", "Unknown Attribute %s.", name)
		}
		switch {
		case name == "RedrivePolicy":
			rp, aerr := e.parseRedrivePolicy(key, v)
			if aerr != nil {
				return nil, nil, aerr
			}
			redrive, v = rp, ""
			if rp != nil {
				b, err := json.Marshal(rp)
				if err != nil {
					panic(err) // a struct of a string and an int always marshals
				}
				v = string(b)
			}
		case spec.min <= spec.max:
			n, err := strconv.Atoi(v)
			if err != nil || n < spec.min || n > spec.max {
				return nil, nil, sqsErr("InvalidAttributeValue", "InvalidAttributeValue",
					"Invalid value for the parameter %s. Reason: must be an integer from %d to %d.", name, spec.min, spec.max)
			}
			v = strconv.Itoa(n)
		case name == "SqsManagedSseEnabled" && v != "true" && v != "false":
			return nil, nil, sqsErr("InvalidAttributeValue", "InvalidAttributeValue", "Invalid value for the parameter SqsManagedSseEnabled.")
		case (name == "Policy" || name == "RedriveAllowPolicy") && v != "" && !json.Valid([]byte(v)):
			return nil, nil, sqsErr("InvalidAttributeValue", "InvalidAttributeValue", "Invalid value for the parameter %s. Reason: not valid JSON.", name)
		}
		out[name] = v
	}
	return out, redrive, nil
}

// parseRedrivePolicy reads RedrivePolicy JSON; maxReceiveCount may be a
// number or a numeric string, as the console and CloudFormation send it.
// The dead-letter queue must exist, be another queue and be in the same
// account and region, as SQS requires.
func (e *Emulator) parseRedrivePolicy(key queueKey, v string) (*redrivePolicy, *apiError) {
	bad := func(why string) (*redrivePolicy, *apiError) {
		return nil, sqsErr("InvalidAttributeValue", "InvalidAttributeValue",
			"Value %s for parameter RedrivePolicy is invalid. Reason: %s", v, why)
	}
	if v == "" {
		return nil, nil
	}
	var raw struct {
		DeadLetterTargetARN string          `json:"deadLetterTargetArn"`
		MaxReceiveCount     json.RawMessage `json:"maxReceiveCount"`
	}
	if err := json.Unmarshal([]byte(v), &raw); err != nil {
		return bad("Redrive policy is not a valid JSON map.")
	}
	count := 10 // SQS's default
	if len(raw.MaxReceiveCount) > 0 {
		s := strings.Trim(string(raw.MaxReceiveCount), `"`)
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 1000 {
			return bad("Invalid value for maxReceiveCount: must be an integer from 1 to 1000.")
		}
		count = n
	}
	dlq, ok := e.queueByARN(raw.DeadLetterTargetARN)
	if !ok || dlq.key.account != key.account || dlq.key.region != key.region {
		return bad("Dead letter target does not exist.")
	}
	if dlq.key == key {
		return bad("A queue cannot be its own dead letter target.")
	}
	return &redrivePolicy{DeadLetterTargetARN: dlq.arn, MaxReceiveCount: count}, nil
}

func (e *Emulator) queueByARN(arn string) (*sqsQueue, bool) {
	f := strings.Split(arn, ":")
	if len(f) != 6 || f[0] != "arn" || f[2] != "sqs" {
		return nil, false
	}
	q, ok := e.queues[queueKey{account: f[4], region: f[3], name: f[5]}]
	return q, ok
}

var queueNamePattern = regexp.MustCompile(`^[A-Za-z0-9_-]{1,80}$`)

// createQueue creates a queue or, like SQS, returns the existing one when
// every attribute given matches it. Caller holds e.mu.
func (e *Emulator) createQueue(key queueKey, attrs, tags map[string]string, now time.Time) (*sqsQueue, *apiError) {
	if strings.HasSuffix(key.name, ".fifo") {
		return nil, sqsErr("InvalidAttributeName", "InvalidAttributeName", "FIFO queues are not emulated: %s", key.name)
	}
	if !queueNamePattern.MatchString(key.name) {
		return nil, errInvalid(ServiceSQS, "Can only include alphanumeric characters, hyphens, or underscores. 1 to 80 in length")
	}
	given, redrive, aerr := e.validateQueueAttrs(key, attrs)
	if aerr != nil {
		return nil, aerr
	}
	if q, ok := e.queues[key]; ok {
		for name, v := range given {
			if q.attrs[name] != v {
				return nil, sqsErr("QueueNameExists", "QueueAlreadyExists",
					"A queue already exists with the same name and a different value for attribute %s", name)
			}
		}
		return q, nil
	}
	q := &sqsQueue{
		key:      key,
		arn:      fmt.Sprintf("arn:aws:sqs:%s:%s:%s", key.region, key.account, key.name),
		attrs:    map[string]string{},
		redrive:  redrive,
		tags:     maps.Clone(tags),
		created:  now,
		modified: now,
	}
	for name, spec := range settableQueueAttrs() {
		if spec.def != "" {
			q.attrs[name] = spec.def
		}
	}
	maps.Copy(q.attrs, given)
	if q.attrs["RedrivePolicy"] == "" {
		delete(q.attrs, "RedrivePolicy") // an empty policy is no policy
	}
	e.queues[key] = q
	// SQS asks callers to wait a second before using a new queue; with
	// SetConsistencyLag the queue stays unknown for a few references.
	e.created(queueLagKey(q.arn))
	return q, nil
}

func queueLagKey(arn string) string { return "sqs:" + arn }

// parseQueueURL reads the account and name from a queue URL
// "http://host/<account>/<name>". The host is not checked: the endpoint a
// client calls decides the region, as in SQS.
func parseQueueURL(raw string) (account, name string, ok bool) {
	u, err := url.Parse(raw)
	if err != nil {
		return "", "", false
	}
	account, name, ok = strings.Cut(strings.Trim(u.Path, "/"), "/")
	if !ok || account == "" || strings.Contains(name, "/") || !queueNamePattern.MatchString(name) {
		return "", "", false
	}
	return account, name, true
}

// queueAt resolves a QueueUrl for a call signed for region. Caller holds e.mu.
func (e *Emulator) queueAt(raw, region string) (*sqsQueue, *apiError) {
	if raw == "" {
		return nil, errMissingParameter("QueueUrl")
	}
	account, name, ok := parseQueueURL(raw)
	if !ok {
		return nil, sqsErr("InvalidAddress", "InvalidAddress", "The address %s is not valid for this endpoint.", raw)
	}
	q, ok := e.queues[queueKey{account: account, region: region, name: name}]
	if !ok || e.notYetVisible(queueLagKey(q.arn)) {
		return nil, errNoQueue()
	}
	return q, nil
}

func queueURL(base string, key queueKey) string {
	return strings.TrimSuffix(base, "/") + "/" + key.account + "/" + key.name
}

// expire drops the messages older than the retention period, counted from
// when they were first sent (a redriven message keeps its send time).
func (q *sqsQueue) expire(now time.Time) {
	retention := q.seconds("MessageRetentionPeriod")
	q.messages = slices.DeleteFunc(q.messages, func(m *sqsMessage) bool { return !now.Before(m.sentAt.Add(retention)) })
}

// counts returns how many messages are visible, in flight and delayed.
func (q *sqsQueue) counts(now time.Time) (visible, inFlight, delayed int) {
	for _, m := range q.messages {
		switch m.state(now) {
		case MessageVisible:
			visible++
		case MessageInFlight:
			inFlight++
		default:
			delayed++
		}
	}
	return visible, inFlight, delayed
}

// sqsSend is one message to send, as SendMessage and its batch carry it.
type sqsSend struct {
	Id                      string // batch entries only
	MessageBody             *string
	DelaySeconds            *int
	MessageAttributes       map[string]sqsAttributeValue
	MessageSystemAttributes map[string]sqsAttributeValue
	MessageGroupId          string
	MessageDeduplicationId  string
}

// sqsSent is what SendMessage answers for one message.
type sqsSent struct {
	Id                           string `json:",omitempty"`
	MessageId                    string
	MD5OfMessageBody             string
	MD5OfMessageAttributes       string `json:",omitempty"`
	MD5OfMessageSystemAttributes string `json:",omitempty"`
}

var attrNamePattern = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,256}$`)

// validateMessageAttrs checks message attributes against SQS's rules and
// returns their size, which counts towards the message size.
func validateMessageAttrs(attrs map[string]sqsAttributeValue, system bool) (int, *apiError) {
	if len(attrs) > 10 {
		return 0, errInvalid(ServiceSQS, "Number of message attributes [%d] exceeds the allowed maximum [10].", len(attrs))
	}
	size := 0
	for _, name := range sortedKeys(attrs) {
		a := attrs[name]
		lower := strings.ToLower(name)
		if system {
			if name != "AWSTraceHeader" || a.DataType != "String" || a.StringValue == nil {
				return 0, errInvalid(ServiceSQS, "Message system attribute %s is not supported: only AWSTraceHeader, of type String", name)
			}
		} else if !attrNamePattern.MatchString(name) || strings.HasPrefix(lower, "aws.") || strings.HasPrefix(lower, "amazon.") ||
			strings.HasPrefix(name, ".") || strings.HasSuffix(name, ".") || strings.Contains(name, "..") {
			return 0, errInvalid(ServiceSQS, "Message attribute name '%s' is invalid.", name)
		}
		base, _, _ := strings.Cut(a.DataType, ".")
		if len(a.StringListValues) > 0 || len(a.BinaryListValues) > 0 {
			return 0, errInvalid(ServiceSQS, "Message attribute '%s' uses list values, which SQS reserves for future use.", name)
		}
		switch {
		case base == "String" && a.StringValue != nil && *a.StringValue != "":
			size += len(*a.StringValue)
		case base == "Number" && a.StringValue != nil && isSQSNumber(*a.StringValue):
			size += len(*a.StringValue)
		case base == "Binary" && len(a.BinaryValue) > 0:
			size += len(a.BinaryValue)
		default:
			return 0, errInvalid(ServiceSQS, "Message attribute '%s' must have a data type of String, Number or Binary and a value of that type.", name)
		}
		size += len(name) + len(a.DataType)
	}
	return size, nil
}

func isSQSNumber(s string) bool {
	_, err := strconv.ParseFloat(s, 64)
	return err == nil && len(s) <= 40
}

// validBody reports whether a body holds only the characters SQS allows:
// #x9 | #xA | #xD | #x20 to #xD7FF | #xE000 to #xFFFD | #x10000 to #x10FFFF.
func validBody(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		ok := r == 0x9 || r == 0xA || r == 0xD || (r >= 0x20 && r <= 0xD7FF) || (r >= 0xE000 && r <= 0xFFFD) || (r >= 0x10000 && r <= 0x10FFFF)
		if !ok {
			return false
		}
	}
	return true
}

// send validates one message and appends it to q. Caller holds e.mu.
func (e *Emulator) send(q *sqsQueue, in sqsSend, sender string, now time.Time) (sqsSent, *apiError) {
	if in.MessageBody == nil || *in.MessageBody == "" {
		return sqsSent{}, errMissingParameter("MessageBody")
	}
	body := *in.MessageBody
	if !validBody(body) {
		return sqsSent{}, sqsErr("InvalidMessageContents", "InvalidMessageContents",
			"Invalid binary character in the message body. Only #x9 | #xA | #xD | #x20 to #xD7FF | #xE000 to #xFFFD | #x10000 to #x10FFFF are allowed.")
	}
	if in.MessageDeduplicationId != "" {
		return sqsSent{}, errInvalid(ServiceSQS, "The request includes parameter MessageDeduplicationId that is not valid for this queue type")
	}
	attrSize, aerr := validateMessageAttrs(in.MessageAttributes, false)
	if aerr != nil {
		return sqsSent{}, aerr
	}
	if _, aerr := validateMessageAttrs(in.MessageSystemAttributes, true); aerr != nil {
		return sqsSent{}, aerr
	}
	if max := q.maxMessageSize(); len(body)+attrSize > max {
		return sqsSent{}, errInvalid(ServiceSQS, "One or more parameters are invalid. Reason: Message must be shorter than %d bytes.", max)
	}
	delay := q.seconds("DelaySeconds")
	if in.DelaySeconds != nil {
		if *in.DelaySeconds < 0 || *in.DelaySeconds > 900 {
			return sqsSent{}, errInvalid(ServiceSQS, "Value %d for parameter DelaySeconds is invalid. Reason: must be between 0 and 900, if provided.", *in.DelaySeconds)
		}
		delay = time.Duration(*in.DelaySeconds) * time.Second
	}
	m := &sqsMessage{
		id:        e.newUUID(),
		body:      body,
		bodyMD5:   md5Hex([]byte(body)),
		attrs:     maps.Clone(in.MessageAttributes),
		groupID:   in.MessageGroupId,
		sentAt:    now,
		senderID:  sender,
		visibleAt: now.Add(delay),
	}
	out := sqsSent{Id: in.Id, MessageId: m.id, MD5OfMessageBody: m.bodyMD5, MD5OfMessageAttributes: attributesMD5(m.attrs)}
	if th, ok := in.MessageSystemAttributes["AWSTraceHeader"]; ok {
		m.traceHeader = *th.StringValue
		out.MD5OfMessageSystemAttributes = attributesMD5(in.MessageSystemAttributes)
	}
	q.messages = append(q.messages, m)
	e.wakeSQS()
	return out, nil
}

func md5Hex(b []byte) string {
	sum := md5.Sum(b)
	return hex.EncodeToString(sum[:])
}

// attributesMD5 is SQS's digest of message attributes: for each attribute
// in name order, the length-prefixed name and data type, a transport byte
// (1 string, 2 binary) and the length-prefixed value. Empty for none.
func attributesMD5(attrs map[string]sqsAttributeValue) string {
	if len(attrs) == 0 {
		return ""
	}
	var b []byte
	field := func(v []byte) {
		b = binary.BigEndian.AppendUint32(b, uint32(len(v)))
		b = append(b, v...)
	}
	for _, name := range sortedKeys(attrs) {
		a := attrs[name]
		field([]byte(name))
		field([]byte(a.DataType))
		if a.StringValue != nil {
			b = append(b, 1)
			field([]byte(*a.StringValue))
		} else {
			b = append(b, 2)
			field(a.BinaryValue)
		}
	}
	return md5Hex(b)
}

// receive takes up to max visible messages, oldest first, making each
// invisible for visibility with a new receipt handle. A message already
// received maxReceiveCount times moves to the dead-letter queue instead,
// keeping its id, body and send time. Caller holds e.mu.
func (e *Emulator) receive(q *sqsQueue, now time.Time, max int, visibility time.Duration) []*sqsMessage {
	q.expire(now)
	var got []*sqsMessage
	redriven := false
	for i := 0; i < len(q.messages) && len(got) < max; {
		m := q.messages[i]
		if now.Before(m.visibleAt) {
			i++
			continue
		}
		if q.redrive != nil && m.receives >= q.redrive.MaxReceiveCount {
			if dlq, ok := e.queueByARN(q.redrive.DeadLetterTargetARN); ok {
				q.messages = slices.Delete(q.messages, i, i+1)
				m.deadLetterSrc, m.visibleAt = q.arn, now
				dlq.messages = append(dlq.messages, m)
				redriven = true
				continue
			}
		}
		m.receives++
		if m.firstReceive.IsZero() {
			m.firstReceive = now
		}
		m.lastReceive = now
		m.visibleAt = now.Add(visibility)
		m.handle = e.receiptHandle(q, m)
		got = append(got, m)
		i++
	}
	if redriven {
		e.wakeSQS()
	}
	return got
}

// receiptHandle makes an opaque handle naming the queue, the message and
// this receive, so that a handle from another queue is recognised as
// invalid and an older handle of the same message as stale.
func (e *Emulator) receiptHandle(q *sqsQueue, m *sqsMessage) string {
	raw := strings.Join([]string{q.arn, m.id, strconv.Itoa(m.receives), strconv.FormatUint(e.rng.Uint64(), 36)}, "\n")
	return base64.RawURLEncoding.EncodeToString([]byte(raw))
}

// byHandle finds the message a receipt handle names. It fails when the
// handle was not issued for q; it returns nil (and no error) when the
// message is gone, and the message with current=false when the handle is
// not its latest.
func (q *sqsQueue) byHandle(handle string) (m *sqsMessage, current bool, aerr *apiError) {
	invalid := sqsErr("ReceiptHandleIsInvalid", "ReceiptHandleIsInvalid", "The input receipt handle \"%s\" is not a valid receipt handle.", handle)
	raw, err := base64.RawURLEncoding.DecodeString(handle)
	if err != nil {
		return nil, false, invalid
	}
	f := strings.Split(string(raw), "\n")
	if len(f) != 4 || f[0] != q.arn {
		return nil, false, invalid
	}
	for _, m := range q.messages {
		if m.id == f[1] {
			return m, m.handle == handle, nil
		}
	}
	return nil, false, nil
}

// deleteByHandle deletes the message of a receipt handle. As the
// DeleteMessage reference says, a handle that is not the latest for its
// message succeeds without deleting it, and so does one whose message is
// already gone. Caller holds e.mu.
func (q *sqsQueue) deleteByHandle(handle string) *apiError {
	m, current, aerr := q.byHandle(handle)
	if aerr != nil || m == nil || !current {
		return aerr
	}
	q.messages = slices.DeleteFunc(q.messages, func(x *sqsMessage) bool { return x == m })
	return nil
}

// wakeSQS wakes the long polls waiting for a queue to change. Caller
// holds e.mu.
func (e *Emulator) wakeSQS() {
	if e.sqsWake != nil {
		close(e.sqsWake)
		e.sqsWake = nil
	}
}

// sqsPollInterval bounds how long a long poll sleeps between looks at its
// queue: sends wake it at once, but a message whose visibility timeout
// ends, or a test's clock moved forward, wakes nobody.
const sqsPollInterval = 25 * time.Millisecond

// waitForQueues lets a long poll sleep without holding the emulator. It
// reports false, without sleeping, when the wait is over (by the real
// clock, or by the emulator's clock when a test moves it) or the client
// has gone; otherwise it releases e.mu until a queue changes or a poll
// interval passes, takes e.mu again, refreshes r.now and reports true.
// Caller holds e.mu.
func (e *Emulator) waitForQueues(r *request, realDeadline, clockDeadline time.Time) bool {
	remaining := time.Until(realDeadline)
	if remaining <= 0 || !r.now.Before(clockDeadline) || r.ctx.Err() != nil {
		return false
	}
	if e.sqsWake == nil {
		e.sqsWake = make(chan struct{})
	}
	wake := e.sqsWake
	e.longPolls++
	e.unlockWhile(func() {
		t := time.NewTimer(min(remaining, sqsPollInterval))
		select {
		case <-wake:
		case <-t.C:
		case <-r.ctx.Done():
		}
		t.Stop()
	})
	e.longPolls--
	r.now = e.clock()
	e.tick(r.now)
	return r.ctx.Err() == nil
}
