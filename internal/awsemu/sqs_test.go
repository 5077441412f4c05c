package awsemu_test

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/cordon-ir/cordon/internal/awsemu"
)

// newQueue starts an emulator with one queue made through the admin API.
func newQueue(t *testing.T, o awsemu.Options, attrs map[string]string) (*awsemu.Emulator, *sqs.Client, string) {
	t.Helper()
	emu := awsemu.NewTestServer(t, o)
	url, err := emu.CreateQueue("", "", "findings", attrs)
	if err != nil {
		t.Fatal(err)
	}
	return emu, sqs.NewFromConfig(fastRetries(emu.AWSConfig(), 1)), url
}

func md5Of(s string) string {
	sum := md5.Sum([]byte(s))
	return hex.EncodeToString(sum[:])
}

// waitFor polls cond until it holds; the test's deadline bounds it.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for !cond() {
		select {
		case <-t.Context().Done():
			t.Fatalf("gave up waiting for %s", what)
		case <-time.After(2 * time.Millisecond):
		}
	}
}

func queueState(t *testing.T, emu *awsemu.Emulator, url string) awsemu.Queue {
	t.Helper()
	q, err := emu.Queue(url)
	if err != nil {
		t.Fatal(err)
	}
	return q
}

func TestSQSSendReceiveDelete(t *testing.T) {
	emu, client, url := newQueue(t, awsemu.Options{}, nil)
	ctx := context.Background()
	if !strings.HasPrefix(url, emu.URL()+"/"+awsemu.DefaultAccountID+"/findings") {
		t.Fatalf("queue URL %s", url)
	}
	got, err := client.GetQueueUrl(ctx, &sqs.GetQueueUrlInput{QueueName: aws.String("findings")})
	if err != nil || aws.ToString(got.QueueUrl) != url {
		t.Fatalf("GetQueueUrl = %v, %v; want %s", aws.ToString(got.QueueUrl), err, url)
	}

	body := `{"detail-type":"GuardDuty Finding","detail":{"id":"abc"}}`
	sent, err := client.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: &url, MessageBody: &body,
		MessageAttributes: map[string]sqstypes.MessageAttributeValue{"SellerName": {DataType: aws.String("String"), StringValue: aws.String("Example Store")}}})
	if err != nil {
		t.Fatalf("SendMessage: %v", err)
	}
	// The SDK checks the body digest it is given; an emulator that left it
	// out would pass that check without being checked. The attributes
	// digest is SQS's published example's.
	if aws.ToString(sent.MD5OfMessageBody) != md5Of(body) || aws.ToString(sent.MD5OfMessageAttributes) != "cd28f3b68aeee4b2eac9c66f2f694b58" {
		t.Fatalf("send digests: body %s attrs %s", aws.ToString(sent.MD5OfMessageBody), aws.ToString(sent.MD5OfMessageAttributes))
	}

	out, err := client.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: &url, MaxNumberOfMessages: 10,
		MessageSystemAttributeNames: []sqstypes.MessageSystemAttributeName{sqstypes.MessageSystemAttributeNameAll},
		MessageAttributeNames:       []string{"All"}})
	if err != nil {
		t.Fatalf("ReceiveMessage: %v", err)
	}
	if len(out.Messages) != 1 {
		t.Fatalf("received %d messages", len(out.Messages))
	}
	m := out.Messages[0]
	if aws.ToString(m.Body) != body || aws.ToString(m.MessageId) != aws.ToString(sent.MessageId) || aws.ToString(m.MD5OfBody) != md5Of(body) {
		t.Fatalf("message %+v", m)
	}
	if m.Attributes["ApproximateReceiveCount"] != "1" || m.Attributes["SentTimestamp"] == "" ||
		m.Attributes["ApproximateFirstReceiveTimestamp"] == "" || m.Attributes["SenderId"] == "" {
		t.Errorf("system attributes %v", m.Attributes)
	}
	if a := m.MessageAttributes["SellerName"]; aws.ToString(a.StringValue) != "Example Store" || aws.ToString(m.MD5OfMessageAttributes) != aws.ToString(sent.MD5OfMessageAttributes) {
		t.Errorf("message attributes %+v, digest %s", m.MessageAttributes, aws.ToString(m.MD5OfMessageAttributes))
	}
	if q := queueState(t, emu, url); q.Visible != 0 || q.InFlight != 1 || q.Messages[0].ReceiveCount != 1 {
		t.Fatalf("after receive: %+v", q)
	}
	attrs, err := client.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: &url,
		AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameAll}})
	if err != nil {
		t.Fatal(err)
	}
	if a := attrs.Attributes; a["ApproximateNumberOfMessagesNotVisible"] != "1" || a["ApproximateNumberOfMessages"] != "0" ||
		a["QueueArn"] != "arn:aws:sqs:us-east-1:123456789012:findings" || a["VisibilityTimeout"] != "30" {
		t.Errorf("attributes %v", a)
	}

	if _, err := client.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: &url, ReceiptHandle: m.ReceiptHandle}); err != nil {
		t.Fatalf("DeleteMessage: %v", err)
	}
	if q := queueState(t, emu, url); len(q.Messages) != 0 {
		t.Fatalf("after delete: %+v", q.Messages)
	}
	empty, err := client.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: &url})
	if err != nil || len(empty.Messages) != 0 {
		t.Fatalf("receive from an empty queue: %v %+v", err, empty)
	}
	var sendCall awsemu.Call
	for _, c := range emu.Calls() {
		if c.Action == "SendMessage" {
			sendCall = c
		}
	}
	if sendCall.IAMAction != "sqs:SendMessage" || !sendCall.Mutating || sendCall.Status != 200 || sendCall.Principal == "" {
		t.Errorf("call log entry %+v", sendCall)
	}
}

