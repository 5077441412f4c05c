package actions

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
)

// Restores put back what a containment action recorded before it changed
// the instance, and nothing else. Every restore follows the same rules:
//
//   - no record: Cordon did not change this, so there is nothing of
//     Cordon's to undo; the step says so and changes nothing;
//   - a value is put back only while it is still the one Cordon set: one
//     someone changed since (a responder, another tool) is theirs, and is
//     left as it is and listed in the output's conflicts, with the record
//     kept so that nothing is lost;
//   - once everything recorded is back (or already was), the record is
//     removed, so a second restore finds nothing to do.
//
// Each is an action of its own, named in its containment action's
// Reverse, like aws.ec2.restore_isolation: its permissions, its preview
// and its gate are the restore's, and its contract case proves them.

// restoreReport collects what a restore put back and what it left.
type restoreReport struct {
	restored  []string
	conflicts []string
}

func (r *restoreReport) put(format string, args ...any) {
	r.restored = append(r.restored, fmt.Sprintf(format, args...))
}

// conflict records a value left as it is because it is no longer the one
// Cordon set, and says so in a note.
func (r *restoreReport) conflict(x *execution, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	r.conflicts = append(r.conflicts, msg)
	x.note("left as it is: %s", msg)
}

func (r *restoreReport) output(x *execution) {
	x.output("restored", nonNil(r.restored))
	x.output("conflicts", nonNil(r.conflicts))
}

// nothingRecorded is the note of a restore without a record.
func nothingRecorded(x *execution, instanceID, what, key string) {
	x.note("nothing recorded: Cordon did not change %s of %s (no %s record), so there is nothing to put back", what, instanceID, key)
}

// instanceRestore is the restore of one instance under way: the instance
// as described before anything is put back, and the report.
type instanceRestore struct {
	restoreReport
	id   string
	in   ec2types.Instance
	tags map[string]string
	// key and record are the record a restoreRecorded restore puts back.
	key, record string
}

// restoreStep puts back what it can of one instance, into r's report.
type restoreStep func(ctx context.Context, x *execution, r *instanceRestore) error

// restoreInstance is how every restore of one instance starts and ends:
// it decodes the step's params, describes the instance, and outputs the
// report whatever restore returns.
func restoreInstance(ctx context.Context, x *execution, restore restoreStep) error {
	p, in, err := decodeInstance(ctx, x)
	if err != nil {
		return err
	}
	r := &instanceRestore{id: p.InstanceID, in: in, tags: ec2TagMap(in.Tags)}
	defer r.output(x)
	return restore(ctx, x, r)
}

// restoreRecorded is restoreInstance for a restore that puts back what
// the record key on the instance says (what names it in the note): with
// no record there is nothing of Cordon's to put back, which it notes
// without calling restore.
func restoreRecorded(ctx context.Context, x *execution, what, key string, restore restoreStep) error {
	return restoreInstance(ctx, x, func(ctx context.Context, x *execution, r *instanceRestore) error {
		record, ok := readRecord(r.tags, key)
		if !ok {
			nothingRecorded(x, r.id, what, key)
			return nil
		}
		r.key, r.record = key, record
		return restore(ctx, x, r)
	})
}

// removeRecord deletes the record once everything it holds is back.
func (r *instanceRestore) removeRecord(ctx context.Context, x *execution) error {
	return deleteRecord(ctx, x, r.id, r.key, recordTagKeys(r.tags, r.key), r.record)
}

func restoreInstanceMetadata(ctx context.Context, x *execution) error {
	return restoreRecorded(ctx, x, "the metadata service", TagPriorMetadata, putMetadataBack)
}

func putMetadataBack(ctx context.Context, x *execution, r *instanceRestore) error {
	endpoint, tokens := "", ""
	if r.in.MetadataOptions != nil {
		endpoint, tokens = string(r.in.MetadataOptions.HttpEndpoint), string(r.in.MetadataOptions.HttpTokens)
	}
	fields, err := parseStepRecord(r.record)
	prior := fields["http_endpoint"]
	disabled := string(ec2types.InstanceMetadataEndpointStateDisabled)
	switch {
	case err != nil || prior == "":
		r.conflict(x, "the %s record of %s is unreadable (%q): put the metadata options back by hand, then remove the tag", TagPriorMetadata, r.id, r.record)
		return nil
	case endpoint == prior:
		x.note("the metadata service of %s is already %s, as recorded; removing the record", r.id, prior)
	case endpoint != disabled:
		// Cordon only ever turns the endpoint off.
		r.conflict(x, "the metadata endpoint of %s is %s, not disabled as Cordon left it, and the record says %s; the record is kept", r.id, endpoint, prior)
		return nil
	default:
		// Only the endpoint is Cordon's: disable_instance_metadata never
		// touches HttpTokens, so the current value is sent as it is (a
		// move to IMDSv2 made meanwhile stays), rather than left to the
		// API's default.
		input := &ec2.ModifyInstanceMetadataOptionsInput{
			InstanceId: aws.String(r.id), HttpEndpoint: ec2types.InstanceMetadataEndpointState(prior), DryRun: aws.Bool(x.preview()),
		}
		if tokens != "" {
			input.HttpTokens = ec2types.HttpTokensState(tokens)
		}
		_, err := x.aws.EC2.ModifyInstanceMetadataOptions(ctx, input)
		if err := x.ec2Outcome("put back the metadata service of "+r.id, "ec2:ModifyInstanceMetadataOptions", err); err != nil {
			return err
		}
		x.change(r.id, "metadata http_endpoint", endpoint, prior)
		r.put("http_endpoint=%s", prior)
		if recorded := fields["http_tokens"]; recorded != "" && tokens != "" && recorded != tokens {
			x.note("the metadata service of %s now requires http_tokens=%s (it was %s before containment): that change was made since, and is kept", r.id, tokens, recorded)
		}
	}
	return r.removeRecord(ctx, x)
}

