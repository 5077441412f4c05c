package slack

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	slackapi "github.com/slack-go/slack"

	"github.com/cordon-ir/cordon/actions/wire"
	"github.com/cordon-ir/cordon/runbooks"
	"github.com/cordon-ir/cordon/runctl"
	"github.com/cordon-ir/cordon/workflows"
)

// GatewayOptions configure a Gateway.
type GatewayOptions struct {
	// SigningSecret verifies HTTP requests (not used by Socket Mode).
	SigningSecret string
	// TeamID is the only workspace served.
	TeamID string
	// Roster maps Slack users to members (by SlackID), and its gateway
	// named slack says which requests the gateway's key may sign.
	Roster workflows.Roster
	// RunbookDir holds the runbooks /cordon run starts. The worker runs
	// them as they are only if its runbook source (runbooks.dir) holds the
	// same; otherwise a lead must approve the plan.
	RunbookDir string
	// Notifier posts and updates messages; the gateway shares its memory
	// of where each run's messages are.
	Notifier *Notifier
	Runs     Runs
	Logger   *slog.Logger
	// Now is the clock for signature freshness (tests).
	Now func() time.Time
	// Timeout bounds the work one request starts (Temporal calls and
	// replies), which runs after Slack has had its answer.
	Timeout time.Duration
	// MaxBody bounds request bodies; default 1 MiB.
	MaxBody int64
}

// Gateway turns Slack clicks and /cordon commands into requests to runs.
// Slack wants an answer within three seconds, so the gateway answers at
// once and does the Temporal work afterwards, replying to the user with
// an ephemeral message. Wait waits for that work (shutdown, tests).
//
// The gateway holds no security state: a repeated delivery of a Slack
// request is refused by the run it is for, through the nonce the gateway
// derives from the interaction (nonce.go). Replicas and restarts are safe.
type Gateway struct {
	opts    GatewayOptions
	members map[string]workflows.Member // Slack user id → member
	scope   []string                    // the actions the roster lets the gateway's key sign
	log     *slog.Logger
	work    sync.WaitGroup
}

// NewGateway checks the options and returns a gateway.
func NewGateway(opts GatewayOptions) (*Gateway, error) {
	if opts.TeamID == "" {
		return nil, errors.New("slack gateway: no team id: it would serve any workspace")
	}
	if opts.Notifier == nil || opts.Runs == nil {
		return nil, errors.New("slack gateway: a notifier and a run client are required")
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 30 * time.Second
	}
	if opts.MaxBody <= 0 {
		opts.MaxBody = 1 << 20
	}
	g := &Gateway{opts: opts, members: map[string]workflows.Member{}, scope: gatewayScope(opts.Roster), log: opts.Logger}
	for _, m := range opts.Roster.Members {
		if m.SlackID == "" {
			continue
		}
		if other, dup := g.members[m.SlackID]; dup {
			return nil, fmt.Errorf("slack gateway: Slack user %s is both %s and %s in the roster", m.SlackID, other.ID, m.ID)
		}
		g.members[m.SlackID] = m
	}
	return g, nil
}

// gatewayScope is what the roster lets the slack gateway's key sign:
// its actions, or workflows.DefaultGatewayActions when it lists none. With
// more than one slack entry (a key being rotated) the workflow requires
// every entry to allow the action, so the scope is what they all allow.
func gatewayScope(r workflows.Roster) []string {
	var scope []string
	seen := false
	for _, gw := range r.Gateways {
		if gw.Name != Channel {
			continue
		}
		actions := gw.Actions
		if len(actions) == 0 {
			actions = workflows.DefaultGatewayActions()
		}
		if !seen {
			scope, seen = slices.Clone(actions), true
			continue
		}
		scope = slices.DeleteFunc(scope, func(a string) bool { return !slices.Contains(actions, a) })
	}
	if !seen {
		return workflows.DefaultGatewayActions()
	}
	return scope
}

