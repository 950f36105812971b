package runner

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"
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

type recordingHandler struct{ payload []byte }

func (h *recordingHandler) Invoke(_ context.Context, payload []byte) ([]byte, error) {
	h.payload = payload
	return []byte(`{"statusCode":200,"body":"ok"}`), nil
}

// The Function URL stand-in hands the callback the caller's address as a
// Function URL does: the IP alone, which the decision records.
func TestFunctionURLGivesTheSourceIP(t *testing.T) {
	t.Parallel()
	h := &recordingHandler{}
	r := &Runner{handlers: map[string]lambda.Handler{"approvalcallback": h}}
	req := httptest.NewRequest(http.MethodPost, "http://127.0.0.1:4567/approval?ticket=v2.x", strings.NewReader("ticket=v2.x"))
	req.RemoteAddr = "198.51.100.4:61234"
	w := httptest.NewRecorder()
	r.serveFunctionURL(w, req)
	var ev events.LambdaFunctionURLRequest
	if err := json.Unmarshal(h.payload, &ev); err != nil {
		t.Fatalf("%v (status %d)", err, w.Code)
	}
	if ip := ev.RequestContext.HTTP.SourceIP; ip != "198.51.100.4" {
		t.Errorf("sourceIp %q, want 198.51.100.4", ip)
	}
}
