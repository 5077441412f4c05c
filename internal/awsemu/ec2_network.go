package awsemu

import (
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
)

// The VPC network around instances: route tables, network ACLs, Elastic
// IP addresses, and what EC2 says about deleting a security group still in
// use. Every VPC has a default network ACL (allow all, associated with each
// of its subnets) and a main route table (the local route); both are made
// on first use, with ids derived from the VPC's so that seeding a world
// draws no extra random numbers and existing ids stay what they were.

// RouteTable is an emulated VPC route table.
type RouteTable struct {
	ID     string
	VPCID  string
	Main   bool
	Routes []Route
	// Associations maps association id → subnet id ("" for the main
	// association of the VPC's main table).
	Associations map[string]string
	Tags         map[string]string
}

// Route is one route; exactly one target is set (GatewayID "local" for
// the VPC's own range).
type Route struct {
	DestinationCIDR    string
	GatewayID          string
	InstanceID         string
	NetworkInterfaceID string
	NatGatewayID       string
}

func (t RouteTable) clone() RouteTable {
	t.Routes = slices.Clone(t.Routes)
	t.Associations = cloneTags(t.Associations)
	t.Tags = cloneTags(t.Tags)
	return t
}

// NetworkACL is an emulated network ACL. Entries are evaluated by
// ascending rule number; rule 32767 (deny all) ends every list.
type NetworkACL struct {
	ID        string
	VPCID     string
	IsDefault bool
	Entries   []ACLEntry
	// Associations maps association id → subnet id.
	Associations map[string]string
	Tags         map[string]string
	clientToken  string
}

// ACLEntry is one network ACL rule.
type ACLEntry struct {
	RuleNumber int
	Egress     bool
	Protocol   string // "-1" for all
	Allow      bool
	CIDR       string
	IPv6CIDR   string
	FromPort   int
	ToPort     int
}

func (a NetworkACL) clone() NetworkACL {
	a.Entries = slices.Clone(a.Entries)
	a.Associations = cloneTags(a.Associations)
	a.Tags = cloneTags(a.Tags)
	return a
}

// Subnets lists the subnets associated with the ACL, sorted.
func (a NetworkACL) Subnets() []string {
	out := make([]string, 0, len(a.Associations))
	for _, s := range a.Associations {
		out = append(out, s)
	}
	slices.Sort(out)
	return out
}

// Address is an emulated Elastic IP address (domain vpc).
type Address struct {
	AllocationID       string
	PublicIP           string
	AssociationID      string // empty when not associated
	InstanceID         string
	NetworkInterfaceID string
	PrivateIP          string
	Tags               map[string]string
}

func (a Address) clone() Address { a.Tags = cloneTags(a.Tags); return a }

// InterfaceConfig is what ConfigureNetworkInterface sets on an ENI: what
// kind of interface it is and who manages it.
type InterfaceConfig struct {
	// InterfaceType as EC2 names it: "interface" (default), "efa",
	// "trunk", "branch", "natGateway", "network_load_balancer",
	// "gateway_load_balancer", "vpc_endpoint", "lambda", ...
	InterfaceType string
	// RequesterManaged: an AWS service created and manages the interface.
	RequesterManaged bool
	// SourceDestCheckDisabled: the interface forwards traffic that is not
	// its own (a NAT instance, a firewall appliance).
	SourceDestCheckDisabled bool
}

// ConfigureNetworkInterface sets an ENI's type, manager and source/dest
// check, for seeding worlds with interfaces Cordon must not move.
func (e *Emulator) ConfigureNetworkInterface(id string, c InterfaceConfig) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	n, ok := e.w.enis[id]
	if !ok {
		return fmt.Errorf("awsemu: configure network interface: %s does not exist", id)
	}
	n.InterfaceType, n.RequesterManaged, n.SourceDestCheckDisabled = c.InterfaceType, c.RequesterManaged, c.SourceDestCheckDisabled
	return nil
}

