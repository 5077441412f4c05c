package awsemu

import "slices"

// autoScalingProtectionOperations are the Auto Scaling calls about
// instance scale-in protection. They are listed apart from
// autoScalingOperations and must be registered with them (New).
func autoScalingProtectionOperations() []operation {
	return []operation{
		{service: ServiceAutoScaling, action: "SetInstanceProtection", mutating: true, handle: (*Emulator).setInstanceProtection},
	}
}

// setInstanceProtection implements SetInstanceProtection: it sets
// ProtectedFromScaleIn on members of the group; every instance named must
// be a member (AWS answers a ValidationError otherwise) and the flag is
// required. Setting the value an instance already has is accepted, as in
// AWS.
func (e *Emulator) setInstanceProtection(r *request) ([]node, *apiError) {
	g, ids, err := e.asgRequest(r)
	if err != nil {
		return nil, err
	}
	if len(ids) == 0 {
		return nil, errValidation("1 validation error detected: Value null at 'instanceIds' failed to satisfy constraint: Member must not be null")
	}
	if _, err := required(r, "ProtectedFromScaleIn"); err != nil {
		return nil, err
	}
	protect := r.p.boolean("ProtectedFromScaleIn")
	idx, err := e.memberIndex(g, ids, "")
	if err != nil {
		return nil, err
	}
	for _, i := range idx {
		g.Instances[i].ProtectedFromScaleIn = protect
	}
	return nil, nil
}

// InstanceProtectedFromScaleIn reports whether the instance is a member of
// an Auto Scaling group and protected from scale-in there.
func (e *Emulator) InstanceProtectedFromScaleIn(instanceID string) (group string, protected bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, name := range sortedKeys(e.w.asgs) {
		g := e.w.asgs[name]
		if i := slices.IndexFunc(g.Instances, func(a ASGInstance) bool { return a.InstanceID == instanceID }); i >= 0 {
			return g.Name, g.Instances[i].ProtectedFromScaleIn
		}
	}
	return "", false
}
