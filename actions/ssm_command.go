package actions

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"
	"go.temporal.io/sdk/temporal"

	"github.com/cordon-ir/cordon/actions/wire"
	"github.com/cordon-ir/cordon/evidence"
)

// A command's life on one instance through SSM Run Command: the agent is
// checked first (managed, online, Linux), the command is sent once per
// step (its id kept in the heartbeat details, and its comment naming the
// step, so a retry finds it instead of running it again), then waited for
// with heartbeats, and its output read. Both SSM actions use it.

// ssmDeliveryTimeout is how long SSM keeps a command for an agent that
// has not picked it up: the agent was online a moment ago, so minutes are
// plenty.
const ssmDeliveryTimeout = 600

// agentOf checks that the instance has an SSM agent Cordon can use. It
// returns why not, in the responder's words, or "" when it can.
func agentOf(ctx context.Context, x *execution, in ec2types.Instance) (string, error) {
	id := aws.ToString(in.InstanceId)
	out, err := x.aws.SSM.DescribeInstanceInformation(ctx, &ssm.DescribeInstanceInformationInput{
		Filters: []ssmtypes.InstanceInformationStringFilter{{Key: aws.String("InstanceIds"), Values: []string{id}}}})
	if err != nil {
		return "", classify("check the SSM agent of "+id, "ssm:DescribeInstanceInformation", err)
	}
	var info *ssmtypes.InstanceInformation
	for i := range out.InstanceInformationList {
		if aws.ToString(out.InstanceInformationList[i].InstanceId) == id {
			info = &out.InstanceInformationList[i]
		}
	}
	switch {
	case info == nil:
		return fmt.Sprintf("%s is not managed by SSM (no agent registered: DescribeInstanceInformation does not list it), so nothing can run on it%s",
			id, withoutAgent(in)), nil
	case info.PingStatus != ssmtypes.PingStatusOnline:
		return fmt.Sprintf("the SSM agent of %s is %s, not Online: a command would wait for it in vain%s", id, info.PingStatus, withoutAgent(in)), nil
	case info.PlatformType != ssmtypes.PlatformTypeLinux:
		return fmt.Sprintf("%s runs %s: Cordon's SSM commands (AVML, the triage catalogue) are for Linux only", id, info.PlatformType), nil
	}
	return "", nil
}

// withoutAgent is what to do about memory on an instance Cordon cannot run
// a command on: hibernate it where it was launched for that.
func withoutAgent(in ec2types.Instance) string {
	if in.HibernationOptions != nil && aws.ToBool(in.HibernationOptions.Configured) {
		return ". It was launched with hibernation: aws.ec2.stop_instance with hibernate: true keeps its memory on the root volume, which a snapshot taken afterwards preserves"
	}
	return ". It was not launched with hibernation either, so its memory cannot be preserved; capture the other evidence before stopping it"
}

// beforeCommand is what both SSM actions do before they send anything:
// the evidence store (when there is one) checked, and the step's artefact
// returned when this step stored it already (a retry, or the step run
// again: nothing runs twice on the instance); else the instance's agent
// checked. refused is true when the agent will not do (in a preview, with
// the reason in a note; in an execution, err says it).
func beforeCommand(ctx context.Context, x *execution, store *evidence.Store, it evidence.Item, in ec2types.Instance, what string) (done *wire.Artefact, refused bool, err error) {
	if store != nil {
		note, err := store.Check(ctx)
		if err != nil {
			return nil, false, evidenceError(what, store, err)
		}
		if note != "" {
			x.note("%s", note)
		}
		a, ok, err := store.Find(ctx, it)
		if err != nil {
			return nil, false, evidenceError(what, store, err)
		}
		if ok {
			x.note("%s: done already by this step: %s (sha256 %s)", what, a.Location(), a.SHA256)
			x.recordArtefact(a)
			return &a, false, nil
		}
	}
	why, err := agentOf(ctx, x, in)
	if err != nil || why == "" {
		return nil, false, err
	}
	return nil, true, x.refuse(what + ": " + why)
}

// ssmScript is one command to run: the shell lines, how long they may
// run, and what it is in the responder's words.
type ssmScript struct {
	what    string
	lines   []string
	timeout time.Duration
}

// ssmInvocation is how a command ended on the instance.
type ssmInvocation struct {
	commandID string
	status    ssmtypes.CommandInvocationStatus
	exitCode  int
	stdout    string
	stderr    string
}

// ssmIntent is what an attempt records once its command is sent.
type ssmIntent struct {
	CommandID string `json:"ssm_command_id"`
}

// stepComment names this step's command, so that a retry whose heartbeat
// was lost still finds it: a digest of run, step and action (SSM allows
// 100 characters).
func (x *execution) stepComment() string {
	return fmt.Sprintf("cordon %s %s", x.call.Action, x.stepDigest(8, x.call.Action))
}

