package evidence

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"

	"github.com/cordon-ir/cordon/actions/wire"
)

// API is the part of the S3 client the store calls (an *s3.Client does).
// Each call needs the IAM action Permissions lists for it.
type API interface {
	GetObjectLockConfiguration(ctx context.Context, in *s3.GetObjectLockConfigurationInput, opts ...func(*s3.Options)) (*s3.GetObjectLockConfigurationOutput, error)
	PutObject(ctx context.Context, in *s3.PutObjectInput, opts ...func(*s3.Options)) (*s3.PutObjectOutput, error)
	GetObject(ctx context.Context, in *s3.GetObjectInput, opts ...func(*s3.Options)) (*s3.GetObjectOutput, error)
	HeadObject(ctx context.Context, in *s3.HeadObjectInput, opts ...func(*s3.Options)) (*s3.HeadObjectOutput, error)
}

// StorePermissions are the IAM actions on the evidence bucket Put calls:
// checking the bucket's Object Lock, reading and updating the manifest,
// writing the artefact with its retention (s3:PutObjectRetention only
// with retain_days).
func StorePermissions() []string {
	return []string{"s3:GetBucketObjectLockConfiguration", "s3:GetObject", "s3:PutObject", "s3:PutObjectRetention"}
}

// AdoptPermissions are those of Adopt: Put's, and reading back by version
// what a host uploaded.
func AdoptPermissions() []string { return append(StorePermissions(), "s3:GetObjectVersion") }

// VerifyPermissions are the IAM actions Verify calls.
func VerifyPermissions() []string { return []string{"s3:GetObject", "s3:GetObjectVersion"} }

// Who writes an artefact's bytes (wire.Artefact.WrittenBy).
const (
	WrittenByCordon   = "cordon"
	WrittenByInstance = "instance"
)

// Item is what the caller knows of an artefact being collected: which
// case and what it is, and the run, step and action collecting it (whose
// requester and approvers go into the manifest).
type Item struct {
	Case string
	// Kind is the sort of evidence: memory, triage, describe, console,
	// cloudtrail, snapshots, ... (a key segment).
	Kind string
	// Subject is what it is evidence of: an instance id, a principal (a
	// key segment; empty: the case as a whole).
	Subject string
	// Name is the artefact's file name (a key segment): memory.lime,
	// processes.txt, describe.json.
	Name        string
	ContentType string
	Description string
	// Source is how it was obtained (the API call, the SSM command id).
	Source string
	Run    wire.RunRef
	Action string
}

// Store writes and verifies a case's artefacts in one bucket. Build one
// with New for each use: it holds what it learnt of the bucket, nothing
// else.
type Store struct {
	api   API
	cfg   Config
	clock func() time.Time
	lock  *bucketLock // learnt by Check
}

// New returns a store on cfg's bucket through api. clock (nil: time.Now)
// dates the artefacts and their retention.
func New(api API, cfg Config, clock func() time.Time) *Store {
	if clock == nil {
		clock = time.Now
	}
	return &Store{api: api, cfg: cfg.WithDefaults(), clock: clock}
}

// Bucket is the store's bucket.
func (s *Store) Bucket() string { return s.cfg.Bucket }

// OpError is a failed S3 call of the store, with the IAM action it needed:
// callers classify the cause and name the permission.
type OpError struct {
	Op         string // the S3 operation
	Permission string // the IAM action it needed
	Bucket     string
	Key        string
	Err        error
}

func (e *OpError) Error() string {
	where := "s3://" + e.Bucket
	if e.Key != "" {
		where += "/" + e.Key
	}
	return fmt.Sprintf("%s %s: %v", e.Op, where, e.Err)
}

func (e *OpError) Unwrap() error { return e.Err }

// Refusal is the store declining to do what was asked, for a reason no
// retry changes: a bucket without Object Lock, a host whose account of
// what it uploaded differs from what the bucket holds, an unreadable
// manifest. The message says what to do.
type Refusal struct{ Reason string }

func (e *Refusal) Error() string { return e.Reason }

func refuse(format string, args ...any) error { return &Refusal{Reason: fmt.Sprintf(format, args...)} }

// bucketLock is the bucket's Object Lock as GetObjectLockConfiguration
// answered.
type bucketLock struct {
	enabled bool
	mode    string // default retention mode, "" when no default rule
	days    int
	years   int
}

