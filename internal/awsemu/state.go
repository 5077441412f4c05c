package awsemu

import (
	"maps"
	"slices"
	"time"
)

// Instance states as EC2 names them.
const (
	StatePending      = "pending"
	StateRunning      = "running"
	StateStopping     = "stopping"
	StateStopped      = "stopped"
	StateShuttingDown = "shutting-down"
	StateTerminated   = "terminated"
)

// stateCode is the numeric code EC2 pairs with each state name.
func stateCode(s string) int {
	switch s {
	case StatePending:
		return 0
	case StateRunning:
		return 16
	case StateShuttingDown:
		return 32
	case StateTerminated:
		return 48
	case StateStopping:
		return 64
	case StateStopped:
		return 80
	}
	return 0
}

// VPC is an emulated VPC.
type VPC struct {
	ID        string
	CIDR      string
	IsDefault bool
	Tags      map[string]string
}

// Subnet is an emulated subnet.
type Subnet struct {
	ID               string
	VPCID            string
	CIDR             string
	AvailabilityZone string
	Tags             map[string]string
}

// BlockDevice is a volume attachment as the instance sees it.
type BlockDevice struct {
	DeviceName          string
	VolumeID            string
	DeleteOnTermination bool
	AttachTime          time.Time
}

// Instance is an emulated EC2 instance. The instance's security groups are
// those of its primary network interface, as in EC2.
type Instance struct {
	ID                    string
	ReservationID         string
	ImageID               string
	InstanceType          string
	State                 string
	VPCID                 string
	SubnetID              string
	AvailabilityZone      string
	PrivateIP             string
	LaunchTime            time.Time
	Tags                  map[string]string
	NetworkInterfaceIDs   []string // primary first
	BlockDevices          []BlockDevice
	RootDeviceName        string
	DisableAPITermination bool
	ShutdownBehavior      string // "stop" or "terminate"
	InstanceProfileARN    string // empty when no profile is associated
	ProfileAssociationID  string
	MetadataHTTPEndpoint  string // "enabled" or "disabled"
	MetadataHTTPTokens    string // "optional" or "required"
	ConsoleOutput         string
	// InstanceLifecycle is "spot" for a Spot Instance, empty for On-Demand.
	// EC2 refuses termination and stop protection on Spot Instances.
	InstanceLifecycle string
	// RootDeviceType is "ebs" or "instance-store"; stop protection cannot
	// be enabled on an instance-store-backed instance.
	RootDeviceType string
	DisableAPIStop bool
	// HibernationConfigured is HibernationOptions.Configured, set at
	// launch; Hibernated says the last stop was a hibernation.
	HibernationConfigured bool
	Hibernated            bool

	// nextState and nextAt describe the transition in progress, applied
	// lazily when the clock passes nextAt.
	nextState string
	nextAt    time.Time
}

func (i Instance) clone() Instance {
	i.Tags = maps.Clone(i.Tags)
	i.NetworkInterfaceIDs = slices.Clone(i.NetworkInterfaceIDs)
	i.BlockDevices = slices.Clone(i.BlockDevices)
	return i
}

// Volume is an emulated EBS volume.
type Volume struct {
	ID                  string
	SizeGiB             int
	VolumeType          string
	AvailabilityZone    string
	State               string // "in-use" or "available"
	InstanceID          string
	DeviceName          string
	DeleteOnTermination bool
	CreateTime          time.Time
	AttachTime          time.Time
	Tags                map[string]string
	// Encrypted volumes carry the ARN of their KMS key.
	Encrypted bool
	KMSKeyID  string
}

func (v Volume) clone() Volume { v.Tags = maps.Clone(v.Tags); return v }

// NetworkInterface is an emulated ENI.
type NetworkInterface struct {
	ID                  string
	SubnetID            string
	VPCID               string
	AvailabilityZone    string
	PrivateIP           string
	MACAddress          string
	Description         string
	Status              string // "in-use" or "available"
	InstanceID          string
	DeviceIndex         int
	AttachmentID        string
	AttachTime          time.Time
	DeleteOnTermination bool
	SecurityGroupIDs    []string
	Tags                map[string]string
	// InterfaceType is EC2's interfaceType; empty means "interface".
	InterfaceType string
	// RequesterManaged: an AWS service manages the interface.
	RequesterManaged bool
	// SourceDestCheckDisabled: the interface forwards others' traffic.
	SourceDestCheckDisabled bool
}

func (n NetworkInterface) clone() NetworkInterface {
	n.SecurityGroupIDs = slices.Clone(n.SecurityGroupIDs)
	n.Tags = maps.Clone(n.Tags)
	return n
}

// Permission is one security group rule set, shaped like EC2's IpPermission:
// a protocol and port range with the peers it applies to.
type Permission struct {
	Protocol      string // "-1" for all, or "tcp", "udp", "icmp", …
	FromPort      int32
	ToPort        int32
	CIDRs         []string
	IPv6CIDRs     []string
	GroupIDs      []string
	PrefixListIDs []string
}

