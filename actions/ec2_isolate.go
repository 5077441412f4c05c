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

// Isolation puts a quarantine security group, alone, on every network
// interface of the instance.
//
// Security groups are stateful: swapping groups stops new connections but
// lets connections already tracked by the VPC carry on, which is exactly
// the attacker's reverse shell or C2 channel. With two_phase the
// interfaces first get a group allowing all traffic from and to anywhere:
// flows through such rules are not tracked, so when the interface then
// moves to the empty quarantine group those flows are cut too.
//
// Caveats of two_phase that responders must know:
//   - between the two modifications (one API round trip per interface) the
//     instance accepts traffic from anywhere;
//   - connections that AWS always tracks survive it anyway: those through a
//     NAT gateway, a Network or Gateway Load Balancer, a Transit Gateway,
//     Global Accelerator, PrivateLink, and ICMP/ICMPv6 in some cases. A
//     network ACL on the subnet is the only way to cut those at once.

// Tag values that tell Cordon's groups apart from everyone else's.
const (
	quarantineEmpty     = "empty"
	quarantineUntracked = "untracked"
)

// quarantineGroupKind describes one of the two groups isolation uses.
type quarantineGroupKind struct {
	name        string
	tagValue    string
	description string
	// allowAll: ingress and egress allow every protocol from and to
	// 0.0.0.0/0 and ::/0 (the untracked group); otherwise no rules at all.
	allowAll bool
}

func emptyQuarantine(name string) quarantineGroupKind {
	return quarantineGroupKind{name: name, tagValue: quarantineEmpty,
		description: "Cordon quarantine: no inbound and no outbound traffic"}
}

func untrackedQuarantine(name string) quarantineGroupKind {
	return quarantineGroupKind{name: name + "-untracked", tagValue: quarantineUntracked, allowAll: true,
		description: "Cordon two-phase isolation: allow-all rules so existing flows become untracked"}
}

// newGroupPlaceholder stands for a group a preview would create, in
// changes and outputs.
func newGroupPlaceholder(name string) string { return "(new) " + name }

func allTraffic(cidr string) ec2types.IpPermission {
	p := ec2types.IpPermission{IpProtocol: aws.String("-1")}
	if strings.Contains(cidr, ":") {
		p.Ipv6Ranges = []ec2types.Ipv6Range{{CidrIpv6: aws.String(cidr)}}
	} else {
		p.IpRanges = []ec2types.IpRange{{CidrIp: aws.String(cidr)}}
	}
	return p
}

// findSecurityGroup returns the group of that name in the VPC, or nil.
func findSecurityGroup(ctx context.Context, x *execution, vpcID, name string) (*ec2types.SecurityGroup, error) {
	pages := ec2.NewDescribeSecurityGroupsPaginator(x.aws.EC2, &ec2.DescribeSecurityGroupsInput{Filters: []ec2types.Filter{
		{Name: aws.String("vpc-id"), Values: []string{vpcID}},
		{Name: aws.String("group-name"), Values: []string{name}},
	}})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return nil, classify(fmt.Sprintf("look up security group %q in %s", name, vpcID), "ec2:DescribeSecurityGroups", err)
		}
		for i := range page.SecurityGroups {
			if aws.ToString(page.SecurityGroups[i].GroupName) == name {
				return &page.SecurityGroups[i], nil
			}
		}
	}
	return nil, nil
}

