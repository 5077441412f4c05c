package runbooks

import (
	"errors"
	"fmt"
	"reflect"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/builtin"
	"github.com/expr-lang/expr/checker"
	"github.com/expr-lang/expr/conf"
	"github.com/expr-lang/expr/file"
	"github.com/expr-lang/expr/parser"

	"github.com/cordon-ir/cordon/actions/spec"
)

// allowedFunctions are the only functions expressions may call. They are
// pure and deterministic: expressions are evaluated inside a Temporal
// workflow, where a clock or randomness would break replay. now() and
// date() are left out on purpose, and so are keys() and values(), whose
// order follows Go's randomised map iteration; repeat() is left out
// because it turns a short expression into an unbounded string.
var allowedFunctions = []string{
	"all", "any", "none", "one", "filter", "map", "find", "count", "len",
	"abs", "int", "string", "trim", "trimPrefix", "trimSuffix", "upper", "lower",
	"split", "join", "indexOf", "hasPrefix", "hasSuffix", "max", "min",
	"first", "last", "get", "take", "reverse", "uniq",
	"concat", "flatten", "sort", "duration",
}

// AllowedFunctions lists the functions runbook expressions may call, for
// documentation.
func AllowedFunctions() []string {
	out := append([]string(nil), allowedFunctions...)
	sort.Strings(out)
	return out
}

// maxExprNodes bounds the size of one expression; runbook expressions are
// one-liners, so anything bigger is a mistake or an attack.
const maxExprNodes = 500

// RunInfo is what expressions see as run.*. It is fixed when the run
// starts, so reading it is deterministic.
type RunInfo struct {
	ID        string    `expr:"id" json:"id"`
	Requester string    `expr:"requester" json:"requester"`
	DryRun    bool      `expr:"dry_run" json:"dry_run"`
	StartedAt time.Time `expr:"started_at" json:"started_at"`
	Incident  string    `expr:"incident" json:"incident"`
}

var runFields = []string{"id", "requester", "dry_run", "started_at", "incident"}

// Scope is what an expression can see at one point of a runbook: the
// declared inputs, the steps before it, and (inside foreach or outputs)
// item and result. The workflow builds the same scope to evaluate.
type Scope struct {
	Inputs spec.Type   // object of declared inputs
	Steps  []StepScope // steps that ran before, in order
	Item   *spec.Type  // element type inside foreach
	Result *spec.Type  // the step's own result, in step outputs
	// Finding is the normalised finding, in a trigger; a trigger's
	// expressions see nothing else (no run exists yet).
	Finding *spec.Type
	// later are step ids that come after this point, for a precise error.
	later map[string]bool
}

// StepScope is one earlier step as expressions see it.
type StepScope struct {
	ID      string
	Outputs spec.Type
}

// goTypes caches the Go types generated for runbook types, keyed by the
// type's text. Generated struct types are costly to build and the same few
// (each action's outputs) recur in every runbook.
type goTypes struct{ m sync.Map }

func (g *goTypes) of(t spec.Type) reflect.Type {
	if g == nil {
		return t.GoType()
	}
	key := t.String()
	if rt, ok := g.m.Load(key); ok {
		return rt.(reflect.Type)
	}
	rt := t.GoType()
	g.m.Store(key, rt)
	return rt
}

func (st StepScope) envType(g *goTypes) reflect.Type {
	return g.of(spec.ObjectOf(spec.F("outputs", st.Outputs, ""), spec.F("status", spec.String, "")))
}

// EnvType is the Go type of the expression environment for this scope.
// Objects are generated structs, so expr's checker knows every type.
func (s *Scope) EnvType() reflect.Type { return s.envType(nil, nil) }

// envType builds the environment type; with only non-nil, it includes just
// those steps. Checking an expression against the steps it names, rather
// than every earlier step, keeps compilation fast: generated struct types
// are costly to build, and most expressions name one step or none.
func (s *Scope) envType(only map[string]bool, g *goTypes) reflect.Type {
	var stepFields []reflect.StructField
	for _, st := range s.Steps {
		if only != nil && !only[st.ID] {
			continue
		}
		stepFields = append(stepFields, reflect.StructField{
			Name: fmt.Sprintf("F%d", len(stepFields)), Type: st.envType(g),
			Tag: reflect.StructTag(`expr:"` + st.ID + `"`),
		})
	}
	inputs := g.of(s.Inputs)
	fields := []reflect.StructField{
		{Name: "Inputs", Type: inputs, Tag: `expr:"inputs"`},
		{Name: "Steps", Type: reflect.StructOf(stepFields), Tag: `expr:"steps"`},
		{Name: "Run", Type: reflect.TypeFor[RunInfo](), Tag: `expr:"run"`},
	}
	if s.Item != nil {
		fields = append(fields, reflect.StructField{Name: "Item", Type: g.of(*s.Item), Tag: `expr:"item"`})
	}
	if s.Result != nil {
		fields = append(fields, reflect.StructField{Name: "Result", Type: g.of(*s.Result), Tag: `expr:"result"`})
	}
	if s.Finding != nil {
		fields = append(fields, reflect.StructField{Name: "Finding", Type: g.of(*s.Finding), Tag: `expr:"finding"`})
	}
	return reflect.StructOf(fields)
}