func TestSQSCreateQueueAndErrors(t *testing.T) {
	emu, client, url := newQueue(t, awsemu.Options{}, map[string]string{"VisibilityTimeout": "60"})
	ctx := context.Background()
	again, err := client.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String("findings"), Attributes: map[string]string{"VisibilityTimeout": "60"}})
	if err != nil || aws.ToString(again.QueueUrl) != url {
		t.Fatalf("CreateQueue with the same attributes = %v, %v", again, err)
	}
	_, err = client.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String("findings"), Attributes: map[string]string{"VisibilityTimeout": "5"}})
	var exists *sqstypes.QueueNameExists
	if !errors.As(err, &exists) || apiCode(t, err) != "QueueAlreadyExists" {
		t.Errorf("CreateQueue with other attributes: %v", err)
	}
	_, err = client.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String("q2"), Attributes: map[string]string{"VisibilityTimeout": "99999"}})
	var badValue *sqstypes.InvalidAttributeValue
	if !errors.As(err, &badValue) {
		t.Errorf("out-of-range attribute: %v", err)
	}
	_, err = client.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String("q3"), Attributes: map[string]string{"Colour": "blue"}})
	var badName *sqstypes.InvalidAttributeName
	if !errors.As(err, &badName) {
		t.Errorf("unknown attribute: %v", err)
	}
	_, err = client.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(emu.URL() + "/123456789012/nope")})
	var missing *sqstypes.QueueDoesNotExist
	if !errors.As(err, &missing) || apiCode(t, err) != "AWS.SimpleQueueService.NonExistentQueue" {
		t.Errorf("missing queue: %v", err)
	}
	_, err = client.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: &url, MaxNumberOfMessages: 11})
	if apiCode(t, err) != "InvalidParameterValue" {
		t.Errorf("11 messages: %v", err)
	}
	_, err = client.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: &url, MessageBody: aws.String("bad \x00 byte")})
	var contents *sqstypes.InvalidMessageContents
	if !errors.As(err, &contents) {
		t.Errorf("body with a NUL: %v", err)
	}
	// A queue in another region is another queue: the region the client
	// signs for is the endpoint it would have called.
	west := emu.AWSConfig()
	west.Region = "us-west-2"
	_, err = sqs.NewFromConfig(west).GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: &url})
	if !errors.As(err, &missing) {
		t.Errorf("queue from another region: %v", err)
	}
	if q := queueState(t, emu, url); len(q.Messages) != 0 {
		t.Errorf("failed sends left messages: %+v", q.Messages)
	}
	if _, err := client.SetQueueAttributes(ctx, &sqs.SetQueueAttributesInput{QueueUrl: &url, Attributes: map[string]string{"VisibilityTimeout": "45"}}); err != nil {
		t.Fatalf("SetQueueAttributes: %v", err)
	}
	if q := queueState(t, emu, url); q.Attributes["VisibilityTimeout"] != "45" || q.Attributes["MessageRetentionPeriod"] != "345600" {
		t.Errorf("attributes after SetQueueAttributes: %v", q.Attributes)
	}
}

