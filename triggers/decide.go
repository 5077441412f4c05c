package triggers

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"regexp"
	"sort"
	"strings"

	"github.com/cordon-ir/cordon/runbooks"
)

// Decision outcomes besides the trigger modes (launch, propose, dry_run).
const Drop = "drop"

// Decision is what one finding does for one runbook trigger.
type Decision struct {
	// Decision is launch, propose or dry_run (the trigger's mode), or drop.
	Decision string `json:"decision"`
	Runbook  string `json:"runbook,omitempty"`
	Trigger  string `json:"trigger,omitempty"`
	// Inputs are the run's inputs, typed and checked against the plan's
	// declarations (defaults are the run's to fill in).
	Inputs     map[string]any `json:"inputs,omitempty"`
	FindingKey string         `json:"finding_key,omitempty"`
	TargetKey  string         `json:"target_key,omitempty"`
	// Reason says why a finding is dropped.
	Reason string `json:"reason,omitempty"`
	// PlanHash is the content hash of the plan whose trigger decided
	// (runbooks.Plan.ContentHash): a run started from the decision runs
	// that plan, or the worker refuses it.
	PlanHash string `json:"plan_hash,omitempty"`
	// MaxLaunchesPerHour is the trigger's circuit breaker (0: none).
	MaxLaunchesPerHour int `json:"max_launches_per_hour,omitempty"`
	// Batch says, for a trigger with aggregate:, which batch the finding
	// joins and what it adds (Inputs then hold the item alone in the list).
	Batch *Batch `json:"batch,omitempty"`
}

// Batch is where an aggregated finding goes.
type Batch struct {
	// Key identifies the batch: the runbook, the trigger, the values of
	// the aggregate's by: fields, and the other inputs (findings that
	// would give the run different inputs never share a run).
	Key string `json:"key"`
	// Into is the list input; Item is what this finding adds to it.
	Into string `json:"into"`
	Item any    `json:"item"`
	// Window and MaxTargets are the trigger's.
	Window     runbooks.Duration `json:"window"`
	MaxTargets int               `json:"max_targets"`
}

// Result is one finding and what it does.
type Result struct {
	Finding   Finding    `json:"finding"`
	Decisions []Decision `json:"decisions"`
}

// Decide parses an EventBridge event and decides, for every trigger of
// every plan, what each of its findings does. The error is a malformed
// event; a finding nothing acts upon is a drop decision with its reason.
func Decide(plans []*runbooks.Plan, event []byte) ([]Result, error) {
	fs, err := ParseEvent(event)
	if err != nil {
		return nil, err
	}
	return DecideFindings(plans, fs), nil
}

// DecideFindings decides for findings already parsed.
func DecideFindings(plans []*runbooks.Plan, findings []Finding) []Result {
	return DecideFindingsWith(plans, findings, Options{})
}

// Options are what the intake knows beyond the findings.
type Options struct {
	// AccountName names a finding's 12-digit account as the worker
	// configuration does (aws.accounts): it becomes the run's account
	// input when the runbook declares one and the trigger does not map it.
	// "" leaves the input to its default. Nil: no mapping.
	AccountName func(account string) string
}

// AccountInput is the runbook input the account's name goes into.
const AccountInput = "account"

// DecideFindingsWith decides for findings already parsed, with what the
// intake knows.
func DecideFindingsWith(plans []*runbooks.Plan, findings []Finding, o Options) []Result {
	ev := runbooks.NewEvaluator()
	// A plan's content hash is computed once, when a trigger of it first
	// matches.
	hashed := make([]string, len(plans))
	hashes := func(i int) string {
		if hashed[i] == "" {
			hashed[i] = plans[i].ContentHash()
		}
		return hashed[i]
	}
	out := make([]Result, 0, len(findings))
	for _, f := range findings {
		out = append(out, Result{Finding: f, Decisions: decideOne(ev, plans, hashes, f, o)})
	}
	return out
}

