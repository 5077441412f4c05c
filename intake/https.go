package intake

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/cordon-ir/cordon/runctl"
	"github.com/cordon-ir/cordon/triggers"
)

// HTTPOptions configure the HTTPS endpoint.
type HTTPOptions struct {
	// Secret is what every request carries in Header: the EventBridge
	// connection's API key value (authorization type API_KEY).
	Secret string
	// Header is the connection's API key name.
	Header string
	// MaxBodyBytes bounds a request.
	MaxBodyBytes int64
	Logger       *slog.Logger
}

// NewHTTPHandler is the endpoint EventBridge API destinations and other
// SIEMs post findings to: POST /events with one EventBridge event, or a
// JSON array of them. It answers 401 without the secret (nothing is read
// further), 413 above the size limit, 400 when an event is malformed
// (nothing of the request is handled, so it can be fixed and sent again
// whole), 503 when a finding could not be verified or submitted (try
// again: a resend is a duplicate), and 202 with what became of every
// finding. GET /healthz answers 200 for load balancers.
func NewHTTPHandler(r *Receiver, o HTTPOptions) (http.Handler, error) {
	if o.Secret == "" || o.Header == "" {
		return nil, errors.New("intake HTTPS endpoint: a secret and the header carrying it are required")
	}
	if o.MaxBodyBytes <= 0 {
		o.MaxBodyBytes = 1 << 20
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	h := &httpIntake{r: r, o: o, secret: sha256.Sum256([]byte(o.Secret))}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /events", h.events)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok\n")) })
	return mux, nil
}

type httpIntake struct {
	r      *Receiver
	o      HTTPOptions
	secret [sha256.Size]byte
}

// authorized compares the header with the secret in constant time: both
// are hashed first, so neither their contents nor their lengths leak
// through timing.
func (h *httpIntake) authorized(req *http.Request) bool {
	got := sha256.Sum256([]byte(req.Header.Get(h.o.Header)))
	return subtle.ConstantTimeCompare(got[:], h.secret[:]) == 1
}

// eventsReply is the 202's body.
type eventsReply struct {
	RequestID string    `json:"request_id"`
	Events    []Handled `json:"events"`
	Error     string    `json:"error,omitempty"`
}

func (h *httpIntake) events(w http.ResponseWriter, req *http.Request) {
	requestID := runctl.NewNonce()[:16]
	if !h.authorized(req) {
		h.r.o.Counters.Add("unauthorized", 1)
		h.o.Logger.Warn("intake: request refused: no or wrong secret", "remote", req.RemoteAddr, "request", requestID)
		reply(w, http.StatusUnauthorized, eventsReply{RequestID: requestID, Error: "the " + h.o.Header + " header does not carry the intake's secret"})
		return
	}
	var buf bytes.Buffer
	_, err := buf.ReadFrom(http.MaxBytesReader(w, req.Body, h.o.MaxBodyBytes))
	body := buf.Bytes()
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		reply(w, http.StatusRequestEntityTooLarge, eventsReply{RequestID: requestID, Error: fmt.Sprintf("the request is larger than %d bytes", h.o.MaxBodyBytes)})
		return
	case err != nil:
		reply(w, http.StatusBadRequest, eventsReply{RequestID: requestID, Error: "read the request: " + err.Error()})
		return
	}
	events, err := splitEvents(body)
	if err != nil {
		h.r.o.Counters.Add("malformed", 1)
		reply(w, http.StatusBadRequest, eventsReply{RequestID: requestID, Error: err.Error()})
		return
	}
	out := eventsReply{RequestID: requestID, Events: make([]Handled, 0, len(events))}
	at := time.Now()
	for i, ev := range events {
		id := requestID
		if len(events) > 1 {
			id = fmt.Sprintf("%s/%d", requestID, i)
		}
		handled, err := h.r.Receive(req.Context(), Received{Body: ev, Via: "https", DeliveryID: id, At: at})
		out.Events = append(out.Events, handled)
		if err != nil {
			h.o.Logger.Warn("intake: request not handled; the sender should retry", "request", requestID, "event", i, "err", err)
			out.Error = fmt.Sprintf("event %d: %v (send the request again: what was handled is not handled twice)", i, err)
			w.Header().Set("Retry-After", "5")
			reply(w, http.StatusServiceUnavailable, out)
			return
		}
	}
	reply(w, http.StatusAccepted, out)
}

// splitEvents reads a request: one EventBridge event, or a JSON array of
// them. Every event is parsed before any is handled, so a malformed one
// refuses the whole request.
func splitEvents(body []byte) ([][]byte, error) {
	body = bytes.TrimSpace(body)
	events := [][]byte{body}
	if len(body) > 0 && body[0] == '[' {
		var raw []json.RawMessage
		if err := json.Unmarshal(body, &raw); err != nil {
			return nil, fmt.Errorf("malformed batch: %w", err)
		}
		if len(raw) == 0 {
			return nil, errors.New("an empty batch: nothing to handle")
		}
		events = events[:0]
		for _, r := range raw {
			events = append(events, r)
		}
	}
	for i, ev := range events {
		if _, err := triggers.ParseEvent(ev); err != nil {
			return nil, fmt.Errorf("event %d: %w", i, err)
		}
	}
	return events, nil
}

func reply(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// ServeHTTP serves h on l until ctx is done, with TLS when certFile and
// keyFile are given, then shuts down gracefully.
func ServeHTTP(ctx context.Context, l net.Listener, h http.Handler, certFile, keyFile string) error {
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second,
		// EventBridge gives an API destination 5 s; a longer request is
		// answered anyway, for other senders.
		WriteTimeout: time.Minute, MaxHeaderBytes: 64 << 10}
	done := make(chan error, 1)
	go func() {
		if certFile != "" {
			done <- srv.ServeTLS(l, certFile, keyFile)
			return
		}
		done <- srv.Serve(l)
	}()
	select {
	case err := <-done:
		return fmt.Errorf("intake HTTPS endpoint: %w", err)
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdown); err != nil {
		return fmt.Errorf("stop the intake HTTPS endpoint: %w", err)
	}
	if err := <-done; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("intake HTTPS endpoint: %w", err)
	}
	return nil
}
