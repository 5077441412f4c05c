package awsemu

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// S3, in its REST-XML protocol with path-style addressing only
// (http://127.0.0.1:PORT/bucket/key): clients set UsePathStyle, since a
// virtual-hosted name such as bucket.127.0.0.1 does not resolve. Buckets
// share one namespace across accounts and each is owned by the account
// that created it; another account reaches it only where the bucket policy
// allows (see policy.go). What is modelled is what an evidence store needs:
// Object Lock (default and per-object retention, COMPLIANCE and
// GOVERNANCE), versioning, checksums that S3 verifies, and delete markers.

// ServiceS3 is S3's name in [Call.Service].
const ServiceS3 = "s3"

// maxObjectBytes bounds an object the emulator accepts: it keeps every
// version in memory, so tests and the demo use small memory images.
const maxObjectBytes = 64 << 20

// S3Bucket is an emulated S3 bucket.
type S3Bucket struct {
	Name         string
	Owner        string // account id
	Region       string
	CreationDate time.Time
	// Versioning is "" (never enabled), "Enabled" or "Suspended".
	Versioning        string
	ObjectLockEnabled bool
	// DefaultRetention is the Object Lock default rule, nil when none.
	DefaultRetention *S3DefaultRetention
	Policy           string // bucket policy JSON, "" when none
	// Objects are every version and delete marker, by key and then from
	// oldest to newest; filled in copies (State, S3Bucket) only.
	Objects []S3Object

	versions map[string][]*S3Object // key → versions, oldest first
}

// S3DefaultRetention is a bucket's Object Lock default retention.
type S3DefaultRetention struct {
	Mode  string // "GOVERNANCE" or "COMPLIANCE"
	Days  int
	Years int
}

// S3Object is one version of an object, or a delete marker.
type S3Object struct {
	Key            string
	VersionID      string // "null" for objects put while versioning was off
	IsDeleteMarker bool
	LastModified   time.Time
	Size           int64
	ETag           string // quoted MD5 hex, as S3 returns it
	ContentType    string
	// ChecksumAlgorithm and Checksum are the checksum S3 verified and
	// stored: the one the client sent, or CRC64NVME when it sent none.
	ChecksumAlgorithm string
	Checksum          string // base64
	// SHA256 is the hex SHA-256 of Body, for tests to compare with.
	SHA256      string
	LockMode    string // "GOVERNANCE", "COMPLIANCE" or "" without retention
	RetainUntil time.Time
	// Body is the stored bytes; left out of the JSON state.
	Body []byte `json:"-"`
}

func (o S3Object) clone() S3Object {
	o.Body = slices.Clone(o.Body)
	return o
}

func (b *S3Bucket) clone() S3Bucket {
	out := *b
	if b.DefaultRetention != nil {
		r := *b.DefaultRetention
		out.DefaultRetention = &r
	}
	out.versions = nil
	out.Objects = nil
	for _, k := range sortedKeys(b.versions) {
		for _, v := range b.versions[k] {
			out.Objects = append(out.Objects, v.clone())
		}
	}
	return out
}

// latest is the newest version of key, nil when there is none.
func (b *S3Bucket) latest(key string) *S3Object {
	vs := b.versions[key]
	if len(vs) == 0 {
		return nil
	}
	return vs[len(vs)-1]
}

func (b *S3Bucket) version(key, id string) *S3Object {
	for _, v := range b.versions[key] {
		if v.VersionID == id {
			return v
		}
	}
	return nil
}

// s3Request is one decoded S3 call.
type s3Request struct {
	*request
	region string // the region the request was signed for
	bucket string
	key    string
	query  url.Values
	header http.Header
	body   []byte
}

// s3Response is what an S3 handler answers: a status, headers and a body
// (XML, or an object's bytes).
type s3Response struct {
	status int
	header http.Header
	body   []byte
}

