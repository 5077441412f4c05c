package actions

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"strings"
	"time"

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
// That allow-all group is the most dangerous thing Cordon ever creates, so
// it is made per isolation (named after the run, the step item and the
// instance, tagged with them), never shared, and deleted before the step
// ends. Being nobody else's, it can be deleted, or emptied of its rules
// when AWS still sees a dependency, without racing the isolations of the
// fleet's other hosts, and a retry after a crash finds it by its name.
// Each interface spends one API round trip in it: the two modifications
// are sent back to back, the time between them is reported (exposure_ms),
// and if the second one cannot be made the interface goes back to the
// quarantine group or to its original groups, never left open.
//
// Caveats of two_phase that responders must know:
//   - between the two modifications the instance accepts traffic from
//     anywhere;
//   - connections that AWS always tracks survive it anyway: those through a
//     NAT gateway, a Network or Gateway Load Balancer, a Transit Gateway,
//     Global Accelerator, PrivateLink, and ICMP/ICMPv6 in some cases. A
//     network ACL on the subnet (aws.ec2.quarantine_subnet_acl) is the only
//     way to cut those at once.

// Tag values that tell Cordon's groups apart from everyone else's.
const (
	quarantineEmpty     = "empty"
	quarantineUntracked = "untracked"
	quarantineForensic  = "forensic"
)

// quarantineGroupKind describes one of the groups isolation uses.
type quarantineGroupKind struct {
	name        string
	tagValue    string
	description string
	// allowAll: ingress and egress allow every protocol from and to
	// 0.0.0.0/0 and ::/0 (the untracked group); otherwise no ingress and
	// exactly the egress rules below (none for the empty quarantine).
	allowAll bool
	egress   []ec2types.IpPermission
}

func emptyQuarantine(name string) quarantineGroupKind {
	return quarantineGroupKind{name: name, tagValue: quarantineEmpty,
		description: "Cordon quarantine: no inbound and no outbound traffic"}
}

// forensicQuarantine is the quarantine group that keeps the forensic
// path (forensic_path): no inbound traffic, and outbound HTTPS only to
// the VPC's endpoints for SSM (ssm, ssmmessages, ec2messages: the agent's
// channel) and S3 (where memory images and triage output go), given as
// the endpoints' security groups, prefix lists or addresses. Security
// groups are stateful: the answers come back, nothing else does. One per
// VPC, like the empty quarantine, brought to the configured endpoints.
func forensicQuarantine(name string, peers []string) quarantineGroupKind {
	k := quarantineGroupKind{name: name + "-forensic", tagValue: quarantineForensic,
		description: "Cordon quarantine keeping the forensic path: no inbound; outbound HTTPS to the VPC's SSM and S3 endpoints only"}
	for _, peer := range peers {
		k.egress = append(k.egress, httpsTo(peer))
	}
	return k
}

// httpsTo is an egress rule allowing TCP 443 to one peer.
func httpsTo(peer string) ec2types.IpPermission {
	return withPeer(ec2types.IpPermission{IpProtocol: aws.String("tcp"), FromPort: aws.Int32(443), ToPort: aws.Int32(443)}, peer)
}

// withPeer is rule p (protocol and ports) for one peer: a security group
// (sg-), a prefix list (pl-) or an IPv4 or IPv6 address range.
func withPeer(p ec2types.IpPermission, peer string) ec2types.IpPermission {
	switch {
	case strings.HasPrefix(peer, "sg-"):
		p.UserIdGroupPairs = []ec2types.UserIdGroupPair{{GroupId: aws.String(peer)}}
	case strings.HasPrefix(peer, "pl-"):
		p.PrefixListIds = []ec2types.PrefixListId{{PrefixListId: aws.String(peer)}}
	case strings.Contains(peer, ":"):
		p.Ipv6Ranges = []ec2types.Ipv6Range{{CidrIpv6: aws.String(peer)}}
	default:
		p.IpRanges = []ec2types.IpRange{{CidrIp: aws.String(peer)}}
	}
	return p
}

// CheckForensicEndpoints validates endpoints for the forensic path: a VPC
// id to the peers isolation still lets the instance reach over HTTPS,
// each a security group (sg-...), a prefix list (pl-...) or a CIDR.
func CheckForensicEndpoints(endpoints map[string][]string) error {
	var errs []error
	for _, vpc := range slices.Sorted(maps.Keys(endpoints)) {
		if !strings.HasPrefix(vpc, "vpc-") {
			errs = append(errs, fmt.Errorf("%q is not a VPC id (vpc-...)", vpc))
		}
		if len(endpoints[vpc]) == 0 {
			errs = append(errs, fmt.Errorf("%s: no endpoint: list its SSM and S3 endpoints' security groups or prefix lists", vpc))
		}
		for _, peer := range endpoints[vpc] {
			_, cidr := netip.ParsePrefix(peer)
			if !strings.HasPrefix(peer, "sg-") && !strings.HasPrefix(peer, "pl-") && cidr != nil {
				errs = append(errs, fmt.Errorf("%s: %q is neither a security group (sg-...), a prefix list (pl-...) nor a CIDR", vpc, peer))
			}
		}
	}
	return errors.Join(errs...)
}