// newExprConfig is the expr configuration for one environment type: the
// typed environment and the function allowlist. A nil env gives the
// configuration used only for parsing.
func newExprConfig(env reflect.Type, builtins conf.FunctionsTable) *conf.Config {
	// The same settings as conf.CreateNew, but sharing one read-only table
	// of the allowed builtins instead of copying and pruning all of them
	// for every configuration (a tenth of a compile's allocations).
	c := &conf.Config{
		Optimize:     true,
		ShortCircuit: true,
		MaxNodes:     maxExprNodes,
		ConstFns:     map[string]reflect.Value{},
		Functions:    conf.FunctionsTable{},
		Builtins:     builtins,
		Disabled:     map[string]bool{},
	}
	if env != nil {
		c.WithEnv(reflect.New(env).Elem().Interface())
	}
	return c
}

// allowedBuiltins is the table of builtins expressions may call. Callers
// share it and never modify it.
func allowedBuiltins() conf.FunctionsTable {
	t := conf.FunctionsTable{}
	for _, f := range builtin.Builtins {
		if contains(allowedFunctions, f.Name) {
			t[f.Name] = f
		}
	}
	return t
}

// exprCache shares expr configurations between the expressions of one
// runbook. Configurations are not safe for concurrent use (the checker
// caches type information in them), so a cache belongs to one compilation.
type exprCache struct {
	parse    *conf.Config
	checked  map[string]*conf.Config
	types    *goTypes            // shared by the whole Compiler
	builtins conf.FunctionsTable // shared, read-only
}

func newExprCache(types *goTypes, builtins conf.FunctionsTable) *exprCache {
	return &exprCache{parse: newExprConfig(nil, builtins), checked: map[string]*conf.Config{}, types: types, builtins: builtins}
}

// exprChecker checks expressions against one scope.
type exprChecker struct {
	scope *Scope
	cache *exprCache
}

func newExprChecker(s *Scope, cache *exprCache) *exprChecker {
	return &exprChecker{scope: s, cache: cache}
}

