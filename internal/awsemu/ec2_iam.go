package awsemu

import "strings"

// ec2IAMOperations are the EC2 operations on instance profile
// associations that exist for IAM's sake (see iamOperations).
func ec2IAMOperations() []operation {
	return []operation{
		{service: ServiceEC2, action: "ReplaceIamInstanceProfileAssociation", mutating: true, handle: (*Emulator).replaceIamInstanceProfileAssociation},
	}
}

// profileBySpec resolves IamInstanceProfile.Name or .Arn as EC2 does, and
// answers like EC2 for a profile it cannot see (one that does not exist,
// or one IAM has just created: EC2 reads IAM eventually consistently).
func (e *Emulator) profileBySpec(r *request) (*InstanceProfile, *apiError) {
	name, arn := r.p.get("IamInstanceProfile.Name"), r.p.get("IamInstanceProfile.Arn")
	switch {
	case name == "" && arn == "":
		return nil, errMissingParameter("IamInstanceProfile")
	case name == "":
		name = arn[strings.LastIndex(arn, "/")+1:]
	}
	p, ok := e.w.profiles[name]
	if !ok || (arn != "" && p.ARN != arn) || e.notYetVisible(profileLagKey(name)) {
		if arn != "" {
			return nil, errInvalidParameter("Value (%s) for parameter iamInstanceProfile.arn is invalid. Invalid IAM Instance Profile ARN", arn)
		}
		return nil, errInvalidParameter("Value (%s) for parameter iamInstanceProfile.name is invalid. Invalid IAM Instance Profile name", name)
	}
	return p, nil
}

// replaceIamInstanceProfileAssociation swaps the profile of an instance:
// the association gets a new id, as in EC2, so a retry of a replacement
// that was made meets InvalidAssociationID.NotFound.
func (e *Emulator) replaceIamInstanceProfileAssociation(r *request) ([]node, *apiError) {
	target, aerr := e.profileAssociation(r)
	if aerr != nil {
		return nil, aerr
	}
	p, err := e.profileBySpec(r)
	if err != nil {
		return nil, err
	}
	if err := r.commit(); err != nil {
		return nil, err
	}
	target.InstanceProfileARN, target.ProfileAssociationID = p.ARN, e.newID("iip-assoc")
	return []node{e.associationNode("iamInstanceProfileAssociation", target, "associating")}, nil
}
