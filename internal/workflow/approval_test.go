package workflow

import (
	"context"
	"encoding/base64"
	"errors"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	sfntypes "github.com/aws/aws-sdk-go-v2/service/sfn/types"
	"github.com/aws/aws-sdk-go-v2/service/sns"

	"github.com/ferry-dev/ferry/internal/approval"
	"github.com/ferry-dev/ferry/internal/ecr"
)

type fakeSecrets struct {
	value string
	err   error
	calls int
}

func (f *fakeSecrets) GetSecretValue(context.Context, *secretsmanager.GetSecretValueInput, ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error) {
	f.calls++
	if f.err != nil {
		return nil, f.err
	}
	return &secretsmanager.GetSecretValueOutput{SecretString: aws.String(f.value)}, nil
}

type fakeSNS struct {
	err       error
	published []*sns.PublishInput
}

func (f *fakeSNS) Publish(_ context.Context, in *sns.PublishInput, _ ...func(*sns.Options)) (*sns.PublishOutput, error) {
	f.published = append(f.published, in)
	if f.err != nil {
		return nil, f.err
	}
	return &sns.PublishOutput{MessageId: aws.String("msg-1")}, nil
}

type fakeSFN struct {
	mu        sync.Mutex
	err       error
	successes []*sfn.SendTaskSuccessInput
	failures  []*sfn.SendTaskFailureInput
}

func (f *fakeSFN) SendTaskSuccess(_ context.Context, in *sfn.SendTaskSuccessInput, _ ...func(*sfn.Options)) (*sfn.SendTaskSuccessOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.successes = append(f.successes, in)
	return &sfn.SendTaskSuccessOutput{}, f.err
}

func (f *fakeSFN) SendTaskFailure(_ context.Context, in *sfn.SendTaskFailureInput, _ ...func(*sfn.Options)) (*sfn.SendTaskFailureOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.failures = append(f.failures, in)
	return &sfn.SendTaskFailureOutput{}, f.err
}

var (
	_ ecr.SNSAPI     = (*fakeSNS)(nil)
	_ ecr.SFNAPI     = (*fakeSFN)(nil)
	_ ecr.SecretsAPI = (*fakeSecrets)(nil)
)

func approvalEnv(t *testing.T) *Env {
	env := testEnv(t)
	vars := map[string]string{
		EnvApprovalTopic:  "arn:aws:sns:us-east-1:111111111111:ferry-approvals",
		EnvApprovalSecret: "arn:aws:secretsmanager:us-east-1:111111111111:secret:ferry-approval",
		EnvApprovalURL:    "https://approve.example/",
	}
	env.Getenv = func(k string) string { return vars[k] }
	return env
}

var linkRE = regexp.MustCompile(`(Approve|Reject): (\S+)`)

