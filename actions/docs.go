package actions

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
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
	b.WriteString("`cordon policy RUNBOOK...` builds the least-privilege policy from them, on the resources listed\n")
	b.WriteString("under **Policy resources** (`${Partition}`, `${Account}` and the IAM paths are its options).\n\n")
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
			writeScopes(b, a)
		} else {
			b.WriteString("- **IAM permissions:** none\n")
		}
		if len(a.ForensicPermissions) > 0 {
			fmt.Fprintf(b, "- **IAM permissions of the forensic account's role:** `%s`\n", strings.Join(a.ForensicPermissions, "`, `"))
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

// writeScopes says on which resources `cordon policy` grants the action's
// permissions, so a reviewer of the policy can trace each ARN to an action.
func writeScopes(b *strings.Builder, a *spec.Action) {
	// Permissions granted alike are written together, in declaration order.
	var order []string
	perms := map[string][]string{}
	unscoped := 0
	for _, sc := range a.Scopes {
		if len(sc.Resources) == 0 {
			unscoped += len(sc.Permissions)
			continue
		}
		on := "on `" + strings.Join(sc.Resources, "`, `") + "`"
		for _, op := range slices.Sorted(maps.Keys(sc.Condition)) {
			for _, k := range slices.Sorted(maps.Keys(sc.Condition[op])) {
				on += fmt.Sprintf(" if %s %s `%s`", k, op, strings.Join(sc.Condition[op][k], "`, `"))
			}
		}
		if perms[on] == nil {
			order = append(order, on)
		}
		perms[on] = append(perms[on], sc.Permissions...)
	}
	if len(order) == 0 {
		b.WriteString("- **Policy resources:** `*`\n")
		return
	}
	scoped := make([]string, len(order))
	for i, on := range order {
		scoped[i] = "`" + strings.Join(perms[on], "`, `") + "` " + on
	}
	others := ""
	if unscoped > 0 {
		others = "; the others on `*`"
	}
	fmt.Fprintf(b, "- **Policy resources:** %s%s\n", strings.Join(scoped, "; "), others)
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