func restoreProtection(ctx context.Context, x *execution) error {
	return restoreRecorded(ctx, x, "the protection", TagPriorProtection, putProtectionBack)
}

func putProtectionBack(ctx context.Context, x *execution, r *instanceRestore) error {
	prior, err := parseProtection(r.record)
	if err != nil {
		r.conflict(x, "the %s record of %s is unreadable (%v): put the protection back by hand, then remove the tag", TagPriorProtection, r.id, err)
		return nil
	}
	id := r.id
	// Each protection is put back only where the record says it was off
	// and it is on now: on is what Cordon set. Where the record says it
	// was already on, Cordon changed nothing and leaves it alone.
	if !prior.disableAPITermination {
		on, err := terminationProtected(ctx, x, id)
		if err != nil {
			return err
		}
		if on {
			if err := turnProtectionOff(ctx, x, id, terminationProtectionAttr, "turn termination protection of "+id+" back off"); err != nil {
				return err
			}
			r.put("disable_api_termination=false")
		}
	}
	if prior.stopKnown && !prior.disableAPIStop {
		on, known, err := stopProtected(ctx, x, id)
		if err != nil {
			return err
		}
		if known && on {
			if err := turnProtectionOff(ctx, x, id, stopProtectionAttr, "turn stop protection of "+id+" back off"); err != nil {
				return err
			}
			r.put("disable_api_stop=false")
		}
	}
	stop := string(ec2types.ShutdownBehaviorStop)
	if prior.shutdownBehavior != "" && prior.shutdownBehavior != stop {
		sb, err := instanceAttribute(ctx, x, id, ec2types.InstanceAttributeNameInstanceInitiatedShutdownBehavior)
		if err != nil {
			return err
		}
		now := ""
		if sb.InstanceInitiatedShutdownBehavior != nil {
			now = aws.ToString(sb.InstanceInitiatedShutdownBehavior.Value)
		}
		switch now {
		case prior.shutdownBehavior:
		case stop:
			if err := modifyInstance(ctx, x, &ec2.ModifyInstanceAttributeInput{
				InstanceId: aws.String(id), InstanceInitiatedShutdownBehavior: &ec2types.AttributeValue{Value: aws.String(prior.shutdownBehavior)},
			}, "set the shutdown behaviour of "+id+" back to "+prior.shutdownBehavior); err != nil {
				return err
			}
			x.change(id, "instance_initiated_shutdown_behavior", stop, prior.shutdownBehavior)
			r.put("instance_initiated_shutdown_behavior=%s", prior.shutdownBehavior)
		default:
			r.conflict(x, "the shutdown behaviour of %s is %s, neither stop (Cordon's) nor %s (recorded)", id, now, prior.shutdownBehavior)
		}
	}
	if err := restoreDeleteOnTermination(ctx, x, r.in, prior.deleteOnTermination, &r.restoreReport); err != nil {
		return err
	}
	if prior.scaleInGroup != "" && !prior.protectedFromScaleIn {
		group, protected, err := scaleInProtection(ctx, x, id)
		if err != nil {
			return err
		}
		switch {
		case group != prior.scaleInGroup:
			// Scale-in protection belongs to the membership: out of the
			// group (a detach) there is none to lift.
			x.note("%s is no longer in Auto Scaling group %s (now %q): no scale-in protection to lift there", id, prior.scaleInGroup, group)
		case protected:
			if !x.preview() {
				// Auto Scaling has no dry run: a preview reports the change.
				_, err := x.aws.AutoScaling.SetInstanceProtection(ctx, &autoscaling.SetInstanceProtectionInput{
					AutoScalingGroupName: aws.String(group), InstanceIds: []string{id}, ProtectedFromScaleIn: aws.Bool(false),
				})
				if err != nil {
					return classify("lift the scale-in protection of "+id+" in "+group, "autoscaling:SetInstanceProtection", err)
				}
			}
			x.change(id, "protected_from_scale_in ("+group+")", true, false)
			r.put("protected_from_scale_in=false (%s)", group)
		}
	}
	if len(r.conflicts) > 0 {
		x.note("the %s record of %s is kept for what was left as it is", TagPriorProtection, id)
		return nil
	}
	if len(r.restored) == 0 {
		x.note("the protection of %s is already as recorded; removing the record", id)
	}
	return r.removeRecord(ctx, x)
}

