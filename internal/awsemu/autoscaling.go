package awsemu

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
)

func autoScalingOperations() []operation {
	op := func(action string, mutating bool, h func(*Emulator, *request) ([]node, *apiError)) operation {
		return operation{service: ServiceAutoScaling, action: action, mutating: mutating, handle: h}
	}
	return []operation{
		op("DescribeAutoScalingInstances", false, (*Emulator).describeAutoScalingInstances),
		op("DescribeAutoScalingGroups", false, (*Emulator).describeAutoScalingGroups),
		op("DetachInstances", true, (*Emulator).detachInstances),
		op("EnterStandby", true, (*Emulator).enterStandby),
		op("ExitStandby", true, (*Emulator).exitStandby),
		op("AttachInstances", true, (*Emulator).attachInstances),
		op("UpdateAutoScalingGroup", true, (*Emulator).updateAutoScalingGroup),
	}
}

func (e *Emulator) asgInstanceFields(g *AutoScalingGroup, a ASGInstance, withGroup bool) []node {
	az, typ := "", ""
	if in, ok := e.w.instances[a.InstanceID]; ok {
		az, typ = in.AvailabilityZone, in.InstanceType
	}
	out := []node{
		leaf("InstanceId", a.InstanceID),
		leaf("InstanceType", typ),
		leaf("AvailabilityZone", az),
		leaf("LifecycleState", a.LifecycleState),
		leaf("HealthStatus", a.HealthStatus),
		boolLeaf("ProtectedFromScaleIn", a.ProtectedFromScaleIn),
	}
	if withGroup {
		out = append(out, leaf("AutoScalingGroupName", g.Name))
	}
	return out
}

func (e *Emulator) describeAutoScalingInstances(r *request) ([]node, *apiError) {
	ids := r.p.list("InstanceIds.member")
	var items []node
	for _, name := range sortedKeys(e.w.asgs) {
		g := e.w.asgs[name]
		for _, a := range g.Instances {
			if len(ids) > 0 && !slices.Contains(ids, a.InstanceID) {
				continue
			}
			items = append(items, member(e.asgInstanceFields(g, a, true)...))
		}
	}
	return []node{members("AutoScalingInstances", items)}, nil
}

func (e *Emulator) describeAutoScalingGroups(r *request) ([]node, *apiError) {
	names := r.p.list("AutoScalingGroupNames.member")
	var items []node
	for _, name := range sortedKeys(e.w.asgs) {
		if len(names) > 0 && !slices.Contains(names, name) {
			continue
		}
		g := e.w.asgs[name]
		var insts, tags []node
		for _, a := range g.Instances {
			insts = append(insts, member(e.asgInstanceFields(g, a, false)...))
		}
		for _, k := range sortedKeys(g.Tags) {
			tags = append(tags, member(leaf("ResourceId", g.Name), leaf("ResourceType", "auto-scaling-group"),
				leaf("Key", k), leaf("Value", g.Tags[k]), boolLeaf("PropagateAtLaunch", true)))
		}
		items = append(items, member(
			leaf("AutoScalingGroupName", g.Name),
			leaf("AutoScalingGroupARN", g.ARN),
			intLeaf("MinSize", g.MinSize),
			intLeaf("MaxSize", g.MaxSize),
			intLeaf("DesiredCapacity", g.DesiredCapacity),
			intLeaf("DefaultCooldown", 300),
			memberStrings("AvailabilityZones", g.AvailabilityZones),
			memberStrings("LoadBalancerNames", g.LoadBalancerNames),
			memberStrings("TargetGroupARNs", g.TargetGroupARNs),
			leaf("HealthCheckType", "EC2"),
			intLeaf("HealthCheckGracePeriod", 300),
			members("Instances", insts),
			timeLeaf("CreatedTime", g.CreatedTime),
			leaf("VPCZoneIdentifier", strings.Join(g.SubnetIDs, ",")),
			members("Tags", tags),
		))
	}
	return []node{members("AutoScalingGroups", items)}, nil
}

// asgRequest resolves the group and instance ids common to the membership calls.
func (e *Emulator) asgRequest(r *request) (*AutoScalingGroup, []string, *apiError) {
	name, err := required(r, "AutoScalingGroupName")
	if err != nil {
		return nil, nil, err
	}
	g, ok := e.w.asgs[name]
	if !ok {
		return nil, nil, errValidation("AutoScalingGroup name not found - AutoScalingGroup %s not found", name)
	}
	return g, r.p.list("InstanceIds.member"), nil
}

