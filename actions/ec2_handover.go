package actions

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	kmstypes "github.com/aws/aws-sdk-go-v2/service/kms/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"go.temporal.io/sdk/temporal"

	"github.com/cordon-ir/cordon/actions/spec"
	"github.com/cordon-ir/cordon/evidence"
)

// Disks to the forensic account. The evidence snapshots stay, locked, in
// the compromised account, where the attacker's credentials may still
// reach them; their copies go to a separate forensic account that those
// credentials cannot reach. EC2 allows that only through a customer
// managed KMS key the other account may use: a snapshot encrypted with
// the AWS managed key alias/aws/ebs cannot be shared at all (its key
// policy admits its own account only), so each snapshot is first copied
// to the handover key, that copy shared (createVolumePermission), and the
// forensic account, through its own role, copies the shared snapshot into
// its account under its own key. The forensic copy is what the
// investigation works on; it depends on nothing in the compromised
// account once it is complete.
//
// Every copy carries the run and step tags and the snapshot it descends
// from (tagHandoverSource), in both accounts: a retried attempt or a second
// run of the step finds what was done and does the rest. A copy AWS gave
// up on (state error: EC2 checks KMS keys only once the copy has started)
// is not found again, so a re-run after the key policy is fixed copies
// anew.

// tagHandoverSource records, on the handover copy and on the forensic
// copy, the evidence snapshot they descend from.
const tagHandoverSource = "cordon:handover-source"

// tagHandoverFrom records, on the forensic copy, the account it came from.
const tagHandoverFrom = "cordon:handover-from"

// newSnapshot stands for a snapshot a preview would create.
const newSnapshot = "(new)"

func ec2HandoverActions() []registration {
	str, strs := spec.String, spec.ListOf(spec.String)
	handed := spec.ObjectOf(spec.F("source_snapshot_id", str, "The evidence snapshot, in the account the step targets."),
		spec.F("handover_snapshot_id", str, "Its copy under the handover key, shared with the forensic account (the source itself when it was under that key already)."),
		spec.F("forensic_snapshot_id", str, "The forensic account's own copy."), spec.F("forensic_kms_key_arn", str, "The key the forensic copy is encrypted with."),
		spec.F("state", str, "State of the forensic copy: completed."),
		spec.F("lock_state", str, "Lock of the forensic copy: governance, compliance or compliance-cooloff; empty when lock_mode is none."))
	return []registration{
		action(spec.Action{
			Name: "aws.ec2.handover_snapshots", Service: "ec2",
			Summary: "Hand the evidence snapshots over to the forensic account: locked here, re-encrypted with a key it may use, shared, and copied into it under its own key.",
			Description: "With lock_mode, the snapshots are locked in this account first (LockSnapshot). Each is then copied " +
				"(CopySnapshot) to handover_kms_key_id, a customer managed key whose key policy lets the forensic account use it: " +
				"a snapshot encrypted with the AWS managed key aws/ebs cannot be shared at all, hence the copy, which also " +
				"encrypts an unencrypted one. The copy is shared with the forensic account (ModifySnapshotAttribute " +
				"createVolumePermission), and the forensic account's role (forensic_account in the worker configuration's " +
				"aws.accounts) copies it into its own account under forensic_kms_key_id, locks that copy too, and waits for it. " +
				"EC2 checks keys once a copy has started: a key either account may not use ends the copy in state error, and " +
				"the step fails saying which key policy to fix. Copies are tagged with the run, the step and the source " +
				"snapshot in both accounts, so a retry or a second run does only what is left. With an evidence store, the " +
				"handover's record (every snapshot, its copies, the keys and both accounts) is stored as an artefact of the case.",
			Params: []spec.Param{
				{Name: "snapshot_ids", Type: strs, Required: true, Pattern: `^snap-[0-9a-f]{8,17}$`, Description: "The evidence snapshots (aws.ec2.snapshot_volumes' snapshot_ids)."},
				{Name: "forensic_account", Type: str, Description: "The forensic account's name in the worker configuration (aws.accounts): its role makes the copy there. Default: the evidence store's account (evidence.account)."},
				{Name: "handover_kms_key_id", Type: str, Default: "alias/cordon-handover", Description: "Customer managed key of this account that the forensic account may use (id, ARN or alias)."},
				{Name: "forensic_kms_key_id", Type: str, Default: "alias/cordon-evidence", Description: "The forensic account's own key for its copies (id, ARN or alias in that account)."},
				{Name: "lock_mode", Type: str, Default: "governance", Enum: []string{"none", "governance", "compliance"}, Description: "Lock the snapshots here and the forensic copies there: none, governance or compliance (irreversible until it expires)."},
				{Name: "lock_duration_days", Type: spec.Int, Default: 30, Description: "How long the locks hold, in days (1–36500)."},
			},
			Outputs: []spec.Field{
				spec.F("forensic_account_id", str, "The forensic account's id."),
				spec.F("forensic_snapshot_ids", strs, "The forensic account's copies, in the order of snapshot_ids."),
				spec.F("snapshots", spec.ListOf(handed), "Each snapshot's way to the forensic account."),
			},
			Mutating: true,
			DryRun: "Checks both accounts' keys (DescribeKey); sends LockSnapshot, CopySnapshot and ModifySnapshotAttribute with " +
				"DryRun=true here, and the forensic account's CopySnapshot with DryRun=true once the shared copy exists.",
			// The kms: permissions besides DescribeKey are EBS's: it uses the
			// keys on the caller's behalf while it copies (the EBS guide's
			// list), and a copy whose caller may not fails in state error.
			Permissions: slices.Concat([]string{
				"ec2:DescribeSnapshots", "kms:DescribeKey", "ec2:DescribeLockedSnapshots", "ec2:LockSnapshot", "ec2:CopySnapshot",
				"ec2:CreateTags", "ec2:DescribeSnapshotAttribute", "ec2:ModifySnapshotAttribute",
			}, ebsCopyKeyPermissions()),
			ForensicPermissions: slices.Concat([]string{
				"sts:GetCallerIdentity", "kms:DescribeKey", "ec2:DescribeSnapshots", "ec2:CopySnapshot", "ec2:CreateTags",
				"ec2:DescribeLockedSnapshots", "ec2:LockSnapshot",
			}, ebsCopyKeyPermissions(), evidence.StorePermissions()),
			Timeout: 4 * hour,
		}, handoverSnapshots),
	}
}

