package awsemu

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
)

// Credentials that [Emulator.AWSConfig] uses. Any access key works; unknown
// keys act as the default user (see [Options.DefaultUserName]).
const (
	DefaultAccessKeyID     = "AKIDEMU"
	DefaultSecretAccessKey = "secret"
	DefaultAccountID       = "123456789012"
	DefaultRegion          = "us-east-1"
)

// maxBodyBytes bounds a request body; real query requests are a few KiB.
const maxBodyBytes = 1 << 20

// maxFormKeys bounds the parameters of one request so list scans stay cheap.
const maxFormKeys = 10000

// Options configures an [Emulator]. The zero value is usable.
type Options struct {
	// Logger receives one debug record per call; nil discards.
	Logger *slog.Logger
	// Clock is the emulator's notion of now; it must be safe for concurrent
	// use. Nil means time.Now.
	Clock func() time.Time
	// AccountID defaults to DefaultAccountID.
	AccountID string
	// Region defaults to DefaultRegion; it names availability zones and ARNs.
	Region string
	// Seed makes generated ids reproducible; 0 means 1.
	Seed uint64
	// Addr is the listen address for Start; empty means a random port on
	// 127.0.0.1. Only loopback is sensible: there is no authentication.
	Addr string
	// StateTransitionDelay is how long instances stay pending, stopping or
	// shutting-down. Zero means the next request already sees the final state.
	StateTransitionDelay time.Duration
	// CallLogLimit bounds the recorded calls (oldest dropped); 0 means 100000.
	CallLogLimit int
	// DefaultUserName is the IAM user that unknown access keys act as;
	// empty means "responder".
	DefaultUserName string
}

// Emulator is an in-memory AWS that speaks the query protocols over HTTP.
// All methods are safe for concurrent use.
type Emulator struct {
	log             *slog.Logger
	clock           func() time.Time
	account         string
	region          string
	addr            string
	transitionDelay time.Duration
	callLimit       int
	defaultUser     string
	ops             map[string]operation // key: service + "/" + action; read-only after New
	rest            []operation          // the REST operations, for routing by path; read-only after New

	mu sync.Mutex
	// w is the world of the account being served: the default account's
	// (worlds[account]) except while a request from another account's
	// caller is handled or a seed call names another account (inAccount).
	w                  *world
	worlds             map[string]*world
	rng                *rand.Rand
	usedIDs            map[string]bool
	requestSeq         uint64
	calls              []Call
	faults             faults
	snapRule           SnapshotCompletion
	pendingTransitions int
	// buckets are S3's, one namespace for every account (s3.go).
	buckets map[string]*S3Bucket
	// ssmResponder is the emulated SSM agent; nil means DefaultSSMResponder.
	ssmResponder SSMResponder
	// trail holds the CloudTrail events added from outside (cloudtrail.go).
	trail []*CloudTrailEvent
	// queues are SQS's, of every account: a queue is named by its account
	// and region, and one account may reach another's (sqs_queue.go).
	queues map[queueKey]*sqsQueue
	// The detection services' state, of every account, keyed by account
	// (and region): GuardDuty detectors (guardduty.go), Security Hub
	// where it is enabled (securityhub.go), Health events (health.go).
	detectors   map[accountRegion]*gdDetector
	hubs        map[accountRegion]*securityHub
	healthAccts map[string]*healthAccount
	// sqsWake is closed (and dropped) when a queue changes, waking the
	// long polls waiting on it (see waitForQueues).
	sqsWake   chan struct{}
	longPolls int // ReceiveMessage calls sleeping in waitForQueues

	srv *http.Server
	url string
}

