package awsemu_test

import (
	"context"
	"encoding/base64"
	"errors"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/smithy-go"

	"github.com/cordon-ir/cordon/internal/awsemu"
)

func newFleet(t *testing.T, spec awsemu.FleetSpec) (*awsemu.Emulator, awsemu.FleetInfo) {
	t.Helper()
	emu := awsemu.NewTestServer(t, awsemu.Options{})
	info, err := emu.SeedFleet(spec)
	if err != nil {
		t.Fatalf("SeedFleet: %v", err)
	}
	return emu, info
}

func apiCode(t *testing.T, err error) string {
	t.Helper()
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		t.Fatalf("want an AWS API error, got %v", err)
	}
	return ae.ErrorCode()
}

func TestDescribeInstancesFiltersAndPages(t *testing.T) {
	emu, info := newFleet(t, awsemu.FleetSpec{Instances: 12, NetworkInterfaces: 2, Volumes: 2, WithInstanceRole: true})
	ctx := context.Background()
	client := ec2.NewFromConfig(emu.AWSConfig())

	out, err := client.DescribeInstances(ctx, &ec2.DescribeInstancesInput{
		Filters: []ec2types.Filter{
			{Name: aws.String("tag:App"), Values: []string{"confluence"}},
			{Name: aws.String("instance-state-name"), Values: []string{"running"}},
			{Name: aws.String("vpc-id"), Values: []string{info.VPCID}},
		},
	})
	if err != nil {
		t.Fatalf("DescribeInstances: %v", err)
	}
	var got []ec2types.Instance
	for _, r := range out.Reservations {
		got = append(got, r.Instances...)
	}
	if len(got) != 12 {
		t.Fatalf("got %d instances, want 12", len(got))
	}
	first := got[0]
	if aws.ToString(first.InstanceId) != info.InstanceIDs[0] || first.State.Name != ec2types.InstanceStateNameRunning {
		t.Errorf("first instance = %s %s", aws.ToString(first.InstanceId), first.State.Name)
	}
	if len(first.NetworkInterfaces) != 2 || len(first.BlockDeviceMappings) != 2 || len(first.SecurityGroups) != 1 {
		t.Errorf("instance has %d ENIs, %d volumes, %d groups", len(first.NetworkInterfaces), len(first.BlockDeviceMappings), len(first.SecurityGroups))
	}
	if first.IamInstanceProfile == nil || aws.ToString(first.IamInstanceProfile.Arn) != info.InstanceProfileARN {
		t.Errorf("profile = %+v, want %s", first.IamInstanceProfile, info.InstanceProfileARN)
	}
	if !strings.HasPrefix(aws.ToString(first.InstanceId), "i-0") || len(aws.ToString(first.InstanceId)) != 19 {
		t.Errorf("instance id %q does not look like an EC2 id", aws.ToString(first.InstanceId))
	}

	eni := aws.ToString(first.NetworkInterfaces[1].NetworkInterfaceId)
	byENI, err := client.DescribeInstances(ctx, &ec2.DescribeInstancesInput{Filters: []ec2types.Filter{
		{Name: aws.String("network-interface.network-interface-id"), Values: []string{eni}},
	}})
	if err != nil || len(byENI.Reservations) != 1 || aws.ToString(byENI.Reservations[0].Instances[0].InstanceId) != info.InstanceIDs[0] {
		t.Fatalf("filter by ENI: %v %+v", err, byENI)
	}

	pages := ec2.NewDescribeInstancesPaginator(client, &ec2.DescribeInstancesInput{MaxResults: aws.Int32(5)})
	n, calls := 0, 0
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			t.Fatalf("page: %v", err)
		}
		calls++
		for _, r := range page.Reservations {
			n += len(r.Instances)
		}
	}
	if n != 12 || calls != 3 {
		t.Errorf("paginated %d instances in %d pages, want 12 in 3", n, calls)
	}

	_, err = client.DescribeInstances(ctx, &ec2.DescribeInstancesInput{InstanceIds: []string{"i-0000000000000dead"}})
	if code := apiCode(t, err); code != "InvalidInstanceID.NotFound" {
		t.Errorf("unknown id: code %s", code)
	}
	_, err = client.DescribeInstances(ctx, &ec2.DescribeInstancesInput{Filters: []ec2types.Filter{{Name: aws.String("bogus"), Values: []string{"x"}}}})
	if code := apiCode(t, err); code != "InvalidParameterValue" {
		t.Errorf("bad filter: code %s", code)
	}
}

