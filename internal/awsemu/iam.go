package awsemu

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"
	"unicode"
)

func iamOperations() []operation {
	op := func(action string, mutating bool, h func(*Emulator, *request) ([]node, *apiError)) operation {
		return operation{service: ServiceIAM, action: action, mutating: mutating, handle: h}
	}
	ops := []operation{
		op("GetInstanceProfile", false, (*Emulator).getInstanceProfile),
		op("GetRole", false, (*Emulator).getRole),
		op("PutRolePolicy", true, (*Emulator).putRolePolicy),
		op("GetRolePolicy", false, (*Emulator).getRolePolicy),
		op("ListRolePolicies", false, (*Emulator).listRolePolicies),
		op("DeleteRolePolicy", true, (*Emulator).deleteRolePolicy),
		op("GetUser", false, (*Emulator).getUser),
		op("GetAccessKeyLastUsed", false, (*Emulator).getAccessKeyLastUsed),
		op("ListAccessKeys", false, (*Emulator).listAccessKeys),
		op("UpdateAccessKey", true, (*Emulator).updateAccessKey),
		op("PutUserPolicy", true, (*Emulator).putUserPolicy),
		op("GetUserPolicy", false, (*Emulator).getUserPolicy),
		op("ListUserPolicies", false, (*Emulator).listUserPolicies),
		op("DeleteUserPolicy", true, (*Emulator).deleteUserPolicy),
		op("GetLoginProfile", false, (*Emulator).getLoginProfile),
		op("DeleteLoginProfile", true, (*Emulator).deleteLoginProfile),
		op("ListMFADevices", false, (*Emulator).listMFADevices),
		op("DeactivateMFADevice", true, (*Emulator).deactivateMFADevice),
		op("AttachUserPolicy", true, (*Emulator).attachUserPolicy),
		op("DetachUserPolicy", true, (*Emulator).detachUserPolicy),
		op("ListAttachedUserPolicies", false, (*Emulator).listAttachedUserPolicies),
		op("UpdateAssumeRolePolicy", true, (*Emulator).updateAssumeRolePolicy),
	}
	// The EC2 and STS operations that exist for IAM's sake (instance
	// profile associations, access key lookups) live in files of their
	// own and are registered with IAM's, so that the emulator's service
	// files other teams edit need no change.
	return slices.Concat(ops, ec2IAMOperations(), stsKeyOperations())
}

// Inline policy size quotas: the aggregate of a principal's inline
// policies, in characters not counting white space (IAM and STS quotas,
// "Role policy size cannot exceed 10,240 characters", "User policy size
// cannot exceed 2,048 characters").
const (
	userInlinePolicyQuota = 2048
	roleInlinePolicyQuota = 10240
	// trustPolicyQuota is the default AssumeRolePolicySizeQuota.
	trustPolicyQuota = 2048
)

// policySize counts a policy document as IAM does against its quotas:
// every character but white space.
func policySize(doc string) int {
	n := 0
	for _, r := range doc {
		if !unicode.IsSpace(r) {
			n++
		}
	}
	return n
}

// inlineSizeWith is the aggregate size of policies once name holds doc.
func inlineSizeWith(policies map[string]string, name, doc string) int {
	total := policySize(doc)
	for k, v := range policies {
		if k != name {
			total += policySize(v)
		}
	}
	return total
}

func errLimitExceeded(format string, args ...any) *apiError {
	return clientErr(http.StatusConflict, "LimitExceeded", format, args...)
}

// Lag keys of IAM resources (SetConsistencyLag): IAM names share no
// namespace with EC2 ids, so they are prefixed.
func roleLagKey(name string) string    { return "iam-role/" + name }
func profileLagKey(name string) string { return "iam-instance-profile/" + name }

// serviceLinkedPath is the path of service-linked roles, which only the
// service that owns them may change (UnmodifiableEntity).
const serviceLinkedPath = "/aws-service-role/"

// ssoRolePathPrefix is where IAM Identity Center puts the roles of its
// permission sets (AWSReservedSSO_<permission set>_<id>).
const ssoRolePathPrefix = "/aws-reserved/sso.amazonaws.com/"

func unmodifiable(role *Role) *apiError {
	if !strings.HasPrefix(role.Path, serviceLinkedPath) {
		return nil
	}
	return clientErr(http.StatusBadRequest, "UnmodifiableEntity",
		"Cannot perform the operation on the protected role '%s' - this role is only modifiable by AWS", role.Name)
}

func noSuchEntity(format string, args ...any) *apiError {
	return clientErr(http.StatusNotFound, "NoSuchEntity", format, args...)
}