func (e *Emulator) memberIndex(g *AutoScalingGroup, ids []string, wantState string) ([]int, *apiError) {
	var idx []int
	for _, id := range ids {
		i := slices.IndexFunc(g.Instances, func(a ASGInstance) bool { return a.InstanceID == id })
		if i < 0 {
			return nil, errValidation("The instance %s is not part of Auto Scaling group %s.", id, g.Name)
		}
		if wantState != "" && g.Instances[i].LifecycleState != wantState {
			return nil, errValidation("The instance %s is not in %s.", id, wantState)
		}
		idx = append(idx, i)
	}
	return idx, nil
}

func (e *Emulator) activities(g *AutoScalingGroup, r *request, ids []string, verb string) node {
	var items []node
	for _, id := range ids {
		items = append(items, member(
			leaf("ActivityId", e.newUUID()),
			leaf("AutoScalingGroupName", g.Name),
			leaf("Description", fmt.Sprintf("%s EC2 instance: %s", verb, id)),
			leaf("Cause", fmt.Sprintf("At %s instance %s was %s in response to a user request.", awsTime(r.now), id, strings.ToLower(verb))),
			timeLeaf("StartTime", r.now),
			leaf("StatusCode", "InProgress"),
			intLeaf("Progress", 50),
			leaf("Details", "{}"),
		))
	}
	return members("Activities", items)
}

// setTargets registers or deregisters instances in the group's target
// groups, as Auto Scaling does when membership or standby changes.
func (e *Emulator) setTargets(g *AutoScalingGroup, ids []string, registered bool) {
	for _, arn := range g.TargetGroupARNs {
		tg, ok := e.w.targetGroups[arn]
		if !ok || tg.targetType() != "instance" {
			// Auto Scaling registers instances by id only.
			continue
		}
		for _, id := range ids {
			has := slices.ContainsFunc(tg.Targets, func(t Target) bool { return t.ID == id })
			switch {
			case registered && !has:
				tg.Targets = append(tg.Targets, Target{ID: id, Port: tg.Port})
			case !registered && has:
				tg.Targets = slices.DeleteFunc(tg.Targets, func(t Target) bool { return t.ID == id })
			}
		}
	}
}

func decrement(r *request) (bool, *apiError) {
	if !r.p.has("ShouldDecrementDesiredCapacity") {
		return false, errValidation("1 validation error detected: Value null at 'shouldDecrementDesiredCapacity' failed to satisfy constraint: Member must not be null")
	}
	return r.p.boolean("ShouldDecrementDesiredCapacity"), nil
}

func (e *Emulator) detachInstances(r *request) ([]node, *apiError) {
	g, ids, err := e.asgRequest(r)
	if err != nil {
		return nil, err
	}
	dec, err := decrement(r)
	if err != nil {
		return nil, err
	}
	idx, err := e.memberIndex(g, ids, "")
	if err != nil {
		return nil, err
	}
	// Only InService and Standby instances can be detached (AWS answers
	// "The instance i-... is not in InService or Standby." otherwise).
	for _, i := range idx {
		if st := g.Instances[i].LifecycleState; st != "InService" && st != "Standby" {
			return nil, errValidation("The instance %s is not in InService or Standby.", g.Instances[i].InstanceID)
		}
	}
	// The User Guide: "If the number of instances that you are detaching
	// will bring the Auto Scaling group below its minimum capacity, you must
	// decrement the minimum capacity." The message is the one AWS sends.
	if dec && g.DesiredCapacity-len(ids) < g.MinSize {
		return nil, errValidation("AutoScalingGroup %s has min-size=%d, max-size=%d, and desired-size=%d. To detach %d instance, please update the AutoScalingGroup sizes appropriately.",
			g.Name, g.MinSize, g.MaxSize, g.DesiredCapacity, len(ids))
	}
	g.Instances = slices.DeleteFunc(g.Instances, func(a ASGInstance) bool { return slices.Contains(ids, a.InstanceID) })
	if dec {
		g.DesiredCapacity -= len(ids)
	}
	e.setTargets(g, ids, false)
	return []node{e.activities(g, r, ids, "Detaching")}, nil
}

