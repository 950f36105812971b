package workflow

import (
	"errors"
	"fmt"
	"net"
	"strings"

	"github.com/aws/smithy-go"
)

// Errors returned by the steps. Step Functions sees a Lambda error under
// its Go type name (errorType), so these names are the ASL's ErrorEquals:
// RetryableError is retried with backoff; the others are not.

// ValidationError is bad input: a malformed event, an invalid repository,
// tag or digest, a destination outside the deployed configuration.
type ValidationError struct{ Msg string }

func (e *ValidationError) Error() string { return e.Msg }

func validationf(format string, args ...any) error {
	return &ValidationError{Msg: fmt.Sprintf(format, args...)}
}

// RetryableError is a failure that trying again later may fix: throttling,
// 5xx answers, broken connections.
type RetryableError struct {
	Op  string
	Err error
}

func (e *RetryableError) Error() string { return e.Op + ": " + e.Err.Error() }
func (e *RetryableError) Unwrap() error { return e.Err }

// AccessDeniedError means a role could not be assumed, or its credentials
// are not allowed to do what Ferry asked.
type AccessDeniedError struct {
	Op  string
	Err error
}

func (e *AccessDeniedError) Error() string { return e.Op + ": " + e.Err.Error() }
func (e *AccessDeniedError) Unwrap() error { return e.Err }

// ConflictError means the destination tag points at another image and the
// destination protects it (onExistingTag: fail), or an immutable tag refused
// the new digest. Msg, when set, says it instead of Err (whose advice is
// for another context, such as ferry copy's flags).
type ConflictError struct {
	Op  string
	Err error
	Msg string
}

func (e *ConflictError) Error() string {
	if e.Msg != "" {
		return e.Op + ": " + e.Msg
	}
	return e.Op + ": " + e.Err.Error()
}
func (e *ConflictError) Unwrap() error { return e.Err }

// ErrTagTaken is what a ConflictError of tagConflict wraps: the destination
// tag points at another image and may not be moved.
var ErrTagTaken = errors.New("the destination tag points at another image")

// tagConflict is the ConflictError for j's tag, which in the destination
// points at existing (a digest, or "" when not known): immutable says the
// repository's tags cannot move (whatever onExistingTag says); otherwise
// the destination keeps existing tags (onExistingTag: fail). before says
// that it was found before anything was written. The advice is what can
// work in each case.
func tagConflict(op string, j Job, existing string, immutable, before bool) *ConflictError {
	at := fmt.Sprintf("tag %s of %s in %s already points at %s, not %s", j.Tag, j.Repository, j.Destination, cmpOr(existing, "another image"), j.Digest)
	written := "; nothing was written. "
	if !before {
		written = "; the blobs and manifests copied before the tag stay, unreferenced. "
	}
	acct, region, _ := strings.Cut(j.Destination, "/")
	if immutable {
		return &ConflictError{Op: op, Err: ErrTagTaken, Msg: at + ", and the repository's tags are immutable, so it cannot be moved (onExistingTag: overwrite cannot change that)" + written +
			"To replicate " + j.Digest + ", push it to the source under a new tag. If the image there should not be, delete it (aws ecr batch-delete-image --registry-id " + acct +
			" --region " + region + " --repository-name " + j.Repository + " --image-ids imageTag=" + j.Tag + "), or make the repository's tags mutable (aws ecr put-image-tag-mutability) and set onExistingTag: overwrite for this destination; then redrive the execution"}
	}
	return &ConflictError{Op: op, Err: ErrTagTaken, Msg: at + ", and this destination keeps existing tags (onExistingTag: fail)" + written +
		"To replace it, set onExistingTag: overwrite for this destination in ferry.yaml and deploy, then redrive the execution; or push " + j.Digest + " to the source under a new tag"}
}

// VerificationError means the destination does not hold what the source
// does after the copy.
type VerificationError struct{ Msg string }

func (e *VerificationError) Error() string { return e.Msg }

// ReplicationError is any other failure, that retrying will not fix.
type ReplicationError struct {
	Op  string
	Err error
}

func (e *ReplicationError) Error() string { return e.Op + ": " + e.Err.Error() }
func (e *ReplicationError) Unwrap() error { return e.Err }

// ConfigurationError means the function's own setup is wrong (environment,
// configuration file, approval secret).
type ConfigurationError struct{ Msg string }

func (e *ConfigurationError) Error() string { return e.Msg }

// ErrorApprovalRejected is the Error of SendTaskFailure when a person
// rejects a copy.
const ErrorApprovalRejected = "ApprovalRejected"

// retryableCodes are AWS error codes worth retrying.
var retryableCodes = map[string]bool{
	"ThrottlingException": true, "Throttling": true, "TooManyRequestsException": true,
	"RequestLimitExceeded": true, "ServerException": true, "ServiceUnavailable": true,
	"InternalFailure": true, "InternalError": true, "RequestTimeout": true,
	"LimitExceededException": true,
}

var deniedCodes = map[string]bool{
	"AccessDenied": true, "AccessDeniedException": true, "UnrecognizedClientException": true,
	"ExpiredToken": true, "ExpiredTokenException": true, "InvalidClientTokenId": true,
	"AuthorizationError": true, // SNS's name for it
}

// classifyAWS turns an AWS SDK error into one of the named types.
func classifyAWS(op string, err error) error {
	if err == nil {
		return nil
	}
	switch {
	case errors.As(err, new(*ValidationError)), errors.As(err, new(*RetryableError)),
		errors.As(err, new(*AccessDeniedError)), errors.As(err, new(*ConflictError)):
		return err // already named
	}
	var api smithy.APIError
	if errors.As(err, &api) {
		switch {
		case retryableCodes[api.ErrorCode()]:
			return &RetryableError{Op: op, Err: err}
		case deniedCodes[api.ErrorCode()]:
			return &AccessDeniedError{Op: op, Err: err}
		}
		return &ReplicationError{Op: op, Err: err}
	}
	var ne net.Error
	if errors.As(err, &ne) || errors.Is(err, net.ErrClosed) {
		return &RetryableError{Op: op, Err: err}
	}
	return &ReplicationError{Op: op, Err: err}
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}
