package worker

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/cordon-ir/cordon/actions"
	"github.com/cordon-ir/cordon/evidence"
	"github.com/cordon-ir/cordon/runbooks"
	"github.com/cordon-ir/cordon/workflows"
)

// Config is cordon.yaml: everything a worker and the CLI need. Secrets may
// be left out of the file and given in the environment instead:
// CORDON_TEMPORAL_API_KEY, CORDON_SLACK_BOT_TOKEN, CORDON_SLACK_SIGNING_SECRET,
// CORDON_INTAKE_SECRET.
type Config struct {
	Temporal TemporalConfig `yaml:"temporal"`
	Roster   RosterConfig   `yaml:"roster"`
	AWS      AWSConfig      `yaml:"aws"`
	Slack    SlackConfig    `yaml:"slack"`
	Metrics  MetricsConfig  `yaml:"metrics"`
	// Runbooks is the runbook source the worker vouches for.
	Runbooks RunbookSourceConfig `yaml:"runbooks"`
	// Policy is the organisation's approval policy; no runbook loosens it.
	Policy PolicyConfig `yaml:"policy"`
	// Evidence is the evidence store: an S3 bucket with Object Lock in
	// the forensic account, where memory images, triage outputs and the
	// other artefacts go, listed in each case's manifest (docs/forensics.md).
	Evidence evidence.Config `yaml:"evidence"`
	// Intake is the detection intake (cordon intake): where findings
	// arrive and who the intake is.
	Intake IntakeConfig `yaml:"intake"`
}

// RunbookSourceConfig names the runbooks the worker runs without asking:
// a directory of reviewed runbooks, typically a git checkout that changes
// only through review. Any other plan (an edited copy) runs only after a
// lead approves the plan itself.
type RunbookSourceConfig struct {
	Dir string `yaml:"dir"`
}

// PolicyConfig is the organisation's approval policy (workflows.Policy).
type PolicyConfig struct {
	// MinApprovals is the least number of distinct approvals for a gate
	// of a destructive step (default 1).
	MinApprovals int `yaml:"min_approvals"`
	// SelfApproval: never (default) or runbook (allow_self_approval in a
	// runbook decides).
	SelfApproval string `yaml:"self_approval"`
	// Approvers, when set, must also include whoever approves any gate.
	Approvers *ApproversConfig `yaml:"approvers"`
	// BreakGlassLeads is how many distinct leads sign a break-glass
	// (default 1).
	BreakGlassLeads int `yaml:"break_glass_leads"`
	// RequesterMayBreakGlass lets a lead break-glass a run they started
	// alone; by default a second lead must sign too.
	RequesterMayBreakGlass bool `yaml:"requester_may_break_glass"`
	// AllowJustifiedNoGate lets a reviewed runbook run a destructive step
	// without a gate when it says why (approval: none + justification).
	// Default true; false gates every destructive step.
	AllowJustifiedNoGate *bool `yaml:"allow_justified_no_gate"`
}

