package worker

import (
	"fmt"
	"os"

	"golang.org/x/crypto/ssh"
)

// LoadServiceKey reads the OpenSSH private key (ed25519, unencrypted: a
// service runs unattended; protect the file instead) a service signs its
// requests with: the Slack gateway's, the intake's. what names it in
// errors ("Slack gateway key").
func LoadServiceKey(path, what string) (ssh.Signer, error) {
	pem, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", what, err)
	}
	signer, err := ssh.ParsePrivateKey(pem)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w (generate one with ssh-keygen -t ed25519 -N '' -f %s)", what, path, err, path)
	}
	if t := signer.PublicKey().Type(); t != ssh.KeyAlgoED25519 {
		return nil, fmt.Errorf("%s %s is %s; use ed25519 (ssh-keygen -t ed25519)", what, path, t)
	}
	return signer, nil
}
