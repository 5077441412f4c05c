package actions_test

import (
	"sync"
	"testing"
	"time"

	"github.com/cordon-ir/cordon/actions"
	"github.com/cordon-ir/cordon/internal/awsemu"
)

// recordedMetrics is an actions.Metrics that remembers what it was told.
type recordedMetrics struct {
	mu    sync.Mutex
	calls map[[3]string]int // service, operation, outcome
	waits map[[2]string]int // target, class
}

func (m *recordedMetrics) AWSCall(service, op, outcome string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.calls[[3]string{service, op, outcome}]++
}

func (m *recordedMetrics) RateLimitWait(target, class string, d time.Duration) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if d < 0 {
		panic("negative wait")
	}
	m.waits[[2]string{target, class}]++
}

func (m *recordedMetrics) count(service, op, outcome string) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.calls[[3]string{service, op, outcome}]
}

// The metrics hook sees every attempt as the emulator saw it: an ok call,
// a call whose every attempt AWS throttled (the SDK's quick retries
// included), and a call AWS refused outright; and every attempt that went
// through the worker's limiter reports its wait.
func TestMetricsCountThrottledAndOKCalls(t *testing.T) {
	h := newHarness(t)
	fleet := h.fleet(awsemu.FleetSpec{Instances: 1})
	// One token that never refills: the first CreateTags takes it, every
	// later attempt is throttled. No timing involved, so no flakiness.
	h.emu.SetThrottling(awsemu.Throttle{Mutating: awsemu.Bucket{Capacity: 1}, PerAction: true})
	m := &recordedMetrics{calls: map[[3]string]int{}, waits: map[[2]string]int{}}
	h.rt = h.runtimeWith(actions.Options{Clients: h.clients(actions.AWSOptions{
		Metrics: m,
		// A limit far above the emulator's bucket: every attempt goes
		// through the limiter (and is timed) without being paced.
		RateLimit: actions.RateLimit{MutatingPerSecond: 1000, MutatingBurst: 1000},
	})})
	tag := func(i int) error {
		_, err := h.run(actions.Execute, "aws.ec2.tag", map[string]any{
			"resource_ids": []any{fleet.InstanceIDs[0]},
			"tags":         map[string]any{"cordon:n": time.Duration(i).String()},
		})
		return err
	}
	if err := tag(1); err != nil {
		t.Fatalf("first tag, inside the bucket: %v", err)
	}
	if err := tag(2); err == nil {
		t.Fatal("control: the second tag was not throttled, so this test proves nothing")
	}
	h.emu.ResetFaults()
	h.emu.FailNext("ec2:CreateTags", "InvalidParameterValue", 400, 1)
	if err := tag(3); err == nil {
		t.Fatal("control: the injected InvalidParameterValue did not fail the third tag")
	}

	want := map[string]int{}
	for _, c := range h.emu.Calls() {
		if c.Action != "CreateTags" {
			continue
		}
		switch c.ErrorCode {
		case "":
			want[actions.OutcomeOK]++
		case "RequestLimitExceeded":
			want[actions.OutcomeThrottled]++
		default:
			want[actions.OutcomeError]++
		}
	}
	if want[actions.OutcomeOK] != 1 || want[actions.OutcomeThrottled] < 2 || want[actions.OutcomeError] != 1 {
		t.Fatalf("control: the emulator saw CreateTags %v; want 1 ok, several throttled attempts, 1 error", want)
	}
	attempts := 0
	for _, outcome := range []string{actions.OutcomeOK, actions.OutcomeThrottled, actions.OutcomeError} {
		attempts += want[outcome]
		if got := m.count("EC2", "CreateTags", outcome); got != want[outcome] {
			t.Errorf("CreateTags %s: counted %d, the emulator saw %d", outcome, got, want[outcome])
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if got := m.waits[[2]string{"|" + h.emu.Region(), "mutating"}]; got != attempts {
		t.Errorf("rate-limit waits recorded for %d mutating attempts, want %d (one per attempt); all: %v", got, attempts, m.waits)
	}
}