// ApproversConfig names roster groups and members.
type ApproversConfig struct {
	Groups []string `yaml:"groups"`
	People []string `yaml:"people"`
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
	// Actions are the requests the gateway's key may sign; default
	// approve, deny, pause, start. Add approve_all for break-glass from
	// Slack, resume, skip, abort for the other controls.
	Actions []string `yaml:"actions"`
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
	// ShareRateLimit (default true) divides rate_limit, and each
	// account's own, by the number of workers polling the task queue, so
	// that several workers together stay inside the account's buckets
	// (worker/share.go). false makes this worker spend the whole figure.
	ShareRateLimit *bool `yaml:"share_rate_limit"`
	// PollInterval is how often long waits (a snapshot until completed)
	// ask AWS again; default 15s. Shorter finds completion sooner and
	// spends more of the read buckets.
	PollInterval time.Duration `yaml:"poll_interval"`
	// QuarantineGroupIDs maps a VPC id to a quarantine security group
	// created beforehand (no rules): isolation uses it instead of creating
	// one, for regions at their security-group quota. A runbook's own
	// quarantine_group_ids parameter wins for the VPCs it names.
	QuarantineGroupIDs map[string]string `yaml:"quarantine_group_ids"`
	// ForensicEndpoints maps a VPC id to what isolation with forensic_path
	// still lets an instance reach over HTTPS: the security groups (or
	// CIDRs) of the VPC's SSM interface endpoints and the prefix list of
	// its S3 gateway endpoint. A step's own forensic_endpoints wins.
	ForensicEndpoints map[string][]string `yaml:"forensic_endpoints"`
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
	// AccountID is the account's 12-digit id, which findings name; by
	// default the role ARN's. Needed for an account reached without a role
	// (the worker's own credentials) that the intake takes findings for.
	AccountID string `yaml:"account_id"`
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
	if v := getenv("CORDON_INTAKE_SECRET"); v != "" {
		c.Intake.HTTPS.Secret = v
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
	c.Intake.applyDefaults()
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
			if r != workflows.RoleResponder && r != workflows.RoleLead && r != workflows.RoleIntake {
				errs = append(errs, fmt.Errorf("roster member %s: role %q is not responder, lead or intake", m.ID, r))
			}
		}
		errs = append(errs, m.validateIntake()...)
		for _, k := range m.PublicKeys {
			if workflows.Fingerprint(k) == "(unparsable key)" {
				errs = append(errs, fmt.Errorf("roster member %s: public key %q is not an SSH authorized_keys line", m.ID, abbreviate(k)))
			}
		}
	}
	for vpc, sg := range c.AWS.QuarantineGroupIDs {
		if !strings.HasPrefix(vpc, "vpc-") || !strings.HasPrefix(sg, "sg-") {
			errs = append(errs, fmt.Errorf("aws.quarantine_group_ids: %q: %q must map a VPC id (vpc-...) to a security group id (sg-...)", vpc, sg))
		}
	}
	if err := actions.CheckForensicEndpoints(c.AWS.ForensicEndpoints); err != nil {
		errs = append(errs, fmt.Errorf("aws.forensic_endpoints: %w", err))
	}
	for _, g := range c.Roster.Gateways {
		if g.Name == "" || g.Name == "cli" || g.Name == workflows.ChannelIntake {
			errs = append(errs, fmt.Errorf("roster.gateways: a gateway needs a name other than cli and %s (%q)", workflows.ChannelIntake, g.Name))
		}
		for _, a := range g.Actions {
			if !slices.Contains(gatewayActions, a) {
				errs = append(errs, fmt.Errorf("roster gateway %s: action %q is not one of %s", g.Name, a, strings.Join(gatewayActions, ", ")))
			}
		}
		if workflows.Fingerprint(g.PublicKey) == "(unparsable key)" {
			errs = append(errs, fmt.Errorf("roster gateway %s: public_key is not an SSH authorized_keys line", g.Name))
		}
	}
	if c.Temporal.TLS.Enabled && (c.Temporal.TLS.CertFile == "") != (c.Temporal.TLS.KeyFile == "") {
		errs = append(errs, errors.New("temporal.tls: cert_file and key_file go together"))
	}
	errs = append(errs, c.Slack.validate()...)
	errs = append(errs, c.Policy.validate(seen)...)
	errs = append(errs, c.AWS.RateLimit.validate("aws.rate_limit")...)
	if c.AWS.PollInterval < 0 {
		errs = append(errs, fmt.Errorf("aws.poll_interval is %s: use a positive duration such as 15s", c.AWS.PollInterval))
	}
	if err := c.Evidence.Validate(); err != nil {
		errs = append(errs, err)
	}
	if a := c.Evidence.Account; a != "" {
		if _, ok := c.AWS.Accounts[a]; !ok {
			errs = append(errs, fmt.Errorf("evidence.account %q is not in aws.accounts: name the forensic account there, with the role the evidence store writes as", a))
		}
	}
	for name, a := range c.AWS.Accounts {
		if a.RoleARN != "" && !strings.HasPrefix(a.RoleARN, "arn:aws") {
			errs = append(errs, fmt.Errorf("aws.accounts.%s.role_arn %q is not an ARN", name, a.RoleARN))
		}
		errs = append(errs, a.validateID(name)...)
		errs = append(errs, a.RateLimit.validate("aws.accounts."+name+".rate_limit")...)
	}
	errs = append(errs, c.Intake.validate(c)...)
	return errors.Join(errs...)
}

// validateIntake checks a detection intake's entry: the intake role
// alone (an intake that could also approve or steer would let a detection
// do what only people may), and a key to sign its starts with.
func (m MemberConfig) validateIntake() []error {
	if !slices.Contains(m.Roles, workflows.RoleIntake) {
		return nil
	}
	var errs []error
	if len(m.Roles) > 1 {
		errs = append(errs, fmt.Errorf("roster member %s: the intake role goes alone (it has %s): a detection may start a run, never approve or steer one; give people their roles in entries of their own", m.ID, strings.Join(m.Roles, ", ")))
	}
	if len(m.PublicKeys) == 0 {
		errs = append(errs, fmt.Errorf("roster member %s: an intake needs public_keys: it signs every start and finding update with its own key", m.ID))
	}
	if m.SlackID != "" {
		errs = append(errs, fmt.Errorf("roster member %s: an intake has no slack_id: no gateway may sign for it", m.ID))
	}
	return errs
}