// quarantineGroup finds or creates Cordon's group of the given kind in
// the VPC and brings its rules to what the kind requires. In preview it
// creates and changes nothing, and returns a placeholder id for a group
// that would be created.
func quarantineGroup(ctx context.Context, x *execution, vpcID string, kind quarantineGroupKind) (string, error) {
	g, err := findSecurityGroup(ctx, x, vpcID, kind.name)
	if err != nil {
		return "", err
	}
	if g == nil && x.preview() {
		err := discardOutput(x.aws.EC2.CreateSecurityGroup(ctx, createGroupInput(x, vpcID, kind, true)))
		if isCode(err, "InvalidGroup.Duplicate") {
			// Another isolation in this VPC created it since we looked
			// (fleets isolate hosts in parallel): preview against it.
			if g, err = findSecurityGroup(ctx, x, vpcID, kind.name); err != nil {
				return "", err
			}
			if g == nil {
				return "", temporal.NewApplicationError(fmt.Sprintf("isolate: security group %s in %s exists but is not visible yet", kind.name, vpcID), ErrAWSServer)
			}
		} else if err := dryRunOK("create security group "+kind.name+" in "+vpcID, "ec2:CreateSecurityGroup", err); err != nil {
			return "", err
		} else {
			x.change(vpcID, "security group "+kind.name, nil, newGroupPlaceholder(kind.name)+": "+kind.description)
			return newGroupPlaceholder(kind.name), nil
		}
	}
	if g == nil {
		g, err = createQuarantineGroup(ctx, x, vpcID, kind)
		if err != nil {
			return "", err
		}
	}
	id := aws.ToString(g.GroupId)
	if ec2TagMap(g.Tags)[TagQuarantine] != kind.tagValue {
		// Someone else's group with our name: putting instances in it could
		// leave them reachable, and taking it over would break its owners.
		return "", temporal.NewNonRetryableApplicationError(fmt.Sprintf(
			"isolate: security group %s (%s) in %s is not a Cordon quarantine group (no tag %s=%s): rename it or choose another quarantine_group_name",
			id, kind.name, vpcID, TagQuarantine, kind.tagValue), ErrConflict, nil)
	}
	if kind.allowAll {
		return id, openUntrackedGroup(ctx, x, g)
	}
	return id, sealQuarantineGroup(ctx, x, g)
}

// discardOutput drops the output of an EC2 call sent with DryRun=true.
func discardOutput[T any](_ T, err error) error { return err }

func createGroupInput(x *execution, vpcID string, kind quarantineGroupKind, dry bool) *ec2.CreateSecurityGroupInput {
	tags := x.runTags()
	tags[TagQuarantine] = kind.tagValue
	tags["Name"] = kind.name
	return &ec2.CreateSecurityGroupInput{
		GroupName:   aws.String(kind.name),
		Description: aws.String(kind.description),
		VpcId:       aws.String(vpcID),
		TagSpecifications: []ec2types.TagSpecification{
			{ResourceType: ec2types.ResourceTypeSecurityGroup, Tags: ec2Tags(tags)},
		},
		DryRun: aws.Bool(dry),
	}
}

// createQuarantineGroup creates the group, tagged at creation so that it
// is never without its tag. Isolations of a fleet race to create the
// group of their VPC: the losers find the winner's.
func createQuarantineGroup(ctx context.Context, x *execution, vpcID string, kind quarantineGroupKind) (*ec2types.SecurityGroup, error) {
	input := createGroupInput(x, vpcID, kind, false)
	out, err := x.aws.EC2.CreateSecurityGroup(ctx, input)
	if isCode(err, "InvalidGroup.Duplicate") {
		g, ferr := findSecurityGroup(ctx, x, vpcID, kind.name)
		if ferr != nil {
			return nil, ferr
		}
		if g == nil {
			// Created by someone else but not yet visible (eventual
			// consistency): the next attempt will see it.
			return nil, temporal.NewApplicationError(fmt.Sprintf("isolate: security group %s in %s exists but is not visible yet", kind.name, vpcID), ErrAWSServer)
		}
		x.note("security group %s (%s) in %s was created concurrently by another isolation; using it", aws.ToString(g.GroupId), kind.name, vpcID)
		return g, nil
	}
	if err != nil {
		return nil, classify("create security group "+kind.name+" in "+vpcID, "ec2:CreateSecurityGroup", err)
	}
	id := aws.ToString(out.GroupId)
	x.change(vpcID, "security group "+kind.name, nil, id+": "+kind.description)
	x.note("created security group %s (%s) in %s", id, kind.name, vpcID)
	// EC2 gives every new group an allow-all egress rule; the caller
	// revokes it. The group may not be readable yet, so assume that rule
	// rather than describe it.
	return &ec2types.SecurityGroup{
		GroupId: out.GroupId, GroupName: aws.String(kind.name), VpcId: aws.String(vpcID),
		Tags:                input.TagSpecifications[0].Tags,
		IpPermissionsEgress: []ec2types.IpPermission{allTraffic("0.0.0.0/0")},
	}, nil
}

