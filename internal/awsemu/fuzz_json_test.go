package awsemu

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// FuzzJSONProtocols throws arbitrary bodies, targets and paths at the
// JSON-protocol services: routing, decoding and handlers must answer in
// JSON, never panic, and never answer 5xx without injected faults (other
// than RequestCanceled: the request's context is already done, so that a
// long poll the fuzzer asks for ends at once).
func FuzzJSONProtocols(f *testing.F) {
	const q = `"QueueUrl":"http://127.0.0.1/123456789012/findings"`
	seeds := []struct{ svc, method, target, body string }{
		{"sqs", "POST", "AmazonSQS.ReceiveMessage", `{` + q + `,"MaxNumberOfMessages":10,"WaitTimeSeconds":20,"MessageSystemAttributeNames":["All"],"MessageAttributeNames":["a.*"]}`},
		{"sqs", "POST", "AmazonSQS.SendMessageBatch", `{` + q + `,"Entries":[{"Id":"a","MessageBody":"x","MessageAttributes":{"k":{"DataType":"Number","StringValue":"1e400"}}}]}`},
		{"sqs", "POST", "AmazonSQS.CreateQueue", `{"QueueName":"dlq-src","Attributes":{"RedrivePolicy":"{\"deadLetterTargetArn\":\"arn:aws:sqs:us-east-1:123456789012:findings\",\"maxReceiveCount\":\"0x10\"}"}}`},
		{"sqs", "POST", "AmazonSQS.ChangeMessageVisibility", `{` + q + `,"ReceiptHandle":"YXJuOmF3czpzcXM6dXMtZWFzdC0xOjEyMzQ1Njc4OTAxMjpmaW5kaW5ncwp4CjEKeA","VisibilityTimeout":-1}`},
		{"sqs", "POST", "AmazonSQS.DeleteMessageBatch", `{` + q + `,"Entries":[{"Id":"a"},{"Id":"a"}]}`},
		{"sqs", "POST", "AmazonSQS.SetQueueAttributes", `{` + q + `,"Attributes":{"RedrivePolicy":""}}`},
		{"guardduty", "POST", "/detector/0cc1/findings", `{"findingCriteria":{"criterion":{"service.archived":{"eq":["false"]},"severity":{"gte":7}}},"sortCriteria":{"attributeName":"severity","orderBy":"DESC"},"nextToken":"9"}`},
		{"guardduty", "POST", "/detector/0cc1/findings/get", `{"findingIds":["f1","f1"]}`},
		{"guardduty", "GET", "/detector?maxResults=0", ``},
		{"securityhub", "POST", "/findings", `{"Filters":{"Id":[{"Value":"x","Comparison":"PREFIX"}],"Sample":[{"Value":false}]},"SortCriteria":[{"Field":"Severity.Label","SortOrder":"desc"}],"MaxResults":1}`},
		{"securityhub", "PATCH", "/findings/batchupdate", `{"FindingIdentifiers":[{"Id":"i","ProductArn":"p"}],"Severity":{"Normalized":500},"Types":["a"]}`},
		{"health", "POST", "AWSHealth_20160804.DescribeAffectedEntities", `{"filter":{"eventArns":["arn:aws:health:us-east-1::event/EC2/X/X_1"]},"maxResults":10,"nextToken":"-1"}`},
		{"health", "POST", "AWSHealth_20160804.DescribeEventDetails", `{"eventArns":[null],"locale":"fr"}`},
		{"sqs", "GET", "AmazonSQS.Nope", `[`},
		{"", "POST", "/findings", `{}`},
	}
	for _, s := range seeds {
		f.Add(s.svc, s.method, s.target, s.body)
	}
	f.Fuzz(func(t *testing.T, svc, method, target, body string) {
		e := New(Options{})
		if _, err := e.CreateQueue("", "", "findings", nil); err != nil {
			t.Fatal(err)
		}
		if _, err := e.SendToQueue("http://127.0.0.1/123456789012/findings", "m"); err != nil {
			t.Fatal(err)
		}
		if _, err := e.PutGuardDutyFinding("", "", json.RawMessage(`{"id":"f1","severity":8,"service":{"detectorId":"0cc1"}}`)); err != nil {
			t.Fatal(err)
		}
		if err := e.PutSecurityHubFinding("", "", json.RawMessage(`{"Id":"i","ProductArn":"p","Severity":{"Label":"HIGH"}}`)); err != nil {
			t.Fatal(err)
		}
		if err := e.PutHealthEvent("", json.RawMessage(`{"eventArn":"arn:aws:health:us-east-1::event/EC2/X/X_1","affectedEntities":[{"entityValue":"i-1"}]}`), nil); err != nil {
			t.Fatal(err)
		}
		path := "/"
		if strings.HasPrefix(target, "/") {
			path = target
		}
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		req := httptest.NewRequestWithContext(ctx, http.MethodPost, "/", strings.NewReader(body))
		req.Method = method
		if u, err := req.URL.Parse(path); err == nil {
			req.URL = u
		}
		req.Header.Set("X-Amz-Target", target)
		if svc != "" {
			req.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=AKIDEMU/20261126/us-east-1/"+svc+"/aws4_request, SignedHeaders=host, Signature=0")
		}
		rec := httptest.NewRecorder()
		e.ServeHTTP(rec, req)
		if rec.Code >= 500 && !strings.Contains(rec.Body.String(), "RequestCanceled") {
			t.Fatalf("status %d for %s %s %q: %s", rec.Code, method, target, body, rec.Body.String())
		}
		if _, ok := jsonService(req); ok && !json.Valid(rec.Body.Bytes()) {
			t.Fatalf("a JSON service answered %q", rec.Body.String())
		}
	})
}
