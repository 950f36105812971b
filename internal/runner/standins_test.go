package runner

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestLocalS3KeepsObjectsInItsDirectory(t *testing.T) {
	t.Parallel()
	parent := t.TempDir()
	r := &Runner{s3Dir: filepath.Join(parent, "s3"), base: "http://127.0.0.1:4567"}
	do := func(method, path, host, body string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(method, "http://127.0.0.1:4567"+path, strings.NewReader(body))
		req.Host = host
		w := httptest.NewRecorder()
		r.serveS3(w, req)
		return w
	}
	const host = "127.0.0.1:4567"
	if w := do(http.MethodPut, "/s3/ferry-local-reconcile/runs/x/jobs-0.jsonl", host, "{}\n"); w.Code != http.StatusOK {
		t.Fatalf("PUT: %d %s", w.Code, w.Body)
	}
	if w := do(http.MethodGet, "/s3/ferry-local-reconcile/runs/x/jobs-0.jsonl", host, ""); w.Code != http.StatusOK || w.Body.String() != "{}\n" {
		t.Fatalf("GET: %d %q", w.Code, w.Body)
	}
	if w := do(http.MethodGet, "/s3/ferry-local-reconcile/runs/none", host, ""); w.Code != http.StatusNotFound || !strings.Contains(w.Body.String(), "NoSuchKey") {
		t.Errorf("GET of a missing key: %d %s, want 404 NoSuchKey", w.Code, w.Body)
	}
	for _, path := range []string{"/s3/%2e%2e/escaped", "/s3/../escaped", "/s3/ferry-local-reconcile/../../escaped", "/s3/ferry-local-reconcile/a//b", "/s3/ferry-local-reconcile/a/./b", "/s3/ferry-local-reconcile/"} {
		if w := do(http.MethodPut, path, host, "x"); w.Code != http.StatusBadRequest {
			t.Errorf("PUT %s: %d, want 400", path, w.Code)
		}
	}
	if w := do(http.MethodPut, "/s3/ferry-local-reconcile/k", "evil.example:4567", "x"); w.Code != http.StatusForbidden {
		t.Errorf("PUT with another Host: %d, want 403", w.Code)
	}
	if _, err := os.Stat(filepath.Join(parent, "escaped")); err == nil {
		t.Error("a request wrote outside the S3 directory")
	}
}
