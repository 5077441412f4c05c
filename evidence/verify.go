package evidence

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/cordon-ir/cordon/actions/wire"
)

// Verdict is what re-reading one artefact found.
type Verdict string

// Verdicts.
const (
	// Intact: the version holds exactly the bytes the manifest hashed.
	Intact Verdict = "ok"
	// Altered: the version's bytes differ from what was recorded (its
	// SHA-256 or its size, or S3's own checksum of it).
	Altered Verdict = "ALTERED"
	// Missing: the version is gone (or never was).
	Missing Verdict = "MISSING"
	// Unreadable: the store could not read it (access denied, throttled,
	// a server error): nothing is known of its integrity.
	Unreadable Verdict = "UNREADABLE"
)

// Check is the verdict on one artefact of a manifest.
type Check struct {
	Artefact wire.Artefact `json:"artefact"`
	Verdict  Verdict       `json:"verdict"`
	// SHA256 and Size are what the bucket holds now (when it was read).
	SHA256 string `json:"sha256,omitempty"`
	Size   int64  `json:"size,omitempty"`
	// Detail says what differs, or why it could not be read.
	Detail string `json:"detail,omitempty"`
}

// Verification is the result of re-reading every artefact of a case.
type Verification struct {
	Case     string          `json:"case"`
	Bucket   string          `json:"bucket"`
	Manifest ManifestVersion `json:"manifest"`
	Checks   []Check         `json:"checks"`
}

// OK says whether every artefact is intact (and there is at least one).
func (v Verification) OK() bool {
	if len(v.Checks) == 0 {
		return false
	}
	for _, c := range v.Checks {
		if c.Verdict != Intact {
			return false
		}
	}
	return true
}

// Failed lists the checks that are not intact.
func (v Verification) Failed() []Check {
	return slices.DeleteFunc(slices.Clone(v.Checks), func(c Check) bool { return c.Verdict == Intact })
}

// Verify reads case c's manifest, then every artefact it lists again, by
// its version id, and compares the SHA-256 and size of what the bucket
// holds with what was recorded. An error means the manifest itself could
// not be read; each artefact's problem is its Check's verdict.
func (s *Store) Verify(ctx context.Context, c string) (Verification, error) {
	m, err := s.Manifest(ctx, c)
	if err != nil {
		return Verification{}, err
	}
	v := Verification{Case: c, Bucket: s.cfg.Bucket, Manifest: m}
	for _, a := range m.Artefacts {
		v.Checks = append(v.Checks, s.check(ctx, a))
	}
	return v, nil
}

// check re-reads one artefact.
func (s *Store) check(ctx context.Context, a wire.Artefact) Check {
	c := Check{Artefact: a}
	if a.Bucket != s.cfg.Bucket {
		c.Verdict, c.Detail = Unreadable, fmt.Sprintf("recorded in bucket %s, not this store's %s", a.Bucket, s.cfg.Bucket)
		return c
	}
	sum, size, err := s.hashVersion(ctx, a.Key, a.VersionID)
	c.SHA256, c.Size = sum, size
	var op *OpError
	switch {
	case err == nil && sum == a.SHA256 && size == a.Size:
		c.Verdict = Intact
	case err == nil:
		c.Verdict = Altered
		var diffs []string
		if sum != a.SHA256 {
			diffs = append(diffs, fmt.Sprintf("SHA-256 %s, recorded %s", sum, a.SHA256))
		}
		if size != a.Size {
			diffs = append(diffs, fmt.Sprintf("%d bytes, recorded %d", size, a.Size))
		}
		c.Detail = "the bucket holds " + strings.Join(diffs, "; ")
	case isCode(err, "NoSuchVersion") || isCode(err, "NoSuchKey") || isCode(err, "MethodNotAllowed"):
		c.Verdict, c.Detail, c.SHA256, c.Size = Missing, "the recorded version is not in the bucket: "+err.Error(), "", 0
	case errors.As(err, &op) && isChecksumFailure(op.Err):
		c.Verdict, c.Detail = Altered, "S3's own checksum of the version does not match its bytes: "+err.Error()
	default:
		c.Verdict, c.Detail, c.SHA256, c.Size = Unreadable, err.Error(), "", 0
	}
	return c
}

// isChecksumFailure says whether reading failed because the SDK found the
// body did not match the checksum S3 answered with.
func isChecksumFailure(err error) bool {
	return err != nil && strings.Contains(strings.ToLower(err.Error()), "checksum did not match")
}

// WriteText prints a verification as people read it: one line per
// artefact with its verdict, what it is and where, then the summary.
func (v Verification) WriteText(w io.Writer) error {
	b := &strings.Builder{}
	fmt.Fprintf(b, "case %s: manifest s3://%s/%s", v.Case, v.Bucket, v.Manifest.Key)
	if v.Manifest.VersionID != "" {
		fmt.Fprintf(b, "?versionId=%s", v.Manifest.VersionID)
	}
	fmt.Fprintf(b, " (revision %d, sha256 %s), %d artefact(s)\n", v.Manifest.Revision, v.Manifest.SHA256, len(v.Checks))
	for _, c := range v.Checks {
		a := c.Artefact
		fmt.Fprintf(b, "%-10s %s  %s  sha256 %s  %d bytes  (%s, step %s)\n", c.Verdict, describe(a), a.Location(), a.SHA256, a.Size, a.RunID, a.Step)
		if c.Detail != "" {
			fmt.Fprintf(b, "           %s\n", c.Detail)
		}
	}
	failed := v.Failed()
	switch {
	case len(v.Checks) == 0:
		b.WriteString("no artefact to verify: the manifest lists none\n")
	case len(failed) == 0:
		fmt.Fprintf(b, "all %d artefact(s) match the manifest\n", len(v.Checks))
	default:
		names := make([]string, 0, len(failed))
		for _, c := range failed {
			names = append(names, fmt.Sprintf("%s (%s)", c.Artefact.Key, c.Verdict))
		}
		fmt.Fprintf(b, "%d of %d artefact(s) do not match the manifest: %s\n", len(failed), len(v.Checks), strings.Join(names, ", "))
	}
	_, err := io.WriteString(w, b.String())
	return err
}
