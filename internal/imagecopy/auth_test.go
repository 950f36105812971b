package imagecopy

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ferry-dev/ferry/internal/credentials"
)

func TestBasicAuth(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		password string
		wantErr  bool
	}{
		{"right token", "secret-token", false},
		{"wrong token", "stale", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			src, dst := newTestRegistry(t, true), newTestRegistry(t, true)
			idx, _ := src.pushIndex("app", "v1", ociTypes, 30)
			want := "Basic " + base64.StdEncoding.EncodeToString([]byte("AWS:secret-token"))
			var unauthenticated atomic.Int32
			dst.setFault(func(w http.ResponseWriter, r *http.Request) bool {
				if r.Header.Get("Authorization") != want {
					unauthenticated.Add(1)
					w.Header().Set("WWW-Authenticate", `Basic realm="test"`)
					http.Error(w, `{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}`, http.StatusUnauthorized)
					return true
				}
				return false
			})
			auth := &credentials.Credential{Username: "AWS", Password: tc.password}
			_, err := testCopier().Copy(t.Context(), Source{Ref: src.ref("app:v1")}, []Destination{{Ref: dst.ref("app:v1"), Auth: auth}})
			if tc.wantErr {
				var re *RegistryError
				if !errors.As(err, &re) || re.StatusCode != http.StatusUnauthorized || !strings.Contains(err.Error(), "credentials") {
					t.Fatalf("error = %v, want a 401 that says to check the credentials", err)
				}
				if n := unauthenticated.Load(); n != 1 {
					t.Errorf("%d refused requests, want 1: a 401 must not be retried", n)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if n := unauthenticated.Load(); n != 0 {
				t.Errorf("%d requests went without credentials; Basic credentials go with the first request", n)
			}
			dst.setFault(nil)
			if got := dst.manifestDigest("app", "v1"); got != idx.Digest {
				t.Errorf("digest %q, want %s", got, idx.Digest)
			}
		})
	}
}

func TestBearerTokenExchange(t *testing.T) {
	t.Parallel()
	src, dst := newTestRegistry(t, true), newTestRegistry(t, true)
	idx, _ := src.pushIndex("app", "v1", ociTypes, 31)
	var tokens atomic.Int32
	var sawScope atomic.Value
	dst.setFault(func(w http.ResponseWriter, r *http.Request) bool {
		if r.URL.Path == "/token" {
			if u, p, ok := r.BasicAuth(); !ok || u != "me" || p != "pw" {
				http.Error(w, "bad credentials", http.StatusUnauthorized)
				return true
			}
			tokens.Add(1)
			sawScope.Store(strings.Join(r.URL.Query()["scope"], " "))
			w.Write([]byte(`{"token":"tok-1"}`))
			return true
		}
		if r.Header.Get("Authorization") != "Bearer tok-1" {
			w.Header().Set("WWW-Authenticate", `Bearer realm="http://`+r.Host+`/token",service="test",scope="repository:app:pull,push"`)
			w.WriteHeader(http.StatusUnauthorized)
			return true
		}
		return false
	})
	auth := &credentials.Credential{Username: "me", Password: "pw"}
	if _, err := testCopier().Copy(t.Context(), Source{Ref: src.ref("app:v1")}, []Destination{{Ref: dst.ref("app:v1"), Auth: auth}}); err != nil {
		t.Fatal(err)
	}
	dst.setFault(nil)
	if got := dst.manifestDigest("app", "v1"); got != idx.Digest {
		t.Errorf("digest %q, want %s", got, idx.Digest)
	}
	if n := tokens.Load(); n != 1 {
		t.Errorf("%d token requests, want 1 (shared by every request)", n)
	}
	if s, _ := sawScope.Load().(string); !strings.Contains(s, "repository:app:push") {
		t.Errorf("token scopes %q, want push on app", s)
	}
}

