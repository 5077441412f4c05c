package worker

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
)

// Several workers, one AWS budget.
//
// AWS meters requests per account, region and API action (EC2: one
// bucket per action, the mutating ones refilled at 5/s), and every worker
// of a task queue spends from the same buckets. Each worker's own rate
// limiter (actions.RateLimit) knows only its own calls, so N workers
// configured for the account's figure would together call N times too
// fast. Two things Temporal already provides could bound them together:
//
//   - The server's task-queue activity rate limit
//     (worker.Options.TaskQueueActivitiesPerSecond), enforced across all
//     workers of the queue. It counts activity starts on the whole queue:
//     one number for every action, account and region, while AWS's
//     constraint is per account, region and API action, and an activity is
//     not a call (a tag is two calls, an isolation tens, a snapshot polls
//     for minutes). To keep the busiest action's bucket safe it would have
//     to be set for the worst case, slowing every other action, every other
//     account, and the non-AWS activities (the roster, vouching, gate
//     notices) on the same queue; and it still could not stop one activity
//     from making a burst of calls. Wrong unit, wrong granularity.
//   - The pollers the server lists for the task queue (DescribeTaskQueue):
//     each worker takes 1/N of every configured rate and burst, N being the
//     workers polling the queue. The limiters stay per account, region and
//     API action, exactly AWS's granularity, and N workers together spend
//     at most the configured figure.
//
// So a worker takes its share from the live poller count (rateShare).
// Where the count is uncertain it errs towards more workers, a smaller
// share:
//
//   - The server lists a poller until matching.PollerHistoryTTL (default
//     5 min) after its last poll, and removes it at once when its worker
//     shuts down gracefully. Every listed poller counts, however long ago
//     it polled: an idle worker's long polls reach a given partition only
//     now and then, so a freshness cut-off shorter than the server's own
//     would count live workers out. A worker killed without a goodbye is
//     counted for up to those 5 minutes more.
//   - A smaller count (a worker gone) takes effect only after it has been
//     seen for Hold, at least as long as a bucket takes to refill its burst:
//     a worker that just left may have spent its burst in its last seconds,
//     and the account's bucket needs that long to get it back. A failed
//     refresh counts as seeing the share in force, so it never raises it.
//   - A larger count (a worker joined) takes effect at the next refresh,
//     and calls already queued on a limiter queue again at the new rate.
//   - A worker that starts begins with empty buckets that fill at its
//     share (actions.AWSClientSource.ShareRateLimit): until the others
//     have seen it, at most Every plus the server's describe cache later,
//     they still spend their larger shares, and it adds no burst to that.
//   - Each worker has an identity of its own (pid, host and a random
//     suffix), so two workers in one process are two pollers, not one.
//
// What it does not see: workers of other task queues, other Cordon
// deployments and other tools that use the same account. Their part is
// what the configured figure leaves of AWS's bucket (the default takes
// half of EC2's burst).

// RateShareOptions tune how a worker finds its share of the AWS rate
// limits (Options.RateShare). The zero value is the production default.
type RateShareOptions struct {
	// Every is how often the worker asks Temporal which workers poll its
	// task queue; default 10s. It bounds how long a joining worker's calls
	// come on top of the others' full shares.
	Every time.Duration
	// Hold is how long a smaller count of workers must be seen before this
	// worker takes the larger share it allows; default the longest time a
	// configured bucket takes to refill its burst (burst ÷ rate), and at
	// least a minute (long enough for every live worker to poll again
	// after the server lost its list, e.g. on a restart).
	Hold time.Duration
}

// rateSharer is a client source whose rate limits can be divided among
// workers: actions.AWSClientSource.
type rateSharer interface {
	ShareRateLimit(workers int) (previous int)
}

// pollerSource lists the identities of the workers polling a task queue
// for activity tasks.
type pollerSource func(ctx context.Context) ([]string, error)

// rateShare keeps this worker's share of the rate limits at 1/N, N the
// workers polling its task queue (see the top of this file).
type rateShare struct {
	queue   string
	self    string // this worker's identity, always counted
	pollers pollerSource
	target  rateSharer
	every   time.Duration
	hold    time.Duration
	logger  *slog.Logger
	now     func() time.Time

	seen    []sample // counts seen in the last hold, oldest first
	workers int      // the divisor in force; 0 before the first refresh
	last    int      // the count last seen, for logging a change once
	failing bool     // the last refresh failed, for logging a change once
}

// sample is the number of workers seen at one refresh.
type sample struct {
	at      time.Time
	workers int
}

