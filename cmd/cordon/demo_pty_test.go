package main

import (
	"errors"
	"io"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/creack/pty"

	"github.com/cordon-ir/cordon/internal/syncbuf"
)

// buildCordon builds the cordon binary into the test's temporary
// directory, so a test can run it as a person does: as a process of its
// own, with a terminal, signals and an exit code.
func buildCordon(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "cordon")
	cmd := exec.Command("go", "build", "-o", bin, ".")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// The demo's approve? prompt under a real terminal: Ctrl-C (the byte the
// terminal driver turns into SIGINT for the foreground process group) and
// Ctrl-D (end of input in canonical mode) each end the demo at once, with
// a word that says what happened and an exit code of its own. Before,
// Ctrl-C was swallowed: the signal cancelled a context the prompt's read
// of stdin never looked at.
func TestDemoPromptEndsOnCtrlCAndCtrlD(t *testing.T) {
	if testing.Short() {
		t.Skip("builds cordon and runs the demo's in-process Temporal server")
	}
	bin := buildCordon(t)
	for _, c := range []struct {
		name string
		key  byte
		code int
		want string
	}{
		{"ctrl-c", 0x03, 130, "cordon demo: demo interrupted: nothing more will be approved; the in-memory server is stopped"},
		{"ctrl-d", 0x04, 2, "cordon demo: no answer at the prompt (end of input): stopping; nothing more will be approved"},
	} {
		t.Run(c.name, func(t *testing.T) {
			cmd := exec.Command(bin, "demo", "--examples", filepath.Join(repoRoot, "examples"), "--reports", t.TempDir())
			cmd.Dir = t.TempDir()
			term, err := pty.StartWithSize(cmd, &pty.Winsize{Rows: 50, Cols: 120})
			if err != nil {
				t.Fatal(err)
			}
			defer term.Close()
			var waitErr error
			exited := make(chan struct{})
			go func() { waitErr = cmd.Wait(); close(exited) }()
			t.Cleanup(func() {
				select {
				case <-exited:
				default:
					_ = cmd.Process.Kill()
					<-exited
				}
			})
			out := &syncbuf.Buffer{}
			go func() { _, _ = io.Copy(out, term) }() // ends with EIO when the demo exits

			// The first start of the in-process server can be slow on a
			// busy machine: this bound is for failure only.
			waitFor(t, out, "approve? [y/N/reason to deny]", 3*time.Minute, exited)
			if _, err := term.Write([]byte{c.key}); err != nil {
				t.Fatal(err)
			}
			select {
			case <-exited:
				var ee *exec.ExitError
				code := 0
				if errors.As(waitErr, &ee) {
					code = ee.ExitCode()
				} else if waitErr != nil {
					t.Fatal(waitErr)
				}
				time.Sleep(200 * time.Millisecond) // the last output, still in the terminal
				text := out.String()
				if code != c.code {
					t.Errorf("exit %d, want %d\n%s", code, c.code, tail(text))
				}
				if !strings.Contains(text, c.want) {
					t.Errorf("the demo did not say %q\n%s", c.want, tail(text))
				}
				if strings.Contains(text, "→ approved") {
					t.Errorf("something was approved:\n%s", tail(text))
				}
			case <-time.After(30 * time.Second):
				t.Fatalf("the demo went on 30 s after %s at the prompt\n%s", c.name, tail(out.String()))
			}
		})
	}
}

// waitFor waits until out holds want, failing if the process exits first.
func waitFor(t *testing.T, out *syncbuf.Buffer, want string, limit time.Duration, exited <-chan struct{}) {
	t.Helper()
	said := pollUntil(limit, func() bool {
		if strings.Contains(out.String(), want) {
			return true
		}
		select {
		case <-exited:
			t.Fatalf("the demo exited before %q\n%s", want, tail(out.String()))
		default:
		}
		return false
	})
	if !said {
		t.Fatalf("no %q after %s\n%s", want, limit, tail(out.String()))
	}
}

// tail is the end of a long output, for failure messages.
func tail(s string) string {
	if len(s) > 4000 {
		return "…" + s[len(s)-4000:]
	}
	return s
}
