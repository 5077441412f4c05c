package metrics

import (
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Names of Cordon's own metrics.
const (
	AWSCallsName      = "cordon_aws_calls_total"
	RateLimitWaitName = "cordon_aws_rate_limit_wait_seconds"
)

// rateLimitBuckets span no wait at all (a token was there) to the minutes a
// thousand-host containment queues behind a mutating bucket refilled at
// five per second.
var rateLimitBuckets = []float64{0.001, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300}

// AWS implements actions.Metrics over Prometheus.
type AWS struct {
	calls *prometheus.CounterVec
	waits *prometheus.HistogramVec
}

// NewAWS registers Cordon's AWS metrics in reg.
func NewAWS(reg prometheus.Registerer) (*AWS, error) {
	a := &AWS{
		calls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: AWSCallsName,
			Help: "AWS call attempts made by this worker (the SDK's own quick retries count each), by service, operation and outcome (ok, throttled, error).",
		}, []string{"service", "operation", "outcome"}),
		waits: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: RateLimitWaitName,
			Help: "Seconds each AWS call attempt waited for this worker's own rate limiter (aws.rate_limit), " +
				"by target (account|region) and class (mutating, read).",
			Buckets: rateLimitBuckets,
		}, []string{"target", "class"}),
	}
	for _, c := range []prometheus.Collector{a.calls, a.waits} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("register AWS metrics: %w", err)
		}
	}
	return a, nil
}

// AWSCall implements actions.Metrics.
func (a *AWS) AWSCall(service, operation, outcome string) {
	a.calls.WithLabelValues(service, operation, outcome).Inc()
}

// RateLimitWait implements actions.Metrics.
func (a *AWS) RateLimitWait(target, class string, d time.Duration) {
	a.waits.WithLabelValues(target, class).Observe(d.Seconds())
}
