package actions

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	"github.com/aws/aws-sdk-go-v2/service/iam"
)

// instanceParams are the params of an action on one existing instance;
// actions with more params embed them.
type instanceParams struct {
	InstanceID string `json:"instance_id"`
}

func (p instanceParams) instance() string { return p.InstanceID }

// decodeForInstance decodes the step's params into p and describes the
// instance they name: how every action on one existing instance starts.
func decodeForInstance(ctx context.Context, x *execution, p interface{ instance() string }) (ec2types.Instance, error) {
	if err := x.decode(p); err != nil {
		return ec2types.Instance{}, err
	}
	return getInstance(ctx, x, p.instance())
}

// decodeInstance is decodeForInstance for the actions whose only param is
// the instance.
func decodeInstance(ctx context.Context, x *execution) (instanceParams, ec2types.Instance, error) {
	var p instanceParams
	in, err := decodeForInstance(ctx, x, &p)
	return p, in, err
}

// getInstance describes one instance; a missing instance is a
// non-retryable NotFound naming it.
func getInstance(ctx context.Context, x *execution, id string) (ec2types.Instance, error) {
	out, err := x.aws.EC2.DescribeInstances(ctx, &ec2.DescribeInstancesInput{InstanceIds: []string{id}})
	if err != nil {
		return ec2types.Instance{}, classify("describe "+id, "ec2:DescribeInstances", err)
	}
	for _, r := range out.Reservations {
		for _, in := range r.Instances {
			if aws.ToString(in.InstanceId) == id {
				return in, nil
			}
		}
	}
	return ec2types.Instance{}, classify("describe "+id, "ec2:DescribeInstances",
		notFound("InvalidInstanceID.NotFound", fmt.Sprintf("the instance ID '%s' does not exist", id)))
}

// interfaces returns the instance's ENIs in device-index order, so every
// listing and preview of them is stable.
func interfaces(in ec2types.Instance) []ec2types.InstanceNetworkInterface {
	enis := append([]ec2types.InstanceNetworkInterface(nil), in.NetworkInterfaces...)
	sort.Slice(enis, func(i, j int) bool {
		return deviceIndex(enis[i]) < deviceIndex(enis[j])
	})
	return enis
}

// interfaceIDs is the set of the instance's ENI ids: the interfaces an
// Elastic IP or a record must name to be the instance's.
func interfaceIDs(in ec2types.Instance) map[string]bool {
	ids := make(map[string]bool, len(in.NetworkInterfaces))
	for _, e := range in.NetworkInterfaces {
		ids[aws.ToString(e.NetworkInterfaceId)] = true
	}
	return ids
}

func deviceIndex(e ec2types.InstanceNetworkInterface) int32 {
	if e.Attachment == nil {
		return 0
	}
	return aws.ToInt32(e.Attachment.DeviceIndex)
}

func groupIDs(groups []ec2types.GroupIdentifier) []string {
	out := make([]string, 0, len(groups))
	for _, g := range groups {
		out = append(out, aws.ToString(g.GroupId))
	}
	return out
}

