package worker

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	tlog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/cordon-ir/cordon/actions"
	"github.com/cordon-ir/cordon/intake/source"
	"github.com/cordon-ir/cordon/worker/metrics"
	"github.com/cordon-ir/cordon/workflows"
)

// Dial connects to Temporal as the configuration says: a local dev server,
// a cluster with mTLS, or Temporal Cloud with an API key.
func Dial(ctx context.Context, cfg TemporalConfig, logger *slog.Logger) (client.Client, error) {
	opts := client.Options{
		HostPort:  cfg.Address,
		Namespace: cfg.Namespace,
		Logger:    tlog.NewStructuredLogger(logger),
	}
	if cfg.TLS.Enabled || cfg.APIKey != "" {
		tlsCfg := &tls.Config{ServerName: cfg.TLS.ServerName, MinVersion: tls.VersionTLS12}
		if cfg.TLS.CertFile != "" {
			cert, err := tls.LoadX509KeyPair(cfg.TLS.CertFile, cfg.TLS.KeyFile)
			if err != nil {
				return nil, fmt.Errorf("temporal TLS client certificate: %w", err)
			}
			tlsCfg.Certificates = []tls.Certificate{cert}
		}
		if cfg.TLS.CAFile != "" {
			pem, err := os.ReadFile(cfg.TLS.CAFile)
			if err != nil {
				return nil, fmt.Errorf("temporal TLS CA: %w", err)
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("temporal TLS CA %s: no certificates found", cfg.TLS.CAFile)
			}
			tlsCfg.RootCAs = pool
		}
		opts.ConnectionOptions.TLS = tlsCfg
	}
	if cfg.APIKey != "" {
		opts.Credentials = client.NewAPIKeyStaticCredentials(cfg.APIKey)
	}
	c, err := client.DialContext(ctx, opts)
	if err != nil {
		return nil, fmt.Errorf("connect to Temporal at %s (namespace %s): %w", cfg.Address, cfg.Namespace, err)
	}
	return c, nil
}

// GateNotifier tells people about gates (the cordon.notify_gate activity);
// actions.Notifier is the other kind, the slack.notify action's messages.
// Slack implements both; LogGateNotifier
// writes to the log.
type GateNotifier interface {
	NotifyGate(ctx context.Context, n workflows.GateNotice) error
}

// LogGateNotifier logs gate notices, for runs without Slack.
type LogGateNotifier struct{ Logger *slog.Logger }

// NotifyGate implements GateNotifier.
func (l LogGateNotifier) NotifyGate(_ context.Context, n workflows.GateNotice) error {
	l.Logger.Info("gate", "run", n.RunID, "step", n.Step, "item", n.Item, "kind", n.Kind,
		"min_approvals", n.Gate.MinApprovals, "preview_hash", n.Gate.PreviewHash, "changes", len(n.Changes))
	return nil
}

// Options configure a worker beyond the configuration file.
type Options struct {
	Logger   *slog.Logger
	Notifier GateNotifier
	// Clients overrides the AWS client source (tests).
	Clients actions.ClientSource
	// ActionNotifier posts slack.notify messages.
	ActionNotifier actions.Notifier
	// MaxConcurrentActivities bounds AWS calls in flight from this worker.
	MaxConcurrentActivities int
	// PollInterval is how often long waits (snapshots) poll AWS; it
	// overrides aws.poll_interval.
	PollInterval time.Duration
	// MetricsListening, when set, is told the URL of the metrics endpoint
	// once it serves (metrics.listen may ask for port 0).
	MetricsListening func(url string)
	// Roster, when set, is read before every decision (FileRoster); the
	// default is the configuration's roster as it was at start.
	Roster RosterLoader
	// RateShare tunes how the worker takes its share of the AWS rate
	// limits among the workers of its task queue (aws.share_rate_limit);
	// the zero value is the production default.
	RateShare RateShareOptions
}