func TestParseChallenge(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in         string
		wantScheme string
		want       map[string]string
	}{
		{`Bearer realm="https://auth.example.com/token",service="registry.example.com",scope="repository:a/b:pull"`,
			"bearer", map[string]string{"realm": "https://auth.example.com/token", "service": "registry.example.com", "scope": "repository:a/b:pull"}},
		{`Basic realm="https://123456789012.dkr.ecr.us-east-1.amazonaws.com/",service="ecr.amazonaws.com"`,
			"basic", map[string]string{"realm": "https://123456789012.dkr.ecr.us-east-1.amazonaws.com/", "service": "ecr.amazonaws.com"}},
		{`Bearer realm="a\"b", error=invalid_token`, "bearer", map[string]string{"realm": `a"b`, "error": "invalid_token"}},
		{``, "", map[string]string{}},
	} {
		scheme, params := parseChallenge(tc.in)
		if scheme != tc.wantScheme || len(params) != len(tc.want) {
			t.Errorf("parseChallenge(%q) = %q %v, want %q %v", tc.in, scheme, params, tc.wantScheme, tc.want)
			continue
		}
		for k, v := range tc.want {
			if params[k] != v {
				t.Errorf("parseChallenge(%q)[%q] = %q, want %q", tc.in, k, params[k], v)
			}
		}
	}
}

// A refresh token (docker login through an identity provider) is exchanged
// with the OAuth2 refresh-token grant; a ready registry token goes with
// every request as it is.
func TestIdentityAndRegistryTokens(t *testing.T) {
	t.Parallel()
	t.Run("identity token", func(t *testing.T) {
		t.Parallel()
		src, dst := newTestRegistry(t, true), newTestRegistry(t, true)
		idx, _ := src.pushIndex("app", "v1", ociTypes, 32)
		var grants atomic.Value
		dst.setFault(func(w http.ResponseWriter, r *http.Request) bool {
			if r.URL.Path == "/token" {
				if r.Method != http.MethodPost || r.PostFormValue("grant_type") != "refresh_token" || r.PostFormValue("refresh_token") != "refresh-1" {
					http.Error(w, `{"errors":[{"code":"DENIED","message":"bad grant"}]}`, http.StatusUnauthorized)
					return true
				}
				grants.Store(r.PostFormValue("service") + " " + r.PostFormValue("scope"))
				w.Write([]byte(`{"access_token":"tok-2"}`))
				return true
			}
			if r.Header.Get("Authorization") != "Bearer tok-2" {
				w.Header().Set("WWW-Authenticate", `Bearer realm="http://`+r.Host+`/token",service="test"`)
				w.WriteHeader(http.StatusUnauthorized)
				return true
			}
			return false
		})
		auth := &credentials.Credential{IdentityToken: "refresh-1"}
		if _, err := testCopier().Copy(t.Context(), Source{Ref: src.ref("app:v1")}, []Destination{{Ref: dst.ref("app:v1"), Auth: auth}}); err != nil {
			t.Fatal(err)
		}
		dst.setFault(nil)
		if got := dst.manifestDigest("app", "v1"); got != idx.Digest {
			t.Errorf("digest %q, want %s", got, idx.Digest)
		}
		if g, _ := grants.Load().(string); g != "test repository:app:push,pull" {
			t.Errorf("grant for %q, want service test and push,pull on app", g)
		}
	})
	t.Run("registry token", func(t *testing.T) {
		t.Parallel()
		src, dst := newTestRegistry(t, true), newTestRegistry(t, true)
		src.pushIndex("app", "v1", ociTypes, 33)
		var bare atomic.Int32
		dst.setFault(func(w http.ResponseWriter, r *http.Request) bool {
			if r.Header.Get("Authorization") != "Bearer ready" {
				bare.Add(1)
				w.Header().Set("WWW-Authenticate", `Bearer realm="http://`+r.Host+`/token"`)
				w.WriteHeader(http.StatusUnauthorized)
				return true
			}
			return false
		})
		auth := &credentials.Credential{RegistryToken: "ready"}
		if _, err := testCopier().Copy(t.Context(), Source{Ref: src.ref("app:v1")}, []Destination{{Ref: dst.ref("app:v1"), Auth: auth}}); err != nil {
			t.Fatal(err)
		}
		if n := bare.Load(); n != 0 {
			t.Errorf("%d requests went without the registry token", n)
		}
	})
}

