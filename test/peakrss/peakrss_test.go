package peakrss

import (
	"os"
	"os/exec"
	"runtime"
	"testing"
)

// The test binary re-runs itself as a child that touches a known amount of
// memory; the measured peak must cover it and must not include the parent's
// own, deliberately larger, memory.
func TestPeakOfChildNotParent(t *testing.T) {
	if os.Getenv("PEAKRSS_CHILD") != "" {
		b := make([]byte, 64<<20)
		for i := range b {
			b[i] = byte(i)
		}
		runtime.KeepAlive(b)
		os.Exit(0)
	}
	parent := make([]byte, 512<<20) // the parent holds more than the child
	for i := 0; i < len(parent); i += 4096 {
		parent[i] = 1
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestPeakOfChildNotParent$")
	cmd.Env = append(os.Environ(), "PEAKRSS_CHILD=1")
	peak, err := Run(cmd)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if peak < 64<<20 || peak > 200<<20 {
		t.Errorf("peak = %d MiB, want the child's ~64 MiB plus runtime, not the parent's 512 MiB", peak>>20)
	}
	_ = parent[len(parent)-1]
}

func TestExitErrorIsReturned(t *testing.T) {
	_, err := Run(exec.Command("sh", "-c", "exit 3"))
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 3 {
		t.Errorf("err = %v, want exit status 3", err)
	}
}