// sealQuarantineGroup removes every egress rule of the quarantine group.
// It also runs on a group found already existing, which covers an earlier
// attempt that crashed between creating the group and revoking its
// default rule.
func sealQuarantineGroup(ctx context.Context, x *execution, g *ec2types.SecurityGroup) error {
	id := aws.ToString(g.GroupId)
	if len(g.IpPermissions) > 0 {
		// Revoking ingress is not among this action's permissions, and
		// quarantining into a group that lets traffic in would be a false
		// sense of safety: stop and say so.
		return temporal.NewNonRetryableApplicationError(fmt.Sprintf(
			"isolate: quarantine group %s has inbound rules (%s) someone added: remove them, then retry",
			id, strings.Join(describeRules(g.IpPermissions), "; ")), ErrConflict, nil)
	}
	if len(g.IpPermissionsEgress) == 0 {
		return nil
	}
	before := describeRules(g.IpPermissionsEgress)
	_, err := x.aws.EC2.RevokeSecurityGroupEgress(ctx, &ec2.RevokeSecurityGroupEgressInput{
		GroupId: g.GroupId, IpPermissions: g.IpPermissionsEgress, DryRun: aws.Bool(x.preview()),
	})
	switch {
	case isCode(err, "InvalidPermission.NotFound"):
		// A concurrent isolation in this VPC revoked them first (a fleet
		// isolates hosts in parallel): the group is as wanted, in a
		// preview as in a real run.
		return nil
	case x.preview():
		if err := dryRunOK("revoke outbound rules of quarantine group "+id, "ec2:RevokeSecurityGroupEgress", err); err != nil {
			return err
		}
	case err != nil:
		return classify("revoke outbound rules of quarantine group "+id, "ec2:RevokeSecurityGroupEgress", err)
	}
	x.change(id, "egress", before, []string{})
	return nil
}

// openUntrackedGroup makes sure the two-phase group allows all traffic
// both ways over IPv4 and IPv6, which is what makes flows untracked.
func openUntrackedGroup(ctx context.Context, x *execution, g *ec2types.SecurityGroup) error {
	id := aws.ToString(g.GroupId)
	for _, dir := range []struct {
		ingress bool
		have    []ec2types.IpPermission
	}{{true, g.IpPermissions}, {false, g.IpPermissionsEgress}} {
		var missing []ec2types.IpPermission
		for _, cidr := range []string{"0.0.0.0/0", "::/0"} {
			if !allowsAllTraffic(dir.have, cidr) {
				missing = append(missing, allTraffic(cidr))
			}
		}
		if len(missing) == 0 {
			continue
		}
		field, permission := "egress", "ec2:AuthorizeSecurityGroupEgress"
		var err error
		if dir.ingress {
			field, permission = "ingress", "ec2:AuthorizeSecurityGroupIngress"
			_, err = x.aws.EC2.AuthorizeSecurityGroupIngress(ctx, &ec2.AuthorizeSecurityGroupIngressInput{
				GroupId: g.GroupId, IpPermissions: missing, DryRun: aws.Bool(x.preview()),
			})
		} else {
			_, err = x.aws.EC2.AuthorizeSecurityGroupEgress(ctx, &ec2.AuthorizeSecurityGroupEgressInput{
				GroupId: g.GroupId, IpPermissions: missing, DryRun: aws.Bool(x.preview()),
			})
		}
		what := fmt.Sprintf("allow all %s traffic on two-phase group %s", field, id)
		switch {
		case isCode(err, "InvalidPermission.Duplicate"):
			// A concurrent isolation added them first: the group is as
			// wanted, in a preview as in a real run.
			continue
		case x.preview():
			if err := dryRunOK(what, permission, err); err != nil {
				return err
			}
		case err != nil:
			return classify(what, permission, err)
		}
		x.change(id, field, describeRules(dir.have), describeRules(append(slices.Clone(dir.have), missing...)))
	}
	return nil
}

