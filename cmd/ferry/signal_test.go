package main

import (
	"errors"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// buildFerry builds ferry into a temporary folder and returns its path.
func buildFerry(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "ferry")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build -o %s .: %v\n%s", bin, err, out)
	}
	return bin
}

// blockingRegistry is a registry that holds the first request matching
// block until the client goes away, and says when it has one.
func blockingRegistry(t *testing.T, block func(*http.Request) bool) (host string, held <-chan struct{}) {
	t.Helper()
	reg := registry.New(registry.Logger(log.New(io.Discard, "", 0)))
	ch := make(chan struct{})
	var once sync.Once
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if block(r) {
			once.Do(func() { close(ch) })
			<-r.Context().Done()
			return
		}
		reg.ServeHTTP(w, r)
	}))
	t.Cleanup(s.Close)
	return strings.TrimPrefix(s.URL, "http://"), ch
}

func waitFor(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(30 * time.Second):
		t.Fatalf("timed out waiting for %s", what)
	}
}

// Ctrl-C (or SIGTERM) while ferry copy is writing cancels the copy: every
// destination is reported, the tag was never written, and ferry says once
// that it was interrupted and that a re-run resumes, and exits 128 + the
// signal's number, as a shell reports it.
func TestCopyInterruptedWhileWriting(t *testing.T) {
	t.Parallel()
	ferry := buildFerry(t)
	src := startRegistry(t)
	pushImage(t, src+"/app:v1", 7)
	for _, tc := range []struct {
		sig        syscall.Signal
		wantCode   int
		wantStderr string
	}{
		{syscall.SIGINT, 130, "ferry: interrupted (Ctrl-C); a re-run resumes from the blobs already copied\n"},
		{syscall.SIGTERM, 143, "ferry: interrupted (SIGTERM); a re-run resumes from the blobs already copied\n"},
	} {
		t.Run(tc.sig.String(), func(t *testing.T) {
			t.Parallel()
			dst, uploading := blockingRegistry(t, func(r *http.Request) bool {
				return r.Method == http.MethodPost && strings.Contains(r.URL.Path, "/blobs/uploads/")
			})
			cmd := exec.Command(ferry, "copy", "--insecure", src+"/app:v1", dst+"/app:v1")
			var stdout, stderr strings.Builder
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			waitFor(t, uploading, "the first upload")
			if err := cmd.Process.Signal(tc.sig); err != nil {
				t.Fatal(err)
			}
			err := cmd.Wait()
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.ExitCode() != tc.wantCode {
				t.Fatalf("ferry copy ended with %v, want exit status %d; stdout %q, stderr %q", err, tc.wantCode, stdout.String(), stderr.String())
			}
			if !strings.Contains(stdout.String(), dst+"/app:v1") {
				t.Errorf("the interrupted destination is not reported: stdout %q", stdout.String())
			}
			if stderr.String() != tc.wantStderr {
				t.Errorf("stderr %q, want %q (once)", stderr.String(), tc.wantStderr)
			}
			ref, _ := name.ParseReference(dst+"/app:v1", name.Insecure)
			if _, err := remote.Head(ref); err == nil {
				t.Errorf("the tag was written although the copy was interrupted")
			}
		})
	}
}

// Ctrl-C before ferry copy writes anything stops it the same way: exit
// 130 and one line that says so.
func TestCopyInterruptedWhileReading(t *testing.T) {
	t.Parallel()
	ferry := buildFerry(t)
	src, reading := blockingRegistry(t, func(r *http.Request) bool {
		return r.Method == http.MethodGet && strings.Contains(r.URL.Path, "/manifests/")
	})
	dst := startRegistry(t)

	cmd := exec.Command(ferry, "copy", "--insecure", src+"/app:v1", dst+"/app:v1")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, reading, "the source manifest request")
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	err := cmd.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 130 {
		t.Fatalf("ferry copy ended with %v, want exit status 130; stderr %q", err, stderr.String())
	}
	if got := stderr.String(); strings.Count(got, "\n") != 1 || !strings.HasPrefix(got, "ferry: interrupted (Ctrl-C)") {
		t.Errorf("stderr %q, want one line: ferry: interrupted (Ctrl-C)...", got)
	}
}

// Ctrl-C while ferry run waits at its approval prompt ends the run at
// once: it does not wait for Enter.
func TestRunInterruptedAtApprovalPrompt(t *testing.T) {
	ferry := buildFerry(t)
	lr := newLocalRun(t, "release-3.3", 9)
	cmd := exec.Command(ferry, "run", "--config", lr.w.ConfigPath, "--event", lr.event, "--endpoints", lr.endpoints,
		"--approve", "prompt", "--node-modules", lr.nodeModules)
	stdin, err := cmd.StdinPipe() // never answered
	if err != nil {
		t.Fatal(err)
	}
	defer stdin.Close()
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	prompted := make(chan struct{})
	rest := make(chan string)
	go func() {
		var seen strings.Builder
		buf := make([]byte, 4096)
		asked := false
		for {
			n, err := out.Read(buf)
			seen.Write(buf[:n])
			if !asked && strings.Contains(seen.String(), "Approve? [y/N]") {
				asked = true
				close(prompted)
			}
			if err != nil {
				rest <- seen.String()
				return
			}
		}
	}()
	waitFor(t, prompted, "the approval prompt")
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { stdout := <-rest; exited <- cmd.Wait(); rest <- stdout }()
	select {
	case err = <-exited:
	case <-time.After(30 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatal("ferry run still waits at the approval prompt after Ctrl-C")
	}
	stdout := <-rest
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 130 {
		t.Fatalf("ferry run ended with %v, want exit status 130\nstdout:\n%s\nstderr:\n%s", err, stdout, stderr.String())
	}
	if got := stderr.String(); got != "ferry: interrupted (Ctrl-C)\n" {
		t.Errorf("stderr %q, want one line that it was interrupted", got)
	}
}
