package awsemu

import (
	"math/rand/v2"
	"net/http"
	"slices"
	"strings"
	"time"
)

// AllPrincipals makes a Deny rule apply to every caller.
const AllPrincipals = "*"

// Bucket is an EC2-style token bucket: Capacity calls at once, refilled at
// RefillPerSecond. A zero Capacity means unthrottled.
type Bucket struct {
	Capacity        int
	RefillPerSecond float64
}

// Throttle configures request-rate limiting by API class (non-mutating or
// mutating), with separate buckets per service. With PerAction each API
// action has a bucket of its own, of its class's size, which is how EC2
// meters requests today ("each API is evaluated individually"); without
// it one bucket per class is shared by every action of the service, the
// stricter model older EC2 documentation described.
type Throttle struct {
	NonMutating Bucket
	Mutating    Bucket
	PerAction   bool
}

// EC2DefaultThrottle returns EC2's published default request-token buckets,
// per API action: non-mutating 100 burst refilled at 20/s, mutating 200
// burst refilled at 5/s. (EC2's separate resource-token limits on
// RunInstances, StopInstances and the like are not modelled.)
func EC2DefaultThrottle() Throttle {
	return Throttle{
		NonMutating: Bucket{Capacity: 100, RefillPerSecond: 20},
		Mutating:    Bucket{Capacity: 200, RefillPerSecond: 5},
		PerAction:   true,
	}
}

// SnapshotCompletion says when a pending snapshot becomes completed: once
// After has elapsed since it started and, if AfterDescribes > 0, after that
// many DescribeSnapshots calls have shown it pending. The zero value
// completes snapshots by the next request.
type SnapshotCompletion struct {
	After          time.Duration
	AfterDescribes int

	// FailVolumes lists volume ids whose snapshots fail instead of
	// completing. CreateSnapshot and CreateSnapshots accept such a snapshot
	// (they answer state pending, as AWS does) and it fails at once: every
	// later call sees it in state error, with a StateMessage
	// (SnapshotFailedMessage) in DescribeSnapshots, and it never completes;
	// After and AfterDescribes do not delay the failure. Only
	// snapshots started while the volume is listed fail: set a completion
	// without it and the next snapshot of the volume completes as usual,
	// while the failed one stays in error, as in AWS.
	FailVolumes []string
}

// SnapshotFailedMessage is the StateMessage of a snapshot failed by
// SnapshotCompletion.FailVolumes.
const SnapshotFailedMessage = "Snapshot creation failed: an internal error occurred (injected by awsemu SnapshotCompletion.FailVolumes)"

// fails reports whether a snapshot of volumeID started now is to fail.
func (c SnapshotCompletion) fails(volumeID string) bool {
	return slices.Contains(c.FailVolumes, volumeID)
}

type bucketState struct {
	tokens float64
	last   time.Time
}

type injected struct {
	action    string
	code      string
	status    int
	remaining int
}

type denyRule struct {
	who    string
	action string
}

// faults is the fault-injection configuration; guarded by Emulator.mu.
type faults struct {
	latency  time.Duration
	throttle Throttle
	buckets  map[string]*bucketState
	errRate  float64
	errRng   *rand.Rand
	denies   []denyRule
	failNext []*injected
	// lose counts, per action, the successful calls still to answer with
	// a server error after taking effect (LoseResponses).
	lose []*injected
	// lagCalls is how many references each newly created resource stays
	// invisible for (SetConsistencyLag); lagging holds what remains per id.
	lagCalls int
	lagging  map[string]int
}

// SetLatency delays every AWS call by d before it is processed.
func (e *Emulator) SetLatency(d time.Duration) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.faults.latency = d
}

// SetThrottling replaces the rate limits and refills every bucket.
func (e *Emulator) SetThrottling(t Throttle) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.faults.throttle = t
	e.faults.buckets = map[string]*bucketState{}
}

// SetServerErrorRate makes that fraction of calls fail with 500 or 503,
// chosen by a generator seeded with seed, so a sequential test sees the same
// failures every run. A rate of 0 turns it off.
func (e *Emulator) SetServerErrorRate(rate float64, seed uint64) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.faults.errRate = rate
	e.faults.errRng = rand.New(rand.NewPCG(seed, ^seed))
}

// Deny refuses action (an IAM action name such as "ec2:TerminateInstances";
// a trailing * matches a prefix, "*" everything) to who: AllPrincipals, an
// access key id, a caller ARN, or a role ARN (covering its sessions).
func (e *Emulator) Deny(who, action string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.faults.denies = append(e.faults.denies, denyRule{who: who, action: action})
}

// FailNext makes the next n calls of action (IAM action name, e.g.
// "ec2:CreateSnapshots", or a bare operation name) fail with the given error
// code and HTTP status.
func (e *Emulator) FailNext(action, code string, status, n int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.faults.failNext = append(e.faults.failNext, &injected{action: action, code: code, status: status, remaining: n})
}

// LoseResponses makes the next n successful calls of action (IAM action
// name or bare operation name) take effect and then answer 500
// InternalError, as when a response is lost on the way back: the SDK
// retries the call, which then meets a world where it is already done.
func (e *Emulator) LoseResponses(action string, n int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.faults.lose = append(e.faults.lose, &injected{action: action, remaining: n})
}