func (p Permission) clone() Permission {
	p.CIDRs = slices.Clone(p.CIDRs)
	p.IPv6CIDRs = slices.Clone(p.IPv6CIDRs)
	p.GroupIDs = slices.Clone(p.GroupIDs)
	p.PrefixListIDs = slices.Clone(p.PrefixListIDs)
	return p
}

func (p Permission) empty() bool {
	return len(p.CIDRs)+len(p.IPv6CIDRs)+len(p.GroupIDs)+len(p.PrefixListIDs) == 0
}

// SecurityGroup is an emulated VPC security group.
type SecurityGroup struct {
	ID          string
	Name        string
	Description string
	VPCID       string
	Ingress     []Permission
	Egress      []Permission
	Tags        map[string]string
}

func (g SecurityGroup) clone() SecurityGroup {
	g.Ingress = clonePerms(g.Ingress)
	g.Egress = clonePerms(g.Egress)
	g.Tags = maps.Clone(g.Tags)
	return g
}

func clonePerms(ps []Permission) []Permission {
	if ps == nil {
		return nil
	}
	out := make([]Permission, len(ps))
	for i, p := range ps {
		out[i] = p.clone()
	}
	return out
}

// Snapshot is an emulated EBS snapshot.
type Snapshot struct {
	ID          string
	VolumeID    string
	VolumeSize  int
	Description string
	State       string // "pending", "completed" or "error" (SnapshotCompletion.FailVolumes)
	Progress    string // e.g. "40%"
	StartTime   time.Time
	Tags        map[string]string
	// Lock is the snapshot lock (LockSnapshot), nil when never locked.
	Lock *SnapshotLock
	// OwnerID is the account that owns the snapshot.
	OwnerID string
	// Encrypted snapshots carry the ARN of their KMS key.
	Encrypted bool
	KMSKeyID  string
	// CreateVolumePermissions are the account ids the snapshot is shared
	// with (ModifySnapshotAttribute), "all" when it is public.
	CreateVolumePermissions []string
	// SourceSnapshotID is the snapshot a CopySnapshot copied.
	SourceSnapshotID string
	// StateMessage says why a snapshot is in state error.
	StateMessage string

	describes int // how many DescribeSnapshots calls have returned it
}

// SnapshotLock is a snapshot's lock as LockSnapshot set it. The lock state
// (governance, compliance-cooloff, compliance, expired) follows from the
// mode and the clock: see lockState.
type SnapshotLock struct {
	Mode             string // "governance" or "compliance"
	DurationDays     int    // zero when ExpiresOn was given as a date
	CoolOffHours     int    // compliance only
	CreatedOn        time.Time
	DurationStart    time.Time
	ExpiresOn        time.Time
	CoolOffExpiresOn time.Time // zero without a cooling-off period
}

func (s Snapshot) clone() Snapshot {
	s.Tags = maps.Clone(s.Tags)
	s.CreateVolumePermissions = slices.Clone(s.CreateVolumePermissions)
	if s.Lock != nil {
		l := *s.Lock
		s.Lock = &l
	}
	return s
}

// AccessKey is an IAM user's access key.
type AccessKey struct {
	ID              string
	Status          string // "Active" or "Inactive"
	CreateDate      time.Time
	LastUsedDate    time.Time
	LastUsedService string
	LastUsedRegion  string
	SecretAccessKey string
}

// MFADevice is an MFA device enabled for a user.
type MFADevice struct {
	SerialNumber string
	EnableDate   time.Time
}

// LoginProfile is a user's console password.
type LoginProfile struct {
	CreateDate            time.Time
	PasswordResetRequired bool
}

// User is an emulated IAM user.
type User struct {
	Name           string
	ID             string
	ARN            string
	Path           string
	CreateDate     time.Time
	AccessKeys     []AccessKey
	LoginProfile   *LoginProfile
	MFADevices     []MFADevice
	InlinePolicies map[string]string // name → JSON document
	// AttachedPolicies are the ARNs of the managed policies attached to
	// the user, in attachment order.
	AttachedPolicies []string
	Tags             map[string]string
}

func (u User) clone() User {
	u.AccessKeys = slices.Clone(u.AccessKeys)
	if u.LoginProfile != nil {
		lp := *u.LoginProfile
		u.LoginProfile = &lp
	}
	u.MFADevices = slices.Clone(u.MFADevices)
	u.InlinePolicies = maps.Clone(u.InlinePolicies)
	u.AttachedPolicies = slices.Clone(u.AttachedPolicies)
	u.Tags = maps.Clone(u.Tags)
	return u
}

// Role is an emulated IAM role.
type Role struct {
	Name                     string
	ID                       string
	ARN                      string
	Path                     string
	CreateDate               time.Time
	AssumeRolePolicyDocument string
	InlinePolicies           map[string]string
	Tags                     map[string]string
	// RequiredExternalID, when set, must be passed as ExternalId to AssumeRole.
	RequiredExternalID string
	// TrustedPrincipals, when set, are the only callers AssumeRole lets in
	// (see [RoleSpec.TrustedPrincipals]).
	TrustedPrincipals []string
	// trustBeforeLock holds TrustedPrincipals while the trust policy
	// denies AssumeRole to everyone (UpdateAssumeRolePolicy).
	trustBeforeLock []string
}

