package report

import (
	"fmt"
	"slices"
	"time"

	"github.com/cordon-ir/cordon/workflows"
)

// What the report reads into a run, in one place.
//
// The rule: the report keys on a step's action and on the outputs that
// action declares in the catalog (actions/*.go), never on a runbook's step
// ids, input names or output names. A team's own runbook that calls the
// same actions, with steps and inputs named as it likes, gets the same
// report as the examples.
//
// The catalog lives with the AWS implementations (package actions), which
// the report must not link; catalog_test.go checks every action and output
// named here against it, so renaming one there fails a test here.
var (
	// isolatingActions cut a host off the network. The first one done in
	// a run is the moment its host stopped being reachable: "time from
	// launch to isolation".
	isolatingActions = []string{"aws.ec2.isolate_instance"}

	// snapshotOutputs are, per action, the output that lists the disk
	// snapshots it preserved as evidence (the fleet table's snapshots).
	snapshotOutputs = map[string]string{"aws.ec2.snapshot_volumes": "snapshot_ids"}

	// containedIDs name what a run contained by the shape of AWS's own
	// ids, whatever the runbook calls the input: an EC2 instance first,
	// else an IAM access key. The same rule gives a run's CordonTargets
	// search attribute.
	containedIDs = workflows.ContainedIDs
)

// isolatedAt is when the run's first isolating action was done; zero when
// none was.
func isolatedAt(s workflows.State) time.Time {
	for _, e := range s.Timeline {
		if e.Kind == workflows.EventActionDone && slices.Contains(isolatingActions, actionOf(s, e.Step)) {
			return e.Time
		}
	}
	return time.Time{}
}

// actionOf is the action a step of the run calls ("" for uses: steps).
func actionOf(s workflows.State, step string) string {
	for _, st := range s.Steps {
		if st.ID == step {
			return st.Action
		}
	}
	return ""
}

// snapshotsOf lists the snapshots the run's steps preserved, in step
// order; a foreach step's outputs are lists, one per item.
func snapshotsOf(s workflows.State) []string {
	var out []string
	var add func(v any)
	add = func(v any) {
		switch v := v.(type) {
		case nil:
		case []any:
			for _, x := range v {
				add(x)
			}
		case []string:
			out = append(out, v...)
		default:
			if id := fmt.Sprint(v); id != "" {
				out = append(out, id)
			}
		}
	}
	for _, st := range s.Steps {
		if name, ok := snapshotOutputs[st.Action]; ok {
			add(st.Outputs[name])
		}
	}
	return out
}

// HostOf names what a run contained: the first of its inputs (in name
// order) that holds an EC2 instance id, else one that holds an IAM access
// key id, else the runbook's name.
func HostOf(s workflows.State) string {
	names := sortedKeys(s.Inputs)
	for _, re := range containedIDs {
		for _, k := range names {
			if v, ok := s.Inputs[k].(string); ok && re.MatchString(v) {
				return v
			}
		}
	}
	return s.Runbook
}
