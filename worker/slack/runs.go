package slack

import (
	"context"
	"fmt"
	"os"
	"strings"

	"go.temporal.io/sdk/client"
	"golang.org/x/crypto/ssh"

	"github.com/cordon-ir/cordon/runbooks"
	"github.com/cordon-ir/cordon/worker"
	"github.com/cordon-ir/cordon/workflows"
)

// Channel is the decision channel the gateway signs for; the roster's
// gateway of this name holds its public key.
const Channel = "slack"

// Runs is what the gateway asks of Cordon: deliver a request (the
// implementation signs it), read a run, start one.
type Runs interface {
	Send(ctx context.Context, req workflows.Request) (string, error)
	State(ctx context.Context, runID string) (workflows.State, error)
	Start(ctx context.Context, plan *runbooks.Plan, inputs map[string]any, meta workflows.RunMeta) (string, error)
}

// TemporalRuns delivers requests to runs on Temporal, signed with the
// gateway's key.
type TemporalRuns struct {
	Client    client.Client
	TaskQueue string
	Signer    ssh.Signer
}

// Send implements Runs. A validator refusal comes back as *worker.Refused.
func (t TemporalRuns) Send(ctx context.Context, req workflows.Request) (string, error) {
	return worker.Send(ctx, t.Client, req, t.Signer)
}

// State implements Runs.
func (t TemporalRuns) State(ctx context.Context, runID string) (workflows.State, error) {
	return worker.State(ctx, t.Client, runID)
}

// Start implements Runs.
func (t TemporalRuns) Start(ctx context.Context, plan *runbooks.Plan, inputs map[string]any, meta workflows.RunMeta) (string, error) {
	return worker.StartRun(ctx, t.Client, t.TaskQueue, plan, inputs, meta)
}

// LoadGatewayKey reads the gateway's OpenSSH private key (ed25519,
// unencrypted: the gateway runs unattended; protect the file instead).
func LoadGatewayKey(path string) (ssh.Signer, error) {
	pem, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read Slack gateway key: %w", err)
	}
	signer, err := ssh.ParsePrivateKey(pem)
	if err != nil {
		return nil, fmt.Errorf("Slack gateway key %s: %w (generate one with ssh-keygen -t ed25519 -N '' -f %s)", path, err, path)
	}
	if t := signer.PublicKey().Type(); t != ssh.KeyAlgoED25519 {
		return nil, fmt.Errorf("Slack gateway key %s is %s; use ed25519 (ssh-keygen -t ed25519)", path, t)
	}
	return signer, nil
}

// CheckGatewayKey makes sure the roster trusts the key on the slack
// channel; otherwise every decision would be refused, one click at a time.
func CheckGatewayKey(r workflows.Roster, signer ssh.Signer) error {
	want := strings.TrimSpace(string(ssh.MarshalAuthorizedKey(signer.PublicKey())))
	fp := ssh.FingerprintSHA256(signer.PublicKey())
	for _, g := range r.Gateways {
		if g.Name != Channel {
			continue
		}
		pub, _, _, _, err := ssh.ParseAuthorizedKey([]byte(g.PublicKey))
		if err == nil && ssh.FingerprintSHA256(pub) == fp {
			return nil
		}
	}
	return fmt.Errorf("the roster has no gateway %q with the Slack gateway's key %s: add to roster.gateways: {name: slack, public_key: %q}", Channel, fp, want)
}
