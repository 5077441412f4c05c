package actions

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"go.temporal.io/sdk/temporal"
)

// tagSnapshotSource names the instance an evidence snapshot was taken
// from, so responders can list an instance's evidence by tag.
const tagSnapshotSource = "cordon:instance"

// evidenceSnapshot is one entry of the snapshots output.
type evidenceSnapshot struct {
	SnapshotID string `json:"snapshot_id"`
	VolumeID   string `json:"volume_id"`
	DeviceName string `json:"device_name"`
	State      string `json:"state"`
	// LockState is the snapshot lock's state (governance, compliance,
	// compliance-cooloff); empty when the step does not lock.
	LockState     string `json:"lock_state"`
	LockExpiresOn string `json:"lock_expires_on"`
}

type snapshotParams struct {
	InstanceID string `json:"instance_id"`
	Wait       bool   `json:"wait"`
	lockParams
	// ReuseIncidentSnapshots: see the spec.
	ReuseIncidentSnapshots bool `json:"reuse_incident_snapshots"`
}

// lockParams are how a step locks the evidence snapshots it takes or
// copies (lock_mode, lock_duration_days): embedded in the params of every
// such step, so each checks and locks alike.
type lockParams struct {
	LockMode         string `json:"lock_mode"`
	LockDurationDays int    `json:"lock_duration_days"`
}

// Snapshot lock modes (lock_mode); lockNone leaves snapshots unlocked.
const (
	lockNone       = "none"
	lockGovernance = string(ec2types.LockModeGovernance)
	lockCompliance = string(ec2types.LockModeCompliance)
)

// codePerVolumeRate is EC2's answer when a volume was snapshotted too
// recently. It is throttling: falling back to per-volume snapshots would
// meet the same limit and lose crash consistency, so the multi-volume call
// is retried with backoff instead.
const codePerVolumeRate = "SnapshotCreationPerVolumeRateExceeded"

// Bounds on the waits for EC2's eventual consistency and per-volume rate,
// in poll intervals: past them Temporal retries the step, which finds the
// snapshots already taken by their tags.
const (
	perVolumeRateAttempts = 4
	visibilityAttempts    = 10
)

// attachedVolume is an EBS volume of the instance.
type attachedVolume struct {
	device, id string
	root       bool
}