// ebsCopyKeyPermissions are what EBS does with the source and destination
// keys on the caller's behalf when it copies an encrypted snapshot.
func ebsCopyKeyPermissions() []string {
	return []string{"kms:CreateGrant", "kms:Decrypt", "kms:ReEncryptFrom", "kms:ReEncryptTo", "kms:GenerateDataKeyWithoutPlaintext"}
}

type handoverParams struct {
	SnapshotIDs     []string `json:"snapshot_ids"`
	ForensicAccount string   `json:"forensic_account"`
	HandoverKey     string   `json:"handover_kms_key_id"`
	ForensicKey     string   `json:"forensic_kms_key_id"`
	lockParams
}

// handedSnapshot is one entry of the snapshots output.
type handedSnapshot struct {
	SourceSnapshotID   string `json:"source_snapshot_id"`
	HandoverSnapshotID string `json:"handover_snapshot_id"`
	ForensicSnapshotID string `json:"forensic_snapshot_id"`
	ForensicKeyARN     string `json:"forensic_kms_key_arn"`
	State              string `json:"state"`
	LockState          string `json:"lock_state"`
}

// handover is one run of the step: both accounts' clients, the keys, and
// each snapshot's way.
type handover struct {
	x           *execution
	p           handoverParams
	forensic    *Clients
	forensicID  string
	region      string
	handoverKey kmstypes.KeyMetadata
	forensicKey kmstypes.KeyMetadata
	sources     []ec2types.Snapshot
	handovers   map[string]ec2types.Snapshot // by source: the shared copy
	copies      map[string]ec2types.Snapshot // by source: the forensic copy
}

