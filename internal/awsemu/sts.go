package awsemu

import (
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
	return []node{leaf("UserId", r.caller.userID), leaf("Account", e.account), leaf("Arn", r.caller.arn)}, nil
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
	var role *Role
	for _, candidate := range e.w.roles {
		if candidate.ARN == arn {
			role = candidate
		}
	}
	denied := clientErr(http.StatusForbidden, "AccessDenied", "User: %s is not authorized to perform: sts:AssumeRole on resource: %s", r.caller.arn, arn)
	if role == nil || (role.RequiredExternalID != "" && r.p.get("ExternalId") != role.RequiredExternalID) {
		return nil, denied
	}
	akid := e.newKeyID("ASIA")
	expiration := r.now.Add(duration).Truncate(time.Second)
	e.w.sessions[akid] = &session{roleARN: role.ARN, roleID: role.ID, sessionName: sessionName, expiration: expiration}
	return []node{
		el("Credentials",
			leaf("AccessKeyId", akid),
			leaf("SecretAccessKey", e.newSecret(40)),
			leaf("SessionToken", "FwoGZXIvYXdzE"+e.newSecret(120)),
			timeLeaf("Expiration", expiration),
		),
		el("AssumedRoleUser",
			leaf("AssumedRoleId", role.ID+":"+sessionName),
			leaf("Arn", "arn:aws:sts::"+e.account+":assumed-role/"+role.Name+"/"+sessionName),
		),
		intLeaf("PackedPolicySize", 0),
	}, nil
}