// runScript runs the script on the instance, or finds the command an
// earlier attempt of this step sent, and waits for it to end. A command
// that times out, is cancelled or never reaches the agent is an error;
// one that fails is returned, for the caller to judge.
func runScript(ctx context.Context, x *execution, instanceID string, sc ssmScript) (ssmInvocation, error) {
	what := sc.what + " on " + instanceID
	commandID, err := priorCommand(ctx, x, instanceID)
	if err != nil {
		return ssmInvocation{}, err
	}
	if commandID == "" {
		out, err := x.aws.SSM.SendCommand(ctx, &ssm.SendCommandInput{
			DocumentName: aws.String("AWS-RunShellScript"), InstanceIds: []string{instanceID}, Comment: aws.String(x.stepComment()),
			TimeoutSeconds: aws.Int32(ssmDeliveryTimeout),
			Parameters: map[string][]string{
				"commands":         sc.lines,
				"executionTimeout": {strconv.Itoa(int(sc.timeout.Seconds()))},
			},
		})
		if err != nil {
			return ssmInvocation{}, classify(what, "ssm:SendCommand", err)
		}
		commandID = aws.ToString(out.Command.CommandId)
	} else {
		x.note("found SSM command %s, sent by an earlier attempt of this step: waiting for it rather than running it again", commandID)
	}
	recordIntent(ctx, x, ssmIntent{CommandID: commandID})
	inv, err := awaitCommand(ctx, x, instanceID, commandID, what)
	if err != nil {
		return inv, err
	}
	return inv, nil
}

// priorCommand is the command an earlier attempt of this step sent: from
// the heartbeat details, else by the step's comment among the instance's
// recent commands.
func priorCommand(ctx context.Context, x *execution, instanceID string) (string, error) {
	var intent ssmIntent
	if priorIntent(ctx, &intent) && intent.CommandID != "" {
		return intent.CommandID, nil
	}
	out, err := x.aws.SSM.ListCommandInvocations(ctx, &ssm.ListCommandInvocationsInput{InstanceId: aws.String(instanceID), MaxResults: aws.Int32(50)})
	if err != nil {
		return "", classify("list the recent SSM commands of "+instanceID, "ssm:ListCommandInvocations", err)
	}
	comment := x.stepComment()
	for _, inv := range out.CommandInvocations {
		if aws.ToString(inv.Comment) == comment {
			return aws.ToString(inv.CommandId), nil
		}
	}
	return "", nil
}

// awaitCommand polls the invocation until it ends, heartbeating, then
// reads its output.
func awaitCommand(ctx context.Context, x *execution, instanceID, commandID, what string) (ssmInvocation, error) {
	inv := ssmInvocation{commandID: commandID}
	ticker := time.NewTicker(x.rt.opts.PollInterval)
	defer ticker.Stop()
	for {
		out, err := x.aws.SSM.ListCommandInvocations(ctx, &ssm.ListCommandInvocationsInput{CommandId: aws.String(commandID), InstanceId: aws.String(instanceID)})
		if err != nil {
			return inv, classify(what+": check command "+commandID, "ssm:ListCommandInvocations", err)
		}
		if len(out.CommandInvocations) == 0 {
			return inv, classify(what, "ssm:ListCommandInvocations", notFound("InvalidCommandId.NotFound", "command "+commandID+" has no invocation on "+instanceID))
		}
		inv.status = out.CommandInvocations[0].Status
		if ended(inv.status) {
			break
		}
		x.heartbeat(ctx, map[string]any{"ssm_command_id": commandID, "status": string(inv.status)})
		select {
		case <-ctx.Done():
			return inv, fmt.Errorf("%s: stopped waiting for SSM command %s (%s): %w", what, commandID, inv.status, ctx.Err())
		case <-ticker.C:
		}
	}
	got, err := x.aws.SSM.GetCommandInvocation(ctx, &ssm.GetCommandInvocationInput{CommandId: aws.String(commandID), InstanceId: aws.String(instanceID)})
	if err != nil {
		return inv, classify(what+": read the output of command "+commandID, "ssm:GetCommandInvocation", err)
	}
	inv.exitCode = int(got.ResponseCode)
	inv.stdout, inv.stderr = aws.ToString(got.StandardOutputContent), aws.ToString(got.StandardErrorContent)
	detail := aws.ToString(got.StatusDetails)
	switch inv.status {
	case ssmtypes.CommandInvocationStatusSuccess, ssmtypes.CommandInvocationStatusFailed:
		return inv, nil
	case ssmtypes.CommandInvocationStatusTimedOut:
		if detail == "DeliveryTimedOut" {
			return inv, commandFailed("%s: SSM command %s never reached the agent (%s): the instance's agent went offline", what, commandID, detail)
		}
		return inv, commandFailed("%s: SSM command %s ran out of time (%s, executionTimeout): raise timeout_seconds if the instance is slow; it printed: %s",
			what, commandID, detail, excerptOf(inv.stdout+inv.stderr, 5))
	default:
		return inv, commandFailed("%s: SSM command %s ended %s (%s)", what, commandID, inv.status, detail)
	}
}

// ended says whether an invocation is over.
func ended(s ssmtypes.CommandInvocationStatus) bool {
	switch s {
	case ssmtypes.CommandInvocationStatusPending, ssmtypes.CommandInvocationStatusInProgress, ssmtypes.CommandInvocationStatusDelayed,
		ssmtypes.CommandInvocationStatusCancelling:
		return false
	}
	return true
}

// commandFailed is a command that ended without what was asked of it: a
// retry would run it again to the same end, so it is not retried.
func commandFailed(format string, args ...any) error {
	return temporal.NewNonRetryableApplicationError(fmt.Sprintf(format, args...), ErrConflict, nil)
}

// excerptOf is the first lines of output, for the record and messages.
func excerptOf(s string, lines int) string {
	s = strings.TrimSpace(s)
	if s == "" {
		return "(nothing)"
	}
	parts := strings.SplitN(s, "\n", lines+1)
	if len(parts) > lines {
		parts = append(parts[:lines], "…")
	}
	out := strings.Join(parts, "\n")
	if len(out) > 1000 {
		out = out[:1000] + "…"
	}
	return out
}
