package runctl

import (
	"context"
	"fmt"
	"strings"

	"go.temporal.io/sdk/client"
)

// Retry is an action of a run that Temporal is retrying: which action,
// which attempt, and its last error in one line. The run's own state only
// knows that a step is running; a responder watching a throttled or
// failing step needs to see why it is slow.
type Retry struct {
	Action    string
	Attempt   int32
	LastError string
}

// Retries lists the actions of a run being retried (attempt 2 or later).
func Retries(ctx context.Context, c client.Client, runID string) ([]Retry, error) {
	d, err := c.DescribeWorkflowExecution(ctx, runID, "")
	if err != nil {
		return nil, fmt.Errorf("describe run %s: %w", runID, err)
	}
	var out []Retry
	for _, p := range d.GetPendingActivities() {
		if p.GetAttempt() <= 1 {
			continue
		}
		r := Retry{Action: p.GetActivityType().GetName(), Attempt: p.GetAttempt()}
		if f := p.GetLastFailure(); f != nil {
			r.LastError = strings.TrimSpace(f.GetMessage())
			if t := f.GetApplicationFailureInfo().GetType(); t != "" {
				r.LastError += " [" + t + "]"
			}
		}
		out = append(out, r)
	}
	return out, nil
}

func (r Retry) String() string {
	last := r.LastError
	if last == "" {
		last = "(no error recorded yet)"
	}
	return fmt.Sprintf("%s: attempt %d, last error: %s", r.Action, r.Attempt, last)
}