// config returns the checker configuration for an expression that names
// the given steps. Step ids are unique within a runbook and their types
// fixed, so ids (plus what item and result are) identify the environment.
func (c *exprChecker) config(steps map[string]bool) *conf.Config {
	ids := make([]string, 0, len(steps))
	for id := range steps {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	key := strings.Join(ids, ",")
	if c.scope.Item != nil {
		key += "|item:" + c.scope.Item.String()
	}
	if c.scope.Result != nil {
		key += fmt.Sprintf("|result:%p", c.scope.Result)
	}
	if c.scope.Finding != nil {
		key += "|finding"
	}
	if cfg, ok := c.cache.checked[key]; ok {
		return cfg
	}
	cfg := newExprConfig(c.scope.envType(steps, c.cache.types), c.cache.builtins)
	c.cache.checked[key] = cfg
	return cfg
}

// exprError is a problem in an expression, with its offset inside the
// expression source (in runes) so it can be placed in the file.
type exprError struct {
	code   Code
	offset int
	msg    string
	detail string
}

// check parses, resolves references and type-checks one expression,
// returning the type it yields.
func (c *exprChecker) check(src string) (spec.Type, []exprError) {
	if strings.TrimSpace(src) == "" {
		return spec.Type{}, []exprError{{code: CodeBadExpression, msg: "empty expression"}}
	}
	tree, err := parser.ParseWithConfig(src, c.cache.parse)
	if err != nil {
		return spec.Type{}, []exprError{fileError(CodeBadExpression, err)}
	}
	v := &refVisitor{c: c, steps: map[string]bool{}}
	ast.Walk(&tree.Node, v)
	if len(v.errs) > 0 {
		return spec.Type{}, v.errs
	}
	t, err := checker.Check(tree, c.config(v.steps))
	if err != nil {
		return spec.Type{}, []exprError{fileError(CodeTypeMismatch, err)}
	}
	return typeOf(t), nil
}

func fileError(code Code, err error) exprError {
	var fe *file.Error
	if errors.As(err, &fe) {
		msg := fe.Message
		if strings.HasPrefix(msg, "unknown func") || strings.Contains(msg, "is not a function") {
			code = CodeForbiddenFunc
		}
		return exprError{code: code, offset: fe.From, msg: msg}
	}
	return exprError{code: code, msg: err.Error()}
}

// refVisitor finds every inputs./steps./run./item/result chain and checks
// it names something that exists at this point, with a message in runbook
// terms ("step snap has not run yet"), before expr's checker would report
// the same thing in terms of Go types. It also collects the steps named.
// ast.Walk visits children first, so a.b is checked before a.b.c; an error
// in a prefix is reported once.
type refVisitor struct {
	c     *exprChecker
	errs  []exprError
	steps map[string]bool
}

func (v *refVisitor) report(e exprError) {
	for _, old := range v.errs {
		if old.offset == e.offset && old.msg == e.msg {
			return
		}
	}
	v.errs = append(v.errs, e)
}

func (v *refVisitor) Visit(node *ast.Node) {
	switch n := (*node).(type) {
	case *ast.IdentifierNode:
		switch {
		case n.Value == "item" || n.Value == "result" || n.Value == "finding",
			v.c.scope.Finding != nil && (n.Value == "inputs" || n.Value == "steps" || n.Value == "run"):
			if e := v.c.checkPath([]string{n.Value}, n); e != nil {
				v.report(*e)
			}
		}
	case *ast.MemberNode:
		path, root := memberPath(n)
		if root != nil {
			if e := v.c.checkPath(path, root); e != nil {
				v.report(*e)
			} else if path[0] == "steps" && len(path) > 1 {
				v.steps[path[1]] = true
			}
		}
	case *ast.CallNode:
		if id, ok := n.Callee.(*ast.IdentifierNode); ok && !contains(allowedFunctions, id.Value) {
			v.report(exprError{
				code: CodeForbiddenFunc, offset: id.Location().From,
				msg:    fmt.Sprintf("function %s is not allowed in runbook expressions", id.Value),
				detail: "allowed: " + strings.Join(AllowedFunctions(), ", "),
			})
		}
	case *ast.BuiltinNode:
		if !contains(allowedFunctions, n.Name) {
			v.report(exprError{
				code: CodeForbiddenFunc, offset: n.Location().From,
				msg:    fmt.Sprintf("function %s is not allowed in runbook expressions", n.Name),
				detail: "expressions run inside a durable workflow and must be deterministic; allowed: " + strings.Join(AllowedFunctions(), ", "),
			})
		}
	}
}

// memberPath flattens a.b.c into ["a","b","c"] when the chain starts at an
// identifier. A dynamic index (a[x]) ends the checkable part: only the
// names before it are checked.
func memberPath(n *ast.MemberNode) ([]string, *ast.IdentifierNode) {
	var rev []string
	var cur ast.Node = n
	for {
		switch m := cur.(type) {
		case *ast.MemberNode:
			s, ok := m.Property.(*ast.StringNode)
			if !ok {
				rev = rev[:0]
				cur = m.Node
				continue
			}
			rev = append(rev, s.Value)
			cur = m.Node
		case *ast.ChainNode:
			cur = m.Node
		case *ast.IdentifierNode:
			path := []string{m.Value}
			for i := len(rev) - 1; i >= 0; i-- {
				path = append(path, rev[i])
			}
			return path, m
		default:
			return nil, nil
		}
	}
}

func (c *exprChecker) checkPath(path []string, root *ast.IdentifierNode) *exprError {
	at := root.Location().From
	bad := func(msg, detail string) *exprError {
		return &exprError{code: CodeBadReference, offset: at, msg: msg, detail: detail}
	}
	s := c.scope
	if s.Finding != nil && path[0] != "finding" {
		return bad(fmt.Sprintf("%s is not available in a trigger", path[0]),
			"a trigger's expressions see only finding.* (the run does not exist yet)")
	}
	switch path[0] {
	case "finding":
		if s.Finding == nil {
			return bad("finding is only defined in a trigger", "")
		}
		if len(path) > 1 {
			if _, ok := s.Finding.Field(path[1]); !ok {
				return bad(fmt.Sprintf("finding.%s is not a field of the normalised finding", path[1]),
					withHint(suggest(path[1], s.Finding.FieldNames()), "docs/triggers.md lists them"))
			}
		}
	case "inputs":
		if len(path) > 1 {
			if _, ok := s.Inputs.Field(path[1]); !ok {
				return bad(fmt.Sprintf("inputs.%s is not a declared input", path[1]), suggest(path[1], s.Inputs.FieldNames()))
			}
		}
	case "steps":
		if len(path) < 2 {
			return nil
		}
		id := path[1]
		var st *StepScope
		var ids []string
		for i := range s.Steps {
			ids = append(ids, s.Steps[i].ID)
			if s.Steps[i].ID == id {
				st = &s.Steps[i]
			}
		}
		if st == nil {
			if s.later[id] {
				return bad(fmt.Sprintf("steps.%s refers to a step that has not run yet at this point", id),
					"a step can only use the outputs of steps before it")
			}
			return bad(fmt.Sprintf("steps.%s: there is no step %q before this point", id, id), suggest(id, ids))
		}
		if len(path) < 3 {
			return nil
		}
		switch path[2] {
		case "status":
		case "outputs":
			if len(path) > 3 && st.Outputs.Kind == spec.KindObject {
				if _, ok := st.Outputs.Field(path[3]); !ok {
					return bad(fmt.Sprintf("step %s has no output %q", id, path[3]), suggest(path[3], st.Outputs.FieldNames()))
				}
			}
		default:
			return bad(fmt.Sprintf("steps.%s.%s: a step has outputs and status", id, path[2]), "write steps."+id+".outputs.<name>")
		}
	case "run":
		if len(path) > 1 && !contains(runFields, path[1]) {
			return bad(fmt.Sprintf("run.%s does not exist", path[1]), "run has: "+strings.Join(runFields, ", "))
		}
	case "item":
		if s.Item == nil {
			return bad("item is only defined in a step with foreach", "")
		}
	case "result":
		if s.Result == nil {
			return bad("result is only defined in a step's outputs", "")
		}
	}
	return nil
}

// typeOf maps the Go type expr inferred back to a runbook type.
func typeOf(t reflect.Type) spec.Type {
	if t == nil {
		return spec.Any
	}
	switch t {
	case reflect.TypeFor[time.Duration]():
		return spec.Duration
	case reflect.TypeFor[time.Time]():
		return spec.Time
	}
	switch t.Kind() {
	case reflect.String:
		return spec.String
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return spec.Int
	case reflect.Bool:
		return spec.Bool
	case reflect.Slice, reflect.Array:
		return spec.ListOf(typeOf(t.Elem()))
	case reflect.Map:
		return spec.MapOf(typeOf(t.Elem()))
	case reflect.Struct:
		fields := make([]spec.Field, 0, t.NumField())
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			name := f.Tag.Get("expr")
			if name == "" {
				name = f.Name
			}
			fields = append(fields, spec.F(name, typeOf(f.Type), ""))
		}
		return spec.ObjectOf(fields...)
	default:
		return spec.Any
	}
}

