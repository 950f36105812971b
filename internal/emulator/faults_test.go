package emulator_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"
	"github.com/google/go-containerregistry/pkg/authn"

	"github.com/ferry-dev/ferry/internal/emulator"
)

func errorMessage(err error) (string, string) {
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		return "", ""
	}
	return ae.ErrorCode(), ae.ErrorMessage()
}

// ecrCalls returns the ECR calls of one operation, in order.
func ecrCalls(em *emulator.Emulator, op string) []emulator.Call {
	var out []emulator.Call
	for _, c := range em.Calls() {
		if c.Service == emulator.ServiceECR && c.Operation == op {
			out = append(out, c)
		}
	}
	return out
}

func TestECRFaults(t *testing.T) {
	t.Parallel()
	em := newEmulator(t)
	reg := newRegistry(t, em, account, region)
	c := ecrClient(t, reg.ECREndpoint(), region)
	createRepo(t, c, "app", "")
	in := &ecr.DescribeRepositoriesInput{RepositoryNames: []string{"app"}}

	// One throttle: the SDK retries and succeeds; the log shows both calls.
	reg.InjectFault("DescribeRepositories", 1, emulator.FaultThrottling())
	if _, err := c.DescribeRepositories(t.Context(), in); err != nil {
		t.Fatalf("DescribeRepositories after one throttle: %v", err)
	}
	calls := ecrCalls(em, "DescribeRepositories")
	if len(calls) != 2 || calls[0].ErrorCode != "ThrottlingException" || calls[0].Status != 400 || !calls[0].Injected ||
		calls[1].ErrorCode != "" || calls[1].Status != 200 {
		t.Errorf("calls = %+v, want a throttled call then a successful one", calls)
	}

	// More faults than the SDK's attempts: the error reaches the caller.
	tests := []struct {
		name       string
		fault      emulator.Fault
		wantCode   string
		wantStatus int
	}{
		{"throttling", emulator.FaultThrottling(), "ThrottlingException", 400},
		{"server error", emulator.FaultServerError(), "ServerException", 500},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reg.InjectFault("DescribeImages", 3, tt.fault)
			_, err := c.DescribeImages(t.Context(), &ecr.DescribeImagesInput{RepositoryName: aws.String("app")})
			if err == nil {
				t.Fatal("DescribeImages succeeded through 3 faults")
			}
			if code, status := apiErr(t, err); code != tt.wantCode || status != tt.wantStatus {
				t.Errorf("error = %s (HTTP %d), want %s (HTTP %d)", code, status, tt.wantCode, tt.wantStatus)
			}
			if _, err := c.DescribeImages(t.Context(), &ecr.DescribeImagesInput{RepositoryName: aws.String("app")}); err != nil {
				t.Errorf("DescribeImages after the faults ran out: %v", err)
			}
		})
	}
}

func TestSTSFaults(t *testing.T) {
	t.Parallel()
	em := newEmulator(t)
	c := stsClient(t, em.STSEndpoint(), nil)
	em.InjectFault("GetCallerIdentity", 3, emulator.Fault{Status: 400, Code: "Throttling", Message: "Rate exceeded"})
	_, err := c.GetCallerIdentity(t.Context(), &sts.GetCallerIdentityInput{})
	if code, status := apiErr(t, err); code != "Throttling" || status != 400 {
		t.Errorf("error = %s (HTTP %d), want Throttling (HTTP 400)", code, status)
	}
}

func TestDataPlaneFaults(t *testing.T) {
	t.Parallel()
	em := newEmulator(t)
	reg := newRegistry(t, em, account, region)
	c := ecrClient(t, reg.ECREndpoint(), region)
	createRepo(t, c, "app", "")
	auth := login(t, c).(*authn.Basic)

	reg.InjectFault(emulator.TargetTagsList, 1, emulator.FaultTooManyRequests(1500*time.Millisecond))
	req := newRequest(t, http.MethodGet, "http://"+reg.Host()+"/v2/app/tags/list", nil)
	req.SetBasicAuth(auth.Username, auth.Password)
	status, hdr, body := rawDo(t, req)
	if status != http.StatusTooManyRequests || hdr.Get("Retry-After") != "2" || !strings.Contains(body, "TOOMANYREQUESTS") {
		t.Errorf("injected 429 = %d Retry-After %q %s, want 429 Retry-After 2 TOOMANYREQUESTS", status, hdr.Get("Retry-After"), body)
	}
	status, _, _ = rawDo(t, req.Clone(t.Context()))
	if status != http.StatusOK {
		t.Errorf("after the fault = %d, want 200", status)
	}

	// go-containerregistry retries 5xx and 429: one failed blob upload and
	// one failed manifest push do not fail the push.
	reg.InjectFault(emulator.TargetBlobUpload, 1, emulator.FaultUnavailable())
	reg.InjectFault(emulator.TargetManifestPush, 1, emulator.FaultTooManyRequests(0))
	if err := push(t, reg.Host(), "app", "v1", randomImage(t), auth); err != nil {
		t.Fatalf("push through one fault of each: %v", err)
	}
	var injected []string
	for _, call := range em.Calls() {
		if call.Injected {
			injected = append(injected, call.Operation)
		}
	}
	want := []string{emulator.TargetTagsList, emulator.TargetBlobUpload, emulator.TargetManifestPush}
	if strings.Join(injected, ",") != strings.Join(want, ",") {
		t.Errorf("injected calls = %v, want %v", injected, want)
	}
}

// TestCallLogHoldsNoSecrets checks the request log and the logger output
// for every token and secret handed out.
func TestCallLogHoldsNoSecrets(t *testing.T) {
	t.Parallel()
	var logged bytes.Buffer
	em, err := emulator.New(slog.New(slog.NewJSONHandler(&logged, &slog.HandlerOptions{Level: slog.LevelDebug})))
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if err := em.Start(t.Context()); err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() { _ = em.Close() })
	reg := newRegistry(t, em, account, region)
	c := ecrClient(t, reg.ECREndpoint(), region)
	createRepo(t, c, "app", "")
	auth := login(t, c).(*authn.Basic)
	if err := push(t, reg.Host(), "app", "v1", randomImage(t), auth); err != nil {
		t.Fatalf("push: %v", err)
	}
	if err := em.AllowRole(roleARN, ""); err != nil {
		t.Fatalf("AllowRole: %v", err)
	}
	out, err := stsClient(t, em.STSEndpoint(), nil).AssumeRole(t.Context(), &sts.AssumeRoleInput{
		RoleArn: aws.String(roleARN), RoleSessionName: aws.String("ferry")})
	if err != nil {
		t.Fatalf("AssumeRole: %v", err)
	}
	calls, _ := json.Marshal(em.Calls())
	secrets := map[string]string{
		"registry password": auth.Password,
		"secret access key": aws.ToString(out.Credentials.SecretAccessKey),
		"session token":     aws.ToString(out.Credentials.SessionToken),
		"caller secret key": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
	}
	for what, s := range secrets {
		if bytes.Contains(calls, []byte(s)) {
			t.Errorf("request log contains the %s", what)
		}
		if bytes.Contains(logged.Bytes(), []byte(s)) {
			t.Errorf("logger output contains the %s", what)
		}
	}
	if !bytes.Contains(logged.Bytes(), []byte(`"operation":"AssumeRole"`)) || !bytes.Contains(calls, []byte(`"Operation":"CreateRepository"`)) {
		t.Errorf("log or request log misses calls:\n%s\n%s", logged.String(), calls)
	}
}
