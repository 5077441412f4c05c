package runbooks

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/cordon-ir/cordon/actions/spec"
)

// APIVersion is the runbook format version this compiler reads.
const APIVersion = "cordon.dev/v1"

// PlanVersion is the version of the Plan's JSON shape. Workflows refuse
// plans of a version they do not know; bump it on any incompatible change.
const PlanVersion = 1

// Plan is a compiled runbook: everything the interpreter workflow needs,
// resolved and type-checked, with no reference back to the YAML file. It is
// JSON-serialisable and hashed, so the audit record names exactly what ran.
type Plan struct {
	PlanVersion int      `json:"plan_version"`
	Runbook     Metadata `json:"runbook"`
	Inputs      []Input  `json:"inputs"`
	Target      Target   `json:"target"`
	Steps       []Step   `json:"steps"`
	// Outputs are what a parent runbook sees of this one through uses:.
	Outputs []Output `json:"outputs,omitempty"`
	// Children are the compiled runbooks that steps use, by name, so a
	// running fleet containment never reads a file.
	Children map[string]*Plan `json:"children,omitempty"`
	// Triggers say which findings start (or propose) this runbook, and
	// with which inputs. A trigger never carries approvals: the gates are
	// the steps' own, whoever or whatever started the run.
	Triggers []Trigger `json:"triggers,omitempty"`
}

// Trigger is a compiled triggers: entry.
type Trigger struct {
	Name   string       `json:"name"`
	Source string       `json:"source"` // one of FindingSources
	Match  TriggerMatch `json:"match"`
	// Inputs are the runbook's inputs, as values over finding.*; together
	// with the inputs' defaults they cover every required input.
	Inputs map[string]Value `json:"inputs"`
	Mode   string           `json:"mode"` // one of TriggerModes
	// Aggregate, when set, gathers the findings of a storm into one run:
	// each finding adds its item to a list input over a window.
	Aggregate *Aggregate `json:"aggregate,omitempty"`
	// MaxLaunchesPerHour caps the runs this trigger starts by itself
	// (launch, dry_run) in any hour, across every intake process; beyond
	// it, findings are proposed. Set for those modes (DefaultMaxLaunchesPerHour
	// when the runbook does not say).
	MaxLaunchesPerHour int `json:"max_launches_per_hour,omitempty"`
}

// Aggregate is a trigger's aggregate: block.
type Aggregate struct {
	// By are the scalar finding fields whose values findings must share to
	// gather into one run (AggregateFields).
	By []string `json:"by"`
	// Window is how long a batch gathers after its first finding.
	Window Duration `json:"window"`
	// Into is the runbook's list input the items go into.
	Into string `json:"into"`
	// Item is what each finding adds to Into, a value over finding.*.
	Item Value `json:"item"`
	// MaxTargets is the most items a batch launches by itself; above it,
	// the batch waits for a lead's launch with break-glass.
	MaxTargets int `json:"max_targets"`
}

// Defaults of a trigger's storm settings.
const (
	DefaultMaxLaunchesPerHour = 10
	DefaultAggregateWindow    = 2 * time.Minute
	MaxAggregateWindow        = time.Hour
	DefaultMaxTargets         = 50
	// FindingsPerTarget is how many findings per target a batch's run may
	// carry: a host is often the subject of several (a C&C finding, a
	// mining one, a brute force), but the worker fetches each from its
	// source before the run starts, so the start's findings are bounded.
	FindingsPerTarget = 5
)

// MaxBatchFindings is the most findings a batch of at most maxTargets
// targets launches with by itself; a batch with more waits for a lead,
// and the worker refuses an intake's start that carries more.
func MaxBatchFindings(maxTargets int) int {
	return max(maxTargets, 1) * FindingsPerTarget
}

