package awsemu_test

import (
	"context"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/cordon-ir/cordon/internal/awsemu"
)

func addInstance(t *testing.T, emu *awsemu.Emulator, spec awsemu.InstanceSpec) string {
	t.Helper()
	in, err := emu.AddInstance(spec)
	if err != nil {
		t.Fatal(err)
	}
	return in.ID
}

// EC2 answers UnsupportedOperation to termination and stop protection on a
// Spot Instance, and to stop protection on an instance-store-backed one;
// DescribeInstances shows the lifecycle and root device type.
func TestSpotAndInstanceStoreRefuseProtection(t *testing.T) {
	emu := awsemu.NewTestServer(t, awsemu.Options{})
	ctx := context.Background()
	client := ec2.NewFromConfig(emu.AWSConfig())
	spot := addInstance(t, emu, awsemu.InstanceSpec{Spot: true})
	store := addInstance(t, emu, awsemu.InstanceSpec{InstanceStoreRoot: true})
	on := &ec2types.AttributeBooleanValue{Value: aws.Bool(true)}
	for _, c := range []struct {
		id string
		in *ec2.ModifyInstanceAttributeInput
	}{
		{spot, &ec2.ModifyInstanceAttributeInput{DisableApiTermination: on}},
		{spot, &ec2.ModifyInstanceAttributeInput{DisableApiStop: on}},
		{store, &ec2.ModifyInstanceAttributeInput{DisableApiStop: on}},
	} {
		c.in.InstanceId = aws.String(c.id)
		_, err := client.ModifyInstanceAttribute(ctx, c.in)
		if code := apiCode(t, err); code != "UnsupportedOperation" {
			t.Errorf("%s: %v", c.id, err)
		}
	}
	out, err := client.DescribeInstances(ctx, &ec2.DescribeInstancesInput{InstanceIds: []string{spot, store}})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]ec2types.Instance{}
	for _, r := range out.Reservations {
		for _, in := range r.Instances {
			got[aws.ToString(in.InstanceId)] = in
		}
	}
	if got[spot].InstanceLifecycle != ec2types.InstanceLifecycleTypeSpot || got[store].RootDeviceType != ec2types.DeviceTypeInstanceStore ||
		got[spot].RootDeviceType != ec2types.DeviceTypeEbs {
		t.Errorf("spot %+v / store %+v", got[spot].InstanceLifecycle, got[store].RootDeviceType)
	}
}

// Stop protection is an attribute; it blocks StopInstances and
// TerminateInstances (OperationNotPermitted) until lifted.
func TestStopProtectionBlocksStopAndTerminate(t *testing.T) {
	emu := awsemu.NewTestServer(t, awsemu.Options{})
	ctx := context.Background()
	client := ec2.NewFromConfig(emu.AWSConfig())
	id := addInstance(t, emu, awsemu.InstanceSpec{})
	if _, err := client.ModifyInstanceAttribute(ctx, &ec2.ModifyInstanceAttributeInput{InstanceId: aws.String(id),
		DisableApiStop: &ec2types.AttributeBooleanValue{Value: aws.Bool(true)}}); err != nil {
		t.Fatal(err)
	}
	attr, err := client.DescribeInstanceAttribute(ctx, &ec2.DescribeInstanceAttributeInput{InstanceId: aws.String(id), Attribute: ec2types.InstanceAttributeNameDisableApiStop})
	if err != nil || attr.DisableApiStop == nil || !aws.ToBool(attr.DisableApiStop.Value) {
		t.Fatalf("disableApiStop = %+v, %v", attr, err)
	}
	_, err = client.StopInstances(ctx, &ec2.StopInstancesInput{InstanceIds: []string{id}})
	if code := apiCode(t, err); code != "OperationNotPermitted" {
		t.Errorf("stop: %v", err)
	}
	_, err = client.TerminateInstances(ctx, &ec2.TerminateInstancesInput{InstanceIds: []string{id}})
	if code := apiCode(t, err); code != "OperationNotPermitted" {
		t.Errorf("terminate: %v", err)
	}
	if in, _ := emu.Instance(id); in.State != awsemu.StateRunning {
		t.Errorf("state %s", in.State)
	}
}