func required(r *request, name string) (string, *apiError) {
	v := r.p.get(name)
	if v == "" {
		return "", errValidation("1 validation error detected: Value null at '%s' failed to satisfy constraint: Member must not be null", name)
	}
	return v, nil
}

func (e *Emulator) role(r *request) (*Role, *apiError) {
	name, err := required(r, "RoleName")
	if err != nil {
		return nil, err
	}
	role, ok := e.w.roles[name]
	if !ok || e.notYetVisible(roleLagKey(name)) {
		return nil, noSuchEntity("The role with name %s cannot be found.", name)
	}
	return role, nil
}

// user resolves UserName, defaulting to the caller as IAM does.
func (e *Emulator) user(r *request) (*User, *apiError) {
	name := r.p.get("UserName")
	if name == "" {
		name = r.caller.userName
	}
	if name == "" {
		return nil, errValidation("Must specify userName when calling with non-User credentials")
	}
	u, ok := e.w.users[name]
	if !ok {
		return nil, noSuchEntity("The user with name %s cannot be found.", name)
	}
	return u, nil
}

func tagMembers(tags map[string]string) node {
	var items []node
	for _, k := range sortedKeys(tags) {
		items = append(items, member(leaf("Key", k), leaf("Value", tags[k])))
	}
	if len(items) == 0 {
		return node{omit: true}
	}
	return members("Tags", items)
}

func roleFields(role *Role) []node {
	return []node{
		leaf("Path", role.Path),
		leaf("RoleName", role.Name),
		leaf("RoleId", role.ID),
		leaf("Arn", role.ARN),
		timeLeaf("CreateDate", role.CreateDate),
		leaf("AssumeRolePolicyDocument", rfc3986Escape(role.AssumeRolePolicyDocument)),
		intLeaf("MaxSessionDuration", 3600),
		tagMembers(role.Tags),
	}
}

func (e *Emulator) getInstanceProfile(r *request) ([]node, *apiError) {
	name, err := required(r, "InstanceProfileName")
	if err != nil {
		return nil, err
	}
	p, ok := e.w.profiles[name]
	if !ok || e.notYetVisible(profileLagKey(name)) {
		return nil, noSuchEntity("Instance Profile %s cannot be found.", name)
	}
	var roles []node
	for _, rn := range p.RoleNames {
		if role, ok := e.w.roles[rn]; ok {
			roles = append(roles, member(roleFields(role)...))
		}
	}
	return []node{el("InstanceProfile",
		leaf("Path", p.Path),
		leaf("InstanceProfileName", p.Name),
		leaf("InstanceProfileId", p.ID),
		leaf("Arn", p.ARN),
		timeLeaf("CreateDate", p.CreateDate),
		members("Roles", roles),
	)}, nil
}

func (e *Emulator) getRole(r *request) ([]node, *apiError) {
	role, err := e.role(r)
	if err != nil {
		return nil, err
	}
	return []node{el("Role", roleFields(role)...)}, nil
}

// policyInput reads PolicyName and a PolicyDocument that must be JSON, as
// IAM insists (MalformedPolicyDocument otherwise).
func policyInput(r *request, withDoc bool) (name, doc string, aerr *apiError) {
	if name, aerr = required(r, "PolicyName"); aerr != nil {
		return "", "", aerr
	}
	if !withDoc {
		return name, "", nil
	}
	if doc, aerr = required(r, "PolicyDocument"); aerr != nil {
		return "", "", aerr
	}
	if !json.Valid([]byte(doc)) {
		return "", "", clientErr(http.StatusBadRequest, "MalformedPolicyDocument", "Syntax errors in policy.")
	}
	return name, doc, nil
}

func (e *Emulator) putRolePolicy(r *request) ([]node, *apiError) {
	role, err := e.role(r)
	if err != nil {
		return nil, err
	}
	name, doc, err := policyInput(r, true)
	if err != nil {
		return nil, err
	}
	if err := unmodifiable(role); err != nil {
		return nil, err
	}
	if inlineSizeWith(role.InlinePolicies, name, doc) > roleInlinePolicyQuota {
		return nil, errLimitExceeded("Maximum policy size of %d bytes exceeded for role %s", roleInlinePolicyQuota, role.Name)
	}
	role.InlinePolicies[name] = doc
	return nil, nil
}

func (e *Emulator) getRolePolicy(r *request) ([]node, *apiError) {
	role, err := e.role(r)
	if err != nil {
		return nil, err
	}
	name, _, err := policyInput(r, false)
	if err != nil {
		return nil, err
	}
	doc, ok := role.InlinePolicies[name]
	if !ok {
		return nil, noSuchEntity("The role policy with name %s cannot be found.", name)
	}
	return []node{leaf("RoleName", role.Name), leaf("PolicyName", name), leaf("PolicyDocument", rfc3986Escape(doc))}, nil
}

