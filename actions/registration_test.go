package actions

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/cordon-ir/cordon/actions/spec"
)

// An action is registered whole: a spec without its handler, or a handler
// without its spec, never makes it into a catalog or a runtime.
func TestAnActionIsRegisteredWhole(t *testing.T) {
	sp := func(name string) spec.Action {
		return spec.Action{Name: name, Service: "x", Summary: "s", DryRun: "d", Timeout: minute}
	}
	mutating, needsIAM := sp("x.mutating"), sp("x.iam")
	mutating.Mutating = true
	needsIAM.Permissions = []string{"ec2:DescribeInstances"}
	noop := func(context.Context, *execution) error { return nil }
	for _, c := range []struct {
		name string
		regs []registration
		want string
	}{
		{"a spec without a handler", []registration{action(sp("x.a"), nil)}, "action x.a: no handler"},
		{"a handler without a spec", []registration{{run: noop}}, "a registration has no spec"},
		{"a workflow action with a handler", []registration{{spec: new(sp("x.w")), run: noop, workflow: true}}, "cannot also have a handler"},
		{"a mutating workflow action", []registration{inWorkflow(mutating)}, "the workflow does no I/O"},
		{"a workflow action that needs IAM", []registration{inWorkflow(needsIAM)}, "the workflow does no I/O"},
		{"the same action twice", []registration{action(sp("x.a"), noop), action(sp("x.a"), noop)}, "declared twice"},
	} {
		if _, _, err := assemble(c.regs); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err = %v, want %q", c.name, err, c.want)
		}
	}
	catalog, handlers, err := assemble([]registration{action(sp("x.a"), noop), inWorkflow(sp("x.w"))})
	if err != nil || !slices.Equal(catalog.Names(), []string{"x.a", "x.w"}) || len(handlers) != 1 || handlers["x.a"] == nil {
		t.Errorf("whole registrations: catalog %v, handlers %v, err %v", catalog, handlers, err)
	}
	if _, _, err := assemble(registrations()); err != nil {
		t.Errorf("the package's own registrations: %v", err)
	}
}

// The workflow carries out core.wait itself (a durable timer), matching it
// by name in workflows/runner.go; every other action is an activity. A new
// action the workflow carries out needs its case there too.
func TestOnlyCoreWaitIsCarriedOutByTheWorkflow(t *testing.T) {
	var inWf []string
	for _, r := range registrations() {
		if r.workflow {
			inWf = append(inWf, r.spec.Name)
		}
	}
	if !slices.Equal(inWf, []string{"core.wait"}) {
		t.Errorf("actions carried out by the workflow = %v, want [core.wait]", inWf)
	}
}