// Register registers the interpreter workflow and every activity on w:
// one activity per implemented action (named after it, so history reads
// like the runbook), the roster loader (cfg's roster), the plan voucher
// (cfg's runbook source) and the gate notifier. Runs write no search
// attributes and hold no target locks (RegisterWith says when they may).
func Register(w worker.Registry, cfg *Config, rt *actions.Runtime, notifier GateNotifier) {
	RegisterWith(w, Registration{Config: cfg, Runtime: rt, Notifier: notifier})
}

// Registration is what a worker registers, beyond the workflow itself.
type Registration struct {
	Config   *Config
	Runtime  *actions.Runtime
	Notifier GateNotifier
	// Roster is read before every decision a run judges; default the
	// configuration's roster as it was at start.
	Roster RosterLoader
	// SearchAttributes says the namespace has Cordon's search attributes
	// registered (CheckSearchAttributes): the roster the runs load says
	// so, and only then do they write them.
	SearchAttributes bool
	// Client, when set, holds one containment per target: the target
	// lock workflows run on the configuration's task queue.
	Client client.Client
	Logger *slog.Logger
	// AWS reaches the accounts the findings of the intake's starts are
	// fetched in again (TriggerVerifier); nil: the worker refuses every
	// start the intake signs, having no way to verify it.
	AWS source.Configs
}

// RegisterWith registers what r describes on w.
func RegisterWith(w worker.Registry, r Registration) {
	cfg, rt := r.Config, r.Runtime
	roster := r.Roster
	if roster == nil {
		roster = StaticRoster(cfg.WorkflowRoster())
	}
	logger := r.Logger
	if logger == nil {
		logger = slog.Default()
	}
	w.RegisterWorkflowWithOptions(workflows.Runbook, workflow.RegisterOptions{Name: workflows.WorkflowName})
	w.RegisterWorkflowWithOptions(workflows.TargetLock, workflow.RegisterOptions{Name: workflows.TargetLockWorkflowName})
	for name, fn := range rt.Activities() {
		w.RegisterActivityWithOptions(fn, activity.RegisterOptions{Name: name})
	}
	searchAttributes := r.SearchAttributes
	w.RegisterActivityWithOptions(func(ctx context.Context) (workflows.Roster, error) {
		r, err := roster(ctx)
		r.SearchAttributes = searchAttributes
		return r, err
	}, activity.RegisterOptions{Name: workflows.ActivityLoadRoster})
	plans := cfg.PlanSource()
	if rt != nil {
		// The worker's own AWS access checks, once a run's start is
		// authenticated and before anything runs, that the instances its
		// inputs name exist.
		plans.Instances = rt
	}
	w.RegisterActivityWithOptions(plans.Vouch, activity.RegisterOptions{Name: workflows.ActivityVouchPlan})
	w.RegisterActivityWithOptions(plans.CheckInstances, activity.RegisterOptions{Name: workflows.ActivityCheckInstances})
	w.RegisterActivityWithOptions(NewTriggerVerifier(cfg, r.AWS).Verify, activity.RegisterOptions{Name: workflows.ActivityVerifyTrigger})
	w.RegisterActivityWithOptions(r.Notifier.NotifyGate, activity.RegisterOptions{Name: workflows.ActivityNotifyGate})
	locks := TargetLocks{Client: r.Client, TaskQueue: cfg.Temporal.TaskQueue, Logger: logger}
	w.RegisterActivityWithOptions(locks.Claim, activity.RegisterOptions{Name: workflows.ActivityClaimTargets})
	w.RegisterActivityWithOptions(locks.Release, activity.RegisterOptions{Name: workflows.ActivityReleaseTargets})
}

// RosterLoader returns the roster and policy as they are now.
type RosterLoader func(ctx context.Context) (workflows.Roster, error)

// StaticRoster always returns r.
func StaticRoster(r workflows.Roster) RosterLoader {
	return func(context.Context) (workflows.Roster, error) { return r, nil }
}

