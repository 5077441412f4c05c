package runbooks

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
)

// WriteText prints a plan for a person: each step with its condition, gate
// and destructive mark, so a responder can read what a run would do
// before starting it.
func (p *Plan) WriteText(w io.Writer, inputs map[string]any) error {
	b := &strings.Builder{}
	fmt.Fprintf(b, "Runbook %s", p.Runbook.Name)
	if p.Runbook.Severity != "" {
		fmt.Fprintf(b, " (severity %s)", p.Runbook.Severity)
	}
	fmt.Fprintf(b, "\n  %s\n  plan %s\n", p.Runbook.Description, p.Hash()[:16])
	if len(inputs) > 0 {
		b.WriteString("\nInputs:\n")
		for _, k := range sortedKeys(inputs) {
			v, _ := json.Marshal(inputs[k])
			fmt.Fprintf(b, "  %s = %s\n", k, v)
		}
	}
	b.WriteString("\nSteps:\n")
	for i, s := range p.Steps {
		mark := " "
		if s.Destructive {
			mark = "!"
		}
		what := s.Action
		if s.Uses != "" {
			what = "uses " + s.Uses
		}
		fmt.Fprintf(b, "%s %2d. %-18s %s", mark, i+1, s.ID, what)
		if s.Phase != "" {
			fmt.Fprintf(b, "  [%s]", s.Phase)
		}
		b.WriteString("\n")
		if s.Name != "" {
			fmt.Fprintf(b, "        %s\n", s.Name)
		}
		if s.When != nil {
			fmt.Fprintf(b, "        when: %s\n", s.When.Source)
		}
		if s.Foreach != nil {
			fmt.Fprintf(b, "        foreach: %s (max %d at once, %d errors tolerated)\n", s.Foreach.describe(), s.MaxConcurrency, s.MaxErrors)
		}
		switch {
		case s.Gate != nil:
			fmt.Fprintf(b, "        gate: %d approval(s) from %s, within %s, then %s", s.Gate.MinApprovals,
				s.Gate.Approvers.describe(), timeText(s.Gate.Timeout), s.Gate.OnTimeout)
			if s.Gate.OnTimeout == "escalate" {
				fmt.Fprintf(b, " to %s", s.Gate.EscalateTo.describe())
			}
			if !s.Gate.AllowSelfApproval {
				b.WriteString("; not by the requester")
			}
			b.WriteString("\n")
		case s.Destructive:
			fmt.Fprintf(b, "        no gate: %s\n", s.Justification)
		}
		for _, k := range sortedKeys(s.With) {
			fmt.Fprintf(b, "        %s: %s\n", k, s.With[k].describe())
		}
	}
	b.WriteString("\n! = destructive\n")
	_, err := io.WriteString(w, b.String())
	return err
}

// timeText writes 30m rather than 30m0s.
func timeText(d Duration) string {
	s := timeDuration(d).String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

func (a Approvers) describe() string {
	var parts []string
	for _, g := range a.Groups {
		parts = append(parts, "group "+g)
	}
	parts = append(parts, a.People...)
	return strings.Join(parts, ", ")
}

func (v Value) describe() string {
	switch {
	case v.Expr != nil:
		return "${{ " + v.Expr.Source + " }}"
	case v.Template != nil:
		var b strings.Builder
		for _, p := range v.Template {
			if p.Expr != nil {
				b.WriteString("${{ " + p.Expr.Source + " }}")
			} else {
				b.WriteString(p.Text)
			}
		}
		return b.String()
	case v.List != nil:
		parts := make([]string, len(v.List))
		for i, it := range v.List {
			parts[i] = it.describe()
		}
		return "[" + strings.Join(parts, ", ") + "]"
	case v.Map != nil:
		keys := sortedKeys(v.Map)
		parts := make([]string, len(keys))
		for i, k := range keys {
			parts[i] = k + ": " + v.Map[k].describe()
		}
		return "{" + strings.Join(parts, ", ") + "}"
	default:
		b, _ := json.Marshal(v.Literal)
		return string(b)
	}
}
