package awsemu

import (
	"encoding/json"
	"strings"
)

// Resource policies (S3 bucket policies, KMS key policies) decide what
// another account may do with a resource. The emulator evaluates them only
// as far as that needs: Allow and Deny statements whose Principal names
// the caller (by "*", its account id, its account's root ARN, its user or
// role ARN, or its session ARN) and whose Action and Resource match.
// Statements with a Condition are not evaluated: they neither allow nor
// deny. NotPrincipal, NotAction and NotResource are not supported either:
// a statement using one is skipped. Identity policies are never evaluated;
// [Emulator.Deny] stands in for them.

// policyDocument is the part of an IAM policy document the emulator reads.
type policyDocument struct {
	Statement oneOrMany[policyStatement]
}

type policyStatement struct {
	Effect       string
	Principal    json.RawMessage
	Action       oneOrMany[string]
	Resource     oneOrMany[string]
	Condition    json.RawMessage
	NotPrincipal json.RawMessage
	NotAction    json.RawMessage
	NotResource  json.RawMessage
}

// oneOrMany reads a policy field that is a single value or a list.
type oneOrMany[T any] []T

func (o *oneOrMany[T]) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '[' {
		var many []T
		if err := json.Unmarshal(b, &many); err != nil {
			return err
		}
		*o = many
		return nil
	}
	var one T
	if err := json.Unmarshal(b, &one); err != nil {
		return err
	}
	*o = []T{one}
	return nil
}

// parsePolicy checks that doc is a policy document the evaluator can read.
func parsePolicy(doc string) (policyDocument, error) {
	var p policyDocument
	err := json.Unmarshal([]byte(doc), &p)
	return p, err
}

// policyDecision is the outcome of evaluating a resource policy.
type policyDecision int

const (
	policyNoMatch policyDecision = iota
	policyAllow
	policyDeny
)

// evaluate returns policyDeny when a Deny statement matches, else
// policyAllow when an Allow statement does, else policyNoMatch.
func (p policyDocument) evaluate(caller principal, action, resource string) policyDecision {
	out := policyNoMatch
	for _, s := range p.Statement {
		if len(s.Condition) > 0 || len(s.NotPrincipal) > 0 || len(s.NotAction) > 0 || len(s.NotResource) > 0 {
			continue
		}
		if !principalMatches(s.Principal, caller) || !anyMatches(s.Action, action, true) || !anyMatches(s.Resource, resource, false) {
			continue
		}
		switch s.Effect {
		case "Deny":
			return policyDeny
		case "Allow":
			out = policyAllow
		}
	}
	return out
}

func anyMatches(patterns []string, value string, foldCase bool) bool {
	for _, p := range patterns {
		if foldCase && globMatch(strings.ToLower(p), strings.ToLower(value)) || !foldCase && globMatch(p, value) {
			return true
		}
	}
	return false
}

// principalMatches reads "*" or {"AWS": one or many}; service principals
// never match a caller of the emulator.
func principalMatches(raw json.RawMessage, caller principal) bool {
	var star string
	if json.Unmarshal(raw, &star) == nil {
		return star == "*"
	}
	var byType struct {
		AWS oneOrMany[string]
	}
	if json.Unmarshal(raw, &byType) != nil {
		return false
	}
	for _, p := range byType.AWS {
		switch p {
		case "*", caller.account, "arn:aws:iam::" + caller.account + ":root", caller.arn:
			return true
		}
		if caller.roleARN != "" && p == caller.roleARN {
			return true
		}
	}
	return false
}
