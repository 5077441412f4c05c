// Package metrics exposes a worker's metrics in the Prometheus text format:
// the Temporal SDK's own (task latencies, failures, pollers, requests) and
// Cordon's (AWS calls by outcome, waits for the worker's rate limiter), in
// one registry the worker owns, served at /metrics.
//
// It adapts the SDK's metrics handler interface to Prometheus directly
// instead of going through the tally contrib module: a few dozen lines
// against client_golang, which the module already depends on, rather than
// another metrics library in every worker binary.
package metrics

import (
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.temporal.io/sdk/client"
)

// timerBuckets are the histogram buckets, in seconds, of the SDK's timers.
// They span a workflow task's few milliseconds to an activity's minutes
// (snapshots, waits on AWS) and a long poll's minute.
var timerBuckets = []float64{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600}

// Metric kinds, also the Prometheus type the SDK's instrument becomes.
const (
	kindCounter = "counter"
	kindGauge   = "gauge"
	kindTimer   = "histogram"
)

// sdkCollector holds every metric the SDK has asked for, created lazily.
//
// The SDK emits one name with different tag keys from different places
// (temporal_request with and without a task queue, for one). Prometheus
// refuses to register two vectors of one name with different label names,
// so the vectors are not registered: this collector is, unchecked (it
// describes nothing), and collects them all. The exposition format allows
// the series of one family to carry different label names.
type sdkCollector struct {
	logger *slog.Logger

	mu   sync.Mutex
	vecs map[vecKey]prometheus.Collector
	// kinds remembers the kind each name was first asked for: a family has
	// one type, so a name asked for again as another kind is dropped.
	kinds map[string]string
	order []prometheus.Collector // creation order, for Collect
}

// Describe implements prometheus.Collector. It sends nothing, which makes
// the collector unchecked; see sdkCollector.
func (*sdkCollector) Describe(chan<- *prometheus.Desc) {}

// Collect implements prometheus.Collector.
func (c *sdkCollector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	vecs := slices.Clone(c.order)
	c.mu.Unlock()
	for _, v := range vecs {
		v.Collect(ch)
	}
}

// vecKey identifies a vector: the kind, the name as the SDK gave it and
// the sorted label names joined. A struct, not a joined string, so that a
// lookup (every time the SDK emits) allocates nothing.
type vecKey struct{ kind, name, signature string }

// vec returns the vector of kind for the SDK's name and the label names,
// creating it on first use; nil if the name is taken by another kind.
func (c *sdkCollector) vec(kind, sdkName string, labels []string, signature string) prometheus.Collector {
	key := vecKey{kind, sdkName, signature}
	c.mu.Lock()
	defer c.mu.Unlock()
	if v, ok := c.vecs[key]; ok {
		return v
	}
	name := metricName(sdkName)
	switch kind {
	case kindCounter:
		name = withSuffix(name, "_total")
	case kindTimer:
		name = withSuffix(name, "_seconds")
	}
	if k, ok := c.kinds[name]; ok && k != kind {
		c.logger.Warn("Temporal SDK metric dropped: its name is already used by another kind", "metric", name, "kind", kind, "existing_kind", k)
		c.vecs[key] = nil
		return nil
	}
	c.kinds[name] = kind
	// One help text per name, whatever the labels: the families merged at
	// gather time must agree on it.
	help := "Temporal SDK metric " + name + " (https://docs.temporal.io/references/sdk-metrics)."
	var v prometheus.Collector
	switch kind {
	case kindCounter:
		v = prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, labels)
	case kindGauge:
		v = prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: name, Help: help}, labels)
	default:
		v = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: name, Help: help, Buckets: timerBuckets}, labels)
	}
	c.vecs[key] = v
	c.order = append(c.order, v)
	return v
}

// sdkHandler implements client.MetricsHandler. A handler is immutable:
// WithTags returns a new one sharing the collector.
type sdkHandler struct {
	c *sdkCollector
	// tags by sanitized label name; labels are their names, sorted, and
	// values the matching values; signature joins labels for lookups.
	tags      map[string]string
	labels    []string
	values    []string
	signature string
}

// NewSDKHandler returns a Temporal SDK metrics handler recording into reg,
// for client.Options.MetricsHandler. Names follow the convention of
// Temporal's Prometheus dashboards: counters end in _total and timers are
// histograms in seconds ending in _seconds.
func NewSDKHandler(reg prometheus.Registerer, logger *slog.Logger) (client.MetricsHandler, error) {
	if logger == nil {
		logger = slog.Default()
	}
	c := &sdkCollector{logger: logger, vecs: map[vecKey]prometheus.Collector{}, kinds: map[string]string{}}
	if err := reg.Register(c); err != nil {
		return nil, err
	}
	return &sdkHandler{c: c, tags: map[string]string{}}, nil
}

