package runctl

import (
	"context"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/cordon-ir/cordon/workflows"
)

// Fate is what became of a gate after its last approval: the workflow
// takes the preview again before acting, so an approval is not yet an
// action.
type Fate string

const (
	// FateActing: the change is as approved and the action has started.
	FateActing Fate = "acting"
	// FateHeld: approved, but the run is paused; the action waits for
	// resume.
	FateHeld Fate = "held"
	// FateReopened: the change is no longer the one approved (the world
	// moved); the gate asks again, Gate holds the new change.
	FateReopened Fate = "reopened"
	// FateEnded: the step ended without acting (aborted, skipped).
	FateEnded Fate = "ended"
	// FateUnknown: nothing was decided before the wait ran out (the
	// preview before acting is slow, or the worker is down).
	FateUnknown Fate = "unknown"
)

// Aftermath is the fate of one gate after its approval.
type Aftermath struct {
	Fate Fate
	// Gate is the gate as it stands: for FateReopened, the new round.
	Gate workflows.GateState
	// Detail is the workflow's own words for the fate.
	Detail string
}

// AfterApproval watches run runID until the workflow has decided what its
// approved gate (step, item) leads to, or until wait has passed, polling
// its state. It reads the timeline after the gate's last approval.
func AfterApproval(ctx context.Context, c client.Client, runID, step string, item int, wait time.Duration) (Aftermath, error) {
	ctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	for {
		s, err := State(ctx, c, runID)
		if err != nil {
			if ctx.Err() != nil {
				return Aftermath{Fate: FateUnknown}, nil
			}
			return Aftermath{}, err
		}
		if a, ok := FateOf(s, step, item); ok {
			return a, nil
		}
		select {
		case <-ctx.Done():
			return Aftermath{Fate: FateUnknown}, nil
		case <-time.After(150 * time.Millisecond):
		}
	}
}

// FateOf reads the fate of gate (step, item) from the timeline events
// after its last approval; ok is false while it is undecided. Clients
// that poll a run their own way (the Slack gateway) read it here.
func FateOf(s workflows.State, step string, item int) (Aftermath, bool) {
	last := -1
	for i, e := range s.Timeline {
		if e.Step == step && e.Item == item && e.Kind == workflows.EventGateApproved {
			last = i
		}
	}
	if last < 0 {
		return Aftermath{}, false
	}
	for _, e := range s.Timeline[last+1:] {
		if e.Step != step || e.Item != item {
			continue
		}
		a := Aftermath{Detail: e.Detail}
		switch e.Kind {
		case workflows.EventGateConfirmed:
			a.Fate = FateActing
		case workflows.EventHeld:
			a.Fate = FateHeld
		case workflows.EventGateReopened:
			// The new round's gate is in place once it waits again.
			g, found := currentGate(s, step, item)
			if !found || g.Status != workflows.GateWaiting {
				return Aftermath{}, false
			}
			a.Fate, a.Gate = FateReopened, g
		case workflows.EventStepSkipped, workflows.EventStepCancelled, workflows.EventItemCancelled, workflows.EventStepDenied:
			a.Fate = FateEnded
		default:
			continue
		}
		if a.Gate.Key == "" {
			a.Gate, _ = currentGate(s, step, item)
		}
		return a, true
	}
	return Aftermath{}, false
}

func currentGate(s workflows.State, step string, item int) (workflows.GateState, bool) {
	for _, g := range s.Gates {
		if g.Step == step && g.Item == item {
			return g, true
		}
	}
	return workflows.GateState{}, false
}
