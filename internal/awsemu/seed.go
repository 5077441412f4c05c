package awsemu

import (
	"errors"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"strings"
	"time"
)

// VPCSpec describes a VPC to add.
type VPCSpec struct {
	CIDR      string // default "10.0.0.0/16"; subnets get 10.0.N.0/24 style blocks
	Subnets   int    // default 2, at most 6
	IsDefault bool
	Tags      map[string]string
}

// AddVPC creates a VPC with subnets across availability zones and the
// "default" security group every VPC has.
func (e *Emulator) AddVPC(spec VPCSpec) (VPC, []Subnet) {
	e.mu.Lock()
	defer e.mu.Unlock()
	v, subnets := e.addVPC(spec)
	out := make([]Subnet, len(subnets))
	for i, s := range subnets {
		out[i] = *s
		out[i].Tags = cloneTags(s.Tags)
	}
	vv := *v
	vv.Tags = cloneTags(v.Tags)
	return vv, out
}

func (e *Emulator) addVPC(spec VPCSpec) (*VPC, []*Subnet) {
	if spec.CIDR == "" {
		spec.CIDR = "10.0.0.0/16"
	}
	if spec.Subnets <= 0 {
		spec.Subnets = 2
	}
	spec.Subnets = min(spec.Subnets, 6)
	v := &VPC{ID: e.newID("vpc"), CIDR: spec.CIDR, IsDefault: spec.IsDefault, Tags: cloneTags(spec.Tags)}
	e.w.vpcs[v.ID] = v
	base, _, _ := strings.Cut(spec.CIDR, "/")
	octets := strings.Split(base, ".")
	if len(octets) != 4 {
		octets = []string{"10", "0", "0", "0"}
	}
	var subnets []*Subnet
	for i := range spec.Subnets {
		s := &Subnet{
			ID:               e.newID("subnet"),
			VPCID:            v.ID,
			CIDR:             fmt.Sprintf("%s.%s.%d.0/24", octets[0], octets[1], i+1),
			AvailabilityZone: e.region + string(rune('a'+i)),
			Tags:             map[string]string{"Name": fmt.Sprintf("private-%c", 'a'+i)},
		}
		e.w.subnets[s.ID] = s
		subnets = append(subnets, s)
	}
	e.addGroup(v.ID, "default", "default VPC security group", nil)
	return v, subnets
}

// InstanceSpec describes an instance to add. Zero fields get realistic
// defaults; SubnetID defaults to a subnet of the first VPC (created if none).
type InstanceSpec struct {
	Name                  string
	SubnetID              string
	ImageID               string
	InstanceType          string
	SecurityGroupIDs      []string // default: the VPC's "default" group
	NetworkInterfaces     int      // 1–3, default 1
	Volumes               int      // 1–3 (root plus data), default 2
	InstanceProfileARN    string
	DisableAPITermination bool
	State                 string // "running" (default) or "stopped"
	Tags                  map[string]string
	ConsoleOutput         string
	ReservationID         string // instances sharing one appear in one reservation
	// Spot makes a Spot Instance (InstanceLifecycle "spot").
	Spot bool
	// InstanceStoreRoot makes an instance-store-backed instance (root
	// device type instance-store); its EBS volumes are data volumes.
	InstanceStoreRoot     bool
	DisableAPIStop        bool
	HibernationConfigured bool
	// EncryptedVolumes encrypts the instance's volumes with VolumeKMSKeyID
	// (a key id, ARN or alias of the default account), or with the
	// account's AWS managed key alias/aws/ebs when that is empty.
	EncryptedVolumes bool
	VolumeKMSKeyID   string
}

// AddInstance creates an instance with its interfaces and volumes.
func (e *Emulator) AddInstance(spec InstanceSpec) (Instance, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	in, err := e.addInstance(spec)
	if err != nil {
		return Instance{}, err
	}
	return e.instanceView(in), nil
}

