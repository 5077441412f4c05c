package awsemu_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/cordon-ir/cordon/internal/awsemu"
)

// s3Client is an S3 client for the emulator: path-style addressing, since
// bucket.127.0.0.1 does not resolve.
func s3Client(cfg aws.Config) *s3.Client {
	return s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = true })
}

func sha256B64(b []byte) string {
	s := sha256.Sum256(b)
	return base64.StdEncoding.EncodeToString(s[:])
}

// lockedBucket creates an Object Lock bucket with a default retention in
// the forensic account and returns the forensic role's S3 client.
func lockedBucket(t *testing.T, emu *awsemu.Emulator, name string, mode s3types.ObjectLockRetentionMode) *s3.Client {
	t.Helper()
	ctx := context.Background()
	client := s3Client(forensicRole(t, emu))
	if _, err := client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(name), ObjectLockEnabledForBucket: aws.Bool(true)}); err != nil {
		t.Fatalf("CreateBucket: %v", err)
	}
	if _, err := client.PutObjectLockConfiguration(ctx, &s3.PutObjectLockConfigurationInput{Bucket: aws.String(name),
		ObjectLockConfiguration: &s3types.ObjectLockConfiguration{ObjectLockEnabled: s3types.ObjectLockEnabledEnabled,
			Rule: &s3types.ObjectLockRule{DefaultRetention: &s3types.DefaultRetention{Mode: mode, Days: aws.Int32(30)}}}}); err != nil {
		t.Fatalf("PutObjectLockConfiguration: %v", err)
	}
	return client
}

// An evidence store: a bucket with Object Lock in compliance mode keeps
// every version it was given, verifies the SHA-256 the client sends,
// answers it back, and refuses to delete a version under retention; a
// delete without a version id only hides the object behind a marker.
func TestS3ObjectLockEvidenceStore(t *testing.T) {
	emu := awsemu.NewTestServer(t, awsemu.Options{})
	ctx := context.Background()
	client := lockedBucket(t, emu, "cordon-evidence", s3types.ObjectLockRetentionModeCompliance)

	lock, err := client.GetObjectLockConfiguration(ctx, &s3.GetObjectLockConfigurationInput{Bucket: aws.String("cordon-evidence")})
	if err != nil || lock.ObjectLockConfiguration.ObjectLockEnabled != s3types.ObjectLockEnabledEnabled ||
		lock.ObjectLockConfiguration.Rule.DefaultRetention.Mode != s3types.ObjectLockRetentionModeCompliance ||
		aws.ToInt32(lock.ObjectLockConfiguration.Rule.DefaultRetention.Days) != 30 {
		t.Fatalf("GetObjectLockConfiguration = %+v, %v", lock, err)
	}
	ver, err := client.GetBucketVersioning(ctx, &s3.GetBucketVersioningInput{Bucket: aws.String("cordon-evidence")})
	if err != nil || ver.Status != s3types.BucketVersioningStatusEnabled {
		t.Fatalf("Object Lock implies versioning: %+v, %v", ver, err)
	}

	image := bytes.Repeat([]byte("memory page "), 4096)
	put, err := client.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("cordon-evidence"), Key: aws.String("case-1/i-0abc/memory.lime"),
		Body: bytes.NewReader(image), ChecksumSHA256: aws.String(sha256B64(image))})
	if err != nil {
		t.Fatalf("PutObject: %v", err)
	}
	if aws.ToString(put.VersionId) == "" || aws.ToString(put.ChecksumSHA256) != sha256B64(image) {
		t.Fatalf("PutObject answered version %q checksum %q", aws.ToString(put.VersionId), aws.ToString(put.ChecksumSHA256))
	}

	got, err := client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("cordon-evidence"), Key: aws.String("case-1/i-0abc/memory.lime"),
		VersionId: put.VersionId, ChecksumMode: s3types.ChecksumModeEnabled})
	if err != nil {
		t.Fatalf("GetObject: %v", err)
	}
	body, err := io.ReadAll(got.Body)
	got.Body.Close()
	if err != nil || !bytes.Equal(body, image) || aws.ToString(got.ChecksumSHA256) != sha256B64(image) ||
		got.ObjectLockMode != s3types.ObjectLockModeCompliance || got.ObjectLockRetainUntilDate == nil {
		t.Fatalf("GetObject = %d bytes, checksum %q, lock %s until %v, %v", len(body), aws.ToString(got.ChecksumSHA256), got.ObjectLockMode, got.ObjectLockRetainUntilDate, err)
	}
	if until := *got.ObjectLockRetainUntilDate; until.Sub(time.Now()) < 29*24*time.Hour {
		t.Errorf("default retention of 30 days gave %v", until)
	}
	head, err := client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("cordon-evidence"), Key: aws.String("case-1/i-0abc/memory.lime")})
	if err != nil || aws.ToInt64(head.ContentLength) != int64(len(image)) || aws.ToString(head.VersionId) != aws.ToString(put.VersionId) {
		t.Fatalf("HeadObject = %+v, %v", head, err)
	}

	// Retention forbids deleting the version, even to its owner.
	_, err = client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String("cordon-evidence"), Key: aws.String("case-1/i-0abc/memory.lime"), VersionId: put.VersionId})
	if code := apiCode(t, err); code != "AccessDenied" {
		t.Fatalf("delete of a locked version: %v", err)
	}
	// A delete without a version id adds a delete marker.
	del, err := client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String("cordon-evidence"), Key: aws.String("case-1/i-0abc/memory.lime")})
	if err != nil || !aws.ToBool(del.DeleteMarker) || aws.ToString(del.VersionId) == "" {
		t.Fatalf("delete marker: %+v, %v", del, err)
	}
	list, err := client.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("cordon-evidence"), Prefix: aws.String("case-1/")})
	if err != nil || aws.ToInt32(list.KeyCount) != 0 {
		t.Fatalf("a key behind a delete marker is listed: %+v, %v", list, err)
	}
	// The version is still there, byte for byte.
	stored, ok := emu.S3Object("cordon-evidence", "case-1/i-0abc/memory.lime", aws.ToString(put.VersionId))
	if !ok || !bytes.Equal(stored.Body, image) || stored.SHA256 != fmt.Sprintf("%x", sha256.Sum256(image)) {
		t.Fatalf("stored version = %+v, %v", stored.Key, ok)
	}
	if _, err := client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("cordon-evidence"), Key: aws.String("case-1/i-0abc/memory.lime"), VersionId: put.VersionId}); err != nil {
		t.Fatalf("GetObject of the locked version: %v", err)
	}
	buckets := emu.Buckets()
	if len(buckets) != 1 || buckets[0].Owner != forensicAccount || len(buckets[0].Objects) != 2 || !buckets[0].Objects[1].IsDeleteMarker {
		t.Fatalf("buckets = %+v", buckets)
	}
}