func TestSQSVisibilityTimeoutAndStaleReceiptHandle(t *testing.T) {
	clock := &fakeClock{now: time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)}
	emu, client, url := newQueue(t, awsemu.Options{Clock: clock.Now}, map[string]string{"VisibilityTimeout": "30"})
	ctx := context.Background()
	id, err := emu.SendToQueue(url, "finding")
	if err != nil {
		t.Fatal(err)
	}
	receive := func() []sqstypes.Message {
		t.Helper()
		out, err := client.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: &url,
			MessageSystemAttributeNames: []sqstypes.MessageSystemAttributeName{sqstypes.MessageSystemAttributeNameApproximateReceiveCount}})
		if err != nil {
			t.Fatalf("ReceiveMessage: %v", err)
		}
		return out.Messages
	}
	first := receive()
	if len(first) != 1 || aws.ToString(first[0].MessageId) != id {
		t.Fatalf("first receive %+v", first)
	}
	clock.Advance(29 * time.Second)
	if again := receive(); len(again) != 0 {
		t.Fatalf("received while invisible: %+v", again)
	}
	clock.Advance(time.Second)
	second := receive()
	if len(second) != 1 || second[0].Attributes["ApproximateReceiveCount"] != "2" ||
		aws.ToString(second[0].ReceiptHandle) == aws.ToString(first[0].ReceiptHandle) {
		t.Fatalf("receive after the timeout %+v", second)
	}

	// The old handle is stale: deleting with it succeeds and deletes
	// nothing, and it cannot change the visibility.
	if _, err := client.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: &url, ReceiptHandle: first[0].ReceiptHandle}); err != nil {
		t.Fatalf("DeleteMessage with a stale handle: %v", err)
	}
	if q := queueState(t, emu, url); len(q.Messages) != 1 || q.Messages[0].State != awsemu.MessageInFlight {
		t.Fatalf("stale delete removed the message: %+v", q.Messages)
	}
	_, err = client.ChangeMessageVisibility(ctx, &sqs.ChangeMessageVisibilityInput{QueueUrl: &url, ReceiptHandle: first[0].ReceiptHandle, VisibilityTimeout: 0})
	if apiCode(t, err) != "InvalidParameterValue" {
		t.Errorf("ChangeMessageVisibility with a stale handle: %v", err)
	}
	_, err = client.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: &url, ReceiptHandle: aws.String("not-a-handle")})
	var invalid *sqstypes.ReceiptHandleIsInvalid
	if !errors.As(err, &invalid) {
		t.Errorf("DeleteMessage with a made-up handle: %v", err)
	}

	// The current handle makes the message visible again at once.
	if _, err := client.ChangeMessageVisibility(ctx, &sqs.ChangeMessageVisibilityInput{QueueUrl: &url, ReceiptHandle: second[0].ReceiptHandle, VisibilityTimeout: 0}); err != nil {
		t.Fatalf("ChangeMessageVisibility: %v", err)
	}
	_, err = client.ChangeMessageVisibility(ctx, &sqs.ChangeMessageVisibilityInput{QueueUrl: &url, ReceiptHandle: second[0].ReceiptHandle, VisibilityTimeout: 10})
	var notInFlight *sqstypes.MessageNotInflight
	if !errors.As(err, &notInFlight) {
		t.Errorf("ChangeMessageVisibility of a visible message: %v", err)
	}
	third := receive()
	if len(third) != 1 || third[0].Attributes["ApproximateReceiveCount"] != "3" {
		t.Fatalf("third receive %+v", third)
	}
	if _, err := client.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: &url, ReceiptHandle: third[0].ReceiptHandle}); err != nil {
		t.Fatal(err)
	}
	if q := queueState(t, emu, url); len(q.Messages) != 0 {
		t.Fatalf("after deleting with the current handle: %+v", q.Messages)
	}
}