// untrackedQuarantine is the two-phase group of one isolation: its name
// carries the instance and a digest of the run and step item, so that
// hosts isolated in parallel never share it and a retried attempt of the
// same isolation finds the one it made.
func untrackedQuarantine(x *execution, base, instanceID string) quarantineGroupKind {
	suffix := "-untracked-" + instanceID + "-" + x.stepDigest(4, instanceID)
	name := base[:min(len(base), 255-len(suffix))] + suffix
	return quarantineGroupKind{name: name, tagValue: quarantineUntracked, allowAll: true,
		description: "Cordon two-phase isolation of " + instanceID + ": allow-all rules so existing flows become untracked; deleted when the isolation ends"}
}

// Bounds of the retries of a call AWS answers InvalidGroup.NotFound for a
// group that exists (just created: EC2 is eventually consistent) or
// DependencyViolation for a group an interface has just left.
const (
	settleAttempts   = 8
	settleFirstDelay = 100 * time.Millisecond
	settleMaxDelay   = 2 * time.Second
)

// settle runs call, retrying with bounded backoff while it fails with one
// of the codes: EC2 answers InvalidGroup.NotFound for a group created a
// moment ago until the creation has propagated, which is not a failure of
// the step. The error of the last attempt is returned unclassified.
func settle(ctx context.Context, call func() error, codes ...string) error {
	return withBackoff(ctx, settleAttempts, settleFirstDelay, settleMaxDelay, func(err error) bool {
		return slices.ContainsFunc(codes, func(c string) bool { return isCode(err, c) })
	}, call)
}

// withBackoff calls call up to attempts times while it fails with an
// error retry recognises, waiting delay between attempts, doubled each
// time up to maxDelay. It returns the last call's error, unclassified,
// also when ctx ends during a wait.
func withBackoff(ctx context.Context, attempts int, delay, maxDelay time.Duration, retry func(error) bool, call func() error) error {
	for attempt := 1; ; attempt++ {
		err := call()
		if err == nil || attempt == attempts || !retry(err) {
			return err
		}
		if sleep(ctx, delay) != nil {
			return err
		}
		delay = min(2*delay, maxDelay)
	}
}

// groupNotVisible is the answer to a call naming a group EC2 does not
// know yet.
const groupNotVisible = "InvalidGroup.NotFound"

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
			what := newGroupPlaceholder(kind.name) + ": " + kind.description
			if len(kind.egress) > 0 {
				what += " (" + strings.Join(describeRules(kind.egress), ", ") + ")"
			}
			x.change(vpcID, "security group "+kind.name, nil, what)
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
	return id, sealQuarantineGroup(ctx, x, g, kind.egress)
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

// sealQuarantineGroup brings the quarantine group's egress to exactly
// want: none for the empty quarantine, HTTPS to the VPC's endpoints for
// the forensic one. It also runs on a group found already existing, which
// covers an earlier attempt that crashed between creating the group and
// revoking its default rule, and endpoints configured anew since.
func sealQuarantineGroup(ctx context.Context, x *execution, g *ec2types.SecurityGroup, want []ec2types.IpPermission) error {
	id := aws.ToString(g.GroupId)
	if len(g.IpPermissions) > 0 {
		// Revoking ingress is not among this action's permissions, and
		// quarantining into a group that lets traffic in would be a false
		// sense of safety: stop and say so.
		return temporal.NewNonRetryableApplicationError(fmt.Sprintf(
			"isolate: quarantine group %s has inbound rules (%s) someone added: remove them, then retry",
			id, strings.Join(describeRules(g.IpPermissions), "; ")), ErrConflict, nil)
	}
	have, wanted := describeRules(g.IpPermissionsEgress), describeRules(want)
	var extra, missing []ec2types.IpPermission
	for _, r := range perPeer(g.IpPermissionsEgress) {
		if !slices.Contains(wanted, describeRules([]ec2types.IpPermission{r})[0]) {
			extra = append(extra, r)
		}
	}
	for _, r := range perPeer(want) {
		if !slices.Contains(have, describeRules([]ec2types.IpPermission{r})[0]) {
			missing = append(missing, r)
		}
	}
	if len(extra) == 0 && len(missing) == 0 {
		return nil
	}
	// A concurrent isolation in this VPC (a fleet isolates hosts in
	// parallel) may have made the same change first: AWS then answers
	// InvalidPermission.NotFound or .Duplicate, and the group is as
	// wanted, in a preview as in a real run.
	dry := aws.Bool(x.preview())
	err := changeEgress(ctx, x, extra, "revoke outbound rules of quarantine group "+id, "ec2:RevokeSecurityGroupEgress", "InvalidPermission.NotFound",
		func() error {
			return discardOutput(x.aws.EC2.RevokeSecurityGroupEgress(ctx, &ec2.RevokeSecurityGroupEgressInput{GroupId: g.GroupId, IpPermissions: extra, DryRun: dry}))
		})
	if err != nil {
		return err
	}
	err = changeEgress(ctx, x, missing, "allow HTTPS to the forensic endpoints from quarantine group "+id, "ec2:AuthorizeSecurityGroupEgress", "InvalidPermission.Duplicate",
		func() error {
			return discardOutput(x.aws.EC2.AuthorizeSecurityGroupEgress(ctx, &ec2.AuthorizeSecurityGroupEgressInput{GroupId: g.GroupId, IpPermissions: missing, DryRun: dry}))
		})
	if err != nil {
		return err
	}
	x.change(id, "egress", have, wanted)
	return nil
}

