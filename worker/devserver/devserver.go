// Package devserver runs a real Temporal server inside the current process,
// for `cordon dev`, `cordon demo` and end-to-end tests: no Docker, no binary
// downloaded at run time, nothing listening beyond the address it is given.
//
// It owns the server's configuration (SQLite persistence in memory or in a
// file, single-node static membership, loopback binding, free ports), the
// registration of namespaces, the optional Web UI, and routing the server's
// logs into log/slog. It contains no Cordon business rules and registers no
// workflows: callers dial FrontendAddress with go.temporal.io/sdk/client and
// run their own workers.
//
// The server's SQLite plugin pools its connections for the life of the
// process and never closes them. So a Stop/Start on the same DBFile in one
// process reuses the open connection (which is what makes an in-process
// restart work), the file stays open until the process exits, and each
// in-memory server's database stays in memory until then too: start few
// in-memory servers per process.
//
// Linking the server costs minutes of cold build and about 200 MB of binary,
// so only what runs a server should import this package: internal/sandbox,
// which starts it for `cordon dev`, `demo`, `bench` and the end-to-end tests
// (internal/e2e, worker/slack/slacke2e, worker/metrics/metricse2e), and the
// end-to-end tests that stop and restart a server of their own.
package devserver

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"
	"go.temporal.io/server/common/cluster"
	"go.temporal.io/server/common/config"
	"go.temporal.io/server/common/dynamicconfig"
	"go.temporal.io/server/common/membership/static"
	sqliteplugin "go.temporal.io/server/common/persistence/sql/sqlplugin/sqlite"
	"go.temporal.io/server/common/primitives"
	sqliteschema "go.temporal.io/server/schema/sqlite"
	"go.temporal.io/server/temporal"
)

// Options configures Start. The zero value is a usable in-memory server on
// 127.0.0.1 with the "default" namespace, no UI, and warnings and errors
// logged to slog.Default().
type Options struct {
	// DBFile is the SQLite file that holds the server's state. Empty means
	// in memory: everything is lost on Stop. A file that does not exist yet
	// is created with the schema; the directory must exist.
	DBFile string
	// Namespace is registered at start (idempotently: an existing DBFile
	// keeps its namespaces and their workflows). Default "default".
	Namespace string
	// Namespaces are further namespaces to register the same way.
	Namespaces []string
	// SearchAttributes are custom search attributes (name → type) every
	// namespace gets: written with a new namespace, added through the
	// operator API to one an existing DBFile holds without them.
	SearchAttributes map[string]enumspb.IndexedValueType

	// IP is the only address the server (and the UI) listen on. Default
	// 127.0.0.1. A wildcard such as 0.0.0.0 exposes an unauthenticated
	// Temporal server to the network: only do that on purpose.
	IP string
	// FrontendPort is the gRPC port clients dial; 0 picks a free port.
	FrontendPort int

	// UI starts the Temporal Web UI beside the server, on UIPort (0 picks a
	// free port).
	UI     bool
	UIPort int

	// Logger receives the server's own logs. Default slog.Default().
	Logger *slog.Logger
	// LogLevel is the least severe server record passed to Logger. Default
	// slog.LevelWarn: at Info the server reports every service and shard
	// transition, which drowns the responder's own output.
	LogLevel slog.Leveler
}

// Server is a running in-process Temporal server. Its methods are safe for
// concurrent use.
type Server struct {
	temporal     temporal.Server
	ui           *uiServer
	frontendAddr string
	namespace    string
	logger       *serverLogger

	stopOnce sync.Once
	stopErr  error
}

const (
	// clusterName and numHistoryShards are written into a DBFile on first
	// start and must never change: a server refuses to open persistence
	// created with another shard count, and the cluster name is part of every
	// namespace record.
	clusterName      = "active"
	numHistoryShards = 1

	// storeName names the one SQLite data store used for both execution and
	// visibility persistence.
	storeName = "sqlite-default"

	// startAttempts bounds retries after a bind failure on a port we chose;
	// see freePorts for why such a failure is possible at all.
	startAttempts = 3
)

