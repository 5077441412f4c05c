package worker

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/cordon-ir/cordon/workflows"
)

// Config is cordon.yaml: everything a worker and the CLI need. Secrets may
// be left out of the file and given in the environment instead:
// CORDON_TEMPORAL_API_KEY, CORDON_SLACK_BOT_TOKEN, CORDON_SLACK_SIGNING_SECRET.
type Config struct {
	Temporal TemporalConfig `yaml:"temporal"`
	Roster   RosterConfig   `yaml:"roster"`
	AWS      AWSConfig      `yaml:"aws"`
	Slack    SlackConfig    `yaml:"slack"`
	Metrics  MetricsConfig  `yaml:"metrics"`
}

// TemporalConfig says where the Temporal service is.
type TemporalConfig struct {
	Address   string    `yaml:"address"`    // host:port; default 127.0.0.1:7233 (cordon dev)
	Namespace string    `yaml:"namespace"`  // default "default"
	TaskQueue string    `yaml:"task_queue"` // default "cordon"
	TLS       TLSConfig `yaml:"tls"`
	// APIKey authenticates to Temporal Cloud; prefer CORDON_TEMPORAL_API_KEY.
	APIKey string `yaml:"api_key"`
}

// TLSConfig holds mTLS client certificates (self-hosted clusters, or
// Temporal Cloud with certificates instead of an API key).
type TLSConfig struct {
	Enabled    bool   `yaml:"enabled"`
	CertFile   string `yaml:"cert_file"`
	KeyFile    string `yaml:"key_file"`
	CAFile     string `yaml:"ca_file"`
	ServerName string `yaml:"server_name"`
}

// RosterConfig is who may approve and steer runs.
type RosterConfig struct {
	Members  []MemberConfig  `yaml:"members"`
	Gateways []GatewayConfig `yaml:"gateways"`
	// RequireSignatures defaults to true; only a development roster may
	// turn it off.
	RequireSignatures *bool         `yaml:"require_signatures"`
	MaxSkew           time.Duration `yaml:"max_skew"`
}

// MemberConfig is one responder.
type MemberConfig struct {
	ID         string   `yaml:"id"`
	Name       string   `yaml:"name"`
	SlackID    string   `yaml:"slack_id"`
	Roles      []string `yaml:"roles"`
	Groups     []string `yaml:"groups"`
	PublicKeys []string `yaml:"public_keys"` // SSH authorized_keys lines
}

// GatewayConfig is a service that signs decisions for members.
type GatewayConfig struct {
	Name      string `yaml:"name"`
	PublicKey string `yaml:"public_key"`
}

// AWSConfig maps the account names runbooks use to roles.
type AWSConfig struct {
	Region   string                   `yaml:"region"`
	Accounts map[string]AccountConfig `yaml:"accounts"`
	// Endpoint points every AWS service at one URL: only for the sandbox
	// emulator (cordon dev --sandbox, cordon demo). Never in production.
	Endpoint string `yaml:"endpoint"`
	// RateLimit paces this worker's calls per account and region, so a
	// fleet containment stays inside AWS's request buckets instead of
	// being throttled. Defaults follow EC2's published refill rates.
	RateLimit *RateLimitConfig `yaml:"rate_limit"`
	// PollInterval is how often long waits (a snapshot until completed)
	// ask AWS again; default 15s. Shorter finds completion sooner and
	// spends more of the read buckets.
	PollInterval time.Duration `yaml:"poll_interval"`
}

// RateLimitConfig is calls per second, and the burst allowed, per API
// action in one account and region, by class. Zero means unlimited.
type RateLimitConfig struct {
	MutatingPerSecond float64 `yaml:"mutating_per_second"`
	MutatingBurst     int     `yaml:"mutating_burst"`
	ReadPerSecond     float64 `yaml:"read_per_second"`
	ReadBurst         int     `yaml:"read_burst"`
}

// DefaultRateLimit follows EC2's published request-token buckets per API
// action (mutating 200 refilled at 5/s, non-mutating 100 refilled at 20/s)
// with half of each burst, leaving the rest to the account's other tools.
func DefaultRateLimit() RateLimitConfig {
	return RateLimitConfig{MutatingPerSecond: 5, MutatingBurst: 100, ReadPerSecond: 20, ReadBurst: 50}
}

// AccountConfig is how the worker reaches one account.
type AccountConfig struct {
	RoleARN    string `yaml:"role_arn"`
	ExternalID string `yaml:"external_id"`
	// RateLimit, when set, replaces aws.rate_limit for this account: set
	// it to the account's own limits when AWS has raised them.
	RateLimit *RateLimitConfig `yaml:"rate_limit"`
}