// FileRoster reads the roster and policy from the configuration file at
// every call, so removing a member from the file (or changing their roles)
// takes their authority away from runs already going at their next
// request, without restarting anything. A file that no longer loads is an
// error (the run refuses the decision and says why) rather than a fallback
// to an older roster.
func FileRoster(path string, allowUnsigned bool) RosterLoader {
	return func(context.Context) (workflows.Roster, error) {
		cfg, err := LoadConfig(path)
		if err != nil {
			return workflows.Roster{}, fmt.Errorf("reload the roster: %w", err)
		}
		if err := cfg.CheckSignaturesRequired(allowUnsigned); err != nil {
			return workflows.Roster{}, fmt.Errorf("reload the roster from %s: %w", path, err)
		}
		return cfg.WorkflowRoster(), nil
	}
}

// NewRuntime builds the action runtime from the configuration.
func NewRuntime(ctx context.Context, cfg *Config, opts Options) (*actions.Runtime, error) {
	rt, _, err := newRuntime(ctx, cfg, opts, nil)
	return rt, err
}

// newRuntime is NewRuntime with the metrics sink of the AWS clients it
// builds (nil = none); it also returns the client source the runtime
// calls AWS through.
func newRuntime(ctx context.Context, cfg *Config, opts Options, awsMetrics actions.Metrics) (*actions.Runtime, actions.ClientSource, error) {
	clients := opts.Clients
	if clients == nil {
		src, err := NewAWSClientSource(ctx, cfg, nil, awsMetrics)
		if err != nil {
			return nil, nil, err
		}
		clients = src
	}
	poll := opts.PollInterval
	if poll <= 0 {
		poll = cfg.AWS.PollInterval
	}
	return actions.NewRuntime(actions.Options{Clients: clients, Notifier: opts.ActionNotifier, Logger: opts.Logger, PollInterval: poll,
		QuarantineGroupIDs: cfg.AWS.QuarantineGroupIDs, ForensicEndpoints: cfg.AWS.ForensicEndpoints, Evidence: cfg.Evidence}), clients, nil
}

// NewAWSClientSource is the AWS client source the configuration
// describes: base credentials (nil: the worker's own, found the standard
// way), each aws.accounts entry's role, aws.endpoint and the rate limits.
// The worker's actions and the intake's calls to the finding sources reach
// AWS through it alike.
func NewAWSClientSource(ctx context.Context, cfg *Config, base *aws.Config, awsMetrics actions.Metrics) (*actions.AWSClientSource, error) {
	var b aws.Config
	if base != nil {
		b = *base
	} else {
		var err error
		if b, err = LoadAWSConfig(ctx, cfg.AWS.Region); err != nil {
			return nil, err
		}
	}
	accounts := map[string]actions.Account{}
	for name, a := range cfg.AWS.Accounts {
		acct := actions.Account{RoleARN: a.RoleARN, ExternalID: a.ExternalID}
		if a.RateLimit != nil {
			limit := actions.RateLimit(*a.RateLimit)
			acct.RateLimit = &limit
		}
		accounts[name] = acct
	}
	limit := DefaultRateLimit()
	if cfg.AWS.RateLimit != nil {
		limit = *cfg.AWS.RateLimit
	}
	return actions.NewAWSClientSource(actions.AWSOptions{Base: b, Accounts: accounts, Endpoint: cfg.AWS.Endpoint,
		RateLimit: actions.RateLimit(limit), Metrics: awsMetrics}), nil
}

// configuredLimits are every rate limit the configuration sets: the
// worker-wide one (or the default) and each account's own.
func configuredLimits(cfg *Config) []RateLimitConfig {
	limits := []RateLimitConfig{DefaultRateLimit()}
	if cfg.AWS.RateLimit != nil {
		limits[0] = *cfg.AWS.RateLimit
	}
	for _, a := range cfg.AWS.Accounts {
		if a.RateLimit != nil {
			limits = append(limits, *a.RateLimit)
		}
	}
	return limits
}