// New returns an emulator with empty state. Call Start to serve it, or use
// it as an http.Handler.
func New(o Options) *Emulator {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Clock == nil {
		o.Clock = time.Now
	}
	if o.AccountID == "" {
		o.AccountID = DefaultAccountID
	}
	if o.Region == "" {
		o.Region = DefaultRegion
	}
	if o.Seed == 0 {
		o.Seed = 1
	}
	if o.Addr == "" {
		o.Addr = "127.0.0.1:0"
	}
	if o.CallLogLimit <= 0 {
		o.CallLogLimit = 100000
	}
	if o.DefaultUserName == "" {
		o.DefaultUserName = "responder"
	}
	e := &Emulator{
		log:             o.Logger,
		clock:           o.Clock,
		account:         o.AccountID,
		region:          o.Region,
		addr:            o.Addr,
		transitionDelay: o.StateTransitionDelay,
		callLimit:       o.CallLogLimit,
		defaultUser:     o.DefaultUserName,
		w:               newWorld(o.AccountID),
		rng:             rand.New(rand.NewPCG(o.Seed, o.Seed^0x9e3779b97f4a7c15)),
		usedIDs:         map[string]bool{},
	}
	e.worlds = map[string]*world{o.AccountID: e.w}
	e.queues = map[queueKey]*sqsQueue{}
	e.detectors = map[accountRegion]*gdDetector{}
	e.hubs = map[accountRegion]*securityHub{}
	e.healthAccts = map[string]*healthAccount{}
	e.ops = map[string]operation{}
	for _, group := range [][]operation{ec2Operations(), iamOperations(), autoScalingOperations(), autoScalingProtectionOperations(), elbOperations(), stsOperations(),
		sqsOperations(), guardDutyOperations(), securityHubOperations(), healthOperations(),
		s3Operations(), kmsOperations(), ssmOperations(), cloudTrailOperations()} {
		for _, op := range group {
			e.ops[op.service+"/"+op.action] = op
			if op.path != "" {
				e.rest = append(e.rest, op)
			}
		}
	}
	return e
}

// NewTestServer starts an emulator for a test and stops it when the test ends.
func NewTestServer(t testing.TB, o Options) *Emulator {
	t.Helper()
	e := New(o)
	if _, err := e.Start(t.Context()); err != nil {
		t.Fatalf("start AWS emulator: %v", err)
	}
	t.Cleanup(func() {
		if err := e.Close(); err != nil {
			t.Errorf("close AWS emulator: %v", err)
		}
	})
	return e
}

// Start listens on Options.Addr and serves until Close. It returns the base
// URL to use as the SDK's BaseEndpoint. The context only bounds listening.
func (e *Emulator) Start(ctx context.Context) (string, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.srv != nil {
		return "", errors.New("awsemu: already started")
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", e.addr)
	if err != nil {
		return "", fmt.Errorf("awsemu: listen on %s: %w", e.addr, err)
	}
	e.srv = &http.Server{Handler: e, ReadHeaderTimeout: 10 * time.Second}
	e.url = "http://" + ln.Addr().String()
	go func(srv *http.Server) {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			e.log.Error("awsemu: serve failed", "err", err)
		}
	}(e.srv)
	e.log.Info("awsemu: listening", "url", e.url)
	return e.url, nil
}

// URL is the base URL from Start, or "" before it.
func (e *Emulator) URL() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.url
}

// Close stops the server, waiting briefly for in-flight requests.
// The emulator's state stays readable after Close.
func (e *Emulator) Close() error {
	e.mu.Lock()
	srv := e.srv
	e.mu.Unlock()
	if srv == nil {
		return nil
	}
	// Connections a client opened but never used count as busy for several
	// seconds during Shutdown; an emulator has nothing to drain, so after a
	// short grace period it closes whatever is left.
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("awsemu: shut down: %w", err)
	}
	if err := srv.Close(); err != nil {
		return fmt.Errorf("awsemu: close: %w", err)
	}
	return nil
}

// AWSConfig returns an SDK config aimed at the emulator with the default
// static credentials. Copy it and replace Credentials to call as someone else.
func (e *Emulator) AWSConfig() aws.Config {
	return aws.Config{
		Region:       e.region,
		Credentials:  credentials.NewStaticCredentialsProvider(DefaultAccessKeyID, DefaultSecretAccessKey, ""),
		BaseEndpoint: aws.String(e.URL()),
	}
}