func (e *Emulator) listRolePolicies(r *request) ([]node, *apiError) {
	role, err := e.role(r)
	if err != nil {
		return nil, err
	}
	return []node{memberStrings("PolicyNames", sortedKeys(role.InlinePolicies)), boolLeaf("IsTruncated", false)}, nil
}

func (e *Emulator) deleteRolePolicy(r *request) ([]node, *apiError) {
	role, err := e.role(r)
	if err != nil {
		return nil, err
	}
	name, _, err := policyInput(r, false)
	if err != nil {
		return nil, err
	}
	if _, ok := role.InlinePolicies[name]; !ok {
		return nil, noSuchEntity("The role policy with name %s cannot be found.", name)
	}
	if err := unmodifiable(role); err != nil {
		return nil, err
	}
	delete(role.InlinePolicies, name)
	return nil, nil
}

func (e *Emulator) getUser(r *request) ([]node, *apiError) {
	u, err := e.user(r)
	if err != nil {
		return nil, err
	}
	return []node{el("User",
		leaf("Path", u.Path),
		leaf("UserName", u.Name),
		leaf("UserId", u.ID),
		leaf("Arn", u.ARN),
		timeLeaf("CreateDate", u.CreateDate),
		tagMembers(u.Tags),
	)}, nil
}

// accessKey finds a key by id across users.
func (e *Emulator) accessKey(id string) (*User, *AccessKey) {
	for _, u := range e.w.users {
		for i := range u.AccessKeys {
			if u.AccessKeys[i].ID == id {
				return u, &u.AccessKeys[i]
			}
		}
	}
	return nil, nil
}

func (e *Emulator) getAccessKeyLastUsed(r *request) ([]node, *apiError) {
	id, err := required(r, "AccessKeyId")
	if err != nil {
		return nil, err
	}
	owner := ""
	u, k := e.accessKey(id)
	if k != nil {
		owner = u.Name
	} else if k = e.rootKey(id); k != nil {
		// The root user's keys belong to no IAM user; IAM names the
		// owner "root".
		owner = "root"
	}
	if k == nil {
		return nil, noSuchEntity("The Access Key with id %s cannot be found.", id)
	}
	service, region := k.LastUsedService, k.LastUsedRegion
	if service == "" {
		service, region = "N/A", "N/A"
	}
	return []node{
		leaf("UserName", owner),
		el("AccessKeyLastUsed", timeLeaf("LastUsedDate", k.LastUsedDate), leaf("ServiceName", service), leaf("Region", region)),
	}, nil
}

func (e *Emulator) listAccessKeys(r *request) ([]node, *apiError) {
	u, err := e.user(r)
	if err != nil {
		return nil, err
	}
	var items []node
	for _, k := range u.AccessKeys {
		items = append(items, member(leaf("UserName", u.Name), leaf("AccessKeyId", k.ID), leaf("Status", k.Status), timeLeaf("CreateDate", k.CreateDate)))
	}
	return []node{members("AccessKeyMetadata", items), boolLeaf("IsTruncated", false)}, nil
}

func (e *Emulator) updateAccessKey(r *request) ([]node, *apiError) {
	id, err := required(r, "AccessKeyId")
	if err != nil {
		return nil, err
	}
	status, err := required(r, "Status")
	if err != nil {
		return nil, err
	}
	if status != "Active" && status != "Inactive" {
		return nil, errValidation("1 validation error detected: Value '%s' at 'status' failed to satisfy constraint: Member must satisfy enum value set: [Active, Inactive]", status)
	}
	owner, k := e.accessKey(id)
	if k == nil || (r.p.get("UserName") != "" && owner.Name != r.p.get("UserName")) {
		return nil, noSuchEntity("The Access Key with id %s cannot be found.", id)
	}
	k.Status = status
	return nil, nil
}

func (e *Emulator) putUserPolicy(r *request) ([]node, *apiError) {
	u, err := e.user(r)
	if err != nil {
		return nil, err
	}
	name, doc, err := policyInput(r, true)
	if err != nil {
		return nil, err
	}
	if inlineSizeWith(u.InlinePolicies, name, doc) > userInlinePolicyQuota {
		return nil, errLimitExceeded("Maximum policy size of %d bytes exceeded for user %s", userInlinePolicyQuota, u.Name)
	}
	u.InlinePolicies[name] = doc
	return nil, nil
}

