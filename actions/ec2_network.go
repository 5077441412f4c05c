package actions

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"go.temporal.io/sdk/temporal"
)

// Network containment beyond security groups: Elastic IPs, and network
// ACLs for what a group swap cannot cut (connections AWS always tracks).

// Records these actions keep on the resources they change, for restore.
const (
	// TagEIPAssociation, on an Elastic IP: "eni-...,10.0.1.5", the
	// interface and private address it was associated with.
	TagEIPAssociation = "cordon:eip-association"
	// TagOriginalNetworkACL, on a subnet: the network ACL it had.
	TagOriginalNetworkACL = "cordon:original-network-acl"
	// quarantineNACL is the cordon:quarantine tag value of the deny-all
	// network ACLs.
	quarantineNACL = "nacl"
)

// addressAssociation is one entry of disassociate_address's output.
type addressAssociation struct {
	AllocationID       string `json:"allocation_id"`
	PublicIP           string `json:"public_ip"`
	NetworkInterfaceID string `json:"network_interface_id"`
	PrivateIP          string `json:"private_ip"`
}

func (a addressAssociation) String() string { return a.NetworkInterfaceID + " " + a.PrivateIP }

type addressParams struct {
	instanceParams
	Restore bool `json:"restore"`
}

func disassociateAddress(ctx context.Context, x *execution) error {
	var p addressParams
	in, err := decodeForInstance(ctx, x, &p)
	if err != nil {
		return err
	}
	enis := interfaceIDs(in)
	if p.Restore {
		// The older spelling of aws.ec2.restore_addresses.
		_, err := reassociateAddresses(ctx, x, p.InstanceID, enis)
		return err
	}
	result := []addressAssociation{}
	if len(enis) > 0 {
		addrs, err := describeAddresses(ctx, x, "read the Elastic IPs of "+p.InstanceID,
			ec2types.Filter{Name: aws.String("network-interface-id"), Values: sortedSet(enis)})
		if err != nil {
			return err
		}
		for _, a := range addrs {
			if a.AssociationId == nil {
				continue
			}
			assoc := addressAssociation{AllocationID: aws.ToString(a.AllocationId), PublicIP: aws.ToString(a.PublicIp),
				NetworkInterfaceID: aws.ToString(a.NetworkInterfaceId), PrivateIP: aws.ToString(a.PrivateIpAddress)}
			x.heartbeat(ctx, "disassociating "+assoc.AllocationID)
			// Record first: after a crash between the two calls the record
			// is what restore reads.
			record := assoc.NetworkInterfaceID + "," + assoc.PrivateIP
			if prior, ok := readRecord(ec2TagMap(a.Tags), TagEIPAssociation); !ok || prior != record {
				if err := writeRecord(ctx, x, assoc.AllocationID, TagEIPAssociation, record); err != nil {
					return err
				}
			}
			_, err := x.aws.EC2.DisassociateAddress(ctx, &ec2.DisassociateAddressInput{AssociationId: a.AssociationId, DryRun: aws.Bool(x.preview())})
			if isCode(err, "InvalidAssociationID.NotFound") && !x.preview() {
				// Gone since we looked (a concurrent run, a responder):
				// the address is off the instance, as wanted.
				x.note("%s (%s) was disassociated meanwhile", assoc.PublicIP, assoc.AllocationID)
				continue
			}
			if err := x.ec2Outcome("take "+assoc.PublicIP+" ("+assoc.AllocationID+") off "+p.InstanceID, "ec2:DisassociateAddress", err); err != nil {
				return err
			}
			x.change(assoc.AllocationID, "association", assoc.String(), nil)
			result = append(result, assoc)
		}
	}
	if len(result) == 0 {
		x.note("no Elastic IP is associated with %s: nothing to take off", p.InstanceID)
	}
	x.output("addresses", result)
	return nil
}

// restoreAddresses is aws.ec2.restore_addresses.
func restoreAddresses(ctx context.Context, x *execution) error {
	p, in, err := decodeInstance(ctx, x)
	if err != nil {
		return err
	}
	conflicts, err := reassociateAddresses(ctx, x, p.InstanceID, interfaceIDs(in))
	x.output("conflicts", nonNil(conflicts))
	return err
}