func TestSQSRedriveToDeadLetterQueue(t *testing.T) {
	emu := awsemu.NewTestServer(t, awsemu.Options{})
	ctx := context.Background()
	client := sqs.NewFromConfig(emu.AWSConfig())
	dlqURL, err := emu.CreateQueue("", "", "findings-dlq", nil)
	if err != nil {
		t.Fatal(err)
	}
	dlq := queueState(t, emu, dlqURL)
	// A consumer that never deletes: with a zero visibility timeout each
	// receive hands the message straight back.
	_, err = client.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String("findings"), Attributes: map[string]string{
		"VisibilityTimeout": "0", "RedrivePolicy": `{"deadLetterTargetArn":"` + dlq.ARN + `","maxReceiveCount":"2"}`}})
	if err != nil {
		t.Fatalf("CreateQueue with a redrive policy: %v", err)
	}
	_, err = client.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String("orphan"), Attributes: map[string]string{
		"RedrivePolicy": `{"deadLetterTargetArn":"arn:aws:sqs:us-east-1:123456789012:nope","maxReceiveCount":2}`}})
	var badValue *sqstypes.InvalidAttributeValue
	if !errors.As(err, &badValue) {
		t.Errorf("redrive to a missing queue: %v", err)
	}
	src, err := client.GetQueueUrl(ctx, &sqs.GetQueueUrlInput{QueueName: aws.String("findings")})
	if err != nil {
		t.Fatal(err)
	}
	url := aws.ToString(src.QueueUrl)
	id, err := emu.SendToQueue(url, "poison")
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 2; i++ {
		out, err := client.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: &url})
		if err != nil || len(out.Messages) != 1 {
			t.Fatalf("receive %d: %v %+v", i, err, out)
		}
	}
	out, err := client.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: &url})
	if err != nil || len(out.Messages) != 0 {
		t.Fatalf("receive past maxReceiveCount: %v %+v", err, out.Messages)
	}
	if q := queueState(t, emu, url); len(q.Messages) != 0 || q.DeadLetterTargetARN != dlq.ARN || q.MaxReceiveCount != 2 {
		t.Fatalf("source after redrive: %+v", q)
	}
	dlq = queueState(t, emu, dlqURL)
	if len(dlq.Messages) != 1 || dlq.Messages[0].MessageID != id || dlq.Messages[0].Body != "poison" ||
		dlq.Messages[0].State != awsemu.MessageVisible || !strings.HasSuffix(dlq.Messages[0].DeadLetterSourceARN, ":findings") {
		t.Fatalf("dead-letter queue: %+v", dlq.Messages)
	}
	fromDLQ, err := client.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: &dlqURL,
		MessageSystemAttributeNames: []sqstypes.MessageSystemAttributeName{sqstypes.MessageSystemAttributeNameDeadLetterQueueSourceArn}})
	if err != nil || len(fromDLQ.Messages) != 1 || aws.ToString(fromDLQ.Messages[0].MessageId) != id ||
		fromDLQ.Messages[0].Attributes["DeadLetterQueueSourceArn"] == "" {
		t.Fatalf("receive from the dead-letter queue: %v %+v", err, fromDLQ)
	}
}

