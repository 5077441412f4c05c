package awsemu

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// Services that speak AWS's JSON protocols, as the emulator reports them in
// [Call.Service]. Each is also its SigV4 signing name and IAM prefix.
const (
	ServiceSQS         = "sqs"
	ServiceGuardDuty   = "guardduty"
	ServiceSecurityHub = "securityhub"
	ServiceHealth      = "health"
)

// maxJSONBodyBytes bounds a JSON request body: a batch of SQS messages
// may carry 1 MiB of bodies, more once escaped in JSON.
const maxJSONBodyBytes = 4 << 20

// X-Amz-Target prefixes of the RPC-style (awsJson) services.
const (
	sqsTarget    = "AmazonSQS"
	healthTarget = "AWSHealth_20160804"
)

// jsonProtocol is how one JSON-speaking service frames calls and errors:
// SQS speaks awsJson 1.0 (query-compatible), Health awsJson 1.1, GuardDuty
// and Security Hub restJson1.
type jsonProtocol struct {
	// target is the X-Amz-Target prefix of an RPC-style service; empty
	// for a REST one, whose operations are routed by method and path.
	target      string
	contentType string
	// queryCompatible services (SQS) also name the error in the
	// x-amzn-query-error header, whose code the SDK reports as the error
	// code; the body's __type picks the modelled error type.
	queryCompatible bool
	// typePrefix is put before an error's code in __type when the error
	// carries no type of its own.
	typePrefix string
	// pascalErrors: the error body says Code and Message (Security Hub)
	// rather than __type and message.
	pascalErrors bool
	// invalidCode is the service's error code for input it cannot accept.
	invalidCode string
}

func protocolFor(svc string) jsonProtocol {
	switch svc {
	case ServiceSQS:
		return jsonProtocol{target: sqsTarget, contentType: "application/x-amz-json-1.0", queryCompatible: true,
			typePrefix: "com.amazonaws.sqs#", invalidCode: "InvalidParameterValue"}
	case ServiceHealth:
		return jsonProtocol{target: healthTarget, contentType: "application/x-amz-json-1.1", invalidCode: "ValidationException"}
	case ServiceKMS:
		return jsonProtocol{target: kmsTarget, contentType: "application/x-amz-json-1.1", invalidCode: "ValidationException"}
	case ServiceSSM:
		return jsonProtocol{target: ssmTarget, contentType: "application/x-amz-json-1.1", invalidCode: "ValidationException"}
	case ServiceCloudTrail:
		return jsonProtocol{target: cloudTrailTarget, contentType: "application/x-amz-json-1.1", invalidCode: "InvalidParameterException"}
	case ServiceSecurityHub:
		return jsonProtocol{contentType: "application/json", pascalErrors: true, invalidCode: "InvalidInputException"}
	default: // ServiceGuardDuty
		return jsonProtocol{contentType: "application/json", invalidCode: "BadRequestException"}
	}
}

// errInvalid is svc's error for a request it cannot accept.
func errInvalid(svc, format string, args ...any) *apiError {
	return clientErr(http.StatusBadRequest, protocolFor(svc).invalidCode, format, args...)
}

// jsonService reports which JSON-protocol service a request is for: by the
// signing name in its Authorization header or, when that is missing or
// malformed, by its X-Amz-Target or REST path, so that even an unsigned
// request is answered in the protocol its client reads.
func jsonService(r *http.Request) (string, bool) {
	if scope, err := parseAuthorization(r.Header.Get("Authorization")); err == nil {
		switch scope.signingName {
		case ServiceSQS, ServiceGuardDuty, ServiceSecurityHub, ServiceHealth, ServiceKMS, ServiceSSM, ServiceCloudTrail:
			return scope.signingName, true
		}
		return "", false
	}
	target, path := r.Header.Get("X-Amz-Target"), r.URL.Path
	switch {
	case strings.HasPrefix(target, sqsTarget+"."):
		return ServiceSQS, true
	case strings.HasPrefix(target, healthTarget+"."):
		return ServiceHealth, true
	case strings.HasPrefix(target, kmsTarget+"."):
		return ServiceKMS, true
	case strings.HasPrefix(target, ssmTarget+"."):
		return ServiceSSM, true
	case strings.HasPrefix(target, cloudTrailTarget+"."):
		return ServiceCloudTrail, true
	case path == "/detector" || strings.HasPrefix(path, "/detector/"):
		return ServiceGuardDuty, true
	case path == "/findings" || strings.HasPrefix(path, "/findings/"):
		return ServiceSecurityHub, true
	}
	return "", false
}

