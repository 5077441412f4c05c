package slack

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	slackapi "github.com/slack-go/slack"
)

// Paths the HTTP transport serves; configure them in the Slack app as the
// interactivity request URL and the slash command's request URL.
const (
	PathInteractions = "/slack/interactions"
	PathCommands     = "/slack/commands"
)

// ServeHTTP implements http.Handler: POST /slack/interactions and
// POST /slack/commands. A request that is not correctly signed by Slack or
// is stale gets 401 and goes no further. A correctly signed request that
// repeats an earlier one (Slack's retry, a replay within the five minutes)
// is handled like the first: what it asks carries the nonce derived from
// the interaction, and the run refuses a nonce it has accepted (nonce.go).
// The gateway remembers nothing between requests.
func (g *Gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	defer func() {
		// Never let a malformed request take the gateway down.
		if p := recover(); p != nil {
			g.log.Error("slack gateway: panic while handling a request", "path", r.URL.Path, "panic", fmt.Sprint(p))
			http.Error(w, "internal error", http.StatusInternalServerError)
		}
	}()
	if r.URL.Path != PathInteractions && r.URL.Path != PathCommands {
		http.NotFound(w, r)
		return
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "POST only", http.StatusMethodNotAllowed)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, g.opts.MaxBody))
	if err != nil {
		http.Error(w, "body too large or unreadable", http.StatusRequestEntityTooLarge)
		return
	}
	if err := verifySignature(g.opts.SigningSecret, r.Header, body, g.opts.Now()); err != nil {
		g.log.Warn("slack gateway: request refused", "path", r.URL.Path, "remote", r.RemoteAddr, "why", err.Error())
		http.Error(w, "unauthorized", http.StatusUnauthorized)
		return
	}
	if n := r.Header.Get("X-Slack-Retry-Num"); n != "" {
		// Handled as any delivery: a retry of a request that was already
		// acted on is refused by the run as a repeat, and ignored here.
		g.log.Info("slack gateway: Slack retried a request", "path", r.URL.Path, "retry", n, "reason", r.Header.Get("X-Slack-Retry-Reason"))
	}
	var reply any
	switch r.URL.Path {
	case PathInteractions:
		cb, perr := ParseInteraction(body)
		if perr != nil {
			g.log.Warn("slack gateway: unreadable interaction", "error", perr)
			http.Error(w, "bad interaction payload", http.StatusBadRequest)
			return
		}
		reply, err = g.Interaction(r.Context(), &cb)
	case PathCommands:
		sc, perr := ParseCommand(body)
		if perr != nil {
			http.Error(w, "bad command payload", http.StatusBadRequest)
			return
		}
		reply, err = g.Command(r.Context(), sc)
	}
	if errors.Is(err, errForeignTeam) {
		http.Error(w, "this Cordon serves another workspace", http.StatusForbidden)
		return
	}
	if reply == nil {
		w.WriteHeader(http.StatusOK)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(reply)
}

// ParseInteraction reads an interaction request body: a form whose
// payload field is the JSON Slack documents.
func ParseInteraction(body []byte) (slackapi.InteractionCallback, error) {
	var cb slackapi.InteractionCallback
	form, err := url.ParseQuery(string(body))
	if err != nil {
		return cb, fmt.Errorf("interaction form: %w", err)
	}
	payload := form.Get("payload")
	if strings.TrimSpace(payload) == "" {
		return cb, errors.New("interaction form has no payload")
	}
	if err := json.Unmarshal([]byte(payload), &cb); err != nil {
		return cb, fmt.Errorf("interaction payload: %w", err)
	}
	return cb, nil
}

// ParseCommand reads a slash command request body (a form).
func ParseCommand(body []byte) (slackapi.SlashCommand, error) {
	var sc slackapi.SlashCommand
	form, err := url.ParseQuery(string(body))
	if err != nil {
		return sc, fmt.Errorf("command form: %w", err)
	}
	sc.TeamID, sc.ChannelID, sc.UserID = form.Get("team_id"), form.Get("channel_id"), form.Get("user_id")
	sc.Command, sc.Text, sc.TriggerID = form.Get("command"), form.Get("text"), form.Get("trigger_id")
	sc.ResponseURL, sc.APIAppID, sc.UserName = form.Get("response_url"), form.Get("api_app_id"), form.Get("user_name")
	return sc, nil
}
