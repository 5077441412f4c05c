package actions

import (
	"context"
	"fmt"

	"github.com/cordon-ir/cordon/actions/spec"
)

// coreActions registers the actions that call no AWS service: Slack
// through the worker's notifier, and the waits the workflow carries out.
func coreActions() []registration {
	return []registration{
		action(spec.Action{
			Name: "slack.notify", Service: "slack",
			Summary: "Post a message to the run's Slack channel (or another).",
			Params: []spec.Param{
				{Name: "message", Type: spec.String, Required: true, Description: "Text to post; ${{ }} expressions are interpolated."},
				{Name: "channel", Type: spec.String, Pattern: `^[#@]?[A-Za-z0-9._-]{1,80}$`, Description: "Channel name or id; the run's channel when empty."},
				{Name: "severity", Type: spec.String, Default: "info", Enum: []string{"info", "warning", "critical"}, Description: "Colour and emphasis of the message."},
			},
			Outputs:     []spec.Field{spec.F("channel", spec.String, "Channel posted to."), spec.F("ts", spec.String, "Message timestamp.")},
			DryRun:      "Posts the message marked as a rehearsal.",
			Permissions: []string{},
			Timeout:     2 * minute,
		}, notify),
		inWorkflow(spec.Action{
			Name: "core.wait", Service: "core",
			Summary:     "Wait for a fixed time, durably (a worker restart does not reset it).",
			Params:      []spec.Param{{Name: "duration", Type: spec.Duration, Required: true, Description: "How long to wait, e.g. 5m."}},
			Outputs:     []spec.Field{},
			DryRun:      "Skips the wait.",
			Permissions: []string{},
			Timeout:     24 * hour,
		}),
	}
}

func notify(ctx context.Context, x *execution) error {
	var p struct {
		Message  string `json:"message"`
		Channel  string `json:"channel"`
		Severity string `json:"severity"`
	}
	if err := x.decode(&p); err != nil {
		return err
	}
	posted, err := x.rt.opts.Notifier.Notify(ctx, Message{
		Channel: p.Channel, Text: p.Message, Severity: p.Severity, RunID: x.call.Run.RunID, DryRun: x.preview(),
	})
	if err != nil {
		return fmt.Errorf("notify %s: %w", p.Channel, err)
	}
	x.output("channel", posted.Channel)
	x.output("ts", posted.TS)
	return nil
}
