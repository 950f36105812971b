package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// `ferry run`, `ferry plan` and `ferry config` hand their arguments and
// standard streams to ferry-workflow on PATH and exit with its status;
// without it, they say how to get it. (Not parallel: it sets PATH.)
func TestHandOverToFerryWorkflow(t *testing.T) {
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
			wantCode: exitOK, wantStdout: `ferry-workflow got ["run" "--config" "ferry.yaml" "--event" "e.json"]`, wantStderr: "ferry-workflow: on stderr"},
		{name: "the child's failure status", path: bin, args: []string{"run", "--exit", "1"}, wantCode: 1, wantStdout: `got ["run" "--exit" "1"]`},
		{name: "plan", path: bin, args: []string{"plan", "--config", "f.yaml", "team/app:v1"}, wantCode: exitOK,
			wantStdout: `ferry-workflow got ["plan" "--config" "f.yaml" "team/app:v1"]`},
		{name: "config validate", path: bin, args: []string{"config", "validate", "f.yaml", "--exit", "2"}, wantCode: 2,
			wantStdout: `ferry-workflow got ["config" "validate" "f.yaml" "--exit" "2"]`},
		{name: "plan without ferry-workflow", path: t.TempDir(), args: []string{"plan", "team/app:v1"},
			wantCode: exitFailed, wantStderr: "ferry plan needs ferry-workflow next to ferry or on PATH"},
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
