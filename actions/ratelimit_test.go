package actions_test

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/cordon-ir/cordon/actions"
	"github.com/cordon-ir/cordon/internal/awsemu"
)

// The worker's own rate limit keeps calls inside the account's API bucket,
// so a burst of containment calls is paced instead of throttled.
func TestRateLimitAvoidsThrottling(t *testing.T) {
	throttledBursts := func(limit actions.RateLimit, accounts map[string]actions.Account) int {
		h := newHarness(t)
		fleet := h.fleet(awsemu.FleetSpec{Instances: 1})
		h.emu.SetThrottling(awsemu.Throttle{Mutating: awsemu.Bucket{Capacity: 3, RefillPerSecond: 5}, PerAction: true})
		h.rt = h.runtimeWith(actions.Options{Clients: h.clients(actions.AWSOptions{RateLimit: limit, Accounts: accounts})})
		for name := range accounts {
			h.account = name
		}
		for i := 0; i < 8; i++ {
			// An unpaced burst may exhaust the SDK's retries while the
			// bucket refills (how long depends on the retryer's jitter):
			// that is a throttled call to count, not a test failure.
			// The verdict rests on the emulator's count alone.
			_, _ = h.run(actions.Execute, "aws.ec2.tag", map[string]any{
				"resource_ids": []any{fleet.InstanceIDs[0]},
				"tags":         map[string]any{"cordon:burst": time.Duration(i).String()},
			})
		}
		return failedWith(h, "RequestLimitExceeded")
	}
	paced := actions.RateLimit{MutatingPerSecond: 4, MutatingBurst: 1}
	if n := throttledBursts(actions.RateLimit{}, nil); n == 0 {
		t.Fatal("control: without a limit the burst was not throttled, so this test proves nothing")
	}
	if n := throttledBursts(paced, nil); n != 0 {
		t.Errorf("with a limit under the bucket's refill, %d calls were still throttled", n)
	}
	// An account's own limit replaces the worker-wide one, either way.
	if n := throttledBursts(paced, map[string]actions.Account{"prod": {RateLimit: &actions.RateLimit{}}}); n == 0 {
		t.Error("an account that lifts the limit was still paced by the worker-wide one")
	}
	if n := throttledBursts(actions.RateLimit{}, map[string]actions.Account{"prod": {RateLimit: &paced}}); n != 0 {
		t.Errorf("with the account's own limit under the bucket's refill, %d calls were still throttled", n)
	}
}

// Two workers of one deployment spend from the same API bucket of the
// account. Each configured for the whole budget, together they are
// throttled; each taking its share (ShareRateLimit, as worker.Run does
// with the number of workers polling the task queue), they are not.
func TestRateLimitSharedByWorkersStaysInsideTheAccountsBucket(t *testing.T) {
	// The whole deployment's budget: just inside the emulated bucket (3
	// tokens, refilled at 5/s), were it spent by one worker.
	limit := actions.RateLimit{MutatingPerSecond: 4, MutatingBurst: 2}
	throttled := func(share bool) int {
		h := newHarness(t)
		fleet := h.fleet(awsemu.FleetSpec{Instances: 1})
		h.emu.SetThrottling(awsemu.Throttle{Mutating: awsemu.Bucket{Capacity: 3, RefillPerSecond: 5}, PerAction: true})
		var wg sync.WaitGroup
		for w := range 2 {
			src := h.clients(actions.AWSOptions{RateLimit: limit})
			if share {
				src.ShareRateLimit(2)
			}
			worker := &harness{t: t, emu: h.emu, rt: h.runtimeWith(actions.Options{Clients: src})}
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range 8 {
					// As above: a call that ran out of SDK retries is a
					// throttled call to count, not a failure.
					_, _ = worker.run(actions.Execute, "aws.ec2.tag", map[string]any{
						"resource_ids": []any{fleet.InstanceIDs[0]},
						"tags":         map[string]any{fmt.Sprintf("cordon:worker-%d", w): fmt.Sprint(i)},
					})
				}
			}()
		}
		wg.Wait()
		return failedWith(h, "RequestLimitExceeded")
	}
	if n := throttled(false); n == 0 {
		t.Fatal("control: two workers each spending the whole budget were not throttled, so this test proves nothing")
	}
	if n := throttled(true); n != 0 {
		t.Errorf("two workers each spending half the budget: %d calls throttled", n)
	}
}