// outOfScope says why the gateway will not forward an action the roster
// does not let its key sign ("" when it may). The workflow would refuse
// the request (it checks the gateway's scope against the roster at every
// request); saying so at once, with what to do instead, spares the user a
// round trip and a confusing refusal.
func (g *Gateway) outOfScope(action string) string {
	if slices.Contains(g.scope, action) {
		return ""
	}
	may := "nothing"
	if len(g.scope) > 0 {
		may = strings.Join(g.scope, ", ")
	}
	return fmt.Sprintf(":no_entry_sign: Cordon's Slack gateway may not sign %s requests (the roster lets it sign %s). Use the CLI with your own key (`%s`), or ask whoever keeps the roster to add %s to the actions of roster.gateways %q.",
		action, may, cliHint(action), action, Channel)
}

// cliHint is the CLI command that does what action does.
func cliHint(action string) string {
	switch action {
	case workflows.ActStart:
		return "cordon run RUNBOOK"
	case workflows.ActApprove:
		return "cordon approve RUN STEP"
	case workflows.ActDeny:
		return "cordon approve RUN STEP --deny --reason R"
	case workflows.ActSkip:
		return "cordon skip RUN STEP --reason R"
	case workflows.ActAbort, workflows.ActApproveAll:
		return "cordon " + strings.ReplaceAll(action, "_", "-") + " RUN --reason R"
	}
	return "cordon " + action + " RUN"
}

// Wait blocks until the work started by requests so far is done.
func (g *Gateway) Wait() { g.work.Wait() }

// later runs f after the transport has answered Slack, bounded by the
// gateway's timeout and detached from the request's context (which ends
// with the answer).
func (g *Gateway) later(f func(ctx context.Context)) {
	g.work.Add(1)
	go func() {
		defer g.work.Done()
		defer func() {
			if r := recover(); r != nil {
				g.log.Error("slack gateway: request handling panicked", "panic", fmt.Sprint(r))
			}
		}()
		ctx, cancel := context.WithTimeout(context.Background(), g.opts.Timeout)
		defer cancel()
		f(ctx)
	}()
}

// errForeignTeam marks a request from another workspace.
var errForeignTeam = errors.New("request from another Slack workspace")

// who maps the Slack user to a roster member. The gateway does not decide
// what the member may do; it only says who it is.
func (g *Gateway) who(slackUser string) (workflows.Member, bool) {
	m, ok := g.members[slackUser]
	return m, ok
}

// tell sends a user an ephemeral message in a channel.
func (g *Gateway) tell(ctx context.Context, channel, user, text string) {
	if channel == "" {
		channel = g.opts.Notifier.opts.Channel
	}
	if _, err := g.opts.Notifier.api.PostEphemeralContext(ctx, channel, user, slackapi.MsgOptionText(text, false)); err != nil {
		g.log.Warn("slack gateway: ephemeral reply not delivered", "channel", channel, "slack_user", user, "error", err)
	}
}

// repeatRefusal is how the workflow words its refusal of a nonce it has
// already accepted; one constant, shared with the workflow.
const repeatRefusal = workflows.RefusedRepeat

// repeated says the run refused a request as one it had already accepted:
// a second delivery of the same Slack interaction (Slack's, a replica's,
// or a replay). The first delivery did what was asked and told the user;
// this one is logged and otherwise ignored.
func repeated(err error) bool {
	var refused *runctl.Refused
	return errors.As(err, &refused) && strings.Contains(refused.Reason, repeatRefusal)
}

// outcomeText turns a Send result into what the user reads. A refusal is
// the validator's reason, word for word.
func outcomeText(verb string, result string, err error) string {
	var refused *runctl.Refused
	switch {
	case err == nil:
		return ":white_check_mark: " + escape(result)
	case errors.As(err, &refused):
		return fmt.Sprintf(":no_entry_sign: Cordon refused your %s: %s", verb, escape(refused.Reason))
	default:
		return fmt.Sprintf(":warning: Your %s did not reach Cordon: %s. Try again, or use the CLI.", verb, escape(err.Error()))
	}
}

