package actions

import "github.com/cordon-ir/cordon/actions/spec"

// autoscalingActions registers the Auto Scaling actions, each spec with
// its handler (in autoscaling_impl.go).
func autoscalingActions() []registration {
	return []registration{
		action(spec.Action{
			Name: "aws.autoscaling.detach_instance", Service: "autoscaling",
			Summary: "Take the instance out of its Auto Scaling group so the group neither replaces nor terminates it.",
			Description: "With mode detach, the group launches a replacement unless decrement_desired_capacity is true; with mode " +
				"standby, the instance stays in the group but out of service. An instance in no group is a no-op. With " +
				"decrement_desired_capacity at the group's minimum size, AWS refuses the change, so the step first lowers the " +
				"group's MinSize by one (as AWSSupport-ContainEC2Instance does) and reports the size it had, for a restore.",
			Params: []spec.Param{
				instanceIDParam(),
				{Name: "mode", Type: spec.String, Default: "detach", Enum: []string{"detach", "standby"}, Description: "DetachInstances or EnterStandby."},
				{Name: "decrement_desired_capacity", Type: spec.Bool, Default: false, Description: "Lower desired capacity instead of launching a replacement."},
			},
			Outputs: []spec.Field{
				spec.F("auto_scaling_group", spec.String, "The group the instance was in, empty if none."),
				spec.F("mode", spec.String, "detach or standby."),
				spec.F("changed", spec.Bool, "False when the instance was already out of the group."),
				spec.F("min_size_lowered", spec.Bool, "True when this step lowered the group's MinSize so that the decrement could go through."),
				spec.F("previous_min_size", spec.Int, "The group's MinSize before this step lowered it (restore it with UpdateAutoScalingGroup); -1 when min_size_lowered is false."),
			},
			Mutating: true,
			DryRun:   "Reads the instance's group membership (and, with decrement_desired_capacity, the group's sizes) and previews the change; nothing is sent.",
			Permissions: []string{
				"autoscaling:DescribeAutoScalingInstances", "autoscaling:DescribeAutoScalingGroups",
				"autoscaling:DetachInstances", "autoscaling:EnterStandby", "autoscaling:UpdateAutoScalingGroup",
			},
			Timeout: 10 * minute,
		}, detachInstance),
	}
}
