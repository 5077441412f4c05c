package actions

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/smithy-go"
)

// instanceProtection is the evidence-protection state of an instance:
// what aws.ec2.enable_termination_protection changes and records.
type instanceProtection struct {
	disableAPITermination bool
	shutdownBehavior      string
	// stopKnown says whether disableAPIStop was read: records written
	// before stop protection was managed lack it, and some services
	// (other emulators) do not know the attribute.
	stopKnown      bool
	disableAPIStop bool
	// scaleInGroup is the Auto Scaling group the instance was in, empty
	// for none; protectedFromScaleIn its scale-in protection there.
	scaleInGroup         string
	protectedFromScaleIn bool
	// deleteOnTermination lists the EBS volumes that were set to go with
	// the instance.
	deleteOnTermination []string
}

// String is the record format kept in the cordon:prior-protection tag, e.g.
// "disable_api_termination=false;shutdown=terminate;disable_api_stop=false;
// auto_scaling_group=web;protected_from_scale_in=false;delete_on_termination=vol-1,vol-2"
// (one line). The group name is query-escaped; the volume list comes last
// because record tags split at its commas.
func (p instanceProtection) String() string {
	s := fmt.Sprintf("disable_api_termination=%t;shutdown=%s", p.disableAPITermination, p.shutdownBehavior)
	if p.stopKnown {
		s += fmt.Sprintf(";disable_api_stop=%t", p.disableAPIStop)
	}
	if p.scaleInGroup != "" {
		s += fmt.Sprintf(";auto_scaling_group=%s;protected_from_scale_in=%t", url.QueryEscape(p.scaleInGroup), p.protectedFromScaleIn)
	}
	if len(p.deleteOnTermination) > 0 {
		s += ";delete_on_termination=" + strings.Join(p.deleteOnTermination, ",")
	}
	return s
}

// parseProtection reads a record; records from before stop and scale-in
// protection were managed (no disable_api_stop, no auto_scaling_group)
// stay readable, with those fields unknown.
func parseProtection(record string) (instanceProtection, error) {
	var p instanceProtection
	seen := map[string]bool{}
	boolean := func(k, v string) (bool, error) {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return false, fmt.Errorf("%s=%q: %w", k, v, err)
		}
		return b, nil
	}
	for _, field := range strings.Split(record, ";") {
		k, v, ok := strings.Cut(field, "=")
		if !ok {
			return p, fmt.Errorf("field %q is not key=value", field)
		}
		seen[k] = true
		var err error
		switch k {
		case "disable_api_termination":
			p.disableAPITermination, err = boolean(k, v)
		case "shutdown":
			p.shutdownBehavior = v
		case "disable_api_stop":
			p.stopKnown = true
			p.disableAPIStop, err = boolean(k, v)
		case "auto_scaling_group":
			p.scaleInGroup, err = url.QueryUnescape(v)
		case "protected_from_scale_in":
			p.protectedFromScaleIn, err = boolean(k, v)
		case "delete_on_termination":
			p.deleteOnTermination = splitCommaList(v)
		}
		if err != nil {
			return p, err
		}
	}
	if !seen["disable_api_termination"] || !seen["shutdown"] {
		return p, fmt.Errorf("record %q lacks disable_api_termination or shutdown", record)
	}
	if seen["auto_scaling_group"] != seen["protected_from_scale_in"] {
		return p, fmt.Errorf("record %q has only one of auto_scaling_group and protected_from_scale_in", record)
	}
	return p, nil
}

// unsupportedByService reports whether AWS (or another implementation of
// its API: moto, LocalStack) answered that it does not support the call or
// the setting, as EC2 does for protection of Spot Instances
// (UnsupportedOperation). Protection steps note it and go on with the
// protections that do apply rather than leave the host unprotected.
func unsupportedByService(err error) bool {
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		return false
	}
	switch ae.ErrorCode() {
	case "UnsupportedOperation", "InvalidAction", "NotImplemented", "NotImplementedError", "UnknownOperationException":
		return true
	}
	return false
}