func xmlResponse(v any) *s3Response {
	b, err := xml.Marshal(v)
	if err != nil {
		// Only the emulator's own structs are marshalled; they always encode.
		panic(fmt.Sprintf("awsemu: encode S3 response: %v", err))
	}
	return &s3Response{status: http.StatusOK, header: http.Header{"Content-Type": {"application/xml"}},
		body: append([]byte(xml.Header), b...)}
}

func emptyResponse(status int) *s3Response {
	return &s3Response{status: status, header: http.Header{}}
}

// s3Op is one S3 operation: its name, whether it changes state, the IAM
// actions a request of it needs (which can depend on the request, e.g.
// s3:GetObjectVersion for a GetObject naming a version), and its handler.
type s3Op struct {
	action   string
	mutating bool
	perms    func(r *s3Request) []string
	handle   func(e *Emulator, r *s3Request) (*s3Response, *apiError)
}

func s3Perm(actions ...string) func(*s3Request) []string {
	return func(*s3Request) []string { return actions }
}

// s3Operations lists the S3 operations for [Emulator.Operations]; they are
// served by serveS3, never by the query dispatcher.
func s3Operations() []operation {
	var out []operation
	for _, op := range s3OpTable() {
		out = append(out, operation{service: ServiceS3, action: op.action, mutating: op.mutating, handle: servedByREST})
	}
	return out
}

// servedByREST guards the operation table: S3 operations are only reached
// through serveS3, since the query dispatcher maps no signing name to S3.
func servedByREST(_ *Emulator, r *request) ([]node, *apiError) {
	return nil, &apiError{Status: http.StatusInternalServerError, Code: "InternalError",
		Message: "awsemu: " + r.action + " is served by the S3 REST dispatcher"}
}

func s3OpTable() []s3Op {
	return []s3Op{
		{action: "ListBuckets", perms: s3Perm("s3:ListAllMyBuckets"), handle: (*Emulator).s3ListBuckets},
		{action: "CreateBucket", mutating: true, perms: func(r *s3Request) []string {
			if strings.EqualFold(r.header.Get("x-amz-bucket-object-lock-enabled"), "true") {
				return []string{"s3:CreateBucket", "s3:PutBucketObjectLockConfiguration", "s3:PutBucketVersioning"}
			}
			return []string{"s3:CreateBucket"}
		}, handle: (*Emulator).s3CreateBucket},
		{action: "HeadBucket", perms: s3Perm("s3:ListBucket"), handle: (*Emulator).s3HeadBucket},
		{action: "PutObjectLockConfiguration", mutating: true, perms: s3Perm("s3:PutBucketObjectLockConfiguration"), handle: (*Emulator).s3PutObjectLockConfiguration},
		{action: "GetObjectLockConfiguration", perms: s3Perm("s3:GetBucketObjectLockConfiguration"), handle: (*Emulator).s3GetObjectLockConfiguration},
		{action: "PutBucketVersioning", mutating: true, perms: s3Perm("s3:PutBucketVersioning"), handle: (*Emulator).s3PutBucketVersioning},
		{action: "GetBucketVersioning", perms: s3Perm("s3:GetBucketVersioning"), handle: (*Emulator).s3GetBucketVersioning},
		{action: "PutBucketPolicy", mutating: true, perms: s3Perm("s3:PutBucketPolicy"), handle: (*Emulator).s3PutBucketPolicy},
		{action: "GetBucketPolicy", perms: s3Perm("s3:GetBucketPolicy"), handle: (*Emulator).s3GetBucketPolicy},
		{action: "ListObjectsV2", perms: s3Perm("s3:ListBucket"), handle: (*Emulator).s3ListObjectsV2},
		{action: "PutObject", mutating: true, perms: func(r *s3Request) []string {
			if r.header.Get("x-amz-object-lock-mode") != "" || r.header.Get("x-amz-object-lock-retain-until-date") != "" {
				return []string{"s3:PutObject", "s3:PutObjectRetention"}
			}
			return []string{"s3:PutObject"}
		}, handle: (*Emulator).s3PutObject},
		{action: "GetObject", perms: versioned("s3:GetObject", "s3:GetObjectVersion"), handle: (*Emulator).s3GetObject},
		{action: "HeadObject", perms: versioned("s3:GetObject", "s3:GetObjectVersion"), handle: (*Emulator).s3HeadObject},
		{action: "DeleteObject", mutating: true, perms: func(r *s3Request) []string {
			out := versioned("s3:DeleteObject", "s3:DeleteObjectVersion")(r)
			if strings.EqualFold(r.header.Get("x-amz-bypass-governance-retention"), "true") {
				out = append(out, "s3:BypassGovernanceRetention")
			}
			return out
		}, handle: (*Emulator).s3DeleteObject},
	}
}

