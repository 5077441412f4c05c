package e2e

import (
	"context"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/cordon-ir/cordon/internal/awsemu"
	"github.com/cordon-ir/cordon/runctl"
	"github.com/cordon-ir/cordon/workflows"
)

const gatedTagRunbook = `apiVersion: cordon.dev/v1
kind: Runbook
metadata:
  name: gated-tag
inputs:
  first: {type: string, required: true}
  second: {type: string, required: true}
approvals:
  approvers: {groups: [csirt-oncall]}
steps:
  - id: mark
    action: aws.ec2.tag
    approval: required
    with:
      resource_ids: ["${{ inputs.first }}", "${{ inputs.second }}"]
      tags: {cordon:hold: "INC-SUBSET"}
`

// The approved-subset rule on the real server: between the gate's preview
// and its approval, someone else made part of the approved change (here,
// tagged one of the two hosts by hand). The preview taken after the
// approval is a subset of what was approved, so the gate does not ask
// again; the history guards the rule's GetVersion in replay.
func TestApprovedSubsetPassesTheGate(t *testing.T) {
	ctx := context.Background()
	const queue = "e2e-approved-subset"
	ownWorker{queue: queue, files: map[string]string{"gated-tag.yaml": gatedTagRunbook}}.start(t)

	fleet := seedFleet(t, awsemu.FleetSpec{Instances: 2, NamePrefix: "subset", NetworkInterfaces: 1, Volumes: 1})
	first, second := fleet.InstanceIDs[0], fleet.InstanceIDs[1]
	runID, err := runctl.Start(ctx, shared.client, queue, runctl.StartOptions{Runbook: "gated-tag",
		InputArgs: map[string]string{"first": first, "second": second},
		Meta:      workflows.RunMeta{RunID: "e2e-approved-subset", Requester: "alice"}, Signer: shared.keys["alice"]})
	if err != nil {
		t.Fatal(err)
	}
	waitForGate(t, runID, "mark")
	s, err := runctl.State(ctx, shared.client, runID)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(s.Gates[0].Changes); n != 2 {
		t.Fatalf("the gate previews %d changes, want one per host: %+v", n, s.Gates[0].Changes)
	}

	// A responder tags the first host by hand while the gate waits.
	byHand := ec2.NewFromConfig(shared.emu.AWSConfig())
	if _, err := byHand.CreateTags(ctx, &ec2.CreateTagsInput{Resources: []string{first},
		Tags: []ec2types.Tag{{Key: aws.String("cordon:hold"), Value: aws.String("INC-SUBSET")}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := runctl.Send(ctx, shared.client, workflows.Request{RunID: runID, Action: workflows.ActApprove, Step: "mark",
		PreviewHash: s.Gates[0].PreviewHash, Actor: "bob", Channel: "cli", Reason: "e2e"}, shared.keys["bob"]); err != nil {
		t.Fatal(err)
	}
	s = ended(t, runID)
	if s.Status != workflows.RunSucceeded {
		t.Fatalf("status %s, timeline %v", s.Status, kindsOf(s))
	}
	var stillApproved, reopened bool
	for _, e := range s.Timeline {
		stillApproved = stillApproved || e.Kind == workflows.EventGateStillApproved
		reopened = reopened || e.Kind == workflows.EventGateReopened
	}
	if !stillApproved || reopened {
		t.Errorf("timeline %v: want gate_still_approved and no gate_reopened", kindsOf(s))
	}
	for _, id := range []string{first, second} {
		in, _ := shared.emu.Instance(id)
		if in.Tags["cordon:hold"] != "INC-SUBSET" {
			t.Errorf("%s tags %v", id, in.Tags)
		}
	}
	replay(t, runID, "gate-approved-subset")
}
