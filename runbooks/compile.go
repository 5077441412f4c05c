package runbooks

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/expr-lang/expr/conf"
	"gopkg.in/yaml.v3"

	"github.com/cordon-ir/cordon/actions/spec"
)

// Defaults applied when a runbook does not say otherwise.
const (
	defaultGateTimeout  = 30 * time.Minute
	defaultAttempts     = 10
	defaultBackoff      = time.Second
	defaultMaxBackoff   = 30 * time.Second
	defaultChildTimeout = 24 * time.Hour
)

// Resolver finds the source of a runbook named by uses:.
type Resolver interface {
	// Resolve returns the file and contents of the runbook called name,
	// as seen from the runbook in file from.
	Resolve(from, name string) (file string, src []byte, err error)
}

// Compiler compiles runbooks against an action catalog. It holds no
// per-compilation state and is safe for concurrent use.
type Compiler struct {
	catalog  spec.Catalog
	resolver Resolver
	shape    *shape
	patterns sync.Map // pattern text → *regexp.Regexp, from the catalog
	types    goTypes
	builtins conf.FunctionsTable // allowed expression functions, read-only
}

// pattern compiles a catalog pattern once per compiler. Catalog patterns
// are checked when the registry is built, so compiling cannot fail here.
func (c *Compiler) pattern(p string) *regexp.Regexp {
	if re, ok := c.patterns.Load(p); ok {
		return re.(*regexp.Regexp)
	}
	re := regexp.MustCompile(p)
	c.patterns.Store(p, re)
	return re
}

// NewCompiler returns a compiler that checks actions against catalog and
// finds child runbooks through resolver (which may be nil when runbooks
// use no children).
func NewCompiler(catalog spec.Catalog, resolver Resolver) *Compiler {
	return &Compiler{catalog: catalog, resolver: resolver, shape: runbookShape(), builtins: allowedBuiltins()}
}

// Compile compiles one runbook. It returns every problem it finds, not just
// the first, sorted by position; the plan is nil when any is an error.
func (c *Compiler) Compile(file string, src []byte) (*Plan, Diagnostics) {
	s := &session{c: c, done: map[string]*childResult{}}
	plan, ds := s.compile(file, src, nil)
	ds = ds.sorted()
	if ds.HasErrors() {
		return nil, ds
	}
	return plan, ds
}

// session is one Compile call: it memoises child runbooks and tracks the
// chain of uses: to detect cycles.
type session struct {
	c    *Compiler
	done map[string]*childResult
}

type childResult struct {
	plan  *Plan
	diags Diagnostics
}

func (s *session) compile(file string, src []byte, stack []string) (*Plan, Diagnostics) {
	d := &diags{file: file}
	root := parseYAML(d, src)
	if root == nil {
		return nil, d.list
	}
	checkShape(d, root, s.c.shape, "runbook")
	if root.Kind != yaml.MappingNode {
		return nil, d.list
	}
	sum := sha256.Sum256(src)
	rb := &runbookCompiler{s: s, d: d, file: file, stack: stack, exprs: newExprCache(&s.c.types, s.c.builtins)}
	plan := rb.compile(root, hex.EncodeToString(sum[:]))
	return plan, d.list
}

// runbookCompiler compiles one file.
type runbookCompiler struct {
	s        *session
	d        *diags
	file     string
	stack    []string // names of the runbooks using this one, outermost first
	name     string   // this runbook's metadata.name
	defaults gateSpec
	inputs   spec.Type
	target   Target
	exprs    *exprCache
}