func TestVolumesInterfacesVPCs(t *testing.T) {
	emu, info := newFleet(t, awsemu.FleetSpec{Instances: 3, NetworkInterfaces: 3, Volumes: 3})
	ctx := context.Background()
	client := ec2.NewFromConfig(emu.AWSConfig())
	id := info.InstanceIDs[1]

	vols, err := client.DescribeVolumes(ctx, &ec2.DescribeVolumesInput{Filters: []ec2types.Filter{
		{Name: aws.String("attachment.instance-id"), Values: []string{id}},
	}})
	if err != nil || len(vols.Volumes) != 3 {
		t.Fatalf("DescribeVolumes: %v, %d volumes", err, len(vols.Volumes))
	}
	for _, v := range vols.Volumes {
		if len(v.Attachments) != 1 || aws.ToString(v.Attachments[0].InstanceId) != id {
			t.Errorf("volume %s attachments %+v", aws.ToString(v.VolumeId), v.Attachments)
		}
	}
	enis, err := client.DescribeNetworkInterfaces(ctx, &ec2.DescribeNetworkInterfacesInput{Filters: []ec2types.Filter{
		{Name: aws.String("attachment.instance-id"), Values: []string{id}},
	}})
	if err != nil || len(enis.NetworkInterfaces) != 3 {
		t.Fatalf("DescribeNetworkInterfaces: %v, %d", err, len(enis.NetworkInterfaces))
	}
	vpcs, err := client.DescribeVpcs(ctx, &ec2.DescribeVpcsInput{VpcIds: []string{info.VPCID}})
	if err != nil || len(vpcs.Vpcs) != 1 {
		t.Fatalf("DescribeVpcs: %v", err)
	}
	subnets, err := client.DescribeSubnets(ctx, &ec2.DescribeSubnetsInput{Filters: []ec2types.Filter{
		{Name: aws.String("vpc-id"), Values: []string{info.VPCID}},
	}})
	if err != nil || len(subnets.Subnets) != 3 {
		t.Fatalf("DescribeSubnets: %v %d", err, len(subnets.Subnets))
	}
}

