package slack

import (
	"sync"
)

// posted is where a message went.
type posted struct {
	Channel string
	TS      string
}

// threads remembers, per run, the message its progress is threaded under
// and, per gate, the messages to update when it resolves. It lives in
// memory and is bounded: the oldest runs are forgotten first. After a
// worker restart (or on another worker) it is empty; the notifier then
// posts a new message instead of updating, and a click still updates the
// message it came from, because the click carries channel and ts.
type threads struct {
	mu    sync.Mutex
	limit int
	order []string // run ids, oldest first
	runs  map[string]*runMessages
}

type runMessages struct {
	root  posted
	gates map[string][]posted // gate key → messages showing it
}

func newThreads(limit int) *threads {
	if limit <= 0 {
		limit = 1000
	}
	return &threads{limit: limit, runs: map[string]*runMessages{}}
}

func (t *threads) run(runID string) *runMessages {
	if r, ok := t.runs[runID]; ok {
		return r
	}
	if len(t.order) >= t.limit {
		oldest := t.order[0]
		t.order = t.order[1:]
		delete(t.runs, oldest)
	}
	r := &runMessages{gates: map[string][]posted{}}
	t.runs[runID] = r
	t.order = append(t.order, runID)
	return r
}

// root is the run's first message, if this process posted or saw one.
func (t *threads) root(runID string) (posted, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	r, ok := t.runs[runID]
	if !ok || r.root.TS == "" {
		return posted{}, false
	}
	return r.root, true
}

// setRoot records the run's first message unless it has one.
func (t *threads) setRoot(runID string, p posted) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if r := t.run(runID); r.root.TS == "" {
		r.root = p
	}
}

// forgetRoot forgets the run's first message if it is p (an announcement
// that turned out to be a repeat's).
func (t *threads) forgetRoot(runID string, p posted) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if r, ok := t.runs[runID]; ok && r.root == p {
		r.root = posted{}
	}
}

// gate lists the messages showing a gate (run id + gate key).
func (t *threads) gate(runID, key string) []posted {
	t.mu.Lock()
	defer t.mu.Unlock()
	r, ok := t.runs[runID]
	if !ok {
		return nil
	}
	return append([]posted(nil), r.gates[key]...)
}

// addGate records one more message showing a gate.
func (t *threads) addGate(runID, key string, p posted) {
	t.mu.Lock()
	defer t.mu.Unlock()
	r := t.run(runID)
	for _, q := range r.gates[key] {
		if q == p {
			return
		}
	}
	r.gates[key] = append(r.gates[key], p)
}
