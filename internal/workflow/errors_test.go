package workflow

import (
	"context"
	"errors"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	ecrtypes "github.com/aws/aws-sdk-go-v2/service/ecr/types"
	smtypes "github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
	sfntypes "github.com/aws/aws-sdk-go-v2/service/sfn/types"
	snstypes "github.com/aws/aws-sdk-go-v2/service/sns/types"
	ststypes "github.com/aws/aws-sdk-go-v2/service/sts/types"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// sdkErr is api as the SDK returns it from operation of service, after an
// HTTP answer of status (0: none, as from a fake).
func sdkErr(service, operation string, status int, api error) error {
	err := api
	if status != 0 {
		err = &awshttp.ResponseError{RequestID: "req-1", ResponseError: &smithyhttp.ResponseError{
			Response: &smithyhttp.Response{Response: &http.Response{StatusCode: status}}, Err: api}}
	}
	return &smithy.OperationError{ServiceID: service, OperationName: operation, Err: err}
}

func generic(code string) *smithy.GenericAPIError {
	return &smithy.GenericAPIError{Code: code, Message: code + " (test)", Fault: smithy.FaultClient}
}

type class int

const (
	retryable class = iota
	denied
	final
)

func (c class) String() string {
	return [...]string{"RetryableError", "AccessDeniedError", "ReplicationError"}[c]
}

func classOf(err error) (class, bool) {
	var r *RetryableError
	var d *AccessDeniedError
	var f *ReplicationError
	switch {
	case errors.As(err, &r):
		return retryable, true
	case errors.As(err, &d):
		return denied, true
	case errors.As(err, &f):
		return final, true
	}
	return 0, false
}

// Every AWS error code classifyAWS decides on, as the SDK returns it
// (typed where the SDK has a type, with the HTTP status the service
// answers), and as a fake returns it (a bare GenericAPIError).
func TestClassifyAWS(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		err     error
		want    class
		wantMsg []string // in the error's text
	}{
		// Throttling.
		{name: "ECR ThrottlingException (unmodeled, 400)", err: sdkErr("ECR", "DescribeImages", 400, generic("ThrottlingException")), want: retryable},
		{name: "ECR ThrottleException (ECR's troubleshooting guide)", err: sdkErr("ECR", "GetAuthorizationToken", 400, generic("ThrottleException")), want: retryable},
		{name: "ECR 429 without a modeled error", err: sdkErr("ECR", "BatchGetImage", 429, generic("TooManyRequests")), want: retryable},
		{name: "STS Throttling (query protocol)", err: sdkErr("STS", "AssumeRole", 400, generic("Throttling")), want: retryable},
		{name: "TooManyRequestsException", err: generic("TooManyRequestsException"), want: retryable},
		{name: "RequestLimitExceeded", err: generic("RequestLimitExceeded"), want: retryable},
		{name: "S3 SlowDown", err: sdkErr("S3", "PutObject", 503, generic("SlowDown")), want: retryable},
		{name: "SNS Throttled", err: sdkErr("SNS", "Publish", 400, &snstypes.ThrottledException{}), want: retryable},
		{name: "SNS KMSThrottling", err: sdkErr("SNS", "Publish", 400, &snstypes.KMSThrottlingException{}), want: retryable},
		{name: "Step Functions KmsThrottlingException", err: sdkErr("SFN", "SendTaskSuccess", 400, &sfntypes.KmsThrottlingException{}), want: retryable},
		{name: "a quota code answered 429 is a rate", err: sdkErr("API Gateway", "GetRestApis", 429, generic("LimitExceededException")), want: retryable},
		// Server side and timeouts.
		{name: "ECR ServerException (500)", err: sdkErr("ECR", "CreateRepository", 500, &ecrtypes.ServerException{}), want: retryable},
		{name: "ECR ServerException from a fake", err: generic("ServerException"), want: retryable},
		{name: "InternalFailure", err: generic("InternalFailure"), want: retryable},
		{name: "SNS InternalError", err: sdkErr("SNS", "Publish", 500, &snstypes.InternalErrorException{}), want: retryable},
		{name: "Secrets Manager InternalServiceError", err: sdkErr("Secrets Manager", "GetSecretValue", 500, &smtypes.InternalServiceError{}), want: retryable},
		{name: "ServiceUnavailable", err: generic("ServiceUnavailable"), want: retryable},
		{name: "RequestTimeout", err: generic("RequestTimeout"), want: retryable},
		{name: "RequestTimeoutException", err: generic("RequestTimeoutException"), want: retryable},
		{name: "an unknown code answered 503", err: sdkErr("ECR", "DescribeRepositories", 503, generic("SomethingNew")), want: retryable},
		{name: "a broken connection", err: sdkErr("ECR", "DescribeImages", 0, &smithyhttp.RequestSendError{Err: &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connection refused")}}), want: retryable},
		{name: "a closed connection", err: net.ErrClosed, want: retryable},
		// Quotas: final, saying which and how to raise it.
		{name: "ECR LimitExceededException from CreateRepository", err: sdkErr("ECR", "CreateRepository", 400, &ecrtypes.LimitExceededException{Message: aws.String("repository limit exceeded")}), want: final,
			wantMsg: []string{"repository limit exceeded", `"Registered repositories"`, "Service Quotas", "--service-code ecr", "request-service-quota-increase", "redrive"}},
		{name: "ECR LimitExceededException elsewhere", err: sdkErr("ECR", "PutLifecyclePolicy", 400, &ecrtypes.LimitExceededException{}), want: final,
			wantMsg: []string{"Amazon ECR quota", "--service-code ecr"}},
		{name: "LimitExceededException from a fake", err: generic("LimitExceededException"), want: final, wantMsg: []string{"Service Quotas", "request-service-quota-increase"}},
		{name: "Secrets Manager LimitExceededException", err: sdkErr("Secrets Manager", "GetSecretValue", 400, &smtypes.LimitExceededException{}), want: final,
			wantMsg: []string{"Secrets Manager quota", "--service-code secretsmanager"}},
		{name: "Step Functions ServiceQuotaExceededException", err: sdkErr("SFN", "SendTaskSuccess", 400, &sfntypes.ServiceQuotaExceededException{}), want: final,
			wantMsg: []string{"Step Functions quota", "--service-code states"}},
		{name: "ECR TooManyTagsException", err: sdkErr("ECR", "TagResource", 400, &ecrtypes.TooManyTagsException{}), want: final, wantMsg: []string{"at most 50 tags", "ferry.yaml"}},
		// Credentials.
		{name: "ECR AccessDeniedException", err: sdkErr("ECR", "CreateRepository", 400, generic("AccessDeniedException")), want: denied},
		{name: "STS AccessDenied", err: sdkErr("STS", "AssumeRole", 403, generic("AccessDenied")), want: denied},
		{name: "STS ExpiredTokenException", err: sdkErr("STS", "AssumeRole", 400, &ststypes.ExpiredTokenException{}), want: denied},
		{name: "ExpiredToken", err: generic("ExpiredToken"), want: denied},
		{name: "InvalidClientTokenId", err: generic("InvalidClientTokenId"), want: denied},
		{name: "UnrecognizedClientException", err: generic("UnrecognizedClientException"), want: denied},
		{name: "SNS AuthorizationError", err: sdkErr("SNS", "Publish", 403, &snstypes.AuthorizationErrorException{}), want: denied},
		// Anything else is final.
		{name: "STS RegionDisabledException", err: sdkErr("STS", "AssumeRole", 403, &ststypes.RegionDisabledException{}), want: final},
		{name: "ECR RepositoryNotFoundException", err: sdkErr("ECR", "DescribeRepositories", 400, &ecrtypes.RepositoryNotFoundException{}), want: final},
		{name: "ECR InvalidParameterException", err: sdkErr("ECR", "PutLifecyclePolicy", 400, &ecrtypes.InvalidParameterException{}), want: final},
		{name: "Step Functions TaskTimedOut", err: sdkErr("SFN", "SendTaskSuccess", 400, &sfntypes.TaskTimedOut{}), want: final},
		{name: "a cancelled context", err: context.Canceled, want: final},
		{name: "not an AWS error", err: errors.New("something else"), want: final},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := classifyAWS("op", tc.err)
			c, ok := classOf(got)
			if !ok || c != tc.want {
				t.Fatalf("classifyAWS(%v) = %T %v, want a %s", tc.err, got, got, tc.want)
			}
			if !errors.Is(got, tc.err) {
				t.Errorf("classifyAWS(%v) lost the SDK's error from its chain", tc.err)
			}
			for _, m := range tc.wantMsg {
				if !strings.Contains(got.Error(), m) {
					t.Errorf("error %q does not say %q", got, m)
				}
			}
		})
	}
}

// Every code the SDK retries as throttling or a passing failure is
// retried, but for the quotas it counts among them; this follows the SDK
// as it is updated.
func TestClassifyAWSFollowsTheSDK(t *testing.T) {
	t.Parallel()
	for _, codes := range []map[string]struct{}{retry.DefaultThrottleErrorCodes, retry.DefaultRetryableErrorCodes} {
		for code := range codes {
			err := sdkErr("ECR", "DescribeImages", 400, generic(code))
			want := retryable
			if quotaCodes[code] {
				want = final
			}
			if c, _ := classOf(classifyAWS("op", err)); c != want {
				t.Errorf("%s: %s, want %s", code, c, want)
			}
		}
	}
	// The override is what keeps a quota final: the SDK alone would retry it.
	if !sdkRetryable(generic("LimitExceededException")) {
		t.Error("the SDK no longer retries LimitExceededException: quotaCodes' override may be dropped for it")
	}
}

// An error already named passes through as it is.
func TestClassifyAWSKeepsNamedErrors(t *testing.T) {
	t.Parallel()
	for _, err := range []error{
		&ValidationError{Msg: "bad"}, &RetryableError{Op: "op", Err: errors.New("x")},
		&AccessDeniedError{Op: "op", Err: errors.New("x")}, &ConflictError{Op: "op", Err: ErrTagTaken},
	} {
		if got := classifyAWS("other op", err); got != err {
			t.Errorf("classifyAWS(%T) = %v, want it unchanged", err, got)
		}
	}
	if classifyAWS("op", nil) != nil {
		t.Error("classifyAWS(nil) is not nil")
	}
}