// RouteTableSpec describes a route table to add.
type RouteTableSpec struct {
	VPCID     string
	SubnetIDs []string // explicitly associated subnets
	Routes    []Route  // besides the local route
}

// AddRouteTable creates a route table with the VPC's local route plus the
// given routes, associated with the subnets (which leave the main table).
func (e *Emulator) AddRouteTable(spec RouteTableSpec) (RouteTable, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	v, ok := e.w.vpcs[spec.VPCID]
	if !ok {
		return RouteTable{}, fmt.Errorf("awsemu: add route table: VPC %s does not exist", spec.VPCID)
	}
	e.vpcNetwork()
	t := &RouteTable{ID: e.newID("rtb"), VPCID: v.ID, Routes: []Route{{DestinationCIDR: v.CIDR, GatewayID: "local"}},
		Associations: map[string]string{}, Tags: map[string]string{}}
	for _, r := range spec.Routes {
		if r.InstanceID != "" && r.NetworkInterfaceID == "" {
			// EC2 resolves a route to an instance to its primary interface
			// and shows both.
			if in, ok := e.w.instances[r.InstanceID]; ok && len(in.NetworkInterfaceIDs) > 0 {
				r.NetworkInterfaceID = in.NetworkInterfaceIDs[0]
			}
		}
		t.Routes = append(t.Routes, r)
	}
	for _, s := range spec.SubnetIDs {
		if sub, ok := e.w.subnets[s]; !ok || sub.VPCID != v.ID {
			return RouteTable{}, fmt.Errorf("awsemu: add route table: subnet %s is not in %s", s, v.ID)
		}
		for _, other := range e.w.routeTables {
			for id, sub := range other.Associations {
				if sub == s {
					delete(other.Associations, id)
				}
			}
		}
		t.Associations[e.newID("rtbassoc")] = s
	}
	e.w.routeTables[t.ID] = t
	return t.clone(), nil
}

// AddressSpec describes an Elastic IP to allocate, associated with an
// instance (its primary interface) or an interface, or with neither.
type AddressSpec struct {
	InstanceID         string
	NetworkInterfaceID string
	Tags               map[string]string
}

// AddAddress allocates an Elastic IP and associates it as the spec says.
func (e *Emulator) AddAddress(spec AddressSpec) (Address, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	a := &Address{AllocationID: e.newID("eipalloc"), Tags: cloneTags(spec.Tags)}
	a.PublicIP = fmt.Sprintf("203.0.113.%d", 1+len(e.w.addresses)%254)
	e.w.addresses[a.AllocationID] = a
	if spec.InstanceID != "" || spec.NetworkInterfaceID != "" {
		n, aerr := e.associationTarget(spec.InstanceID, spec.NetworkInterfaceID)
		if aerr != nil {
			delete(e.w.addresses, a.AllocationID)
			return Address{}, fmt.Errorf("awsemu: add address: %s", aerr.Message)
		}
		e.associate(a, n, n.PrivateIP)
	}
	return a.clone(), nil
}

// RouteTables returns copies of every route table, sorted by id.
func (e *Emulator) RouteTables() []RouteTable {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.vpcNetwork()
	out := []RouteTable{}
	for _, k := range sortedKeys(e.w.routeTables) {
		out = append(out, e.w.routeTables[k].clone())
	}
	return out
}

// NetworkACLs returns copies of every network ACL, sorted by id.
func (e *Emulator) NetworkACLs() []NetworkACL {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.vpcNetwork()
	out := []NetworkACL{}
	for _, k := range sortedKeys(e.w.acls) {
		out = append(out, e.w.acls[k].clone())
	}
	return out
}

// NetworkACLOf returns the network ACL associated with the subnet.
func (e *Emulator) NetworkACLOf(subnetID string) (NetworkACL, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.vpcNetwork()
	if a, _ := e.aclOf(subnetID); a != nil {
		return a.clone(), true
	}
	return NetworkACL{}, false
}