func (r *runbookCompiler) compile(root *yaml.Node, sourceSum string) *Plan {
	_, md := lookup(root, "metadata")
	p := &Plan{
		PlanVersion: PlanVersion,
		Runbook: Metadata{
			Name:         scalar(md, "name"),
			Description:  scalar(md, "description"),
			Severity:     scalar(md, "severity"),
			SourceFile:   r.file,
			SourceSHA256: sourceSum,
		},
	}
	r.name = p.Runbook.Name
	_, tags := lookup(md, "tags")
	p.Runbook.Tags = stringList(tags)

	_, inputs := lookup(root, "inputs")
	p.Inputs = r.compileInputs(inputs)
	fields := make([]spec.Field, len(p.Inputs))
	for i, in := range p.Inputs {
		fields[i] = spec.F(in.Name, in.Type, in.Description)
	}
	r.inputs = spec.ObjectOf(fields...)

	_, approvals := lookup(root, "approvals")
	r.defaults = r.gateSpec(approvals)

	_, target := lookup(root, "target")
	headScope := &Scope{Inputs: r.inputs}
	r.target = r.compileTarget(target, newExprChecker(headScope, r.exprs), Target{})
	p.Target = r.target

	_, steps := lookup(root, "steps")
	var scopes []StepScope
	p.Steps, p.Children, scopes = r.compileSteps(steps)

	_, outputs := lookup(root, "outputs")
	if outputs != nil {
		scope := &Scope{Inputs: r.inputs, Steps: scopes}
		p.Outputs = r.compileOutputs(outputs, newExprChecker(scope, r.exprs), nil)
	}
	_, triggers := lookup(root, "triggers")
	p.Triggers = r.compileTriggers(triggers, p.Inputs)
	r.warnUnusedInputs(inputs, p)
	return p
}

// warnUnusedInputs warns about an input no expression reads: a responder
// would pass a value that changes nothing (often a renamed input the steps
// still spell the old way).
func (r *runbookCompiler) warnUnusedInputs(inputs *yaml.Node, p *Plan) {
	if r.d.list.HasErrors() {
		return // an expression that failed is not in the plan: it may read the input
	}
	sources := strings.Join(planExpressions(p), "\n")
	for _, e := range entries(inputs) {
		name := e.key.Value
		if !identRE.MatchString(name) {
			continue
		}
		used := regexp.MustCompile(`\binputs\s*(\.\s*` + name + `\b|\[\s*["']` + name + `["']\s*\])`)
		if !used.MatchString(sources) {
			r.d.warn(CodeUnusedInput, nodePos(e.key), "use it as ${{ inputs."+name+" }}, or remove it",
				"input %s is declared but no expression reads it", name)
		}
	}
}

// planExpressions lists the source of every expression in a plan's own
// steps, target and outputs (not its children's).
func planExpressions(p *Plan) []string {
	var out []string
	var value func(v Value)
	value = func(v Value) {
		if v.Expr != nil {
			out = append(out, v.Expr.Source)
		}
		for _, t := range v.Template {
			if t.Expr != nil {
				out = append(out, t.Expr.Source)
			}
		}
		for _, e := range v.List {
			value(e)
		}
		for _, e := range v.Map {
			value(e)
		}
	}
	target := func(t Target) {
		if t.Account != nil {
			value(*t.Account)
		}
		if t.Region != nil {
			value(*t.Region)
		}
	}
	target(p.Target)
	for _, st := range p.Steps {
		for _, v := range st.With {
			value(v)
		}
		if st.When != nil {
			out = append(out, st.When.Source)
		}
		if st.Foreach != nil {
			value(*st.Foreach)
		}
		for _, o := range st.Outputs {
			out = append(out, o.Expr.Source)
		}
		target(st.Target)
	}
	for _, o := range p.Outputs {
		out = append(out, o.Expr.Source)
	}
	return out
}

func (r *runbookCompiler) compileInputs(n *yaml.Node) []Input {
	var out []Input
	for _, e := range entries(n) {
		name := e.key.Value
		if !identRE.MatchString(name) {
			r.d.add(CodeBadValue, nodePos(e.key), "input names are used as inputs.<name> in expressions: lower case, digits and _",
				"input name %q is not a valid identifier", name)
			continue
		}
		in := Input{
			Name:        name,
			Description: scalar(e.value, "description"),
			Pattern:     scalar(e.value, "pattern"),
		}
		in.Required, _ = boolField(e.value, "required")
		switch scalar(e.value, "type") {
		case "string":
			in.Type = spec.String
		case "int":
			in.Type = spec.Int
		case "bool":
			in.Type = spec.Bool
		case "duration":
			in.Type = spec.Duration
		case "list":
			in.Type = spec.ListOf(spec.String)
		default:
			continue // the shape check reported it
		}
		var re *regexp.Regexp
		if pn := scalarNode(e.value, "pattern"); pn != nil {
			var err error
			if re, err = regexp.Compile(pn.Value); err != nil {
				r.d.add(CodeBadPattern, nodePos(pn), "use Go (RE2) syntax", "input %s: invalid pattern: %v", name, err)
			}
			if in.Type.Kind != spec.KindString && in.Type.Kind != spec.KindList {
				r.d.add(CodeBadPattern, nodePos(pn), "", "input %s: pattern applies to string and list inputs only", name)
				re = nil
			}
		}
		_, enumNode := lookup(e.value, "enum")
		if enumNode != nil {
			in.Enum = stringList(enumNode)
			for i, v := range in.Enum {
				if re != nil && !re.MatchString(v) {
					r.d.add(CodeBadPattern, nodePos(enumNode.Content[i]), "fix the enum value or the pattern",
						"input %s: enum value %q can never match pattern %s", name, v, in.Pattern)
				}
			}
		}
		if _, dn := lookup(e.value, "default"); dn != nil {
			v, ok := r.literal(dn, in.Type, "input "+name+" default")
			if ok {
				if msg := checkConstraints(v, re, in.Enum); msg != "" {
					r.d.add(CodeBadValue, nodePos(dn), "", "input %s: default %s", name, msg)
				}
				in.Default = v
			}
			if in.Required {
				r.d.add(CodeBadValue, nodePos(dn), "drop required: true, or drop the default",
					"input %s is required and has a default; the default would never be used", name)
			}
		}
		out = append(out, in)
	}
	return out
}

