package slackfake

import (
	"encoding/json"
	"net/url"
)

// Click is the interaction body Slack sends when user clicks a button
// (action id, value) on message ts in channel.
func Click(team, user, channel, ts, actionID, value string) []byte {
	payload := map[string]any{
		"type":       "block_actions",
		"team":       map[string]any{"id": team},
		"user":       map[string]any{"id": user},
		"channel":    map[string]any{"id": channel},
		"container":  map[string]any{"type": "message", "message_ts": ts, "channel_id": channel},
		"trigger_id": "trigger-" + ts,
		"message":    map[string]any{"ts": ts},
		"actions":    []any{map[string]any{"type": "button", "action_id": actionID, "block_id": "cordon_gate", "value": value}},
	}
	return form(payload)
}

// Submit is the view_submission body of a modal (callback id, private
// metadata) with one text input's value.
func Submit(team, user, callbackID, privateMetadata, blockID, actionID, value string) []byte {
	payload := map[string]any{
		"type": "view_submission",
		"team": map[string]any{"id": team},
		"user": map[string]any{"id": user},
		"view": map[string]any{
			"id": "V1", "type": "modal", "callback_id": callbackID, "private_metadata": privateMetadata,
			"state": map[string]any{"values": map[string]any{blockID: map[string]any{actionID: map[string]any{"type": "plain_text_input", "value": value}}}},
		},
	}
	return form(payload)
}

// Command is the body of a slash command.
func Command(team, user, channel, command, text string) []byte {
	v := url.Values{}
	v.Set("team_id", team)
	v.Set("user_id", user)
	v.Set("channel_id", channel)
	v.Set("command", command)
	v.Set("text", text)
	v.Set("trigger_id", "trigger-cmd")
	return []byte(v.Encode())
}

func form(payload map[string]any) []byte {
	b, _ := json.Marshal(payload)
	v := url.Values{}
	v.Set("payload", string(b))
	return []byte(v.Encode())
}