// Addresses returns copies of every Elastic IP, sorted by allocation id.
func (e *Emulator) Addresses() []Address {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := []Address{}
	for _, k := range sortedKeys(e.w.addresses) {
		out = append(out, e.w.addresses[k].clone())
	}
	return out
}

func ec2NetworkOperations() []operation {
	op := func(action string, mutating bool, h func(*Emulator, *request) ([]node, *apiError)) operation {
		return operation{service: ServiceEC2, action: action, mutating: mutating, handle: h}
	}
	return []operation{
		op("DescribeRouteTables", false, (*Emulator).describeRouteTables),
		op("DescribeNetworkAcls", false, (*Emulator).describeNetworkAcls),
		op("DescribeAddresses", false, (*Emulator).describeAddresses),
		op("DeleteSecurityGroup", true, (*Emulator).deleteSecurityGroup),
		op("CreateNetworkAcl", true, (*Emulator).createNetworkAcl),
		op("CreateNetworkAclEntry", true, (*Emulator).createNetworkAclEntry),
		op("ReplaceNetworkAclAssociation", true, (*Emulator).replaceNetworkAclAssociation),
		op("DeleteNetworkAcl", true, (*Emulator).deleteNetworkAcl),
		op("DisassociateAddress", true, (*Emulator).disassociateAddress),
		op("AssociateAddress", true, (*Emulator).associateAddress),
	}
}

// idSuffix is the hexadecimal part of an EC2 id ("vpc-0abc" → "0abc").
func idSuffix(id string) string {
	_, s, _ := strings.Cut(id, "-")
	return s
}

// vpcNetwork makes the default network ACL and the main route table of
// every VPC that has none yet. Caller holds e.mu.
func (e *Emulator) vpcNetwork() {
	for _, vid := range sortedKeys(e.w.vpcs) {
		v := e.w.vpcs[vid]
		aclID := "acl-" + idSuffix(v.ID)
		if _, ok := e.w.acls[aclID]; !ok {
			a := &NetworkACL{ID: aclID, VPCID: v.ID, IsDefault: true, Associations: map[string]string{}, Tags: map[string]string{},
				Entries: []ACLEntry{
					{RuleNumber: 100, Protocol: "-1", Allow: true, CIDR: "0.0.0.0/0"},
					{RuleNumber: 100, Egress: true, Protocol: "-1", Allow: true, CIDR: "0.0.0.0/0"},
					{RuleNumber: 32767, Protocol: "-1", CIDR: "0.0.0.0/0"},
					{RuleNumber: 32767, Egress: true, Protocol: "-1", CIDR: "0.0.0.0/0"},
				}}
			e.w.acls[aclID] = a
		}
		rtbID := "rtb-" + idSuffix(v.ID)
		if _, ok := e.w.routeTables[rtbID]; !ok {
			e.w.routeTables[rtbID] = &RouteTable{ID: rtbID, VPCID: v.ID, Main: true,
				Routes:       []Route{{DestinationCIDR: v.CIDR, GatewayID: "local"}},
				Associations: map[string]string{"rtbassoc-" + idSuffix(v.ID): ""}, Tags: map[string]string{}}
		}
	}
	// Every subnet is associated with exactly one ACL: the default one of
	// its VPC unless another was put in its place.
	associated := map[string]bool{}
	for _, a := range e.w.acls {
		for _, s := range a.Associations {
			associated[s] = true
		}
	}
	for _, sid := range sortedKeys(e.w.subnets) {
		s := e.w.subnets[sid]
		if !associated[sid] {
			if a, ok := e.w.acls["acl-"+idSuffix(s.VPCID)]; ok {
				a.Associations["aclassoc-"+idSuffix(sid)] = sid
			}
		}
	}
}

// aclOf finds the ACL of a subnet and the association id.
func (e *Emulator) aclOf(subnetID string) (*NetworkACL, string) {
	for _, a := range e.w.acls {
		for id, s := range a.Associations {
			if s == subnetID {
				return a, id
			}
		}
	}
	return nil, ""
}

