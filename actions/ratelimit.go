package actions

import (
	"context"
	"fmt"
	"sync"
	"time"

	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/smithy-go/middleware"
	"golang.org/x/time/rate"

	"github.com/cordon-ir/cordon/actions/spec"
)

// RateLimit bounds the calls this worker makes to one account and region,
// one token bucket per API action with the size and refill of its class,
// the way EC2 meters requests (each API is evaluated individually; the
// mutating class refills slower than reads). Staying inside the bucket is
// better than meeting RequestLimitExceeded: throttling errors cost
// retries and, worse, starve every other tool of the account that shares
// the bucket in the middle of an incident. A zero rate means unlimited.
type RateLimit struct {
	MutatingPerSecond float64
	MutatingBurst     int
	ReadPerSecond     float64
	ReadBurst         int
}

// limiters hold one token bucket per account, region, service and action.
type limiters struct {
	mu sync.Mutex
	by map[string]*rate.Limiter
	// metrics, when not nil, receives how long each attempt waited.
	metrics Metrics
}

func newLimiters(m Metrics) *limiters {
	return &limiters{by: map[string]*rate.Limiter{}, metrics: m}
}

func (l *limiters) get(key string, perSecond float64, burst int) *rate.Limiter {
	l.mu.Lock()
	defer l.mu.Unlock()
	lim, ok := l.by[key]
	if !ok {
		lim = rate.NewLimiter(rate.Limit(perSecond), max(burst, 1))
		l.by[key] = lim
	}
	return lim
}

// isRead says whether an AWS operation only reads.
func isRead(operation string) bool { return spec.IsReadOnly(operation) }

// middleware waits for a token before each attempt of each call to target
// (an account and region), within limit.
func (l *limiters) middleware(target string, limit RateLimit) func(*middleware.Stack) error {
	return func(stack *middleware.Stack) error {
		return stack.Finalize.Add(middleware.FinalizeMiddlewareFunc("CordonRateLimit",
			func(ctx context.Context, in middleware.FinalizeInput, next middleware.FinalizeHandler) (middleware.FinalizeOutput, middleware.Metadata, error) {
				op := awsmiddleware.GetOperationName(ctx)
				class, perSecond, burst := "mutating", limit.MutatingPerSecond, limit.MutatingBurst
				if isRead(op) {
					class, perSecond, burst = "read", limit.ReadPerSecond, limit.ReadBurst
				}
				if perSecond > 0 {
					key := target + "|" + awsmiddleware.GetServiceID(ctx) + "|" + op
					start := time.Now()
					err := l.get(key, perSecond, burst).Wait(ctx)
					if l.metrics != nil {
						l.metrics.RateLimitWait(target, class, time.Since(start))
					}
					if err != nil {
						return middleware.FinalizeOutput{}, middleware.Metadata{}, fmt.Errorf("wait for the %s rate limit of %s on %s: %w", class, op, target, err)
					}
				}
				return next.HandleFinalize(ctx, in)
			}), middleware.After)
	}
}