// Check reads the bucket's Object Lock configuration and refuses a bucket
// the configuration does not accept: without Object Lock (unless
// object_lock is optional), or with Object Lock but nothing that would
// lock a version (no default retention and no retain_days). It returns
// what a caller should tell the responder, if anything (an optional lock
// that is missing). It asks S3 once per store.
func (s *Store) Check(ctx context.Context) (note string, err error) {
	if s.lock == nil {
		out, err := s.api.GetObjectLockConfiguration(ctx, &s3.GetObjectLockConfigurationInput{Bucket: aws.String(s.cfg.Bucket)})
		lock := &bucketLock{}
		switch {
		case err == nil && out.ObjectLockConfiguration != nil:
			c := out.ObjectLockConfiguration
			lock.enabled = c.ObjectLockEnabled == s3types.ObjectLockEnabledEnabled
			if c.Rule != nil && c.Rule.DefaultRetention != nil {
				d := c.Rule.DefaultRetention
				lock.mode, lock.days, lock.years = string(d.Mode), int(aws.ToInt32(d.Days)), int(aws.ToInt32(d.Years))
			}
		case isCode(err, "ObjectLockConfigurationNotFoundError"):
		case err != nil:
			return "", &OpError{Op: "GetObjectLockConfiguration", Permission: "s3:GetBucketObjectLockConfiguration", Bucket: s.cfg.Bucket, Err: err}
		}
		s.lock = lock
	}
	switch {
	case !s.lock.enabled && s.cfg.ObjectLock != LockOptional:
		return "", refuse("evidence bucket %s has no Object Lock: whoever can write to it (an attacker holding leaked keys included) could replace or delete the evidence. "+
			"Use a bucket created with Object Lock and a default retention (docs/forensics.md), or, knowingly, set evidence.object_lock: optional in the worker configuration", s.cfg.Bucket)
	case !s.lock.enabled:
		return fmt.Sprintf("evidence bucket %s has no Object Lock (evidence.object_lock: optional): its artefacts can be replaced or deleted by whoever may write to it", s.cfg.Bucket), nil
	case s.lock.mode == "" && s.cfg.RetainDays == 0:
		return "", refuse("evidence bucket %s has Object Lock but no default retention, and evidence.retain_days is 0: nothing would lock the artefacts. "+
			"Give the bucket a default retention (PutObjectLockConfiguration) or set evidence.retain_days", s.cfg.Bucket)
	}
	return "", nil
}

// CaseOf is the case a run's artefacts belong to: its incident when that
// makes a key segment as it is, else its run id made into one.
func CaseOf(run wire.RunRef) string {
	if run.Incident != "" && segment(run.Incident) == run.Incident {
		return run.Incident
	}
	return segment(run.RunID)
}

// ValidCase reports whether c can name a case (a key segment as it is).
func ValidCase(c string) error {
	if c == "" || segment(c) != c {
		return fmt.Errorf("case %q: a case is an incident or run id of letters, digits and . _ = + @ - (at most %d), e.g. INC-42", c, maxSegment)
	}
	return nil
}

// maxSegment bounds a key segment, so that a key stays far below S3's
// 1024 bytes.
const maxSegment = 128

// segment makes s a safe S3 key segment: letters, digits and . _ = + @ -
// kept, anything else (a slash above all) replaced with '-'.
func segment(s string) string {
	out := []byte(s)
	for i, c := range out {
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("._=+@-", c) >= 0
		if !ok {
			out[i] = '-'
		}
	}
	s = string(out)
	if len(s) > maxSegment {
		s = s[:maxSegment]
	}
	if s == "" || s == "." || s == ".." {
		return "_"
	}
	return s
}

// casePrefix is where case c's keys start.
func (s *Store) casePrefix(c string) string { return s.cfg.Prefix + segment(c) + "/" }

// Key is where the artefact it describes goes: deterministic, so that a
// retried attempt of the same step finds what an earlier one stored.
func (s *Store) Key(it Item) string {
	subject := it.Subject
	if subject == "" {
		subject = "case"
	}
	return s.casePrefix(it.Case) + strings.Join([]string{
		segment(subject), segment(it.Kind), segment(it.Run.RunID),
		segment(wire.ItemKey(it.Run.StepID, it.Run.Item)), segment(it.Name),
	}, "/")
}