// startRateShare takes this worker's first share of the AWS rate limits
// (before it polls, so its first calls already spend only its share) and
// keeps it current until ctx is done; wait returns once it has stopped.
// Nothing is shared when the configuration says not to
// (aws.share_rate_limit: false) or the client source cannot be shared.
func startRateShare(ctx context.Context, c client.Client, cfg *Config, opts Options, clients actions.ClientSource, identity string) (wait func()) {
	target, ok := clients.(rateSharer)
	if !ok || (cfg.AWS.ShareRateLimit != nil && !*cfg.AWS.ShareRateLimit) {
		opts.Logger.Info("AWS rate limit not shared: this worker spends the whole configured rate", "task_queue", cfg.Temporal.TaskQueue)
		return func() {}
	}
	s := &rateShare{
		queue: cfg.Temporal.TaskQueue, self: identity, pollers: taskQueuePollers(c, cfg.Temporal.TaskQueue), target: target,
		every: opts.RateShare.Every, hold: opts.RateShare.Hold, logger: opts.Logger, now: time.Now,
	}
	if s.every <= 0 {
		s.every = 10 * time.Second
	}
	if s.hold <= 0 {
		s.hold = shareHold(configuredLimits(cfg)...)
	}
	s.refresh(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.run(ctx)
	}()
	return func() { <-done }
}

// Run starts a worker on the configured task queue and blocks until ctx is
// done (SIGTERM), then stops gracefully: activities in flight get their
// context cancelled and Temporal retries them elsewhere.
func Run(ctx context.Context, c client.Client, cfg *Config, opts Options) error {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Notifier == nil {
		opts.Notifier = LogGateNotifier{Logger: opts.Logger}
	}
	var awsMetrics actions.Metrics
	if cfg.Metrics.Listen != "" {
		m, err := metrics.Serve(ctx, cfg.Metrics.Listen, opts.Logger)
		if err != nil {
			return err
		}
		if opts.MetricsListening != nil {
			opts.MetricsListening(m.URL())
		}
		defer func() {
			// ctx is usually done by now; give a scrape in progress a moment.
			closeCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			defer cancel()
			if err := m.Close(closeCtx); err != nil {
				opts.Logger.Warn("metrics endpoint", "err", err)
			}
		}()
		// The SDK reports through the metrics handler of the client the
		// worker is built on, fixed when that client is made. The caller
		// dialed c; a client sharing its connection carries ours.
		mc, err := client.NewClientFromExistingWithContext(ctx, c, client.Options{
			Namespace: cfg.Temporal.Namespace, Logger: tlog.NewStructuredLogger(opts.Logger), MetricsHandler: m.SDK,
		})
		if err != nil {
			return fmt.Errorf("attach the metrics handler to the Temporal client: %w", err)
		}
		defer mc.Close() // closes the connection only if the caller already closed c
		c, awsMetrics = mc, m.AWS
	}
	rt, clients, err := newRuntime(ctx, cfg, opts, awsMetrics)
	if err != nil {
		return err
	}
	// Its own identity, so that the other workers count this one apart
	// from any other of the same process (rate limit sharing).
	identity := workerIdentity()
	shareCtx, stopShare := context.WithCancel(ctx)
	shareStopped := startRateShare(shareCtx, c, cfg, opts, clients, identity)
	defer func() {
		stopShare()
		shareStopped()
	}()
	w := worker.New(c, cfg.Temporal.TaskQueue, worker.Options{
		MaxConcurrentActivityExecutionSize: opts.MaxConcurrentActivities,
		WorkerStopTimeout:                  10 * time.Second,
		Identity:                           identity,
	})
	roster := opts.Roster
	if roster == nil {
		roster = StaticRoster(cfg.WorkflowRoster())
	}
	reg := Registration{Config: cfg, Runtime: rt, Notifier: opts.Notifier, Roster: roster,
		SearchAttributes: CheckSearchAttributes(ctx, c, cfg.Temporal.Namespace, opts.Logger), Client: c, Logger: opts.Logger}
	if aws, ok := clients.(source.Configs); ok {
		reg.AWS = aws
	}
	RegisterWith(w, reg)
	if err := w.Start(); err != nil {
		return fmt.Errorf("start worker on task queue %s: %w", cfg.Temporal.TaskQueue, err)
	}
	opts.Logger.Info("worker started", "task_queue", cfg.Temporal.TaskQueue, "namespace", cfg.Temporal.Namespace, "actions", len(rt.Implemented()))
	<-ctx.Done()
	w.Stop()
	opts.Logger.Info("worker stopped")
	return nil
}
