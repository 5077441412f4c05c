package demo

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"

	"github.com/cordon-ir/cordon/actions"
	"github.com/cordon-ir/cordon/internal/awsemu"
)

// CheckItem is one line of the final check: a claim about what the
// emulator holds, whether it holds, and the evidence either way.
type CheckItem struct {
	Claim  string `json:"claim"`
	OK     bool   `json:"ok"`
	Detail string `json:"detail,omitempty"`
}

// Checklist is the final check. The demo exits 0 only if every item holds.
type Checklist []CheckItem

// OK reports whether every item holds (and there is at least one).
func (c Checklist) OK() bool {
	if len(c) == 0 {
		return false
	}
	for _, it := range c {
		if !it.OK {
			return false
		}
	}
	return true
}

// Write prints the checklist, one line per claim.
func (c Checklist) Write(w io.Writer, color bool) {
	for _, it := range c {
		mark := "[x]"
		if !it.OK {
			mark = "[ ]"
			if color {
				mark = red(mark)
			}
		}
		line := fmt.Sprintf("  %s %s", mark, it.Claim)
		if it.Detail != "" {
			line += " — " + it.Detail
		}
		fmt.Fprintln(w, line)
	}
}

// revocationPolicy is the inline policy aws.iam.revoke_role_sessions
// writes; AWS's console uses the same name for the same policy.
const revocationPolicy = "AWSRevokeOlderSessions"

// instanceDenyPolicyPrefix names the inline policy with which
// aws.iam.revoke_role_sessions (scope instance) denies one instance's
// role credentials: the prefix, then the instance id.
const instanceDenyPolicyPrefix = "CordonDenyInstance-"

