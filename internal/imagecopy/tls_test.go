package imagecopy

import (
	"context"
	"crypto/x509"
	"errors"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/registry"

	"github.com/ferry-dev/ferry/internal/credentials"
	"github.com/ferry-dev/ferry/internal/imageref"
)

// tlsRegistry is a registry server speaking HTTPS on 127.0.0.1, with a
// certificate of its own authority (httptest's), which records the
// User-Agent of each request.
type tlsRegistry struct {
	srv  *httptest.Server
	host string

	mu     sync.Mutex
	agents map[string]int
	hook   func(r *http.Request) // called before each request is served
}

func newTLSRegistry(t *testing.T) *tlsRegistry { return newTLSRegistryWith(t, false) }

// newTLSRegistryWith is newTLSRegistry, offering HTTP/2 as well if h2.
func newTLSRegistryWith(t *testing.T, h2 bool) *tlsRegistry {
	t.Helper()
	tr := &tlsRegistry{agents: map[string]int{}}
	h := registry.New(registry.Logger(log.New(io.Discard, "", 0)))
	tr.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tr.mu.Lock()
		tr.agents[r.UserAgent()]++
		hook := tr.hook
		tr.mu.Unlock()
		if hook != nil {
			hook(r)
		}
		h.ServeHTTP(w, r)
	}))
	tr.srv.EnableHTTP2 = h2
	tr.srv.StartTLS()
	t.Cleanup(tr.srv.Close)
	tr.host = strings.TrimPrefix(tr.srv.URL, "https://")
	return tr
}

func (tr *tlsRegistry) ref(t *testing.T, s string) imageref.Reference {
	t.Helper()
	r, err := imageref.Parse(tr.host + "/" + s)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// pool is a certificate pool holding the registry's authority.
func (tr *tlsRegistry) pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(tr.srv.Certificate())
	return p
}

// manifestDigest is what ref resolves to in the registry, "" if nothing.
func (tr *tlsRegistry) manifestDigest(t *testing.T, repo, ref string) string {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, tr.srv.URL+"/v2/"+repo+"/manifests/"+ref, nil)
	req.Header.Set("Accept", manifestAccept)
	resp, err := tr.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return ""
	}
	return digestOf(b)
}

// tlsCopier is a Copier with the defaults a user gets (no plain-HTTP
// registries named), fast retries and no credentials.
func tlsCopier(opts ...Option) *Copier {
	base := []Option{WithBackoff(Backoff{Attempts: 2, Initial: time.Millisecond, Max: 10 * time.Millisecond}), WithKeychain(credentials.Static(credentials.Credential{}))}
	return New(nil, append(base, opts...)...)
}

// A copy from a plain-HTTP registry to an HTTPS one, both on loopback,
// with no scheme named for either: each is found to speak what it speaks,
// and the HTTPS one's authority is trusted as WithRootCAs says.
func TestCopyFromPlainHTTPToTLS(t *testing.T) {
	t.Parallel()
	src := newTestRegistry(t, true)
	dst := newTLSRegistry(t)
	m := src.pushManifest("app", "v1", ociTypes.manifest, src.pushImage("app", ociTypes, 3, 2, 32<<10))

	res, err := copyOne(t, tlsCopier(WithRootCAs(dst.pool())), src.ref("app:v1"), Destination{Ref: dst.ref(t, "app:v1")})
	if err != nil {
		t.Fatalf("Copy: %v", err)
	}
	if res[0].Status != StatusCopied || res[0].BlobsCopied != 3 {
		t.Errorf("result %+v, want copied with 3 blobs", res[0])
	}
	if got := dst.manifestDigest(t, "app", "v1"); got != m.Digest {
		t.Errorf("the HTTPS registry's v1 is %q, want %s", got, m.Digest)
	}
}