// AccountID is the emulator's default account: the one unknown access keys
// and seed calls that name no account act in (see [Emulator.AddAccount]).
func (e *Emulator) AccountID() string { return e.account }

// Region is the emulated region.
func (e *Emulator) Region() string { return e.region }

// operation is one supported API call: the single table the dispatcher,
// throttling, dry-run handling and call log all read. Query-protocol
// operations have handle; JSON-protocol ones (protocol_json.go) have serve,
// whose result is marshalled as the response body, and REST ones also a
// method and path template.
type operation struct {
	service  string
	action   string
	mutating bool
	handle   func(*Emulator, *request) ([]node, *apiError)
	serve    func(*Emulator, *request) (any, *apiError)
	method   string // REST only, e.g. "POST"
	path     string // REST only, e.g. "/detector/{detectorId}/findings/get"
}

func (o operation) iamAction() string { return iamPrefix(o.service) + ":" + o.action }

// OperationInfo describes one supported operation.
type OperationInfo struct {
	Service   string
	Action    string
	IAMAction string
	Mutating  bool
}

// Operations lists the supported operations, sorted by service and action.
func (e *Emulator) Operations() []OperationInfo {
	out := make([]OperationInfo, 0, len(e.ops))
	for _, k := range sortedKeys(e.ops) {
		op := e.ops[k]
		out = append(out, OperationInfo{Service: op.service, Action: op.action, IAMAction: op.iamAction(), Mutating: op.mutating})
	}
	return out
}

// principal is the identity behind an access key.
type principal struct {
	accessKeyID string
	account     string // the account the identity belongs to
	arn         string
	userID      string
	userName    string // empty for assumed roles
	roleARN     string // set for assumed-role sessions
	sessionName string // set for assumed-role sessions
}

// request is one decoded API call as handlers see it.
type request struct {
	ctx    context.Context // the HTTP request's; done when the client goes away
	id     string
	svc    string
	action string
	p      params
	caller principal
	dryRun bool
	now    time.Time
	region string // the region the caller signed for

	// JSON protocols (protocol_json.go).
	body       []byte            // the raw JSON body
	pathParams map[string]string // REST path labels, unescaped
	query      url.Values        // REST query string
	host       string            // the Host the client called, for queue URLs
}

// commit is the line every mutating EC2 handler passes after validating and
// before changing state: in a dry run it stops with DryRunOperation.
func (r *request) commit() *apiError {
	if r.dryRun {
		return errDryRun()
	}
	return nil
}

// Call is one request as the emulator saw it.
type Call struct {
	Time        time.Time
	Service     string
	Action      string
	IAMAction   string // e.g. "ec2:CreateTags"
	Principal   string // caller ARN
	AccessKeyID string
	// Account is the caller's account, empty when the call failed before
	// its access key was resolved.
	Account   string
	Mutating  bool
	DryRun    bool
	Status    int
	ErrorCode string
	RequestID string
	// Region is the region the call was signed for.
	Region    string
	SourceIP  string
	UserAgent string
	// Resources are the resources the request named (instance ids,
	// snapshot ids, user names, buckets, ...), as CloudTrail lists them.
	Resources []CallResource

	identity principal // who called, for CloudTrail's userIdentity
}

// Calls returns every recorded request, oldest first.
func (e *Emulator) Calls() []Call {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]Call(nil), e.calls...)
}

// Mutations returns the calls that changed state: successful, mutating and
// not dry runs.
func (e *Emulator) Mutations() []Call {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []Call
	for _, c := range e.calls {
		if c.Mutating && !c.DryRun && c.Status/100 == 2 {
			out = append(out, c)
		}
	}
	return out
}

// ResetCalls forgets the recorded calls, e.g. between phases of a test.
func (e *Emulator) ResetCalls() {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.calls = nil
}

func (e *Emulator) nextRequestID() string {
	e.requestSeq++
	// splitmix64 spreads a counter into uuid-looking, reproducible ids.
	z := e.requestSeq * 0x9e3779b97f4a7c15
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	z ^= z >> 31
	return fmt.Sprintf("%08x-%04x-4%03x-8%03x-%012x", uint32(z>>32), uint16(z>>16), uint16(z)&0xfff, e.requestSeq&0xfff, e.requestSeq&0xffffffffffff)
}

