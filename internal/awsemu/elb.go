package awsemu

import (
	"net/http"
	"net/netip"
	"slices"
	"strconv"
)

func elbOperations() []operation {
	v2 := func(action string, mutating bool, h func(*Emulator, *request) ([]node, *apiError)) operation {
		return operation{service: ServiceELBv2, action: action, mutating: mutating, handle: h}
	}
	classic := func(action string, mutating bool, h func(*Emulator, *request) ([]node, *apiError)) operation {
		return operation{service: ServiceELB, action: action, mutating: mutating, handle: h}
	}
	return []operation{
		v2("DescribeTargetGroups", false, (*Emulator).describeTargetGroups),
		v2("DescribeTargetHealth", false, (*Emulator).describeTargetHealth),
		v2("RegisterTargets", true, (*Emulator).registerTargets),
		v2("DeregisterTargets", true, (*Emulator).deregisterTargets),
		classic("DescribeLoadBalancers", false, (*Emulator).describeLoadBalancers),
		classic("RegisterInstancesWithLoadBalancer", true, func(e *Emulator, r *request) ([]node, *apiError) { return e.setLoadBalancerInstances(r, true) }),
		classic("DeregisterInstancesFromLoadBalancer", true, func(e *Emulator, r *request) ([]node, *apiError) { return e.setLoadBalancerInstances(r, false) }),
	}
}

func (e *Emulator) targetGroup(r *request) (*TargetGroup, *apiError) {
	arn, err := required(r, "TargetGroupArn")
	if err != nil {
		return nil, err
	}
	tg, ok := e.w.targetGroups[arn]
	if !ok {
		return nil, clientErr(http.StatusBadRequest, "TargetGroupNotFound", "Target groups '%s' not found", arn)
	}
	return tg, nil
}

func (e *Emulator) describeTargetGroups(r *request) ([]node, *apiError) {
	arns := r.p.list("TargetGroupArns.member")
	names := r.p.list("Names.member")
	for _, arn := range arns {
		if _, ok := e.w.targetGroups[arn]; !ok {
			return nil, clientErr(http.StatusBadRequest, "TargetGroupNotFound", "Target groups '%s' not found", arn)
		}
	}
	var items []node
	for _, arn := range sortedKeys(e.w.targetGroups) {
		tg := e.w.targetGroups[arn]
		if (len(arns) > 0 && !slices.Contains(arns, arn)) || (len(names) > 0 && !slices.Contains(names, tg.Name)) {
			continue
		}
		items = append(items, member(
			leaf("TargetGroupArn", tg.ARN),
			leaf("TargetGroupName", tg.Name),
			leaf("Protocol", tg.Protocol),
			intLeaf("Port", tg.Port),
			leaf("VpcId", tg.VPCID),
			leaf("HealthCheckProtocol", tg.Protocol),
			leaf("HealthCheckPort", "traffic-port"),
			boolLeaf("HealthCheckEnabled", true),
			leaf("HealthCheckPath", "/status"),
			leaf("TargetType", tg.targetType()),
			members("LoadBalancerArns", nil),
		))
	}
	if len(names) > 0 && len(items) == 0 {
		return nil, clientErr(http.StatusBadRequest, "TargetGroupNotFound", "One or more target groups not found")
	}
	return []node{members("TargetGroups", items)}, nil
}

// targetType is the group's target type; groups made before the field
// existed are of type instance.
func (g *TargetGroup) targetType() string {
	if g.TargetType == "" {
		return "instance"
	}
	return g.TargetType
}

// instanceAt finds the instance one of whose interfaces has the private
// address ip in the VPC, as an ip target group reaches it.
func (e *Emulator) instanceAt(vpcID, ip string) (*Instance, bool) {
	for _, n := range e.w.enis {
		if n.PrivateIP == ip && n.VPCID == vpcID && n.InstanceID != "" {
			in, ok := e.w.instances[n.InstanceID]
			return in, ok
		}
	}
	for _, in := range e.w.instances {
		if in.PrivateIP == ip && in.VPCID == vpcID {
			return in, true
		}
	}
	return nil, false
}

// targetHealth derives health from the instance state, which is what a
// responder needs to see after stopping or isolating a target. An ip
// target's instance is the one holding the address in the group's VPC.
func (e *Emulator) targetHealth(tg *TargetGroup, t Target) node {
	registered := slices.ContainsFunc(tg.Targets, func(x Target) bool { return x.ID == t.ID })
	state, reason, desc := "healthy", "", ""
	in, exists := e.w.instances[t.ID]
	if tg.targetType() == "ip" {
		in, exists = e.instanceAt(tg.VPCID, t.ID)
	}
	switch {
	case !registered:
		state, reason, desc = "unused", "Target.NotRegistered", "Target is not registered to the target group"
	case !exists || in.State == StateTerminated:
		state, reason, desc = "unavailable", "Target.InvalidState", "Target is in the terminated state"
	case in.State != StateRunning:
		state, reason, desc = "unused", "Target.InvalidState", "Target is in the "+in.State+" state"
	}
	port := t.Port
	if port == 0 {
		port = tg.Port
	}
	return member(
		el("Target", leaf("Id", t.ID), intLeaf("Port", port)),
		leaf("HealthCheckPort", strconv.Itoa(port)),
		el("TargetHealth", leaf("State", state), opt("Reason", reason), opt("Description", desc)),
	)
}

