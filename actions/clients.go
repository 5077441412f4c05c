package actions

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	"github.com/aws/aws-sdk-go-v2/service/cloudtrail"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	elb "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancing"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go/middleware"
)

// Clients are the AWS service clients for one target.
type Clients struct {
	EC2         *ec2.Client
	IAM         *iam.Client
	AutoScaling *autoscaling.Client
	ELBv2       *elbv2.Client
	ELB         *elb.Client
	// The forensic services: who a role is (the forensic account's id for
	// a snapshot handover), memory and triage (SSM Run Command), the
	// evidence store (S3), the keys of a handover, the account's history.
	STS        *sts.Client
	SSM        *ssm.Client
	S3         *s3.Client
	KMS        *kms.Client
	CloudTrail *cloudtrail.Client
}

// ClientSource gives the clients for a target. Credentials stay inside
// the worker: they never pass through workflow history.
type ClientSource interface {
	Clients(ctx context.Context, target Target, run RunRef) (*Clients, error)
}

// Account says how the worker reaches one AWS account.
type Account struct {
	// RoleARN is assumed through STS for every run in this account; empty
	// means the worker's own credentials.
	RoleARN    string
	ExternalID string
	// RateLimit, when set, replaces AWSOptions.RateLimit for this account
	// (an account whose EC2 limits AWS raised can go faster).
	RateLimit *RateLimit
}

// AWSOptions configure an AWSClientSource.
type AWSOptions struct {
	// Base holds the worker's own credentials and default region.
	Base aws.Config
	// Accounts maps the account names runbooks use to how to reach them.
	Accounts map[string]Account
	// Endpoint, when set, sends every service to one URL: the sandbox
	// emulator. Never set in production.
	Endpoint string
	// SDKAttempts bounds the SDK's own quick retries (default 3): anything
	// longer is Temporal's to retry, visibly, with the step's backoff.
	SDKAttempts int
	// RateLimit bounds this worker's calls per account, region, service
	// and action, by class (mutating or read), unless the account sets its
	// own. Zero rates mean unlimited.
	RateLimit RateLimit
	// Metrics, when not nil, counts every AWS call attempt by outcome and
	// times the waits for RateLimit. Nil is off and costs nothing.
	Metrics Metrics
}

// AWSClientSource builds clients per account, region and run, assuming the
// account's role with a session name that carries the run id, so
// CloudTrail ties every call to the containment run that made it.
type AWSClientSource struct {
	opts     AWSOptions
	limiters *limiters
	mu       sync.Mutex
	cache    map[string]*targetConfig
}

// targetConfig is one account, region and run's AWS configuration, and
// the containment clients made from it (on first use).
type targetConfig struct {
	cfg     aws.Config
	clients *Clients
}

// maxCachedTargets bounds the client cache of a long-lived worker.
const maxCachedTargets = 512

// NewAWSClientSource returns a client source for the given options.
func NewAWSClientSource(opts AWSOptions) *AWSClientSource {
	if opts.SDKAttempts <= 0 {
		opts.SDKAttempts = 3
	}
	return &AWSClientSource{opts: opts, limiters: newLimiters(opts.Metrics), cache: map[string]*targetConfig{}}
}

// Clients implements ClientSource.
func (s *AWSClientSource) Clients(ctx context.Context, target Target, run RunRef) (*Clients, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	tc, err := s.target(target, run)
	if err != nil {
		return nil, err
	}
	if tc.clients == nil {
		cfg := tc.cfg
		tc.clients = &Clients{
			EC2:         ec2.NewFromConfig(cfg),
			IAM:         iam.NewFromConfig(cfg),
			AutoScaling: autoscaling.NewFromConfig(cfg),
			ELBv2:       elbv2.NewFromConfig(cfg),
			ELB:         elb.NewFromConfig(cfg),
			STS:         sts.NewFromConfig(cfg),
			SSM:         ssm.NewFromConfig(cfg),
			// The emulator serves S3 path-style only: a bucket's virtual
			// host (bucket.127.0.0.1) does not resolve.
			S3:         s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = s.opts.Endpoint != "" }),
			KMS:        kms.NewFromConfig(cfg),
			CloudTrail: cloudtrail.NewFromConfig(cfg),
		}
	}
	return tc.clients, nil
}

// Config is the AWS configuration the clients of target and run are made
// from: the account's role assumed for run, the endpoint, the rate limits
// of the account and region, the SDK's quick retries and the request-id
// log. Callers outside the action runtime (the detection intake's SQS,
// GuardDuty, Security Hub and Health clients) build their clients from
// it, so they reach an account exactly as the actions do.
func (s *AWSClientSource) Config(ctx context.Context, target Target, run RunRef) (aws.Config, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	tc, err := s.target(target, run)
	if err != nil {
		return aws.Config{}, err
	}
	return tc.cfg, nil
}

