package actions

import (
	"context"
	"testing"
	"time"
)

// The parts of a shared limit never add up to more than the whole, and
// none is so small that no call could pass.
func TestRateLimitShareOfNeverExceedsTheWhole(t *testing.T) {
	for _, c := range []struct {
		perSecond float64
		burst     int
	}{{5, 100}, {20, 50}, {5, 1}, {0.5, 3}, {8, 2}} {
		for workers := -1; workers <= 7; workers++ {
			r, b := shareOf(c.perSecond, c.burst, workers)
			n := max(workers, 1)
			if b < 1 {
				t.Errorf("%v÷%d: burst %d", c, workers, b)
			}
			if got := r * float64(n); got > c.perSecond+1e-9 {
				t.Errorf("%v÷%d: %d workers spend %.3f/s", c, workers, n, got)
			}
			if b*n > c.burst && b != 1 {
				t.Errorf("%v÷%d: %d workers hold a burst of %d", c, workers, n, b*n)
			}
		}
	}
}

// tokens is what bucket key holds now.
func tokens(l *limiters, key string) float64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.by[key].lim.TokensAt(time.Now())
}

// A share divides the buckets there are and the ones made later; once
// shared, a new bucket starts empty; one worker keeps the whole figure.
func TestRateLimitShareDividesEveryBucket(t *testing.T) {
	l := newLimiters(nil)
	before := l.get("a", 4, 100)
	if before.lim.Burst() != 100 || tokens(l, "a") < 99 {
		t.Fatalf("unshared: burst %d, %.1f tokens (want the configured figure, full)", before.lim.Burst(), tokens(l, "a"))
	}
	if prev := l.share(4); prev != 0 {
		t.Errorf("previous divisor %d before any share, want 0", prev)
	}
	a := l.get("a", 4, 100)
	if a.lim.Limit() != 1 || a.lim.Burst() != 25 || tokens(l, "a") > 25 {
		t.Errorf("shared by 4: %v/s, burst %d, %.1f tokens; want 1/s, 25, at most 25", a.lim.Limit(), a.lim.Burst(), tokens(l, "a"))
	}
	select {
	case <-before.changed:
	default:
		t.Error("the replaced bucket did not tell its waiting calls")
	}
	b := l.get("b", 20, 50)
	if b.lim.Limit() != 5 || b.lim.Burst() != 12 {
		t.Errorf("a bucket made after the share: %v/s, burst %d; want 5/s, 12", b.lim.Limit(), b.lim.Burst())
	}
	if got := tokens(l, "b"); got > 5 {
		t.Errorf("a bucket made just after the share holds %.1f tokens: it should start (nearly) empty", got)
	}
	if prev := l.share(1); prev != 4 {
		t.Errorf("previous divisor %d, want 4", prev)
	}
	if a := l.get("a", 4, 100); a.lim.Limit() != 4 || a.lim.Burst() != 100 {
		t.Errorf("one worker: %v/s, burst %d; want the configured 4/s, 100", a.lim.Limit(), a.lim.Burst())
	}
	if l.share(0); l.get("a", 4, 100).lim.Limit() != 4 {
		t.Error("a share among no workers is not one worker's")
	}
}

// A call waiting for a token when another worker joins waits again at the
// new, smaller share, instead of keeping the slot its old share gave it.
func TestRateLimitShareRequeuesWaitingCalls(t *testing.T) {
	l := newLimiters(nil)
	l.share(1)
	ctx := context.Background()
	// 2/s, burst 1, emptied: the next token comes in 0.5 s.
	l.get("k", 2, 1).lim.ReserveN(time.Now(), 1)
	done := make(chan error, 1)
	go func() { done <- l.wait(ctx, "k", 2, 1, 1) }()
	time.Sleep(50 * time.Millisecond) // let it queue (if it has not, it queues on the new bucket: the same)
	l.share(8)                        // 0.25/s: the next token in 4 s
	select {
	case err := <-done:
		t.Fatalf("the waiting call went at its old share's slot (err %v)", err)
	case <-time.After(1500 * time.Millisecond):
	}
	l.share(1) // and back: it queues again, at 2/s
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the waiting call never went")
	}
}

// reserveCalls takes the tokens of a pair of calls before the first one,
// so that the second is never held by the limiter. Timings are asserted
// only in the direction a slow machine cannot break: a wait at least as
// long as the tokens it took, or a call still waiting when it should.
func TestRateLimitReservationPaysForThePairAtOnce(t *testing.T) {
	// A token every 200 ms; a burst of 1 is less than the pair.
	const op, perSecond = "ModifyNetworkInterfaceAttribute", 5
	for _, burst := range []int{4, 1} {
		l := newLimiters(nil)
		key := "acct|eu-west-1|EC2|" + op
		l.get(key, perSecond, burst).lim.ReserveN(time.Now(), burst) // empty
		ctx, cancel := context.WithCancel(reserveCalls(context.Background(), op, 2))

		start := time.Now()
		if err := l.take(ctx, key, op, perSecond, burst); err != nil {
			t.Fatal(err)
		}
		if waited := time.Since(start); waited < 350*time.Millisecond {
			t.Errorf("burst %d: the first call of the pair waited %s, not for two tokens (400 ms)", burst, waited)
		}
		// Other hosts' calls queue ahead: a call of its own would now
		// wait 2 s. The second call of the pair does not wait at all.
		for range 10 {
			l.get(key, perSecond, burst).lim.ReserveN(time.Now(), 1)
		}
		if !returnsWithin(t, time.Second, func() error { return l.take(ctx, key, op, perSecond, burst) }) {
			t.Errorf("burst %d: the second call of the pair waited for the limiter", burst)
		}
		// Past the pair, calls wait for their token again.
		if returnsWithin(t, time.Second, func() error { return l.take(ctx, key, op, perSecond, burst) }) {
			t.Errorf("burst %d: a third call under a reservation of two did not wait", burst)
		}
		// Other operations under the same context take their own token.
		other := "acct|eu-west-1|EC2|CreateTags"
		l.get(other, perSecond, 4) // full: no wait, and no refill above the burst
		if err := l.take(ctx, other, "CreateTags", perSecond, 4); err != nil {
			t.Fatal(err)
		}
		if after := raw(l, other); after != 3 {
			t.Errorf("burst %d: CreateTags under a reservation of %s left %.2f of 4 tokens, want 3", burst, op, after)
		}
		cancel()
	}
	if ctx := reserveCalls(context.Background(), "X", 0); ctx.Value(reservationKey{}) != nil {
		t.Error("a reservation of no calls")
	}
}

// raw is what bucket key holds net of every token handed out, without the
// refill since it last handed one out.
func raw(l *limiters, key string) float64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.by[key].lim.TokensAt(time.Time{})
}

// returnsWithin says whether f returns within d; a call still waiting then
// is left to end with the test's context.
func returnsWithin(t *testing.T, d time.Duration, f func() error) bool {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- f() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("take: %v", err)
		}
		return true
	case <-time.After(d):
		return false
	}
}

// A wait that would outlast the call's deadline fails at once (Temporal
// retries the activity), and gives its token back.
func TestRateLimitWaitPastTheDeadlineFailsAtOnce(t *testing.T) {
	l := newLimiters(nil)
	l.get("k", 0.1, 1).lim.ReserveN(time.Now(), 1) // next token in 10 s
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if err := l.wait(ctx, "k", 0.1, 1, 1); err == nil {
		t.Fatal("waited past the deadline")
	}
	if ctx.Err() != nil {
		t.Error("the wait ran out the deadline instead of failing at once")
	}
}
