package slack

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/cordon-ir/cordon/worker"
)

// DefaultListen is where the HTTP transport listens unless configured:
// loopback, behind the TLS-terminating proxy Slack reaches.
const DefaultListen = "127.0.0.1:8080"

// FromConfig wires a notifier and a gateway from cordon.yaml: the Slack
// client, the gateway key (checked against the roster), Temporal.
func FromConfig(cfg *worker.Config, c client.Client, logger *slog.Logger) (*Notifier, *Gateway, error) {
	s := cfg.Slack
	if s.BotToken == "" || s.Channel == "" {
		return nil, nil, errors.New("slack: bot_token (or CORDON_SLACK_BOT_TOKEN) and channel are required")
	}
	if s.Transport != "socket" && s.SigningSecret == "" {
		return nil, nil, errors.New("slack: the http transport needs signing_secret (or CORDON_SLACK_SIGNING_SECRET)")
	}
	if s.GatewayKeyFile == "" {
		return nil, nil, errors.New("slack: gateway_key_file is required (ssh-keygen -t ed25519 -N '' -f slack-gateway)")
	}
	signer, err := LoadGatewayKey(s.GatewayKeyFile)
	if err != nil {
		return nil, nil, err
	}
	roster := cfg.WorkflowRoster()
	if err := CheckGatewayKey(roster, signer); err != nil {
		return nil, nil, err
	}
	// /cordon run compiles from slack.runbook_dir, and the worker runs a
	// plan as it is only if its own source (runbooks.dir) holds the same:
	// by default they are one directory.
	dir := s.RunbookDir
	if dir == "" {
		dir = cfg.Runbooks.Dir
	}
	if logger == nil {
		logger = slog.Default()
	}
	if cfg.Runbooks.Dir != "" && filepath.Clean(dir) != filepath.Clean(cfg.Runbooks.Dir) {
		logger.Warn("slack.runbook_dir is not runbooks.dir: a run started from Slack whose runbook differs from the worker's source waits for a lead to approve its plan",
			"slack.runbook_dir", dir, "runbooks.dir", cfg.Runbooks.Dir)
	}
	n := NewNotifier(NewClient(s), NotifierOptions{Channel: s.Channel, EscalationChannel: s.EscalationChannel, Roster: roster, Logger: logger})
	g, err := NewGateway(GatewayOptions{
		SigningSecret: s.SigningSecret, TeamID: s.TeamID, Roster: roster, RunbookDir: dir,
		Notifier: n, Runs: TemporalRuns{Client: c, TaskQueue: cfg.Temporal.TaskQueue, Signer: signer}, Logger: logger,
	})
	if err != nil {
		return nil, nil, err
	}
	return n, g, nil
}

// Serve runs the configured transport until ctx ends, then waits for the
// work requests started.
func Serve(ctx context.Context, cfg worker.SlackConfig, g *Gateway) error {
	defer g.Wait()
	if cfg.Transport == "socket" {
		g.log.Info("slack gateway: socket mode")
		return g.ServeSocketMode(ctx, NewSocketClient(cfg.BotToken, cfg.AppToken, cfg.APIURL))
	}
	addr := cfg.Listen
	if addr == "" {
		addr = DefaultListen
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("slack gateway: listen on %s: %w", addr, err)
	}
	return ServeHTTP(ctx, ln, g)
}

// ServeHTTP serves the HTTP transport on ln until ctx ends.
func ServeHTTP(ctx context.Context, ln net.Listener, g *Gateway) error {
	mux := http.NewServeMux()
	mux.Handle("POST "+PathInteractions, g)
	mux.Handle("POST "+PathCommands, g)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second, WriteTimeout: 30 * time.Second}
	g.log.Info("slack gateway listening", "address", ln.Addr().String(), "paths", []string{PathInteractions, PathCommands})
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("slack gateway: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("slack gateway: shut down: %w", err)
	}
	return nil
}