func decideOne(ev *runbooks.Evaluator, plans []*runbooks.Plan, hashes func(int) string, f Finding, o Options) []Decision {
	drop := func(p *runbooks.Plan, t *runbooks.Trigger, reason string) Decision {
		d := Decision{Decision: Drop, FindingKey: f.Key, TargetKey: f.TargetKey, Reason: reason}
		if p != nil {
			d.Runbook, d.Trigger = p.Runbook.Name, t.Name
		}
		return d
	}
	// Always dropped, whatever a trigger says.
	if f.Drop != "" {
		return []Decision{drop(nil, nil, f.Drop)}
	}
	var out []Decision
	for pi, p := range plans {
		for i := range p.Triggers {
			t := &p.Triggers[i]
			if t.Source != f.Source {
				continue
			}
			if why := mismatch(ev, t, &f); why != "" {
				out = append(out, drop(p, t, why))
				continue
			}
			inputs, batch, why := triggerInputs(ev, p, t, &f, o)
			if why != "" {
				out = append(out, drop(p, t, why))
				continue
			}
			out = append(out, Decision{Decision: t.Mode, Runbook: p.Runbook.Name, Trigger: t.Name,
				Inputs: inputs, FindingKey: f.Key, TargetKey: f.TargetKey, PlanHash: hashes(pi),
				MaxLaunchesPerHour: t.MaxLaunchesPerHour, Batch: batch})
		}
	}
	if len(out) == 0 {
		return []Decision{drop(nil, nil, fmt.Sprintf("no trigger reads %s findings", f.Source))}
	}
	return out
}

// mismatch says why a finding does not match a trigger, or "".
func mismatch(ev *runbooks.Evaluator, t *runbooks.Trigger, f *Finding) string {
	m := t.Match
	if len(m.Accounts) > 0 && !contains(m.Accounts, f.Account) {
		return fmt.Sprintf("account %s is not one of the trigger's accounts", f.Account)
	}
	if len(m.Types) > 0 && !anyGlob(m.Types, append([]string{f.Type}, f.Types...)) {
		return fmt.Sprintf("type %s matches none of %s", f.Type, strings.Join(m.Types, ", "))
	}
	if len(m.EventTypeCodes) > 0 && !anyGlob(m.EventTypeCodes, []string{f.EventTypeCode}) {
		return fmt.Sprintf("event type %s matches none of %s", f.EventTypeCode, strings.Join(m.EventTypeCodes, ", "))
	}
	if m.Resource != "" && m.Resource != f.Resource {
		return fmt.Sprintf("resource %s, not %s", orNone(f.Resource), m.Resource)
	}
	if m.MinSeverity != "" && runbooks.SeverityRank(f.Severity) < runbooks.SeverityRank(m.MinSeverity) {
		return fmt.Sprintf("severity %s is below %s", orNone(f.Severity), m.MinSeverity)
	}
	if m.When != nil {
		ok, err := ev.Bool(*m.When, &runbooks.Values{Finding: f.Fields()})
		if err != nil {
			return fmt.Sprintf("when: %v", err)
		}
		if !ok {
			return fmt.Sprintf("when: %s is false", m.When.Source)
		}
	}
	return ""
}