// Find returns the artefact the case's manifest records at it's key, the
// newest when several versions were recorded.
func (s *Store) Find(ctx context.Context, it Item) (wire.Artefact, bool, error) {
	m, _, err := s.read(ctx, it.Case)
	if err != nil {
		return wire.Artefact{}, false, err
	}
	a, ok := m.latest(s.Key(it), "")
	return a, ok, nil
}

// Put writes body as the artefact it describes, with its SHA-256 for S3
// to verify and the configured retention, and records it in the case's
// manifest. An artefact already recorded at the same key with the same
// SHA-256 is not written again: Put returns it with stored false.
func (s *Store) Put(ctx context.Context, it Item, body []byte) (a wire.Artefact, stored bool, err error) {
	if _, err := s.Check(ctx); err != nil {
		return wire.Artefact{}, false, err
	}
	key := s.Key(it)
	sum := sha256.Sum256(body)
	hexSum := hex.EncodeToString(sum[:])
	m, _, err := s.read(ctx, it.Case)
	if err != nil {
		return wire.Artefact{}, false, err
	}
	if a, ok := m.latest(key, hexSum); ok {
		return a, false, nil
	}
	now := s.clock().UTC()
	in := &s3.PutObjectInput{
		Bucket: aws.String(s.cfg.Bucket), Key: aws.String(key), Body: bytes.NewReader(body),
		ChecksumSHA256: aws.String(base64.StdEncoding.EncodeToString(sum[:])), ContentType: aws.String(orDefault(it.ContentType, "application/octet-stream")),
	}
	mode, until := s.retention(in, now)
	out, err := s.api.PutObject(ctx, in)
	if err != nil {
		return wire.Artefact{}, false, s.putError(key, in, err)
	}
	if got := aws.ToString(out.ChecksumSHA256); got != "" && got != aws.ToString(in.ChecksumSHA256) {
		return wire.Artefact{}, false, refuse("s3://%s/%s: S3 answered checksum %s for the SHA-256 %s Cordon sent: the write cannot be trusted", s.cfg.Bucket, key, got, aws.ToString(in.ChecksumSHA256))
	}
	a = it.artefact(s.cfg.Bucket, key)
	a.VersionID, a.SHA256, a.Size, a.CollectedAt, a.WrittenBy = aws.ToString(out.VersionId), hexSum, int64(len(body)), now, WrittenByCordon
	a.LockMode, a.RetainUntil = mode, until
	if err := s.record(ctx, it.Case, a); err != nil {
		return wire.Artefact{}, false, err
	}
	return a, true, nil
}

// Adopt records an artefact someone else wrote at it's key (a host's
// memory image, uploaded by its SSM agent as the instance's role): it
// reads the newest version back, hashes what the bucket holds, and records
// that. claimedSHA256, when given, is what the writer said it wrote: a
// different hash is refused, naming both. An artefact already recorded at
// the key is returned with adopted false.
func (s *Store) Adopt(ctx context.Context, it Item, claimedSHA256 string) (a wire.Artefact, adopted bool, err error) {
	if _, err := s.Check(ctx); err != nil {
		return wire.Artefact{}, false, err
	}
	key := s.Key(it)
	m, _, err := s.read(ctx, it.Case)
	if err != nil {
		return wire.Artefact{}, false, err
	}
	if a, ok := m.latest(key, ""); ok {
		return a, false, nil
	}
	head, err := s.api.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(s.cfg.Bucket), Key: aws.String(key)})
	if err != nil {
		return wire.Artefact{}, false, &OpError{Op: "HeadObject", Permission: "s3:GetObject", Bucket: s.cfg.Bucket, Key: key, Err: err}
	}
	version := aws.ToString(head.VersionId)
	sum, size, err := s.hashVersion(ctx, key, version)
	if err != nil {
		return wire.Artefact{}, false, err
	}
	if claimedSHA256 != "" && !strings.EqualFold(claimedSHA256, sum) {
		return wire.Artefact{}, false, refuse("s3://%s/%s (version %s): the writer reported SHA-256 %s, the bucket holds %d bytes with SHA-256 %s: the upload was altered or replaced; the version stays in the bucket, unrecorded",
			s.cfg.Bucket, key, version, claimedSHA256, size, sum)
	}
	if s.lock.enabled && head.ObjectLockMode == "" && s.cfg.ObjectLock != LockOptional {
		return wire.Artefact{}, false, refuse("s3://%s/%s (version %s) has no Object Lock retention: the bucket's default retention applies to uploads by hosts; give the bucket one (PutObjectLockConfiguration)", s.cfg.Bucket, key, version)
	}
	a = it.artefact(s.cfg.Bucket, key)
	a.VersionID, a.SHA256, a.Size, a.CollectedAt, a.WrittenBy = version, sum, size, s.clock().UTC(), WrittenByInstance
	a.LockMode, a.RetainUntil = string(head.ObjectLockMode), aws.ToTime(head.ObjectLockRetainUntilDate).UTC()
	if err := s.record(ctx, it.Case, a); err != nil {
		return wire.Artefact{}, false, err
	}
	return a, true, nil
}

