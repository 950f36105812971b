package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/ferry-dev/ferry/internal/imagecopy"
	"github.com/ferry-dev/ferry/test/imagegen"
)

// runFerry runs the ferry command line in process.
func runFerry(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = run(context.Background(), args, &out, &errOut)
	return code, out.String(), errOut.String()
}

func startRegistry(t *testing.T) string {
	t.Helper()
	s := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	t.Cleanup(s.Close)
	return strings.TrimPrefix(s.URL, "http://")
}

func pushImage(t *testing.T, ref string, seed uint64) v1.Hash {
	t.Helper()
	img, err := imagegen.RandomImage(v1.Platform{OS: "linux", Architecture: "amd64"}, seed, 2, 4096)
	if err != nil {
		t.Fatal(err)
	}
	r, err := name.ParseReference(ref)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(r, img); err != nil {
		t.Fatal(err)
	}
	d, _ := img.Digest()
	return d
}

func TestCopyCommand(t *testing.T) {
	t.Parallel()
	src, dst := startRegistry(t), startRegistry(t)
	want := pushImage(t, src+"/app:v1", 1)

	code, stdout, stderr := runFerry(t, "copy", "--insecure", "--json", src+"/app:v1", dst+"/mirror/app")
	if code != exitOK {
		t.Fatalf("exit %d, stderr %q", code, stderr)
	}
	var results []imagecopy.Result
	if err := json.Unmarshal([]byte(stdout), &results); err != nil {
		t.Fatalf("--json output is not JSON: %v\n%s", err, stdout)
	}
	// A destination without a tag takes the source's.
	if len(results) != 1 || results[0].Destination != dst+"/mirror/app:v1" || results[0].Digest != want.String() || results[0].Status != imagecopy.StatusCopied {
		t.Fatalf("results = %+v, want one copy of %s to %s/mirror/app:v1", results, want, dst)
	}

	code, stdout, _ = runFerry(t, "copy", "--insecure", src+"/app:v1", dst+"/mirror/app:v1")
	if code != exitOK || !strings.Contains(stdout, "up to date") {
		t.Errorf("second copy: exit %d, output %q; want 0 and up to date", code, stdout)
	}

	// --verbose logs each step as JSON on stderr.
	code, _, stderr = runFerry(t, "copy", "--insecure", "--verbose", src+"/app:v1", startRegistry(t)+"/app")
	if code != exitOK {
		t.Fatalf("verbose copy: exit %d, stderr %q", code, stderr)
	}
	steps := map[string]int{}
	for line := range strings.Lines(stderr) {
		var rec struct{ Msg string }
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("--verbose line is not JSON: %q", line)
		}
		steps[rec.Msg]++
	}
	// Two layers and a config, one manifest.
	if steps["planned"] != 1 || steps["blob copied"] != 3 || steps["manifest written"] != 1 || steps["copy finished"] != 1 {
		t.Errorf("--verbose logged %v, want planned 1, blob copied 3, manifest written 1, copy finished 1", steps)
	}
}