func allowsAllTraffic(perms []ec2types.IpPermission, cidr string) bool {
	for _, p := range perms {
		if aws.ToString(p.IpProtocol) != "-1" {
			continue
		}
		for _, r := range p.IpRanges {
			if aws.ToString(r.CidrIp) == cidr {
				return true
			}
		}
		for _, r := range p.Ipv6Ranges {
			if aws.ToString(r.CidrIpv6) == cidr {
				return true
			}
		}
	}
	return false
}

// describeRules renders rules one line per peer ("all 0.0.0.0/0",
// "tcp 22-22 sg-0abc"), sorted, for changes and messages.
func describeRules(perms []ec2types.IpPermission) []string {
	out := []string{}
	for _, p := range perms {
		proto := aws.ToString(p.IpProtocol)
		ports := ""
		if proto == "-1" {
			proto = "all"
		} else {
			ports = fmt.Sprintf(" %d-%d", aws.ToInt32(p.FromPort), aws.ToInt32(p.ToPort))
		}
		var peers []string
		for _, r := range p.IpRanges {
			peers = append(peers, aws.ToString(r.CidrIp))
		}
		for _, r := range p.Ipv6Ranges {
			peers = append(peers, aws.ToString(r.CidrIpv6))
		}
		for _, r := range p.UserIdGroupPairs {
			peers = append(peers, aws.ToString(r.GroupId))
		}
		for _, r := range p.PrefixListIds {
			peers = append(peers, aws.ToString(r.PrefixListId))
		}
		for _, peer := range peers {
			out = append(out, proto+ports+" "+peer)
		}
	}
	slices.Sort(out)
	return out
}

// describeInterfaces reads the instance's ENIs with their tags (which
// DescribeInstances does not return), keyed by id.
func describeInterfaces(ctx context.Context, x *execution, instanceID string, enis []ec2types.InstanceNetworkInterface) (map[string]ec2types.NetworkInterface, error) {
	ids := make([]string, 0, len(enis))
	for _, e := range enis {
		ids = append(ids, aws.ToString(e.NetworkInterfaceId))
	}
	out := map[string]ec2types.NetworkInterface{}
	if len(ids) == 0 {
		return out, nil
	}
	res, err := x.aws.EC2.DescribeNetworkInterfaces(ctx, &ec2.DescribeNetworkInterfacesInput{NetworkInterfaceIds: ids})
	if err != nil {
		return nil, classify("read network interfaces of "+instanceID, "ec2:DescribeNetworkInterfaces", err)
	}
	for _, n := range res.NetworkInterfaces {
		out[aws.ToString(n.NetworkInterfaceId)] = n
	}
	for _, id := range ids {
		if _, ok := out[id]; !ok {
			return nil, classify("read network interfaces of "+instanceID, "ec2:DescribeNetworkInterfaces",
				notFound("InvalidNetworkInterfaceID.NotFound", fmt.Sprintf("network interface %s of %s was not returned", id, instanceID)))
		}
	}
	return out, nil
}

// setInterfaceGroups replaces an ENI's security groups (DryRun in preview).
func setInterfaceGroups(ctx context.Context, x *execution, eniID string, groups []string, what string) error {
	_, err := x.aws.EC2.ModifyNetworkInterfaceAttribute(ctx, &ec2.ModifyNetworkInterfaceAttributeInput{
		NetworkInterfaceId: aws.String(eniID), Groups: groups, DryRun: aws.Bool(x.preview()),
	})
	return x.ec2Outcome(what, "ec2:ModifyNetworkInterfaceAttribute", err)
}

// isolatedInterface is one entry of the network_interfaces output.
type isolatedInterface struct {
	NetworkInterfaceID string   `json:"network_interface_id"`
	OriginalGroupIDs   []string `json:"original_group_ids"`
}

type isolateParams struct {
	InstanceID          string `json:"instance_id"`
	QuarantineGroupName string `json:"quarantine_group_name"`
	TwoPhase            bool   `json:"two_phase"`
}

