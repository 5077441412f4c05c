package actions

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	"github.com/aws/smithy-go"
	"go.temporal.io/sdk/activity"
)

// Several actions remove the very fact they would report: once an instance
// is detached, DescribeAutoScalingInstances no longer names its group; once
// a key is deactivated or an MFA device removed, a retry cannot tell that
// this step did it. Their permissions allow no other place to keep it (no
// tags, no scaling-activity history), so before the first mutation an
// attempt records what it is about to change in the activity's heartbeat
// details, which Temporal hands to the next attempt of the same activity.
//
// The first heartbeat of an attempt is sent synchronously, so by the time
// the mutation is sent the intent is stored on the server. Should that
// heartbeat itself be lost (server unreachable), a retry reports only what
// it still sees, and says so in a note: the containment is unaffected,
// only the record of which attempt did it.

// recordIntent stores what this attempt is about to change.
func recordIntent(ctx context.Context, x *execution, intent any) {
	x.heartbeat(ctx, intent)
}

// priorIntent fills intent with what an earlier attempt recorded and
// reports whether there was one.
func priorIntent(ctx context.Context, intent any) bool {
	if !activity.IsActivity(ctx) || !activity.HasHeartbeatDetails(ctx) {
		return false
	}
	return activity.GetHeartbeatDetails(ctx, intent) == nil
}

// detachIntent is what detach_instance records before changing anything.
type detachIntent struct {
	InstanceID string `json:"instance_id"`
	Group      string `json:"auto_scaling_group"`
	Mode       string `json:"mode"`
	// PriorState is the instance's lifecycle state before the change.
	PriorState string `json:"prior_state,omitempty"`
	// MinSizeLowered says this step lowered the group's MinSize, from
	// PreviousMinSize, so that the decrement could go through.
	MinSizeLowered  bool `json:"min_size_lowered,omitempty"`
	PreviousMinSize int  `json:"previous_min_size,omitempty"`
}

// maxMinSizeRounds bounds how often a step lowers the group's MinSize
// again after AWS refused the decrement because, meanwhile, another step
// (a neighbour of the same fleet, contained in parallel) took the group
// down to its new minimum.
const maxMinSizeRounds = 3

// minSizeRefused reports whether AWS refused a decrement because the group
// would fall below its minimum size ("AutoScalingGroup g has min-size=1,
// max-size=4, and desired-size=1. To detach 1 instance, please update the
// AutoScalingGroup sizes appropriately.").
func minSizeRefused(err error) bool {
	var ae smithy.APIError
	return errors.As(err, &ae) && ae.ErrorCode() == "ValidationError" &&
		(strings.Contains(ae.ErrorMessage(), "min-size") || strings.Contains(strings.ToLower(ae.ErrorMessage()), "minimum"))
}

// asgMembership reads the group and lifecycle state of the instance; both
// are empty when Auto Scaling does not know it.
func asgMembership(ctx context.Context, x *execution, what, instanceID string) (group, state string, err error) {
	out, err := x.aws.AutoScaling.DescribeAutoScalingInstances(ctx, &autoscaling.DescribeAutoScalingInstancesInput{InstanceIds: []string{instanceID}})
	if err != nil {
		return "", "", classify(what, "autoscaling:DescribeAutoScalingInstances", err)
	}
	for _, a := range out.AutoScalingInstances {
		if aws.ToString(a.InstanceId) == instanceID {
			group, state = aws.ToString(a.AutoScalingGroupName), aws.ToString(a.LifecycleState)
		}
	}
	return group, state, nil
}

// outOfService reports whether an instance in group (empty: none) and
// state already is where mode takes it from wasGroup.
func outOfService(mode, wasGroup, group, state string) bool {
	if mode == "standby" {
		return group == wasGroup && (state == "Standby" || state == "EnteringStandby")
	}
	return group != wasGroup || state == "Detaching" || state == "Detached"
}