// reassociateAddresses puts back the associations recorded on addresses
// for the instance's interfaces, and removes the records. It returns the
// addresses left where someone put them since, whose records it keeps.
func reassociateAddresses(ctx context.Context, x *execution, instanceID string, enis map[string]bool) ([]string, error) {
	var conflicts []string
	addrs, err := describeAddresses(ctx, x, "read the Elastic IPs recorded for "+instanceID,
		ec2types.Filter{Name: aws.String("tag-key"), Values: []string{TagEIPAssociation}})
	if err != nil {
		return nil, err
	}
	result := []addressAssociation{}
	for _, a := range addrs {
		tags := ec2TagMap(a.Tags)
		record, _ := readRecord(tags, TagEIPAssociation)
		eni, ip, _ := strings.Cut(record, ",")
		if !enis[eni] {
			continue
		}
		assoc := addressAssociation{AllocationID: aws.ToString(a.AllocationId), PublicIP: aws.ToString(a.PublicIp), NetworkInterfaceID: eni, PrivateIP: ip}
		now := addressAssociation{NetworkInterfaceID: aws.ToString(a.NetworkInterfaceId), PrivateIP: aws.ToString(a.PrivateIpAddress)}
		switch {
		case a.AssociationId == nil:
			_, err := x.aws.EC2.AssociateAddress(ctx, &ec2.AssociateAddressInput{
				AllocationId: a.AllocationId, NetworkInterfaceId: aws.String(eni), PrivateIpAddress: aws.String(ip),
				AllowReassociation: aws.Bool(false), DryRun: aws.Bool(x.preview()),
			})
			if err := x.ec2Outcome("give "+assoc.PublicIP+" ("+assoc.AllocationID+") back to "+eni, "ec2:AssociateAddress", err); err != nil {
				return nil, err
			}
			x.change(assoc.AllocationID, "association", nil, assoc.String())
		case now == (addressAssociation{NetworkInterfaceID: eni, PrivateIP: ip}):
			x.note("%s is already back on %s; removing the record", assoc.PublicIP, eni)
		default:
			// Given to something else since: taking it back could cut that.
			msg := fmt.Sprintf("%s (%s) is now associated with %s, not with %s as recorded: left there, record kept", assoc.PublicIP, assoc.AllocationID, now, eni)
			x.note("%s", msg)
			conflicts = append(conflicts, msg)
			continue
		}
		keys := recordTagKeys(tags, TagEIPAssociation)
		if err := deleteRecord(ctx, x, assoc.AllocationID, TagEIPAssociation, keys, record); err != nil {
			return nil, err
		}
		result = append(result, assoc)
	}
	if len(result) == 0 && len(conflicts) == 0 {
		x.note("nothing recorded: no Elastic IP has a record (%s) of %s, so Cordon took none off it and there is nothing to put back", TagEIPAssociation, instanceID)
	}
	x.output("addresses", result)
	return conflicts, nil
}

func describeAddresses(ctx context.Context, x *execution, what string, filter ec2types.Filter) ([]ec2types.Address, error) {
	out, err := x.aws.EC2.DescribeAddresses(ctx, &ec2.DescribeAddressesInput{Filters: []ec2types.Filter{filter}})
	if err != nil {
		return nil, classify(what, "ec2:DescribeAddresses", err)
	}
	addrs := out.Addresses
	slices.SortFunc(addrs, func(a, b ec2types.Address) int {
		return strings.Compare(aws.ToString(a.AllocationId), aws.ToString(b.AllocationId))
	})
	return addrs, nil
}

// deleteRecord removes a record's tags (DryRun in preview).
func deleteRecord(ctx context.Context, x *execution, resourceID, key string, keys []string, value string) error {
	del := make([]ec2types.Tag, 0, len(keys))
	for _, k := range keys {
		del = append(del, ec2types.Tag{Key: aws.String(k)})
	}
	_, err := x.aws.EC2.DeleteTags(ctx, &ec2.DeleteTagsInput{Resources: []string{resourceID}, Tags: del, DryRun: aws.Bool(x.preview())})
	if err := x.ec2Outcome("remove the record "+key+" from "+resourceID, "ec2:DeleteTags", err); err != nil {
		return err
	}
	x.change(resourceID, "tag "+key, value, nil)
	return nil
}

type subnetACLParams struct {
	SubnetID string `json:"subnet_id"`
	Restore  bool   `json:"restore"`
}

// subnetACL is the network ACL a subnet is associated with.
type subnetACL struct {
	acl         ec2types.NetworkAcl
	association string
}

func (s subnetACL) id() string { return aws.ToString(s.acl.NetworkAclId) }

// getSubnet describes one subnet; a missing subnet is a non-retryable
// NotFound naming it.
func getSubnet(ctx context.Context, x *execution, id string) (ec2types.Subnet, error) {
	out, err := x.aws.EC2.DescribeSubnets(ctx, &ec2.DescribeSubnetsInput{SubnetIds: []string{id}})
	if err != nil {
		return ec2types.Subnet{}, classify("describe subnet "+id, "ec2:DescribeSubnets", err)
	}
	if len(out.Subnets) == 0 {
		return ec2types.Subnet{}, classify("describe subnet "+id, "ec2:DescribeSubnets",
			notFound("InvalidSubnetID.NotFound", "subnet "+id+" was not returned"))
	}
	return out.Subnets[0], nil
}

