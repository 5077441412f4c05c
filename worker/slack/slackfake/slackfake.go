// Package slackfake is a local stand-in for Slack's Web API, for tests:
// an httptest server on 127.0.0.1 that records chat.postMessage,
// chat.update, chat.postEphemeral and views.open calls and answers as
// Slack does. Point a slack-go client at URL() with OptionAPIURL.
package slackfake

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
)

// Call is one recorded Web API call.
type Call struct {
	Method string
	// Form holds form-encoded parameters (chat.*); JSON holds a JSON body
	// (views.open).
	Form url.Values
	JSON map[string]any
	// Token is the bearer token the call carried.
	Token string
	// TS is the message ts the fake answered with (posts and updates).
	TS string
}

// Text is the call's text parameter.
func (c Call) Text() string { return c.Form.Get("text") }

// Blocks is the call's blocks parameter, raw JSON.
func (c Call) Blocks() string { return c.Form.Get("blocks") }

// Server is the fake.
type Server struct {
	srv *httptest.Server

	mu     sync.Mutex
	calls  []Call
	fail   map[string]string // method → Slack error code
	nextTS int
}

// New starts a fake on 127.0.0.1; Close stops it.
func New() *Server {
	s := &Server{fail: map[string]string{}}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	return s
}

// URL is the API base to configure (slack.api_url).
func (s *Server) URL() string { return s.srv.URL + "/api" }

// Close stops the server.
func (s *Server) Close() { s.srv.Close() }

// Fail makes every later call of method answer {"ok":false,"error":code}.
func (s *Server) Fail(method, code string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fail[method] = code
}

// Calls returns the recorded calls of a method (all when method is "").
func (s *Server) Calls(method string) []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Call
	for _, c := range s.calls {
		if method == "" || c.Method == method {
			out = append(out, c)
		}
	}
	return out
}

// Reset forgets the calls so far.
func (s *Server) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls = nil
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	method := strings.TrimPrefix(r.URL.Path, "/api/")
	body, _ := io.ReadAll(io.LimitReader(r.Body, 4<<20))
	c := Call{Method: method, Token: strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")}
	if strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
		_ = json.Unmarshal(body, &c.JSON)
	} else {
		c.Form, _ = url.ParseQuery(string(body))
		if c.Token == "" {
			c.Token = c.Form.Get("token")
		}
	}
	s.mu.Lock()
	code := s.fail[method]
	s.nextTS++
	ts := fmt.Sprintf("1700000000.%06d", s.nextTS)
	if method == "chat.update" {
		ts = c.Form.Get("ts")
	}
	c.TS = ts
	s.calls = append(s.calls, c)
	s.mu.Unlock()

	w.Header().Set("Content-Type", "application/json")
	if code != "" {
		_ = json.NewEncoder(w).Encode(map[string]any{"ok": false, "error": code})
		return
	}
	switch method {
	case "chat.postMessage", "chat.update":
		channel := c.Form.Get("channel")
		_ = json.NewEncoder(w).Encode(map[string]any{"ok": true, "channel": channel, "ts": ts,
			"message": map[string]any{"ts": ts, "text": c.Form.Get("text"), "thread_ts": c.Form.Get("thread_ts")}})
	case "chat.postEphemeral":
		_ = json.NewEncoder(w).Encode(map[string]any{"ok": true, "message_ts": ts})
	case "views.open":
		_ = json.NewEncoder(w).Encode(map[string]any{"ok": true, "view": map[string]any{"id": "V" + strings.ReplaceAll(ts, ".", "")}})
	default:
		_ = json.NewEncoder(w).Encode(map[string]any{"ok": false, "error": "unknown_method"})
	}
}