// ---- route tables ------------------------------------------------------------

func (e *Emulator) describeRouteTables(r *request) ([]node, *apiError) {
	e.vpcNetwork()
	ids := r.p.list("RouteTableId")
	for _, id := range ids {
		if _, ok := e.w.routeTables[id]; !ok {
			return nil, notFound("InvalidRouteTableID.NotFound", "The routeTable ID '%s' does not exist", id)
		}
	}
	fs := r.p.filters()
	var items []node
	for _, id := range sortedKeys(e.w.routeTables) {
		t := e.w.routeTables[id]
		if len(ids) > 0 && !slices.Contains(ids, id) {
			continue
		}
		ok, err := matchFilters(fs, t.Tags, func(name string) ([]string, bool) {
			var vs []string
			switch name {
			case "route-table-id":
				return one(t.ID), true
			case "vpc-id":
				return one(t.VPCID), true
			case "association.main":
				return one(strconv.FormatBool(t.Main)), true
			case "association.subnet-id":
				for _, s := range t.Associations {
					vs = append(vs, s)
				}
				return vs, true
			case "association.route-table-association-id":
				return sortedKeys(t.Associations), true
			}
			field, isRoute := strings.CutPrefix(name, "route.")
			if !isRoute {
				return nil, false
			}
			for _, rt := range t.Routes {
				switch field {
				case "destination-cidr-block":
					vs = append(vs, rt.DestinationCIDR)
				case "gateway-id":
					vs = append(vs, rt.GatewayID)
				case "instance-id":
					vs = append(vs, rt.InstanceID)
				case "network-interface-id":
					vs = append(vs, rt.NetworkInterfaceID)
				case "nat-gateway-id":
					vs = append(vs, rt.NatGatewayID)
				default:
					return nil, false
				}
			}
			return vs, true
		})
		if err != nil {
			return nil, err
		}
		if !ok {
			continue
		}
		var routes, assocs []node
		for _, rt := range t.Routes {
			owner := node{omit: true}
			if rt.InstanceID != "" {
				owner = leaf("instanceOwnerId", e.w.account)
			}
			origin := "CreateRoute"
			if rt.GatewayID == "local" {
				origin = "CreateRouteTable"
			}
			routes = append(routes, item(
				leaf("destinationCidrBlock", rt.DestinationCIDR),
				opt("gatewayId", rt.GatewayID), opt("instanceId", rt.InstanceID), owner,
				opt("networkInterfaceId", rt.NetworkInterfaceID), opt("natGatewayId", rt.NatGatewayID),
				leaf("state", "active"), leaf("origin", origin),
			))
		}
		for _, aid := range sortedKeys(t.Associations) {
			s := t.Associations[aid]
			assocs = append(assocs, item(
				leaf("routeTableAssociationId", aid), leaf("routeTableId", t.ID), opt("subnetId", s),
				boolLeaf("main", s == "" && t.Main), el("associationState", leaf("state", "associated")),
			))
		}
		items = append(items, item(
			leaf("routeTableId", t.ID), leaf("vpcId", t.VPCID), leaf("ownerId", e.w.account),
			set("routeSet", routes), set("associationSet", assocs), set("propagatingVgwSet", nil), ec2TagSet(t.Tags),
		))
	}
	return []node{set("routeTableSet", items)}, nil
}

// ---- network ACLs ------------------------------------------------------------

func (e *Emulator) networkACL(id string) (*NetworkACL, *apiError) {
	if id == "" {
		return nil, errMissingParameter("NetworkAclId")
	}
	a, ok := e.w.acls[id]
	if !ok || e.notYetVisible(id) {
		return nil, notFound("InvalidNetworkAclID.NotFound", "The networkAcl ID '%s' does not exist", id)
	}
	return a, nil
}

