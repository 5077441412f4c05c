package evidence_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/cordon-ir/cordon/actions/wire"
	"github.com/cordon-ir/cordon/evidence"
	"github.com/cordon-ir/cordon/internal/awsemu"
)

// run is the step collecting the artefacts, under bob's approval.
var run = wire.RunRef{RunID: "run-1", Incident: "INC-42", StepID: "triage", Requester: "alice", Approvers: []string{"bob"}}

func item(name string) evidence.Item {
	return evidence.Item{Case: evidence.CaseOf(run), Kind: "triage", Subject: "i-0abc12345def67890", Name: name,
		ContentType: "text/plain", Description: "processes", Source: "ssm command 1", Run: run, Action: "aws.ssm.run_command"}
}

// An artefact goes to the bucket with its SHA-256 (which S3 verified),
// under the bucket's retention, and into the case's manifest with who
// collected it under whose approval; storing it again writes nothing.
func TestPutStoresAndRecords(t *testing.T) {
	w := newLockedWorld(t)
	ctx := t.Context()
	store := w.store(evidence.Config{Prefix: "cases"})
	body := []byte("USER PID COMMAND\nconfluence 4242 /tmp/kinsing\n")
	a, stored, err := store.Put(ctx, item("processes.txt"), body)
	if err != nil || !stored {
		t.Fatalf("Put = %+v, %v, %v", a, stored, err)
	}
	if a.Key != "cases/INC-42/i-0abc12345def67890/triage/run-1/triage/processes.txt" || a.SHA256 != sha(body) || a.Size != int64(len(body)) ||
		a.VersionID == "" || a.WrittenBy != evidence.WrittenByCordon || a.LockMode != "COMPLIANCE" || a.RetainUntil.IsZero() ||
		a.Requester != "alice" || len(a.Approvers) != 1 || a.Approvers[0] != "bob" || a.Step != "triage" {
		t.Fatalf("artefact = %+v", a)
	}
	obj, ok := w.emu.S3Object("cordon-evidence", a.Key, a.VersionID)
	if !ok || obj.SHA256 != a.SHA256 || obj.ChecksumAlgorithm != "SHA256" || obj.LockMode != "COMPLIANCE" {
		t.Fatalf("stored object = %+v, %v", obj, ok)
	}
	m, err := store.Manifest(ctx, "INC-42")
	if err != nil || len(m.Artefacts) != 1 || m.Artefacts[0].VersionID != a.VersionID || m.Revision != 1 || m.Key != "cases/INC-42/manifest.json" {
		t.Fatalf("manifest = %+v, %v", m, err)
	}
	manifest, ok := w.emu.S3Object("cordon-evidence", "cases/INC-42/manifest.json", m.VersionID)
	if !ok || manifest.ChecksumAlgorithm != "SHA256" || manifest.LockMode != "COMPLIANCE" || manifest.SHA256 != m.SHA256 {
		t.Fatalf("manifest object = %+v", manifest)
	}

	before := mutations(w)
	again, stored, err := store.Put(ctx, item("processes.txt"), body)
	if err != nil || stored || again.VersionID != a.VersionID || mutations(w) != before {
		t.Fatalf("Put again = %+v stored %v, %v; %d mutations", again, stored, err, mutations(w)-before)
	}
	found, ok, err := store.Find(ctx, item("processes.txt"))
	if err != nil || !ok || found.VersionID != a.VersionID {
		t.Fatalf("Find = %+v, %v, %v", found, ok, err)
	}
	if _, ok, err := store.Find(ctx, item("connections.txt")); err != nil || ok {
		t.Fatalf("Find of nothing = %v, %v", ok, err)
	}
}