// SlackConfig configures notifications and the interaction gateway.
// Secrets (bot_token, signing_secret, app_token) are best given in the
// environment: CORDON_SLACK_BOT_TOKEN, CORDON_SLACK_SIGNING_SECRET,
// CORDON_SLACK_APP_TOKEN.
type SlackConfig struct {
	BotToken      string `yaml:"bot_token"`
	SigningSecret string `yaml:"signing_secret"`
	Channel       string `yaml:"channel"`
	APIURL        string `yaml:"api_url"`
	// Transport is how Slack reaches the gateway: "http" (Slack POSTs to
	// /slack/interactions and /slack/commands; the default) or "socket"
	// (Socket Mode: the gateway dials out, nothing listens inbound).
	Transport string `yaml:"transport"`
	// AppToken (xapp-…, scope connections:write) opens Socket Mode
	// connections; only needed with transport: socket.
	AppToken string `yaml:"app_token"`
	// Listen is where the HTTP transport listens, e.g. 127.0.0.1:8080
	// behind a TLS-terminating proxy.
	Listen string `yaml:"listen"`
	// TeamID is the Slack workspace the gateway serves (T…); requests
	// from any other workspace are refused even when correctly signed.
	TeamID string `yaml:"team_id"`
	// EscalationChannel receives escalations of timed-out gates, with the
	// leads mentioned; defaults to Channel.
	EscalationChannel string `yaml:"escalation_channel"`
	// GatewayKeyFile is the OpenSSH private key (ed25519) the gateway signs
	// requests with; its public key is roster.gateways' "slack" entry.
	GatewayKeyFile string `yaml:"gateway_key_file"`
	// RunbookDir holds the runbooks /cordon run may start, by name.
	RunbookDir string `yaml:"runbook_dir"`
}

// MetricsConfig exposes metrics.
type MetricsConfig struct {
	Listen string `yaml:"listen"` // e.g. 127.0.0.1:9090; empty = off
}

// LoadConfig reads and checks a configuration file. Unknown keys are
// errors: a typo in a security configuration must not be ignored.
func LoadConfig(path string) (*Config, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	defer f.Close()
	var cfg Config
	dec := yaml.NewDecoder(f)
	dec.KnownFields(true)
	if err := dec.Decode(&cfg); err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	cfg.applyEnv(os.Getenv)
	cfg.applyDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	return &cfg, nil
}

func (c *Config) applyEnv(getenv func(string) string) {
	if v := getenv("CORDON_TEMPORAL_API_KEY"); v != "" {
		c.Temporal.APIKey = v
	}
	if v := getenv("CORDON_TEMPORAL_ADDRESS"); v != "" {
		c.Temporal.Address = v
	}
	if v := getenv("CORDON_SLACK_BOT_TOKEN"); v != "" {
		c.Slack.BotToken = v
	}
	if v := getenv("CORDON_SLACK_SIGNING_SECRET"); v != "" {
		c.Slack.SigningSecret = v
	}
	if v := getenv("CORDON_SLACK_APP_TOKEN"); v != "" {
		c.Slack.AppToken = v
	}
}

func (c *Config) applyDefaults() {
	if c.Temporal.Address == "" {
		c.Temporal.Address = DefaultAddress
	}
	if c.Temporal.Namespace == "" {
		c.Temporal.Namespace = "default"
	}
	if c.Temporal.TaskQueue == "" {
		c.Temporal.TaskQueue = DefaultTaskQueue
	}
}

// Defaults shared by the CLI and the worker.
const (
	DefaultAddress   = "127.0.0.1:7233"
	DefaultTaskQueue = "cordon"
)