// changeEgress sends one change of a group's egress rules (send, a dry
// run in a preview) unless there are none; done is AWS's answer when the
// change was made already.
func changeEgress(ctx context.Context, x *execution, rules []ec2types.IpPermission, what, permission, done string, send func() error) error {
	if len(rules) == 0 {
		return nil
	}
	err := settle(ctx, send, groupNotVisible)
	if isCode(err, done) {
		return nil
	}
	return x.ec2Outcome(what, permission, err)
}

// perPeer splits rules into one rule per peer, each with its protocol
// and ports, so that single rules can be compared, revoked and added.
func perPeer(rules []ec2types.IpPermission) []ec2types.IpPermission {
	var out []ec2types.IpPermission
	for _, r := range rules {
		base := ec2types.IpPermission{IpProtocol: r.IpProtocol, FromPort: r.FromPort, ToPort: r.ToPort}
		for _, peer := range rulePeers(r) {
			out = append(out, withPeer(base, peer))
		}
	}
	return out
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
		if dir.ingress {
			field, permission = "ingress", "ec2:AuthorizeSecurityGroupIngress"
		}
		err := settle(ctx, func() error {
			if dir.ingress {
				return discardOutput(x.aws.EC2.AuthorizeSecurityGroupIngress(ctx, &ec2.AuthorizeSecurityGroupIngressInput{
					GroupId: g.GroupId, IpPermissions: missing, DryRun: aws.Bool(x.preview()),
				}))
			}
			return discardOutput(x.aws.EC2.AuthorizeSecurityGroupEgress(ctx, &ec2.AuthorizeSecurityGroupEgressInput{
				GroupId: g.GroupId, IpPermissions: missing, DryRun: aws.Bool(x.preview()),
			}))
		}, groupNotVisible)
		what := fmt.Sprintf("allow all %s traffic on two-phase group %s", field, id)
		if isCode(err, "InvalidPermission.Duplicate") {
			// A concurrent isolation added them first: the group is as
			// wanted, in a preview as in a real run.
			continue
		}
		if err := x.ec2Outcome(what, permission, err); err != nil {
			return err
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
		for _, peer := range rulePeers(p) {
			out = append(out, proto+ports+" "+peer)
		}
	}
	slices.Sort(out)
	return out
}

