package intake

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"go.temporal.io/sdk/client"
	"golang.org/x/crypto/ssh"

	"github.com/cordon-ir/cordon/actions"
	"github.com/cordon-ir/cordon/intake/source"
	"github.com/cordon-ir/cordon/runbooks"
	"github.com/cordon-ir/cordon/worker"
	"github.com/cordon-ir/cordon/workflows"
)

// ServiceOptions configure a Service: cordon intake's, or the demo's.
type ServiceOptions struct {
	// Config is the configuration (its intake section, the roster, the
	// AWS accounts, the runbook source, Temporal's task queue).
	Config *worker.Config
	// Client reaches the Temporal namespace.
	Client client.Client
	// Signer is the intake's key; nil: read from intake.key.
	Signer ssh.Signer
	// Notifier posts proposals, notices and alerts; nil: the log.
	Notifier actions.Notifier
	// AWS holds the intake's own credentials and region; nil: found the
	// standard way (environment, shared config, instance or task role).
	AWS *aws.Config
	// Plans replaces the runbook source's plans (nil: runbooks.dir,
	// compiled again at most every PlansEvery).
	Plans      func(context.Context) ([]*runbooks.Plan, error)
	PlansEvery time.Duration
	Logger     *slog.Logger
	// Tune adjusts the Temporal side's options (tests shorten waits).
	Tune func(*Options)
	// OnHandled is told what became of every delivered event.
	OnHandled func(Received, Handled, error)
}

// Service is the whole intake: the SQS loops, the HTTPS endpoint, and
// the intake's Temporal worker (finding, batch and breaker workflows).
type Service struct {
	o        ServiceOptions
	opts     Options
	counters *Counters
	receiver *Receiver
	web      *Receiver
	loops    []*SQSLoop
	listener net.Listener
}

// How long a delivery waits for the finding workflows to say what they
// made of it, at most: the finding is durable once submitted, whatever
// the answer, which is for the log (and the HTTPS reply). An HTTPS request
// has 5 seconds before EventBridge gives up on an API destination; an SQS
// message holds a slot of its loop while it waits.
const (
	httpsOutcomeWait = 2 * time.Second
	sqsOutcomeWait   = time.Second
)