func handoverSnapshots(ctx context.Context, x *execution) error {
	var p handoverParams
	if err := x.decode(&p); err != nil {
		return err
	}
	if err := p.check(x); err != nil {
		return err
	}
	// Each once, in the order given: the outputs follow it.
	seen := map[string]bool{}
	p.SnapshotIDs = slices.DeleteFunc(p.SnapshotIDs, func(id string) bool {
		dup := seen[id]
		seen[id] = true
		return dup
	})
	if len(p.SnapshotIDs) == 0 {
		x.note("no snapshot to hand over")
		x.output("forensic_account_id", "")
		x.output("forensic_snapshot_ids", []string{})
		x.output("snapshots", []handedSnapshot{})
		return nil
	}
	if p.ForensicAccount == "" {
		p.ForensicAccount = x.rt.opts.Evidence.Account
	}
	if p.ForensicAccount == "" {
		return badParams(x.call.Action, errors.New("no forensic account: name it in forensic_account, or configure evidence.account in the worker configuration"))
	}
	h := &handover{x: x, p: p, region: x.aws.EC2.Options().Region}
	// In this order: everything that can refuse the step (the forensic
	// account, the snapshots, the keys) before anything changes.
	for _, stage := range []func(context.Context) error{
		h.connect, h.readSources, h.readKeys, h.findCopies, h.lockSources, h.waitForSources, h.copyToHandoverKey, h.share,
	} {
		if err := stage(ctx); err != nil {
			return err
		}
	}
	out, err := h.copyIntoForensic(ctx)
	if err != nil {
		return err
	}
	ids := make([]string, 0, len(out))
	for _, s := range out {
		ids = append(ids, s.ForensicSnapshotID)
	}
	x.output("forensic_account_id", h.forensicID)
	x.output("forensic_snapshot_ids", ids)
	x.output("snapshots", out)
	return h.record(ctx, out)
}

// handoverRecord is the handover's artefact: where each snapshot went,
// under which keys, between which accounts.
type handoverRecord struct {
	Format          string           `json:"format"`
	SourceAccount   string           `json:"source_account"`
	ForensicAccount string           `json:"forensic_account"`
	Region          string           `json:"region"`
	HandoverKeyARN  string           `json:"handover_kms_key_arn"`
	Snapshots       []handedSnapshot `json:"snapshots"`
}

// record stores the handover's record in the evidence store, once the
// forensic copies are complete: the snapshot ids are evidence too (the
// disks themselves stay snapshots in the forensic account).
func (h *handover) record(ctx context.Context, out []handedSnapshot) error {
	body, err := json.MarshalIndent(handoverRecord{
		Format: "cordon.snapshot-handover/v1", SourceAccount: aws.ToString(h.sources[0].OwnerId), ForensicAccount: h.forensicID,
		Region: h.region, HandoverKeyARN: aws.ToString(h.handoverKey.Arn), Snapshots: out,
	}, "", "  ")
	if err != nil {
		return badParams(h.x.call.Action, fmt.Errorf("encode the handover's record: %w", err))
	}
	// The instance the snapshots were taken of, when they say so and it
	// is one.
	subject := ""
	for i, s := range h.sources {
		if v := ec2TagMap(s.Tags)[tagSnapshotSource]; i == 0 || v == subject {
			subject = v
		} else {
			subject = ""
			break
		}
	}
	_, err = h.x.keepEvidence(ctx, evidence.Item{
		Kind: "snapshots", Subject: subject, Name: "handover.json", ContentType: "application/json",
		Description: fmt.Sprintf("EBS snapshots %s handed over to the forensic account %s", strings.Join(h.p.SnapshotIDs, ", "), h.forensicID),
		Source:      "ec2:CopySnapshot, ec2:ModifySnapshotAttribute",
	}, body)
	return err
}

// forensicWhat prefixes what a call in the forensic account does, so that
// its failure names the account whose role lacks something.
func (h *handover) forensicWhat(what string) string {
	return fmt.Sprintf("in the forensic account %s (%s): %s", h.p.ForensicAccount, h.forensicID, what)
}

