package workflow

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
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

func approvalKeys(t *testing.T) *approval.Keys {
	t.Helper()
	k, err := approval.NewKeys([]byte(fakeApprovalKey))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// spellings are the ways s could show in a link, a page or a log line:
// itself, URL-escaped, hex, and base64 (standard and URL alphabets) at each
// of the three alignments it can have inside a longer encoded text.
func spellings(s string) []string {
	out := []string{s, url.QueryEscape(s), hex.EncodeToString([]byte(s))}
	for _, enc := range []*base64.Encoding{base64.RawStdEncoding, base64.RawURLEncoding} {
		for shift := range 3 {
			e := enc.EncodeToString([]byte(strings.Repeat("\x00", shift) + s))
			out = append(out, e[(shift*4+2)/3:len(e)-2]) // without the characters shared with the neighbours
		}
	}
	return out
}

// assertNoToken fails if any of texts shows the task token or the approval
// key in any spelling (assertNoSecrets looks for them as they are).
func assertNoToken(t *testing.T, texts ...string) {
	t.Helper()
	for _, text := range texts {
		for _, secret := range []string{fakeTaskToken, fakeApprovalKey} {
			for _, sp := range spellings(secret) {
				if strings.Contains(text, sp) {
					t.Errorf("%.12s… shows as %q in %.300s", secret, sp, text)
				}
			}
		}
	}
}

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
			outJSON, _ := json.Marshal(out)
			assertNoToken(t, string(outJSON), logs.String())
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
			// Neither link, nor anything else in the message, shows the
			// task token: not as it is, not in base64 or hex.
			assertNoToken(t, msg, aws.ToString(topic.published[0].Subject))
			links := linkRE.FindAllStringSubmatch(msg, -1)
			if len(links) != 2 {
				t.Fatalf("message has %d links, want approve and reject:\n%s", len(links), msg)
			}
			keys := approvalKeys(t)
			for _, l := range links {
				u, err := url.Parse(l[2])
				if err != nil {
					t.Fatal(err)
				}
				ticket := u.Query().Get("ticket")
				if !strings.HasPrefix(ticket, "v2.") {
					t.Errorf("%s link: ticket %q is not sealed", l[1], ticket)
				}
				tk, err := keys.Open(ticket, now)
				if err != nil || tk.TaskToken != fakeTaskToken || strings.ToLower(l[1]) != tk.Action || tk.Destination != prodID || tk.Digest != digestA ||
					tk.Legacy || !tk.Expires.Equal(out.Expires) {
					t.Errorf("%s link: ticket %+v, %v", l[1], tk, err)
				}
			}
		})
	}
}

// signLegacy makes a ticket in the format sent before sealed tickets
// (HMAC-SHA256 over the base64url JSON, the task token in the clear), as
// the earlier approval.Sign did.
func signLegacy(action string, expires time.Time) string {
	body, _ := json.Marshal(map[string]any{"a": action, "t": fakeTaskToken, "d": prodID, "r": "team/app", "g": "release-1.0",
		"i": digestA, "x": "run-1", "e": expires})
	p := base64.RawURLEncoding.EncodeToString(body)
	h := hmac.New(sha256.New, []byte(fakeApprovalKey))
	h.Write([]byte("ferry-approval-v1\x00" + p))
	return p + "." + base64.RawURLEncoding.EncodeToString(h.Sum(nil))
}

const approverIP = "203.0.113.7"

func postTicket(ticket string, extra url.Values) events.LambdaFunctionURLRequest {
	var r events.LambdaFunctionURLRequest
	r.RequestContext.HTTP.Method = http.MethodPost
	r.RequestContext.HTTP.SourceIP = approverIP
	form := url.Values{"ticket": {ticket}}
	for k, v := range extra {
		form[k] = v
	}
	r.Body = base64.StdEncoding.EncodeToString([]byte(form.Encode()))
	r.IsBase64Encoded = true
	return r
}

