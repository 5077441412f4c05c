package awsemu

import (
	"bytes"
	"fmt"
	"net/http"
	"strings"
)

// Service names as the emulator reports them in [Call.Service]. ELB v2 and
// classic ELB share the SigV4 signing name "elasticloadbalancing" and are told
// apart by the API version in the form.
const (
	ServiceEC2         = "ec2"
	ServiceIAM         = "iam"
	ServiceAutoScaling = "autoscaling"
	ServiceELBv2       = "elbv2"
	ServiceELB         = "elb"
	ServiceSTS         = "sts"
)

const (
	ec2Version   = "2016-11-15"
	elbv2Version = "2015-12-01"
	elbVersion   = "2012-06-01"
)

// iamPrefix is the IAM action namespace for a service, e.g. ELB v2 actions
// are "elasticloadbalancing:RegisterTargets" like the classic ones.
func iamPrefix(svc string) string {
	switch svc {
	case ServiceELBv2, ServiceELB:
		return "elasticloadbalancing"
	default:
		return svc
	}
}

func xmlNamespace(svc string) string {
	switch svc {
	case ServiceEC2:
		return "http://ec2.amazonaws.com/doc/2016-11-15/"
	case ServiceIAM:
		return "https://iam.amazonaws.com/doc/2010-05-08/"
	case ServiceAutoScaling:
		return "http://autoscaling.amazonaws.com/doc/2011-01-01/"
	case ServiceELBv2:
		return "http://elasticloadbalancing.amazonaws.com/doc/2015-12-01/"
	case ServiceELB:
		return "http://elasticloadbalancing.amazonaws.com/doc/2012-06-01/"
	case ServiceSTS:
		return "https://sts.amazonaws.com/doc/2011-06-15/"
	}
	return ""
}

// credentialScope is what the emulator takes from a SigV4 Authorization
// header: who is calling and which service they signed for. The signature
// itself is deliberately not verified.
type credentialScope struct {
	accessKeyID string
	region      string
	signingName string
}

// parseAuthorization extracts the credential scope from
// "AWS4-HMAC-SHA256 Credential=AKID/20261126/us-east-1/ec2/aws4_request, …".
func parseAuthorization(h string) (credentialScope, *apiError) {
	if strings.TrimSpace(h) == "" {
		return credentialScope{}, &apiError{Status: http.StatusForbidden, Code: "MissingAuthenticationToken",
			Message: "Request is missing Authentication Token", sender: true}
	}
	incomplete := func(why string) (credentialScope, *apiError) {
		return credentialScope{}, &apiError{Status: http.StatusForbidden, Code: "IncompleteSignature",
			Message: "Authorization header is malformed: " + why, sender: true}
	}
	alg, rest, ok := strings.Cut(strings.TrimSpace(h), " ")
	if !ok || !strings.HasPrefix(alg, "AWS4-") {
		return incomplete("expected an AWS4 signature algorithm")
	}
	var cred string
	for _, part := range strings.Split(rest, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
		if k == "Credential" {
			cred = v
		}
	}
	fields := strings.Split(cred, "/")
	if len(fields) != 5 || fields[0] == "" || fields[3] == "" || fields[4] != "aws4_request" {
		return incomplete("Credential must be AKID/date/region/service/aws4_request")
	}
	return credentialScope{accessKeyID: fields[0], region: fields[2], signingName: fields[3]}, nil
}

// serviceFor maps a signing name (and, for ELB, the API version) to the
// emulator's service name.
func serviceFor(signingName, version string) (string, bool) {
	switch signingName {
	case "ec2", "iam", "autoscaling", "sts":
		return signingName, true
	case "elasticloadbalancing":
		switch version {
		case elbv2Version:
			return ServiceELBv2, true
		case elbVersion:
			return ServiceELB, true
		}
	}
	return "", false
}

// apiError is an AWS error as the emulator puts it on the wire.
type apiError struct {
	Status  int
	Code    string
	Message string
	sender  bool // Type Sender (client fault) vs Receiver in awsquery errors
	// jsonType is the __type of a JSON-protocol error when it is not the
	// service's own namespace and the code (see encodeJSONError).
	jsonType string
}

func (e *apiError) Error() string { return e.Code + ": " + e.Message }

func clientErr(status int, code, format string, args ...any) *apiError {
	return &apiError{Status: status, Code: code, Message: fmt.Sprintf(format, args...), sender: true}
}

func errInvalidParameter(format string, args ...any) *apiError {
	return clientErr(http.StatusBadRequest, "InvalidParameterValue", format, args...)
}

func errMissingParameter(name string) *apiError {
	return clientErr(http.StatusBadRequest, "MissingParameter", "The request must contain the parameter %s", name)
}

// errValidation is the awsquery services' generic bad-input error.
func errValidation(format string, args ...any) *apiError {
	return clientErr(http.StatusBadRequest, "ValidationError", format, args...)
}

func errDryRun() *apiError {
	return clientErr(http.StatusPreconditionFailed, "DryRunOperation", "Request would have succeeded, but DryRun flag is set.")
}

// encodeSuccess wraps a handler's result in the protocol envelope.
func encodeSuccess(svc, action, requestID string, result []node) []byte {
	var b bytes.Buffer
	b.WriteString(`<?xml version="1.0" encoding="UTF-8"?>` + "\n")
	fmt.Fprintf(&b, `<%sResponse xmlns="%s">`, action, xmlNamespace(svc))
	if svc == ServiceEC2 {
		leaf("requestId", requestID).write(&b)
		for _, n := range result {
			n.write(&b)
		}
	} else {
		el(action+"Result", result...).write(&b)
		el("ResponseMetadata", leaf("RequestId", requestID)).write(&b)
	}
	fmt.Fprintf(&b, "</%sResponse>", action)
	return b.Bytes()
}

// encodeError renders an error in the EC2 shape when the request looked like
// EC2 and in the awsquery shape otherwise.
func encodeError(ec2Shape bool, requestID string, e *apiError) []byte {
	var b bytes.Buffer
	b.WriteString(`<?xml version="1.0" encoding="UTF-8"?>` + "\n")
	if ec2Shape {
		el("Response",
			el("Errors", el("Error", leaf("Code", e.Code), leaf("Message", e.Message))),
			leaf("RequestID", requestID),
		).write(&b)
		return b.Bytes()
	}
	typ := "Receiver"
	if e.sender {
		typ = "Sender"
	}
	el("ErrorResponse",
		el("Error", leaf("Type", typ), leaf("Code", e.Code), leaf("Message", e.Message)),
		leaf("RequestId", requestID),
	).write(&b)
	return b.Bytes()
}