// versioned picks the IAM action S3 checks: the Version variant when the
// request names a version id.
func versioned(plain, version string) func(*s3Request) []string {
	return func(r *s3Request) []string {
		if r.query.Has("versionId") {
			return []string{version}
		}
		return []string{plain}
	}
}

// route finds the operation of a path-style request.
func route(method, bucket, key string, q url.Values) (string, bool) {
	switch {
	case bucket == "":
		return "ListBuckets", method == http.MethodGet
	case key == "":
		for _, sub := range []struct{ name, put, get string }{
			{"object-lock", "PutObjectLockConfiguration", "GetObjectLockConfiguration"},
			{"versioning", "PutBucketVersioning", "GetBucketVersioning"},
			{"policy", "PutBucketPolicy", "GetBucketPolicy"},
		} {
			if !q.Has(sub.name) {
				continue
			}
			switch method {
			case http.MethodPut:
				return sub.put, true
			case http.MethodGet:
				return sub.get, true
			}
			return "", false
		}
		switch {
		case method == http.MethodPut && len(q) == 0:
			return "CreateBucket", true
		case method == http.MethodHead:
			return "HeadBucket", true
		case method == http.MethodGet && q.Get("list-type") == "2":
			return "ListObjectsV2", true
		}
	default:
		if len(q) > 0 && !q.Has("x-id") && !q.Has("versionId") {
			return "", false // a subresource (tagging, retention, acl, ...) the emulator does not model
		}
		switch method {
		case http.MethodPut:
			return "PutObject", true
		case http.MethodGet:
			return "GetObject", true
		case http.MethodHead:
			return "HeadObject", true
		case http.MethodDelete:
			return "DeleteObject", true
		}
	}
	return "", false
}

// isS3Request tells S3 calls (signed for "s3") from the query protocols.
func isS3Request(r *http.Request) bool {
	scope, err := parseAuthorization(r.Header.Get("Authorization"))
	return err == nil && scope.signingName == "s3"
}

// serveS3 decodes, authorises, fault-injects and dispatches one S3 call,
// recording it in the call log whatever the outcome.
func (e *Emulator) serveS3(w http.ResponseWriter, r *http.Request) {
	e.mu.Lock()
	call := Call{Time: e.clock(), RequestID: e.nextRequestID(), SourceIP: remoteIP(r), UserAgent: r.UserAgent(), Service: ServiceS3}
	e.mu.Unlock()
	resp, aerr := e.handleS3(w, r, &call)
	if aerr != nil {
		call.Status, call.ErrorCode = aerr.Status, aerr.Code
		resp = &s3Response{status: aerr.Status, header: http.Header{"Content-Type": {"application/xml"}}, body: s3ErrorBody(call.RequestID, aerr)}
	} else {
		call.Status = resp.status
	}
	e.record(call)
	for k, vs := range resp.header {
		w.Header()[k] = vs
	}
	w.Header().Set("x-amz-request-id", call.RequestID)
	w.Header().Set("x-amz-id-2", "awsemu/"+call.RequestID)
	if r.Method == http.MethodHead {
		w.WriteHeader(resp.status)
		return
	}
	w.Header().Set("Content-Length", strconv.Itoa(len(resp.body)))
	w.WriteHeader(resp.status)
	// A write error means the client went away; there is no one to tell.
	_, _ = w.Write(resp.body)
}