// rulePeers lists the peers of a rule: address ranges, security groups
// and prefix lists, by their ids.
func rulePeers(p ec2types.IpPermission) []string {
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
	return peers
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
// A group created a moment ago may not be known yet: that is retried.
func setInterfaceGroups(ctx context.Context, x *execution, eniID string, groups []string, what string) error {
	err := settle(ctx, func() error {
		return discardOutput(x.aws.EC2.ModifyNetworkInterfaceAttribute(ctx, &ec2.ModifyNetworkInterfaceAttributeInput{
			NetworkInterfaceId: aws.String(eniID), Groups: groups, DryRun: aws.Bool(x.preview()),
		}))
	}, groupNotVisible)
	return x.ec2Outcome(what, "ec2:ModifyNetworkInterfaceAttribute", err)
}

// isolatedInterface is one entry of the network_interfaces output.
type isolatedInterface struct {
	NetworkInterfaceID string   `json:"network_interface_id"`
	OriginalGroupIDs   []string `json:"original_group_ids"`
}

// quarantinedInterface is one entry of isolate_instance's
// network_interfaces output: with two_phase, how long the interface was
// open to all traffic.
type quarantinedInterface struct {
	isolatedInterface
	ExposureMS int64 `json:"exposure_ms"`
}

type isolateParams struct {
	InstanceID          string              `json:"instance_id"`
	QuarantineGroupName string              `json:"quarantine_group_name"`
	QuarantineGroupIDs  map[string]string   `json:"quarantine_group_ids"`
	TwoPhase            bool                `json:"two_phase"`
	AllowNATInstance    bool                `json:"allow_nat_instance"`
	ForensicPath        bool                `json:"forensic_path"`
	ForensicEndpoints   map[string][]string `json:"forensic_endpoints"`
}

// forensicPeers are the endpoints the forensic path keeps in vpc: the
// step's own, else the worker configuration's; none when neither names
// the VPC.
func (p isolateParams) forensicPeers(x *execution, vpc string) []string {
	if peers := p.ForensicEndpoints[vpc]; len(peers) > 0 {
		return peers
	}
	return x.rt.opts.ForensicEndpoints[vpc]
}

// checkQuarantineGroupIDs validates the configured groups: a VPC id to a
// security group id.
func checkQuarantineGroupIDs(action string, ids map[string]string) error {
	for vpc, sg := range ids {
		if !strings.HasPrefix(vpc, "vpc-") || !strings.HasPrefix(sg, "sg-") {
			return badParams(action, fmt.Errorf("quarantine_group_ids: %q: %q must map a VPC id (vpc-...) to a security group id (sg-...)", vpc, sg))
		}
	}
	return nil
}

func isolateInstance(ctx context.Context, x *execution) error {
	var p isolateParams
	if err := x.decode(&p); err != nil {
		return err
	}
	if err := checkQuarantineGroupIDs(x.call.Action, p.QuarantineGroupIDs); err != nil {
		return err
	}
	if err := CheckForensicEndpoints(p.ForensicEndpoints); err != nil {
		return badParams(x.call.Action, fmt.Errorf("forensic_endpoints: %w", err))
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
		x.output("network_interfaces", []quarantinedInterface{})
		x.output("already_isolated", true)
		x.output("max_exposure_ms", 0)
		x.output("forensic_egress", []string{})
		return nil
	}
	current, err := describeInterfaces(ctx, x, p.InstanceID, enis)
	if err != nil {
		return err
	}
	// Before anything changes, so that the preview (which runs before the
	// gate) already says what Cordon will not do.
	if err := checkMovable(ctx, x, p, enis, current); err != nil {
		return err
	}

	// One quarantine group per VPC; an instance's interfaces may span VPCs.
	quarantine := map[string]string{}
	var vpcs []string
	forensicEgress := []string{}
	for _, e := range enis {
		vpc := aws.ToString(e.VpcId)
		if _, done := quarantine[vpc]; done {
			continue
		}
		vpcs = append(vpcs, vpc)
		id := p.QuarantineGroupIDs[vpc]
		if id == "" {
			id = x.rt.opts.QuarantineGroupIDs[vpc]
		}
		peers := []string(nil)
		if p.ForensicPath {
			// Isolation does not wait on configuration: a VPC whose
			// endpoints nobody listed is cut off whole, and the step says
			// what is lost.
			if peers = p.forensicPeers(x, vpc); len(peers) == 0 {
				x.note("forensic_path: no forensic endpoints are configured for %s, so its interfaces are cut off whole and SSM cannot reach "+
					"the instance any more: list the security groups of its SSM interface endpoints (ssm, ssmmessages, ec2messages) and its "+
					"S3 endpoint's prefix list under aws.forensic_endpoints.%s in the worker configuration, or in the step's forensic_endpoints", vpc, vpc)
			}
		}
		switch {
		case len(peers) > 0:
			if id != "" {
				x.note("forensic_path: the configured quarantine group %s of %s admits nothing, so Cordon's forensic quarantine group is used instead", id, vpc)
			}
			kind := forensicQuarantine(p.QuarantineGroupName, peers)
			quarantine[vpc], err = quarantineGroup(ctx, x, vpc, kind)
			forensicEgress = append(forensicEgress, describeRules(kind.egress)...)
		case id != "":
			quarantine[vpc], err = configuredQuarantineGroup(ctx, x, vpc, id)
		default:
			quarantine[vpc], err = quarantineGroup(ctx, x, vpc, emptyQuarantine(p.QuarantineGroupName))
		}
		if err != nil {
			return err
		}
	}

	var untracked map[string]string
	var kind quarantineGroupKind
	if p.TwoPhase {
		untracked, kind = map[string]string{}, untrackedQuarantine(x, p.QuarantineGroupName, p.InstanceID)
	}
	result, already, err := quarantineInterfaces(ctx, x, p, enis, current, quarantine, untracked, kind)
	if p.TwoPhase {
		// Whatever happened above (a failed swap included), this
		// isolation's allow-all group must not outlive it. The step's own
		// error, if any, stays the one reported: its class decides retries.
		if derr := dropUntrackedGroups(ctx, x, vpcs, untracked, kind); derr != nil {
			if err == nil {
				return derr
			}
			x.note("removing the two-phase group failed too: %v", derr)
		}
	}
	if err != nil {
		return err
	}

	primaryVPC := aws.ToString(enis[0].VpcId)
	if len(quarantine) > 1 {
		x.note("interfaces span %d VPCs; each got the quarantine group of its VPC", len(quarantine))
	}
	allAlready := already == len(enis)
	if allAlready {
		x.note("%s was already isolated: every interface had only the quarantine group", p.InstanceID)
	}
	var maxExposure int64
	for _, r := range result {
		maxExposure = max(maxExposure, r.ExposureMS)
	}
	x.output("quarantine_group_id", quarantine[primaryVPC])
	x.output("network_interfaces", result)
	x.output("already_isolated", allAlready)
	x.output("max_exposure_ms", maxExposure)
	x.output("forensic_egress", forensicEgress)
	return nil
}

// quarantineInterfaces records each interface's groups and moves it to the
// quarantine group of its VPC (through this isolation's untracked group
// with two_phase, creating it in untracked on first use). It returns the
// interfaces and how many were already quarantined.
func quarantineInterfaces(ctx context.Context, x *execution, p isolateParams, enis []ec2types.InstanceNetworkInterface,
	current map[string]ec2types.NetworkInterface, quarantine, untracked map[string]string, kind quarantineGroupKind,
) ([]quarantinedInterface, int, error) {
	result := make([]quarantinedInterface, 0, len(enis))
	already := 0
	var err error
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
			result = append(result, quarantinedInterface{isolatedInterface: isolatedInterface{NetworkInterfaceID: eniID, OriginalGroupIDs: splitCommaList(record)}})
			continue
		}
		if p.TwoPhase {
			if _, ok := untracked[vpc]; !ok {
				if untracked[vpc], err = quarantineGroup(ctx, x, vpc, kind); err != nil {
					return nil, 0, err
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
				return nil, 0, temporal.NewNonRetryableApplicationError(fmt.Sprintf(
					"isolate %s: %s holds only Cordon groups (%s) and no record of its original groups: restore it by hand",
					p.InstanceID, eniID, strings.Join(groups, ",")), ErrConflict, nil)
			}
			record = strings.Join(original, ",")
			if err := writeRecord(ctx, x, eniID, TagOriginalGroups, record); err != nil {
				return nil, 0, err
			}
		} else if !slices.Equal(splitCommaList(record), groups) {
			x.note("%s: keeping the original groups recorded by an earlier attempt (%s)", eniID, record)
		}
		entry := quarantinedInterface{isolatedInterface: isolatedInterface{NetworkInterfaceID: eniID, OriginalGroupIDs: splitCommaList(record)}}

		if !p.TwoPhase {
			if err := setInterfaceGroups(ctx, x, eniID, dryRunGroups(x, groups, q), "isolate "+p.InstanceID+": quarantine "+eniID); err != nil {
				return nil, 0, err
			}
			x.change(eniID, "security_groups", groups, []string{q})
			result = append(result, entry)
			continue
		}
		exposure, err := swapThroughUntracked(ctx, x, p.InstanceID, eniID, groups, splitCommaList(record), untracked[vpc], q)
		entry.ExposureMS = exposure.Milliseconds()
		result = append(result, entry)
		if err != nil {
			return nil, 0, err
		}
	}
	return result, already, nil
}

