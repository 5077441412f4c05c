package awsemu_test

import (
	"context"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/cordon-ir/cordon/internal/awsemu"
)

// keyPolicySharedWith is a key policy that keeps the owner's root and lets
// another account use the key for EBS, as the EBS guide lists.
func keyPolicySharedWith(owner, other string) string {
	return `{"Version":"2012-10-17","Statement":[` +
		`{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::` + owner + `:root"},"Action":"kms:*","Resource":"*"},` +
		`{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::` + other + `:root"},"Action":["kms:DescribeKey","kms:CreateGrant",` +
		`"kms:Decrypt","kms:ReEncrypt*","kms:GenerateDataKey*"],"Resource":"*"}]}`
}

// describeSnapshot describes one snapshot (which also lets a pending one
// complete under the default completion rule).
func describeSnapshot(t *testing.T, client *ec2.Client, id string) ec2types.Snapshot {
	t.Helper()
	out, err := client.DescribeSnapshots(context.Background(), &ec2.DescribeSnapshotsInput{SnapshotIds: []string{id}})
	if err != nil || len(out.Snapshots) != 1 {
		t.Fatalf("DescribeSnapshots %s: %+v, %v", id, out, err)
	}
	return out.Snapshots[0]
}

// The handover of a disk encrypted with the default aws/ebs key: EC2
// refuses to share it; a copy re-encrypted with a customer managed key
// that the forensic account may use is shared; the forensic account sees
// it and copies it into its own account under its own key.
func TestSnapshotHandoverToTheForensicAccount(t *testing.T) {
	emu := awsemu.NewTestServer(t, awsemu.Options{})
	ctx := context.Background()
	me := emu.AccountID()
	in, err := emu.AddInstance(awsemu.InstanceSpec{Name: "web", EncryptedVolumes: true, Volumes: 1})
	if err != nil {
		t.Fatal(err)
	}
	handover, err := emu.AddKMSKey(awsemu.KMSKeySpec{Alias: "alias/cordon-handover", Policy: keyPolicySharedWith(me, forensicAccount)})
	if err != nil {
		t.Fatal(err)
	}
	forensicKey, err := emu.AddKMSKey(awsemu.KMSKeySpec{Account: forensicAccount, Alias: "alias/cordon-evidence"})
	if err != nil {
		t.Fatal(err)
	}
	client := ec2.NewFromConfig(emu.AWSConfig())

	snap, err := client.CreateSnapshot(ctx, &ec2.CreateSnapshotInput{VolumeId: aws.String(in.BlockDevices[0].VolumeID)})
	if err != nil || !aws.ToBool(snap.Encrypted) {
		t.Fatalf("CreateSnapshot of an encrypted volume: %+v, %v", snap, err)
	}
	orig := describeSnapshot(t, client, aws.ToString(snap.SnapshotId))
	if orig.State != ec2types.SnapshotStateCompleted || aws.ToString(orig.OwnerId) != me {
		t.Fatalf("original = %+v", orig)
	}
	// Sharing a snapshot under the AWS managed key fails like EC2.
	_, err = client.ModifySnapshotAttribute(ctx, &ec2.ModifySnapshotAttributeInput{SnapshotId: snap.SnapshotId,
		Attribute: ec2types.SnapshotAttributeNameCreateVolumePermission, OperationType: ec2types.OperationTypeAdd, UserIds: []string{forensicAccount}})
	if code := apiCode(t, err); code != "OperationNotPermitted" {
		t.Fatalf("sharing a default-key snapshot: %v", err)
	}

	// Copy first, to the customer managed key the forensic account may use.
	cp, err := client.CopySnapshot(ctx, &ec2.CopySnapshotInput{SourceSnapshotId: snap.SnapshotId, SourceRegion: aws.String(emu.Region()),
		Encrypted: aws.Bool(true), KmsKeyId: aws.String("alias/cordon-handover"), Description: aws.String("case-1 handover")})
	if err != nil {
		t.Fatalf("CopySnapshot to the handover key: %v", err)
	}
	shared := describeSnapshot(t, client, aws.ToString(cp.SnapshotId))
	if shared.State != ec2types.SnapshotStateCompleted || aws.ToString(shared.KmsKeyId) != handover.ARN {
		t.Fatalf("copy = %s %s key %s", aws.ToString(shared.SnapshotId), shared.State, aws.ToString(shared.KmsKeyId))
	}
	if _, err := client.ModifySnapshotAttribute(ctx, &ec2.ModifySnapshotAttributeInput{SnapshotId: cp.SnapshotId,
		Attribute:              ec2types.SnapshotAttributeNameCreateVolumePermission,
		CreateVolumePermission: &ec2types.CreateVolumePermissionModifications{Add: []ec2types.CreateVolumePermission{{UserId: aws.String(forensicAccount)}}}}); err != nil {
		t.Fatalf("sharing the CMK copy: %v", err)
	}
	attr, err := client.DescribeSnapshotAttribute(ctx, &ec2.DescribeSnapshotAttributeInput{SnapshotId: cp.SnapshotId,
		Attribute: ec2types.SnapshotAttributeNameCreateVolumePermission})
	if err != nil || len(attr.CreateVolumePermissions) != 1 || aws.ToString(attr.CreateVolumePermissions[0].UserId) != forensicAccount {
		t.Fatalf("DescribeSnapshotAttribute = %+v, %v", attr, err)
	}

	// The forensic account sees the shared snapshot, and only that one.
	forensic := ec2.NewFromConfig(forensicRole(t, emu))
	seen, err := forensic.DescribeSnapshots(ctx, &ec2.DescribeSnapshotsInput{RestorableByUserIds: []string{"self"}, OwnerIds: []string{me}})
	if err != nil || len(seen.Snapshots) != 1 || aws.ToString(seen.Snapshots[0].SnapshotId) != aws.ToString(cp.SnapshotId) {
		t.Fatalf("forensic account sees %+v, %v", seen, err)
	}
	own, err := forensic.CopySnapshot(ctx, &ec2.CopySnapshotInput{SourceSnapshotId: cp.SnapshotId, SourceRegion: aws.String(emu.Region()),
		Encrypted: aws.Bool(true), KmsKeyId: aws.String(forensicKey.ARN)})
	if err != nil {
		t.Fatalf("forensic CopySnapshot: %v", err)
	}
	final := describeSnapshot(t, forensic, aws.ToString(own.SnapshotId))
	if final.State != ec2types.SnapshotStateCompleted || aws.ToString(final.OwnerId) != forensicAccount || aws.ToString(final.KmsKeyId) != forensicKey.ARN {
		t.Fatalf("forensic copy = %s owner %s key %s", final.State, aws.ToString(final.OwnerId), aws.ToString(final.KmsKeyId))
	}
	// The forensic copy is the forensic account's alone.
	mine, err := client.DescribeSnapshots(ctx, &ec2.DescribeSnapshotsInput{OwnerIds: []string{"self"}})
	if err != nil || len(mine.Snapshots) != 2 {
		t.Fatalf("the default account sees %d snapshots of its own, %v", len(mine.Snapshots), err)
	}
	if _, err := client.DeleteSnapshot(ctx, &ec2.DeleteSnapshotInput{SnapshotId: own.SnapshotId}); apiCode(t, err) != "InvalidSnapshot.NotFound" {
		t.Fatalf("deleting another account's snapshot: %v", err)
	}
}

