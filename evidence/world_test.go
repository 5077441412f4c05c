package evidence_test

import (
	"context"
	"crypto/sha256"
	"fmt"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/cordon-ir/cordon/evidence"
	"github.com/cordon-ir/cordon/internal/awsemu"
)

// forensicAccount owns the evidence bucket; the store writes to it as a
// session of its role, assumed from the default (production) account.
const forensicAccount = "210987654321"

// world is an emulator with the forensic account's role, and an S3 client
// that calls as a session of it.
type world struct {
	emu      *awsemu.Emulator
	forensic *s3.Client
}

func newWorld(t *testing.T) *world {
	t.Helper()
	emu := awsemu.NewTestServer(t, awsemu.Options{})
	role, err := emu.AddRole(awsemu.RoleSpec{Name: "cordon-evidence", Account: forensicAccount,
		TrustedPrincipals: []string{"arn:aws:iam::" + emu.AccountID() + ":root"}})
	if err != nil {
		t.Fatal(err)
	}
	cfg := emu.AWSConfig()
	out, err := sts.NewFromConfig(cfg).AssumeRole(context.Background(), &sts.AssumeRoleInput{RoleArn: aws.String(role.ARN), RoleSessionName: aws.String("cordon-test")})
	if err != nil {
		t.Fatal(err)
	}
	c := out.Credentials
	cfg.Credentials = credentials.NewStaticCredentialsProvider(aws.ToString(c.AccessKeyId), aws.ToString(c.SecretAccessKey), aws.ToString(c.SessionToken))
	return &world{emu: emu, forensic: s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = true })}
}

// bucket seeds a bucket in the forensic account.
func (w *world) bucket(t *testing.T, spec awsemu.BucketSpec) {
	t.Helper()
	if spec.Account == "" {
		spec.Account = forensicAccount
	}
	if err := w.emu.AddBucket(spec); err != nil {
		t.Fatal(err)
	}
}

// lockedBucket is the evidence bucket as docs/forensics.md sets it up:
// Object Lock with a default compliance retention.
func (w *world) lockedBucket(t *testing.T) {
	w.bucket(t, awsemu.BucketSpec{Name: "cordon-evidence", ObjectLock: true, DefaultRetention: &awsemu.S3DefaultRetention{Mode: "COMPLIANCE", Days: 30}})
}

// newLockedWorld is a world with the locked evidence bucket.
func newLockedWorld(t *testing.T) *world {
	w := newWorld(t)
	w.lockedBucket(t)
	return w
}

func (w *world) store(cfg evidence.Config) *evidence.Store {
	if cfg.Bucket == "" {
		cfg.Bucket = "cordon-evidence"
	}
	return evidence.New(w.forensic, cfg, nil)
}

func sha(b []byte) string { return fmt.Sprintf("%x", sha256.Sum256(b)) }

// mutations counts the emulator's successful state changes.
func mutations(w *world) int { return len(w.emu.Mutations()) }
