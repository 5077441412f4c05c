package main

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ec2"

	"github.com/cordon-ir/cordon/internal/awsemu"
	"github.com/cordon-ir/cordon/workflows"
)

// Issue 13, items 1 and 2, through the real cordon dev: cordon approve
// prints what the workflow decided, not that it was asked. A gate whose
// change moved before acting says it asks again (exit 1, the new change
// shown, nothing changed); an approval given while the run is paused says
// the action is held, and nothing changes until resume.
func TestApprovePrintsWhatTheWorkflowDecided(t *testing.T) {
	box := startDevSandbox(t)
	ctx := context.Background()
	byHand := ec2.NewFromConfig(aws.Config{Region: awsemu.DefaultRegion, BaseEndpoint: aws.String(box.awsURL),
		Credentials: credentials.NewStaticCredentialsProvider(awsemu.DefaultAccessKeyID, awsemu.DefaultSecretAccessKey, "")})
	groupsOf := func() (string, []string) {
		t.Helper()
		out, err := byHand.DescribeInstances(ctx, &ec2.DescribeInstancesInput{InstanceIds: []string{box.instance}})
		if err != nil {
			t.Fatal(err)
		}
		eni := out.Reservations[0].Instances[0].NetworkInterfaces[0]
		var ids []string
		for _, g := range eni.Groups {
			ids = append(ids, aws.ToString(g.GroupId))
		}
		return aws.ToString(eni.NetworkInterfaceId), ids
	}

	runID := startRun(t, box.address, "examples/ec2-compromise.yaml", "--input", "instance_id="+box.instance)
	first := waitForGate(t, box.address, runID, map[string]bool{})
	if first.Step != "isolate" {
		t.Fatalf("first gate %s, want isolate", first.Key)
	}

	// The world moves after the preview was taken: a responder adds a
	// group to the interface by hand. The approval binds to the preview
	// shown, so it is accepted; the preview taken before acting differs.
	eni, before := groupsOf()
	vpc, err := byHand.DescribeNetworkInterfaces(ctx, &ec2.DescribeNetworkInterfacesInput{NetworkInterfaceIds: []string{eni}})
	if err != nil {
		t.Fatal(err)
	}
	sg, err := byHand.CreateSecurityGroup(ctx, &ec2.CreateSecurityGroupInput{GroupName: aws.String("added-by-hand"),
		Description: aws.String("a responder's change"), VpcId: vpc.NetworkInterfaces[0].VpcId})
	if err != nil {
		t.Fatal(err)
	}
	moved := append(slices.Clone(before), aws.ToString(sg.GroupId))
	if _, err := byHand.ModifyNetworkInterfaceAttribute(ctx, &ec2.ModifyNetworkInterfaceAttributeInput{NetworkInterfaceId: aws.String(eni), Groups: moved}); err != nil {
		t.Fatal(err)
	}
	as := []string{"--address", box.address, "--as", "alice"}
	out, errOut, code := approveAs(t, "", false, append([]string{runID, "isolate", "--preview", first.PreviewHash, "--yes"}, as...)...)
	if code != 1 || !strings.Contains(errOut, "was no longer the one approved") || !strings.Contains(errOut, "Nothing was changed") {
		t.Errorf("approval of a change that moved: exit %d\nstdout %s\nstderr %s", code, out, errOut)
	}
	if strings.Contains(out, "acting now") {
		t.Errorf("claims to act on a change nobody approved:\n%s", out)
	}
	if _, now := groupsOf(); !slices.Equal(now, moved) {
		t.Errorf("interface groups %v after a reopened gate, want untouched %v", now, moved)
	}
	second := waitForGate(t, box.address, runID, map[string]bool{first.Key + first.PreviewHash: true})
	if !strings.Contains(errOut, "--preview "+shortHash(second.PreviewHash)) || !strings.Contains(out, "preview "+shortHash(second.PreviewHash)) {
		t.Errorf("the new change (preview %s) is not shown:\nstdout %s\nstderr %s", shortHash(second.PreviewHash), out, errOut)
	}

	// Paused, then approved: held, and nothing changes until resume.
	cordonOK(t, "pause", runID, "--reason", "checking the blast radius", "--address", box.address)
	out, errOut, code = approveAs(t, "", false, append([]string{runID, "isolate", "--preview", second.PreviewHash, "--yes"}, as...)...)
	if code != 0 || !strings.Contains(out, "approved isolate; held: the run is paused") {
		t.Errorf("approval while paused: exit %d\nstdout %s\nstderr %s", code, out, errOut)
	}
	for _, st := range runState(t, box.address, runID).Steps {
		if st.ID == "isolate" && st.Status != workflows.StepHeld {
			t.Errorf("isolate is %s while paused after approval, want %s", st.Status, workflows.StepHeld)
		}
	}
	if _, now := groupsOf(); !slices.Equal(now, moved) {
		t.Errorf("interface groups %v while paused, want untouched %v", now, moved)
	}

	// Positive control: after resume the approved change is made.
	cordonOK(t, "resume", runID, "--address", box.address)
	var now []string
	if !pollUntil(time.Minute, func() bool { _, now = groupsOf(); return len(now) == 1 && !slices.Contains(moved, now[0]) }) {
		t.Fatalf("after resume the interface is still on %v", now)
	}
}