func (r Role) clone() Role {
	r.TrustedPrincipals = slices.Clone(r.TrustedPrincipals)
	r.trustBeforeLock = slices.Clone(r.trustBeforeLock)
	r.InlinePolicies = maps.Clone(r.InlinePolicies)
	r.Tags = maps.Clone(r.Tags)
	return r
}

// InstanceProfile is an emulated IAM instance profile.
type InstanceProfile struct {
	Name       string
	ID         string
	ARN        string
	Path       string
	CreateDate time.Time
	RoleNames  []string
}

func (p InstanceProfile) clone() InstanceProfile { p.RoleNames = slices.Clone(p.RoleNames); return p }

// ASGInstance is an instance's membership of an Auto Scaling group.
type ASGInstance struct {
	InstanceID     string
	LifecycleState string // "InService", "Standby", …
	HealthStatus   string
	// ProtectedFromScaleIn is set by SetInstanceProtection.
	ProtectedFromScaleIn bool
}

// AutoScalingGroup is an emulated Auto Scaling group.
type AutoScalingGroup struct {
	Name              string
	ARN               string
	MinSize           int
	MaxSize           int
	DesiredCapacity   int
	AvailabilityZones []string
	SubnetIDs         []string
	TargetGroupARNs   []string
	LoadBalancerNames []string
	Instances         []ASGInstance
	CreatedTime       time.Time
	Tags              map[string]string
}

func (g AutoScalingGroup) clone() AutoScalingGroup {
	g.AvailabilityZones = slices.Clone(g.AvailabilityZones)
	g.SubnetIDs = slices.Clone(g.SubnetIDs)
	g.TargetGroupARNs = slices.Clone(g.TargetGroupARNs)
	g.LoadBalancerNames = slices.Clone(g.LoadBalancerNames)
	g.Instances = slices.Clone(g.Instances)
	g.Tags = maps.Clone(g.Tags)
	return g
}

// Target is a registered ELB v2 target.
type Target struct {
	ID   string
	Port int
}

// TargetGroup is an emulated ELB v2 target group, of target type
// instance (targets are instance ids) or ip (targets are IP addresses).
type TargetGroup struct {
	ARN        string
	Name       string
	Protocol   string
	Port       int
	VPCID      string
	TargetType string // "instance" or "ip"
	Targets    []Target
}

func (g TargetGroup) clone() TargetGroup { g.Targets = slices.Clone(g.Targets); return g }

// LoadBalancer is an emulated classic load balancer.
type LoadBalancer struct {
	Name        string
	DNSName     string
	VPCID       string
	SubnetIDs   []string
	Instances   []string
	CreatedTime time.Time
}

func (l LoadBalancer) clone() LoadBalancer {
	l.SubnetIDs = slices.Clone(l.SubnetIDs)
	l.Instances = slices.Clone(l.Instances)
	return l
}

// session is a set of temporary credentials issued by AssumeRole.
type session struct {
	roleARN     string
	roleID      string
	sessionName string
	expiration  time.Time
}

// world is all emulated resources of one account. It is only touched with
// Emulator.mu held.
type world struct {
	account       string
	vpcs          map[string]*VPC
	subnets       map[string]*Subnet
	instances     map[string]*Instance
	instanceOrder []string // creation order, so Describe pages are stable
	volumes       map[string]*Volume
	enis          map[string]*NetworkInterface
	groups        map[string]*SecurityGroup
	snapshots     map[string]*Snapshot
	snapOrder     []string
	users         map[string]*User
	roles         map[string]*Role
	profiles      map[string]*InstanceProfile
	asgs          map[string]*AutoScalingGroup
	targetGroups  map[string]*TargetGroup
	loadBalancers map[string]*LoadBalancer
	sessions      map[string]*session
	// The VPC network (ec2_network.go).
	routeTables map[string]*RouteTable
	acls        map[string]*NetworkACL
	addresses   map[string]*Address
	// rootKeys are the access keys of the account's root user, which
	// belong to no IAM user (AddRootAccessKey).
	rootKeys []AccessKey
	// kmsKeys are the account's KMS keys, made on first use (kms()).
	kmsKeys *kmsState
	// ssmState is the account's SSM agents and commands (ssm.go).
	ssmState *ssmState
}

func newWorld(account string) *world {
	return &world{
		account:       account,
		vpcs:          map[string]*VPC{},
		subnets:       map[string]*Subnet{},
		instances:     map[string]*Instance{},
		volumes:       map[string]*Volume{},
		enis:          map[string]*NetworkInterface{},
		groups:        map[string]*SecurityGroup{},
		snapshots:     map[string]*Snapshot{},
		users:         map[string]*User{},
		roles:         map[string]*Role{},
		profiles:      map[string]*InstanceProfile{},
		asgs:          map[string]*AutoScalingGroup{},
		targetGroups:  map[string]*TargetGroup{},
		loadBalancers: map[string]*LoadBalancer{},
		sessions:      map[string]*session{},
		routeTables:   map[string]*RouteTable{},
		acls:          map[string]*NetworkACL{},
		addresses:     map[string]*Address{},
	}
}