// StopInstances Hibernate=true works only for an instance launched with
// hibernation configured, which DescribeInstances reports.
func TestHibernation(t *testing.T) {
	emu := awsemu.NewTestServer(t, awsemu.Options{})
	ctx := context.Background()
	client := ec2.NewFromConfig(emu.AWSConfig())
	plain := addInstance(t, emu, awsemu.InstanceSpec{})
	hib := addInstance(t, emu, awsemu.InstanceSpec{HibernationConfigured: true})
	_, err := client.StopInstances(ctx, &ec2.StopInstancesInput{InstanceIds: []string{plain}, Hibernate: aws.Bool(true)})
	if code := apiCode(t, err); code != "UnsupportedHibernationConfiguration" {
		t.Errorf("hibernate a plain instance: %v", err)
	}
	out, err := client.DescribeInstances(ctx, &ec2.DescribeInstancesInput{InstanceIds: []string{hib}})
	if err != nil {
		t.Fatal(err)
	}
	if ho := out.Reservations[0].Instances[0].HibernationOptions; ho == nil || !aws.ToBool(ho.Configured) {
		t.Errorf("hibernation options = %+v", ho)
	}
	if _, err := client.StopInstances(ctx, &ec2.StopInstancesInput{InstanceIds: []string{hib}, Hibernate: aws.Bool(true)}); err != nil {
		t.Fatal(err)
	}
	if in, _ := emu.Instance(hib); !in.Hibernated {
		t.Error("not recorded as hibernated")
	}
}

// DescribeInstanceTypes reports instance storage for types that have it.
func TestDescribeInstanceTypesInstanceStorage(t *testing.T) {
	emu := awsemu.NewTestServer(t, awsemu.Options{})
	client := ec2.NewFromConfig(emu.AWSConfig())
	out, err := client.DescribeInstanceTypes(context.Background(), &ec2.DescribeInstanceTypesInput{
		InstanceTypes: []ec2types.InstanceType{"m5d.large", "m5.large"}})
	if err != nil {
		t.Fatal(err)
	}
	got := map[ec2types.InstanceType]ec2types.InstanceTypeInfo{}
	for _, it := range out.InstanceTypes {
		got[it.InstanceType] = it
	}
	d := got["m5d.large"]
	if !aws.ToBool(d.InstanceStorageSupported) || d.InstanceStorageInfo == nil || len(d.InstanceStorageInfo.Disks) != 1 ||
		aws.ToInt64(d.InstanceStorageInfo.Disks[0].SizeInGB) != 75 || d.InstanceStorageInfo.Disks[0].Type != ec2types.DiskTypeSsd {
		t.Errorf("m5d.large = %+v", d)
	}
	if m := got["m5.large"]; aws.ToBool(m.InstanceStorageSupported) || m.InstanceStorageInfo != nil {
		t.Errorf("m5.large = %+v", m)
	}
}