// triggerInputs evaluates a trigger's inputs (with an aggregate's item
// alone in its list) and checks them with the plan's own checks. It
// returns the reason when they do not fit.
func triggerInputs(ev *runbooks.Evaluator, p *runbooks.Plan, t *runbooks.Trigger, f *Finding, o Options) (map[string]any, *Batch, string) {
	values := runbooks.Values{Finding: f.Fields()}
	names := make([]string, 0, len(t.Inputs))
	for name := range t.Inputs {
		names = append(names, name)
	}
	sort.Strings(names)
	inputs := map[string]any{}
	for _, name := range names {
		v, err := ev.Value(t.Inputs[name], &values)
		if err != nil {
			return nil, nil, fmt.Sprintf("input %s: %v", name, err)
		}
		if s, ok := v.(string); ok && s == "" {
			// The finding has no such field: the input's default applies,
			// or the plan's check below says it is required.
			continue
		}
		inputs[name] = v
	}
	if _, mapped := t.Inputs[AccountInput]; !mapped && o.AccountName != nil && declares(p, AccountInput) {
		// The run acts in the finding's account, by the name the worker
		// reaches it by; before the batch key, so that findings of two
		// accounts never share a run.
		if name := o.AccountName(f.Account); name != "" {
			inputs[AccountInput] = name
		}
	}
	var batch *Batch
	if a := t.Aggregate; a != nil {
		item, err := ev.Value(a.Item, &values)
		if err != nil {
			return nil, nil, fmt.Sprintf("aggregate.item: %v", err)
		}
		if s, ok := item.(string); ok && s == "" {
			return nil, nil, "aggregate.item is empty for this finding: it names nothing to add to " + a.Into
		}
		inputs[a.Into] = []any{item}
		batch = &Batch{Key: batchKey(p.Runbook.Name, t, f, inputs), Into: a.Into, Item: item, Window: a.Window, MaxTargets: a.MaxTargets}
	}
	for _, in := range p.Inputs {
		if why := sessionKeyForUserKey(in, inputs[in.Name]); why != "" {
			return nil, nil, why
		}
	}
	if err := p.CheckValues(inputs); err != nil {
		return nil, nil, "the finding does not fit the runbook's inputs: " + strings.ReplaceAll(err.Error(), "\n", "; ")
	}
	return inputs, batch, ""
}

// declares says whether the plan has an input of that name.
func declares(p *runbooks.Plan, name string) bool {
	for _, in := range p.Inputs {
		if in.Name == name {
			return true
		}
	}
	return false
}

// batchKey is the key of the batch an aggregated finding joins: the
// runbook, the trigger, the by: fields' values, and the hash of the
// inputs other than the list, so findings that would start different
// runs never share one.
func batchKey(runbook string, t *runbooks.Trigger, f *Finding, inputs map[string]any) string {
	fields := f.Fields()
	parts := make([]string, 0, len(t.Aggregate.By)+3)
	parts = append(parts, runbook, t.Name)
	for _, by := range t.Aggregate.By {
		parts = append(parts, fmt.Sprintf("%s=%v", by, fields[by]))
	}
	others := make(map[string]any, len(inputs))
	for k, v := range inputs {
		if k != t.Aggregate.Into {
			others[k] = v
		}
	}
	b, err := json.Marshal(others)
	if err != nil {
		// Inputs are values of finding fields: JSON-safe by construction.
		b = []byte(err.Error())
	}
	sum := sha256.Sum256(b)
	return strings.Join(append(parts, "inputs="+hex.EncodeToString(sum[:6])), "/")
}

// sessionKeyForUserKey explains an ASIA… (session) key offered to an
// input that only takes an IAM user's AKIA… key: the containment for a
// session key is revoking its role's sessions, not this runbook.
func sessionKeyForUserKey(in runbooks.Input, v any) string {
	s, ok := v.(string)
	if !ok || !strings.HasPrefix(s, "ASIA") || in.Pattern == "" {
		return ""
	}
	re, err := regexp.Compile(in.Pattern)
	if err != nil || re.MatchString(s) || !re.MatchString("AKIA"+s[4:]) {
		return ""
	}
	return fmt.Sprintf("access key %s is a session key (ASIA…) but input %s needs an IAM user's key (%s): contain it by revoking the role's sessions", s, in.Name, in.Pattern)
}

// anyGlob reports whether any pattern matches any value.
func anyGlob(patterns, values []string) bool {
	for _, p := range patterns {
		for _, v := range values {
			if v != "" && glob(p, v) {
				return true
			}
		}
	}
	return false
}

// glob matches s against a pattern in which * stands for any run of
// characters (slashes included) and everything else is literal.
func glob(pattern, s string) bool {
	px, sx := 0, 0
	star, mark := -1, 0
	for sx < len(s) {
		switch {
		case px < len(pattern) && pattern[px] == '*':
			star, mark = px, sx
			px++
		case px < len(pattern) && pattern[px] == s[sx]:
			px++
			sx++
		case star >= 0:
			px, mark = star+1, mark+1
			sx = mark
		default:
			return false
		}
	}
	for px < len(pattern) && pattern[px] == '*' {
		px++
	}
	return px == len(pattern)
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}