func (e *Emulator) renderACL(a *NetworkACL) node {
	entries := slices.Clone(a.Entries)
	slices.SortStableFunc(entries, func(x, y ACLEntry) int {
		if x.Egress != y.Egress {
			if x.Egress {
				return 1
			}
			return -1
		}
		return x.RuleNumber - y.RuleNumber
	})
	var es, assocs []node
	for _, en := range entries {
		action := "deny"
		if en.Allow {
			action = "allow"
		}
		ports := node{omit: true}
		if en.Protocol != "-1" && (en.FromPort != 0 || en.ToPort != 0) {
			ports = el("portRange", intLeaf("from", en.FromPort), intLeaf("to", en.ToPort))
		}
		es = append(es, item(
			intLeaf("ruleNumber", en.RuleNumber), leaf("protocol", en.Protocol), leaf("ruleAction", action),
			boolLeaf("egress", en.Egress), opt("cidrBlock", en.CIDR), opt("ipv6CidrBlock", en.IPv6CIDR), ports,
		))
	}
	for _, aid := range sortedKeys(a.Associations) {
		assocs = append(assocs, item(leaf("networkAclAssociationId", aid), leaf("networkAclId", a.ID), leaf("subnetId", a.Associations[aid])))
	}
	return item(
		leaf("networkAclId", a.ID), leaf("vpcId", a.VPCID), boolLeaf("default", a.IsDefault), leaf("ownerId", e.w.account),
		set("entrySet", es), set("associationSet", assocs), ec2TagSet(a.Tags),
	)
}

func (e *Emulator) describeNetworkAcls(r *request) ([]node, *apiError) {
	e.vpcNetwork()
	ids := r.p.list("NetworkAclId")
	for _, id := range ids {
		if _, err := e.networkACL(id); err != nil {
			return nil, err
		}
	}
	fs := r.p.filters()
	var items []node
	for _, id := range sortedKeys(e.w.acls) {
		a := e.w.acls[id]
		if len(ids) > 0 && !slices.Contains(ids, id) {
			continue
		}
		ok, err := matchFilters(fs, a.Tags, func(name string) ([]string, bool) {
			switch name {
			case "network-acl-id", "association.network-acl-id":
				return one(a.ID), true
			case "vpc-id":
				return one(a.VPCID), true
			case "default":
				return one(strconv.FormatBool(a.IsDefault)), true
			case "association.subnet-id":
				return a.clone().Subnets(), true
			case "association.association-id":
				return sortedKeys(a.Associations), true
			case "owner-id":
				return one(e.w.account), true
			}
			return nil, false
		})
		if err != nil {
			return nil, err
		}
		if ok {
			items = append(items, e.renderACL(a))
		}
	}
	return []node{set("networkAclSet", items)}, nil
}

func (e *Emulator) createNetworkAcl(r *request) ([]node, *apiError) {
	e.vpcNetwork()
	vpcID := r.p.get("VpcId")
	if vpcID == "" {
		return nil, errMissingParameter("VpcId")
	}
	if _, ok := e.w.vpcs[vpcID]; !ok {
		return nil, notFound("InvalidVpcID.NotFound", "The vpc ID '%s' does not exist", vpcID)
	}
	token := r.p.get("ClientToken")
	if token != "" {
		// Idempotency: the same token returns the ACL it created.
		for _, id := range sortedKeys(e.w.acls) {
			if a := e.w.acls[id]; a.clientToken == token {
				if a.VPCID != vpcID {
					return nil, clientErr(http.StatusBadRequest, "IdempotentParameterMismatch",
						"The client token %s was already used with different parameters", token)
				}
				if err := r.commit(); err != nil {
					return nil, err
				}
				return []node{el("networkAcl", e.renderACL(a).kids...), leaf("clientToken", token)}, nil
			}
		}
	}
	if err := r.commit(); err != nil {
		return nil, err
	}
	// A new ACL denies everything until rules are added.
	a := &NetworkACL{ID: e.newID("acl"), VPCID: vpcID, Associations: map[string]string{}, Tags: r.p.tagSpecs("network-acl"), clientToken: token,
		Entries: []ACLEntry{
			{RuleNumber: 32767, Protocol: "-1", CIDR: "0.0.0.0/0"},
			{RuleNumber: 32767, Egress: true, Protocol: "-1", CIDR: "0.0.0.0/0"},
		}}
	e.w.acls[a.ID] = a
	e.created(a.ID)
	return []node{el("networkAcl", e.renderACL(a).kids...), opt("clientToken", token)}, nil
}