// S3 verifies the checksum a client sends and refuses a mismatch with
// BadDigest, storing nothing. Over plain HTTP the SDK sends no checksum
// by default: S3 then stores its own CRC64NVME, which the SDK validates on
// GetObject; a CRC32 the client asks for is verified and answered back.
func TestS3ChecksumsAreVerified(t *testing.T) {
	emu := awsemu.NewTestServer(t, awsemu.Options{})
	ctx := context.Background()
	client := lockedBucket(t, emu, "cordon-evidence", s3types.ObjectLockRetentionModeGovernance)
	_, err := client.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("cordon-evidence"), Key: aws.String("case-1/triage.txt"),
		Body: strings.NewReader("ps aux"), ChecksumSHA256: aws.String(sha256B64([]byte("something else")))})
	if code := apiCode(t, err); code != "BadDigest" || !strings.Contains(err.Error(), "SHA256 you specified did not match") {
		t.Fatalf("wrong checksum: %v", err)
	}
	if _, ok := emu.S3Object("cordon-evidence", "case-1/triage.txt", ""); ok {
		t.Fatal("an object with a wrong checksum was stored")
	}
	plain, err := client.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("cordon-evidence"), Key: aws.String("case-1/ps.txt"), Body: strings.NewReader("ps aux")})
	if err != nil || aws.ToString(plain.ChecksumCRC64NVME) == "" {
		t.Fatalf("PutObject without a checksum: %+v, %v", plain, err)
	}
	got, err := client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("cordon-evidence"), Key: aws.String("case-1/ps.txt"), ChecksumMode: s3types.ChecksumModeEnabled})
	if err != nil || aws.ToString(got.ChecksumCRC64NVME) != aws.ToString(plain.ChecksumCRC64NVME) {
		t.Fatalf("GetObject = %+v, %v", got, err)
	}
	if _, err := io.ReadAll(got.Body); err != nil {
		t.Fatalf("the SDK's CRC64NVME validation failed: %v", err)
	}
	got.Body.Close()
	put, err := client.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("cordon-evidence"), Key: aws.String("case-1/triage.txt"),
		Body: strings.NewReader("ps aux"), ChecksumAlgorithm: s3types.ChecksumAlgorithmCrc32})
	if err != nil || aws.ToString(put.ChecksumCRC32) == "" {
		t.Fatalf("PutObject with CRC32: %+v, %v", put, err)
	}
	got, err = client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("cordon-evidence"), Key: aws.String("case-1/triage.txt"), ChecksumMode: s3types.ChecksumModeEnabled})
	if err != nil || aws.ToString(got.ChecksumCRC32) != aws.ToString(put.ChecksumCRC32) {
		t.Fatalf("GetObject = %+v, %v", got, err)
	}
	if _, err := io.ReadAll(got.Body); err != nil {
		t.Fatalf("the SDK's CRC32 validation failed: %v", err)
	}
	got.Body.Close()
	// Governance retention yields to a caller that bypasses it.
	if _, err := client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String("cordon-evidence"), Key: aws.String("case-1/triage.txt"),
		VersionId: put.VersionId, BypassGovernanceRetention: aws.Bool(true)}); err != nil {
		t.Fatalf("governance bypass: %v", err)
	}
}