// connect reaches the forensic account through its role and learns its id.
func (h *handover) connect(ctx context.Context) error {
	x := h.x
	fc, err := x.rt.opts.Clients.Clients(ctx, Target{Account: h.p.ForensicAccount, Region: h.region}, x.call.Run)
	if err != nil {
		return badParams(x.call.Action, fmt.Errorf("forensic_account %q: %w", h.p.ForensicAccount, err))
	}
	id, err := fc.STS.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil {
		return classify(fmt.Sprintf("find the id of the forensic account %s", h.p.ForensicAccount), "sts:GetCallerIdentity", err)
	}
	h.forensic, h.forensicID = fc, aws.ToString(id.Account)
	return nil
}

// readSources describes the evidence snapshots: they must exist, be this
// account's, and not be the forensic account's own.
func (h *handover) readSources(ctx context.Context) error {
	x := h.x
	what := "read the evidence snapshots " + strings.Join(h.p.SnapshotIDs, ",")
	out, err := x.aws.EC2.DescribeSnapshots(ctx, &ec2.DescribeSnapshotsInput{SnapshotIds: h.p.SnapshotIDs})
	if err != nil {
		return classify(what, "ec2:DescribeSnapshots", err)
	}
	byID := map[string]ec2types.Snapshot{}
	for _, s := range out.Snapshots {
		byID[aws.ToString(s.SnapshotId)] = s
	}
	for _, id := range h.p.SnapshotIDs {
		s, ok := byID[id]
		if !ok {
			return classify(what, "ec2:DescribeSnapshots", notFound("InvalidSnapshot.NotFound", fmt.Sprintf("the snapshot '%s' does not exist", id)))
		}
		if owner := aws.ToString(s.OwnerId); owner == h.forensicID {
			return badParams(x.call.Action, fmt.Errorf("snapshot %s belongs to the forensic account %s already: the step targets the account the evidence is in", id, owner))
		}
		h.sources = append(h.sources, s)
	}
	return nil
}

// readKeys resolves both keys and checks, before anything changes, that
// each account may use what it needs: the handover key is customer
// managed and visible to the forensic account, the forensic key is the
// forensic account's own. A key policy that lets the forensic account
// use the handover key also lets it describe it (the EBS guide's
// statement includes kms:DescribeKey), so a refusal here is the key
// policy missing that statement.
func (h *handover) readKeys(ctx context.Context) error {
	x := h.x
	key, err := describeKey(ctx, x.aws.KMS, h.p.HandoverKey)
	if err != nil {
		return classify("find the handover key "+h.p.HandoverKey, "kms:DescribeKey", err)
	}
	if key.KeyManager != kmstypes.KeyManagerTypeCustomer {
		return badParams(x.call.Action, fmt.Errorf("handover_kms_key_id %s is an AWS managed key, which no other account may use: "+
			"name a customer managed key whose key policy lets the forensic account %s use it", h.p.HandoverKey, h.forensicID))
	}
	h.handoverKey = key
	arn := aws.ToString(key.Arn)
	if _, err := describeKey(ctx, h.forensic.KMS, arn); err != nil {
		if isCode(err, "AccessDeniedException") || isCode(err, "NotFoundException") {
			return temporal.NewNonRetryableApplicationError(fmt.Sprintf(
				"%s: the forensic account may not use the handover key %s: add to its key policy a statement allowing "+
					"arn:aws:iam::%s:root kms:DescribeKey, kms:CreateGrant, kms:Decrypt, kms:ReEncrypt* and kms:GenerateDataKey* "+
					"(cordon policy prints it): %v", x.call.Action, arn, h.forensicID, err), ErrAccessDenied, err)
		}
		return classify(h.forensicWhat("read the handover key "+arn), "kms:DescribeKey", err)
	}
	own, err := describeKey(ctx, h.forensic.KMS, h.p.ForensicKey)
	if err != nil {
		return classify(h.forensicWhat("find the forensic key "+h.p.ForensicKey), "kms:DescribeKey", err)
	}
	if aws.ToString(own.AWSAccountId) != h.forensicID {
		return badParams(x.call.Action, fmt.Errorf("forensic_kms_key_id %s belongs to account %s, not to the forensic account %s: "+
			"its copies must depend on nothing outside it", h.p.ForensicKey, aws.ToString(own.AWSAccountId), h.forensicID))
	}
	h.forensicKey = own
	return nil
}