func (e *Emulator) createNetworkAclEntry(r *request) ([]node, *apiError) {
	a, err := e.networkACL(r.p.get("NetworkAclId"))
	if err != nil {
		return nil, err
	}
	n, ok, err := r.p.integer("RuleNumber")
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, errMissingParameter("RuleNumber")
	}
	if n < 1 || n > 32766 {
		return nil, errInvalidParameter("Invalid value '%d' for ruleNumber. It must be between 1 and 32766.", n)
	}
	action := r.p.get("RuleAction")
	if action != "allow" && action != "deny" {
		return nil, errInvalidParameter("Invalid value '%s' for ruleAction", action)
	}
	en := ACLEntry{RuleNumber: n, Egress: r.p.boolean("Egress"), Protocol: normProtocol(r.p.get("Protocol")), Allow: action == "allow",
		CIDR: r.p.get("CidrBlock"), IPv6CIDR: r.p.get("Ipv6CidrBlock")}
	if en.CIDR == "" && en.IPv6CIDR == "" {
		return nil, errMissingParameter("CidrBlock")
	}
	if from, ok, _ := r.p.integer("PortRange.From"); ok {
		en.FromPort = from
	}
	if to, ok, _ := r.p.integer("PortRange.To"); ok {
		en.ToPort = to
	}
	for _, x := range a.Entries {
		if x.RuleNumber == n && x.Egress == en.Egress {
			return nil, clientErr(http.StatusBadRequest, "NetworkAclEntryAlreadyExists",
				"The network acl entry identified by %d already exists.", n)
		}
	}
	if err := r.commit(); err != nil {
		return nil, err
	}
	a.Entries = append(a.Entries, en)
	return []node{boolLeaf("return", true)}, nil
}

func (e *Emulator) replaceNetworkAclAssociation(r *request) ([]node, *apiError) {
	e.vpcNetwork()
	assoc := r.p.get("AssociationId")
	if assoc == "" {
		return nil, errMissingParameter("AssociationId")
	}
	target, err := e.networkACL(r.p.get("NetworkAclId"))
	if err != nil {
		return nil, err
	}
	var from *NetworkACL
	for _, a := range e.w.acls {
		if _, ok := a.Associations[assoc]; ok {
			from = a
		}
	}
	if from == nil {
		return nil, notFound("InvalidAssociationID.NotFound", "The association ID '%s' does not exist", assoc)
	}
	if from.VPCID != target.VPCID {
		return nil, errInvalidParameter("Network ACL %s and association %s belong to different VPCs", target.ID, assoc)
	}
	if err := r.commit(); err != nil {
		return nil, err
	}
	subnet := from.Associations[assoc]
	delete(from.Associations, assoc)
	id := e.newID("aclassoc")
	target.Associations[id] = subnet
	return []node{leaf("newAssociationId", id)}, nil
}

func (e *Emulator) deleteNetworkAcl(r *request) ([]node, *apiError) {
	e.vpcNetwork()
	a, err := e.networkACL(r.p.get("NetworkAclId"))
	if err != nil {
		return nil, err
	}
	if a.IsDefault {
		return nil, errInvalidParameter("cannot delete default network ACL %s", a.ID)
	}
	if len(a.Associations) > 0 {
		return nil, clientErr(http.StatusBadRequest, "DependencyViolation", "The networkAcl '%s' has dependencies and cannot be deleted.", a.ID)
	}
	if err := r.commit(); err != nil {
		return nil, err
	}
	delete(e.w.acls, a.ID)
	return []node{boolLeaf("return", true)}, nil
}

// ---- security groups ------------------------------------------------------------