// checkConstraints checks a literal against a pattern and enum; it returns
// what is wrong, or "".
func checkConstraints(v any, re *regexp.Regexp, enum []string) string {
	var items []string
	switch x := v.(type) {
	case string:
		items = []string{x}
	case []any:
		for _, it := range x {
			if s, ok := it.(string); ok {
				items = append(items, s)
			}
		}
	}
	for _, s := range items {
		if re != nil && !re.MatchString(s) {
			return fmt.Sprintf("%q does not match %s", s, re)
		}
		if enum != nil && !contains(enum, s) {
			return fmt.Sprintf("%q is not one of %s", s, strings.Join(enum, ", "))
		}
	}
	return ""
}

// gateSpec is an approval policy as written, before defaults are applied.
type gateSpec struct {
	approvers, escalate *Approvers
	minApprovals        *int
	timeout             *time.Duration
	onTimeout           string
	allowSelf           *bool
	pos                 Pos
}

func (r *runbookCompiler) gateSpec(n *yaml.Node) gateSpec {
	g := gateSpec{}
	if n == nil || n.Kind != yaml.MappingNode {
		return g
	}
	g.pos = nodePos(n)
	readApprovers := func(key string) *Approvers {
		_, a := lookup(n, key)
		if a == nil {
			return nil
		}
		_, groups := lookup(a, "groups")
		_, people := lookup(a, "people")
		return &Approvers{Groups: stringList(groups), People: stringList(people)}
	}
	g.approvers = readApprovers("approvers")
	g.escalate = readApprovers("escalate_to")
	if v, ok := intField(n, "min_approvals"); ok {
		g.minApprovals = &v
		if v < 1 {
			r.d.add(CodeBadValue, nodePos(scalarNode(n, "min_approvals")), "a gate that needs no approval is not a gate: use approval: none with a justification",
				"min_approvals must be at least 1")
		}
	}
	if tn := scalarNode(n, "timeout"); tn != nil {
		if t, err := time.ParseDuration(tn.Value); err == nil {
			g.timeout = &t
			if t <= 0 {
				r.d.add(CodeBadValue, nodePos(tn), "", "timeout must be positive")
			}
		}
	}
	g.onTimeout = scalar(n, "on_timeout")
	if b, ok := boolField(n, "allow_self_approval"); ok {
		g.allowSelf = &b
	}
	return g
}