// NewService checks the configuration, reads the intake's key, learns
// which accounts findings may come from, and opens the HTTPS listener
// (so Addr is known before Run).
func NewService(ctx context.Context, o ServiceOptions) (*Service, error) {
	withDefaults := *o.Config
	withDefaults.Intake = withDefaults.Intake.WithDefaults()
	cfg := &withDefaults
	o.Config = cfg
	check := *cfg
	if o.Signer != nil && check.Intake.Key == "" {
		check.Intake.Key = "(given)" // no file to read
	}
	if err := check.CheckIntake(); err != nil {
		return nil, err
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	signer := o.Signer
	if signer == nil {
		var err error
		if signer, err = worker.LoadServiceKey(cfg.Intake.Key, "intake key"); err != nil {
			return nil, err
		}
	}
	if err := checkIntakeKey(cfg.WorkflowRoster(), cfg.Intake.Member, signer); err != nil {
		return nil, err
	}
	base := o.AWS
	if base == nil {
		b, err := worker.LoadAWSConfig(ctx, cfg.AWS.Region)
		if err != nil {
			return nil, err
		}
		base = &b
	}
	src, err := worker.NewAWSClientSource(ctx, cfg, base, nil)
	if err != nil {
		return nil, err
	}
	accounts, err := intakeAccounts(ctx, cfg, *base)
	if err != nil {
		return nil, err
	}
	plans := o.Plans
	if plans == nil {
		plans = CachedPlans(cfg.PlanSource().Plans, o.PlansEvery)
	}
	s := &Service{o: o, counters: &Counters{}}
	s.opts = Options{TaskQueue: cfg.Intake.TaskQueue, RunTaskQueue: cfg.Temporal.TaskQueue, IntakeID: cfg.Intake.Member,
		Signer: signer, Notifier: o.Notifier, Logger: o.Logger}
	if o.Tune != nil {
		o.Tune(&s.opts)
	}
	ro := ReceiverOptions{Plans: plans, Source: source.New(src, "intake"), Accounts: accounts, Notifier: o.Notifier, Logger: o.Logger,
		Counters: s.counters, OnHandled: o.OnHandled}
	queued := s.opts
	queued.OutcomeWait = shorter(queued.OutcomeWait, sqsOutcomeWait)
	ro.Launcher = NewLauncher(o.Client, queued)
	if s.receiver, err = NewReceiver(ro); err != nil {
		return nil, err
	}
	if cfg.Intake.QueueURL != "" {
		qcfg := base.Copy()
		qcfg.Region = cfg.Intake.QueueRegion(cfg.AWS)
		if cfg.AWS.Endpoint != "" {
			qcfg.BaseEndpoint = aws.String(cfg.AWS.Endpoint)
		}
		// The intake's own credentials, without the accounts' rate
		// limits (made for EC2's buckets): SQS meters a queue far higher.
		client := sqs.NewFromConfig(qcfg)
		for range cfg.Intake.Receivers {
			l, err := NewSQSLoop(s.receiver, SQSOptions{QueueURL: cfg.Intake.QueueURL, Client: client,
				Wait: time.Duration(cfg.Intake.WaitSeconds) * time.Second, Logger: o.Logger})
			if err != nil {
				return nil, err
			}
			s.loops = append(s.loops, l)
		}
	}
	if h := cfg.Intake.HTTPS; h.Listen != "" {
		web := s.opts
		web.OutcomeWait = shorter(web.OutcomeWait, httpsOutcomeWait)
		ro.Launcher = NewLauncher(o.Client, web)
		if s.web, err = NewReceiver(ro); err != nil {
			return nil, err
		}
		if s.listener, err = net.Listen("tcp", h.Listen); err != nil {
			return nil, fmt.Errorf("intake HTTPS endpoint: listen on %s: %w", h.Listen, err)
		}
	}
	return s, nil
}

// shorter is the outcome wait w, at most limit (0 is the default wait;
// negative, no wait, stays).
func shorter(w, limit time.Duration) time.Duration {
	if w == 0 || w > limit {
		return limit
	}
	return w
}

// Addr is the HTTPS endpoint's address ("" without one).
func (s *Service) Addr() string {
	if s.listener == nil {
		return ""
	}
	return s.listener.Addr().String()
}

// Counters count what the intake did.
func (s *Service) Counters() *Counters { return s.counters }

// Receiver is the receiver the SQS loops hand messages to.
func (s *Service) Receiver() *Receiver { return s.receiver }

// Options are the Temporal side's options, as the service runs them.
func (s *Service) Options() Options { return s.opts }

// Run runs the intake's worker, its SQS loops and its HTTPS endpoint until
// ctx is done, then stops them; an error is one that stopped a part early
// (the worker could not start, the listener failed).
func (s *Service) Run(ctx context.Context) error {
	cfg := s.o.Config
	w, err := NewWorker(s.o.Client, s.opts)
	if err != nil {
		return err
	}
	if err := w.Start(); err != nil {
		return fmt.Errorf("start the intake's worker on task queue %s: %w", s.opts.TaskQueue, err)
	}
	defer w.Stop()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	errs := make(chan error, 1+len(s.loops))
	if len(s.loops) > 0 {
		s.checkQueue(ctx)
	}
	for _, l := range s.loops {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- l.Run(ctx)
		}()
	}
	if s.listener != nil {
		h, err := NewHTTPHandler(s.web, HTTPOptions{Secret: cfg.Intake.HTTPS.Secret, Header: cfg.Intake.HTTPS.Header,
			MaxBodyBytes: cfg.Intake.HTTPS.MaxBodyBytes, Logger: s.o.Logger})
		if err != nil {
			return err
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := ServeHTTP(ctx, s.listener, h, cfg.Intake.HTTPS.CertFile, cfg.Intake.HTTPS.KeyFile)
			if err != nil {
				cancel() // the endpoint is part of the intake: stop the rest with it
			}
			errs <- err
		}()
	}
	s.o.Logger.Info("intake started", "member", s.opts.IntakeID, "task_queue", s.opts.TaskQueue, "runs_on", s.opts.RunTaskQueue,
		"queue", cfg.Intake.QueueURL, "loops", len(s.loops), "https", s.Addr())
	<-ctx.Done()
	wg.Wait()
	close(errs)
	var all []error
	for err := range errs {
		all = append(all, err)
	}
	s.o.Logger.Info("intake stopped", "counters", s.counters.String())
	return errors.Join(all...)
}

