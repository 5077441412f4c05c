package triggers

import (
	"encoding/json"
	"errors"
	"fmt"
)

// Message is one event as it arrived: alone, or in an SQS message.
type Message struct {
	// MessageID is the SQS message id; "" for an event given alone.
	MessageID string `json:"message_id,omitempty"`
	Body      []byte `json:"-"`
}

// SplitInput reads what an EventBridge rule delivers: an SQS
// ReceiveMessage response in the JSON protocol ({"Messages": [...]}), one
// SQS message ({"MessageId", "Body"}), or one EventBridge event. It
// returns the events in order; their bodies are parsed by ParseEvent.
func SplitInput(b []byte) ([]Message, error) {
	var probe map[string]json.RawMessage
	if err := strictJSON(b, &probe); err != nil {
		return nil, fmt.Errorf("parse input: %w", err)
	}
	type sqsMessage struct {
		MessageID     string `json:"MessageId"`
		ReceiptHandle string `json:"ReceiptHandle"`
		Body          *string
	}
	if raw, ok := probe["Messages"]; ok {
		var msgs []sqsMessage
		if err := json.Unmarshal(raw, &msgs); err != nil {
			return nil, fmt.Errorf("parse SQS ReceiveMessage response: %w", err)
		}
		out := make([]Message, 0, len(msgs))
		for i, m := range msgs {
			if m.Body == nil {
				return nil, fmt.Errorf("parse SQS ReceiveMessage response: message %d (%s) has no Body", i, m.MessageID)
			}
			out = append(out, Message{MessageID: m.MessageID, Body: []byte(*m.Body)})
		}
		return out, nil
	}
	if _, ok := probe["Body"]; ok {
		var m sqsMessage
		if err := json.Unmarshal(b, &m); err != nil || m.Body == nil {
			return nil, errors.New("parse SQS message: Body is not a string")
		}
		return []Message{{MessageID: m.MessageID, Body: []byte(*m.Body)}}, nil
	}
	return []Message{{Body: b}}, nil
}