// An HTTPS registry whose authority is not trusted fails with a
// *TLSError that says so, after one try (a retry cannot fix it).
func TestUntrustedCertificate(t *testing.T) {
	t.Parallel()
	src := newTestRegistry(t, true)
	dst := newTLSRegistry(t)
	src.pushManifest("app", "v1", ociTypes.manifest, src.pushImage("app", ociTypes, 4, 1, 1024))

	res, err := copyOne(t, tlsCopier(), src.ref("app:v1"), Destination{Ref: dst.ref(t, "app:v1")})
	te, ok := errors.AsType[*TLSError](err)
	if !ok {
		t.Fatalf("Copy: %v, want a *TLSError", err)
	}
	if !te.UnknownAuthority() || te.Registry != dst.host {
		t.Errorf("TLSError %+v: want an unknown authority at %s", te, dst.host)
	}
	if res[0].Status != StatusFailed || !strings.Contains(res[0].Error, "not trusted") {
		t.Errorf("result %+v, want failed, saying the certificate is not trusted", res[0])
	}
}

// A registry named plain HTTP that speaks HTTPS answers 400: the error
// says it speaks HTTPS on that port.
func TestPlainHTTPToATLSPort(t *testing.T) {
	t.Parallel()
	src := newTLSRegistry(t)
	c := tlsCopier(WithPlainHTTPFor(PlainHTTPHosts(src.host)))
	_, err := copyOne(t, c, src.ref(t, "app:v1"), Destination{Ref: imageref.Reference{Registry: "127.0.0.1:1", Repository: "app", Tag: "v1"}})
	re, ok := errors.AsType[*RegistryError](err)
	if !ok || !re.PlainToTLS || re.StatusCode != http.StatusBadRequest {
		t.Fatalf("Copy: %v, want a 400 RegistryError marked PlainToTLS", err)
	}
	if !strings.Contains(err.Error(), "speaks HTTPS on that port") {
		t.Errorf("error %q does not say the registry speaks HTTPS", err)
	}
}

func TestPlainHTTPHosts(t *testing.T) {
	t.Parallel()
	plain := PlainHTTPHosts("reg.local:5000", "Mirror.Example", "[::1]:8443", "10.0.0.7")
	for host, want := range map[string]bool{
		"reg.local:5000":      true,
		"reg.local:5001":      false,
		"reg.local":           false,
		"mirror.example":      true,
		"mirror.example:8080": true,
		"[::1]:8443":          true,
		"[::1]:8444":          false,
		"10.0.0.7:443":        true,
		"10.0.0.8":            false,
	} {
		if got := plain(host); got != want {
			t.Errorf("PlainHTTPHosts(...)(%q) = %v, want %v", host, got, want)
		}
	}
	for host, want := range map[string]bool{
		"localhost:5000": true, "LOCALHOST": true, "127.0.0.1:80": true, "127.9.8.7": true, "[::1]:5000": true,
		"10.0.0.1:5000": false, "localhost.example.com": false, "123.dkr.ecr.us-east-1.amazonaws.com": false,
	} {
		if got := Loopback(host); got != want {
			t.Errorf("Loopback(%q) = %v, want %v", host, got, want)
		}
	}
}

// Every request, the probe of a loopback registry's scheme included,
// carries the User-Agent.
func TestUserAgent(t *testing.T) {
	t.Parallel()
	src := newTLSRegistry(t)
	dst := newTLSRegistry(t)
	c := tlsCopier(WithRootCAs(func() *x509.CertPool { p := src.pool(); p.AddCert(dst.srv.Certificate()); return p }()), WithUserAgent("ferry/v9.9.9 (test)"))
	// Push through a copy from a plain registry, then copy HTTPS to HTTPS.
	plain := newTestRegistry(t, true)
	plain.pushManifest("app", "v1", ociTypes.manifest, plain.pushImage("app", ociTypes, 5, 1, 4096))
	if _, err := copyOne(t, c, plain.ref("app:v1"), Destination{Ref: src.ref(t, "app:v1")}); err != nil {
		t.Fatal(err)
	}
	if _, err := copyOne(t, c, src.ref(t, "app:v1"), Destination{Ref: dst.ref(t, "app:v1")}); err != nil {
		t.Fatal(err)
	}
	for _, r := range []*tlsRegistry{src, dst} {
		r.mu.Lock()
		if len(r.agents) != 1 || r.agents["ferry/v9.9.9 (test)"] == 0 {
			t.Errorf("registry %s saw User-Agents %v, want only ferry/v9.9.9 (test)", r.host, r.agents)
		}
		r.mu.Unlock()
	}
}