// Validate reports every problem in the configuration.
func (c *Config) Validate() error {
	var errs []error
	seen := map[string]bool{}
	for i, m := range c.Roster.Members {
		if m.ID == "" {
			errs = append(errs, fmt.Errorf("roster.members[%d]: id is required", i))
			continue
		}
		if seen[m.ID] {
			errs = append(errs, fmt.Errorf("roster.members: %s appears twice", m.ID))
		}
		seen[m.ID] = true
		for _, r := range m.Roles {
			if r != workflows.RoleResponder && r != workflows.RoleLead {
				errs = append(errs, fmt.Errorf("roster member %s: role %q is not responder or lead", m.ID, r))
			}
		}
		for _, k := range m.PublicKeys {
			if workflows.Fingerprint(k) == "(unparsable key)" {
				errs = append(errs, fmt.Errorf("roster member %s: public key %q is not an SSH authorized_keys line", m.ID, abbreviate(k)))
			}
		}
	}
	for _, g := range c.Roster.Gateways {
		if g.Name == "" || g.Name == "cli" {
			errs = append(errs, fmt.Errorf("roster.gateways: a gateway needs a name other than cli"))
		}
		if workflows.Fingerprint(g.PublicKey) == "(unparsable key)" {
			errs = append(errs, fmt.Errorf("roster gateway %s: public_key is not an SSH authorized_keys line", g.Name))
		}
	}
	if c.Temporal.TLS.Enabled && (c.Temporal.TLS.CertFile == "") != (c.Temporal.TLS.KeyFile == "") {
		errs = append(errs, errors.New("temporal.tls: cert_file and key_file go together"))
	}
	errs = append(errs, c.Slack.validate()...)
	errs = append(errs, c.AWS.RateLimit.validate("aws.rate_limit")...)
	if c.AWS.PollInterval < 0 {
		errs = append(errs, fmt.Errorf("aws.poll_interval is %s: use a positive duration such as 15s", c.AWS.PollInterval))
	}
	for name, a := range c.AWS.Accounts {
		if a.RoleARN != "" && !strings.HasPrefix(a.RoleARN, "arn:aws") {
			errs = append(errs, fmt.Errorf("aws.accounts.%s.role_arn %q is not an ARN", name, a.RoleARN))
		}
		errs = append(errs, a.RateLimit.validate("aws.accounts."+name+".rate_limit")...)
	}
	return errors.Join(errs...)
}

// validate refuses negative rates and bursts; nil is the default.
func (l *RateLimitConfig) validate(where string) []error {
	if l == nil {
		return nil
	}
	var errs []error
	for _, f := range []struct {
		name  string
		value float64
	}{
		{"mutating_per_second", l.MutatingPerSecond}, {"mutating_burst", float64(l.MutatingBurst)},
		{"read_per_second", l.ReadPerSecond}, {"read_burst", float64(l.ReadBurst)},
	} {
		if f.value < 0 {
			errs = append(errs, fmt.Errorf("%s.%s is %v: use a positive number, or 0 for unlimited", where, f.name, f.value))
		}
	}
	return errs
}

// validate checks the Slack section. Messages never quote a secret.
func (s SlackConfig) validate() []error {
	var errs []error
	switch s.Transport {
	case "", "http", "socket":
	default:
		errs = append(errs, fmt.Errorf("slack.transport %q is neither http nor socket", s.Transport))
	}
	if s.Transport == "socket" && s.AppToken == "" {
		errs = append(errs, errors.New("slack.transport socket needs an app-level token (slack.app_token or CORDON_SLACK_APP_TOKEN, scope connections:write)"))
	}
	gateway := s.SigningSecret != "" || s.AppToken != "" || s.GatewayKeyFile != ""
	if gateway && s.TeamID == "" {
		errs = append(errs, errors.New("slack.team_id is required for the gateway: it refuses requests from other workspaces"))
	}
	if (s.SigningSecret != "" || s.AppToken != "") && s.GatewayKeyFile == "" {
		errs = append(errs, errors.New("slack.gateway_key_file is required for the gateway: it signs the requests it forwards (ssh-keygen -t ed25519)"))
	}
	if s.APIURL != "" && !strings.HasPrefix(s.APIURL, "https://") && !strings.HasPrefix(s.APIURL, "http://127.0.0.1") && !strings.HasPrefix(s.APIURL, "http://localhost") {
		errs = append(errs, fmt.Errorf("slack.api_url %q must be https (plain http only on loopback, for tests)", s.APIURL))
	}
	return errs
}

func abbreviate(s string) string {
	if len(s) > 24 {
		return s[:24] + "…"
	}
	return s
}

// WorkflowRoster is the roster the workflow receives (through an activity).
func (c *Config) WorkflowRoster() workflows.Roster {
	r := workflows.Roster{RequireSignatures: true, MaxSkew: c.Roster.MaxSkew}
	if c.Roster.RequireSignatures != nil {
		r.RequireSignatures = *c.Roster.RequireSignatures
	}
	for _, m := range c.Roster.Members {
		r.Members = append(r.Members, workflows.Member{ID: m.ID, Name: m.Name, SlackID: m.SlackID, Roles: m.Roles, Groups: m.Groups, PublicKeys: m.PublicKeys})
	}
	for _, g := range c.Roster.Gateways {
		r.Gateways = append(r.Gateways, workflows.Gateway{Name: g.Name, PublicKey: g.PublicKey})
	}
	return r
}
