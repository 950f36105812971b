package imagecopy

import (
	"errors"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/ferry-dev/ferry/internal/credentials"
)

// oversized answers with body, over the cap it is read with: with its
// Content-Length, or chunked (length unknown until the end).
func oversized(w http.ResponseWriter, contentType, body string, chunked bool) {
	w.Header().Set("Content-Type", contentType)
	if !chunked {
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	}
	w.WriteHeader(http.StatusOK)
	if chunked {
		w.(http.Flusher).Flush()
	}
	w.Write([]byte(body))
}

// An answer over its size cap is an ErrTooLarge, and is asked for once:
// the registry would send the same again, so it is not retried as if the
// network had cut it short.
func TestAnswersOverTheirCapAreFinal(t *testing.T) {
	t.Parallel()
	bigJSON := func(prefix string, n int) string { return prefix + strings.Repeat("x", n) + `"]}` }
	for _, tc := range []struct {
		name    string
		chunked bool
		// hit reports whether r is the request to answer oversized.
		hit     func(r *http.Request) bool
		body    string
		wantErr error // nil: the copy succeeds without it
	}{
		{"manifest with its length", false,
			func(r *http.Request) bool {
				return r.Method == http.MethodGet && strings.HasSuffix(r.URL.Path, "/manifests/v1")
			},
			bigJSON(`{"schemaVersion":2,"layers":["`, MaxManifestSize), ErrManifestTooLarge},
		{"manifest chunked", true,
			func(r *http.Request) bool {
				return r.Method == http.MethodGet && strings.HasSuffix(r.URL.Path, "/manifests/v1")
			},
			bigJSON(`{"schemaVersion":2,"layers":["`, MaxManifestSize), ErrManifestTooLarge},
		// The referrers of the image (not the probe for the API).
		{"referrers list", true,
			func(r *http.Request) bool {
				return kind(r.URL.Path) == "referrers" && !strings.HasSuffix(r.URL.Path, zeroDigest)
			},
			bigJSON(`{"schemaVersion":2,"manifests":["`, MaxManifestSize), ErrTooLarge},
		// Without the tag list, referrer tags are asked for one by one.
		{"tag list page", true,
			func(r *http.Request) bool { return strings.HasSuffix(r.URL.Path, "/tags/list") },
			bigJSON(`{"name":"app","tags":["`, MaxManifestSize), nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			src, dst := newTestRegistry(t, true), newTestRegistry(t, true)
			src.pushManifest("app", "v1", mtOCIManifest, src.pushImage("app", ociTypes, 90, 1, 100))
			var hits atomic.Int32
			src.setFault(func(w http.ResponseWriter, r *http.Request) bool {
				if !tc.hit(r) {
					return false
				}
				hits.Add(1)
				oversized(w, "application/json", tc.body, tc.chunked)
				return true
			})
			_, err := copyOne(t, testCopier(), src.ref("app:v1"), Destination{Ref: dst.ref("app:v1")})
			if n := hits.Load(); n != 1 {
				t.Errorf("the oversized answer was asked for %d times, want once (not retried)", n)
			}
			switch {
			case tc.wantErr == nil && err != nil:
				t.Errorf("Copy: %v; want it to go on without the oversized answer", err)
			case tc.wantErr != nil && (!errors.Is(err, tc.wantErr) || !errors.Is(err, ErrTooLarge)):
				t.Errorf("error = %v, want %v (an ErrTooLarge)", err, tc.wantErr)
			case tc.wantErr != nil && !strings.Contains(err.Error(), strconv.Itoa(MaxManifestSize)):
				t.Errorf("error %q does not name the cap", err)
			}
		})
	}
}

// A token service's answer over 64 KiB is an ErrTooLarge; what was read of
// it (credentials, perhaps) is not in the error.
func TestTokenAnswerOverItsCap(t *testing.T) {
	t.Parallel()
	src, dst := newTestRegistry(t, true), newTestRegistry(t, true)
	src.pushManifest("app", "v1", mtOCIManifest, src.pushImage("app", ociTypes, 91, 1, 100))
	var tokens atomic.Int32
	dst.setFault(func(w http.ResponseWriter, r *http.Request) bool {
		if r.URL.Path == "/token" {
			tokens.Add(1)
			oversized(w, "application/json", `{"token":"s3cret`+strings.Repeat("x", maxTokenResponse)+`"}`, false)
			return true
		}
		w.Header().Set("WWW-Authenticate", `Bearer realm="http://`+r.Host+`/token",service="test"`)
		w.WriteHeader(http.StatusUnauthorized)
		return true
	})
	auth := &credentials.Credential{Username: "me", Password: "pw"}
	_, err := testCopier().Copy(t.Context(), Source{Ref: src.ref("app:v1")}, []Destination{{Ref: dst.ref("app:v1"), Auth: auth}})
	if !errors.Is(err, ErrTooLarge) {
		t.Errorf("error = %v, want ErrTooLarge", err)
	}
	if tokens.Load() != 1 {
		t.Errorf("%d token requests, want 1", tokens.Load())
	}
	if err != nil && strings.Contains(err.Error(), "s3cret") {
		t.Errorf("the error carries the token answer: %v", err)
	}
}
