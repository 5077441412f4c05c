package spec

import (
	"strings"
	"testing"
)

// A scope is checked like the rest of a spec: it names the action's own
// permissions once each, gives resources or a reason, and uses only the
// placeholders the policy generator fills in.
func TestScopesAreValidated(t *testing.T) {
	base := func(scopes ...Scope) *Action {
		return &Action{Name: "t.a", Summary: "s", DryRun: "d", Permissions: []string{"ec2:StopInstances"}, Scopes: scopes}
	}
	inst := []string{"arn:${Partition}:ec2:*:${Account}:instance/*"}
	for want, a := range map[string]*Action{
		"not one of its permissions": base(Scope{Permissions: []string{"ec2:TerminateInstances"}, Resources: inst}),
		"scoped twice":               base(Scope{Permissions: []string{"ec2:StopInstances"}, Resources: inst}, Scope{Permissions: []string{"ec2:StopInstances"}, Unscoped: "x"}),
		"must say why":               base(Scope{Permissions: []string{"ec2:StopInstances"}}),
		"unknown placeholder":        base(Scope{Permissions: []string{"ec2:StopInstances"}, Resources: []string{"arn:${Partition}:ec2:${Region}:*:instance/*"}}),
		"must start with":            base(Scope{Permissions: []string{"ec2:StopInstances"}, Resources: []string{"*"}}),
	} {
		if _, err := NewRegistry(a); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("want an error saying %q, got %v", want, err)
		}
	}
	if _, err := NewRegistry(base(Scope{Permissions: []string{"ec2:StopInstances"}, Resources: inst})); err != nil {
		t.Errorf("a valid scope refused: %v", err)
	}
}