func TestCopyCommandErrors(t *testing.T) {
	t.Parallel()
	src, dst := startRegistry(t), startRegistry(t)
	pushImage(t, src+"/app:v1", 1)
	pushImage(t, dst+"/app:v1", 2) // another image under the same tag
	// Nothing listens on this address.
	l := httptest.NewServer(http.NotFoundHandler())
	closed := strings.TrimPrefix(l.URL, "http://")
	l.Close()
	// A registry that, like ECR, has no repository until one is created.
	noRepos := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusNotFound)
		fmt.Fprintf(w, `{"errors":[{"code":"NAME_UNKNOWN","message":"repository %s not known to registry"}]}`, r.URL.Path)
	}))
	t.Cleanup(noRepos.Close)
	noRepo := strings.TrimPrefix(noRepos.URL, "http://")

	for _, tc := range []struct {
		name     string
		args     []string
		wantCode int
		wantErr  []string
	}{
		{"no destination", []string{"copy", src + "/app:v1"}, exitUsage, []string{"needs a source and at least one destination"}},
		{"malformed source", []string{"copy", "--insecure", "UPPER/Case::x", dst + "/app"}, exitUsage, []string{`source "UPPER/Case::x"`, "REGISTRY/REPOSITORY:TAG"}},
		{"malformed destination", []string{"copy", "--insecure", src + "/app:v1", dst + "/app:bad tag"}, exitUsage, []string{`destination "` + dst + `/app:bad tag"`}},
		{"same destination twice", []string{"copy", "--insecure", src + "/app:v1", dst + "/app:v1", dst + "/app:v1"}, exitUsage, []string{"given twice"}},
		{"bad jobs", []string{"copy", "--jobs", "0", src + "/app:v1", dst + "/app"}, exitUsage, []string{"--jobs must be at least 1"}},
		{"negative timeout", []string{"copy", "--timeout", "-1s", src + "/app:v1", dst + "/app"}, exitUsage, []string{"--timeout must not be negative"}},
		{"unknown flag", []string{"copy", "--fast", src + "/app:v1", dst + "/app"}, exitUsage, []string{"-fast", "run 'ferry copy --help'"}},
		{"unknown flag after the arguments", []string{"copy", src + "/app:v1", dst + "/app", "--fast"}, exitUsage, []string{"-fast", "run 'ferry copy --help'"}},
		{"flags after the arguments", []string{"copy", src + "/app:v1", dst + "/app:v5", "--insecure", "--jobs", "2"}, exitOK, []string{"copied"}},
		{"missing source image", []string{"copy", "--insecure", src + "/nothing:v1", dst + "/app:v2"}, exitFailed, []string{src + "/nothing", "404", "no such repository"}},
		{"registry not there", []string{"copy", "--insecure", closed + "/app:v1", dst + "/app:v3"}, exitFailed, []string{closed, "connection refused"}},
		{"destination repository missing", []string{"copy", "--insecure", src + "/app:v1", noRepo + "/nothing:v1"}, exitFailed, []string{"does not create repositories", "create-repository --repository-name nothing"}},
		{"protected tag", []string{"copy", "--insecure", src + "/app:v1", dst + "/app:v1"}, exitFailed, []string{"already points at", "--overwrite"}},
		{"loopback registries are plain HTTP by default", []string{"copy", src + "/app:v1", dst + "/app:v4"}, exitOK, []string{"copied"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			start := time.Now()
			code, stdout, stderr := runFerry(t, tc.args...)
			if code != tc.wantCode {
				t.Errorf("exit %d, want %d; stdout %q stderr %q", code, tc.wantCode, stdout, stderr)
			}
			for _, w := range tc.wantErr {
				if !strings.Contains(unwrap(stdout+stderr), w) {
					t.Errorf("output does not say %q:\nstdout: %s\nstderr: %s", w, stdout, stderr)
				}
			}
			if tc.wantCode == exitUsage && strings.Count(stderr, "\n") != 1 {
				t.Errorf("a usage error should be one line on stderr, got %q", stderr)
			}
			if d := time.Since(start); d > 5*time.Second {
				t.Errorf("took %s: an error retrying cannot fix must fail fast", d)
			}
		})
	}
}

// --timeout cancels a copy still running when it passes: every destination
// is reported, ferry exits 1 saying the timeout passed, and no tag points
// at the unfinished image.
func TestCopyTimeout(t *testing.T) {
	t.Parallel()
	src, good := startRegistry(t), startRegistry(t)
	pushImage(t, src+"/app:v1", 9)
	stuck, uploading := blockingRegistry(t, func(r *http.Request) bool {
		return r.Method == http.MethodPost && strings.Contains(r.URL.Path, "/blobs/uploads/")
	})
	code, stdout, stderr := runFerry(t, "copy", "--insecure", "--timeout", "2s", src+"/app:v1", good+"/app:v1", stuck+"/app:v1")
	select {
	case <-uploading:
	default:
		t.Fatalf("the stuck registry was never asked to start an upload; stdout %q, stderr %q", stdout, stderr)
	}
	if code != exitFailed {
		t.Errorf("exit %d, want %d", code, exitFailed)
	}
	for _, d := range []string{good, stuck} {
		if !strings.Contains(stdout, " "+d+"/app:v1  ") {
			t.Errorf("destination %s is not reported: stdout %q", d, stdout)
		}
	}
	if !strings.Contains(stdout, "✗ "+stuck+"/app:v1  failed after ") {
		t.Errorf("the stuck destination is not reported failed: stdout %q", stdout)
	}
	if !strings.Contains(stderr, "the --timeout of 2s passed before the copy finished") {
		t.Errorf("stderr %q does not say the timeout passed", stderr)
	}
	ref, err := name.ParseReference(stuck+"/app:v1", name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := remote.Head(ref); err == nil {
		t.Errorf("the tag was written although the copy timed out")
	}
}

// unwrap joins the lines results wrap at 100 columns.
func unwrap(s string) string { return strings.ReplaceAll(s, "\n    ", " ") }
