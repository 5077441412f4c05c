package awsemu

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
)

// State is a copy of everything the emulator holds, as served at
// GET /_emu/state.
type State struct {
	VPCs              []VPC
	Subnets           []Subnet
	Instances         []Instance
	Volumes           []Volume
	NetworkInterfaces []NetworkInterface
	SecurityGroups    []SecurityGroup
	Snapshots         []Snapshot
	Users             []User
	Roles             []Role
	InstanceProfiles  []InstanceProfile
	AutoScalingGroups []AutoScalingGroup
	TargetGroups      []TargetGroup
	LoadBalancers     []LoadBalancer
	// The forensic services: the account's S3 buckets (object bodies
	// left out of the JSON), KMS keys and SSM commands.
	Buckets     []S3Bucket
	KMSKeys     []KMSKey
	SSMCommands []SSMCommand
}

// State returns a deep copy of the default account's current state.
func (e *Emulator) State() State {
	s, _ := e.AccountState(e.account)
	return s
}

// AccountState returns a deep copy of one account's current state; false
// when the account does not exist.
func (e *Emulator) AccountState(account string) (State, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if _, ok := e.worlds[account]; !ok {
		return State{}, false
	}
	e.tick(e.clock())
	var s State
	_ = e.inAccount(account, func() error { s = e.stateLocked(); return nil })
	return s, true
}

// stateLocked copies e.w. Caller holds e.mu.
func (e *Emulator) stateLocked() State {
	var s State
	for _, k := range sortedKeys(e.w.vpcs) {
		v := *e.w.vpcs[k]
		v.Tags = cloneTags(v.Tags)
		s.VPCs = append(s.VPCs, v)
	}
	for _, k := range sortedKeys(e.w.subnets) {
		v := *e.w.subnets[k]
		v.Tags = cloneTags(v.Tags)
		s.Subnets = append(s.Subnets, v)
	}
	for _, id := range e.w.instanceOrder {
		s.Instances = append(s.Instances, e.instanceView(e.w.instances[id]))
	}
	for _, k := range sortedKeys(e.w.volumes) {
		s.Volumes = append(s.Volumes, e.w.volumes[k].clone())
	}
	for _, k := range sortedKeys(e.w.enis) {
		s.NetworkInterfaces = append(s.NetworkInterfaces, e.w.enis[k].clone())
	}
	for _, k := range sortedKeys(e.w.groups) {
		s.SecurityGroups = append(s.SecurityGroups, e.w.groups[k].clone())
	}
	for _, id := range e.w.snapOrder {
		if sn, ok := e.w.snapshots[id]; ok {
			s.Snapshots = append(s.Snapshots, sn.clone())
		}
	}
	for _, k := range sortedKeys(e.w.users) {
		s.Users = append(s.Users, e.w.users[k].clone())
	}
	for _, k := range sortedKeys(e.w.roles) {
		s.Roles = append(s.Roles, e.w.roles[k].clone())
	}
	for _, k := range sortedKeys(e.w.profiles) {
		s.InstanceProfiles = append(s.InstanceProfiles, e.w.profiles[k].clone())
	}
	for _, k := range sortedKeys(e.w.asgs) {
		s.AutoScalingGroups = append(s.AutoScalingGroups, e.w.asgs[k].clone())
	}
	for _, k := range sortedKeys(e.w.targetGroups) {
		s.TargetGroups = append(s.TargetGroups, e.w.targetGroups[k].clone())
	}
	for _, k := range sortedKeys(e.w.loadBalancers) {
		s.LoadBalancers = append(s.LoadBalancers, e.w.loadBalancers[k].clone())
	}
	for _, name := range sortedKeys(e.buckets) {
		if b := e.buckets[name]; b.Owner == e.w.account {
			s.Buckets = append(s.Buckets, b.clone())
		}
	}
	for _, id := range sortedKeys(e.w.kms().keys) {
		s.KMSKeys = append(s.KMSKeys, e.w.kms().keys[id].clone())
	}
	s.SSMCommands = e.ssmCommandsLocked()
	return s
}

func cloneTags(m map[string]string) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// instanceView copies an instance, filling attachment details that live on
// the volumes.
func (e *Emulator) instanceView(in *Instance) Instance {
	out := in.clone()
	for i, bd := range out.BlockDevices {
		if v, ok := e.w.volumes[bd.VolumeID]; ok {
			out.BlockDevices[i].DeleteOnTermination = v.DeleteOnTermination
			out.BlockDevices[i].AttachTime = v.AttachTime
		}
	}
	return out
}

