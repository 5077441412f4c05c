package runbooks

import (
	"slices"
	"strings"
)

// SourceRead is one call that fetches a finding again from its source
// (package intake/source), and the resource the Service Authorization
// Reference lets it be granted on (${Partition} and ${Account} to fill
// in; "*" where the call has no resource type). The detection intake
// makes these calls before a trigger decides on an event, and the worker
// again before a run the intake started goes on: both roles need them,
// from this one table.
type SourceRead struct {
	Source, Action, Resource string
	// Unscoped says why Resource is "*".
	Unscoped string
}

// SourceReads are the calls that fetch a finding of each trigger source.
func SourceReads() []SourceRead {
	const events = "arn:${Partition}:health:*::event/*" // Health's event ARNs name no account
	return []SourceRead{
		{Source: SourceGuardDuty, Action: "guardduty:ListDetectors", Resource: "*", Unscoped: "GuardDuty's ListDetectors has no resource type"},
		{Source: SourceGuardDuty, Action: "guardduty:GetFindings", Resource: "arn:${Partition}:guardduty:*:${Account}:detector/*"},
		{Source: SourceSecurityHub, Action: "securityhub:GetFindings", Resource: "arn:${Partition}:securityhub:*:${Account}:hub/default"},
		{Source: SourceHealth, Action: "health:DescribeEventDetails", Resource: events},
		{Source: SourceHealth, Action: "health:DescribeAffectedEntities", Resource: events},
	}
}

// TriggerSources are the sources the plans' triggers read, sorted.
func TriggerSources(plans ...*Plan) []string {
	var out []string
	for _, p := range plans {
		for _, t := range p.Triggers {
			out = append(out, t.Source)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// collectSourceReads grants the responder role the reads that verify the
// findings of a run the intake starts, for the sources p's triggers read
// (a runbook without triggers grants none).
func (p *Plan) collectSourceReads(rep *strings.Replacer, grants map[string]map[string]grant) {
	sources := TriggerSources(p)
	for _, r := range SourceReads() {
		if !slices.Contains(sources, r.Source) {
			continue
		}
		g := grant{resources: []string{rep.Replace(r.Resource)}, unscoped: r.Unscoped}
		if grants[r.Action] == nil {
			grants[r.Action] = map[string]grant{}
		}
		grants[r.Action][g.key()] = g
	}
}
