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
}

// AccountConfig is how the worker reaches one account.
type AccountConfig struct {
	RoleARN    string `yaml:"role_arn"`
	ExternalID string `yaml:"external_id"`
}

// SlackConfig configures notifications and the interaction gateway.
type SlackConfig struct {
	BotToken      string `yaml:"bot_token"`
	SigningSecret string `yaml:"signing_secret"`
	Channel       string `yaml:"channel"`
	APIURL        string `yaml:"api_url"`
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
	for name, a := range c.AWS.Accounts {
		if a.RoleARN != "" && !strings.HasPrefix(a.RoleARN, "arn:aws") {
			errs = append(errs, fmt.Errorf("aws.accounts.%s.role_arn %q is not an ARN", name, a.RoleARN))
		}
	}
	return errors.Join(errs...)
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