// CheckContained checks the emulator after a real run against the story:
// it reads only the emulator's state (before and after), never the run's
// own account of what it did, so a run that reports success without
// doing the work fails here.
func CheckContained(story Story, before, after awsemu.State) Checklist {
	b, a := index(before), index(after)
	var out Checklist

	// Isolation: every interface of every compromised host holds exactly
	// one group, and that group is a Cordon quarantine group with no rules.
	var bad []string
	for _, id := range story.Compromised {
		in, ok := a.instances[id]
		if !ok {
			bad = append(bad, id+" is gone")
			continue
		}
		for _, eni := range in.NetworkInterfaceIDs {
			groups := a.enis[eni].SecurityGroupIDs
			if len(groups) != 1 || !isEmptyQuarantine(a.groups[groups[0]]) {
				bad = append(bad, fmt.Sprintf("%s %s has %v", id, eni, groups))
			}
		}
	}
	out = append(out, item("every compromised host isolated (each interface: only the empty quarantine group)", bad,
		fmt.Sprintf("%d hosts", len(story.Compromised))))

	// Nothing admitting the internet left behind: two-phase isolation
	// passes through an allow-all group, which must not outlive it (a
	// responder could pick it later). Groups the account had before the
	// run are the account's business; any group that appeared since, or
	// any Cordon group, must not let anything in from 0.0.0.0/0 or ::/0.
	bad = nil
	for _, g := range after.SecurityGroups {
		_, existed := b.groups[g.ID]
		if existed && g.Tags[actions.TagQuarantine] == "" {
			continue
		}
		if admitsTheInternet(g) {
			bad = append(bad, fmt.Sprintf("%s (%s) in %s admits the internet", g.ID, g.Name, g.VPCID))
		}
	}
	out = append(out, item("no security group admitting the internet left behind (ingress from 0.0.0.0/0 or ::/0)", bad,
		fmt.Sprintf("%d security groups", len(after.SecurityGroups))))

	// Evidence: every volume snapshotted exactly once (a retried activity
	// must not have taken a second set).
	perVolume := map[string]int{}
	for _, sn := range after.Snapshots {
		perVolume[sn.VolumeID]++
	}
	bad, volumes := nil, 0
	for _, id := range story.Compromised {
		for _, bd := range b.instances[id].BlockDevices {
			volumes++
			if n := perVolume[bd.VolumeID]; n != 1 {
				bad = append(bad, fmt.Sprintf("%s %s has %d snapshots", id, bd.VolumeID, n))
			}
		}
	}
	out = append(out, item("every volume of each compromised host snapshotted exactly once", bad, fmt.Sprintf("%d volumes", volumes)))

	// Credentials: the role each compromised host could hand out denies
	// that host's credentials (the per-instance deny the example uses), or
	// every older session (the fleet-wide revocation, a separate choice).
	bad = nil
	roles := map[string]bool{}
	for _, id := range story.Compromised {
		for _, r := range b.rolesOf(b.instances[id]) {
			roles[r] = true
			doc, ok := a.roles[r].InlinePolicies[instanceDenyPolicyPrefix+id]
			fleetWide := strings.Contains(a.roles[r].InlinePolicies[revocationPolicy], "aws:TokenIssueTime")
			if !fleetWide && (!ok || !strings.Contains(doc, "ec2:SourceInstanceARN") || !strings.Contains(doc, "instance/"+id)) {
				bad = append(bad, "role "+r+" does not deny the credentials of "+id)
			}
		}
	}
	out = append(out, item("instance role credentials denied to each compromised host", bad, "role "+strings.Join(slices.Sorted(maps.Keys(roles)), ", ")))

	// The leaked key: inactive, and kept (deleting it would destroy evidence).
	bad = nil
	if key, ok := a.key(story.LeakedUser, story.LeakedKeyID); !ok {
		bad = append(bad, story.LeakedKeyID+" no longer exists")
	} else if key.Status != "Inactive" {
		bad = append(bad, story.LeakedKeyID+" is "+key.Status)
	}
	out = append(out, item("leaked access key inactive (kept as evidence)", bad, story.LeakedKeyID+" of "+story.LeakedUser))

	// Out of service: no compromised host still takes traffic or counts
	// towards its Auto Scaling group, and each is stopped.
	bad = nil
	for _, id := range story.Compromised {
		if g := a.asgOf(id); g != "" {
			bad = append(bad, id+" still in "+g)
		}
		if tg := a.targetGroupsOf(id); len(tg) > 0 {
			bad = append(bad, fmt.Sprintf("%s still a target of %v", id, tg))
		}
		if st := a.instances[id].State; st != "stopped" && st != "stopping" {
			bad = append(bad, id+" is "+st)
		}
	}
	out = append(out, item("compromised hosts out of service and stopped (Auto Scaling group, target group)", bad, ""))

	// Nothing else touched.
	bad = nil
	compromised := map[string]bool{}
	for _, id := range story.Compromised {
		compromised[id] = true
	}
	others := 0
	for _, was := range before.Instances {
		if compromised[was.ID] {
			continue
		}
		others++
		bad = append(bad, b.untouched(a, was)...)
	}
	for _, u := range before.Users {
		if u.Name == story.LeakedUser {
			continue
		}
		now := a.users[u.Name]
		for i, k := range u.AccessKeys {
			if i >= len(now.AccessKeys) || now.AccessKeys[i].Status != k.Status {
				bad = append(bad, "user "+u.Name+" key "+k.ID+" changed")
			}
		}
	}
	out = append(out, item("nothing else touched (other instances running, same groups, tags and memberships; other users' keys)", bad,
		fmt.Sprintf("%d other instances", others)))
	return out
}

// CheckRehearsal checks the emulator after a dry run: no call changed
// anything. calls is every call it saw, mutations those that changed state.
func CheckRehearsal(calls, mutations []awsemu.Call) Checklist {
	var bad []string
	for _, m := range mutations {
		bad = append(bad, m.IAMAction)
	}
	dry := 0
	for _, c := range calls {
		if c.DryRun {
			dry++
		}
	}
	return Checklist{item("the emulator saw zero mutations", bad,
		fmt.Sprintf("%d AWS calls: reads, and %d mutations sent with DryRun=true", len(calls), dry))}
}

// item builds a check line; the detail shows the evidence when it holds
// and the failures when it does not.
func item(claim string, failures []string, detail string) CheckItem {
	if len(failures) == 0 {
		return CheckItem{Claim: claim, OK: true, Detail: detail}
	}
	const most = 4
	shown := failures[:min(len(failures), most)]
	d := strings.Join(shown, "; ")
	if len(failures) > most {
		d += fmt.Sprintf("; and %d more", len(failures)-most)
	}
	return CheckItem{Claim: claim, OK: false, Detail: d}
}