// gatewayActions are the requests a gateway may be allowed to sign.
var gatewayActions = []string{workflows.ActStart, workflows.ActApprove, workflows.ActDeny, workflows.ActApproveAll,
	workflows.ActPause, workflows.ActResume, workflows.ActSkip, workflows.ActAbort}

func (p PolicyConfig) validate(members map[string]bool) []error {
	var errs []error
	if p.MinApprovals < 0 {
		errs = append(errs, fmt.Errorf("policy.min_approvals is %d: use 1 or more", p.MinApprovals))
	}
	switch p.SelfApproval {
	case "", "never", "runbook":
	default:
		errs = append(errs, fmt.Errorf("policy.self_approval %q is neither never nor runbook", p.SelfApproval))
	}
	if p.BreakGlassLeads < 0 || p.BreakGlassLeads > 2 {
		errs = append(errs, fmt.Errorf("policy.break_glass_leads is %d: use 1 or 2", p.BreakGlassLeads))
	}
	if p.Approvers != nil {
		if len(p.Approvers.Groups) == 0 && len(p.Approvers.People) == 0 {
			errs = append(errs, errors.New("policy.approvers names nobody: nobody could approve anything; remove it or name groups or people"))
		}
		for _, id := range p.Approvers.People {
			if !members[id] {
				errs = append(errs, fmt.Errorf("policy.approvers: %s is not in the roster", id))
			}
		}
	}
	return errs
}

// CheckSignaturesRequired fails closed on a roster that does not require
// signatures: only cordon dev and the demo may run one, or a worker started
// with the explicit override (which it then logs loudly).
func (c *Config) CheckSignaturesRequired(override bool) error {
	if c.Roster.RequireSignatures == nil || *c.Roster.RequireSignatures || override {
		return nil
	}
	return errors.New("roster.require_signatures is false: anyone who can reach the Temporal namespace could then start, approve and steer runs in any member's name. Remove it (signatures are required by default); for a throwaway test worker only, start with --insecure-allow-unsigned")
}

// CheckWorker is what a production worker checks before it starts, beyond
// Validate (which the CLI shares): signatures required unless overridden,
// and a runbook source it can read. A worker without a source runs every
// plan as ad-hoc (a lead approves each), which it says.
func (c *Config) CheckWorker(allowUnsigned bool) error {
	var errs []error
	if err := c.CheckSignaturesRequired(allowUnsigned); err != nil {
		errs = append(errs, err)
	}
	if c.Runbooks.Dir != "" {
		if fi, err := os.Stat(c.Runbooks.Dir); err != nil || !fi.IsDir() {
			errs = append(errs, fmt.Errorf("runbooks.dir %s is not a directory the worker can read: point it at the reviewed runbooks (a git checkout)", c.Runbooks.Dir))
		}
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
		r.Gateways = append(r.Gateways, workflows.Gateway{Name: g.Name, PublicKey: g.PublicKey, Actions: g.Actions})
	}
	r.Policy = c.Policy.workflowPolicy()
	b, err := json.Marshal(r)
	if err == nil {
		sum := sha256.Sum256(b)
		r.Version = hex.EncodeToString(sum[:8])
	}
	return r
}

func (p PolicyConfig) workflowPolicy() workflows.Policy {
	wp := workflows.Policy{MinApprovals: p.MinApprovals, SelfApproval: p.SelfApproval, BreakGlassLeads: p.BreakGlassLeads,
		RequesterMayBreakGlass: p.RequesterMayBreakGlass, AllowJustifiedNoGate: p.AllowJustifiedNoGate}
	if wp.SelfApproval == "" {
		wp.SelfApproval = "never"
	}
	if p.Approvers != nil {
		wp.Approvers = &runbooks.Approvers{Groups: p.Approvers.Groups, People: p.Approvers.People}
	}
	return wp
}

// PlanSource is the worker's runbook source and catalog, as configured.
func (c *Config) PlanSource() *PlanSource {
	justified := c.Policy.AllowJustifiedNoGate == nil || *c.Policy.AllowJustifiedNoGate
	return &PlanSource{Dir: c.Runbooks.Dir, Catalog: actions.Catalog(), AllowJustifiedNoGate: justified,
		AcceptClientPlans: !c.WorkflowRoster().RequireSignatures}
}
