package runbooks_test

import (
	"strings"
	"testing"
	"time"

	"github.com/cordon-ir/cordon/runbooks"
)

// triggerBase is a runbook with two inputs and one step (lines 1–17); the
// cases add a triggers: block from line 18.
const triggerBase = header + `inputs:
  instance_id: {type: string, required: true, pattern: '^i-[0-9a-f]{8,17}$'}
  region: {type: string, default: us-east-1}
  count: {type: int, default: 1}
  since: {type: string, required: false}
approvals:
  approvers:
    groups: [csirt]
steps:
  - id: ev
    action: aws.ec2.describe_instance
    with:
      instance_id: ${{ inputs.instance_id }}
`

func TestTriggerCompileErrors(t *testing.T) {
	cases := []struct {
		name string
		src  string
		want []wantDiag
	}{
		{
			name: "unknown source",
			src: triggerBase + `triggers:
  - name: t1
    source: gaurdduty
    inputs: {instance_id: "${{ finding.instance_id }}"}
`,
			want: []wantDiag{{runbooks.CodeBadValue, 20, 13}},
		},
		{
			name: "typo in a finding field, in an input and in when",
			src: triggerBase + `triggers:
  - name: t1
    source: guardduty
    match:
      when: finding.severty == "high"
    inputs:
      instance_id: ${{ finding.instanceid }}
`,
			want: []wantDiag{{runbooks.CodeBadReference, 22, 13}, {runbooks.CodeBadReference, 24, 24}},
		},
		{
			name: "required input not covered",
			src: triggerBase + `triggers:
  - name: t1
    source: guardduty
    inputs:
      region: ${{ finding.region }}
`,
			want: []wantDiag{{runbooks.CodeMissingParam, 21, 5}},
		},
		{
			name: "wrong type",
			src: triggerBase + `triggers:
  - name: t1
    source: guardduty
    inputs:
      instance_id: ${{ finding.instance_id }}
      count: ${{ finding.title }}
`,
			want: []wantDiag{{runbooks.CodeTypeMismatch, 23, 18}},
		},
		{
			name: "a field that never fits the input's pattern",
			src: triggerBase + `triggers:
  - name: t1
    source: guardduty
    inputs:
      instance_id: ${{ finding.account }}
`,
			want: []wantDiag{{runbooks.CodeTypeMismatch, 22, 20}},
		},
		{
			name: "approval keys in a trigger",
			src: triggerBase + `triggers:
  - name: t1
    source: guardduty
    inputs: {instance_id: "${{ finding.instance_id }}"}
    approval: none
    approvals: {min_approvals: 0}
`,
			want: []wantDiag{{runbooks.CodeNotAllowed, 22, 5}, {runbooks.CodeNotAllowed, 23, 5}},
		},
		{
			name: "an input the runbook does not have",
			src: triggerBase + `triggers:
  - name: t1
    source: guardduty
    inputs:
      instance_id: ${{ finding.instance_id }}
      regoin: ${{ finding.region }}
`,
			want: []wantDiag{{runbooks.CodeUnknownParam, 23, 7}},
		},
		{
			name: "match parts the source never has",
			src: triggerBase + `triggers:
  - name: t1
    source: health
    match:
      min_severity: high
    inputs: {instance_id: "${{ finding.instance_id }}"}
  - name: t2
    source: guardduty
    match:
      types: ["TTPs/Discovery/Recon:EC2-PortProbeUnprotectedPort"]
      event_type_codes: [AWS_RISK_CREDENTIALS_EXPOSED]
    inputs: {instance_id: "${{ finding.instance_id }}"}
`,
			want: []wantDiag{{runbooks.CodeBadValue, 22, 7}, {runbooks.CodeBadValue, 27, 15}, {runbooks.CodeBadValue, 28, 7}},
		},
		{
			name: "a trigger sees only the finding",
			src: triggerBase + `triggers:
  - name: t1
    source: guardduty
    match: {when: "run.dry_run"}
    inputs: {instance_id: "${{ finding.instance_id }}"}
`,
			want: []wantDiag{{runbooks.CodeBadReference, 21, 20}},
		},
		{
			name: "bad mode, duplicate name",
			src: triggerBase + `triggers:
  - name: t1
    source: guardduty
    mode: auto
    inputs: {instance_id: "${{ finding.instance_id }}"}
  - name: t1
    source: health
    inputs: {instance_id: "${{ finding.instance_id }}"}
`,
			want: []wantDiag{{runbooks.CodeBadValue, 21, 11}, {runbooks.CodeBadValue, 23, 11}},
		},
		{
			name: "aggregate: unknown field to gather by, bad window, into a string input, bad limits",
			src: triggerBase + `triggers:
  - name: t1
    source: guardduty
    mode: launch
    max_launches_per_hour: 0
    inputs: {instance_id: "${{ finding.instance_id }}"}
    aggregate:
      by: [account, regoin, types]
      window: 2h
      into: region
      item: ${{ finding.instance_id }}
      max_targets: 0
`,
			want: []wantDiag{{runbooks.CodeBadValue, 22, 28}, {runbooks.CodeBadValue, 25, 21}, {runbooks.CodeBadValue, 25, 29},
				{runbooks.CodeBadValue, 26, 15}, {runbooks.CodeTypeMismatch, 27, 13}, {runbooks.CodeBadValue, 29, 20}},
		},
		{
			name: "aggregate: into an unknown input, into mapped twice, an item that never fits",
			src: listBase + `triggers:
  - name: t1
    source: guardduty
    aggregate: {into: compromized, item: "${{ finding.instance_id }}"}
  - name: t2
    source: guardduty
    inputs: {hosts: "${{ [finding.instance_id] }}"}
    aggregate: {into: hosts, item: "${{ finding.account }}"}
  - name: t3
    source: guardduty
    aggregate: {into: hosts, item: "${{ finding.count }}"}
`,
			want: []wantDiag{{runbooks.CodeMissingParam, 14, 5}, {runbooks.CodeUnknownParam, 16, 23}, {runbooks.CodeBadValue, 19, 14},
				{runbooks.CodeTypeMismatch, 20, 36}, {runbooks.CodeTypeMismatch, 23, 41}},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) { wantErrors(t, tc.src, tc.want) })
	}
}