// minSizeToLower reads the group's sizes and returns the MinSize that
// lets it shrink by one, and the current MinSize; lower is false when
// the group can already shrink.
func minSizeToLower(ctx context.Context, x *execution, group string) (newMin, oldMin int, lower bool, err error) {
	out, err := x.aws.AutoScaling.DescribeAutoScalingGroups(ctx, &autoscaling.DescribeAutoScalingGroupsInput{AutoScalingGroupNames: []string{group}})
	if err != nil {
		return 0, 0, false, classify("read the sizes of Auto Scaling group "+group, "autoscaling:DescribeAutoScalingGroups", err)
	}
	for _, g := range out.AutoScalingGroups {
		if aws.ToString(g.AutoScalingGroupName) != group {
			continue
		}
		minSize, desired := int(aws.ToInt32(g.MinSize)), int(aws.ToInt32(g.DesiredCapacity))
		if desired-1 >= minSize {
			return minSize, minSize, false, nil
		}
		return max(desired-1, 0), minSize, true, nil
	}
	return 0, 0, false, classify("read the sizes of Auto Scaling group "+group, "autoscaling:DescribeAutoScalingGroups",
		notFound("ValidationError", "AutoScalingGroup "+group+" not found"))
}

func detachInstance(ctx context.Context, x *execution) error {
	var p struct {
		InstanceID string `json:"instance_id"`
		Mode       string `json:"mode"`
		Decrement  bool   `json:"decrement_desired_capacity"`
	}
	if err := x.decode(&p); err != nil {
		return err
	}
	what := "detach " + p.InstanceID + " from its Auto Scaling group"
	group, state, err := asgMembership(ctx, x, what, p.InstanceID)
	if err != nil {
		return err
	}
	x.output("mode", p.Mode)

	var prior detachIntent
	hadPrior := priorIntent(ctx, &prior) && prior.InstanceID == p.InstanceID && prior.Mode == p.Mode && prior.Group != ""
	reportMinSize := func(in detachIntent) {
		x.output("min_size_lowered", in.MinSizeLowered)
		if in.MinSizeLowered {
			x.output("previous_min_size", in.PreviousMinSize)
		} else {
			x.output("previous_min_size", -1)
		}
	}
	reportMinSize(detachIntent{})
	if hadPrior {
		reportMinSize(prior)
	}

	if group == "" {
		// DescribeAutoScalingInstances answers the same for an instance in
		// no group and for one that does not exist; with only Auto Scaling
		// permissions the two cannot be told apart, and both are a no-op.
		if hadPrior {
			x.output("auto_scaling_group", prior.Group)
			x.output("changed", true)
			x.note("%s was detached from %s by an earlier attempt of this step", p.InstanceID, prior.Group)
			return nil
		}
		x.output("auto_scaling_group", "")
		x.output("changed", false)
		x.note("%s is in no Auto Scaling group: nothing to detach", p.InstanceID)
		return nil
	}
	x.output("auto_scaling_group", group)

	// Standby keeps the membership, and a detach in progress still lists
	// the instance (Detaching), so a retry still sees the group; only
	// whether this step made the change needs the intent.
	if outOfService(p.Mode, group, group, state) {
		byUs := hadPrior && prior.Group == group
		x.output("changed", byUs)
		if byUs {
			x.note("%s was already moved out of service in %s (%s) by an earlier attempt of this step", p.InstanceID, group, state)
		} else {
			reportMinSize(detachIntent{})
			x.note("%s is already %s in %s", p.InstanceID, state, group)
		}
		return nil
	}

	intent := detachIntent{InstanceID: p.InstanceID, Group: group, Mode: p.Mode, PriorState: state}
	if hadPrior && prior.Group == group && prior.MinSizeLowered {
		// An earlier attempt lowered the minimum: what it was before is
		// what a restore needs, not what this attempt sees.
		intent.MinSizeLowered, intent.PreviousMinSize = true, prior.PreviousMinSize
	}
	if p.Mode == "standby" {
		x.change(p.InstanceID, "lifecycle_state", state, "Standby")
	} else {
		x.change(p.InstanceID, "auto_scaling_group", group, "")
	}
	if p.Decrement {
		x.note("%s lowers its desired capacity by one instead of launching a replacement", group)
	} else {
		x.note("%s launches a replacement instance (decrement_desired_capacity is false)", group)
	}
	x.output("changed", true)
	// AWS refuses a decrement that would take the group below its minimum
	// size; the step then lowers the group's MinSize by one first, as
	// AWSSupport-ContainEC2Instance does: containing the host matters more
	// than the group's floor, which the outputs let a restore put back.
	// A preview reads the group to show it; an execution only reads it
	// once AWS refused, so the common case costs no call more.
	lowerMinSize := func() error {
		newMin, oldMin, lower, err := minSizeToLower(ctx, x, group)
		if err != nil || !lower {
			return err
		}
		x.change("autoScalingGroup/"+group, "min_size", oldMin, newMin)
		x.note("%s is at its minimum size (%d): its MinSize is lowered to %d so that it can shrink instead of launching a replacement; previous_min_size keeps %d for a restore",
			group, oldMin, newMin, intent.previousMinSize(oldMin))
		if !intent.MinSizeLowered {
			intent.MinSizeLowered, intent.PreviousMinSize = true, oldMin
		}
		reportMinSize(intent)
		if x.preview() {
			return nil
		}
		recordIntent(ctx, x, intent)
		_, err = x.aws.AutoScaling.UpdateAutoScalingGroup(ctx, &autoscaling.UpdateAutoScalingGroupInput{
			AutoScalingGroupName: aws.String(group),
			MinSize:              aws.Int32(int32(newMin)),
		})
		return classify(fmt.Sprintf("lower the minimum size of %s to %d", group, newMin), "autoscaling:UpdateAutoScalingGroup", err)
	}
	reportMinSize(intent)
	if x.preview() {
		if p.Decrement {
			return lowerMinSize()
		}
		return nil
	}

	recordIntent(ctx, x, intent)
	for round := 1; ; round++ {
		verb, permission, err := moveOutOfService(ctx, x, p.Mode, group, p.InstanceID, p.Decrement)
		if err == nil {
			return nil
		}
		if !isCode(err, "ValidationError") {
			return classify(verb, permission, err)
		}
		if p.Decrement && minSizeRefused(err) && round < maxMinSizeRounds {
			// At the minimum, or brought back to it by another step of the
			// same fleet meanwhile: lower the minimum and send it again.
			if err := lowerMinSize(); err != nil {
				return err
			}
			continue
		}
		// Any other ValidationError can be the answer to the SDK's retry
		// of a request whose first answer was lost after AWS made the
		// change ("The instance i-... is not in InService.", "... is not
		// part of Auto Scaling group ..."): if the instance is where this
		// step takes it, the step is done, and the prior state is what
		// this attempt saw before sending it.
		nowGroup, nowState, derr := asgMembership(ctx, x, what, p.InstanceID)
		if derr == nil && outOfService(p.Mode, group, nowGroup, nowState) {
			x.note("AWS answered a retried %s with %q: the first request had already taken effect (its answer was lost); %s was %s in %s before this step",
				permission, errorMessage(err), p.InstanceID, state, group)
			return nil
		}
		return classify(verb, permission, err)
	}
}