// swapThroughUntracked moves an interface into the untracked group u and at
// once on to the quarantine group q: the two calls go back to back, and
// the time between their answers is the exposure it returns. If the second
// call fails (throttled beyond retries, denied, anything), the interface
// is put back on q or else on its original groups, even if the activity is
// being cancelled: never left in the group that admits everything.
func swapThroughUntracked(ctx context.Context, x *execution, instanceID, eniID string, groups, original []string, u, q string) (time.Duration, error) {
	// The worker's rate limiter takes both calls' tokens before the first
	// one goes out, so that the second never queues behind other hosts'
	// calls while the interface is open.
	pair := reserveCalls(ctx, "ModifyNetworkInterfaceAttribute", 2)
	before := groups
	var opened time.Time
	if !slices.Equal(groups, []string{u}) {
		if err := setInterfaceGroups(pair, x, eniID, dryRunGroups(x, groups, u),
			"isolate "+instanceID+": move "+eniID+" to the untracked group"); err != nil {
			return 0, err
		}
		opened = time.Now()
		x.change(eniID, "security_groups", before, []string{u})
		before = []string{u}
	} else {
		x.note("%s was left in the two-phase group %s by an earlier attempt: quarantining it now", eniID, u)
	}
	err := setInterfaceGroups(pair, x, eniID, dryRunGroups(x, groups, q), "isolate "+instanceID+": quarantine "+eniID)
	var exposure time.Duration
	if !opened.IsZero() && !x.preview() {
		exposure = time.Since(opened)
	}
	if err == nil {
		x.change(eniID, "security_groups", before, []string{q})
		if exposure > 0 {
			x.note("%s was open to all traffic for %d ms between the two modifications", eniID, exposure.Milliseconds())
		}
		return exposure, nil
	}
	if x.preview() {
		return 0, err
	}
	// Not the step's context: a cancelled activity must still close the
	// interface it opened.
	closeCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	defer cancel()
	for _, back := range []struct {
		groups []string
		what   string
	}{{[]string{q}, "the quarantine group"}, {original, "its original groups"}} {
		if len(back.groups) == 0 {
			continue
		}
		if rerr := setInterfaceGroups(closeCtx, x, eniID, back.groups,
			"isolate "+instanceID+": take "+eniID+" out of the untracked group"); rerr != nil {
			continue
		}
		exposure = time.Since(opened)
		x.change(eniID, "security_groups", before, back.groups)
		x.note("%s: quarantining it failed (%v); it was put back on %s after %d ms open to all traffic", eniID, err, back.what, exposure.Milliseconds())
		if slices.Equal(back.groups, []string{q}) {
			// Isolated after all, one attempt later.
			return exposure, nil
		}
		return exposure, err
	}
	// Last resort: the group is this isolation's own, so emptying it of
	// its rules closes the interface in place without touching anyone
	// else (a different API and permission from the call that failed).
	if eerr := emptyGroup(closeCtx, x, u, nil); eerr != nil {
		x.note("%s IS STILL OPEN to all traffic in %s: quarantining it failed (%v), and so did emptying that group (%v): fix it by hand now", eniID, u, err, eerr)
		return time.Since(opened), err
	}
	x.note("%s: could neither quarantine it nor give its groups back; its two-phase group %s was emptied of its rules instead, so it admits nothing", eniID, u)
	return time.Since(opened), err
}