// Start starts a Temporal server and returns once its frontend answers and
// every namespace in opts is usable. ctx bounds that wait; cancelling ctx
// later has no effect on the running server: call Stop.
func Start(ctx context.Context, opts Options) (*Server, error) {
	opts, err := withDefaults(opts)
	if err != nil {
		return nil, err
	}
	if opts.DBFile != "" {
		if err := ensureSchema(opts.DBFile); err != nil {
			return nil, err
		}
	}
	for attempt := 1; ; attempt++ {
		s, err := start(ctx, opts)
		if err == nil {
			return s, nil
		}
		var fe *fatalError
		if attempt < startAttempts && errors.As(err, &fe) && strings.Contains(strings.ToLower(fe.msg), "listener") {
			opts.Logger.Warn("temporal dev server could not bind a port it had chosen; retrying with fresh ports",
				"attempt", attempt, "err", err)
			continue
		}
		return nil, err
	}
}

func withDefaults(opts Options) (Options, error) {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.LogLevel == nil {
		opts.LogLevel = slog.LevelWarn
	}
	if opts.Namespace == "" {
		opts.Namespace = "default"
	}
	if opts.IP == "" {
		opts.IP = "127.0.0.1"
	}
	if net.ParseIP(opts.IP) == nil {
		return opts, fmt.Errorf("temporal dev server: IP %q is not an IP address (use e.g. 127.0.0.1)", opts.IP)
	}
	if opts.FrontendPort < 0 || opts.FrontendPort > 65535 || opts.UIPort < 0 || opts.UIPort > 65535 {
		return opts, fmt.Errorf("temporal dev server: ports must be within 0-65535 (frontend %d, UI %d)", opts.FrontendPort, opts.UIPort)
	}
	if opts.DBFile != "" {
		abs, err := filepath.Abs(opts.DBFile)
		if err != nil {
			return opts, fmt.Errorf("temporal dev server: resolve DB file %q: %w", opts.DBFile, err)
		}
		opts.DBFile = abs
	}
	return opts, nil
}

// dialHost is the address to reach a listener bound on ip: the loopback
// address of the same family when ip is a wildcard.
func dialHost(ip string) string {
	parsed := net.ParseIP(ip)
	if !parsed.IsUnspecified() {
		return ip
	}
	if parsed.To4() != nil {
		return "127.0.0.1"
	}
	return "::1"
}

