package workflows

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/crypto/ssh"
)

// signingDomain separates Cordon's signatures from any other use of the
// same SSH key.
const signingDomain = "cordon-request-v1\n"

// SigningPayload is the exact bytes a request's signature covers: every
// field but the signature, in a fixed encoding.
func SigningPayload(r Request) []byte {
	r.Signature = ""
	r.Time = r.Time.UTC()
	b, err := json.Marshal(r)
	if err != nil {
		// Request holds only strings, ints and a time.
		panic(fmt.Sprintf("signing payload: %v", err))
	}
	return append([]byte(signingDomain), b...)
}

// Sign signs a request with an SSH signer (a responder's own key, or the
// Slack gateway's).
func Sign(r Request, signer ssh.Signer) (Request, error) {
	sig, err := signer.Sign(nil, SigningPayload(r))
	if err != nil {
		return r, fmt.Errorf("sign %s request for %s: %w", r.Action, r.RunID, err)
	}
	r.Signature = base64.StdEncoding.EncodeToString(ssh.Marshal(sig))
	return r, nil
}

// verifySignature checks r's signature against any of the given public
// keys (authorized_keys lines). It is pure, so it can run in a validator.
func verifySignature(r Request, keys []string) error {
	if r.Signature == "" {
		return errors.New("the request is not signed: cordon signs with your SSH key (--key, default ~/.ssh/id_ed25519), and the roster must hold its public key")
	}
	raw, err := base64.StdEncoding.DecodeString(r.Signature)
	if err != nil {
		return errors.New("the signature is not valid base64")
	}
	var sig ssh.Signature
	if err := ssh.Unmarshal(raw, &sig); err != nil {
		return errors.New("the signature is malformed")
	}
	payload := SigningPayload(r)
	for _, line := range keys {
		pub, _, _, _, err := ssh.ParseAuthorizedKey([]byte(strings.TrimSpace(line)))
		if err != nil {
			continue
		}
		if pub.Verify(payload, &sig) == nil {
			return nil
		}
	}
	return errors.New("the signature does not match any key the roster holds for this signer")
}

// Fingerprint is a key's SHA256 fingerprint, for messages.
func Fingerprint(authorizedKey string) string {
	pub, _, _, _, err := ssh.ParseAuthorizedKey(bytes.TrimSpace([]byte(authorizedKey)))
	if err != nil {
		return "(unparsable key)"
	}
	return ssh.FingerprintSHA256(pub)
}