func TestSQSLongPolling(t *testing.T) {
	emu, client, url := newQueue(t, awsemu.Options{}, nil)
	ctx := context.Background()

	// A message that arrives mid-wait ends the poll with it.
	type result struct {
		out *sqs.ReceiveMessageOutput
		err error
	}
	done := make(chan result, 1)
	go func() {
		out, err := client.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: &url, WaitTimeSeconds: 20,
			MessageSystemAttributeNames: []sqstypes.MessageSystemAttributeName{sqstypes.MessageSystemAttributeNameSentTimestamp}})
		done <- result{out, err}
	}()
	waitFor(t, "the poll to wait", func() bool { return emu.LongPolls() == 1 })
	id, err := emu.SendToQueue(url, "late")
	if err != nil {
		t.Fatal(err)
	}
	res := <-done
	if res.err != nil || len(res.out.Messages) != 1 || aws.ToString(res.out.Messages[0].MessageId) != id {
		t.Fatalf("long poll: %v %+v", res.err, res.out)
	}

	// An empty queue answers empty once the wait is over, and not before.
	start := time.Now()
	out, err := client.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: &url, WaitTimeSeconds: 1})
	if err != nil || len(out.Messages) != 0 {
		t.Fatalf("empty long poll: %v %+v", err, out)
	}
	if waited := time.Since(start); waited < time.Second {
		t.Errorf("a 1 s long poll answered after %v", waited)
	}

	// A client that gives up ends its poll.
	cctx, cancel := context.WithCancel(ctx)
	go func() {
		_, err := client.ReceiveMessage(cctx, &sqs.ReceiveMessageInput{QueueUrl: &url, WaitTimeSeconds: 20})
		done <- result{nil, err}
	}()
	waitFor(t, "the second poll to wait", func() bool { return emu.LongPolls() == 1 })
	cancel()
	if res := <-done; !errors.Is(res.err, context.Canceled) {
		t.Fatalf("cancelled poll: %v", res.err)
	}
	waitFor(t, "the cancelled poll to end", func() bool { return emu.LongPolls() == 0 })
	waitFor(t, "the cancelled poll to be logged", func() bool {
		calls := emu.Calls()
		return calls[len(calls)-1].ErrorCode == "RequestCanceled"
	})
}

func TestSQSLongPollFollowsTheEmulatorClock(t *testing.T) {
	clock := &fakeClock{now: time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)}
	emu, client, url := newQueue(t, awsemu.Options{Clock: clock.Now}, map[string]string{"ReceiveMessageWaitTimeSeconds": "20"})
	id, err := emu.SendToQueue(url, "finding")
	if err != nil {
		t.Fatal(err)
	}
	first, err := client.ReceiveMessage(context.Background(), &sqs.ReceiveMessageInput{QueueUrl: &url, VisibilityTimeout: 60})
	if err != nil || len(first.Messages) != 1 {
		t.Fatalf("first receive: %v %+v", err, first)
	}
	// The queue's default wait applies; the message is in flight, and
	// moving the clock past its visibility timeout hands it to the
	// waiting poll.
	done := make(chan *sqs.ReceiveMessageOutput, 1)
	go func() {
		out, err := client.ReceiveMessage(context.Background(), &sqs.ReceiveMessageInput{QueueUrl: &url})
		if err != nil {
			t.Error(err)
		}
		done <- out
	}()
	waitFor(t, "the poll to wait", func() bool { return emu.LongPolls() == 1 })
	clock.Advance(61 * time.Second)
	out := <-done
	if out == nil || len(out.Messages) != 1 || aws.ToString(out.Messages[0].MessageId) != id {
		t.Fatalf("poll after the clock moved: %+v", out)
	}
}