func start(ctx context.Context, opts Options) (*Server, error) {
	host := dialHost(opts.IP)

	// Ports: frontend (unless given), history, matching, worker, UI (if
	// wanted and not given).
	need := 3
	if opts.FrontendPort == 0 {
		need++
	}
	if opts.UI && opts.UIPort == 0 {
		need++
	}
	ports, err := freePorts(opts.IP, need)
	if err != nil {
		return nil, fmt.Errorf("temporal dev server: %w", err)
	}
	take := func() int { p := ports[0]; ports = ports[1:]; return p }
	frontendPort := opts.FrontendPort
	if frontendPort == 0 {
		frontendPort = take()
	} else if err := checkPortFree(opts.IP, frontendPort); err != nil {
		return nil, fmt.Errorf("temporal dev server frontend: %w (choose another port, or 0 for a free one)", err)
	}
	servicePorts := map[primitives.ServiceName]int{
		primitives.FrontendService: frontendPort,
		primitives.HistoryService:  take(),
		primitives.MatchingService: take(),
		primitives.WorkerService:   take(),
	}
	uiPort := opts.UIPort
	if opts.UI && uiPort == 0 {
		uiPort = take()
	}

	frontendAddr := net.JoinHostPort(host, strconv.Itoa(frontendPort))
	sqlCfg := sqlConfig(opts.DBFile)
	cfg := serverConfig(opts.IP, frontendAddr, servicePorts, sqlCfg)

	if err := registerNamespaces(sqlCfg, append([]string{opts.Namespace}, opts.Namespaces...), opts.SearchAttributes); err != nil {
		return nil, err
	}

	hosts := make(map[primitives.ServiceName]static.Hosts, len(servicePorts))
	for svc, port := range servicePorts {
		hosts[svc] = static.SingleLocalHost(net.JoinHostPort(host, strconv.Itoa(port)))
	}
	logger := newServerLogger(opts.Logger, opts.LogLevel)

	var srv temporal.Server
	err = recoverFatal(func() (err error) {
		srv, err = temporal.NewServer(
			temporal.WithConfig(cfg),
			temporal.ForServices(temporal.DefaultServices),
			// Static membership: one process holds every service, so
			// ringpop's gossip (its extra ports, its join delay) buys nothing.
			temporal.WithStaticHosts(hosts),
			temporal.WithLogger(logger),
			temporal.WithDynamicConfigClient(dynamicConfig()),
		)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("temporal dev server: build: %w", err)
	}
	if err := recoverFatal(srv.Start); err != nil {
		_ = recoverFatal(srv.Stop)
		return nil, fmt.Errorf("temporal dev server: start: %w", err)
	}
	s := &Server{
		temporal:     srv,
		frontendAddr: frontendAddr,
		namespace:    opts.Namespace,
		logger:       logger,
	}

	if err := waitReady(ctx, frontendAddr, append([]string{opts.Namespace}, opts.Namespaces...)); err != nil {
		_ = s.Stop()
		return nil, err
	}
	if err := addSearchAttributes(ctx, frontendAddr, append([]string{opts.Namespace}, opts.Namespaces...), opts.SearchAttributes); err != nil {
		_ = s.Stop()
		return nil, err
	}

	if opts.UI {
		ui, err := startUI(ctx, opts.IP, host, uiPort, frontendAddr, opts.Namespace)
		if err != nil {
			_ = s.Stop()
			return nil, err
		}
		s.ui = ui
	}
	return s, nil
}

// recoverFatal runs f and returns the *fatalError that the server's call to
// logger.Fatal panicked with (see logger.go) as an error. Other panics go on.
func recoverFatal(f func() error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			fe, ok := r.(*fatalError)
			if !ok {
				panic(r)
			}
			err = fe
		}
	}()
	return f()
}

// sqlConfig is the SQLite data store for a file, or for a fresh in-memory
// database when file is empty.
func sqlConfig(file string) *config.SQL {
	cfg := &config.SQL{
		PluginName:        sqliteplugin.PluginName,
		ConnectAttributes: map[string]string{},
	}
	if file != "" {
		cfg.DatabaseName = file
		cfg.ConnectAttributes["mode"] = "rwc"
		return cfg
	}
	// An in-memory database with a shared cache is visible to every
	// connection in this process that uses the same name; a random name keeps
	// two servers in one process (parallel tests) apart.
	cfg.DatabaseName = "cordon-devserver-" + rand.Text()
	cfg.ConnectAttributes["mode"] = "memory"
	cfg.ConnectAttributes["cache"] = "shared"
	return cfg
}

// ensureSchema creates file with the Temporal schema unless it already has it.
func ensureSchema(file string) error {
	info, err := os.Stat(file)
	switch {
	case err == nil && info.Size() > 0:
		return nil // an existing database: the server migrates nothing here
	case err != nil && !errors.Is(err, os.ErrNotExist):
		return fmt.Errorf("temporal dev server: DB file: %w", err)
	}
	if _, err := os.Stat(filepath.Dir(file)); err != nil {
		return fmt.Errorf("temporal dev server: DB file directory: %w", err)
	}
	if err := sqliteschema.SetupSchema(sqlConfig(file)); err != nil {
		// Leave no half-made database behind: the next start would take it
		// for a complete one.
		_ = os.Remove(file)
		return fmt.Errorf("temporal dev server: create schema in %s: %w", file, err)
	}
	return nil
}

// registerNamespaces writes the namespaces straight into persistence before
// the server starts. Registering them through the API instead would leave them
// invisible to the frontend until its namespace cache refreshes (seconds).
func registerNamespaces(sqlCfg *config.SQL, names []string, searchAttributes map[string]enumspb.IndexedValueType) error {
	seen := map[string]bool{}
	var nss []*sqliteschema.NamespaceConfig
	for _, name := range names {
		if name == "" || seen[name] {
			continue
		}
		seen[name] = true
		ns, err := sqliteschema.NewNamespaceConfig(clusterName, name, false, searchAttributes)
		if err != nil {
			return fmt.Errorf("temporal dev server: namespace %q: %w", name, err)
		}
		nss = append(nss, ns)
	}
	if err := sqliteschema.CreateNamespaces(sqlCfg, nss...); err != nil {
		return fmt.Errorf("temporal dev server: register namespaces: %w", err)
	}
	return nil
}

