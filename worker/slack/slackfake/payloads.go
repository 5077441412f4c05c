package slackfake

import (
	"encoding/json"
	"fmt"
	"net/url"
	"sync/atomic"
)

// Each body carries the identifiers Slack makes new for every
// interaction (trigger_id, action_ts, a modal's view id and hash), so two
// calls describe two interactions, as two clicks in Slack do. Sending one
// body twice is a repeated delivery of one interaction.
var seq atomic.Int64

func next() int64 { return seq.Add(1) }

// Click is the interaction body Slack sends when user clicks a button
// (action id, value) on message ts in channel.
func Click(team, user, channel, ts, actionID, value string) []byte {
	n := next()
	payload := map[string]any{
		"type":       "block_actions",
		"team":       map[string]any{"id": team},
		"user":       map[string]any{"id": user},
		"channel":    map[string]any{"id": channel},
		"container":  map[string]any{"type": "message", "message_ts": ts, "channel_id": channel},
		"trigger_id": fmt.Sprintf("%d.%d.click%06d", 1700000000+n, n, n),
		"message":    map[string]any{"ts": ts},
		"actions": []any{map[string]any{"type": "button", "action_id": actionID, "block_id": "cordon_gate", "value": value,
			"action_ts": fmt.Sprintf("1700000000.%06d", n)}},
	}
	return form(payload)
}

// Submit is the view_submission body of a modal (callback id, private
// metadata) with one text input's value.
func Submit(team, user, callbackID, privateMetadata, blockID, actionID, value string) []byte {
	n := next()
	payload := map[string]any{
		"type":       "view_submission",
		"team":       map[string]any{"id": team},
		"user":       map[string]any{"id": user},
		"trigger_id": fmt.Sprintf("%d.%d.submit%06d", 1700000000+n, n, n),
		"view": map[string]any{
			"id": fmt.Sprintf("V%08d", n), "hash": fmt.Sprintf("%d.hash%06d", 1700000000+n, n),
			"type": "modal", "callback_id": callbackID, "private_metadata": privateMetadata,
			"state": map[string]any{"values": map[string]any{blockID: map[string]any{actionID: map[string]any{"type": "plain_text_input", "value": value}}}},
		},
	}
	return form(payload)
}

// Command is the body of a slash command.
func Command(team, user, channel, command, text string) []byte {
	n := next()
	v := url.Values{}
	v.Set("team_id", team)
	v.Set("user_id", user)
	v.Set("channel_id", channel)
	v.Set("command", command)
	v.Set("text", text)
	v.Set("trigger_id", fmt.Sprintf("%d.%d.command%06d", 1700000000+n, n, n))
	return []byte(v.Encode())
}

func form(payload map[string]any) []byte {
	b, _ := json.Marshal(payload)
	v := url.Values{}
	v.Set("payload", string(b))
	return []byte(v.Encode())
}