// instanceAttribute reads one attribute of an instance.
func instanceAttribute(ctx context.Context, x *execution, id string, attr ec2types.InstanceAttributeName) (*ec2.DescribeInstanceAttributeOutput, error) {
	out, err := x.aws.EC2.DescribeInstanceAttribute(ctx, &ec2.DescribeInstanceAttributeInput{InstanceId: aws.String(id), Attribute: attr})
	if err != nil {
		return nil, classify(fmt.Sprintf("read %s of %s", attr, id), "ec2:DescribeInstanceAttribute", err)
	}
	return out, nil
}

func terminationProtected(ctx context.Context, x *execution, id string) (bool, error) {
	out, err := instanceAttribute(ctx, x, id, ec2types.InstanceAttributeNameDisableApiTermination)
	if err != nil {
		return false, err
	}
	return out.DisableApiTermination != nil && aws.ToBool(out.DisableApiTermination.Value), nil
}

// stopProtected reads DisableApiStop; known is false when the service does
// not know the attribute (an older API, another implementation).
func stopProtected(ctx context.Context, x *execution, id string) (protected, known bool, err error) {
	out, err := x.aws.EC2.DescribeInstanceAttribute(ctx, &ec2.DescribeInstanceAttributeInput{
		InstanceId: aws.String(id), Attribute: ec2types.InstanceAttributeNameDisableApiStop,
	})
	switch {
	case unsupportedByService(err) || isCode(err, "InvalidParameterValue"):
		return false, false, nil
	case err != nil:
		return false, false, classify("read disableApiStop of "+id, "ec2:DescribeInstanceAttribute", err)
	}
	return out.DisableApiStop != nil && aws.ToBool(out.DisableApiStop.Value), true, nil
}

// scaleInProtection finds the instance's Auto Scaling group and whether it
// is protected from scale-in there; group is empty outside any group.
func scaleInProtection(ctx context.Context, x *execution, id string) (group string, protected bool, err error) {
	out, err := x.aws.AutoScaling.DescribeAutoScalingInstances(ctx, &autoscaling.DescribeAutoScalingInstancesInput{InstanceIds: []string{id}})
	if err != nil {
		return "", false, classify("read the Auto Scaling membership of "+id, "autoscaling:DescribeAutoScalingInstances", err)
	}
	for _, a := range out.AutoScalingInstances {
		if aws.ToString(a.InstanceId) == id {
			return aws.ToString(a.AutoScalingGroupName), aws.ToBool(a.ProtectedFromScaleIn), nil
		}
	}
	return "", false, nil
}

// modifyInstance sends one ModifyInstanceAttribute (EC2 takes one
// attribute per call), as a dry run in preview.
func modifyInstance(ctx context.Context, x *execution, in *ec2.ModifyInstanceAttributeInput, what string) error {
	in.DryRun = aws.Bool(x.preview())
	_, err := x.aws.EC2.ModifyInstanceAttribute(ctx, in)
	return x.ec2Outcome(what, "ec2:ModifyInstanceAttribute", err)
}

// The two protections against losing the instance, by the names their
// changes and records use.
const (
	terminationProtectionAttr = "disable_api_termination"
	stopProtectionAttr        = "disable_api_stop"
)

// protectionInput is the request that turns termination protection
// (terminationProtectionAttr) or stop protection (stopProtectionAttr) of
// the instance on or off.
func protectionInput(id, attr string, on bool) *ec2.ModifyInstanceAttributeInput {
	in := &ec2.ModifyInstanceAttributeInput{InstanceId: aws.String(id)}
	value := &ec2types.AttributeBooleanValue{Value: aws.Bool(on)}
	if attr == stopProtectionAttr {
		in.DisableApiStop = value
	} else {
		in.DisableApiTermination = value
	}
	return in
}

// turnProtectionOff turns a protection (protectionInput) of the instance
// off and records the change: lifted for a stop or a termination, or put
// back by a restore.
func turnProtectionOff(ctx context.Context, x *execution, id, attr, what string) error {
	if err := modifyInstance(ctx, x, protectionInput(id, attr, false), what); err != nil {
		return err
	}
	x.change(id, attr, true, false)
	return nil
}

