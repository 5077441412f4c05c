package actions_test

import (
	"context"
	"slices"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"

	"github.com/cordon-ir/cordon/actions"
	"github.com/cordon-ir/cordon/internal/awsemu"
)

// withAddress seeds one instance with an Elastic IP on its primary
// interface.
func withAddress(h *harness) map[string]any {
	id := h.fleet(awsemu.FleetSpec{Instances: 1, NetworkInterfaces: 2}).InstanceIDs[0]
	if _, err := h.emu.AddAddress(awsemu.AddressSpec{InstanceID: id}); err != nil {
		h.t.Fatal(err)
	}
	return map[string]any{"instance_id": id}
}

// addressesOf lists the Elastic IPs associated with the instance.
func addressesOf(h *harness, id string) []awsemu.Address {
	var out []awsemu.Address
	for _, a := range h.emu.Addresses() {
		if a.InstanceID == id {
			out = append(out, a)
		}
	}
	return out
}

// seededSubnet seeds a fleet and names one of its subnets.
func seededSubnet(h *harness) map[string]any {
	return map[string]any{"subnet_id": h.fleet(awsemu.FleetSpec{Instances: 2}).SubnetIDs[0]}
}

// missingSubnetParams name a subnet that does not exist.
func missingSubnetParams(*harness) (map[string]any, string) {
	return map[string]any{"subnet_id": "subnet-0123456789abcdef0"}, "subnet-0123456789abcdef0"
}

// quarantinedSubnet checks the subnet's ACL denies everything and the
// original ACL is recorded on it.
func quarantinedSubnet(t *testing.T, h *harness, params map[string]any) {
	subnet := params["subnet_id"].(string)
	a, ok := h.emu.NetworkACLOf(subnet)
	if !ok || a.IsDefault || a.Tags[actions.TagQuarantine] != "nacl" {
		t.Fatalf("%s ACL = %+v", subnet, a)
	}
	for _, e := range a.Entries {
		if e.Allow {
			t.Errorf("quarantine ACL allows %+v", e)
		}
	}
	for _, s := range h.emu.State().Subnets {
		if s.ID == subnet && s.Tags[actions.TagOriginalNetworkACL] == "" {
			t.Errorf("no record of the original ACL: %v", s.Tags)
		}
	}
}

// ec2NetworkContracts are the contract cases of the network actions (see
// runContract).
func ec2NetworkContracts() []contractCase {
	return []contractCase{
		{
			action: "aws.ec2.disassociate_address",
			seed:   withAddress,
			done: func(t *testing.T, h *harness, params map[string]any) {
				id := params["instance_id"].(string)
				if a := addressesOf(h, id); len(a) != 0 {
					t.Errorf("still associated: %+v", a)
				}
				for _, a := range h.emu.Addresses() {
					if a.Tags[actions.TagEIPAssociation] == "" {
						t.Errorf("%s has no record of its association", a.AllocationID)
					}
				}
			},
			permission: "ec2:DisassociateAddress",
			missing:    missingInstanceParams,
		},
		{
			action:     "aws.ec2.quarantine_subnet_acl",
			seed:       seededSubnet,
			done:       quarantinedSubnet,
			permission: "ec2:ReplaceNetworkAclAssociation",
			missing:    missingSubnetParams,
		},
		{
			action: "aws.ec2.restore_addresses",
			seed:   containedBy("aws.ec2.disassociate_address", withAddress),
			done: func(t *testing.T, h *harness, params map[string]any) {
				if a := addressesOf(h, params["instance_id"].(string)); len(a) != 1 || a[0].Tags[actions.TagEIPAssociation] != "" {
					t.Errorf("addresses %+v", a)
				}
			},
			permission: "ec2:AssociateAddress",
			missing:    missingInstanceParams,
		},
		{
			action: "aws.ec2.restore_subnet_acl",
			seed:   containedBy("aws.ec2.quarantine_subnet_acl", seededSubnet),
			done: func(t *testing.T, h *harness, params map[string]any) {
				subnet := params["subnet_id"].(string)
				if a, ok := h.emu.NetworkACLOf(subnet); !ok || !a.IsDefault {
					t.Errorf("%s ACL = %+v", subnet, a)
				}
				for _, s := range h.emu.State().Subnets {
					if s.ID == subnet && s.Tags[actions.TagOriginalNetworkACL] != "" {
						t.Errorf("record left: %v", s.Tags)
					}
				}
			},
			permission: "ec2:ReplaceNetworkAclAssociation",
			missing:    missingSubnetParams,
		},
	}
}

