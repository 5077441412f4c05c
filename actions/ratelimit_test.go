package actions_test

import (
	"log/slog"
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
		h.rt = actions.NewRuntime(actions.Options{
			Clients: actions.NewAWSClientSource(actions.AWSOptions{
				Base: h.emu.AWSConfig(), Endpoint: h.emu.URL(), RateLimit: limit, Accounts: accounts,
			}),
			Logger: slog.New(slog.DiscardHandler),
		})
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
		n := 0
		for _, c := range h.emu.Calls() {
			if c.ErrorCode == "RequestLimitExceeded" {
				n++
			}
		}
		return n
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
