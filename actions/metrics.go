package actions

import (
	"context"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/smithy-go/middleware"
)

// Metrics receives what the worker's AWS clients do, so an operator can
// see a fleet containment meet AWS's limits before runs start failing.
// The worker implements it over Prometheus; this package only calls it,
// so actions does not depend on any metrics library. Implementations must
// be safe for concurrent use and cheap: they run on every AWS attempt.
type Metrics interface {
	// AWSCall counts one attempt of an AWS call (the SDK's own retries
	// are attempts of their own), by service id ("EC2"), operation
	// ("CreateTags") and outcome (OutcomeOK, OutcomeThrottled or
	// OutcomeError).
	AWSCall(service, operation, outcome string)
	// RateLimitWait records how long one attempt waited for the worker's
	// own rate limiter of target ("account|region") and class ("mutating"
	// or "read").
	RateLimitWait(target, class string, d time.Duration)
}

// Outcomes of an AWS call attempt, as Metrics.AWSCall receives them.
const (
	OutcomeOK        = "ok"
	OutcomeThrottled = "throttled"
	OutcomeError     = "error"
)

// awsCallOutcome classifies an attempt's error. Throttling is what the
// SDK's retryer itself treats as throttling, so the metric and the retry
// behaviour agree on what a throttle is.
func awsCallOutcome(err error) string {
	switch {
	case err == nil:
		return OutcomeOK
	case retry.IsErrorThrottles(retry.DefaultThrottles).IsErrorThrottle(err) == aws.TrueTernary:
		return OutcomeThrottled
	default:
		return OutcomeError
	}
}

// countAWSCalls adds a middleware that reports every attempt of every call
// to m. It sits in the finalize step after the SDK's retry middleware, so
// a throttled attempt the SDK retried is counted too: that is the signal
// that the account's API bucket is running dry.
func countAWSCalls(m Metrics) func(*middleware.Stack) error {
	return func(stack *middleware.Stack) error {
		return stack.Finalize.Add(middleware.FinalizeMiddlewareFunc("CordonMetrics",
			func(ctx context.Context, in middleware.FinalizeInput, next middleware.FinalizeHandler) (middleware.FinalizeOutput, middleware.Metadata, error) {
				out, md, err := next.HandleFinalize(ctx, in)
				m.AWSCall(awsmiddleware.GetServiceID(ctx), awsmiddleware.GetOperationName(ctx), awsCallOutcome(err))
				return out, md, err
			}), middleware.After)
	}
}