// Credentials go to the registry's host only: a blob download redirected
// elsewhere (ECR sends layers from S3) arrives without them.
func TestCredentialsStayWithTheRegistry(t *testing.T) {
	t.Parallel()
	src, dst := newTestRegistry(t, true), newTestRegistry(t, true)
	idx, _ := src.pushIndex("app", "v1", ociTypes, 34)
	var leaked atomic.Int32
	var served atomic.Int32
	storage := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "" {
			leaked.Add(1)
		}
		served.Add(1)
		// The real blob, from the registry itself.
		req, _ := http.NewRequestWithContext(r.Context(), http.MethodGet, src.srv.URL+r.URL.Path, nil)
		req.SetBasicAuth("u", "p")
		req.Header.Set("X-Storage", "1")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		w.WriteHeader(resp.StatusCode)
		io.Copy(w, resp.Body)
	}))
	defer storage.Close()
	src.setFault(func(w http.ResponseWriter, r *http.Request) bool {
		if r.Header.Get("Authorization") != "Basic "+basic("u", "p") {
			w.Header().Set("WWW-Authenticate", `Basic realm="test"`)
			w.WriteHeader(http.StatusUnauthorized)
			return true
		}
		if r.Method == http.MethodGet && strings.Contains(r.URL.Path, "/blobs/") && r.Header.Get("X-Storage") == "" {
			http.Redirect(w, r, storage.URL+r.URL.Path, http.StatusTemporaryRedirect)
			return true
		}
		return false
	})
	auth := &credentials.Credential{Username: "u", Password: "p"}
	if _, err := testCopier().Copy(t.Context(), Source{Ref: src.ref("app:v1"), Auth: auth}, []Destination{{Ref: dst.ref("app:v1")}}); err != nil {
		t.Fatal(err)
	}
	if served.Load() == 0 {
		t.Fatal("no blob was fetched through the redirect; the test proves nothing")
	}
	if n := leaked.Load(); n != 0 {
		t.Errorf("%d redirected requests carried the registry's credentials", n)
	}
	if got := dst.manifestDigest("app", "v1"); got != idx.Digest {
		t.Errorf("digest %q, want %s", got, idx.Digest)
	}
}

// A token service must be HTTPS unless the registry itself is plain HTTP;
// a refused token request says so without the secret.
func TestTokenServiceChecks(t *testing.T) {
	t.Parallel()
	a := newAuthTransport("registry.example.com", credentials.Credential{Username: "u", Password: "s3cret"}, http.DefaultTransport, nil, false)
	if _, _, _, err := a.token(t.Context(), "http://auth.example.com/token", "svc", nil); err == nil || !strings.Contains(err.Error(), "must be https") {
		t.Errorf("http token service for an https registry: %v, want refused", err)
	}
	if _, _, _, err := a.token(t.Context(), "not a url", "svc", nil); err == nil || !strings.Contains(err.Error(), "is not a URL") {
		t.Errorf("bad realm: %v", err)
	}
	deny := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, `{"errors":[{"code":"UNAUTHORIZED","message":"bad password"}]}`, http.StatusUnauthorized)
	}))
	defer deny.Close()
	a = newAuthTransport(strings.TrimPrefix(deny.URL, "http://"), credentials.Credential{Username: "u", Password: "s3cret"}, http.DefaultTransport, nil, true)
	_, _, _, err := a.token(t.Context(), deny.URL+"/token", "svc", []string{"repository:a:pull"})
	if err == nil || !strings.Contains(err.Error(), "401 Unauthorized: bad password") || strings.Contains(err.Error(), "s3cret") {
		t.Errorf("refused token request: %v, want the status and message, never the password", err)
	}
}

// tokenRegistry makes dst a registry behind a token service at /token whose
// tokens live for lifetime on the registry's own clock, which only advance
// moves, and whose answer gives expiresIn (0: none). onPatch, when set, is
// called on each PATCH its token lets through; with revokeFirst, the first
// PATCH ends every token issued so far, its own included. It counts the
// 401s answered to PATCH requests, and the upload sessions opened with a
// valid token (firing opened.when at the second).
type tokenRegistry struct {
	mu       sync.Mutex
	issued   map[string]time.Duration // token: the registry's clock when issued
	next     int
	lifetime time.Duration
	revoked  bool
	clock    time.Duration
	patch401 atomic.Int32
	opened   counter
}

