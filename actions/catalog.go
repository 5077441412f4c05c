// Package actions is Cordon's action catalog: every containment action a
// runbook can name, with its typed parameters and outputs, whether it is
// destructive, what a dry run does, and the exact IAM permissions it needs.
// The AWS implementations live beside their specs, one file per service.
//
// It must not know about workflows: the interpreter calls actions by name.
package actions

import (
	"fmt"
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

// Catalog returns the full action catalog. It is rebuilt on each call
// (cheap) rather than cached in a package variable, so nothing global can
// be mutated by a caller.
func Catalog() *spec.Registry {
	var all []*spec.Action
	all = append(all, ec2Actions()...)
	all = append(all, autoscalingActions()...)
	all = append(all, elbActions()...)
	all = append(all, iamActions()...)
	all = append(all, coreActions()...)
	r, err := spec.NewRegistry(all...)
	if err != nil {
		// The catalog is a compile-time constant in all but syntax; a
		// broken one is a programming error caught by the package tests.
		panic(fmt.Sprintf("action catalog: %v", err))
	}
	return r
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