// An ACL someone associated with the subnet after the quarantine is
// theirs: the restore leaves it and keeps the record.
func TestRestoreSubnetACLLeavesAnACLChangedSince(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	params := seededSubnet(h)
	subnet := params["subnet_id"].(string)
	original, _ := h.emu.NetworkACLOf(subnet)
	h.execute("aws.ec2.quarantine_subnet_acl", params)
	// Someone moves the subnet to another ACL of theirs (here the
	// original's twin: any ACL not tagged as Cordon's quarantine).
	c := ec2Setup(h)
	made, err := c.CreateNetworkAcl(context.Background(), &ec2.CreateNetworkAclInput{VpcId: aws.String(original.VPCID)})
	if err != nil {
		t.Fatal(err)
	}
	quarantined, _ := h.emu.NetworkACLOf(subnet)
	var assoc string
	for id, sub := range quarantined.Associations {
		if sub == subnet {
			assoc = id
		}
	}
	if _, err := c.ReplaceNetworkAclAssociation(context.Background(), &ec2.ReplaceNetworkAclAssociationInput{
		AssociationId: aws.String(assoc), NetworkAclId: made.NetworkAcl.NetworkAclId,
	}); err != nil {
		t.Fatal(err)
	}
	h.emu.ResetCalls()
	res := h.execute("aws.ec2.restore_subnet_acl", params)
	if a, _ := h.emu.NetworkACLOf(subnet); a.ID != aws.ToString(made.NetworkAcl.NetworkAclId) {
		t.Errorf("ACL %s, want the one associated since", a.ID)
	}
	if c := res.Outputs["conflicts"].([]any); len(c) != 1 {
		t.Errorf("conflicts %v", c)
	}
	h.assertNoMutation()
}

// The association recorded on the address is what restore puts back; a
// second restore finds nothing to do.
func TestDisassociateAddressAndRestore(t *testing.T) {
	h := newHarness(t)
	params := withAddress(h)
	id := params["instance_id"].(string)
	before := addressesOf(h, id)
	res := h.execute("aws.ec2.disassociate_address", params)
	out := decodeOutput[[]map[string]string](t, res, "addresses")
	if len(out) != 1 || out[0]["allocation_id"] != before[0].AllocationID || out[0]["network_interface_id"] != before[0].NetworkInterfaceID {
		t.Fatalf("outputs = %+v", out)
	}
	restore := map[string]any{"instance_id": id, "restore": true}
	if _, err := h.run(actions.Preview, "aws.ec2.disassociate_address", restore); err != nil {
		t.Fatal(err)
	}
	if a := addressesOf(h, id); len(a) != 0 {
		t.Fatalf("a preview restored: %+v", a)
	}
	h.execute("aws.ec2.disassociate_address", restore)
	after := addressesOf(h, id)
	if len(after) != 1 || after[0].NetworkInterfaceID != before[0].NetworkInterfaceID || after[0].PrivateIP != before[0].PrivateIP ||
		after[0].Tags[actions.TagEIPAssociation] != "" {
		t.Errorf("after restore: %+v, want %+v without a record", after, before)
	}
	mutations := len(h.mutations())
	again := h.execute("aws.ec2.disassociate_address", restore)
	if len(h.mutations()) != mutations || len(again.Changes) != 0 || len(again.Notes) == 0 {
		t.Errorf("second restore: changes %+v notes %q", again.Changes, again.Notes)
	}
	h.assertDeclared("aws.ec2.disassociate_address")
	assertOutputsMatchSpec(t, "aws.ec2.disassociate_address", res)
}