func s3ErrorBody(requestID string, err *apiError) []byte {
	var b bytes.Buffer
	b.WriteString(xml.Header)
	el("Error", leaf("Code", err.Code), leaf("Message", err.Message), leaf("RequestId", requestID), leaf("HostId", "awsemu/"+requestID)).write(&b)
	return b.Bytes()
}

func (e *Emulator) handleS3(w http.ResponseWriter, r *http.Request, call *Call) (*s3Response, *apiError) {
	scope, aerr := parseAuthorization(r.Header.Get("Authorization"))
	if aerr != nil {
		return nil, aerr
	}
	call.AccessKeyID = scope.accessKeyID
	bucket, key, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/")
	q := r.URL.Query()
	action, ok := route(r.Method, bucket, key, q)
	if !ok {
		call.Action = r.Method + " " + r.URL.Path
		return nil, &apiError{Status: http.StatusNotImplemented, Code: "NotImplemented",
			Message: fmt.Sprintf("awsemu does not emulate %s %s?%s", r.Method, r.URL.Path, r.URL.RawQuery)}
	}
	call.Action = action
	var op s3Op
	for _, o := range s3OpTable() {
		if o.action == action {
			op = o
		}
	}
	call.Mutating = op.mutating
	body, aerr := readS3Body(w, r)
	if aerr != nil {
		return nil, aerr
	}
	rq := &s3Request{request: &request{ctx: r.Context(), id: call.RequestID, svc: ServiceS3, action: action, region: scope.region}, region: scope.region,
		bucket: bucket, key: key, query: q, header: r.Header, body: body}
	perms := op.perms(rq)
	call.IAMAction = perms[0]

	if aerr := e.waitLatency(rq.ctx); aerr != nil {
		return nil, aerr
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	leave, aerr := e.admit(call, rq.request, operation{service: ServiceS3, action: action, mutating: op.mutating}, scope.accessKeyID, perms)
	defer leave()
	if aerr != nil {
		return nil, aerr
	}
	caller := rq.caller
	if bucket != "" {
		call.Resources = []CallResource{{Type: "AWS::S3::Bucket", Name: "arn:aws:s3:::" + bucket}}
	}
	if bucket != "" && action != "CreateBucket" {
		b, ok := e.buckets[bucket]
		if !ok {
			return nil, &apiError{Status: http.StatusNotFound, Code: "NoSuchBucket", Message: "The specified bucket does not exist"}
		}
		if owner := r.Header.Get("x-amz-expected-bucket-owner"); owner != "" && owner != b.Owner {
			return nil, clientErr(http.StatusForbidden, "AccessDenied", "Access Denied")
		}
		for _, p := range perms {
			if aerr := e.s3Authorize(caller, b, p, key); aerr != nil {
				call.IAMAction = p
				return nil, aerr
			}
		}
	}
	return recoverHandler(e, action, func() (*s3Response, *apiError) { return op.handle(e, rq) })
}

// readS3Body reads a request body of at most maxObjectBytes, decoding the
// aws-chunked encoding SDKs use for trailing checksums.
func readS3Body(w http.ResponseWriter, r *http.Request) ([]byte, *apiError) {
	raw, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxObjectBytes+64<<10))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return nil, clientErr(http.StatusBadRequest, "EntityTooLarge", "Your proposed upload exceeds the maximum allowed size (awsemu keeps objects in memory: %d bytes)", maxObjectBytes)
		}
		return nil, clientErr(http.StatusBadRequest, "IncompleteBody", "You did not provide the number of bytes specified by the Content-Length HTTP header: %v", err)
	}
	return raw, nil
}