// previousMinSize is the MinSize a restore needs: the one an earlier
// attempt recorded, else the one seen now.
func (in detachIntent) previousMinSize(seen int) int {
	if in.MinSizeLowered {
		return in.PreviousMinSize
	}
	return seen
}

// moveOutOfService sends EnterStandby or DetachInstances, returning what
// it did and the permission it used, for classify.
func moveOutOfService(ctx context.Context, x *execution, mode, group, instanceID string, decrement bool) (what, permission string, err error) {
	if mode == "standby" {
		_, err = x.aws.AutoScaling.EnterStandby(ctx, &autoscaling.EnterStandbyInput{
			AutoScalingGroupName:           aws.String(group),
			InstanceIds:                    []string{instanceID},
			ShouldDecrementDesiredCapacity: aws.Bool(decrement),
		})
		return fmt.Sprintf("put %s in standby in %s", instanceID, group), "autoscaling:EnterStandby", err
	}
	_, err = x.aws.AutoScaling.DetachInstances(ctx, &autoscaling.DetachInstancesInput{
		AutoScalingGroupName:           aws.String(group),
		InstanceIds:                    []string{instanceID},
		ShouldDecrementDesiredCapacity: aws.Bool(decrement),
	})
	return fmt.Sprintf("detach %s from %s", instanceID, group), "autoscaling:DetachInstances", err
}

// errorMessage is the AWS message of err, or its text.
func errorMessage(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorMessage()
	}
	return err.Error()
}
