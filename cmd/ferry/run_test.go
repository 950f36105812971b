package main

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/ferry-dev/ferry/internal/runner"
	"github.com/ferry-dev/ferry/test/e2e"
)

// ferryWorkflow runs the command as main does and returns its exit code.
func ferryWorkflow(args ...string) (code int, stdout, stderr string) {
	var out, errOut bytes.Buffer
	code = report(&errOut, runRun(context.Background(), args, &out, &errOut))
	return code, out.String(), errOut.String()
}

// localRun is what the tests of a local run start from: a world on the
// emulator (deny names destinations that refuse Ferry's role), with
// team/app:tag pushed (at digest), its push event in a file, the
// endpoints as JSON, and the checkout's node_modules.
type localRun struct {
	w                                          *e2e.World
	dir, digest, event, endpoints, nodeModules string
}

func newLocalRun(t *testing.T, tag string, seed uint64, deny ...string) localRun {
	t.Helper()
	t.Setenv("FERRY_AWS_ENDPOINTS", "")
	ctx := context.Background()
	lr := localRun{dir: t.TempDir()}
	w, err := e2e.NewWorld(ctx, lr.dir, slog.New(slog.DiscardHandler), deny...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Emulator.Close() })
	lr.w = w
	if err := w.CreateSourceRepository(ctx); err != nil {
		t.Fatal(err)
	}
	if lr.digest, err = w.PushImage(ctx, tag, seed); err != nil {
		t.Fatal(err)
	}
	lr.event = filepath.Join(lr.dir, "event.json")
	if err := os.WriteFile(lr.event, e2e.PushEvent(e2e.Repository, tag, lr.digest), 0o644); err != nil {
		t.Fatal(err)
	}
	endpoints, _ := json.Marshal(w.Endpoints)
	lr.endpoints = string(endpoints)
	_, file, _, _ := runtime.Caller(0)
	lr.nodeModules = filepath.Join(filepath.Dir(file), "..", "..", "node_modules")
	if _, err := os.Stat(filepath.Join(lr.nodeModules, "aws-local-stepfunctions")); err != nil {
		t.Fatalf("%v: run `make node_modules/.installed` (npm ci) first", err)
	}
	return lr
}

func TestRunUsage(t *testing.T) {
	t.Setenv("FERRY_AWS_ENDPOINTS", "") // the --endpoints default
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	event := write("event.json", `{"repository":"team/app","tag":"release-1.0"}`)
	notJSON := write("bad.json", `{"repository":`)
	cfg := write("ferry.yaml", e2e.Config)
	tests := []struct {
		name       string
		args       []string
		wantCode   int
		wantStderr string
		wantStdout string
	}{
		{name: "no flags", args: nil, wantCode: exitUsage, wantStderr: "run needs --config and --event"},
		{name: "no event", args: []string{"--config", cfg}, wantCode: exitUsage, wantStderr: "run needs --config and --event"},
		{name: "no config", args: []string{"--event", event}, wantCode: exitUsage, wantStderr: "run needs --config and --event"},
		{name: "an argument", args: []string{"--config", cfg, "--event", event, "extra"}, wantCode: exitUsage, wantStderr: "run takes no arguments"},
		{name: "flags after the event file", args: []string{"--event", event, "--config"}, wantCode: exitUsage, wantStderr: "--config needs a value: --config FILE (run 'ferry run --help' for the flags)"},
		{name: "event and redrive", args: []string{"--config", cfg, "--event", event, "--redrive", event}, wantCode: exitUsage, wantStderr: "--event or --redrive, not both"},
		{name: "unknown flag", args: []string{"--confg", cfg}, wantCode: exitUsage, wantStderr: "unknown flag --confg; did you mean --config?"},
		{name: "bad duration", args: []string{"--config", cfg, "--event", event, "--approval-timeout", "soon"}, wantCode: exitUsage, wantStderr: `--approval-timeout "soon": want DURATION (e.g. 90s, 30m or 2h)`},
		{name: "event file missing", args: []string{"--config", cfg, "--event", filepath.Join(dir, "none.json")}, wantCode: exitUsage, wantStderr: "--event: open"},
		{name: "event not JSON", args: []string{"--config", cfg, "--event", notJSON}, wantCode: exitUsage, wantStderr: "--event: " + notJSON + " is not JSON"},
		{name: "endpoints not JSON", args: []string{"--config", cfg, "--event", event, "--endpoints", "sts=http://127.0.0.1:1"}, wantCode: exitUsage, wantStderr: "want JSON"},
		{name: "endpoints JSON broken", args: []string{"--config", cfg, "--event", event, "--endpoints", `{"sts":`}, wantCode: exitUsage, wantStderr: "--endpoints: "},
		{name: "endpoints unknown service", args: []string{"--config", cfg, "--event", event, "--endpoints", `{"sqs":"http://127.0.0.1:1"}`}, wantCode: exitUsage, wantStderr: `unknown field "sqs"`},
		{name: "endpoints ecr key not account/region", args: []string{"--config", cfg, "--event", event, "--endpoints", `{"ecr":{"222222222222":"http://127.0.0.1:1"}}`}, wantCode: exitUsage, wantStderr: `want "account/region"`},
		{name: "endpoints file missing", args: []string{"--config", cfg, "--event", event, "--endpoints", "@" + filepath.Join(dir, "none.json")}, wantCode: exitUsage, wantStderr: "--endpoints: open"},
		{name: "concurrency over the inline Map's", args: []string{"--config", cfg, "--event", event, "--max-concurrency", "41"}, wantCode: exitUsage,
			wantStderr: "--max-concurrency: maxConcurrency 41: want 1 to 40"},
		{name: "approve mode", args: []string{"--config", cfg, "--event", event, "--approve", "yes"}, wantCode: exitUsage, wantStderr: `--approve "yes": want prompt, approve, reject or none`},
		{name: "definition missing", args: []string{"--config", cfg, "--event", event, "--definition", filepath.Join(dir, "none.asl.json")}, wantCode: exitUsage, wantStderr: "--definition: open"},
		{name: "help", args: []string{"--help"}, wantCode: exitOK, wantStdout: "Usage: ferry run --config FILE --event FILE"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr := ferryWorkflow(tt.args...)
			if code != tt.wantCode || !strings.Contains(stderr, tt.wantStderr) || !strings.Contains(stdout, tt.wantStdout) {
				t.Errorf("exit %d, stderr %q, stdout %q; want %d, %q and %q", code, stderr, stdout, tt.wantCode, tt.wantStderr, tt.wantStdout)
			}
			if tt.wantCode == exitUsage && strings.Count(stderr, "\n") != 1 {
				t.Errorf("a usage error should be one line on stderr, got %q", stderr)
			}
			if tt.wantCode == exitUsage && stdout != "" {
				t.Errorf("a usage error started a run: stdout %q", stdout)
			}
		})
	}
}

