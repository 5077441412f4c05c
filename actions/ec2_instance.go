package actions

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"slices"
	"strconv"
	"strings"

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
	p, in, err := decodeInstance(ctx, x)
	if err != nil {
		return err
	}
	endpoint, tokens := "", ""
	if in.MetadataOptions != nil {
		endpoint, tokens = string(in.MetadataOptions.HttpEndpoint), string(in.MetadataOptions.HttpTokens)
	}
	// An earlier attempt of this step whose answer was lost (the endpoint
	// is off, the attempt failed) left the values from before it.
	rec, retried := readStepRecord(x, ec2TagMap(in.Tags), TagPriorMetadata)
	prevEndpoint, prevTokens := endpoint, tokens
	if retried {
		prevEndpoint, prevTokens = rec["http_endpoint"], rec["http_tokens"]
	}
	x.output("previous_http_endpoint", prevEndpoint)
	x.output("previous_http_tokens", prevTokens)
	if endpoint == string(ec2types.InstanceMetadataEndpointStateDisabled) {
		if retried && prevEndpoint != endpoint {
			x.note("the metadata service of %s was disabled by an earlier attempt of this step (it was %s)", p.InstanceID, prevEndpoint)
		} else {
			x.note("the metadata service of %s was already disabled", p.InstanceID)
		}
		return nil
	}
	if !retried {
		if err := writeRecord(ctx, x, p.InstanceID, TagPriorMetadata,
			stepRecord(x, map[string]string{"http_endpoint": endpoint, "http_tokens": tokens})); err != nil {
			return err
		}
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

// instanceStoreDevices lists the instance's instance-store volumes (from
// its instance type's InstanceStorageInfo, since DescribeInstances shows
// only EBS mappings): EBS snapshots cannot capture them and a stop or
// hibernation loses their data. known is false when the service could not
// say (another implementation of the API), which the step notes.
func instanceStoreDevices(ctx context.Context, x *execution, in ec2types.Instance) (devices []string, known bool, err error) {
	devices = []string{}
	if in.RootDeviceType == ec2types.DeviceTypeInstanceStore {
		devices = append(devices, aws.ToString(in.RootDeviceName)+" (instance-store root volume)")
	}
	if in.InstanceType == "" {
		return devices, false, nil
	}
	out, err := x.aws.EC2.DescribeInstanceTypes(ctx, &ec2.DescribeInstanceTypesInput{InstanceTypes: []ec2types.InstanceType{in.InstanceType}})
	if unsupportedByService(err) {
		x.note("could not tell whether %s (%s) has instance-store volumes: DescribeInstanceTypes is not supported by the service (%v)",
			aws.ToString(in.InstanceId), in.InstanceType, err)
		return devices, false, nil
	}
	if err != nil {
		return nil, false, classify("read the instance storage of type "+string(in.InstanceType), "ec2:DescribeInstanceTypes", err)
	}
	n := 0
	for _, t := range out.InstanceTypes {
		if t.InstanceType != in.InstanceType || t.InstanceStorageInfo == nil {
			continue
		}
		for _, d := range t.InstanceStorageInfo.Disks {
			for range aws.ToInt32(d.Count) {
				devices = append(devices, fmt.Sprintf("ephemeral%d (%d GB %s)", n, aws.ToInt64(d.SizeInGB), d.Type))
				n++
			}
		}
	}
	return devices, true, nil
}

type stopParams struct {
	instanceParams
	Force                   bool `json:"force"`
	Hibernate               bool `json:"hibernate"`
	AcceptInstanceStoreLoss bool `json:"accept_instance_store_loss"`
	LiftStopProtection      bool `json:"lift_stop_protection"`
}

func stopInstance(ctx context.Context, x *execution) error {
	var p stopParams
	in, err := decodeForInstance(ctx, x, &p)
	if err != nil {
		return err
	}
	tags := ec2TagMap(in.Tags)
	prev := instanceState(in)
	// A retried attempt reports the state from before the first attempt of
	// this step, which may have stopped the instance and lost the answer.
	rec, retried := readStepRecord(x, tags, TagPriorState)
	reported := prev
	if retried && rec["state"] != "" {
		reported = rec["state"]
	}
	x.output("previous_state", reported)
	x.output("hibernated", retried && rec["hibernate"] == "true")
	x.output("stop_protection_lifted", retried && p.LiftStopProtection && rec["disable_api_stop"] == "true")
	x.output("instance_store_devices", []string{})
	switch ec2types.InstanceStateName(prev) {
	case ec2types.InstanceStateNameStopped, ec2types.InstanceStateNameStopping:
		if retried && reported != prev {
			x.note("%s was stopped by an earlier attempt of this step (it was %s)", p.InstanceID, reported)
		} else {
			x.note("%s was already %s", p.InstanceID, prev)
		}
		x.output("state", prev)
		return nil
	case ec2types.InstanceStateNameShuttingDown, ec2types.InstanceStateNameTerminated:
		return temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("stop %s: the instance is %s and cannot be stopped", p.InstanceID, prev), ErrConflict, nil)
	}
	devices, _, err := instanceStoreDevices(ctx, x, in)
	if err != nil {
		return err
	}
	x.output("instance_store_devices", devices)
	if len(devices) > 0 {
		list := strings.Join(devices, ", ")
		switch {
		case tags[TagInstanceStoreCaptured] != "":
			x.note("instance-store volumes of %s (%s) recorded as captured: %s=%s", p.InstanceID, list, TagInstanceStoreCaptured, tags[TagInstanceStoreCaptured])
		case !p.AcceptInstanceStoreLoss:
			return x.refuse(fmt.Sprintf("stop %s: a stop erases its instance-store volumes (%s), which no EBS snapshot captures; "+
				"image them first and tag the instance %s=<where the images are>, or set accept_instance_store_loss: true", p.InstanceID, list, TagInstanceStoreCaptured))
		default:
			x.note("WARNING: stopping %s erases its instance-store volumes (%s); accepted by accept_instance_store_loss: true", p.InstanceID, list)
			for _, d := range devices {
				x.change(p.InstanceID, "instance-store "+d, "data", "erased")
			}
		}
	}
	if p.Hibernate && (in.HibernationOptions == nil || !aws.ToBool(in.HibernationOptions.Configured)) {
		return x.refuse(fmt.Sprintf("stop %s: hibernate: true, but the instance was not enabled for hibernation at launch "+
			"(HibernationOptions.Configured is false), so memory cannot be kept; stop without hibernate to lose it", p.InstanceID))
	}
	stopProtection, _, err := stopProtected(ctx, x, p.InstanceID)
	if err != nil {
		return err
	}
	if stopProtection && !p.LiftStopProtection {
		return x.refuse(fmt.Sprintf("stop %s: stop protection is on; set lift_stop_protection: true to lift it (recorded) and stop", p.InstanceID))
	}
	if !retried {
		fields := map[string]string{"state": prev, "disable_api_stop": strconv.FormatBool(stopProtection), "hibernate": strconv.FormatBool(p.Hibernate)}
		if err := writeRecord(ctx, x, p.InstanceID, TagPriorState, stepRecord(x, fields)); err != nil {
			return err
		}
	}
	if stopProtection {
		if err := liftProtection(ctx, x, p.InstanceID, stopProtectionAttr, "stop protection", "lift_stop_protection"); err != nil {
			return err
		}
		x.output("stop_protection_lifted", true)
	}
	input := &ec2.StopInstancesInput{InstanceIds: []string{p.InstanceID}, Force: aws.Bool(p.Force), DryRun: aws.Bool(x.preview())}
	if p.Hibernate {
		input.Hibernate = aws.Bool(true)
	}
	out, err := x.aws.EC2.StopInstances(ctx, input)
	if err := x.outcomeAfterLift("stop "+p.InstanceID, "ec2:StopInstances", stopProtection, err); err != nil {
		return err
	}
	after := string(ec2types.InstanceStateNameStopping)
	if !x.preview() {
		for _, c := range out.StoppingInstances {
			if aws.ToString(c.InstanceId) == p.InstanceID && c.CurrentState != nil {
				after = string(c.CurrentState.Name)
			}
		}
	}
	field := "state"
	if p.Hibernate {
		field = "state (hibernate: memory kept on the root volume)"
	}
	x.change(p.InstanceID, field, prev, after)
	x.output("state", after)
	x.output("hibernated", p.Hibernate)
	return nil
}
