package actions

import (
	"context"
	"fmt"
	"math"
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
//
// The figures are the whole deployment's: with several workers on one
// task queue, each spends its share of them (ShareRateLimit).
type RateLimit struct {
	MutatingPerSecond float64
	MutatingBurst     int
	ReadPerSecond     float64
	ReadBurst         int
}

// limiters hold one token bucket per account, region, service and action.
type limiters struct {
	mu sync.Mutex
	by map[string]*bucket
	// workers divides every configured rate and burst (ShareRateLimit);
	// 0 until the first share, when each bucket is the configured figure.
	workers int
	// sharedSince is when the first share was set: buckets made after it
	// hold only what they would have refilled since (see share).
	sharedSince time.Time
	// metrics, when not nil, receives how long each attempt waited.
	metrics Metrics
}

// bucket is one API action's token bucket, with the configured figure it
// is a share of.
type bucket struct {
	lim       *rate.Limiter
	perSecond float64
	burst     int
	// changed is closed when the bucket is replaced by a new share, so
	// calls waiting on it wait again at the new rate (see wait).
	changed chan struct{}
}

func newLimiters(m Metrics) *limiters {
	return &limiters{by: map[string]*bucket{}, metrics: m}
}

// shareOf is one of workers' part of a configured rate and burst. The
// burst is rounded down (the parts never add up to more than the whole)
// but is at least one token, without which no call could pass.
func shareOf(perSecond float64, burst, workers int) (float64, int) {
	workers = max(workers, 1)
	return perSecond / float64(workers), max(burst/workers, 1)
}

// newBucket is a bucket of workers' share of perSecond and burst that
// holds tokens (at most its burst) at now.
func newBucket(perSecond float64, burst, workers int, tokens float64, now time.Time) *bucket {
	r, b := shareOf(perSecond, burst, workers)
	lim := rate.NewLimiter(rate.Limit(r), b)
	if spend := b - int(math.Floor(min(max(tokens, 0), float64(b)))); spend > 0 {
		lim.ReserveN(now, spend) // a new limiter starts full: take out what it does not hold
	}
	return &bucket{lim: lim, perSecond: perSecond, burst: burst, changed: make(chan struct{})}
}

func (l *limiters) get(key string, perSecond float64, burst int) *bucket {
	l.mu.Lock()
	defer l.mu.Unlock()
	b, ok := l.by[key]
	if !ok {
		now := time.Now()
		r, full := shareOf(perSecond, burst, l.workers)
		tokens := float64(full)
		if l.workers > 0 {
			// A shared worker starts with empty buckets that fill at its
			// share from the moment sharing began: when it starts, the
			// others may not have seen it yet and still spend their
			// larger shares, so it must not add a burst of its own.
			tokens = r * now.Sub(l.sharedSince).Seconds()
		}
		b = newBucket(perSecond, burst, l.workers, tokens, now)
		l.by[key] = b
	}
	return b
}

// share makes every bucket, present and future, 1/workers of its
// configured rate and burst (workers below 1 count as 1), and returns the
// previous divisor (0: not shared before).
//
// A bucket whose share changes is replaced, keeping its tokens up to the
// new burst, and the calls waiting on it wait again on the new one: a
// rate.Limiter hands out future slots at the rate of the moment they were
// asked for, so without this a worker with a queue of waiting calls would
// keep spending its old, larger share for as long as the queue lasts,
// after another worker had joined.
func (l *limiters) share(workers int) int {
	workers = max(workers, 1)
	l.mu.Lock()
	defer l.mu.Unlock()
	prev := l.workers
	if workers == prev {
		return prev
	}
	now := time.Now()
	if prev == 0 {
		l.sharedSince = now
	}
	l.workers = workers
	for key, b := range l.by {
		// Tokens promised to waiting calls are negative here: the new
		// bucket starts empty then, and the waiting calls queue again.
		l.by[key] = newBucket(b.perSecond, b.burst, workers, b.lim.TokensAt(now), now)
		close(b.changed)
	}
	return prev
}

// wait takes n tokens from the bucket key (of the configured perSecond and
// burst), waiting until they are there. It fails when ctx ends first, or
// at once when ctx would end before they come (as rate.Limiter.Wait does),
// so the activity fails and Temporal retries it rather than run out its
// time queued here.
func (l *limiters) wait(ctx context.Context, key string, perSecond float64, burst, n int) error {
	for {
		b := l.get(key, perSecond, burst)
		now := time.Now()
		r := b.lim.ReserveN(now, n)
		if !r.OK() {
			// n is more than this worker's share of the burst: take them
			// one by one, all before the calls that spend them.
			for range n {
				if err := l.wait(ctx, key, perSecond, burst, 1); err != nil {
					return err
				}
			}
			return nil
		}
		d := r.DelayFrom(now)
		if d == 0 {
			return nil
		}
		if deadline, ok := ctx.Deadline(); ok && now.Add(d).After(deadline) {
			r.CancelAt(now)
			return fmt.Errorf("the next token comes in %s, after the deadline", d.Round(time.Millisecond))
		}
		t := time.NewTimer(d)
		select {
		case <-t.C:
			return nil
		case <-b.changed:
			// The share changed: queue again at the new rate. The old
			// bucket is gone, so its reservation needs no cancelling.
			t.Stop()
		case <-ctx.Done():
			t.Stop()
			r.Cancel()
			return ctx.Err()
		}
	}
}

// ShareRateLimit makes this worker spend 1/workers of every configured
// rate limit (aws.rate_limit and each account's own), rates and bursts
// alike, so that workers sharing an AWS account's request buckets stay
// inside them together. One worker keeps the configured figure. The
// worker calls it as it learns how many workers poll its task queue
// (worker.Run); a client source never shared keeps the configured figure
// with full buckets, as before sharing existed. It returns the previous
// divisor (0 before the first call).
//
// Once shared, buckets start empty and fill at the worker's share: a
// worker that has just started cannot know whether the others have seen
// it yet, so it spends nothing it has not waited for.
func (s *AWSClientSource) ShareRateLimit(workers int) int {
	return s.limiters.share(workers)
}

// reservation holds tokens taken at once for the next calls of one AWS
// operation (reserveCalls).
type reservation struct {
	operation string
	n         int

	mu   sync.Mutex
	key  string // the bucket the tokens came from; "" until taken
	left int    // calls still paid for
}

type reservationKey struct{}

// reserveCalls returns ctx with a reservation of n calls of operation (the
// SDK's operation name, e.g. "ModifyNetworkInterfaceAttribute"): the first
// attempt of operation made under the returned context waits until the
// bucket holds n tokens and takes them all at once, and the next n-1
// attempts of operation under it pass the limiter without waiting. Use it
// for calls that must follow each other without a gap, such as the two
// security-group changes of a two-phase isolation: with each call queued
// on its own, other hosts' calls could slip in between and hold the
// interface half-isolated for as long as the queue lasts.
//
// Attempts count, not calls: a retried first call spends one of the n, and
// the calls past the reservation wait as usual. Other operations made
// under the context are not affected. Tokens not used are not given back,
// which errs on the side of AWS's bucket. When n exceeds the worker's share
// of the burst, the tokens are still all taken before the first call, one
// after the other.
func reserveCalls(ctx context.Context, operation string, n int) context.Context {
	if n < 1 {
		return ctx
	}
	return context.WithValue(ctx, reservationKey{}, &reservation{operation: operation, n: n})
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
					err := l.take(ctx, key, op, perSecond, burst)
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

// take waits for the token of one attempt of op, from the bucket key, or
// from ctx's reservation of op (reserveCalls).
func (l *limiters) take(ctx context.Context, key, op string, perSecond float64, burst int) error {
	r, ok := ctx.Value(reservationKey{}).(*reservation)
	if !ok || r.operation != op {
		return l.wait(ctx, key, perSecond, burst, 1)
	}
	// Held while the tokens are taken, so that a second call under the
	// same reservation waits for the first one's tokens, not for its own.
	r.mu.Lock()
	defer r.mu.Unlock()
	switch {
	case r.key == "":
		if err := l.wait(ctx, key, perSecond, burst, r.n); err != nil {
			return err
		}
		r.key, r.left = key, r.n-1
		return nil
	case r.key == key && r.left > 0:
		r.left--
		return nil
	default:
		return l.wait(ctx, key, perSecond, burst, 1)
	}
}