// dynamicConfig overrides the server's dynamic config defaults, which are
// sized for clusters of hundreds of history shards rather than this one.
//
// history.transferProcessorMaxPollRPS caps how often a shard's transfer
// queue reader may read new tasks (default 20/s). Every workflow task that
// follows an activity completion is a transfer task that history must read
// before it reaches matching, and with numHistoryShards = 1 that cap is the
// whole server's: once the limiter's idle burst is spent, each step waited
// ~40 ms between WorkflowTaskScheduled and WorkflowTaskStarted.
// BenchmarkEngineOverheadPerStep (20 steps, an activity that returns at
// once) went from ~1.06 s to ~0.30 s per run with this at 1000. The reader
// still reads only when told of new tasks (or its max poll interval passes),
// so an idle server does no more work.
//
// history.longPollExpirationInterval bounds how long a client waiting for a
// run's result (runctl.Wait) holds one long poll before asking again
// (default 20 s). With runs this fast, about 1 wait in 60 stalled for the
// whole 20 s although the run had ended (a missed close notification); at
// 1 s, 600 runs in a row had none and the longest wait was 0.33 s.
func dynamicConfig() dynamicconfig.StaticClient {
	return dynamicconfig.StaticClient{
		dynamicconfig.TransferProcessorMaxPollRPS.Key():       1000,
		dynamicconfig.HistoryLongPollExpirationInterval.Key(): time.Second,
	}
}

// serverConfig is the static configuration of a single-node server whose
// services all listen on ip.
func serverConfig(ip, frontendAddr string, ports map[primitives.ServiceName]int, sqlCfg *config.SQL) *config.Config {
	services := make(map[string]config.Service, len(ports))
	for svc, port := range ports {
		services[string(svc)] = config.Service{RPC: config.RPC{GRPCPort: port, BindOnIP: ip}}
	}
	// Global.Metrics stays nil (a no-op metrics handler, no Prometheus
	// listener) and Global.PProf.Port 0 (no pprof listener): a dev server
	// opens no port beyond the four gRPC ones.
	return &config.Config{
		Global: config.Global{
			Membership: config.Membership{BroadcastAddress: dialHost(ip), MaxJoinDuration: 30 * time.Second},
		},
		Persistence: config.Persistence{
			DefaultStore:     storeName,
			VisibilityStore:  storeName,
			NumHistoryShards: numHistoryShards,
			DataStores:       map[string]config.DataStore{storeName: {SQL: sqlCfg}},
		},
		ClusterMetadata: &cluster.Config{
			EnableGlobalNamespace:    false,
			FailoverVersionIncrement: 10,
			MasterClusterName:        clusterName,
			CurrentClusterName:       clusterName,
			ClusterInformation: map[string]cluster.ClusterInformation{
				clusterName: {Enabled: true, InitialFailoverVersion: 1, RPCAddress: frontendAddr},
			},
		},
		DCRedirectionPolicy: config.DCRedirectionPolicy{Policy: "noop"},
		Services:            services,
		Archival: config.Archival{
			History:    config.HistoryArchival{State: "disabled"},
			Visibility: config.VisibilityArchival{State: "disabled"},
		},
		NamespaceDefaults: config.NamespaceDefaults{
			Archival: config.ArchivalNamespaceDefaults{
				History:    config.HistoryArchivalNamespaceDefaults{State: "disabled"},
				Visibility: config.VisibilityArchivalNamespaceDefaults{State: "disabled"},
			},
		},
		// The server's own system workers dial the frontend through this.
		PublicClient: config.PublicClient{HostPort: frontendAddr},
	}
}

