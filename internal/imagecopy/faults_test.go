package imagecopy

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// cutAfter answers a blob GET with its headers and the first n bytes of
// body, then drops the connection.
func cutAfter(w http.ResponseWriter, size int64, body []byte, n int) {
	hj, ok := w.(http.Hijacker)
	if !ok {
		panic("no hijacker")
	}
	conn, buf, err := hj.Hijack()
	if err != nil {
		panic(err)
	}
	defer conn.Close()
	fmt.Fprintf(buf, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\nContent-Type: application/octet-stream\r\n\r\n", size)
	buf.Write(body[:n])
	buf.Flush()
}

func TestConnectionCutMidBlobIsRetried(t *testing.T) {
	t.Parallel()
	src, dst1, dst2 := newTestRegistry(t, true), newTestRegistry(t, true), newTestRegistry(t, true)
	big := randomBytes(20, 3<<20)
	layer := src.pushBlob("app", ociTypes.layer, big)
	cfg := src.pushBlob("app", ociTypes.config, []byte(`{"os":"linux"}`))
	body := []byte(`{"schemaVersion":2,"mediaType":"` + mtOCIManifest + `","config":{"mediaType":"` + ociTypes.config + `","digest":"` + cfg.Digest + `","size":` + itoa(int(cfg.Size)) + `},"layers":[{"mediaType":"` + ociTypes.layer + `","digest":"` + layer.Digest + `","size":` + itoa(len(big)) + `}]}`)
	m := src.pushManifest("app", "v1", mtOCIManifest, body)
	var cuts atomic.Int32
	src.setFault(func(w http.ResponseWriter, r *http.Request) bool {
		if r.Method == http.MethodGet && strings.HasSuffix(r.URL.Path, layer.Digest) && cuts.Add(1) == 1 {
			cutAfter(w, layer.Size, big, 1<<20+17)
			return true
		}
		return false
	})
	res, err := copyOne(t, testCopier(), src.ref("app:v1"), Destination{Ref: dst1.ref("app:v1")}, Destination{Ref: dst2.ref("app:v1")})
	if err != nil {
		t.Fatalf("Copy after a cut connection: %v", err)
	}
	if cuts.Load() != 2 {
		t.Errorf("layer read %d times, want 2 (one cut, one retry)", cuts.Load())
	}
	for i, d := range []*testRegistry{dst1, dst2} {
		if got := d.blobDigest("app", layer.Digest); got != layer.Digest {
			t.Errorf("destination %d: layer has digest %q", i, got)
		}
		if got := d.manifestDigest("app", "v1"); got != m.Digest {
			t.Errorf("destination %d: tag resolves to %q", i, got)
		}
		if res[i].BytesCopied != layer.Size+cfg.Size {
			t.Errorf("destination %d: bytes copied %d, want %d", i, res[i].BytesCopied, layer.Size+cfg.Size)
		}
		// The session the cut spoiled is cancelled, not left to expire.
		if n := d.count("DELETE uploads"); n != 1 {
			t.Errorf("destination %d: %d upload sessions cancelled, want 1 (the cut one)", i, n)
		}
	}
}

func TestCorruptBlobIsDetected(t *testing.T) {
	t.Parallel()
	src, dst := newTestRegistry(t, true), newTestRegistry(t, true)
	data := randomBytes(21, 2<<20)
	layer := src.pushBlob("app", ociTypes.layer, data)
	cfg := src.pushBlob("app", ociTypes.config, []byte(`{"os":"linux"}`))
	body := []byte(`{"schemaVersion":2,"mediaType":"` + mtOCIManifest + `","config":{"mediaType":"` + ociTypes.config + `","digest":"` + cfg.Digest + `","size":` + itoa(int(cfg.Size)) + `},"layers":[{"mediaType":"` + ociTypes.layer + `","digest":"` + layer.Digest + `","size":` + itoa(len(data)) + `}]}`)
	src.pushManifest("app", "v1", mtOCIManifest, body)
	corrupt := append([]byte(nil), data...)
	corrupt[len(corrupt)/2] ^= 0xff
	src.setFault(func(w http.ResponseWriter, r *http.Request) bool {
		if r.Method == http.MethodGet && strings.HasSuffix(r.URL.Path, layer.Digest) {
			w.Header().Set("Content-Length", itoa(len(corrupt)))
			w.Write(corrupt)
			return true
		}
		return false
	})
	_, err := copyOne(t, testCopier(), src.ref("app:v1"), Destination{Ref: dst.ref("app:v1")})
	var de *DigestError
	if !errors.Is(err, ErrDigestMismatch) || !errors.As(err, &de) || de.Want != layer.Digest {
		t.Fatalf("error = %v, want a DigestError for %s", err, layer.Digest)
	}
	if !strings.Contains(err.Error(), src.host+"/app@"+layer.Digest) {
		t.Errorf("error %q does not say where the corrupt blob came from", err)
	}
	if got := dst.blobDigest("app", layer.Digest); got != "" {
		t.Errorf("destination committed the corrupt blob")
	}
	if got := dst.manifestDigest("app", "v1"); got != "" {
		t.Errorf("destination has a tag for a corrupt image: %s", got)
	}
	if n := src.count("GET blobs"); n > 2 {
		t.Errorf("corrupt blob read %d times: a digest mismatch must not be retried", n)
	}
}

func TestMountsWithinARegistry(t *testing.T) {
	t.Parallel()
	src, dst := newTestRegistry(t, true), newTestRegistry(t, true)
	src.mounts, dst.mounts = true, true
	idx, _ := src.pushIndex("app", "v1", ociTypes, 22)
	// go-containerregistry's registry shares blobs across repositories;
	// make mirror/app start empty, as in distribution or ECR.
	src.setFault(func(w http.ResponseWriter, r *http.Request) bool {
		if r.Method == http.MethodHead && strings.HasPrefix(r.URL.Path, "/v2/mirror/app/blobs/") {
			w.WriteHeader(http.StatusNotFound)
			return true
		}
		return false
	})
	// Two repositories in one destination registry, and one in the source's.
	res, err := copyOne(t, testCopier(), src.ref("app:v1"),
		Destination{Ref: dst.ref("a/app:v1")}, Destination{Ref: dst.ref("b/app:v1")}, Destination{Ref: src.ref("mirror/app:v1")})
	if err != nil {
		t.Fatal(err)
	}
	if got := src.count("GET blobs"); got != 6 {
		t.Errorf("source blob reads = %d, want 6: one stream per blob, the rest mounted", got)
	}
	if res[0].BlobsCopied != 6 || res[1].BlobsMounted != 6 || res[2].BlobsMounted != 6 {
		t.Errorf("copied/mounted = %d/%d, %d/%d, %d/%d; want 6 copied to a/app, 6 mounted into b/app and mirror/app",
			res[0].BlobsCopied, res[0].BlobsMounted, res[1].BlobsCopied, res[1].BlobsMounted, res[2].BlobsCopied, res[2].BlobsMounted)
	}
	for _, ref := range []struct {
		reg  *testRegistry
		repo string
	}{{dst, "a/app"}, {dst, "b/app"}, {src, "mirror/app"}} {
		if got := ref.reg.manifestDigest(ref.repo, "v1"); got != idx.Digest {
			t.Errorf("%s: %q, want %s", ref.repo, got, idx.Digest)
		}
	}
}

// An upload that cannot be committed leaves no session behind: each one
// the copy opened is cancelled with a DELETE.
func TestFailedUploadsAreCancelled(t *testing.T) {
	t.Parallel()
	src, dst := newTestRegistry(t, true), newTestRegistry(t, true)
	src.pushIndex("app", "v1", ociTypes, 40)
	dst.setFault(func(w http.ResponseWriter, r *http.Request) bool {
		if r.Method == http.MethodPut && r.URL.Query().Get("digest") != "" {
			http.Error(w, `{"errors":[{"code":"BLOB_UPLOAD_INVALID","message":"no"}]}`, http.StatusBadRequest)
			return true
		}
		return false
	})
	if _, err := copyOne(t, testCopier(), src.ref("app:v1"), Destination{Ref: dst.ref("app:v1")}); err == nil {
		t.Fatal("Copy succeeded although no blob could be committed")
	}
	started, cancelled := dst.count("POST uploads"), dst.count("DELETE uploads")
	if started == 0 || cancelled != started {
		t.Errorf("%d upload sessions started, %d cancelled; want every one cancelled", started, cancelled)
	}
}

// A blob the source cannot serve leaves no session open at the
// destinations either.
func TestSessionsCancelledWhenTheSourceFails(t *testing.T) {
	t.Parallel()
	src, dst1, dst2 := newTestRegistry(t, true), newTestRegistry(t, true), newTestRegistry(t, true)
	src.pushIndex("app", "v1", ociTypes, 43)
	src.setFault(func(w http.ResponseWriter, r *http.Request) bool {
		if r.Method == http.MethodGet && kind(r.URL.Path) == "blobs" {
			http.Error(w, `{"errors":[{"code":"DENIED","message":"no"}]}`, http.StatusForbidden)
			return true
		}
		return false
	})
	if _, err := copyOne(t, testCopier(), src.ref("app:v1"), Destination{Ref: dst1.ref("app:v1")}, Destination{Ref: dst2.ref("app:v1")}); err == nil {
		t.Fatal("Copy succeeded although the source served no blob")
	}
	for i, d := range []*testRegistry{dst1, dst2} {
		started, cancelled := d.count("POST uploads"), d.count("DELETE uploads")
		if started == 0 || cancelled != started {
			t.Errorf("destination %d: %d upload sessions started, %d cancelled; want every one cancelled", i, started, cancelled)
		}
	}
}

// A source manifest with a negative layer size is refused as invalid
// before anything is read or written, even from a source that streams its
// blobs without a Content-Length.
func TestNegativeSizeIsRefused(t *testing.T) {
	t.Parallel()
	src, dst := newTestRegistry(t, true), newTestRegistry(t, true)
	data := randomBytes(70, 1000)
	layer := src.pushBlob("app", ociTypes.layer, data)
	cfg := src.pushBlob("app", ociTypes.config, []byte(`{"os":"linux"}`))
	layer.Size = -5
	body, err := json.Marshal(map[string]any{"schemaVersion": 2, "mediaType": mtOCIManifest, "config": cfg, "layers": []descriptor{layer}})
	if err != nil {
		t.Fatal(err)
	}
	src.pushManifest("app", "v1", mtOCIManifest, body)
	src.setFault(func(w http.ResponseWriter, r *http.Request) bool {
		if r.Method == http.MethodGet && strings.HasSuffix(r.URL.Path, layer.Digest) {
			w.WriteHeader(http.StatusOK)
			w.(http.Flusher).Flush() // chunked: no Content-Length
			w.Write(data)
			return true
		}
		return false
	})
	_, err = copyOne(t, testCopier(), src.ref("app:v1"), Destination{Ref: dst.ref("app:v1")})
	if !errors.Is(err, ErrInvalidManifest) || !strings.Contains(err.Error(), "size -5") {
		t.Errorf("error = %v, want ErrInvalidManifest naming size -5", err)
	}
	if n := dst.writes(); n != 0 {
		t.Errorf("%d writes at the destination for an invalid manifest", n)
	}
}

// A layer redirected to a presigned URL (ECR sends layers from S3) that
// fails leaves no signature or token from that URL in the error, which
// ends up in logs and in the workflow's history.
func TestErrorsDoNotCarryPresignedURLs(t *testing.T) {
	t.Parallel()
	src, dst := newTestRegistry(t, true), newTestRegistry(t, true)
	src.pushIndex("app", "v1", ociTypes, 44)
	gone := httptest.NewServer(http.NotFoundHandler())
	gone.Close() // nothing listens there any more
	src.setFault(func(w http.ResponseWriter, r *http.Request) bool {
		if r.Method == http.MethodGet && kind(r.URL.Path) == "blobs" {
			http.Redirect(w, r, gone.URL+"/bucket/layer?X-Amz-Security-Token=tok3n&X-Amz-Signature=s1gnature", http.StatusTemporaryRedirect)
			return true
		}
		return false
	})
	_, err := copyOne(t, testCopier(), src.ref("app:v1"), Destination{Ref: dst.ref("app:v1")})
	if err == nil {
		t.Fatal("copy succeeded although no layer could be read")
	}
	if strings.Contains(err.Error(), "tok3n") || strings.Contains(err.Error(), "s1gnature") {
		t.Errorf("error carries the presigned URL's credentials: %v", err)
	}
	if !strings.Contains(err.Error(), "/bucket/layer?…") {
		t.Errorf("error %q does not name the URL that failed", err)
	}
}

// A destination that stops taking a blob's bytes, or takes them all and
// never answers, is given up on (and retried), and the other destinations
// go on meanwhile.
func TestStalledDestinationDoesNotHoldUpTheOthers(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		readAll bool
		want    string
	}{
		{"takes nothing", false, "took nothing for {stall}"},
		{"never answers", true, "timeout awaiting response headers"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			src, good := newTestRegistry(t, true), newTestRegistry(t, true)
			stuck := newTestRegistryOn(t, true, smallReceiveBuffers)
			// A layer bigger than what socket buffers then hold: a registry
			// that reads none of it blocks the sender.
			src.pushManifest("app", "v1", mtOCIManifest, src.pushImage("app", ociTypes, 45, 1, 8<<20))
			release := make(chan struct{})
			t.Cleanup(func() { close(release) }) // before the servers close
			var stalled atomic.Int32
			stuck.setFault(func(w http.ResponseWriter, r *http.Request) bool {
				if r.Method != http.MethodPatch {
					return false
				}
				// The config blob goes through; the layer gets stuck.
				head := make([]byte, 64<<10)
				n, err := io.ReadFull(r.Body, head)
				if err != nil {
					r.Body = io.NopCloser(bytes.NewReader(head[:n]))
					return false
				}
				stalled.Add(1)
				if tc.readAll {
					io.Copy(io.Discard, r.Body)
				}
				select { // answer nothing
				case <-r.Context().Done():
				case <-release:
				}
				return true
			})
			// The good destination answers its upload within 2.5 stall
			// timeouts (the wait for an answer): under -race, where it
			// takes a second or two, those are longer.
			stall := 200 * time.Millisecond
			if raceDetector {
				stall = time.Second
			}
			done := make(chan struct{})
			var results []Result
			var err error
			go func() {
				defer close(done)
				results, err = copyOne(t, testCopier(WithStallTimeout(stall)), src.ref("app:v1"),
					Destination{Ref: good.ref("app:v1")}, Destination{Ref: stuck.ref("app:v1")})
			}()
			select {
			case <-done:
			case <-time.After(30 * time.Second):
				t.Fatal("Copy did not return: a stuck destination holds it up")
			}
			if err == nil || results[0].Status != StatusCopied || results[1].Status != StatusFailed {
				t.Fatalf("results %+v, error %v; want the good destination copied and the stuck one failed", results, err)
			}
			if want := strings.ReplaceAll(tc.want, "{stall}", stall.String()); !strings.Contains(results[1].Error, want) {
				t.Errorf("stuck destination's error = %v, want it to say %q", results[1].Err, want)
			}
			if n := int(stalled.Load()); n != testCopier().backoff.Attempts {
				t.Errorf("%d uploads of the layer to the stuck destination, want %d: a stall is retried", n, testCopier().backoff.Attempts)
			}
		})
	}
}

