package runbooks

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/cordon-ir/cordon/actions/spec"
)

// constraint is what a literal must satisfy beyond its type.
type constraint struct {
	re   *regexp.Regexp
	enum []string
}

// value compiles a parameter value written in YAML against the type it
// must have: literals are converted and checked now, expressions are
// type-checked now and evaluated by the workflow.
func (r *runbookCompiler) value(n *yaml.Node, want spec.Type, ec *exprChecker, what string, c *constraint) (Value, bool) {
	switch n.Kind {
	case yaml.ScalarNode:
		if n.Tag == "!!str" && strings.Contains(n.Value, openMark) {
			return r.template(n, want, ec, what)
		}
		lit, ok := r.literal(n, want, what)
		if !ok {
			return Value{}, false
		}
		if c != nil {
			if msg := checkConstraints(lit, c.re, c.enum); msg != "" {
				r.d.add(CodeBadValue, nodePos(n), "", "%s: %s", what, msg)
				return Value{}, false
			}
		}
		return Value{Literal: lit}, true
	case yaml.SequenceNode:
		if want.Kind != spec.KindList && want.Kind != spec.KindAny {
			r.d.add(CodeTypeMismatch, nodePos(n), "", "%s: expected %s, got a list", what, want)
			return Value{}, false
		}
		elem := elemOf(want)
		items := make([]Value, 0, len(n.Content))
		allLiteral, ok := true, true
		for i, c2 := range n.Content {
			v, good := r.value(c2, elem, ec, fmt.Sprintf("%s[%d]", what, i), c)
			ok = ok && good
			allLiteral = allLiteral && v.IsLiteral()
			items = append(items, v)
		}
		if !ok {
			return Value{}, false
		}
		if allLiteral {
			lits := make([]any, len(items))
			for i, it := range items {
				lits[i] = it.Literal
			}
			return Value{Literal: lits}, true
		}
		return Value{List: items}, true
	case yaml.MappingNode:
		if want.Kind != spec.KindMap && want.Kind != spec.KindObject && want.Kind != spec.KindAny {
			r.d.add(CodeTypeMismatch, nodePos(n), "", "%s: expected %s, got a mapping", what, want)
			return Value{}, false
		}
		fields := map[string]Value{}
		allLiteral, ok := true, true
		for _, e := range entries(n) {
			ft := elemOf(want)
			if want.Kind == spec.KindObject {
				f, found := want.Field(e.key.Value)
				if !found {
					r.d.add(CodeUnknownField, nodePos(e.key), suggest(e.key.Value, want.FieldNames()), "%s: unknown field %q", what, e.key.Value)
					ok = false
					continue
				}
				ft = f.Type
			}
			v, good := r.value(e.value, ft, ec, what+"."+e.key.Value, nil)
			ok = ok && good
			allLiteral = allLiteral && v.IsLiteral()
			fields[e.key.Value] = v
		}
		if !ok {
			return Value{}, false
		}
		if allLiteral {
			lits := make(map[string]any, len(fields))
			for k, v := range fields {
				lits[k] = v.Literal
			}
			return Value{Literal: lits}, true
		}
		return Value{Map: fields}, true
	}
	return Value{}, false
}

// template compiles a string containing ${{ }}. A string that is one
// expression keeps the expression's type (so a list can be passed whole);
// text around expressions makes a string.
func (r *runbookCompiler) template(n *yaml.Node, want spec.Type, ec *exprChecker, what string) (Value, bool) {
	if src, off, whole := wholeExpression(n.Value); whole {
		x, ok := r.checkExpr(n, src, off, want, ec, what)
		if !ok {
			return Value{}, false
		}
		return Value{Expr: &x}, true
	}
	if want.Kind != spec.KindString && want.Kind != spec.KindAny {
		r.d.add(CodeTypeMismatch, nodePos(n), "use a single ${{ }} as the whole value",
			"%s: text with ${{ }} inside makes a string, but %s is expected", what, want)
		return Value{}, false
	}
	pieces, err := splitTemplate(n.Value)
	if err != nil {
		r.d.add(CodeBadExpression, nodePos(n), "", "%s: %v", what, err)
		return Value{}, false
	}
	parts := make([]TemplatePart, 0, len(pieces))
	ok := true
	for _, p := range pieces {
		if !p.isExpr {
			parts = append(parts, TemplatePart{Text: p.text})
			continue
		}
		x, good := r.checkExpr(n, p.expr, p.offset, spec.Any, ec, what)
		if !good {
			ok = false
			continue
		}
		switch x.Type.Kind {
		case spec.KindList, spec.KindMap, spec.KindObject:
			r.d.add(CodeTypeMismatch, posInScalar(n, p.offset), "use join() for lists, or pick one field",
				"%s: %s cannot be written into text", what, x.Type)
			ok = false
			continue
		}
		parts = append(parts, TemplatePart{Expr: &x})
	}
	return Value{Template: parts}, ok
}

