package main

import (
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ferry-dev/ferry/internal/cli"
	"github.com/ferry-dev/ferry/internal/runner"
)

func TestDescribeInput(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ in, want string }{
		{`{"repository":"team/app","tag":"v1"}`, "— manual input: team/app:v1"},
		{`{"repository":"team/app","digest":"sha256:abc"}`, "— manual input: team/app@sha256:abc"},
		{`{"repository":"team/app","destinations":"111111111111/us-east-1"}`, "— manual input: team/app (no tag or digest)"},
		{`{"detail-type":"ECR Image Action","detail":{"action-type":"PUSH","repository-name":"team/app","image-tag":"v1","image-digest":"sha256:abc"}}`,
			"— ECR push event: team/app:v1"},
		{`{"detail-type":"ECR Image Action","detail":{"action-type":"PUSH","repository-name":"team/app","image-digest":"sha256:abc"}}`,
			"— ECR push event: team/app@sha256:abc"},
		{`{"detail-type":"ECR Image Action","detail":{"action-type":"DELETE","repository-name":"team/app","image-tag":"v1"}}`, "— ECR delete event: team/app:v1"},
		{`{"detail-type":"ECR Image Action","detail":"team/app:v1"}`, "— ECR push event: (no repository) (no tag or digest)"},
		{`{"detail-type":"Object Created"}`, `— event "Object Created"`},
		{`{"dryRun":true}`, `— reconcile {"dryRun":true}`},
		{`[1]`, "(input is not a JSON object)"},
	} {
		if got := describeInput([]byte(tc.in)); got != tc.want {
			t.Errorf("describeInput(%s) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// The redrive hint repeats the flags the redrive needs: the endpoints (or
// it would go to AWS), what fills in the definition, and the approvals.
func TestRedriveHint(t *testing.T) {
	t.Parallel()
	fs := cli.NewFlagSet("ferry run", "")
	for _, name := range []string{"config", "endpoints", "event", "record", "approve", "definition"} {
		fs.String(name, "", "")
	}
	fs.Int("max-concurrency", 10, "")
	fs.Bool("json", false, "")
	if _, err := cli.Parse(fs, []string{"--config", "ferry.yaml", "--event", "e.json", "--endpoints", `{"sts":"http://127.0.0.1:1"}`,
		"--approve", "approve", "--max-concurrency", "3", "--record", "run 1.json", "--json"}); err != nil {
		t.Fatal(err)
	}
	want := `ferry run --config ferry.yaml --endpoints '{"sts":"http://127.0.0.1:1"}' --max-concurrency 3 --approve approve --redrive 'run 1.json'`
	if got := redriveHint(fs, "run 1.json", "run 1.json.s3"); got != want {
		t.Errorf("redriveHint = %s\nwant           %s", got, want)
	}
	if got := redriveHint(fs, "r.json", "/tmp/s3"); !strings.HasSuffix(got, " --redrive r.json --s3-dir /tmp/s3") {
		t.Errorf("redriveHint with another S3 directory = %s", got)
	}
}

// Ctrl-C at the approval prompt ends the wait for an answer at once; an
// answer approves or rejects; the end of the input rejects.
func TestPromptApprover(t *testing.T) {
	t.Parallel()
	var decided []string
	approve := func(context.Context, runner.ApprovalMessage) error { decided = append(decided, "approve"); return nil }
	reject := func(context.Context, runner.ApprovalMessage) error { decided = append(decided, "reject"); return nil }
	m := runner.ApprovalMessage{Subject: "Ferry: approve team/app:v1 to 222222222222/eu-west-1?", Message: "Approve: https://x\nwhy\n"}

	runCtx, interrupt := context.WithCancelCause(context.Background())
	in, feed := io.Pipe()
	defer feed.Close()
	var out strings.Builder
	ask := promptApprover(runCtx, in, &out, approve, reject)
	go func() { _, _ = io.WriteString(feed, "y\n") }()
	if err := ask(context.Background(), m); err != nil || len(decided) != 1 || decided[0] != "approve" {
		t.Fatalf("answer y: %v, decided %v", err, decided)
	}
	done := make(chan error, 1)
	go func() { done <- ask(context.Background(), m) }()
	interrupt(cli.Interrupted{})
	select {
	case err := <-done:
		if _, ok := errors.AsType[cli.Interrupted](err); !ok || len(decided) != 1 {
			t.Errorf("interrupted prompt: %v, decided %v; want the interruption and no decision", err, decided)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the prompt still waits for an answer after Ctrl-C")
	}
	if strings.Contains(out.String(), "https://x") || !strings.Contains(out.String(), "Approve? [y/N]") {
		t.Errorf("prompt printed %q", out.String())
	}

	ask = promptApprover(context.Background(), strings.NewReader("n\n"), io.Discard, approve, reject)
	if err := ask(context.Background(), m); err != nil || decided[len(decided)-1] != "reject" {
		t.Errorf("answer n: %v, decided %v", err, decided)
	}
	if err := ask(context.Background(), m); err != nil || len(decided) != 3 || decided[2] != "reject" {
		t.Errorf("end of input: %v, decided %v; want a rejection", err, decided)
	}
}

// Without --endpoints and without AWS credentials, ferry run fails before
// it starts, with one line. (Not parallel: it sets the AWS environment.)
func TestRunWithoutAWSCredentials(t *testing.T) {
	dir := t.TempDir()
	for k, v := range map[string]string{
		"FERRY_AWS_ENDPOINTS": "", "AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": "", "AWS_SESSION_TOKEN": "", "AWS_PROFILE": "",
		"AWS_CONFIG_FILE": filepath.Join(dir, "config"), "AWS_SHARED_CREDENTIALS_FILE": filepath.Join(dir, "credentials"),
		"AWS_EC2_METADATA_DISABLED": "true", "AWS_CONTAINER_CREDENTIALS_FULL_URI": "", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI": "", "AWS_WEB_IDENTITY_TOKEN_FILE": "",
	} {
		t.Setenv(k, v)
	}
	cfg := filepath.Join(dir, "ferry.yaml")
	event := filepath.Join(dir, "event.json")
	if err := os.WriteFile(cfg, []byte("version: 1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(event, []byte(`{"repository":"team/app","tag":"v1"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr := ferryWorkflow("--config", cfg, "--event", event, "--approve", "none")
	if code != exitUsage || stdout != "" || strings.Count(stderr, "\n") != 1 ||
		!strings.Contains(stderr, "found no AWS credentials") || !strings.Contains(stderr, "--endpoints @endpoints.json") {
		t.Errorf("exit %d, stdout %q, stderr %q; want one line about the missing credentials", code, stdout, stderr)
	}
}

// Outside a checkout, without npm, ferry run says what it looked at and
// the command that installs what it needs; with npm, it installs them.
func TestFindInterpreterCommand(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	cache := filepath.Join(root, "cache", "ferry", "local-stepfunctions-x")
	s := runner.Search{Starts: []string{root}, CacheDir: cache, LookPath: func(string) (string, error) { return "", exec.ErrNotFound }}
	var stderr strings.Builder
	_, err := findInterpreter(context.Background(), s, &stderr)
	if _, ok := errors.AsType[usageError](err); !ok || !strings.Contains(err.Error(), "npm install --prefix "+cache) || stderr.Len() > 0 {
		t.Errorf("no npm: %v (stderr %q); want a usage error with the install command", err, stderr.String())
	}

	npm := filepath.Join(root, "npm")
	script := "#!/bin/sh\nmkdir -p node_modules/.bin node_modules/aws-local-stepfunctions/build\nprintf '#!/bin/sh\\necho v22.23.3\\n' > node_modules/.bin/node\nchmod +x node_modules/.bin/node\n: > node_modules/aws-local-stepfunctions/build/main.node.esm.js\n"
	if err := os.WriteFile(npm, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	s.LookPath = func(string) (string, error) { return npm, nil }
	nm, err := findInterpreter(context.Background(), s, &stderr)
	if err != nil || nm != filepath.Join(cache, "node_modules") || !strings.Contains(stderr.String(), "installing Node 22 and aws-local-stepfunctions into "+cache) {
		t.Errorf("with npm: %q, %v, stderr %q; want it installed into %s", nm, err, stderr.String(), cache)
	}
}
