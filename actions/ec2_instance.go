package actions

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"slices"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"go.temporal.io/sdk/temporal"
)

type findParams struct {
	Tags        map[string]string `json:"tags"`
	ImageIDs    []string          `json:"image_ids"`
	VPCIDs      []string          `json:"vpc_ids"`
	InstanceIDs []string          `json:"instance_ids"`
	States      []string          `json:"states"`
}

func findInstances(ctx context.Context, x *execution) error {
	var p findParams
	if err := x.decode(&p); err != nil {
		return err
	}
	// Terminated instances are gone: a fleet runbook must never act on
	// them, whatever states the runbook asks for.
	states := slices.DeleteFunc(slices.Clone(p.States), func(s string) bool { return s == string(ec2types.InstanceStateNameTerminated) })
	if len(p.States) > 0 && len(states) == 0 {
		x.note("only terminated instances were asked for; terminated instances are never returned")
		x.output("instance_ids", []string{})
		x.output("count", 0)
		return nil
	}
	var filters []ec2types.Filter
	add := func(name string, values []string) {
		if len(values) > 0 {
			filters = append(filters, ec2types.Filter{Name: aws.String(name), Values: values})
		}
	}
	keys := make([]string, 0, len(p.Tags))
	for k := range p.Tags {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		add("tag:"+k, []string{p.Tags[k]})
	}
	add("image-id", p.ImageIDs)
	add("vpc-id", p.VPCIDs)
	// A filter rather than InstanceIds: an id that does not exist (any
	// more) is simply not found, instead of failing the whole search.
	add("instance-id", p.InstanceIDs)
	add("instance-state-name", states)

	found := map[string]bool{}
	pages := ec2.NewDescribeInstancesPaginator(x.aws.EC2, &ec2.DescribeInstancesInput{Filters: filters})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return classify("find instances", "ec2:DescribeInstances", err)
		}
		for _, r := range page.Reservations {
			for _, in := range r.Instances {
				if instanceState(in) != string(ec2types.InstanceStateNameTerminated) {
					found[aws.ToString(in.InstanceId)] = true
				}
			}
		}
	}
	ids := sortedSet(found)
	x.output("instance_ids", ids)
	x.output("count", len(ids))
	return nil
}

func captureConsoleOutput(ctx context.Context, x *execution) error {
	var p instanceParams
	if err := x.decode(&p); err != nil {
		return err
	}
	out, err := x.aws.EC2.GetConsoleOutput(ctx, &ec2.GetConsoleOutputInput{InstanceId: aws.String(p.InstanceID)})
	if err != nil {
		return classify("capture console output of "+p.InstanceID, "ec2:GetConsoleOutput", err)
	}
	text, err := base64.StdEncoding.DecodeString(aws.ToString(out.Output))
	if err != nil {
		return temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("capture console output of %s: AWS returned output that is not base64: %v", p.InstanceID, err), ErrInvalid, err)
	}
	if len(text) == 0 {
		x.note("%s has no console output yet (EC2 keeps it only for running or recently stopped instances)", p.InstanceID)
	}
	sum := sha256.Sum256(text)
	x.output("output", string(text))
	x.output("sha256", hex.EncodeToString(sum[:]))
	x.output("bytes", len(text))
	return nil
}

type tagParams struct {
	ResourceIDs []string          `json:"resource_ids"`
	Tags        map[string]string `json:"tags"`
}

