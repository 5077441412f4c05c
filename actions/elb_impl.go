package actions

import (
	"context"
	"fmt"
	"sort"

	"github.com/aws/aws-sdk-go-v2/aws"
	elb "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancing"
	elbtypes "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancing/types"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	elbv2types "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
)

// registeredClassicELBs lists the classic load balancers the instance is
// registered with.
func registeredClassicELBs(ctx context.Context, x *execution, instanceID string) ([]string, error) {
	var found []string
	pages := elb.NewDescribeLoadBalancersPaginator(x.aws.ELB, &elb.DescribeLoadBalancersInput{})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return nil, classify("list classic load balancers", "elasticloadbalancing:DescribeLoadBalancers", err)
		}
		for _, lb := range page.LoadBalancerDescriptions {
			for _, in := range lb.Instances {
				if aws.ToString(in.InstanceId) == instanceID {
					found = append(found, aws.ToString(lb.LoadBalancerName))
				}
			}
		}
	}
	sort.Strings(found)
	return found, nil
}

// targetRegistration is one registration of the instance in a target
// group: an instance can be registered on several ports of one group.
type targetRegistration struct {
	TargetGroupARN string `json:"target_group_arn"`
	Port           int32  `json:"port"`
}

// deregisterIntent is what deregister_instance records before changing
// anything: what it is about to take the instance out of.
type deregisterIntent struct {
	InstanceID    string               `json:"instance_id"`
	Targets       []targetRegistration `json:"targets"`
	LoadBalancers []string             `json:"load_balancers"`
}

// registeredTargets lists the instance's registrations in ELBv2 target
// groups, with their ports, which DeregisterTargets needs. Targets that are
// already draining were deregistered (by us or someone else) and are left
// out, so a retry does not deregister them twice.
func registeredTargets(ctx context.Context, x *execution, instanceID string) (regs []targetRegistration, draining []string, err error) {
	pages := elbv2.NewDescribeTargetGroupsPaginator(x.aws.ELBv2, &elbv2.DescribeTargetGroupsInput{})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return nil, nil, classify("list target groups", "elasticloadbalancing:DescribeTargetGroups", err)
		}
		for _, tg := range page.TargetGroups {
			arn := aws.ToString(tg.TargetGroupArn)
			health, err := x.aws.ELBv2.DescribeTargetHealth(ctx, &elbv2.DescribeTargetHealthInput{TargetGroupArn: tg.TargetGroupArn})
			if err != nil {
				return nil, nil, classify("read targets of "+arn, "elasticloadbalancing:DescribeTargetHealth", err)
			}
			for _, d := range health.TargetHealthDescriptions {
				if d.Target == nil || aws.ToString(d.Target.Id) != instanceID {
					continue
				}
				if d.TargetHealth != nil && d.TargetHealth.State == elbv2types.TargetHealthStateEnumDraining {
					draining = append(draining, arn)
					continue
				}
				port := aws.ToInt32(d.Target.Port)
				if port == 0 {
					port = aws.ToInt32(tg.Port)
				}
				regs = append(regs, targetRegistration{TargetGroupARN: arn, Port: port})
			}
		}
	}
	sort.Slice(regs, func(i, j int) bool {
		if regs[i].TargetGroupARN != regs[j].TargetGroupARN {
			return regs[i].TargetGroupARN < regs[j].TargetGroupARN
		}
		return regs[i].Port < regs[j].Port
	})
	sort.Strings(draining)
	return regs, draining, nil
}

func deregisterInstance(ctx context.Context, x *execution) error {
	var p struct {
		InstanceID string `json:"instance_id"`
	}
	if err := x.decode(&p); err != nil {
		return err
	}
	regs, draining, err := registeredTargets(ctx, x, p.InstanceID)
	if err != nil {
		return err
	}
	lbs, err := registeredClassicELBs(ctx, x, p.InstanceID)
	if err != nil {
		return err
	}

	// What this step removed the instance from is what earlier attempts
	// removed plus what this one removes: the outputs are what a later
	// restore registers it in again, so a retry must not lose any of it.
	var prior deregisterIntent
	if !priorIntent(ctx, &prior) || prior.InstanceID != p.InstanceID {
		prior = deregisterIntent{}
	}
	groups := map[string]bool{}
	classic := map[string]bool{}
	for _, r := range prior.Targets {
		groups[r.TargetGroupARN] = true
	}
	for _, n := range prior.LoadBalancers {
		classic[n] = true
	}
	if len(prior.Targets)+len(prior.LoadBalancers) > 0 {
		x.note("an earlier attempt of this step already deregistered %s from %d target group(s) and %d classic load balancer(s)",
			p.InstanceID, len(prior.Targets), len(prior.LoadBalancers))
	}
	for _, arn := range draining {
		if !groups[arn] {
			x.note("%s is already draining from %s", p.InstanceID, arn)
		}
	}
	for _, r := range regs {
		groups[r.TargetGroupARN] = true
		x.change(r.TargetGroupARN, "target", fmt.Sprintf("%s:%d", p.InstanceID, r.Port), nil)
	}
	for _, n := range lbs {
		classic[n] = true
		x.change("loadbalancer/"+n, "instance", p.InstanceID, nil)
	}
	x.output("target_group_arns", sortedSet(groups))
	x.output("load_balancer_names", sortedSet(classic))
	if len(regs)+len(lbs) == 0 {
		if len(groups)+len(classic) == 0 {
			x.note("%s is registered with no load balancer: nothing to deregister", p.InstanceID)
		}
		return nil
	}
	if x.preview() {
		return nil
	}

	recordIntent(ctx, x, deregisterIntent{
		InstanceID:    p.InstanceID,
		Targets:       append(append([]targetRegistration(nil), prior.Targets...), regs...),
		LoadBalancers: append(append([]string(nil), prior.LoadBalancers...), lbs...),
	})
	for _, r := range regs {
		_, err := x.aws.ELBv2.DeregisterTargets(ctx, &elbv2.DeregisterTargetsInput{
			TargetGroupArn: aws.String(r.TargetGroupARN),
			Targets:        []elbv2types.TargetDescription{{Id: aws.String(p.InstanceID), Port: aws.Int32(r.Port)}},
		})
		if err != nil {
			return classify(fmt.Sprintf("deregister %s:%d from %s", p.InstanceID, r.Port, r.TargetGroupARN),
				"elasticloadbalancing:DeregisterTargets", err)
		}
	}
	for _, n := range lbs {
		_, err := x.aws.ELB.DeregisterInstancesFromLoadBalancer(ctx, &elb.DeregisterInstancesFromLoadBalancerInput{
			LoadBalancerName: aws.String(n),
			Instances:        []elbtypes.Instance{{InstanceId: aws.String(p.InstanceID)}},
		})
		if err != nil {
			return classify(fmt.Sprintf("deregister %s from classic load balancer %s", p.InstanceID, n),
				"elasticloadbalancing:DeregisterInstancesFromLoadBalancer", err)
		}
	}
	return nil
}
