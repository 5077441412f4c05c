// Package actions is Cordon's action catalog: every containment action a
// runbook can name, with its typed parameters and outputs, whether it is
// destructive, what a dry run does, and the exact IAM permissions it needs.
// Each action is registered whole, its spec and its implementation in one
// declaration (see registration), one file per service.
//
// It must not know about workflows: the interpreter calls actions by name.
package actions

import (
	"fmt"
	"slices"
	"time"

	"github.com/cordon-ir/cordon/actions/spec"
)

// Patterns shared by many parameters. They are the documented AWS id
// formats, so a typo in a runbook's literal id is a compile error.
const (
	instanceIDPattern  = `^i-[0-9a-f]{8,17}$`
	iamUserNamePattern = `^[\w+=,.@-]{1,64}$`
	iamRoleNamePattern = `^[\w+=,.@-]{1,64}$`
	accessKeyIDPattern = `^(AKIA|ASIA)[A-Z0-9]{12,124}$`
	rfc3339Pattern     = `^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$`
)

// registration is one action, whole: the spec a runbook is checked against
// and the handler that carries it out, declared together. Each service file
// lists its registrations (ec2Actions, iamActions, ...); the catalog and
// the runtime's handlers are both built from these lists, so there is no
// spec without a handler and no handler without a spec.
type registration struct {
	spec *spec.Action
	// run carries the action out, as the activity named after it.
	run handler
	// workflow marks an action the interpreter workflow carries out
	// itself: it has no handler and no activity (see inWorkflow).
	workflow bool
}

// action registers an action carried out by an activity: its spec and its
// handler, in one declaration.
func action(s spec.Action, run handler) registration {
	s = withScopes(s)
	return registration{spec: &s, run: run}
}

// inWorkflow registers an action that the interpreter workflow carries out
// itself, without an activity: core.wait, which is a durable timer. The
// workflow does no I/O, so such an action may declare no IAM permission
// and cannot be mutating; the worker registers no activity for it and the
// runtime refuses to run it. The interpreter recognises it by name, so a
// new one needs a case there too.
func inWorkflow(s spec.Action) registration {
	return registration{spec: &s, workflow: true}
}

// registrations lists every action of every service.
func registrations() []registration {
	return slices.Concat(ec2Actions(), autoscalingActions(), elbActions(), iamActions(), coreActions(),
		ec2HandoverActions(), cloudTrailActions(), forensicIAMActions(), ssmActions())
}

// assemble checks that every registration is whole and indexes them: the
// catalog of specs, and the handlers by action name.
func assemble(regs []registration) (*spec.Registry, map[string]handler, error) {
	specs := make([]*spec.Action, 0, len(regs))
	handlers := make(map[string]handler, len(regs))
	for _, r := range regs {
		if r.spec == nil {
			return nil, nil, fmt.Errorf("a registration has no spec")
		}
		name := r.spec.Name
		switch {
		case r.workflow && r.run != nil:
			return nil, nil, fmt.Errorf("action %s: carried out by the workflow, it cannot also have a handler", name)
		case r.workflow && (r.spec.Mutating || len(r.spec.Permissions) > 0):
			return nil, nil, fmt.Errorf("action %s: the workflow does no I/O, so an action it carries out can neither be mutating nor need IAM permissions", name)
		case !r.workflow && r.run == nil:
			return nil, nil, fmt.Errorf("action %s: no handler", name)
		case !r.workflow:
			handlers[name] = r.run
		}
		specs = append(specs, r.spec)
	}
	catalog, err := spec.NewRegistry(specs...)
	if err != nil {
		return nil, nil, err
	}
	return catalog, handlers, nil
}

// mustAssemble assembles the package's own registrations. The catalog is a
// compile-time constant in all but syntax; a broken one is a programming
// error that every test of the package catches.
func mustAssemble() (*spec.Registry, map[string]handler) {
	catalog, handlers, err := assemble(registrations())
	if err != nil {
		panic(fmt.Sprintf("action catalog: %v", err))
	}
	return catalog, handlers
}

// Catalog returns the full action catalog. It is rebuilt on each call
// (cheap) rather than cached in a package variable, so nothing global can
// be mutated by a caller.
func Catalog() *spec.Registry {
	catalog, _ := mustAssemble()
	return catalog
}

func instanceIDParam() spec.Param {
	return spec.Param{
		Name: "instance_id", Type: spec.String, Required: true, Pattern: instanceIDPattern,
		Description: "EC2 instance id, e.g. i-0abc12345def67890.",
	}
}

const (
	minute = time.Minute
	hour   = time.Hour
)
