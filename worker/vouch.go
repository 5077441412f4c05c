package worker

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strings"

	"go.temporal.io/sdk/activity"

	"github.com/cordon-ir/cordon/actions/spec"
	"github.com/cordon-ir/cordon/actions/wire"
	"github.com/cordon-ir/cordon/runbooks"
	"github.com/cordon-ir/cordon/workflows"
)

// PlanSource is the worker's side of runbook provenance: the runbooks it
// vouches for (a directory, typically a reviewed git checkout), compiled by
// the worker itself, and the catalog every plan is checked against. It
// implements the ActivityVouchPlan activity (the workflow never runs a plan
// this has not seen) and ActivityCheckInstances.
type PlanSource struct {
	// Dir holds the reviewed runbooks (*.yaml, *.yml). Empty: no plan is
	// vouched for, and every production run needs a lead's approval of its
	// plan.
	Dir string
	// AcceptClientPlans runs clients' plans as they are: cordon dev and
	// the demo only, where the person at the keyboard is the whole team.
	AcceptClientPlans bool
	// Catalog is the worker's action catalog (actions.Catalog()).
	Catalog spec.Catalog
	// AllowJustifiedNoGate lets a vouched runbook run a destructive step
	// without a gate when it carries a justification (policy).
	AllowJustifiedNoGate bool
	// Instances, when set, checks before a run starts that the EC2
	// instances its inputs name exist (the worker's actions runtime), in
	// CheckInstances once the start is authenticated (in Vouch for runs
	// recorded before that); nil skips the check.
	Instances InstanceChecker
}

// InstanceChecker says which EC2 instances of a list do not exist in a
// target's account and region (actions.Runtime is one).
type InstanceChecker interface {
	MissingInstances(ctx context.Context, target wire.Target, run wire.RunRef, ids []string) (missing []string, region string, err error)
}

// Vouch answers the workflow: which plan to run, and whether the worker's
// side stands behind it. A refusal is an answer, not an error, so it is
// recorded in the run's history with its reason.
func (s *PlanSource) Vouch(ctx context.Context, req workflows.VouchRequest) (workflows.VouchedPlan, error) {
	source, err := s.compileSource()
	if err != nil {
		return workflows.VouchedPlan{}, err // retried: the source may be being updated
	}
	name := req.Runbook
	if name == "" && req.Plan != nil {
		name = req.Plan.Runbook.Name
	}
	own, haveOwn := source[name]
	var out workflows.VouchedPlan
	switch {
	case req.Plan == nil:
		if !haveOwn {
			return refuseRun(fmt.Sprintf("the worker's runbook source (%s) holds no runbook named %q: add it there through review, or start it from a file (an ad-hoc plan needs a lead's approval)", s.describeDir(), name)), nil
		}
		out = workflows.VouchedPlan{Plan: own.plan, Vouched: true, Source: own.describe()}
	case req.Plan.Runbook.Name != name:
		return refuseRun(fmt.Sprintf("the request names runbook %q but carries a plan of %q", name, req.Plan.Runbook.Name)), nil
	case haveOwn && own.plan.ContentHash() == req.Plan.ContentHash():
		// The worker's own compile of the same source: run that one, so
		// the record names the worker's file.
		out = workflows.VouchedPlan{Plan: own.plan, Vouched: true, Source: own.describe()}
	case s.AcceptClientPlans:
		out = workflows.VouchedPlan{Plan: req.Plan, Development: true,
			Source: "the client's plan, accepted as it is by a development worker (cordon dev, demo)"}
	default:
		out = workflows.VouchedPlan{Plan: req.Plan, Source: "an ad-hoc plan from the client: not in the worker's runbook source (" + s.describeDir() + ")"}
		if haveOwn {
			out.VouchedHash = own.plan.ContentHash()
			out.Diff = DiffPlans(own.plan, req.Plan)
		} else {
			out.Diff = DiffPlans(nil, req.Plan)
		}
	}
	if req.PlanHash != "" && req.PlanHash != out.Plan.ContentHash() {
		return refuseRun(fmt.Sprintf("the start was signed for plan %s, but runbook %s is now plan %s in the worker's source: it changed since you compiled it; review the change and start again", short(req.PlanHash), name, short(out.Plan.ContentHash()))), nil
	}
	trusted := out.Vouched || out.Development
	if problems := CheckPlanGates(out.Plan, s.Catalog, trusted && s.AllowJustifiedNoGate); len(problems) > 0 {
		return refuseRun("the plan breaks the worker's catalog: " + strings.Join(problems, "; ")), nil
	}
	inputs := req.Inputs
	if req.InputArgs != nil {
		inputs, err = out.Plan.ResolveInputs(req.InputArgs)
		out.Inputs = inputs
	} else {
		err = out.Plan.CheckValues(req.Inputs)
	}
	if err != nil {
		return refuseRun("the inputs do not fit runbook " + name + ": " + strings.ReplaceAll(err.Error(), "\n", "; ")), nil
	}
	if req.DeferInstanceCheck {
		return out, nil // the run asks CheckInstances once the start is authenticated
	}
	if reason := s.missingInstances(ctx, out.Plan, inputs); reason != "" {
		return refuseRun(reason), nil
	}
	return out, nil
}

