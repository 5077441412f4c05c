package workflows

import (
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/cordon-ir/cordon/actions/wire"
	"github.com/cordon-ir/cordon/runbooks"
)

// Custom search attributes: what `temporal workflow list`, the Web UI and
// `cordon list` filter runs by. A client sets them at the start (so a run
// is findable at once), but the workflow does not trust them: once it has
// verified the start it writes the values it derived itself, and the
// outcome when it ends. It writes them only when the worker confirmed, at
// its start, that the namespace has them registered (an upsert of an
// unknown attribute fails the workflow task for ever); see
// docs/operations.md for registering them on a cluster.
var (
	SearchRunbook   = temporal.NewSearchAttributeKeyKeyword("CordonRunbook")
	SearchTargets   = temporal.NewSearchAttributeKeyKeywordList("CordonTargets")
	SearchIncident  = temporal.NewSearchAttributeKeyKeyword("CordonIncident")
	SearchRequester = temporal.NewSearchAttributeKeyKeyword("CordonRequester")
	SearchDryRun    = temporal.NewSearchAttributeKeyBool("CordonDryRun")
	// SearchOutcome is running, then the RunStatus the run ended with
	// (succeeded, failed, aborted, partial).
	SearchOutcome = temporal.NewSearchAttributeKeyKeyword("CordonOutcome")
)

// SearchAttributeTypes are the custom search attributes a namespace needs
// for Cordon's runs, by name, as Temporal's operator API registers them.
func SearchAttributeTypes() map[string]enumspb.IndexedValueType {
	return map[string]enumspb.IndexedValueType{
		SearchRunbook.GetName():   enumspb.INDEXED_VALUE_TYPE_KEYWORD,
		SearchTargets.GetName():   enumspb.INDEXED_VALUE_TYPE_KEYWORD_LIST,
		SearchIncident.GetName():  enumspb.INDEXED_VALUE_TYPE_KEYWORD,
		SearchRequester.GetName(): enumspb.INDEXED_VALUE_TYPE_KEYWORD,
		SearchDryRun.GetName():    enumspb.INDEXED_VALUE_TYPE_BOOL,
		SearchOutcome.GetName():   enumspb.INDEXED_VALUE_TYPE_KEYWORD,
	}
}

// ContainedIDs name what a run contains by the shape of AWS's own ids,
// whatever the runbook calls its inputs: an EC2 instance, then an IAM
// access key. The report names a run's host by the same rule.
var ContainedIDs = []*regexp.Regexp{
	regexp.MustCompile(`^i-[0-9a-f]+$`),
	regexp.MustCompile(`^(AKIA|ASIA)[A-Z0-9]+$`),
}

// principalParams are action parameters that name an IAM principal: an
// input passed whole to one of them is a target of the run.
var principalParams = []string{"user_name", "role_name"}

// Targets lists what a run is aimed at, from its inputs: the instance ids
// and access key ids they hold (inputs in name order, strings or lists of
// strings), then the inputs the plan passes whole to a user_name or
// role_name parameter. plan may be nil (only the id shapes are read).
func Targets(plan *runbooks.Plan, inputs map[string]any) []string {
	names := slices.Sorted(maps.Keys(inputs))
	var out []string
	seen := map[string]bool{}
	add := func(v string) {
		if v != "" && !seen[v] {
			seen[v] = true
			out = append(out, v)
		}
	}
	for _, re := range ContainedIDs {
		for _, k := range names {
			for _, v := range stringsOf(inputs[k]) {
				if re.MatchString(v) {
					add(v)
				}
			}
		}
	}
	if plan != nil {
		for _, k := range names {
			if passedAsPrincipal(plan, k) {
				for _, v := range stringsOf(inputs[k]) {
					add(v)
				}
			}
		}
	}
	return out
}