// advance moves the registry's clock on by d.
func (tr *tokenRegistry) advance(d time.Duration) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	tr.clock += d
}

func newTokenRegistry(dst *testRegistry, lifetime time.Duration, expiresIn int, revokeFirst bool, onPatch func()) *tokenRegistry {
	tr := &tokenRegistry{issued: map[string]time.Duration{}, lifetime: lifetime, opened: counter{at: 2, when: newEvent()}}
	dst.setFault(func(w http.ResponseWriter, r *http.Request) bool {
		if r.URL.Path == "/token" {
			tr.mu.Lock()
			tr.next++
			tok := "tok-" + itoa(tr.next)
			tr.issued[tok] = tr.clock
			tr.mu.Unlock()
			if expiresIn > 0 {
				fmt.Fprintf(w, `{"token":%q,"expires_in":%d}`, tok, expiresIn)
			} else {
				fmt.Fprintf(w, `{"token":%q}`, tok)
			}
			return true
		}
		tok, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		tr.mu.Lock()
		if revokeFirst && !tr.revoked && r.Method == http.MethodPatch {
			tr.revoked = true
			clear(tr.issued)
		}
		at, ok := tr.issued[tok]
		age := tr.clock - at
		tr.mu.Unlock()
		if !ok || age > tr.lifetime {
			if r.Method == http.MethodPatch {
				tr.patch401.Add(1)
			}
			w.Header().Set("WWW-Authenticate", `Bearer realm="http://`+r.Host+`/token",service="test"`)
			http.Error(w, `{"errors":[{"code":"UNAUTHORIZED","message":"token expired"}]}`, http.StatusUnauthorized)
			return true
		}
		if r.Method == http.MethodPost && kind(r.URL.Path) == "uploads" {
			tr.opened.add()
		}
		if r.Method == http.MethodPatch && onPatch != nil {
			onPatch()
		}
		return false
	})
	return tr
}

// A blob waits for its stream slot with its session already open; a token
// that runs out meanwhile is renewed before the stream, which cannot be
// sent twice, goes out with it.
func TestTokenRenewedBeforeAStream(t *testing.T) {
	t.Parallel()
	src, dst := newTestRegistry(t, true), newTestRegistry(t, true)
	// A layer too big to sit in socket buffers: its stream lasts as long as
	// the registry holds it. The config is no small blob (which would take
	// no slot, and stream beside the layer), so it waits for the slot.
	cfg := src.pushBlob("app", ociTypes.config, fmt.Appendf(nil, `{"os":"linux","pad":%q}`, strings.Repeat("x", 2*smallBlob)))
	layer := src.pushBlob("app", ociTypes.layer, randomBytes(32, 8<<20))
	body, err := json.Marshal(map[string]any{"schemaVersion": 2, "mediaType": mtOCIManifest, "config": cfg, "layers": []descriptor{layer}})
	if err != nil {
		t.Fatal(err)
	}
	src.pushManifest("app", "v1", mtOCIManifest, body)
	var first sync.Once
	var tr *tokenRegistry
	var openedAhead atomic.Bool
	// Tokens live 2 s (the service says 1 s, so Ferry renews before every
	// stream). The first stream (the layer) is held until the config's
	// session is open, with the token of the moment; then 2.5 s pass on
	// the registry's clock, past that token's life, before it goes on.
	tr = newTokenRegistry(dst, 2*time.Second, 1, false, func() {
		first.Do(func() {
			openedAhead.Store(tr.opened.when.wait())
			tr.advance(2500 * time.Millisecond)
		})
	})
	auth := &credentials.Credential{Username: "me", Password: "pw"}
	if _, err := testCopier(WithJobs(1)).Copy(t.Context(), Source{Ref: src.ref("app:v1")}, []Destination{{Ref: dst.ref("app:v1"), Auth: auth}}); err != nil {
		t.Fatal(err)
	}
	if !openedAhead.Load() {
		t.Fatalf("the config's upload session was not opened while the layer streamed (held %s): the test expired no token under a waiting blob", waitFor)
	}
	if n := tr.patch401.Load(); n != 0 {
		t.Errorf("%d uploads went out with an expired token; want it renewed first", n)
	}
}

