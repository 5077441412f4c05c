package actions_test

import (
	"slices"
	"testing"

	"github.com/cordon-ir/cordon/actions"
	"github.com/cordon-ir/cordon/internal/awsemu"
)

// s3PrefixList stands for the S3 gateway endpoint's prefix list.
const s3PrefixList = "pl-63a5400a"

// forensicPathSeed seeds an instance with two interfaces; the fleet's
// application group stands for the security group of the VPC's SSM
// interface endpoints. The step keeps the forensic path to both.
func forensicPathSeed(h *harness) map[string]any {
	fleet := h.fleet(awsemu.FleetSpec{Instances: 1, NetworkInterfaces: 2})
	return map[string]any{
		"instance_id": fleet.InstanceIDs[0], "forensic_path": true, "two_phase": true,
		"forensic_endpoints": map[string]any{fleet.VPCID: []any{fleet.SecurityGroupID, s3PrefixList}},
	}
}

// keepsForensicPath checks on the emulator that every interface has only
// the forensic quarantine group, which admits nothing and lets out only
// HTTPS to the endpoints.
func keepsForensicPath(t *testing.T, h *harness, params map[string]any) {
	t.Helper()
	in := instanceOf(h, params["instance_id"].(string))
	groups := quarantineGroups(h, in.VPCID, "cordon-quarantine-forensic")
	if len(groups) != 1 {
		t.Fatalf("forensic quarantine groups = %+v", groups)
	}
	g := groups[0]
	endpoints := params["forensic_endpoints"].(map[string]any)[in.VPCID].([]any)
	want := []awsemu.Permission{{Protocol: "tcp", FromPort: 443, ToPort: 443,
		GroupIDs: []string{endpoints[0].(string)}, PrefixListIDs: []string{endpoints[1].(string)}}}
	if len(g.Ingress) != 0 || len(g.Egress) != 1 || g.Egress[0].Protocol != "tcp" || g.Egress[0].FromPort != 443 ||
		!slices.Equal(g.Egress[0].GroupIDs, want[0].GroupIDs) || !slices.Equal(g.Egress[0].PrefixListIDs, want[0].PrefixListIDs) ||
		len(g.Egress[0].CIDRs)+len(g.Egress[0].IPv6CIDRs) != 0 || g.Tags[actions.TagQuarantine] != "forensic" {
		t.Errorf("forensic group %s: ingress %+v egress %+v tags %v, want egress %+v only", g.ID, g.Ingress, g.Egress, g.Tags, want)
	}
	for _, e := range in.NetworkInterfaceIDs {
		if n := eniOf(h, e); !slices.Equal(n.SecurityGroupIDs, []string{g.ID}) || n.Tags[actions.TagOriginalGroups] == "" {
			t.Errorf("%s: groups %v, record %q", e, n.SecurityGroupIDs, n.Tags[actions.TagOriginalGroups])
		}
	}
}

func forensicPathContracts() []contractCase {
	return []contractCase{{
		action:     "aws.ec2.isolate_instance",
		seed:       forensicPathSeed,
		done:       keepsForensicPath,
		permission: "ec2:AuthorizeSecurityGroupEgress",
		missing: func(h *harness) (map[string]any, string) {
			p := forensicPathSeed(h)
			p["instance_id"] = missingInstance
			return p, missingInstance
		},
	}}
}

