package imagecopy

import (
	"errors"
	"net/http"
	"strings"
	"testing"
)

// A registry that answers 503 to every try fails the copy with a
// *RetriedError that says how often, and over how long, it was tried.
func TestRetriedErrorSaysHowLong(t *testing.T) {
	t.Parallel()
	src := newTestRegistry(t, true)
	src.pushManifest("app", "v1", ociTypes.manifest, src.pushImage("app", ociTypes, 7, 1, 1024))
	dst := newTestRegistry(t, true)
	src.setFault(func(w http.ResponseWriter, r *http.Request) bool {
		if r.Method == http.MethodGet && kind(r.URL.Path) == "manifests" {
			w.WriteHeader(http.StatusServiceUnavailable)
			return true
		}
		return false
	})
	_, err := copyOne(t, testCopier(), src.ref("app:v1"), Destination{Ref: dst.ref("app:v1")})
	re, ok := errors.AsType[*RetriedError](err)
	if !ok {
		t.Fatalf("Copy: %v, want a *RetriedError", err)
	}
	if re.Tries != 4 || src.count("GET manifests") != 4 || !strings.Contains(err.Error(), "(tried 4 times over ") {
		t.Errorf("error %q: %d tries (registry saw %d), want 4 and the error saying so", err, re.Tries, src.count("GET manifests"))
	}
	if !Retryable(err) {
		t.Errorf("a retried passing fault is no longer retryable: %v", err)
	}
}