// ServeHTTP implements http.Handler: AWS query requests on any path except
// /_emu/, which serves read-only JSON for other processes.
func (e *Emulator) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if strings.HasPrefix(r.URL.Path, "/_emu/") {
		e.serveAdmin(w, r)
		return
	}
	if isS3Request(r) {
		e.serveS3(w, r)
		return
	}
	if svc, ok := jsonService(r); ok {
		e.serveJSON(w, r, svc)
		return
	}
	e.mu.Lock()
	call := Call{Time: e.clock(), RequestID: e.nextRequestID(), SourceIP: remoteIP(r), UserAgent: r.UserAgent()}
	e.mu.Unlock()

	status, body := e.handleAWS(w, r, &call)

	w.Header().Set("Content-Type", "text/xml;charset=UTF-8")
	w.Header().Set("x-amzn-RequestId", call.RequestID)
	w.WriteHeader(status)
	// A write error means the client went away; there is no one to tell.
	_, _ = w.Write(body)
}

// handleAWS decodes a query-protocol request and runs it through
// dispatch, recording it in the call log whatever the outcome.
func (e *Emulator) handleAWS(w http.ResponseWriter, r *http.Request, call *Call) (int, []byte) {
	ec2Shape := false
	fail := func(err *apiError) (int, []byte) {
		call.Status, call.ErrorCode = err.Status, err.Code
		e.record(*call)
		return err.Status, encodeError(ec2Shape, call.RequestID, err)
	}

	if r.Method != http.MethodPost && r.Method != http.MethodGet {
		return fail(clientErr(http.StatusMethodNotAllowed, "MethodNotAllowed", "The HTTP method %s is not allowed", r.Method))
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxBodyBytes)
	if err := r.ParseForm(); err != nil {
		return fail(clientErr(http.StatusBadRequest, "MalformedQueryString", "The request body is not a valid form-encoded query: %v", err))
	}
	if len(r.Form) > maxFormKeys {
		return fail(clientErr(http.StatusBadRequest, "MalformedQueryString", "Too many parameters (%d)", len(r.Form)))
	}
	p := params{v: r.Form}
	version := p.get("Version")
	ec2Shape = version == ec2Version
	call.Action = p.get("Action")

	scope, aerr := parseAuthorization(r.Header.Get("Authorization"))
	if aerr != nil {
		return fail(aerr)
	}
	call.AccessKeyID = scope.accessKeyID
	svc, ok := serviceFor(scope.signingName, version)
	if !ok {
		return fail(clientErr(http.StatusBadRequest, "InvalidAction",
			"Service %q with API version %q is not emulated", scope.signingName, version))
	}
	call.Service = svc
	ec2Shape = svc == ServiceEC2
	call.IAMAction = iamPrefix(svc) + ":" + call.Action
	if call.Action == "" {
		return fail(errMissingParameter("Action"))
	}
	op, ok := e.ops[svc+"/"+call.Action]
	if !ok || op.handle == nil {
		return fail(clientErr(http.StatusBadRequest, "InvalidAction",
			"The action %s is not valid for this web service.", call.Action))
	}
	rq := &request{ctx: r.Context(), id: call.RequestID, svc: svc, action: op.action, p: p, region: scope.region}
	if svc == ServiceEC2 {
		rq.dryRun = p.boolean("DryRun")
		call.DryRun = rq.dryRun
	}
	result, aerr := e.dispatch(op, rq, scope, call)
	if aerr != nil {
		return aerr.Status, encodeError(ec2Shape, call.RequestID, aerr)
	}
	return http.StatusOK, encodeSuccess(svc, op.action, call.RequestID, result.([]node))
}

