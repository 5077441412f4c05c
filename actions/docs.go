package actions

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/cordon-ir/cordon/actions/spec"
)

// WriteMarkdown writes the action reference (docs/actions.md) from the
// catalog, so the documentation cannot drift from what the compiler checks.
func WriteMarkdown(w io.Writer, r *spec.Registry) error {
	b := &strings.Builder{}
	b.WriteString("# Action reference\n\n")
	b.WriteString("Generated from the action catalog by `cordon actions --markdown`; do not edit by hand.\n\n")
	b.WriteString("Destructive actions need an approval gate (`approval: required` or a policy object) unless the step says\n")
	b.WriteString("`approval: none` with a `justification`. Every action lists the exact IAM permissions it calls;\n")
	b.WriteString("`cordon policy RUNBOOK...` builds the least-privilege policy from them.\n\n")
	b.WriteString("| action | kind | summary |\n| --- | --- | --- |\n")
	for _, a := range r.Actions() {
		fmt.Fprintf(b, "| [`%s`](#%s) | %s | %s |\n", a.Name, anchor(a.Name), kind(a), a.Summary)
	}
	for _, a := range r.Actions() {
		fmt.Fprintf(b, "\n## `%s`\n\n%s\n", a.Name, a.Summary)
		if a.Description != "" {
			fmt.Fprintf(b, "\n%s\n", a.Description)
		}
		fmt.Fprintf(b, "\n- **Kind:** %s\n- **Dry run:** %s\n- **Default timeout:** %s\n", kind(a), a.DryRun, a.Timeout)
		if a.Reverse != "" {
			fmt.Fprintf(b, "- **Undone by:** `%s`\n", a.Reverse)
		}
		if len(a.Permissions) > 0 {
			fmt.Fprintf(b, "- **IAM permissions:** `%s`\n", strings.Join(a.Permissions, "`, `"))
		} else {
			b.WriteString("- **IAM permissions:** none\n")
		}
		if len(a.Params) > 0 {
			b.WriteString("\n| parameter | type | required | default | description |\n| --- | --- | --- | --- | --- |\n")
			for _, p := range a.Params {
				req, def := "", ""
				if p.Required {
					req = "yes"
				}
				if p.Default != nil {
					d, _ := json.Marshal(p.Default)
					def = "`" + string(d) + "`"
				}
				desc := p.Description
				if p.Pattern != "" {
					desc += " Must match `" + p.Pattern + "`."
				}
				if p.Enum != nil {
					desc += " One of: `" + strings.Join(p.Enum, "`, `") + "`."
				}
				fmt.Fprintf(b, "| `%s` | `%s` | %s | %s | %s |\n", p.Name, p.Type, req, def, escapePipes(desc))
			}
		}
		if len(a.Outputs) > 0 {
			b.WriteString("\n| output | type | description |\n| --- | --- | --- |\n")
			for _, o := range a.Outputs {
				fmt.Fprintf(b, "| `%s` | `%s` | %s |\n", o.Name, escapePipes(o.Type.String()), escapePipes(o.Description))
			}
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func kind(a *spec.Action) string {
	switch {
	case a.Destructive:
		return "destructive"
	case a.Mutating:
		return "changes state"
	default:
		return "read-only"
	}
}

func anchor(name string) string {
	return strings.NewReplacer(".", "", "_", "_").Replace(name)
}

func escapePipes(s string) string { return strings.ReplaceAll(s, "|", `\|`) }