// A bucket without Object Lock is refused, saying how to fix it, unless
// the configuration knowingly accepts it; nothing is written meanwhile.
func TestBucketWithoutObjectLockIsRefused(t *testing.T) {
	w := newWorld(t)
	w.bucket(t, awsemu.BucketSpec{Name: "cordon-evidence", Versioning: true})
	ctx := t.Context()
	_, _, err := w.store(evidence.Config{}).Put(ctx, item("processes.txt"), []byte("ps"))
	var refusal *evidence.Refusal
	if !errors.As(err, &refusal) || !strings.Contains(err.Error(), "no Object Lock") || !strings.Contains(err.Error(), "object_lock: optional") {
		t.Fatalf("Put into an unlocked bucket: %v", err)
	}
	if n := mutations(w); n != 0 {
		t.Fatalf("%d mutations after a refusal", n)
	}
	optional := w.store(evidence.Config{ObjectLock: evidence.LockOptional})
	note, err := optional.Check(ctx)
	if err != nil || !strings.Contains(note, "no Object Lock") {
		t.Fatalf("Check with object_lock optional = %q, %v", note, err)
	}
	a, stored, err := optional.Put(ctx, item("processes.txt"), []byte("ps"))
	if err != nil || !stored || a.LockMode != "" {
		t.Fatalf("Put with object_lock optional = %+v, %v, %v", a, stored, err)
	}
}

// Object Lock with no default retention locks nothing by itself: the
// store refuses it unless it sets a retention of its own (retain_days).
func TestObjectLockWithoutRetention(t *testing.T) {
	w := newWorld(t)
	w.bucket(t, awsemu.BucketSpec{Name: "cordon-evidence", ObjectLock: true})
	ctx := t.Context()
	if _, _, err := w.store(evidence.Config{}).Put(ctx, item("processes.txt"), []byte("ps")); err == nil || !strings.Contains(err.Error(), "retain_days") {
		t.Fatalf("Put without any retention: %v", err)
	}
	a, _, err := w.store(evidence.Config{Mode: "governance", RetainDays: 7}).Put(ctx, item("processes.txt"), []byte("ps"))
	if err != nil {
		t.Fatal(err)
	}
	obj, _ := w.emu.S3Object("cordon-evidence", a.Key, a.VersionID)
	if obj.LockMode != "GOVERNANCE" || obj.RetainUntil.Before(obj.LastModified.AddDate(0, 0, 6)) || a.LockMode != "GOVERNANCE" {
		t.Fatalf("retention = %s until %v (recorded %s)", obj.LockMode, obj.RetainUntil, a.LockMode)
	}
}

// Verify re-reads every artefact by version and names the one whose bytes
// were changed behind S3's back (which recomputed its own checksum, so
// only the manifest's hash tells), and one whose version is gone.
func TestVerifyNamesAlteredAndMissingArtefacts(t *testing.T) {
	w := newWorld(t)
	w.bucket(t, awsemu.BucketSpec{Name: "cordon-evidence", ObjectLock: true, DefaultRetention: &awsemu.S3DefaultRetention{Mode: "GOVERNANCE", Days: 1}})
	ctx := t.Context()
	store := w.store(evidence.Config{})
	var stored []wire.Artefact
	for _, name := range []string{"processes.txt", "connections.txt", "logins.txt"} {
		a, _, err := store.Put(ctx, item(name), []byte("output of "+name))
		if err != nil {
			t.Fatal(err)
		}
		stored = append(stored, a)
	}
	v, err := store.Verify(ctx, "INC-42")
	if err != nil || !v.OK() || len(v.Checks) != 3 {
		t.Fatalf("Verify of an intact case = %+v, %v", v, err)
	}

	if err := w.emu.TamperObject(forensicAccount, "cordon-evidence", stored[1].Key, stored[1].VersionID, []byte("output of connections.txt, edited")); err != nil {
		t.Fatal(err)
	}
	if _, err := w.forensic.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String("cordon-evidence"), Key: aws.String(stored[2].Key),
		VersionId: aws.String(stored[2].VersionID), BypassGovernanceRetention: aws.Bool(true)}); err != nil {
		t.Fatal(err)
	}
	v, err = store.Verify(ctx, "INC-42")
	if err != nil || v.OK() {
		t.Fatalf("Verify after tampering = %+v, %v", v, err)
	}
	verdicts := map[string]evidence.Verdict{}
	for _, c := range v.Checks {
		verdicts[c.Artefact.Key] = c.Verdict
	}
	if verdicts[stored[0].Key] != evidence.Intact || verdicts[stored[1].Key] != evidence.Altered || verdicts[stored[2].Key] != evidence.Missing {
		t.Fatalf("verdicts = %v", verdicts)
	}
	var out bytes.Buffer
	if err := v.WriteText(&out); err != nil {
		t.Fatal(err)
	}
	text := out.String()
	if !strings.Contains(text, "ALTERED") || !strings.Contains(text, stored[1].Key) || !strings.Contains(text, "2 of 3 artefact(s) do not match") {
		t.Errorf("text:\n%s", text)
	}

	if _, err := store.Verify(ctx, "INC-43"); err == nil || !strings.Contains(err.Error(), "no manifest") {
		t.Errorf("Verify of a case without a manifest: %v", err)
	}
	if _, err := store.Verify(ctx, "../INC-42"); err == nil || !strings.Contains(err.Error(), "a case is") {
		t.Errorf("Verify of a bad case name: %v", err)
	}
}

