package emulator

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"time"
)

// The ECR control plane speaks AWS JSON 1.1: every call is a POST to "/" with
// X-Amz-Target: AmazonEC2ContainerRegistry_V20150921.<Operation> and a JSON
// body; errors carry their code in "__type" (and the X-Amzn-ErrorType
// header) with a 4xx/5xx status, as in the ECR API Reference.
//
// Requests must carry a SigV4 Authorization header whose credential scope
// names service "ecr" and this registry's region; the signature itself is not
// verified (the emulator holds no secrets to verify it with).
const ecrTargetPrefix = "AmazonEC2ContainerRegistry_V20150921."

type ecrOp func(r *Registry, body []byte) (any, *APIError)

var ecrOps = map[string]ecrOp{
	"CreateRepository":      (*Registry).createRepository,
	"DescribeRepositories":  (*Registry).describeRepositories,
	"PutLifecyclePolicy":    (*Registry).putLifecyclePolicy,
	"GetLifecyclePolicy":    (*Registry).getLifecyclePolicy,
	"SetRepositoryPolicy":   (*Registry).setRepositoryPolicy,
	"GetRepositoryPolicy":   (*Registry).getRepositoryPolicy,
	"GetAuthorizationToken": (*Registry).getAuthorizationToken,
	"BatchGetImage":         (*Registry).batchGetImage,
	"BatchDeleteImage":      (*Registry).batchDeleteImage,
	"DescribeImages":        (*Registry).describeImages,
	"PutImage":              (*Registry).putImage,
	"TagResource":           (*Registry).tagResource,
	"ListTagsForResource":   (*Registry).listTagsForResource,

	"ListImages":              (*Registry).listImages,
	"UpdateImageStorageClass": (*Registry).updateImageStorageClass,

	"DescribeImageScanFindings":        (*Registry).describeImageScanFindings,
	"GetRegistryScanningConfiguration": (*Registry).getRegistryScanningConfiguration,
}

func (r *Registry) serveECR(w http.ResponseWriter, req *http.Request) {
	op := strings.TrimPrefix(req.Header.Get("X-Amz-Target"), ecrTargetPrefix)
	call := Call{Time: r.em.now(), Service: ServiceECR, Operation: op, Account: r.account, Region: r.region}
	out, apiErr := r.handleECR(req, op, &call)
	if apiErr != nil {
		call.Status, call.ErrorCode = apiErr.Status, apiErr.Code
		writeJSONError(w, apiErr)
	} else {
		call.Status = http.StatusOK
		writeJSON(w, http.StatusOK, out)
	}
	r.em.log.record(call)
}

func (r *Registry) handleECR(req *http.Request, op string, call *Call) (any, *APIError) {
	if req.Method != http.MethodPost || !strings.HasPrefix(req.Header.Get("X-Amz-Target"), ecrTargetPrefix) {
		return nil, badRequest(CodeUnknownOperation, "")
	}
	if apiErr := checkSigV4(req, "ecr", r.region); apiErr != nil {
		return nil, apiErr
	}
	handler, ok := ecrOps[op]
	if !ok {
		return nil, badRequest(CodeUnknownOperation, "")
	}
	if f, ok := r.ecrFaults.take(op); ok {
		call.Injected = true
		return nil, f
	}
	body, err := io.ReadAll(io.LimitReader(req.Body, 16<<20))
	if err != nil {
		return nil, badRequest(CodeSerialization, "could not read request body")
	}
	if len(body) == 0 {
		body = []byte("{}")
	}
	var peek struct {
		RepositoryName string `json:"repositoryName"`
		RegistryID     string `json:"registryId"`
	}
	if err := json.Unmarshal(body, &peek); err != nil {
		return nil, badRequest(CodeSerialization, "Start of structure or map found where not expected.")
	}
	call.Repository = peek.RepositoryName
	if peek.RegistryID != "" && peek.RegistryID != r.account {
		// One endpoint serves one account; cross-account calls are out of scope.
		return nil, badRequest(CodeAccessDeniedECR,
			"User is not authorized to access registry '%s' from the endpoint of registry '%s'", peek.RegistryID, r.account)
	}
	return handler(r, body)
}

// checkSigV4 checks that a request is signed the way an AWS SDK signs it:
// an AWS4-HMAC-SHA256 Authorization header whose credential scope names the
// expected service and, when region is not empty, region. It does not verify
// the signature: the emulator knows no secret keys. Its purpose is to catch
// unsigned code paths and clients configured for the wrong region.
func checkSigV4(req *http.Request, service, region string) *APIError {
	auth := req.Header.Get("Authorization")
	if auth == "" {
		return &APIError{Status: http.StatusForbidden, Code: CodeMissingAuthenticationToken, Message: "Missing Authentication Token"}
	}
	scope, ok := credentialScope(auth)
	if !ok {
		return &APIError{Status: http.StatusForbidden, Code: CodeInvalidSignature,
			Message: "Authorization header requires 'Credential' parameter."}
	}
	if region != "" && scope.region != region {
		return &APIError{Status: http.StatusForbidden, Code: CodeInvalidSignature,
			Message: "Credential should be scoped to a valid region. "}
	}
	if scope.service != service {
		return &APIError{Status: http.StatusForbidden, Code: CodeInvalidSignature,
			Message: "Credential should be scoped to correct service: '" + service + "'. "}
	}
	return nil
}

type sigScope struct {
	accessKeyID, region, service string
}

func credentialScope(auth string) (sigScope, bool) {
	if !strings.HasPrefix(auth, "AWS4-HMAC-SHA256 ") {
		return sigScope{}, false
	}
	for _, part := range strings.Split(strings.TrimPrefix(auth, "AWS4-HMAC-SHA256 "), ",") {
		v, ok := strings.CutPrefix(strings.TrimSpace(part), "Credential=")
		if !ok {
			continue
		}
		f := strings.Split(v, "/")
		if len(f) != 5 || f[4] != "aws4_request" {
			return sigScope{}, false
		}
		return sigScope{accessKeyID: f[0], region: f[2], service: f[3]}, true
	}
	return sigScope{}, false
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		b = []byte(`{"__type":"ServerException","message":"emulator could not encode response"}`)
	}
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	w.Header().Set("X-Amzn-Requestid", newRequestID())
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

func writeJSONError(w http.ResponseWriter, e *APIError) {
	w.Header().Set("X-Amzn-Errortype", e.Code)
	if e.RetryAfterSeconds > 0 {
		w.Header().Set("Retry-After", itoa(e.RetryAfterSeconds))
	}
	body := map[string]string{"__type": e.Code}
	if e.Message != "" {
		body["message"] = e.Message
	}
	writeJSON(w, e.Status, body)
}

// decode unmarshals an operation's input; a type mismatch is a
// SerializationException, as the service reports it.
func decode(body []byte, v any) *APIError {
	if err := json.Unmarshal(body, v); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return badRequest(CodeSerialization, "Unexpected value at '%s'", te.Field)
		}
		return badRequest(CodeSerialization, "Malformed JSON")
	}
	return nil
}

// epoch renders a timestamp as AWS JSON does: seconds since the epoch, with
// milliseconds.
type epoch time.Time

func (t epoch) MarshalJSON() ([]byte, error) {
	ms := time.Time(t).UnixMilli()
	return []byte(itoa64(ms/1000) + "." + pad3(ms%1000)), nil
}