func (e *Emulator) addInstance(spec InstanceSpec) (*Instance, error) {
	now := e.clock()
	var subnet *Subnet
	if spec.SubnetID != "" {
		s, ok := e.w.subnets[spec.SubnetID]
		if !ok {
			return nil, fmt.Errorf("awsemu: add instance: subnet %s does not exist", spec.SubnetID)
		}
		subnet = s
	} else {
		vpc := e.defaultVPC()
		if vpc == nil {
			vpc, _ = e.addVPC(VPCSpec{IsDefault: true})
		}
		for _, id := range sortedKeys(e.w.subnets) {
			if s := e.w.subnets[id]; s.VPCID == vpc.ID {
				subnet = s
				break
			}
		}
		if subnet == nil {
			return nil, fmt.Errorf("awsemu: add instance: VPC %s has no subnet", vpc.ID)
		}
	}
	groups := slices.Clone(spec.SecurityGroupIDs)
	if len(groups) == 0 {
		for _, g := range e.w.groups {
			if g.VPCID == subnet.VPCID && g.Name == "default" {
				groups = []string{g.ID}
			}
		}
	}
	for _, g := range groups {
		if sg, ok := e.w.groups[g]; !ok || sg.VPCID != subnet.VPCID {
			return nil, fmt.Errorf("awsemu: add instance: security group %s is not in VPC %s", g, subnet.VPCID)
		}
	}
	if spec.State == "" {
		spec.State = StateRunning
	}
	if spec.State != StateRunning && spec.State != StateStopped {
		return nil, fmt.Errorf("awsemu: add instance: state %q is not running or stopped", spec.State)
	}
	if spec.ImageID == "" {
		spec.ImageID = "ami-0c7217cdde317cfec"
	}
	if spec.InstanceType == "" {
		spec.InstanceType = "t3.large"
	}
	var volumeKey *KMSKey
	if spec.EncryptedVolumes {
		ref := spec.VolumeKMSKeyID
		if ref == "" {
			ref = ebsDefaultAlias
		}
		k, ok := e.findKey(e.region, ref, now)
		if !ok {
			return nil, fmt.Errorf("awsemu: add instance: KMS key %s does not exist in %s", ref, e.region)
		}
		volumeKey = k
	}
	nENI := clamp(spec.NetworkInterfaces, 1, 3, 1)
	nVol := clamp(spec.Volumes, 1, 3, 2)
	in := &Instance{
		ID:                    e.newID("i"),
		ReservationID:         spec.ReservationID,
		ImageID:               spec.ImageID,
		InstanceType:          spec.InstanceType,
		State:                 spec.State,
		VPCID:                 subnet.VPCID,
		SubnetID:              subnet.ID,
		AvailabilityZone:      subnet.AvailabilityZone,
		LaunchTime:            now.Add(-72 * time.Hour).Truncate(time.Second),
		Tags:                  cloneTags(spec.Tags),
		RootDeviceName:        "/dev/xvda",
		DisableAPITermination: spec.DisableAPITermination,
		ShutdownBehavior:      "stop",
		MetadataHTTPEndpoint:  "enabled",
		MetadataHTTPTokens:    "optional",
		ConsoleOutput:         spec.ConsoleOutput,
		RootDeviceType:        "ebs",
		DisableAPIStop:        spec.DisableAPIStop,
		HibernationConfigured: spec.HibernationConfigured,
	}
	if spec.Spot {
		in.InstanceLifecycle = "spot"
	}
	if spec.InstanceStoreRoot {
		in.RootDeviceType, in.RootDeviceName = "instance-store", "/dev/sda1"
	}
	if in.ReservationID == "" {
		in.ReservationID = e.newID("r")
	}
	if spec.Name != "" {
		in.Tags["Name"] = spec.Name
	}
	if in.ConsoleOutput == "" {
		in.ConsoleOutput = bootLog(in.ID, spec.Name, false)
	}
	subnetPrefix := strings.TrimSuffix(subnet.CIDR, ".0/24")
	for i := range nENI {
		ip := fmt.Sprintf("%s.%d", subnetPrefix, 10+e.rng.IntN(240))
		if i == 0 {
			in.PrivateIP = ip
		}
		n := &NetworkInterface{
			ID:                  e.newID("eni"),
			SubnetID:            subnet.ID,
			VPCID:               subnet.VPCID,
			AvailabilityZone:    subnet.AvailabilityZone,
			PrivateIP:           ip,
			MACAddress:          fmt.Sprintf("0a:%02x:%02x:%02x:%02x:%02x", e.rng.IntN(256), e.rng.IntN(256), e.rng.IntN(256), e.rng.IntN(256), e.rng.IntN(256)),
			Description:         "",
			Status:              "in-use",
			InstanceID:          in.ID,
			DeviceIndex:         i,
			AttachmentID:        e.newID("eni-attach"),
			AttachTime:          in.LaunchTime,
			DeleteOnTermination: i == 0,
			SecurityGroupIDs:    slices.Clone(groups),
			Tags:                map[string]string{},
		}
		if i > 0 {
			n.Description = fmt.Sprintf("secondary interface %d", i)
		}
		e.w.enis[n.ID] = n
		in.NetworkInterfaceIDs = append(in.NetworkInterfaceIDs, n.ID)
	}
	devices := []string{"/dev/xvda", "/dev/sdf", "/dev/sdg"}
	for i := range nVol {
		v := &Volume{
			ID:                  e.newID("vol"),
			SizeGiB:             []int{16, 100, 200}[i],
			VolumeType:          "gp3",
			AvailabilityZone:    subnet.AvailabilityZone,
			State:               "in-use",
			InstanceID:          in.ID,
			DeviceName:          devices[i],
			DeleteOnTermination: i == 0,
			CreateTime:          in.LaunchTime,
			AttachTime:          in.LaunchTime,
			Tags:                map[string]string{},
		}
		if name := spec.Tags["App"]; name != "" {
			v.Tags["App"] = name
		}
		if volumeKey != nil {
			v.Encrypted, v.KMSKeyID = true, volumeKey.ARN
		}
		e.w.volumes[v.ID] = v
		in.BlockDevices = append(in.BlockDevices, BlockDevice{DeviceName: v.DeviceName, VolumeID: v.ID})
	}
	if spec.InstanceProfileARN != "" {
		in.InstanceProfileARN = spec.InstanceProfileARN
		in.ProfileAssociationID = e.newID("iip-assoc")
	}
	e.w.instances[in.ID] = in
	e.w.instanceOrder = append(e.w.instanceOrder, in.ID)
	return in, nil
}