// waitReady returns once the frontend answers and describes every namespace,
// which is when a client can start workflows without retrying.
func waitReady(ctx context.Context, frontendAddr string, namespaces []string) error {
	const poll = 20 * time.Millisecond
	quiet := sdklog.NewStructuredLogger(slog.New(slog.DiscardHandler))
	var c client.Client
	for {
		var err error
		if c == nil {
			c, err = client.DialContext(ctx, client.Options{HostPort: frontendAddr, Logger: quiet})
		}
		if err == nil {
			err = describeAll(ctx, c, namespaces)
			if err == nil {
				c.Close()
				return nil
			}
		}
		select {
		case <-ctx.Done():
			if c != nil {
				c.Close()
			}
			return fmt.Errorf("temporal dev server: frontend %s not ready: %w (last error: %v)", frontendAddr, ctx.Err(), err)
		case <-time.After(poll):
		}
	}
}

// addSearchAttributes registers the search attributes a namespace of an
// existing DBFile lacks (a new namespace got them with its record), then
// waits until the server's namespace cache holds them, which is when a
// workflow may set them.
func addSearchAttributes(ctx context.Context, frontendAddr string, namespaces []string, attrs map[string]enumspb.IndexedValueType) error {
	if len(attrs) == 0 {
		return nil
	}
	quiet := sdklog.NewStructuredLogger(slog.New(slog.DiscardHandler))
	c, err := client.DialContext(ctx, client.Options{HostPort: frontendAddr, Logger: quiet})
	if err != nil {
		return fmt.Errorf("temporal dev server: search attributes: %w", err)
	}
	defer c.Close()
	added := false
	for _, ns := range namespaces {
		if ns == "" {
			continue
		}
		resp, err := c.OperatorService().ListSearchAttributes(ctx, &operatorservice.ListSearchAttributesRequest{Namespace: ns})
		if err != nil {
			return fmt.Errorf("temporal dev server: list search attributes of %q: %w", ns, err)
		}
		missing := map[string]enumspb.IndexedValueType{}
		for name, t := range attrs {
			if _, ok := resp.GetCustomAttributes()[name]; !ok {
				missing[name] = t
			}
		}
		if len(missing) == 0 {
			continue
		}
		if _, err := c.OperatorService().AddSearchAttributes(ctx, &operatorservice.AddSearchAttributesRequest{
			Namespace: ns, SearchAttributes: missing}); err != nil {
			return fmt.Errorf("temporal dev server: add search attributes to %q: %w", ns, err)
		}
		added = true
	}
	if added {
		// The frontend validates search attributes against its namespace
		// cache, refreshed every system.namespaceCacheRefreshInterval (2 s).
		select {
		case <-ctx.Done():
			return fmt.Errorf("temporal dev server: search attributes: %w", ctx.Err())
		case <-time.After(namespaceCacheRefresh):
		}
	}
	return nil
}

// namespaceCacheRefresh is a little more than the server's namespace cache
// refresh interval.
const namespaceCacheRefresh = 3 * time.Second

func describeAll(ctx context.Context, c client.Client, namespaces []string) error {
	for _, ns := range namespaces {
		if ns == "" {
			continue
		}
		if _, err := c.WorkflowService().DescribeNamespace(ctx, &workflowservice.DescribeNamespaceRequest{Namespace: ns}); err != nil {
			return fmt.Errorf("describe namespace %q: %w", ns, err)
		}
	}
	return nil
}

// FrontendAddress is the host:port to pass to client.Dial.
func (s *Server) FrontendAddress() string { return s.frontendAddr }

// UIAddress is the Web UI's host:port, or "" when the UI is not running.
func (s *Server) UIAddress() string {
	if s.ui == nil {
		return ""
	}
	return s.ui.addr
}

// Namespace is the main namespace registered at start.
func (s *Server) Namespace() string { return s.namespace }

// Stop stops the UI and the server, letting in-flight requests finish. A
// DBFile server keeps its state for the next Start on the same file. Stop is
// safe to call more than once; later calls return the first call's result.
func (s *Server) Stop() error {
	s.stopOnce.Do(func() {
		s.logger.stopping.Store(true)
		if s.ui != nil {
			s.ui.stop()
		}
		if err := recoverFatal(s.temporal.Stop); err != nil {
			s.stopErr = fmt.Errorf("temporal dev server: stop: %w", err)
		}
	})
	return s.stopErr
}
