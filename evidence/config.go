package evidence

import (
	"errors"
	"fmt"
	"strings"
)

// Object Lock requirements (Config.ObjectLock).
const (
	// LockRequired refuses a bucket without Object Lock: the default.
	LockRequired = "required"
	// LockOptional stores in a bucket without Object Lock, knowingly:
	// anyone with the bucket's write rights can then replace or delete
	// evidence.
	LockOptional = "optional"
)

// Object Lock retention modes (Config.Mode), as S3 names them.
const (
	// Compliance: nobody, the account's root included, can delete or
	// shorten the retention of a version before it expires.
	Compliance = "COMPLIANCE"
	// Governance: principals with s3:BypassGovernanceRetention can.
	Governance = "GOVERNANCE"
)

// maxRetainDays is S3's longest retention period in days (100 years).
const maxRetainDays = 36500

// Config is the worker configuration's evidence section: where a case's
// artefacts go. The zero value (no bucket) is "no evidence store": actions
// then keep their evidence in the run's record only, and say so.
type Config struct {
	// Account is the account name (from aws.accounts) whose role writes
	// the store: the forensic account. Empty means the worker's own
	// credentials.
	Account string `yaml:"account" json:"account,omitempty"`
	// Region is the bucket's region; empty means aws.region.
	Region string `yaml:"region" json:"region,omitempty"`
	// Bucket is the S3 bucket, created with Object Lock (which implies
	// versioning) in the forensic account.
	Bucket string `yaml:"bucket" json:"bucket"`
	// Prefix goes before every case's keys, e.g. "cases/"; a missing
	// trailing slash is added.
	Prefix string `yaml:"prefix" json:"prefix,omitempty"`
	// ObjectLock is required (the default: a bucket without Object Lock
	// is refused) or optional.
	ObjectLock string `yaml:"object_lock" json:"object_lock,omitempty"`
	// Mode is the retention mode of what Cordon writes when RetainDays is
	// set: COMPLIANCE (the default) or GOVERNANCE.
	Mode string `yaml:"mode" json:"mode,omitempty"`
	// RetainDays, when set, is the retention Cordon puts on each version
	// it writes (s3:PutObjectRetention); 0 relies on the bucket's default
	// retention, which must then exist. What a host uploads itself (a
	// memory image) always gets the bucket's default.
	RetainDays int `yaml:"retain_days" json:"retain_days,omitempty"`
}

// Enabled says whether an evidence store is configured.
func (c Config) Enabled() bool { return c.Bucket != "" }

// WithDefaults fills in what the configuration left out.
func (c Config) WithDefaults() Config {
	if c.ObjectLock == "" {
		c.ObjectLock = LockRequired
	}
	c.Mode = strings.ToUpper(c.Mode)
	if c.Mode == "" {
		c.Mode = Compliance
	}
	if c.Prefix != "" && !strings.HasSuffix(c.Prefix, "/") {
		c.Prefix += "/"
	}
	return c
}

// Validate reports every problem of the section, each with what to write
// instead. An empty section is valid: no store.
func (c Config) Validate() error {
	if !c.Enabled() {
		if c != (Config{}) {
			return errors.New("evidence: bucket is required (the S3 bucket with Object Lock in the forensic account); remove the section to run without an evidence store")
		}
		return nil
	}
	var errs []error
	if !bucketName(c.Bucket) {
		errs = append(errs, fmt.Errorf("evidence.bucket %q is not an S3 bucket name (3-63 of a-z, 0-9, '.', '-')", c.Bucket))
	}
	switch c.ObjectLock {
	case "", LockRequired, LockOptional:
	default:
		errs = append(errs, fmt.Errorf("evidence.object_lock %q is neither %s nor %s", c.ObjectLock, LockRequired, LockOptional))
	}
	switch strings.ToUpper(c.Mode) {
	case "", Compliance, Governance:
	default:
		errs = append(errs, fmt.Errorf("evidence.mode %q is neither %s nor %s", c.Mode, Compliance, Governance))
	}
	if c.RetainDays < 0 || c.RetainDays > maxRetainDays {
		errs = append(errs, fmt.Errorf("evidence.retain_days is %d: use 1 to %d, or 0 for the bucket's default retention", c.RetainDays, maxRetainDays))
	}
	if strings.HasPrefix(c.Prefix, "/") || strings.Contains(c.Prefix, "//") {
		errs = append(errs, fmt.Errorf("evidence.prefix %q: no leading slash and no empty segment (e.g. cases/)", c.Prefix))
	}
	return errors.Join(errs...)
}

// bucketName checks S3's rules for bucket names (the general purpose
// bucket rules, without the IP-address and reserved-suffix cases).
func bucketName(s string) bool {
	if len(s) < 3 || len(s) > 63 || strings.Contains(s, "..") {
		return false
	}
	for i, r := range s {
		ok := r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || (r == '.' || r == '-') && i > 0 && i < len(s)-1
		if !ok {
			return false
		}
	}
	return true
}
