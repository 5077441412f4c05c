package actions

import (
	"context"
	"fmt"
	"slices"
	"sort"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
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
// group: an instance can be registered on several ports of one group, and
// in a group of target type ip by each of its IP addresses.
type targetRegistration struct {
	TargetGroupARN string `json:"target_group_arn"`
	// ID is the target's id: the instance id, or one of its IP addresses
	// in a group of target type ip. Empty (records of older versions)
	// means the instance id.
	ID   string `json:"id,omitempty"`
	Port int32  `json:"port"`
}

// deregisterIntent is what deregister_instance records before changing
// anything: what it is about to take the instance out of.
type deregisterIntent struct {
	InstanceID    string               `json:"instance_id"`
	Targets       []targetRegistration `json:"targets"`
	LoadBalancers []string             `json:"load_balancers"`
}

// instanceAddresses are what identifies an instance to target groups:
// its VPC and its private IPv4 and IPv6 addresses on every interface.
type instanceAddresses struct {
	known bool // false when EC2 was not asked, or does not know the instance
	vpcID string
	ips   map[string]bool
}

func describeInstanceAddresses(ctx context.Context, x *execution, instanceID string) (instanceAddresses, error) {
	out, err := x.aws.EC2.DescribeInstances(ctx, &ec2.DescribeInstancesInput{InstanceIds: []string{instanceID}})
	if isCode(err, "InvalidInstanceID.NotFound") {
		// An instance EC2 does not know has no address; whether some
		// group still lists its id is for the group to say.
		return instanceAddresses{}, nil
	}
	if err != nil {
		return instanceAddresses{}, classify("read the VPC and addresses of "+instanceID, "ec2:DescribeInstances", err)
	}
	addrs := instanceAddresses{ips: map[string]bool{}}
	add := func(ip *string) {
		if v := aws.ToString(ip); v != "" {
			addrs.ips[v] = true
		}
	}
	for _, r := range out.Reservations {
		for _, in := range r.Instances {
			if aws.ToString(in.InstanceId) != instanceID {
				continue
			}
			addrs.known, addrs.vpcID = true, aws.ToString(in.VpcId)
			add(in.PrivateIpAddress)
			add(in.Ipv6Address)
			for _, n := range in.NetworkInterfaces {
				add(n.PrivateIpAddress)
				for _, a := range n.PrivateIpAddresses {
					add(a.PrivateIpAddress)
				}
				for _, a := range n.Ipv6Addresses {
					add(a.Ipv6Address)
				}
			}
		}
	}
	return addrs, nil
}

// registeredTargets lists the instance's registrations in ELBv2 target
// groups, with their ports, which DeregisterTargets needs. Targets that are
// already draining were deregistered (by us or someone else) and are left
// out, so a retry does not deregister them twice.
//
// AWS has no "target groups of an instance" call: DescribeTargetHealth
// answers for one group at a time, so the cost is one call per group
// looked at. DescribeTargetGroups (one page for most accounts) gives every
// group's VPC and target type, which narrows the search for free:
//   - groups of target type lambda or alb cannot hold an instance;
//   - a group of type instance only holds instances of its own VPC (AWS
//     refuses others as InvalidTarget);
//   - a group of type ip holds the instance by its private addresses.
//     Those are unique only within a VPC, so only the groups of the
//     instance's VPC are searched: an address registered in another VPC's
//     group (a peered VPC, AvailabilityZone "all") may be another host's,
//     and deregistering an innocent host is worse than leaving one path
//     for a responder to close by hand.
//
// The instance's VPC and addresses cost one ec2:DescribeInstances call,
// made only when it can pay: when some group is of type ip (the addresses
// are needed) or the groups span several VPCs (then at least one group is
// in another VPC and its DescribeTargetHealth is saved). An account whose
// groups are all of type instance in one VPC is searched as before,
// without it. The Auto Scaling group's TargetGroupARNs would not do: the
// instance may be registered by hand in groups of no Auto Scaling group,
// which is what this step is for.
func registeredTargets(ctx context.Context, x *execution, instanceID string) (regs []targetRegistration, draining []string, err error) {
	var groups []elbv2types.TargetGroup
	vpcs := map[string]bool{}
	hasIP := false
	pages := elbv2.NewDescribeTargetGroupsPaginator(x.aws.ELBv2, &elbv2.DescribeTargetGroupsInput{})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return nil, nil, classify("list target groups", "elasticloadbalancing:DescribeTargetGroups", err)
		}
		for _, tg := range page.TargetGroups {
			switch tg.TargetType {
			case elbv2types.TargetTypeEnumIp:
				hasIP = true
			case elbv2types.TargetTypeEnumInstance, "":
			default:
				continue
			}
			groups = append(groups, tg)
			vpcs[aws.ToString(tg.VpcId)] = true
		}
	}
	var addrs instanceAddresses
	if hasIP || len(vpcs) > 1 {
		if addrs, err = describeInstanceAddresses(ctx, x, instanceID); err != nil {
			return nil, nil, err
		}
	}
	for _, tg := range groups {
		arn, ip := aws.ToString(tg.TargetGroupArn), tg.TargetType == elbv2types.TargetTypeEnumIp
		if ip && (!addrs.known || len(addrs.ips) == 0) || addrs.known && aws.ToString(tg.VpcId) != addrs.vpcID {
			continue
		}
		health, err := x.aws.ELBv2.DescribeTargetHealth(ctx, &elbv2.DescribeTargetHealthInput{TargetGroupArn: tg.TargetGroupArn})
		if err != nil {
			return nil, nil, classify("read targets of "+arn, "elasticloadbalancing:DescribeTargetHealth", err)
		}
		for _, d := range health.TargetHealthDescriptions {
			if d.Target == nil {
				continue
			}
			id := aws.ToString(d.Target.Id)
			if ip && !addrs.ips[id] || !ip && id != instanceID {
				continue
			}
			if d.TargetHealth != nil && d.TargetHealth.State == elbv2types.TargetHealthStateEnumDraining {
				if !slices.Contains(draining, arn) {
					draining = append(draining, arn)
				}
				continue
			}
			port := aws.ToInt32(d.Target.Port)
			if port == 0 {
				port = aws.ToInt32(tg.Port)
			}
			regs = append(regs, targetRegistration{TargetGroupARN: arn, ID: id, Port: port})
		}
	}
	sort.Slice(regs, func(i, j int) bool {
		if regs[i].TargetGroupARN != regs[j].TargetGroupARN {
			return regs[i].TargetGroupARN < regs[j].TargetGroupARN
		}
		if regs[i].ID != regs[j].ID {
			return regs[i].ID < regs[j].ID
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
		x.change(r.TargetGroupARN, "target", fmt.Sprintf("%s:%d", r.ID, r.Port), nil)
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
			Targets:        []elbv2types.TargetDescription{{Id: aws.String(r.ID), Port: aws.Int32(r.Port)}},
		})
		if err != nil {
			return classify(fmt.Sprintf("deregister %s:%d from %s", r.ID, r.Port, r.TargetGroupARN),
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