// Instance returns a copy of one instance.
func (e *Emulator) Instance(id string) (Instance, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.tick(e.clock())
	in, ok := e.w.instances[id]
	if !ok {
		return Instance{}, false
	}
	return e.instanceView(in), true
}

// Volume returns a copy of one volume.
func (e *Emulator) Volume(id string) (Volume, bool) { return lookup(e, e.w.volumes, id, Volume.clone) }

// NetworkInterface returns a copy of one network interface.
func (e *Emulator) NetworkInterface(id string) (NetworkInterface, bool) {
	return lookup(e, e.w.enis, id, NetworkInterface.clone)
}

// SecurityGroup returns a copy of one security group.
func (e *Emulator) SecurityGroup(id string) (SecurityGroup, bool) {
	return lookup(e, e.w.groups, id, SecurityGroup.clone)
}

// SecurityGroups returns copies of all security groups, sorted by id.
func (e *Emulator) SecurityGroups() []SecurityGroup { return e.State().SecurityGroups }

// Snapshots returns copies of all snapshots in creation order.
func (e *Emulator) Snapshots() []Snapshot { return e.State().Snapshots }

// User returns a copy of one IAM user.
func (e *Emulator) User(name string) (User, bool) { return lookup(e, e.w.users, name, User.clone) }

// Role returns a copy of one IAM role.
func (e *Emulator) Role(name string) (Role, bool) { return lookup(e, e.w.roles, name, Role.clone) }

// AutoScalingGroup returns a copy of one Auto Scaling group.
func (e *Emulator) AutoScalingGroup(name string) (AutoScalingGroup, bool) {
	return lookup(e, e.w.asgs, name, AutoScalingGroup.clone)
}

// TargetGroup returns a copy of one ELB v2 target group.
func (e *Emulator) TargetGroup(arn string) (TargetGroup, bool) {
	return lookup(e, e.w.targetGroups, arn, TargetGroup.clone)
}

// LoadBalancer returns a copy of one classic load balancer.
func (e *Emulator) LoadBalancer(name string) (LoadBalancer, bool) {
	return lookup(e, e.w.loadBalancers, name, LoadBalancer.clone)
}

func lookup[T any](e *Emulator, m map[string]*T, key string, clone func(T) T) (T, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.tick(e.clock())
	v, ok := m[key]
	if !ok {
		var zero T
		return zero, false
	}
	return clone(*v), true
}

// serveAdmin answers the read-only JSON endpoints under /_emu/.
func (e *Emulator) serveAdmin(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		http.Error(w, `{"error":"read-only: use GET"}`, http.StatusMethodNotAllowed)
		return
	}
	var v any
	switch r.URL.Path {
	case "/_emu/state":
		account := r.URL.Query().Get("account")
		if account == "" {
			account = e.account
		}
		st, ok := e.AccountState(account)
		if !ok {
			http.Error(w, `{"error":"no such account"}`, http.StatusNotFound)
			return
		}
		v = st
	case "/_emu/calls":
		calls := e.Calls()
		if calls == nil {
			calls = []Call{}
		}
		v = calls
	case "/_emu/operations":
		v = e.Operations()
	default:
		http.Error(w, `{"error":"unknown path; try /_emu/state, /_emu/calls or /_emu/operations"}`, http.StatusNotFound)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		e.log.Warn("awsemu: write admin response", "path", r.URL.Path, "err", err)
	}
}

// FetchState reads GET /_emu/state from an emulator running in another
// process, e.g. for the CLI to show what a sandbox run changed.
func FetchState(ctx context.Context, client *http.Client, baseURL string) (State, error) {
	var s State
	return s, fetchJSON(ctx, client, baseURL+"/_emu/state", &s)
}

// FetchCalls reads GET /_emu/calls from an emulator in another process.
func FetchCalls(ctx context.Context, client *http.Client, baseURL string) ([]Call, error) {
	var c []Call
	return c, fetchJSON(ctx, client, baseURL+"/_emu/calls", &c)
}

func fetchJSON(ctx context.Context, client *http.Client, url string, v any) error {
	if client == nil {
		client = http.DefaultClient
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return fmt.Errorf("awsemu: build request for %s: %w", url, err)
	}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("awsemu: get %s: %w", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("awsemu: get %s: HTTP %d", url, resp.StatusCode)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		return fmt.Errorf("awsemu: decode %s: %w", url, err)
	}
	return nil
}
