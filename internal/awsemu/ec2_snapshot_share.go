package awsemu

import (
	"net/http"
	"slices"
)

// Snapshots across accounts: the handover of disks to a forensic account.
// The owner shares a snapshot (ModifySnapshotAttribute createVolumePermission),
// which EC2 refuses for a snapshot encrypted with the AWS managed key
// alias/aws/ebs, so the owner first copies it to a customer managed key
// the other account may use (CopySnapshot with KmsKeyId). The other
// account then sees the snapshot (DescribeSnapshots, RestorableByUserIds)
// and copies it into its own account, under its own key. EC2 checks KMS
// keys asynchronously: a copy whose source or destination key the caller
// may not use is accepted, then fails (state error, "Given key ID is not
// accessible"). The emulator models one region: SourceRegion must be it.

// restorableBy reports whether account may use s: it owns it, or s is
// shared with it or with everyone.
func restorableBy(s *Snapshot, account string) bool {
	return s.OwnerID == account || slices.Contains(s.CreateVolumePermissions, account) || slices.Contains(s.CreateVolumePermissions, "all")
}

// visibleSnapshots are the snapshots e.w's account may describe: its own,
// in creation order, then those other accounts share with it, by account.
// Caller holds e.mu.
func (e *Emulator) visibleSnapshots() []*Snapshot {
	var out []*Snapshot
	for _, id := range e.w.snapOrder {
		if s, ok := e.w.snapshots[id]; ok {
			out = append(out, s)
		}
	}
	for _, account := range sortedKeys(e.worlds) {
		w := e.worlds[account]
		if w == e.w {
			continue
		}
		for _, id := range w.snapOrder {
			if s, ok := w.snapshots[id]; ok && restorableBy(s, e.w.account) {
				out = append(out, s)
			}
		}
	}
	return out
}

// visibleSnapshot resolves a snapshot id e.w's account may use: its own
// (honouring the consistency lag) or one shared with it.
func (e *Emulator) visibleSnapshot(id string) (*Snapshot, *apiError) {
	if _, own := e.w.snapshots[id]; own || id == "" {
		return e.snapshot(id)
	}
	for _, s := range e.visibleSnapshots() {
		if s.ID == id {
			return s, nil
		}
	}
	return nil, notFound("InvalidSnapshot.NotFound", "The snapshot '%s' does not exist.", id)
}

// withSelf replaces "self" in a list of account ids by the caller's.
func withSelf(ids []string, self string) []string {
	out := slices.Clone(ids)
	for i, id := range out {
		if id == "self" {
			out[i] = self
		}
	}
	return out
}

func (e *Emulator) describeSnapshots(r *request) ([]node, *apiError) {
	me := e.w.account
	ids := r.p.list("SnapshotId")
	for _, id := range ids {
		if _, err := e.visibleSnapshot(id); err != nil {
			return nil, err
		}
	}
	owners := withSelf(slices.Concat(r.p.list("Owner"), r.p.list("OwnerId")), me)
	restorers := withSelf(r.p.list("RestorableBy"), me)
	fs := r.p.filters()
	var matched []*Snapshot
	for _, s := range e.visibleSnapshots() {
		if len(ids) > 0 && !slices.Contains(ids, s.ID) || len(owners) > 0 && !slices.Contains(owners, s.OwnerID) ||
			len(restorers) > 0 && !slices.ContainsFunc(restorers, func(a string) bool { return restorableBy(s, a) }) {
			continue
		}
		ok, err := matchFilters(fs, s.Tags, func(name string) ([]string, bool) {
			switch name {
			case "snapshot-id":
				return one(s.ID), true
			case "volume-id":
				return one(s.VolumeID), true
			case "status":
				return one(s.State), true
			case "owner-id":
				return one(s.OwnerID), true
			case "description":
				return one(s.Description), true
			case "encrypted":
				return one(boolString(s.Encrypted)), true
			case "kms-key-id":
				return one(s.KMSKeyID), true
			}
			return nil, false
		})
		if err != nil {
			return nil, err
		}
		if ok {
			matched = append(matched, s)
		}
	}
	start, end, next, err := paginate(r.p, len(matched))
	if err != nil {
		return nil, err
	}
	var items []node
	for _, s := range matched[start:end] {
		e.advanceSnapshot(s, r.now)
		items = append(items, item(e.snapshotFields(s)...))
	}
	return []node{set("snapshotSet", items), opt("nextToken", next)}, nil
}

func boolString(b bool) string {
	if b {
		return "true"
	}
	return "false"
}

// snapshotKMSActions are what EBS does with a snapshot's keys on the
// caller's behalf when it copies one (the EBS guide's list for a shared
// key, less DescribeKey).
var snapshotKMSActions = []string{"kms:CreateGrant", "kms:Decrypt", "kms:ReEncryptFrom", "kms:GenerateDataKeyWithoutPlaintext"}

// notAccessible is the StateMessage of a copy whose key cannot be used.
const notAccessible = "Given key ID is not accessible"