func TestSQSBatches(t *testing.T) {
	emu, client, url := newQueue(t, awsemu.Options{}, nil)
	ctx := context.Background()
	entries := []sqstypes.SendMessageBatchRequestEntry{
		{Id: aws.String("a"), MessageBody: aws.String("one")},
		{Id: aws.String("b"), MessageBody: aws.String("bad \x01")},
		{Id: aws.String("c"), MessageBody: aws.String("three")},
	}
	sent, err := client.SendMessageBatch(ctx, &sqs.SendMessageBatchInput{QueueUrl: &url, Entries: entries})
	if err != nil {
		t.Fatalf("SendMessageBatch: %v", err)
	}
	if len(sent.Successful) != 2 || len(sent.Failed) != 1 || aws.ToString(sent.Failed[0].Id) != "b" ||
		aws.ToString(sent.Failed[0].Code) != "InvalidMessageContents" || !sent.Failed[0].SenderFault {
		t.Fatalf("batch result %+v", sent)
	}
	for _, s := range sent.Successful {
		if aws.ToString(s.MD5OfMessageBody) == "" {
			t.Errorf("entry %s has no body digest", aws.ToString(s.Id))
		}
	}
	_, err = client.SendMessageBatch(ctx, &sqs.SendMessageBatchInput{QueueUrl: &url, Entries: []sqstypes.SendMessageBatchRequestEntry{
		{Id: aws.String("x"), MessageBody: aws.String("1")}, {Id: aws.String("x"), MessageBody: aws.String("2")}}})
	var dup *sqstypes.BatchEntryIdsNotDistinct
	if !errors.As(err, &dup) || apiCode(t, err) != "AWS.SimpleQueueService.BatchEntryIdsNotDistinct" {
		t.Errorf("duplicate ids: %v", err)
	}
	many := make([]sqstypes.SendMessageBatchRequestEntry, 11)
	for i := range many {
		many[i] = sqstypes.SendMessageBatchRequestEntry{Id: aws.String(strconv.Itoa(i)), MessageBody: aws.String("m")}
	}
	_, err = client.SendMessageBatch(ctx, &sqs.SendMessageBatchInput{QueueUrl: &url, Entries: many})
	var tooMany *sqstypes.TooManyEntriesInBatchRequest
	if !errors.As(err, &tooMany) {
		t.Errorf("11 entries: %v", err)
	}

	out, err := client.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: &url, MaxNumberOfMessages: 10})
	if err != nil || len(out.Messages) != 2 {
		t.Fatalf("receive the batch: %v %+v", err, out)
	}
	del, err := client.DeleteMessageBatch(ctx, &sqs.DeleteMessageBatchInput{QueueUrl: &url, Entries: []sqstypes.DeleteMessageBatchRequestEntry{
		{Id: aws.String("ok"), ReceiptHandle: out.Messages[0].ReceiptHandle},
		{Id: aws.String("junk"), ReceiptHandle: aws.String("junk")},
	}})
	if err != nil {
		t.Fatalf("DeleteMessageBatch: %v", err)
	}
	if len(del.Successful) != 1 || len(del.Failed) != 1 || aws.ToString(del.Failed[0].Code) != "ReceiptHandleIsInvalid" {
		t.Fatalf("delete batch result %+v", del)
	}
	q := queueState(t, emu, url)
	if len(q.Messages) != 1 || q.Messages[0].Body != aws.ToString(out.Messages[1].Body) {
		t.Fatalf("after the delete batch: %+v", q.Messages)
	}
	if _, err := client.PurgeQueue(ctx, &sqs.PurgeQueueInput{QueueUrl: &url}); err != nil {
		t.Fatal(err)
	}
	_, err = client.PurgeQueue(ctx, &sqs.PurgeQueueInput{QueueUrl: &url})
	var purging *sqstypes.PurgeQueueInProgress
	if !errors.As(err, &purging) {
		t.Errorf("second purge within a minute: %v", err)
	}
	if q := queueState(t, emu, url); len(q.Messages) != 0 {
		t.Errorf("after purge: %+v", q.Messages)
	}
}

