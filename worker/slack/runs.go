package slack

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"golang.org/x/crypto/ssh"

	"github.com/cordon-ir/cordon/runctl"
	"github.com/cordon-ir/cordon/worker"
	"github.com/cordon-ir/cordon/workflows"
)

// Channel is the decision channel the gateway signs for; the roster's
// gateway of this name holds its public key.
const Channel = "slack"

// Runs is what the gateway asks of Cordon: deliver a request, read a run,
// start one. The implementation signs requests and starts with the
// gateway's key, for the member the gateway mapped (req.Actor,
// o.Meta.Requester), and keeps the nonce the gateway gives.
type Runs interface {
	Send(ctx context.Context, req workflows.Request) (string, error)
	State(ctx context.Context, runID string) (workflows.State, error)
	// Start starts a run with a signed start request. When a run of
	// o.Meta.RunID exists already it starts nothing and returns an error
	// that is ErrAlreadyStarted.
	Start(ctx context.Context, o runctl.StartOptions) (string, error)
}

// ErrAlreadyStarted says a start named a run that exists: the gateway
// derives a start's run id from the slash command, so this is a repeated
// delivery of a command that started it.
var ErrAlreadyStarted = errors.New("the run already exists")

// TemporalRuns delivers requests to runs on Temporal, signed with the
// gateway's key.
type TemporalRuns struct {
	Client    client.Client
	TaskQueue string
	Signer    ssh.Signer
}

// Send implements Runs. A validator refusal comes back as *runctl.Refused.
func (t TemporalRuns) Send(ctx context.Context, req workflows.Request) (string, error) {
	return runctl.Send(ctx, t.Client, req, t.Signer)
}

// State implements Runs.
func (t TemporalRuns) State(ctx context.Context, runID string) (workflows.State, error) {
	return runctl.State(ctx, t.Client, runID)
}

// existsWording is how runctl.Start words a start refused because the run
// id is taken (it does not wrap Temporal's error). The Slack end-to-end
// tests repeat a /cordon run through it, so a change of wording fails them.
const existsWording = "a run with this id already exists"

// Start implements Runs: the start is signed with the gateway's key.
func (t TemporalRuns) Start(ctx context.Context, o runctl.StartOptions) (string, error) {
	o.Signer = t.Signer
	id, err := runctl.Start(ctx, t.Client, t.TaskQueue, o)
	if err == nil || o.Meta.RunID == "" {
		return id, err
	}
	var exists *serviceerror.WorkflowExecutionAlreadyStarted
	if errors.As(err, &exists) {
		return o.Meta.RunID, fmt.Errorf("%w: %w", ErrAlreadyStarted, err)
	}
	// Temporal's own record says whether the run exists.
	if _, derr := t.Client.DescribeWorkflowExecution(ctx, o.Meta.RunID, ""); derr == nil {
		if strings.Contains(err.Error(), existsWording) {
			return o.Meta.RunID, fmt.Errorf("%w: %w", ErrAlreadyStarted, err)
		}
		// Temporal took this start but its answer was lost (a timeout):
		// the run this command names is running.
		return o.Meta.RunID, nil
	}
	return id, err
}

// LoadGatewayKey reads the gateway's OpenSSH private key (ed25519,
// unencrypted: the gateway runs unattended; protect the file instead).
func LoadGatewayKey(path string) (ssh.Signer, error) {
	return worker.LoadServiceKey(path, "Slack gateway key")
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