// One real run: the emulator of the end-to-end scenario, a push event for
// a release, every destination copied (production approved by the flag).
func TestRunEmulator(t *testing.T) {
	lr := newLocalRun(t, "release-3.1", 7)
	w, event, endpoints, nodeModules := lr.w, lr.event, lr.endpoints, lr.nodeModules

	code, stdout, stderr := ferryWorkflow("--config", w.ConfigPath, "--event", event, "--endpoints", endpoints,
		"--approve", "approve", "--node-modules", nodeModules)
	if code != exitOK {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	for _, want := range []string{"▶ ferry run — ECR push event: team/app:release-3.1", "approved by ferry run --approve=approve",
		"● Execution succeeded", ": SUCCEEDED in "} {
		if !strings.Contains(stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, stdout)
		}
	}
	for _, id := range e2e.Destinations {
		if ok, err := w.HasTag(context.Background(), id, "release-3.1"); !ok || err != nil {
			t.Errorf("%s: release-3.1 not copied (%v)", id, err)
		}
	}
	if stderr != "" {
		t.Errorf("stderr %q", stderr)
	}
}

// What ferry run says when it answers an approval request, or leaves it.
func TestApprovalNotices(t *testing.T) {
	t.Parallel()
	m := runner.ApprovalMessage{Subject: "Approve team/app:release-1 to production"}
	var out strings.Builder
	if err := announce(&out, "rejected", "reject", func(context.Context, runner.ApprovalMessage) error { return nil })(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	if want := "rejected by ferry run --approve=reject "; !strings.Contains(out.String(), want) {
		t.Errorf("announce printed %q, want it to contain %q", out.String(), want)
	}
	out.Reset()
	if err := unanswered(&out, "the default when standard input is not a terminal", time.Hour)(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{m.Subject, "not answered here (--approve none, the default when standard input is not a terminal)", "fails after 1h0m0s", "--approve prompt, approve or reject"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("unanswered printed %q, want it to contain %q", out.String(), want)
		}
	}
}

func TestCauseText(t *testing.T) {
	t.Parallel()
	for cause, want := range map[string]string{
		`{"errorMessage":"2 of 3 destinations failed","errorType":"ReplicationFailed"}`: "2 of 3 destinations failed",
		"States.Timeout": "States.Timeout",
		`{"other":1}`:    `{"other":1}`,
	} {
		if got := runner.CauseText(cause); got != want {
			t.Errorf("CauseText(%q) = %q, want %q", cause, got, want)
		}
	}
}
