package copy

import (
	"encoding/base64"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

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
	if _, err := a.token(t.Context(), "http://auth.example.com/token", "svc", nil); err == nil || !strings.Contains(err.Error(), "must be https") {
		t.Errorf("http token service for an https registry: %v, want refused", err)
	}
	if _, err := a.token(t.Context(), "not a url", "svc", nil); err == nil || !strings.Contains(err.Error(), "is not a URL") {
		t.Errorf("bad realm: %v", err)
	}
	deny := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, `{"errors":[{"code":"UNAUTHORIZED","message":"bad password"}]}`, http.StatusUnauthorized)
	}))
	defer deny.Close()
	a = newAuthTransport(strings.TrimPrefix(deny.URL, "http://"), credentials.Credential{Username: "u", Password: "s3cret"}, http.DefaultTransport, nil, true)
	_, err := a.token(t.Context(), deny.URL+"/token", "svc", []string{"repository:a:pull"})
	if err == nil || !strings.Contains(err.Error(), "401 Unauthorized: bad password") || strings.Contains(err.Error(), "s3cret") {
		t.Errorf("refused token request: %v, want the status and message, never the password", err)
	}
}
