package demo

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cordon-ir/cordon/actions"
	"github.com/cordon-ir/cordon/actions/wire"
	"github.com/cordon-ir/cordon/evidence"
	"github.com/cordon-ir/cordon/internal/awsemu"
)

// seeded returns the story and the emulator state right after seeding:
// no server, no run, just the world.
func seeded(t *testing.T) (Story, awsemu.State) {
	t.Helper()
	emu := awsemu.New(awsemu.Options{})
	story, err := SeedStory(emu, time.Date(2021, 9, 1, 12, 0, 0, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	return story, emu.State()
}

// contained builds by hand what a successful containment leaves behind.
func contained(story Story, before awsemu.State) awsemu.State {
	after := clone(before)
	q := awsemu.SecurityGroup{ID: "sg-quarantine", Name: "cordon-quarantine", VPCID: story.Fleet.VPCID,
		Tags: map[string]string{actions.TagQuarantine: "empty"}}
	after.SecurityGroups = append(after.SecurityGroups, q)
	for _, id := range story.Compromised {
		in := instance(&after, id)
		in.State = "stopped"
		for _, eni := range in.NetworkInterfaceIDs {
			netIf(&after, eni).SecurityGroupIDs = []string{q.ID}
		}
		for _, bd := range in.BlockDevices {
			after.Snapshots = append(after.Snapshots, awsemu.Snapshot{ID: "snap-" + bd.VolumeID, VolumeID: bd.VolumeID})
		}
		for i := range after.AutoScalingGroups {
			after.AutoScalingGroups[i].Instances = slices.DeleteFunc(after.AutoScalingGroups[i].Instances,
				func(m awsemu.ASGInstance) bool { return m.InstanceID == id })
		}
		for i := range after.TargetGroups {
			after.TargetGroups[i].Targets = slices.DeleteFunc(after.TargetGroups[i].Targets,
				func(tg awsemu.Target) bool { return tg.ID == id })
		}
	}
	for i := range after.Roles {
		for _, id := range story.Compromised {
			after.Roles[i].InlinePolicies[instanceDenyPolicyPrefix+id] = `{"Statement":[{"Effect":"Deny","Action":"*","Resource":"*","Condition":{"ArnEquals":{"ec2:SourceInstanceARN":"arn:aws:ec2:us-east-1:123456789012:instance/` + id + `"}}}]}`
		}
	}
	leaked := iamUser(&after, story.LeakedUser)
	for k := range leaked.AccessKeys {
		leaked.AccessKeys[k].Status = "Inactive"
	}
	return after
}

// clone deep-copies the parts of a state the tests change.
func clone(s awsemu.State) awsemu.State {
	out := s
	out.Instances = slices.Clone(s.Instances)
	out.NetworkInterfaces = slices.Clone(s.NetworkInterfaces)
	for i := range out.NetworkInterfaces {
		out.NetworkInterfaces[i].SecurityGroupIDs = slices.Clone(out.NetworkInterfaces[i].SecurityGroupIDs)
	}
	out.SecurityGroups = slices.Clone(s.SecurityGroups)
	out.Snapshots = slices.Clone(s.Snapshots)
	out.AutoScalingGroups = slices.Clone(s.AutoScalingGroups)
	for i := range out.AutoScalingGroups {
		out.AutoScalingGroups[i].Instances = slices.Clone(out.AutoScalingGroups[i].Instances)
	}
	out.TargetGroups = slices.Clone(s.TargetGroups)
	for i := range out.TargetGroups {
		out.TargetGroups[i].Targets = slices.Clone(out.TargetGroups[i].Targets)
	}
	out.Roles = slices.Clone(s.Roles)
	for i := range out.Roles {
		p := map[string]string{}
		for k, v := range out.Roles[i].InlinePolicies {
			p[k] = v
		}
		out.Roles[i].InlinePolicies = p
	}
	out.Users = slices.Clone(s.Users)
	for i := range out.Users {
		out.Users[i].AccessKeys = slices.Clone(out.Users[i].AccessKeys)
	}
	return out
}

// instance, netIf and iamUser find what a test changes in a state, in
// place. Naming one that is not there is a mistake of the test: it panics.
func instance(s *awsemu.State, id string) *awsemu.Instance {
	return find(s.Instances, "instance "+id, func(x awsemu.Instance) bool { return x.ID == id })
}

func netIf(s *awsemu.State, id string) *awsemu.NetworkInterface {
	return find(s.NetworkInterfaces, "network interface "+id, func(x awsemu.NetworkInterface) bool { return x.ID == id })
}

func iamUser(s *awsemu.State, name string) *awsemu.User {
	return find(s.Users, "user "+name, func(x awsemu.User) bool { return x.Name == name })
}

func find[T any](xs []T, what string, match func(T) bool) *T {
	if i := slices.IndexFunc(xs, match); i >= 0 {
		return &xs[i]
	}
	panic("no " + what)
}

func failed(c Checklist) []string {
	var out []string
	for _, it := range c {
		if !it.OK {
			out = append(out, it.Claim)
		}
	}
	return out
}

func TestStoryFleet(t *testing.T) {
	story, s := seeded(t)
	if len(story.Compromised) != 4 || len(story.Others) != 2 || len(s.Instances) != 14 {
		t.Fatalf("compromised %d, others %d, instances %d", len(story.Compromised), len(story.Others), len(s.Instances))
	}
	w := index(s)
	inGroup := 0
	for _, id := range story.Compromised {
		if w.asgOf(id) != "" {
			inGroup++
		}
	}
	if inGroup != 2 {
		t.Errorf("%d compromised hosts in the Auto Scaling group, want 2 (both paths of the runbook)", inGroup)
	}
	if story.LeakedKeyID == "" || story.CompromisedSince.IsZero() {
		t.Error("no leaked key or compromise time")
	}
}

func TestCheckContainedHolds(t *testing.T) {
	story, before := seeded(t)
	c := CheckContained(story, before, contained(story, before))
	if !c.OK() {
		t.Fatalf("failed: %v\n%+v", failed(c), c)
	}
}

func TestCheckContainedCatchesEachFailure(t *testing.T) {
	story, before := seeded(t)
	victim := story.Compromised[0]
	bystander := story.Others[0]
	tests := []struct {
		name  string
		spoil func(after *awsemu.State)
		claim string
	}{
		{"nothing done", func(after *awsemu.State) { *after = clone(before) }, "every compromised host isolated"},
		{"an interface keeps its group", func(after *awsemu.State) {
			eni := netIf(after, instance(after, victim).NetworkInterfaceIDs[0])
			eni.SecurityGroupIDs = append(eni.SecurityGroupIDs, story.Fleet.SecurityGroupID)
		}, "every compromised host isolated"},
		{"a volume snapshotted twice", func(after *awsemu.State) {
			after.Snapshots = append(after.Snapshots, awsemu.Snapshot{ID: "snap-again", VolumeID: instance(after, victim).BlockDevices[0].VolumeID})
		}, "snapshotted exactly once"},
		{"role not revoked", func(after *awsemu.State) {
			for i := range after.Roles {
				for name := range after.Roles[i].InlinePolicies {
					if strings.HasPrefix(name, instanceDenyPolicyPrefix) {
						delete(after.Roles[i].InlinePolicies, name)
					}
				}
			}
		}, "credentials denied to each compromised host"},
		{"key still active", func(after *awsemu.State) {
			iamUser(after, story.LeakedUser).AccessKeys[0].Status = "Active"
		}, "leaked access key inactive"},
		{"a host still running", func(after *awsemu.State) { instance(after, victim).State = "running" }, "out of service"},
		{"a bystander stopped", func(after *awsemu.State) { instance(after, bystander).State = "stopped" }, "nothing else touched"},
		{"a bystander regrouped", func(after *awsemu.State) {
			netIf(after, instance(after, bystander).NetworkInterfaceIDs[0]).SecurityGroupIDs = []string{"sg-quarantine"}
		}, "nothing else touched"},
		{"another user's key", func(after *awsemu.State) {
			iamUser(after, story.BystanderUser).AccessKeys[0].Status = "Inactive"
		}, "nothing else touched"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			after := contained(story, before)
			tt.spoil(&after)
			c := CheckContained(story, before, after)
			if c.OK() {
				t.Fatal("check holds")
			}
			got := failed(c)
			if !slices.ContainsFunc(got, func(s string) bool { return strings.Contains(s, tt.claim) }) {
				t.Errorf("failed claims %v, want one about %q", got, tt.claim)
			}
		})
	}
}

func TestCheckRehearsal(t *testing.T) {
	calls := []awsemu.Call{{IAMAction: "ec2:DescribeInstances"}, {IAMAction: "ec2:ModifyNetworkInterfaceAttribute", Mutating: true, DryRun: true, Status: 412}}
	if c := CheckRehearsal(calls, nil); !c.OK() || !strings.Contains(c[0].Detail, "2 AWS calls") || !strings.Contains(c[0].Detail, "1 mutations sent with DryRun=true") {
		t.Errorf("clean rehearsal: %+v", c)
	}
	bad := []awsemu.Call{{IAMAction: "ec2:CreateSnapshot", Mutating: true, Status: 200}}
	if c := CheckRehearsal(append(calls, bad...), bad); c.OK() || !strings.Contains(c[0].Detail, "ec2:CreateSnapshot") {
		t.Errorf("a mutation passed: %+v", c)
	}
}

func TestChecklistWrite(t *testing.T) {
	var b strings.Builder
	Checklist{{Claim: "a", OK: true, Detail: "d"}, {Claim: "b"}}.Write(&b, false)
	if got, want := b.String(), "  [x] a — d\n  [ ] b\n"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	if (Checklist{}).OK() {
		t.Error("an empty checklist holds")
	}
}

// forensicWorld builds by hand what the forensic account holds after a run
// that captured every compromised host's memory and handed its disks over,
// with the verification of the case that found it all intact.
func forensicWorld(story Story, after awsemu.State) (awsemu.State, evidence.Verification) {
	var forensic awsemu.State
	b := awsemu.S3Bucket{Name: evidenceBucket}
	v := evidence.Verification{Case: incidentID}
	for _, id := range story.Compromised {
		sum := memorySHA256(id)
		key := evidencePrefix + incidentID + "/" + id + "/memory/run/memory/memory.lime"
		b.Objects = append(b.Objects, awsemu.S3Object{Key: key, SHA256: sum})
		v.Checks = append(v.Checks, evidence.Check{Artefact: wire.Artefact{Kind: "memory", Key: key, SHA256: sum}, Verdict: evidence.Intact})
	}
	forensic.Buckets = []awsemu.S3Bucket{b}
	for _, sn := range after.Snapshots {
		forensic.Snapshots = append(forensic.Snapshots, awsemu.Snapshot{ID: "snap-f" + sn.ID, State: "completed", Tags: map[string]string{tagHandoverSource: sn.ID}})
	}
	return forensic, v
}

// The evidence check reads the forensic account: memory images that are
// the hosts' memory, a completed copy of every volume, a verification of
// the case that found every artefact intact; each failure is named.
func TestCheckEvidence(t *testing.T) {
	story, before := seeded(t)
	after := contained(story, before)
	all := forensicChecks{memory: true, handover: true}
	forensic, v := forensicWorld(story, after)
	if c := CheckEvidence(story, all, after, forensic, v, nil); !c.OK() || len(c) != 3 {
		t.Fatalf("failed: %v\n%+v", failed(c), c)
	}
	for name, tt := range map[string]struct {
		spoil func(f *awsemu.State, v *evidence.Verification) error
		claim string
	}{
		"an image of other bytes": {func(f *awsemu.State, _ *evidence.Verification) error {
			f.Buckets[0].Objects[0].SHA256 = strings.Repeat("0", 64)
			return nil
		}, "memory of every compromised host"},
		"a copy still pending": {func(f *awsemu.State, _ *evidence.Verification) error {
			f.Snapshots[0].State = "pending"
			return nil
		}, "copied into the forensic account"},
		"an altered artefact": {func(_ *awsemu.State, v *evidence.Verification) error {
			v.Checks[1].Verdict, v.Checks[1].Detail = evidence.Altered, "the bucket holds SHA-256 …"
			return nil
		}, "matches its manifest"},
		"no manifest": {func(*awsemu.State, *evidence.Verification) error {
			return errors.New("case DEMO-CVE-2021-26084 has no manifest")
		}, "matches its manifest"},
	} {
		t.Run(name, func(t *testing.T) {
			f, v := forensicWorld(story, after)
			err := tt.spoil(&f, &v)
			c := CheckEvidence(story, all, after, f, v, err)
			if got := failed(c); !slices.ContainsFunc(got, func(s string) bool { return strings.Contains(s, tt.claim) }) {
				t.Errorf("failed claims %v, want one about %q", got, tt.claim)
			}
		})
	}
	// What the runbooks do not do is not checked.
	if c := CheckEvidence(story, forensicChecks{}, after, awsemu.State{}, v, nil); len(c) != 1 || !c.OK() {
		t.Errorf("without memory or handover steps: %+v", c)
	}
}

// The findings started the fleet run and nothing else, or the check says
// what else.
func TestCheckOneRun(t *testing.T) {
	if it := checkOneRun([]string{"fleet-1"}, "fleet-1", 8); !it.OK {
		t.Errorf("one run: %+v", it)
	}
	if it := checkOneRun([]string{"fleet-1", "fleet-2"}, "fleet-1", 8); it.OK || !strings.Contains(it.Detail, "run fleet-2 was started too") {
		t.Errorf("two runs: %+v", it)
	}
	if it := checkOneRun(nil, "fleet-1", 8); it.OK || !strings.Contains(it.Detail, "is not the findings' run") {
		t.Errorf("no run: %+v", it)
	}
}