func (e *Emulator) getUserPolicy(r *request) ([]node, *apiError) {
	u, err := e.user(r)
	if err != nil {
		return nil, err
	}
	name, _, err := policyInput(r, false)
	if err != nil {
		return nil, err
	}
	doc, ok := u.InlinePolicies[name]
	if !ok {
		return nil, noSuchEntity("The user policy with name %s cannot be found.", name)
	}
	return []node{leaf("UserName", u.Name), leaf("PolicyName", name), leaf("PolicyDocument", rfc3986Escape(doc))}, nil
}

func (e *Emulator) listUserPolicies(r *request) ([]node, *apiError) {
	u, err := e.user(r)
	if err != nil {
		return nil, err
	}
	return []node{memberStrings("PolicyNames", sortedKeys(u.InlinePolicies)), boolLeaf("IsTruncated", false)}, nil
}

func (e *Emulator) deleteUserPolicy(r *request) ([]node, *apiError) {
	u, err := e.user(r)
	if err != nil {
		return nil, err
	}
	name, _, err := policyInput(r, false)
	if err != nil {
		return nil, err
	}
	if _, ok := u.InlinePolicies[name]; !ok {
		return nil, noSuchEntity("The user policy with name %s cannot be found.", name)
	}
	delete(u.InlinePolicies, name)
	return nil, nil
}

func (e *Emulator) getLoginProfile(r *request) ([]node, *apiError) {
	u, err := e.user(r)
	if err != nil {
		return nil, err
	}
	if u.LoginProfile == nil {
		return nil, noSuchEntity("Login Profile for User %s cannot be found.", u.Name)
	}
	return []node{el("LoginProfile",
		leaf("UserName", u.Name),
		timeLeaf("CreateDate", u.LoginProfile.CreateDate),
		boolLeaf("PasswordResetRequired", u.LoginProfile.PasswordResetRequired),
	)}, nil
}

func (e *Emulator) deleteLoginProfile(r *request) ([]node, *apiError) {
	u, err := e.user(r)
	if err != nil {
		return nil, err
	}
	if u.LoginProfile == nil {
		return nil, noSuchEntity("Login Profile for User %s cannot be found.", u.Name)
	}
	u.LoginProfile = nil
	return nil, nil
}

func (e *Emulator) listMFADevices(r *request) ([]node, *apiError) {
	u, err := e.user(r)
	if err != nil {
		return nil, err
	}
	var items []node
	for _, d := range u.MFADevices {
		items = append(items, member(leaf("UserName", u.Name), leaf("SerialNumber", d.SerialNumber), timeLeaf("EnableDate", d.EnableDate)))
	}
	return []node{members("MFADevices", items), boolLeaf("IsTruncated", false)}, nil
}

func (e *Emulator) deactivateMFADevice(r *request) ([]node, *apiError) {
	serial, err := required(r, "SerialNumber")
	if err != nil {
		return nil, err
	}
	u, err := e.user(r)
	if err != nil {
		return nil, err
	}
	idx := slices.IndexFunc(u.MFADevices, func(d MFADevice) bool { return d.SerialNumber == serial })
	if idx < 0 {
		return nil, noSuchEntity("MFA Device with serial number %s does not exist for user %s.", serial, u.Name)
	}
	u.MFADevices = slices.Delete(u.MFADevices, idx, idx+1)
	return nil, nil
}

func (e *Emulator) rootKey(id string) *AccessKey {
	for i := range e.w.rootKeys {
		if e.w.rootKeys[i].ID == id {
			return &e.w.rootKeys[i]
		}
	}
	return nil
}

// AddRootAccessKey creates an access key of the account's root user: a
// long-term AKIA key that belongs to no IAM user, so UpdateAccessKey and
// ListAccessKeys of any user never see it.
func (e *Emulator) AddRootAccessKey() AccessKey {
	e.mu.Lock()
	defer e.mu.Unlock()
	k := AccessKey{ID: e.newKeyID("AKIA"), Status: "Active", CreateDate: e.clock().Add(-400 * 24 * time.Hour).Truncate(time.Second), SecretAccessKey: e.newSecret(40)}
	e.w.rootKeys = append(e.w.rootKeys, k)
	return k
}

// awsManagedPolicies are the AWS managed policies the emulator knows, by
// name; AttachUserPolicy refuses any other ARN as IAM refuses a policy
// that does not exist.
var awsManagedPolicies = []string{"AWSDenyAll", "AdministratorAccess", "ReadOnlyAccess", "SecurityAudit", "AmazonS3ReadOnlyAccess"}