// An address someone gave to another instance meanwhile is not taken back.
func TestRestoreAddressLeavesAnAddressGivenElsewhere(t *testing.T) {
	h := newHarness(t)
	fleet := h.fleet(awsemu.FleetSpec{Instances: 2, NetworkInterfaces: 1})
	id, other := fleet.InstanceIDs[0], fleet.InstanceIDs[1]
	if _, err := h.emu.AddAddress(awsemu.AddressSpec{InstanceID: id}); err != nil {
		t.Fatal(err)
	}
	h.execute("aws.ec2.disassociate_address", map[string]any{"instance_id": id})
	a := h.emu.Addresses()[0]
	if _, err := h.emu.AddAddress(awsemu.AddressSpec{InstanceID: other}); err != nil {
		t.Fatal(err)
	}
	ec2c := ec2Setup(h)
	_ = ec2c
	res := h.execute("aws.ec2.disassociate_address", map[string]any{"instance_id": id, "restore": true})
	if got := addressesOf(h, id); len(got) != 1 || got[0].AllocationID != a.AllocationID {
		t.Errorf("restore: %+v (notes %q)", got, res.Notes)
	}
}

// Quarantine, then restore: the subnet gets its own ACL back and the
// record goes; every other subnet keeps the default ACL throughout.
func TestQuarantineSubnetACLAndRestore(t *testing.T) {
	h := newHarness(t)
	fleet := h.fleet(awsemu.FleetSpec{Instances: 2})
	subnet := fleet.SubnetIDs[0]
	original, _ := h.emu.NetworkACLOf(subnet)
	params := map[string]any{"subnet_id": subnet}
	res := h.execute("aws.ec2.quarantine_subnet_acl", params)
	quarantinedSubnet(t, h, params)
	if res.Outputs["original_network_acl_id"] != original.ID {
		t.Errorf("outputs = %v", res.Outputs)
	}
	for _, s := range fleet.SubnetIDs[1:] {
		if a, _ := h.emu.NetworkACLOf(s); a.ID != original.ID {
			t.Errorf("neighbour subnet %s has %s", s, a.ID)
		}
	}
	restore := map[string]any{"subnet_id": subnet, "restore": true}
	h.execute("aws.ec2.quarantine_subnet_acl", restore)
	if a, _ := h.emu.NetworkACLOf(subnet); a.ID != original.ID {
		t.Errorf("after restore: %s, want %s", a.ID, original.ID)
	}
	for _, s := range h.emu.State().Subnets {
		if s.ID == subnet && s.Tags[actions.TagOriginalNetworkACL] != "" {
			t.Errorf("record left: %v", s.Tags)
		}
	}
	mutations := len(h.mutations())
	again := h.execute("aws.ec2.quarantine_subnet_acl", restore)
	if len(h.mutations()) != mutations || len(again.Changes) != 0 || len(again.Notes) == 0 {
		t.Errorf("second restore: changes %+v notes %q", again.Changes, again.Notes)
	}
	// Quarantining again reuses the step's ACL rather than making another.
	h.execute("aws.ec2.quarantine_subnet_acl", params)
	n := 0
	for _, a := range h.emu.NetworkACLs() {
		if a.Tags[actions.TagQuarantine] == "nacl" {
			n++
		}
	}
	if n != 1 {
		t.Errorf("quarantine ACLs = %d", n)
	}
	h.assertDeclared("aws.ec2.quarantine_subnet_acl")
}

// A lost answer to CreateNetworkAcl: the SDK's retry carries the same
// client token, so one ACL exists, not two.
func TestQuarantineSubnetACLLostResponseMakesOneACL(t *testing.T) {
	h := newHarness(t)
	params := seededSubnet(h)
	h.emu.LoseResponses("CreateNetworkAcl", 1)
	h.execute("aws.ec2.quarantine_subnet_acl", params)
	quarantinedSubnet(t, h, params)
	n := 0
	for _, a := range h.emu.NetworkACLs() {
		if !a.IsDefault {
			n++
		}
	}
	if n != 1 || !slices.ContainsFunc(h.emu.Calls(), func(c awsemu.Call) bool { return c.Action == "CreateNetworkAcl" && c.Status == 500 }) {
		t.Errorf("network ACLs = %d", n)
	}
}