// subnetACLState is what the network ACL actions read of a subnet before
// they change it: its current ACL and the record of the original one.
type subnetACLState struct {
	subnetID string
	vpc      string
	tags     map[string]string
	current  subnetACL
	record   string
	recorded bool
}

func readSubnetACL(ctx context.Context, x *execution, subnetID string) (subnetACLState, error) {
	subnet, err := getSubnet(ctx, x, subnetID)
	if err != nil {
		return subnetACLState{}, err
	}
	current, err := aclOfSubnet(ctx, x, subnetID)
	if err != nil {
		return subnetACLState{}, err
	}
	s := subnetACLState{subnetID: subnetID, vpc: aws.ToString(subnet.VpcId), tags: ec2TagMap(subnet.Tags), current: current}
	s.record, s.recorded = readRecord(s.tags, TagOriginalNetworkACL)
	return s, nil
}

func quarantineSubnetACL(ctx context.Context, x *execution) error {
	var p subnetACLParams
	if err := x.decode(&p); err != nil {
		return err
	}
	s, err := readSubnetACL(ctx, x, p.SubnetID)
	if err != nil {
		return err
	}
	current, record := s.current, s.record
	if p.Restore {
		// The older spelling of aws.ec2.restore_subnet_acl.
		x.output("original_network_acl_id", record)
		_, err := restoreSubnetACL(ctx, x, s)
		return err
	}
	if ec2TagMap(current.acl.Tags)[TagQuarantine] == quarantineNACL {
		x.note("%s already has the quarantine network ACL %s", p.SubnetID, current.id())
		x.output("network_acl_id", current.id())
		x.output("original_network_acl_id", record)
		return nil
	}
	quarantine, err := quarantineACL(ctx, x, s.vpc)
	if err != nil {
		return err
	}
	// Record first, and never overwrite: the record is the ACL from before
	// Cordon touched the subnet.
	if !s.recorded {
		record = current.id()
		if err := writeRecord(ctx, x, p.SubnetID, TagOriginalNetworkACL, record); err != nil {
			return err
		}
	} else if record != current.id() {
		x.note("%s: keeping the original network ACL recorded earlier (%s)", p.SubnetID, record)
	}
	target := quarantine
	if x.preview() && strings.HasPrefix(target, "(new) ") {
		// The ACL does not exist yet: re-associating the current one still
		// checks the permission.
		target = current.id()
	}
	if err := replaceACL(ctx, x, p.SubnetID, current.association, target, "quarantine "+p.SubnetID); err != nil {
		return err
	}
	x.change(p.SubnetID, "network_acl", current.id(), quarantine)
	x.output("network_acl_id", quarantine)
	x.output("original_network_acl_id", record)
	return nil
}

// restoreSubnetACLAction is aws.ec2.restore_subnet_acl.
func restoreSubnetACLAction(ctx context.Context, x *execution) error {
	var p struct {
		SubnetID string `json:"subnet_id"`
	}
	if err := x.decode(&p); err != nil {
		return err
	}
	s, err := readSubnetACL(ctx, x, p.SubnetID)
	if err != nil {
		return err
	}
	conflicts, err := restoreSubnetACL(ctx, x, s)
	x.output("conflicts", nonNil(conflicts))
	return err
}

// restoreSubnetACL puts the recorded ACL back while the subnet still has
// a quarantine ACL of Cordon's; an ACL someone associated since is left,
// with the record, and returned as a conflict. It outputs network_acl_id.
func restoreSubnetACL(ctx context.Context, x *execution, s subnetACLState) ([]string, error) {
	subnetID, current, record := s.subnetID, s.current, s.record
	x.output("network_acl_id", current.id())
	if !s.recorded {
		x.note("nothing recorded: %s has no record of its original network ACL (%s), so Cordon did not quarantine it and there is nothing to put back", subnetID, TagOriginalNetworkACL)
		return nil, nil
	}
	switch {
	case current.id() == record:
		x.note("%s already has its original network ACL %s back", subnetID, record)
	case ec2TagMap(current.acl.Tags)[TagQuarantine] != quarantineNACL:
		msg := fmt.Sprintf("%s has the network ACL %s, not a Cordon quarantine ACL: someone changed it since; the record (%s) is kept", subnetID, current.id(), record)
		x.note("left as it is: %s", msg)
		return []string{msg}, nil
	default:
		if err := replaceACL(ctx, x, subnetID, current.association, record, "restore "+subnetID); err != nil {
			return nil, err
		}
		x.change(subnetID, "network_acl", current.id(), record)
	}
	if err := deleteRecord(ctx, x, subnetID, TagOriginalNetworkACL, recordTagKeys(s.tags, TagOriginalNetworkACL), record); err != nil {
		return nil, err
	}
	x.output("network_acl_id", record)
	return nil, nil
}