func isolateInstance(ctx context.Context, x *execution) error {
	var p isolateParams
	if err := x.decode(&p); err != nil {
		return err
	}
	in, err := getInstance(ctx, x, p.InstanceID)
	if err != nil {
		return err
	}
	enis := interfaces(in)
	if len(enis) == 0 {
		// A terminated instance has no interfaces left: nothing can reach it.
		x.note("%s has no network interfaces (state %s): nothing to isolate", p.InstanceID, instanceState(in))
		x.output("quarantine_group_id", "")
		x.output("network_interfaces", []isolatedInterface{})
		x.output("already_isolated", true)
		return nil
	}
	current, err := describeInterfaces(ctx, x, p.InstanceID, enis)
	if err != nil {
		return err
	}

	// One quarantine group per VPC; an instance's interfaces may span VPCs.
	quarantine, untracked := map[string]string{}, map[string]string{}
	for _, e := range enis {
		vpc := aws.ToString(e.VpcId)
		if _, done := quarantine[vpc]; done {
			continue
		}
		if quarantine[vpc], err = quarantineGroup(ctx, x, vpc, emptyQuarantine(p.QuarantineGroupName)); err != nil {
			return err
		}
	}

	result := make([]isolatedInterface, 0, len(enis))
	already := 0
	for _, e := range enis {
		eniID, vpc := aws.ToString(e.NetworkInterfaceId), aws.ToString(e.VpcId)
		ni := current[eniID]
		groups := groupIDs(ni.Groups)
		tags := ec2TagMap(ni.TagSet)
		q := quarantine[vpc]
		x.heartbeat(ctx, "isolating "+eniID)

		record, recorded := readRecord(tags, TagOriginalGroups)
		if slices.Equal(groups, []string{q}) {
			already++
			if !recorded {
				x.note("%s already has only the quarantine group, with no record of its original groups", eniID)
			}
			result = append(result, isolatedInterface{NetworkInterfaceID: eniID, OriginalGroupIDs: splitCommaList(record)})
			continue
		}
		if p.TwoPhase {
			if _, ok := untracked[vpc]; !ok {
				if untracked[vpc], err = quarantineGroup(ctx, x, vpc, untrackedQuarantine(p.QuarantineGroupName)); err != nil {
					return err
				}
			}
		}
		// Record before modifying, and never overwrite a record: after a
		// crash mid-isolation the interface may already hold a Cordon group,
		// which must not be taken for an original one.
		if !recorded {
			original := slices.DeleteFunc(slices.Clone(groups), func(g string) bool {
				return g == q || (untracked[vpc] != "" && g == untracked[vpc])
			})
			if len(original) == 0 {
				return temporal.NewNonRetryableApplicationError(fmt.Sprintf(
					"isolate %s: %s holds only Cordon groups (%s) and no record of its original groups: restore it by hand",
					p.InstanceID, eniID, strings.Join(groups, ",")), ErrConflict, nil)
			}
			record = strings.Join(original, ",")
			if err := writeRecord(ctx, x, eniID, TagOriginalGroups, record); err != nil {
				return err
			}
		} else if !slices.Equal(splitCommaList(record), groups) {
			x.note("%s: keeping the original groups recorded by an earlier attempt (%s)", eniID, record)
		}
		result = append(result, isolatedInterface{NetworkInterfaceID: eniID, OriginalGroupIDs: splitCommaList(record)})

		before := groups
		if p.TwoPhase {
			u := untracked[vpc]
			if !slices.Equal(groups, []string{u}) {
				if err := setInterfaceGroups(ctx, x, eniID, dryRunGroups(x, groups, u),
					"isolate "+p.InstanceID+": move "+eniID+" to the untracked group"); err != nil {
					return err
				}
				x.change(eniID, "security_groups", before, []string{u})
				before = []string{u}
			}
		}
		if err := setInterfaceGroups(ctx, x, eniID, dryRunGroups(x, groups, q),
			"isolate "+p.InstanceID+": quarantine "+eniID); err != nil {
			return err
		}
		x.change(eniID, "security_groups", before, []string{q})
	}

	primaryVPC := aws.ToString(enis[0].VpcId)
	if len(quarantine) > 1 {
		x.note("interfaces span %d VPCs; each got the quarantine group of its VPC", len(quarantine))
	}
	allAlready := already == len(enis)
	if allAlready {
		x.note("%s was already isolated: every interface had only the quarantine group", p.InstanceID)
	}
	x.output("quarantine_group_id", quarantine[primaryVPC])
	x.output("network_interfaces", result)
	x.output("already_isolated", allAlready)
	return nil
}

