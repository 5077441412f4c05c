package worker

import (
	"context"
	"fmt"
	"sync"

	"github.com/cordon-ir/cordon/actions"
	"github.com/cordon-ir/cordon/intake/source"
	"github.com/cordon-ir/cordon/runbooks"
	"github.com/cordon-ir/cordon/triggers"
	"github.com/cordon-ir/cordon/workflows"
)

// TriggerVerifier is the worker's side of a run the intake started
// (ActivityVerifyTrigger). The intake is a long-lived service facing the
// internet; whoever holds its key can sign any start under a launch
// trigger. So the worker takes none of its word: it fetches each finding
// from its source through its own account roles, compares it with what
// the start carries (source.Match, the intake's own comparison), and
// recomputes the run's inputs from the sources' findings with the
// trigger (package triggers), as the intake decides them.
type TriggerVerifier struct {
	// AWS reaches the findings' accounts as the actions do; nil: this
	// worker cannot verify, and refuses every intake start.
	AWS source.Configs
	// IDs maps the configured accounts' 12-digit ids to their names
	// (aws.accounts); empty: the worker's own account, asked of STS.
	IDs map[string]string

	mu     sync.Mutex
	source *source.Source
	own    string
}

// NewTriggerVerifier verifies through aws, with cfg's accounts.
func NewTriggerVerifier(cfg *Config, aws source.Configs) *TriggerVerifier {
	// An account without a 12-digit id is one no finding can name; the
	// others still map (the error is the intake's to refuse to start on).
	ids, _ := cfg.AccountIDs()
	return &TriggerVerifier{AWS: aws, IDs: ids}
}

// verifySession names the verification's role sessions (cordon-verify),
// so CloudTrail tells its reads from the runs' calls and the intake's.
const verifySession = "verify"

// Verify answers the workflow: a refusal, with its reason, when a finding
// is not what its source holds or the inputs are not what the findings
// decide; an error (retried by Temporal) when a source could not be asked.
func (v *TriggerVerifier) Verify(ctx context.Context, req workflows.VerifyTriggerRequest) (workflows.VerifiedTrigger, error) {
	t, refusal := triggerNamed(req.Plan, req.Trigger)
	if refusal != "" {
		return workflows.VerifiedTrigger{Refusal: refusal}, nil
	}
	// Bound the work before any call: a start carries as many findings as
	// its signer wrote.
	if n := triggers.MaxFindings(t); len(req.Findings) > n || len(req.Findings) == 0 {
		return workflows.VerifiedTrigger{Refusal: fmt.Sprintf("the start carries %d finding(s); trigger %s starts a run of 1 to %d by itself",
			len(req.Findings), t.Name, n)}, nil
	}
	if v.AWS == nil {
		return workflows.VerifiedTrigger{Refusal: "this worker has no AWS access to fetch the findings from their sources"}, nil
	}
	names, err := v.accounts(ctx)
	if err != nil {
		return workflows.VerifiedTrigger{}, err
	}
	src := v.fetcher()
	out := workflows.VerifiedTrigger{}
	fetched := map[string][]triggers.Finding{}
	found := make([]triggers.Finding, 0, len(req.Findings))
	for _, tf := range req.Findings {
		name, ok := names.Name(tf.Account)
		if !ok {
			out.Refusal = fmt.Sprintf("finding %s is about account %s, which no aws.accounts entry of the worker covers", tf.Key, tf.Account)
			return out, nil
		}
		f := triggers.Finding{Key: tf.Key, Source: tf.Source, ID: tf.ID, Type: tf.Type, Account: tf.Account, Region: tf.Region,
			TargetKey: tf.TargetKey, ProductARN: tf.ProductARN}
		// One call per finding of the source: a Health event's entities
		// are one event there.
		id := tf.Source + "|" + tf.Account + "|" + tf.Region + "|" + tf.ProductARN + "|" + tf.ID
		got, done := fetched[id]
		if !done {
			if got, err = src.Fetch(ctx, name, f); err != nil {
				return out, fmt.Errorf("verify finding %s at its source: %w", tf.Key, err)
			}
			fetched[id] = got
			out.Fetched++
		}
		g, why := source.Match(source.ClaimOf(f), got)
		if why != "" {
			out.Refusal = fmt.Sprintf("finding %s: %s", tf.Key, why)
			return out, nil
		}
		found = append(found, g)
	}
	accountName := func(id string) string { name, _ := names.Name(id); return name }
	want, err := triggers.RunInputs(req.Plan, t, found, triggers.Options{AccountName: accountName})
	if err == nil {
		err = triggers.CheckInputs(req.Plan, t, want, req.Inputs)
	}
	if err != nil {
		out.Refusal = err.Error()
	}
	return out, nil
}

// triggerNamed is plan p's trigger name, or why there is none to verify.
func triggerNamed(p *runbooks.Plan, name string) (*runbooks.Trigger, string) {
	if p == nil {
		return nil, "no plan to verify the trigger against"
	}
	for i := range p.Triggers {
		if p.Triggers[i].Name == name {
			return &p.Triggers[i], ""
		}
	}
	return nil, fmt.Sprintf("runbook %s has no trigger %q", p.Runbook.Name, name)
}

// fetcher is the verifier's source, made once (it caches the GuardDuty
// detectors it finds).
func (v *TriggerVerifier) fetcher() *source.Source {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.source == nil {
		v.source = source.New(v.AWS, verifySession)
	}
	return v.source
}

// accounts maps findings' accounts to the names the worker reaches them
// by: the configured ones, else the worker's own account (asked once).
func (v *TriggerVerifier) accounts(ctx context.Context) (source.Accounts, error) {
	if len(v.IDs) > 0 {
		return source.NewAccounts(v.IDs), nil
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.own == "" {
		cfg, err := v.AWS.Config(ctx, actions.Target{}, actions.RunRef{RunID: verifySession})
		if err != nil {
			return source.Accounts{}, fmt.Errorf("the worker's own account: %w", err)
		}
		if v.own, err = source.OwnAccount(ctx, cfg); err != nil {
			return source.Accounts{}, fmt.Errorf("the worker: %w", err)
		}
	}
	return source.NewAccounts(map[string]string{v.own: ""}), nil
}