// admitsTheInternet reports whether a group lets anything in from any
// IPv4 or IPv6 address.
func admitsTheInternet(g awsemu.SecurityGroup) bool {
	for _, r := range g.Ingress {
		if slices.Contains(r.CIDRs, "0.0.0.0/0") || slices.Contains(r.IPv6CIDRs, "::/0") {
			return true
		}
	}
	return false
}

func isEmptyQuarantine(g awsemu.SecurityGroup) bool {
	return g.Tags[actions.TagQuarantine] == "empty" && len(g.Ingress) == 0 && len(g.Egress) == 0
}

// world indexes an emulator state for lookups.
type world struct {
	instances map[string]awsemu.Instance
	enis      map[string]awsemu.NetworkInterface
	groups    map[string]awsemu.SecurityGroup
	roles     map[string]awsemu.Role
	users     map[string]awsemu.User
	profiles  map[string]awsemu.InstanceProfile // by ARN
	state     awsemu.State
}

func index(s awsemu.State) world {
	return world{
		instances: byKey(s.Instances, func(x awsemu.Instance) string { return x.ID }),
		enis:      byKey(s.NetworkInterfaces, func(x awsemu.NetworkInterface) string { return x.ID }),
		groups:    byKey(s.SecurityGroups, func(x awsemu.SecurityGroup) string { return x.ID }),
		roles:     byKey(s.Roles, func(x awsemu.Role) string { return x.Name }),
		users:     byKey(s.Users, func(x awsemu.User) string { return x.Name }),
		profiles:  byKey(s.InstanceProfiles, func(x awsemu.InstanceProfile) string { return x.ARN }),
		state:     s,
	}
}

// byKey indexes xs by key; a later x wins over an earlier one with the
// same key.
func byKey[T any](xs []T, key func(T) string) map[string]T {
	m := make(map[string]T, len(xs))
	for _, x := range xs {
		m[key(x)] = x
	}
	return m
}

func (w world) rolesOf(in awsemu.Instance) []string {
	if in.InstanceProfileARN == "" {
		return nil
	}
	return w.profiles[in.InstanceProfileARN].RoleNames
}

func (w world) key(user, id string) (awsemu.AccessKey, bool) {
	for _, k := range w.users[user].AccessKeys {
		if k.ID == id {
			return k, true
		}
	}
	return awsemu.AccessKey{}, false
}

func (w world) asgOf(id string) string {
	for _, g := range w.state.AutoScalingGroups {
		for _, m := range g.Instances {
			if m.InstanceID == id {
				return g.Name
			}
		}
	}
	return ""
}

func (w world) targetGroupsOf(id string) []string {
	var out []string
	for _, g := range w.state.TargetGroups {
		for _, t := range g.Targets {
			if t.ID == id {
				out = append(out, g.Name)
			}
		}
	}
	return out
}

// untouched lists how instance was (as seen in w, the state before)
// differs in a, the state after.
func (w world) untouched(a world, was awsemu.Instance) []string {
	now, ok := a.instances[was.ID]
	if !ok {
		return []string{was.ID + " is gone"}
	}
	var diffs []string
	if now.State != was.State {
		diffs = append(diffs, fmt.Sprintf("%s is %s (was %s)", was.ID, now.State, was.State))
	}
	for _, eni := range was.NetworkInterfaceIDs {
		if !slices.Equal(w.enis[eni].SecurityGroupIDs, a.enis[eni].SecurityGroupIDs) {
			diffs = append(diffs, fmt.Sprintf("%s %s groups %v (were %v)", was.ID, eni, a.enis[eni].SecurityGroupIDs, w.enis[eni].SecurityGroupIDs))
		}
	}
	if !maps.Equal(was.Tags, now.Tags) {
		diffs = append(diffs, was.ID+" tags changed")
	}
	if was.MetadataHTTPEndpoint != now.MetadataHTTPEndpoint || was.DisableAPITermination != now.DisableAPITermination {
		diffs = append(diffs, was.ID+" metadata or termination protection changed")
	}
	if w.asgOf(was.ID) != a.asgOf(was.ID) || !slices.Equal(w.targetGroupsOf(was.ID), a.targetGroupsOf(was.ID)) {
		diffs = append(diffs, was.ID+" left its Auto Scaling or target group")
	}
	return diffs
}