// s3Authorize applies the bucket's owner and policy: its own account may
// do anything its identity allows (Emulator.Deny); another account only
// what the bucket policy allows it, and a Deny in the policy binds all.
func (e *Emulator) s3Authorize(caller principal, b *S3Bucket, action, key string) *apiError {
	resource := "arn:aws:s3:::" + b.Name
	if key != "" {
		resource += "/" + key
	}
	decision := policyNoMatch
	if b.Policy != "" {
		if doc, err := parsePolicy(b.Policy); err == nil {
			decision = doc.evaluate(caller, action, resource)
		}
	}
	if decision == policyDeny || (caller.account != b.Owner && decision != policyAllow) {
		return clientErr(http.StatusForbidden, "AccessDenied",
			"User: %s is not authorized to perform: %s on resource: \"%s\" because no resource-based policy allows the %s action", caller.arn, action, resource, action)
	}
	return nil
}

// ---- buckets ------------------------------------------------------------

var bucketNamePattern = regexp.MustCompile(`^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$`)

type createBucketConfiguration struct {
	LocationConstraint string
}

func (e *Emulator) s3CreateBucket(r *s3Request) (*s3Response, *apiError) {
	if !bucketNamePattern.MatchString(r.bucket) || strings.Contains(r.bucket, "..") {
		return nil, clientErr(http.StatusBadRequest, "InvalidBucketName", "The specified bucket is not valid.")
	}
	region := "us-east-1"
	if len(bytes.TrimSpace(r.body)) > 0 {
		var cfg createBucketConfiguration
		if err := xml.Unmarshal(r.body, &cfg); err != nil {
			return nil, clientErr(http.StatusBadRequest, "MalformedXML", "The XML you provided was not well-formed or did not validate against our published schema")
		}
		if cfg.LocationConstraint != "" {
			region = cfg.LocationConstraint
		}
	}
	if region != r.region {
		return nil, clientErr(http.StatusBadRequest, "IllegalLocationConstraintException",
			"The %s location constraint is incompatible for the region specific endpoint this request was sent to.", region)
	}
	if e.buckets == nil {
		e.buckets = map[string]*S3Bucket{}
	}
	if b, ok := e.buckets[r.bucket]; ok {
		if b.Owner != r.caller.account {
			return nil, clientErr(http.StatusConflict, "BucketAlreadyExists",
				"The requested bucket name is not available. The bucket namespace is shared by all users of the system. Please select a different name and try again.")
		}
		// us-east-1 answers success to its owner for legacy compatibility.
		if b.Region != "us-east-1" {
			return nil, clientErr(http.StatusConflict, "BucketAlreadyOwnedByYou",
				"Your previous request to create the named bucket succeeded and you already own it.")
		}
		return e.locationResponse(r.bucket), nil
	}
	b := &S3Bucket{Name: r.bucket, Owner: r.caller.account, Region: region, CreationDate: r.now, versions: map[string][]*S3Object{}}
	if strings.EqualFold(r.header.Get("x-amz-bucket-object-lock-enabled"), "true") {
		// Object Lock needs versioning, and S3 turns it on with the lock.
		b.ObjectLockEnabled, b.Versioning = true, "Enabled"
	}
	e.buckets[b.Name] = b
	return e.locationResponse(r.bucket), nil
}

func (e *Emulator) locationResponse(bucket string) *s3Response {
	resp := emptyResponse(http.StatusOK)
	resp.header.Set("Location", "/"+bucket)
	return resp
}

func (e *Emulator) s3HeadBucket(r *s3Request) (*s3Response, *apiError) {
	resp := emptyResponse(http.StatusOK)
	resp.header.Set("x-amz-bucket-region", e.buckets[r.bucket].Region)
	return resp, nil
}

type listAllMyBucketsResult struct {
	XMLName xml.Name `xml:"ListAllMyBucketsResult"`
	Owner   struct{ ID string }
	Buckets struct {
		Bucket []struct {
			Name         string
			CreationDate string
			BucketRegion string
		}
	}
}