func (e *Emulator) managedPolicy(r *request) (string, *apiError) {
	arn, err := required(r, "PolicyArn")
	if err != nil {
		return "", err
	}
	name, ok := strings.CutPrefix(arn, "arn:aws:iam::aws:policy/")
	if !ok || !slices.Contains(awsManagedPolicies, name) {
		return "", noSuchEntity("Policy %s does not exist or is not attachable.", arn)
	}
	return arn, nil
}

func (e *Emulator) attachUserPolicy(r *request) ([]node, *apiError) {
	u, err := e.user(r)
	if err != nil {
		return nil, err
	}
	arn, err := e.managedPolicy(r)
	if err != nil {
		return nil, err
	}
	// Attaching a policy already attached changes nothing and succeeds.
	if !slices.Contains(u.AttachedPolicies, arn) {
		if len(u.AttachedPolicies) >= 10 {
			return nil, errLimitExceeded("Cannot exceed quota for PoliciesPerUser: 10")
		}
		u.AttachedPolicies = append(u.AttachedPolicies, arn)
	}
	return nil, nil
}

func (e *Emulator) detachUserPolicy(r *request) ([]node, *apiError) {
	u, err := e.user(r)
	if err != nil {
		return nil, err
	}
	arn, err := required(r, "PolicyArn")
	if err != nil {
		return nil, err
	}
	i := slices.Index(u.AttachedPolicies, arn)
	if i < 0 {
		return nil, noSuchEntity("Policy %s was not found.", arn)
	}
	u.AttachedPolicies = slices.Delete(u.AttachedPolicies, i, i+1)
	return nil, nil
}

func (e *Emulator) listAttachedUserPolicies(r *request) ([]node, *apiError) {
	u, err := e.user(r)
	if err != nil {
		return nil, err
	}
	var items []node
	for _, arn := range u.AttachedPolicies {
		items = append(items, member(leaf("PolicyName", arn[strings.LastIndex(arn, "/")+1:]), leaf("PolicyArn", arn)))
	}
	return []node{members("AttachedPolicies", items), boolLeaf("IsTruncated", false)}, nil
}

func (e *Emulator) updateAssumeRolePolicy(r *request) ([]node, *apiError) {
	role, err := e.role(r)
	if err != nil {
		return nil, err
	}
	doc, err := required(r, "PolicyDocument")
	if err != nil {
		return nil, err
	}
	if !json.Valid([]byte(doc)) {
		return nil, clientErr(http.StatusBadRequest, "MalformedPolicyDocument", "Syntax errors in policy.")
	}
	if err := unmodifiable(role); err != nil {
		return nil, err
	}
	if n := policySize(doc); n > trustPolicyQuota {
		return nil, errLimitExceeded("Cannot exceed quota for ACLSizePerRole: %d", trustPolicyQuota)
	}
	role.AssumeRolePolicyDocument = doc
	// The emulator's AssumeRole reads TrustedPrincipals, not the
	// document: a trust policy that denies AssumeRole to every principal
	// (Cordon's lock) must make AssumeRole refuse, and putting back one
	// without the deny must let the same callers in again.
	switch locked := deniesAssumeToAll(doc); {
	case locked && role.trustBeforeLock == nil:
		role.trustBeforeLock = append([]string{}, role.TrustedPrincipals...)
		role.TrustedPrincipals = []string{"arn:aws:iam::" + e.w.account + ":role/nobody-trust-policy-denies-all"}
	case !locked && role.trustBeforeLock != nil:
		role.TrustedPrincipals, role.trustBeforeLock = role.trustBeforeLock, nil
	}
	return nil, nil
}

// deniesAssumeToAll reports whether a trust policy has an unconditional
// Deny of sts:AssumeRole to Principal "*".
func deniesAssumeToAll(doc string) bool {
	var d struct {
		Statement []struct {
			Effect    string
			Principal any
			Action    any
			Condition map[string]any
		}
	}
	if json.Unmarshal([]byte(doc), &d) != nil {
		return false
	}
	for _, st := range d.Statement {
		if st.Effect != "Deny" || len(st.Condition) > 0 || fmt.Sprint(st.Principal) != "*" {
			continue
		}
		actions := []string{}
		switch a := st.Action.(type) {
		case string:
			actions = append(actions, a)
		case []any:
			for _, v := range a {
				s, _ := v.(string)
				actions = append(actions, s)
			}
		}
		for _, a := range actions {
			if a == "*" || strings.EqualFold(a, "sts:AssumeRole") || strings.EqualFold(a, "sts:*") {
				return true
			}
		}
	}
	return false
}
