package actions

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"go.temporal.io/sdk/temporal"
)

// instanceProtection is the evidence-protection state of an instance:
// what aws.ec2.enable_termination_protection changes and records.
type instanceProtection struct {
	disableAPITermination bool
	shutdownBehavior      string
	// deleteOnTermination lists the EBS volumes that were set to go with
	// the instance.
	deleteOnTermination []string
}

// String is the record format kept in the cordon:prior-protection tag,
// e.g. "disable_api_termination=false;shutdown=terminate;delete_on_termination=vol-1,vol-2".
func (p instanceProtection) String() string {
	s := fmt.Sprintf("disable_api_termination=%t;shutdown=%s", p.disableAPITermination, p.shutdownBehavior)
	if len(p.deleteOnTermination) > 0 {
		s += ";delete_on_termination=" + strings.Join(p.deleteOnTermination, ",")
	}
	return s
}

func parseProtection(record string) (instanceProtection, error) {
	var p instanceProtection
	seen := map[string]bool{}
	for _, field := range strings.Split(record, ";") {
		k, v, ok := strings.Cut(field, "=")
		if !ok {
			return p, fmt.Errorf("field %q is not key=value", field)
		}
		seen[k] = true
		switch k {
		case "disable_api_termination":
			b, err := strconv.ParseBool(v)
			if err != nil {
				return p, fmt.Errorf("disable_api_termination=%q: %w", v, err)
			}
			p.disableAPITermination = b
		case "shutdown":
			p.shutdownBehavior = v
		case "delete_on_termination":
			p.deleteOnTermination = splitCommaList(v)
		}
	}
	if !seen["disable_api_termination"] || !seen["shutdown"] {
		return p, fmt.Errorf("record %q lacks disable_api_termination or shutdown", record)
	}
	return p, nil
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

// modifyInstance sends one ModifyInstanceAttribute (EC2 takes one
// attribute per call), as a dry run in preview.
func modifyInstance(ctx context.Context, x *execution, in *ec2.ModifyInstanceAttributeInput, what string) error {
	in.DryRun = aws.Bool(x.preview())
	_, err := x.aws.EC2.ModifyInstanceAttribute(ctx, in)
	return x.ec2Outcome(what, "ec2:ModifyInstanceAttribute", err)
}

type protectionParams struct {
	InstanceID      string `json:"instance_id"`
	PreserveVolumes bool   `json:"preserve_volumes"`
}

func enableTerminationProtection(ctx context.Context, x *execution) error {
	var p protectionParams
	if err := x.decode(&p); err != nil {
		return err
	}
	in, err := getInstance(ctx, x, p.InstanceID)
	if err != nil {
		return err
	}
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

	needProtection := !now.disableAPITermination
	needStop := now.shutdownBehavior != string(ec2types.ShutdownBehaviorStop)
	needVolumes := len(now.deleteOnTermination) > 0

	// The record keeps the values from before the first attempt: a retry
	// after the change would otherwise report protection as always on.
	prior := now
	if record, ok := readRecord(ec2TagMap(in.Tags), TagPriorProtection); ok {
		if parsed, err := parseProtection(record); err != nil {
			x.note("ignoring unreadable %s record on %s (%v); reporting the current values as prior", TagPriorProtection, p.InstanceID, err)
		} else {
			prior = parsed
			for _, v := range now.deleteOnTermination {
				if !slices.Contains(prior.deleteOnTermination, v) {
					prior.deleteOnTermination = append(prior.deleteOnTermination, v)
				}
			}
		}
	} else if needProtection || needStop || needVolumes {
		if err := writeRecord(ctx, x, p.InstanceID, TagPriorProtection, now.String()); err != nil {
			return err
		}
	}

	if needProtection {
		if err := modifyInstance(ctx, x, &ec2.ModifyInstanceAttributeInput{
			InstanceId: aws.String(p.InstanceID), DisableApiTermination: &ec2types.AttributeBooleanValue{Value: aws.Bool(true)},
		}, "turn on termination protection of "+p.InstanceID); err != nil {
			return err
		}
		x.change(p.InstanceID, "disable_api_termination", false, true)
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
	if !needProtection && !needStop && !needVolumes {
		x.note("%s was already protected: termination protection on, shutdown behaviour stop, volumes kept", p.InstanceID)
	}
	x.output("previous_disable_api_termination", prior.disableAPITermination)
	x.output("previous_shutdown_behavior", prior.shutdownBehavior)
	x.output("preserved_volume_ids", nonNil(prior.deleteOnTermination))
	return nil
}

type terminateParams struct {
	InstanceID                string `json:"instance_id"`
	LiftTerminationProtection bool   `json:"lift_termination_protection"`
}

func terminateInstance(ctx context.Context, x *execution) error {
	var p terminateParams
	if err := x.decode(&p); err != nil {
		return err
	}
	in, err := getInstance(ctx, x, p.InstanceID)
	if err != nil {
		return err
	}
	prev := instanceState(in)
	x.output("previous_state", prev)
	x.output("termination_protection_lifted", false)
	switch ec2types.InstanceStateName(prev) {
	case ec2types.InstanceStateNameShuttingDown, ec2types.InstanceStateNameTerminated:
		x.note("%s was already %s", p.InstanceID, prev)
		return nil
	}
	protected, err := terminationProtected(ctx, x, p.InstanceID)
	if err != nil {
		return err
	}
	lifted := false
	if protected {
		if !p.LiftTerminationProtection {
			msg := fmt.Sprintf("terminate %s: termination protection is on; set lift_termination_protection: true "+
				"to lift it (recorded) and terminate, or leave the instance for forensics", p.InstanceID)
			if x.preview() {
				x.note("%s", msg)
				return nil
			}
			return temporal.NewNonRetryableApplicationError(msg, ErrConflict, nil)
		}
		if err := modifyInstance(ctx, x, &ec2.ModifyInstanceAttributeInput{
			InstanceId: aws.String(p.InstanceID), DisableApiTermination: &ec2types.AttributeBooleanValue{Value: aws.Bool(false)},
		}, "lift termination protection of "+p.InstanceID); err != nil {
			return err
		}
		lifted = true
		x.change(p.InstanceID, "disable_api_termination", true, false)
		x.note("termination protection of %s lifted by this step (lift_termination_protection: true)", p.InstanceID)
		x.output("termination_protection_lifted", true)
	}
	_, err = x.aws.EC2.TerminateInstances(ctx, &ec2.TerminateInstancesInput{
		InstanceIds: []string{p.InstanceID}, DryRun: aws.Bool(x.preview()),
	})
	what := "terminate " + p.InstanceID
	switch {
	case x.preview() && lifted && isCode(err, "OperationNotPermitted"):
		// The dry run still sees the protection a real run lifts first.
	case x.preview():
		if err := dryRunOK(what, "ec2:TerminateInstances", err); err != nil {
			return err
		}
	case err != nil:
		return classify(what, "ec2:TerminateInstances", err)
	}
	x.change(p.InstanceID, "state", prev, string(ec2types.InstanceStateNameShuttingDown))
	return nil
}
