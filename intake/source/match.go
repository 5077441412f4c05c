package source

import (
	"fmt"
	"strings"

	"github.com/cordon-ir/cordon/runbooks"
	"github.com/cordon-ir/cordon/triggers"
)

// Claim is what a finding was said to be, in the fields that say which
// finding it is and what it is about: the fields a trigger's decision and
// a run's targets follow from. Counts, times, titles and severities are
// not in it: a source updates them as the activity goes on (GuardDuty
// raises a finding's count), and what the source holds of them is what
// the triggers decide on anyway.
type Claim struct {
	Key       string
	Source    string
	ID        string
	Type      string
	Account   string
	Region    string
	TargetKey string
}

// ClaimOf is the claim a normalised finding makes (an event's body).
func ClaimOf(f triggers.Finding) Claim {
	return Claim{Key: f.Key, Source: f.Source, ID: f.ID, Type: f.Type, Account: f.Account, Region: f.Region, TargetKey: f.TargetKey}
}

// Match is the source's version of the claimed finding among got (what
// Fetch returned), or why there is none to act on: the source does not
// return it (forged, or deleted since), holds it archived or closed
// (changed since), or holds it about something else (another target,
// type, account or region than claimed). The intake drops an event's
// finding for that reason; the worker refuses a run started from it.
func Match(c Claim, got []triggers.Finding) (triggers.Finding, string) {
	// A Health event that named no entity stands for the event: its first
	// entity (the source may know more) is then the one acted on.
	wholeEvent := c.Source == runbooks.SourceHealth && c.TargetKey == ""
	for _, g := range got {
		if g.Key != c.Key && !wholeEvent {
			continue
		}
		if g.Drop != "" {
			return g, "changed since the event was sent: the source now holds " + g.Drop
		}
		if diff := differs(c, ClaimOf(g), wholeEvent); diff != "" {
			return g, "the source holds this finding differently: " + diff + ": forged, or not the finding the source reported"
		}
		return g, ""
	}
	return triggers.Finding{}, fmt.Sprintf("the source does not return this finding (%s in account %s has no %s): forged, or deleted since the event was sent",
		sourceName(c.Source), c.Account, c.ID)
}

// differs names the fields in which the source's claim s differs from
// the claim c, or "". Of a whole Health event only the event's own
// fields compare (its entities are the source's to name).
func differs(c, s Claim, wholeEvent bool) string {
	type field struct{ name, claimed, source string }
	fields := []field{{"source", c.Source, s.Source}, {"id", c.ID, s.ID}, {"type", c.Type, s.Type},
		{"account", c.Account, s.Account}}
	if !wholeEvent {
		fields = append(fields, field{"region", c.Region, s.Region}, field{"target", c.TargetKey, s.TargetKey})
	}
	var out []string
	for _, f := range fields {
		if f.claimed != f.source {
			out = append(out, fmt.Sprintf("%s %q, not %q", f.name, f.source, f.claimed))
		}
	}
	return strings.Join(out, ", ")
}

// sourceName is the source as people know it.
func sourceName(source string) string {
	return map[string]string{runbooks.SourceGuardDuty: "GuardDuty", runbooks.SourceSecurityHub: "Security Hub", runbooks.SourceHealth: "AWS Health"}[source]
}
