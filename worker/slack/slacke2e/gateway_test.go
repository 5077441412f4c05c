package slacke2e

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/cordon-ir/cordon/internal/awsemu"
	"github.com/cordon-ir/cordon/runctl"
	"github.com/cordon-ir/cordon/worker/slack"
	"github.com/cordon-ir/cordon/worker/slack/slackfake"
	"github.com/cordon-ir/cordon/workflows"
)

func seedOne(t *testing.T) string {
	t.Helper()
	fleet, err := shared.emu.SeedFleet(awsemu.FleetSpec{Instances: 1, NetworkInterfaces: 1, Volumes: 1, WithInstanceRole: true, Compromised: []int{0}})
	if err != nil {
		t.Fatal(err)
	}
	return fleet.InstanceIDs[0]
}

// The validator, not Slack, decides: a self-approval, a member outside
// the gate's group and a stranger are refused with the gate unchanged; a
// member of the group approves, the message says so, the run goes on.
func TestSlackDecisionsAtAGate(t *testing.T) {
	target := seedOne(t)
	runID := startFromSlack(t, "UALICE", "run ec2-compromise instance_id="+target+" --incident=INC-SLACK-1")
	s, err := runctl.State(context.Background(), shared.client, runID)
	if err != nil {
		t.Fatal(err)
	}
	if s.Meta.Requester != "alice" || s.Meta.Channel != "slack" || s.Meta.Incident != "INC-SLACK-1" {
		t.Fatalf("run meta %+v", s.Meta)
	}
	m := waitGateMessage(t, runID, "isolate")
	hash := gateState(t, runID, "isolate").PreviewHash
	if m.Ref.PreviewHash != hash {
		t.Fatalf("button binds preview %s, gate shows %s", m.Ref.PreviewHash, hash)
	}

	refusals := []struct{ user, want string }{
		{"UALICE", "cannot approve its gates"},  // requested the run
		{"UDAVE", "not an approver of step"},    // leads only, gate wants csirt-oncall
		{"USTRANGER", "not in Cordon's roster"}, // no member
	}
	for _, r := range refusals {
		click(t, r.user, m)
		if got := lastEphemeral(r.user); !strings.Contains(got, r.want) {
			t.Errorf("%s was told %q, want %q", r.user, got, r.want)
		}
		if g := gateState(t, runID, "isolate"); g.Status != workflows.GateWaiting || len(g.Approvals) != 0 {
			t.Errorf("after %s's click the gate is %s with %d approval(s)", r.user, g.Status, len(g.Approvals))
		}
		if up := updatesOf(m.TS); len(up) != 0 {
			t.Errorf("message updated after %s's refused click", r.user)
		}
	}
	// A forged click (wrong signing secret) is 401 and changes nothing.
	body := slackfake.Click(team, "UBOB", m.Channel, m.TS, "cordon_approve", m.Value)
	req, _ := http.NewRequest(http.MethodPost, shared.gateway.srv.URL+slack.PathInteractions, strings.NewReader(string(body)))
	slack.SignRequest(req.Header, "forged", body, time.Now())
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("forged click: %d", resp.StatusCode)
	}

	click(t, "UBOB", m)
	// Bob is told what the run decided, not only that it took his click
	// (issue 13, item 2): the preview before acting matched.
	if got := lastEphemeral("UBOB"); !strings.Contains(got, "approved isolate: the change is as approved; acting now") {
		t.Errorf("bob was told %q", got)
	}
	g := gateState(t, runID, "isolate")
	if g.Status != workflows.GateApproved || len(g.Approvals) != 1 || g.Approvals[0].Actor != "bob" || g.Approvals[0].Channel != "slack" {
		t.Fatalf("gate after bob's click: %+v", g)
	}
	// The message now says who approved, and has no buttons left.
	deadline := time.Now().Add(30 * time.Second)
	for {
		up := updatesOf(m.TS)
		if len(up) > 0 && strings.Contains(up[len(up)-1].Blocks(), "Approved by \\u003c@UBOB\\u003e") && !strings.Contains(up[len(up)-1].Blocks(), "cordon_approve") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("gate message not updated after approval: %+v", up)
		}
		time.Sleep(50 * time.Millisecond)
	}
	// The run went on: it reaches its next gate.
	waitGateMessage(t, runID, "revoke_sessions")
}

// /cordon status answers from the run's state.
func TestSlashStatus(t *testing.T) {
	target := seedOne(t)
	runID := startFromSlack(t, "UBOB", "run ec2-compromise instance_id="+target)
	waitGateMessage(t, runID, "isolate")
	command(t, "UCAROL", "status "+runID)
	if got := lastEphemeral("UCAROL"); !strings.Contains(got, "`isolate` awaiting_approval") || !strings.Contains(got, "<@UBOB>") {
		t.Errorf("status: %q", got)
	}
}
