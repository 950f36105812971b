package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/ferry-dev/ferry/internal/status"
	"github.com/ferry-dev/ferry/test/e2e"
)

func ferryStatus(args ...string) (code int, stdout, stderr string) {
	var out, errOut bytes.Buffer
	code = report(&errOut, runStatus(context.Background(), args, &out, &errOut))
	return code, out.String(), errOut.String()
}

// checkWidth fails the test for any line wider than 100 columns.
func checkWidth(t *testing.T, out string) {
	t.Helper()
	for _, l := range strings.Split(out, "\n") {
		if n := utf8.RuneCountInString(l); n > 100 {
			t.Errorf("line of %d columns: %q", n, l)
		}
	}
}

// redriveCommand returns the redrive command status printed, as the shell
// reads it: one line per word, continuations joined.
func redriveCommand(t *testing.T, out string) []string {
	t.Helper()
	_, after, ok := strings.Cut(out, "(only the failed destinations are replicated again):\n")
	if !ok {
		t.Fatalf("no redrive command in:\n%s", out)
	}
	block, _, _ := strings.Cut(after, "\n\n")
	return strings.Fields(strings.ReplaceAll(block, "\\\n", ""))
}

// A real local run fails at one destination and is recorded; ferry status
// on the record shows each destination's outcome and the redrive command;
// that command, run as printed, replicates the failed destination, and
// status then shows the execution succeeded after one redrive.
func TestStatusLocalRun(t *testing.T) {
	lr := newLocalRun(t, "release-3.2", 8, e2e.Staging)
	w, dir, event := lr.w, lr.dir, lr.event
	endpoints := filepath.Join(dir, "endpoints.json")
	runs := filepath.Join(dir, "runs")
	if err := os.WriteFile(endpoints, []byte(lr.endpoints), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(runs, 0o755); err != nil {
		t.Fatal(err)
	}
	// Not an execution: status passes over it in a directory.
	if err := os.WriteFile(filepath.Join(runs, "notes.json"), []byte(`{"note": "not a run"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	record := filepath.Join(runs, "first.json")
	code, stdout, stderr := ferryWorkflow("--config", w.ConfigPath, "--endpoints", "@"+endpoints, "--approve", "approve", "--event", event, "--record", record)
	if code != exitFailed {
		t.Fatalf("first run: exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}

	code, out, errOut := ferryStatus("--record", runs, "--config", w.ConfigPath, "--endpoints", endpoints)
	if code != exitOK {
		t.Fatalf("status: exit %d: %s", code, errOut)
	}
	checkWidth(t, strings.ReplaceAll(out, "  record: "+record, ""))
	for _, want := range []string{
		"Local runs in 1 record: 1 execution since ",
		", 1 failed\n",
		"  FAILED  team/app:release-3.2 (in ",
		"  execution local-",
		" of ferry-replicate\n  record: " + record + "\n",
		"  ✓ 222222222222/eu-west-1       copied  team/app:release-3.2\n",
		"  ✓ 444444444444/ap-southeast-2  copied  mirror/team/app:release-3.2\n",
		"  ✗ " + e2e.Staging + "       failed  AccessDeniedError: assume role arn:aws:iam::333333333333:r…\n",
		"  failed: " + e2e.Staging + "\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("status lacks %q:\n%s", want, out)
		}
	}
	cmd := redriveCommand(t, out)
	want := []string{"ferry", "run", "--config", w.ConfigPath, "--endpoints", "@" + endpoints, "--redrive", record, "--record", record}
	if strings.Join(cmd, " ") != strings.Join(want, " ") {
		t.Fatalf("redrive command\n%q\nwant\n%q", cmd, want)
	}

	// Fix the cause, then run the command as printed.
	if err := w.Emulator.AllowRole("arn:aws:iam::333333333333:role/ferry-replication", e2e.ExternalID); err != nil {
		t.Fatal(err)
	}
	if code, stdout, stderr := ferryWorkflow(cmd[2:]...); code != exitOK {
		t.Fatalf("the printed redrive: exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	if ok, err := w.HasTag(context.Background(), e2e.Staging, "release-3.2"); !ok || err != nil {
		t.Errorf("%s: release-3.2 not copied by the redrive (%v)", e2e.Staging, err)
	}

	code, out, errOut = ferryStatus("--record", record, "--config", w.ConfigPath)
	if code != exitOK {
		t.Fatalf("status after the redrive: exit %d: %s", code, errOut)
	}
	checkWidth(t, strings.ReplaceAll(out, "  record: "+record, ""))
	for _, want := range []string{"Local runs in 1 record: 1 execution since ", ", 0 failed\n", "  SUCCEEDED  team/app:release-3.2 (in ", ", redriven once)\n",
		"  ✓ " + e2e.Staging + "       copied  team/app:release-3.2\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("status after the redrive lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "redrive,") || strings.Contains(out, "failed:") {
		t.Errorf("a succeeded execution still shows a failure or a redrive:\n%s", out)
	}

	code, out, errOut = ferryStatus("--record", record, "--json")
	if code != exitOK {
		t.Fatalf("status --json: exit %d: %s", code, errOut)
	}
	var rep status.Report
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("--json is not a report: %v\n%s", err, out)
	}
	if rep.Source != "local" || len(rep.Executions) != 1 {
		t.Fatalf("--json: %+v", rep)
	}
	e := rep.Executions[0]
	if e.Status != "SUCCEEDED" || e.RedriveCount != 1 || len(e.Destinations) != 3 || len(e.Failed) != 0 || e.Redrive != "" || e.Digest != lr.digest || e.Kind != "replicate" {
		t.Errorf("--json execution: %+v", e)
	}

	// --since leaves out what started before it.
	code, out, _ = ferryStatus("--record", record, "--since", "1ns")
	if code != exitOK || !strings.Contains(out, "Local runs in 1 record: no executions since ") {
		t.Errorf("--since 1ns: exit %d:\n%s", code, out)
	}
}

// fakeSFNServer is Step Functions' JSON 1.0 API on 127.0.0.1 with the
// state machines named, and one failed execution of Ferry-replicate.
func fakeSFNServer(t *testing.T, started time.Time, machines ...string) *httptest.Server {
	t.Helper()
	const arn = "arn:aws:states:us-east-1:111111111111:execution:Ferry-replicate:6f1c2d3e-0000-4000-8000-000000000001"
	summary, _ := json.Marshal(map[string]any{"repository": "team/app", "tag": "release-1.4", "digest": "sha256:" + strings.Repeat("cd", 32),
		"destinations": []map[string]any{
			{"destination": "222222222222/eu-west-1", "image": "team/app:release-1.4", "status": "copied"},
			{"destination": "333333333333/us-west-2", "image": "team/app:release-1.4", "status": "failed", "error": "RegistryError", "reason": "PUT manifest: 503"},
		}})
	epoch := float64(started.Unix())
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var in map[string]any
		_ = json.NewDecoder(r.Body).Decode(&in)
		w.Header().Set("Content-Type", "application/x-amz-json-1.0")
		fail := func(code, msg string) {
			w.WriteHeader(http.StatusBadRequest)
			_ = json.NewEncoder(w).Encode(map[string]string{"__type": code, "message": msg})
		}
		var out any
		switch op := strings.TrimPrefix(r.Header.Get("X-Amz-Target"), "AWSStepFunctions."); op {
		case "ListExecutions":
			machine := in["stateMachineArn"].(string)
			if !slices.Contains(machines, machine[strings.LastIndex(machine, ":")+1:]) {
				fail("StateMachineDoesNotExist", "State Machine Does Not Exist: '"+machine+"'")
				return
			}
			if !strings.HasSuffix(machine, ":Ferry-replicate") {
				out = map[string]any{"executions": []any{}}
				break
			}
			out = map[string]any{"executions": []map[string]any{{"executionArn": arn, "name": arn[strings.LastIndex(arn, ":")+1:], "status": "FAILED", "startDate": epoch}}}
		case "DescribeExecution":
			out = map[string]any{"executionArn": arn, "name": arn[strings.LastIndex(arn, ":")+1:], "status": "FAILED", "startDate": epoch, "stopDate": epoch + 42,
				"input": `{"repository":"team/app","tag":"release-1.4"}`, "error": "ReplicationFailed", "cause": `{"errorMessage":"1 of 2 destinations failed"}`,
				"redriveStatus": "REDRIVABLE"}
		case "GetExecutionHistory":
			out = map[string]any{"events": []map[string]any{
				{"id": 9, "type": "ExecutionFailed", "timestamp": epoch + 42},
				{"id": 8, "type": "TaskStateExited", "timestamp": epoch + 41, "stateExitedEventDetails": map[string]any{"name": "Summarize", "output": string(summary)}},
			}}
		default:
			fail("UnknownOperationException", op)
			return
		}
		_ = json.NewEncoder(w).Encode(out)
	}))
	t.Cleanup(s.Close)
	return s
}

// The Step Functions path, through the AWS SDK against a fake endpoint
// given in --endpoints: a stack without a reconcile state machine is one
// error that names it and --stack.
func TestStatusSFNMissing(t *testing.T) {
	dir := t.TempDir()
	cfg := writeConfig(t, dir, "ferry.yaml", "          scanOnPush: true\n")
	s := fakeSFNServer(t, time.Now(), "Ferry-replicate")
	endpoints := filepath.Join(dir, "endpoints.json")
	if err := os.WriteFile(endpoints, []byte(`{"sfn": "`+s.URL+`"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := ferryStatus("--config", cfg, "--endpoints", endpoints)
	if code != exitFailed || !strings.Contains(errOut, "arn:aws:states:us-east-1:111111111111:stateMachine:Ferry-reconcile") ||
		!strings.Contains(errOut, "--stack NAME") || strings.Count(errOut, "\n") != 1 || out != "" {
		t.Errorf("without a reconcile state machine: exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
}

// The Step Functions path: the failed execution, its outcome per
// destination from the Summarize state in its history, and the aws
// stepfunctions redrive-execution command, with the endpoint.
func TestStatusSFN(t *testing.T) {
	dir := t.TempDir()
	cfg := writeConfig(t, dir, "ferry.yaml", "          scanOnPush: true\n")
	started := time.Now().Add(-time.Hour).Truncate(time.Second)
	s := fakeSFNServer(t, started, "Ferry-replicate", "Ferry-reconcile")
	code, out, errOut := ferryStatus("--config", cfg, "--endpoints", `{"sfn": "`+s.URL+`"}`)
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	checkWidth(t, out)
	for _, want := range []string{
		"Ferry-replicate and Ferry-reconcile: 1 execution since ",
		started.UTC().Format("2006-01-02 15:04:05 UTC") + "  FAILED  team/app:release-1.4 (in 42s)\n",
		"  ✓ 222222222222/eu-west-1  copied  team/app:release-1.4\n",
		"  ✗ 333333333333/us-west-2  failed  RegistryError: PUT manifest: 503\n",
		"  failed: 333333333333/us-west-2\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("status lacks %q:\n%s", want, out)
		}
	}
	cmd := strings.Join(redriveCommand(t, out), " ")
	if want := "aws stepfunctions redrive-execution --region us-east-1 --endpoint-url " + s.URL +
		" --execution-arn arn:aws:states:us-east-1:111111111111:execution:Ferry-replicate:6f1c2d3e-0000-4000-8000-000000000001"; cmd != want {
		t.Errorf("redrive command\n%s\nwant\n%s", cmd, want)
	}

	// --endpoints defaults to $FERRY_AWS_ENDPOINTS, as in ferry run.
	t.Setenv("FERRY_AWS_ENDPOINTS", `{"sfn": "`+s.URL+`"}`)
	code, out, errOut = ferryStatus("--config", cfg, "--json")
	if code != exitOK {
		t.Fatalf("--json: exit %d: %s", code, errOut)
	}
	var rep status.Report
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("--json is not a report: %v\n%s", err, out)
	}
	if rep.Source != "aws" || len(rep.StateMachines) != 2 || len(rep.Executions) != 1 || rep.Executions[0].Redrive == "" ||
		strings.Join(rep.Executions[0].Failed, ",") != "333333333333/us-west-2" {
		t.Errorf("--json: %+v", rep)
	}
}

func TestStatusUsage(t *testing.T) {
	t.Setenv("FERRY_AWS_ENDPOINTS", "")
	dir := t.TempDir()
	cfg := writeConfig(t, dir, "ferry.yaml", "          scanOnPush: true\n")
	noSFN := filepath.Join(dir, "endpoints.json")
	if err := os.WriteFile(noSFN, []byte(`{"sts": "http://127.0.0.1:1", "ecr": {"222222222222/eu-west-1": "http://127.0.0.1:1"}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"--since", "-1h", "--config", cfg}, "--since -1h0m0s: want a positive duration"},
		{[]string{"--limit", "0", "--config", cfg}, "--limit 0: want 1 or more"},
		{[]string{"extra"}, "takes no arguments"},
		{[]string{"--config", cfg, "--endpoints", noSFN}, `--endpoints has no "sfn" endpoint`},
		{[]string{"--record", filepath.Join(dir, "missing.json")}, "--record names the file ferry run --record wrote"},
		{[]string{"--record", cfg}, "is not an execution that ferry run --record wrote"},
		{[]string{"--record", dir}, "no execution that ferry run --record wrote"},
		{[]string{"--sinse", "1h"}, "did you mean --since?"},
	} {
		code, out, errOut := ferryStatus(tt.args...)
		if code != exitUsage || !strings.Contains(errOut, tt.want) || strings.Count(errOut, "\n") != 1 {
			t.Errorf("ferry status %q: exit %d, stdout %q, stderr %q; want exit 2 and one line with %q", tt.args, code, out, errOut, tt.want)
		}
	}
}

// Without --endpoints and without AWS credentials, status fails before any
// call, with one line that says what it looked for and what to do.
func TestStatusNoCredentials(t *testing.T) {
	t.Setenv("FERRY_AWS_ENDPOINTS", "")
	dir := t.TempDir()
	cfg := writeConfig(t, dir, "ferry.yaml", "          scanOnPush: true\n")
	for k, v := range map[string]string{
		"AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": "", "AWS_SESSION_TOKEN": "", "AWS_PROFILE": "", "AWS_WEB_IDENTITY_TOKEN_FILE": "",
		"AWS_CONFIG_FILE": filepath.Join(dir, "none"), "AWS_SHARED_CREDENTIALS_FILE": filepath.Join(dir, "none"),
		"AWS_EC2_METADATA_DISABLED": "true", "AWS_CONTAINER_CREDENTIALS_FULL_URI": "", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI": "",
	} {
		t.Setenv(k, v)
	}
	code, out, errOut := ferryStatus("--config", cfg)
	if code != exitFailed || out != "" || strings.Count(errOut, "\n") != 1 ||
		!strings.Contains(errOut, "ferry: no AWS credentials to read the executions in 111111111111/us-east-1 from Step Functions (") ||
		!strings.Contains(errOut, "--record FILE") {
		t.Errorf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
}