// TriggerMatch is what a finding must be for a trigger to fire. Every
// part given must hold.
type TriggerMatch struct {
	// Types are finding types; * matches any run of characters.
	Types       []string `json:"types,omitempty"`
	Resource    string   `json:"resource,omitempty"`     // one of ResourceKinds
	MinSeverity string   `json:"min_severity,omitempty"` // one of SeverityLabels
	Accounts    []string `json:"accounts,omitempty"`
	// EventTypeCodes are Health event type codes; * as in Types.
	EventTypeCodes []string `json:"event_type_codes,omitempty"`
	When           *Expr    `json:"when,omitempty"`
}

// Metadata identifies the runbook and its source.
type Metadata struct {
	Name         string   `json:"name"`
	Description  string   `json:"description,omitempty"`
	Severity     string   `json:"severity,omitempty"`
	Tags         []string `json:"tags,omitempty"`
	SourceFile   string   `json:"source_file,omitempty"`
	SourceSHA256 string   `json:"source_sha256"`
}

// Input is a declared, typed input of the runbook.
type Input struct {
	Name        string    `json:"name"`
	Type        spec.Type `json:"type"`
	Description string    `json:"description,omitempty"`
	Required    bool      `json:"required,omitempty"`
	Default     any       `json:"default,omitempty"`
	Pattern     string    `json:"pattern,omitempty"`
	Enum        []string  `json:"enum,omitempty"`
}

// Target says where actions run. Either part may be an expression.
type Target struct {
	Account *Value `json:"account,omitempty"`
	Region  *Value `json:"region,omitempty"`
}

// The incident-handling phases of NIST SP 800-61 a step may declare
// (phase:), for the report. This is the one list: the runbook format (its
// schema and the compiler's check), the documentation test and the report,
// which groups steps by phase in this order, all read Phases.
const (
	PhaseDetection   = "detection"
	PhaseContainment = "containment"
	PhaseEradication = "eradication"
	PhaseRecovery    = "recovery"
)

// Phases are the phases a step may declare, in NIST SP 800-61's order.
func Phases() []string {
	return []string{PhaseDetection, PhaseContainment, PhaseEradication, PhaseRecovery}
}

// Step is one compiled step.
type Step struct {
	ID    string `json:"id"`
	Name  string `json:"name,omitempty"`
	Phase string `json:"phase,omitempty"` // one of Phases, or empty
	// Exactly one of Action and Uses is set.
	Action string `json:"action,omitempty"`
	Uses   string `json:"uses,omitempty"`
	// Destructive and Mutating come from the catalog (for uses: from any
	// step of the child), so the plan shows them without the catalog.
	Destructive bool `json:"destructive"`
	Mutating    bool `json:"mutating"`
	// With holds every parameter, defaults filled in.
	With map[string]Value `json:"with"`
	When *Expr            `json:"when,omitempty"`
	// Gate is nil when the step runs without approval; Justification
	// then says why, when the step is destructive.
	Gate            *Gate    `json:"gate,omitempty"`
	Justification   string   `json:"justification,omitempty"`
	Retry           Retry    `json:"retry"`
	Timeout         Duration `json:"timeout"`
	ContinueOnError bool     `json:"continue_on_error,omitempty"`
	Foreach         *Value   `json:"foreach,omitempty"`
	MaxConcurrency  int      `json:"max_concurrency,omitempty"`
	MaxErrors       int      `json:"max_errors,omitempty"`
	// Outputs are extra outputs computed from result after each run.
	Outputs []Output `json:"outputs,omitempty"`
	// ResultType is the type of one execution's result (the action's
	// outputs, or the child runbook's outputs).
	ResultType spec.Type `json:"result_type"`
	// OutputType is what later steps see as steps.<id>.outputs. For a
	// foreach step every field is a list with one entry per item.
	OutputType spec.Type `json:"output_type"`
	Target     Target    `json:"target"`
	// Permissions are the IAM actions this step may call.
	Permissions []string `json:"permissions,omitempty"`
}

// Gate is a resolved approval policy for one step.
type Gate struct {
	Approvers         Approvers `json:"approvers"`
	MinApprovals      int       `json:"min_approvals"`
	Timeout           Duration  `json:"timeout"`
	OnTimeout         string    `json:"on_timeout"`
	EscalateTo        Approvers `json:"escalate_to,omitempty"`
	AllowSelfApproval bool      `json:"allow_self_approval"`
}