// resolveGate merges a step's policy over the runbook's defaults and checks
// that the result can ever be satisfied.
func (r *runbookCompiler) resolveGate(step gateSpec, at Pos, what string) *Gate {
	g := &Gate{MinApprovals: 1, Timeout: Duration(defaultGateTimeout), OnTimeout: "deny"}
	for _, s := range []gateSpec{r.defaults, step} {
		if s.approvers != nil {
			g.Approvers = *s.approvers
		}
		if s.escalate != nil {
			g.EscalateTo = *s.escalate
		}
		if s.minApprovals != nil {
			g.MinApprovals = *s.minApprovals
		}
		if s.timeout != nil {
			g.Timeout = Duration(*s.timeout)
		}
		if s.onTimeout != "" {
			g.OnTimeout = s.onTimeout
		}
		if s.allowSelf != nil {
			g.AllowSelfApproval = *s.allowSelf
		}
	}
	if g.Approvers.empty() {
		r.d.add(CodeMissingApprovers, at, "set approvals.approvers at the top of the runbook, or approvers on the step",
			"%s: this gate names no approvers, so nobody could ever approve it", what)
	}
	if len(g.Approvers.Groups) == 0 && len(g.Approvers.People) > 0 && g.MinApprovals > len(g.Approvers.People) {
		r.d.add(CodeBadValue, at, "add people or groups, or lower min_approvals",
			"%s: min_approvals is %d but only %d people may approve", what, g.MinApprovals, len(g.Approvers.People))
	}
	if g.OnTimeout == "escalate" && g.EscalateTo.empty() {
		r.d.add(CodeMissingApprovers, at, "add escalate_to with groups or people",
			"%s: on_timeout: escalate needs escalate_to", what)
	}
	return g
}

func (r *runbookCompiler) compileTarget(n *yaml.Node, ec *exprChecker, base Target) Target {
	t := base
	if n == nil {
		return t
	}
	for _, part := range []struct {
		key string
		dst **Value
	}{{"account", &t.Account}, {"region", &t.Region}} {
		if vn := scalarNode(n, part.key); vn != nil {
			if v, ok := r.value(vn, spec.String, ec, "target."+part.key, nil); ok {
				*part.dst = &v
			}
		}
	}
	return t
}

// compileSteps compiles the steps in order; each sees the ones before it.
// It also returns the expression scopes of all steps, for runbook outputs.
func (r *runbookCompiler) compileSteps(n *yaml.Node) ([]Step, map[string]*Plan, []StepScope) {
	if n == nil || n.Kind != yaml.SequenceNode {
		return nil, nil, nil
	}
	if len(n.Content) == 0 {
		r.d.add(CodeMissingField, nodePos(n), "", "a runbook needs at least one step")
	}
	// All ids first, so a reference to a later step says so.
	idPos := map[string]Pos{}
	later := map[string]bool{}
	for _, sn := range n.Content {
		if id := scalarNode(sn, "id"); id != nil {
			if first, dup := idPos[id.Value]; dup {
				r.d.add(CodeDuplicateStep, nodePos(id), fmt.Sprintf("the first is at line %d", first.Line),
					"step id %q is used twice", id.Value)
				continue
			}
			idPos[id.Value] = nodePos(id)
			later[id.Value] = true
		}
	}
	var steps []Step
	var scopes []StepScope
	var children map[string]*Plan
	for _, sn := range n.Content {
		idNode := scalarNode(sn, "id")
		if idNode == nil || sn.Kind != yaml.MappingNode {
			continue
		}
		delete(later, idNode.Value)
		if hasStep(steps, idNode.Value) {
			continue // duplicate, reported above
		}
		scope := &Scope{Inputs: r.inputs, Steps: scopes, later: copySet(later)}
		st, child := r.compileStep(sn, idNode.Value, scope)
		scopes = append(scopes[:len(scopes):len(scopes)], StepScope{ID: st.ID, Outputs: st.OutputType})
		if child != nil {
			if children == nil {
				children = map[string]*Plan{}
			}
			children[child.Runbook.Name] = child
		}
		steps = append(steps, st)
	}
	return steps, children, scopes
}

func hasStep(steps []Step, id string) bool {
	for _, s := range steps {
		if s.ID == id {
			return true
		}
	}
	return false
}

func copySet(m map[string]bool) map[string]bool {
	out := make(map[string]bool, len(m))
	for k := range m {
		out[k] = true
	}
	return out
}

// callee is what a step calls: a catalog action or a child runbook, seen
// through the same lens (params, result, flags).
type callee struct {
	params      []spec.Param
	result      spec.Type
	destructive bool
	mutating    bool
	timeout     time.Duration
	permissions []string
	child       *Plan
}

