package slack

import (
	"context"
	"fmt"
	"log/slog"
	"strings"

	slackapi "github.com/slack-go/slack"

	"github.com/cordon-ir/cordon/actions"
	"github.com/cordon-ir/cordon/worker"
	"github.com/cordon-ir/cordon/workflows"
)

// NewClient is a Slack Web API client for the configuration: the bot
// token, and the API URL when it is not Slack's (tests use a local fake).
func NewClient(cfg worker.SlackConfig, extra ...slackapi.Option) *slackapi.Client {
	var opts []slackapi.Option
	if cfg.APIURL != "" {
		opts = append(opts, slackapi.OptionAPIURL(strings.TrimRight(cfg.APIURL, "/")+"/"))
	}
	return slackapi.New(cfg.BotToken, append(opts, extra...)...)
}

// NotifierOptions configure a Notifier.
type NotifierOptions struct {
	// Channel is the run channel gate messages go to.
	Channel string
	// EscalationChannel receives escalations; defaults to Channel.
	EscalationChannel string
	// Roster gives the Slack ids to mention and the leads to escalate to.
	Roster workflows.Roster
	Logger *slog.Logger
	// MaxRuns bounds how many runs' message positions are remembered.
	MaxRuns int
}

// Notifier posts gate messages to Slack and updates them as gates
// resolve. It implements worker.GateNotifier (the cordon.notify_gate
// activity) and actions.Notifier (the slack.notify action).
type Notifier struct {
	api     *slackapi.Client
	opts    NotifierOptions
	people  People
	threads *threads
	log     *slog.Logger
}

var (
	_ worker.GateNotifier = (*Notifier)(nil)
	_ actions.Notifier    = (*Notifier)(nil)
)