func TestQuarantineGroupIsolatesInstance(t *testing.T) {
	emu, info := newFleet(t, awsemu.FleetSpec{Instances: 2, NetworkInterfaces: 1})
	ctx := context.Background()
	client := ec2.NewFromConfig(emu.AWSConfig())

	created, err := client.CreateSecurityGroup(ctx, &ec2.CreateSecurityGroupInput{
		GroupName: aws.String("cordon-quarantine"), Description: aws.String("no traffic"), VpcId: aws.String(info.VPCID),
		TagSpecifications: []ec2types.TagSpecification{{ResourceType: ec2types.ResourceTypeSecurityGroup,
			Tags: []ec2types.Tag{{Key: aws.String("cordon:run"), Value: aws.String("run-1")}}}},
	})
	if err != nil {
		t.Fatalf("CreateSecurityGroup: %v", err)
	}
	sg := aws.ToString(created.GroupId)
	_, err = client.CreateSecurityGroup(ctx, &ec2.CreateSecurityGroupInput{
		GroupName: aws.String("cordon-quarantine"), Description: aws.String("again"), VpcId: aws.String(info.VPCID)})
	if code := apiCode(t, err); code != "InvalidGroup.Duplicate" {
		t.Errorf("duplicate group: %s", code)
	}

	desc, err := client.DescribeSecurityGroups(ctx, &ec2.DescribeSecurityGroupsInput{Filters: []ec2types.Filter{
		{Name: aws.String("group-name"), Values: []string{"cordon-quarantine"}},
		{Name: aws.String("tag:cordon:run"), Values: []string{"run-1"}},
	}})
	if err != nil || len(desc.SecurityGroups) != 1 {
		t.Fatalf("DescribeSecurityGroups: %v %+v", err, desc)
	}
	egress := desc.SecurityGroups[0].IpPermissionsEgress
	if len(egress) != 1 || aws.ToString(egress[0].IpProtocol) != "-1" || aws.ToString(egress[0].IpRanges[0].CidrIp) != "0.0.0.0/0" {
		t.Fatalf("new group egress = %+v, want the default allow-all", egress)
	}

	_, err = client.RevokeSecurityGroupEgress(ctx, &ec2.RevokeSecurityGroupEgressInput{GroupId: aws.String(sg),
		IpPermissions: []ec2types.IpPermission{{IpProtocol: aws.String("-1"), IpRanges: []ec2types.IpRange{{CidrIp: aws.String("0.0.0.0/0")}}}}})
	if err != nil {
		t.Fatalf("RevokeSecurityGroupEgress: %v", err)
	}
	_, err = client.AuthorizeSecurityGroupEgress(ctx, &ec2.AuthorizeSecurityGroupEgressInput{GroupId: aws.String(sg),
		IpPermissions: []ec2types.IpPermission{{IpProtocol: aws.String("tcp"), FromPort: aws.Int32(443), ToPort: aws.Int32(443),
			IpRanges: []ec2types.IpRange{{CidrIp: aws.String("10.9.9.9/32")}}}}})
	if err != nil {
		t.Fatalf("AuthorizeSecurityGroupEgress: %v", err)
	}
	_, err = client.AuthorizeSecurityGroupIngress(ctx, &ec2.AuthorizeSecurityGroupIngressInput{GroupId: aws.String(sg),
		IpPermissions: []ec2types.IpPermission{{IpProtocol: aws.String("tcp"), FromPort: aws.Int32(22), ToPort: aws.Int32(22),
			IpRanges: []ec2types.IpRange{{CidrIp: aws.String("10.1.1.1/32")}}}}})
	if err != nil {
		t.Fatalf("AuthorizeSecurityGroupIngress: %v", err)
	}
	g, _ := emu.SecurityGroup(sg)
	if len(g.Egress) != 1 || g.Egress[0].Protocol != "tcp" || g.Egress[0].FromPort != 443 || len(g.Ingress) != 1 {
		t.Fatalf("group after rules = %+v", g)
	}

	inst, _ := emu.Instance(info.InstanceIDs[0])
	_, err = client.ModifyNetworkInterfaceAttribute(ctx, &ec2.ModifyNetworkInterfaceAttributeInput{
		NetworkInterfaceId: aws.String(inst.NetworkInterfaceIDs[0]), Groups: []string{sg}})
	if err != nil {
		t.Fatalf("ModifyNetworkInterfaceAttribute: %v", err)
	}
	attr, err := client.DescribeInstanceAttribute(ctx, &ec2.DescribeInstanceAttributeInput{
		InstanceId: aws.String(inst.ID), Attribute: ec2types.InstanceAttributeNameGroupSet})
	if err != nil || len(attr.Groups) != 1 || aws.ToString(attr.Groups[0].GroupId) != sg {
		t.Fatalf("groupSet after isolation = %v %+v", err, attr)
	}
}