// restoreDeleteOnTermination sets DeleteOnTermination back on the
// recorded volumes that are still attached and kept (what Cordon set).
func restoreDeleteOnTermination(ctx context.Context, x *execution, in ec2types.Instance, volumes []string, report *restoreReport) error {
	id := aws.ToString(in.InstanceId)
	attached := map[string]ec2types.InstanceBlockDeviceMapping{}
	for _, bd := range in.BlockDeviceMappings {
		if bd.Ebs != nil {
			attached[aws.ToString(bd.Ebs.VolumeId)] = bd
		}
	}
	var mappings []ec2types.InstanceBlockDeviceMappingSpecification
	var back []string
	for _, v := range volumes {
		bd, ok := attached[v]
		switch {
		case !ok:
			x.note("%s is no longer attached to %s: its DeleteOnTermination is not Cordon's to put back", v, id)
		case aws.ToBool(bd.Ebs.DeleteOnTermination):
		default:
			mappings = append(mappings, ec2types.InstanceBlockDeviceMappingSpecification{
				DeviceName: bd.DeviceName,
				Ebs:        &ec2types.EbsInstanceBlockDeviceSpecification{VolumeId: aws.String(v), DeleteOnTermination: aws.Bool(true)},
			})
			back = append(back, v)
		}
	}
	if len(mappings) == 0 {
		return nil
	}
	if err := modifyInstance(ctx, x, &ec2.ModifyInstanceAttributeInput{InstanceId: aws.String(id), BlockDeviceMappings: mappings},
		"let the volumes of "+id+" go with it on termination again"); err != nil {
		return err
	}
	slices.Sort(back)
	for _, v := range back {
		x.change(v, "delete_on_termination", false, true)
	}
	report.put("delete_on_termination=true (%s)", strings.Join(back, ","))
	return nil
}

func restoreInstanceProfile(ctx context.Context, x *execution) error {
	return restoreInstance(ctx, x, putInstanceProfileBack)
}

func putInstanceProfileBack(ctx context.Context, x *execution, r *instanceRestore) error {
	id := r.id
	prior, set := r.tags[TagPriorInstanceProfile], r.tags[TagQuarantineInstanceProfile]
	current := ""
	if r.in.IamInstanceProfile != nil {
		current = aws.ToString(r.in.IamInstanceProfile.Arn)
	}
	x.output("instance_profile", current)
	if prior == "" {
		nothingRecorded(x, id, "the instance profile", TagPriorInstanceProfile)
		return nil
	}
	what := "put back the instance profile " + lastPathElement(prior) + " of " + id
	assocs, err := liveAssociations(ctx, x, what, id)
	if err != nil {
		return err
	}
	var assoc *ec2types.IamInstanceProfileAssociation
	if len(assocs) > 0 {
		assoc = &assocs[0]
		current = associationProfile(*assoc)
	} else {
		current = ""
	}
	x.output("instance_profile", current)
	switch {
	case current == prior:
		x.note("%s already has its instance profile %s back; removing the record", id, lastPathElement(prior))
	case set == "":
		// Written before the quarantine profile was recorded too: which
		// profile is Cordon's cannot be told, so none is replaced.
		r.conflict(x, "%s has profile %q and the record does not say which profile Cordon put on; the record says it had %s: put it back by hand, then remove the tag %s",
			id, current, prior, TagPriorInstanceProfile)
		return nil
	case assoc == nil:
		r.conflict(x, "%s has no instance profile, not Cordon's quarantine profile %s: someone removed it since; the record (%s) is kept", id, set, prior)
		return nil
	case current != set:
		r.conflict(x, "%s has the instance profile %s, not Cordon's quarantine profile %s: someone changed it since; the record (%s) is kept", id, current, set, prior)
		return nil
	default:
		x.change(id, "iam_instance_profile", current, prior)
		r.put("iam_instance_profile=%s", prior)
		x.output("instance_profile", prior)
		if !x.preview() {
			// ReplaceIamInstanceProfileAssociation has no DryRun form: a
			// preview only reads.
			if err := putProfileBack(ctx, x, id, *assoc, prior, what); err != nil {
				return err
			}
		}
	}
	keys := []string{TagPriorInstanceProfile}
	if set != "" {
		keys = append(keys, TagQuarantineInstanceProfile)
	}
	return deleteRecord(ctx, x, id, TagPriorInstanceProfile, keys, prior)
}

// putProfileBack replaces the quarantine profile's association with the
// recorded profile, waiting out EC2's view of IAM, and recognising a
// retried call whose first answer was lost (the association has a new id).
func putProfileBack(ctx context.Context, x *execution, id string, assoc ec2types.IamInstanceProfileAssociation, prior, what string) error {
	lost, err := reassociateProfile(ctx, x, id, assoc, ec2types.IamInstanceProfileSpecification{Arn: aws.String(prior)}, what)
	if lost {
		x.note("already done: %s had its profile back when the call was retried (its first answer was lost)", id)
	}
	return err
}
