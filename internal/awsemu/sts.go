package awsemu

import (
	"encoding/json"
	"net/http"
	"regexp"
	"time"
)

func stsOperations() []operation {
	return []operation{
		{service: ServiceSTS, action: "GetCallerIdentity", handle: (*Emulator).getCallerIdentity},
		// AssumeRole changes no resource, so it is not a mutation; the
		// session it creates only affects who later callers are.
		{service: ServiceSTS, action: "AssumeRole", handle: (*Emulator).assumeRole},
	}
}

func (e *Emulator) getCallerIdentity(r *request) ([]node, *apiError) {
	return []node{leaf("UserId", r.caller.userID), leaf("Account", r.caller.account), leaf("Arn", r.caller.arn)}, nil
}

// sessionNamePattern is STS's constraint on RoleSessionName.
var sessionNamePattern = regexp.MustCompile(`^[\w+=,.@-]{2,64}$`)

func (e *Emulator) assumeRole(r *request) ([]node, *apiError) {
	arn, err := required(r, "RoleArn")
	if err != nil {
		return nil, err
	}
	sessionName, err := required(r, "RoleSessionName")
	if err != nil {
		return nil, err
	}
	if !sessionNamePattern.MatchString(sessionName) {
		return nil, errValidation("1 validation error detected: Value '%s' at 'roleSessionName' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\w+=,.@-]*", sessionName)
	}
	duration := time.Hour
	if n, ok, err := r.p.integer("DurationSeconds"); err != nil {
		return nil, err
	} else if ok {
		if n < 900 || n > 43200 {
			return nil, errValidation("The requested DurationSeconds exceeds the allowed range (900–43200).")
		}
		duration = time.Duration(n) * time.Second
	}
	// The role may be in another account: cross-account AssumeRole is how
	// a responder reaches the forensic account.
	var role *Role
	var home *world
	for _, account := range sortedKeys(e.worlds) {
		for _, candidate := range e.worlds[account].roles {
			if candidate.ARN == arn {
				role, home = candidate, e.worlds[account]
			}
		}
	}
	// Like STS, one answer for a role that does not exist, a trust policy
	// that does not name the caller and a wrong external id: a caller must
	// not learn which roles exist by trying.
	denied := clientErr(http.StatusForbidden, "AccessDenied", "User: %s is not authorized to perform: sts:AssumeRole on resource: %s", r.caller.arn, arn)
	if role == nil || !e.trusts(role, r.caller) || (role.RequiredExternalID != "" && r.p.get("ExternalId") != role.RequiredExternalID) {
		return nil, denied
	}
	akid := e.newKeyID("ASIA")
	expiration := r.now.Add(duration).Truncate(time.Second)
	home.sessions[akid] = &session{roleARN: role.ARN, roleID: role.ID, sessionName: sessionName, expiration: expiration}
	return []node{
		el("Credentials",
			leaf("AccessKeyId", akid),
			leaf("SecretAccessKey", e.newSecret(40)),
			leaf("SessionToken", "FwoGZXIvYXdzE"+e.newSecret(120)),
			timeLeaf("Expiration", expiration),
		),
		el("AssumedRoleUser",
			leaf("AssumedRoleId", role.ID+":"+sessionName),
			leaf("Arn", "arn:aws:sts::"+home.account+":assumed-role/"+role.Name+"/"+sessionName),
		),
		intLeaf("PackedPolicySize", 0),
	}, nil
}

// trusts reports whether role's trust policy lets caller assume it. A role
// without TrustedPrincipals trusts every caller (the emulator's default).
func (e *Emulator) trusts(role *Role, caller principal) bool {
	if len(role.TrustedPrincipals) == 0 {
		return true
	}
	for _, p := range role.TrustedPrincipals {
		switch {
		case p == "*", p == caller.arn, caller.roleARN != "" && p == caller.roleARN,
			p == "arn:aws:iam::"+caller.account+":root", p == caller.account:
			return true
		}
	}
	return false
}

// trustPolicy is the trust policy document of a role that trusts the
// given AWS principals, with the external id condition when one is set.
func trustPolicy(principals []string, externalID string) string {
	stmt := map[string]any{
		"Effect":    "Allow",
		"Principal": map[string]any{"AWS": principals},
		"Action":    "sts:AssumeRole",
	}
	if externalID != "" {
		stmt["Condition"] = map[string]any{"StringEquals": map[string]string{"sts:ExternalId": externalID}}
	}
	doc, err := json.Marshal(map[string]any{"Version": "2012-10-17", "Statement": []any{stmt}})
	if err != nil {
		panic(err) // maps of strings always marshal
	}
	return string(doc)
}