// SetConsistencyLag models AWS's eventual consistency: every resource
// created from now on (security group, snapshot, IAM role, policy, ...)
// is reported not found by the next n calls that reference it by id or
// name, other than the call that created it. Zero turns it off.
func (e *Emulator) SetConsistencyLag(n int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.faults.lagCalls = n
}

// created marks a resource just created, so that it lags if
// SetConsistencyLag asks. Caller holds e.mu.
func (e *Emulator) created(id string) {
	if e.faults.lagCalls <= 0 {
		return
	}
	if e.faults.lagging == nil {
		e.faults.lagging = map[string]int{}
	}
	e.faults.lagging[id] = e.faults.lagCalls
}

// notYetVisible reports whether a reference to id must still answer "not
// found", and counts the reference. Handlers call it before resolving an
// id a client gave them. Caller holds e.mu.
func (e *Emulator) notYetVisible(id string) bool {
	n, ok := e.faults.lagging[id]
	if !ok {
		return false
	}
	if n <= 1 {
		delete(e.faults.lagging, id)
	} else {
		e.faults.lagging[id] = n - 1
	}
	return true
}

// loseResponse reports whether this successful call's answer is to be
// lost (LoseResponses), and counts it. Caller holds e.mu.
func (e *Emulator) loseResponse(op operation) bool {
	for i, inj := range e.faults.lose {
		if inj.remaining <= 0 || !(strings.EqualFold(inj.action, op.iamAction()) || strings.EqualFold(inj.action, op.action)) {
			continue
		}
		inj.remaining--
		if inj.remaining == 0 {
			e.faults.lose = append(e.faults.lose[:i:i], e.faults.lose[i+1:]...)
		}
		return true
	}
	return false
}

// SetSnapshotCompletion sets when snapshots complete, and which fail. It
// applies to pending snapshots too, except that whether a snapshot fails is
// decided when it starts.
func (e *Emulator) SetSnapshotCompletion(c SnapshotCompletion) {
	e.mu.Lock()
	defer e.mu.Unlock()
	c.FailVolumes = slices.Clone(c.FailVolumes)
	e.snapRule = c
}

// ResetFaults removes latency, throttling, server errors, denies, pending
// injected failures and lost responses, and the consistency lag.
func (e *Emulator) ResetFaults() {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.faults = faults{}
}

func actionMatches(pattern, action string) bool {
	if prefix, ok := strings.CutSuffix(pattern, "*"); ok {
		return strings.HasPrefix(strings.ToLower(action), strings.ToLower(prefix))
	}
	return strings.EqualFold(pattern, action)
}

func (e *Emulator) denied(p principal, action string) bool {
	for _, d := range e.faults.denies {
		who := d.who == AllPrincipals || d.who == p.accessKeyID || d.who == p.arn || (p.roleARN != "" && d.who == p.roleARN)
		if who && actionMatches(d.action, action) {
			return true
		}
	}
	return false
}

// injectFault applies throttling, random server errors and FailNext, in that
// order, returning the error to answer with, if any.
func (e *Emulator) injectFault(op operation, now time.Time) *apiError {
	if !e.takeToken(op, now) {
		return throttleError(op.service)
	}
	if f := &e.faults; f.errRate > 0 && f.errRng != nil && f.errRng.Float64() < f.errRate {
		if f.errRng.IntN(2) == 0 {
			code := "InternalFailure"
			if op.service == ServiceEC2 || op.service == ServiceS3 {
				code = "InternalError"
			}
			return &apiError{Status: http.StatusInternalServerError, Code: code, Message: "An internal error has occurred (injected)"}
		}
		code := "ServiceUnavailable"
		if op.service == ServiceEC2 {
			code = "Unavailable"
		}
		return &apiError{Status: http.StatusServiceUnavailable, Code: code, Message: "The service is unavailable (injected)"}
	}
	for i, inj := range e.faults.failNext {
		if inj.remaining <= 0 || !(strings.EqualFold(inj.action, op.iamAction()) || strings.EqualFold(inj.action, op.action)) {
			continue
		}
		inj.remaining--
		if inj.remaining == 0 {
			e.faults.failNext = append(e.faults.failNext[:i:i], e.faults.failNext[i+1:]...)
		}
		status := inj.status
		if status == 0 {
			status = http.StatusBadRequest
		}
		return &apiError{Status: status, Code: inj.code, Message: "Injected failure for " + op.iamAction(), sender: status < 500}
	}
	return nil
}

func (e *Emulator) takeToken(op operation, now time.Time) bool {
	cfg, class := e.faults.throttle.NonMutating, "non-mutating"
	if op.mutating {
		cfg, class = e.faults.throttle.Mutating, "mutating"
	}
	if cfg.Capacity <= 0 {
		return true
	}
	if e.faults.buckets == nil {
		e.faults.buckets = map[string]*bucketState{}
	}
	key := op.service + "/" + class
	if e.faults.throttle.PerAction {
		key = op.service + "/" + op.action
	}
	b, ok := e.faults.buckets[key]
	if !ok {
		b = &bucketState{tokens: float64(cfg.Capacity), last: now}
		e.faults.buckets[key] = b
	}
	if elapsed := now.Sub(b.last).Seconds(); elapsed > 0 {
		b.tokens = min(float64(cfg.Capacity), b.tokens+elapsed*cfg.RefillPerSecond)
		b.last = now
	}
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}