func replaceACL(ctx context.Context, x *execution, subnetID, association, aclID, what string) error {
	err := settle(ctx, func() error {
		return discardOutput(x.aws.EC2.ReplaceNetworkAclAssociation(ctx, &ec2.ReplaceNetworkAclAssociationInput{
			AssociationId: aws.String(association), NetworkAclId: aws.String(aclID), DryRun: aws.Bool(x.preview()),
		}))
	}, "InvalidNetworkAclID.NotFound")
	return x.ec2Outcome(what+": associate "+aclID+" with "+subnetID, "ec2:ReplaceNetworkAclAssociation", err)
}

// aclOfSubnet finds the subnet's network ACL and association (every
// subnet has exactly one).
func aclOfSubnet(ctx context.Context, x *execution, subnetID string) (subnetACL, error) {
	out, err := x.aws.EC2.DescribeNetworkAcls(ctx, &ec2.DescribeNetworkAclsInput{Filters: []ec2types.Filter{
		{Name: aws.String("association.subnet-id"), Values: []string{subnetID}},
	}})
	if err != nil {
		return subnetACL{}, classify("read the network ACL of "+subnetID, "ec2:DescribeNetworkAcls", err)
	}
	for _, a := range out.NetworkAcls {
		for _, as := range a.Associations {
			if aws.ToString(as.SubnetId) == subnetID {
				return subnetACL{acl: a, association: aws.ToString(as.NetworkAclAssociationId)}, nil
			}
		}
	}
	return subnetACL{}, classify("read the network ACL of "+subnetID, "ec2:DescribeNetworkAcls",
		notFound("InvalidSubnetID.NotFound", "no network ACL is associated with "+subnetID))
}

// quarantineACL finds or creates this step's deny-all ACL in the VPC. A
// new network ACL denies all traffic until entries are added, and Cordon
// adds none. It is found again by its tags; the creation carries a client
// token derived from the run, step and VPC, so a retried creation whose
// answer was lost returns the same ACL instead of a second one.
func quarantineACL(ctx context.Context, x *execution, vpc string) (string, error) {
	filters := []ec2types.Filter{
		{Name: aws.String("vpc-id"), Values: []string{vpc}},
		{Name: aws.String("tag:" + TagQuarantine), Values: []string{quarantineNACL}},
		{Name: aws.String("tag:" + TagRun), Values: []string{x.call.Run.RunID}},
		{Name: aws.String("tag:" + TagStep), Values: []string{x.stepKey()}},
	}
	out, err := x.aws.EC2.DescribeNetworkAcls(ctx, &ec2.DescribeNetworkAclsInput{Filters: filters})
	if err != nil {
		return "", classify("look up the quarantine network ACL in "+vpc, "ec2:DescribeNetworkAcls", err)
	}
	if len(out.NetworkAcls) > 0 {
		a := out.NetworkAcls[0]
		for _, e := range a.Entries {
			if e.RuleAction == ec2types.RuleActionAllow {
				return "", temporal.NewNonRetryableApplicationError(fmt.Sprintf(
					"quarantine network ACL %s in %s has an allow entry someone added (rule %d): remove it, then retry",
					aws.ToString(a.NetworkAclId), vpc, aws.ToInt32(e.RuleNumber)), ErrConflict, nil)
			}
		}
		return aws.ToString(a.NetworkAclId), nil
	}
	tags := x.runTags()
	tags[TagQuarantine] = quarantineNACL
	tags["Name"] = "cordon-quarantine"
	created, err := x.aws.EC2.CreateNetworkAcl(ctx, &ec2.CreateNetworkAclInput{
		VpcId:       aws.String(vpc),
		ClientToken: aws.String("cordon-" + x.stepDigest(16, vpc)),
		TagSpecifications: []ec2types.TagSpecification{
			{ResourceType: ec2types.ResourceTypeNetworkAcl, Tags: ec2Tags(tags)},
		},
		DryRun: aws.Bool(x.preview()),
	})
	if err := x.ec2Outcome("create the quarantine network ACL in "+vpc, "ec2:CreateNetworkAcl", err); err != nil {
		return "", err
	}
	if x.preview() {
		placeholder := newGroupPlaceholder("cordon-quarantine network ACL")
		x.change(vpc, "network ACL cordon-quarantine", nil, placeholder+": deny all")
		return placeholder, nil
	}
	id := aws.ToString(created.NetworkAcl.NetworkAclId)
	x.change(vpc, "network ACL cordon-quarantine", nil, id+": deny all")
	x.note("created the deny-all network ACL %s in %s", id, vpc)
	return id, nil
}