// A stream refused for its token all the same (a token service that gives
// no lifetime, or a registry that ends tokens early) is sent again with a
// new token, not reported as bad credentials.
func TestStreamRefusedForItsTokenIsSentAgain(t *testing.T) {
	t.Parallel()
	src, dst := newTestRegistry(t, true), newTestRegistry(t, true)
	src.pushIndex("app", "v1", ociTypes, 33)
	tr := newTokenRegistry(dst, time.Hour, 0, true, nil)
	auth := &credentials.Credential{Username: "me", Password: "pw"}
	idx := src.manifestDigest("app", "v1")
	if _, err := testCopier(WithJobs(1)).Copy(t.Context(), Source{Ref: src.ref("app:v1")}, []Destination{{Ref: dst.ref("app:v1"), Auth: auth}}); err != nil {
		t.Fatalf("copy failed after the registry ended its token: %v", err)
	}
	if tr.patch401.Load() == 0 {
		t.Error("no upload was refused for its token: the test ended none under an upload")
	}
	dst.setFault(nil)
	if got := dst.manifestDigest("app", "v1"); got != idx {
		t.Errorf("digest %q, want %s", got, idx)
	}
}

// A host the registry redirects to (storage, a CDN) that asks for a token
// does not get the registry's credentials sent to its token service.
func TestChallengesFromElsewhereAreNotAnswered(t *testing.T) {
	t.Parallel()
	src, dst := newTestRegistry(t, true), newTestRegistry(t, true)
	src.pushIndex("app", "v1", ociTypes, 34)
	var leaked atomic.Value
	realm := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if u, p, ok := r.BasicAuth(); ok {
			leaked.Store(u + ":" + p)
		}
		w.Write([]byte(`{"token":"theirs"}`))
	}))
	defer realm.Close()
	storage := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("WWW-Authenticate", `Bearer realm="`+realm.URL+`/token",service="cdn"`)
		w.WriteHeader(http.StatusUnauthorized)
	}))
	defer storage.Close()
	src.setFault(func(w http.ResponseWriter, r *http.Request) bool {
		if r.Method == http.MethodGet && kind(r.URL.Path) == "blobs" {
			http.Redirect(w, r, storage.URL+r.URL.Path, http.StatusTemporaryRedirect)
			return true
		}
		return false
	})
	auth := &credentials.Credential{Username: "u", Password: "s3cret"}
	if _, err := testCopier().Copy(t.Context(), Source{Ref: src.ref("app:v1"), Auth: auth}, []Destination{{Ref: dst.ref("app:v1")}}); err == nil {
		t.Error("copy succeeded although the storage refused every blob")
	}
	if v, _ := leaked.Load().(string); v != "" {
		t.Errorf("registry credentials %q went to a token service a redirect target named", v)
	}
}

// roundTripFunc adapts a function to http.RoundTripper.
type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// An HTTPS registry's credentials never go over plain HTTP, even to its
// own host (an upload Location behind a TLS-terminating proxy, say).
func TestNoCredentialsOverPlainHTTP(t *testing.T) {
	t.Parallel()
	var sent []string
	inner := roundTripFunc(func(r *http.Request) (*http.Response, error) {
		sent = append(sent, r.URL.Scheme+" "+r.Header.Get("Authorization"))
		return &http.Response{StatusCode: http.StatusAccepted, Header: http.Header{}, Body: http.NoBody, Request: r}, nil
	})
	a := newAuthTransport("registry.example.com", credentials.Credential{Username: "u", Password: "s3cret"}, inner, nil, false)
	for _, u := range []string{"https://registry.example.com/v2/app/blobs/uploads/x", "http://registry.example.com/v2/app/blobs/uploads/x"} {
		req, _ := http.NewRequest(http.MethodPatch, u, http.NoBody)
		resp, err := a.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	want := []string{"https Basic " + basic("u", "s3cret"), "http "}
	if strings.Join(sent, "|") != strings.Join(want, "|") {
		t.Errorf("sent %q, want %q", sent, want)
	}
}