// turnProtectionOn turns a protection (protectionInput) of the instance
// on and records the change. The service may refuse it as unsupported
// (EC2 for a Spot Instance): then it notes why, adds protection to skipped,
// and the step goes on with the other protections.
func turnProtectionOn(ctx context.Context, x *execution, id, attr, what, protection string, skipped *[]string) error {
	in := protectionInput(id, attr, true)
	in.DryRun = aws.Bool(x.preview())
	_, err := x.aws.EC2.ModifyInstanceAttribute(ctx, in)
	if unsupportedByService(err) {
		x.note("%s: not supported by the service (%v); the other protections still apply", what, err)
		*skipped = append(*skipped, protection)
		return nil
	}
	if err := x.ec2Outcome(what, "ec2:ModifyInstanceAttribute", err); err != nil {
		return err
	}
	x.change(id, attr, false, true)
	return nil
}

// liftProtection turns off a protection that stands in the way of a stop
// or a termination the step's param allows lifting it for, and says so.
func liftProtection(ctx context.Context, x *execution, id, attr, name, param string) error {
	if err := turnProtectionOff(ctx, x, id, attr, "lift "+name+" of "+id); err != nil {
		return err
	}
	x.note("%s of %s lifted by this step (%s: true)", name, id, param)
	return nil
}

type protectionParams struct {
	instanceParams
	PreserveVolumes   bool `json:"preserve_volumes"`
	StopProtection    bool `json:"stop_protection"`
	ScaleInProtection bool `json:"scale_in_protection"`
}

// Protections the step may have to skip, as named in skipped_protections.
const (
	protectionTermination = "termination_protection"
	protectionStop        = "stop_protection"
	protectionScaleIn     = "scale_in_protection"
)