func snapshotVolumes(ctx context.Context, x *execution) error {
	var p snapshotParams
	if err := x.decode(&p); err != nil {
		return err
	}
	if err := p.check(x); err != nil {
		return err
	}
	in, err := getInstance(ctx, x, p.InstanceID)
	if err != nil {
		return err
	}
	// Instance-store volumes are not EBS: no snapshot captures them, and
	// a stop or hibernation erases them. Say so in the record.
	devices, _, err := instanceStoreDevices(ctx, x, in)
	if err != nil {
		return err
	}
	x.output("instance_store_devices", devices)
	if len(devices) > 0 {
		x.note("%s has instance-store volumes (%s) that EBS snapshots do not capture and a stop erases: image them from the host before stopping it",
			p.InstanceID, strings.Join(devices, ", "))
	}
	var volumes []attachedVolume
	for _, bd := range in.BlockDeviceMappings {
		if bd.Ebs != nil {
			dev := aws.ToString(bd.DeviceName)
			volumes = append(volumes, attachedVolume{device: dev, id: aws.ToString(bd.Ebs.VolumeId), root: dev == aws.ToString(in.RootDeviceName)})
		}
	}
	// Root first, then by device name: the order responders read them in.
	slices.SortFunc(volumes, func(a, b attachedVolume) int {
		if a.root != b.root {
			if a.root {
				return -1
			}
			return 1
		}
		return strings.Compare(a.device, b.device)
	})
	if len(volumes) == 0 {
		x.note("%s has no EBS volumes attached: nothing to snapshot", p.InstanceID)
		x.output("snapshot_ids", []string{})
		x.output("snapshots", []evidenceSnapshot{})
		return nil
	}

	// A retried attempt finds what earlier attempts of this step took; a
	// re-run of the same incident (after a failed run) finds the completed
	// snapshots an earlier run took of these volumes: the same evidence,
	// not taken twice.
	taken, others, err := evidenceSnapshots(ctx, x)
	if err != nil {
		return err
	}
	if set, ok := reusableSet(volumes, others); ok && len(taken) == 0 && p.ReuseIncidentSnapshots {
		taken = set.snapshots
		x.note("reusing the completed snapshots run %s took of these volumes for incident %s: the same evidence, not taken again",
			set.run, x.runTags()[TagIncident])
		x.output("reused_from_run", set.run)
	} else {
		x.output("reused_from_run", "")
	}
	missing := missingVolumes(volumes, taken)
	if len(missing) > 0 && len(missing) < len(volumes) {
		x.note("reusing %d snapshot(s) taken by an earlier attempt of this step", len(volumes)-len(missing))
	}
	if len(missing) > 0 {
		if x.preview() {
			return previewSnapshots(ctx, x, p, volumes, missing, taken)
		}
		made, err := takeSnapshots(ctx, x, p.InstanceID, volumes, missing)
		if err != nil {
			return err
		}
		// Use what the calls returned: a listing right after creation may
		// not show the new snapshots yet.
		for vol, s := range made {
			taken[vol] = s
		}
		if still := missingVolumes(volumes, taken); len(still) > 0 {
			return temporal.NewApplicationError(fmt.Sprintf("snapshot %s: AWS returned no snapshot for %s", p.InstanceID, volumeIDs(still)), ErrAWSServer)
		}
	} else if len(others) == 0 || !p.ReuseIncidentSnapshots {
		x.note("every volume of %s already has a snapshot from this step", p.InstanceID)
	}

	out := make([]evidenceSnapshot, 0, len(volumes))
	for _, v := range volumes {
		s := taken[v.id]
		out = append(out, evidenceSnapshot{SnapshotID: aws.ToString(s.SnapshotId), VolumeID: v.id, DeviceName: v.device, State: string(s.State)})
	}
	// Lock before waiting: credentials that can delete snapshots should
	// not get the minutes a large snapshot takes to complete.
	if err := p.lock(ctx, x, x.aws.EC2, out); err != nil {
		return err
	}
	if p.Wait && !x.preview() {
		failed := func(s evidenceSnapshot, _ string) error {
			return temporal.NewNonRetryableApplicationError(fmt.Sprintf(
				"snapshot %s of %s (%s on %s) failed in AWS (state error): re-run the step to take a new one",
				s.SnapshotID, s.VolumeID, s.DeviceName, p.InstanceID), ErrAWSServer, nil)
		}
		if out, err = waitForSnapshots(ctx, x, x.aws.EC2, "snapshot "+p.InstanceID, out, failed); err != nil {
			return err
		}
	}
	ids := make([]string, 0, len(out))
	for _, s := range out {
		ids = append(ids, s.SnapshotID)
	}
	x.output("snapshot_ids", ids)
	x.output("snapshots", out)
	return nil
}

// stepSnapshots lists the snapshots this step (run and step tags) took,
// by volume. Failed snapshots are not evidence: a re-run replaces them.
func stepSnapshots(ctx context.Context, x *execution) (map[string]ec2types.Snapshot, error) {
	own, _, err := evidenceSnapshots(ctx, x)
	return own, err
}

// incidentSet is a crash-consistent set of completed snapshots that one
// step of another run of the same incident took.
type incidentSet struct {
	run       string
	snapshots map[string]ec2types.Snapshot // by volume
}

