package imagecopy

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/registry"

	"github.com/ferry-dev/ferry/internal/credentials"
	"github.com/ferry-dev/ferry/internal/imageref"
)

// testRegistry is a real registry server (go-containerregistry's) on
// 127.0.0.1 that counts requests and lets a test inject faults.
type testRegistry struct {
	t    *testing.T
	srv  *httptest.Server
	host string

	mu     sync.Mutex
	counts map[string]int // "METHOD kind", kind is manifests, blobs, uploads or referrers
	puts   []string       // manifest references written, in order
	fault  func(w http.ResponseWriter, r *http.Request) bool
	// mounts turns on cross-repository blob mounts, which distribution and
	// ECR (with blob mounting on) have and go-containerregistry's lacks.
	mounts bool
}

func newTestRegistry(t *testing.T, referrers bool) *testRegistry {
	t.Helper()
	return newTestRegistryOn(t, referrers, nil)
}

// newTestRegistryOn is newTestRegistry with its listener wrapped by wrap
// (nil: as it is).
func newTestRegistryOn(t *testing.T, referrers bool, wrap func(net.Listener) net.Listener) *testRegistry {
	t.Helper()
	tr := &testRegistry{t: t, counts: map[string]int{}}
	h := registry.New(registry.Logger(log.New(io.Discard, "", 0)), registry.WithReferrersSupport(referrers))
	tr.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tr.mu.Lock()
		tr.counts[r.Method+" "+kind(r.URL.Path)]++
		if r.Method == http.MethodPut && kind(r.URL.Path) == "manifests" {
			tr.puts = append(tr.puts, r.URL.Path[strings.LastIndex(r.URL.Path, "/")+1:])
		}
		fault := tr.fault
		tr.mu.Unlock()
		if fault != nil && fault(w, r) {
			return
		}
		if tr.mounts && r.Method == http.MethodPost && r.URL.Query().Get("mount") != "" && mount(h, w, r) {
			return
		}
		h.ServeHTTP(w, r)
	}))
	if wrap != nil {
		tr.srv.Listener = wrap(tr.srv.Listener)
	}
	tr.srv.Start()
	t.Cleanup(tr.srv.Close)
	tr.host = strings.TrimPrefix(tr.srv.URL, "http://")
	return tr
}

// smallReceiveBuffers makes every connection the listener accepts take at
// most 32 KiB into its receive buffer, so a server that reads nothing
// stops its client's writes after a few MiB, not tens of them.
func smallReceiveBuffers(l net.Listener) net.Listener { return smallBufListener{l} }

type smallBufListener struct{ net.Listener }

func (l smallBufListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if tc, ok := c.(*net.TCPConn); ok {
		tc.SetReadBuffer(32 << 10)
	}
	return c, err
}

// mount answers 201 when the blob is in the other repository, or returns
// false (the registry then opens an upload session). go-containerregistry's
// registry keeps blobs in one store for all repositories, so a mount needs
// no copying.
func mount(h http.Handler, w http.ResponseWriter, r *http.Request) bool {
	digest, from := r.URL.Query().Get("mount"), r.URL.Query().Get("from")
	repo := strings.TrimSuffix(strings.TrimPrefix(r.URL.Path, "/v2/"), "/blobs/uploads/")
	get := httptest.NewRecorder()
	h.ServeHTTP(get, httptest.NewRequest(http.MethodGet, "/v2/"+from+"/blobs/"+digest, nil))
	if get.Code != http.StatusOK {
		return false
	}
	w.Header().Set("Location", "/v2/"+repo+"/blobs/"+digest)
	w.WriteHeader(http.StatusCreated)
	return true
}

func kind(path string) string {
	switch {
	case strings.Contains(path, "/blobs/uploads"):
		return "uploads"
	case strings.Contains(path, "/blobs/"):
		return "blobs"
	case strings.Contains(path, "/manifests/"):
		return "manifests"
	case strings.Contains(path, "/referrers/"):
		return "referrers"
	}
	return "other"
}

func (tr *testRegistry) setFault(f func(w http.ResponseWriter, r *http.Request) bool) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	tr.fault = f
}

func (tr *testRegistry) count(key string) int {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return tr.counts[key]
}

