package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ferry-dev/ferry/internal/runner"
	"github.com/ferry-dev/ferry/statemachine"
)

// nodeModules installs the project's Node tools (make node_modules/.installed)
// once and returns node_modules.
var nodeModules = sync.OnceValues(func() (string, error) {
	_, file, _, _ := runtime.Caller(0)
	root := filepath.Join(filepath.Dir(file), "..", "..")
	cmd := exec.Command("make", "-s", "node_modules/.installed")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", &installError{out: string(out), err: err}
	}
	return filepath.Join(root, "node_modules"), nil
})

type installError struct {
	out string
	err error
}

func (e *installError) Error() string {
	return "make node_modules/.installed (npm ci; `make test` runs it) failed: " + e.err.Error() + "\n" + e.out
}

// harness is a world with a runner over it.
type harness struct {
	t      *testing.T
	world  *World
	runner *runner.Runner
	logs   *syncBuffer
	out    *syncBuffer
	rel    Release

	mu   sync.Mutex
	runs []*runner.Execution
}

func (h *harness) lastExecutions() []*runner.Execution {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]*runner.Execution(nil), h.runs...)
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

type harnessOpts struct {
	approver        runner.Approver
	approvalTimeout time.Duration
	deny            []string
	noApprover      bool
	reconcile       bool              // the reconcile state machine, not the push path's
	config          string            // ferry.yaml, instead of the scenario's Config
	files           map[string][]byte // more files beside ferry.yaml (key files), by relative path
	// pause is each Wait state's pause; nil returns at once (a local run
	// does not wait the 30 seconds between scan checks).
	pause func(ctx context.Context, state string, d time.Duration) error
}

func newHarness(t *testing.T, o harnessOpts) *harness {
	t.Helper()
	nm, err := nodeModules()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	h := &harness{t: t, logs: &syncBuffer{}, out: &syncBuffer{}}
	h.world, err = NewWorld(ctx, t.TempDir(), nil, o.deny...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.world.Emulator.Close() })
	if o.config != "" {
		if err := os.WriteFile(h.world.ConfigPath, []byte(o.config), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for rel, b := range o.files {
		path := filepath.Join(filepath.Dir(h.world.ConfigPath), rel)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := h.world.CreateSourceRepository(ctx); err != nil {
		t.Fatal(err)
	}
	if h.rel, err = h.world.PushRelease(ctx, "release-1.0", 100); err != nil {
		t.Fatal(err)
	}
	if o.approver == nil && !o.noApprover {
		o.approver = runner.AutoApprove
	}
	if o.approvalTimeout == 0 {
		o.approvalTimeout = 30 * time.Second
	}
	if o.pause == nil {
		o.pause = func(context.Context, string, time.Duration) error { return nil }
	}
	retry := 20 * time.Millisecond
	printer := runner.NewPrinter(h.out)
	def, name := statemachine.Replicate, "replicate"
	if o.reconcile {
		def, name = statemachine.Reconcile, "reconcile"
	}
	h.runner, err = runner.New(ctx, runner.Options{
		Definition:      def,
		Name:            name,
		ConfigPath:      h.world.ConfigPath,
		Endpoints:       h.world.Endpoints,
		NodeModules:     nm,
		ApprovalTimeout: o.approvalTimeout,
		Approver:        o.approver,
		RetryInterval:   &retry,
		Pause:           o.pause,
		Logger:          slog.New(slog.NewJSONHandler(h.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Observe:         printer.Observe,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.runner.Close() })
	return h
}

func (h *harness) run(input []byte) *runner.Execution {
	h.t.Helper()
	ex, err := h.runner.Run(context.Background(), input)
	if err != nil {
		h.t.Fatalf("run: %v\n%s", err, h.out.String())
	}
	h.mu.Lock()
	h.runs = append(h.runs, ex)
	h.mu.Unlock()
	h.t.Logf("execution %s: %s %s %s\n%s", ex.Name, ex.Status, ex.Error, ex.Cause, h.out.String())
	return ex
}

func summary(t *testing.T, ex *runner.Execution) map[string]any {
	t.Helper()
	var out map[string]any
	if len(ex.Output) > 0 {
		if err := json.Unmarshal(ex.Output, &out); err != nil {
			t.Fatalf("output %s: %v", ex.Output, err)
		}
	}
	return out
}

func TestDemoScenario(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOpts{})
	ctx := context.Background()
	ex := h.run(PushEvent(Repository, "release-1.0", h.rel.Index))
	if ex.Status != "SUCCEEDED" {
		t.Fatalf("status %s: %s %s", ex.Status, ex.Error, ex.Cause)
	}
	if s := summary(t, ex); s["copied"] != float64(3) {
		t.Fatalf("summary %v, want 3 copied", s)
	}
	for _, id := range Destinations {
		for _, c := range h.world.CheckRelease(ctx, id, "release-1.0", h.rel) {
			if c.Err != nil {
				t.Errorf("%s: %s: %v", id, c.What, c.Err)
			}
		}
	}
	if n := len(h.runner.Messages()); n != 1 {
		t.Errorf("%d approval messages, want 1 (production only)", n)
	}

	// dev-123 matches no rule: skipped, copied nowhere.
	dev, err := h.world.PushImage(ctx, "dev-123", 7)
	if err != nil {
		t.Fatal(err)
	}
	ex = h.run(PushEvent(Repository, "dev-123", dev))
	if s := summary(t, ex); ex.Status != "SUCCEEDED" || s["skipped"] != true || !strings.Contains(s["reason"].(string), "dev-123") {
		t.Fatalf("dev-123: %s %v", ex.Status, s)
	}
	for _, id := range Destinations {
		if ok, err := h.world.HasTag(ctx, id, "dev-123"); ok || err != nil {
			t.Errorf("%s has dev-123 (%v)", id, err)
		}
	}

	// The same push again: a no-op everywhere.
	ex = h.run(PushEvent(Repository, "release-1.0", h.rel.Index))
	if s := summary(t, ex); ex.Status != "SUCCEEDED" || s["unchanged"] != float64(3) {
		t.Fatalf("second run: %s %v", ex.Status, s)
	}
	scanSecrets(t, h)
}
