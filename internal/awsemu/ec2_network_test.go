package awsemu_test

import (
	"context"
	"slices"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/cordon-ir/cordon/internal/awsemu"
)

// A group still on an interface, or named by another group's rule, cannot
// be deleted (DependencyViolation); a VPC's default group never; a group
// nothing uses can, and is gone.
func TestDeleteSecurityGroupRefusesAGroupInUse(t *testing.T) {
	emu, info := newFleet(t, awsemu.FleetSpec{Instances: 1, NetworkInterfaces: 1})
	ctx := context.Background()
	c := ec2.NewFromConfig(emu.AWSConfig())
	_, err := c.DeleteSecurityGroup(ctx, &ec2.DeleteSecurityGroupInput{GroupId: aws.String(info.SecurityGroupID)})
	if code := apiCode(t, err); code != "DependencyViolation" {
		t.Errorf("in use by an interface: %s", code)
	}
	mk := func(name string) string {
		out, err := c.CreateSecurityGroup(ctx, &ec2.CreateSecurityGroupInput{GroupName: aws.String(name), Description: aws.String(name), VpcId: aws.String(info.VPCID)})
		if err != nil {
			t.Fatal(err)
		}
		return aws.ToString(out.GroupId)
	}
	referenced, referrer := mk("referenced"), mk("referrer")
	if _, err := c.AuthorizeSecurityGroupIngress(ctx, &ec2.AuthorizeSecurityGroupIngressInput{GroupId: aws.String(referrer),
		IpPermissions: []ec2types.IpPermission{{IpProtocol: aws.String("-1"), UserIdGroupPairs: []ec2types.UserIdGroupPair{{GroupId: aws.String(referenced)}}}}}); err != nil {
		t.Fatal(err)
	}
	_, err = c.DeleteSecurityGroup(ctx, &ec2.DeleteSecurityGroupInput{GroupId: aws.String(referenced)})
	if code := apiCode(t, err); code != "DependencyViolation" {
		t.Errorf("referenced by a rule: %s", code)
	}
	for _, g := range emu.SecurityGroups() {
		if g.VPCID == info.VPCID && g.Name == "default" {
			_, err = c.DeleteSecurityGroup(ctx, &ec2.DeleteSecurityGroupInput{GroupId: aws.String(g.ID)})
			if code := apiCode(t, err); code != "CannotDelete" {
				t.Errorf("default group: %s", code)
			}
		}
	}
	if _, err := c.DeleteSecurityGroup(ctx, &ec2.DeleteSecurityGroupInput{GroupId: aws.String(referrer), DryRun: aws.Bool(true)}); apiCode(t, err) != "DryRunOperation" {
		t.Errorf("dry run: %v", err)
	}
	if _, ok := emu.SecurityGroup(referrer); !ok {
		t.Fatal("a dry run deleted the group")
	}
	out, err := c.DeleteSecurityGroup(ctx, &ec2.DeleteSecurityGroupInput{GroupId: aws.String(referrer)})
	if err != nil || aws.ToString(out.GroupId) != referrer {
		t.Fatalf("delete unused group: %v", err)
	}
	if _, ok := emu.SecurityGroup(referrer); ok {
		t.Error("deleted group still there")
	}
	_, err = c.DeleteSecurityGroup(ctx, &ec2.DeleteSecurityGroupInput{GroupId: aws.String(referrer)})
	if code := apiCode(t, err); code != "InvalidGroup.NotFound" {
		t.Errorf("deleted twice: %s", code)
	}
}

