// Package sandbox starts the world Cordon runs in on one machine: the
// embedded Temporal server (worker/devserver), the wire-level AWS emulator
// (internal/awsemu), a Temporal client, workers of the real interpreter on
// task queues of the caller's choosing, and rosters whose keys exist only
// for the sandbox. The demo, the bench, `cordon dev` and the end-to-end
// tests (internal/e2e, worker/slack/slacke2e, worker/metrics/metricse2e)
// all stand on it, so they exercise one wiring, the production one: a
// worker here is worker.RegisterWith with the configured roster, runbook
// source and notifiers, and its actions are the real runtime pointed at
// the emulator.
//
// It owns starting those pieces and stopping them in the reverse order. It
// holds no business rules (what a run does, who may approve what: that is
// workflows' and the roster's) and no story (what fleet to seed, what to
// print: that is its callers'). It links the Temporal server, so it must
// not be imported by runbooks/, workflows/ or actions/ (a test checks),
// nor by the production worker packages (worker/, worker/slack); only
// programs and tests that run a server on this machine import it.
package sandbox

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"go.temporal.io/sdk/client"
	sdkworker "go.temporal.io/sdk/worker"

	"github.com/cordon-ir/cordon/actions"
	"github.com/cordon-ir/cordon/evidence"
	"github.com/cordon-ir/cordon/intake/source"
	"github.com/cordon-ir/cordon/internal/awsemu"
	"github.com/cordon-ir/cordon/worker"
	"github.com/cordon-ir/cordon/worker/devserver"
	"github.com/cordon-ir/cordon/workflows"
)

// Options configure Start. The zero value is an in-memory Temporal server
// on 127.0.0.1, an emulator, and a client, all logging nowhere.
type Options struct {
	// Logger receives the infrastructure's own logs: the server's, the
	// emulator's, the SDK's and the action runtimes'. Default: discarded.
	Logger *slog.Logger
	// Temporal, when set, is a running Temporal server (its address and
	// namespace) to use instead of starting one in this process: tests
	// that start several sandboxes share one server this way.
	Temporal *worker.TemporalConfig
	// Server configures the in-process server (ignored with Temporal): a
	// SQLite file, a fixed port, the Web UI. Its Logger defaults to Logger,
	// its SearchAttributes to Cordon's (workflows.SearchAttributeTypes).
	Server devserver.Options
	// AWS, when set, is a running emulator to use instead of starting one:
	// tests that start a server of their own next to a shared emulator.
	// Close leaves it running.
	AWS *awsemu.Emulator
	// NoEmulator starts no AWS emulator: workers reach real AWS (cordon dev
	// without --sandbox). AWSClients and NewRuntime need the emulator.
	NoEmulator bool
	// Emulator configures the emulator started (ignored with AWS). Its
	// Logger defaults to Logger.
	Emulator awsemu.Options
}

// Sandbox is a running server (or a connection to one), emulator and
// client, and the workers started on them. Its methods are safe for
// concurrent use.
type Sandbox struct {
	logger   *slog.Logger
	server   *devserver.Server // nil with Options.Temporal
	temporal worker.TemporalConfig
	emu      *awsemu.Emulator // nil with Options.NoEmulator
	ownEmu   bool             // started here, so stopped by Close
	client   client.Client

	mu      sync.Mutex
	workers []sdkworker.Worker
	closed  bool
}

// Start starts the Temporal server (unless Options.Temporal names one),
// the AWS emulator (unless Options.NoEmulator) and dials a client. ctx
// bounds starting; the sandbox runs until Close. On error, whatever had
// started is stopped again.
func Start(ctx context.Context, o Options) (s *Sandbox, err error) {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	s = &Sandbox{logger: o.Logger}
	defer func() {
		if err != nil {
			if cerr := s.Close(); cerr != nil {
				s.logger.Warn("sandbox: stop after a failed start", "err", cerr)
			}
			s = nil
		}
	}()
	if o.Temporal != nil {
		s.temporal = *o.Temporal
		s.temporal.TaskQueue = "" // each worker names its own
	} else {
		if o.Server.Logger == nil {
			o.Server.Logger = o.Logger
		}
		if o.Server.SearchAttributes == nil {
			o.Server.SearchAttributes = workflows.SearchAttributeTypes()
		}
		if s.server, err = devserver.Start(ctx, o.Server); err != nil {
			return s, fmt.Errorf("start the in-process Temporal server: %w", err)
		}
		s.temporal = worker.TemporalConfig{Address: s.server.FrontendAddress(), Namespace: s.server.Namespace()}
	}
	switch {
	case o.AWS != nil:
		s.emu = o.AWS
	case !o.NoEmulator:
		if o.Emulator.Logger == nil {
			o.Emulator.Logger = o.Logger
		}
		emu := awsemu.New(o.Emulator)
		if _, err := emu.Start(ctx); err != nil {
			return s, fmt.Errorf("start the AWS emulator: %w", err)
		}
		s.emu, s.ownEmu = emu, true
	}
	if s.client, err = worker.Dial(ctx, s.temporal, o.Logger); err != nil {
		return s, err // worker.Dial says where it tried
	}
	return s, nil
}