// CreateSnapshots with CopyTagsFromSource copies the volume's tags; a
// locked snapshot cannot be deleted; a compliance lock cannot be
// weakened; DescribeLockedSnapshots lists locks; new snapshot ids lag.
func TestSnapshotTagsLocksAndLag(t *testing.T) {
	emu, info := newFleet(t, awsemu.FleetSpec{Instances: 1, Volumes: 1})
	ctx := context.Background()
	client := ec2.NewFromConfig(fastRetries(emu.AWSConfig(), 1))
	id := info.InstanceIDs[0]
	emu.SetConsistencyLag(1)
	out, err := client.CreateSnapshots(ctx, &ec2.CreateSnapshotsInput{
		InstanceSpecification: &ec2types.InstanceSpecification{InstanceId: aws.String(id)},
		CopyTagsFromSource:    ec2types.CopyTagsFromSourceVolume,
	})
	if err != nil || len(out.Snapshots) != 1 {
		t.Fatalf("%+v %v", out, err)
	}
	snap := aws.ToString(out.Snapshots[0].SnapshotId)
	if s := emu.Snapshots()[0]; s.Tags["App"] != "confluence" {
		t.Errorf("tags = %v", s.Tags)
	}
	_, err = client.DescribeSnapshots(ctx, &ec2.DescribeSnapshotsInput{SnapshotIds: []string{snap}})
	if code := apiCode(t, err); code != "InvalidSnapshot.NotFound" {
		t.Fatalf("a snapshot just created: %v", err)
	}
	if _, err := client.DescribeSnapshots(ctx, &ec2.DescribeSnapshotsInput{SnapshotIds: []string{snap}}); err != nil {
		t.Fatalf("after the lag: %v", err)
	}

	lock, err := client.LockSnapshot(ctx, &ec2.LockSnapshotInput{SnapshotId: aws.String(snap), LockMode: ec2types.LockModeCompliance, LockDuration: aws.Int32(7)})
	if err != nil || lock.LockState != ec2types.LockStateCompliance || lock.LockExpiresOn == nil {
		t.Fatalf("lock: %+v %v", lock, err)
	}
	_, err = client.DeleteSnapshot(ctx, &ec2.DeleteSnapshotInput{SnapshotId: aws.String(snap)})
	if code := apiCode(t, err); code != "SnapshotLocked" {
		t.Errorf("delete a locked snapshot: %v", err)
	}
	_, err = client.LockSnapshot(ctx, &ec2.LockSnapshotInput{SnapshotId: aws.String(snap), LockMode: ec2types.LockModeGovernance, LockDuration: aws.Int32(7)})
	if code := apiCode(t, err); code != "IncorrectState" {
		t.Errorf("weaken a compliance lock: %v", err)
	}
	locked, err := client.DescribeLockedSnapshots(ctx, &ec2.DescribeLockedSnapshotsInput{SnapshotIds: []string{snap}})
	if err != nil || len(locked.Snapshots) != 1 || locked.Snapshots[0].LockState != ec2types.LockStateCompliance || aws.ToInt32(locked.Snapshots[0].LockDuration) != 7 {
		t.Errorf("locked = %+v %v", locked, err)
	}
	if len(emu.Snapshots()) != 1 {
		t.Error("the locked snapshot is gone")
	}
}

// SetInstanceProtection protects a member of a group from scale-in, which
// DescribeAutoScalingInstances reports.
func TestSetInstanceProtection(t *testing.T) {
	emu, info := newFleet(t, awsemu.FleetSpec{Instances: 2, InAutoScalingGroup: 2})
	ctx := context.Background()
	client := autoscaling.NewFromConfig(emu.AWSConfig())
	id := info.InstanceIDs[0]
	if _, err := client.SetInstanceProtection(ctx, &autoscaling.SetInstanceProtectionInput{
		AutoScalingGroupName: aws.String(info.AutoScalingGroupName), InstanceIds: []string{id}, ProtectedFromScaleIn: aws.Bool(true),
	}); err != nil {
		t.Fatal(err)
	}
	out, err := client.DescribeAutoScalingInstances(ctx, &autoscaling.DescribeAutoScalingInstancesInput{InstanceIds: info.InstanceIDs})
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range out.AutoScalingInstances {
		if want := aws.ToString(a.InstanceId) == id; aws.ToBool(a.ProtectedFromScaleIn) != want {
			t.Errorf("%s protected %v, want %v", aws.ToString(a.InstanceId), aws.ToBool(a.ProtectedFromScaleIn), want)
		}
	}
	if _, err := client.SetInstanceProtection(ctx, &autoscaling.SetInstanceProtectionInput{
		AutoScalingGroupName: aws.String(info.AutoScalingGroupName), InstanceIds: []string{"i-0123456789abcdef0"}, ProtectedFromScaleIn: aws.Bool(true),
	}); apiCode(t, err) != "ValidationError" {
		t.Errorf("a non-member: %v", err)
	}
}
