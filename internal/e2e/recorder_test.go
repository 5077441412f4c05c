package e2e

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// awsRecorder stands between a worker process and the shared emulator.
// The emulator's call log says which action was called but not on what,
// and the crash tests need to know which groups each network interface
// was given, and which records were written on it, in order: that is what
// tells an isolation done once from one redone or undone after a crash.
//
// It can also hold back the answer to a chosen action after the emulator
// has applied it. That widens the window a kill can land in, and makes
// that kill the nastiest kind: the change happened, the worker never
// heard of it, and the retry has to find out from AWS alone.
type awsRecorder struct {
	url string

	mu    sync.Mutex
	holds map[string]time.Duration // action → how long to hold its successful, non-dry-run answers
	calls []recordedCall
}

// recordedCall is one request as the worker sent it and its outcome.
type recordedCall struct {
	Action string
	Params url.Values
	Status int
}

func (c recordedCall) dryRun() bool { return c.Params.Get("DryRun") == "true" }

// applied says whether the call changed (or could have changed) state:
// answered with success and not a dry run.
func (c recordedCall) applied() bool { return c.Status/100 == 2 && !c.dryRun() }

// list reads a query-protocol list, name.1, name.2, ..., in order.
func (c recordedCall) list(name string) []string {
	type entry struct {
		n int
		v string
	}
	var entries []entry
	for k, vs := range c.Params {
		rest, ok := strings.CutPrefix(k, name+".")
		if !ok || len(vs) == 0 {
			continue
		}
		if n, err := strconv.Atoi(rest); err == nil {
			entries = append(entries, entry{n, vs[0]})
		}
	}
	slices.SortFunc(entries, func(a, b entry) int { return a.n - b.n })
	out := make([]string, 0, len(entries))
	for _, e := range entries {
		out = append(out, e.v)
	}
	return out
}

// tags reads the Tag.N.Key / Tag.N.Value pairs of a CreateTags call.
func (c recordedCall) tags() map[string]string {
	out := map[string]string{}
	for k, vs := range c.Params {
		rest, ok := strings.CutPrefix(k, "Tag.")
		if !ok || !strings.HasSuffix(rest, ".Key") || len(vs) == 0 {
			continue
		}
		n := strings.TrimSuffix(rest, ".Key")
		out[vs[0]] = c.Params.Get("Tag." + n + ".Value")
	}
	return out
}

// newAWSRecorder starts a recorder in front of the shared emulator; it
// stops when the test ends (after the test's worker processes, which are
// started later and so cleaned up first).
func newAWSRecorder(t *testing.T) *awsRecorder {
	t.Helper()
	r := &awsRecorder{holds: map[string]time.Duration{}}
	srv := httptest.NewServer(r)
	t.Cleanup(srv.Close)
	r.url = srv.URL
	return r
}

// hold delays the answers to action's successful, non-dry-run calls by d
// (0 stops holding them).
func (r *awsRecorder) hold(action string, d time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.holds[action] = d
}

func (r *awsRecorder) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, err := io.ReadAll(req.Body)
	if err != nil {
		http.Error(w, fmt.Sprintf("recorder: read body: %v", err), http.StatusBadRequest)
		return
	}
	req.Body = io.NopCloser(bytes.NewReader(body))
	params, err := url.ParseQuery(string(body))
	if err != nil {
		params = url.Values{} // the emulator answers the malformed request itself
	}
	for k, vs := range req.URL.Query() {
		params[k] = append(params[k], vs...)
	}

	// The emulator answers into a buffer, so the answer can be held after
	// the change is made.
	answer := httptest.NewRecorder()
	shared.emu.ServeHTTP(answer, req)
	call := recordedCall{Action: params.Get("Action"), Params: params, Status: answer.Code}

	r.mu.Lock()
	r.calls = append(r.calls, call)
	hold := r.holds[call.Action]
	r.mu.Unlock()

	if hold > 0 && call.applied() {
		timer := time.NewTimer(hold)
		select {
		case <-timer.C:
		case <-req.Context().Done(): // the worker was killed while waiting
			timer.Stop()
			return
		}
	}
	for k, vs := range answer.Header() {
		w.Header()[k] = vs
	}
	w.WriteHeader(answer.Code)
	_, _ = w.Write(answer.Body.Bytes()) // a write error means the worker is gone
}

// applied returns the calls of action that were applied, oldest first.
func (r *awsRecorder) applied(action string) []recordedCall {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []recordedCall
	for _, c := range r.calls {
		if c.Action == action && c.applied() {
			out = append(out, c)
		}
	}
	return out
}

// answered counts the calls the emulator answered with success, dry runs
// and reads included: a clock that only moves while the run works on AWS.
func (r *awsRecorder) answered() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, c := range r.calls {
		if c.Status/100 == 2 {
			n++
		}
	}
	return n
}

// groupChanges returns, per network interface, the groups each applied
// ModifyNetworkInterfaceAttribute gave it, in order.
func (r *awsRecorder) groupChanges() map[string][][]string {
	out := map[string][][]string{}
	for _, c := range r.applied("ModifyNetworkInterfaceAttribute") {
		if groups := c.list("SecurityGroupId"); len(groups) > 0 {
			eni := c.Params.Get("NetworkInterfaceId")
			out[eni] = append(out[eni], groups)
		}
	}
	return out
}

// tagWrites returns, per resource, the values an applied CreateTags wrote
// under key, in order.
func (r *awsRecorder) tagWrites(key string) map[string][]string {
	out := map[string][]string{}
	for _, c := range r.applied("CreateTags") {
		v, ok := c.tags()[key]
		if !ok {
			continue
		}
		for _, id := range c.list("ResourceId") {
			out[id] = append(out[id], v)
		}
	}
	return out
}
