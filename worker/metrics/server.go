package metrics

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.temporal.io/sdk/client"
)

// Endpoint is a worker's metrics: a registry of its own (never the
// Prometheus default one, so that nothing else linked into the binary
// leaks into it and tests can run several), what feeds it, and the HTTP
// server that exposes it at /metrics.
type Endpoint struct {
	// SDK is the Temporal SDK's metrics handler, for
	// client.Options.MetricsHandler.
	SDK client.MetricsHandler
	// AWS receives the AWS clients' call outcomes and rate-limit waits,
	// for actions.AWSOptions.Metrics.
	AWS *AWS

	server   *http.Server
	listener net.Listener
	done     chan struct{}
}

// Serve binds addr (host:port; port 0 picks a free one) and serves the
// worker's metrics there at /metrics until Close. A port already taken is
// an error at once, naming the setting to change, rather than a worker
// that starts without the metrics it was configured to expose.
func Serve(ctx context.Context, addr string, logger *slog.Logger) (*Endpoint, error) {
	if logger == nil {
		logger = slog.Default()
	}
	reg := prometheus.NewRegistry()
	// The worker's own memory, goroutines and file descriptors: what an
	// operator looks at next when task latencies climb.
	if err := reg.Register(collectors.NewGoCollector()); err != nil {
		return nil, fmt.Errorf("register Go runtime metrics: %w", err)
	}
	if err := reg.Register(collectors.NewProcessCollector(collectors.ProcessCollectorOpts{})); err != nil {
		return nil, fmt.Errorf("register process metrics: %w", err)
	}
	sdk, err := NewSDKHandler(reg, logger)
	if err != nil {
		return nil, fmt.Errorf("register Temporal SDK metrics: %w", err)
	}
	aws, err := NewAWS(reg)
	if err != nil {
		return nil, err
	}

	ln, err := new(net.ListenConfig).Listen(ctx, "tcp", addr)
	if err != nil {
		if errors.Is(err, syscall.EADDRINUSE) {
			return nil, fmt.Errorf("metrics.listen %s: %w", addr, syscall.EADDRINUSE)
		}
		return nil, fmt.Errorf("metrics.listen %s: %w", addr, err)
	}
	if tcp, ok := ln.Addr().(*net.TCPAddr); !ok || !tcp.IP.IsLoopback() {
		// Allowed (a scraper on another host needs it), but worth a look:
		// the endpoint has no authentication, and its labels name the
		// accounts, regions and AWS operations of running containments.
		logger.Warn("metrics endpoint is reachable from other hosts; it has no authentication and names accounts and operations: bind it to 127.0.0.1 or firewall it",
			"listen", addr, "bound", ln.Addr().String())
	}

	mux := http.NewServeMux()
	mux.Handle("GET /metrics", Handler(reg, logger))
	e := &Endpoint{
		SDK: sdk, AWS: aws, listener: ln, done: make(chan struct{}),
		server: &http.Server{
			Handler:           mux,
			ReadHeaderTimeout: 5 * time.Second,
			WriteTimeout:      30 * time.Second,
			IdleTimeout:       2 * time.Minute,
			ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
		},
	}
	go func() {
		defer close(e.done)
		if err := e.server.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			logger.Error("metrics endpoint stopped", "listen", ln.Addr().String(), "err", err)
		}
	}()
	logger.Info("metrics endpoint listening", "url", e.URL())
	return e, nil
}

// URL is where the endpoint serves, with the port actually bound.
func (e *Endpoint) URL() string { return "http://" + e.listener.Addr().String() + "/metrics" }

// Handler serves g in the Prometheus text format. A metric that fails to
// gather is logged and left out, not the whole scrape: in an incident a
// partial scrape is worth more than none.
func Handler(g prometheus.Gatherer, logger *slog.Logger) http.Handler {
	return promhttp.HandlerFor(g, promhttp.HandlerOpts{
		ErrorLog:            slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
		ErrorHandling:       promhttp.ContinueOnError,
		MaxRequestsInFlight: 4,
		Timeout:             10 * time.Second,
	})
}

// Addr is the address the endpoint is bound to (with the port picked, if
// the configuration said 0).
func (e *Endpoint) Addr() string { return e.listener.Addr().String() }

// Close stops the HTTP server, letting a scrape in progress finish until
// ctx is done, and waits for it to stop.
func (e *Endpoint) Close(ctx context.Context) error {
	err := e.server.Shutdown(ctx)
	if err != nil {
		// A scrape outlived ctx: cut it off rather than leave the port bound.
		err = errors.Join(fmt.Errorf("shut down the metrics endpoint on %s: %w", e.Addr(), err), e.server.Close())
	}
	<-e.done
	return err
}