// writes counts requests that change the registry.
func (tr *testRegistry) writes() int {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	n := 0
	for k, v := range tr.counts {
		if strings.HasPrefix(k, "PUT ") || strings.HasPrefix(k, "POST ") || strings.HasPrefix(k, "PATCH ") || strings.HasPrefix(k, "DELETE ") {
			n += v
		}
	}
	return n
}

func (tr *testRegistry) resetCounts() {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	tr.counts = map[string]int{}
	tr.puts = nil
}

func (tr *testRegistry) manifestPuts() []string {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return append([]string(nil), tr.puts...)
}

func (tr *testRegistry) ref(s string) imageref.Reference {
	tr.t.Helper()
	r, err := imageref.Parse(tr.host + "/" + s)
	if err != nil {
		tr.t.Fatal(err)
	}
	return r
}

func (tr *testRegistry) url(repo, rest string) string {
	return "http://" + tr.host + "/v2/" + repo + "/" + rest
}

// pushBlob uploads data monolithically and returns its descriptor.
func (tr *testRegistry) pushBlob(repo, mediaType string, data []byte) descriptor {
	tr.t.Helper()
	d := descriptor{MediaType: mediaType, Digest: digestOf(data), Size: int64(len(data))}
	resp := tr.do(http.MethodPost, tr.url(repo, "blobs/uploads/"), "", nil, http.StatusAccepted)
	loc, err := resp.Request.URL.Parse(resp.Header.Get("Location"))
	if err != nil {
		tr.t.Fatal(err)
	}
	q := loc.Query()
	q.Set("digest", d.Digest)
	loc.RawQuery = q.Encode()
	tr.do(http.MethodPut, loc.String(), "application/octet-stream", data, http.StatusCreated)
	return d
}

// pushManifest writes a manifest under ref and returns it as the source holds it.
func (tr *testRegistry) pushManifest(repo, ref, mediaType string, body []byte) rawManifest {
	tr.t.Helper()
	tr.do(http.MethodPut, tr.url(repo, "manifests/"+ref), mediaType, body, http.StatusCreated)
	return rawManifest{Body: body, MediaType: mediaType, Digest: digestOf(body)}
}

func (tr *testRegistry) do(method, u, contentType string, body []byte, want int) *http.Response {
	tr.t.Helper()
	req, err := http.NewRequest(method, u, bytes.NewReader(body))
	if err != nil {
		tr.t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	req.Header.Set("Accept", manifestAccept)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		tr.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		tr.t.Fatalf("%s %s: %d %s", method, u, resp.StatusCode, b)
	}
	resp.Body = io.NopCloser(bytes.NewReader(b))
	return resp
}

// manifestDigest returns what ref resolves to, or "" if nothing.
func (tr *testRegistry) manifestDigest(repo, ref string) string {
	tr.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, tr.url(repo, "manifests/"+ref), nil)
	req.Header.Set("Accept", manifestAccept)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		tr.t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusNotFound {
		return ""
	}
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		tr.t.Fatalf("get manifest %s:%s: %d %s", repo, ref, resp.StatusCode, b)
	}
	return digestOf(b)
}

// blobDigest downloads a blob and returns the digest of what came back, or
// "" if the registry does not have it.
func (tr *testRegistry) blobDigest(repo, digest string) string {
	tr.t.Helper()
	resp, err := http.Get(tr.url(repo, "blobs/"+digest))
	if err != nil {
		tr.t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return ""
	}
	b, _ := io.ReadAll(resp.Body)
	return digestOf(b)
}

// randomBytes returns n deterministic incompressible bytes.
func randomBytes(seed uint64, n int) []byte {
	b := make([]byte, n)
	r := rand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8), byte(seed >> 16)})
	_, _ = r.Read(b)
	return b
}

type mediaTypes struct {
	index, manifest, config, layer string
}

var (
	ociTypes    = mediaTypes{mtOCIIndex, mtOCIManifest, "application/vnd.oci.image.config.v1+json", "application/vnd.oci.image.layer.v1.tar+gzip"}
	dockerTypes = mediaTypes{mtDockerList, mtDockerV2, "application/vnd.docker.container.image.v1+json", "application/vnd.docker.image.rootfs.diff.tar.gzip"}
)