// dropUntrackedGroups deletes this isolation's untracked group in each VPC
// (made by this attempt, or left by one that crashed). A group AWS still
// sees in use (DependencyViolation: an interface just moved off it, one
// that could not be moved off, or someone attached it meanwhile) is not a
// failure of the step: it is emptied of its rules instead, so that it
// admits nothing. The interfaces are in quarantine by then; this group is
// no longer needed by anything, the restore included.
func dropUntrackedGroups(ctx context.Context, x *execution, vpcs []string, made map[string]string, kind quarantineGroupKind) error {
	// Like the swap's way back: a cancelled activity still cleans up.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Minute)
	defer cancel()
	var first error
	for _, vpc := range vpcs {
		id := made[vpc]
		if placeholder := newGroupPlaceholder(kind.name); id == placeholder {
			x.change(vpc, "security group "+kind.name, placeholder, nil)
			continue
		}
		var g *ec2types.SecurityGroup
		if id == "" {
			found, err := findSecurityGroup(ctx, x, vpc, kind.name)
			if err != nil {
				first = cmp.Or(first, err)
				continue
			}
			if found == nil || ec2TagMap(found.Tags)[TagQuarantine] != kind.tagValue {
				continue
			}
			g, id = found, aws.ToString(found.GroupId)
		}
		if err := dropUntrackedGroup(ctx, x, vpc, id, g, kind); err != nil {
			first = cmp.Or(first, err)
		}
	}
	return first
}