func describeKey(ctx context.Context, client *kms.Client, ref string) (kmstypes.KeyMetadata, error) {
	out, err := client.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: aws.String(ref)})
	if err != nil {
		return kmstypes.KeyMetadata{}, err
	}
	if out.KeyMetadata == nil {
		return kmstypes.KeyMetadata{}, notFound("NotFoundException", "key "+ref+" was not returned")
	}
	return *out.KeyMetadata, nil
}

// stepCopies lists, by the snapshot they descend from, the copies this
// step made in client's account. Failed copies are not found: a re-run
// copies again.
func stepCopies(ctx context.Context, x *execution, client *ec2.Client, what string) (map[string]ec2types.Snapshot, error) {
	tags := x.runTags()
	pages := ec2.NewDescribeSnapshotsPaginator(client, &ec2.DescribeSnapshotsInput{OwnerIds: []string{"self"}, Filters: []ec2types.Filter{
		{Name: aws.String("tag:" + TagRun), Values: []string{tags[TagRun]}},
		{Name: aws.String("tag:" + TagStep), Values: []string{tags[TagStep]}},
	}})
	out := map[string]ec2types.Snapshot{}
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return nil, classify(what, "ec2:DescribeSnapshots", err)
		}
		for _, s := range page.Snapshots {
			src := ec2TagMap(s.Tags)[tagHandoverSource]
			if s.State == ec2types.SnapshotStateError || src == "" {
				continue
			}
			if prev, ok := out[src]; !ok || aws.ToTime(s.StartTime).Before(aws.ToTime(prev.StartTime)) {
				out[src] = s
			}
		}
	}
	return out, nil
}

// findCopies finds what earlier attempts of this step made in both
// accounts.
func (h *handover) findCopies(ctx context.Context) error {
	var err error
	if h.handovers, err = stepCopies(ctx, h.x, h.x.aws.EC2, "look for the handover copies of step "+h.x.stepKey()); err != nil {
		return err
	}
	h.copies, err = stepCopies(ctx, h.x, h.forensic.EC2, h.forensicWhat("look for the copies of step "+h.x.stepKey()))
	return err
}

// copyTags are the tags of a copy of source.
func (h *handover) copyTags(source string, extra map[string]string) []ec2types.TagSpecification {
	tags := h.x.runTags()
	tags[tagHandoverSource] = source
	for k, v := range extra {
		tags[k] = v
	}
	return []ec2types.TagSpecification{{ResourceType: ec2types.ResourceTypeSnapshot, Tags: ec2Tags(tags)}}
}

func (h *handover) description(source string) string {
	d := "Cordon handover of " + source + " to account " + h.forensicID + ", run " + h.x.call.Run.RunID
	if h.x.call.Run.Incident != "" {
		d += ", incident " + h.x.call.Run.Incident
	}
	return d
}

// lockSources locks the evidence snapshots in this account, with
// lock_mode, before they are copied.
func (h *handover) lockSources(ctx context.Context) error {
	if h.p.LockMode == lockNone {
		return nil
	}
	locks := make([]evidenceSnapshot, 0, len(h.sources))
	for _, s := range h.sources {
		locks = append(locks, evidenceSnapshot{SnapshotID: aws.ToString(s.SnapshotId), VolumeID: aws.ToString(s.VolumeId)})
	}
	return h.p.lock(ctx, h.x, h.x.aws.EC2, locks)
}

