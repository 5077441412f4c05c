package workflows

import "testing"

// The end events are named after the terminal statuses: runEnded and
// stepEnded build the name, and the timeline's readers (the CLI, Slack,
// the report) match on the declared constants, so the two must agree.
func TestEndEventsAreTheDeclaredOnes(t *testing.T) {
	runs := map[RunStatus]EventKind{RunSucceeded: EventRunSucceeded, RunFailed: EventRunFailed,
		RunAborted: EventRunAborted, RunPartial: EventRunPartial}
	for status, want := range runs {
		if got := runEnded(status); got != want {
			t.Errorf("run %s ends with %s, want %s", status, got, want)
		}
	}
	steps := map[StepStatus]EventKind{StepSucceeded: EventStepSucceeded, StepFailed: EventStepFailed,
		StepSkipped: EventStepSkipped, StepDenied: EventStepDenied, StepCancelled: EventStepCancelled}
	for status, want := range steps {
		if got := stepEnded(status); got != want {
			t.Errorf("step %s ends with %s, want %s", status, got, want)
		}
	}
}