// listBase is a runbook of a fleet: a required list of instances (lines
// 1–12); the cases add a triggers: block from line 13.
const listBase = header + `inputs:
  hosts: {type: list, required: true, pattern: '^i-[0-9a-f]{8,17}$'}
steps:
  - id: ev
    action: aws.ec2.describe_instance
    foreach: ${{ inputs.hosts }}
    with:
      instance_id: ${{ item }}
`

// An aggregate: block compiles into the plan with its defaults, and fills
// the list input a required mapping would otherwise miss.
func TestAggregateCompiles(t *testing.T) {
	plan := mustCompile(t, listBase+`triggers:
  - name: storm
    source: guardduty
    mode: launch
    aggregate:
      by: [account, region, type]
      into: hosts
      item: ${{ finding.instance_id }}
  - name: ask
    source: guardduty
    aggregate: {into: hosts, item: "${{ finding.instance_id }}", window: 30s, max_targets: 5}
`)
	storm, ask := plan.Triggers[0], plan.Triggers[1]
	a := storm.Aggregate
	if a == nil || a.Into != "hosts" || a.Item.Expr == nil || a.Item.Expr.Source != "finding.instance_id" ||
		time.Duration(a.Window) != runbooks.DefaultAggregateWindow || a.MaxTargets != runbooks.DefaultMaxTargets ||
		strings.Join(a.By, ",") != "account,region,type" {
		t.Errorf("aggregate: %+v", a)
	}
	if storm.MaxLaunchesPerHour != runbooks.DefaultMaxLaunchesPerHour {
		t.Errorf("a launch trigger's default breaker: %d", storm.MaxLaunchesPerHour)
	}
	if b := ask.Aggregate; b == nil || time.Duration(b.Window) != 30*time.Second || b.MaxTargets != 5 || len(b.By) != 0 || ask.MaxLaunchesPerHour != 0 {
		t.Errorf("propose trigger: %+v %+v", ask, b)
	}
}

// A good trigger compiles into the plan, typed, with propose as the mode
// when none is given.
func TestTriggerCompiles(t *testing.T) {
	plan := mustCompile(t, triggerBase+`triggers:
  - name: ec2-high
    source: guardduty
    match:
      types: ["*:EC2/*"]
      resource: instance
      min_severity: high
      accounts: ["123456789012"]
      when: finding.count >= 1 && hasPrefix(finding.instance_id, "i-")
    inputs:
      instance_id: ${{ finding.instance_id }}
      region: ${{ finding.region }}
      since: "seen ${{ finding.first_seen }}"
`)
	if len(plan.Triggers) != 1 {
		t.Fatalf("triggers: %+v", plan.Triggers)
	}
	tr := plan.Triggers[0]
	if tr.Mode != runbooks.ModePropose || tr.Source != "guardduty" || tr.Match.MinSeverity != "high" ||
		tr.Match.When == nil || tr.Match.When.Type.Kind != "bool" || len(tr.Inputs) != 3 {
		t.Errorf("trigger: %+v", tr)
	}
	if x := tr.Inputs["instance_id"].Expr; x == nil || x.Source != "finding.instance_id" {
		t.Errorf("instance_id: %+v", tr.Inputs["instance_id"])
	}
	if len(tr.Inputs["since"].Template) != 2 {
		t.Errorf("since: %+v", tr.Inputs["since"])
	}
}