func enableTerminationProtection(ctx context.Context, x *execution) error {
	var p protectionParams
	in, err := decodeForInstance(ctx, x, &p)
	if err != nil {
		return err
	}
	spot := in.InstanceLifecycle == ec2types.InstanceLifecycleTypeSpot
	instanceStoreRoot := in.RootDeviceType == ec2types.DeviceTypeInstanceStore
	skipped := []string{}

	var now instanceProtection
	if now.disableAPITermination, err = terminationProtected(ctx, x, p.InstanceID); err != nil {
		return err
	}
	sb, err := instanceAttribute(ctx, x, p.InstanceID, ec2types.InstanceAttributeNameInstanceInitiatedShutdownBehavior)
	if err != nil {
		return err
	}
	if sb.InstanceInitiatedShutdownBehavior != nil {
		now.shutdownBehavior = aws.ToString(sb.InstanceInitiatedShutdownBehavior.Value)
	}
	if p.StopProtection {
		if now.disableAPIStop, now.stopKnown, err = stopProtected(ctx, x, p.InstanceID); err != nil {
			return err
		}
	}
	if p.ScaleInProtection {
		if now.scaleInGroup, now.protectedFromScaleIn, err = scaleInProtection(ctx, x, p.InstanceID); err != nil {
			return err
		}
	}
	type volume struct{ device, id string }
	var goWithInstance []volume
	for _, bd := range in.BlockDeviceMappings {
		if bd.Ebs != nil && aws.ToBool(bd.Ebs.DeleteOnTermination) {
			goWithInstance = append(goWithInstance, volume{aws.ToString(bd.DeviceName), aws.ToString(bd.Ebs.VolumeId)})
		}
	}
	slices.SortFunc(goWithInstance, func(a, b volume) int { return strings.Compare(a.device, b.device) })
	if p.PreserveVolumes {
		for _, v := range goWithInstance {
			now.deleteOnTermination = append(now.deleteOnTermination, v.id)
		}
	}

	// EC2 documents that neither termination nor stop protection can be
	// enabled on a Spot Instance, nor stop protection on an
	// instance-store-backed one: skip them, say so, and protect the rest
	// (a step failing here would leave the host unprotected and, in the
	// example runbook, never isolated).
	needProtection := !now.disableAPITermination
	if needProtection && spot {
		needProtection = false
		skipped = append(skipped, protectionTermination)
		x.note("%s is a Spot Instance: EC2 cannot turn termination protection on for it; a termination by anyone, and a Spot interruption, still destroy the instance", p.InstanceID)
	}
	needStopProtection := p.StopProtection && now.stopKnown && !now.disableAPIStop
	switch {
	case p.StopProtection && !now.stopKnown:
		skipped = append(skipped, protectionStop)
		x.note("the service does not report stop protection (DisableApiStop) for %s: stop protection not applied", p.InstanceID)
	case needStopProtection && spot:
		needStopProtection = false
		skipped = append(skipped, protectionStop)
		x.note("%s is a Spot Instance: EC2 cannot turn stop protection on for it", p.InstanceID)
	case needStopProtection && instanceStoreRoot:
		needStopProtection = false
		skipped = append(skipped, protectionStop)
		x.note("%s is instance-store-backed: EC2 cannot turn stop protection on for it", p.InstanceID)
	}
	needStop := now.shutdownBehavior != string(ec2types.ShutdownBehaviorStop)
	needVolumes := len(now.deleteOnTermination) > 0
	needScaleIn := now.scaleInGroup != "" && !now.protectedFromScaleIn
	needAny := needProtection || needStopProtection || needStop || needVolumes || needScaleIn

	// The record keeps the values from before the first attempt: a retry
	// after the change would otherwise report protection as always on.
	prior := now
	record, hasRecord := readRecord(ec2TagMap(in.Tags), TagPriorProtection)
	if hasRecord {
		if parsed, err := parseProtection(record); err != nil {
			x.note("ignoring unreadable %s record on %s (%v); reporting the current values as prior", TagPriorProtection, p.InstanceID, err)
			hasRecord = false
		} else {
			prior = mergeProtection(parsed, now)
		}
	}
	// A record without what this attempt is about to change (written
	// before stop and scale-in protection were managed, or before the
	// instance joined a group) is completed before the change.
	if needAny && (!hasRecord || prior.String() != record) {
		if err := writeRecord(ctx, x, p.InstanceID, TagPriorProtection, prior.String()); err != nil {
			return err
		}
	}

	if needProtection {
		if err := turnProtectionOn(ctx, x, p.InstanceID, terminationProtectionAttr, "turn on termination protection of "+p.InstanceID, protectionTermination, &skipped); err != nil {
			return err
		}
	}
	if needStopProtection {
		if err := turnProtectionOn(ctx, x, p.InstanceID, stopProtectionAttr, "turn on stop protection of "+p.InstanceID, protectionStop, &skipped); err != nil {
			return err
		}
	}
	if needStop {
		if err := modifyInstance(ctx, x, &ec2.ModifyInstanceAttributeInput{
			InstanceId: aws.String(p.InstanceID), InstanceInitiatedShutdownBehavior: &ec2types.AttributeValue{Value: aws.String(string(ec2types.ShutdownBehaviorStop))},
		}, "set the shutdown behaviour of "+p.InstanceID+" to stop"); err != nil {
			return err
		}
		x.change(p.InstanceID, "instance_initiated_shutdown_behavior", now.shutdownBehavior, string(ec2types.ShutdownBehaviorStop))
	}
	if needVolumes {
		var mappings []ec2types.InstanceBlockDeviceMappingSpecification
		for _, v := range goWithInstance {
			mappings = append(mappings, ec2types.InstanceBlockDeviceMappingSpecification{
				DeviceName: aws.String(v.device),
				Ebs:        &ec2types.EbsInstanceBlockDeviceSpecification{VolumeId: aws.String(v.id), DeleteOnTermination: aws.Bool(false)},
			})
		}
		if err := modifyInstance(ctx, x, &ec2.ModifyInstanceAttributeInput{
			InstanceId: aws.String(p.InstanceID), BlockDeviceMappings: mappings,
		}, "keep the volumes of "+p.InstanceID+" on termination"); err != nil {
			return err
		}
		for _, v := range goWithInstance {
			x.change(v.id, "delete_on_termination", true, false)
		}
	}
	if needScaleIn {
		if err := protectFromScaleIn(ctx, x, p.InstanceID, now.scaleInGroup, &skipped); err != nil {
			return err
		}
	}
	if !needAny {
		x.note("%s was already protected as far as EC2 allows: nothing left to change", p.InstanceID)
	}
	x.output("previous_disable_api_termination", prior.disableAPITermination)
	x.output("previous_shutdown_behavior", prior.shutdownBehavior)
	x.output("preserved_volume_ids", nonNil(prior.deleteOnTermination))
	x.output("previous_disable_api_stop", prior.disableAPIStop)
	x.output("auto_scaling_group", prior.scaleInGroup)
	x.output("previous_protected_from_scale_in", prior.protectedFromScaleIn)
	x.output("skipped_protections", skipped)
	return nil
}