// Server is the in-process Temporal server, or nil when Options.Temporal
// named a running one.
func (s *Sandbox) Server() *devserver.Server { return s.server }

// Temporal is where the server is (address, namespace), as a worker's or
// the CLI's configuration names it; no task queue.
func (s *Sandbox) Temporal() worker.TemporalConfig { return s.temporal }

// Emulator is the AWS emulator (started here or Options.AWS), or nil with
// Options.NoEmulator.
func (s *Sandbox) Emulator() *awsemu.Emulator { return s.emu }

// Client is the sandbox's Temporal client. Close closes it.
func (s *Sandbox) Client() client.Client { return s.client }

// AWSClients is an AWS client source whose every call goes to the
// emulator with its static credentials, paced per action by limit (zero:
// unlimited). It panics without an emulator (Options.NoEmulator).
func (s *Sandbox) AWSClients(limit actions.RateLimit) actions.ClientSource {
	return s.awsClients(limit, "", nil)
}

// awsClients is AWSClients reaching the emulator at endpoint (default its
// own URL), with the accounts a configuration names.
func (s *Sandbox) awsClients(limit actions.RateLimit, endpoint string, accounts map[string]actions.Account) actions.ClientSource {
	if s.emu == nil {
		panic("sandbox: AWS clients without an AWS emulator (Options.NoEmulator)")
	}
	if endpoint == "" {
		endpoint = s.emu.URL()
	}
	return actions.NewAWSClientSource(actions.AWSOptions{Base: s.emu.AWSConfig(), Endpoint: endpoint, RateLimit: limit, Accounts: accounts})
}

// RuntimeOptions configure NewRuntime.
type RuntimeOptions struct {
	// Notifier posts slack.notify messages; default: the runtime's own
	// (logged).
	Notifier actions.Notifier
	// PollInterval is how often long waits (snapshots) poll the emulator;
	// default: the runtime's (15s).
	PollInterval time.Duration
	// RateLimit paces calls per action (zero: unlimited).
	RateLimit actions.RateLimit
	// Endpoint is where the calls go, with the emulator's credentials and
	// region; default the emulator's URL. Tests put a recorder or a proxy
	// in front of the emulator this way.
	Endpoint string
	// Accounts are the accounts the runbooks and the evidence store name
	// (aws.accounts), e.g. the forensic account's role; default none: the
	// emulator's credentials, in its default account.
	Accounts map[string]actions.Account
	// Evidence is the evidence store (the worker configuration's evidence
	// section); default none.
	Evidence evidence.Config
}

// AWSClientsWith is the client source NewRuntime(o) calls AWS through:
// the emulator, at o.Endpoint, with o's accounts and pacing.
func (s *Sandbox) AWSClientsWith(o RuntimeOptions) actions.ClientSource {
	return s.awsClients(o.RateLimit, o.Endpoint, o.Accounts)
}

// NewRuntime is the real action runtime with every call going to the
// emulator, logging to the sandbox's logger. It panics without an
// emulator (Options.NoEmulator).
func (s *Sandbox) NewRuntime(o RuntimeOptions) *actions.Runtime {
	return actions.NewRuntime(actions.Options{
		Clients:      s.AWSClientsWith(o),
		Notifier:     o.Notifier,
		Logger:       s.logger,
		PollInterval: o.PollInterval,
		Evidence:     o.Evidence,
	})
}

// WorkerConfig is the configuration of a worker on this sandbox: its
// server and taskQueue, roster r (signatures required), the runbook source
// runbookDir it vouches for (empty: none, every plan waits for a lead) and,
// with an emulator, the emulator as its AWS endpoint and region. Callers
// add what else they need (Slack, metrics, policy) before StartWorker, or
// write it out for a worker process of their own.
func (s *Sandbox) WorkerConfig(taskQueue string, r *Roster, runbookDir string) *worker.Config {
	cfg := &worker.Config{Temporal: s.temporal, Roster: r.Config()}
	cfg.Temporal.TaskQueue = taskQueue
	cfg.Runbooks.Dir = runbookDir
	if s.emu != nil {
		cfg.AWS = worker.AWSConfig{Region: s.emu.Region(), Endpoint: s.emu.URL()}
	}
	return cfg
}