func (e *Emulator) copySnapshot(r *request) ([]node, *apiError) {
	src, err := e.visibleSnapshot(r.p.get("SourceSnapshotId"))
	if err != nil {
		return nil, err
	}
	region := r.p.get("SourceRegion")
	if region == "" {
		return nil, errMissingParameter("SourceRegion")
	}
	if region != e.region {
		return nil, errInvalidParameter("Value (%s) for parameter SourceRegion is invalid: awsemu models one region, %s.", region, e.region)
	}
	keyRef := r.p.get("KmsKeyId")
	encrypt := r.p.boolean("Encrypted")
	if keyRef != "" && !encrypt {
		return nil, clientErr(http.StatusBadRequest, "InvalidParameterDependency", "The parameter KmsKeyId requires the parameter Encrypted to be set.")
	}
	if r.p.has("Encrypted") && !encrypt && src.Encrypted {
		return nil, errInvalidParameter("Value (false) for parameter Encrypted is invalid. A copy of an encrypted snapshot is encrypted.")
	}
	if src.State != "completed" {
		return nil, clientErr(http.StatusBadRequest, "IncorrectState", "Snapshot '%s' is not in the completed state (it is %s).", src.ID, src.State)
	}
	if err := r.commit(); err != nil {
		return nil, err
	}
	copied := &Snapshot{
		ID: e.newID("snap"), VolumeID: "vol-ffffffff", VolumeSize: src.VolumeSize, Description: r.p.get("Description"),
		State: "pending", Progress: "0%", StartTime: r.now, Tags: r.p.tagSpecs("snapshot"), OwnerID: e.w.account,
		SourceSnapshotID: src.ID,
	}
	// The copy's key: the one named; else the source's own key when it is
	// the caller's; else the caller's EBS default key if encryption is
	// asked for or the source is encrypted.
	var dest *KMSKey
	usable := true
	switch {
	case keyRef != "":
		k, ok := e.findKey(e.region, keyRef, r.now)
		dest, usable = k, ok && e.keyUsable(k, r.caller, snapshotKMSActions...)
	case src.Encrypted && accountOfARN(src.KMSKeyID) == e.w.account:
		dest, _ = e.findKey(e.region, src.KMSKeyID, r.now)
	case src.Encrypted || encrypt:
		dest = e.ebsDefaultKey(e.region, r.now)
	}
	if src.Encrypted {
		k, ok := e.findKey(e.region, src.KMSKeyID, r.now)
		usable = usable && ok && e.keyUsable(k, r.caller, snapshotKMSActions...)
	}
	switch {
	case dest != nil:
		copied.Encrypted, copied.KMSKeyID = true, dest.ARN
	case keyRef != "":
		copied.Encrypted, copied.KMSKeyID = true, keyRef // a key that does not exist: the copy fails below
	}
	e.addSnapshot(copied)
	answer := []node{leaf("snapshotId", copied.ID), ec2TagSet(copied.Tags)}
	if !usable {
		copied.State, copied.StateMessage = "error", notAccessible
	}
	return answer, nil
}

func (e *Emulator) modifySnapshotAttribute(r *request) ([]node, *apiError) {
	s, err := e.snapshot(r.p.get("SnapshotId"))
	if err != nil {
		return nil, err
	}
	if attr := r.p.get("Attribute"); attr != "" && attr != "createVolumePermission" {
		return nil, errInvalidParameter("Value (%s) for parameter Attribute is invalid: awsemu models createVolumePermission only.", attr)
	}
	var add, remove []string
	switch op := r.p.get("OperationType"); op {
	case "add":
		add = slices.Concat(r.p.list("UserId"), r.p.list("UserGroup"))
	case "remove":
		remove = slices.Concat(r.p.list("UserId"), r.p.list("UserGroup"))
	case "":
	default:
		return nil, errInvalidParameter("Value (%s) for parameter OperationType is invalid.", op)
	}
	perm := r.p.sub("CreateVolumePermission")
	for _, p := range perm.structs("Add") {
		add = append(add, p.get("UserId")+p.get("Group"))
	}
	for _, p := range perm.structs("Remove") {
		remove = append(remove, p.get("UserId")+p.get("Group"))
	}
	if len(add)+len(remove) == 0 {
		return nil, errMissingParameter("CreateVolumePermission")
	}
	for _, id := range slices.Concat(add, remove) {
		if id != "all" && !accountIDPattern.MatchString(id) {
			return nil, errInvalidParameter("Value (%s) for parameter userId is invalid. It must be a 12-digit AWS account id or the group all.", id)
		}
	}
	if len(add) > 0 && s.Encrypted {
		if slices.Contains(add, "all") {
			return nil, clientErr(http.StatusBadRequest, "OperationNotPermitted", "Encrypted snapshots cannot be shared publicly")
		}
		if k, ok := e.findKey(e.region, s.KMSKeyID, r.now); ok && k.KeyManager == "AWS" {
			return nil, clientErr(http.StatusBadRequest, "OperationNotPermitted", "Encrypted snapshots with EBS default key cannot be shared")
		}
	}
	if err := r.commit(); err != nil {
		return nil, err
	}
	for _, id := range add {
		if !slices.Contains(s.CreateVolumePermissions, id) {
			s.CreateVolumePermissions = append(s.CreateVolumePermissions, id)
		}
	}
	s.CreateVolumePermissions = slices.DeleteFunc(s.CreateVolumePermissions, func(id string) bool { return slices.Contains(remove, id) })
	return []node{boolLeaf("return", true)}, nil
}

func (e *Emulator) describeSnapshotAttribute(r *request) ([]node, *apiError) {
	s, err := e.snapshot(r.p.get("SnapshotId"))
	if err != nil {
		return nil, err
	}
	switch attr := r.p.get("Attribute"); attr {
	case "createVolumePermission":
		var items []node
		for _, id := range s.CreateVolumePermissions {
			if id == "all" {
				items = append(items, item(leaf("group", "all")))
			} else {
				items = append(items, item(leaf("userId", id)))
			}
		}
		return []node{leaf("snapshotId", s.ID), set("createVolumePermission", items)}, nil
	case "productCodes":
		return []node{leaf("snapshotId", s.ID), set("productCodes", nil)}, nil
	case "":
		return nil, errMissingParameter("Attribute")
	default:
		return nil, errInvalidParameter("Value (%s) for parameter Attribute is invalid.", attr)
	}
}
