package intake

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strconv"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
)

// SQSOptions configure an SQS loop.
type SQSOptions struct {
	// QueueURL is the queue the EventBridge rule targets.
	QueueURL string
	// Client calls SQS in the queue's account and region.
	Client *sqs.Client
	// Wait is ReceiveMessage's long poll (default and at most 20s).
	Wait time.Duration
	// MinBackoff and MaxBackoff bound the wait after a failed receive
	// (throttled, denied, unreachable): doubled each time, with jitter
	// (defaults 1s and 1m).
	MinBackoff, MaxBackoff time.Duration
	// InFlight bounds the messages handled at once (default 30: three
	// ReceiveMessage batches).
	InFlight int
	Logger   *slog.Logger
}

// SQSLoop receives the findings an EventBridge rule sends to a queue and
// hands each message to the Receiver. A message is deleted once every
// finding in it was submitted or deliberately dropped; a Submit or source
// error leaves it for redelivery after its visibility timeout (the finding
// workflows make the redelivery a duplicate); a malformed message is
// reported and left on the queue, so that the queue's redrive policy moves
// it to the dead-letter queue after maxReceiveCount receives. Several
// loops, in one process or several, may read one queue.
type SQSLoop struct {
	r *Receiver
	o SQSOptions
}

// The most messages one ReceiveMessage (and one DeleteMessageBatch) takes.
const sqsBatch = 10

// NewSQSLoop reads o.QueueURL into r.
func NewSQSLoop(r *Receiver, o SQSOptions) (*SQSLoop, error) {
	if o.QueueURL == "" || o.Client == nil {
		return nil, errors.New("intake SQS loop: a queue URL and an SQS client are required")
	}
	if o.Wait <= 0 || o.Wait > 20*time.Second {
		o.Wait = 20 * time.Second
	}
	if o.MinBackoff <= 0 {
		o.MinBackoff = time.Second
	}
	if o.MaxBackoff < o.MinBackoff {
		o.MaxBackoff = max(time.Minute, o.MinBackoff)
	}
	if o.InFlight < 1 {
		o.InFlight = 3 * sqsBatch
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return &SQSLoop{r: r, o: o}, nil
}

// Run receives until ctx is done, then returns nil once the messages in
// hand are handled; it never returns because of a message or a failed
// call. Up to InFlight messages are handled at once, each deleted as soon
// as it is done: a slow submission holds its own message, not the batch
// it came in.
func (l *SQSLoop) Run(ctx context.Context) error {
	slots := make(chan struct{}, l.o.InFlight)
	del := newDeleter(l)
	var wg sync.WaitGroup
	defer func() {
		wg.Wait()
		del.close()
		l.o.Logger.Info("intake: stopped reading the queue", "queue", l.o.QueueURL)
	}()
	backoff := l.o.MinBackoff
	l.o.Logger.Info("intake: reading the queue", "queue", l.o.QueueURL, "wait", l.o.Wait, "in_flight", l.o.InFlight)
	for {
		n := take(ctx, slots, sqsBatch)
		if n == 0 {
			return nil // ctx is done
		}
		out, err := l.o.Client.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{
			QueueUrl: aws.String(l.o.QueueURL), MaxNumberOfMessages: int32(n), WaitTimeSeconds: int32(l.o.Wait / time.Second),
			MessageSystemAttributeNames: []sqstypes.MessageSystemAttributeName{
				sqstypes.MessageSystemAttributeNameApproximateReceiveCount, sqstypes.MessageSystemAttributeNameSentTimestamp},
		})
		var msgs []sqstypes.Message
		if err == nil {
			msgs = out.Messages
		}
		for range n - len(msgs) {
			<-slots // the slots no message came for
		}
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			l.r.o.Counters.Add("receive_errors", 1)
			wait := backoff/2 + rand.N(backoff/2+1)
			l.o.Logger.Warn("intake: receive from the queue failed; trying again", "queue", l.o.QueueURL, "in", wait, "err", err)
			if !sleep(ctx, wait) {
				return nil
			}
			backoff = min(2*backoff, l.o.MaxBackoff)
			continue
		}
		backoff = l.o.MinBackoff
		at := time.Now()
		for _, m := range msgs {
			l.r.o.Counters.Add("messages", 1)
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer func() { <-slots }()
				if l.message(ctx, m, at) {
					del.add(m)
				}
			}()
		}
	}
}

// take takes up to n slots, waiting for the first; 0 when ctx ends first.
func take(ctx context.Context, slots chan struct{}, n int) int {
	select {
	case slots <- struct{}{}:
	case <-ctx.Done():
		return 0
	}
	got := 1
	for got < n {
		select {
		case slots <- struct{}{}:
			got++
		default:
			return got
		}
	}
	return got
}