// mergeProtection completes a record with what it lacks from the current
// values: fields it has are the state before the first attempt and win.
func mergeProtection(record, now instanceProtection) instanceProtection {
	out := record
	if !out.stopKnown && now.stopKnown {
		out.stopKnown, out.disableAPIStop = true, now.disableAPIStop
	}
	if out.scaleInGroup == "" && now.scaleInGroup != "" {
		out.scaleInGroup, out.protectedFromScaleIn = now.scaleInGroup, now.protectedFromScaleIn
	}
	for _, v := range now.deleteOnTermination {
		if !slices.Contains(out.deleteOnTermination, v) {
			out.deleteOnTermination = append(out.deleteOnTermination, v)
		}
	}
	return out
}

// protectFromScaleIn sets ProtectedFromScaleIn on the instance in its
// group, so that a scale-in (or an attacker lowering the desired
// capacity) does not terminate it. Auto Scaling has no dry run: a preview
// reports the change only.
func protectFromScaleIn(ctx context.Context, x *execution, id, group string, skipped *[]string) error {
	if !x.preview() {
		_, err := x.aws.AutoScaling.SetInstanceProtection(ctx, &autoscaling.SetInstanceProtectionInput{
			AutoScalingGroupName: aws.String(group), InstanceIds: []string{id}, ProtectedFromScaleIn: aws.Bool(true),
		})
		if unsupportedByService(err) {
			x.note("protect %s from scale-in in %s: not supported by the service (%v); the other protections still apply", id, group, err)
			*skipped = append(*skipped, protectionScaleIn)
			return nil
		}
		if err != nil {
			return classify("protect "+id+" from scale-in in "+group, "autoscaling:SetInstanceProtection", err)
		}
	}
	x.change(id, "protected_from_scale_in ("+group+")", false, true)
	return nil
}

type terminateParams struct {
	instanceParams
	LiftTerminationProtection bool `json:"lift_termination_protection"`
}

func terminateInstance(ctx context.Context, x *execution) error {
	var p terminateParams
	in, err := decodeForInstance(ctx, x, &p)
	if err != nil {
		return err
	}
	prev := instanceState(in)
	x.output("previous_state", prev)
	x.output("termination_protection_lifted", false)
	x.output("stop_protection_lifted", false)
	switch ec2types.InstanceStateName(prev) {
	case ec2types.InstanceStateNameShuttingDown, ec2types.InstanceStateNameTerminated:
		x.note("%s was already %s", p.InstanceID, prev)
		return nil
	}
	protected, err := terminationProtected(ctx, x, p.InstanceID)
	if err != nil {
		return err
	}
	// Stop protection blocks termination too (EC2 User Guide).
	stopProtection, _, err := stopProtected(ctx, x, p.InstanceID)
	if err != nil {
		return err
	}
	lifted := false
	if protected || stopProtection {
		if !p.LiftTerminationProtection {
			which := "termination protection"
			switch {
			case protected && stopProtection:
				which = "termination and stop protection"
			case stopProtection:
				which = "stop protection"
			}
			return x.refuse(fmt.Sprintf("terminate %s: %s is on; set lift_termination_protection: true "+
				"to lift it (recorded) and terminate, or leave the instance for forensics", p.InstanceID, which))
		}
		if protected {
			if err := liftProtection(ctx, x, p.InstanceID, terminationProtectionAttr, "termination protection", "lift_termination_protection"); err != nil {
				return err
			}
			x.output("termination_protection_lifted", true)
		}
		if stopProtection {
			if err := liftProtection(ctx, x, p.InstanceID, stopProtectionAttr, "stop protection", "lift_termination_protection"); err != nil {
				return err
			}
			x.output("stop_protection_lifted", true)
		}
		lifted = true
	}
	_, err = x.aws.EC2.TerminateInstances(ctx, &ec2.TerminateInstancesInput{
		InstanceIds: []string{p.InstanceID}, DryRun: aws.Bool(x.preview()),
	})
	if err := x.outcomeAfterLift("terminate "+p.InstanceID, "ec2:TerminateInstances", lifted, err); err != nil {
		return err
	}
	x.change(p.InstanceID, "state", prev, string(ec2types.InstanceStateNameShuttingDown))
	return nil
}
