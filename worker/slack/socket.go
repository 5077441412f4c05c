package slack

import (
	"context"
	"errors"
	"fmt"

	slackapi "github.com/slack-go/slack"
	"github.com/slack-go/slack/socketmode"
)

// NewSocketClient opens Socket Mode with the app-level token (xapp-…,
// scope connections:write) on top of the bot's Web API client settings.
func NewSocketClient(botToken, appToken, apiURL string) *socketmode.Client {
	var opts []slackapi.Option
	if apiURL != "" {
		opts = append(opts, slackapi.OptionAPIURL(apiURL+"/"))
	}
	api := slackapi.New(botToken, append(opts, slackapi.OptionAppLevelToken(appToken))...)
	return socketmode.New(api)
}

// acker acknowledges a Socket Mode envelope; *socketmode.Client is one.
type acker interface {
	Ack(req socketmode.Request, payload ...any) error
}

// ServeSocketMode serves the gateway over Socket Mode until ctx ends:
// Slack pushes interactions and commands over a WebSocket the gateway
// opened, so nothing listens inbound. The connection is authenticated by
// the app token, so there is no request signature to check; the
// workspace check and everything after it are the HTTP transport's. An
// envelope Slack delivers again (its retry_attempt) is the same
// interaction, with the same nonce: the run refuses it as a repeat.
func (g *Gateway) ServeSocketMode(ctx context.Context, sm *socketmode.Client) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- sm.RunContext(ctx) }()
	for {
		select {
		case <-ctx.Done():
			return nil
		case err := <-done:
			if err != nil && !errors.Is(err, context.Canceled) {
				return fmt.Errorf("slack socket mode: %w", err)
			}
			return nil
		case evt, ok := <-sm.Events:
			if !ok {
				return nil
			}
			g.dispatch(ctx, evt, sm)
		}
	}
}

// dispatch hands one Socket Mode event to the shared handlers and
// acknowledges it with their immediate answer.
func (g *Gateway) dispatch(ctx context.Context, evt socketmode.Event, a acker) {
	defer func() {
		if p := recover(); p != nil {
			g.log.Error("slack gateway: panic while handling a socket mode event", "type", string(evt.Type), "panic", fmt.Sprint(p))
		}
	}()
	var reply any
	switch evt.Type {
	case socketmode.EventTypeInteractive:
		cb, ok := evt.Data.(slackapi.InteractionCallback)
		if !ok {
			g.log.Warn("slack gateway: socket mode interaction without a payload")
			break
		}
		reply, _ = g.Interaction(ctx, &cb)
	case socketmode.EventTypeSlashCommand:
		sc, ok := evt.Data.(slackapi.SlashCommand)
		if !ok {
			g.log.Warn("slack gateway: socket mode command without a payload")
			break
		}
		reply, _ = g.Command(ctx, sc)
	case socketmode.EventTypeConnected:
		g.log.Info("slack socket mode connected")
		return
	case socketmode.EventTypeInvalidAuth:
		g.log.Error("slack socket mode: the app token was refused (check slack.app_token / CORDON_SLACK_APP_TOKEN)")
		return
	case socketmode.EventTypeConnectionError, socketmode.EventTypeIncomingError:
		g.log.Warn("slack socket mode connection trouble; the client reconnects", "type", string(evt.Type))
		return
	default:
		return
	}
	if evt.Request == nil {
		return
	}
	var err error
	if reply != nil {
		err = a.Ack(*evt.Request, reply)
	} else {
		err = a.Ack(*evt.Request)
	}
	if err != nil {
		g.log.Warn("slack gateway: socket mode ack failed", "error", err)
	}
}