// Interaction handles a parsed interaction payload (block_actions,
// view_submission). The result is what the transport answers at once:
// nil for an empty 200, or a JSON-able view response.
func (g *Gateway) Interaction(ctx context.Context, cb *slackapi.InteractionCallback) (any, error) {
	if cb.Team.ID != g.opts.TeamID {
		g.log.Warn("slack gateway: request from another workspace refused", "team", cb.Team.ID)
		return nil, errForeignTeam
	}
	switch cb.Type {
	case slackapi.InteractionTypeBlockActions:
		return g.blockAction(ctx, cb)
	case slackapi.InteractionTypeViewSubmission:
		if cb.View.CallbackID == callbackDeny {
			return g.denySubmitted(cb)
		}
	}
	return nil, nil // not ours (view_closed, other apps' shortcuts): ignore
}

func (g *Gateway) blockAction(ctx context.Context, cb *slackapi.InteractionCallback) (any, error) {
	var act *slackapi.BlockAction
	for _, a := range cb.ActionCallback.BlockActions {
		if a != nil && (a.ActionID == actionApprove || a.ActionID == actionDeny) {
			act = a
			break
		}
	}
	if act == nil {
		return nil, nil
	}
	channel := cb.Channel.ID
	if channel == "" {
		channel = cb.Container.ChannelID
	}
	ts := cb.Container.MessageTs
	if ts == "" {
		ts = cb.Message.Timestamp
	}
	user := cb.User.ID
	ref, err := decodeGateRef(act.Value)
	if err != nil {
		g.log.Warn("slack gateway: button without a usable gate reference", "slack_user", user, "error", err)
		return nil, nil
	}
	if cb.TriggerID == "" && act.ActionTs == "" {
		// Nothing would tell this click from the next one by the same
		// person on the same button; Slack always sends a trigger id.
		g.log.Warn("slack gateway: click without a trigger id or action ts ignored", "slack_user", user, "run", ref.RunID)
		return nil, nil
	}
	m, ok := g.who(user)
	if !ok {
		g.log.Info("slack gateway: decision by a Slack user not in the roster", "slack_user", user, "run", ref.RunID, "step", ref.Step)
		g.later(func(ctx context.Context) {
			g.tell(ctx, channel, user, fmt.Sprintf(":no_entry_sign: You are not in Cordon's roster (no member has Slack id %s), so Cordon cannot take your decision. Ask a lead to add you.", escape(user)))
		})
		return nil, nil
	}
	action := workflows.ActApprove
	if act.ActionID == actionDeny {
		action = workflows.ActDeny
	}
	if why := g.outOfScope(action); why != "" {
		g.log.Warn("slack request outside the gateway's scope, not forwarded", "run", ref.RunID, "action", action, "member", m.ID, "slack_user", user)
		g.later(func(ctx context.Context) { g.tell(ctx, channel, user, why) })
		return nil, nil
	}
	if action == workflows.ActDeny {
		// The trigger id expires three seconds after the click: open the
		// modal now, before answering. The denial itself is the modal's
		// submission, with its own nonce.
		if _, err := g.opts.Notifier.api.OpenViewContext(ctx, cb.TriggerID, DenyModal(ref, channel, ts)); err != nil {
			g.log.Warn("slack gateway: deny dialog not opened", "run", ref.RunID, "step", ref.Step, "error", err)
			g.later(func(ctx context.Context) {
				g.tell(ctx, channel, user, ":warning: Could not open the denial form; deny from the CLI: cordon approve "+escape(ref.RunID)+" "+escape(ref.Step)+" --deny --reason R")
			})
		}
		return nil, nil
	}
	nonce := clickNonce(cb, act)
	g.later(func(ctx context.Context) {
		g.decide(ctx, workflows.ActApprove, ref, m, user, "", nonce, posted{Channel: channel, TS: ts})
	})
	return nil, nil
}