// deleteSecurityGroup deletes a group that nothing uses: a group still on
// an interface, or named by another group's rule, answers
// DependencyViolation, and a VPC's default group cannot be deleted.
func (e *Emulator) deleteSecurityGroup(r *request) ([]node, *apiError) {
	id := r.p.get("GroupId")
	if id == "" {
		if name := r.p.get("GroupName"); name != "" {
			return nil, errInvalidParameter("Security groups in a nondefault VPC must be deleted by group id (%s)", name)
		}
		return nil, errMissingParameter("GroupId")
	}
	g, err := e.group(id)
	if err != nil {
		return nil, err
	}
	if g.Name == "default" {
		return nil, clientErr(http.StatusBadRequest, "CannotDelete", "the specified group: \"%s\" name: \"default\" cannot be deleted by a user", id)
	}
	for _, eniID := range sortedKeys(e.w.enis) {
		if slices.Contains(e.w.enis[eniID].SecurityGroupIDs, id) {
			return nil, clientErr(http.StatusBadRequest, "DependencyViolation", "resource %s has a dependent object", id)
		}
	}
	for _, other := range e.w.groups {
		if other.ID == id {
			continue
		}
		for _, p := range slices.Concat(other.Ingress, other.Egress) {
			if slices.Contains(p.GroupIDs, id) {
				return nil, clientErr(http.StatusBadRequest, "DependencyViolation", "resource %s has a dependent object", id)
			}
		}
	}
	if err := r.commit(); err != nil {
		return nil, err
	}
	delete(e.w.groups, id)
	return []node{boolLeaf("return", true), leaf("groupId", id)}, nil
}

// ---- Elastic IPs ------------------------------------------------------------

func (e *Emulator) renderAddress(a *Address) node {
	owner := node{omit: true}
	if a.NetworkInterfaceID != "" {
		owner = leaf("networkInterfaceOwnerId", e.w.account)
	}
	return item(
		leaf("publicIp", a.PublicIP), leaf("allocationId", a.AllocationID), leaf("domain", "vpc"),
		opt("instanceId", a.InstanceID), opt("associationId", a.AssociationID),
		opt("networkInterfaceId", a.NetworkInterfaceID), owner, opt("privateIpAddress", a.PrivateIP),
		ec2TagSet(a.Tags), leaf("publicIpv4Pool", "amazon"), leaf("networkBorderGroup", e.region),
	)
}

func (e *Emulator) describeAddresses(r *request) ([]node, *apiError) {
	ids, ips := r.p.list("AllocationId"), r.p.list("PublicIp")
	for _, id := range ids {
		if _, ok := e.w.addresses[id]; !ok {
			return nil, notFound("InvalidAllocationID.NotFound", "The allocation ID '%s' does not exist", id)
		}
	}
	fs := r.p.filters()
	var items []node
	found := map[string]bool{}
	for _, id := range sortedKeys(e.w.addresses) {
		a := e.w.addresses[id]
		if len(ids) > 0 && !slices.Contains(ids, id) || len(ips) > 0 && !slices.Contains(ips, a.PublicIP) {
			continue
		}
		ok, err := matchFilters(fs, a.Tags, func(name string) ([]string, bool) {
			switch name {
			case "allocation-id":
				return one(a.AllocationID), true
			case "association-id":
				return one(a.AssociationID), true
			case "instance-id":
				return one(a.InstanceID), true
			case "network-interface-id":
				return one(a.NetworkInterfaceID), true
			case "private-ip-address":
				return one(a.PrivateIP), true
			case "public-ip":
				return one(a.PublicIP), true
			case "domain":
				return one("vpc"), true
			case "network-interface-owner-id":
				return one(e.w.account), true
			}
			return nil, false
		})
		if err != nil {
			return nil, err
		}
		if ok {
			found[a.PublicIP] = true
			items = append(items, e.renderAddress(a))
		}
	}
	for _, ip := range ips {
		if !found[ip] && len(fs) == 0 {
			return nil, notFound("InvalidAddress.NotFound", "Address '%s' not found.", ip)
		}
	}
	return []node{set("addressesSet", items)}, nil
}

