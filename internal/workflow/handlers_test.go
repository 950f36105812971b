package workflow

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-lambda-go/lambda"

	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
)

// The wiring every Lambda's main does (LoadEnv, then the step's
// constructor), for every function: functions/<name>/handler.go and the
// local runner's NewHandler call the same two.
func TestNewHandler(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "ferry.yaml"), []byte(testConfig), 0o644); err != nil {
		t.Fatal(err)
	}
	base := map[string]string{
		EnvConfig: "ferry.yaml", EnvLambdaTaskRoot: dir,
		EnvApprovalTopic:  "arn:aws:sns:us-east-1:111111111111:ferry-approvals",
		EnvApprovalSecret: "arn:aws:secretsmanager:us-east-1:111111111111:secret:ferry",
		EnvApprovalURL:    "https://example.lambda-url.us-east-1.on.aws/",
	}
	with := func(k, v string) map[string]string {
		m := map[string]string{}
		for a, b := range base {
			m[a] = b
		}
		if v == "" {
			delete(m, k)
		} else {
			m[k] = v
		}
		return m
	}
	tests := []struct {
		name     string
		env      map[string]string
		function string // "" means every function
		wantErr  bool   // a *ConfigurationError
	}{
		{name: "complete environment", env: base},
		{name: "absolute FERRY_CONFIG", env: with(EnvConfig, filepath.Join(dir, "ferry.yaml"))},
		{name: "endpoints", env: with("FERRY_AWS_ENDPOINTS", `{"sts":"http://127.0.0.1:1","ecr":{"222222222222/eu-west-1":"http://127.0.0.1:2"}}`)},
		{name: "no FERRY_CONFIG", env: with(EnvConfig, ""), wantErr: true},
		{name: "FERRY_CONFIG missing", env: with(EnvConfig, "nope.yaml"), wantErr: true},
		{name: "FERRY_CONFIG relative without LAMBDA_TASK_ROOT", env: with(EnvLambdaTaskRoot, ""), wantErr: true},
		{name: "endpoints not JSON", env: with("FERRY_AWS_ENDPOINTS", `sts=http://x`), wantErr: true},
		{name: "endpoints unknown field", env: with("FERRY_AWS_ENDPOINTS", `{"sqs":"http://x"}`), wantErr: true},
		{name: "approval request without topic", env: with(EnvApprovalTopic, ""), function: FnApprovalRequest, wantErr: true},
		{name: "approval request without URL", env: with(EnvApprovalURL, ""), function: FnApprovalRequest, wantErr: true},
		{name: "approval TTL not a number", env: with(EnvApprovalTTL, "1h"), function: FnApprovalRequest, wantErr: true},
		{name: "approval TTL", env: with(EnvApprovalTTL, "600"), function: FnApprovalRequest},
	}
	for _, tt := range tests {
		fns := Functions
		if tt.function != "" {
			fns = []string{tt.function}
		}
		for _, fn := range fns {
			t.Run(tt.name+"/"+fn, func(t *testing.T) {
				t.Parallel()
				ctx := context.Background()
				env, err := LoadEnv(ctx, func(k string) string { return tt.env[k] }, awsconfig.WithRegion("us-east-1"),
					awsconfig.WithCredentialsProvider(credentials.NewStaticCredentialsProvider("FERRYLOCALTEST", fakeSecretKey, "")))
				var h any
				if err == nil {
					h, err = NewHandler(fn, slog0(), env)
				}
				if tt.wantErr {
					// A target of the subtest's own: errors.As writes to it,
					// and the subtests of one row run in parallel.
					var ce *ConfigurationError
					if !errors.As(err, &ce) {
						t.Fatalf("%v, want a %T", err, ce)
					}
					assertNoSecrets(t, err)
					return
				}
				if err != nil || h == nil {
					t.Fatalf("NewHandler(%s): %v", fn, err)
				}
			})
		}
	}
	if _, err := NewHandler("replicate", slog0(), &Env{}); err == nil {
		t.Error("NewHandler of an unknown function succeeded")
	}
}

// The local runner invokes one handler from every Map iteration at once:
// each invocation must get its own output, however the invocations
// interleave (lambda.NewHandler's Invoke fails this: its output buffer goes
// back to a shared pool before the caller reads it).
func TestHandlerConcurrentInvocations(t *testing.T) {
	t.Parallel()
	type msg struct {
		N   int    `json:"n"`
		Pad string `json:"pad"`
	}
	var h lambda.Handler = perCall{func(_ context.Context, in msg) (msg, error) { return in, nil }}
	const workers, calls = 16, 200
	pad := strings.Repeat("x", 512)
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Go(func() {
			for i := range calls {
				n := w*calls + i
				in, _ := json.Marshal(msg{N: n, Pad: pad})
				out, err := h.Invoke(context.Background(), in)
				if err != nil {
					errs <- err
					return
				}
				runtime.Gosched() // let another invocation run before this one reads its output
				var got msg
				if err := json.Unmarshal(out, &got); err != nil || got.N != n {
					errs <- fmt.Errorf("invocation %d got %.60q (%v)", n, out, err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}