// decide sends an approval or denial and reports back: to the user, and
// on the message the decision was made on. nonce is derived from the
// Slack interaction, so a repeated delivery is refused by the run.
func (g *Gateway) decide(ctx context.Context, action string, ref GateRef, m workflows.Member, slackUser, reason, nonce string, at posted) {
	req := workflows.Request{RunID: ref.RunID, Action: action, Step: ref.Step, Item: ref.Item, PreviewHash: ref.PreviewHash,
		Actor: m.ID, Channel: Channel, Reason: reason, Time: g.opts.Now().UTC(), Nonce: nonce}
	result, err := g.opts.Runs.Send(ctx, req)
	g.logRequest(req, slackUser, err)
	if repeated(err) {
		return // the first delivery told the user and updated the message
	}
	text := outcomeText(action, result, err)
	if err == nil && action == workflows.ActApprove && strings.HasPrefix(result, "approved ") {
		// "approved" alone would claim more than is known: the run
		// previews once more before acting. Say what it decided.
		text = g.aftermathText(ctx, ref)
	}
	g.tell(ctx, at.Channel, slackUser, text)
	if err != nil || at.TS == "" {
		return
	}
	s, err := g.opts.Runs.State(ctx, ref.RunID)
	if err == nil {
		err = g.opts.Notifier.refreshGate(ctx, s, ref, at)
	}
	if err != nil {
		g.log.Warn("slack gateway: gate message not refreshed", "run", ref.RunID, "step", ref.Step, "error", err)
	}
}

// aftermathWait bounds how long the gateway waits to say what an
// approval led to before it answers with what it knows.
const aftermathWait = 15 * time.Second