// target is the cached configuration of target and run, made on first
// use. Caller holds s.mu.
func (s *AWSClientSource) target(target Target, run RunRef) (*targetConfig, error) {
	acct, ok := s.opts.Accounts[target.Account]
	if !ok && target.Account != "" && len(s.opts.Accounts) > 0 {
		return nil, fmt.Errorf("account %q is not in the worker configuration (aws.accounts)", target.Account)
	}
	region := target.Region
	if region == "" {
		region = s.opts.Base.Region
	}
	if region == "" {
		return nil, fmt.Errorf("no region: set target.region in the runbook or aws.region in the worker configuration")
	}
	key := target.Account + "|" + region + "|" + run.RunID
	if tc, ok := s.cache[key]; ok {
		return tc, nil
	}
	cfg := s.opts.Base.Copy()
	cfg.Region = region
	if s.opts.Endpoint != "" {
		cfg.BaseEndpoint = aws.String(s.opts.Endpoint)
	}
	// Limits are per account and region, shared by every run: AWS meters
	// the account, not the run.
	limit := s.opts.RateLimit
	if acct.RateLimit != nil {
		limit = *acct.RateLimit
	}
	cfg.APIOptions = append(slices.Clone(cfg.APIOptions), recordRequestIDs, s.limiters.middleware(target.Account+"|"+region, limit))
	if s.opts.Metrics != nil {
		cfg.APIOptions = append(cfg.APIOptions, countAWSCalls(s.opts.Metrics))
	}
	attempts := s.opts.SDKAttempts
	cfg.Retryer = func() aws.Retryer {
		// A fresh retryer per client, with short backoff: the SDK makes a
		// few quick attempts, Temporal owns longer waits. It retries what
		// classify calls transient (errors.go), so a busy resource
		// (ResourceContention, ScalingActivityInProgress, ...) gets the
		// quick attempts too before Temporal's backoff.
		return retry.NewStandard(func(o *retry.StandardOptions) {
			o.MaxAttempts = attempts
			o.MaxBackoff = 2 * time.Second
			o.Retryables = sdkRetryables()
			o.Throttles = sdkThrottles()
		})
	}
	if acct.RoleARN != "" {
		cfg.Credentials = RoleCredentials(cfg, acct, run)
	}
	if len(s.cache) >= maxCachedTargets {
		clear(s.cache) // runs are short; rebuilding clients is cheap
	}
	tc := &targetConfig{cfg: cfg}
	s.cache[key] = tc
	return tc, nil
}

// RoleCredentials are the credentials of acct's role for run: the role
// assumed through STS (reached with cfg's credentials, region, endpoint and
// middleware) with acct's external id and a session name that carries the
// run id ("cordon-<run id>"), so CloudTrail ties every call to its run.
// The worker's start-up check assumes roles through it too, so that what
// it checks is what runs do.
func RoleCredentials(cfg aws.Config, acct Account, run RunRef) aws.CredentialsProvider {
	provider := stscreds.NewAssumeRoleProvider(sts.NewFromConfig(cfg), acct.RoleARN, func(o *stscreds.AssumeRoleOptions) {
		o.RoleSessionName = sessionName(run.RunID)
		if acct.ExternalID != "" {
			o.ExternalID = aws.String(acct.ExternalID)
		}
	})
	return aws.NewCredentialsCache(provider)
}

// sessionName is a valid STS role session name (2–64 of [\w+=,.@-]).
func sessionName(runID string) string {
	out := []rune("cordon-")
	for _, r := range runID {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '=', r == ',', r == '.', r == '@', r == '-', r == '_', r == '+':
			out = append(out, r)
		default:
			out = append(out, '-')
		}
	}
	if len(out) > 64 {
		out = out[:64]
	}
	return string(out)
}

// requestLog collects the AWS request ids of one action execution.
type requestLog struct {
	mu  sync.Mutex
	ids []string
}

type requestLogKey struct{}

func withRequestLog(ctx context.Context) (context.Context, *requestLog) {
	l := &requestLog{}
	return context.WithValue(ctx, requestLogKey{}, l), l
}

func (l *requestLog) list() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.ids...)
}

// recordRequestIDs adds a middleware that notes the request id of every
// attempt of every call into the execution's request log.
func recordRequestIDs(stack *middleware.Stack) error {
	return stack.Deserialize.Add(middleware.DeserializeMiddlewareFunc("CordonRequestIDs",
		func(ctx context.Context, in middleware.DeserializeInput, next middleware.DeserializeHandler) (middleware.DeserializeOutput, middleware.Metadata, error) {
			out, md, err := next.HandleDeserialize(ctx, in)
			if l, ok := ctx.Value(requestLogKey{}).(*requestLog); ok {
				if id, found := awsmiddleware.GetRequestIDMetadata(md); found && id != "" {
					l.mu.Lock()
					l.ids = append(l.ids, id)
					l.mu.Unlock()
				}
			}
			return out, md, err
		}), middleware.Before)
}