// evidenceSnapshots lists, by volume, the snapshots this step took and,
// when the run names an incident, the completed sets other runs of the
// same incident took (one query either way: by the incident tag when
// there is one, else by run and step). Failed snapshots are not evidence.
func evidenceSnapshots(ctx context.Context, x *execution) (own map[string]ec2types.Snapshot, others []incidentSet, err error) {
	tags := x.runTags()
	filters := []ec2types.Filter{
		{Name: aws.String("tag:" + TagRun), Values: []string{tags[TagRun]}},
		{Name: aws.String("tag:" + TagStep), Values: []string{tags[TagStep]}},
	}
	if incident := tags[TagIncident]; incident != "" {
		filters = []ec2types.Filter{{Name: aws.String("tag:" + TagIncident), Values: []string{incident}}}
	}
	pages := ec2.NewDescribeSnapshotsPaginator(x.aws.EC2, &ec2.DescribeSnapshotsInput{OwnerIds: []string{"self"}, Filters: filters})
	own = map[string]ec2types.Snapshot{}
	sets := map[string]*incidentSet{} // by run and step
	var order []string
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return nil, nil, classify("look for snapshots taken by step "+tags[TagStep], "ec2:DescribeSnapshots", err)
		}
		for _, s := range page.Snapshots {
			if s.State == ec2types.SnapshotStateError {
				continue
			}
			st := ec2TagMap(s.Tags)
			vol := aws.ToString(s.VolumeId)
			if st[TagRun] == tags[TagRun] && st[TagStep] == tags[TagStep] {
				// Keep the oldest if an earlier crash left two.
				if prev, ok := own[vol]; !ok || aws.ToTime(s.StartTime).Before(aws.ToTime(prev.StartTime)) {
					own[vol] = s
				}
				continue
			}
			if s.State != ec2types.SnapshotStateCompleted || st[TagRun] == "" {
				continue
			}
			key := st[TagRun] + "/" + st[TagStep]
			set, ok := sets[key]
			if !ok {
				set = &incidentSet{run: st[TagRun], snapshots: map[string]ec2types.Snapshot{}}
				sets[key] = set
				order = append(order, key)
			}
			set.snapshots[vol] = s
		}
	}
	for _, k := range order {
		others = append(others, *sets[k])
	}
	return own, others, nil
}

// reusableSet is a set among others that covers every volume, from one
// step of one run (so it is as crash-consistent as a new one).
func reusableSet(volumes []attachedVolume, others []incidentSet) (incidentSet, bool) {
	for _, set := range others {
		if len(missingVolumes(volumes, set.snapshots)) == 0 {
			return set, true
		}
	}
	return incidentSet{}, false
}

func missingVolumes(volumes []attachedVolume, taken map[string]ec2types.Snapshot) []attachedVolume {
	var out []attachedVolume
	for _, v := range volumes {
		if _, ok := taken[v.id]; !ok {
			out = append(out, v)
		}
	}
	return out
}

func volumeIDs(vs []attachedVolume) []string {
	out := make([]string, 0, len(vs))
	for _, v := range vs {
		out = append(out, v.id)
	}
	return out
}

func snapshotTags(x *execution, instanceID string) []ec2types.TagSpecification {
	tags := x.runTags()
	tags[tagSnapshotSource] = instanceID
	return []ec2types.TagSpecification{{ResourceType: ec2types.ResourceTypeSnapshot, Tags: ec2Tags(tags)}}
}

func snapshotDescription(x *execution, instanceID string) string {
	d := "Cordon evidence of " + instanceID + ", run " + x.call.Run.RunID
	if x.call.Run.Incident != "" {
		d += ", incident " + x.call.Run.Incident
	}
	return d
}

// multiVolumeInput asks for a crash-consistent set of the missing
// volumes: the instance's volumes minus those already taken.
func multiVolumeInput(x *execution, instanceID string, volumes, missing []attachedVolume, dry bool) *ec2.CreateSnapshotsInput {
	spec := &ec2types.InstanceSpecification{InstanceId: aws.String(instanceID)}
	for _, v := range volumes {
		if slices.Contains(missing, v) {
			continue
		}
		if v.root {
			spec.ExcludeBootVolume = aws.Bool(true)
		} else {
			spec.ExcludeDataVolumeIds = append(spec.ExcludeDataVolumeIds, v.id)
		}
	}
	return &ec2.CreateSnapshotsInput{
		InstanceSpecification: spec,
		Description:           aws.String(snapshotDescription(x, instanceID)),
		TagSpecifications:     snapshotTags(x, instanceID),
		// The volume's tags (owner, application, data class) go with its
		// evidence; Cordon's own tags are set explicitly.
		CopyTagsFromSource: ec2types.CopyTagsFromSourceVolume,
		DryRun:             aws.Bool(dry),
	}
}