// waitForSources waits for evidence snapshots still pending (a snapshot
// step that did not wait): only a completed snapshot can be copied. A
// preview does not wait.
func (h *handover) waitForSources(ctx context.Context) error {
	x := h.x
	var pending []evidenceSnapshot
	for _, s := range h.sources {
		if _, done := h.copies[aws.ToString(s.SnapshotId)]; !done && s.State != ec2types.SnapshotStateCompleted {
			pending = append(pending, evidenceSnapshot{SnapshotID: aws.ToString(s.SnapshotId), VolumeID: aws.ToString(s.VolumeId), State: string(s.State)})
		}
	}
	if len(pending) == 0 || x.preview() {
		return nil
	}
	done, err := waitForSnapshots(ctx, x, x.aws.EC2, "hand over "+strings.Join(h.p.SnapshotIDs, ","), pending, func(s evidenceSnapshot, _ string) error {
		return temporal.NewNonRetryableApplicationError(fmt.Sprintf(
			"the evidence snapshot %s of %s failed in AWS (state error): take a new one, then hand it over", s.SnapshotID, s.VolumeID), ErrAWSServer, nil)
	})
	if err != nil {
		return err
	}
	for _, d := range done {
		i := slices.IndexFunc(h.sources, func(s ec2types.Snapshot) bool { return aws.ToString(s.SnapshotId) == d.SnapshotID })
		h.sources[i].State = ec2types.SnapshotState(d.State)
	}
	return nil
}

// copyToHandoverKey copies each source not yet under the handover key to
// it, and waits for the copies: only a completed snapshot can be shared.
func (h *handover) copyToHandoverKey(ctx context.Context) error {
	x := h.x
	keyARN := aws.ToString(h.handoverKey.Arn)
	var made []evidenceSnapshot
	for _, s := range h.sources {
		id := aws.ToString(s.SnapshotId)
		if _, done := h.copies[id]; done {
			continue // in the forensic account already
		}
		if aws.ToString(s.KmsKeyId) == keyARN {
			h.handovers[id] = s // shareable as it is
			continue
		}
		if c, ok := h.handovers[id]; ok {
			if c.State != ec2types.SnapshotStateCompleted {
				made = append(made, evidenceSnapshot{SnapshotID: aws.ToString(c.SnapshotId), VolumeID: id, State: string(c.State)})
			}
			continue
		}
		if err := h.sourceKeyNote(ctx, s); err != nil {
			return err
		}
		if s.State != ec2types.SnapshotStateCompleted {
			// Only in a preview: an execution waited for it. EC2 refuses
			// a dry-run copy of a pending snapshot, so say what will be.
			x.note("%s is %s: the step waits for it to complete before copying it", id, s.State)
			x.change(id, "handover copy", nil, "encrypted with "+keyARN)
			h.handovers[id] = ec2types.Snapshot{SnapshotId: aws.String(newSnapshot)}
			continue
		}
		what := fmt.Sprintf("copy snapshot %s to the handover key %s", id, keyARN)
		out, err := x.aws.EC2.CopySnapshot(ctx, &ec2.CopySnapshotInput{
			SourceSnapshotId: aws.String(id), SourceRegion: aws.String(h.region), Encrypted: aws.Bool(true), KmsKeyId: aws.String(keyARN),
			Description: aws.String(h.description(id)), TagSpecifications: h.copyTags(id, nil), DryRun: aws.Bool(x.preview()),
		})
		if err := x.ec2Outcome(what, "ec2:CopySnapshot", err); err != nil {
			return err
		}
		x.change(id, "handover copy", nil, "encrypted with "+keyARN)
		if x.preview() {
			h.handovers[id] = ec2types.Snapshot{SnapshotId: aws.String(newSnapshot)}
			continue
		}
		c := ec2types.Snapshot{SnapshotId: out.SnapshotId, State: ec2types.SnapshotStatePending, KmsKeyId: aws.String(keyARN)}
		h.handovers[id] = c
		made = append(made, evidenceSnapshot{SnapshotID: aws.ToString(out.SnapshotId), VolumeID: id, State: string(c.State)})
	}
	if len(made) == 0 || x.preview() {
		return nil
	}
	done, err := waitForSnapshots(ctx, x, x.aws.EC2, "hand over "+strings.Join(h.p.SnapshotIDs, ","), made, func(s evidenceSnapshot, msg string) error {
		return temporal.NewNonRetryableApplicationError(fmt.Sprintf(
			"the copy %s of %s to the handover key %s failed in AWS (%s): this account's role must be allowed kms:CreateGrant, "+
				"kms:Decrypt, kms:ReEncrypt* and kms:GenerateDataKey* on the source snapshot's key and on the handover key; "+
				"fix the key policy, then re-run the step", s.SnapshotID, s.VolumeID, keyARN, firstNonEmpty(msg, "state error")), ErrAccessDenied, nil)
	})
	if err != nil {
		return err
	}
	for _, s := range done {
		c := h.handovers[s.VolumeID]
		c.State = ec2types.SnapshotState(s.State)
		h.handovers[s.VolumeID] = c
	}
	return nil
}