func (r *runbookCompiler) compileStep(n *yaml.Node, id string, scope *Scope) (Step, *Plan) {
	st := Step{ID: id, Name: scalar(n, "name"), Phase: scalar(n, "phase")}
	what := "step " + id
	actionNode, usesNode := scalarNode(n, "action"), scalarNode(n, "uses")
	var cal *callee
	switch {
	case actionNode != nil && usesNode != nil:
		r.d.add(CodeWrongShape, nodePos(usesNode), "split it into two steps", "%s: a step has either action or uses, not both", what)
	case actionNode != nil:
		st.Action = actionNode.Value
		cal = r.action(actionNode, what)
	case usesNode != nil:
		st.Uses = usesNode.Value
		cal = r.child(usesNode, what)
	default:
		r.d.add(CodeMissingField, nodePos(n), "name a catalog action (cordon actions) or another runbook", "%s: needs action or uses", what)
	}

	// foreach decides whether item exists for with:, target and outputs.
	ec := newExprChecker(scope, r.exprs)
	if _, fn := lookup(n, "foreach"); fn != nil {
		itemType := spec.Any
		if fn.Kind == yaml.ScalarNode {
			// A bare expression, like when:, with or without ${{ }}.
			if x, ok := r.expression(fn, spec.ListOf(spec.Any), ec, what+".foreach"); ok {
				st.Foreach = &Value{Expr: &x}
				itemType = elemOf(x.Type)
			}
		} else if v, ok := r.value(fn, spec.ListOf(spec.Any), ec, what+".foreach", nil); ok {
			st.Foreach = &v
			itemType = listElem(v)
		}
		itemScope := *scope
		itemScope.Item = &itemType
		scope = &itemScope
		st.MaxConcurrency = 1
		if mc, ok := intField(n, "max_concurrency"); ok {
			st.MaxConcurrency = mc
			if mc < 1 {
				r.d.add(CodeBadValue, nodePos(scalarNode(n, "max_concurrency")), "", "%s: max_concurrency must be at least 1", what)
			}
		}
		if me, ok := intField(n, "max_errors"); ok {
			st.MaxErrors = me
			if me < 0 {
				r.d.add(CodeBadValue, nodePos(scalarNode(n, "max_errors")), "", "%s: max_errors must not be negative", what)
			}
		}
	} else {
		for _, key := range []string{"max_concurrency", "max_errors"} {
			if kn, _ := lookup(n, key); kn != nil {
				r.d.add(CodeBadValue, nodePos(kn), "add foreach, or remove it", "%s: %s only applies to a step with foreach", what, key)
			}
		}
	}
	itemEC := newExprChecker(scope, r.exprs)

	if wn := scalarNode(n, "when"); wn != nil {
		if e, ok := r.expression(wn, spec.Bool, ec, what+".when"); ok {
			st.When = &e
		}
	}

	_, targetNode := lookup(n, "target")
	st.Target = r.compileTarget(targetNode, itemEC, r.target)

	st.Retry = Retry{MaxAttempts: defaultAttempts, Backoff: Duration(defaultBackoff), MaxBackoff: Duration(defaultMaxBackoff)}
	if _, rn := lookup(n, "retry"); rn != nil {
		if a, ok := intField(rn, "attempts"); ok {
			st.Retry.MaxAttempts = a
			if a < 1 {
				r.d.add(CodeBadValue, nodePos(scalarNode(rn, "attempts")), "", "%s: retry.attempts must be at least 1", what)
			}
		}
		if b := durationField(rn, "backoff"); b > 0 {
			st.Retry.Backoff = Duration(b)
		}
		if m := durationField(rn, "max_backoff"); m > 0 {
			st.Retry.MaxBackoff = Duration(m)
		}
		if st.Retry.MaxBackoff < st.Retry.Backoff {
			st.Retry.MaxBackoff = st.Retry.Backoff
		}
	}
	st.ContinueOnError, _ = boolField(n, "continue_on_error")

	if cal == nil {
		// The step is already in error; later references to its outputs
		// are not checked, so one mistake gives one diagnostic.
		st.OutputType = spec.Any
		return st, nil
	}
	st.Destructive, st.Mutating, st.Permissions = cal.destructive, cal.mutating, cal.permissions
	st.Timeout = Duration(cal.timeout)
	if t := durationField(n, "timeout"); t > 0 {
		st.Timeout = Duration(t)
	}
	st.With = r.compileWith(n, cal, itemEC, what)
	st.ResultType = cal.result
	st.Gate, st.Justification = r.compileApproval(n, st, what)

	outType := cal.result
	if _, on := lookup(n, "outputs"); on != nil {
		resScope := *scope
		resScope.Result = &st.ResultType
		st.Outputs = r.compileOutputs(on, newExprChecker(&resScope, r.exprs), cal.result.FieldNames())
		fields := append([]spec.Field(nil), outType.Fields...)
		for _, o := range st.Outputs {
			fields = append(fields, spec.F(o.Name, o.Expr.Type, ""))
		}
		outType = spec.ObjectOf(fields...)
	}
	if st.Foreach != nil {
		fields := make([]spec.Field, len(outType.Fields))
		for i, f := range outType.Fields {
			fields[i] = spec.F(f.Name, spec.ListOf(f.Type), f.Description)
		}
		outType = spec.ObjectOf(fields...)
	}
	st.OutputType = outType
	return st, cal.child
}

