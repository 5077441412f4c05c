package evidence

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/cordon-ir/cordon/actions/wire"
)

// ManifestFormat names the manifest's layout, for readers years later.
const ManifestFormat = "cordon.evidence.manifest/v1"

// Manifest is a case's record of its artefacts, kept in the bucket beside
// them (ManifestKey). Entries are only ever added: each update is a new,
// retained version of the object, so its history is in the bucket too.
type Manifest struct {
	Format string `json:"format"`
	Case   string `json:"case"`
	Bucket string `json:"bucket"`
	// Revision counts the updates: 1 for the first artefact.
	Revision  int             `json:"revision"`
	UpdatedAt time.Time       `json:"updated_at"`
	Artefacts []wire.Artefact `json:"artefacts"`
}

// maxManifestBytes bounds what Cordon reads as a manifest: thousands of
// artefacts fit, a runaway or hostile object does not.
const maxManifestBytes = 16 << 20

// manifestWriteAttempts bounds the conditional-write retries of one
// update: each failed attempt means another writer's update went in first.
const manifestWriteAttempts = 8

// ManifestKey is where case c's manifest is.
func (s *Store) ManifestKey(c string) string { return s.casePrefix(c) + "manifest.json" }

// latest returns the newest entry at key (with that SHA-256, when sum is
// not empty).
func (m *Manifest) latest(key, sum string) (wire.Artefact, bool) {
	for i := len(m.Artefacts) - 1; i >= 0; i-- {
		a := m.Artefacts[i]
		if a.Key == key && (sum == "" || a.SHA256 == sum) {
			return a, true
		}
	}
	return wire.Artefact{}, false
}

// has says whether the manifest lists that version of that key.
func (m *Manifest) has(a wire.Artefact) bool {
	for _, e := range m.Artefacts {
		if e.Key == a.Key && e.VersionID == a.VersionID && e.SHA256 == a.SHA256 {
			return true
		}
	}
	return false
}

// ManifestVersion is a manifest as read: its content, the S3 version it
// was read from and that version's SHA-256 (hex), which the report and
// `cordon evidence verify` print so that readers can compare.
type ManifestVersion struct {
	Manifest
	Key       string `json:"key"`
	VersionID string `json:"version_id"`
	SHA256    string `json:"sha256"`
}

// Manifest reads case c's manifest as it is now; a case without one is a
// NotFound OpError.
func (s *Store) Manifest(ctx context.Context, c string) (ManifestVersion, error) {
	if err := ValidCase(c); err != nil {
		return ManifestVersion{}, err
	}
	m, etag, err := s.read(ctx, c)
	if err != nil {
		return ManifestVersion{}, err
	}
	if etag == "" {
		return ManifestVersion{}, &OpError{Op: "GetObject", Permission: "s3:GetObject", Bucket: s.cfg.Bucket, Key: s.ManifestKey(c),
			Err: fmt.Errorf("case %s has no manifest: no artefact was stored for it in this bucket and prefix (NotFound)", c)}
	}
	return m, nil
}

// read returns case c's manifest and its ETag, or an empty manifest and
// no ETag when there is none yet.
func (s *Store) read(ctx context.Context, c string) (ManifestVersion, string, error) {
	key := s.ManifestKey(c)
	out, err := s.api.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(s.cfg.Bucket), Key: aws.String(key), ChecksumMode: s3types.ChecksumModeEnabled})
	if isCode(err, "NoSuchKey") {
		return ManifestVersion{Manifest: Manifest{Format: ManifestFormat, Case: c, Bucket: s.cfg.Bucket}, Key: key}, "", nil
	}
	if err != nil {
		return ManifestVersion{}, "", &OpError{Op: "GetObject", Permission: "s3:GetObject", Bucket: s.cfg.Bucket, Key: key, Err: err}
	}
	defer out.Body.Close()
	body, err := io.ReadAll(io.LimitReader(out.Body, maxManifestBytes+1))
	if err != nil {
		return ManifestVersion{}, "", &OpError{Op: "GetObject", Permission: "s3:GetObject", Bucket: s.cfg.Bucket, Key: key, Err: fmt.Errorf("read the manifest: %w", err)}
	}
	if len(body) > maxManifestBytes {
		return ManifestVersion{}, "", refuse("s3://%s/%s is larger than %d bytes: not a manifest Cordon wrote", s.cfg.Bucket, key, maxManifestBytes)
	}
	var m Manifest
	if err := json.Unmarshal(body, &m); err != nil {
		return ManifestVersion{}, "", refuse("s3://%s/%s (version %s) is not a readable manifest: %v; its earlier versions are in the bucket", s.cfg.Bucket, key, aws.ToString(out.VersionId), err)
	}
	if m.Format != ManifestFormat || m.Case != c {
		return ManifestVersion{}, "", refuse("s3://%s/%s (version %s) is a manifest of format %q for case %q, not %s for %s",
			s.cfg.Bucket, key, aws.ToString(out.VersionId), m.Format, m.Case, ManifestFormat, c)
	}
	sum := sha256.Sum256(body)
	return ManifestVersion{Manifest: m, Key: key, VersionID: aws.ToString(out.VersionId), SHA256: fmt.Sprintf("%x", sum)}, aws.ToString(out.ETag), nil
}

// record adds artefacts to case c's manifest with a conditional write,
// reading it again and retrying when another writer updated it first.
func (s *Store) record(ctx context.Context, c string, add ...wire.Artefact) error {
	key := s.ManifestKey(c)
	for range manifestWriteAttempts {
		m, etag, err := s.read(ctx, c)
		if err != nil {
			return err
		}
		changed := false
		for _, a := range add {
			if !m.has(a) {
				m.Artefacts = append(m.Artefacts, a)
				changed = true
			}
		}
		if !changed {
			return nil
		}
		now := s.clock().UTC()
		m.Revision++
		m.UpdatedAt = now
		body, err := json.MarshalIndent(m.Manifest, "", "  ")
		if err != nil {
			return fmt.Errorf("encode the manifest of case %s: %w", c, err)
		}
		sum := sha256.Sum256(body)
		in := &s3.PutObjectInput{
			Bucket: aws.String(s.cfg.Bucket), Key: aws.String(key), Body: bytes.NewReader(body),
			ChecksumSHA256: aws.String(base64.StdEncoding.EncodeToString(sum[:])), ContentType: aws.String("application/json"),
		}
		if etag == "" {
			in.IfNoneMatch = aws.String("*")
		} else {
			in.IfMatch = aws.String(etag)
		}
		s.retention(in, now)
		_, err = s.api.PutObject(ctx, in)
		if isCode(err, "PreconditionFailed") || isCode(err, "ConditionalRequestConflict") ||
			(etag != "" && isCode(err, "NoSuchKey")) {
			continue // another writer went first: merge with theirs
		}
		if err != nil {
			return s.putError(key, in, err)
		}
		return nil
	}
	return &OpError{Op: "PutObject", Permission: "s3:PutObject", Bucket: s.cfg.Bucket, Key: key,
		Err: fmt.Errorf("the manifest changed under every one of %d attempts to add to it (ConditionalRequestConflict): too many writers at once; retrying", manifestWriteAttempts)}
}

// String is the artefact as one line: kind, subject, location, hash.
func describe(a wire.Artefact) string {
	parts := []string{a.Kind}
	if a.Subject != "" {
		parts = append(parts, a.Subject)
	}
	return strings.Join(parts, " ")
}