func TestTagsSnapshotsConsoleMetadata(t *testing.T) {
	emu, info := newFleet(t, awsemu.FleetSpec{Instances: 2, Volumes: 2, Compromised: []int{1}, WithInstanceRole: true})
	emu.SetSnapshotCompletion(awsemu.SnapshotCompletion{AfterDescribes: 2})
	ctx := context.Background()
	client := ec2.NewFromConfig(emu.AWSConfig())
	id := info.InstanceIDs[1]

	if _, err := client.CreateTags(ctx, &ec2.CreateTagsInput{Resources: []string{id},
		Tags: []ec2types.Tag{{Key: aws.String("cordon:status"), Value: aws.String("quarantined")}, {Key: aws.String("tmp"), Value: aws.String("x")}}}); err != nil {
		t.Fatalf("CreateTags: %v", err)
	}
	if _, err := client.DeleteTags(ctx, &ec2.DeleteTagsInput{Resources: []string{id}, Tags: []ec2types.Tag{{Key: aws.String("tmp")}}}); err != nil {
		t.Fatalf("DeleteTags: %v", err)
	}
	tags, err := client.DescribeTags(ctx, &ec2.DescribeTagsInput{Filters: []ec2types.Filter{
		{Name: aws.String("resource-id"), Values: []string{id}}, {Name: aws.String("key"), Values: []string{"cordon:*"}}}})
	if err != nil || len(tags.Tags) != 1 || aws.ToString(tags.Tags[0].Value) != "quarantined" || tags.Tags[0].ResourceType != "instance" {
		t.Fatalf("DescribeTags: %v %+v", err, tags)
	}

	snaps, err := client.CreateSnapshots(ctx, &ec2.CreateSnapshotsInput{
		InstanceSpecification: &ec2types.InstanceSpecification{InstanceId: aws.String(id)},
		CopyTagsFromSource:    ec2types.CopyTagsFromSourceVolume,
		TagSpecifications: []ec2types.TagSpecification{{ResourceType: ec2types.ResourceTypeSnapshot,
			Tags: []ec2types.Tag{{Key: aws.String("cordon:evidence"), Value: aws.String(id)}}}},
	})
	if err != nil || len(snaps.Snapshots) != 2 {
		t.Fatalf("CreateSnapshots: %v %+v", err, snaps)
	}
	if snaps.Snapshots[0].State != ec2types.SnapshotStatePending {
		t.Errorf("new snapshot state %s", snaps.Snapshots[0].State)
	}
	single, err := client.CreateSnapshot(ctx, &ec2.CreateSnapshotInput{VolumeId: snaps.Snapshots[0].VolumeId})
	if err != nil || !strings.HasPrefix(aws.ToString(single.SnapshotId), "snap-") {
		t.Fatalf("CreateSnapshot: %v %+v", err, single)
	}
	describe := func() []ec2types.Snapshot {
		out, err := client.DescribeSnapshots(ctx, &ec2.DescribeSnapshotsInput{OwnerIds: []string{"self"},
			Filters: []ec2types.Filter{{Name: aws.String("tag:cordon:evidence"), Values: []string{id}}}})
		if err != nil {
			t.Fatalf("DescribeSnapshots: %v", err)
		}
		return out.Snapshots
	}
	states := []ec2types.SnapshotState{}
	for range 3 {
		s := describe()
		if len(s) != 2 {
			t.Fatalf("got %d evidence snapshots, want 2", len(s))
		}
		states = append(states, s[0].State)
	}
	want := []ec2types.SnapshotState{"pending", "pending", "completed"}
	for i := range want {
		if states[i] != want[i] {
			t.Fatalf("snapshot states %v, want %v", states, want)
		}
	}
	// The waiter's first poll must already see completion: its minimum
	// delay between polls is 15 s.
	emu.SetSnapshotCompletion(awsemu.SnapshotCompletion{})
	waiter := ec2.NewSnapshotCompletedWaiter(client)
	if err := waiter.Wait(ctx, &ec2.DescribeSnapshotsInput{SnapshotIds: []string{aws.ToString(single.SnapshotId)}}, 5e9); err != nil {
		t.Fatalf("snapshot waiter: %v", err)
	}

	console, err := client.GetConsoleOutput(ctx, &ec2.GetConsoleOutputInput{InstanceId: aws.String(id)})
	if err != nil {
		t.Fatalf("GetConsoleOutput: %v", err)
	}
	text, _ := base64.StdEncoding.DecodeString(aws.ToString(console.Output))
	if !strings.Contains(string(text), "kinsing") {
		t.Errorf("compromised console output lacks indicators: %q", text)
	}

	meta, err := client.ModifyInstanceMetadataOptions(ctx, &ec2.ModifyInstanceMetadataOptionsInput{InstanceId: aws.String(id),
		HttpEndpoint: ec2types.InstanceMetadataEndpointStateDisabled, HttpTokens: ec2types.HttpTokensStateRequired})
	if err != nil || meta.InstanceMetadataOptions.HttpEndpoint != ec2types.InstanceMetadataEndpointStateDisabled {
		t.Fatalf("ModifyInstanceMetadataOptions: %v %+v", err, meta)
	}
	assoc, err := client.DescribeIamInstanceProfileAssociations(ctx, &ec2.DescribeIamInstanceProfileAssociationsInput{
		Filters: []ec2types.Filter{{Name: aws.String("instance-id"), Values: []string{id}}}})
	if err != nil || len(assoc.IamInstanceProfileAssociations) != 1 {
		t.Fatalf("DescribeIamInstanceProfileAssociations: %v %+v", err, assoc)
	}
	if _, err := client.DisassociateIamInstanceProfile(ctx, &ec2.DisassociateIamInstanceProfileInput{
		AssociationId: assoc.IamInstanceProfileAssociations[0].AssociationId}); err != nil {
		t.Fatalf("DisassociateIamInstanceProfile: %v", err)
	}
	got, _ := emu.Instance(id)
	if got.InstanceProfileARN != "" || got.MetadataHTTPEndpoint != "disabled" || got.MetadataHTTPTokens != "required" {
		t.Errorf("instance after credential cut-off = %+v", got)
	}
}