// The SDKs send trailing checksums in the aws-chunked encoding over TLS;
// the emulator decodes that body and verifies the trailer.
func TestS3AcceptsAWSChunkedTrailers(t *testing.T) {
	emu := awsemu.NewTestServer(t, awsemu.Options{})
	ctx := context.Background()
	if _, err := s3Client(emu.AWSConfig()).CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("plain")}); err != nil {
		t.Fatal(err)
	}
	payload := []byte("0123456789abcdef-evidence")
	put := func(trailerSum string) *http.Response {
		t.Helper()
		body := fmt.Sprintf("10\r\n%s\r\n%x\r\n%s\r\n0\r\nx-amz-checksum-sha256:%s\r\n\r\n", payload[:16], len(payload)-16, payload[16:], trailerSum)
		req, err := http.NewRequestWithContext(ctx, http.MethodPut, emu.URL()+"/plain/chunked.bin?x-id=PutObject", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential="+awsemu.DefaultAccessKeyID+"/20260101/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=0")
		req.Header.Set("Content-Encoding", "aws-chunked")
		req.Header.Set("x-amz-content-sha256", "STREAMING-UNSIGNED-PAYLOAD-TRAILER")
		req.Header.Set("x-amz-decoded-content-length", fmt.Sprint(len(payload)))
		req.Header.Set("x-amz-trailer", "x-amz-checksum-sha256")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	if resp := put(sha256B64([]byte("not it"))); resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("a wrong trailing checksum answered %s", resp.Status)
	}
	if resp := put(sha256B64(payload)); resp.StatusCode != http.StatusOK || resp.Header.Get("x-amz-checksum-sha256") != sha256B64(payload) {
		t.Fatalf("aws-chunked PutObject answered %s %v", resp.Status, resp.Header)
	}
	obj, ok := emu.S3Object("plain", "chunked.bin", "")
	if !ok || !bytes.Equal(obj.Body, payload) || obj.VersionID != "null" {
		t.Fatalf("stored %q (version %q)", obj.Body, obj.VersionID)
	}
}

// A bucket without Object Lock says so, and refuses retention headers.
func TestS3BucketWithoutObjectLock(t *testing.T) {
	emu := awsemu.NewTestServer(t, awsemu.Options{})
	ctx := context.Background()
	client := s3Client(emu.AWSConfig())
	if _, err := client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("no-lock")}); err != nil {
		t.Fatal(err)
	}
	_, err := client.GetObjectLockConfiguration(ctx, &s3.GetObjectLockConfigurationInput{Bucket: aws.String("no-lock")})
	if code := apiCode(t, err); code != "ObjectLockConfigurationNotFoundError" {
		t.Fatalf("GetObjectLockConfiguration: %v", err)
	}
	_, err = client.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("no-lock"), Key: aws.String("k"), Body: strings.NewReader("x"),
		ObjectLockMode: s3types.ObjectLockModeCompliance, ObjectLockRetainUntilDate: aws.Time(time.Now().Add(time.Hour))})
	if code := apiCode(t, err); code != "InvalidRequest" {
		t.Fatalf("retention on a bucket without Object Lock: %v", err)
	}
	ver, err := client.GetBucketVersioning(ctx, &s3.GetBucketVersioningInput{Bucket: aws.String("no-lock")})
	if err != nil || ver.Status != "" {
		t.Fatalf("a new bucket is unversioned: %+v, %v", ver, err)
	}
	_, err = client.GetObjectLockConfiguration(ctx, &s3.GetObjectLockConfigurationInput{Bucket: aws.String("no-such-bucket")})
	if code := apiCode(t, err); code != "NoSuchBucket" {
		t.Fatalf("missing bucket: %v", err)
	}
}