func dropUntrackedGroup(ctx context.Context, x *execution, vpc, id string, g *ec2types.SecurityGroup, kind quarantineGroupKind) error {
	what := "delete the two-phase group " + id + " (" + kind.name + ") in " + vpc
	err := settle(ctx, func() error {
		return discardOutput(x.aws.EC2.DeleteSecurityGroup(ctx, &ec2.DeleteSecurityGroupInput{GroupId: aws.String(id), DryRun: aws.Bool(x.preview())}))
	}, groupNotVisible, "DependencyViolation")
	switch {
	case err == nil || isCode(err, "DryRunOperation"):
		x.change(vpc, "security group "+kind.name, id, nil)
		return nil
	case isCode(err, groupNotVisible):
		x.note("the two-phase group %s was already gone", id)
		return nil
	case isCode(err, "DependencyViolation"):
		if x.preview() {
			x.note("the two-phase group %s is still in use: it would be emptied of its rules rather than deleted", id)
			return nil
		}
		x.note("the two-phase group %s is still in use (%v): emptying it of its rules instead of deleting it", id, err)
		return emptyGroup(ctx, x, id, g)
	default:
		return classify(what, "ec2:DeleteSecurityGroup", err)
	}
}

// emptyGroup revokes every rule of a group, so that it admits nothing.
func emptyGroup(ctx context.Context, x *execution, id string, g *ec2types.SecurityGroup) error {
	if g == nil {
		out, err := x.aws.EC2.DescribeSecurityGroups(ctx, &ec2.DescribeSecurityGroupsInput{GroupIds: []string{id}})
		if err != nil {
			return classify("read the two-phase group "+id, "ec2:DescribeSecurityGroups", err)
		}
		if len(out.SecurityGroups) == 0 {
			return nil
		}
		g = &out.SecurityGroups[0]
	}
	err := revokeRules(ctx, x, id, "ingress", g.IpPermissions, "revoke the inbound rules of the two-phase group "+id, "ec2:RevokeSecurityGroupIngress", func() error {
		return discardOutput(x.aws.EC2.RevokeSecurityGroupIngress(ctx, &ec2.RevokeSecurityGroupIngressInput{GroupId: aws.String(id), IpPermissions: g.IpPermissions}))
	})
	if err != nil {
		return err
	}
	return revokeRules(ctx, x, id, "egress", g.IpPermissionsEgress, "revoke the outbound rules of the two-phase group "+id, "ec2:RevokeSecurityGroupEgress", func() error {
		return discardOutput(x.aws.EC2.RevokeSecurityGroupEgress(ctx, &ec2.RevokeSecurityGroupEgressInput{GroupId: aws.String(id), IpPermissions: g.IpPermissionsEgress}))
	})
}

// revokeRules revokes the group's rules of one direction (field) with
// revoke, the call for that direction, and records the change; rules gone
// already are as wanted.
func revokeRules(ctx context.Context, x *execution, id, field string, rules []ec2types.IpPermission, what, permission string, revoke func() error) error {
	if len(rules) == 0 {
		return nil
	}
	err := settle(ctx, revoke, groupNotVisible)
	if err != nil && !isCode(err, "InvalidPermission.NotFound") {
		return classify(what, permission, err)
	}
	x.change(id, field, describeRules(rules), []string{})
	return nil
}

// configuredQuarantineGroup checks a quarantine group the configuration
// names for the VPC (regions at their security-group quota cannot create
// one): it must be in that VPC and admit nothing; leftover outbound rules
// (EC2 gives every new group one) are revoked as for Cordon's own group.
func configuredQuarantineGroup(ctx context.Context, x *execution, vpcID, groupID string) (string, error) {
	out, err := x.aws.EC2.DescribeSecurityGroups(ctx, &ec2.DescribeSecurityGroupsInput{GroupIds: []string{groupID}})
	if err != nil {
		return "", classify("read the configured quarantine group "+groupID+" of "+vpcID, "ec2:DescribeSecurityGroups", err)
	}
	if len(out.SecurityGroups) == 0 {
		return "", classify("read the configured quarantine group "+groupID+" of "+vpcID, "ec2:DescribeSecurityGroups",
			notFound("InvalidGroup.NotFound", "security group "+groupID+" was not returned"))
	}
	g := out.SecurityGroups[0]
	if v := aws.ToString(g.VpcId); v != vpcID {
		return "", temporal.NewNonRetryableApplicationError(fmt.Sprintf(
			"isolate: quarantine_group_ids names %s for %s, but that group is in %s", groupID, vpcID, v), ErrBadParams, nil)
	}
	return groupID, sealQuarantineGroup(ctx, x, &g, nil)
}