// sourceKeyNote says why a snapshot is copied before it is shared, in
// the step's notes: what a responder reading the timeline asks first.
func (h *handover) sourceKeyNote(ctx context.Context, s ec2types.Snapshot) error {
	id, keyRef := aws.ToString(s.SnapshotId), aws.ToString(s.KmsKeyId)
	if !aws.ToBool(s.Encrypted) || keyRef == "" {
		h.x.note("%s is not encrypted: its handover copy is encrypted with the handover key", id)
		return nil
	}
	key, err := describeKey(ctx, h.x.aws.KMS, keyRef)
	if err != nil {
		return classify("read the key of snapshot "+id, "kms:DescribeKey", err)
	}
	if key.KeyManager == kmstypes.KeyManagerTypeAws {
		h.x.note("%s is encrypted with the AWS managed key aws/ebs, which cannot be shared with another account: "+
			"it is copied to the handover key first, and the copy is shared", id)
	}
	return nil
}

// share gives the forensic account createVolumePermission on each
// handover snapshot.
func (h *handover) share(ctx context.Context) error {
	x := h.x
	for _, s := range h.sources {
		id := aws.ToString(s.SnapshotId)
		c, ok := h.handovers[id]
		if !ok {
			continue // copied into the forensic account already
		}
		hid := aws.ToString(c.SnapshotId)
		field := "shared with account " + h.forensicID
		if hid == newSnapshot {
			x.change(id, field, false, true)
			continue
		}
		what := fmt.Sprintf("share snapshot %s with the forensic account %s", hid, h.forensicID)
		attr, err := x.aws.EC2.DescribeSnapshotAttribute(ctx, &ec2.DescribeSnapshotAttributeInput{
			SnapshotId: aws.String(hid), Attribute: ec2types.SnapshotAttributeNameCreateVolumePermission,
		})
		if err != nil {
			return classify(what, "ec2:DescribeSnapshotAttribute", err)
		}
		if slices.ContainsFunc(attr.CreateVolumePermissions, func(p ec2types.CreateVolumePermission) bool {
			return aws.ToString(p.UserId) == h.forensicID
		}) {
			x.note("%s is shared with the forensic account %s already", hid, h.forensicID)
			continue
		}
		_, err = x.aws.EC2.ModifySnapshotAttribute(ctx, &ec2.ModifySnapshotAttributeInput{
			SnapshotId: aws.String(hid), Attribute: ec2types.SnapshotAttributeNameCreateVolumePermission,
			OperationType: ec2types.OperationTypeAdd, UserIds: []string{h.forensicID}, DryRun: aws.Bool(x.preview()),
		})
		if err := x.ec2Outcome(what, "ec2:ModifySnapshotAttribute", err); err != nil {
			return err
		}
		x.change(id, field, false, true)
	}
	return nil
}

