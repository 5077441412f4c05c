package runbooks

import (
	"encoding/json"
	"sort"

	"github.com/cordon-ir/cordon/actions/spec"
)

// IAMPolicy is an IAM policy document.
type IAMPolicy struct {
	Version   string         `json:"Version"`
	Statement []IAMStatement `json:"Statement"`
}

// IAMStatement is one statement of an IAM policy.
type IAMStatement struct {
	Sid      string   `json:"Sid"`
	Effect   string   `json:"Effect"`
	Action   []string `json:"Action"`
	Resource string   `json:"Resource"`
}

// Permissions returns every IAM action the plan's steps (and their child
// runbooks) may call, sorted and without duplicates.
func (p *Plan) Permissions() []string {
	set := map[string]bool{}
	p.collectPermissions(set)
	return sortedKeys(set)
}

func (p *Plan) collectPermissions(set map[string]bool) {
	for _, s := range p.Steps {
		for _, perm := range s.Permissions {
			set[perm] = true
		}
	}
	for _, c := range p.Children {
		c.collectPermissions(set)
	}
}

// LeastPrivilegePolicy is the IAM policy a worker's role needs to run the
// given plans, and nothing more: read calls and changing calls in separate
// statements so a reviewer sees at once what can modify the account.
// Resources are "*" because containment targets are not known in advance;
// narrow them with conditions (e.g. on aws:ResourceAccount) where your
// organisation allows.
func LeastPrivilegePolicy(plans ...*Plan) IAMPolicy {
	set := map[string]bool{}
	for _, p := range plans {
		p.collectPermissions(set)
	}
	var read, write []string
	for _, perm := range sortedKeys(set) {
		if isReadOnly(perm) {
			read = append(read, perm)
		} else {
			write = append(write, perm)
		}
	}
	doc := IAMPolicy{Version: "2012-10-17"}
	if len(read) > 0 {
		doc.Statement = append(doc.Statement, IAMStatement{Sid: "CordonEvidence", Effect: "Allow", Action: read, Resource: "*"})
	}
	if len(write) > 0 {
		doc.Statement = append(doc.Statement, IAMStatement{Sid: "CordonContainment", Effect: "Allow", Action: write, Resource: "*"})
	}
	sort.SliceStable(doc.Statement, func(i, j int) bool { return doc.Statement[i].Sid < doc.Statement[j].Sid })
	return doc
}

func isReadOnly(perm string) bool { return spec.IsReadOnly(perm) }

// JSON renders the policy as indented JSON.
func (p IAMPolicy) JSON() []byte {
	b, _ := json.MarshalIndent(p, "", "  ") // only strings: cannot fail
	return b
}