func TestTerminationProtectionAndLifecycle(t *testing.T) {
	emu, info := newFleet(t, awsemu.FleetSpec{Instances: 2, Volumes: 2, TerminationProtection: true})
	ctx := context.Background()
	client := ec2.NewFromConfig(emu.AWSConfig())
	id := info.InstanceIDs[0]

	_, err := client.TerminateInstances(ctx, &ec2.TerminateInstancesInput{InstanceIds: []string{id}})
	if code := apiCode(t, err); code != "OperationNotPermitted" {
		t.Fatalf("terminate protected: %s", code)
	}
	attr, err := client.DescribeInstanceAttribute(ctx, &ec2.DescribeInstanceAttributeInput{InstanceId: aws.String(id), Attribute: ec2types.InstanceAttributeNameDisableApiTermination})
	if err != nil || !aws.ToBool(attr.DisableApiTermination.Value) {
		t.Fatalf("disableApiTermination = %v %+v", err, attr)
	}

	before, _ := emu.Instance(id)
	dataVol := before.BlockDevices[1].VolumeID
	rootVol := before.BlockDevices[0].VolumeID
	if _, err := client.ModifyInstanceAttribute(ctx, &ec2.ModifyInstanceAttributeInput{InstanceId: aws.String(id),
		BlockDeviceMappings: []ec2types.InstanceBlockDeviceMappingSpecification{{DeviceName: aws.String("/dev/xvda"),
			Ebs: &ec2types.EbsInstanceBlockDeviceSpecification{DeleteOnTermination: aws.Bool(false)}}}}); err != nil {
		t.Fatalf("ModifyInstanceAttribute block devices: %v", err)
	}
	if _, err := client.ModifyInstanceAttribute(ctx, &ec2.ModifyInstanceAttributeInput{InstanceId: aws.String(id),
		InstanceInitiatedShutdownBehavior: &ec2types.AttributeValue{Value: aws.String("stop")}}); err != nil {
		t.Fatalf("ModifyInstanceAttribute shutdown behaviour: %v", err)
	}
	if _, err := client.ModifyInstanceAttribute(ctx, &ec2.ModifyInstanceAttributeInput{InstanceId: aws.String(id),
		DisableApiTermination: &ec2types.AttributeBooleanValue{Value: aws.Bool(false)}}); err != nil {
		t.Fatalf("ModifyInstanceAttribute protection: %v", err)
	}

	stop, err := client.StopInstances(ctx, &ec2.StopInstancesInput{InstanceIds: []string{id}})
	if err != nil || stop.StoppingInstances[0].CurrentState.Name != ec2types.InstanceStateNameStopping {
		t.Fatalf("StopInstances: %v %+v", err, stop)
	}
	if err := ec2.NewInstanceStoppedWaiter(client).Wait(ctx, &ec2.DescribeInstancesInput{InstanceIds: []string{id}}, 5e9); err != nil {
		t.Fatalf("stopped waiter: %v", err)
	}
	if _, err := client.StartInstances(ctx, &ec2.StartInstancesInput{InstanceIds: []string{id}}); err != nil {
		t.Fatalf("StartInstances: %v", err)
	}
	term, err := client.TerminateInstances(ctx, &ec2.TerminateInstancesInput{InstanceIds: []string{id}})
	if err != nil || term.TerminatingInstances[0].CurrentState.Name != ec2types.InstanceStateNameShuttingDown {
		t.Fatalf("TerminateInstances: %v %+v", err, term)
	}
	after, _ := emu.Instance(id)
	if after.State != awsemu.StateTerminated {
		t.Fatalf("state %s, want terminated", after.State)
	}
	if _, ok := emu.Volume(rootVol); !ok {
		t.Errorf("root volume with DeleteOnTermination=false was deleted")
	}
	if _, ok := emu.Volume(dataVol); !ok {
		t.Errorf("data volume (DeleteOnTermination=false by default) was deleted")
	}
}