// copyIntoForensic has the forensic account copy each shared snapshot
// under its own key, locks the copies and waits for them.
func (h *handover) copyIntoForensic(ctx context.Context) ([]handedSnapshot, error) {
	x, fc := h.x, h.forensic
	keyARN := aws.ToString(h.forensicKey.Arn)
	out := make([]handedSnapshot, 0, len(h.sources))
	var pending []evidenceSnapshot
	for _, s := range h.sources {
		id := aws.ToString(s.SnapshotId)
		entry := handedSnapshot{SourceSnapshotID: id, ForensicKeyARN: keyARN}
		if c, ok := h.copies[id]; ok {
			entry.ForensicSnapshotID, entry.State = aws.ToString(c.SnapshotId), string(c.State)
			entry.HandoverSnapshotID = ec2TagMap(c.Tags)[tagHandoverShared]
			entry.ForensicKeyARN = firstNonEmpty(aws.ToString(c.KmsKeyId), keyARN)
			x.note("the forensic account %s has its copy %s of %s already", h.forensicID, entry.ForensicSnapshotID, id)
		} else {
			hid := aws.ToString(h.handovers[id].SnapshotId)
			entry.HandoverSnapshotID = hid
			copied, err := h.forensicCopy(ctx, s, hid, keyARN)
			if err != nil {
				return nil, err
			}
			entry.ForensicSnapshotID, entry.State = copied, string(ec2types.SnapshotStatePending)
			if copied == newSnapshot {
				entry.State = newSnapshot
			}
		}
		out = append(out, entry)
		pending = append(pending, evidenceSnapshot{SnapshotID: entry.ForensicSnapshotID, VolumeID: id, State: entry.State})
	}
	// Lock before waiting, as for the evidence snapshots themselves.
	if h.p.LockMode != lockNone {
		if err := h.p.lock(ctx, x, fc.EC2, pending); err != nil {
			return nil, err
		}
		for i := range out {
			out[i].LockState = pending[i].LockState
		}
	}
	if x.preview() {
		return out, nil
	}
	done, err := waitForSnapshots(ctx, x, fc.EC2, h.forensicWhat("copy "+strings.Join(h.p.SnapshotIDs, ",")), pending, func(s evidenceSnapshot, msg string) error {
		return temporal.NewNonRetryableApplicationError(fmt.Sprintf(
			"the forensic account's copy %s of %s failed in AWS (%s): the handover key %s must let account %s use it "+
				"(kms:CreateGrant, kms:Decrypt, kms:ReEncrypt*, kms:GenerateDataKey*), and its role must be allowed to use its own key %s; "+
				"fix the key policy, then re-run the step", s.SnapshotID, s.VolumeID, firstNonEmpty(msg, "state error"),
			aws.ToString(h.handoverKey.Arn), h.forensicID, keyARN), ErrAccessDenied, nil)
	})
	if err != nil {
		return nil, err
	}
	for i := range out {
		out[i].State = done[i].State
	}
	return out, nil
}

// tagHandoverShared records, on the forensic copy, the shared snapshot it
// was copied from.
const tagHandoverShared = "cordon:handover-snapshot"

// forensicCopy copies the shared snapshot hid of src into the forensic
// account under its key; in a preview, it dry-runs the copy when the
// shared snapshot exists and is shared already.
func (h *handover) forensicCopy(ctx context.Context, src ec2types.Snapshot, hid, keyARN string) (string, error) {
	x, source := h.x, aws.ToString(src.SnapshotId)
	field := "copy in the forensic account " + h.forensicID
	if x.preview() && (hid == newSnapshot || !h.sharedAlready(ctx, hid)) {
		x.change(source, field, nil, "encrypted with "+keyARN)
		return newSnapshot, nil
	}
	what := h.forensicWhat(fmt.Sprintf("copy the shared snapshot %s of %s", hid, source))
	out, err := h.forensic.EC2.CopySnapshot(ctx, &ec2.CopySnapshotInput{
		SourceSnapshotId: aws.String(hid), SourceRegion: aws.String(h.region), Encrypted: aws.Bool(true), KmsKeyId: aws.String(keyARN),
		Description:       aws.String(h.description(source)),
		TagSpecifications: h.copyTags(source, map[string]string{tagHandoverShared: hid, tagHandoverFrom: aws.ToString(src.OwnerId)}),
		DryRun:            aws.Bool(x.preview()),
	})
	if err := x.ec2Outcome(what, "ec2:CopySnapshot", err); err != nil {
		return "", err
	}
	x.change(source, field, nil, "encrypted with "+keyARN)
	if x.preview() {
		return newSnapshot, nil
	}
	return aws.ToString(out.SnapshotId), nil
}

// sharedAlready reports whether the forensic account sees hid: a preview
// can dry-run its copy only then.
func (h *handover) sharedAlready(ctx context.Context, hid string) bool {
	out, err := h.forensic.EC2.DescribeSnapshots(ctx, &ec2.DescribeSnapshotsInput{SnapshotIds: []string{hid}})
	return err == nil && len(out.Snapshots) == 1
}
