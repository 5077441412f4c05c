// Package triggers turns the events AWS security services send through
// EventBridge (GuardDuty findings, Security Hub ASFF findings, AWS Health
// events) into one typed, normalised Finding, and decides, for compiled
// runbooks and their triggers, what each finding does: launch a run,
// propose one, rehearse one, or nothing, with the reason.
//
// It reads the documented event formats and knows their traps (the
// affected account is not the account that delivered the event, the
// region is the finding's and not the delivery region's, Health times are
// RFC 1123, GuardDuty types are rewritten inside ASFF). It calls no AWS
// API: fetching a finding again from its source before acting on it is
// the intake's job; the intake gives what the source APIs answer back to
// ParseGuardDutyFinding, ParseASFFFinding and ParseHealthEvent, so a
// fetched finding is normalised exactly as an event's.
package triggers

import (
	"github.com/cordon-ir/cordon/runbooks"
)

// Finding is a normalised finding. Its fields are the ones
// runbooks.FindingFields declares (a test keeps the two equal), plus
// what identifies it and why it is dropped whatever a trigger says.
type Finding struct {
	Source        string   `json:"source"`
	Product       string   `json:"product"`
	ID            string   `json:"id"`
	Type          string   `json:"type"`
	Types         []string `json:"types"`
	Title         string   `json:"title,omitempty"`
	Description   string   `json:"description,omitempty"`
	Account       string   `json:"account"`
	Region        string   `json:"region"`
	Severity      string   `json:"severity,omitempty"`
	SeverityScore int      `json:"severity_score"`
	FirstSeen     string   `json:"first_seen,omitempty"`
	LastSeen      string   `json:"last_seen,omitempty"`
	Count         int      `json:"count"`
	Resource      string   `json:"resource,omitempty"`
	ResourceARN   string   `json:"resource_arn,omitempty"`
	InstanceID    string   `json:"instance_id,omitempty"`
	AccessKeyID   string   `json:"access_key_id,omitempty"`
	UserName      string   `json:"user_name,omitempty"`
	EventTypeCode string   `json:"event_type_code,omitempty"`
	Status        string   `json:"status,omitempty"`

	// ProductARN is an ASFF finding's ProductArn: with its Id, what
	// Security Hub's GetFindings finds it by again.
	ProductARN string `json:"product_arn,omitempty"`
	// Key identifies the finding, not its delivery: GuardDuty
	// account/region/id (its Security Hub copy has the same key), ASFF
	// product + id, Health account + event ARN (+ the affected entity, so
	// each instance an abuse notice names is a finding of its own). The
	// intake handles each key once.
	Key string `json:"key,omitempty"`
	// TargetKey identifies what the finding is about: account, region,
	// resource kind and id ("" when the finding names no resource).
	TargetKey string `json:"target_key,omitempty"`
	// Drop, when set, says why this finding is never acted upon, whatever
	// a trigger says: a sample, an archived or suppressed finding, an ASFF
	// update that is not NEW, a closed Health event, an event kind Cordon
	// does not read.
	Drop string `json:"drop,omitempty"`
	// EventID is the EventBridge event's id (one per delivery, so it is
	// never part of the key).
	EventID string `json:"event_id,omitempty"`
}

// Fields is the finding as trigger expressions see it (finding.*).
func (f *Finding) Fields() map[string]any {
	types := make([]any, len(f.Types))
	for i, t := range f.Types {
		types[i] = t
	}
	return map[string]any{
		"source": f.Source, "product": f.Product, "id": f.ID, "type": f.Type, "types": types,
		"title": f.Title, "description": f.Description, "account": f.Account, "region": f.Region,
		"severity": f.Severity, "severity_score": f.SeverityScore, "first_seen": f.FirstSeen,
		"last_seen": f.LastSeen, "count": f.Count, "resource": f.Resource, "resource_arn": f.ResourceARN,
		"instance_id": f.InstanceID, "access_key_id": f.AccessKeyID, "user_name": f.UserName,
		"event_type_code": f.EventTypeCode, "status": f.Status,
	}
}

// finish fills the keys once the fields are known.
func (f *Finding) finish() {
	switch f.Source {
	case runbooks.SourceHealth:
		f.Key = "health/" + f.Account + "/" + f.ID
		if entity := firstNonEmpty(f.InstanceID, f.AccessKeyID, f.ResourceARN); entity != "" {
			// One key per affected entity: an abuse notice naming four
			// instances is four findings, each handled once (one key for
			// all would let the intake act on the first instance alone).
			// The instance id, not the entity's spelling (an ARN in the
			// event, perhaps an id from the API), so both read the same.
			f.Key += "/" + entity
		}
	case runbooks.SourceSecurityHub:
		// A GuardDuty finding's copy has had its key set from the ARN.
	case runbooks.SourceGuardDuty:
		f.Key = guardDutyKey(f.Account, f.Region, f.ID)
	}
	switch {
	case f.InstanceID != "":
		f.TargetKey = f.Account + "/" + f.Region + "/instance/" + f.InstanceID
	case f.AccessKeyID != "":
		// IAM is global: the region a key was seen in is not part of it.
		f.TargetKey = f.Account + "/access_key/" + f.AccessKeyID
	case f.ResourceARN != "":
		f.TargetKey = f.Account + "/" + f.Region + "/" + f.Resource + "/" + f.ResourceARN
	}
	if f.Count == 0 {
		f.Count = 1
	}
	if f.Types == nil && f.Type != "" {
		f.Types = []string{f.Type}
	}
}

func guardDutyKey(account, region, id string) string {
	return "guardduty/" + account + "/" + region + "/" + id
}

// severityOfScore maps GuardDuty's 1.0–10.0 score to its documented
// bands: low 1.0–3.9, medium 4.0–6.9, high 7.0–8.9, critical 9.0–10.0.
func severityOfScore(score float64) string {
	switch {
	case score >= 9:
		return "critical"
	case score >= 7:
		return "high"
	case score >= 4:
		return "medium"
	case score > 0:
		return "low"
	}
	return ""
}