func TestApprovalCallback(t *testing.T) {
	t.Parallel()
	now := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	keys := approvalKeys(t)
	ticket := func(action string, expires time.Time) string {
		s, err := keys.Seal(approval.Ticket{Action: action, TaskToken: fakeTaskToken, Destination: prodID,
			Repository: "team/app", Tag: "release-1.0", Digest: digestA, Execution: "run-1", Expires: expires})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	post := func(sealed string) events.LambdaFunctionURLRequest { return postTicket(sealed, nil) }
	get := func(sealed string) events.LambdaFunctionURLRequest {
		var r events.LambdaFunctionURLRequest
		r.RequestContext.HTTP.Method = http.MethodGet
		r.RequestContext.HTTP.SourceIP = approverIP
		r.QueryStringParameters = map[string]string{"ticket": sealed}
		return r
	}
	valid := now.Add(time.Hour)
	approve := ticket(approval.Approve, valid)
	// The ticket with one character changed in the middle of its ciphertext.
	mid, c := len(approve)/2, "A"
	if approve[mid] == 'A' {
		c = "B"
	}
	forged := approve[:mid] + c + approve[mid+1:]
	// A reject link, POSTed with everything a request could add to ask for
	// approval instead.
	rejectAsApprove := postTicket(ticket(approval.Reject, valid), url.Values{"action": {"approve"}, "a": {"approve"}, "decision": {"approved"}})
	rejectAsApprove.QueryStringParameters = map[string]string{"ticket": approve, "action": "approve"}
	tests := []struct {
		name        string
		req         events.LambdaFunctionURLRequest
		sfnErr      error
		secrets     *fakeSecrets
		wantStatus  int
		wantErr     any
		wantSuccess int
		wantFailure int
		wantVia     string // of the decision reported
	}{
		{name: "GET only asks to confirm", req: get(approve), wantStatus: http.StatusOK},
		{name: "POST approve", req: post(approve), wantStatus: http.StatusOK, wantSuccess: 1, wantVia: "sealed link"},
		{name: "POST reject", req: post(ticket(approval.Reject, valid)), wantStatus: http.StatusOK, wantFailure: 1, wantVia: "sealed link"},
		{name: "reject link with approval asked for in the request", req: rejectAsApprove, wantStatus: http.StatusOK, wantFailure: 1, wantVia: "sealed link"},
		{name: "expired", req: post(ticket(approval.Approve, now.Add(-time.Second))), wantStatus: http.StatusGone},
		{name: "forged", req: post(forged), wantStatus: http.StatusForbidden},
		{name: "no ticket", req: post(""), wantStatus: http.StatusForbidden},
		{name: "pre-upgrade approve link", req: post(signLegacy(approval.Approve, valid)), wantStatus: http.StatusOK, wantSuccess: 1, wantVia: "signed link"},
		{name: "pre-upgrade reject link", req: post(signLegacy(approval.Reject, valid)), wantStatus: http.StatusOK, wantFailure: 1, wantVia: "signed link"},
		{name: "pre-upgrade link expired", req: post(signLegacy(approval.Approve, now)), wantStatus: http.StatusGone},
		{name: "replayed (task already decided)", req: post(approve), sfnErr: &sfntypes.InvalidToken{Message: aws.String("done")},
			wantStatus: http.StatusGone, wantSuccess: 1, wantVia: "sealed link"},
		{name: "wait already over", req: post(ticket(approval.Reject, valid)), sfnErr: &sfntypes.TaskTimedOut{Message: aws.String("timed out")},
			wantStatus: http.StatusGone, wantFailure: 1, wantVia: "sealed link"},
		{name: "Step Functions throttled", req: post(approve), sfnErr: apiErr("ThrottlingException"),
			wantErr: new(*RetryableError), wantSuccess: 1, wantVia: "sealed link"},
		{name: "key unreadable", req: post(approve), secrets: &fakeSecrets{err: apiErr("AccessDeniedException")},
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
			// The page may carry the sealed ticket (that is the link the
			// person already has), never the task token in any spelling.
			assertNoSecrets(t, err, logs.String(), resp.Body)
			assertNoToken(t, logs.String(), resp.Body)
			if len(states.successes) != tt.wantSuccess || len(states.failures) != tt.wantFailure {
				t.Errorf("SendTaskSuccess ×%d, SendTaskFailure ×%d; want ×%d, ×%d", len(states.successes), len(states.failures), tt.wantSuccess, tt.wantFailure)
			}
			for _, s := range states.successes {
				// The decision: which link, when, from where; never the token.
				var d ApprovalDecision
				if err := json.Unmarshal([]byte(aws.ToString(s.Output)), &d); err != nil {
					t.Fatal(err)
				}
				want := ApprovalDecision{Decision: "approved", DecidedAt: now, Via: tt.wantVia, Link: approval.Approve, SourceIP: approverIP}
				if aws.ToString(s.TaskToken) != fakeTaskToken || d != want {
					t.Errorf("SendTaskSuccess output %s, want %+v", aws.ToString(s.Output), want)
				}
				assertNoSecrets(t, aws.ToString(s.Output))
				assertNoToken(t, aws.ToString(s.Output))
			}
			for _, f := range states.failures {
				want := "rejected by an approver through the reject link at 2025-06-01T12:00:00Z from " + approverIP + " (" + tt.wantVia + ")"
				if aws.ToString(f.TaskToken) != fakeTaskToken || aws.ToString(f.Error) != ErrorApprovalRejected || aws.ToString(f.Cause) != want {
					t.Errorf("SendTaskFailure error %q cause %q, want %q", aws.ToString(f.Error), aws.ToString(f.Cause), want)
				}
				assertNoSecrets(t, aws.ToString(f.Cause))
				assertNoToken(t, aws.ToString(f.Cause))
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
			// Every answer is logged with the address it came from.
			if !strings.Contains(logs.String(), `"source_ip":"`+approverIP+`"`) {
				t.Errorf("log without the source IP:\n%s", logs.String())
			}
		})
	}
}

// The decision is in the log as well: which link, when, from which address,
// by which kind of link.
func TestApprovalCallbackLogsTheDecision(t *testing.T) {
	t.Parallel()
	now := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	keys := approvalKeys(t)
	for _, action := range []string{approval.Approve, approval.Reject} {
		sealed, err := keys.Seal(approval.Ticket{Action: action, TaskToken: fakeTaskToken, Destination: prodID, Repository: "team/app",
			Tag: "release-1.0", Digest: digestA, Execution: "run-1", Expires: now.Add(time.Hour)})
		if err != nil {
			t.Fatal(err)
		}
		log, logs := testLogger()
		step := NewApprovalCallback(log, approvalEnv(t), &fakeSFN{}, &fakeSecrets{value: fakeApprovalKey})
		step.now = func() time.Time { return now }
		if _, err := step.Handle(context.Background(), postTicket(sealed, nil)); err != nil {
			t.Fatal(err)
		}
		var line map[string]any
		for l := range strings.SplitSeq(strings.TrimSpace(logs.String()), "\n") {
			if err := json.Unmarshal([]byte(l), &line); err == nil && line["msg"] == "approval decided" {
				break
			}
			line = nil
		}
		want := map[string]any{"link": action, "decision": map[string]string{approval.Approve: "approved", approval.Reject: "rejected"}[action],
			"decided_at": "2025-06-01T12:00:00Z", "source_ip": approverIP, "via": "sealed link", "execution": "run-1", "destination": prodID}
		for k, v := range want {
			if line[k] != v {
				t.Errorf("%s: log %q = %v, want %v (line %v)", action, k, line[k], v, line)
			}
		}
	}
}

// Any change to a link's ticket, one character anywhere, is refused before
// Step Functions is called.
func TestApprovalCallbackRefusesEveryChange(t *testing.T) {
	t.Parallel()
	now := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	keys := approvalKeys(t)
	states := &fakeSFN{}
	log, _ := testLogger()
	step := NewApprovalCallback(log, approvalEnv(t), states, &fakeSecrets{value: fakeApprovalKey})
	step.now = func() time.Time { return now }
	for _, action := range []string{approval.Approve, approval.Reject} {
		sealed, err := keys.Seal(approval.Ticket{Action: action, TaskToken: fakeTaskToken, Destination: prodID, Expires: now.Add(time.Hour)})
		if err != nil {
			t.Fatal(err)
		}
		for i := range len(sealed) {
			c := byte('A')
			if sealed[i] == 'A' {
				c = 'B'
			}
			resp, err := step.Handle(context.Background(), postTicket(sealed[:i]+string(c)+sealed[i+1:], nil))
			if err != nil || resp.StatusCode != http.StatusForbidden {
				t.Fatalf("%s ticket changed at %d: status %d, %v; want 403", action, i, resp.StatusCode, err)
			}
		}
	}
	if len(states.successes)+len(states.failures) != 0 {
		t.Errorf("changed tickets reached Step Functions: ×%d success, ×%d failure", len(states.successes), len(states.failures))
	}
}

func TestSourceIP(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"203.0.113.7":               "203.0.113.7",
		"2001:DB8:0:0:0:0:0:1":      "2001:db8::1",
		"fe80::1%eth0":              "fe80::1",
		"":                          "",
		"203.0.113.7:443":           "",
		"<script>alert(1)</script>": "",
	} {
		if got := sourceIP(in); got != want {
			t.Errorf("sourceIP(%q) = %q, want %q", in, got, want)
		}
	}
}