func clamp(n, lo, hi, def int) int {
	if n == 0 {
		return def
	}
	return max(lo, min(hi, n))
}

// bootLog is plausible console output; compromised hosts show the kind of
// traces the Confluence OGNL-injection campaign left.
func bootLog(id, name string, compromised bool) string {
	var b strings.Builder
	fmt.Fprintf(&b, "[    0.000000] Linux version 5.10.209-198.858.amzn2.x86_64 (mockbuild@ip-10-0-1-1) (gcc 7.3.1) #1 SMP\n")
	fmt.Fprintf(&b, "[    0.000000] Command line: BOOT_IMAGE=/boot/vmlinuz root=UUID=%s ro console=ttyS0\n", id)
	b.WriteString("[    1.204511] EXT4-fs (nvme0n1p1): mounted filesystem with ordered data mode\n")
	b.WriteString("[  OK  ] Started Amazon SSM Agent.\n")
	b.WriteString("[  OK  ] Started Atlassian Confluence.\n")
	fmt.Fprintf(&b, "cloud-init[2210]: Cloud-init v. 19.3 finished. Datasource DataSourceEc2. Host %s\n", name)
	if compromised {
		b.WriteString("confluence[3312]: WARN [http-nio-8090-exec-7] OGNL expression evaluated from /pages/doenterpagevariables.action\n")
		b.WriteString("kernel: [81234.551] kdevtmpfsi[4471]: segfault at 0 ip 0000000000401a2b sp 00007ffd\n")
		b.WriteString("systemd[1]: Started /tmp/.kinsing/kinsing -c 45.133.203.192:80.\n")
		b.WriteString("kernel: [81240.020] nf_conntrack: table full, dropping packet (outbound SYN flood to 0.0.0.0/0:22)\n")
	}
	return b.String()
}

// FleetSpec describes a realistic fleet for SeedFleet.
type FleetSpec struct {
	Instances             int    // default 12
	NamePrefix            string // default "confluence"
	Compromised           []int  // indices whose console output shows the exploitation
	NetworkInterfaces     int    // per instance, 1–3; 0 varies them 1–3
	Volumes               int    // per instance, 1–3; 0 varies them 2–3
	InAutoScalingGroup    int    // the first N instances join "<prefix>-asg"
	BehindTargetGroup     int    // the first N instances are targets of "<prefix>-tg"
	WithInstanceRole      bool   // instances get profile and role "<prefix>-app"
	TerminationProtection bool
	Tags                  map[string]string // added to App and Env tags
}