// checkMovable refuses interfaces Cordon must not or cannot re-group, and
// a NAT instance unless allowed, naming each and why.
func checkMovable(ctx context.Context, x *execution, p isolateParams, enis []ec2types.InstanceNetworkInterface, current map[string]ec2types.NetworkInterface) error {
	var refused []string
	forwarding := map[string]bool{}
	vpcs := map[string]bool{}
	for _, e := range enis {
		id := aws.ToString(e.NetworkInterfaceId)
		n := current[id]
		vpcs[aws.ToString(n.VpcId)] = true
		if why := unmovable(n); why != "" {
			refused = append(refused, id+" is "+why)
		}
		if n.SourceDestCheck != nil && !*n.SourceDestCheck {
			forwarding[id] = true
		}
	}
	if len(refused) > 0 {
		return temporal.NewNonRetryableApplicationError(fmt.Sprintf(
			"isolate %s: Cordon does not change the security groups of %s: isolate through the service that owns them, or quarantine the subnet with aws.ec2.quarantine_subnet_acl",
			p.InstanceID, strings.Join(refused, "; ")), ErrConflict, nil)
	}
	if len(forwarding) == 0 {
		return nil
	}
	routes, err := routesThrough(ctx, x, p.InstanceID, forwarding, vpcs)
	if err != nil {
		return err
	}
	if len(routes) == 0 {
		x.note("%s forwards traffic (source/destination check off) but no route table routes through it", p.InstanceID)
		return nil
	}
	if !p.AllowNATInstance {
		return temporal.NewNonRetryableApplicationError(fmt.Sprintf(
			"isolate %s: it is a NAT instance or router (source/destination check off; %s): quarantining it cuts the traffic of every subnet routed through it. "+
				"Set allow_nat_instance: true to isolate it anyway", p.InstanceID, strings.Join(routes, "; ")), ErrConflict, nil)
	}
	x.note("%s routes traffic for others (%s): isolating it cuts their traffic too (allow_nat_instance)", p.InstanceID, strings.Join(routes, "; "))
	return nil
}

// unmovable says why an interface is not one whose groups Cordon changes:
// interfaces an AWS service created and manages (NAT gateways, load
// balancers, endpoints, Lambda, ...) and the trunk and branch interfaces
// of EKS and ECS, whose groups their controllers own. Empty when movable.
func unmovable(n ec2types.NetworkInterface) string {
	if aws.ToBool(n.RequesterManaged) {
		by := aws.ToString(n.RequesterId)
		if by == "" {
			by = "an AWS service"
		}
		return fmt.Sprintf("requester-managed (type %s, managed by %s)", n.InterfaceType, by)
	}
	switch n.InterfaceType {
	case "", ec2types.NetworkInterfaceTypeInterface, ec2types.NetworkInterfaceTypeEfa, "efa-only":
		return ""
	case ec2types.NetworkInterfaceTypeTrunk, ec2types.NetworkInterfaceTypeBranch:
		return fmt.Sprintf("an EKS/ECS %s interface (its groups belong to the container service)", n.InterfaceType)
	default:
		return fmt.Sprintf("an interface of type %s, managed by its AWS service", n.InterfaceType)
	}
}

// routesThrough lists the routes that send traffic to the instance or to
// one of its forwarding interfaces, as "rtb-x: 0.0.0.0/0 (subnet-a,
// subnet-b)".
func routesThrough(ctx context.Context, x *execution, instanceID string, enis, vpcs map[string]bool) ([]string, error) {
	var out []string
	pages := ec2.NewDescribeRouteTablesPaginator(x.aws.EC2, &ec2.DescribeRouteTablesInput{Filters: []ec2types.Filter{
		{Name: aws.String("vpc-id"), Values: sortedSet(vpcs)},
	}})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return nil, classify("read the route tables routing through "+instanceID, "ec2:DescribeRouteTables", err)
		}
		for _, t := range page.RouteTables {
			var subnets []string
			for _, a := range t.Associations {
				switch {
				case a.SubnetId != nil:
					subnets = append(subnets, aws.ToString(a.SubnetId))
				case aws.ToBool(a.Main):
					subnets = append(subnets, "main table")
				}
			}
			for _, r := range t.Routes {
				if aws.ToString(r.InstanceId) != instanceID && !enis[aws.ToString(r.NetworkInterfaceId)] {
					continue
				}
				dest := cmp.Or(aws.ToString(r.DestinationCidrBlock), aws.ToString(r.DestinationIpv6CidrBlock), aws.ToString(r.DestinationPrefixListId))
				out = append(out, fmt.Sprintf("%s sends %s to it (for %s)", aws.ToString(t.RouteTableId), dest, strings.Join(subnets, ", ")))
			}
		}
	}
	slices.Sort(out)
	return out, nil
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
	p, in, err := decodeInstance(ctx, x)
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
		if err := deleteRecord(ctx, x, eniID, TagOriginalGroups, recordTagKeys(tags, TagOriginalGroups), record); err != nil {
			return err
		}
		result = append(result, isolatedInterface{NetworkInterfaceID: eniID, OriginalGroupIDs: original})
	}
	x.output("network_interfaces", result)
	return nil
}