// An artefact a host uploaded (a memory image) is adopted by hashing what
// the bucket holds; a host whose account of its upload differs is
// refused, naming both hashes.
func TestAdoptHashesWhatTheBucketHolds(t *testing.T) {
	w := newLockedWorld(t)
	ctx := t.Context()
	store := w.store(evidence.Config{Prefix: "cases/"})
	image := bytes.Repeat([]byte{0xde, 0xad, 0xbe, 0xef}, 4096)
	it := item("memory.lime")
	it.Kind = "memory"
	upload := func(body []byte) {
		t.Helper()
		sum := sha256.Sum256(body)
		if _, err := w.forensic.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("cordon-evidence"), Key: aws.String(store.Key(it)),
			Body: bytes.NewReader(body), ChecksumSHA256: aws.String(base64.StdEncoding.EncodeToString(sum[:]))}); err != nil {
			t.Fatal(err)
		}
	}
	if _, _, err := store.Adopt(ctx, it, ""); err == nil {
		t.Fatal("adopted an artefact nobody uploaded")
	}
	upload(image)
	if _, _, err := store.Adopt(ctx, it, sha([]byte("what the host claims"))); err == nil || !strings.Contains(err.Error(), sha(image)) {
		t.Fatalf("Adopt with a wrong claim: %v", err)
	}
	a, adopted, err := store.Adopt(ctx, it, sha(image))
	if err != nil || !adopted || a.SHA256 != sha(image) || a.WrittenBy != evidence.WrittenByInstance || a.LockMode != "COMPLIANCE" {
		t.Fatalf("Adopt = %+v, %v, %v", a, adopted, err)
	}
	if again, adopted, err := store.Adopt(ctx, it, sha(image)); err != nil || adopted || again.VersionID != a.VersionID {
		t.Fatalf("Adopt again = %+v, %v, %v", again, adopted, err)
	}
}

// Workers recording artefacts of one case at once never lose each
// other's entries: the manifest's updates are conditional writes.
func TestConcurrentWritersKeepEveryEntry(t *testing.T) {
	w := newLockedWorld(t)
	ctx := t.Context()
	const writers = 6
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for i := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			it := item("processes.txt")
			it.Subject = fmt.Sprintf("i-%017d", i)
			_, _, err := w.store(evidence.Config{}).Put(ctx, it, []byte(it.Subject))
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	m, err := w.store(evidence.Config{}).Manifest(ctx, "INC-42")
	if err != nil || len(m.Artefacts) != writers || m.Revision != writers {
		t.Fatalf("manifest has %d artefacts at revision %d, want %d: %v", len(m.Artefacts), m.Revision, writers, err)
	}
}