// FleetInfo names what SeedFleet created.
type FleetInfo struct {
	VPCID                string
	SubnetIDs            []string
	SecurityGroupID      string // the fleet's application group
	InstanceIDs          []string
	CompromisedIDs       []string
	RoleName             string
	InstanceProfileARN   string
	AutoScalingGroupName string
	TargetGroupARN       string
}

// SeedFleet creates a VPC with a Confluence-like fleet. The same seed and
// the same calls give the same ids.
func (e *Emulator) SeedFleet(spec FleetSpec) (FleetInfo, error) {
	if spec.Instances == 0 {
		spec.Instances = 12
	}
	if spec.Instances < 0 || spec.Instances > 5000 {
		return FleetInfo{}, fmt.Errorf("awsemu: seed fleet: %d instances is out of range 1–5000", spec.Instances)
	}
	if spec.NamePrefix == "" {
		spec.NamePrefix = "confluence"
	}
	for _, i := range spec.Compromised {
		if i < 0 || i >= spec.Instances {
			return FleetInfo{}, fmt.Errorf("awsemu: seed fleet: compromised index %d is outside 0–%d", i, spec.Instances-1)
		}
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	now := e.clock()
	vpc, subnets := e.addVPC(VPCSpec{Subnets: 3, Tags: map[string]string{"Name": spec.NamePrefix + "-vpc"}})
	info := FleetInfo{VPCID: vpc.ID}
	for _, s := range subnets {
		info.SubnetIDs = append(info.SubnetIDs, s.ID)
	}
	app := e.addGroup(vpc.ID, spec.NamePrefix+"-app", "Confluence application servers", map[string]string{"App": spec.NamePrefix})
	app.Ingress = []Permission{{Protocol: "tcp", FromPort: 8090, ToPort: 8090, CIDRs: []string{"0.0.0.0/0"}}}
	info.SecurityGroupID = app.ID
	if spec.WithInstanceRole {
		role, profile := e.addRole(RoleSpec{
			Name:            spec.NamePrefix + "-app",
			InstanceProfile: true,
			InlinePolicies: map[string]string{"s3-attachments": `{"Version":"2012-10-17","Statement":[{"Effect":"Allow",` +
				`"Action":["s3:GetObject","s3:PutObject"],"Resource":"arn:aws:s3:::` + spec.NamePrefix + `-attachments/*"}]}`},
		}, now)
		info.RoleName, info.InstanceProfileARN = role.Name, profile.ARN
	}
	compromised := map[int]bool{}
	for _, i := range spec.Compromised {
		compromised[i] = true
	}
	reservation := e.newID("r")
	for i := range spec.Instances {
		tags := map[string]string{"App": "confluence", "Env": "demo"}
		maps.Copy(tags, spec.Tags)
		name := fmt.Sprintf("%s-%02d", spec.NamePrefix, i+1)
		enis, vols := spec.NetworkInterfaces, spec.Volumes
		if enis == 0 {
			enis = 1 + e.rng.IntN(3)
		}
		if vols == 0 {
			vols = 2 + e.rng.IntN(2)
		}
		in, err := e.addInstance(InstanceSpec{
			Name: name, SubnetID: subnets[i%len(subnets)].ID, ImageID: "ami-0a3c3a20c09d6f377",
			InstanceType: "m5.large", SecurityGroupIDs: []string{app.ID}, NetworkInterfaces: enis, Volumes: vols,
			InstanceProfileARN: info.InstanceProfileARN, DisableAPITermination: spec.TerminationProtection,
			Tags: tags, ReservationID: reservation,
		})
		if err != nil {
			return FleetInfo{}, fmt.Errorf("awsemu: seed fleet instance %d: %w", i, err)
		}
		in.ConsoleOutput = bootLog(in.ID, name, compromised[i])
		info.InstanceIDs = append(info.InstanceIDs, in.ID)
		if compromised[i] {
			info.CompromisedIDs = append(info.CompromisedIDs, in.ID)
		}
	}
	if n := min(spec.BehindTargetGroup, spec.Instances); n > 0 {
		tg := e.addTargetGroup(TargetGroupSpec{Name: spec.NamePrefix + "-tg", VPCID: vpc.ID, Port: 8090, Targets: info.InstanceIDs[:n]})
		info.TargetGroupARN = tg.ARN
	}
	if n := min(spec.InAutoScalingGroup, spec.Instances); n > 0 {
		var tgs []string
		if info.TargetGroupARN != "" {
			tgs = []string{info.TargetGroupARN}
		}
		g, err := e.addAutoScalingGroup(AutoScalingGroupSpec{
			Name: spec.NamePrefix + "-asg", InstanceIDs: info.InstanceIDs[:n], MinSize: 0, MaxSize: n + 2, TargetGroupARNs: tgs,
		}, now)
		if err != nil {
			return FleetInfo{}, err
		}
		info.AutoScalingGroupName = g.Name
	}
	return info, nil
}

// RoleSpec describes an IAM role to add.
type RoleSpec struct {
	Name               string
	Path               string // default "/"
	InlinePolicies     map[string]string
	InstanceProfile    bool   // also create an instance profile of the same name
	RequiredExternalID string // AssumeRole must pass this ExternalId
	// TrustedPrincipals, when set, is the trust policy's AWS principals:
	// only these may assume the role (a user or role ARN, a role ARN
	// covering its sessions, "arn:aws:iam::ACCOUNT:root" for anyone in the
	// account, or "*"). Empty keeps the default: any caller may.
	TrustedPrincipals []string
	Tags              map[string]string
	// Account is the account the role is created in; empty means the
	// default account. Another account is added if it does not exist yet.
	Account string
}

// AddRole creates a role (and optionally its instance profile) and returns it.
func (e *Emulator) AddRole(spec RoleSpec) (Role, error) {
	if spec.Name == "" {
		return Role{}, errors.New("awsemu: add role: name is required")
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	var out Role
	err := e.inAccount(spec.Account, func() error {
		if _, ok := e.w.roles[spec.Name]; ok {
			return fmt.Errorf("awsemu: add role: %s already exists in account %s", spec.Name, e.w.account)
		}
		r, _ := e.addRole(spec, e.clock())
		out = r.clone()
		return nil
	})
	return out, err
}

func (e *Emulator) addRole(spec RoleSpec, now time.Time) (*Role, *InstanceProfile) {
	if spec.Path == "" {
		spec.Path = "/"
	}
	r := &Role{
		Name: spec.Name, ID: e.newKeyID("AROA"), Path: spec.Path,
		ARN:        fmt.Sprintf("arn:aws:iam::%s:role%s%s", e.w.account, spec.Path, spec.Name),
		CreateDate: now.Add(-30 * 24 * time.Hour).Truncate(time.Second),
		AssumeRolePolicyDocument: `{"Version":"2012-10-17","Statement":[{"Effect":"Allow",` +
			`"Principal":{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole"}]}`,
		InlinePolicies:     maps.Clone(spec.InlinePolicies),
		Tags:               cloneTags(spec.Tags),
		RequiredExternalID: spec.RequiredExternalID,
		TrustedPrincipals:  slices.Clone(spec.TrustedPrincipals),
	}
	if len(r.TrustedPrincipals) > 0 {
		r.AssumeRolePolicyDocument = trustPolicy(r.TrustedPrincipals, r.RequiredExternalID)
	}
	if r.InlinePolicies == nil {
		r.InlinePolicies = map[string]string{}
	}
	e.w.roles[r.Name] = r
	// IAM is eventually consistent: a role added while SetConsistencyLag
	// is on stays invisible for a few references, as one a runbook has
	// just created would.
	e.created(roleLagKey(r.Name))
	if !spec.InstanceProfile {
		return r, nil
	}
	p := &InstanceProfile{
		Name: spec.Name, ID: e.newKeyID("AIPA"), Path: spec.Path, CreateDate: r.CreateDate,
		ARN:       fmt.Sprintf("arn:aws:iam::%s:instance-profile%s%s", e.w.account, spec.Path, spec.Name),
		RoleNames: []string{r.Name},
	}
	e.w.profiles[p.Name] = p
	e.created(profileLagKey(p.Name))
	return r, p
}

// UserSpec describes an IAM user to add.
type UserSpec struct {
	Name           string
	AccessKeys     int  // how many active keys to create
	LoginProfile   bool // has a console password
	MFADevices     int
	InlinePolicies map[string]string
	Tags           map[string]string
	// Account is the account the user is created in; empty means the
	// default account. Another account is added if it does not exist yet.
	Account string
}

// AddUser creates a user; the returned copy carries the generated access
// keys, secrets included, so tests can call AWS as that user.
func (e *Emulator) AddUser(spec UserSpec) (User, error) {
	if spec.Name == "" {
		return User{}, errors.New("awsemu: add user: name is required")
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	var out User
	err := e.inAccount(spec.Account, func() error {
		var err error
		out, err = e.addUser(spec)
		return err
	})
	return out, err
}

func (e *Emulator) addUser(spec UserSpec) (User, error) {
	if _, ok := e.w.users[spec.Name]; ok {
		return User{}, fmt.Errorf("awsemu: add user: %s already exists in account %s", spec.Name, e.w.account)
	}
	now := e.clock()
	created := now.Add(-90 * 24 * time.Hour).Truncate(time.Second)
	u := &User{
		Name: spec.Name, ID: e.newKeyID("AIDA"), Path: "/", CreateDate: created,
		ARN:            fmt.Sprintf("arn:aws:iam::%s:user/%s", e.w.account, spec.Name),
		InlinePolicies: maps.Clone(spec.InlinePolicies),
		Tags:           cloneTags(spec.Tags),
	}
	if u.InlinePolicies == nil {
		u.InlinePolicies = map[string]string{}
	}
	for range min(spec.AccessKeys, 10) {
		u.AccessKeys = append(u.AccessKeys, AccessKey{
			ID: e.newKeyID("AKIA"), Status: "Active", CreateDate: created, SecretAccessKey: e.newSecret(40),
		})
	}
	if spec.LoginProfile {
		u.LoginProfile = &LoginProfile{CreateDate: created}
	}
	for i := range min(spec.MFADevices, 8) {
		u.MFADevices = append(u.MFADevices, MFADevice{
			SerialNumber: fmt.Sprintf("arn:aws:iam::%s:mfa/%s-%d", e.w.account, spec.Name, i+1),
			EnableDate:   created.Add(time.Hour),
		})
	}
	e.w.users[u.Name] = u
	return u.clone(), nil
}

// AutoScalingGroupSpec describes an Auto Scaling group to add.
type AutoScalingGroupSpec struct {
	Name            string
	InstanceIDs     []string
	MinSize         int
	MaxSize         int // default len(InstanceIDs)+2
	TargetGroupARNs []string
}

// AddAutoScalingGroup creates a group whose instances are InService.
func (e *Emulator) AddAutoScalingGroup(spec AutoScalingGroupSpec) (AutoScalingGroup, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	g, err := e.addAutoScalingGroup(spec, e.clock())
	if err != nil {
		return AutoScalingGroup{}, err
	}
	return g.clone(), nil
}

func (e *Emulator) addAutoScalingGroup(spec AutoScalingGroupSpec, now time.Time) (*AutoScalingGroup, error) {
	if spec.Name == "" {
		return nil, errors.New("awsemu: add auto scaling group: name is required")
	}
	if _, ok := e.w.asgs[spec.Name]; ok {
		return nil, fmt.Errorf("awsemu: add auto scaling group: %s already exists", spec.Name)
	}
	if spec.MaxSize == 0 {
		spec.MaxSize = len(spec.InstanceIDs) + 2
	}
	g := &AutoScalingGroup{
		Name:            spec.Name,
		ARN:             fmt.Sprintf("arn:aws:autoscaling:%s:%s:autoScalingGroup:%s:autoScalingGroupName/%s", e.region, e.w.account, e.newUUID(), spec.Name),
		MinSize:         spec.MinSize,
		MaxSize:         spec.MaxSize,
		DesiredCapacity: len(spec.InstanceIDs),
		TargetGroupARNs: slices.Clone(spec.TargetGroupARNs),
		CreatedTime:     now.Add(-72 * time.Hour).Truncate(time.Second),
		Tags:            map[string]string{},
	}
	for _, id := range spec.InstanceIDs {
		in, ok := e.w.instances[id]
		if !ok {
			return nil, fmt.Errorf("awsemu: add auto scaling group: instance %s does not exist", id)
		}
		g.Instances = append(g.Instances, ASGInstance{InstanceID: id, LifecycleState: "InService", HealthStatus: "Healthy"})
		if !slices.Contains(g.AvailabilityZones, in.AvailabilityZone) {
			g.AvailabilityZones = append(g.AvailabilityZones, in.AvailabilityZone)
			g.SubnetIDs = append(g.SubnetIDs, in.SubnetID)
		}
	}
	e.w.asgs[g.Name] = g
	return g, nil
}

func (e *Emulator) newUUID() string {
	a, b := e.rng.Uint64(), e.rng.Uint64()
	return fmt.Sprintf("%08x-%04x-4%03x-a%03x-%012x", uint32(a>>32), uint16(a>>16), uint16(a)&0xfff, uint16(b>>48)&0xfff, b&0xffffffffffff)
}

// TargetGroupSpec describes an ELB v2 target group to add.
type TargetGroupSpec struct {
	Name       string
	VPCID      string
	Port       int    // default 80
	TargetType string // "instance" (default) or "ip"
	// Targets are instance ids, or IP addresses for TargetType "ip".
	Targets []string
}

// AddTargetGroup creates a target group with registered targets.
func (e *Emulator) AddTargetGroup(spec TargetGroupSpec) (TargetGroup, error) {
	if spec.Name == "" {
		return TargetGroup{}, errors.New("awsemu: add target group: name is required")
	}
	if spec.TargetType != "" && spec.TargetType != "instance" && spec.TargetType != "ip" {
		return TargetGroup{}, fmt.Errorf("awsemu: add target group: target type %q is not modelled", spec.TargetType)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, id := range spec.Targets {
		if spec.TargetType == "ip" {
			if _, err := netip.ParseAddr(id); err != nil {
				return TargetGroup{}, fmt.Errorf("awsemu: add target group: %s is not an IP address", id)
			}
			continue
		}
		if _, ok := e.w.instances[id]; !ok {
			return TargetGroup{}, fmt.Errorf("awsemu: add target group: instance %s does not exist", id)
		}
	}
	return e.addTargetGroup(spec).clone(), nil
}

func (e *Emulator) addTargetGroup(spec TargetGroupSpec) *TargetGroup {
	if spec.Port == 0 {
		spec.Port = 80
	}
	if spec.TargetType == "" {
		spec.TargetType = "instance"
	}
	g := &TargetGroup{
		ARN:        fmt.Sprintf("arn:aws:elasticloadbalancing:%s:%s:targetgroup/%s/%016x", e.region, e.w.account, spec.Name, e.rng.Uint64()),
		Name:       spec.Name,
		Protocol:   "HTTP",
		Port:       spec.Port,
		VPCID:      spec.VPCID,
		TargetType: spec.TargetType,
	}
	for _, id := range spec.Targets {
		g.Targets = append(g.Targets, Target{ID: id, Port: spec.Port})
	}
	e.w.targetGroups[g.ARN] = g
	return g
}

// LoadBalancerSpec describes a classic load balancer to add.
type LoadBalancerSpec struct {
	Name      string
	Instances []string
}

// AddLoadBalancer creates a classic load balancer with registered instances.
func (e *Emulator) AddLoadBalancer(spec LoadBalancerSpec) (LoadBalancer, error) {
	if spec.Name == "" {
		return LoadBalancer{}, errors.New("awsemu: add load balancer: name is required")
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	lb := &LoadBalancer{
		Name:        spec.Name,
		DNSName:     fmt.Sprintf("%s-%d.%s.elb.amazonaws.com", spec.Name, 1000000+e.rng.IntN(8999999), e.region),
		CreatedTime: e.clock().Add(-72 * time.Hour).Truncate(time.Second),
	}
	for _, id := range spec.Instances {
		in, ok := e.w.instances[id]
		if !ok {
			return LoadBalancer{}, fmt.Errorf("awsemu: add load balancer: instance %s does not exist", id)
		}
		lb.VPCID = in.VPCID
		if !slices.Contains(lb.SubnetIDs, in.SubnetID) {
			lb.SubnetIDs = append(lb.SubnetIDs, in.SubnetID)
		}
		lb.Instances = append(lb.Instances, id)
	}
	e.w.loadBalancers[lb.Name] = lb
	return lb.clone(), nil
}