func describeInstance(ctx context.Context, x *execution) error {
	p, in, err := decodeInstance(ctx, x)
	if err != nil {
		return err
	}
	var privateIPs, enis []string
	groups := map[string]bool{}
	for _, e := range interfaces(in) {
		enis = append(enis, aws.ToString(e.NetworkInterfaceId))
		for _, ip := range e.PrivateIpAddresses {
			privateIPs = append(privateIPs, aws.ToString(ip.PrivateIpAddress))
		}
		for _, g := range groupIDs(e.Groups) {
			groups[g] = true
		}
	}
	var volumes []string
	for _, bd := range in.BlockDeviceMappings {
		if bd.Ebs != nil {
			volumes = append(volumes, aws.ToString(bd.Ebs.VolumeId))
		}
	}
	tags := map[string]string{}
	for _, t := range in.Tags {
		tags[aws.ToString(t.Key)] = aws.ToString(t.Value)
	}
	profileARN, roleName := "", ""
	if in.IamInstanceProfile != nil {
		profileARN = aws.ToString(in.IamInstanceProfile.Arn)
		name := profileARN[strings.LastIndex(profileARN, "/")+1:]
		out, err := x.aws.IAM.GetInstanceProfile(ctx, &iam.GetInstanceProfileInput{InstanceProfileName: aws.String(name)})
		if err != nil {
			return classify("describe "+p.InstanceID+" instance profile "+name, "iam:GetInstanceProfile", err)
		}
		if out.InstanceProfile != nil && len(out.InstanceProfile.Roles) > 0 {
			roleName = aws.ToString(out.InstanceProfile.Roles[0].RoleName)
		}
	}
	asg := ""
	asgOut, err := x.aws.AutoScaling.DescribeAutoScalingInstances(ctx, &autoscaling.DescribeAutoScalingInstancesInput{InstanceIds: []string{p.InstanceID}})
	if err != nil {
		return classify("describe "+p.InstanceID+" Auto Scaling membership", "autoscaling:DescribeAutoScalingInstances", err)
	}
	for _, a := range asgOut.AutoScalingInstances {
		asg = aws.ToString(a.AutoScalingGroupName)
	}
	targetGroups, err := registeredTargetGroups(ctx, x, p.InstanceID)
	if err != nil {
		return err
	}
	loadBalancers, err := registeredClassicELBs(ctx, x, p.InstanceID)
	if err != nil {
		return err
	}
	state := ""
	if in.State != nil {
		state = string(in.State.Name)
	}
	launch := ""
	if in.LaunchTime != nil {
		launch = in.LaunchTime.UTC().Format("2006-01-02T15:04:05Z07:00")
	}
	x.output("instance_id", p.InstanceID)
	x.output("state", state)
	x.output("image_id", aws.ToString(in.ImageId))
	x.output("vpc_id", aws.ToString(in.VpcId))
	x.output("subnet_id", aws.ToString(in.SubnetId))
	x.output("private_ips", nonNil(privateIPs))
	x.output("public_ip", aws.ToString(in.PublicIpAddress))
	x.output("launch_time", launch)
	x.output("network_interface_ids", nonNil(enis))
	x.output("security_group_ids", sortedSet(groups))
	x.output("volume_ids", nonNil(volumes))
	x.output("instance_profile_arn", profileARN)
	x.output("role_name", roleName)
	x.output("auto_scaling_group", asg)
	x.output("target_group_arns", nonNil(targetGroups))
	x.output("load_balancer_names", nonNil(loadBalancers))
	x.output("tags", tags)
	return nil
}

// registeredTargetGroups lists the ELBv2 target groups in which the
// instance is a registered target.
func registeredTargetGroups(ctx context.Context, x *execution, instanceID string) ([]string, error) {
	var found []string
	pages := elbv2.NewDescribeTargetGroupsPaginator(x.aws.ELBv2, &elbv2.DescribeTargetGroupsInput{})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return nil, classify("list target groups", "elasticloadbalancing:DescribeTargetGroups", err)
		}
		for _, tg := range page.TargetGroups {
			arn := aws.ToString(tg.TargetGroupArn)
			health, err := x.aws.ELBv2.DescribeTargetHealth(ctx, &elbv2.DescribeTargetHealthInput{TargetGroupArn: tg.TargetGroupArn})
			if err != nil {
				return nil, classify("read targets of "+arn, "elasticloadbalancing:DescribeTargetHealth", err)
			}
			for _, d := range health.TargetHealthDescriptions {
				if d.Target != nil && aws.ToString(d.Target.Id) == instanceID {
					found = append(found, arn)
					break
				}
			}
		}
	}
	sort.Strings(found)
	return found, nil
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func sortedSet(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