// takeSnapshots snapshots the missing volumes: all at once (one point in
// time across volumes, which matters for forensics of a multi-disk
// host), or one by one when the multi-volume call is not possible.
func takeSnapshots(ctx context.Context, x *execution, instanceID string, volumes, missing []attachedVolume) (map[string]ec2types.Snapshot, error) {
	made := map[string]ec2types.Snapshot{}
	out, err := createSnapshotsPaced(ctx, x, multiVolumeInput(x, instanceID, volumes, missing, false))
	if isCode(err, codePerVolumeRate) {
		return nil, temporal.NewApplicationErrorWithOptions(fmt.Sprintf(
			"snapshot the volumes of %s: ec2:CreateSnapshots throttled by AWS (%s: a volume was snapshotted too recently); retrying with backoff",
			instanceID, codePerVolumeRate), ErrThrottled, temporal.ApplicationErrorOptions{Cause: err})
	}
	if err == nil {
		for _, s := range out.Snapshots {
			made[aws.ToString(s.VolumeId)] = ec2types.Snapshot{
				SnapshotId: s.SnapshotId, VolumeId: s.VolumeId, State: s.State, Progress: s.Progress, StartTime: s.StartTime,
			}
		}
		for _, v := range missing {
			x.change(v.id, "snapshot", nil, "crash-consistent snapshot of "+v.device)
		}
		return made, nil
	}
	cerr := classify("snapshot the volumes of "+instanceID, "ec2:CreateSnapshots", err)
	if t := appErrorType(cerr); t == ErrAccessDenied || t == ErrThrottled {
		// Falling back would hide a missing permission or add load to a
		// throttled API.
		return nil, cerr
	}
	x.note("CreateSnapshots failed (%v); snapshotting volume by volume, which is not crash-consistent across volumes "+
		"and does not copy the volumes' tags", err)
	// The failed call may still have created some: look before taking more.
	taken, serr := stepSnapshots(ctx, x)
	if serr != nil {
		return nil, serr
	}
	for vol, s := range taken {
		made[vol] = s
	}
	for _, v := range missingVolumes(missing, taken) {
		x.heartbeat(ctx, "snapshotting "+v.id)
		s, err := x.aws.EC2.CreateSnapshot(ctx, &ec2.CreateSnapshotInput{
			VolumeId:          aws.String(v.id),
			Description:       aws.String(snapshotDescription(x, instanceID) + ", " + v.device),
			TagSpecifications: snapshotTags(x, instanceID),
		})
		if err != nil {
			return nil, classify("snapshot "+v.id+" ("+v.device+") of "+instanceID, "ec2:CreateSnapshot", err)
		}
		made[v.id] = ec2types.Snapshot{SnapshotId: s.SnapshotId, VolumeId: aws.String(v.id), State: s.State, Progress: s.Progress, StartTime: s.StartTime}
		x.change(v.id, "snapshot", nil, "snapshot of "+v.device)
	}
	return made, nil
}

func appErrorType(err error) string {
	var ae *temporal.ApplicationError
	if errors.As(err, &ae) {
		return ae.Type()
	}
	return ""
}

func previewSnapshots(ctx context.Context, x *execution, p snapshotParams, volumes, missing []attachedVolume, taken map[string]ec2types.Snapshot) error {
	instanceID := p.InstanceID
	err := discardOutput(x.aws.EC2.CreateSnapshots(ctx, multiVolumeInput(x, instanceID, volumes, missing, true)))
	if err := dryRunOK("snapshot the volumes of "+instanceID, "ec2:CreateSnapshots", err); err != nil {
		return err
	}
	out := make([]evidenceSnapshot, 0, len(volumes))
	ids := []string{}
	for _, v := range volumes {
		if s, ok := taken[v.id]; ok {
			id := aws.ToString(s.SnapshotId)
			out = append(out, evidenceSnapshot{SnapshotID: id, VolumeID: v.id, DeviceName: v.device, State: string(s.State)})
			ids = append(ids, id)
			continue
		}
		x.change(v.id, "snapshot", nil, "(new) crash-consistent snapshot of "+v.device)
		out = append(out, evidenceSnapshot{SnapshotID: "(new)", VolumeID: v.id, DeviceName: v.device, State: "(new)"})
	}
	if err := p.lock(ctx, x, x.aws.EC2, out); err != nil {
		return err
	}
	x.output("snapshot_ids", ids)
	x.output("snapshots", out)
	return nil
}

