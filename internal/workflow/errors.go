package workflow

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
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

// How an AWS error is classified. The AWS SDK's own retry checks
// (retry.DefaultRetryables: its throttling and transient error codes, 5xx
// statuses, an unmodeled 429, broken connections) say what is worth
// retrying, so the list stays as current as the SDK; these tables add what
// they miss, and take out the quotas they count as throttling. Each code
// is checked against the API reference of a service Ferry calls (ECR,
// STS, S3, SNS, Step Functions, Secrets Manager); errors_test.go holds
// every one.

// quotaCodes mean a quota is reached: retrying will not change that, so
// they are final, whatever the SDK says. (The SDK counts
// LimitExceededException as throttling, which it is where a service
// answers it with a 429, as API Gateway does; ECR and Secrets Manager
// answer 400, for "a service limit for your account". A 429 stays
// retryable.)
var quotaCodes = map[string]bool{
	"LimitExceededException":        true, // ECR, Secrets Manager
	"ServiceQuotaExceededException": true, // Step Functions
	"TooManyTagsException":          true, // ECR: 50 tags per repository, which no quota raises
}

// retryableCodes are the passing failures the SDK's checks miss.
var retryableCodes = map[string]bool{
	"ThrottleException":      true, // ECR's troubleshooting guide: "HTTP 429: Too Many Requests or ThrottleException"
	"ServerException":        true, // ECR: "usually caused by a server-side issue" (a 500, but a fake has no status)
	"Throttled":              true, // SNS ThrottledException
	"KMSThrottling":          true, // SNS: KMS throttled the request
	"KmsThrottlingException": true, // Step Functions: KMS throttled the request
	"InternalError":          true, // SNS (500); S3 (500)
	"InternalFailure":        true, // common to AWS query APIs (500)
	"InternalServiceError":   true, // Secrets Manager (500)
	"ServiceUnavailable":     true, // common to AWS query APIs (503)
}

// deniedCodes mean the caller's credentials are refused or not allowed.
var deniedCodes = map[string]bool{
	"AccessDenied": true, "AccessDeniedException": true, "UnrecognizedClientException": true,
	"ExpiredToken": true, "ExpiredTokenException": true, "InvalidClientTokenId": true,
	"AuthorizationError": true, // SNS's name for it
}

// sdkRetryable is the SDK's own verdict: true only when one of its checks
// says so (a "no" from it, such as for a cancelled request, leaves the
// decision to classifyAWS's own checks).
func sdkRetryable(err error) bool {
	return retry.IsErrorRetryables(retry.DefaultRetryables).IsErrorRetryable(err) == aws.TrueTernary
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
		code := api.ErrorCode()
		switch {
		case quotaCodes[code] && httpStatus(err) != http.StatusTooManyRequests:
			return &ReplicationError{Op: op, Err: fmt.Errorf("%w; %s", err, quotaAdvice(err, code))}
		case deniedCodes[code]:
			return &AccessDeniedError{Op: op, Err: err}
		case retryableCodes[code], sdkRetryable(err):
			return &RetryableError{Op: op, Err: err}
		}
		return &ReplicationError{Op: op, Err: err}
	}
	if sdkRetryable(err) {
		return &RetryableError{Op: op, Err: err}
	}
	var ne net.Error
	if errors.As(err, &ne) || errors.Is(err, net.ErrClosed) {
		return &RetryableError{Op: op, Err: err}
	}
	return &ReplicationError{Op: op, Err: err}
}

// httpStatus is the status of the HTTP answer that err came in, or 0.
func httpStatus(err error) int {
	var re interface{ HTTPStatusCode() int }
	if errors.As(err, &re) {
		return re.HTTPStatusCode()
	}
	return 0
}

// quotaAdvice says which quota err reached and how to raise it, as far as
// the operation tells: the service's message usually names the quota too.
func quotaAdvice(err error, code string) string {
	var oe *smithy.OperationError
	service, operation := "", ""
	if errors.As(err, &oe) {
		service, operation = oe.ServiceID, oe.OperationName
	}
	const redrive = "; then redrive the execution"
	raise := func(serviceCode, console, quota string) string {
		return "raise it in Service Quotas, in the account and Region of the call (console: Service Quotas > AWS services > " + console + " > " + quota +
			"; CLI: aws service-quotas list-service-quotas --service-code " + serviceCode + " to find its quota code, then aws service-quotas request-service-quota-increase --service-code " +
			serviceCode + " --quota-code CODE --desired-value N)"
	}
	switch {
	case code == "TooManyTagsException":
		return "a repository holds at most 50 tags, a limit no quota raises: configure fewer tags for it in ferry.yaml (Ferry adds one, ferry:settings), and deploy" + redrive
	case service == "ECR" && operation == "CreateRepository":
		return "the account has as many repositories in this Region as Amazon ECR's \"Registered repositories\" quota allows, and retrying will not change that: delete repositories no longer used, or " +
			raise("ecr", "Amazon Elastic Container Registry (Amazon ECR)", "Registered repositories") + redrive
	case service == "ECR":
		return "an Amazon ECR quota is reached (the service's message names it), and retrying will not change that: " +
			raise("ecr", "Amazon Elastic Container Registry (Amazon ECR)", "the quota named") + redrive
	case service == "Secrets Manager":
		return "an AWS Secrets Manager quota is reached (the service's message names it), and retrying will not change that: " +
			raise("secretsmanager", "AWS Secrets Manager", "the quota named") + redrive
	case service == "SFN":
		return "an AWS Step Functions quota is reached (the service's message names it), and retrying will not change that: " +
			raise("states", "AWS Step Functions", "the quota named") + redrive
	}
	return "a service quota is reached (the service's message names it), and retrying will not change that: raise it in Service Quotas (console: Service Quotas > AWS services > the service of " +
		cmpOr(service, "the call") + " > the quota named; CLI: aws service-quotas request-service-quota-increase), in the account and Region of the call" + redrive
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}