// Interfaces report their type, manager and source/dest check, and the
// check can be switched through ModifyNetworkInterfaceAttribute.
func TestNetworkInterfaceTypeManagerAndSourceDestCheck(t *testing.T) {
	emu, info := newFleet(t, awsemu.FleetSpec{Instances: 1, NetworkInterfaces: 2})
	ctx := context.Background()
	c := ec2.NewFromConfig(emu.AWSConfig())
	in, _ := emu.Instance(info.InstanceIDs[0])
	managed := in.NetworkInterfaceIDs[1]
	if err := emu.ConfigureNetworkInterface(managed, awsemu.InterfaceConfig{InterfaceType: "network_load_balancer", RequesterManaged: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.ModifyNetworkInterfaceAttribute(ctx, &ec2.ModifyNetworkInterfaceAttributeInput{
		NetworkInterfaceId: aws.String(in.NetworkInterfaceIDs[0]), SourceDestCheck: &ec2types.AttributeBooleanValue{Value: aws.Bool(false)}}); err != nil {
		t.Fatal(err)
	}
	out, err := c.DescribeNetworkInterfaces(ctx, &ec2.DescribeNetworkInterfacesInput{NetworkInterfaceIds: in.NetworkInterfaceIDs})
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range out.NetworkInterfaces {
		switch aws.ToString(n.NetworkInterfaceId) {
		case managed:
			if !aws.ToBool(n.RequesterManaged) || n.InterfaceType != "network_load_balancer" || !aws.ToBool(n.SourceDestCheck) {
				t.Errorf("managed interface: %+v", n)
			}
		default:
			if aws.ToBool(n.RequesterManaged) || n.InterfaceType != "interface" || aws.ToBool(n.SourceDestCheck) {
				t.Errorf("forwarding interface: requester managed %v type %s check %v", aws.ToBool(n.RequesterManaged), n.InterfaceType, aws.ToBool(n.SourceDestCheck))
			}
		}
	}
}

// Every VPC has a main route table; routes to an instance show the
// instance and its interface and are found by the route.* filters.
func TestRouteTablesWithInstanceTargets(t *testing.T) {
	emu, info := newFleet(t, awsemu.FleetSpec{Instances: 1, NetworkInterfaces: 1})
	ctx := context.Background()
	c := ec2.NewFromConfig(emu.AWSConfig())
	id := info.InstanceIDs[0]
	rtb, err := emu.AddRouteTable(awsemu.RouteTableSpec{VPCID: info.VPCID, SubnetIDs: info.SubnetIDs[1:2],
		Routes: []awsemu.Route{{DestinationCIDR: "0.0.0.0/0", InstanceID: id}}})
	if err != nil {
		t.Fatal(err)
	}
	all, err := c.DescribeRouteTables(ctx, &ec2.DescribeRouteTablesInput{Filters: []ec2types.Filter{{Name: aws.String("vpc-id"), Values: []string{info.VPCID}}}})
	if err != nil || len(all.RouteTables) != 2 {
		t.Fatalf("route tables of the VPC: %v, %+v", err, all)
	}
	in, _ := emu.Instance(id)
	for _, f := range []ec2types.Filter{
		{Name: aws.String("route.instance-id"), Values: []string{id}},
		{Name: aws.String("route.network-interface-id"), Values: in.NetworkInterfaceIDs[:1]},
		{Name: aws.String("association.subnet-id"), Values: info.SubnetIDs[1:2]},
	} {
		out, err := c.DescribeRouteTables(ctx, &ec2.DescribeRouteTablesInput{Filters: []ec2types.Filter{f}})
		if err != nil {
			t.Fatal(err)
		}
		if len(out.RouteTables) != 1 || aws.ToString(out.RouteTables[0].RouteTableId) != rtb.ID {
			t.Fatalf("filter %s: %+v", aws.ToString(f.Name), out.RouteTables)
		}
		rt := out.RouteTables[0]
		var toInstance bool
		for _, r := range rt.Routes {
			toInstance = toInstance || aws.ToString(r.InstanceId) == id && aws.ToString(r.NetworkInterfaceId) == in.NetworkInterfaceIDs[0]
		}
		if !toInstance || len(rt.Associations) != 1 || aws.ToString(rt.Associations[0].SubnetId) != info.SubnetIDs[1] {
			t.Errorf("route table %+v", rt)
		}
	}
}

// Network ACLs: the default one allows all and holds every subnet; a new
// one denies all, is the same for the same client token, takes a subnet
// by association replacement, and cannot be deleted while it holds one.
func TestNetworkACLs(t *testing.T) {
	emu, info := newFleet(t, awsemu.FleetSpec{Instances: 1})
	ctx := context.Background()
	c := ec2.NewFromConfig(emu.AWSConfig())
	subnet := info.SubnetIDs[0]
	cur, err := c.DescribeNetworkAcls(ctx, &ec2.DescribeNetworkAclsInput{Filters: []ec2types.Filter{{Name: aws.String("association.subnet-id"), Values: []string{subnet}}}})
	if err != nil || len(cur.NetworkAcls) != 1 || !aws.ToBool(cur.NetworkAcls[0].IsDefault) || len(cur.NetworkAcls[0].Associations) != len(info.SubnetIDs) {
		t.Fatalf("default ACL: %v %+v", err, cur)
	}
	def := cur.NetworkAcls[0]
	var assoc string
	for _, a := range def.Associations {
		if aws.ToString(a.SubnetId) == subnet {
			assoc = aws.ToString(a.NetworkAclAssociationId)
		}
	}
	in := &ec2.CreateNetworkAclInput{VpcId: aws.String(info.VPCID), ClientToken: aws.String("token-1"),
		TagSpecifications: []ec2types.TagSpecification{{ResourceType: ec2types.ResourceTypeNetworkAcl, Tags: []ec2types.Tag{{Key: aws.String("Name"), Value: aws.String("q")}}}}}
	if _, err := c.CreateNetworkAcl(ctx, &ec2.CreateNetworkAclInput{VpcId: in.VpcId, DryRun: aws.Bool(true)}); apiCode(t, err) != "DryRunOperation" {
		t.Fatalf("dry run: %v", err)
	}
	first, err := c.CreateNetworkAcl(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	again, err := c.CreateNetworkAcl(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	acl := aws.ToString(first.NetworkAcl.NetworkAclId)
	if aws.ToString(again.NetworkAcl.NetworkAclId) != acl || len(emu.NetworkACLs()) != 2 {
		t.Fatalf("same client token made %s then %s", acl, aws.ToString(again.NetworkAcl.NetworkAclId))
	}
	for _, e := range first.NetworkAcl.Entries {
		if e.RuleAction != ec2types.RuleActionDeny {
			t.Errorf("a new ACL allows: %+v", e)
		}
	}
	if _, err := c.CreateNetworkAclEntry(ctx, &ec2.CreateNetworkAclEntryInput{NetworkAclId: aws.String(acl), RuleNumber: aws.Int32(100),
		Protocol: aws.String("-1"), RuleAction: ec2types.RuleActionAllow, CidrBlock: aws.String("10.0.0.0/8"), Egress: aws.Bool(false)}); err != nil {
		t.Fatal(err)
	}
	_, err = c.CreateNetworkAclEntry(ctx, &ec2.CreateNetworkAclEntryInput{NetworkAclId: aws.String(acl), RuleNumber: aws.Int32(100),
		Protocol: aws.String("-1"), RuleAction: ec2types.RuleActionDeny, CidrBlock: aws.String("0.0.0.0/0"), Egress: aws.Bool(false)})
	if code := apiCode(t, err); code != "NetworkAclEntryAlreadyExists" {
		t.Errorf("duplicate rule: %s", code)
	}
	rep, err := c.ReplaceNetworkAclAssociation(ctx, &ec2.ReplaceNetworkAclAssociationInput{AssociationId: aws.String(assoc), NetworkAclId: aws.String(acl)})
	if err != nil || aws.ToString(rep.NewAssociationId) == "" {
		t.Fatalf("replace: %v", err)
	}
	if a, _ := emu.NetworkACLOf(subnet); a.ID != acl {
		t.Errorf("subnet's ACL = %s", a.ID)
	}
	_, err = c.ReplaceNetworkAclAssociation(ctx, &ec2.ReplaceNetworkAclAssociationInput{AssociationId: aws.String(assoc), NetworkAclId: aws.String(acl)})
	if code := apiCode(t, err); code != "InvalidAssociationID.NotFound" {
		t.Errorf("replaced association reused: %s", code)
	}
	_, err = c.DeleteNetworkAcl(ctx, &ec2.DeleteNetworkAclInput{NetworkAclId: aws.String(acl)})
	if code := apiCode(t, err); code != "DependencyViolation" {
		t.Errorf("delete in use: %s", code)
	}
	if _, err := c.ReplaceNetworkAclAssociation(ctx, &ec2.ReplaceNetworkAclAssociationInput{AssociationId: rep.NewAssociationId, NetworkAclId: def.NetworkAclId}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.DeleteNetworkAcl(ctx, &ec2.DeleteNetworkAclInput{NetworkAclId: aws.String(acl)}); err != nil {
		t.Fatalf("delete unused: %v", err)
	}
	if _, err := c.DeleteNetworkAcl(ctx, &ec2.DeleteNetworkAclInput{NetworkAclId: def.NetworkAclId}); apiCode(t, err) != "InvalidParameterValue" {
		t.Errorf("delete default: %v", err)
	}
}

// Elastic IPs: found by instance or interface, disassociated (the
// association id is then unknown), associated again; an associated
// address is not taken without AllowReassociation.
func TestElasticIPs(t *testing.T) {
	emu, info := newFleet(t, awsemu.FleetSpec{Instances: 2, NetworkInterfaces: 1})
	ctx := context.Background()
	c := ec2.NewFromConfig(emu.AWSConfig())
	id := info.InstanceIDs[0]
	addr, err := emu.AddAddress(awsemu.AddressSpec{InstanceID: id})
	if err != nil {
		t.Fatal(err)
	}
	in, _ := emu.Instance(id)
	out, err := c.DescribeAddresses(ctx, &ec2.DescribeAddressesInput{Filters: []ec2types.Filter{{Name: aws.String("network-interface-id"), Values: in.NetworkInterfaceIDs}}})
	if err != nil || len(out.Addresses) != 1 {
		t.Fatalf("%v %+v", err, out)
	}
	a := out.Addresses[0]
	if aws.ToString(a.InstanceId) != id || aws.ToString(a.AssociationId) != addr.AssociationID || aws.ToString(a.PublicIp) != addr.PublicIP {
		t.Errorf("address %+v", a)
	}
	if _, err := c.DisassociateAddress(ctx, &ec2.DisassociateAddressInput{AssociationId: a.AssociationId}); err != nil {
		t.Fatal(err)
	}
	_, err = c.DisassociateAddress(ctx, &ec2.DisassociateAddressInput{AssociationId: a.AssociationId})
	if code := apiCode(t, err); code != "InvalidAssociationID.NotFound" {
		t.Errorf("twice: %s", code)
	}
	if got := emu.Addresses(); len(got) != 1 || got[0].AssociationID != "" {
		t.Errorf("after disassociation: %+v", got)
	}
	if _, err := c.AssociateAddress(ctx, &ec2.AssociateAddressInput{AllocationId: a.AllocationId, NetworkInterfaceId: aws.String(in.NetworkInterfaceIDs[0])}); err != nil {
		t.Fatal(err)
	}
	_, err = c.AssociateAddress(ctx, &ec2.AssociateAddressInput{AllocationId: a.AllocationId, InstanceId: aws.String(info.InstanceIDs[1]), AllowReassociation: aws.Bool(false)})
	if code := apiCode(t, err); code != "Resource.AlreadyAssociated" {
		t.Errorf("reassociation: %s", code)
	}
	if got := emu.Addresses(); !slices.ContainsFunc(got, func(x awsemu.Address) bool { return x.InstanceID == id }) {
		t.Errorf("address moved: %+v", got)
	}
}