// assignable reports whether a value of type from may be used where to is
// declared. any on either side defers the check to run time.
func assignable(from, to spec.Type) bool {
	if from.Kind == spec.KindAny || to.Kind == spec.KindAny || from.Kind == "" || to.Kind == "" {
		return true
	}
	if from.Kind != to.Kind {
		return false
	}
	switch to.Kind {
	case spec.KindList, spec.KindMap:
		return assignable(elemOf(from), elemOf(to))
	case spec.KindObject:
		for _, f := range to.Fields {
			g, ok := from.Field(f.Name)
			if !ok || !assignable(g.Type, f.Type) {
				return false
			}
		}
	}
	return true
}

func elemOf(t spec.Type) spec.Type {
	if t.Elem == nil {
		return spec.Any
	}
	return *t.Elem
}

// interpolation marks: ${{ expression }}.
const (
	openMark  = "${{"
	closeMark = "}}"
)

// templatePiece is literal text or an expression found in a string, with
// the expression's offset in the string (bytes).
type templatePiece struct {
	text   string
	expr   string
	isExpr bool
	offset int
}

// splitTemplate cuts a string into text and ${{ }} expressions.
func splitTemplate(s string) ([]templatePiece, error) {
	var out []templatePiece
	pos := 0
	for {
		i := strings.Index(s[pos:], openMark)
		if i < 0 {
			if pos < len(s) {
				out = append(out, templatePiece{text: s[pos:]})
			}
			return out, nil
		}
		if i > 0 {
			out = append(out, templatePiece{text: s[pos : pos+i]})
		}
		start := pos + i + len(openMark)
		j := strings.Index(s[start:], closeMark)
		if j < 0 {
			return nil, fmt.Errorf("unterminated %s at offset %d: close it with %s", openMark, pos+i, closeMark)
		}
		out = append(out, templatePiece{expr: s[start : start+j], isExpr: true, offset: start})
		pos = start + j + len(closeMark)
	}
}

// wholeExpression returns the expression when s is exactly one ${{ }}
// (surrounding spaces allowed): its value keeps its type.
func wholeExpression(s string) (string, int, bool) {
	t := strings.TrimSpace(s)
	if !strings.HasPrefix(t, openMark) || !strings.HasSuffix(t, closeMark) {
		return "", 0, false
	}
	inner := t[len(openMark) : len(t)-len(closeMark)]
	if strings.Contains(inner, openMark) {
		return "", 0, false
	}
	return inner, strings.Index(s, openMark) + len(openMark), true
}