// NewNotifier returns a notifier posting through api.
func NewNotifier(api *slackapi.Client, opts NotifierOptions) *Notifier {
	if opts.EscalationChannel == "" {
		opts.EscalationChannel = opts.Channel
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	return &Notifier{api: api, opts: opts, people: PeopleFromRoster(opts.Roster), threads: newThreads(opts.MaxRuns), log: opts.Logger}
}

// NotifyGate implements worker.GateNotifier. It runs as an activity, which
// Temporal may retry: a second "waiting" notice for a gate this process
// has already posted updates that message instead of posting another.
func (n *Notifier) NotifyGate(ctx context.Context, notice workflows.GateNotice) error {
	msg := GateMessage(notice, n.people)
	existing := n.threads.gate(notice.RunID, notice.Gate.Key)
	log := n.log.With("run", notice.RunID, "step", notice.Step, "item", notice.Item, "kind", notice.Kind)
	for _, p := range existing {
		if err := n.update(ctx, p, msg); err != nil {
			return fmt.Errorf("update gate message of %s/%s: %w", notice.RunID, notice.Gate.Key, err)
		}
	}
	switch notice.Kind {
	case workflows.NoticeWaiting:
		if len(existing) == 0 {
			p, err := n.postInRun(ctx, notice.RunID, msg)
			if err != nil {
				return fmt.Errorf("post gate message of %s/%s: %w", notice.RunID, notice.Gate.Key, err)
			}
			n.threads.addGate(notice.RunID, notice.Gate.Key, p)
		}
	case workflows.NoticeEscalated:
		leads := Leads(n.opts.Roster, notice.To)
		esc := EscalationMessage(notice, n.people, leads)
		_, ts, err := n.api.PostMessageContext(ctx, n.opts.EscalationChannel, slackapi.MsgOptionText(esc.Text, false), slackapi.MsgOptionBlocks(esc.Blocks...))
		if err != nil {
			return fmt.Errorf("post escalation of %s/%s: %w", notice.RunID, notice.Gate.Key, err)
		}
		n.threads.addGate(notice.RunID, notice.Gate.Key, posted{Channel: n.opts.EscalationChannel, TS: ts})
		log.Info("gate escalated", "leads", leads)
	default: // resolved: approved, denied, skipped, timed_out
		var fresh posted
		if len(existing) == 0 {
			// This process never saw the gate (a restart, another
			// worker): post the outcome so the channel still learns it.
			p, err := n.postInRun(ctx, notice.RunID, msg)
			if err != nil {
				return fmt.Errorf("post gate outcome of %s/%s: %w", notice.RunID, notice.Gate.Key, err)
			}
			fresh = p
		}
		if root, ok := n.threads.root(notice.RunID); ok && root != fresh {
			if _, _, err := n.api.PostMessageContext(ctx, root.Channel, slackapi.MsgOptionTS(root.TS),
				slackapi.MsgOptionText(ProgressText(notice, n.people), false)); err != nil {
				// The gate message itself is up to date; a missing thread
				// line is not worth failing the notification for.
				log.Warn("thread progress not posted", "error", err)
			}
		}
	}
	log.Info("gate notified", "updated", len(existing))
	return nil
}

// postInRun posts a message for a run: under the run's first message when
// there is one (broadcast to the channel too, so buttons are in view),
// otherwise as the run's first message.
func (n *Notifier) postInRun(ctx context.Context, runID string, msg Message) (posted, error) {
	opts := []slackapi.MsgOption{slackapi.MsgOptionText(msg.Text, false), slackapi.MsgOptionBlocks(msg.Blocks...)}
	channel := n.opts.Channel
	root, threaded := n.threads.root(runID)
	if threaded {
		channel = root.Channel
		opts = append(opts, slackapi.MsgOptionTS(root.TS), slackapi.MsgOptionBroadcast())
	}
	ch, ts, err := n.api.PostMessageContext(ctx, channel, opts...)
	if err != nil {
		return posted{}, err
	}
	p := posted{Channel: ch, TS: ts}
	if p.Channel == "" {
		p.Channel = channel
	}
	if !threaded {
		n.threads.setRoot(runID, p)
	}
	return p, nil
}

func (n *Notifier) update(ctx context.Context, p posted, msg Message) error {
	_, _, _, err := n.api.UpdateMessageContext(ctx, p.Channel, p.TS, slackapi.MsgOptionText(msg.Text, false), slackapi.MsgOptionBlocks(msg.Blocks...))
	return err
}

// Notify implements actions.Notifier for the slack.notify action. A
// message about a run goes under the run's thread when this process knows
// it. A rehearsal (dry run) posts nothing: it says what it would post.
func (n *Notifier) Notify(ctx context.Context, m actions.Message) (actions.Posted, error) {
	channel := m.Channel
	if channel == "" {
		channel = n.opts.Channel
	}
	text := escape(m.Text)
	if m.Severity != "" {
		text = fmt.Sprintf("[%s] %s", escape(m.Severity), text)
	}
	if m.DryRun {
		n.log.Info("slack.notify rehearsed", "run", m.RunID, "channel", channel)
		return actions.Posted{Channel: channel}, nil
	}
	opts := []slackapi.MsgOption{slackapi.MsgOptionText(text, false)}
	if root, ok := n.threads.root(m.RunID); ok && root.Channel == channel {
		opts = append(opts, slackapi.MsgOptionTS(root.TS))
	}
	ch, ts, err := n.api.PostMessageContext(ctx, channel, opts...)
	if err != nil {
		return actions.Posted{}, fmt.Errorf("post to Slack channel %s: %w", channel, err)
	}
	if ch == "" {
		ch = channel
	}
	return actions.Posted{Channel: ch, TS: ts}, nil
}

// refreshGate re-renders the message a decision was made on from the
// run's current state (after an approval short of the minimum, the count
// changes though the workflow sends no notice).
func (n *Notifier) refreshGate(ctx context.Context, s workflows.State, ref GateRef, at posted) error {
	for _, g := range s.Gates {
		if g.Step != ref.Step || g.Item != ref.Item {
			continue
		}
		notice := workflows.GateNotice{RunID: s.Meta.RunID, Runbook: s.Runbook, Incident: s.Meta.Incident, Requester: s.Meta.Requester,
			Step: g.Step, Item: g.Item, Kind: workflows.NoticeOf(g), Gate: g, Changes: g.Changes, To: g.Approvers}
		for _, st := range s.Steps {
			if st.ID == g.Step {
				notice.StepName, notice.Action = st.Name, st.Action
			}
		}
		n.threads.addGate(s.Meta.RunID, g.Key, at)
		return n.update(ctx, at, GateMessage(notice, n.people))
	}
	return fmt.Errorf("run %s has no gate %s", ref.RunID, ref.key())
}
