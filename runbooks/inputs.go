package runbooks

import (
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/cordon-ir/cordon/actions/spec"
)

// ResolveInputs checks inputs given as text (cordon run --input k=v) against
// the plan's declarations, with the same care as literals in the runbook:
// type, pattern, enum, required. It returns the typed values with defaults
// filled in: string, int, bool, []any of strings (list, comma-separated),
// and durations as normalised text. Every problem is reported, joined.
func (p *Plan) ResolveInputs(raw map[string]string) (map[string]any, error) {
	var errs []error
	declared := map[string]bool{}
	out := map[string]any{}
	for _, in := range p.Inputs {
		declared[in.Name] = true
		text, given := raw[in.Name]
		if !given {
			switch {
			case in.Default != nil:
				out[in.Name] = in.Default
			case in.Required:
				errs = append(errs, fmt.Errorf("input %s is required: %s (pass --input %s=...)", in.Name, describeInput(in), in.Name))
			}
			continue
		}
		v, err := ParseInputValue(in, text)
		if err != nil {
			errs = append(errs, fmt.Errorf("input %s: %w", in.Name, err))
			continue
		}
		out[in.Name] = v
	}
	var unknown []string
	for k := range raw {
		if !declared[k] {
			unknown = append(unknown, k)
		}
	}
	sort.Strings(unknown)
	names := make([]string, len(p.Inputs))
	for i, in := range p.Inputs {
		names[i] = in.Name
	}
	for _, k := range unknown {
		errs = append(errs, fmt.Errorf("input %s is not declared by runbook %s%s", k, p.Runbook.Name, hintSuffix(suggest(k, names))))
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return out, nil
}

func hintSuffix(h string) string {
	if h == "" {
		return ""
	}
	return " (" + h + ")"
}

func describeInput(in Input) string {
	d := in.Type.String()
	if in.Description != "" {
		d += ", " + strings.TrimSuffix(in.Description, ".")
	}
	return d
}

// ParseInputValue converts one input given as text to its declared type
// and checks its pattern and enum.
func ParseInputValue(in Input, text string) (any, error) {
	var v any
	switch in.Type.Kind {
	case spec.KindString:
		v = text
	case spec.KindInt:
		i, err := strconv.Atoi(strings.TrimSpace(text))
		if err != nil {
			return nil, fmt.Errorf("%q is not an integer", text)
		}
		v = i
	case spec.KindBool:
		b, err := strconv.ParseBool(strings.TrimSpace(text))
		if err != nil {
			return nil, fmt.Errorf("%q is not true or false", text)
		}
		v = b
	case spec.KindDuration:
		d, err := time.ParseDuration(strings.TrimSpace(text))
		if err != nil {
			return nil, fmt.Errorf("%q is not a duration such as 90s, 15m or 2h", text)
		}
		v = d.String()
	case spec.KindList:
		items := []any{}
		for _, it := range strings.Split(text, ",") {
			if it = strings.TrimSpace(it); it != "" {
				items = append(items, it)
			}
		}
		v = items
	default:
		return nil, fmt.Errorf("type %s cannot be given on the command line", in.Type)
	}
	var re *regexp.Regexp
	if in.Pattern != "" {
		var err error
		if re, err = regexp.Compile(in.Pattern); err != nil {
			return nil, fmt.Errorf("pattern %s: %w", in.Pattern, err)
		}
	}
	if msg := checkConstraints(v, re, in.Enum); msg != "" {
		return nil, errors.New(msg)
	}
	return v, nil
}

// CheckValues checks typed input values (a run's inputs as a client sent
// them, decoded from JSON) against the plan's declarations: every required
// input present, nothing undeclared, each value of its declared type and
// within its pattern and enum. The worker runs it on every start, since a
// client need not have used ResolveInputs.
func (p *Plan) CheckValues(values map[string]any) error {
	var errs []error
	declared := map[string]bool{}
	for _, in := range p.Inputs {
		declared[in.Name] = true
		v, given := values[in.Name]
		if !given {
			if in.Required && in.Default == nil {
				errs = append(errs, fmt.Errorf("input %s is required: %s", in.Name, describeInput(in)))
			}
			continue
		}
		if msg := valueFits(in, v); msg != "" {
			errs = append(errs, fmt.Errorf("input %s: %s", in.Name, msg))
		}
	}
	var unknown []string
	for k := range values {
		if !declared[k] {
			unknown = append(unknown, k)
		}
	}
	sort.Strings(unknown)
	for _, k := range unknown {
		errs = append(errs, fmt.Errorf("input %s is not declared by runbook %s", k, p.Runbook.Name))
	}
	return errors.Join(errs...)
}

func valueFits(in Input, v any) string {
	switch in.Type.Kind {
	case spec.KindString:
		if _, ok := v.(string); !ok {
			return fmt.Sprintf("%v is not a string", v)
		}
	case spec.KindInt:
		switch n := v.(type) {
		case int, int64, int32:
		case float64:
			if n != float64(int64(n)) {
				return fmt.Sprintf("%v is not an integer", v)
			}
		default:
			return fmt.Sprintf("%v is not an integer", v)
		}
	case spec.KindBool:
		if _, ok := v.(bool); !ok {
			return fmt.Sprintf("%v is not true or false", v)
		}
	case spec.KindDuration:
		s, ok := v.(string)
		if !ok {
			return fmt.Sprintf("%v is not a duration", v)
		}
		if _, err := time.ParseDuration(s); err != nil {
			return fmt.Sprintf("%q is not a duration", s)
		}
	case spec.KindList:
		list, ok := v.([]any)
		if !ok {
			return fmt.Sprintf("%v is not a list", v)
		}
		for _, it := range list {
			if _, ok := it.(string); !ok {
				return fmt.Sprintf("list item %v is not a string", it)
			}
		}
	}
	var re *regexp.Regexp
	if in.Pattern != "" {
		var err error
		if re, err = regexp.Compile(in.Pattern); err != nil {
			return fmt.Sprintf("pattern %s: %v", in.Pattern, err)
		}
	}
	return checkConstraints(v, re, in.Enum)
}
