package copy

import (
	"encoding/base64"
	"errors"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
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
			auth := authn.FromConfig(authn.AuthConfig{Username: "AWS", Password: tc.password})
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
	auth := authn.FromConfig(authn.AuthConfig{Username: "me", Password: "pw"})
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
