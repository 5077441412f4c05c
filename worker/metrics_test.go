package worker

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/client"
	tlog "go.temporal.io/sdk/log"
)

// silentTemporal is a client whose server accepts connections and never
// answers, so the first call of a client made from it hangs (until the
// SDK gives up, after 5 seconds) instead of failing at once.
func silentTemporal(t *testing.T) client.Client {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		var held []net.Conn
		defer func() {
			for _, c := range held {
				c.Close()
			}
		}()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			held = append(held, c)
		}
	}()
	c, err := client.NewLazyClient(client.Options{HostPort: ln.Addr().String(), Logger: tlog.NewStructuredLogger(slog.New(slog.DiscardHandler))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

// Run serves /metrics from its start, even while Temporal does not answer
// (when an operator most needs to look), and stops serving when it
// returns. No Temporal server here: worker/metrics/metricse2e runs a
// containment through Run against one and checks the SDK's and the AWS
// metrics.
func TestRunServesMetricsUntilItReturns(t *testing.T) {
	urls := make(chan string, 1)
	logger := slog.New(slog.DiscardHandler)
	listening := func(url string) { urls <- url }
	cfg := &Config{Metrics: MetricsConfig{Listen: "127.0.0.1:0"}}
	cfg.applyDefaults()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- Run(ctx, silentTemporal(t), cfg, Options{Logger: logger, MetricsListening: listening}) }()

	var url string
	select {
	case url = <-urls:
	case err := <-done:
		t.Fatalf("Run returned before serving metrics: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not report the metrics endpoint's URL")
	}
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("scrape %s while Run waits for Temporal: %v", url, err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(b), "\ngo_goroutines ") {
		t.Fatalf("scrape %s: HTTP %d:\n%s", url, resp.StatusCode, b)
	}
	select {
	case err := <-done:
		t.Fatalf("control: Run returned while Temporal was silent: %v", err)
	default:
	}

	cancel()
	select {
	case err := <-done:
		if err == nil {
			t.Error("Run returned no error, yet Temporal never answered")
		}
	case <-time.After(15 * time.Second):
		t.Fatal("Run did not return after its context was cancelled")
	}
	if resp, err := http.Get(url); err == nil {
		resp.Body.Close()
		t.Fatalf("%s still served after Run returned", url)
	}
}

func TestRunRefusesAMetricsAddressInUse(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	cfg := &Config{Metrics: MetricsConfig{Listen: ln.Addr().String()}}
	cfg.applyDefaults()
	// No Temporal client at all: the address is checked before anything
	// else starts.
	err = Run(context.Background(), nil, cfg, Options{Logger: slog.New(slog.DiscardHandler)})
	if want := "metrics.listen " + ln.Addr().String() + ": address already in use"; err == nil || err.Error() != want {
		t.Fatalf("Run: %v, want %q", err, want)
	}
}