// serveJSON answers one call to a JSON-protocol service.
func (e *Emulator) serveJSON(w http.ResponseWriter, r *http.Request, svc string) {
	proto := protocolFor(svc)
	e.mu.Lock()
	call := Call{Time: e.clock(), RequestID: e.nextRequestID(), SourceIP: remoteIP(r), UserAgent: r.UserAgent(), Service: svc}
	e.mu.Unlock()

	body, aerr := e.handleJSON(w, r, proto, &call)
	h := w.Header()
	h.Set("Content-Type", proto.contentType)
	h.Set("x-amzn-RequestId", call.RequestID)
	status := http.StatusOK
	if aerr != nil {
		status = aerr.Status
		body = encodeJSONError(h, proto, aerr)
	}
	w.WriteHeader(status)
	// A write error means the client went away; there is no one to tell.
	_, _ = w.Write(body)
}

// handleJSON routes, decodes and dispatches one JSON-protocol request,
// recording it in the call log whatever the outcome.
func (e *Emulator) handleJSON(w http.ResponseWriter, r *http.Request, proto jsonProtocol, call *Call) ([]byte, *apiError) {
	fail := func(aerr *apiError) ([]byte, *apiError) {
		call.Status, call.ErrorCode = aerr.Status, aerr.Code
		e.record(*call)
		return nil, aerr
	}
	op, labels, aerr := e.route(proto, call.Service, r)
	call.Action = op.action
	call.IAMAction = iamPrefix(call.Service) + ":" + op.action
	if aerr != nil {
		return fail(aerr)
	}
	scope, aerr := parseAuthorization(r.Header.Get("Authorization"))
	if aerr != nil {
		return fail(aerr)
	}
	call.AccessKeyID = scope.accessKeyID
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxJSONBodyBytes))
	if err != nil {
		return fail(errInvalid(call.Service, "The request body could not be read: %v", err))
	}
	rq := &request{
		ctx: r.Context(), id: call.RequestID, svc: call.Service, action: op.action, region: scope.region,
		body: body, pathParams: labels, query: r.URL.Query(), host: r.Host,
	}
	result, aerr := e.dispatch(op, rq, scope, call)
	if aerr != nil {
		return nil, aerr
	}
	out, err := json.Marshal(result)
	if err != nil {
		// Handlers build results from validated data; this is an
		// emulator bug, reported as the server error it is.
		e.log.Error("awsemu: encode result", "action", op.action, "err", err)
		return nil, &apiError{Status: http.StatusInternalServerError, Code: "InternalFailure", Message: "emulator bug: " + err.Error()}
	}
	return out, nil
}

// route finds the operation a request names: by X-Amz-Target for RPC-style
// services, by method and path for REST ones. The returned operation
// carries the action name even when it is not emulated, for the call log.
func (e *Emulator) route(proto jsonProtocol, svc string, r *http.Request) (operation, map[string]string, *apiError) {
	if proto.target != "" {
		prefix, action, _ := strings.Cut(r.Header.Get("X-Amz-Target"), ".")
		op, ok := e.ops[svc+"/"+action]
		if prefix != proto.target || !ok || op.serve == nil || r.Method != http.MethodPost {
			return operation{action: action}, nil, clientErr(http.StatusBadRequest, "UnknownOperationException",
				"%s %q is not an operation of %s that the emulator supports", r.Method, r.Header.Get("X-Amz-Target"), svc)
		}
		return op, nil, nil
	}
	for _, op := range e.rest {
		if op.service != svc || op.method != r.Method {
			continue
		}
		if labels, ok := matchPath(op.path, r.URL.EscapedPath()); ok {
			return op, labels, nil
		}
	}
	return operation{}, nil, clientErr(http.StatusBadRequest, "UnknownOperationException",
		"%s %s is not an operation of %s that the emulator supports", r.Method, r.URL.Path, svc)
}

