package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// `ferry run` hands its arguments and standard streams to ferry-workflow
// on PATH and exits with its status; without it, it says how to get it.
// (Not parallel: it sets PATH.)
func TestRunHandsOverToFerryWorkflow(t *testing.T) {
	bin := t.TempDir()
	build := exec.Command("go", "build", "-o", filepath.Join(bin, workflowBinary), "./testdata/ferry-workflow")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build the stand-in ferry-workflow: %v\n%s", err, out)
	}
	tests := []struct {
		name       string
		path       string
		args       []string
		wantCode   int
		wantStdout string
		wantStderr string
	}{
		{name: "success", path: bin, args: []string{"run", "--config", "ferry.yaml", "--event", "e.json"},
			wantCode: exitOK, wantStdout: `ferry-workflow got ["--config" "ferry.yaml" "--event" "e.json"]`, wantStderr: "ferry-workflow: on stderr"},
		{name: "the child's failure status", path: bin, args: []string{"run", "--exit", "1"}, wantCode: 1, wantStdout: `got ["--exit" "1"]`},
		{name: "the child's usage status", path: bin, args: []string{"run", "--exit", "2"}, wantCode: 2},
		{name: "any other status", path: bin, args: []string{"run", "--exit", "7"}, wantCode: 7},
		{name: "ferry-workflow missing", path: t.TempDir(), args: []string{"run", "--config", "ferry.yaml"},
			wantCode: exitFailed, wantStderr: "ferry run needs ferry-workflow next to ferry or on PATH; build both with make build"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("PATH", tt.path)
			code, stdout, stderr := runFerry(t, tt.args...)
			if code != tt.wantCode || !strings.Contains(stdout, tt.wantStdout) || !strings.Contains(stderr, tt.wantStderr) {
				t.Errorf("exit %d, stdout %q, stderr %q; want %d, %q, %q", code, stdout, stderr, tt.wantCode, tt.wantStdout, tt.wantStderr)
			}
			if tt.wantCode != exitOK && tt.wantCode != exitFailed && strings.Contains(stderr, "ferry: exit status") {
				t.Errorf("ferry repeated the child's exit as an error of its own: %q", stderr)
			}
		})
	}
	// The stand-in must not be what os.Executable's folder holds, or PATH
	// would not be what the test exercises.
	if self, err := os.Executable(); err == nil {
		if _, err := os.Stat(filepath.Join(filepath.Dir(self), workflowBinary)); err == nil {
			t.Fatalf("%s next to the test binary shadows PATH", workflowBinary)
		}
	}
}
