package intake

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	"golang.org/x/crypto/ssh"

	"github.com/cordon-ir/cordon/runctl"
	"github.com/cordon-ir/cordon/workflows"
)

// The client side of proposals, for cordon proposals and cordon launch.

// Proposals lists the proposals waiting for a launch, oldest first. They
// are read from the memo of the open finding and batch workflows
// (visibility: it may lag a second behind).
func Proposals(ctx context.Context, c client.Client) ([]ProposalSummary, error) {
	query := fmt.Sprintf("WorkflowType IN ('%s', '%s') AND ExecutionStatus = 'Running'", FindingWorkflowName, BatchWorkflowName)
	dc := converter.GetDefaultDataConverter()
	var out []ProposalSummary
	var token []byte
	for {
		resp, err := c.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{Query: query, NextPageToken: token})
		if err != nil {
			return nil, fmt.Errorf("list the intake's open workflows: %w", err)
		}
		for _, e := range resp.GetExecutions() {
			field := e.GetMemo().GetFields()[memoProposal]
			if field == nil {
				continue
			}
			var p *ProposalSummary
			if err := dc.FromPayload(field, &p); err != nil {
				return nil, fmt.Errorf("read the proposal of %s: %w", e.GetExecution().GetWorkflowId(), err)
			}
			if p != nil {
				out = append(out, *p)
			}
		}
		if token = resp.GetNextPageToken(); len(token) == 0 {
			break
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Created.Before(out[j].Created) })
	return out, nil
}

// GetProposal reads the proposal workflow id holds now.
func GetProposal(ctx context.Context, c client.Client, id string) (Proposal, error) {
	d, err := c.DescribeWorkflowExecution(ctx, id, "")
	if err != nil {
		var nf *serviceerror.NotFound
		if errors.As(err, &nf) {
			return Proposal{}, fmt.Errorf("no proposal %q (cordon proposals lists them)", id)
		}
		return Proposal{}, fmt.Errorf("describe %s: %w", id, err)
	}
	info := d.GetWorkflowExecutionInfo()
	if info.GetStatus() != enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING {
		return Proposal{}, fmt.Errorf("%s has ended: nothing to launch", id)
	}
	var prop *Proposal
	switch info.GetType().GetName() {
	case FindingWorkflowName:
		var s FindingState
		if err := query(ctx, c, id, QueryFinding, &s); err != nil {
			return Proposal{}, err
		}
		if s.Batch != "" && s.Proposal == nil {
			return Proposal{}, fmt.Errorf("%s is gathered with other findings in batch %s: launch that one (cordon launch %s)", id, s.Batch, s.Batch)
		}
		prop = s.Proposal
	case BatchWorkflowName:
		var s BatchState
		if err := query(ctx, c, id, QueryBatch, &s); err != nil {
			return Proposal{}, err
		}
		prop = s.Proposal
	default:
		return Proposal{}, fmt.Errorf("%s is a %s workflow, not a proposal", id, info.GetType().GetName())
	}
	if prop == nil {
		return Proposal{}, fmt.Errorf("%s proposes nothing now (launched by its trigger, or launched already)", id)
	}
	return *prop, nil
}

func query(ctx context.Context, c client.Client, id, name string, into any) error {
	v, err := c.QueryWorkflow(ctx, id, "", name)
	if err != nil {
		return fmt.Errorf("query %s: %w", id, err)
	}
	if err := v.Get(into); err != nil {
		return fmt.Errorf("decode the state of %s: %w", id, err)
	}
	return nil
}

// LaunchOptions say who launches a proposal.
type LaunchOptions struct {
	// Actor is the roster member launching; Signer their key (nil:
	// unsigned, which only a development roster accepts).
	Actor  string
	Signer ssh.Signer
	// BreakGlassReason, when set, adds the actor's signed break-glass (a
	// lead's, for a batch above its ceiling).
	BreakGlassReason string
	// Wait is how long to wait for the run to pass its start checks
	// (default 30s).
	Wait time.Duration
}

// LaunchResult is what became of a launch.
type LaunchResult struct {
	RunID string
	// Progress is how far the run got within LaunchOptions.Wait: running,
	// ended, refused (Progress.Refused) or still pending.
	Progress RunProgress
}

// RefusedLaunch is a launch the proposal turned down before starting
// anything: it was signed for something else than what is proposed now.
type RefusedLaunch struct{ Reason string }

func (r *RefusedLaunch) Error() string { return "launch refused: " + r.Reason }

// StartRequest is the start of the proposed run as actor launches it
// from the CLI, to sign: it binds the run id, the runbook and plan, the
// inputs, the incident, the trigger and the findings as proposed now.
func (p Proposal) StartRequest(actor string) workflows.Request {
	r := p.Run
	return workflows.Request{RunID: r.RunID, Action: workflows.ActStart, Actor: actor, Channel: "cli", Time: time.Now().UTC(),
		Nonce: runctl.NewNonce(), Runbook: r.Runbook, PlanHash: r.PlanHash, InputsHash: workflows.InputsHash(r.Inputs),
		Incident: r.Incident, DryRun: r.DryRun, Trigger: r.Trigger.Name, FindingsHash: r.Trigger.FindingsHash()}
}

// Launch signs the start of proposal id's run as o.Actor, exactly as it
// is proposed now, and gives it to the proposal, which starts the run;
// the run verifies the signature against its roster (a member who may not
// start runs is refused there, and the proposal stays open). It waits up
// to o.Wait to say how the run's start went.
func Launch(ctx context.Context, c client.Client, id string, o LaunchOptions) (LaunchResult, error) {
	p, err := GetProposal(ctx, c, id)
	if err != nil {
		return LaunchResult{}, err
	}
	req := p.StartRequest(o.Actor)
	if o.Signer != nil {
		if req, err = workflows.Sign(req, o.Signer); err != nil {
			return LaunchResult{}, err
		}
	}
	launch := LaunchRequest{Start: req}
	if o.BreakGlassReason != "" {
		bg, err := runctl.SignBreakGlass(p.Run.RunID, o.Actor, o.BreakGlassReason, o.Signer)
		if err != nil {
			return LaunchResult{}, err
		}
		launch.BreakGlass = []workflows.Request{bg}
	}
	h, err := c.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{WorkflowID: id, UpdateName: UpdateLaunch, Args: []any{launch},
		WaitForStage: client.WorkflowUpdateStageCompleted})
	if err == nil {
		err = h.Get(ctx, nil)
	}
	if err != nil {
		var ae *temporal.ApplicationError
		if errors.As(err, &ae) {
			return LaunchResult{}, &RefusedLaunch{Reason: ae.Message()}
		}
		return LaunchResult{}, fmt.Errorf("launch %s: %w", id, err)
	}
	res := LaunchResult{RunID: p.Run.RunID, Progress: RunProgress{Phase: ProgressPending}}
	if o.Wait == 0 {
		o.Wait = 30 * time.Second
	}
	wctx, cancel := context.WithTimeout(ctx, o.Wait)
	defer cancel()
	for {
		prog, found, err := runProgress(wctx, c, p.Run.RunID)
		if err == nil && found {
			res.Progress = prog
			if prog.Phase != ProgressPending {
				return res, nil
			}
		}
		select {
		case <-wctx.Done():
			return res, nil
		case <-time.After(200 * time.Millisecond):
		}
	}
}