func (e *Emulator) s3ListBuckets(r *s3Request) (*s3Response, *apiError) {
	var out listAllMyBucketsResult
	out.Owner.ID = r.caller.account
	for _, name := range sortedKeys(e.buckets) {
		if b := e.buckets[name]; b.Owner == r.caller.account {
			out.Buckets.Bucket = append(out.Buckets.Bucket, struct {
				Name         string
				CreationDate string
				BucketRegion string
			}{b.Name, awsTime(b.CreationDate), b.Region})
		}
	}
	return xmlResponse(out), nil
}

// objectLockConfiguration is the ObjectLockConfiguration document.
type objectLockConfiguration struct {
	XMLName           xml.Name `xml:"ObjectLockConfiguration"`
	ObjectLockEnabled string   `xml:",omitempty"`
	Rule              *struct {
		DefaultRetention struct {
			Mode  string
			Days  int `xml:",omitempty"`
			Years int `xml:",omitempty"`
		}
	} `xml:",omitempty"`
}

func (e *Emulator) s3PutObjectLockConfiguration(r *s3Request) (*s3Response, *apiError) {
	b := e.buckets[r.bucket]
	if aerr := requireContentIntegrity(r); aerr != nil {
		return nil, aerr
	}
	var cfg objectLockConfiguration
	if err := xml.Unmarshal(r.body, &cfg); err != nil || cfg.ObjectLockEnabled != "Enabled" {
		return nil, clientErr(http.StatusBadRequest, "MalformedXML", "The XML you provided was not well-formed or did not validate against our published schema")
	}
	if !b.ObjectLockEnabled && b.Versioning != "Enabled" {
		return nil, clientErr(http.StatusConflict, "InvalidBucketState", "Versioning must be 'Enabled' on the bucket to apply a Object Lock configuration")
	}
	var rule *S3DefaultRetention
	if cfg.Rule != nil {
		d := cfg.Rule.DefaultRetention
		if d.Mode != "GOVERNANCE" && d.Mode != "COMPLIANCE" {
			return nil, clientErr(http.StatusBadRequest, "MalformedXML", "The XML you provided was not well-formed or did not validate against our published schema")
		}
		if (d.Days > 0) == (d.Years > 0) || d.Days < 0 || d.Years < 0 {
			return nil, clientErr(http.StatusBadRequest, "InvalidArgument", "Default retention period must be a positive integer value of either Days or Years")
		}
		rule = &S3DefaultRetention{Mode: d.Mode, Days: d.Days, Years: d.Years}
	}
	b.ObjectLockEnabled, b.DefaultRetention = true, rule
	return emptyResponse(http.StatusOK), nil
}

func (e *Emulator) s3GetObjectLockConfiguration(r *s3Request) (*s3Response, *apiError) {
	b := e.buckets[r.bucket]
	if !b.ObjectLockEnabled {
		return nil, clientErr(http.StatusNotFound, "ObjectLockConfigurationNotFoundError", "Object Lock configuration does not exist for this bucket")
	}
	out := objectLockConfiguration{ObjectLockEnabled: "Enabled"}
	if d := b.DefaultRetention; d != nil {
		out.Rule = &struct {
			DefaultRetention struct {
				Mode  string
				Days  int `xml:",omitempty"`
				Years int `xml:",omitempty"`
			}
		}{}
		out.Rule.DefaultRetention.Mode, out.Rule.DefaultRetention.Days, out.Rule.DefaultRetention.Years = d.Mode, d.Days, d.Years
	}
	return xmlResponse(out), nil
}

type versioningConfiguration struct {
	XMLName xml.Name `xml:"VersioningConfiguration"`
	Status  string   `xml:",omitempty"`
}