// message handles one message; true when it may be deleted.
func (l *SQSLoop) message(ctx context.Context, m sqstypes.Message, at time.Time) bool {
	id := aws.ToString(m.MessageId)
	_, err := l.r.Receive(ctx, Received{Body: []byte(aws.ToString(m.Body)), Via: "sqs", DeliveryID: id, At: at})
	var malformed *MalformedError
	switch {
	case errors.As(err, &malformed):
		// Left on the queue: after maxReceiveCount receives its redrive
		// policy moves it to the dead-letter queue, for people to read.
		l.o.Logger.Warn("intake: malformed message left for the dead-letter queue", "queue", l.o.QueueURL, "message", id,
			"receives", m.Attributes[string(sqstypes.MessageSystemAttributeNameApproximateReceiveCount)], "err", malformed.Err)
		return false
	case err != nil && ctx.Err() != nil:
		return false // stopping: the message comes back to a loop that runs
	case err != nil:
		l.o.Logger.Warn("intake: message left for redelivery", "queue", l.o.QueueURL, "message", id, "err", err)
		return false
	}
	return true
}

// deleter deletes the messages handled, ten at a time (DeleteMessageBatch)
// or after a short wait, and also while the loop stops: their findings
// are in Temporal's hands, and a redelivery would only be a duplicate.
type deleter struct {
	l    *SQSLoop
	in   chan sqstypes.Message
	done chan struct{}
}

// deleteWait is how long a handled message waits for others to share its
// DeleteMessageBatch.
const deleteWait = 50 * time.Millisecond

func newDeleter(l *SQSLoop) *deleter {
	d := &deleter{l: l, in: make(chan sqstypes.Message, l.o.InFlight), done: make(chan struct{})}
	go d.run()
	return d
}

func (d *deleter) add(m sqstypes.Message) { d.in <- m }

// close deletes what is left and stops.
func (d *deleter) close() {
	close(d.in)
	<-d.done
}

func (d *deleter) run() {
	defer close(d.done)
	var batch []sqstypes.Message
	timer := time.NewTimer(deleteWait)
	timer.Stop()
	for {
		select {
		case m, ok := <-d.in:
			if !ok {
				d.l.delete(batch)
				return
			}
			if len(batch) == 0 {
				timer.Reset(deleteWait)
			}
			if batch = append(batch, m); len(batch) == sqsBatch {
				timer.Stop()
				d.l.delete(batch)
				batch = nil
			}
		case <-timer.C:
			d.l.delete(batch)
			batch = nil
		}
	}
}

// delete deletes handled messages in one DeleteMessageBatch.
func (l *SQSLoop) delete(msgs []sqstypes.Message) {
	if len(msgs) == 0 {
		return
	}
	entries := make([]sqstypes.DeleteMessageBatchRequestEntry, len(msgs))
	for i, m := range msgs {
		entries[i] = sqstypes.DeleteMessageBatchRequestEntry{Id: aws.String(strconv.Itoa(i)), ReceiptHandle: m.ReceiptHandle}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := l.o.Client.DeleteMessageBatch(ctx, &sqs.DeleteMessageBatchInput{QueueUrl: aws.String(l.o.QueueURL), Entries: entries})
	if err != nil {
		l.r.o.Counters.Add("delete_errors", int64(len(entries)))
		l.o.Logger.Warn("intake: delete handled messages failed; they come back as duplicates", "queue", l.o.QueueURL, "messages", len(entries), "err", err)
		return
	}
	l.r.o.Counters.Add("deleted", int64(len(out.Successful)))
	for _, f := range out.Failed {
		i, _ := strconv.Atoi(aws.ToString(f.Id))
		l.r.o.Counters.Add("delete_errors", 1)
		l.o.Logger.Warn("intake: delete of a handled message failed; it comes back as a duplicate", "queue", l.o.QueueURL,
			"message", aws.ToString(msgs[i].MessageId), "code", aws.ToString(f.Code), "err", aws.ToString(f.Message))
	}
}

// sleep waits d; false when ctx ended first.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// QueueAttributes checks that the loop can reach its queue and says how
// it is set up (its redrive policy), for the log at start: a queue
// without a dead-letter queue keeps a malformed message for ever.
func (l *SQSLoop) QueueAttributes(ctx context.Context) (map[string]string, error) {
	out, err := l.o.Client.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: aws.String(l.o.QueueURL),
		AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameRedrivePolicy, sqstypes.QueueAttributeNameVisibilityTimeout}})
	if err != nil {
		return nil, fmt.Errorf("read queue %s: %w", l.o.QueueURL, err)
	}
	return out.Attributes, nil
}