func durationField(n *yaml.Node, key string) time.Duration {
	v := scalarNode(n, key)
	if v == nil {
		return 0
	}
	d, err := time.ParseDuration(v.Value)
	if err != nil {
		return 0
	}
	return d
}

// listElem is the item type of a foreach value.
func listElem(v Value) spec.Type {
	if v.Expr != nil {
		return elemOf(v.Expr.Type)
	}
	if items, ok := v.Literal.([]any); ok {
		allStrings := len(items) > 0
		for _, it := range items {
			if _, ok := it.(string); !ok {
				allStrings = false
			}
		}
		if allStrings {
			return spec.String
		}
	}
	return spec.Any
}

func (r *runbookCompiler) action(n *yaml.Node, what string) *callee {
	a, ok := r.s.c.catalog.Lookup(n.Value)
	if !ok {
		r.d.add(CodeUnknownAction, nodePos(n), withHint(suggest(n.Value, r.s.c.catalog.Names()), "cordon actions lists them"),
			"%s: unknown action %q", what, n.Value)
		return nil
	}
	return &callee{
		params: a.Params, result: a.OutputType(), destructive: a.Destructive, mutating: a.Mutating,
		timeout: a.Timeout, permissions: append([]string(nil), a.Permissions...),
	}
}

func withHint(a, b string) string {
	if a == "" {
		return b
	}
	return a + "; " + b
}

func (r *runbookCompiler) child(n *yaml.Node, what string) *callee {
	name := n.Value
	chainSoFar := append(append([]string(nil), r.stack...), r.name)
	for i, outer := range chainSoFar {
		if outer == name {
			chain := append(append([]string(nil), chainSoFar[i:]...), name)
			r.d.add(CodeUsesCycle, nodePos(n), "a runbook cannot run itself, directly or through others",
				"%s: uses cycle: %s", what, strings.Join(chain, " → "))
			return nil
		}
	}
	res, ok := r.s.done[name]
	if !ok {
		if r.s.c.resolver == nil {
			r.d.add(CodeUnknownRunbook, nodePos(n), "", "%s: uses %q, but no runbook directory was given", what, name)
			return nil
		}
		file, src, err := r.s.c.resolver.Resolve(r.file, name)
		if err != nil {
			r.d.add(CodeUnknownRunbook, nodePos(n), "put it next to this file as "+name+".yaml", "%s: uses %q: %v", what, name, err)
			return nil
		}
		plan, ds := r.s.compile(file, src, chainSoFar)
		res = &childResult{plan: plan, diags: ds}
		r.s.done[name] = res
	}
	if res.diags.HasErrors() {
		r.d.list = append(r.d.list, res.diags...)
		r.d.add(CodeUnknownRunbook, nodePos(n), "fix the errors reported in that file", "%s: runbook %q does not compile", what, name)
		return nil
	}
	if res.plan == nil {
		return nil
	}
	if res.plan.Runbook.Name != name {
		r.d.add(CodeUnknownRunbook, nodePos(n), "", "%s: uses %q, but that file declares metadata.name %q", what, name, res.plan.Runbook.Name)
		return nil
	}
	cal := &callee{child: res.plan, timeout: defaultChildTimeout}
	for _, in := range res.plan.Inputs {
		cal.params = append(cal.params, spec.Param{
			Name: in.Name, Type: in.Type, Required: in.Required, Default: in.Default,
			Description: in.Description, Pattern: in.Pattern, Enum: in.Enum,
		})
	}
	fields := make([]spec.Field, len(res.plan.Outputs))
	for i, o := range res.plan.Outputs {
		fields[i] = spec.F(o.Name, o.Expr.Type, "")
	}
	cal.result = spec.ObjectOf(fields...)
	perms := map[string]bool{}
	for _, s := range res.plan.Steps {
		cal.destructive = cal.destructive || s.Destructive
		cal.mutating = cal.mutating || s.Mutating
		for _, p := range s.Permissions {
			perms[p] = true
		}
	}
	cal.permissions = sortedKeys(perms)
	return cal
}