func stringsOf(v any) []string {
	switch v := v.(type) {
	case string:
		return []string{v}
	case []string:
		return v
	case []any:
		var out []string
		for _, x := range v {
			if s, ok := x.(string); ok {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}

// passedAsPrincipal says whether a step of plan passes input name whole
// to a parameter that names an IAM user or role.
func passedAsPrincipal(plan *runbooks.Plan, name string) bool {
	for _, st := range plan.Steps {
		for _, p := range principalParams {
			if v, ok := st.With[p]; ok && v.Expr != nil && strings.TrimSpace(v.Expr.Source) == "inputs."+name {
				return true
			}
		}
	}
	return false
}

// Summary is the one line the Web UI and `temporal workflow describe`
// show for a run: "runbook X on i-… (INC-…)".
func Summary(runbook string, targets []string, incident string, dryRun bool) string {
	s := "runbook " + runbook
	if len(targets) > 0 {
		shown := targets
		if len(shown) > 3 {
			shown = shown[:3]
		}
		s += " on " + strings.Join(shown, ", ")
		if len(targets) > 3 {
			s += fmt.Sprintf(" and %d more", len(targets)-3)
		}
	}
	if incident != "" {
		s += " (" + incident + ")"
	}
	if dryRun {
		s += " — rehearsal"
	}
	return s
}

// searchAttributesChange is the GetVersion change id of the upserts: runs
// recorded before them replay without.
const searchAttributesChange = "search-attributes"

// publishSearchAttributes upserts what the workflow knows of the run,
// with outcome, overwriting whatever a client set at the start. verified
// says the start was verified: otherwise only the outcome is written, and
// what the client claimed (runbook, targets, requester, ...) is removed.
func (r *runner) publishSearchAttributes(ctx workflow.Context, outcome RunStatus, verified bool) {
	if r.searchVersion < 1 {
		return
	}
	if !r.roster.SearchAttributes {
		if !r.searchWarned {
			r.searchWarned = true
			workflow.GetLogger(ctx).Warn("search attributes not written: the worker did not find Cordon's search attributes registered in the namespace (see docs/operations.md)")
		}
		return
	}
	updates := []temporal.SearchAttributeUpdate{SearchOutcome.ValueSet(string(outcome))}
	if verified {
		runbook := ""
		if r.plan != nil {
			runbook = r.plan.Runbook.Name
		}
		updates = append(updates,
			SearchRunbook.ValueSet(runbook),
			SearchDryRun.ValueSet(r.in.Meta.DryRun),
			SearchRequester.ValueSet(r.in.Meta.Requester),
		)
		if targets := r.targets(); len(targets) > 0 {
			updates = append(updates, SearchTargets.ValueSet(targets))
		} else {
			updates = append(updates, SearchTargets.ValueUnset())
		}
		if r.in.Meta.Incident != "" {
			updates = append(updates, SearchIncident.ValueSet(r.in.Meta.Incident))
		} else {
			updates = append(updates, SearchIncident.ValueUnset())
		}
	} else {
		updates = append(updates, SearchRunbook.ValueUnset(), SearchTargets.ValueUnset(), SearchIncident.ValueUnset(),
			SearchRequester.ValueUnset(), SearchDryRun.ValueUnset())
	}
	if err := workflow.UpsertTypedSearchAttributes(ctx, updates...); err != nil {
		workflow.GetLogger(ctx).Warn("upsert search attributes", "err", err)
	}
}

// actionSummary is the line the Web UI shows for an action's activity:
// "isolate i-0abc: aws.ec2.isolate_instance (execute)".
func actionSummary(st *runbooks.Step, item int, params map[string]any, mode wire.Mode) string {
	s := wire.ItemKey(st.ID, item)
	if subject := subjectOf(params); subject != "" {
		s += " " + subject
	}
	return fmt.Sprintf("%s: %s (%s)", s, st.Action, mode)
}

// subjectOf is what an action's parameters aim at: an instance id or
// access key (by shape), else a user or role name; "" when none.
func subjectOf(params map[string]any) string {
	names := slices.Sorted(maps.Keys(params))
	for _, re := range ContainedIDs {
		for _, k := range names {
			for _, v := range stringsOf(params[k]) {
				if re.MatchString(v) {
					if n := len(stringsOf(params[k])); n > 1 {
						return fmt.Sprintf("%s (+%d)", v, n-1)
					}
					return v
				}
			}
		}
	}
	for _, p := range principalParams {
		if v, ok := params[p].(string); ok && v != "" {
			return v
		}
	}
	return ""
}

// gateSummary is the line the Web UI shows for the timer of a gate's wait.
func gateSummary(key string, g *gate) string {
	return fmt.Sprintf("gate %s: waiting for %d approval(s) from %s", key, g.MinApprovals, g.Approvers.String())
}
