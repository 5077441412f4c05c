package worker

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"regexp"
	"slices"
	"sort"
	"strings"

	"github.com/cordon-ir/cordon/workflows"
)

// IntakeConfig is the detection intake (cordon intake): the SQS queue an
// EventBridge rule delivers findings to, the HTTPS endpoint for
// EventBridge API destinations and other SIEMs, and the intake's own
// identity. See docs/triggers.md.
type IntakeConfig struct {
	// QueueURL is the SQS queue the EventBridge rule targets; empty: no
	// SQS loop.
	QueueURL string `yaml:"queue_url"`
	// Region is the queue's region; by default the queue URL's
	// (https://sqs.REGION.amazonaws.com/...), else aws.region.
	Region string `yaml:"region"`
	// WaitSeconds is ReceiveMessage's long poll, 1 to 20 (default 20).
	WaitSeconds int `yaml:"wait_seconds"`
	// Receivers is how many SQS loops this process runs (default 1); more
	// processes may run too: Temporal, not the queue, makes a finding
	// start one run.
	Receivers int `yaml:"receivers"`
	// HTTPS is the endpoint for EventBridge API destinations; off without
	// a listen address.
	HTTPS IntakeHTTPSConfig `yaml:"https"`
	// Member is the intake's roster id: a member whose only role is
	// intake, with its public key.
	Member string `yaml:"member"`
	// Key is the path of the intake's SSH private key (ed25519,
	// unencrypted: it runs unattended), which signs every start.
	Key string `yaml:"key"`
	// TaskQueue is the intake's own Temporal task queue (default
	// cordon-intake); runs start on temporal.task_queue.
	TaskQueue string `yaml:"task_queue"`
	// SlackChannel is where proposals, notices and alerts (a finding for
	// an account no aws.accounts entry covers) go; default slack.channel.
	// Without slack.bot_token they are logged.
	SlackChannel string `yaml:"slack_channel"`
}

// IntakeHTTPSConfig is the intake's HTTPS endpoint, POST /events.
type IntakeHTTPSConfig struct {
	// Listen is the address, e.g. 127.0.0.1:8443 behind a TLS proxy, or
	// :8443 with cert_file and key_file.
	Listen string `yaml:"listen"`
	// Secret is the shared secret every request carries in Header (the
	// API destination connection's API key value); prefer
	// CORDON_INTAKE_SECRET.
	Secret string `yaml:"secret"`
	// Header carries the secret (default X-Cordon-Intake-Key).
	Header string `yaml:"header"`
	// CertFile and KeyFile serve TLS; without them, loopback only.
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
	// MaxBodyBytes bounds a request (default 1 MiB).
	MaxBodyBytes int64 `yaml:"max_body_bytes"`
}

// WithDefaults is the section with its defaults filled in, as LoadConfig
// fills them (a configuration built in code may leave them out).
func (c IntakeConfig) WithDefaults() IntakeConfig {
	c.applyDefaults()
	return c
}

func (c *IntakeConfig) applyDefaults() {
	if c.TaskQueue == "" {
		c.TaskQueue = DefaultIntakeTaskQueue
	}
	if c.WaitSeconds == 0 {
		c.WaitSeconds = DefaultIntakeWaitSeconds
	}
	if c.Receivers == 0 {
		c.Receivers = 1
	}
	if c.HTTPS.Header == "" {
		c.HTTPS.Header = DefaultIntakeHeader
	}
	if c.HTTPS.MaxBodyBytes == 0 {
		c.HTTPS.MaxBodyBytes = DefaultIntakeMaxBody
	}
}

// Intake defaults.
const (
	DefaultIntakeTaskQueue   = "cordon-intake"
	DefaultIntakeWaitSeconds = 20
	DefaultIntakeHeader      = "X-Cordon-Intake-Key"
	DefaultIntakeMaxBody     = 1 << 20
	// minIntakeSecret is the shortest secret the endpoint accepts: it is
	// all that stands between the internet and the intake.
	minIntakeSecret = 32
)

// Configured says whether the configuration has an intake section.
func (c IntakeConfig) Configured() bool {
	return c.QueueURL != "" || c.HTTPS.Listen != "" || c.Member != "" || c.Key != ""
}

// QueueRegion is the region the queue is called in.
func (c IntakeConfig) QueueRegion(aws AWSConfig) string {
	if c.Region != "" {
		return c.Region
	}
	if u, err := url.Parse(c.QueueURL); err == nil {
		// sqs.REGION.amazonaws.com (and .com.cn), or the legacy
		// REGION.queue.amazonaws.com.
		parts := strings.Split(u.Hostname(), ".")
		switch {
		case len(parts) >= 4 && parts[0] == "sqs":
			return parts[1]
		case len(parts) >= 4 && parts[1] == "queue":
			return parts[0]
		}
	}
	return aws.Region
}

var (
	queueURLPattern = regexp.MustCompile(`^https://[a-z0-9.-]+/[0-9]{12}/[A-Za-z0-9_-]{1,80}$`)
	accountIDRe     = regexp.MustCompile(`^[0-9]{12}$`)
)