func parseTargets(r *request) ([]Target, *apiError) {
	var out []Target
	for _, t := range r.p.structs("Targets.member") {
		port, _, err := t.integer("Port")
		if err != nil {
			return nil, err
		}
		out = append(out, Target{ID: t.get("Id"), Port: port})
	}
	return out, nil
}

func (e *Emulator) describeTargetHealth(r *request) ([]node, *apiError) {
	tg, err := e.targetGroup(r)
	if err != nil {
		return nil, err
	}
	targets, err := parseTargets(r)
	if err != nil {
		return nil, err
	}
	if len(targets) == 0 {
		targets = tg.Targets
	}
	var items []node
	for _, t := range targets {
		items = append(items, e.targetHealth(tg, t))
	}
	return []node{members("TargetHealthDescriptions", items)}, nil
}

func (e *Emulator) registerTargets(r *request) ([]node, *apiError) {
	tg, err := e.targetGroup(r)
	if err != nil {
		return nil, err
	}
	targets, err := parseTargets(r)
	if err != nil {
		return nil, err
	}
	if len(targets) == 0 {
		return nil, errValidation("1 validation error detected: Value null at 'targets' failed to satisfy constraint: Member must not be null")
	}
	for _, t := range targets {
		if tg.targetType() == "ip" {
			if _, err := netip.ParseAddr(t.ID); err != nil {
				return nil, clientErr(http.StatusBadRequest, "ValidationError", "The IP address '%s' is not a valid IPv4 address", t.ID)
			}
			continue
		}
		if in, ok := e.w.instances[t.ID]; !ok || in.State == StateTerminated {
			return nil, clientErr(http.StatusBadRequest, "InvalidTarget", "The following targets are not in a running state and cannot be registered: '%s'", t.ID)
		}
	}
	for _, t := range targets {
		if t.Port == 0 {
			t.Port = tg.Port
		}
		if !slices.Contains(tg.Targets, t) {
			tg.Targets = append(tg.Targets, t)
		}
	}
	return nil, nil
}

func (e *Emulator) deregisterTargets(r *request) ([]node, *apiError) {
	tg, err := e.targetGroup(r)
	if err != nil {
		return nil, err
	}
	targets, err := parseTargets(r)
	if err != nil {
		return nil, err
	}
	if len(targets) == 0 {
		return nil, errValidation("1 validation error detected: Value null at 'targets' failed to satisfy constraint: Member must not be null")
	}
	for _, t := range targets {
		tg.Targets = slices.DeleteFunc(tg.Targets, func(x Target) bool { return x.ID == t.ID && (t.Port == 0 || x.Port == t.Port) })
	}
	return nil, nil
}

func (e *Emulator) describeLoadBalancers(r *request) ([]node, *apiError) {
	names := r.p.list("LoadBalancerNames.member")
	for _, n := range names {
		if _, ok := e.w.loadBalancers[n]; !ok {
			return nil, clientErr(http.StatusBadRequest, "LoadBalancerNotFound", "There is no ACTIVE Load Balancer named '%s'", n)
		}
	}
	var items []node
	for _, name := range sortedKeys(e.w.loadBalancers) {
		lb := e.w.loadBalancers[name]
		if len(names) > 0 && !slices.Contains(names, name) {
			continue
		}
		var insts []node
		for _, id := range lb.Instances {
			insts = append(insts, member(leaf("InstanceId", id)))
		}
		var azs []string
		for _, s := range lb.SubnetIDs {
			if sub, ok := e.w.subnets[s]; ok {
				azs = append(azs, sub.AvailabilityZone)
			}
		}
		items = append(items, member(
			leaf("LoadBalancerName", lb.Name),
			leaf("DNSName", lb.DNSName),
			members("Instances", insts),
			memberStrings("AvailabilityZones", azs),
			memberStrings("Subnets", lb.SubnetIDs),
			opt("VPCId", lb.VPCID),
			timeLeaf("CreatedTime", lb.CreatedTime),
			leaf("Scheme", "internet-facing"),
			members("ListenerDescriptions", []node{member(el("Listener",
				leaf("Protocol", "HTTP"), intLeaf("LoadBalancerPort", 80), leaf("InstanceProtocol", "HTTP"), intLeaf("InstancePort", 8090)))}),
		))
	}
	return []node{members("LoadBalancerDescriptions", items)}, nil
}

func (e *Emulator) setLoadBalancerInstances(r *request, register bool) ([]node, *apiError) {
	name, err := required(r, "LoadBalancerName")
	if err != nil {
		return nil, err
	}
	lb, ok := e.w.loadBalancers[name]
	if !ok {
		return nil, clientErr(http.StatusBadRequest, "LoadBalancerNotFound", "There is no ACTIVE Load Balancer named '%s'", name)
	}
	var ids []string
	for _, s := range r.p.structs("Instances.member") {
		id := s.get("InstanceId")
		if _, ok := e.w.instances[id]; !ok {
			return nil, clientErr(http.StatusBadRequest, "InvalidInstance", "Could not find EC2 instance %s.", id)
		}
		ids = append(ids, id)
	}
	for _, id := range ids {
		has := slices.Contains(lb.Instances, id)
		switch {
		case register && !has:
			lb.Instances = append(lb.Instances, id)
		case !register && has:
			lb.Instances = slices.DeleteFunc(lb.Instances, func(x string) bool { return x == id })
		}
	}
	var insts []node
	for _, id := range lb.Instances {
		insts = append(insts, member(leaf("InstanceId", id)))
	}
	return []node{members("Instances", insts)}, nil
}