func TestApprovalRequest(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		token     string
		secrets   *fakeSecrets
		snsErr    error
		wantErr   any
		wantCalls int // Publish calls
	}{
		{name: "requested", token: fakeTaskToken, secrets: &fakeSecrets{value: fakeApprovalKey}, wantCalls: 1},
		{name: "no task token", token: "", secrets: &fakeSecrets{value: fakeApprovalKey}, wantErr: new(*ValidationError)},
		{name: "SNS throttled", token: fakeTaskToken, secrets: &fakeSecrets{value: fakeApprovalKey}, snsErr: apiErr("Throttling"), wantErr: new(*RetryableError), wantCalls: 1},
		{name: "SNS denied", token: fakeTaskToken, secrets: &fakeSecrets{value: fakeApprovalKey}, snsErr: apiErr("AuthorizationError"), wantErr: new(*AccessDeniedError), wantCalls: 1},
		{name: "key unreadable", token: fakeTaskToken, secrets: &fakeSecrets{err: apiErr("AccessDeniedException")}, wantErr: new(*AccessDeniedError)},
		{name: "key too short", token: fakeTaskToken, secrets: &fakeSecrets{value: "short"}, wantErr: new(*ConfigurationError)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			topic := &fakeSNS{err: tt.snsErr}
			log, logs := testLogger()
			step, err := NewApprovalRequest(log, approvalEnv(t), topic, tt.secrets)
			if err != nil {
				t.Fatal(err)
			}
			now := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
			step.now = func() time.Time { return now }
			out, err := step.Handle(context.Background(), ApprovalRequestPayload{Execution: "run-1", TaskToken: tt.token, Replication: Replication{Job: testJob(prodID)}})
			assertNoSecrets(t, out, err, logs.String())
			if len(topic.published) != tt.wantCalls {
				t.Errorf("%d messages published, want %d", len(topic.published), tt.wantCalls)
			}
			if tt.wantErr != nil {
				if !errors.As(err, tt.wantErr) {
					t.Fatalf("error %T %v, want %T", err, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !out.Requested || out.MessageID != "msg-1" || !out.Expires.Equal(now.Add(24*time.Hour)) {
				t.Errorf("result %+v", out)
			}
			msg := aws.ToString(topic.published[0].Message)
			links := linkRE.FindAllStringSubmatch(msg, -1)
			if len(links) != 2 {
				t.Fatalf("message has %d links, want approve and reject:\n%s", len(links), msg)
			}
			for _, l := range links {
				u, err := url.Parse(l[2])
				if err != nil {
					t.Fatal(err)
				}
				tk, err := approval.Check([]byte(fakeApprovalKey), u.Query().Get("ticket"), now)
				if err != nil || tk.TaskToken != fakeTaskToken || strings.ToLower(l[1]) != tk.Action || tk.Destination != prodID || tk.Digest != digestA {
					t.Errorf("%s link: ticket %+v, %v", l[1], tk, err)
				}
			}
		})
	}
}

func TestApprovalCallback(t *testing.T) {
	t.Parallel()
	now := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	ticket := func(action string, expires time.Time) string {
		s, err := approval.Sign([]byte(fakeApprovalKey), approval.Ticket{Action: action, TaskToken: fakeTaskToken, Destination: prodID,
			Repository: "team/app", Tag: "release-1.0", Digest: digestA, Execution: "run-1", Expires: expires})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	post := func(signed string) events.LambdaFunctionURLRequest {
		var r events.LambdaFunctionURLRequest
		r.RequestContext.HTTP.Method = http.MethodPost
		r.Body = base64.StdEncoding.EncodeToString([]byte("ticket=" + url.QueryEscape(signed)))
		r.IsBase64Encoded = true
		return r
	}
	get := func(signed string) events.LambdaFunctionURLRequest {
		var r events.LambdaFunctionURLRequest
		r.RequestContext.HTTP.Method = http.MethodGet
		r.QueryStringParameters = map[string]string{"ticket": signed}
		return r
	}
	valid := now.Add(time.Hour)
	tests := []struct {
		name        string
		req         events.LambdaFunctionURLRequest
		sfnErr      error
		secrets     *fakeSecrets
		wantStatus  int
		wantErr     any
		wantSuccess int
		wantFailure int
	}{
		{name: "GET only asks to confirm", req: get(ticket(approval.Approve, valid)), wantStatus: http.StatusOK},
		{name: "POST approve", req: post(ticket(approval.Approve, valid)), wantStatus: http.StatusOK, wantSuccess: 1},
		{name: "POST reject", req: post(ticket(approval.Reject, valid)), wantStatus: http.StatusOK, wantFailure: 1},
		{name: "expired", req: post(ticket(approval.Approve, now.Add(-time.Second))), wantStatus: http.StatusGone},
		{name: "forged", req: post(ticket(approval.Approve, valid)[:20] + "x" + ticket(approval.Approve, valid)[21:]), wantStatus: http.StatusForbidden},
		{name: "no ticket", req: post(""), wantStatus: http.StatusForbidden},
		{name: "replayed (task already decided)", req: post(ticket(approval.Approve, valid)), sfnErr: &sfntypes.InvalidToken{Message: aws.String("done")},
			wantStatus: http.StatusGone, wantSuccess: 1},
		{name: "wait already over", req: post(ticket(approval.Reject, valid)), sfnErr: &sfntypes.TaskTimedOut{Message: aws.String("timed out")},
			wantStatus: http.StatusGone, wantFailure: 1},
		{name: "Step Functions throttled", req: post(ticket(approval.Approve, valid)), sfnErr: apiErr("ThrottlingException"),
			wantErr: new(*RetryableError), wantSuccess: 1},
		{name: "key unreadable", req: post(ticket(approval.Approve, valid)), secrets: &fakeSecrets{err: apiErr("AccessDeniedException")},
			wantStatus: http.StatusInternalServerError},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			states := &fakeSFN{err: tt.sfnErr}
			secrets := tt.secrets
			if secrets == nil {
				secrets = &fakeSecrets{value: fakeApprovalKey}
			}
			log, logs := testLogger()
			step := NewApprovalCallback(log, approvalEnv(t), states, secrets)
			step.now = func() time.Time { return now }
			resp, err := step.Handle(context.Background(), tt.req)
			// The page may carry the signed ticket (that is the link the
			// person already has), never the bare task token.
			assertNoSecrets(t, err, logs.String(), resp.Body)
			if len(states.successes) != tt.wantSuccess || len(states.failures) != tt.wantFailure {
				t.Errorf("SendTaskSuccess ×%d, SendTaskFailure ×%d; want ×%d, ×%d", len(states.successes), len(states.failures), tt.wantSuccess, tt.wantFailure)
			}
			for _, s := range states.successes {
				if aws.ToString(s.TaskToken) != fakeTaskToken || !strings.Contains(aws.ToString(s.Output), `"decision":"approved"`) {
					t.Errorf("SendTaskSuccess %+v", s)
				}
			}
			for _, f := range states.failures {
				if aws.ToString(f.TaskToken) != fakeTaskToken || aws.ToString(f.Error) != ErrorApprovalRejected {
					t.Errorf("SendTaskFailure %+v", f)
				}
			}
			if tt.wantErr != nil {
				if !errors.As(err, tt.wantErr) {
					t.Fatalf("error %T %v, want %T", err, err, tt.wantErr)
				}
				return
			}
			if err != nil || resp.StatusCode != tt.wantStatus {
				t.Fatalf("status %d, %v; want %d", resp.StatusCode, err, tt.wantStatus)
			}
			if resp.Headers["Cache-Control"] != "no-store" {
				t.Errorf("headers %v", resp.Headers)
			}
		})
	}
}
