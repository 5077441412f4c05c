package demo

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/cordon-ir/cordon/actions/wire"
	"github.com/cordon-ir/cordon/workflows"
)

// ErrNobodyToAsk means gates would wait for an answer nobody can give:
// stdin is not a terminal (or was closed) and --yes was not given.
var ErrNobodyToAsk = errors.New("nobody can answer the approval prompts: stdin is not a terminal; " +
	"run cordon demo --yes to approve every gate as the demo lead, or cordon demo --dry-run to rehearse without gates")

// ErrInterrupted means the person stopped the demo (Ctrl-C, or a
// SIGTERM): nothing more is approved, and Run has stopped the in-memory
// server, with the runs still going in it.
var ErrInterrupted = errors.New("demo interrupted: nothing more will be approved; the in-memory server is stopped")

// ErrNoAnswer means the input ended at a prompt (Ctrl-D at the terminal,
// or stdin closed): the gate gets no answer, so the demo stops rather
// than guess; a gate never approves by default.
var ErrNoAnswer = errors.New("no answer at the prompt (end of input): stopping; nothing more will be approved; the in-memory server is stopped")

// pendingGate is a gate waiting in one of the runs.
type pendingGate struct {
	RunID string
	Host  string
	Gate  workflows.GateState
}

// decision is what the person (or --yes) decided at a gate.
type decision struct {
	Approve bool
	Reason  string
}

// decider decides at gates.
type decider interface {
	decide(ctx context.Context, g pendingGate) (decision, error)
}

// autoApprove is --yes: the demo lead approves every gate, and says so.
type autoApprove struct{}

func (autoApprove) decide(context.Context, pendingGate) (decision, error) {
	return decision{Approve: true, Reason: "cordon demo --yes: approved automatically as the demo lead"}, nil
}

// prompter asks the person at the terminal. The answer is read in a
// goroutine so that a prompt gives way to the context (Ctrl-C) instead of
// holding the demo in a read of stdin nobody can cancel.
type prompter struct {
	in  *bufio.Reader
	out io.Writer
	// pending is the read in flight, left by a prompt the context ended;
	// the next prompt takes its answer.
	pending chan answer
}

// answer is one line read from the terminal.
type answer struct {
	line string
	err  error
}

func (p *prompter) decide(ctx context.Context, g pendingGate) (decision, error) {
	fmt.Fprintln(p.out)
	fmt.Fprint(p.out, describeGate(g))
	fmt.Fprint(p.out, "approve? [y/N/reason to deny] ")
	line, err := p.readLine(ctx)
	switch {
	case ctx.Err() != nil:
		fmt.Fprintln(p.out)
		return decision{}, ErrInterrupted
	case errors.Is(err, io.EOF) && strings.TrimSpace(line) == "":
		// Ctrl-D, or stdin closed: nobody answers. A gate never
		// approves by default, so stop rather than guess.
		fmt.Fprintln(p.out)
		return decision{}, ErrNoAnswer
	case err != nil && !errors.Is(err, io.EOF):
		return decision{}, fmt.Errorf("read the answer at gate %s of %s: %w", g.Gate.Key, g.RunID, err)
	}
	d := parseAnswer(line)
	verdict := "approved"
	if !d.Approve {
		verdict = "denied: " + d.Reason
	}
	fmt.Fprintf(p.out, "  → %s (signed as %s)\n", verdict, leadID)
	return d, nil
}

// readLine reads one line, or gives up when ctx ends.
func (p *prompter) readLine(ctx context.Context) (string, error) {
	if p.pending == nil {
		ch := make(chan answer, 1)
		go func() {
			line, err := p.in.ReadString('\n')
			ch <- answer{line: line, err: err}
		}()
		p.pending = ch
	}
	select {
	case <-ctx.Done():
		return "", ctx.Err()
	case a := <-p.pending:
		p.pending = nil
		return a.line, a.err
	}
}

// parseAnswer reads an answer to "approve? [y/N/reason to deny]": y or
// yes approves; empty, n or no denies (the default: nothing destructive
// happens without a yes); anything else denies with it as the reason.
func parseAnswer(line string) decision {
	a := strings.TrimSpace(line)
	switch strings.ToLower(a) {
	case "y", "yes":
		return decision{Approve: true, Reason: "approved at the demo terminal"}
	case "", "n", "no":
		return decision{Reason: "denied at the demo terminal"}
	}
	return decision{Reason: a}
}

// describeGate shows the previewed change a gate asks about, before → after.
func describeGate(g pendingGate) string {
	b := &strings.Builder{}
	fmt.Fprintf(b, "Gate %s on %s (run %s): needs %d approval(s) from %s\n", g.Gate.Key, g.Host, g.RunID, g.Gate.MinApprovals, approvers(g.Gate))
	if len(g.Gate.Changes) == 0 {
		b.WriteString("  the preview shows no change (already done, or nothing to do)\n")
	}
	for _, c := range g.Gate.Changes {
		b.WriteString(changeLine(c))
	}
	return b.String()
}

func approvers(g workflows.GateState) string {
	var parts []string
	for _, gr := range g.Approvers.Groups {
		parts = append(parts, "group "+gr)
	}
	parts = append(parts, g.Approvers.People...)
	if len(parts) == 0 {
		return "nobody"
	}
	return strings.Join(parts, ", ")
}

// changeLine is one change as "resource field: before → after".
func changeLine(c wire.Change) string {
	return fmt.Sprintf("  %s %s: %s → %s\n", c.Resource, c.Field, value(c.Before), value(c.After))
}

// value shows a change's before or after compactly; long values (policy
// documents) are cut, the report keeps them whole.
func value(v any) string {
	var s string
	switch x := v.(type) {
	case nil:
		s = "(none)"
	case string:
		if x == "" {
			s = `""`
		} else {
			s = x
		}
	default:
		s = fmt.Sprint(x)
	}
	return clip(strings.ReplaceAll(s, "\n", " "), 100)
}