// expression compiles a bare expression (as in when:), optionally wrapped
// in ${{ }}.
func (r *runbookCompiler) expression(n *yaml.Node, want spec.Type, ec *exprChecker, what string) (Expr, bool) {
	src, off := n.Value, 0
	if inner, o, whole := wholeExpression(n.Value); whole {
		src, off = inner, o
	}
	return r.checkExpr(n, src, off, want, ec, what)
}

func (r *runbookCompiler) checkExpr(n *yaml.Node, src string, offset int, want spec.Type, ec *exprChecker, what string) (Expr, bool) {
	t, errs := ec.check(src)
	for _, e := range errs {
		r.d.add(e.code, posInScalar(n, offset+runeOffsetToByte(src, e.offset)), e.detail, "%s: %s", what, e.msg)
	}
	if len(errs) > 0 {
		return Expr{}, false
	}
	if !assignable(t, want) {
		lead := len(src) - len(strings.TrimLeft(src, " \t"))
		r.d.add(CodeTypeMismatch, posInScalar(n, offset+lead), "", "%s: expression yields %s, but %s is expected", what, t, want)
		return Expr{}, false
	}
	return Expr{Source: strings.TrimSpace(src), Type: t}, true
}

func runeOffsetToByte(s string, runes int) int {
	i := 0
	for b := range s {
		if i == runes {
			return b
		}
		i++
	}
	return len(s)
}

// literal converts a YAML scalar to a plain Go value of the wanted type:
// string, int, bool, a duration as text, or []any / map[string]any.
func (r *runbookCompiler) literal(n *yaml.Node, want spec.Type, what string) (any, bool) {
	v, err := literalOf(n, want)
	if err != nil {
		r.d.add(CodeTypeMismatch, nodePos(n), "", "%s: %v", what, err)
		return nil, false
	}
	return v, true
}

func literalOf(n *yaml.Node, want spec.Type) (any, error) {
	switch n.Kind {
	case yaml.ScalarNode:
	case yaml.SequenceNode:
		if want.Kind != spec.KindList && want.Kind != spec.KindAny {
			return nil, fmt.Errorf("expected %s, got a list", want)
		}
		out := make([]any, len(n.Content))
		for i, c := range n.Content {
			v, err := literalOf(c, elemOf(want))
			if err != nil {
				return nil, fmt.Errorf("item %d: %w", i, err)
			}
			out[i] = v
		}
		return out, nil
	case yaml.MappingNode:
		if want.Kind != spec.KindMap && want.Kind != spec.KindAny {
			return nil, fmt.Errorf("expected %s, got a mapping", want)
		}
		out := map[string]any{}
		for _, e := range entries(n) {
			v, err := literalOf(e.value, elemOf(want))
			if err != nil {
				return nil, fmt.Errorf("%s: %w", e.key.Value, err)
			}
			out[e.key.Value] = v
		}
		return out, nil
	default:
		return nil, fmt.Errorf("expected %s", want)
	}
	if n.Tag == "!!null" {
		return nil, fmt.Errorf("expected %s, got nothing (null)", want)
	}
	switch want.Kind {
	case spec.KindString:
		// Scalars of any tag read as text: AWS account ids are numbers in
		// YAML but strings everywhere else.
		return n.Value, nil
	case spec.KindInt:
		i, err := strconv.Atoi(n.Value)
		if err != nil || n.Tag != "!!int" {
			return nil, fmt.Errorf("expected an integer, got %q", n.Value)
		}
		return i, nil
	case spec.KindBool:
		b, err := strconv.ParseBool(strings.ToLower(n.Value))
		if err != nil || n.Tag != "!!bool" {
			return nil, fmt.Errorf("expected true or false, got %q", n.Value)
		}
		return b, nil
	case spec.KindDuration:
		d, err := time.ParseDuration(n.Value)
		if err != nil {
			return nil, fmt.Errorf("expected a duration such as 90s, 15m or 2h, got %q", n.Value)
		}
		return d.String(), nil
	case spec.KindList, spec.KindMap, spec.KindObject:
		return nil, fmt.Errorf("expected %s, got %q", want, n.Value)
	default:
		switch n.Tag {
		case "!!int":
			if i, err := strconv.Atoi(n.Value); err == nil {
				return i, nil
			}
		case "!!bool":
			if b, err := strconv.ParseBool(strings.ToLower(n.Value)); err == nil {
				return b, nil
			}
		}
		return n.Value, nil
	}
}
