package actions_test

import (
	"testing"

	"github.com/cordon-ir/cordon/actions"
)

type codeCase struct {
	code   string
	status int
}

// The retryable set is the SDK's (retry.DefaultThrottles and
// retry.DefaultRetryables) plus the codes AWS documents as transient that
// the SDK leaves out. These tests go through the real SDK and the
// emulator: probe runs a step whose only call (DescribeAutoScalingInstances
// of an instance in no group) fails with the code failures times, injected
// by FailNext.
func probe(t *testing.T, c codeCase, failures int) (*harness, actions.Result, error) {
	t.Helper()
	h := newHarness(t)
	h.emu.FailNext("autoscaling:DescribeAutoScalingInstances", c.code, c.status, failures)
	res, err := h.run(actions.Execute, "aws.autoscaling.detach_instance", map[string]any{"instance_id": "i-0123456789abcdef0"})
	return h, res, err
}

// transientCodes must be retried: by the SDK's quick attempts, then by
// Temporal with the step's backoff.
func transientCodes() []codeCase {
	return []codeCase{
		// In the SDK's throttle list but not in Cordon's old hand list.
		{"ThrottledException", 400},
		{"BandwidthLimitExceeded", 400},
		{"RequestThrottledException", 400},
		{"TransactionInProgressException", 400},
		{"RequestLimitExceeded", 503},
		{"Throttling", 400},
		// Added by Cordon: documented transient, not retried by the SDK.
		{"SnapshotCreationPerVolumeRateExceeded", 400},
		{"ResourceContention", 500},
		{"ConcurrentModification", 409},
		{"ScalingActivityInProgress", 400},
		{"ConcurrentTagAccess", 400},
		// In the SDK's retryable (not throttle) list.
		{"RequestTimeout", 400},
	}
}

// Each transient code is retried twice over. Two failures are absorbed
// by the SDK's quick attempts (three by default): the step succeeds.
// Before the SDK's retryer knew them, ScalingActivityInProgress,
// ConcurrentModification, ConcurrentTagAccess and
// SnapshotCreationPerVolumeRateExceeded failed the step at once. When the
// SDK's attempts run out, the failure is classified retryable, so Temporal
// retries it with the step's backoff; before, codes outside the hand list
// (ThrottledException, BandwidthLimitExceeded, ...) and
// ScalingActivityInProgress (a "conflict") failed the run for good.
func TestTransientCodesAreRetried(t *testing.T) {
	t.Parallel()
	for _, c := range transientCodes() {
		t.Run(c.code, func(t *testing.T) {
			t.Parallel()
			t.Run("by the SDK", func(t *testing.T) {
				t.Parallel()
				h, res, err := probe(t, c, 2)
				if err != nil {
					t.Fatalf("%s twice, then success: the step failed: %v", c.code, err)
				}
				if res.Outputs["changed"] != false {
					t.Errorf("outputs = %+v", res.Outputs)
				}
				if n := failedWith(h, c.code); n != 2 {
					t.Errorf("calls failed with %s = %d, want 2", c.code, n)
				}
			})
			t.Run("by Temporal", func(t *testing.T) {
				t.Parallel()
				h, _, err := probe(t, c, 10)
				if err == nil {
					t.Fatal("the step succeeded through ten failures")
				}
				if isNonRetryable(err) {
					t.Errorf("%s: non-retryable (%s): %v", c.code, errorType(err), err)
				}
				if typ := errorType(err); typ != actions.ErrThrottled && typ != actions.ErrAWSServer {
					t.Errorf("%s: type %q, want Throttled or AWSServerError", c.code, typ)
				}
				if n := failedWith(h, c.code); n != 3 {
					t.Errorf("SDK attempts = %d, want 3", n)
				}
			})
		})
	}
}

// What retrying cannot fix fails at once: one call, no SDK retry, and a
// non-retryable class.
func TestPermanentCodesAreNotRetried(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		codeCase
		want string
	}{
		{codeCase{"AccessDenied", 403}, actions.ErrAccessDenied},
		{codeCase{"UnauthorizedOperation", 403}, actions.ErrAccessDenied},
		{codeCase{"ValidationError", 400}, actions.ErrInvalid},
		{codeCase{"InvalidParameterValue", 400}, actions.ErrInvalid},
		{codeCase{"LimitExceeded", 400}, actions.ErrInvalid}, // IAM quota, not throttling
	} {
		t.Run(c.code, func(t *testing.T) {
			t.Parallel()
			h, _, err := probe(t, c.codeCase, 3)
			if err == nil || !isNonRetryable(err) || errorType(err) != c.want {
				t.Fatalf("err = %v (type %q), want non-retryable %s", err, errorType(err), c.want)
			}
			if n := failedWith(h, c.code); n != 1 {
				t.Errorf("calls = %d, want 1 (no retry)", n)
			}
		})
	}
}
