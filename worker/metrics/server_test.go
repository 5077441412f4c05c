package metrics

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cordon-ir/cordon/internal/syncbuf"
)

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	return resp.StatusCode, string(b)
}

func TestServeExposesMetricsAndStops(t *testing.T) {
	ctx := context.Background()
	var logs syncbuf.Buffer
	e, err := Serve(ctx, "127.0.0.1:0", slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	e.AWS.AWSCall("EC2", "CreateTags", "ok")
	e.AWS.AWSCall("EC2", "CreateTags", "throttled")
	e.AWS.AWSCall("EC2", "CreateTags", "throttled")
	e.AWS.RateLimitWait("prod|eu-west-1", "mutating", 300*time.Millisecond)
	e.SDK.WithTags(map[string]string{"namespace": "default"}).Counter("temporal_workflow_task_execution_failed").Inc(1)

	code, text := get(t, "http://"+e.Addr()+"/metrics")
	if code != http.StatusOK {
		t.Fatalf("GET /metrics: HTTP %d", code)
	}
	wantLines(t, text,
		`cordon_aws_calls_total{operation="CreateTags",outcome="ok",service="EC2"} 1`,
		`cordon_aws_calls_total{operation="CreateTags",outcome="throttled",service="EC2"} 2`,
		`cordon_aws_rate_limit_wait_seconds_bucket{class="mutating",target="prod|eu-west-1",le="0.25"} 0`,
		`cordon_aws_rate_limit_wait_seconds_bucket{class="mutating",target="prod|eu-west-1",le="0.5"} 1`,
		`cordon_aws_rate_limit_wait_seconds_sum{class="mutating",target="prod|eu-west-1"} 0.3`,
		`temporal_workflow_task_execution_failed_total{namespace="default"} 1`,
	)
	if !strings.Contains(text, "\ngo_goroutines ") || !strings.Contains(text, "\nprocess_") {
		t.Errorf("no Go runtime or process metrics in the scrape")
	}
	if code, _ := get(t, "http://"+e.Addr()+"/"); code != http.StatusNotFound {
		t.Errorf("GET /: HTTP %d, want 404: the endpoint serves /metrics only", code)
	}
	if strings.Contains(logs.String(), "reachable from other hosts") {
		t.Errorf("warned about a loopback address: %s", logs.String())
	}

	if err := e.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if conn, err := net.DialTimeout("tcp", e.Addr(), time.Second); err == nil {
		conn.Close()
		t.Fatalf("%s still accepts connections after Close", e.Addr())
	}
}

func TestServeRefusesAnAddressInUse(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	addr := ln.Addr().String()
	_, err = Serve(context.Background(), addr, slog.New(slog.DiscardHandler))
	if err == nil {
		t.Fatalf("Serve on %s, which is taken, succeeded", addr)
	}
	if want := "metrics.listen " + addr + ": address already in use"; err.Error() != want {
		t.Errorf("error %q, want %q", err, want)
	}
	if !errors.Is(err, syscall.EADDRINUSE) {
		t.Errorf("error %v does not wrap EADDRINUSE", err)
	}
}

func TestServeWarnsWhenNotLoopback(t *testing.T) {
	var logs syncbuf.Buffer
	e, err := Serve(context.Background(), "0.0.0.0:0", slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Skipf("cannot bind the wildcard address here: %v", err)
	}
	defer e.Close(context.Background())
	if !strings.Contains(logs.String(), "level=WARN") || !strings.Contains(logs.String(), "reachable from other hosts") {
		t.Errorf("no warning for a wildcard address; logs:\n%s", logs.String())
	}
}