// waitForSnapshots polls client until every snapshot is completed,
// heartbeating progress so Temporal knows the long wait is alive. A
// snapshot AWS gave up on (state error) ends the wait with what failed
// returns for it, given its state message. A cancelled step stops waiting
// at once; the snapshots carry on in AWS and a re-run finds them. what
// names the wait in errors ("snapshot i-0abc").
func waitForSnapshots(ctx context.Context, x *execution, client *ec2.Client, what string, snaps []evidenceSnapshot,
	failed func(s evidenceSnapshot, stateMessage string) error,
) ([]evidenceSnapshot, error) {
	ids := make([]string, 0, len(snaps))
	for _, s := range snaps {
		ids = append(ids, s.SnapshotID)
	}
	ticker := time.NewTicker(x.rt.opts.PollInterval)
	defer ticker.Stop()
	progress := map[string]string{} // snapshot id → percent done
	messages := map[string]string{} // snapshot id → AWS's state message
	for {
		pending := 0
		for _, s := range snaps {
			switch ec2types.SnapshotState(s.State) {
			case ec2types.SnapshotStateCompleted:
			case ec2types.SnapshotStateError:
				return nil, failed(s, messages[s.SnapshotID])
			default:
				pending++
			}
		}
		if pending == 0 {
			return snaps, nil
		}
		x.heartbeat(ctx, map[string]any{"pending": pending, "progress": progress})
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("%s: stopped waiting for %d pending snapshot(s): %w", what, pending, ctx.Err())
		case <-ticker.C:
		}
		var out *ec2.DescribeSnapshotsOutput
		check := "check progress of snapshots " + strings.Join(ids, ",")
		err := untilVisible(ctx, x, check, func() (err error) {
			out, err = client.DescribeSnapshots(ctx, &ec2.DescribeSnapshotsInput{SnapshotIds: ids})
			return err
		})
		if err != nil {
			return nil, classify(check, "ec2:DescribeSnapshots", err)
		}
		byID := map[string]ec2types.Snapshot{}
		for _, s := range out.Snapshots {
			byID[aws.ToString(s.SnapshotId)] = s
		}
		for i := range snaps {
			if s, ok := byID[snaps[i].SnapshotID]; ok {
				snaps[i].State = string(s.State)
				progress[snaps[i].SnapshotID] = aws.ToString(s.Progress)
				messages[snaps[i].SnapshotID] = aws.ToString(s.StateMessage)
			}
		}
	}
}

// createSnapshotsPaced sends CreateSnapshots, retrying with backoff while
// EC2 answers that a volume was snapshotted too recently (a rate, not a
// refusal: see codePerVolumeRate).
func createSnapshotsPaced(ctx context.Context, x *execution, in *ec2.CreateSnapshotsInput) (*ec2.CreateSnapshotsOutput, error) {
	delay := x.rt.opts.PollInterval
	for attempt := 1; ; attempt++ {
		out, err := x.aws.EC2.CreateSnapshots(ctx, in)
		if !isCode(err, codePerVolumeRate) || attempt == perVolumeRateAttempts {
			return out, err
		}
		if err := sleep(ctx, delay); err != nil {
			return nil, err
		}
		delay *= 2
	}
}

