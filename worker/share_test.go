package worker

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cordon-ir/cordon/actions"
)

// fakeSharer records the shares it is given.
type fakeSharer struct{ shares []int }

func (f *fakeSharer) ShareRateLimit(workers int) int {
	prev := 0
	if len(f.shares) > 0 {
		prev = f.shares[len(f.shares)-1]
	}
	f.shares = append(f.shares, workers)
	return prev
}

func (f *fakeSharer) Clients(context.Context, actions.Target, actions.RunRef) (*actions.Clients, error) {
	return nil, errors.New("no clients in this test")
}

func (f *fakeSharer) current() int {
	if len(f.shares) == 0 {
		return 0
	}
	return f.shares[len(f.shares)-1]
}

// shareScript drives a rateShare through the poller lists a test gives,
// on a clock the test moves.
type shareScript struct {
	s       *rateShare
	target  *fakeSharer
	clock   time.Time
	pollers []string
	err     error
	log     bytes.Buffer
}

func newShareScript(hold time.Duration) *shareScript {
	sc := &shareScript{target: &fakeSharer{}, clock: time.Date(2026, 11, 26, 9, 0, 0, 0, time.UTC)}
	sc.s = &rateShare{
		queue: "cordon", self: "me", target: sc.target, every: 10 * time.Second, hold: hold,
		logger: slog.New(slog.NewTextHandler(&sc.log, nil)),
		now:    func() time.Time { return sc.clock },
		pollers: func(context.Context) ([]string, error) {
			return sc.pollers, sc.err
		},
	}
	return sc
}

// at refreshes after d, seeing pollers (or failing with err), and returns
// the share in force.
func (sc *shareScript) at(d time.Duration, err error, pollers ...string) int {
	sc.clock = sc.clock.Add(d)
	sc.pollers, sc.err = pollers, err
	sc.s.refresh(context.Background())
	return sc.target.current()
}

func TestRateShareCountsDistinctWorkersWithItself(t *testing.T) {
	for _, c := range []struct {
		ids  []string
		want int
	}{
		{nil, 1},
		{[]string{"me"}, 1},
		{[]string{"other"}, 2}, // this worker has not polled yet: it counts all the same
		{[]string{"me", "other", "other", ""}, 2},
		{[]string{"a", "b", "me", "c"}, 4},
	} {
		if got := countWorkers(c.ids, "me"); got != c.want {
			t.Errorf("%v: %d workers, want %d", c.ids, got, c.want)
		}
	}
}

// A worker joining halves the share at once; one leaving doubles it only
// once it has been gone for the hold; an unanswered question never raises
// it, however long it lasts.
func TestRateShareErrsTowardsMoreWorkers(t *testing.T) {
	const hold = time.Minute
	sc := newShareScript(hold)
	steps := []struct {
		what    string
		after   time.Duration
		err     error
		pollers []string
		want    int
	}{
		{"alone at start", 0, nil, nil, 1},
		{"alone, polling", 10 * time.Second, nil, []string{"me"}, 1},
		{"a second worker joins: half, at once", 10 * time.Second, nil, []string{"me", "b"}, 2},
		{"and a third", 10 * time.Second, nil, []string{"me", "b", "c"}, 3},
		{"c leaves: the share waits", 10 * time.Second, nil, []string{"me", "b"}, 3},
		{"still waiting", 40 * time.Second, nil, []string{"me", "b"}, 3},
		{"c seen last a hold ago: a half", 10 * time.Second, nil, []string{"me", "b"}, 2},
		{"Temporal does not answer", 10 * time.Second, errors.New("unavailable"), nil, 2},
		{"nor for longer than the hold", 2 * hold, errors.New("unavailable"), nil, 2},
		{"b gone, seen again", 10 * time.Second, nil, []string{"me"}, 2},
		{"b back within the hold", 10 * time.Second, nil, []string{"me", "b"}, 2},
		{"b gone for good", 10 * time.Second, nil, []string{"me"}, 2},
		{"b gone for a hold", hold, nil, []string{"me"}, 1},
	}
	for _, st := range steps {
		if got := sc.at(st.after, st.err, st.pollers...); got != st.want {
			t.Fatalf("%s: share 1/%d, want 1/%d\n%s", st.what, got, st.want, sc.log.String())
		}
	}
	// Every change was logged, once, with the count; the wait too.
	log := sc.log.String()
	for _, want := range []string{
		"AWS rate limit share", "workers=2 previous_workers=1", "workers=3 previous_workers=2", "workers=1 previous_workers=2",
		"keeping the smaller AWS rate limit share", "cannot count the workers", "counting the workers of the task queue again",
	} {
		if !strings.Contains(log, want) {
			t.Errorf("the log lacks %q:\n%s", want, log)
		}
	}
	if n := strings.Count(log, "cannot count the workers"); n != 1 {
		t.Errorf("a failure lasting two refreshes logged %d times, want once", n)
	}
	if got, want := sc.target.shares, []int{1, 2, 3, 2, 1}; !slices.Equal(got, want) {
		t.Errorf("shares set %v, want %v", got, want)
	}
}

// A worker that cannot count at its start takes the whole figure (one
// worker), shared so that its buckets start empty, and says so.
func TestRateShareWithoutAnAnswerAtStart(t *testing.T) {
	sc := newShareScript(time.Minute)
	if got := sc.at(0, errors.New("permission denied"), nil...); got != 1 {
		t.Fatalf("share 1/%d, want 1/1", got)
	}
	if !strings.Contains(sc.log.String(), "permission denied") {
		t.Errorf("the log does not say why:\n%s", sc.log.String())
	}
}

func TestRateShareHoldCoversTheLongestRefill(t *testing.T) {
	if got := shareHold(DefaultRateLimit()); got != time.Minute {
		t.Errorf("default limits: hold %s, want the minute floor (100 tokens at 5/s refill in 20 s)", got)
	}
	raised := RateLimitConfig{MutatingPerSecond: 2, MutatingBurst: 400, ReadPerSecond: 0, ReadBurst: 1000}
	if got := shareHold(DefaultRateLimit(), raised); got != 200*time.Second {
		t.Errorf("an account refilling 400 tokens at 2/s: hold %s, want 200s (unlimited reads ignored)", got)
	}
}

// aws.share_rate_limit: false leaves the client source alone.
func TestRateShareCanBeTurnedOff(t *testing.T) {
	off := false
	cfg := &Config{Temporal: TemporalConfig{TaskQueue: "cordon"}, AWS: AWSConfig{ShareRateLimit: &off}}
	target := &fakeSharer{}
	var log bytes.Buffer
	opts := Options{Logger: slog.New(slog.NewTextHandler(&log, nil))}
	startRateShare(context.Background(), nil, cfg, opts, target, "me")()
	if len(target.shares) != 0 {
		t.Errorf("shared %v with sharing off", target.shares)
	}
	if !strings.Contains(log.String(), "not shared") {
		t.Errorf("the worker does not say its limit is not shared:\n%s", log.String())
	}
}

func TestWorkerIdentitiesAreUniqueInAProcess(t *testing.T) {
	a, b := workerIdentity(), workerIdentity()
	if a == b || !strings.Contains(a, "@") {
		t.Errorf("identities %q and %q", a, b)
	}
}
