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
	Logger                 *slog.Logger
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

// The loop's batch: ReceiveMessage's maximum.
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
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return &SQSLoop{r: r, o: o}, nil
}

// Run receives until ctx is done, then returns nil; it never returns
// because of a message or a failed call.
func (l *SQSLoop) Run(ctx context.Context) error {
	backoff := l.o.MinBackoff
	l.o.Logger.Info("intake: reading the queue", "queue", l.o.QueueURL, "wait", l.o.Wait)
	for ctx.Err() == nil {
		out, err := l.o.Client.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{
			QueueUrl: aws.String(l.o.QueueURL), MaxNumberOfMessages: sqsBatch, WaitTimeSeconds: int32(l.o.Wait / time.Second),
			MessageSystemAttributeNames: []sqstypes.MessageSystemAttributeName{
				sqstypes.MessageSystemAttributeNameApproximateReceiveCount, sqstypes.MessageSystemAttributeNameSentTimestamp},
		})
		if ctx.Err() != nil {
			break
		}
		if err != nil {
			l.r.o.Counters.Add("receive_errors", 1)
			wait := backoff/2 + rand.N(backoff/2+1)
			l.o.Logger.Warn("intake: receive from the queue failed; trying again", "queue", l.o.QueueURL, "in", wait, "err", err)
			if !sleep(ctx, wait) {
				break
			}
			backoff = min(2*backoff, l.o.MaxBackoff)
			continue
		}
		backoff = l.o.MinBackoff
		l.handle(ctx, out.Messages)
	}
	l.o.Logger.Info("intake: stopped reading the queue", "queue", l.o.QueueURL)
	return nil
}

// handle hands a batch's messages to the receiver, at once, and deletes
// those done with.
func (l *SQSLoop) handle(ctx context.Context, msgs []sqstypes.Message) {
	at := time.Now()
	done := make([]bool, len(msgs))
	var wg sync.WaitGroup
	for i, m := range msgs {
		l.r.o.Counters.Add("messages", 1)
		wg.Add(1)
		go func() {
			defer wg.Done()
			done[i] = l.message(ctx, m, at)
		}()
	}
	wg.Wait()
	var entries []sqstypes.DeleteMessageBatchRequestEntry
	for i, m := range msgs {
		if done[i] {
			entries = append(entries, sqstypes.DeleteMessageBatchRequestEntry{Id: aws.String(strconv.Itoa(i)), ReceiptHandle: m.ReceiptHandle})
		}
	}
	l.delete(ctx, msgs, entries)
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

// delete deletes the messages handled, even while the loop stops: their
// findings are in Temporal's hands, and a redelivery would only be a
// duplicate.
func (l *SQSLoop) delete(ctx context.Context, msgs []sqstypes.Message, entries []sqstypes.DeleteMessageBatchRequestEntry) {
	if len(entries) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
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