// Another account reaches a bucket only where its policy allows, and a
// denied permission is named after the S3 action, like AWS's AccessDenied.
func TestS3CrossAccountAccessAndDenies(t *testing.T) {
	emu := awsemu.NewTestServer(t, awsemu.Options{})
	ctx := context.Background()
	owner := lockedBucket(t, emu, "cordon-evidence", s3types.ObjectLockRetentionModeCompliance)
	responder := s3Client(emu.AWSConfig())
	put := func(c *s3.Client, key string) error {
		_, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("cordon-evidence"), Key: aws.String(key), Body: strings.NewReader("evidence"),
			ChecksumSHA256: aws.String(sha256B64([]byte("evidence")))})
		return err
	}
	err := put(responder, "case-1/describe.json")
	if code := apiCode(t, err); code != "AccessDenied" || !strings.Contains(err.Error(), "s3:PutObject") {
		t.Fatalf("cross-account put without a bucket policy: %v", err)
	}
	policy := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::` + emu.AccountID() +
		`:root"},"Action":"s3:PutObject","Resource":"arn:aws:s3:::cordon-evidence/case-1/*"}]}`
	if _, err := owner.PutBucketPolicy(ctx, &s3.PutBucketPolicyInput{Bucket: aws.String("cordon-evidence"), Policy: aws.String(policy)}); err != nil {
		t.Fatal(err)
	}
	if err := put(responder, "case-1/describe.json"); err != nil {
		t.Fatalf("put the policy allows: %v", err)
	}
	if err := put(responder, "case-2/describe.json"); apiCode(t, err) != "AccessDenied" {
		t.Fatalf("put outside the allowed prefix: %v", err)
	}
	// An identity deny (Emulator.Deny) names the action.
	emu.Deny(awsemu.AllPrincipals, "s3:GetObjectVersion")
	_, err = owner.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("cordon-evidence"), Key: aws.String("case-1/describe.json"), VersionId: aws.String("x")})
	if code := apiCode(t, err); code != "AccessDenied" || !strings.Contains(err.Error(), "s3:GetObjectVersion") {
		t.Fatalf("denied GetObjectVersion: %v", err)
	}
	calls := emu.Calls()
	if last := calls[len(calls)-1]; last.Service != "s3" || last.Action != "GetObject" || last.IAMAction != "s3:GetObjectVersion" || last.Status != 403 {
		t.Errorf("last call = %+v", last)
	}
	// Throttling answers SlowDown, which the SDK retries.
	emu.ResetFaults()
	emu.FailNext("s3:PutObject", "SlowDown", http.StatusServiceUnavailable, 1)
	if err := put(owner, "case-1/retried.json"); err != nil {
		t.Fatalf("a throttled put is retried: %v", err)
	}
}

// TamperObject changes the stored bytes behind S3's back (and S3's own
// checksum with them), so only a hash recorded elsewhere catches it.
func TestTamperObject(t *testing.T) {
	emu := awsemu.NewTestServer(t, awsemu.Options{})
	ctx := context.Background()
	client := lockedBucket(t, emu, "cordon-evidence", s3types.ObjectLockRetentionModeCompliance)
	orig := []byte("netstat -anp: 45.133.203.192:80 ESTABLISHED kinsing")
	put, err := client.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("cordon-evidence"), Key: aws.String("case-1/netstat.txt"),
		Body: bytes.NewReader(orig), ChecksumSHA256: aws.String(sha256B64(orig))})
	if err != nil {
		t.Fatal(err)
	}
	if err := emu.TamperObject(emu.AccountID(), "cordon-evidence", "case-1/netstat.txt", "", []byte("x")); err == nil {
		t.Error("tampering through the wrong account's bucket was accepted")
	}
	forged := []byte("netstat -anp: nothing to see")
	if err := emu.TamperObject(forensicAccount, "cordon-evidence", "case-1/netstat.txt", aws.ToString(put.VersionId), forged); err != nil {
		t.Fatal(err)
	}
	got, err := client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("cordon-evidence"), Key: aws.String("case-1/netstat.txt"),
		VersionId: put.VersionId, ChecksumMode: s3types.ChecksumModeEnabled})
	if err != nil {
		t.Fatalf("GetObject after tampering: %v", err)
	}
	body, _ := io.ReadAll(got.Body)
	got.Body.Close()
	want := sha256.Sum256(orig)
	if bytes.Equal(body, orig) || sha256Hex(body) == hex.EncodeToString(want[:]) {
		t.Fatalf("tampering did not change what S3 serves: %q", body)
	}
}

func sha256Hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func s3CreateBucket(name string) *s3.CreateBucketInput {
	return &s3.CreateBucketInput{Bucket: aws.String(name)}
}

// putObject puts body with its SHA-256, as the evidence store does.
func putObject(t *testing.T, c *s3.Client, bucket, key, body string) *s3.PutObjectOutput {
	t.Helper()
	out, err := c.PutObject(context.Background(), &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key),
		Body: strings.NewReader(body), ChecksumSHA256: aws.String(sha256B64([]byte(body)))})
	if err != nil {
		t.Fatalf("put s3://%s/%s: %v", bucket, key, err)
	}
	return out
}