// CheckInstances answers the workflow once a start is authenticated
// (ActivityCheckInstances): the check the vouch made before, and the
// same refusal.
func (s *PlanSource) CheckInstances(ctx context.Context, req workflows.CheckInstancesRequest) (workflows.CheckedInstances, error) {
	return workflows.CheckedInstances{Refusal: s.missingInstances(ctx, req.Plan, req.Inputs)}, nil
}

// instanceIDPattern is what an EC2 instance id looks like.
var instanceIDPattern = regexp.MustCompile(`^i-[0-9a-f]{8,17}$`)

// inputRef matches a parameter that is exactly one input.
var inputRef = regexp.MustCompile(`^\s*inputs\.([A-Za-z_][A-Za-z0-9_]*)\s*$`)

// instanceCheck is the instances one target must hold, and the input
// that named each.
type instanceCheck struct {
	target wire.Target
	ids    []string
	input  map[string]string // id → input name
}

// missingInstances says why the run must not start when an input names
// an EC2 instance that does not exist ("" when it may), before anything
// runs: one line, instead of a run that fails at its first step with a
// long chain. The instance ids are the values of inputs that feed, as
// they are, the instance_id or instance_ids parameter of an aws.ec2.*
// step, in that step's target (account and region, as far as inputs
// decide them). It is a read the
// steps themselves need (ec2:DescribeInstances), so rehearsals (dry runs)
// are checked too. When the check cannot tell (no AWS access, a target
// that depends on an earlier step) the run goes on and its steps say.
func (s *PlanSource) missingInstances(ctx context.Context, plan *runbooks.Plan, inputs map[string]any) string {
	if s.Instances == nil || plan == nil || !activity.IsActivity(ctx) {
		return ""
	}
	checks := s.instanceChecks(plan, inputs)
	run := wire.RunRef{RunID: activity.GetInfo(ctx).WorkflowExecution.ID, StepID: "check-instances"}
	for _, c := range checks {
		missing, region, err := s.Instances.MissingInstances(ctx, c.target, run, c.ids)
		if err != nil {
			activity.GetLogger(ctx).Warn("could not check that the run's instances exist; the run goes on", "run", run.RunID, "account", c.target.Account, "region", c.target.Region, "error", err)
			continue
		}
		if len(missing) == 0 {
			continue
		}
		if region == "" {
			region = c.target.Region
		}
		account := c.target.Account
		if account == "" {
			account = "(the worker's own)"
		}
		in := c.input[missing[0]]
		what, verb, check := "instance "+missing[0], "does", "the id"
		if len(missing) > 1 {
			what, verb, check = "instances "+strings.Join(missing, ", "), "do", "the ids"
		}
		return fmt.Sprintf("%s %s not exist in account %s region %s: check %s (cordon run %s --input %s=…)",
			what, verb, account, region, check, plan.Runbook.Name, in)
	}
	return ""
}

