package runbooks

import (
	"fmt"
	"strings"
	"time"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/vm"
)

// Values are what expressions see while a run executes. They come from
// the run's inputs and from step results decoded from workflow history
// (so numbers may be float64): evaluation is dynamic, and the compile-time
// type check is what guarantees the shapes.
type Values struct {
	Inputs map[string]any
	Steps  map[string]StepValues
	Run    RunInfo
	Item   any
	// HasItem is set inside foreach (item may legitimately be nil).
	HasItem bool
	Result  map[string]any
	// Finding is the normalised finding, in a trigger's expressions.
	Finding map[string]any
}

// StepValues is one finished step as expressions see it.
type StepValues struct {
	Status  string         `json:"status"`
	Outputs map[string]any `json:"outputs"`
}

func (v *Values) env() map[string]any {
	steps := make(map[string]any, len(v.Steps))
	for id, s := range v.Steps {
		outputs := s.Outputs
		if outputs == nil {
			outputs = map[string]any{}
		}
		steps[id] = map[string]any{"status": s.Status, "outputs": outputs}
	}
	inputs := v.Inputs
	if inputs == nil {
		inputs = map[string]any{}
	}
	env := map[string]any{
		"inputs": inputs,
		"steps":  steps,
		"run": map[string]any{
			"id": v.Run.ID, "requester": v.Run.Requester, "dry_run": v.Run.DryRun,
			"started_at": v.Run.StartedAt, "incident": v.Run.Incident,
		},
	}
	if v.HasItem {
		env["item"] = v.Item
	}
	if v.Result != nil {
		env["result"] = v.Result
	}
	if v.Finding != nil {
		env["finding"] = v.Finding
	}
	return env
}

// Evaluator evaluates compiled expressions. It caches compiled programs by
// source; it is not safe for concurrent use (a workflow is single-threaded).
type Evaluator struct {
	programs map[string]*vm.Program
}

// NewEvaluator returns an empty evaluator.
func NewEvaluator() *Evaluator { return &Evaluator{programs: map[string]*vm.Program{}} }

func evalOptions(env map[string]any) []expr.Option {
	opts := []expr.Option{expr.Env(env), expr.AllowUndefinedVariables(), expr.MaxNodes(maxExprNodes)}
	opts = append(opts, expr.DisableAllBuiltins())
	for _, f := range allowedFunctions {
		opts = append(opts, expr.EnableBuiltin(f))
	}
	return opts
}

// Expr evaluates one expression.
func (e *Evaluator) Expr(x Expr, v *Values) (any, error) {
	env := v.env()
	prog, ok := e.programs[x.Source]
	if !ok {
		var err error
		prog, err = expr.Compile(x.Source, evalOptions(env)...)
		if err != nil {
			return nil, fmt.Errorf("expression %q: %w", x.Source, err)
		}
		e.programs[x.Source] = prog
	}
	out, err := expr.Run(prog, env)
	if err != nil {
		return nil, fmt.Errorf("expression %q: %w", x.Source, err)
	}
	return out, nil
}

// Bool evaluates a condition.
func (e *Evaluator) Bool(x Expr, v *Values) (bool, error) {
	out, err := e.Expr(x, v)
	if err != nil {
		return false, err
	}
	b, ok := out.(bool)
	if !ok {
		return false, fmt.Errorf("expression %q yielded %T, not a bool", x.Source, out)
	}
	return b, nil
}

// Value evaluates a parameter value: literals as they are, expressions,
// templates into text, lists and maps element by element.
func (e *Evaluator) Value(val Value, v *Values) (any, error) {
	switch {
	case val.Expr != nil:
		return e.Expr(*val.Expr, v)
	case val.Template != nil:
		var b strings.Builder
		for _, p := range val.Template {
			if p.Expr == nil {
				b.WriteString(p.Text)
				continue
			}
			out, err := e.Expr(*p.Expr, v)
			if err != nil {
				return nil, err
			}
			b.WriteString(text(out))
		}
		return b.String(), nil
	case val.List != nil:
		out := make([]any, len(val.List))
		for i, it := range val.List {
			x, err := e.Value(it, v)
			if err != nil {
				return nil, err
			}
			out[i] = x
		}
		return out, nil
	case val.Map != nil:
		out := make(map[string]any, len(val.Map))
		for k, it := range val.Map {
			x, err := e.Value(it, v)
			if err != nil {
				return nil, err
			}
			out[k] = x
		}
		return out, nil
	default:
		return val.Literal, nil
	}
}

// text writes a scalar into a template the way a person expects: no
// exponent for whole numbers, RFC 3339 for times.
func text(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case float64:
		if x == float64(int64(x)) {
			return fmt.Sprintf("%d", int64(x))
		}
		return fmt.Sprintf("%g", x)
	case time.Time:
		return x.UTC().Format(time.RFC3339)
	default:
		return fmt.Sprint(x)
	}
}

// Params evaluates every parameter of a step, in name order (so the first
// error reported is always the same one).
func (e *Evaluator) Params(st *Step, v *Values) (map[string]any, error) {
	names := sortedKeys(st.With)
	params := make(map[string]any, len(names))
	for _, name := range names {
		x, err := e.Value(st.With[name], v)
		if err != nil {
			return nil, fmt.Errorf("parameter %s: %w", name, err)
		}
		params[name] = x
	}
	return params, nil
}

// Target evaluates where a step runs.
func (e *Evaluator) Target(t Target, v *Values) (account, region string, err error) {
	for _, part := range []struct {
		val *Value
		dst *string
	}{{t.Account, &account}, {t.Region, &region}} {
		if part.val == nil {
			continue
		}
		x, err := e.Value(*part.val, v)
		if err != nil {
			return "", "", fmt.Errorf("target: %w", err)
		}
		*part.dst, _ = x.(string)
	}
	return account, region, nil
}

// StepOutputs adds a step's extra outputs (expressions over result) to
// what its action or child runbook returned.
func (e *Evaluator) StepOutputs(st *Step, result map[string]any, v *Values) (map[string]any, error) {
	if len(st.Outputs) == 0 {
		return result, nil
	}
	scope := *v
	scope.Result = result
	merged := make(map[string]any, len(result)+len(st.Outputs))
	for k, x := range result {
		merged[k] = x
	}
	for _, o := range st.Outputs {
		x, err := e.Expr(o.Expr, &scope)
		if err != nil {
			return nil, fmt.Errorf("output %s: %w", o.Name, err)
		}
		merged[o.Name] = x
	}
	return merged, nil
}