// retention sets the Object Lock retention of a put when the store sets
// one (retain_days), and says which retention the version gets: that one,
// or the bucket's default.
func (s *Store) retention(in *s3.PutObjectInput, now time.Time) (mode string, until time.Time) {
	switch {
	case s.lock == nil || !s.lock.enabled:
		return "", time.Time{}
	case s.cfg.RetainDays > 0:
		until = now.AddDate(0, 0, s.cfg.RetainDays)
		in.ObjectLockMode, in.ObjectLockRetainUntilDate = s3types.ObjectLockMode(s.cfg.Mode), aws.Time(until)
		return s.cfg.Mode, until
	default:
		return s.lock.mode, now.AddDate(s.lock.years, 0, s.lock.days)
	}
}

// putError wraps a failed PutObject with the permission it needed:
// s3:PutObjectRetention as well when it set a retention.
func (s *Store) putError(key string, in *s3.PutObjectInput, err error) error {
	perm := "s3:PutObject"
	if in.ObjectLockMode != "" && isCode(err, "AccessDenied") && strings.Contains(err.Error(), "PutObjectRetention") {
		perm = "s3:PutObjectRetention"
	}
	return &OpError{Op: "PutObject", Permission: perm, Bucket: s.cfg.Bucket, Key: key, Err: err}
}

// hashVersion reads one version of key and returns the SHA-256 (hex) and
// size of its bytes. S3's own checksum, when it has one, is validated by
// the SDK while reading; the hash that counts is this one.
func (s *Store) hashVersion(ctx context.Context, key, version string) (string, int64, error) {
	in := &s3.GetObjectInput{Bucket: aws.String(s.cfg.Bucket), Key: aws.String(key), ChecksumMode: s3types.ChecksumModeEnabled}
	perm := "s3:GetObject"
	if version != "" && version != "null" {
		in.VersionId, perm = aws.String(version), "s3:GetObjectVersion"
	}
	out, err := s.api.GetObject(ctx, in)
	if err != nil {
		return "", 0, &OpError{Op: "GetObject", Permission: perm, Bucket: s.cfg.Bucket, Key: key, Err: err}
	}
	defer out.Body.Close()
	h := sha256.New()
	n, err := io.Copy(h, out.Body)
	if err != nil {
		return "", n, &OpError{Op: "GetObject", Permission: perm, Bucket: s.cfg.Bucket, Key: key, Err: fmt.Errorf("read the body: %w", err)}
	}
	return hexOf(h), n, nil
}

func hexOf(h hash.Hash) string { return hex.EncodeToString(h.Sum(nil)) }

func (it Item) artefact(bucket, key string) wire.Artefact {
	return wire.Artefact{
		Case: it.Case, Kind: it.Kind, Subject: it.Subject, Description: it.Description, Bucket: bucket, Key: key,
		ContentType: it.ContentType, Source: it.Source, RunID: it.Run.RunID, Step: wire.ItemKey(it.Run.StepID, it.Run.Item),
		Action: it.Action, Requester: it.Run.Requester, Approvers: slices.Clone(it.Run.Approvers),
	}
}

// isCode reports whether err is an AWS API error with the given code.
func isCode(err error, code string) bool {
	var ae smithy.APIError
	return errors.As(err, &ae) && ae.ErrorCode() == code
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