// aftermathText says what the run made of an approval that completed
// its gate: acting, held by a pause, or asking again because the change
// moved.
func (g *Gateway) aftermathText(ctx context.Context, ref GateRef) string {
	key := wire.ItemKey(ref.Step, ref.Item)
	ctx, cancel := context.WithTimeout(ctx, aftermathWait)
	defer cancel()
	for {
		if s, err := g.opts.Runs.State(ctx, ref.RunID); err == nil {
			if a, ok := runctl.FateOf(s, ref.Step, ref.Item); ok {
				switch a.Fate {
				case runctl.FateActing:
					return ":white_check_mark: approved " + escape(key) + ": the change is as approved; acting now"
				case runctl.FateHeld:
					return ":double_vertical_bar: approved " + escape(key) + "; held: the run is paused, and it acts after resume"
				case runctl.FateReopened:
					return fmt.Sprintf(":warning: your approval of %s was recorded, but before acting the change was no longer the one approved (the world moved): the gate asks again with preview %s. Nothing was changed. Review the refreshed message and decide again.",
						escape(key), escape(shortPreview(a.Gate.PreviewHash)))
				default:
					return ":warning: approved " + escape(key) + ", but the step ended without acting: " + escape(a.Detail)
				}
			}
		}
		select {
		case <-ctx.Done():
			return ":white_check_mark: approved " + escape(key) + "; it has not acted yet (the preview before acting is still running)"
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func shortPreview(h string) string { return h[:min(12, len(h))] }

// logRequest is the gateway's audit line. The workflow records accepted
// requests in the run's timeline; refused ones never reach its history
// (validators reject before anything is written), so this line is where a
// refused attempt from Slack is recorded.
func (g *Gateway) logRequest(req workflows.Request, slackUser string, err error) {
	attrs := []any{"run", req.RunID, "action", req.Action, "step", req.Step, "item", req.Item, "member", req.Actor, "slack_user", slackUser, "nonce", req.Nonce}
	var refused *runctl.Refused
	switch {
	case err == nil:
		g.log.Info("slack request accepted", attrs...)
	case repeated(err):
		g.log.Warn("slack request repeated: the run had already accepted this interaction (a redelivery or a replay); ignored", attrs...)
	case errors.As(err, &refused):
		g.log.Warn("slack request refused", append(attrs, "reason", refused.Reason)...)
	default:
		g.log.Error("slack request failed", append(attrs, "error", err)...)
	}
}

// viewErrors keeps the modal open with a message under the reason field.
type viewErrors struct {
	ResponseAction string            `json:"response_action"`
	Errors         map[string]string `json:"errors"`
}

func (g *Gateway) denySubmitted(cb *slackapi.InteractionCallback) (any, error) {
	var meta denyMeta
	if err := json.Unmarshal([]byte(cb.View.PrivateMetadata), &meta); err != nil || meta.Gate.RunID == "" {
		g.log.Warn("slack gateway: deny form without a usable gate reference", "slack_user", cb.User.ID)
		return nil, nil
	}
	if cb.View.ID == "" {
		g.log.Warn("slack gateway: deny form without a view id ignored", "slack_user", cb.User.ID, "run", meta.Gate.RunID)
		return nil, nil
	}
	reason := ""
	if cb.View.State != nil {
		reason = cb.View.State.Values[blockReason][blockReason].Value
	}
	m, ok := g.who(cb.User.ID)
	if !ok {
		return viewErrors{ResponseAction: "errors", Errors: map[string]string{blockReason: "You are not in Cordon's roster; Cordon cannot take your decision."}}, nil
	}
	if why := g.outOfScope(workflows.ActDeny); why != "" {
		return viewErrors{ResponseAction: "errors", Errors: map[string]string{blockReason: fmt.Sprintf("Cordon's Slack gateway may not sign denials; deny from the CLI: %s", cliHint(workflows.ActDeny))}}, nil
	}
	user, nonce := cb.User.ID, submissionNonce(cb)
	g.later(func(ctx context.Context) {
		g.decide(ctx, workflows.ActDeny, meta.Gate, m, user, reason, nonce, posted{Channel: meta.Channel, TS: meta.TS})
	})
	return nil, nil
}

// Command handles a /cordon slash command. The result is the immediate
// (ephemeral) answer; slower outcomes follow as ephemeral messages.
func (g *Gateway) Command(_ context.Context, sc slackapi.SlashCommand) (any, error) {
	if sc.TeamID != g.opts.TeamID {
		g.log.Warn("slack gateway: command from another workspace refused", "team", sc.TeamID)
		return nil, errForeignTeam
	}
	c, err := parseCommand(sc.Text)
	if err != nil {
		return ephemeral(":warning: " + escape(err.Error())), nil
	}
	if c.Verb == "help" {
		return ephemeral(g.help()), nil
	}
	m, ok := g.who(sc.UserID)
	if !ok {
		g.log.Info("slack gateway: command by a Slack user not in the roster", "slack_user", sc.UserID, "verb", c.Verb)
		return ephemeral(fmt.Sprintf(":no_entry_sign: You are not in Cordon's roster (no member has Slack id %s). Ask a lead to add you.", escape(sc.UserID))), nil
	}
	channel, user := sc.ChannelID, sc.UserID
	if c.Verb == "status" {
		g.later(func(ctx context.Context) {
			s, err := g.opts.Runs.State(ctx, c.RunID)
			if err != nil {
				g.tell(ctx, channel, user, ":warning: "+escape(err.Error()))
				return
			}
			g.tell(ctx, channel, user, StatusText(s, g.opts.Notifier.people))
		})
		return nil, nil
	}
	action := requestAction(c.Verb)
	if why := g.outOfScope(action); why != "" {
		g.log.Warn("slack request outside the gateway's scope, not forwarded", "run", c.RunID, "action", action, "member", m.ID, "slack_user", user)
		return ephemeral(why), nil
	}
	if sc.TriggerID == "" {
		// Slack sends one with every command; without it nothing would
		// tell this command from the next identical one.
		g.log.Warn("slack gateway: command without a trigger id ignored", "slack_user", user, "verb", c.Verb)
		return ephemeral(":warning: Slack sent this command without a trigger id, which Cordon needs to tell it from a repeated one. Try again."), nil
	}
	nonce := commandNonce(sc)
	if c.Verb == "run" {
		// The workflow checks the role too (the start is signed); saying
		// so here spares compiling and announcing a run it would refuse.
		if !m.Responds() {
			return ephemeral(fmt.Sprintf(":no_entry_sign: Starting a run needs the responder or lead role; %s has %v.", escape(m.ID), m.Roles)), nil
		}
		plan, inputs, err := compileRunbook(g.opts.RunbookDir, c.Runbook, c.Inputs)
		if err != nil {
			return ephemeral(":warning: " + escape(truncate(err.Error(), maxSectionText-20))), nil
		}
		meta := workflows.RunMeta{RunID: startRunID(plan.Runbook.Name, nonce), Requester: m.ID, Channel: Channel, Incident: c.Incident, DryRun: c.DryRun}
		g.later(func(ctx context.Context) { g.startRun(ctx, plan, inputs, meta, nonce, channel, user) })
		return ephemeral(fmt.Sprintf(":hourglass_flowing_sand: Starting %s…", escape(plan.Runbook.Name))), nil
	}
	// pause, resume, abort, skip
	req := workflows.Request{RunID: c.RunID, Action: action, Step: c.Step, Actor: m.ID, Channel: Channel,
		Reason: c.Reason, Time: g.opts.Now().UTC(), Nonce: nonce}
	g.later(func(ctx context.Context) {
		result, err := g.opts.Runs.Send(ctx, req)
		g.logRequest(req, user, err)
		if repeated(err) {
			return
		}
		g.tell(ctx, channel, user, outcomeText(c.Verb, result, err))
	})
	return nil, nil
}

// help is Usage, and which commands this gateway may not forward.
func (g *Gateway) help() string {
	var cli []string
	for _, a := range []string{workflows.ActStart, workflows.ActApprove, workflows.ActDeny, workflows.ActPause, workflows.ActResume, workflows.ActAbort, workflows.ActSkip} {
		if !slices.Contains(g.scope, a) {
			cli = append(cli, a)
		}
	}
	if len(cli) == 0 {
		return Usage
	}
	return Usage + fmt.Sprintf("\nFrom Slack, the roster does not let Cordon %s: use the CLI with your own key for those.", strings.Join(cli, ", "))
}

// startRun announces and starts a run signed with the gateway's key for
// the member. Its run id and nonce come from the slash command, so a
// repeated delivery names a run that exists and starts nothing.
func (g *Gateway) startRun(ctx context.Context, plan *runbooks.Plan, inputs map[string]any, meta workflows.RunMeta, nonce, channel, user string) {
	// Announce first, so the run's gate messages find their thread.
	n := g.opts.Notifier
	text := RunStartedText(meta.RunID, plan.Runbook.Name, meta.Incident, meta.Requester, meta.DryRun, n.people)
	var announced posted
	if ch, ts, err := n.api.PostMessageContext(ctx, n.opts.Channel, slackapi.MsgOptionText(text, false)); err == nil {
		if ch == "" {
			ch = n.opts.Channel
		}
		announced = posted{Channel: ch, TS: ts}
		n.threads.setRoot(meta.RunID, announced)
	} else {
		g.log.Warn("slack gateway: run announcement not posted", "run", meta.RunID, "error", err)
	}
	id, err := g.opts.Runs.Start(ctx, runctl.StartOptions{Plan: plan, Inputs: inputs, Meta: meta, Nonce: nonce})
	if errors.Is(err, ErrAlreadyStarted) {
		// A repeated delivery of a /cordon run (Slack's, a replica's or a
		// replay): the run it names exists, nothing new started.
		g.log.Warn("slack start repeated: the run of this /cordon run already exists (a redelivery or a replay); ignored", "run", meta.RunID, "member", meta.Requester, "slack_user", user, "nonce", nonce)
		if announced.TS != "" {
			n.threads.forgetRoot(meta.RunID, announced)
			_ = n.update(ctx, announced, Message{Text: fmt.Sprintf("A repeated delivery of the /cordon run that started `%s` was ignored.", escape(meta.RunID))})
		}
		return
	}
	if err != nil {
		g.log.Error("slack gateway: run not started", "run", meta.RunID, "member", meta.Requester, "error", err)
		if announced.TS != "" {
			_ = n.update(ctx, announced, Message{Text: fmt.Sprintf(":warning: Run `%s` of *%s* did not start.", escape(meta.RunID), escape(plan.Runbook.Name))})
		}
		g.tell(ctx, channel, user, ":warning: The run did not start: "+escape(err.Error()))
		return
	}
	g.log.Info("slack run started", "run", id, "runbook", plan.Runbook.Name, "member", meta.Requester, "slack_user", user, "nonce", nonce)
	g.tell(ctx, channel, user, fmt.Sprintf(":arrow_forward: Started run `%s` of %s; follow it in <#%s>.", escape(id), escape(plan.Runbook.Name), escape(n.opts.Channel)))
}

// slashReply is the immediate answer to a slash command.
type slashReply struct {
	ResponseType string `json:"response_type"`
	Text         string `json:"text"`
}

func ephemeral(text string) slashReply { return slashReply{ResponseType: "ephemeral", Text: text} }