// Each destination's Progress counts its own bytes and blobs, and one that
// needed nothing is finished, with its own time, before another's blobs go.
func TestProgressPerDestination(t *testing.T) {
	t.Parallel()
	src := newTestRegistry(t, true)
	have, lack := newTestRegistry(t, true), newTestRegistry(t, true)
	src.pushManifest("app", "v1", ociTypes.manifest, src.pushImage("app", ociTypes, 6, 3, 100<<10))
	c := testCopier()
	if _, err := copyOne(t, c, src.ref("app:v1"), Destination{Ref: have.ref("app:v1")}); err != nil {
		t.Fatal(err)
	}
	var p [2]Progress
	var mu sync.Mutex
	var firstUpload time.Time
	var finishedBefore bool
	lack.setFault(func(w http.ResponseWriter, r *http.Request) bool {
		if r.Method == http.MethodPatch {
			mu.Lock()
			if firstUpload.IsZero() {
				firstUpload, finishedBefore = time.Now(), p[0].Finished.Load()
			}
			mu.Unlock()
		}
		return false
	})
	start := time.Now()
	res, err := copyOne(t, testCopier(), src.ref("app:v1"),
		Destination{Ref: have.ref("app:v1"), Progress: &p[0]}, Destination{Ref: lack.ref("app:v1"), Progress: &p[1]})
	if err != nil {
		t.Fatal(err)
	}
	if res[0].Status != StatusUnchanged || res[1].Status != StatusCopied {
		t.Fatalf("statuses %s, %s; want unchanged, copied", res[0].Status, res[1].Status)
	}
	if !p[0].Planned.Load() || p[0].Bytes.Load() != 0 || p[0].Blobs.Load() != 0 || !p[0].Finished.Load() {
		t.Errorf("up-to-date destination: planned %v, %d bytes, %d blobs, finished %v; want true, 0, 0, true",
			p[0].Planned.Load(), p[0].Bytes.Load(), p[0].Blobs.Load(), p[0].Finished.Load())
	}
	want := res[1].BytesCopied
	if got := p[1].Bytes.Load(); got != want || got < 300<<10 {
		t.Errorf("copied destination's total is %d bytes, want its own %d (over 300 KiB)", got, want)
	}
	if p[1].Done.Load() != p[1].Bytes.Load() || p[1].Blobs.Load() != 4 || p[1].BlobsDone.Load() != 4 || !p[1].Finished.Load() {
		t.Errorf("copied destination: %d of %d bytes, %d of %d blobs, finished %v; want all, 4 blobs",
			p[1].Done.Load(), p[1].Bytes.Load(), p[1].BlobsDone.Load(), p[1].Blobs.Load(), p[1].Finished.Load())
	}
	if firstUpload.IsZero() || !finishedBefore {
		t.Fatalf("the up-to-date destination was not finished by the other's first upload (upload seen: %v)", !firstUpload.IsZero())
	}
	if end := start.Add(res[0].Duration); !end.Before(firstUpload) {
		t.Errorf("the up-to-date destination's time %s runs past the other's first upload (%s after the start): it is not its own",
			res[0].Duration, firstUpload.Sub(start))
	}
}