// dispatch is what every protocol shares once a request is decoded:
// injected latency, the caller's identity, throttling and other injected
// faults, denied actions, dry runs, the handler and lost responses. It
// records the call whatever the outcome and returns the handler's result
// for the protocol to encode.
func (e *Emulator) dispatch(op operation, rq *request, scope credentialScope, call *Call) (any, *apiError) {
	call.Mutating = op.mutating
	if aerr := e.waitLatency(rq.ctx); aerr != nil {
		call.Status, call.ErrorCode = aerr.Status, aerr.Code
		e.record(*call)
		return nil, aerr
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	fail := func(aerr *apiError) (any, *apiError) {
		call.Status, call.ErrorCode = aerr.Status, aerr.Code
		e.recordLocked(*call)
		return nil, aerr
	}
	leave, aerr := e.admit(call, rq, op, scope.accessKeyID, []string{op.iamAction()})
	defer leave()
	if aerr != nil {
		return fail(aerr)
	}
	if rq.dryRun && !op.mutating {
		return fail(errDryRun())
	}
	result, aerr := e.safeHandle(op, rq)
	if aerr != nil {
		return fail(aerr)
	}
	if rq.dryRun {
		// A mutating handler that forgot commit() must still not report
		// success for a dry run; the dry-run tests catch the state change.
		e.log.Error("awsemu: handler ignored DryRun", "action", op.action)
		return fail(errDryRun())
	}
	if e.loseResponse(op) {
		// The change is made; only the answer is lost.
		code := "InternalFailure"
		if op.service == ServiceEC2 {
			code = "InternalError"
		}
		return fail(&apiError{Status: http.StatusInternalServerError, Code: code,
			Message: "The response was lost after the change was made (injected by awsemu LoseResponses)"})
	}
	call.Status = http.StatusOK
	e.recordLocked(*call)
	return result, nil
}

// waitLatency applies the injected latency (SetLatency) before a call is
// served, giving up when the client does.
func (e *Emulator) waitLatency(ctx context.Context) *apiError {
	e.mu.Lock()
	latency := e.faults.latency
	e.mu.Unlock()
	if latency <= 0 {
		return nil
	}
	t := time.NewTimer(latency)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return &apiError{Status: http.StatusServiceUnavailable, Code: "RequestCanceled", Message: "client went away"}
	}
}

// admit is what every protocol's dispatcher does once a call is decoded
// and before its handler runs: read the clock, resolve the caller and
// serve in its account, inject faults, and refuse what an Emulator.Deny
// rule denies (the first of perms that is, named in the call log). The
// caller holds e.mu and calls leave, whatever the answer, once the
// handler is done.
func (e *Emulator) admit(call *Call, rq *request, op operation, accessKeyID string, perms []string) (leave func(), aerr *apiError) {
	rq.now = e.clock()
	e.tick(rq.now)
	caller, aerr := e.resolvePrincipal(op.service, accessKeyID, rq.now)
	if aerr != nil {
		return func() {}, aerr
	}
	rq.caller = caller
	call.Principal, call.Account, call.Region, call.identity = caller.arn, caller.account, rq.region, caller
	call.Resources = requestResources(rq)
	leave = e.serveIn(caller.account)
	if aerr := e.injectFault(op, rq.now); aerr != nil {
		return leave, aerr
	}
	for _, p := range perms {
		if e.denied(caller, p) {
			call.IAMAction = p
			return leave, errDenied(op.service, caller, p)
		}
	}
	return leave, nil
}

// safeHandle runs a handler, turning a panic into an InternalError so that
// no input can take the emulator (and the test binary) down.
func (e *Emulator) safeHandle(op operation, rq *request) (any, *apiError) {
	return recoverHandler(e, op.action, func() (any, *apiError) {
		if op.serve != nil {
			return op.serve(e, rq)
		}
		return op.handle(e, rq)
	})
}

// recoverHandler runs handle, answering InternalError if it panics: the
// one place every protocol's dispatcher turns an emulator bug into an
// answer.
func recoverHandler[T any](e *Emulator, action string, handle func() (T, *apiError)) (result T, aerr *apiError) {
	defer func() {
		if v := recover(); v != nil {
			e.log.Error("awsemu: handler panicked", "action", action, "panic", v)
			var zero T
			result, aerr = zero, &apiError{Status: http.StatusInternalServerError, Code: "InternalError",
				Message: fmt.Sprintf("emulator bug in %s: %v", action, v)}
		}
	}()
	return handle()
}

