package awsemu

import (
	"encoding/json"
	"net/http"
	"slices"
)

func iamOperations() []operation {
	op := func(action string, mutating bool, h func(*Emulator, *request) ([]node, *apiError)) operation {
		return operation{service: ServiceIAM, action: action, mutating: mutating, handle: h}
	}
	return []operation{
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
	}
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
	if !ok {
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
	if !ok {
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
	u, k := e.accessKey(id)
	if k == nil {
		return nil, noSuchEntity("The Access Key with id %s cannot be found.", id)
	}
	service, region := k.LastUsedService, k.LastUsedRegion
	if service == "" {
		service, region = "N/A", "N/A"
	}
	return []node{
		leaf("UserName", u.Name),
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
