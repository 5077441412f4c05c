package main

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"
)

// writeKey writes a fresh ed25519 private key to path, as ssh-keygen
// would, and returns its signer and its public key (authorized_keys form).
func writeKey(t *testing.T, path string) (ssh.Signer, string) {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	block, err := ssh.MarshalPrivateKey(priv, "")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, pem.EncodeToMemory(block), 0o600); err != nil {
		t.Fatal(err)
	}
	signer, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	return signer, strings.TrimSpace(string(ssh.MarshalAuthorizedKey(signer.PublicKey())))
}

// Without --key and without a key at any default path, the request goes
// unsigned; what the CLI says then names --key, every path it looked at,
// and how to fix it, and a refusal for want of a signature says the same.
func TestNoSigningKeySaysWhereItLookedAndHowToFix(t *testing.T) {
	home := t.TempDir()
	t.Setenv("HOME", home)
	var errOut bytes.Buffer
	env := &cliEnv{stdout: &bytes.Buffer{}, stderr: &errOut}
	id := identity{as: "alice"}
	s, ok := id.signer(env)
	if s != nil || !ok {
		t.Fatalf("signer = %v, %t; want none, and not an error", s, ok)
	}
	help := id.noKeyHelp()
	want := []string{"--key", "ssh-keygen -t ed25519", "public_keys", `member "alice"`, "a lead"}
	for _, name := range []string{"id_ed25519", "id_ecdsa", "id_rsa"} {
		want = append(want, filepath.Join(home, ".ssh", name))
	}
	mustContain(t, "the message", help, want...)
	if strings.Contains(help, "\n") {
		t.Errorf("not one line:\n%s", help)
	}

	id.refusedHelp(env, "approve", "the request is not signed: cordon signs with your SSH key (--key, default ~/.ssh/id_ed25519), and the roster must hold its public key (alice via cli)")
	lines := strings.Split(strings.TrimSpace(errOut.String()), "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[0], "cordon: approve refused: the request is not signed") || !strings.Contains(lines[1], "ssh-keygen -t ed25519") {
		t.Errorf("refusal for want of a signature:\n%s", errOut.String())
	}
	errOut.Reset()
	id.refusedHelp(env, "approve", "alice is not among the approvers of gate isolate")
	if strings.Contains(errOut.String(), "ssh-keygen") {
		t.Errorf("the key advice follows a refusal that is not about signing:\n%s", errOut.String())
	}

	// A key at a later default path is found, and then there is nothing to fix.
	writeKey(t, filepath.Join(home, ".ssh", "id_rsa"))
	id = identity{as: "alice"}
	if s, ok := id.signer(env); s == nil || !ok || id.noKeyHelp() != "" {
		t.Errorf("key at ~/.ssh/id_rsa: signer %v, %t, help %q", s, ok, id.noKeyHelp())
	}
}