// sortedKeys lists a map's keys in order, for output that does not
// depend on map iteration.
func sortedKeys[V any](m map[string]V) []string {
	return slices.Sorted(maps.Keys(m))
}

func (r *runbookCompiler) compileWith(n *yaml.Node, cal *callee, ec *exprChecker, what string) map[string]Value {
	with := map[string]Value{}
	withKey, wn := lookup(n, "with")
	given := map[string]bool{}
	names := make([]string, len(cal.params))
	for i, p := range cal.params {
		names[i] = p.Name
	}
	for _, e := range entries(wn) {
		name := e.key.Value
		given[name] = true
		p, ok := findParam(cal.params, name)
		if !ok {
			r.d.add(CodeUnknownParam, nodePos(e.key), suggest(name, names), "%s: unknown parameter %q", what, name)
			continue
		}
		var re *regexp.Regexp
		if p.Pattern != "" {
			re = r.s.c.pattern(p.Pattern)
		}
		if v, ok := r.value(e.value, p.Type, ec, what+".with."+name, &constraint{re: re, enum: p.Enum}); ok {
			with[name] = v
		}
	}
	at := nodePos(n)
	if withKey != nil {
		at = nodePos(withKey)
	}
	for _, p := range cal.params {
		if given[p.Name] {
			continue
		}
		if p.Required && p.Default == nil {
			r.d.add(CodeMissingParam, at, fmt.Sprintf("add with: {%s: ...}: %s", p.Name, p.Description),
				"%s: missing required parameter %q", what, p.Name)
			continue
		}
		if p.Default != nil {
			with[p.Name] = Value{Literal: p.Default}
		}
	}
	return with
}

func findParam(ps []spec.Param, name string) (spec.Param, bool) {
	for _, p := range ps {
		if p.Name == name {
			return p, true
		}
	}
	return spec.Param{}, false
}

func (r *runbookCompiler) compileApproval(n *yaml.Node, st Step, what string) (*Gate, string) {
	an, av := lookup(n, "approval")
	jn := scalarNode(n, "justification")
	justification := ""
	if jn != nil {
		justification = strings.TrimSpace(jn.Value)
	}
	mode := ""
	if av != nil && av.Kind == yaml.ScalarNode {
		mode = av.Value
	}
	if jn != nil && mode != "none" {
		r.d.add(CodeBadValue, nodePos(jn), "remove it, or set approval: none", "%s: justification only applies to approval: none", what)
	}
	at := nodePos(n)
	if an != nil {
		at = nodePos(an)
	}
	switch {
	case av == nil:
		if st.Destructive && st.Action != "" {
			r.d.add(CodeMissingApproval, nodePos(scalarNode(n, "action")),
				"add approval: required, or approval: none with a justification saying why it is safe to run unapproved",
				"%s: %s is destructive and has no approval gate", what, st.Action)
		}
		return nil, ""
	case mode == "none":
		if st.Destructive && justification == "" {
			r.d.add(CodeMissingJustify, at, "add justification: <why this may run without approval>",
				"%s: approval: none on a destructive step needs a justification", what)
		}
		return nil, justification
	case mode == "required":
		return r.resolveGate(gateSpec{}, at, what), ""
	case av.Kind == yaml.MappingNode:
		return r.resolveGate(r.gateSpec(av), at, what), ""
	}
	return nil, ""
}

func (r *runbookCompiler) compileOutputs(n *yaml.Node, ec *exprChecker, taken []string) []Output {
	var out []Output
	for _, e := range entries(n) {
		name := e.key.Value
		if !identRE.MatchString(name) {
			r.d.add(CodeBadValue, nodePos(e.key), "lower case, digits and _", "output name %q is not a valid identifier", name)
			continue
		}
		if contains(taken, name) {
			r.d.add(CodeBadValue, nodePos(e.key), "pick another name", "output %q already exists in the action's outputs", name)
			continue
		}
		if e.value.Kind != yaml.ScalarNode {
			continue
		}
		if x, ok := r.expression(e.value, spec.Any, ec, "output "+name); ok {
			out = append(out, Output{Name: name, Expr: x})
		}
	}
	return out
}