// Isolation keeping the forensic path says what the instance may still
// reach; the restore gives the interfaces their groups back; and a later
// isolation without it cuts that path too, from the same record.
func TestIsolationKeepsTheForensicPath(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	params := forensicPathSeed(h)
	id := params["instance_id"].(string)
	original := eniOf(h, instanceOf(h, id).NetworkInterfaceIDs[0]).SecurityGroupIDs
	h.preview("aws.ec2.isolate_instance", params)
	res := h.execute("aws.ec2.isolate_instance", params)
	keepsForensicPath(t, h, params)
	endpoints := params["forensic_endpoints"].(map[string]any)
	vpc := instanceOf(h, id).VPCID
	sg := endpoints[vpc].([]any)[0].(string)
	if got := res.Outputs["forensic_egress"].([]any); !slices.Equal(got, []any{"tcp 443-443 " + s3PrefixList, "tcp 443-443 " + sg}) {
		t.Errorf("forensic_egress = %v", got)
	}
	h.assertDeclared("aws.ec2.isolate_instance")

	full := h.execute("aws.ec2.isolate_instance", map[string]any{"instance_id": id})
	empty := quarantineGroups(h, vpc, "cordon-quarantine")
	if len(empty) != 1 || len(empty[0].Egress) != 0 || len(full.Outputs["forensic_egress"].([]any)) != 0 {
		t.Fatalf("the full isolation: groups %+v, forensic_egress %v", empty, full.Outputs["forensic_egress"])
	}
	for _, e := range instanceOf(h, id).NetworkInterfaceIDs {
		if n := eniOf(h, e); !slices.Equal(n.SecurityGroupIDs, []string{empty[0].ID}) {
			t.Errorf("%s is in %v after the full isolation", e, n.SecurityGroupIDs)
		}
	}
	h.execute("aws.ec2.restore_isolation", map[string]any{"instance_id": id})
	if got := eniOf(h, instanceOf(h, id).NetworkInterfaceIDs[0]).SecurityGroupIDs; !slices.Equal(got, original) {
		t.Errorf("restored groups %v, want the original %v", got, original)
	}
}

// Without endpoints for the VPC, forensic_path isolates the instance
// whole and says which configuration would have kept the path; the
// worker configuration's endpoints serve the VPCs the step does not name,
// and a group brought to other endpoints since is brought back to the
// configured ones.
func TestForensicPathEndpointsComeFromTheConfiguration(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	fleet := h.fleet(awsemu.FleetSpec{Instances: 3})
	id := fleet.InstanceIDs[0]
	_, err := h.run(actions.Preview, "aws.ec2.isolate_instance", map[string]any{"instance_id": id, "forensic_path": true,
		"forensic_endpoints": map[string]any{fleet.VPCID: []any{"vpce-0abc"}}})
	if !permanentFailure(err, actions.ErrBadParams, `"vpce-0abc" is neither`) {
		t.Errorf("a bad endpoint: %v", err)
	}
	h.assertNoMutation()
	cut := h.execute("aws.ec2.isolate_instance", map[string]any{"instance_id": fleet.InstanceIDs[2], "forensic_path": true})
	empty := quarantineGroups(h, fleet.VPCID, "cordon-quarantine")
	if !hasNote(cut.Notes, "aws.forensic_endpoints."+fleet.VPCID) || len(cut.Outputs["forensic_egress"].([]any)) != 0 ||
		len(empty) != 1 || cut.Outputs["quarantine_group_id"] != empty[0].ID || len(quarantineGroups(h, fleet.VPCID, "cordon-quarantine-forensic")) != 0 {
		t.Errorf("without endpoints: notes %q, outputs %v, empty groups %+v", cut.Notes, cut.Outputs, empty)
	}

	h.rt = h.runtimeWith(actions.Options{ForensicEndpoints: map[string][]string{fleet.VPCID: {"10.0.128.0/24"}}})
	h.execute("aws.ec2.isolate_instance", map[string]any{"instance_id": id, "forensic_path": true})
	g := quarantineGroups(h, fleet.VPCID, "cordon-quarantine-forensic")
	if len(g) != 1 || len(g[0].Egress) != 1 || !slices.Equal(g[0].Egress[0].CIDRs, []string{"10.0.128.0/24"}) {
		t.Fatalf("forensic group from the configuration: %+v", g)
	}
	// The endpoints move: the next isolation in the VPC brings the shared
	// group to them, and says so in its changes.
	res := h.execute("aws.ec2.isolate_instance", map[string]any{"instance_id": fleet.InstanceIDs[1], "forensic_path": true,
		"forensic_endpoints": map[string]any{fleet.VPCID: []any{s3PrefixList}}})
	g = quarantineGroups(h, fleet.VPCID, "cordon-quarantine-forensic")
	if len(g[0].Egress) != 1 || !slices.Equal(g[0].Egress[0].PrefixListIDs, []string{s3PrefixList}) || len(g[0].Egress[0].CIDRs) != 0 {
		t.Errorf("forensic group after the endpoints moved: %+v", g[0].Egress)
	}
	if !slices.ContainsFunc(res.Changes, func(c actions.Change) bool { return c.Resource == g[0].ID && c.Field == "egress" }) {
		t.Errorf("changes %+v do not show the group's egress brought to the endpoints", res.Changes)
	}
}
