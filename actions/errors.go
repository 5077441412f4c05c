package actions

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
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
	case isThrottle(err):
		return temporal.NewApplicationErrorWithOptions(fmt.Sprintf("%s: %s throttled by AWS (%s); retrying with backoff", what, permission, code),
			ErrThrottled, temporal.ApplicationErrorOptions{Cause: err})
	case isContention(code):
		// The resource is busy with another change (a scaling activity, a
		// concurrent update): the same request succeeds once it is over.
		return temporal.NewApplicationErrorWithOptions(fmt.Sprintf("%s: %s: AWS is busy with another change to the resource (%s: %s); retrying with backoff", what, permission, code, msg),
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
		code == "ResourceInUse":
		return temporal.NewNonRetryableApplicationError(fmt.Sprintf("%s: %s refused: %s (%s)", what, permission, msg, code), ErrConflict, err)
	case ae.ErrorFault() == smithy.FaultServer || code == "InternalError" || code == "InternalFailure" ||
		code == "ServiceUnavailable" || code == "Unavailable" || code == "ServiceFailure" ||
		sdkRetryables().IsErrorRetryable(err) == aws.TrueTernary:
		// Whatever else the SDK's own retryer would retry (5xx statuses,
		// RequestTimeout, ...) is transient for Temporal too.
		return temporal.NewApplicationErrorWithOptions(fmt.Sprintf("%s: %s: AWS server error %s: %s", what, permission, code, msg),
			ErrAWSServer, temporal.ApplicationErrorOptions{Cause: err})
	default:
		return temporal.NewNonRetryableApplicationError(fmt.Sprintf("%s: %s rejected: %s (%s)", what, permission, msg, code), ErrInvalid, err)
	}
}

// The retryable set is the SDK's (retry.DefaultThrottles and
// retry.DefaultRetryables, which the SDK keeps up to date with AWS) plus
// the codes below, which AWS documents as transient but the SDK does not
// retry. classify and the SDK's retryer (clients.go) read the same lists,
// so what the SDK's quick attempts retry is what Temporal retries after
// them, and nothing else.

// extraThrottleCodes are throttling codes outside the SDK's list. Built on
// each call: a package-level map would be mutable state.
func extraThrottleCodes() map[string]struct{} {
	return map[string]struct{}{
		// EC2 CreateSnapshot(s): "the maximum per volume CreateSnapshot
		// request rate has been exceeded"; AWS advises waiting between
		// requests for the same volume.
		"SnapshotCreationPerVolumeRateExceeded": {},
	}
}

// contentionCodes are the codes of a request that met another change in
// progress on the same resource: not the caller's fault, and the same
// request succeeds once the other change is over.
func contentionCodes() map[string]struct{} {
	return map[string]struct{}{
		"ResourceContention":              {}, // Auto Scaling: a pending update to the group, instance or load balancer
		"ScalingActivityInProgress":       {}, // Auto Scaling: a scaling activity is running
		"ConcurrentModification":          {}, // IAM: another request is changing the entity
		"ConcurrentModificationException": {}, // the same, in the services that name it so
		"ConcurrentTagAccess":             {}, // EC2: another request is changing the resource's tags
	}
}

// sdkThrottles is the throttle check of the SDK's retryer and of classify.
func sdkThrottles() retry.IsErrorThrottles {
	return append(slices.Clone(retry.IsErrorThrottles(retry.DefaultThrottles)),
		retry.ThrottleErrorCode{Codes: extraThrottleCodes()})
}

// sdkRetryables is the retryable check of the SDK's retryer and of
// classify: the SDK's defaults (which include every throttle code), then
// our extra throttle and contention codes.
func sdkRetryables() retry.IsErrorRetryables {
	return append(slices.Clone(retry.IsErrorRetryables(retry.DefaultRetryables)),
		retry.RetryableErrorCode{Codes: extraThrottleCodes()},
		retry.RetryableErrorCode{Codes: contentionCodes()})
}

// isThrottle reports whether err is throttling, as the SDK's retryer sees
// it (so its backoff for throttling applies) plus our extra codes.
func isThrottle(err error) bool {
	return sdkThrottles().IsErrorThrottle(err) == aws.TrueTernary
}

func isContention(code string) bool {
	_, ok := contentionCodes()[code]
	return ok
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

// outcomeAfterLift is ec2Outcome for a stop or a termination whose
// protection the step has lifted first (lifted): the dry run of a preview
// still sees that protection, which a real run will have lifted.
func (x *execution) outcomeAfterLift(what, permission string, lifted bool, err error) error {
	if x.preview() && lifted && isCode(err, "OperationNotPermitted") {
		return nil
	}
	return x.ec2Outcome(what, permission, err)
}

// refuse stops the step before any change: in a preview it says why in a
// note (the gate shows it), in an execution it fails for good.
func (x *execution) refuse(msg string) error {
	if x.preview() {
		x.note("%s", msg)
		return nil
	}
	return temporal.NewNonRetryableApplicationError(msg, ErrConflict, nil)
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
