package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A production worker fails closed on a roster that does not require
// signatures: it refuses to start (before it dials Temporal or AWS) and
// says what to do; the override is explicit.
func TestWorkerRefusesAnUnsignedRoster(t *testing.T) {
	path := filepath.Join(t.TempDir(), "cordon.yaml")
	cfg := "temporal: {address: 127.0.0.1:1}\nroster:\n  require_signatures: false\n  members:\n    - {id: alice, roles: [responder]}\n"
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	_, stderr, code := cordon(t, "worker", "--config", path)
	if code != 1 || !strings.Contains(stderr, "require_signatures is false") || !strings.Contains(stderr, "--insecure-allow-unsigned") {
		t.Fatalf("exit %d, stderr %q", code, stderr)
	}
	// With the override it goes on to the next check (here: the runbook
	// source it cannot read), so the refusal above was the signature rule.
	cfg += "runbooks: {dir: /no/such/dir}\n"
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	_, stderr, code = cordon(t, "worker", "--config", path, "--insecure-allow-unsigned")
	if code != 1 || strings.Contains(stderr, "require_signatures is false") || !strings.Contains(stderr, "runbooks.dir /no/such/dir") {
		t.Fatalf("with the override: exit %d, stderr %q", code, stderr)
	}
}