// instanceChecks finds, per target, the instance ids the run's inputs
// give to aws.ec2.* steps.
func (s *PlanSource) instanceChecks(p *runbooks.Plan, inputs map[string]any) []*instanceCheck {
	var checks []*instanceCheck
	byTarget := map[wire.Target]*instanceCheck{}
	eval := runbooks.NewEvaluator()
	for _, st := range p.Steps {
		if !strings.HasPrefix(st.Action, "aws.ec2.") {
			continue
		}
		if a, ok := s.Catalog.Lookup(st.Action); !ok || !slices.Contains(a.Permissions, "ec2:DescribeInstances") {
			continue // the worker's role may not be allowed the read
		}
		for _, param := range []string{"instance_id", "instance_ids"} {
			v, ok := st.With[param]
			if !ok || v.Expr == nil {
				continue
			}
			m := inputRef.FindStringSubmatch(v.Expr.Source)
			if m == nil {
				continue
			}
			ids := instanceIDs(inputs[m[1]])
			if len(ids) == 0 {
				continue
			}
			var t wire.Target
			var err error
			t.Account, t.Region, err = eval.Target(st.Target, &runbooks.Values{Inputs: inputs})
			if err != nil {
				continue // decided by an earlier step: the step itself will tell
			}
			c := byTarget[t]
			if c == nil {
				c = &instanceCheck{target: t, input: map[string]string{}}
				byTarget[t] = c
				checks = append(checks, c)
			}
			for _, id := range ids {
				if _, dup := c.input[id]; !dup {
					c.input[id] = m[1]
					c.ids = append(c.ids, id)
				}
			}
		}
	}
	return checks
}

// instanceIDs are the instance ids in an input's value (a string or a
// list of them); anything else is not checked.
func instanceIDs(v any) []string {
	var out []string
	add := func(x any) {
		if id, ok := x.(string); ok && instanceIDPattern.MatchString(id) {
			out = append(out, id)
		}
	}
	switch x := v.(type) {
	case []any:
		for _, e := range x {
			add(e)
		}
	case []string:
		for _, e := range x {
			add(e)
		}
	default:
		add(x)
	}
	return out
}

func refuseRun(reason string) workflows.VouchedPlan { return workflows.VouchedPlan{Refusal: reason} }

func short(h string) string {
	if len(h) > 12 {
		return h[:12]
	}
	return h
}

func (s *PlanSource) describeDir() string {
	if s.Dir == "" {
		return "none configured: set runbooks.dir"
	}
	return s.Dir
}

type sourcePlan struct {
	file string
	plan *runbooks.Plan
}

func (p sourcePlan) describe() string {
	return fmt.Sprintf("%s (sha256 %s), compiled by the worker", p.file, short(p.plan.Runbook.SourceSHA256))
}

// Plans compiles the runbook source, as Vouch does before every start:
// the plans the intake decides findings with, so a plan hash it signs is
// the one the worker vouches for.
func (s *PlanSource) Plans() ([]*runbooks.Plan, error) {
	source, err := s.compileSource()
	if err != nil {
		return nil, err
	}
	plans := make([]*runbooks.Plan, 0, len(source))
	for _, name := range slices.Sorted(maps.Keys(source)) {
		plans = append(plans, source[name].plan)
	}
	return plans, nil
}

// compileSource compiles every runbook in Dir. A runbook that does not
// compile is left out (it cannot be vouched for); the others still are.
func (s *PlanSource) compileSource() (map[string]sourcePlan, error) {
	out := map[string]sourcePlan{}
	if s.Dir == "" {
		return out, nil
	}
	var files []string
	for _, pattern := range []string{"*.yaml", "*.yml"} {
		m, err := filepath.Glob(filepath.Join(s.Dir, pattern))
		if err != nil {
			return nil, fmt.Errorf("list runbooks in %s: %w", s.Dir, err)
		}
		files = append(files, m...)
	}
	if _, err := os.Stat(s.Dir); err != nil {
		return nil, fmt.Errorf("runbook source %s: %w", s.Dir, err)
	}
	sort.Strings(files)
	compiler := runbooks.NewCompiler(s.Catalog, runbooks.NewDirResolver(files...))
	for _, f := range files {
		src, err := runbooks.ReadFile(f)
		if err != nil {
			continue
		}
		plan, _ := compiler.Compile(f, src)
		if plan == nil {
			continue
		}
		if _, dup := out[plan.Runbook.Name]; !dup {
			out[plan.Runbook.Name] = sourcePlan{file: f, plan: plan}
		}
	}
	return out, nil
}