func (e *Emulator) record(c Call) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.recordLocked(c)
}

func (e *Emulator) recordLocked(c Call) {
	e.calls = append(e.calls, c)
	if over := len(e.calls) - e.callLimit; over > 0 {
		e.calls = e.calls[over:]
	}
	e.log.Debug("awsemu: call", "service", c.Service, "action", c.Action, "principal", c.Principal,
		"status", c.Status, "error", c.ErrorCode, "dry_run", c.DryRun, "request_id", c.RequestID)
}

// errDenied is what AWS answers when no policy allows the action: EC2
// UnauthorizedOperation, the query services and SQS AccessDenied (SQS's
// JSON body names the coral AccessDeniedException type, its query-error
// header the AccessDenied code the SDK reports), the other JSON services
// AccessDeniedException.
func errDenied(svc string, p principal, action string) *apiError {
	msg := fmt.Sprintf("User: %s is not authorized to perform: %s because no identity-based policy allows the %s action", p.arn, action, action)
	switch svc {
	case ServiceEC2:
		return clientErr(http.StatusForbidden, "UnauthorizedOperation", "You are not authorized to perform this operation. %s", msg)
	case ServiceSQS:
		aerr := clientErr(http.StatusForbidden, "AccessDenied", "%s", msg)
		aerr.jsonType = "com.amazon.coral.service#AccessDeniedException"
		return aerr
	case ServiceGuardDuty, ServiceSecurityHub, ServiceHealth, ServiceKMS, ServiceSSM, ServiceCloudTrail:
		return clientErr(http.StatusForbidden, "AccessDeniedException", "%s", msg)
	}
	return clientErr(http.StatusForbidden, "AccessDenied", "%s", msg)
}

// tick applies the time-driven changes that are due in every account.
func (e *Emulator) tick(now time.Time) {
	prev := e.w
	defer func() { e.w = prev }()
	for _, account := range sortedKeys(e.worlds) {
		e.w = e.worlds[account]
		e.tickWorld(now)
	}
}

// tickWorld applies the time-driven changes that are due in e.w: instance
// state transitions and time-based snapshot completion.
func (e *Emulator) tickWorld(now time.Time) {
	e.tickSSM(now)
	if e.pendingTransitions > 0 {
		for _, id := range e.w.instanceOrder {
			in := e.w.instances[id]
			if in.nextState != "" && !now.Before(in.nextAt) {
				e.finishTransition(in)
			}
		}
	}
	if e.snapRule.AfterDescribes == 0 {
		for _, id := range e.w.snapOrder {
			s := e.w.snapshots[id]
			if s.State == "pending" && now.Sub(s.StartTime) >= e.snapRule.After {
				s.State, s.Progress = "completed", "100%"
			}
		}
	}
}

// newID returns a fresh EC2-style id such as "i-0" followed by 16 hex digits
// (17 in all, like real ids), reproducible for a given seed.
func (e *Emulator) newID(prefix string) string {
	for {
		id := fmt.Sprintf("%s-0%016x", prefix, e.rng.Uint64())
		if !e.usedIDs[id] {
			e.usedIDs[id] = true
			return id
		}
	}
}

// newKeyID returns an IAM-style id: a four-letter prefix and 16 characters.
func (e *Emulator) newKeyID(prefix string) string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
	for {
		b := []byte(prefix)
		for range 16 {
			b = append(b, alphabet[e.rng.IntN(len(alphabet))])
		}
		if id := string(b); !e.usedIDs[id] {
			e.usedIDs[id] = true
			return id
		}
	}
}

func (e *Emulator) newSecret(n int) string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
	b := make([]byte, n)
	for i := range b {
		b[i] = alphabet[e.rng.IntN(len(alphabet))]
	}
	return string(b)
}