// WorkerOptions configure StartWorker.
type WorkerOptions struct {
	// Config is the worker's configuration (WorkerConfig, with anything
	// added): it polls Config.Temporal.TaskQueue, vouches for the runbooks
	// in Config.Runbooks.Dir and judges by Config's roster and policy.
	// Required; it is validated first.
	Config *worker.Config
	// Runtime runs the actions; default NewRuntime(RuntimeOptions{}).
	// Give one to share it (the bench's baseline calls it directly) or to
	// pace or notify.
	Runtime *actions.Runtime
	// Notifier is told about gates; default: logged to the sandbox's
	// logger (worker.LogGateNotifier).
	Notifier worker.GateNotifier
	// Roster is read before every decision a run judges; default the
	// configuration's roster as it is now (worker.StaticRoster). Tests
	// give a loader they change to show runs follow the live roster.
	Roster worker.RosterLoader
}

// StartWorker registers the interpreter workflow and every activity on a
// new worker of the sandbox's client, as a production worker does
// (worker.RegisterWith), and starts it on Config.Temporal.TaskQueue of the
// sandbox's server (Config's address is not dialed again). Close stops it;
// stopping it earlier (Stop) is allowed.
func (s *Sandbox) StartWorker(ctx context.Context, o WorkerOptions) (sdkworker.Worker, error) {
	if o.Config == nil {
		return nil, errors.New("start a sandbox worker: no configuration")
	}
	queue := o.Config.Temporal.TaskQueue
	if queue == "" {
		return nil, errors.New("start a sandbox worker: the configuration names no task queue")
	}
	if err := o.Config.Validate(); err != nil {
		return nil, fmt.Errorf("configuration of the worker on task queue %s: %w", queue, err)
	}
	if o.Runtime == nil {
		o.Runtime = s.NewRuntime(RuntimeOptions{})
	}
	if o.Notifier == nil {
		o.Notifier = worker.LogGateNotifier{Logger: s.logger}
	}
	if o.Roster == nil {
		o.Roster = worker.StaticRoster(o.Config.WorkflowRoster())
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("start the worker on task queue %s: %w", queue, err)
	}
	// As a production worker does: its runs write Cordon's search
	// attributes only if the namespace has them (the in-process server
	// registers them at start, a server of a test's own may not).
	searchAttrs := worker.CheckSearchAttributes(ctx, s.client, s.temporal.Namespace, s.logger)
	findings, err := s.findingSources(ctx, o.Config)
	if err != nil {
		return nil, fmt.Errorf("start the worker on task queue %s: %w", queue, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, fmt.Errorf("start the worker on task queue %s: the sandbox is closed", queue)
	}
	w := sdkworker.New(s.client, queue, sdkworker.Options{})
	worker.RegisterWith(w, worker.Registration{Config: o.Config, Runtime: o.Runtime, Notifier: o.Notifier, Roster: o.Roster,
		SearchAttributes: searchAttrs, Client: s.client, Logger: s.logger, AWS: findings})
	if err := w.Start(); err != nil {
		return nil, fmt.Errorf("start the worker on task queue %s: %w", queue, err)
	}
	s.workers = append(s.workers, w)
	return w, nil
}

// findingSources is how a worker of cfg reaches the findings' sources
// to verify the intake's starts, as a production worker does (its
// aws.accounts roles, its rate limits), every call going to the emulator;
// nil without one.
func (s *Sandbox) findingSources(ctx context.Context, cfg *worker.Config) (source.Configs, error) {
	if s.emu == nil {
		return nil, nil
	}
	c := *cfg
	c.AWS.Endpoint = s.emu.URL()
	base := s.emu.AWSConfig()
	src, err := worker.NewAWSClientSource(ctx, &c, &base, nil)
	if err != nil {
		return nil, fmt.Errorf("the AWS access that verifies findings: %w", err)
	}
	return src, nil
}

// Close stops the workers (last started first), closes the client, the
// emulator and the server, in that order: the reverse of starting (an
// emulator or server given in Options is left running). It is safe to call
// more than once; later calls do nothing. The emulator's state stays
// readable after Close.
func (s *Sandbox) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	workers := s.workers
	s.workers = nil
	s.mu.Unlock()

	for i := len(workers) - 1; i >= 0; i-- {
		workers[i].Stop()
	}
	if s.client != nil {
		s.client.Close()
	}
	var errs []error
	if s.ownEmu {
		if err := s.emu.Close(); err != nil {
			errs = append(errs, fmt.Errorf("stop the AWS emulator: %w", err))
		}
	}
	if s.server != nil {
		if err := s.server.Stop(); err != nil {
			errs = append(errs, fmt.Errorf("stop the in-process Temporal server: %w", err))
		}
	}
	return errors.Join(errs...)
}