// A probe the caller's context cancels is not remembered: the next copy
// probes again.
func TestSchemeProbeCancelled(t *testing.T) {
	t.Parallel()
	var s schemes
	calls := 0
	ctx, cancel := context.WithCancel(context.Background())
	_, err := s.get(ctx, "localhost:1", func(ctx context.Context, _ string) (string, error) {
		calls++
		cancel()
		return "", context.Cause(ctx)
	})
	if err == nil {
		t.Fatal("a cancelled probe returned no error")
	}
	got, err := s.get(context.Background(), "localhost:1", func(context.Context, string) (string, error) { calls++; return "http", nil })
	if err != nil || got != "http" || calls != 2 {
		t.Errorf("after a cancelled probe: %q, %v, %d probes; want http, nil, 2", got, err, calls)
	}
}

// A registry that offers HTTP/2 still gets a connection of its own for
// each blob streaming at once (HTTP/1.1): over HTTP/2 they would share one
// TCP connection, and across a WAN one connection's bandwidth.
func TestBlobStreamsHaveConnectionsOfTheirOwn(t *testing.T) {
	t.Parallel()
	src := newTestRegistry(t, true)
	dst := newTLSRegistryWith(t, true)
	const layers = 4
	const blobs = layers + 1 // and the config
	m := src.pushManifest("app", "v1", ociTypes.manifest, src.pushImage("app", ociTypes, 5, layers, 64<<10))

	var mu sync.Mutex
	protos := map[string]int{}
	conns := map[string]bool{} // the connections the blobs' PUTs came on
	arrived := make(chan struct{})
	waiting := 0
	dst.hook = func(r *http.Request) {
		mu.Lock()
		protos[r.Proto]++
		if r.Method != http.MethodPut || !strings.Contains(r.URL.Path, "/blobs/uploads/") {
			mu.Unlock()
			return
		}
		conns[r.RemoteAddr] = true
		waiting++
		if waiting == blobs {
			close(arrived)
		}
		mu.Unlock()
		// Hold each blob's PUT until all are in flight at once (or give
		// up after a while, which the assertions below then report).
		select {
		case <-arrived:
		case <-time.After(5 * time.Second):
		}
	}
	res, err := copyOne(t, tlsCopier(WithRootCAs(dst.pool())), src.ref("app:v1"), Destination{Ref: dst.ref(t, "app:v1")})
	if err != nil {
		t.Fatalf("Copy: %v", err)
	}
	mu.Lock()
	if len(protos) != 1 || protos["HTTP/1.1"] == 0 {
		t.Errorf("the copy's requests by protocol: %v, want HTTP/1.1 only", protos)
	}
	if len(conns) != blobs {
		t.Errorf("the %d blobs' PUTs came on %d connections, want one each", blobs, len(conns))
	}
	mu.Unlock()
	if got := dst.manifestDigest(t, "app", "v1"); got != m.Digest || res[0].BlobsCopied != blobs {
		t.Errorf("v1 is %q with %d blobs copied, want %s with %d", got, res[0].BlobsCopied, m.Digest, blobs)
	}
}

// Whatever the TLS set-up, the default transport offers a registry
// HTTP/1.1 alone: a TLS handshake that offered h2 (as the configuration
// cloned from http.DefaultTransport does) would have the registry answer
// in HTTP/2 to a client speaking HTTP/1.1.
func TestTransportOffersHTTP1Only(t *testing.T) {
	t.Parallel()
	for name, c := range map[string]*Copier{"system roots": New(nil), "own roots": New(nil, WithRootCAs(x509.NewCertPool()))} {
		tr, ok := c.rt.(userAgent).inner.(*http.Transport)
		if !ok {
			t.Fatalf("%s: transport %T, want an *http.Transport under the User-Agent", name, c.rt)
		}
		if tr.Protocols == nil || tr.Protocols.HTTP2() || !tr.Protocols.HTTP1() {
			t.Errorf("%s: protocols %v, want HTTP/1.1 only", name, tr.Protocols)
		}
		if tr.TLSClientConfig == nil || !slices.Equal(tr.TLSClientConfig.NextProtos, []string{"http/1.1"}) {
			t.Errorf("%s: the TLS handshake offers %v, want [http/1.1]", name, tr.TLSClientConfig)
		}
	}
}
