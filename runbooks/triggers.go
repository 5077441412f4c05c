package runbooks

import (
	"fmt"
	"regexp"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/cordon-ir/cordon/actions/spec"
)

// compileTriggers compiles triggers: against the runbook's inputs. The
// shape check has already reported unknown and forbidden keys (approvals
// among them) and values outside their enums.
func (r *runbookCompiler) compileTriggers(n *yaml.Node, inputs []Input) []Trigger {
	if n == nil || n.Kind != yaml.SequenceNode {
		return nil
	}
	finding := FindingType()
	ec := newExprChecker(&Scope{Inputs: spec.ObjectOf(), Finding: &finding}, r.exprs)
	seen := map[string]Pos{}
	var out []Trigger
	for _, tn := range n.Content {
		if tn.Kind != yaml.MappingNode {
			continue
		}
		nameNode := scalarNode(tn, "name")
		if nameNode == nil {
			continue // missing-field, reported by the shape check
		}
		if first, dup := seen[nameNode.Value]; dup {
			r.d.add(CodeBadValue, nodePos(nameNode), fmt.Sprintf("the first is at line %d", first.Line),
				"trigger name %q is used twice", nameNode.Value)
			continue
		}
		seen[nameNode.Value] = nodePos(nameNode)
		if t, ok := r.compileTrigger(tn, nameNode.Value, inputs, ec); ok {
			out = append(out, t)
		}
	}
	return out
}

func (r *runbookCompiler) compileTrigger(n *yaml.Node, name string, inputs []Input, ec *exprChecker) (Trigger, bool) {
	what := "trigger " + name
	errsBefore := len(r.d.list)
	t := Trigger{Name: name, Source: scalar(n, "source"), Mode: scalar(n, "mode"), Inputs: map[string]Value{}}
	if t.Mode == "" {
		t.Mode = ModePropose // a detection proposes unless the runbook says it may launch
	}

	_, mn := lookup(n, "match")
	m := TriggerMatch{Resource: scalar(mn, "resource"), MinSeverity: scalar(mn, "min_severity")}
	_, types := lookup(mn, "types")
	m.Types = stringList(types)
	_, accounts := lookup(mn, "accounts")
	m.Accounts = stringList(accounts)
	_, codes := lookup(mn, "event_type_codes")
	m.EventTypeCodes = stringList(codes)
	if wn := scalarNode(mn, "when"); wn != nil {
		if x, ok := r.expression(wn, spec.Bool, ec, what+".match.when"); ok {
			m.When = &x
		}
	}
	r.checkMatchFitsSource(mn, t.Source, what)
	t.Match = m

	inputsKey, in := lookup(n, "inputs")
	names := make([]string, len(inputs))
	for i, decl := range inputs {
		names[i] = decl.Name
	}
	for _, e := range entries(in) {
		decl, ok := findInput(inputs, e.key.Value)
		if !ok {
			r.d.add(CodeUnknownParam, nodePos(e.key), suggest(e.key.Value, names),
				"%s: the runbook has no input %q", what, e.key.Value)
			continue
		}
		v, ok := r.findingValue(e.value, decl, decl.Type, ec, what+".inputs."+decl.Name)
		if !ok {
			continue
		}
		t.Inputs[decl.Name] = v
	}
	_, an := lookup(n, "aggregate")
	t.Aggregate = r.compileAggregate(an, in, inputs, ec, what)
	r.compileLaunchLimit(n, &t, what)
	at := nodePos(n)
	if inputsKey != nil {
		at = nodePos(inputsKey)
	}
	for _, decl := range inputs {
		if _, given := t.Inputs[decl.Name]; given || !decl.Required || decl.Default != nil {
			continue
		}
		if scalar(an, "into") == decl.Name {
			continue // the batch fills it (or aggregate: says what is wrong)
		}
		if written, _ := lookup(in, decl.Name); written != nil {
			continue // written but wrong: reported above
		}
		r.d.add(CodeMissingParam, at, fmt.Sprintf("add inputs: {%s: ${{ finding.<field> }}}: %s", decl.Name, describeInput(decl)),
			"%s: required input %q is not mapped from the finding", what, decl.Name)
	}
	return t, len(r.d.list) == errsBefore
}

