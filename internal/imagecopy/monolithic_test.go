package imagecopy

import (
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
)

// An index of 2 images with 2 layers each: 6 blobs (configs included).
const indexBlobs = 6

func TestBlobsGoInOnePut(t *testing.T) {
	t.Parallel()
	src, dst := newTestRegistry(t, true), newTestRegistry(t, true)
	idx, _ := src.pushIndex("app", "v1", ociTypes, 31)
	res, err := copyOne(t, testCopier(WithMonolithicUploads(true)), src.ref("app:v1"), Destination{Ref: dst.ref("app:v1")})
	if err != nil {
		t.Fatal(err)
	}
	if res[0].BlobsCopied != indexBlobs {
		t.Errorf("blobs copied = %d, want %d", res[0].BlobsCopied, indexBlobs)
	}
	if got := dst.count("PATCH uploads"); got != 0 {
		t.Errorf("PATCH requests = %d, want none: each blob goes in its PUT", got)
	}
	if opened, put := dst.count("POST uploads"), dst.count("PUT uploads"); opened != indexBlobs || put != indexBlobs {
		t.Errorf("upload sessions opened = %d, PUTs = %d; want %d of each", opened, put, indexBlobs)
	}
	if got := dst.manifestDigest("app", "v1"); got != idx.Digest {
		t.Errorf("destination tag is %q, want %s", got, idx.Digest)
	}
}

// TestRefusedSinglePutFallsBack: a registry that does not take a blob's
// bytes in its committing PUT gets that blob again as a PATCH and a PUT,
// and every later blob that way at once.
func TestRefusedSinglePutFallsBack(t *testing.T) {
	t.Parallel()
	src, dst := newTestRegistry(t, true), newTestRegistry(t, true)
	idx, _ := src.pushIndex("app", "v1", ociTypes, 32)
	var refused atomic.Int32
	dst.setFault(func(w http.ResponseWriter, r *http.Request) bool {
		if r.Method == http.MethodPut && strings.Contains(r.URL.Path, "/blobs/uploads/") && r.ContentLength != 0 {
			refused.Add(1)
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusBadRequest)
			_, _ = w.Write([]byte(`{"errors":[{"code":"BLOB_UPLOAD_INVALID","message":"monolithic uploads not supported"}]}`))
			return true
		}
		return false
	})
	// One blob streams at a time; the next starts once the last byte of
	// the one before is sent, before its answer: so at most two are
	// refused before the registry is known to want the other way.
	res, err := copyOne(t, testCopier(WithMonolithicUploads(true), WithJobs(1)), src.ref("app:v1"), Destination{Ref: dst.ref("app:v1")})
	if err != nil {
		t.Fatal(err)
	}
	if got := refused.Load(); got < 1 || got > 2 {
		t.Errorf("single PUTs refused = %d, want 1 or 2 (the fault must fire, and the fallback stick)", got)
	}
	if got := dst.count("PATCH uploads"); got != indexBlobs {
		t.Errorf("PATCH requests = %d, want %d: every blob the second way", got, indexBlobs)
	}
	if res[0].BlobsCopied != indexBlobs {
		t.Errorf("blobs copied = %d, want %d", res[0].BlobsCopied, indexBlobs)
	}
	if got := dst.manifestDigest("app", "v1"); got != idx.Digest {
		t.Errorf("destination tag is %q, want %s", got, idx.Digest)
	}
}

// TestSinglePutCutMidwayIsRetried: a connection cut while a single PUT
// streams is a stream to send again, as it is for a PATCH.
func TestSinglePutCutMidwayIsRetried(t *testing.T) {
	t.Parallel()
	src, dst := newTestRegistry(t, true), newTestRegistry(t, true)
	idx, _ := src.pushIndex("app", "v1", ociTypes, 33)
	var cut atomic.Int32
	dst.setFault(func(w http.ResponseWriter, r *http.Request) bool {
		if r.Method == http.MethodPut && strings.Contains(r.URL.Path, "/blobs/uploads/") && r.ContentLength != 0 && cut.Add(1) == 1 {
			hj, ok := w.(http.Hijacker)
			if !ok {
				t.Error("the test server cannot hijack")
				return false
			}
			conn, _, err := hj.Hijack()
			if err == nil {
				conn.Close()
			}
			return true
		}
		return false
	})
	res, err := copyOne(t, testCopier(WithMonolithicUploads(true)), src.ref("app:v1"), Destination{Ref: dst.ref("app:v1")})
	if err != nil {
		t.Fatal(err)
	}
	if cut.Load() < 2 {
		t.Errorf("single PUTs seen after the cut = %d, want the cut one and more", cut.Load())
	}
	if got := dst.count("PATCH uploads"); got != 0 {
		t.Errorf("PATCH requests = %d, want none: a cut is not a refusal", got)
	}
	if res[0].BlobsCopied != indexBlobs {
		t.Errorf("blobs copied = %d, want %d", res[0].BlobsCopied, indexBlobs)
	}
	if got := dst.manifestDigest("app", "v1"); got != idx.Digest {
		t.Errorf("destination tag is %q, want %s", got, idx.Digest)
	}
}

// A 400 that says what is wrong with these bytes (corrupted in transit)
// is a fault of the upload, retried as it is; only one that names nothing,
// or the method's own refusals, turn single PUTs off for the registry.
func TestRefusesMonolithic(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		status int
		codes  []string
		want   bool
	}{
		{http.StatusBadRequest, nil, true},
		{http.StatusBadRequest, []string{"UNSUPPORTED"}, true},
		{http.StatusBadRequest, []string{"DIGEST_INVALID"}, false},
		{http.StatusBadRequest, []string{"SIZE_INVALID"}, false},
		{http.StatusBadRequest, []string{"BLOB_UPLOAD_UNKNOWN"}, false},
		{http.StatusMethodNotAllowed, nil, true},
		{http.StatusLengthRequired, nil, true},
		{http.StatusNotImplemented, nil, true},
		{http.StatusInternalServerError, nil, false},
		{http.StatusUnauthorized, nil, false},
	} {
		if got := refusesMonolithic(&RegistryError{StatusCode: tc.status, Codes: tc.codes}); got != tc.want {
			t.Errorf("%d %v: refuses = %t, want %t", tc.status, tc.codes, got, tc.want)
		}
	}
}
