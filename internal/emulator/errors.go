package emulator

import (
	"errors"
	"fmt"
	"net/http"
)

// Sentinel errors returned by the emulator's Go API (not on the wire).
var (
	// ErrInvalidAccount is returned by AddRegistry for an account that is not
	// twelve digits, as AWS account IDs are.
	ErrInvalidAccount = errors.New("account id must be 12 digits")
	// ErrInvalidRegion is returned by AddRegistry for an empty or malformed region.
	ErrInvalidRegion = errors.New("region must look like us-east-1")
	// ErrRegistryExists is returned by AddRegistry when the account and region
	// already have a registry.
	ErrRegistryExists = errors.New("registry already exists")
	// ErrClosed is returned when the emulator is used after Close.
	ErrClosed = errors.New("emulator closed")
	// ErrInvalidRoleARN is returned by AllowRole for an ARN that is not an IAM
	// role ARN.
	ErrInvalidRoleARN = errors.New("not an IAM role ARN")
	// ErrRepositoryNotFound is returned by Registry methods (ArchiveImage,
	// RestoreImage) for a repository that does not exist.
	ErrRepositoryNotFound = errors.New("repository not found")
	// ErrImageNotFound is returned by Registry methods (ArchiveImage,
	// RestoreImage) for a digest the repository does not hold.
	ErrImageNotFound = errors.New("image not found")
)

// APIError is an error as the emulator puts it on the wire: an HTTP status, a
// protocol error code (ECR's "__type", STS's <Code>, the registry's "code")
// and a message. Every handler builds its failures from APIError so the three
// protocols render the same classification.
type APIError struct {
	Status  int
	Code    string
	Message string
	// RetryAfter, when non-zero, is sent as a Retry-After header (seconds).
	RetryAfterSeconds int
}

func (e *APIError) Error() string {
	return fmt.Sprintf("%s (HTTP %d): %s", e.Code, e.Status, e.Message)
}

// ECR error codes used by the control plane, as named in the Amazon ECR API
// Reference.
const (
	CodeRepositoryNotFound          = "RepositoryNotFoundException"
	CodeRepositoryAlreadyExists     = "RepositoryAlreadyExistsException"
	CodeImageNotFound               = "ImageNotFoundException"
	CodeImageAlreadyExists          = "ImageAlreadyExistsException"
	CodeImageTagAlreadyExists       = "ImageTagAlreadyExistsException"
	CodeImageDigestDoesNotMatch     = "ImageDigestDoesNotMatchException"
	CodeLayersNotFound              = "LayersNotFoundException"
	CodeReferencedImagesNotFound    = "ReferencedImagesNotFoundException"
	CodeInvalidParameter            = "InvalidParameterException"
	CodeInvalidTagParameter         = "InvalidTagParameterException"
	CodeTooManyTags                 = "TooManyTagsException"
	CodeLifecyclePolicyNotFound     = "LifecyclePolicyNotFoundException"
	CodeRepositoryPolicyNotFound    = "RepositoryPolicyNotFoundException"
	CodeThrottling                  = "ThrottlingException"
	CodeServer                      = "ServerException"
	CodeAccessDeniedECR             = "AccessDeniedException"
	CodeMissingAuthenticationToken  = "MissingAuthenticationTokenException"
	CodeInvalidSignature            = "InvalidSignatureException"
	CodeUnknownOperation            = "UnknownOperationException"
	CodeSerialization               = "SerializationException"
	CodeSTSAccessDenied             = "AccessDenied"
	CodeSTSValidation               = "ValidationError"
	CodeSTSMissingAuthenticationTok = "MissingAuthenticationToken"
	CodeSTSInvalidAction            = "InvalidAction"

	CodeImageStorageClassUpdateNotSupported = "ImageStorageClassUpdateNotSupportedException"
)

// Registry (OCI distribution) error codes used by the data plane.
const (
	CodeNameUnknown         = "NAME_UNKNOWN"
	CodeTagInvalid          = "TAG_INVALID"
	CodeDenied              = "DENIED"
	CodeUnauthorized        = "UNAUTHORIZED"
	CodeBlobUnknown         = "BLOB_UNKNOWN"
	CodeManifestBlobUnknown = "MANIFEST_BLOB_UNKNOWN"
	CodeManifestUnknown     = "MANIFEST_UNKNOWN"
	CodeManifestInvalid     = "MANIFEST_INVALID"
	CodeDigestInvalid       = "DIGEST_INVALID"
	CodeUnsupported         = "UNSUPPORTED"
	CodeTooManyRequests     = "TOOMANYREQUESTS"
	CodeNameInvalid         = "NAME_INVALID"
)

func badRequest(code, format string, args ...any) *APIError {
	return &APIError{Status: http.StatusBadRequest, Code: code, Message: fmt.Sprintf(format, args...)}
}

func repositoryNotFound(repo, account string) *APIError {
	return badRequest(CodeRepositoryNotFound,
		"The repository with name '%s' does not exist in the registry with id '%s'", repo, account)
}

func invalidParameter(field, constraint string) *APIError {
	return badRequest(CodeInvalidParameter,
		"Invalid parameter at '%s' failed to satisfy constraint: '%s'", field, constraint)
}
