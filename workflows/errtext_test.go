package workflows

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"go.temporal.io/sdk/temporal"
)

func TestErrorSummaryIsOneReadableLine(t *testing.T) {
	aws := errors.New("operation error EC2: ModifyNetworkInterfaceAttribute, https response error StatusCode: 403, RequestID: 54496ad6-7bd2-434c, api error UnauthorizedOperation: Injected failure")
	action := temporal.NewNonRetryableApplicationError(
		"isolate i-0a8: move eni-08 to the untracked group: access denied to ec2:ModifyNetworkInterfaceAttribute: add it to the worker role's policy",
		"AccessDenied", aws)
	// What Temporal hands back: its wrapper around the action's error.
	err := fmt.Errorf("activity error (type: aws.ec2.isolate_instance, scheduledEventID: 45): %w", action)
	got := errorSummary(err)
	want := "isolate i-0a8: move eni-08 to the untracked group: access denied to ec2:ModifyNetworkInterfaceAttribute: add it to the worker role's policy [AccessDenied; AWS UnauthorizedOperation; request 54496ad6-7bd2-434c]"
	if got != want {
		t.Errorf("summary\n got %s\nwant %s", got, want)
	}
	if len(err.Error()) <= len(got) {
		t.Error("the summary is not shorter than the chain")
	}
	// An error that is not an action's comes through, clipped.
	long := errors.New(strings.Repeat("x", 1000))
	if s := errorSummary(long); len(s) > maxErrorLine+60 || !strings.HasSuffix(s, "JSON report)") {
		t.Errorf("clipped: %d bytes: %q", len(s), s[len(s)-40:])
	}
	if s := errorSummary(errors.New("when: bad")); s != "when: bad" {
		t.Errorf("plain error: %q", s)
	}
}
