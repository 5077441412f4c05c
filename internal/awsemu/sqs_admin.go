package awsemu

import (
	"errors"
	"fmt"
	"maps"
	"time"
)

// Queue is an emulated SQS queue as tests inspect it ([Emulator.Queue]).
type Queue struct {
	URL     string
	ARN     string
	Account string
	Region  string
	Name    string
	// Attributes are the queue's settable attributes, defaults included,
	// as GetQueueAttributes reports them (RedrivePolicy normalised).
	Attributes map[string]string
	// DeadLetterTargetARN and MaxReceiveCount are the redrive policy;
	// empty and zero without one.
	DeadLetterTargetARN string
	MaxReceiveCount     int
	// Visible, InFlight and Delayed count Messages by state, as
	// ApproximateNumberOfMessages, …NotVisible and …Delayed would.
	Visible, InFlight, Delayed int
	Messages                   []QueueMessage // oldest first
}

// QueueMessage is one message of an emulated queue.
type QueueMessage struct {
	MessageID       string
	Body            string
	SentAt          time.Time
	State           string // MessageVisible, MessageInFlight or MessageDelayed
	VisibleAt       time.Time
	ReceiveCount    int
	FirstReceivedAt time.Time // zero until received
	// DeadLetterSourceARN is the queue that moved the message here after
	// maxReceiveCount receives; empty for a message sent here.
	DeadLetterSourceARN string
}

// adminSenderID is the SenderId of messages sent with SendToQueue, the
// emulator's default user's id.
const adminSenderID = "AIDACORDONEMULATOR00"

// CreateQueue creates a standard SQS queue as the CreateQueue API would,
// with the same attribute names, ranges and defaults (RedrivePolicy is the
// JSON {"deadLetterTargetArn": …, "maxReceiveCount": …}, naming a queue
// that exists in the same account and region), and returns its URL,
// "<emulator URL>/<account>/<name>". Empty account and region mean the
// emulator's. Like the API, it returns the existing queue's URL when a
// queue of that name exists and every attribute given matches it.
func (e *Emulator) CreateQueue(account, region, name string, attrs map[string]string) (string, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	key := e.adminQueueKey(account, region, name)
	if _, aerr := e.createQueue(key, attrs, nil, e.clock()); aerr != nil {
		return "", fmt.Errorf("awsemu: create queue %s: %w", name, aerr)
	}
	return queueURL(e.baseURL(), key), nil
}

// SendToQueue sends a message to the queue at queueURL, as EventBridge
// delivering a matched event would, and returns its message id. Only the
// URL's path (/<account>/<name>) is read; a name that exists in several
// regions of the account is an error.
func (e *Emulator) SendToQueue(queueURL, body string) (string, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	q, err := e.adminQueue(queueURL)
	if err != nil {
		return "", fmt.Errorf("awsemu: send to %s: %w", queueURL, err)
	}
	now := e.clock()
	e.tick(now)
	sent, aerr := e.send(q, sqsSend{MessageBody: &body}, adminSenderID, now)
	if aerr != nil {
		return "", fmt.Errorf("awsemu: send to %s: %w", queueURL, aerr)
	}
	return sent.MessageId, nil
}

// Queue returns a copy of the queue at queueURL (read as SendToQueue
// reads it) with its messages, after expiring those past retention.
func (e *Emulator) Queue(queueURL string) (Queue, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	q, err := e.adminQueue(queueURL)
	if err != nil {
		return Queue{}, fmt.Errorf("awsemu: inspect queue %s: %w", queueURL, err)
	}
	now := e.clock()
	e.tick(now)
	q.expire(now)
	out := Queue{
		URL: queueURL, ARN: q.arn, Account: q.key.account, Region: q.key.region, Name: q.key.name,
		Attributes: maps.Clone(q.attrs),
	}
	if q.redrive != nil {
		out.DeadLetterTargetARN, out.MaxReceiveCount = q.redrive.DeadLetterTargetARN, q.redrive.MaxReceiveCount
	}
	out.Visible, out.InFlight, out.Delayed = q.counts(now)
	for _, m := range q.messages {
		out.Messages = append(out.Messages, QueueMessage{
			MessageID: m.id, Body: m.body, SentAt: m.sentAt, State: m.state(now), VisibleAt: m.visibleAt,
			ReceiveCount: m.receives, FirstReceivedAt: m.firstReceive, DeadLetterSourceARN: m.deadLetterSrc,
		})
	}
	return out, nil
}

// LongPolls is how many ReceiveMessage calls are waiting for a message
// right now, so a test can act once its consumer is polling.
func (e *Emulator) LongPolls() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.longPolls
}

func (e *Emulator) adminQueueKey(account, region, name string) queueKey {
	if account == "" {
		account = e.account
	}
	if region == "" {
		region = e.region
	}
	return queueKey{account: account, region: region, name: name}
}

// baseURL is the emulator's URL for queue URLs made outside a request;
// before Start it is a placeholder host, which lookups ignore.
func (e *Emulator) baseURL() string {
	if e.url != "" {
		return e.url
	}
	return "http://127.0.0.1"
}

// adminQueue finds a queue by URL in whichever region holds it. Caller
// holds e.mu.
func (e *Emulator) adminQueue(raw string) (*sqsQueue, error) {
	account, name, ok := parseQueueURL(raw)
	if !ok {
		return nil, errors.New("not a queue URL of the form http://host/<account>/<name>")
	}
	var found *sqsQueue
	for _, q := range e.queues {
		if q.key.account != account || q.key.name != name {
			continue
		}
		if found != nil {
			return nil, fmt.Errorf("queue %s of account %s exists in regions %s and %s; the URL does not say which", name, account, found.key.region, q.key.region)
		}
		found = q
	}
	if found == nil {
		return nil, errors.New("no such queue")
	}
	return found, nil
}