// validate checks the intake section's shape; CheckIntake what cordon
// intake needs besides. Messages never quote the secret.
func (c IntakeConfig) validate(cfg *Config) []error {
	c.applyDefaults() // a configuration built in code may leave them out
	var errs []error
	if c.QueueURL != "" && !queueURLPattern.MatchString(c.QueueURL) && !loopbackURL(c.QueueURL) {
		errs = append(errs, fmt.Errorf("intake.queue_url %q is not an SQS queue URL (https://sqs.REGION.amazonaws.com/ACCOUNT/NAME)", c.QueueURL))
	}
	if c.WaitSeconds < 1 || c.WaitSeconds > 20 {
		errs = append(errs, fmt.Errorf("intake.wait_seconds is %d: SQS long polls wait 1 to 20 seconds", c.WaitSeconds))
	}
	if c.Receivers < 1 || c.Receivers > 16 {
		errs = append(errs, fmt.Errorf("intake.receivers is %d: use 1 to 16 loops (run more intake processes for more)", c.Receivers))
	}
	if c.Member != "" {
		i := slices.IndexFunc(cfg.Roster.Members, func(m MemberConfig) bool { return m.ID == c.Member })
		switch {
		case i < 0:
			errs = append(errs, fmt.Errorf("intake.member %s is not in the roster: add it with roles: [intake] and the intake key's public key", c.Member))
		case !slices.Equal(cfg.Roster.Members[i].Roles, []string{workflows.RoleIntake}):
			errs = append(errs, fmt.Errorf("intake.member %s must have the role intake (alone); it has %s", c.Member, strings.Join(cfg.Roster.Members[i].Roles, ", ")))
		}
	}
	return append(errs, c.HTTPS.validate()...)
}

func (h IntakeHTTPSConfig) validate() []error {
	var errs []error
	if (h.CertFile == "") != (h.KeyFile == "") {
		errs = append(errs, errors.New("intake.https: cert_file and key_file go together"))
	}
	if h.MaxBodyBytes < 1024 {
		errs = append(errs, fmt.Errorf("intake.https.max_body_bytes is %d: an EventBridge event alone may be 256 KiB", h.MaxBodyBytes))
	}
	if h.Listen == "" {
		return errs
	}
	if len(h.Secret) < minIntakeSecret {
		errs = append(errs, fmt.Errorf("intake.https needs a secret of at least %d characters (intake.https.secret or CORDON_INTAKE_SECRET; openssl rand -hex 32): it is the API destination connection's API key value", minIntakeSecret))
	}
	if strings.ContainsAny(h.Header, " :\r\n") {
		errs = append(errs, fmt.Errorf("intake.https.header %q is not an HTTP header name", h.Header))
	}
	host, _, err := net.SplitHostPort(h.Listen)
	if err != nil {
		errs = append(errs, fmt.Errorf("intake.https.listen %q is not host:port", h.Listen))
	} else if h.CertFile == "" && !isLoopback(host) {
		errs = append(errs, fmt.Errorf("intake.https.listen %s is not a loopback address: without cert_file and key_file the endpoint speaks plain HTTP, so it listens on 127.0.0.1 behind a TLS-terminating proxy", h.Listen))
	}
	return errs
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// loopbackURL says whether u is an http(s) URL on a loopback host (the
// sandbox emulator).
func loopbackURL(u string) bool {
	p, err := url.Parse(u)
	return err == nil && (p.Scheme == "http" || p.Scheme == "https") && isLoopback(p.Hostname())
}

// CheckIntake is what cordon intake checks before it starts, beyond
// Validate: who the intake is, where findings arrive, and that every
// configured account has an id a finding can name.
func (c *Config) CheckIntake() error {
	in := c.Intake
	var errs []error
	if in.Member == "" || in.Key == "" {
		errs = append(errs, errors.New("intake.member and intake.key are required: the intake signs every start as its own roster member (roles: [intake]) with its own key (ssh-keygen -t ed25519 -N '' -f cordon-intake)"))
	}
	if in.QueueURL == "" && in.HTTPS.Listen == "" {
		errs = append(errs, errors.New("the intake has nothing to read: set intake.queue_url (an SQS queue an EventBridge rule targets), intake.https.listen, or both"))
	}
	if _, err := c.AccountIDs(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// AccountIDs maps every configured account's 12-digit id to its name
// (aws.accounts). An account whose id is unknown (no account_id, no role)
// or that two names share is an error: the intake could not tell which
// configured account a finding is about.
func (c *Config) AccountIDs() (map[string]string, error) {
	out := map[string]string{}
	var errs []error
	names := make([]string, 0, len(c.AWS.Accounts))
	for name := range c.AWS.Accounts {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		id := c.AWS.Accounts[name].ID()
		switch other, dup := out[id]; {
		case id == "":
			errs = append(errs, fmt.Errorf("aws.accounts.%s: the intake needs its 12-digit account_id (it has no role_arn to read it from)", name))
		case dup:
			errs = append(errs, fmt.Errorf("aws.accounts.%s and aws.accounts.%s are both account %s: a finding of that account could be either", other, name, id))
		default:
			out[id] = name
		}
	}
	return out, errors.Join(errs...)
}

// ID is the account's 12-digit id: account_id, else the role ARN's.
func (a AccountConfig) ID() string {
	if a.AccountID != "" {
		return a.AccountID
	}
	// arn:PARTITION:iam::ACCOUNT:role/NAME
	if parts := strings.SplitN(a.RoleARN, ":", 6); len(parts) == 6 && accountIDRe.MatchString(parts[4]) {
		return parts[4]
	}
	return ""
}

func (a AccountConfig) validateID(name string) []error {
	if a.AccountID == "" {
		return nil
	}
	if !accountIDRe.MatchString(a.AccountID) {
		return []error{fmt.Errorf("aws.accounts.%s.account_id %q is not a 12-digit account id", name, a.AccountID)}
	}
	role := AccountConfig{RoleARN: a.RoleARN}.ID()
	if role != "" && role != a.AccountID {
		return []error{fmt.Errorf("aws.accounts.%s: account_id %s is not the account of role_arn (%s)", name, a.AccountID, role)}
	}
	return nil
}
