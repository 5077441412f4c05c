package slack

import (
	"errors"
	"net/http"
	"testing"
	"time"
)

func TestVerifySignature(t *testing.T) {
	now := time.Unix(1_772_366_400, 0)
	body := []byte("payload=%7B%7D")
	signed := func(secret string, at time.Time) http.Header {
		h := http.Header{}
		SignRequest(h, secret, body, at)
		return h
	}
	tamper := signed(testSecret, now)
	tamper.Set("X-Slack-Signature", "v0="+"00"+tamper.Get("X-Slack-Signature")[5:])
	cases := []struct {
		name string
		h    http.Header
		body []byte
		want error
	}{
		{"good", signed(testSecret, now), body, nil},
		{"good, 4m59s old", signed(testSecret, now.Add(-299*time.Second)), body, nil},
		{"other secret", signed("other", now), body, errBadSignature},
		{"body changed", signed(testSecret, now), []byte("payload=%7B%22x%22%7D"), errBadSignature},
		{"signature changed", tamper, body, errBadSignature},
		{"stale", signed(testSecret, now.Add(-301*time.Second)), body, errStale},
		{"future", signed(testSecret, now.Add(301*time.Second)), body, errStale},
		{"no headers", http.Header{}, body, errNoSignature},
		{"not hex", http.Header{"X-Slack-Signature": {"v0=zz"}, "X-Slack-Request-Timestamp": {"1772366400"}}, body, errBadSignature},
		{"v1", http.Header{"X-Slack-Signature": {"v1=00"}, "X-Slack-Request-Timestamp": {"1772366400"}}, body, errBadSignature},
		{"bad timestamp", http.Header{"X-Slack-Signature": {"v0=00"}, "X-Slack-Request-Timestamp": {"soon"}}, body, errBadTimestamp},
	}
	for _, c := range cases {
		err := verifySignature(testSecret, c.h, c.body, now)
		if !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", c.name, err, c.want)
		}
	}
	if err := verifySignature("", signed("", now), body, now); !errors.Is(err, errNoSignature) {
		t.Errorf("empty secret accepted: %v", err)
	}
}
