package actions

import (
	"errors"
	"fmt"
	"strings"

	"github.com/aws/smithy-go"
	"go.temporal.io/sdk/temporal"

	"github.com/cordon-ir/cordon/actions/wire"
)

// Failure classes (see package wire), under the names the actions use.
const (
	ErrAccessDenied = wire.ErrAccessDenied
	ErrNotFound     = wire.ErrNotFound
	ErrInvalid      = wire.ErrInvalid
	ErrConflict     = wire.ErrConflict
	ErrThrottled    = wire.ErrThrottled
	ErrAWSServer    = wire.ErrAWSServer
	ErrBadParams    = wire.ErrBadParams
)

// classify turns an AWS error into a Temporal application error whose type
// says what happened and whose message says what to do. Each kind of
// failure has one owner of retries: the SDK makes a few quick attempts,
// then Temporal retries throttling and server errors with the step's
// backoff, and never retries what retrying cannot fix.
//
// what is the operation in responder terms ("isolate i-0abc"), permission
// the IAM action of the call that failed.
func classify(what, permission string, err error) error {
	if err == nil {
		return nil
	}
	if assumeRoleFailed(err) {
		// The call never reached its service: the worker could not become
		// the account's role. Naming the call's own permission would send
		// the responder the wrong way.
		return temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("%s: could not assume the account's role (sts:AssumeRole): check aws.accounts role_arn and external_id in the worker configuration, and the role's trust policy: %v", what, err),
			ErrAccessDenied, err)
	}
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		// Transport errors (connection refused, timeouts) are transient.
		return temporal.NewApplicationErrorWithOptions(fmt.Sprintf("%s: %s: %v", what, permission, err), ErrAWSServer,
			temporal.ApplicationErrorOptions{Cause: err})
	}
	code, msg := ae.ErrorCode(), ae.ErrorMessage()
	switch {
	case isThrottle(code):
		return temporal.NewApplicationErrorWithOptions(fmt.Sprintf("%s: %s throttled by AWS (%s); retrying with backoff", what, permission, code),
			ErrThrottled, temporal.ApplicationErrorOptions{Cause: err})
	case code == "UnauthorizedOperation" || code == "AccessDenied" || code == "AccessDeniedException" ||
		code == "AuthFailure" || code == "UnauthorizedAccess":
		return temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("%s: access denied to %s: add %s to the worker role's policy (cordon policy prints it)", what, permission, permission),
			ErrAccessDenied, err)
	case strings.HasSuffix(code, ".NotFound") || code == "NoSuchEntity" || code == "NotFound" ||
		strings.HasSuffix(code, "NotFoundException") || strings.HasSuffix(code, ".Malformed") ||
		code == "TargetGroupNotFound" || code == "LoadBalancerNotFound":
		return temporal.NewNonRetryableApplicationError(fmt.Sprintf("%s: %s: not found: %s", what, permission, msg), ErrNotFound, err)
	case code == "OperationNotPermitted" || code == "IncorrectInstanceState" || code == "IncorrectState" ||
		code == "ScalingActivityInProgress" || code == "ResourceInUse":
		return temporal.NewNonRetryableApplicationError(fmt.Sprintf("%s: %s refused: %s (%s)", what, permission, msg, code), ErrConflict, err)
	case ae.ErrorFault() == smithy.FaultServer || code == "InternalError" || code == "InternalFailure" ||
		code == "ServiceUnavailable" || code == "Unavailable" || code == "ServiceFailure":
		return temporal.NewApplicationErrorWithOptions(fmt.Sprintf("%s: %s: AWS server error %s: %s", what, permission, code, msg),
			ErrAWSServer, temporal.ApplicationErrorOptions{Cause: err})
	default:
		return temporal.NewNonRetryableApplicationError(fmt.Sprintf("%s: %s rejected: %s (%s)", what, permission, msg, code), ErrInvalid, err)
	}
}

func isThrottle(code string) bool {
	switch code {
	case "RequestLimitExceeded", "Throttling", "ThrottlingException", "TooManyRequestsException",
		"RequestThrottled", "RequestThrottledException", "SlowDown", "PriorRequestNotComplete", "EC2ThrottledException":
		return true
	}
	return false
}

// isCode reports whether err is an AWS API error with the given code.
func isCode(err error, code string) bool {
	var ae smithy.APIError
	return errors.As(err, &ae) && ae.ErrorCode() == code
}

// ec2Outcome reads the answer to an EC2 mutation the way the mode asks:
// in a preview the call went out with DryRun=true, so DryRunOperation is
// success; in an execution the error is classified as usual.
func (x *execution) ec2Outcome(what, permission string, err error) error {
	if x.preview() {
		return dryRunOK(what, permission, err)
	}
	return classify(what, permission, err)
}

// dryRunOK interprets the answer to an EC2 call sent with DryRun=true:
// DryRunOperation means the call would have succeeded.
func dryRunOK(what, permission string, err error) error {
	if err == nil || isCode(err, "DryRunOperation") {
		return nil
	}
	return classify(what, permission, err)
}

func badParams(action string, err error) error {
	return temporal.NewNonRetryableApplicationError(fmt.Sprintf("%s: %v", action, err), ErrBadParams, err)
}

// apiError is an AWS-shaped error for conditions found in a successful
// response (an empty result where the resource should be).
type apiError struct{ code, msg string }

func (e *apiError) Error() string                 { return e.code + ": " + e.msg }
func (e *apiError) ErrorCode() string             { return e.code }
func (e *apiError) ErrorMessage() string          { return e.msg }
func (e *apiError) ErrorFault() smithy.ErrorFault { return smithy.FaultClient }

func notFound(code, msg string) error { return &apiError{code: code, msg: msg} }

// assumeRoleFailed reports whether err comes from assuming the target
// account's role rather than from the call itself.
func assumeRoleFailed(err error) bool {
	var op *smithy.OperationError
	for errors.As(err, &op) {
		if op.Service() == "STS" && op.Operation() == "AssumeRole" {
			return true
		}
		err = op.Err
	}
	return false
}