// pushImage writes a config and layers and returns the (unpushed) manifest
// body. Extra layers (foreign ones, say) are appended as given.
func (tr *testRegistry) pushImage(repo string, mt mediaTypes, seed uint64, layers, layerSize int, extra ...descriptor) []byte {
	tr.t.Helper()
	cfg := tr.pushBlob(repo, mt.config, []byte(fmt.Sprintf(`{"architecture":"amd64","os":"linux","seed":%d}`, seed)))
	m := map[string]any{"schemaVersion": 2, "mediaType": mt.manifest, "config": cfg}
	ls := []descriptor{}
	for i := range layers {
		ls = append(ls, tr.pushBlob(repo, mt.layer, randomBytes(seed*100+uint64(i), layerSize)))
	}
	m["layers"] = append(ls, extra...)
	b, err := json.Marshal(m)
	if err != nil {
		tr.t.Fatal(err)
	}
	return b
}

// pushIndex pushes a 2-platform index under tag and returns it.
func (tr *testRegistry) pushIndex(repo, tag string, mt mediaTypes, seed uint64) (rawManifest, []rawManifest) {
	tr.t.Helper()
	var children []rawManifest
	var descs []map[string]any
	for i, arch := range []string{"amd64", "arm64"} {
		body := tr.pushImage(repo, mt, seed+uint64(i)*7, 2, 64<<10+i)
		child := tr.pushManifest(repo, digestOf(body), mt.manifest, body)
		children = append(children, child)
		descs = append(descs, map[string]any{"mediaType": mt.manifest, "digest": child.Digest, "size": len(body),
			"platform": map[string]string{"os": "linux", "architecture": arch}})
	}
	b, err := json.Marshal(map[string]any{"schemaVersion": 2, "mediaType": mt.index, "manifests": descs})
	if err != nil {
		tr.t.Fatal(err)
	}
	return tr.pushManifest(repo, tag, mt.index, b), children
}

// pushReferrer pushes an OCI artifact manifest whose subject is subject, by digest.
func (tr *testRegistry) pushReferrer(repo string, subject rawManifest, artifactType string, seed uint64) rawManifest {
	tr.t.Helper()
	empty := tr.pushBlob(repo, "application/vnd.oci.empty.v1+json", []byte("{}"))
	layer := tr.pushBlob(repo, "application/vnd.dev.ferry.test", randomBytes(seed, 512))
	b, _ := json.Marshal(map[string]any{
		"schemaVersion": 2, "mediaType": mtOCIManifest, "artifactType": artifactType,
		"config": empty, "layers": []descriptor{layer},
		"subject": descriptor{MediaType: subject.MediaType, Digest: subject.Digest, Size: int64(len(subject.Body))},
	})
	return tr.pushManifest(repo, digestOf(b), mtOCIManifest, b)
}

// testCopier has fast retries so fault tests take milliseconds. It
// uploads blobs as a PATCH and a PUT, the way the fault tests that stall or
// cut an upload's PATCH expect (the single PUT streams the same body, and
// monolithic_test.go tests it: pass WithMonolithicUploads(true)).
func testCopier(opts ...Option) *Copier {
	base := []Option{WithBackoff(Backoff{Attempts: 4, Initial: 5 * time.Millisecond, Max: 2 * time.Second}), WithKeychain(credentials.Static(credentials.Credential{})), WithPlainHTTPFor(func(string) bool { return true }),
		WithMonolithicUploads(false)}
	return New(nil, append(base, opts...)...)
}

func copyOne(t *testing.T, c *Copier, src imageref.Reference, dsts ...Destination) ([]Result, error) {
	t.Helper()
	return c.Copy(context.Background(), Source{Ref: src}, dsts)
}

// referrersTagLists reports whether the index under tag lists digest with
// the given artifactType.
func (tr *testRegistry) referrersTagLists(tag, digest, artifactType string) bool {
	tr.t.Helper()
	resp := tr.do(http.MethodGet, tr.url("app", "manifests/"+tag), "", nil, http.StatusOK)
	var idx manifest
	if err := json.NewDecoder(resp.Body).Decode(&idx); err != nil {
		tr.t.Fatal(err)
	}
	for _, d := range idx.Manifests {
		if d.Digest == digest && d.ArtifactType == artifactType {
			return true
		}
	}
	return false
}