// associationTarget resolves where an address goes: an instance's primary
// interface, or an interface.
func (e *Emulator) associationTarget(instanceID, eniID string) (*NetworkInterface, *apiError) {
	if eniID != "" {
		n, ok := e.w.enis[eniID]
		if !ok {
			return nil, notFound("InvalidNetworkInterfaceID.NotFound", "The networkInterface ID '%s' does not exist", eniID)
		}
		return n, nil
	}
	in, err := e.instance(instanceID)
	if err != nil {
		return nil, err
	}
	n := e.primaryENI(in)
	if n == nil {
		return nil, clientErr(http.StatusBadRequest, "InvalidInstanceID", "The instance '%s' has no network interface", in.ID)
	}
	return n, nil
}

func (e *Emulator) associate(a *Address, n *NetworkInterface, privateIP string) {
	a.AssociationID = e.newID("eipassoc")
	a.NetworkInterfaceID, a.InstanceID, a.PrivateIP = n.ID, n.InstanceID, privateIP
}

func (e *Emulator) associateAddress(r *request) ([]node, *apiError) {
	id := r.p.get("AllocationId")
	if id == "" {
		return nil, errMissingParameter("AllocationId")
	}
	a, ok := e.w.addresses[id]
	if !ok {
		return nil, notFound("InvalidAllocationID.NotFound", "The allocation ID '%s' does not exist", id)
	}
	instanceID, eniID := r.p.get("InstanceId"), r.p.get("NetworkInterfaceId")
	if instanceID == "" && eniID == "" {
		return nil, errMissingParameter("InstanceId")
	}
	n, err := e.associationTarget(instanceID, eniID)
	if err != nil {
		return nil, err
	}
	ip := r.p.get("PrivateIpAddress")
	if ip == "" {
		ip = n.PrivateIP
	} else if ip != n.PrivateIP {
		return nil, errInvalidParameter("The private IP address %s is not assigned to %s", ip, n.ID)
	}
	if a.AssociationID != "" && !r.p.boolean("AllowReassociation") {
		return nil, clientErr(http.StatusBadRequest, "Resource.AlreadyAssociated",
			"resource %s is already associated with associate-id %s", a.AllocationID, a.AssociationID)
	}
	for _, other := range e.w.addresses {
		if other != a && other.NetworkInterfaceID == n.ID && other.PrivateIP == ip {
			if !r.p.boolean("AllowReassociation") {
				return nil, clientErr(http.StatusBadRequest, "Resource.AlreadyAssociated",
					"the private IP address %s of %s already has an Elastic IP", ip, n.ID)
			}
		}
	}
	if err := r.commit(); err != nil {
		return nil, err
	}
	for _, other := range e.w.addresses {
		if other != a && other.NetworkInterfaceID == n.ID && other.PrivateIP == ip {
			other.AssociationID, other.NetworkInterfaceID, other.InstanceID, other.PrivateIP = "", "", "", ""
		}
	}
	e.associate(a, n, ip)
	return []node{boolLeaf("return", true), leaf("associationId", a.AssociationID)}, nil
}

func (e *Emulator) disassociateAddress(r *request) ([]node, *apiError) {
	assoc := r.p.get("AssociationId")
	if assoc == "" {
		return nil, errMissingParameter("AssociationId")
	}
	var a *Address
	for _, x := range e.w.addresses {
		if x.AssociationID == assoc {
			a = x
		}
	}
	if a == nil {
		return nil, notFound("InvalidAssociationID.NotFound", "The association ID '%s' does not exist", assoc)
	}
	if err := r.commit(); err != nil {
		return nil, err
	}
	a.AssociationID, a.NetworkInterfaceID, a.InstanceID, a.PrivateIP = "", "", "", ""
	return []node{boolLeaf("return", true)}, nil
}