// WithTags implements client.MetricsHandler: new tags overwrite old ones
// of the same name.
func (h *sdkHandler) WithTags(tags map[string]string) client.MetricsHandler {
	merged := make(map[string]string, len(h.tags)+len(tags))
	for k, v := range h.tags {
		merged[k] = v
	}
	for k, v := range tags {
		// Prometheus panics on a label value that is not UTF-8.
		merged[labelName(k)] = strings.ToValidUTF8(v, "\uFFFD")
	}
	labels := slices.Sorted(maps.Keys(merged))
	values := make([]string, len(labels))
	for i, k := range labels {
		values[i] = merged[k]
	}
	return &sdkHandler{c: h.c, tags: merged, labels: labels, values: values, signature: strings.Join(labels, ",")}
}

// Counter implements client.MetricsHandler.
func (h *sdkHandler) Counter(name string) client.MetricsCounter {
	v, _ := h.c.vec(kindCounter, name, h.labels, h.signature).(*prometheus.CounterVec)
	if v == nil {
		return client.MetricsNopHandler.Counter(name)
	}
	return counter{v.WithLabelValues(h.values...)}
}

// Gauge implements client.MetricsHandler.
func (h *sdkHandler) Gauge(name string) client.MetricsGauge {
	v, _ := h.c.vec(kindGauge, name, h.labels, h.signature).(*prometheus.GaugeVec)
	if v == nil {
		return client.MetricsNopHandler.Gauge(name)
	}
	return gauge{v.WithLabelValues(h.values...)}
}

// Timer implements client.MetricsHandler.
func (h *sdkHandler) Timer(name string) client.MetricsTimer {
	v, _ := h.c.vec(kindTimer, name, h.labels, h.signature).(*prometheus.HistogramVec)
	if v == nil {
		return client.MetricsNopHandler.Timer(name)
	}
	return timer{v.WithLabelValues(h.values...)}
}

type counter struct{ c prometheus.Counter }

// Inc implements client.MetricsCounter. A Prometheus counter panics when it
// would go down; the SDK never decrements, and a bug there must not crash
// the worker in the middle of a containment.
func (c counter) Inc(d int64) {
	if d > 0 {
		c.c.Add(float64(d))
	}
}

type gauge struct{ g prometheus.Gauge }

// Update implements client.MetricsGauge.
func (g gauge) Update(v float64) { g.g.Set(v) }

type timer struct{ o prometheus.Observer }

// Record implements client.MetricsTimer.
func (t timer) Record(d time.Duration) { t.o.Observe(d.Seconds()) }

// withSuffix appends suffix unless name already ends with it.
func withSuffix(name, suffix string) string {
	if strings.HasSuffix(name, suffix) {
		return name
	}
	return name + suffix
}

// metricName makes name a valid Prometheus metric name,
// [a-zA-Z_:][a-zA-Z0-9_:]*, replacing anything else with '_'.
func metricName(name string) string {
	return sanitize(name, true)
}

// labelName makes name a valid Prometheus label name, [a-zA-Z_][a-zA-Z0-9_]*,
// neither starting with the "__" Prometheus reserves nor one of the labels
// histograms and summaries own ("le", "quantile"): a tag so named would
// make the histogram vector panic.
func labelName(name string) string {
	s := sanitize(name, false)
	if strings.HasPrefix(s, "__") || s == "le" || s == "quantile" {
		s = "tag_" + s
	}
	return s
}

func sanitize(name string, colon bool) string {
	if name == "" {
		return "_"
	}
	if valid(name, colon) {
		return name
	}
	var b strings.Builder
	for i, r := range name {
		ok := r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || (r >= '0' && r <= '9' && i > 0) || (colon && r == ':')
		if ok {
			b.WriteRune(r)
			continue
		}
		if i == 0 && r >= '0' && r <= '9' {
			b.WriteByte('_')
			b.WriteRune(r)
			continue
		}
		b.WriteByte('_')
	}
	return b.String()
}

func valid(name string, colon bool) bool {
	for i, r := range name {
		if !(r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || (r >= '0' && r <= '9' && i > 0) || (colon && r == ':')) {
			return false
		}
	}
	return true
}
