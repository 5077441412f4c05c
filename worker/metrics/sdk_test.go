package metrics

import (
	"fmt"
	"io"
	"log/slog"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.temporal.io/sdk/client"
)

// scrape serves reg the way the endpoint does and returns the text.
func scrape(t *testing.T, reg *prometheus.Registry) string {
	t.Helper()
	if _, err := reg.Gather(); err != nil {
		t.Fatalf("gather: %v", err) // a scrape must be whole, not partial
	}
	rec := httptest.NewRecorder()
	Handler(reg, slog.New(slog.DiscardHandler)).ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if rec.Code != 200 {
		t.Fatalf("scrape: HTTP %d: %s", rec.Code, rec.Body)
	}
	b, _ := io.ReadAll(rec.Body)
	return string(b)
}

// newSDKHandler is an SDK metrics handler on a registry of its own.
func newSDKHandler(t *testing.T) (*prometheus.Registry, client.MetricsHandler) {
	t.Helper()
	reg := prometheus.NewRegistry()
	h, err := NewSDKHandler(reg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	return reg, h
}

// wantLines checks that every line appears, whole, in the scrape.
func wantLines(t *testing.T, text string, lines ...string) {
	t.Helper()
	have := map[string]bool{}
	for _, l := range strings.Split(text, "\n") {
		have[l] = true
	}
	for _, l := range lines {
		if !have[l] {
			t.Errorf("scrape lacks %q", l)
		}
	}
	if t.Failed() {
		t.Logf("scrape:\n%s", text)
	}
}

func TestSDKHandlerCounterGaugeTimer(t *testing.T) {
	reg, root := newSDKHandler(t)
	// As the SDK does: root tags from the client, more per task queue.
	ns := root.WithTags(map[string]string{"namespace": "default"})
	tq := ns.WithTags(map[string]string{"task_queue": "cordon", "worker_type": "ActivityWorker"})

	tq.Counter("temporal_request").Inc(2)
	tq.Counter("temporal_request").Inc(1)
	tq.Counter("temporal_request").Inc(-5) // never decrements, never panics
	// The same name with other tag keys: one family, two label sets.
	ns.Counter("temporal_request").Inc(1)

	tq.Gauge("temporal_num_pollers").Update(5)
	tq.Gauge("temporal_num_pollers").Update(3)

	act := tq.WithTags(map[string]string{"activity_type": "aws.ec2.tag"})
	act.Timer("temporal_activity_execution_latency").Record(30 * time.Millisecond)
	act.Timer("temporal_activity_execution_latency").Record(2 * time.Second)

	// Later tags overwrite earlier ones of the same key.
	ns.WithTags(map[string]string{"task_queue": "a"}).WithTags(map[string]string{"task_queue": "b"}).Counter("temporal_long_request").Inc(1)

	text := scrape(t, reg)
	wantLines(t, text,
		"# TYPE temporal_request_total counter",
		`temporal_request_total{namespace="default",task_queue="cordon",worker_type="ActivityWorker"} 3`,
		`temporal_request_total{namespace="default"} 1`,
		"# TYPE temporal_num_pollers gauge",
		`temporal_num_pollers{namespace="default",task_queue="cordon",worker_type="ActivityWorker"} 3`,
		"# TYPE temporal_activity_execution_latency_seconds histogram",
		`temporal_activity_execution_latency_seconds_bucket{activity_type="aws.ec2.tag",namespace="default",task_queue="cordon",worker_type="ActivityWorker",le="0.025"} 0`,
		`temporal_activity_execution_latency_seconds_bucket{activity_type="aws.ec2.tag",namespace="default",task_queue="cordon",worker_type="ActivityWorker",le="0.05"} 1`,
		`temporal_activity_execution_latency_seconds_bucket{activity_type="aws.ec2.tag",namespace="default",task_queue="cordon",worker_type="ActivityWorker",le="2.5"} 2`,
		`temporal_activity_execution_latency_seconds_bucket{activity_type="aws.ec2.tag",namespace="default",task_queue="cordon",worker_type="ActivityWorker",le="+Inf"} 2`,
		`temporal_activity_execution_latency_seconds_sum{activity_type="aws.ec2.tag",namespace="default",task_queue="cordon",worker_type="ActivityWorker"} 2.03`,
		`temporal_activity_execution_latency_seconds_count{activity_type="aws.ec2.tag",namespace="default",task_queue="cordon",worker_type="ActivityWorker"} 2`,
		`temporal_long_request_total{namespace="default",task_queue="b"} 1`,
	)
	if strings.Count(text, "# TYPE temporal_request_total") != 1 {
		t.Errorf("temporal_request_total is not one family:\n%s", text)
	}
}

func TestSDKHandlerSanitizesNamesAndLabels(t *testing.T) {
	reg, root := newSDKHandler(t)
	h := root.WithTags(map[string]string{"task-queue": "q", "le": "x", "__name": "n", "9lives": "cat", "bad": "\xff"})
	h.Counter("cordon.odd-name").Inc(1)
	h.Timer("1st.timer_seconds").Record(time.Millisecond)
	// A name asked for as another kind is dropped, not a broken scrape.
	h.Gauge("clash_total").Update(1)
	h.Counter("clash").Inc(1)

	text := scrape(t, reg)
	labels := `_9lives="cat",bad="` + "\uFFFD" + `",tag___name="n",tag_le="x",task_queue="q"`
	wantLines(t, text,
		`cordon_odd_name_total{`+labels+`} 1`,
		`_1st_timer_seconds_count{`+labels+`} 1`,
		`clash_total{`+labels+`} 1`,
		"# TYPE clash_total gauge",
	)
}

// The SDK emits from many goroutines; vectors are created lazily under a
// lock. Run with -race.
func TestSDKHandlerConcurrent(t *testing.T) {
	reg, root := newSDKHandler(t)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 200 {
				h := root.WithTags(map[string]string{"task_queue": fmt.Sprint(i % 3), fmt.Sprintf("k%d", g%2): "v"})
				h.Counter("temporal_request").Inc(1)
				h.Timer("temporal_request_latency").Record(time.Millisecond)
				h.Gauge("temporal_num_pollers").Update(float64(i))
				if i%50 == 0 {
					if _, err := reg.Gather(); err != nil {
						t.Error(err)
					}
				}
			}
		})
	}
	wg.Wait()
	text := scrape(t, reg)
	total := 0
	for _, l := range strings.Split(text, "\n") {
		if strings.HasPrefix(l, "temporal_request_total{") {
			var n int
			fmt.Sscan(l[strings.LastIndexByte(l, ' ')+1:], &n)
			total += n
		}
	}
	if total != 8*200 {
		t.Errorf("temporal_request_total sums to %d, want %d", total, 8*200)
	}
}

func BenchmarkSDKHandlerCounter(b *testing.B) {
	root, err := NewSDKHandler(prometheus.NewRegistry(), slog.New(slog.DiscardHandler))
	if err != nil {
		b.Fatal(err)
	}
	h := root.WithTags(map[string]string{"namespace": "default", "task_queue": "cordon"})
	b.ReportAllocs()
	for b.Loop() {
		h.Counter("temporal_request").Inc(1)
	}
}
