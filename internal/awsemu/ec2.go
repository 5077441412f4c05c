package awsemu

import (
	"cmp"
	"encoding/base64"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

func ec2Operations() []operation {
	op := func(action string, mutating bool, h func(*Emulator, *request) ([]node, *apiError)) operation {
		return operation{service: ServiceEC2, action: action, mutating: mutating, handle: h}
	}
	return append([]operation{
		op("DescribeInstances", false, (*Emulator).describeInstances),
		op("DescribeVolumes", false, (*Emulator).describeVolumes),
		op("DescribeNetworkInterfaces", false, (*Emulator).describeNetworkInterfaces),
		op("DescribeSecurityGroups", false, (*Emulator).describeSecurityGroups),
		op("DescribeInstanceAttribute", false, (*Emulator).describeInstanceAttribute),
		op("DescribeTags", false, (*Emulator).describeTags),
		op("DescribeSnapshots", false, (*Emulator).describeSnapshots),
		op("DescribeIamInstanceProfileAssociations", false, (*Emulator).describeProfileAssociations),
		op("DescribeVpcs", false, (*Emulator).describeVpcs),
		op("DescribeSubnets", false, (*Emulator).describeSubnets),
		op("GetConsoleOutput", false, (*Emulator).getConsoleOutput),
		op("DescribeInstanceTypes", false, (*Emulator).describeInstanceTypes),
		op("DescribeLockedSnapshots", false, (*Emulator).describeLockedSnapshots),
		op("DescribeSnapshotAttribute", false, (*Emulator).describeSnapshotAttribute),
		op("CreateSecurityGroup", true, (*Emulator).createSecurityGroup),
		op("AuthorizeSecurityGroupIngress", true, func(e *Emulator, r *request) ([]node, *apiError) { return e.authorizeSecurityGroup(r, true) }),
		op("AuthorizeSecurityGroupEgress", true, func(e *Emulator, r *request) ([]node, *apiError) { return e.authorizeSecurityGroup(r, false) }),
		op("RevokeSecurityGroupEgress", true, func(e *Emulator, r *request) ([]node, *apiError) { return e.revokeSecurityGroup(r, false) }),
		op("RevokeSecurityGroupIngress", true, func(e *Emulator, r *request) ([]node, *apiError) { return e.revokeSecurityGroup(r, true) }),
		op("ModifyNetworkInterfaceAttribute", true, (*Emulator).modifyNetworkInterfaceAttribute),
		op("ModifyInstanceAttribute", true, (*Emulator).modifyInstanceAttribute),
		op("CreateTags", true, (*Emulator).createTags),
		op("DeleteTags", true, (*Emulator).deleteTags),
		op("CreateSnapshots", true, (*Emulator).createSnapshots),
		op("CreateSnapshot", true, (*Emulator).createSnapshot),
		op("LockSnapshot", true, (*Emulator).lockSnapshot),
		op("DeleteSnapshot", true, (*Emulator).deleteSnapshot),
		op("CopySnapshot", true, (*Emulator).copySnapshot),
		op("ModifySnapshotAttribute", true, (*Emulator).modifySnapshotAttribute),
		op("ModifyInstanceMetadataOptions", true, (*Emulator).modifyInstanceMetadataOptions),
		op("DisassociateIamInstanceProfile", true, (*Emulator).disassociateIamInstanceProfile),
		op("StopInstances", true, (*Emulator).stopInstances),
		op("StartInstances", true, (*Emulator).startInstances),
		op("TerminateInstances", true, (*Emulator).terminateInstances),
	}, ec2NetworkOperations()...)
}

// ---- lookups -------------------------------------------------------------

func notFound(code, format string, args ...any) *apiError {
	return clientErr(http.StatusBadRequest, code, format, args...)
}

func (e *Emulator) instance(id string) (*Instance, *apiError) {
	if id == "" {
		return nil, errMissingParameter("InstanceId")
	}
	if !strings.HasPrefix(id, "i-") {
		return nil, notFound("InvalidInstanceID.Malformed", "Invalid id: %q", id)
	}
	in, ok := e.w.instances[id]
	if !ok {
		return nil, notFound("InvalidInstanceID.NotFound", "The instance ID '%s' does not exist", id)
	}
	return in, nil
}

func (e *Emulator) instancesByID(ids []string) ([]*Instance, *apiError) {
	if len(ids) == 0 {
		return nil, errMissingParameter("InstanceId")
	}
	out := make([]*Instance, 0, len(ids))
	for _, id := range ids {
		in, err := e.instance(id)
		if err != nil {
			return nil, err
		}
		out = append(out, in)
	}
	return out, nil
}

func (e *Emulator) group(id string) (*SecurityGroup, *apiError) {
	g, ok := e.w.groups[id]
	if !ok || e.notYetVisible(id) {
		return nil, notFound("InvalidGroup.NotFound", "The security group '%s' does not exist", id)
	}
	return g, nil
}

// primaryENI is where an instance's security groups live.
func (e *Emulator) primaryENI(in *Instance) *NetworkInterface {
	if len(in.NetworkInterfaceIDs) == 0 {
		return nil
	}
	return e.w.enis[in.NetworkInterfaceIDs[0]]
}

func (e *Emulator) instanceGroupIDs(in *Instance) []string {
	if eni := e.primaryENI(in); eni != nil {
		return eni.SecurityGroupIDs
	}
	return nil
}

// ---- filters and paging --------------------------------------------------

// fields answers the values a resource has for an EC2 filter name; known is
// false for filter names the emulator does not support for that resource.
type fields func(name string) (values []string, known bool)

func tagField(tags map[string]string, name string) ([]string, bool) {
	switch {
	case strings.HasPrefix(name, "tag:"):
		if v, ok := tags[strings.TrimPrefix(name, "tag:")]; ok {
			return []string{v}, true
		}
		return nil, true
	case name == "tag-key":
		return sortedKeys(tags), true
	case name == "tag-value":
		var vs []string
		for _, k := range sortedKeys(tags) {
			vs = append(vs, tags[k])
		}
		return vs, true
	}
	return nil, false
}

func matchFilters(fs []filter, tags map[string]string, f fields) (bool, *apiError) {
	for _, flt := range fs {
		vals, known := tagField(tags, flt.name)
		if !known {
			vals, known = f(flt.name)
		}
		if !known {
			return false, errInvalidParameter("The filter '%s' is invalid", flt.name)
		}
		if !anyGlob(flt.values, vals) {
			return false, nil
		}
	}
	return true, nil
}

func anyGlob(patterns, values []string) bool {
	for _, p := range patterns {
		for _, v := range values {
			if globMatch(p, v) {
				return true
			}
		}
	}
	return false
}

func one(s string) []string { return []string{s} }

// paginate applies MaxResults/NextToken to n results.
func paginate(p params, n int) (start, end int, next string, aerr *apiError) {
	if tok := p.get("NextToken"); tok != "" {
		v, err := strconv.Atoi(strings.TrimPrefix(tok, "emu-"))
		if err != nil || !strings.HasPrefix(tok, "emu-") || v < 0 {
			return 0, 0, "", errInvalidParameter("Invalid value '%s' for nextToken", tok)
		}
		start = min(v, n)
	}
	limit, ok, aerr := p.integer("MaxResults")
	if aerr != nil {
		return 0, 0, "", aerr
	}
	if !ok {
		return start, n, "", nil
	}
	if limit < 5 || limit > 1000 {
		return 0, 0, "", errInvalidParameter("Value ( %d ) for parameter maxResults is invalid. Expecting a value between 5 and 1000.", limit)
	}
	end = min(n, start+limit)
	if end < n {
		next = "emu-" + strconv.Itoa(end)
	}
	return start, end, next, nil
}

// ---- instances -----------------------------------------------------------

func (e *Emulator) instanceFields(in *Instance) fields {
	return func(name string) ([]string, bool) {
		switch name {
		case "instance-id":
			return one(in.ID), true
		case "instance-state-name":
			return one(in.State), true
		case "instance-state-code":
			return one(strconv.Itoa(stateCode(in.State))), true
		case "image-id":
			return one(in.ImageID), true
		case "instance-type":
			return one(in.InstanceType), true
		case "vpc-id":
			return one(in.VPCID), true
		case "subnet-id":
			return one(in.SubnetID), true
		case "availability-zone":
			return one(in.AvailabilityZone), true
		case "private-ip-address":
			return one(in.PrivateIP), true
		case "reservation-id":
			return one(in.ReservationID), true
		case "network-interface.network-interface-id":
			return in.NetworkInterfaceIDs, true
		case "instance.group-id", "group-id":
			return e.instanceGroupIDs(in), true
		case "iam-instance-profile.arn":
			return one(in.InstanceProfileARN), true
		case "block-device-mapping.volume-id":
			var ids []string
			for _, bd := range in.BlockDevices {
				ids = append(ids, bd.VolumeID)
			}
			return ids, true
		}
		return nil, false
	}
}

func (e *Emulator) describeInstances(r *request) ([]node, *apiError) {
	ids := r.p.list("InstanceId")
	if len(ids) > 0 && r.p.has("MaxResults") {
		return nil, clientErr(http.StatusBadRequest, "InvalidParameterCombination",
			"The parameter instancesSet cannot be used with the parameter maxResults")
	}
	want := map[string]bool{}
	for _, id := range ids {
		if _, err := e.instance(id); err != nil {
			return nil, err
		}
		want[id] = true
	}
	fs := r.p.filters()
	var matched []*Instance
	for _, id := range e.w.instanceOrder {
		in := e.w.instances[id]
		if len(want) > 0 && !want[id] {
			continue
		}
		ok, err := matchFilters(fs, in.Tags, e.instanceFields(in))
		if err != nil {
			return nil, err
		}
		if ok {
			matched = append(matched, in)
		}
	}
	start, end, next, err := paginate(r.p, len(matched))
	if err != nil {
		return nil, err
	}
	var reservations []node
	page := matched[start:end]
	for i := 0; i < len(page); {
		j := i
		var insts []node
		for j < len(page) && page[j].ReservationID == page[i].ReservationID {
			insts = append(insts, e.renderInstance(page[j]))
			j++
		}
		reservations = append(reservations, item(
			leaf("reservationId", page[i].ReservationID),
			leaf("ownerId", e.w.account),
			set("groupSet", nil),
			set("instancesSet", insts),
		))
		i = j
	}
	return []node{set("reservationSet", reservations), opt("nextToken", next)}, nil
}

func stateNode(name, state string) node {
	return el(name, intLeaf("code", stateCode(state)), leaf("name", state))
}

func (e *Emulator) groupSet(ids []string) node {
	items := make([]node, 0, len(ids))
	for _, id := range ids {
		name := ""
		if g, ok := e.w.groups[id]; ok {
			name = g.Name
		}
		items = append(items, item(leaf("groupId", id), leaf("groupName", name)))
	}
	return set("groupSet", items)
}

func (e *Emulator) blockDeviceSet(in *Instance) node {
	var items []node
	for _, bd := range in.BlockDevices {
		v, ok := e.w.volumes[bd.VolumeID]
		if !ok {
			continue
		}
		items = append(items, item(
			leaf("deviceName", bd.DeviceName),
			el("ebs",
				leaf("volumeId", v.ID),
				leaf("status", "attached"),
				timeLeaf("attachTime", v.AttachTime),
				boolLeaf("deleteOnTermination", v.DeleteOnTermination),
			),
		))
	}
	return set("blockDeviceMapping", items)
}

func (e *Emulator) profileNode(name, arn string) node {
	if arn == "" {
		return node{omit: true}
	}
	id := ""
	for _, p := range e.w.profiles {
		if p.ARN == arn {
			id = p.ID
		}
	}
	return el(name, leaf("arn", arn), opt("id", id))
}

func (e *Emulator) renderInstance(in *Instance) node {
	var enis []node
	for _, id := range in.NetworkInterfaceIDs {
		n, ok := e.w.enis[id]
		if !ok {
			continue
		}
		enis = append(enis, item(
			leaf("networkInterfaceId", n.ID),
			leaf("subnetId", n.SubnetID),
			leaf("vpcId", n.VPCID),
			leaf("description", n.Description),
			leaf("ownerId", e.w.account),
			leaf("status", n.Status),
			leaf("macAddress", n.MACAddress),
			leaf("privateIpAddress", n.PrivateIP),
			boolLeaf("sourceDestCheck", true),
			e.groupSet(n.SecurityGroupIDs),
			el("attachment",
				leaf("attachmentId", n.AttachmentID),
				intLeaf("deviceIndex", n.DeviceIndex),
				leaf("status", "attached"),
				timeLeaf("attachTime", n.AttachTime),
				boolLeaf("deleteOnTermination", n.DeleteOnTermination),
				intLeaf("networkCardIndex", 0),
			),
			leaf("interfaceType", "interface"),
		))
	}
	privateDNS := ""
	if in.PrivateIP != "" {
		privateDNS = "ip-" + strings.ReplaceAll(in.PrivateIP, ".", "-") + ".ec2.internal"
	}
	return item(
		leaf("instanceId", in.ID),
		leaf("imageId", in.ImageID),
		stateNode("instanceState", in.State),
		leaf("privateDnsName", privateDNS),
		leaf("dnsName", ""),
		intLeaf("amiLaunchIndex", 0),
		leaf("instanceType", in.InstanceType),
		timeLeaf("launchTime", in.LaunchTime),
		el("placement", leaf("availabilityZone", in.AvailabilityZone), leaf("tenancy", "default")),
		el("monitoring", leaf("state", "disabled")),
		opt("subnetId", in.SubnetID),
		opt("vpcId", in.VPCID),
		opt("privateIpAddress", in.PrivateIP),
		boolLeaf("sourceDestCheck", true),
		e.groupSet(e.instanceGroupIDs(in)),
		leaf("architecture", "x86_64"),
		leaf("rootDeviceType", rootDeviceType(in)),
		leaf("rootDeviceName", in.RootDeviceName),
		opt("instanceLifecycle", in.InstanceLifecycle),
		el("hibernationOptions", boolLeaf("configured", in.HibernationConfigured)),
		e.blockDeviceSet(in),
		leaf("virtualizationType", "hvm"),
		ec2TagSet(in.Tags),
		leaf("hypervisor", "xen"),
		set("networkInterfaceSet", enis),
		boolLeaf("ebsOptimized", false),
		e.profileNode("iamInstanceProfile", in.InstanceProfileARN),
		el("metadataOptions",
			leaf("state", "applied"),
			leaf("httpTokens", in.MetadataHTTPTokens),
			intLeaf("httpPutResponseHopLimit", 2),
			leaf("httpEndpoint", in.MetadataHTTPEndpoint),
			leaf("instanceMetadataTags", "disabled"),
		),
	)
}

func (e *Emulator) describeInstanceAttribute(r *request) ([]node, *apiError) {
	in, err := e.instance(r.p.get("InstanceId"))
	if err != nil {
		return nil, err
	}
	out := []node{leaf("instanceId", in.ID)}
	switch attr := r.p.get("Attribute"); attr {
	case "disableApiTermination":
		out = append(out, el("disableApiTermination", boolLeaf("value", in.DisableAPITermination)))
	case "disableApiStop":
		out = append(out, el("disableApiStop", boolLeaf("value", in.DisableAPIStop)))
	case "instanceInitiatedShutdownBehavior":
		out = append(out, el("instanceInitiatedShutdownBehavior", leaf("value", in.ShutdownBehavior)))
	case "blockDeviceMapping":
		out = append(out, e.blockDeviceSet(in))
	case "groupSet":
		out = append(out, e.groupSet(e.instanceGroupIDs(in)))
	case "instanceType":
		out = append(out, el("instanceType", leaf("value", in.InstanceType)))
	case "rootDeviceName":
		out = append(out, el("rootDeviceName", leaf("value", in.RootDeviceName)))
	case "":
		return nil, errMissingParameter("Attribute")
	default:
		return nil, errInvalidParameter("Value (%s) for parameter attribute is invalid. Unknown attribute.", attr)
	}
	return out, nil
}

func (e *Emulator) modifyInstanceAttribute(r *request) ([]node, *apiError) {
	in, err := e.instance(r.p.get("InstanceId"))
	if err != nil {
		return nil, err
	}
	p := r.p
	// The legacy form names the attribute and passes a bare Value.
	value := func(name, legacy string) (string, bool) {
		if p.has(name + ".Value") {
			return p.get(name + ".Value"), true
		}
		if p.get("Attribute") == legacy && p.has("Value") {
			return p.get("Value"), true
		}
		return "", false
	}
	var changes []func()
	if v, ok := value("DisableApiTermination", "disableApiTermination"); ok {
		b, perr := strconv.ParseBool(v)
		if perr != nil {
			return nil, errInvalidParameter("Value (%s) for parameter disableApiTermination is invalid.", v)
		}
		// EC2 refuses to turn protection on for a Spot Instance, with
		// this code and message (turning it off is accepted).
		if b && in.InstanceLifecycle == "spot" {
			return nil, clientErr(http.StatusBadRequest, "UnsupportedOperation",
				"Modifying 'disableApiTermination' is not supported for spot instances.")
		}
		changes = append(changes, func() { in.DisableAPITermination = b })
	}
	if v, ok := value("DisableApiStop", "disableApiStop"); ok {
		b, perr := strconv.ParseBool(v)
		if perr != nil {
			return nil, errInvalidParameter("Value (%s) for parameter disableApiStop is invalid.", v)
		}
		// "You can't enable stop protection for instance store-backed
		// instances" nor "for Spot Instances" (EC2 User Guide).
		if b && in.InstanceLifecycle == "spot" {
			return nil, clientErr(http.StatusBadRequest, "UnsupportedOperation",
				"Modifying 'disableApiStop' is not supported for spot instances.")
		}
		if b && rootDeviceType(in) == "instance-store" {
			return nil, clientErr(http.StatusBadRequest, "UnsupportedOperation",
				"Modifying 'disableApiStop' is not supported for instance store-backed instances.")
		}
		changes = append(changes, func() { in.DisableAPIStop = b })
	}
	if v, ok := value("InstanceInitiatedShutdownBehavior", "instanceInitiatedShutdownBehavior"); ok {
		if v != "stop" && v != "terminate" {
			return nil, errInvalidParameter("Value (%s) for parameter instanceInitiatedShutdownBehavior is invalid.", v)
		}
		changes = append(changes, func() { in.ShutdownBehavior = v })
	}
	for _, bdm := range p.structs("BlockDeviceMapping") {
		dev := bdm.get("DeviceName")
		idx := slices.IndexFunc(in.BlockDevices, func(b BlockDevice) bool { return b.DeviceName == dev })
		if idx < 0 {
			return nil, errInvalidParameter("The device '%s' is not attached to instance %s", dev, in.ID)
		}
		if !bdm.has("Ebs.DeleteOnTermination") {
			continue
		}
		vol, ok := e.w.volumes[in.BlockDevices[idx].VolumeID]
		if !ok {
			continue
		}
		dot := bdm.boolean("Ebs.DeleteOnTermination")
		changes = append(changes, func() { vol.DeleteOnTermination = dot })
	}
	if groups := p.list("GroupId"); len(groups) > 0 {
		eni := e.primaryENI(in)
		if eni == nil {
			return nil, errInvalidParameter("Instance %s has no network interface", in.ID)
		}
		if err := e.checkGroups(groups, eni.VPCID); err != nil {
			return nil, err
		}
		changes = append(changes, func() { eni.SecurityGroupIDs = slices.Clone(groups) })
	}
	if len(changes) == 0 {
		return nil, clientErr(http.StatusBadRequest, "InvalidParameterCombination", "No attributes specified.")
	}
	if err := r.commit(); err != nil {
		return nil, err
	}
	for _, c := range changes {
		c()
	}
	return []node{boolLeaf("return", true)}, nil
}

func (e *Emulator) checkGroups(ids []string, vpcID string) *apiError {
	for _, id := range ids {
		g, err := e.group(id)
		if err != nil {
			return err
		}
		if g.VPCID != vpcID {
			return errInvalidParameter("Security group %s and network interface belong to different networks.", id)
		}
	}
	return nil
}

func (e *Emulator) getConsoleOutput(r *request) ([]node, *apiError) {
	in, err := e.instance(r.p.get("InstanceId"))
	if err != nil {
		return nil, err
	}
	return []node{
		leaf("instanceId", in.ID),
		timeLeaf("timestamp", r.now),
		leaf("output", base64.StdEncoding.EncodeToString([]byte(in.ConsoleOutput))),
	}, nil
}

func (e *Emulator) modifyInstanceMetadataOptions(r *request) ([]node, *apiError) {
	in, err := e.instance(r.p.get("InstanceId"))
	if err != nil {
		return nil, err
	}
	endpoint, tokens := in.MetadataHTTPEndpoint, in.MetadataHTTPTokens
	if v := r.p.get("HttpEndpoint"); v != "" {
		if v != "enabled" && v != "disabled" {
			return nil, errInvalidParameter("Value (%s) for parameter HttpEndpoint is invalid.", v)
		}
		endpoint = v
	}
	if v := r.p.get("HttpTokens"); v != "" {
		if v != "optional" && v != "required" {
			return nil, errInvalidParameter("Value (%s) for parameter HttpTokens is invalid.", v)
		}
		tokens = v
	}
	if err := r.commit(); err != nil {
		return nil, err
	}
	in.MetadataHTTPEndpoint, in.MetadataHTTPTokens = endpoint, tokens
	return []node{
		leaf("instanceId", in.ID),
		el("instanceMetadataOptions",
			leaf("state", "pending"),
			leaf("httpTokens", tokens),
			intLeaf("httpPutResponseHopLimit", 2),
			leaf("httpEndpoint", endpoint),
			leaf("instanceMetadataTags", "disabled"),
		),
	}, nil
}

// ---- instance profile associations ---------------------------------------

func (e *Emulator) associationNode(name string, in *Instance, state string) node {
	return el(name,
		leaf("associationId", in.ProfileAssociationID),
		leaf("instanceId", in.ID),
		e.profileNode("iamInstanceProfile", in.InstanceProfileARN),
		leaf("state", state),
	)
}

func (e *Emulator) describeProfileAssociations(r *request) ([]node, *apiError) {
	want := map[string]bool{}
	for _, id := range r.p.list("AssociationId") {
		want[id] = true
	}
	fs := r.p.filters()
	var items []node
	for _, id := range e.w.instanceOrder {
		in := e.w.instances[id]
		if in.ProfileAssociationID == "" || (len(want) > 0 && !want[in.ProfileAssociationID]) {
			continue
		}
		ok, err := matchFilters(fs, nil, func(name string) ([]string, bool) {
			switch name {
			case "instance-id":
				return one(in.ID), true
			case "state":
				return one("associated"), true
			}
			return nil, false
		})
		if err != nil {
			return nil, err
		}
		if ok {
			items = append(items, e.associationNode("item", in, "associated"))
		}
	}
	return []node{set("iamInstanceProfileAssociationSet", items)}, nil
}

// profileAssociation is the instance whose profile association the
// request's AssociationId names.
func (e *Emulator) profileAssociation(r *request) (*Instance, *apiError) {
	assoc := r.p.get("AssociationId")
	if assoc == "" {
		return nil, errMissingParameter("AssociationId")
	}
	for _, in := range e.w.instances {
		if in.ProfileAssociationID == assoc {
			return in, nil
		}
	}
	return nil, notFound("InvalidAssociationID.NotFound", "An association with ID %s does not exist.", assoc)
}

func (e *Emulator) disassociateIamInstanceProfile(r *request) ([]node, *apiError) {
	target, aerr := e.profileAssociation(r)
	if aerr != nil {
		return nil, aerr
	}
	if err := r.commit(); err != nil {
		return nil, err
	}
	out := e.associationNode("iamInstanceProfileAssociation", target, "disassociating")
	target.InstanceProfileARN, target.ProfileAssociationID = "", ""
	return []node{out}, nil
}

// ---- instance lifecycle ---------------------------------------------------

func stateChange(in *Instance, previous string) node {
	return item(leaf("instanceId", in.ID), stateNode("currentState", in.State), stateNode("previousState", previous))
}

// transition moves an instance into an intermediate state and schedules the
// final one.
func (e *Emulator) transition(in *Instance, via, final string, now time.Time) {
	if in.nextState == "" {
		e.pendingTransitions++
	}
	in.State, in.nextState, in.nextAt = via, final, now.Add(e.transitionDelay)
}

func (e *Emulator) finishTransition(in *Instance) {
	in.State, in.nextState = in.nextState, ""
	e.pendingTransitions--
	if in.State == StateTerminated {
		e.releaseTerminated(in)
	}
}

// releaseTerminated does what EC2 does when an instance is gone: volumes and
// interfaces marked DeleteOnTermination are deleted, the rest detached.
func (e *Emulator) releaseTerminated(in *Instance) {
	for _, bd := range in.BlockDevices {
		v, ok := e.w.volumes[bd.VolumeID]
		if !ok {
			continue
		}
		if v.DeleteOnTermination {
			delete(e.w.volumes, v.ID)
			continue
		}
		v.State, v.InstanceID, v.DeviceName, v.AttachTime = "available", "", "", time.Time{}
	}
	for _, id := range in.NetworkInterfaceIDs {
		n, ok := e.w.enis[id]
		if !ok {
			continue
		}
		if n.DeleteOnTermination {
			delete(e.w.enis, id)
			continue
		}
		n.Status, n.InstanceID, n.AttachmentID = "available", "", ""
	}
	in.BlockDevices, in.NetworkInterfaceIDs = nil, nil
	in.InstanceProfileARN, in.ProfileAssociationID = "", ""
	for _, g := range e.w.asgs {
		g.Instances = slices.DeleteFunc(g.Instances, func(a ASGInstance) bool { return a.InstanceID == in.ID })
	}
}

func incorrectState(in *Instance, verb string) *apiError {
	return clientErr(http.StatusBadRequest, "IncorrectInstanceState",
		"The instance '%s' is not in a state from which it can be %s.", in.ID, verb)
}

func (e *Emulator) stopInstances(r *request) ([]node, *apiError) {
	insts, err := e.instancesByID(r.p.list("InstanceId"))
	if err != nil {
		return nil, err
	}
	hibernate := r.p.boolean("Hibernate")
	for _, in := range insts {
		if in.State == StateShuttingDown || in.State == StateTerminated {
			return nil, incorrectState(in, "stopped")
		}
		if in.DisableAPIStop && in.State != StateStopped && in.State != StateStopping {
			return nil, clientErr(http.StatusBadRequest, "OperationNotPermitted",
				"The instance '%s' may not be stopped. Modify its 'disableApiStop' instance attribute and try again.", in.ID)
		}
		if hibernate && !in.HibernationConfigured {
			return nil, clientErr(http.StatusBadRequest, "UnsupportedHibernationConfiguration",
				"The instance '%s' is not enabled for hibernation.", in.ID)
		}
	}
	if err := r.commit(); err != nil {
		return nil, err
	}
	var items []node
	for _, in := range insts {
		prev := in.State
		if prev == StateRunning || prev == StatePending {
			e.transition(in, StateStopping, StateStopped, r.now)
			in.Hibernated = hibernate
		}
		items = append(items, stateChange(in, prev))
	}
	return []node{set("instancesSet", items)}, nil
}

func (e *Emulator) startInstances(r *request) ([]node, *apiError) {
	insts, err := e.instancesByID(r.p.list("InstanceId"))
	if err != nil {
		return nil, err
	}
	for _, in := range insts {
		if in.State == StateStopping || in.State == StateShuttingDown || in.State == StateTerminated {
			return nil, incorrectState(in, "started")
		}
	}
	if err := r.commit(); err != nil {
		return nil, err
	}
	var items []node
	for _, in := range insts {
		prev := in.State
		if prev == StateStopped {
			e.transition(in, StatePending, StateRunning, r.now)
		}
		items = append(items, stateChange(in, prev))
	}
	return []node{set("instancesSet", items)}, nil
}

func (e *Emulator) terminateInstances(r *request) ([]node, *apiError) {
	insts, err := e.instancesByID(r.p.list("InstanceId"))
	if err != nil {
		return nil, err
	}
	for _, in := range insts {
		if in.DisableAPITermination && in.State != StateTerminated {
			return nil, clientErr(http.StatusBadRequest, "OperationNotPermitted",
				"The instance '%s' may not be terminated. Modify its 'disableApiTermination' instance attribute and try again.", in.ID)
		}
		// Stop protection also protects from termination (EC2 User Guide).
		if in.DisableAPIStop && in.State != StateTerminated {
			return nil, clientErr(http.StatusBadRequest, "OperationNotPermitted",
				"The instance '%s' may not be terminated. Modify its 'disableApiStop' instance attribute and try again.", in.ID)
		}
	}
	if err := r.commit(); err != nil {
		return nil, err
	}
	var items []node
	for _, in := range insts {
		prev := in.State
		if prev != StateTerminated && prev != StateShuttingDown {
			e.transition(in, StateShuttingDown, StateTerminated, r.now)
		}
		items = append(items, stateChange(in, prev))
	}
	return []node{set("instancesSet", items)}, nil
}

// ---- volumes and network interfaces --------------------------------------

func (e *Emulator) describeVolumes(r *request) ([]node, *apiError) {
	ids := r.p.list("VolumeId")
	for _, id := range ids {
		if _, ok := e.w.volumes[id]; !ok {
			return nil, notFound("InvalidVolume.NotFound", "The volume '%s' does not exist.", id)
		}
	}
	fs := r.p.filters()
	var items []node
	for _, id := range sortedKeys(e.w.volumes) {
		v := e.w.volumes[id]
		if len(ids) > 0 && !slices.Contains(ids, id) {
			continue
		}
		ok, err := matchFilters(fs, v.Tags, func(name string) ([]string, bool) {
			switch name {
			case "volume-id":
				return one(v.ID), true
			case "attachment.instance-id":
				return one(v.InstanceID), true
			case "attachment.device":
				return one(v.DeviceName), true
			case "attachment.delete-on-termination":
				return one(strconv.FormatBool(v.DeleteOnTermination)), true
			case "status":
				return one(v.State), true
			case "availability-zone":
				return one(v.AvailabilityZone), true
			case "volume-type":
				return one(v.VolumeType), true
			}
			return nil, false
		})
		if err != nil {
			return nil, err
		}
		if !ok {
			continue
		}
		var attachments []node
		if v.InstanceID != "" {
			attachments = append(attachments, item(
				leaf("volumeId", v.ID),
				leaf("instanceId", v.InstanceID),
				leaf("device", v.DeviceName),
				leaf("status", "attached"),
				timeLeaf("attachTime", v.AttachTime),
				boolLeaf("deleteOnTermination", v.DeleteOnTermination),
			))
		}
		items = append(items, item(
			leaf("volumeId", v.ID),
			intLeaf("size", v.SizeGiB),
			leaf("snapshotId", ""),
			leaf("availabilityZone", v.AvailabilityZone),
			leaf("status", v.State),
			timeLeaf("createTime", v.CreateTime),
			set("attachmentSet", attachments),
			leaf("volumeType", v.VolumeType),
			boolLeaf("encrypted", v.Encrypted),
			opt("kmsKeyId", v.KMSKeyID),
			boolLeaf("multiAttachEnabled", false),
			ec2TagSet(v.Tags),
		))
	}
	return []node{set("volumeSet", items)}, nil
}

func (e *Emulator) describeNetworkInterfaces(r *request) ([]node, *apiError) {
	ids := r.p.list("NetworkInterfaceId")
	for _, id := range ids {
		if _, ok := e.w.enis[id]; !ok {
			return nil, notFound("InvalidNetworkInterfaceID.NotFound", "The networkInterface ID '%s' does not exist", id)
		}
	}
	fs := r.p.filters()
	var items []node
	for _, id := range sortedKeys(e.w.enis) {
		n := e.w.enis[id]
		if len(ids) > 0 && !slices.Contains(ids, id) {
			continue
		}
		ok, err := matchFilters(fs, n.Tags, func(name string) ([]string, bool) {
			switch name {
			case "network-interface-id":
				return one(n.ID), true
			case "attachment.instance-id":
				return one(n.InstanceID), true
			case "attachment.attachment-id":
				return one(n.AttachmentID), true
			case "vpc-id":
				return one(n.VPCID), true
			case "subnet-id":
				return one(n.SubnetID), true
			case "group-id":
				return n.SecurityGroupIDs, true
			case "status":
				return one(n.Status), true
			case "private-ip-address":
				return one(n.PrivateIP), true
			}
			return nil, false
		})
		if err != nil {
			return nil, err
		}
		if !ok {
			continue
		}
		attachment := node{omit: true}
		if n.InstanceID != "" {
			attachment = el("attachment",
				leaf("attachmentId", n.AttachmentID),
				leaf("instanceId", n.InstanceID),
				leaf("instanceOwnerId", e.w.account),
				intLeaf("deviceIndex", n.DeviceIndex),
				leaf("status", "attached"),
				timeLeaf("attachTime", n.AttachTime),
				boolLeaf("deleteOnTermination", n.DeleteOnTermination),
				intLeaf("networkCardIndex", 0),
			)
		}
		items = append(items, item(
			leaf("networkInterfaceId", n.ID),
			leaf("subnetId", n.SubnetID),
			leaf("vpcId", n.VPCID),
			leaf("availabilityZone", n.AvailabilityZone),
			leaf("description", n.Description),
			leaf("ownerId", e.w.account),
			boolLeaf("requesterManaged", n.RequesterManaged),
			leaf("status", n.Status),
			leaf("macAddress", n.MACAddress),
			leaf("privateIpAddress", n.PrivateIP),
			boolLeaf("sourceDestCheck", !n.SourceDestCheckDisabled),
			e.groupSet(n.SecurityGroupIDs),
			attachment,
			ec2TagSet(n.Tags),
			leaf("interfaceType", cmp.Or(n.InterfaceType, "interface")),
		))
	}
	return []node{set("networkInterfaceSet", items)}, nil
}

func (e *Emulator) modifyNetworkInterfaceAttribute(r *request) ([]node, *apiError) {
	id := r.p.get("NetworkInterfaceId")
	if id == "" {
		return nil, errMissingParameter("NetworkInterfaceId")
	}
	n, ok := e.w.enis[id]
	if !ok {
		return nil, notFound("InvalidNetworkInterfaceID.NotFound", "The networkInterface ID '%s' does not exist", id)
	}
	var changes []func()
	if groups := r.p.list("SecurityGroupId"); len(groups) > 0 {
		if err := e.checkGroups(groups, n.VPCID); err != nil {
			return nil, err
		}
		changes = append(changes, func() { n.SecurityGroupIDs = slices.Clone(groups) })
	}
	if r.p.has("Description.Value") {
		d := r.p.get("Description.Value")
		changes = append(changes, func() { n.Description = d })
	}
	if r.p.has("Attachment.DeleteOnTermination") {
		dot := r.p.boolean("Attachment.DeleteOnTermination")
		changes = append(changes, func() { n.DeleteOnTermination = dot })
	}
	if r.p.has("SourceDestCheck.Value") {
		check := r.p.boolean("SourceDestCheck.Value")
		changes = append(changes, func() { n.SourceDestCheckDisabled = !check })
	}
	if len(changes) == 0 {
		return nil, clientErr(http.StatusBadRequest, "InvalidParameterCombination", "No attributes specified.")
	}
	if err := r.commit(); err != nil {
		return nil, err
	}
	for _, c := range changes {
		c()
	}
	return []node{boolLeaf("return", true)}, nil
}

// ---- security groups -------------------------------------------------------

func (e *Emulator) describeSecurityGroups(r *request) ([]node, *apiError) {
	ids := r.p.list("GroupId")
	names := r.p.list("GroupName")
	for _, id := range ids {
		if _, err := e.group(id); err != nil {
			return nil, err
		}
	}
	fs := r.p.filters()
	var items []node
	for _, id := range sortedKeys(e.w.groups) {
		g := e.w.groups[id]
		if len(ids) > 0 && !slices.Contains(ids, id) {
			continue
		}
		if len(names) > 0 && !slices.Contains(names, g.Name) {
			continue
		}
		ok, err := matchFilters(fs, g.Tags, func(name string) ([]string, bool) {
			switch name {
			case "group-id":
				return one(g.ID), true
			case "group-name":
				return one(g.Name), true
			case "vpc-id":
				return one(g.VPCID), true
			case "description":
				return one(g.Description), true
			case "owner-id":
				return one(e.w.account), true
			}
			return nil, false
		})
		if err != nil {
			return nil, err
		}
		if ok {
			items = append(items, e.renderGroup(g))
		}
	}
	if len(names) > 0 && len(items) == 0 {
		return nil, notFound("InvalidGroup.NotFound", "The security group '%s' does not exist", names[0])
	}
	return []node{set("securityGroupInfo", items)}, nil
}

func (e *Emulator) groupARN(id string) string {
	return fmt.Sprintf("arn:aws:ec2:%s:%s:security-group/%s", e.region, e.w.account, id)
}

func (e *Emulator) renderGroup(g *SecurityGroup) node {
	return item(
		leaf("ownerId", e.w.account),
		leaf("groupId", g.ID),
		leaf("groupName", g.Name),
		leaf("groupDescription", g.Description),
		leaf("vpcId", g.VPCID),
		leaf("securityGroupArn", e.groupARN(g.ID)),
		e.permissionSet("ipPermissions", g.Ingress),
		e.permissionSet("ipPermissionsEgress", g.Egress),
		ec2TagSet(g.Tags),
	)
}

func (e *Emulator) permissionSet(name string, perms []Permission) node {
	items := make([]node, 0, len(perms))
	for _, p := range perms {
		var groups, v4, v6, pl []node
		for _, g := range p.GroupIDs {
			groups = append(groups, item(leaf("groupId", g), leaf("userId", e.w.account)))
		}
		for _, c := range p.CIDRs {
			v4 = append(v4, item(leaf("cidrIp", c)))
		}
		for _, c := range p.IPv6CIDRs {
			v6 = append(v6, item(leaf("cidrIpv6", c)))
		}
		for _, c := range p.PrefixListIDs {
			pl = append(pl, item(leaf("prefixListId", c)))
		}
		ports := []node{{omit: true}, {omit: true}}
		if p.Protocol != "-1" {
			ports = []node{intLeaf("fromPort", int(p.FromPort)), intLeaf("toPort", int(p.ToPort))}
		}
		items = append(items, item(
			leaf("ipProtocol", p.Protocol),
			ports[0], ports[1],
			set("groups", groups),
			set("ipRanges", v4),
			set("ipv6Ranges", v6),
			set("prefixListIds", pl),
		))
	}
	return set(name, items)
}

func (e *Emulator) defaultVPC() *VPC {
	var first *VPC
	for _, id := range sortedKeys(e.w.vpcs) {
		v := e.w.vpcs[id]
		if v.IsDefault {
			return v
		}
		if first == nil {
			first = v
		}
	}
	return first
}

// allowAllEgress is the rule EC2 puts on every new VPC security group.
func allowAllEgress() Permission { return Permission{Protocol: "-1", CIDRs: []string{"0.0.0.0/0"}} }

func (e *Emulator) createSecurityGroup(r *request) ([]node, *apiError) {
	name, desc := r.p.get("GroupName"), r.p.get("GroupDescription")
	if name == "" {
		return nil, errMissingParameter("GroupName")
	}
	if desc == "" {
		return nil, errMissingParameter("GroupDescription")
	}
	if strings.HasPrefix(name, "sg-") {
		return nil, errInvalidParameter("Group names may not be in the format sg-*.")
	}
	vpcID := r.p.get("VpcId")
	if vpcID == "" {
		v := e.defaultVPC()
		if v == nil {
			return nil, clientErr(http.StatusBadRequest, "VPCIdNotSpecified", "No default VPC for this user")
		}
		vpcID = v.ID
	}
	if _, ok := e.w.vpcs[vpcID]; !ok {
		return nil, notFound("InvalidVpcID.NotFound", "The vpc ID '%s' does not exist", vpcID)
	}
	for _, g := range e.w.groups {
		if g.VPCID == vpcID && g.Name == name {
			return nil, clientErr(http.StatusBadRequest, "InvalidGroup.Duplicate",
				"The security group '%s' already exists for VPC '%s'", name, vpcID)
		}
	}
	if err := r.commit(); err != nil {
		return nil, err
	}
	tags := r.p.tagSpecs("security-group")
	g := e.addGroup(vpcID, name, desc, tags)
	out := []node{leaf("groupId", g.ID), leaf("securityGroupArn", e.groupARN(g.ID))}
	if len(tags) > 0 {
		out = append(out, ec2TagSet(tags))
	}
	return out, nil
}

func (e *Emulator) addGroup(vpcID, name, desc string, tags map[string]string) *SecurityGroup {
	g := &SecurityGroup{
		ID: e.newID("sg"), Name: name, Description: desc, VPCID: vpcID,
		Egress: []Permission{allowAllEgress()}, Tags: tags,
	}
	if g.Tags == nil {
		g.Tags = map[string]string{}
	}
	e.w.groups[g.ID] = g
	e.created(g.ID)
	return g
}

func normProtocol(p string) string {
	switch strings.ToLower(p) {
	case "-1", "all", "":
		return "-1"
	case "6":
		return "tcp"
	case "17":
		return "udp"
	case "1":
		return "icmp"
	}
	return strings.ToLower(p)
}

// parsePermissions reads IpPermissions.N plus the legacy top-level form
// (IpProtocol, FromPort, ToPort, CidrIp).
func parsePermissions(p params) ([]Permission, *apiError) {
	port := func(q params, name string) (int32, *apiError) {
		n, ok, err := q.integer(name)
		if err != nil || !ok {
			return 0, err
		}
		if n < -1 || n > 65535 {
			return 0, errInvalidParameter("Invalid %s: %d", name, n)
		}
		return int32(n), nil
	}
	var out []Permission
	read := func(q params, v4, v6, groups, prefixes []string) *apiError {
		perm := Permission{Protocol: normProtocol(q.get("IpProtocol")), CIDRs: v4, IPv6CIDRs: v6, GroupIDs: groups, PrefixListIDs: prefixes}
		var err *apiError
		if perm.Protocol != "-1" {
			if perm.FromPort, err = port(q, "FromPort"); err != nil {
				return err
			}
			if perm.ToPort, err = port(q, "ToPort"); err != nil {
				return err
			}
		}
		if perm.empty() {
			return errInvalidParameter("The request must specify at least one of CIDR range, IPv6 range, security group or prefix list")
		}
		out = append(out, perm)
		return nil
	}
	for _, ip := range p.structs("IpPermissions") {
		var v4, v6, groups, prefixes []string
		for _, s := range ip.structs("IpRanges") {
			v4 = append(v4, s.get("CidrIp"))
		}
		for _, s := range ip.structs("Ipv6Ranges") {
			v6 = append(v6, s.get("CidrIpv6"))
		}
		for _, s := range ip.structs("Groups") {
			groups = append(groups, s.get("GroupId"))
		}
		for _, s := range ip.structs("PrefixListIds") {
			prefixes = append(prefixes, s.get("PrefixListId"))
		}
		if err := read(ip, v4, v6, groups, prefixes); err != nil {
			return nil, err
		}
	}
	if p.has("CidrIp") || p.has("IpProtocol") {
		var v4 []string
		if c := p.get("CidrIp"); c != "" {
			v4 = []string{c}
		}
		if err := read(p, v4, nil, nil, nil); err != nil {
			return nil, err
		}
	}
	if len(out) == 0 {
		return nil, errMissingParameter("IpPermissions")
	}
	return out, nil
}

func samePorts(a, b Permission) bool {
	return a.Protocol == b.Protocol && (a.Protocol == "-1" || (a.FromPort == b.FromPort && a.ToPort == b.ToPort))
}

// peers flattens a permission into (kind, value) pairs so authorize and
// revoke can work peer by peer, as EC2 does.
func peers(p Permission) [][2]string {
	var out [][2]string
	for _, c := range p.CIDRs {
		out = append(out, [2]string{"v4", c})
	}
	for _, c := range p.IPv6CIDRs {
		out = append(out, [2]string{"v6", c})
	}
	for _, c := range p.GroupIDs {
		out = append(out, [2]string{"group", c})
	}
	for _, c := range p.PrefixListIDs {
		out = append(out, [2]string{"prefix", c})
	}
	return out
}

func (p *Permission) peerList(kind string) *[]string {
	switch kind {
	case "v4":
		return &p.CIDRs
	case "v6":
		return &p.IPv6CIDRs
	case "group":
		return &p.GroupIDs
	default:
		return &p.PrefixListIDs
	}
}

func (e *Emulator) securityGroupFor(r *request, ingress bool) (*SecurityGroup, *apiError) {
	if id := r.p.get("GroupId"); id != "" {
		return e.group(id)
	}
	if name := r.p.get("GroupName"); ingress && name != "" {
		vpc := e.defaultVPC()
		for _, g := range e.w.groups {
			if g.Name == name && vpc != nil && g.VPCID == vpc.ID {
				return g, nil
			}
		}
		return nil, notFound("InvalidGroup.NotFound", "The security group '%s' does not exist in default VPC", name)
	}
	return nil, errMissingParameter("GroupId")
}

func (e *Emulator) authorizeSecurityGroup(r *request, ingress bool) ([]node, *apiError) {
	g, err := e.securityGroupFor(r, ingress)
	if err != nil {
		return nil, err
	}
	perms, err := parsePermissions(r.p)
	if err != nil {
		return nil, err
	}
	rules := &g.Egress
	if ingress {
		rules = &g.Ingress
	}
	for _, add := range perms {
		for _, gid := range add.GroupIDs {
			if _, err := e.group(gid); err != nil {
				return nil, err
			}
		}
		for _, existing := range *rules {
			if !samePorts(existing, add) {
				continue
			}
			for _, peer := range peers(add) {
				if slices.Contains(*existing.peerList(peer[0]), peer[1]) {
					return nil, clientErr(http.StatusBadRequest, "InvalidPermission.Duplicate",
						"the specified rule \"peer: %s, %s, ALLOW\" already exists", peer[1], strings.ToUpper(add.Protocol))
				}
			}
		}
	}
	if err := r.commit(); err != nil {
		return nil, err
	}
	for _, add := range perms {
		idx := slices.IndexFunc(*rules, func(p Permission) bool { return samePorts(p, add) })
		if idx < 0 {
			*rules = append(*rules, add.clone())
			continue
		}
		for _, peer := range peers(add) {
			l := (*rules)[idx].peerList(peer[0])
			*l = append(*l, peer[1])
		}
	}
	return []node{boolLeaf("return", true)}, nil
}

func (e *Emulator) revokeSecurityGroup(r *request, ingress bool) ([]node, *apiError) {
	g, err := e.securityGroupFor(r, ingress)
	if err != nil {
		return nil, err
	}
	perms, err := parsePermissions(r.p)
	if err != nil {
		return nil, err
	}
	rules := &g.Egress
	if ingress {
		rules = &g.Ingress
	}
	// Work on a copy so a dry run, or a request matching nothing, leaves
	// the group untouched.
	next := clonePerms(*rules)
	var unknown []Permission
	matched := false
	for _, rm := range perms {
		idx := slices.IndexFunc(next, func(p Permission) bool { return samePorts(p, rm) })
		missing := Permission{Protocol: rm.Protocol, FromPort: rm.FromPort, ToPort: rm.ToPort}
		for _, peer := range peers(rm) {
			if idx >= 0 {
				l := next[idx].peerList(peer[0])
				if i := slices.Index(*l, peer[1]); i >= 0 {
					*l = slices.Delete(*l, i, i+1)
					matched = true
					continue
				}
			}
			l := missing.peerList(peer[0])
			*l = append(*l, peer[1])
		}
		if !missing.empty() {
			unknown = append(unknown, missing)
		}
	}
	if !matched {
		return nil, notFound("InvalidPermission.NotFound", "The specified rule does not exist in this security group.")
	}
	if err := r.commit(); err != nil {
		return nil, err
	}
	*rules = slices.DeleteFunc(next, func(p Permission) bool { return p.empty() })
	out := []node{boolLeaf("return", true)}
	if len(unknown) > 0 {
		out = append(out, e.permissionSet("unknownIpPermissionSet", unknown))
	}
	return out, nil
}

// ---- tags ------------------------------------------------------------------

// taggable finds a resource's tag map by id, whatever its type.
func (e *Emulator) taggable(id string) (tags *map[string]string, resourceType string, aerr *apiError) {
	prefix, _, _ := strings.Cut(id, "-")
	switch prefix {
	case "i":
		if v, ok := e.w.instances[id]; ok {
			return &v.Tags, "instance", nil
		}
		return nil, "", notFound("InvalidInstanceID.NotFound", "The instance ID '%s' does not exist", id)
	case "vol":
		if v, ok := e.w.volumes[id]; ok {
			return &v.Tags, "volume", nil
		}
		return nil, "", notFound("InvalidVolume.NotFound", "The volume '%s' does not exist.", id)
	case "eni":
		if v, ok := e.w.enis[id]; ok {
			return &v.Tags, "network-interface", nil
		}
		return nil, "", notFound("InvalidNetworkInterfaceID.NotFound", "The networkInterface ID '%s' does not exist", id)
	case "sg":
		if v, ok := e.w.groups[id]; ok {
			return &v.Tags, "security-group", nil
		}
		return nil, "", notFound("InvalidGroup.NotFound", "The security group '%s' does not exist", id)
	case "snap":
		if v, ok := e.w.snapshots[id]; ok {
			return &v.Tags, "snapshot", nil
		}
		return nil, "", notFound("InvalidSnapshot.NotFound", "The snapshot '%s' does not exist.", id)
	case "vpc":
		if v, ok := e.w.vpcs[id]; ok {
			return &v.Tags, "vpc", nil
		}
		return nil, "", notFound("InvalidVpcID.NotFound", "The vpc ID '%s' does not exist", id)
	case "subnet":
		if v, ok := e.w.subnets[id]; ok {
			return &v.Tags, "subnet", nil
		}
		return nil, "", notFound("InvalidSubnetID.NotFound", "The subnet ID '%s' does not exist", id)
	case "acl":
		if v, ok := e.w.acls[id]; ok {
			return &v.Tags, "network-acl", nil
		}
		return nil, "", notFound("InvalidNetworkAclID.NotFound", "The networkAcl ID '%s' does not exist", id)
	case "eipalloc":
		if v, ok := e.w.addresses[id]; ok {
			return &v.Tags, "elastic-ip", nil
		}
		return nil, "", notFound("InvalidAllocationID.NotFound", "The allocation ID '%s' does not exist", id)
	case "rtb":
		if v, ok := e.w.routeTables[id]; ok {
			return &v.Tags, "route-table", nil
		}
		return nil, "", notFound("InvalidRouteTableID.NotFound", "The routeTable ID '%s' does not exist", id)
	}
	return nil, "", clientErr(http.StatusBadRequest, "InvalidID", "The ID '%s' is not valid", id)
}

func (e *Emulator) createTags(r *request) ([]node, *apiError) {
	ids := r.p.list("ResourceId")
	if len(ids) == 0 {
		return nil, errMissingParameter("ResourceId")
	}
	tags := r.p.structs("Tag")
	if len(tags) == 0 {
		return nil, errMissingParameter("Tag")
	}
	var maps []*map[string]string
	for _, id := range ids {
		m, _, err := e.taggable(id)
		if err != nil {
			return nil, err
		}
		maps = append(maps, m)
	}
	for _, t := range tags {
		if k := t.get("Key"); k == "" || strings.HasPrefix(k, "aws:") {
			return nil, errInvalidParameter("Tag key %q is empty or reserved", k)
		}
	}
	if err := r.commit(); err != nil {
		return nil, err
	}
	for _, m := range maps {
		if *m == nil {
			*m = map[string]string{}
		}
		for _, t := range tags {
			(*m)[t.get("Key")] = t.get("Value")
		}
	}
	return []node{boolLeaf("return", true)}, nil
}

func (e *Emulator) deleteTags(r *request) ([]node, *apiError) {
	ids := r.p.list("ResourceId")
	if len(ids) == 0 {
		return nil, errMissingParameter("ResourceId")
	}
	var maps []*map[string]string
	for _, id := range ids {
		m, _, err := e.taggable(id)
		if err != nil {
			return nil, err
		}
		maps = append(maps, m)
	}
	if err := r.commit(); err != nil {
		return nil, err
	}
	tags := r.p.structs("Tag")
	for _, m := range maps {
		if len(tags) == 0 {
			clear(*m)
		}
		for _, t := range tags {
			k := t.get("Key")
			if t.has("Value") && (*m)[k] != t.get("Value") {
				continue
			}
			delete(*m, k)
		}
	}
	return []node{boolLeaf("return", true)}, nil
}

func (e *Emulator) describeTags(r *request) ([]node, *apiError) {
	type tagged struct {
		id, typ string
		tags    map[string]string
	}
	var all []tagged
	add := func(id string) {
		if m, typ, err := e.taggable(id); err == nil {
			all = append(all, tagged{id, typ, *m})
		}
	}
	for _, id := range e.w.instanceOrder {
		add(id)
	}
	for _, ids := range [][]string{sortedKeys(e.w.volumes), sortedKeys(e.w.enis), sortedKeys(e.w.groups),
		e.w.snapOrder, sortedKeys(e.w.vpcs), sortedKeys(e.w.subnets)} {
		for _, id := range ids {
			add(id)
		}
	}
	fs := r.p.filters()
	var items []node
	for _, res := range all {
		for _, k := range sortedKeys(res.tags) {
			v := res.tags[k]
			ok, err := matchFilters(fs, nil, func(name string) ([]string, bool) {
				switch name {
				case "resource-id":
					return one(res.id), true
				case "resource-type":
					return one(res.typ), true
				case "key":
					return one(k), true
				case "value":
					return one(v), true
				}
				return nil, false
			})
			if err != nil {
				return nil, err
			}
			if ok {
				items = append(items, item(leaf("resourceId", res.id), leaf("resourceType", res.typ), leaf("key", k), leaf("value", v)))
			}
		}
	}
	return []node{set("tagSet", items)}, nil
}

// ---- snapshots ---------------------------------------------------------------

func (e *Emulator) newSnapshot(v *Volume, desc string, tags map[string]string, now time.Time) *Snapshot {
	s := &Snapshot{
		ID: e.newID("snap"), VolumeID: v.ID, VolumeSize: v.SizeGiB, Description: desc,
		State: "pending", Progress: "0%", StartTime: now, Tags: tags,
		OwnerID: e.w.account, Encrypted: v.Encrypted, KMSKeyID: v.KMSKeyID,
	}
	e.addSnapshot(s)
	return s
}

// addSnapshot stores a new snapshot of e.w's account.
func (e *Emulator) addSnapshot(s *Snapshot) {
	if s.Tags == nil {
		s.Tags = map[string]string{}
	}
	e.w.snapshots[s.ID] = s
	e.w.snapOrder = append(e.w.snapOrder, s.ID)
	// A new snapshot id may not be visible yet to the next calls naming
	// it (SetConsistencyLag).
	e.created(s.ID)
}

func (e *Emulator) createSnapshots(r *request) ([]node, *apiError) {
	spec := r.p.sub("InstanceSpecification")
	in, err := e.instance(spec.get("InstanceId"))
	if err != nil {
		return nil, err
	}
	excludeBoot := spec.boolean("ExcludeBootVolume")
	excluded := spec.list("ExcludeDataVolumeId")
	var vols []*Volume
	for _, bd := range in.BlockDevices {
		v, ok := e.w.volumes[bd.VolumeID]
		if !ok || (excludeBoot && bd.DeviceName == in.RootDeviceName) || slices.Contains(excluded, v.ID) {
			continue
		}
		vols = append(vols, v)
	}
	if err := r.commit(); err != nil {
		return nil, err
	}
	requested := r.p.tagSpecs("snapshot")
	copyTags := r.p.get("CopyTagsFromSource") == "volume"
	var items []node
	for _, v := range vols {
		tags := map[string]string{}
		if copyTags {
			for k, val := range v.Tags {
				tags[k] = val
			}
		}
		for k, val := range requested {
			tags[k] = val
		}
		s := e.newSnapshot(v, r.p.get("Description"), tags, r.now)
		items = append(items, item(
			leaf("description", s.Description),
			ec2TagSet(s.Tags),
			boolLeaf("encrypted", s.Encrypted),
			leaf("volumeId", s.VolumeID),
			leaf("state", s.State),
			intLeaf("volumeSize", s.VolumeSize),
			timeLeaf("startTime", s.StartTime),
			leaf("progress", s.Progress),
			leaf("ownerId", s.OwnerID),
			leaf("snapshotId", s.ID),
		))
		e.failIfListed(s)
	}
	return []node{set("snapshotSet", items)}, nil
}

func (e *Emulator) snapshotFields(s *Snapshot) []node {
	return []node{
		leaf("snapshotId", s.ID),
		leaf("volumeId", s.VolumeID),
		leaf("status", s.State),
		opt("statusMessage", snapshotStateMessage(s)),
		timeLeaf("startTime", s.StartTime),
		leaf("progress", s.Progress),
		leaf("ownerId", s.OwnerID),
		intLeaf("volumeSize", s.VolumeSize),
		leaf("description", s.Description),
		boolLeaf("encrypted", s.Encrypted),
		opt("kmsKeyId", s.KMSKeyID),
		leaf("storageTier", "standard"),
		ec2TagSet(s.Tags),
	}
}

func (e *Emulator) createSnapshot(r *request) ([]node, *apiError) {
	id := r.p.get("VolumeId")
	if id == "" {
		return nil, errMissingParameter("VolumeId")
	}
	v, ok := e.w.volumes[id]
	if !ok {
		return nil, notFound("InvalidVolume.NotFound", "The volume '%s' does not exist.", id)
	}
	if err := r.commit(); err != nil {
		return nil, err
	}
	s := e.newSnapshot(v, r.p.get("Description"), r.p.tagSpecs("snapshot"), r.now)
	fields := e.snapshotFields(s)
	e.failIfListed(s)
	return fields, nil
}

// failIfListed fails a snapshot just started, after its pending answer has
// been built, if SnapshotCompletion.FailVolumes lists its volume. Failed
// snapshots are never advanced again: advanceSnapshot and the time-driven
// completion only move pending ones.
func (e *Emulator) failIfListed(s *Snapshot) {
	if s.State == "pending" && e.snapRule.fails(s.VolumeID) {
		s.State, s.Progress = "error", "0%"
	}
}

// snapshotStateMessage is a snapshot's StateMessage: why it failed.
func snapshotStateMessage(s *Snapshot) string {
	switch {
	case s.State != "error":
		return ""
	case s.StateMessage != "":
		return s.StateMessage
	}
	return SnapshotFailedMessage
}

// advanceSnapshot applies the completion rule to a snapshot being described.
func (e *Emulator) advanceSnapshot(s *Snapshot, now time.Time) {
	if s.State != "pending" {
		return
	}
	rule := e.snapRule
	elapsed := now.Sub(s.StartTime)
	if s.describes >= rule.AfterDescribes && elapsed >= rule.After {
		s.State, s.Progress = "completed", "100%"
		return
	}
	s.describes++
	pct := 99
	if rule.AfterDescribes > 0 {
		pct = min(pct, 100*s.describes/(rule.AfterDescribes+1))
	}
	if rule.After > 0 {
		pct = min(pct, int(100*elapsed/rule.After))
	}
	s.Progress = strconv.Itoa(max(pct, 0)) + "%"
}

// snapshot resolves a snapshot id a client named, honouring the
// consistency lag of new snapshots.
func (e *Emulator) snapshot(id string) (*Snapshot, *apiError) {
	if id == "" {
		return nil, errMissingParameter("SnapshotId")
	}
	s, ok := e.w.snapshots[id]
	if !ok || e.notYetVisible(id) {
		return nil, notFound("InvalidSnapshot.NotFound", "The snapshot '%s' does not exist.", id)
	}
	return s, nil
}

// lockState is a lock's state at now, as EC2 names it.
func (l *SnapshotLock) lockState(now time.Time) string {
	switch {
	case !l.ExpiresOn.IsZero() && !now.Before(l.ExpiresOn):
		return "expired"
	case l.Mode == "compliance" && !l.CoolOffExpiresOn.IsZero() && now.Before(l.CoolOffExpiresOn):
		return "compliance-cooloff"
	}
	return l.Mode
}

// lockFields are a lock's fields in LockSnapshot and DescribeLockedSnapshots.
func (e *Emulator) lockFields(s *Snapshot, now time.Time) []node {
	l := s.Lock
	out := []node{
		leaf("ownerId", s.OwnerID),
		leaf("snapshotId", s.ID),
		leaf("lockState", l.lockState(now)),
		timeLeaf("lockCreatedOn", l.CreatedOn),
		timeLeaf("lockDurationStartTime", l.DurationStart),
		timeLeaf("lockExpiresOn", l.ExpiresOn),
	}
	if l.DurationDays > 0 {
		out = append(out, intLeaf("lockDuration", l.DurationDays))
	}
	if l.CoolOffHours > 0 {
		out = append(out, intLeaf("coolOffPeriod", l.CoolOffHours), timeLeaf("coolOffPeriodExpiresOn", l.CoolOffExpiresOn))
	}
	return out
}

// lockSnapshot implements LockSnapshot: governance locks can be changed
// freely; compliance locks, once past their cooling-off period, can only
// be extended (EBS snapshot lock concepts).
func (e *Emulator) lockSnapshot(r *request) ([]node, *apiError) {
	s, err := e.snapshot(r.p.get("SnapshotId"))
	if err != nil {
		return nil, err
	}
	mode := r.p.get("LockMode")
	if mode != "governance" && mode != "compliance" {
		return nil, errInvalidParameter("Value (%s) for parameter LockMode is invalid.", mode)
	}
	days, hasDays, err := r.p.integer("LockDuration")
	if err != nil {
		return nil, err
	}
	coolOff, hasCoolOff, err := r.p.integer("CoolOffPeriod")
	if err != nil {
		return nil, err
	}
	var expires time.Time
	switch {
	case hasDays && r.p.has("ExpirationDate"):
		return nil, clientErr(http.StatusBadRequest, "InvalidParameterCombination", "Specify either LockDuration or ExpirationDate, not both.")
	case hasDays:
		if days < 1 || days > 36500 {
			return nil, errInvalidParameter("Value (%d) for parameter LockDuration is invalid. It must be between 1 and 36500 days.", days)
		}
		expires = r.now.Add(time.Duration(days) * 24 * time.Hour)
	case r.p.has("ExpirationDate"):
		t, perr := time.Parse(time.RFC3339, r.p.get("ExpirationDate"))
		if perr != nil || !t.After(r.now) {
			return nil, errInvalidParameter("Value (%s) for parameter ExpirationDate is invalid.", r.p.get("ExpirationDate"))
		}
		expires = t
	default:
		return nil, errMissingParameter("LockDuration")
	}
	if hasCoolOff && (mode != "compliance" || coolOff < 1 || coolOff > 72) {
		return nil, errInvalidParameter("Value (%d) for parameter CoolOffPeriod is invalid: 1 to 72 hours, compliance mode only.", coolOff)
	}
	if old := s.Lock; old != nil && old.lockState(r.now) == "compliance" {
		if mode != "compliance" || expires.Before(old.ExpiresOn) {
			return nil, clientErr(http.StatusBadRequest, "IncorrectState",
				"The snapshot '%s' is locked in compliance mode: its lock can only be extended.", s.ID)
		}
	}
	if err := r.commit(); err != nil {
		return nil, err
	}
	l := &SnapshotLock{Mode: mode, DurationDays: days, CreatedOn: r.now, DurationStart: r.now, ExpiresOn: expires}
	if old := s.Lock; old != nil && old.lockState(r.now) != "expired" {
		l.CreatedOn = old.CreatedOn
	}
	if hasCoolOff {
		l.CoolOffHours, l.CoolOffExpiresOn = coolOff, r.now.Add(time.Duration(coolOff)*time.Hour)
	}
	s.Lock = l
	return e.lockFields(s, r.now), nil
}

func (e *Emulator) describeLockedSnapshots(r *request) ([]node, *apiError) {
	ids := r.p.list("SnapshotId")
	for _, id := range ids {
		if _, err := e.snapshot(id); err != nil {
			return nil, err
		}
	}
	fs := r.p.filters()
	var items []node
	for _, id := range e.w.snapOrder {
		s, ok := e.w.snapshots[id]
		if !ok || s.Lock == nil || (len(ids) > 0 && !slices.Contains(ids, id)) {
			continue
		}
		ok, err := matchFilters(fs, nil, func(name string) ([]string, bool) {
			if name == "lock-state" {
				return one(s.Lock.lockState(r.now)), true
			}
			return nil, false
		})
		if err != nil {
			return nil, err
		}
		if ok {
			items = append(items, item(e.lockFields(s, r.now)...))
		}
	}
	return []node{set("snapshotSet", items)}, nil
}

// deleteSnapshot deletes a snapshot unless a lock that has not expired
// holds it. EC2 does not document the error code of that refusal;
// SnapshotLocked is the emulator's.
func (e *Emulator) deleteSnapshot(r *request) ([]node, *apiError) {
	s, err := e.snapshot(r.p.get("SnapshotId"))
	if err != nil {
		return nil, err
	}
	if s.Lock != nil && s.Lock.lockState(r.now) != "expired" {
		return nil, clientErr(http.StatusBadRequest, "SnapshotLocked",
			"The snapshot '%s' is locked (%s) until %s and cannot be deleted.", s.ID, s.Lock.lockState(r.now), awsTime(s.Lock.ExpiresOn))
	}
	if err := r.commit(); err != nil {
		return nil, err
	}
	delete(e.w.snapshots, s.ID)
	e.w.snapOrder = slices.DeleteFunc(e.w.snapOrder, func(id string) bool { return id == s.ID })
	return []node{boolLeaf("return", true)}, nil
}

// ---- instance types -----------------------------------------------------------

// instanceStorage is the local (instance-store) storage of an instance
// type, as DescribeInstanceTypes reports it: Count disks of SizeGB each.
type instanceStorage struct {
	Count, SizeGB int
	DiskType      string // "ssd" or "hdd"
	NVMe          bool
}

// instanceTypes are the types the emulator describes; the ones with a
// "d" (and i3, d2, m3) carry instance-store disks, whose data a stop loses.
func instanceTypes() map[string]instanceStorage {
	return map[string]instanceStorage{
		"t3.micro": {}, "t3.large": {}, "m5.large": {}, "m5.xlarge": {}, "c5.large": {}, "r5.large": {},
		"m5d.large":  {Count: 1, SizeGB: 75, DiskType: "ssd", NVMe: true},
		"m5d.xlarge": {Count: 1, SizeGB: 150, DiskType: "ssd", NVMe: true},
		"c5d.xlarge": {Count: 1, SizeGB: 100, DiskType: "ssd", NVMe: true},
		"i3.large":   {Count: 1, SizeGB: 475, DiskType: "ssd", NVMe: true},
		"d2.xlarge":  {Count: 3, SizeGB: 2000, DiskType: "hdd"},
		"m3.medium":  {Count: 1, SizeGB: 4, DiskType: "ssd"},
	}
}

func rootDeviceType(in *Instance) string {
	if in.RootDeviceType == "" {
		return "ebs"
	}
	return in.RootDeviceType
}

func (e *Emulator) describeInstanceTypes(r *request) ([]node, *apiError) {
	types := instanceTypes()
	names := r.p.list("InstanceType")
	for _, n := range names {
		if _, ok := types[n]; !ok {
			return nil, errInvalidParameter("The following supplied instance types do not exist: [%s]", n)
		}
	}
	if len(names) == 0 {
		names = sortedKeys(types)
	}
	var items []node
	for _, n := range names {
		st := types[n]
		kids := []node{
			leaf("instanceType", n),
			boolLeaf("currentGeneration", true),
			boolLeaf("instanceStorageSupported", st.Count > 0),
			boolLeaf("hibernationSupported", st.Count == 0),
		}
		if st.Count > 0 {
			nvme := "unsupported"
			if st.NVMe {
				nvme = "required"
			}
			kids = append(kids, el("instanceStorageInfo",
				intLeaf("totalSizeInGB", st.Count*st.SizeGB),
				set("disks", []node{item(intLeaf("sizeInGB", st.SizeGB), intLeaf("count", st.Count), leaf("type", st.DiskType))}),
				leaf("nvmeSupport", nvme),
			))
		}
		items = append(items, item(kids...))
	}
	return []node{set("instanceTypeSet", items)}, nil
}

// ---- VPCs and subnets ----------------------------------------------------------

func (e *Emulator) describeVpcs(r *request) ([]node, *apiError) {
	ids := r.p.list("VpcId")
	for _, id := range ids {
		if _, ok := e.w.vpcs[id]; !ok {
			return nil, notFound("InvalidVpcID.NotFound", "The vpc ID '%s' does not exist", id)
		}
	}
	fs := r.p.filters()
	var items []node
	for _, id := range sortedKeys(e.w.vpcs) {
		v := e.w.vpcs[id]
		if len(ids) > 0 && !slices.Contains(ids, id) {
			continue
		}
		ok, err := matchFilters(fs, v.Tags, func(name string) ([]string, bool) {
			switch name {
			case "vpc-id":
				return one(v.ID), true
			case "is-default":
				return one(strconv.FormatBool(v.IsDefault)), true
			case "cidr", "cidr-block-association.cidr-block":
				return one(v.CIDR), true
			case "state":
				return one("available"), true
			}
			return nil, false
		})
		if err != nil {
			return nil, err
		}
		if ok {
			items = append(items, item(
				leaf("vpcId", v.ID), leaf("ownerId", e.w.account), leaf("state", "available"),
				leaf("cidrBlock", v.CIDR), leaf("instanceTenancy", "default"),
				boolLeaf("isDefault", v.IsDefault), ec2TagSet(v.Tags),
			))
		}
	}
	return []node{set("vpcSet", items)}, nil
}

func (e *Emulator) describeSubnets(r *request) ([]node, *apiError) {
	ids := r.p.list("SubnetId")
	for _, id := range ids {
		if _, ok := e.w.subnets[id]; !ok {
			return nil, notFound("InvalidSubnetID.NotFound", "The subnet ID '%s' does not exist", id)
		}
	}
	fs := r.p.filters()
	var items []node
	for _, id := range sortedKeys(e.w.subnets) {
		s := e.w.subnets[id]
		if len(ids) > 0 && !slices.Contains(ids, id) {
			continue
		}
		ok, err := matchFilters(fs, s.Tags, func(name string) ([]string, bool) {
			switch name {
			case "subnet-id":
				return one(s.ID), true
			case "vpc-id":
				return one(s.VPCID), true
			case "availability-zone":
				return one(s.AvailabilityZone), true
			case "cidr-block":
				return one(s.CIDR), true
			case "state":
				return one("available"), true
			}
			return nil, false
		})
		if err != nil {
			return nil, err
		}
		if ok {
			items = append(items, item(
				leaf("subnetId", s.ID), leaf("vpcId", s.VPCID), leaf("state", "available"),
				leaf("cidrBlock", s.CIDR), leaf("availabilityZone", s.AvailabilityZone),
				intLeaf("availableIpAddressCount", 250), boolLeaf("defaultForAz", false),
				boolLeaf("mapPublicIpOnLaunch", false), leaf("ownerId", e.w.account),
				leaf("subnetArn", fmt.Sprintf("arn:aws:ec2:%s:%s:subnet/%s", e.region, e.w.account, s.ID)),
				ec2TagSet(s.Tags),
			))
		}
	}
	return []node{set("subnetSet", items)}, nil
}