// findingValue compiles a value over finding.* for input decl, as type
// want (the input's, or its items' for an aggregate's item), checked
// against the input's pattern and enum.
func (r *runbookCompiler) findingValue(n *yaml.Node, decl Input, want spec.Type, ec *exprChecker, what string) (Value, bool) {
	var re *regexp.Regexp
	if decl.Pattern != "" {
		// The input's pattern compiled when the input did; a bad one is
		// reported there.
		re, _ = regexp.Compile(decl.Pattern)
	}
	v, ok := r.value(n, want, ec, what, &constraint{re: re, enum: decl.Enum})
	if ok && re != nil && v.Expr != nil {
		r.checkFieldFitsPattern(n, v.Expr.Source, decl, re, what)
	}
	return v, ok
}

// compileAggregate compiles a trigger's aggregate: block against the
// runbook's inputs (in is the trigger's inputs: mapping). The shape check
// has reported unknown keys, missing ones and fields outside the enum.
func (r *runbookCompiler) compileAggregate(n, in *yaml.Node, inputs []Input, ec *exprChecker, what string) *Aggregate {
	if n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	errsBefore := len(r.d.list)
	_, by := lookup(n, "by")
	a := &Aggregate{By: stringList(by), Window: Duration(DefaultAggregateWindow), Into: scalar(n, "into"), MaxTargets: DefaultMaxTargets}
	if a.By == nil {
		a.By = []string{}
	}
	if wn := scalarNode(n, "window"); wn != nil {
		// A window that is no duration at all was reported by the shape check.
		if d, err := time.ParseDuration(wn.Value); err == nil {
			a.Window = Duration(d)
			if d <= 0 || d > MaxAggregateWindow {
				r.d.add(CodeBadValue, nodePos(wn), "a storm gathers within minutes; the window delays the first containment by as much",
					"%s.aggregate.window: %s is not between 0 and %s", what, wn.Value, MaxAggregateWindow)
			}
		}
	}
	if mn := scalarNode(n, "max_targets"); mn != nil {
		if v, ok := intField(n, "max_targets"); ok {
			if v < 1 {
				r.d.add(CodeBadValue, nodePos(mn), "", "%s.aggregate.max_targets: %d is not at least 1", what, v)
			}
			a.MaxTargets = v
		}
	}
	intoNode := scalarNode(n, "into")
	if intoNode == nil {
		return nil // missing-field, reported by the shape check
	}
	decl, ok := findInput(inputs, a.Into)
	if !ok {
		names := make([]string, len(inputs))
		for i, d := range inputs {
			names[i] = d.Name
		}
		r.d.add(CodeUnknownParam, nodePos(intoNode), suggest(a.Into, names), "%s.aggregate.into: the runbook has no input %q", what, a.Into)
		return nil
	}
	if decl.Type.Kind != spec.KindList {
		r.d.add(CodeTypeMismatch, nodePos(intoNode), "aggregate into a list input (type: list), which the runbook fans out with foreach",
			"%s.aggregate.into: input %s is a %s, not a list", what, decl.Name, decl.Type)
		return nil
	}
	if kn, _ := lookup(in, decl.Name); kn != nil {
		r.d.add(CodeBadValue, nodePos(kn), "remove it from inputs: each finding adds its aggregate.item",
			"%s: input %s is filled by aggregate.into", what, decl.Name)
	}
	itemNode := scalarNode(n, "item")
	if itemNode == nil {
		return nil
	}
	item, ok := r.findingValue(itemNode, decl, elemOf(decl.Type), ec, what+".aggregate.item")
	if !ok {
		return nil
	}
	a.Item = item
	if len(r.d.list) != errsBefore {
		return nil
	}
	return a
}