// dryRunGroups is the group list to send: in a preview of a group that
// does not exist yet, the interface's own groups stand in, which still
// checks the permission.
func dryRunGroups(x *execution, current []string, target string) []string {
	if x.preview() && strings.HasPrefix(target, "(new) ") {
		return current
	}
	return []string{target}
}

// writeRecord tags a resource with a record (DryRun in preview).
func writeRecord(ctx context.Context, x *execution, resourceID, key, value string) error {
	tags, err := recordTags(key, value)
	if err != nil {
		return badParams(x.call.Action, err)
	}
	_, err = x.aws.EC2.CreateTags(ctx, &ec2.CreateTagsInput{
		Resources: []string{resourceID}, Tags: tags, DryRun: aws.Bool(x.preview()),
	})
	what := "record " + key + " on " + resourceID
	err = x.ec2Outcome(what, "ec2:CreateTags", err)
	if err != nil {
		return err
	}
	x.change(resourceID, "tag "+key, nil, value)
	return nil
}

func instanceState(in ec2types.Instance) string {
	if in.State == nil {
		return ""
	}
	return string(in.State.Name)
}

// restoreIsolation puts back the groups recorded on each ENI and removes
// the record.
func restoreIsolation(ctx context.Context, x *execution) error {
	var p instanceParams
	if err := x.decode(&p); err != nil {
		return err
	}
	in, err := getInstance(ctx, x, p.InstanceID)
	if err != nil {
		return err
	}
	enis := interfaces(in)
	current, err := describeInterfaces(ctx, x, p.InstanceID, enis)
	if err != nil {
		return err
	}
	result := []isolatedInterface{}
	for _, e := range enis {
		eniID := aws.ToString(e.NetworkInterfaceId)
		ni := current[eniID]
		tags := ec2TagMap(ni.TagSet)
		record, ok := readRecord(tags, TagOriginalGroups)
		if !ok {
			x.note("%s has no record of original groups (%s): left alone", eniID, TagOriginalGroups)
			continue
		}
		original := splitCommaList(record)
		groups := groupIDs(ni.Groups)
		x.heartbeat(ctx, "restoring "+eniID)
		// The groups may already be back when an earlier attempt crashed
		// before deleting the record: then only the record goes.
		if !slices.Equal(groups, original) {
			if err := setInterfaceGroups(ctx, x, eniID, original, "restore "+p.InstanceID+": give "+eniID+" its original groups"); err != nil {
				return err
			}
			x.change(eniID, "security_groups", groups, original)
		} else {
			x.note("%s already had its original groups back", eniID)
		}
		keys := recordTagKeys(tags, TagOriginalGroups)
		del := make([]ec2types.Tag, 0, len(keys))
		for _, k := range keys {
			del = append(del, ec2types.Tag{Key: aws.String(k)})
		}
		_, err := x.aws.EC2.DeleteTags(ctx, &ec2.DeleteTagsInput{Resources: []string{eniID}, Tags: del, DryRun: aws.Bool(x.preview())})
		what := "restore " + p.InstanceID + ": remove the isolation record from " + eniID
		err = x.ec2Outcome(what, "ec2:DeleteTags", err)
		if err != nil {
			return err
		}
		x.change(eniID, "tag "+TagOriginalGroups, record, nil)
		result = append(result, isolatedInterface{NetworkInterfaceID: eniID, OriginalGroupIDs: original})
	}
	x.output("network_interfaces", result)
	return nil
}
