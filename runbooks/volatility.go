package runbooks

import (
	"slices"

	"gopkg.in/yaml.v3"
)

// The order of volatility (RFC 3227, NIST SP 800-86): memory goes first,
// since stopping or terminating an instance destroys it, and with it the
// malware's processes, keys and command-and-control addresses. A runbook
// that stops or terminates an instance with no memory capture before it
// compiles, with a warning naming the step it lacks.

// memoryCaptureAction is the catalog's memory acquisition.
const memoryCaptureAction = "aws.ssm.capture_memory"

// erasesMemory reports whether a step destroys an instance's memory: a
// termination, or a stop that does not hibernate (a hibernate parameter
// given as an expression may keep it: no warning then).
func erasesMemory(st Step) bool {
	switch st.Action {
	case "aws.ec2.terminate_instance":
		return true
	case "aws.ec2.stop_instance":
		h, ok := st.With["hibernate"]
		return !ok || h.IsLiteral() && h.Literal != true
	}
	return false
}

// capturesMemory reports whether a step captures memory: the action, or a
// child runbook that does.
func capturesMemory(st Step, children map[string]*Plan) bool {
	if st.Action == memoryCaptureAction {
		return true
	}
	child := children[st.Uses]
	return child != nil && slices.ContainsFunc(child.Steps, func(s Step) bool { return capturesMemory(s, child.Children) })
}

// warnMemoryNotCaptured warns at each step that erases memory with no
// memory capture among the steps before it.
func (r *runbookCompiler) warnMemoryNotCaptured(steps *yaml.Node, p *Plan) {
	if r.d.list.HasErrors() {
		return // a step that failed to compile is not in the plan: it may be the capture
	}
	captured := false
	for _, st := range p.Steps {
		if capturesMemory(st, p.Children) {
			captured = true
		}
		if captured || !erasesMemory(st) {
			continue
		}
		pos := nodePos(steps)
		for _, sn := range steps.Content {
			if id := scalarNode(sn, "id"); id != nil && id.Value == st.ID {
				pos = nodePos(id)
				if a := scalarNode(sn, "action"); a != nil {
					pos = nodePos(a)
				}
			}
		}
		r.d.warn(CodeMemoryNotCaptured, pos, "add a step with action "+memoryCaptureAction+" before it (or stop with hibernate: true)",
			"step %s (%s) destroys the instance's memory, and no step before it captures it", st.ID, st.Action)
	}
}
