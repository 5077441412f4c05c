package triggers

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/cordon-ir/cordon/runbooks"
)

// What a run started by a trigger may carry, and the inputs its findings
// decide: the worker recomputes them from the findings as their sources
// hold them, with the same decision the intake made (decideOne's match
// and inputs), and refuses a start whose inputs say otherwise.

// MaxFindings is the most findings a run that trigger t starts by itself
// may carry: one for a trigger that starts a run per finding; for an
// aggregate, runbooks.MaxBatchFindings of its max_targets (above it, the
// intake proposes the batch to a lead and launches nothing).
func MaxFindings(t *runbooks.Trigger) int {
	if t.Aggregate == nil {
		return 1
	}
	return runbooks.MaxBatchFindings(t.Aggregate.MaxTargets)
}

// RunInputs are the inputs findings decide for a run that trigger t of
// plan p starts: what its inputs: map, the account's name (o), and for an
// aggregate its list with each finding's item once. The error says which
// finding the trigger does not act on, and why.
func RunInputs(p *runbooks.Plan, t *runbooks.Trigger, fs []Finding, o Options) (map[string]any, error) {
	if len(fs) == 0 {
		return nil, fmt.Errorf("trigger %s: no finding", t.Name)
	}
	if n := MaxFindings(t); len(fs) > n {
		return nil, fmt.Errorf("trigger %s starts a run of at most %d finding(s) by itself, not %d", t.Name, n, len(fs))
	}
	ev := runbooks.NewEvaluator()
	var (
		out   map[string]any
		first string
		items []any
		seen  = map[string]bool{}
	)
	for i := range fs {
		f := &fs[i]
		if f.Drop != "" {
			return nil, fmt.Errorf("finding %s is never acted on: %s", f.Key, f.Drop)
		}
		if f.Source != t.Source {
			return nil, fmt.Errorf("finding %s comes from %s, but trigger %s reads %s findings", f.Key, f.Source, t.Name, t.Source)
		}
		if why := mismatch(ev, t, f); why != "" {
			return nil, fmt.Errorf("trigger %s does not act on finding %s: %s", t.Name, f.Key, why)
		}
		inputs, batch, why := triggerInputs(ev, p, t, f, o)
		if why != "" {
			return nil, fmt.Errorf("trigger %s does not act on finding %s: %s", t.Name, f.Key, why)
		}
		if batch != nil {
			delete(inputs, batch.Into)
			if item := fmt.Sprint(batch.Item); !seen[item] {
				seen[item] = true
				items = append(items, batch.Item)
			}
		}
		if out == nil {
			out, first = inputs, f.Key
			continue
		}
		if a, b := canonical(out), canonical(inputs); a != b {
			return nil, fmt.Errorf("findings %s and %s give the run different inputs (%s and %s): they never share a run", first, f.Key, a, b)
		}
	}
	if t.Aggregate != nil {
		out[t.Aggregate.Into] = items
	}
	return out, nil
}

// CheckInputs says how the inputs a run of plan p was given differ from
// want, what its findings decide (RunInputs): every input the trigger
// sets must hold the value the findings give, and an aggregate's list the
// findings' items (each once, in any order). An input the trigger does not
// set may only hold the plan's default: the intake passes on what the
// trigger decides and nothing else, so whoever holds its key must not
// choose the rest (a final action, forensics off).
func CheckInputs(p *runbooks.Plan, t *runbooks.Trigger, want, given map[string]any) error {
	var diffs []string
	for _, name := range slices.Sorted(maps.Keys(given)) {
		if _, decided := want[name]; decided {
			continue
		}
		var def any
		if i := slices.IndexFunc(p.Inputs, func(d runbooks.Input) bool { return d.Name == name }); i >= 0 {
			def = p.Inputs[i].Default
		}
		if def == nil || canonical(given[name]) != canonical(def) {
			diffs = append(diffs, fmt.Sprintf("input %s is %s, which trigger %s does not set: only the plan's default (%s) may stand there",
				name, canonical(given[name]), t.Name, canonical(def)))
		}
	}
	for _, name := range slices.Sorted(maps.Keys(want)) {
		got, ok := given[name]
		switch {
		case !ok:
			diffs = append(diffs, fmt.Sprintf("input %s is not given; the findings give %s", name, canonical(want[name])))
		case t.Aggregate != nil && name == t.Aggregate.Into:
			if !sameItems(want[name], got) {
				diffs = append(diffs, fmt.Sprintf("input %s is %s; the findings give %s", name, canonical(got), canonical(want[name])))
			}
		case canonical(got) != canonical(want[name]):
			diffs = append(diffs, fmt.Sprintf("input %s is %s; the findings give %s", name, canonical(got), canonical(want[name])))
		}
	}
	if len(diffs) > 0 {
		return fmt.Errorf("the run's inputs are not what its findings decide: %s", strings.Join(diffs, "; "))
	}
	return nil
}

// sameItems says whether two lists hold the same items, as text (the
// intake's batch holds each item once, in the order findings joined).
func sameItems(want, got any) bool {
	w, ok1 := want.([]any)
	g, ok2 := got.([]any)
	if !ok1 || !ok2 {
		return false
	}
	set := func(l []any) []string {
		out := make([]string, 0, len(l))
		for _, v := range l {
			out = append(out, fmt.Sprint(v))
		}
		slices.Sort(out)
		return slices.Compact(out)
	}
	// The given list may not repeat an item either: each target once.
	return len(g) == len(set(g)) && slices.Equal(set(w), set(g))
}

// canonical is v's JSON: a number decoded from a workflow's history
// (float64) reads as the int a finding gave.
func canonical(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprintf("%v", v)
	}
	return string(b)
}