func tagResources(ctx context.Context, x *execution) error {
	var p tagParams
	if err := x.decode(&p); err != nil {
		return err
	}
	keys := make([]string, 0, len(p.Tags))
	for k := range p.Tags {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	existing := map[string]map[string]string{}
	for _, id := range p.ResourceIDs {
		existing[id] = map[string]string{}
	}
	pages := ec2.NewDescribeTagsPaginator(x.aws.EC2, &ec2.DescribeTagsInput{Filters: []ec2types.Filter{
		{Name: aws.String("resource-id"), Values: p.ResourceIDs},
		{Name: aws.String("key"), Values: keys},
	}})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return classify("read tags of "+fmt.Sprint(p.ResourceIDs), "ec2:DescribeTags", err)
		}
		for _, t := range page.Tags {
			if m, ok := existing[aws.ToString(t.ResourceId)]; ok {
				m[aws.ToString(t.Key)] = aws.ToString(t.Value)
			}
		}
	}
	// previous holds, per resource, the values this step overwrites. A
	// retry after the tags were set finds nothing left to overwrite; the
	// first attempt's result is the one that counts.
	previous := map[string]map[string]string{}
	var pending []string
	for _, id := range p.ResourceIDs {
		previous[id] = map[string]string{}
		needs := false
		for _, k := range keys {
			old, had := existing[id][k]
			if had && old == p.Tags[k] {
				continue
			}
			needs = true
			if had {
				previous[id][k] = old
				x.change(id, "tag "+k, old, p.Tags[k])
			} else {
				x.change(id, "tag "+k, nil, p.Tags[k])
			}
		}
		if needs {
			pending = append(pending, id)
		}
	}
	if len(pending) == 0 {
		x.note("every resource already carries these tags")
	} else {
		_, err := x.aws.EC2.CreateTags(ctx, &ec2.CreateTagsInput{Resources: pending, Tags: ec2Tags(p.Tags), DryRun: aws.Bool(x.preview())})
		what := fmt.Sprintf("tag %v", pending)
		err = x.ec2Outcome(what, "ec2:CreateTags", err)
		if err != nil {
			return err
		}
	}
	x.output("previous", previous)
	return nil
}

func disableInstanceMetadata(ctx context.Context, x *execution) error {
	var p instanceParams
	if err := x.decode(&p); err != nil {
		return err
	}
	in, err := getInstance(ctx, x, p.InstanceID)
	if err != nil {
		return err
	}
	endpoint, tokens := "", ""
	if in.MetadataOptions != nil {
		endpoint, tokens = string(in.MetadataOptions.HttpEndpoint), string(in.MetadataOptions.HttpTokens)
	}
	x.output("previous_http_endpoint", endpoint)
	x.output("previous_http_tokens", tokens)
	if endpoint == string(ec2types.InstanceMetadataEndpointStateDisabled) {
		x.note("the metadata service of %s was already disabled", p.InstanceID)
		return nil
	}
	_, err = x.aws.EC2.ModifyInstanceMetadataOptions(ctx, &ec2.ModifyInstanceMetadataOptionsInput{
		InstanceId: aws.String(p.InstanceID), HttpEndpoint: ec2types.InstanceMetadataEndpointStateDisabled, DryRun: aws.Bool(x.preview()),
	})
	what := "disable the metadata service of " + p.InstanceID
	err = x.ec2Outcome(what, "ec2:ModifyInstanceMetadataOptions", err)
	if err != nil {
		return err
	}
	x.change(p.InstanceID, "metadata http_endpoint", endpoint, string(ec2types.InstanceMetadataEndpointStateDisabled))
	return nil
}

type stopParams struct {
	InstanceID string `json:"instance_id"`
	Force      bool   `json:"force"`
}

func stopInstance(ctx context.Context, x *execution) error {
	var p stopParams
	if err := x.decode(&p); err != nil {
		return err
	}
	in, err := getInstance(ctx, x, p.InstanceID)
	if err != nil {
		return err
	}
	prev := instanceState(in)
	x.output("previous_state", prev)
	switch ec2types.InstanceStateName(prev) {
	case ec2types.InstanceStateNameStopped, ec2types.InstanceStateNameStopping:
		x.note("%s was already %s", p.InstanceID, prev)
		x.output("state", prev)
		return nil
	case ec2types.InstanceStateNameShuttingDown, ec2types.InstanceStateNameTerminated:
		return temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("stop %s: the instance is %s and cannot be stopped", p.InstanceID, prev), ErrConflict, nil)
	}
	out, err := x.aws.EC2.StopInstances(ctx, &ec2.StopInstancesInput{
		InstanceIds: []string{p.InstanceID}, Force: aws.Bool(p.Force), DryRun: aws.Bool(x.preview()),
	})
	what := "stop " + p.InstanceID
	if x.preview() {
		if err := dryRunOK(what, "ec2:StopInstances", err); err != nil {
			return err
		}
		x.change(p.InstanceID, "state", prev, string(ec2types.InstanceStateNameStopping))
		x.output("state", string(ec2types.InstanceStateNameStopping))
		return nil
	}
	if err != nil {
		return classify(what, "ec2:StopInstances", err)
	}
	state := string(ec2types.InstanceStateNameStopping)
	for _, c := range out.StoppingInstances {
		if aws.ToString(c.InstanceId) == p.InstanceID && c.CurrentState != nil {
			state = string(c.CurrentState.Name)
		}
	}
	x.change(p.InstanceID, "state", prev, state)
	x.output("state", state)
	return nil
}