// Approvers are roster groups and members.
type Approvers struct {
	Groups []string `json:"groups,omitempty"`
	People []string `json:"people,omitempty"`
}

func (a Approvers) empty() bool { return len(a.Groups) == 0 && len(a.People) == 0 }

// String names the groups and people the way the runbook does, for
// messages: "group csirt-oncall, alice"; "nobody" when empty.
func (a Approvers) String() string {
	parts := make([]string, 0, len(a.Groups)+len(a.People))
	for _, g := range a.Groups {
		parts = append(parts, "group "+g)
	}
	parts = append(parts, a.People...)
	if len(parts) == 0 {
		return "nobody"
	}
	return strings.Join(parts, ", ")
}

// Retry is the activity retry policy of a step.
type Retry struct {
	MaxAttempts int      `json:"max_attempts"`
	Backoff     Duration `json:"backoff"`
	MaxBackoff  Duration `json:"max_backoff"`
}

// Output is a named expression.
type Output struct {
	Name string `json:"name"`
	Expr Expr   `json:"expr"`
}

// Expr is a type-checked expression and the type it yields.
type Expr struct {
	Source string    `json:"src"`
	Type   spec.Type `json:"type"`
}

// Value is a parameter value: a literal, a whole expression (keeping the
// expression's type), a string template with ${{ }} parts, or a list or
// map whose elements contain expressions.
type Value struct {
	Literal  any              `json:"literal,omitempty"`
	Expr     *Expr            `json:"expr,omitempty"`
	Template []TemplatePart   `json:"template,omitempty"`
	List     []Value          `json:"list,omitempty"`
	Map      map[string]Value `json:"map,omitempty"`
}

// TemplatePart is literal text or an interpolated expression.
type TemplatePart struct {
	Text string `json:"text,omitempty"`
	Expr *Expr  `json:"expr,omitempty"`
}

// IsLiteral reports whether the value needs no evaluation.
func (v Value) IsLiteral() bool {
	return v.Expr == nil && v.Template == nil && v.List == nil && v.Map == nil
}

// Duration is a time.Duration that reads and writes as text ("15m0s"), so
// plans stay readable and diffable.
type Duration time.Duration

// MarshalJSON implements json.Marshaler.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// UnmarshalJSON implements json.Unmarshaler.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("duration: %w", err)
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("duration: %w", err)
	}
	*d = Duration(v)
	return nil
}

// Hash is the sha256 of the plan's canonical JSON (encoding/json writes
// struct fields in declaration order and map keys sorted, so equal plans
// hash equal). It goes into every run's audit record.
func (p *Plan) Hash() string {
	b, err := json.Marshal(p)
	if err != nil {
		// A Plan holds only JSON-safe values by construction.
		panic(fmt.Sprintf("plan hash: %v", err))
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// Step returns the step with the given id.
func (p *Plan) Step(id string) (*Step, bool) {
	for i := range p.Steps {
		if p.Steps[i].ID == id {
			return &p.Steps[i], true
		}
	}
	return nil, false
}

func timeDuration(d Duration) time.Duration { return time.Duration(d) }

// ContentHash is Hash with every source file path left out (the plan's
// and its children's): two checkouts of the same reviewed runbooks in
// different directories compile to plans with the same content hash, so a
// worker can vouch for a plan a responder compiled on their laptop. The
// source's own sha256 stays in, so any edit of the text changes it.
func (p *Plan) ContentHash() string {
	return withoutSourcePaths(p).Hash()
}

func withoutSourcePaths(p *Plan) *Plan {
	if p == nil {
		return nil
	}
	c := *p
	c.Runbook.SourceFile = ""
	if p.Children != nil {
		c.Children = make(map[string]*Plan, len(p.Children))
		for name, child := range p.Children {
			c.Children[name] = withoutSourcePaths(child)
		}
	}
	return &c
}