func TestSQSDeniedReceiveNamesThePermission(t *testing.T) {
	emu, client, url := newQueue(t, awsemu.Options{}, nil)
	if _, err := emu.SendToQueue(url, "finding"); err != nil {
		t.Fatal(err)
	}
	emu.Deny(awsemu.AllPrincipals, "sqs:ReceiveMessage")
	_, err := client.ReceiveMessage(context.Background(), &sqs.ReceiveMessageInput{QueueUrl: &url})
	if code := apiCode(t, err); code != "AccessDenied" || !strings.Contains(err.Error(), "sqs:ReceiveMessage") {
		t.Fatalf("denied receive: %s: %v", code, err)
	}
	calls := emu.Calls()
	if last := calls[len(calls)-1]; last.IAMAction != "sqs:ReceiveMessage" || last.Status != 403 || last.ErrorCode != "AccessDenied" {
		t.Errorf("call log %+v", last)
	}
	if q := queueState(t, emu, url); q.Visible != 1 {
		t.Errorf("a denied receive changed the queue: %+v", q)
	}
}

func TestSQSThrottledReceive(t *testing.T) {
	emu, client, url := newQueue(t, awsemu.Options{}, nil)
	emu.SetThrottling(awsemu.Throttle{NonMutating: awsemu.Bucket{Capacity: 1}})
	ctx := context.Background()
	if _, err := client.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: &url}); err != nil {
		t.Fatal(err)
	}
	_, err := client.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: &url})
	var throttled *sqstypes.RequestThrottled
	if !errors.As(err, &throttled) || apiCode(t, err) != "RequestThrottled" {
		t.Fatalf("throttled receive: %v", err)
	}
	if retry.IsErrorThrottles(retry.DefaultThrottles).IsErrorThrottle(err) != aws.TrueTernary {
		t.Errorf("the SDK does not treat %v as throttling", err)
	}
}

func TestSQSSharesTheFaultPipeline(t *testing.T) {
	emu, client, url := newQueue(t, awsemu.Options{}, nil)
	ctx := context.Background()
	if _, err := emu.SendToQueue(url, "finding"); err != nil {
		t.Fatal(err)
	}
	out, err := client.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: &url})
	if err != nil || len(out.Messages) != 1 {
		t.Fatalf("receive: %v %+v", err, out)
	}

	// A lost answer: the delete happens, the SDK retries, and deleting an
	// already deleted message succeeds as in SQS.
	emu.LoseResponses("sqs:DeleteMessage", 1)
	retrying := sqs.NewFromConfig(fastRetries(emu.AWSConfig(), 3))
	if _, err := retrying.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: &url, ReceiptHandle: out.Messages[0].ReceiptHandle}); err != nil {
		t.Fatalf("DeleteMessage after a lost response: %v", err)
	}
	if q := queueState(t, emu, url); len(q.Messages) != 0 {
		t.Fatalf("after the retried delete: %+v", q.Messages)
	}

	emu.FailNext("sqs:SendMessage", "KmsThrottled", 400, 1)
	_, err = client.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: &url, MessageBody: aws.String("x")})
	var kms *sqstypes.KmsThrottled
	if !errors.As(err, &kms) {
		t.Errorf("injected failure: %v", err)
	}

	// A queue just created is not found by the next reference.
	emu.SetConsistencyLag(1)
	created, err := client.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String("fresh")})
	if err != nil {
		t.Fatal(err)
	}
	_, err = client.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: created.QueueUrl})
	var missing *sqstypes.QueueDoesNotExist
	if !errors.As(err, &missing) {
		t.Errorf("first reference to a new queue under consistency lag: %v", err)
	}
	if _, err := client.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: created.QueueUrl}); err != nil {
		t.Errorf("second reference: %v", err)
	}

	// Without a signature the answer is still SQS's JSON.
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, emu.URL()+"/", strings.NewReader(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-Amz-Target", "AmazonSQS.ReceiveMessage")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body map[string]string
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || resp.StatusCode != http.StatusForbidden ||
		resp.Header.Get("x-amzn-query-error") != "MissingAuthenticationToken;Sender" || body["__type"] == "" {
		t.Errorf("unsigned call: %d %v %v %v", resp.StatusCode, resp.Header, body, err)
	}
}