// matchPath matches an escaped request path against a template such as
// "/detector/{detectorId}/findings/get", returning the unescaped labels.
func matchPath(template, path string) (map[string]string, bool) {
	want, got := strings.Split(template, "/"), strings.Split(path, "/")
	if len(want) != len(got) {
		return nil, false
	}
	labels := map[string]string{}
	for i, w := range want {
		if name, ok := strings.CutPrefix(w, "{"); ok {
			v, err := url.PathUnescape(got[i])
			if err != nil || v == "" {
				return nil, false
			}
			labels[strings.TrimSuffix(name, "}")] = v
			continue
		}
		if w != got[i] {
			return nil, false
		}
	}
	return labels, true
}

// encodeJSONError renders an error as the service's SDK reads it, setting
// the headers that carry the error code.
func encodeJSONError(h http.Header, proto jsonProtocol, aerr *apiError) []byte {
	typ := aerr.jsonType
	if typ == "" {
		typ = proto.typePrefix + aerr.Code
	}
	var body map[string]string
	switch {
	case proto.target == "":
		h.Set("X-Amzn-ErrorType", aerr.Code)
		if proto.pascalErrors {
			body = map[string]string{"Code": aerr.Code, "Message": aerr.Message}
		} else {
			body = map[string]string{"__type": aerr.Code, "message": aerr.Message}
		}
	default:
		body = map[string]string{"__type": typ, "message": aerr.Message}
	}
	if proto.queryCompatible {
		fault := "Receiver"
		if aerr.sender {
			fault = "Sender"
		}
		h.Set("x-amzn-query-error", aerr.Code+";"+fault)
	}
	out, err := json.Marshal(body)
	if err != nil {
		panic(err) // a map of strings always marshals
	}
	return out
}

// decode reads the JSON body into v; an empty body is an empty input.
func (r *request) decode(v any) *apiError {
	if len(bytes.TrimSpace(r.body)) == 0 {
		return nil
	}
	if err := json.Unmarshal(r.body, v); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return errInvalid(r.svc, "Value at '%s' has the wrong type: expected %s, got JSON %s", te.Field, te.Type, te.Value)
		}
		return errInvalid(r.svc, "The request body is not valid JSON: %v", err)
	}
	return nil
}

// pageBounds picks one page of n items: the token is the offset an earlier
// page returned, empty for the first page; next is empty on the last page.
func pageBounds(svc string, n, limit int, token string) (lo, hi int, next string, aerr *apiError) {
	if token != "" {
		off, err := strconv.Atoi(token)
		if err != nil || off < 0 || off > n {
			return 0, 0, "", errInvalid(svc, "The nextToken %q is not valid", token)
		}
		lo = off
	}
	hi = min(n, lo+limit)
	if hi < n {
		next = strconv.Itoa(hi)
	}
	return lo, hi, next, nil
}

// throttleError is how each service answers a call its rate limit refuses:
// EC2 RequestLimitExceeded, SQS RequestThrottled (the error its API
// reference lists), Security Hub LimitExceededException with HTTP 429,
// GuardDuty and Health the common ThrottlingException, the other query
// services Throttling.
func throttleError(svc string) *apiError {
	switch svc {
	case ServiceEC2:
		return &apiError{Status: http.StatusServiceUnavailable, Code: "RequestLimitExceeded", Message: "Request limit exceeded.", sender: true}
	case ServiceSQS:
		return clientErr(http.StatusBadRequest, "RequestThrottled", "Rate exceeded")
	case ServiceS3:
		return &apiError{Status: http.StatusServiceUnavailable, Code: "SlowDown", Message: "Please reduce your request rate."}
	case ServiceSecurityHub:
		return clientErr(http.StatusTooManyRequests, "LimitExceededException", "Rate exceeded")
	case ServiceGuardDuty, ServiceHealth, ServiceKMS, ServiceSSM, ServiceCloudTrail:
		return clientErr(http.StatusBadRequest, "ThrottlingException", "Rate exceeded")
	}
	return clientErr(http.StatusBadRequest, "Throttling", "Rate exceeded")
}
