package source_test

import (
	"context"
	"strings"
	"testing"

	"github.com/cordon-ir/cordon/actions"
	"github.com/cordon-ir/cordon/intake/intaketest"
	"github.com/cordon-ir/cordon/intake/source"
	"github.com/cordon-ir/cordon/internal/awsemu"
	"github.com/cordon-ir/cordon/triggers"
)

// fetch parses event, fetches its findings from emu's sources and
// matches each with what the event claims.
func fetch(t *testing.T, emu *awsemu.Emulator, event []byte, change func(*triggers.Finding)) ([]triggers.Finding, []string) {
	t.Helper()
	fs, err := triggers.ParseEvent(event)
	if err != nil {
		t.Fatal(err)
	}
	src := source.New(actions.NewAWSClientSource(actions.AWSOptions{Base: emu.AWSConfig(), Endpoint: emu.URL()}), "verify")
	var got []triggers.Finding
	var why []string
	for _, f := range fs {
		if change != nil {
			change(&f)
		}
		held, err := src.Fetch(context.Background(), "", f)
		if err != nil {
			t.Fatal(err)
		}
		g, reason := source.Match(source.ClaimOf(f), held)
		got, why = append(got, g), append(why, reason)
	}
	return got, why
}

// What each source holds is matched with what an event (or a signed
// start) claims: the same finding passes, with the source's fields; a
// finding the source never held, or holds about another target, type,
// account or region, is named with the difference; an archived one is
// changed since.
func TestFetchAndMatch(t *testing.T) {
	emu := awsemu.NewTestServer(t, awsemu.Options{})
	f := intaketest.Finding{ID: "held", Region: emu.Region(), Instance: "i-0123456789abcdef0", Count: 4}
	gd := f.GuardDuty(t)
	intaketest.Seed(t, emu, gd)
	sh := f.SecurityHub(t)
	intaketest.Seed(t, emu, sh)
	health := intaketest.Event(t, "health-abuse.json", nil)
	// AWS names a global event's region "global": the entity's is the
	// finding's, in the event and in the API alike.
	intaketest.Seed(t, emu, health, func(d map[string]any) { d["eventRegion"] = "global" })

	for name, event := range map[string][]byte{"guardduty": gd, "securityhub": sh, "health": health} {
		got, why := fetch(t, emu, event, nil)
		for i, w := range why {
			if w != "" || got[i].Key == "" || got[i].Source != name {
				t.Errorf("%s finding %d as held: %q, %+v", name, i, w, got[i])
			}
		}
	}
	got, _ := fetch(t, emu, gd, nil)
	if got[0].Count != 4 || got[0].InstanceID != f.Instance {
		t.Errorf("the source's fields: %+v", got[0])
	}

	for _, c := range []struct {
		name   string
		event  []byte
		change func(*triggers.Finding)
		want   string
	}{
		{"never held", intaketest.Finding{ID: "forged", Region: emu.Region(), Instance: f.Instance}.GuardDuty(t), nil,
			"the source does not return this finding (GuardDuty in account 123456789012 has no forged)"},
		{"another instance", gd, func(g *triggers.Finding) {
			g.TargetKey = "123456789012/" + emu.Region() + "/instance/i-0fedcba9876543210"
		},
			`target "123456789012/` + emu.Region() + `/instance/i-0123456789abcdef0", not "123456789012/` + emu.Region() + `/instance/i-0fedcba9876543210"`},
		{"another type", gd, func(g *triggers.Finding) { g.Type = "Recon:EC2/PortProbeUnprotectedPort" }, "type "},
		{"another health entity", health, func(g *triggers.Finding) { g.TargetKey += "0" }, "target "},
		{"another security hub product", sh, func(g *triggers.Finding) { g.ProductARN = "arn:aws:securityhub:us-east-1::product/aws/inspector" },
			"the source does not return this finding (Security Hub"},
	} {
		_, why := fetch(t, emu, c.event, c.change)
		if !strings.Contains(why[0], c.want) {
			t.Errorf("%s: %q, want %q", c.name, why[0], c.want)
		}
	}

	archived := intaketest.Finding{ID: "archived", Region: emu.Region(), Instance: f.Instance}.GuardDuty(t)
	intaketest.Seed(t, emu, archived, func(d map[string]any) { d["service"].(map[string]any)["archived"] = true })
	if _, why := fetch(t, emu, archived, nil); !strings.Contains(why[0], "changed since the event was sent") {
		t.Errorf("archived at the source: %q", why[0])
	}
}