// compileLaunchLimit sets the trigger's launches per hour: what the
// runbook says, or the default for a trigger that starts runs by itself.
func (r *runbookCompiler) compileLaunchLimit(n *yaml.Node, t *Trigger, what string) {
	if ln := scalarNode(n, "max_launches_per_hour"); ln != nil {
		if v, ok := intField(n, "max_launches_per_hour"); ok {
			if v < 1 {
				r.d.add(CodeBadValue, nodePos(ln), "to never launch by itself, use mode: propose",
					"%s.max_launches_per_hour: %d is not at least 1", what, v)
			}
			t.MaxLaunchesPerHour = v
		}
		return
	}
	if t.Mode == ModeLaunch || t.Mode == ModeDryRun {
		t.MaxLaunchesPerHour = DefaultMaxLaunchesPerHour
	}
}

// checkMatchFitsSource reports match parts the source's findings never
// have, which would make the trigger silently match nothing.
func (r *runbookCompiler) checkMatchFitsSource(mn *yaml.Node, source, what string) {
	if mn == nil {
		return
	}
	if source == SourceHealth {
		for _, key := range []string{"types", "min_severity"} {
			if kn, _ := lookup(mn, key); kn != nil {
				r.d.add(CodeBadValue, nodePos(kn), "match Health events with event_type_codes",
					"%s: Health events have no %s", what, strings.ReplaceAll(key, "_", " "))
			}
		}
		return
	}
	if kn, _ := lookup(mn, "event_type_codes"); kn != nil {
		r.d.add(CodeBadValue, nodePos(kn), "use types, or source: health",
			"%s: event_type_codes only apply to Health events", what)
	}
	if source != SourceGuardDuty {
		return
	}
	_, types := lookup(mn, "types")
	if types == nil || types.Kind != yaml.SequenceNode {
		return
	}
	for _, tn := range types.Content {
		// GuardDuty types are ThreatPurpose:Resource/Name. The ASFF form
		// (TTPs/Discovery/Recon:EC2-PortProbeUnprotectedPort) has a slash
		// before the colon and never matches a GuardDuty event.
		head, _, hasColon := strings.Cut(tn.Value, ":")
		if hasColon && strings.Contains(head, "/") {
			r.d.add(CodeBadValue, nodePos(tn), "GuardDuty writes types as Recon:EC2/PortProbeUnprotectedPort; the ASFF form belongs to source: securityhub",
				"%s: %q is a Security Hub (ASFF) type, not a GuardDuty one", what, tn.Value)
		}
	}
}

// findingRefRE is a value that is one finding field and nothing else.
var findingRefRE = regexp.MustCompile(`^finding\.([a-z_]+)$`)

// checkFieldFitsPattern reports an input mapped from a finding field
// whose known values can never satisfy the input's pattern (an account id
// mapped to an instance id). A field that may or may not fit (an access
// key that is AKIA… or ASIA…, for an input that needs AKIA…) compiles:
// the finding is then dropped, with the reason, if its value does not.
func (r *runbookCompiler) checkFieldFitsPattern(n *yaml.Node, src string, decl Input, re *regexp.Regexp, what string) {
	m := findingRefRE.FindStringSubmatch(src)
	if m == nil {
		return
	}
	f, ok := findingField(m[1])
	if !ok || len(f.Examples) == 0 {
		return
	}
	for _, ex := range f.Examples {
		if re.MatchString(ex) {
			return
		}
	}
	r.d.add(CodeTypeMismatch, nodePos(n), "map the input from a field whose values fit it",
		"%s: finding.%s values look like %q, which never match input %s's pattern %s", what, f.Name, f.Examples[0], decl.Name, decl.Pattern)
}

func findInput(inputs []Input, name string) (Input, bool) {
	for _, in := range inputs {
		if in.Name == name {
			return in, true
		}
	}
	return Input{}, false
}