// checkQueue logs how the queue is set up: a queue without a dead-letter
// queue keeps a malformed message for ever, which deserves a warning.
func (s *Service) checkQueue(ctx context.Context) {
	attrs, err := s.loops[0].QueueAttributes(ctx)
	switch {
	case err != nil:
		s.o.Logger.Warn("intake: cannot read the queue's attributes (sqs:GetQueueAttributes); reading it anyway", "err", err)
	case attrs["RedrivePolicy"] == "":
		s.o.Logger.Warn("intake: the queue has no redrive policy: a malformed message comes back for ever instead of going to a dead-letter queue (docs/triggers.md)",
			"queue", s.o.Config.Intake.QueueURL)
	default:
		s.o.Logger.Info("intake: queue", "queue", s.o.Config.Intake.QueueURL, "redrive_policy", attrs["RedrivePolicy"], "visibility_timeout", attrs["VisibilityTimeout"])
	}
}

// checkIntakeKey makes sure the roster holds the intake's key for its
// member: otherwise every start it signs would be refused, one finding at
// a time.
func checkIntakeKey(r workflows.Roster, member string, signer ssh.Signer) error {
	fp := ssh.FingerprintSHA256(signer.PublicKey())
	i := slices.IndexFunc(r.Members, func(m workflows.Member) bool { return m.ID == member })
	if i >= 0 && slices.ContainsFunc(r.Members[i].PublicKeys, func(k string) bool { return workflows.Fingerprint(k) == fp }) {
		return nil
	}
	return fmt.Errorf("the roster's member %s does not hold the intake's key %s: add to its public_keys %q", member, fp,
		strings.TrimSpace(string(ssh.MarshalAuthorizedKey(signer.PublicKey()))))
}

// intakeAccounts maps the accounts findings may come from to their
// configured names: aws.accounts, or, without any, the intake's own
// account (asked of STS), whose runs keep their account input's default.
func intakeAccounts(ctx context.Context, cfg *worker.Config, base aws.Config) (source.Accounts, error) {
	ids, err := cfg.AccountIDs()
	if err != nil {
		return source.Accounts{}, err
	}
	if len(ids) > 0 {
		return source.NewAccounts(ids), nil
	}
	c := base.Copy()
	if cfg.AWS.Endpoint != "" {
		c.BaseEndpoint = aws.String(cfg.AWS.Endpoint)
	}
	own, err := source.OwnAccount(ctx, c)
	if err != nil {
		return source.Accounts{}, fmt.Errorf("the intake: %w", err)
	}
	return source.NewAccounts(map[string]string{own: ""}), nil
}

// CachedPlans compiles the runbook source with load at most every ttl
// (default 10s): a reviewed change reaches the intake within ttl, and a
// storm of findings does not compile the runbooks for each.
func CachedPlans(load func() ([]*runbooks.Plan, error), ttl time.Duration) func(context.Context) ([]*runbooks.Plan, error) {
	if ttl <= 0 {
		ttl = 10 * time.Second
	}
	var (
		mu     sync.Mutex
		plans  []*runbooks.Plan
		loaded time.Time
	)
	return func(context.Context) ([]*runbooks.Plan, error) {
		mu.Lock()
		defer mu.Unlock()
		if plans != nil && time.Since(loaded) < ttl {
			return plans, nil
		}
		p, err := load()
		if err != nil {
			return nil, err
		}
		plans, loaded = p, time.Now()
		return plans, nil
	}
}