// refresh counts the workers polling the task queue and sets the share
// the counts of the last hold allow.
func (s *rateShare) refresh(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, s.every)
	defer cancel()
	ids, err := s.pollers(ctx)
	now := s.now()
	n := max(s.workers, 1) // no answer: what is in force, never fewer
	switch {
	case err != nil && !s.failing:
		s.failing = true
		s.logger.Warn("cannot count the workers of the task queue: keeping the AWS rate limit share",
			"task_queue", s.queue, "workers", n, "err", err)
	case err == nil:
		if s.failing {
			s.failing = false
			s.logger.Info("counting the workers of the task queue again", "task_queue", s.queue)
		}
		n = countWorkers(ids, s.self)
	}
	s.seen = append(s.seen, sample{at: now, workers: n})
	for len(s.seen) > 1 && !s.seen[0].at.After(now.Add(-s.hold)) {
		s.seen = s.seen[1:]
	}
	want := 0
	for _, x := range s.seen {
		want = max(want, x.workers)
	}
	if err == nil && n != s.last && n < want {
		s.logger.Info("fewer workers poll the task queue: keeping the smaller AWS rate limit share until they have been gone long enough",
			"task_queue", s.queue, "workers_seen", n, "workers", want, "hold", s.hold)
	}
	if err == nil {
		s.last = n
	}
	if want == s.workers {
		return
	}
	prev := s.target.ShareRateLimit(want)
	s.workers = want
	s.logger.Info("AWS rate limit share", "task_queue", s.queue, "workers", want, "previous_workers", prev,
		"share", fmt.Sprintf("1/%d", want))
}

// run refreshes the share every s.every until ctx is done.
func (s *rateShare) run(ctx context.Context) {
	t := time.NewTicker(s.every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			s.refresh(ctx)
		}
	}
}

// countWorkers is the number of distinct identities among ids and self.
func countWorkers(ids []string, self string) int {
	seen := map[string]bool{self: true}
	for _, id := range ids {
		if id != "" {
			seen[id] = true
		}
	}
	return len(seen)
}

// taskQueuePollers lists the workers polling queue for activity tasks, as
// the server reports them. It asks both ways the server answers: the
// enhanced description gathers every partition of the queue (a worker's
// polls land on any of them), the legacy one only the root partition but
// also from servers that do not offer the other. The union is what counts:
// a worker counted twice is impossible (identities), one missed is the
// unsafe error.
func taskQueuePollers(c client.Client, queue string) pollerSource {
	return func(ctx context.Context) ([]string, error) {
		var ids []string
		desc, errEnhanced := c.DescribeTaskQueueEnhanced(ctx, client.DescribeTaskQueueEnhancedOptions{
			TaskQueue:      queue,
			TaskQueueTypes: []client.TaskQueueType{client.TaskQueueTypeActivity},
			ReportPollers:  true,
		})
		if errEnhanced == nil {
			for _, v := range desc.VersionsInfo {
				for _, p := range v.TypesInfo[client.TaskQueueTypeActivity].Pollers {
					ids = append(ids, p.Identity)
				}
			}
		}
		legacy, errLegacy := c.DescribeTaskQueue(ctx, queue, enumspb.TASK_QUEUE_TYPE_ACTIVITY)
		if errLegacy == nil {
			for _, p := range legacy.GetPollers() {
				ids = append(ids, p.GetIdentity())
			}
		}
		if errEnhanced != nil && errLegacy != nil {
			return nil, fmt.Errorf("describe task queue %s: %w", queue, errors.Join(errEnhanced, errLegacy))
		}
		return ids, nil
	}
}

// shareHold is the default RateShareOptions.Hold for limits: the longest
// time any of their buckets takes to refill its burst, at least a minute.
func shareHold(limits ...RateLimitConfig) time.Duration {
	hold := time.Minute
	for _, l := range limits {
		for _, c := range []struct {
			perSecond float64
			burst     int
		}{{l.MutatingPerSecond, l.MutatingBurst}, {l.ReadPerSecond, l.ReadBurst}} {
			if c.perSecond > 0 {
				hold = max(hold, time.Duration(float64(c.burst)/c.perSecond*float64(time.Second)))
			}
		}
	}
	return hold
}

// workerIdentity is this worker's identity as its pollers report it: the
// SDK's default (pid@host) made unique, so that two workers of one process
// count as two.
func workerIdentity() string {
	host, err := os.Hostname()
	if err != nil {
		host = "unknown-host"
	}
	var b [4]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
	return fmt.Sprintf("%d@%s@%s", os.Getpid(), host, hex.EncodeToString(b[:]))
}
