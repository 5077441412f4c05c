package actions

import "github.com/cordon-ir/cordon/actions/spec"

// elbActions registers the load balancer actions, each spec with its
// handler (in elb_impl.go).
func elbActions() []registration {
	strs := spec.ListOf(spec.String)
	return []registration{
		action(spec.Action{
			Name: "aws.elbv2.deregister_instance", Service: "elasticloadbalancing",
			Summary: "Take the instance out of every load balancer: ELBv2 target groups and classic ELBs.",
			Description: "The groups and load balancers it was removed from are recorded so it can be registered again. In target " +
				"groups of target type ip, the instance's private addresses are deregistered (only groups of the instance's VPC are searched).",
			Params: []spec.Param{instanceIDParam()},
			Outputs: []spec.Field{
				spec.F("target_group_arns", strs, "Target groups the instance was deregistered from."),
				spec.F("load_balancer_names", strs, "Classic load balancers the instance was deregistered from."),
			},
			Mutating: true,
			DryRun:   "Reads the registrations and previews the change; nothing is sent.",
			Permissions: []string{
				"ec2:DescribeInstances", "elasticloadbalancing:DescribeTargetGroups", "elasticloadbalancing:DescribeTargetHealth",
				"elasticloadbalancing:DeregisterTargets", "elasticloadbalancing:DescribeLoadBalancers",
				"elasticloadbalancing:DeregisterInstancesFromLoadBalancer",
			},
			Timeout: 10 * minute,
		}, deregisterInstance),
	}
}