// CheckPlanGates checks a plan (and its children) against the worker's
// catalog, never trusting what the plan says of itself: every action
// exists, the plan's destructive and mutating marks are the catalog's, and
// every destructive step has a gate that someone can pass, unless
// justifiedNoGate allows a step that says why it runs unapproved.
func CheckPlanGates(p *runbooks.Plan, catalog spec.Catalog, justifiedNoGate bool) []string {
	var problems []string
	seen := map[*runbooks.Plan]bool{}
	var walk func(p *runbooks.Plan, where string)
	walk = func(p *runbooks.Plan, where string) {
		if p == nil || seen[p] {
			return
		}
		seen[p] = true
		for _, st := range p.Steps {
			at := fmt.Sprintf("%sstep %s", where, st.ID)
			if st.Uses != "" {
				child := p.Children[st.Uses]
				if child == nil {
					problems = append(problems, fmt.Sprintf("%s uses %s, which the plan does not carry", at, st.Uses))
					continue
				}
				walk(child, fmt.Sprintf("%s%s → ", where, st.Uses))
				continue
			}
			a, ok := catalog.Lookup(st.Action)
			if !ok {
				problems = append(problems, fmt.Sprintf("%s: %s is not in the worker's catalog", at, st.Action))
				continue
			}
			if st.Destructive != a.Destructive || st.Mutating != a.Mutating {
				problems = append(problems, fmt.Sprintf("%s: the plan marks %s destructive=%t mutating=%t, the catalog says destructive=%t mutating=%t", at, st.Action, st.Destructive, st.Mutating, a.Destructive, a.Mutating))
			}
			if st.Gate != nil {
				if st.Gate.MinApprovals < 1 || (len(st.Gate.Approvers.Groups) == 0 && len(st.Gate.Approvers.People) == 0) {
					problems = append(problems, fmt.Sprintf("%s: its gate needs no approval from anyone", at))
				}
				continue
			}
			if a.Destructive && !(justifiedNoGate && strings.TrimSpace(st.Justification) != "") {
				why := "the catalog marks it destructive"
				if st.Justification != "" {
					why += " (a justification is accepted only in a runbook from the worker's source, when policy allows it)"
				}
				problems = append(problems, fmt.Sprintf("%s runs %s without an approval gate: %s", at, st.Action, why))
			}
		}
	}
	walk(p, "")
	return problems
}

// DiffPlans lists what differs between the vouched version of a runbook
// and an ad-hoc plan, field by field, as changes a lead can read at the
// plan's gate. base may be nil (no vouched version).
func DiffPlans(base, adhoc *runbooks.Plan) []wire.Change {
	flat := func(p *runbooks.Plan) map[string]string {
		out := map[string]string{}
		if p == nil {
			return out
		}
		b, err := json.Marshal(p)
		if err != nil {
			return out
		}
		var v any
		if json.Unmarshal(b, &v) != nil {
			return out
		}
		flatten("", v, out)
		delete(out, "runbook.source_file")
		return out
	}
	a, b := flat(base), flat(adhoc)
	keys := make([]string, 0, len(a)+len(b))
	for k := range a {
		keys = append(keys, k)
	}
	for k := range b {
		if _, ok := a[k]; !ok {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	var changes []wire.Change
	for _, k := range keys {
		before, after := a[k], b[k]
		if before == after {
			continue
		}
		changes = append(changes, wire.Change{Resource: "plan", Field: k, Before: before, After: after})
	}
	return changes
}

// flatten writes v's leaves as path → JSON text. Steps are keyed by their
// id, not their index, so inserting a step shows as one step added.
func flatten(path string, v any, out map[string]string) {
	join := func(k string) string {
		if path == "" {
			return k
		}
		return path + "." + k
	}
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			flatten(join(k), e, out)
		}
	case []any:
		for i, e := range x {
			key := fmt.Sprint(i)
			if m, ok := e.(map[string]any); ok && strings.HasSuffix(path, "steps") {
				if id, ok := m["id"].(string); ok {
					key = id
				}
			}
			flatten(join(key), e, out)
		}
	default:
		if v == nil || reflect.ValueOf(v).IsZero() {
			return
		}
		b, _ := json.Marshal(v)
		out[path] = string(b)
	}
}