// untilVisible runs call, and runs it again with bounded backoff while it
// answers InvalidSnapshot.NotFound: EC2 is eventually consistent, and a
// snapshot id CreateSnapshots just returned may not be known yet to the
// next calls. Past the bound the error is retryable, so Temporal retries
// the step, which finds its snapshots by tag. Other errors are returned
// as they are.
func untilVisible(ctx context.Context, x *execution, what string, call func() error) error {
	delay := x.rt.opts.PollInterval
	for attempt := 1; ; attempt++ {
		err := call()
		if !isCode(err, "InvalidSnapshot.NotFound") {
			return err
		}
		if attempt == visibilityAttempts {
			return temporal.NewApplicationErrorWithOptions(fmt.Sprintf(
				"%s: the snapshots this step created are still not visible after %d tries (EC2 eventual consistency); retrying the step",
				what, attempt), ErrAWSServer, temporal.ApplicationErrorOptions{Cause: err})
		}
		if err := sleep(ctx, delay); err != nil {
			return err
		}
		delay = min(2*delay, 4*x.rt.opts.PollInterval)
	}
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// lock locks the step's snapshots (client's account's) in lock_mode for
// lock_duration_days, so that the attacker's credentials (or anyone's)
// cannot delete the evidence: a governance lock until someone allowed to
// unlocks it, a compliance lock until it expires; lock_mode none leaves
// them as they are. Snapshots already locked in that mode, or in
// compliance when governance is asked, are left as they are; a lock in
// another mode is replaced with the asked one (EC2 refuses to weaken a
// compliance lock). The lock state is recorded in each snapshot's entry.
func (l lockParams) lock(ctx context.Context, x *execution, client *ec2.Client, snaps []evidenceSnapshot) error {
	mode, days := l.LockMode, l.LockDurationDays
	if mode == lockNone {
		return nil
	}
	var ids []string
	for i := range snaps {
		if snaps[i].SnapshotID == "(new)" {
			snaps[i].LockState = "(new) " + mode
			x.change(snaps[i].VolumeID, "snapshot lock", nil, fmt.Sprintf("%s for %d days", mode, days))
			continue
		}
		ids = append(ids, snaps[i].SnapshotID)
	}
	if len(ids) == 0 {
		return nil
	}
	what := "read the locks of snapshots " + strings.Join(ids, ",")
	current := map[string]ec2types.LockedSnapshotsInfo{}
	err := untilVisible(ctx, x, what, func() error {
		in := &ec2.DescribeLockedSnapshotsInput{SnapshotIds: ids}
		for {
			page, err := client.DescribeLockedSnapshots(ctx, in)
			if err != nil {
				return err
			}
			for _, l := range page.Snapshots {
				current[aws.ToString(l.SnapshotId)] = l
			}
			if aws.ToString(page.NextToken) == "" {
				return nil
			}
			in.NextToken = page.NextToken
		}
	})
	if err != nil {
		return classify(what, "ec2:DescribeLockedSnapshots", err)
	}
	kept := 0
	for i := range snaps {
		s := &snaps[i]
		if s.SnapshotID == "(new)" {
			continue
		}
		before := current[s.SnapshotID]
		state := string(before.LockState)
		if satisfiesLock(state, mode) {
			s.LockState, s.LockExpiresOn = state, lockTime(before.LockExpiresOn)
			kept++
			continue
		}
		var out *ec2.LockSnapshotOutput
		what := fmt.Sprintf("lock snapshot %s of %s in %s mode", s.SnapshotID, s.VolumeID, mode)
		err := untilVisible(ctx, x, what, func() (err error) {
			out, err = client.LockSnapshot(ctx, &ec2.LockSnapshotInput{
				SnapshotId: aws.String(s.SnapshotID), LockMode: ec2types.LockMode(mode),
				LockDuration: aws.Int32(int32(days)), DryRun: aws.Bool(x.preview()),
			})
			return err
		})
		if err := x.ec2Outcome(what, "ec2:LockSnapshot", err); err != nil {
			return err
		}
		if state == "" {
			state = "unlocked"
		}
		x.change(s.SnapshotID, "lock", state, fmt.Sprintf("%s for %d days", mode, days))
		s.LockState = mode
		if out != nil {
			s.LockState, s.LockExpiresOn = string(out.LockState), lockTime(out.LockExpiresOn)
		}
	}
	if kept > 0 {
		x.note("%d snapshot(s) were already locked (%s or stronger): left as they are", kept, mode)
	}
	return nil
}

// check refuses a lock duration EC2 would refuse, before anything
// changes.
func (l lockParams) check(x *execution) error {
	if l.LockMode != lockNone && (l.LockDurationDays < 1 || l.LockDurationDays > 36500) {
		return badParams(x.call.Action, fmt.Errorf("lock_duration_days %d is outside 1–36500 (EC2's bounds for a snapshot lock)", l.LockDurationDays))
	}
	return nil
}

// satisfiesLock reports whether a snapshot in lock state already holds
// the lock mode asks for: a compliance lock is at least a governance one.
func satisfiesLock(state, mode string) bool {
	switch ec2types.LockState(state) {
	case ec2types.LockStateCompliance, ec2types.LockStateComplianceCooloff:
		return true
	case ec2types.LockStateGovernance:
		return mode == lockGovernance
	}
	return false
}

func lockTime(t *time.Time) string {
	if t == nil {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}
