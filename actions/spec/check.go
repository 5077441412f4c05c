package spec

import (
	"fmt"
	"math"
	"regexp"
	"sort"
	"strings"
	"time"
)

// CheckParams validates parameters as they reach an action at run time,
// after the workflow evaluated the runbook's expressions: every name is
// declared, required ones are present, and each value has its declared
// type and satisfies its pattern and enum. Values are as decoded from JSON
// (numbers are float64). The compiler already checked literals; this
// catches what expressions produced.
func (a *Action) CheckParams(params map[string]any) error {
	var problems []string
	for name := range params {
		if _, ok := a.Param(name); !ok {
			problems = append(problems, fmt.Sprintf("unknown parameter %q", name))
		}
	}
	for _, p := range a.Params {
		v, ok := params[p.Name]
		if !ok || v == nil {
			if p.Required {
				problems = append(problems, fmt.Sprintf("missing required parameter %q", p.Name))
			}
			continue
		}
		if msg := checkValue(v, p.Type, p.Pattern, p.Enum); msg != "" {
			problems = append(problems, fmt.Sprintf("parameter %s: %s", p.Name, msg))
		}
	}
	if len(problems) == 0 {
		return nil
	}
	sort.Strings(problems)
	return fmt.Errorf("%s: %s", a.Name, strings.Join(problems, "; "))
}

func checkValue(v any, t Type, pattern string, enum []string) string {
	switch t.Kind {
	case KindString:
		s, ok := v.(string)
		if !ok {
			return fmt.Sprintf("expected a string, got %T", v)
		}
		return checkString(s, pattern, enum)
	case KindInt:
		switch n := v.(type) {
		case int, int64:
			return ""
		case float64:
			if n != math.Trunc(n) {
				return fmt.Sprintf("expected an integer, got %v", n)
			}
			return ""
		}
		return fmt.Sprintf("expected an integer, got %T", v)
	case KindBool:
		if _, ok := v.(bool); !ok {
			return fmt.Sprintf("expected true or false, got %T", v)
		}
	case KindDuration:
		s, ok := v.(string)
		if !ok {
			return fmt.Sprintf("expected a duration, got %T", v)
		}
		if _, err := time.ParseDuration(s); err != nil {
			return fmt.Sprintf("%q is not a duration", s)
		}
	case KindList:
		items, ok := v.([]any)
		if !ok {
			if ss, isStrings := v.([]string); isStrings {
				for _, s := range ss {
					items = append(items, s)
				}
			} else {
				return fmt.Sprintf("expected a list, got %T", v)
			}
		}
		for i, it := range items {
			if msg := checkValue(it, t.elem(), pattern, enum); msg != "" {
				return fmt.Sprintf("item %d: %s", i, msg)
			}
		}
	case KindMap:
		m, ok := v.(map[string]any)
		if !ok {
			if ms, isStrings := v.(map[string]string); isStrings {
				m = map[string]any{}
				for k, s := range ms {
					m[k] = s
				}
			} else {
				return fmt.Sprintf("expected a mapping, got %T", v)
			}
		}
		for k, it := range m {
			if msg := checkValue(it, t.elem(), "", nil); msg != "" {
				return fmt.Sprintf("%s: %s", k, msg)
			}
		}
	}
	return ""
}

func checkString(s, pattern string, enum []string) string {
	if pattern != "" {
		re, err := regexp.Compile(pattern)
		if err != nil {
			return fmt.Sprintf("pattern %s does not compile: %v", pattern, err)
		}
		if !re.MatchString(s) {
			return fmt.Sprintf("%q does not match %s", s, pattern)
		}
	}
	if enum != nil {
		for _, e := range enum {
			if e == s {
				return ""
			}
		}
		return fmt.Sprintf("%q is not one of %s", s, strings.Join(enum, ", "))
	}
	return ""
}
