package workflows_test

import (
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/cordon-ir/cordon/workflows"
)

func newKey(t *testing.T) (ssh.Signer, string) {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	return signer, string(ssh.MarshalAuthorizedKey(signer.PublicKey()))
}

// With a production roster, a decision must be signed by the approver's
// own key (cli) or by a gateway that vouches for members (slack), and be
// fresh. Anyone who can reach the namespace could otherwise approve as
// anyone.
func TestSignedDecisions(t *testing.T) {
	f := newFixture(t)
	bobKey, bobPub := newKey(t)
	carolKey, carolPub := newKey(t)
	slackKey, slackPub := newKey(t)
	_, otherPub := newKey(t)
	aliceKey, alicePub := newKey(t)
	f.roster.RequireSignatures = true
	f.roster.Members[0].PublicKeys = []string{alicePub}         // alice
	f.roster.Members[1].PublicKeys = []string{otherPub, bobPub} // bob
	f.roster.Members[2].SlackID = "U0CAROL"                     // carol
	f.roster.Members[2].PublicKeys = []string{carolPub}         // carol
	f.roster.Gateways = []workflows.Gateway{{Name: "slack", PublicKey: slackPub}}
	src := strings.Replace(gated, "  timeout: 30m\n", "  timeout: 30m\n  min_approvals: 2\n", 1)

	sign := func(r workflows.Request, s ssh.Signer) workflows.Request {
		signed, err := workflows.Sign(r, s)
		if err != nil {
			t.Fatal(err)
		}
		return signed
	}
	nonce := 0
	base := func(actor, channel string) workflows.Request {
		st := f.state()
		nonce++
		return workflows.Request{RunID: "run-1", Action: workflows.ActApprove, Step: "isolate",
			PreviewHash: st.Gates[0].PreviewHash, Actor: actor, Channel: channel, Time: f.env.Now(), Nonce: fmt.Sprint("n", nonce)}
	}
	var unsigned, wrongKey, tampered, stale, bobOK, viaSlack *outcome
	f.at(1*time.Minute, func() { unsigned = f.send(workflows.UpdateApprove, base("bob", "cli")) })
	f.at(2*time.Minute, func() { wrongKey = f.send(workflows.UpdateApprove, sign(base("bob", "cli"), carolKey)) })
	f.at(3*time.Minute, func() {
		r := sign(base("bob", "cli"), bobKey)
		r.Reason = "changed after signing"
		tampered = f.send(workflows.UpdateApprove, r)
	})
	f.at(4*time.Minute, func() {
		r := base("bob", "cli")
		r.Time = f.env.Now().Add(-time.Hour)
		stale = f.send(workflows.UpdateApprove, sign(r, bobKey))
	})
	f.at(5*time.Minute, func() { bobOK = f.send(workflows.UpdateApprove, sign(base("bob", "cli"), bobKey)) })
	// The Slack gateway vouches for carol with its own key.
	f.at(6*time.Minute, func() { viaSlack = f.send(workflows.UpdateApprove, sign(base("carol", "slack"), slackKey)) })
	f.reviewed(src)
	f.startSigned(src, "alice", aliceKey)
	f.wantResult(workflows.RunSucceeded)
	wantRefused(t, "unsigned", unsigned, "not signed")
	wantRefused(t, "wrong key", wrongKey, "does not match any key")
	wantRefused(t, "tampered", tampered, "does not match any key")
	wantRefused(t, "stale", stale, "sign it again")
	wantOK(t, "bob", bobOK)
	wantOK(t, "carol via slack", viaSlack)
	approvals := f.state().Gates[0].Approvals
	if len(approvals) != 2 || approvals[1].Channel != "slack" {
		t.Errorf("approvals %+v", approvals)
	}
}