// A key the forensic account may not use makes its copy fail the way EC2
// checks keys: asynchronously, the copy ending in state error.
func TestCopyWithAnInaccessibleKeyFails(t *testing.T) {
	emu := awsemu.NewTestServer(t, awsemu.Options{})
	ctx := context.Background()
	private, err := emu.AddKMSKey(awsemu.KMSKeySpec{Alias: "alias/private"}) // default policy: this account only
	if err != nil {
		t.Fatal(err)
	}
	in, err := emu.AddInstance(awsemu.InstanceSpec{EncryptedVolumes: true, VolumeKMSKeyID: private.ARN, Volumes: 1})
	if err != nil {
		t.Fatal(err)
	}
	client := ec2.NewFromConfig(emu.AWSConfig())
	snap, err := client.CreateSnapshot(ctx, &ec2.CreateSnapshotInput{VolumeId: aws.String(in.BlockDevices[0].VolumeID)})
	if err != nil {
		t.Fatal(err)
	}
	describeSnapshot(t, client, aws.ToString(snap.SnapshotId))
	// A CMK snapshot may be shared; the key is another matter.
	if _, err := client.ModifySnapshotAttribute(ctx, &ec2.ModifySnapshotAttributeInput{SnapshotId: snap.SnapshotId,
		Attribute: ec2types.SnapshotAttributeNameCreateVolumePermission, OperationType: ec2types.OperationTypeAdd, UserIds: []string{forensicAccount}}); err != nil {
		t.Fatalf("sharing a CMK snapshot: %v", err)
	}
	_, err = client.ModifySnapshotAttribute(ctx, &ec2.ModifySnapshotAttributeInput{SnapshotId: snap.SnapshotId,
		Attribute: ec2types.SnapshotAttributeNameCreateVolumePermission, OperationType: ec2types.OperationTypeAdd, GroupNames: []string{"all"}})
	if code := apiCode(t, err); code != "OperationNotPermitted" {
		t.Fatalf("making an encrypted snapshot public: %v", err)
	}
	forensic := ec2.NewFromConfig(forensicRole(t, emu))
	cp, err := forensic.CopySnapshot(ctx, &ec2.CopySnapshotInput{SourceSnapshotId: snap.SnapshotId, SourceRegion: aws.String(emu.Region()), Encrypted: aws.Bool(true)})
	if err != nil {
		t.Fatalf("CopySnapshot is accepted before the key is checked: %v", err)
	}
	failed := describeSnapshot(t, forensic, aws.ToString(cp.SnapshotId))
	if failed.State != ec2types.SnapshotStateError || aws.ToString(failed.StateMessage) != "Given key ID is not accessible" {
		t.Fatalf("copy with an inaccessible source key = %s %q", failed.State, aws.ToString(failed.StateMessage))
	}
	// KmsKeyId needs Encrypted, and an unshared snapshot is not found.
	_, err = client.CopySnapshot(ctx, &ec2.CopySnapshotInput{SourceSnapshotId: snap.SnapshotId, SourceRegion: aws.String(emu.Region()), KmsKeyId: aws.String(private.ARN)})
	if code := apiCode(t, err); code != "InvalidParameterDependency" {
		t.Fatalf("KmsKeyId without Encrypted: %v", err)
	}
	_, err = forensic.CopySnapshot(ctx, &ec2.CopySnapshotInput{SourceSnapshotId: aws.String("snap-0000000000000000f"), SourceRegion: aws.String(emu.Region())})
	if code := apiCode(t, err); code != "InvalidSnapshot.NotFound" {
		t.Fatalf("copy of an unknown snapshot: %v", err)
	}
	// A dry run copies nothing.
	_, err = client.CopySnapshot(ctx, &ec2.CopySnapshotInput{SourceSnapshotId: snap.SnapshotId, SourceRegion: aws.String(emu.Region()), DryRun: aws.Bool(true)})
	if code := apiCode(t, err); code != "DryRunOperation" || len(emu.Snapshots()) != 1 {
		t.Fatalf("dry-run copy: %v, %d snapshots", err, len(emu.Snapshots()))
	}
}