// A source that stops sending a blob is given up on after the stall
// timeout, with an error that says so.
func TestStalledSourceIsGivenUp(t *testing.T) {
	t.Parallel()
	src, dst := newTestRegistry(t, true), newTestRegistry(t, true)
	src.pushIndex("app", "v1", ociTypes, 46)
	src.setFault(func(w http.ResponseWriter, r *http.Request) bool {
		if r.Method == http.MethodGet && kind(r.URL.Path) == "blobs" {
			w.Header().Set("Content-Type", "application/octet-stream")
			w.WriteHeader(http.StatusOK)
			w.Write([]byte("the first few bytes"))
			w.(http.Flusher).Flush()
			<-r.Context().Done() // then nothing
			return true
		}
		return false
	})
	start := time.Now()
	_, err := copyOne(t, testCopier(WithStallTimeout(200*time.Millisecond)), src.ref("app:v1"), Destination{Ref: dst.ref("app:v1")})
	if !errors.Is(err, ErrStalled) || !strings.Contains(err.Error(), "the source sent nothing for 200ms") {
		t.Errorf("error = %v, want ErrStalled saying the source sent nothing", err)
	}
	if took := time.Since(start); took > 15*time.Second {
		t.Errorf("took %s to give up on a stalled source", took)
	}
	if got := dst.manifestDigest("app", "v1"); got != "" {
		t.Errorf("tag written (%s) although no blob arrived", got)
	}
}
