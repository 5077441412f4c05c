package actions

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
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

// detachIntent is what detach_instance records before changing membership.
type detachIntent struct {
	InstanceID string `json:"instance_id"`
	Group      string `json:"auto_scaling_group"`
	Mode       string `json:"mode"`
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
	out, err := x.aws.AutoScaling.DescribeAutoScalingInstances(ctx, &autoscaling.DescribeAutoScalingInstancesInput{InstanceIds: []string{p.InstanceID}})
	if err != nil {
		return classify(what, "autoscaling:DescribeAutoScalingInstances", err)
	}
	group, state := "", ""
	for _, a := range out.AutoScalingInstances {
		if aws.ToString(a.InstanceId) == p.InstanceID {
			group, state = aws.ToString(a.AutoScalingGroupName), aws.ToString(a.LifecycleState)
		}
	}
	x.output("mode", p.Mode)

	var prior detachIntent
	hadPrior := priorIntent(ctx, &prior) && prior.InstanceID == p.InstanceID && prior.Mode == p.Mode && prior.Group != ""

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
	if p.Mode == "standby" && (state == "Standby" || state == "EnteringStandby") ||
		p.Mode == "detach" && (state == "Detaching" || state == "Detached") {
		byUs := hadPrior && prior.Group == group
		x.output("changed", byUs)
		if byUs {
			x.note("%s was already moved out of service in %s (%s) by an earlier attempt of this step", p.InstanceID, group, state)
		} else {
			x.note("%s is already %s in %s", p.InstanceID, state, group)
		}
		return nil
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
	if x.preview() {
		return nil
	}

	recordIntent(ctx, x, detachIntent{InstanceID: p.InstanceID, Group: group, Mode: p.Mode})
	if p.Mode == "standby" {
		_, err = x.aws.AutoScaling.EnterStandby(ctx, &autoscaling.EnterStandbyInput{
			AutoScalingGroupName:           aws.String(group),
			InstanceIds:                    []string{p.InstanceID},
			ShouldDecrementDesiredCapacity: aws.Bool(p.Decrement),
		})
		if err != nil {
			return classify(fmt.Sprintf("put %s in standby in %s", p.InstanceID, group), "autoscaling:EnterStandby", err)
		}
		return nil
	}
	_, err = x.aws.AutoScaling.DetachInstances(ctx, &autoscaling.DetachInstancesInput{
		AutoScalingGroupName:           aws.String(group),
		InstanceIds:                    []string{p.InstanceID},
		ShouldDecrementDesiredCapacity: aws.Bool(p.Decrement),
	})
	if err != nil {
		return classify(fmt.Sprintf("detach %s from %s", p.InstanceID, group), "autoscaling:DetachInstances", err)
	}
	return nil
}
