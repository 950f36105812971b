package main

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ferry-dev/ferry/test/e2e"
)

// A run whose Staging role cannot be assumed fails and is recorded; once
// the role exists, --redrive replicates Staging alone and succeeds; a
// succeeded execution is not redrivable.
func TestRunRecordAndRedrive(t *testing.T) {
	lr := newLocalRun(t, "release-3.2", 8, e2e.Staging)
	w, dir, event, endpoints, nodeModules := lr.w, lr.dir, lr.event, lr.endpoints, lr.nodeModules
	common := []string{"--config", w.ConfigPath, "--endpoints", endpoints, "--approve", "approve", "--node-modules", nodeModules}
	first, second := filepath.Join(dir, "first.json"), filepath.Join(dir, "second.json")

	code, stdout, stderr := ferryWorkflow(append(common, "--event", event, "--record", first)...)
	if code != exitFailed || !strings.Contains(stderr, "ReplicationFailed") || !strings.Contains(stderr, "--redrive "+first) {
		t.Fatalf("first run: exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	// The hint is a command that redrives against the same endpoints
	// (without them it would go to AWS), and the cause, shown above, is
	// not said again.
	if hint := "ferry run --config " + w.ConfigPath + " --endpoints '" + endpoints + "' --approve approve --node-modules " + nodeModules + " --redrive " + first; !strings.Contains(stderr, hint) {
		t.Errorf("first run's hint is not %q:\n%s", hint, stderr)
	}
	if strings.Contains(stderr, "AccessDenied") || strings.Count(stdout, "is not authorized to perform") != 1 {
		t.Errorf("the cause is said again:\nstdout:\n%s\nstderr:\n%s", stdout, stderr)
	}
	if code, _, stderr := ferryWorkflow(append(common, "--event", event, "--redrive", first)...); code != exitUsage || !strings.Contains(stderr, "not both") {
		t.Errorf("--event with --redrive: exit %d, %s", code, stderr)
	}

	if err := w.Emulator.AllowRole("arn:aws:iam::333333333333:role/ferry-replication", e2e.ExternalID); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr = ferryWorkflow(append(common, "--redrive", first, "--record", second)...)
	if code != exitOK {
		t.Fatalf("redrive: exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	for _, want := range []string{"▶ ferry run --redrive", "(redrive 1)", `Redrive 1: resumes at "Some destinations failed"`,
		"(again, the failed only: " + e2e.Staging + ")", "3 copied, 0 unchanged, 0 failed (after redrive 1)", "● Execution succeeded"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, stdout)
		}
	}
	if ok, err := w.HasTag(context.Background(), e2e.Staging, "release-3.2"); !ok || err != nil {
		t.Errorf("%s: release-3.2 not copied by the redrive (%v)", e2e.Staging, err)
	}
	if code, _, stderr := ferryWorkflow(append(common, "--redrive", second)...); code != exitUsage || !strings.Contains(stderr, "not redrivable") {
		t.Errorf("redrive of a succeeded execution: exit %d, %s", code, stderr)
	}
}