func (e *Emulator) enterStandby(r *request) ([]node, *apiError) {
	g, ids, err := e.asgRequest(r)
	if err != nil {
		return nil, err
	}
	dec, err := decrement(r)
	if err != nil {
		return nil, err
	}
	idx, err := e.memberIndex(g, ids, "InService")
	if err != nil {
		return nil, err
	}
	// EnterStandby: "the instances can enter standby as long as the desired
	// capacity of the Auto Scaling group after the instances are placed into
	// standby is equal to or greater than the minimum capacity of the
	// group." The wording is modelled on DetachInstances' message.
	if dec && g.DesiredCapacity-len(ids) < g.MinSize {
		return nil, errValidation("AutoScalingGroup %s has min-size=%d, max-size=%d, and desired-size=%d. To put %d instance into Standby, please update the AutoScalingGroup sizes appropriately.",
			g.Name, g.MinSize, g.MaxSize, g.DesiredCapacity, len(ids))
	}
	for _, i := range idx {
		g.Instances[i].LifecycleState = "Standby"
	}
	if dec {
		g.DesiredCapacity -= len(ids)
	}
	e.setTargets(g, ids, false)
	return []node{e.activities(g, r, ids, "Moving to standby")}, nil
}

func (e *Emulator) exitStandby(r *request) ([]node, *apiError) {
	g, ids, err := e.asgRequest(r)
	if err != nil {
		return nil, err
	}
	idx, err := e.memberIndex(g, ids, "Standby")
	if err != nil {
		return nil, err
	}
	if g.DesiredCapacity+len(ids) > g.MaxSize {
		return nil, errValidation("Exiting standby would put group %s above its maximum size %d.", g.Name, g.MaxSize)
	}
	for _, i := range idx {
		g.Instances[i].LifecycleState = "InService"
	}
	g.DesiredCapacity += len(ids)
	e.setTargets(g, ids, true)
	return []node{e.activities(g, r, ids, "Moving out of standby")}, nil
}

func (e *Emulator) attachInstances(r *request) ([]node, *apiError) {
	g, ids, err := e.asgRequest(r)
	if err != nil {
		return nil, err
	}
	var fresh []string
	for _, id := range ids {
		in, ok := e.w.instances[id]
		if !ok || in.State != StateRunning {
			return nil, errValidation("Instance %s is not in correct state (must be running) to be attached.", id)
		}
		for _, other := range e.w.asgs {
			if other != g && slices.ContainsFunc(other.Instances, func(a ASGInstance) bool { return a.InstanceID == id }) {
				return nil, errValidation("The instance %s is already part of Auto Scaling group %s.", id, other.Name)
			}
		}
		if !slices.ContainsFunc(g.Instances, func(a ASGInstance) bool { return a.InstanceID == id }) {
			fresh = append(fresh, id)
		}
	}
	if g.DesiredCapacity+len(fresh) > g.MaxSize {
		return nil, clientErr(http.StatusBadRequest, "ValidationError",
			"Attaching %d instance(s) would exceed the maximum size %d of group %s.", len(fresh), g.MaxSize, g.Name)
	}
	for _, id := range fresh {
		g.Instances = append(g.Instances, ASGInstance{InstanceID: id, LifecycleState: "InService", HealthStatus: "Healthy"})
	}
	g.DesiredCapacity += len(fresh)
	e.setTargets(g, fresh, true)
	return nil, nil
}

// updateAutoScalingGroup changes the group's sizes (the only settings the
// emulator models). As in AWS, a new MinSize above the current desired
// capacity raises it, a new MaxSize below it lowers it, and an explicit
// DesiredCapacity must lie between the resulting bounds.
func (e *Emulator) updateAutoScalingGroup(r *request) ([]node, *apiError) {
	name, err := required(r, "AutoScalingGroupName")
	if err != nil {
		return nil, err
	}
	g, ok := e.w.asgs[name]
	if !ok {
		return nil, errValidation("AutoScalingGroup name not found - null")
	}
	minSize, hasMin, err := r.p.integer("MinSize")
	if err != nil {
		return nil, err
	}
	maxSize, hasMax, err := r.p.integer("MaxSize")
	if err != nil {
		return nil, err
	}
	desired, hasDesired, err := r.p.integer("DesiredCapacity")
	if err != nil {
		return nil, err
	}
	if !hasMin {
		minSize = g.MinSize
	}
	if !hasMax {
		maxSize = g.MaxSize
	}
	if minSize < 0 || maxSize < 0 || minSize > maxSize {
		return nil, errValidation("Max bound, %d, must be greater than or equal to min bound, %d", maxSize, minSize)
	}
	if !hasDesired {
		desired = min(max(g.DesiredCapacity, minSize), maxSize)
	}
	if desired < minSize || desired > maxSize {
		return nil, errValidation("Desired capacity:%d must be between the specified min size:%d and max size:%d", desired, minSize, maxSize)
	}
	g.MinSize, g.MaxSize, g.DesiredCapacity = minSize, maxSize, desired
	return nil, nil
}