func TestDryRunMutatesNothing(t *testing.T) {
	emu, info := newFleet(t, awsemu.FleetSpec{Instances: 2})
	ctx := context.Background()
	client := ec2.NewFromConfig(emu.AWSConfig())
	id := info.InstanceIDs[0]
	before := emu.State()

	calls := map[string]func() error{
		"TerminateInstances": func() error {
			_, err := client.TerminateInstances(ctx, &ec2.TerminateInstancesInput{InstanceIds: []string{id}, DryRun: aws.Bool(true)})
			return err
		},
		"CreateSecurityGroup": func() error {
			_, err := client.CreateSecurityGroup(ctx, &ec2.CreateSecurityGroupInput{GroupName: aws.String("q"), Description: aws.String("q"), VpcId: aws.String(info.VPCID), DryRun: aws.Bool(true)})
			return err
		},
		"CreateTags": func() error {
			_, err := client.CreateTags(ctx, &ec2.CreateTagsInput{Resources: []string{id}, Tags: []ec2types.Tag{{Key: aws.String("k"), Value: aws.String("v")}}, DryRun: aws.Bool(true)})
			return err
		},
		"CreateSnapshots": func() error {
			_, err := client.CreateSnapshots(ctx, &ec2.CreateSnapshotsInput{InstanceSpecification: &ec2types.InstanceSpecification{InstanceId: aws.String(id)}, DryRun: aws.Bool(true)})
			return err
		},
		"RevokeSecurityGroupEgress": func() error {
			_, err := client.RevokeSecurityGroupEgress(ctx, &ec2.RevokeSecurityGroupEgressInput{GroupId: aws.String(info.SecurityGroupID), DryRun: aws.Bool(true),
				IpPermissions: []ec2types.IpPermission{{IpProtocol: aws.String("-1"), IpRanges: []ec2types.IpRange{{CidrIp: aws.String("0.0.0.0/0")}}}}})
			return err
		},
		"StopInstances": func() error {
			_, err := client.StopInstances(ctx, &ec2.StopInstancesInput{InstanceIds: []string{id}, DryRun: aws.Bool(true)})
			return err
		},
		"ModifyInstanceMetadataOptions": func() error {
			_, err := client.ModifyInstanceMetadataOptions(ctx, &ec2.ModifyInstanceMetadataOptionsInput{InstanceId: aws.String(id), HttpTokens: ec2types.HttpTokensStateRequired, DryRun: aws.Bool(true)})
			return err
		},
		"DescribeInstances": func() error {
			_, err := client.DescribeInstances(ctx, &ec2.DescribeInstancesInput{DryRun: aws.Bool(true)})
			return err
		},
	}
	for name, call := range calls {
		err := call()
		var ae smithy.APIError
		if !errors.As(err, &ae) || ae.ErrorCode() != "DryRunOperation" {
			t.Errorf("%s dry run: %v, want DryRunOperation", name, err)
		}
	}
	if m := emu.Mutations(); len(m) != 0 {
		t.Errorf("dry runs recorded mutations: %+v", m)
	}
	if after := emu.State(); !sameJSON(t, before, after) {
		t.Errorf("dry runs changed state")
	}

	emu.Deny(awsemu.AllPrincipals, "ec2:TerminateInstances")
	_, err := client.TerminateInstances(ctx, &ec2.TerminateInstancesInput{InstanceIds: []string{id}, DryRun: aws.Bool(true)})
	var ae smithy.APIError
	if !errors.As(err, &ae) || ae.ErrorCode() != "UnauthorizedOperation" || !strings.Contains(ae.ErrorMessage(), "ec2:TerminateInstances") {
		t.Fatalf("denied dry run: %v", err)
	}
}