func (e *Emulator) s3PutBucketVersioning(r *s3Request) (*s3Response, *apiError) {
	b := e.buckets[r.bucket]
	var cfg versioningConfiguration
	if err := xml.Unmarshal(r.body, &cfg); err != nil || (cfg.Status != "Enabled" && cfg.Status != "Suspended") {
		return nil, clientErr(http.StatusBadRequest, "MalformedXML", "The XML you provided was not well-formed or did not validate against our published schema")
	}
	if cfg.Status == "Suspended" && b.ObjectLockEnabled {
		return nil, clientErr(http.StatusConflict, "InvalidBucketState", "An Object Lock configuration is present on this bucket, so the versioning state cannot be changed.")
	}
	b.Versioning = cfg.Status
	return emptyResponse(http.StatusOK), nil
}

func (e *Emulator) s3GetBucketVersioning(r *s3Request) (*s3Response, *apiError) {
	return xmlResponse(versioningConfiguration{Status: e.buckets[r.bucket].Versioning}), nil
}

func (e *Emulator) s3PutBucketPolicy(r *s3Request) (*s3Response, *apiError) {
	if _, err := parsePolicy(string(r.body)); err != nil {
		return nil, clientErr(http.StatusBadRequest, "MalformedPolicy", "Policies must be valid JSON and the first byte must be '{'")
	}
	e.buckets[r.bucket].Policy = string(r.body)
	return emptyResponse(http.StatusNoContent), nil
}

func (e *Emulator) s3GetBucketPolicy(r *s3Request) (*s3Response, *apiError) {
	b := e.buckets[r.bucket]
	if b.Policy == "" {
		return nil, clientErr(http.StatusNotFound, "NoSuchBucketPolicy", "The bucket policy does not exist")
	}
	return &s3Response{status: http.StatusOK, header: http.Header{"Content-Type": {"application/json"}}, body: []byte(b.Policy)}, nil
}

// ---- inspection and test hooks -------------------------------------------

// Buckets returns copies of every bucket, with all object versions, by name.
func (e *Emulator) Buckets() []S3Bucket {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make([]S3Bucket, 0, len(e.buckets))
	for _, name := range sortedKeys(e.buckets) {
		out = append(out, e.buckets[name].clone())
	}
	return out
}

// S3Object returns a copy of one stored version (body included); an empty
// versionID means the newest.
func (e *Emulator) S3Object(bucket, key, versionID string) (S3Object, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	b, ok := e.buckets[bucket]
	if !ok {
		return S3Object{}, false
	}
	v := b.latest(key)
	if versionID != "" {
		v = b.version(key, versionID)
	}
	if v == nil {
		return S3Object{}, false
	}
	return v.clone(), true
}

// TamperObject overwrites the stored bytes of one object version in a
// bucket owned by account, behind S3's back: what Object Lock forbids and
// what a chain of custody must catch. S3's stored checksum, ETag and size
// are recomputed for the new bytes, as if the version had been replaced
// wholesale, so only a hash recorded elsewhere (a case manifest) reveals
// the change. An empty versionID means the newest version.
func (e *Emulator) TamperObject(account, bucket, key, versionID string, newBody []byte) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	b, ok := e.buckets[bucket]
	if !ok || b.Owner != account {
		return fmt.Errorf("awsemu: tamper: account %s owns no bucket %s", account, bucket)
	}
	v := b.latest(key)
	if versionID != "" {
		v = b.version(key, versionID)
	}
	if v == nil || v.IsDeleteMarker {
		return fmt.Errorf("awsemu: tamper: s3://%s/%s has no object version %q", bucket, key, versionID)
	}
	sum, err := checksumOf(v.ChecksumAlgorithm, newBody)
	if err != nil {
		return fmt.Errorf("awsemu: tamper: %w", err)
	}
	v.Body, v.Size, v.Checksum = slices.Clone(newBody), int64(len(newBody)), sum
	v.ETag, v.SHA256 = etagOf(newBody), sha256Hex(newBody)
	return nil
}
