package imagecopy

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/ferry-dev/ferry/internal/credentials"
)

// Which token services (realms) get the credentials: checkRealm's rules,
// host and port compared with the defaults filled in.
func TestCheckRealm(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name      string
		registry  string
		plainHTTP bool
		realm     string
		wantCreds bool
		wantErr   error // errRealmDowngrade, or errAny for another refusal
	}{
		{name: "https registry, https realm on its host", registry: "registry.example.com", realm: "https://registry.example.com/token", wantCreds: true},
		{name: "https registry, https realm elsewhere (Docker Hub's auth.docker.io)", registry: "registry-1.docker.io", realm: "https://auth.docker.io/token", wantCreds: true},
		{name: "https registry, http realm elsewhere", registry: "registry.example.com", realm: "http://auth.example.com/token", wantErr: errRealmDowngrade},
		{name: "https registry, http realm on its own host", registry: "registry.example.com", realm: "http://registry.example.com/token", wantErr: errRealmDowngrade},
		{name: "http registry, http realm on its host and port", registry: "127.0.0.1:5000", plainHTTP: true, realm: "http://127.0.0.1:5000/token", wantCreds: true},
		{name: "http registry, http realm on another port", registry: "127.0.0.1:5000", plainHTTP: true, realm: "http://127.0.0.1:5001/token"},
		{name: "http registry, http realm under another name", registry: "localhost:5000", plainHTTP: true, realm: "http://127.0.0.1:5000/token"},
		{name: "http registry, http realm elsewhere", registry: "registry.example.com", plainHTTP: true, realm: "http://auth.example.com/token"},
		{name: "default port written out, name in capitals", registry: "registry.example.com", plainHTTP: true, realm: "http://REGISTRY.example.com:80/token", wantCreds: true},
		{name: "registry on a port, realm on the default", registry: "registry.example.com:8080", plainHTTP: true, realm: "http://registry.example.com/token"},
		{name: "http registry, https realm elsewhere", registry: "127.0.0.1:5000", plainHTTP: true, realm: "https://auth.example.com/token", wantCreds: true},
		{name: "another scheme", registry: "127.0.0.1:5000", plainHTTP: true, realm: "ftp://127.0.0.1:5000/token", wantErr: errAny},
		{name: "a relative realm", registry: "registry.example.com", realm: "/token", wantErr: errAny},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			a := newAuthTransport(tc.registry, credentials.Credential{Username: "u", Password: "p"}, nil, nil, tc.plainHTTP)
			_, creds, err := a.checkRealm(tc.realm)
			switch {
			case tc.wantErr == nil && err != nil:
				t.Fatalf("checkRealm(%q) = %v, want no error", tc.realm, err)
			case tc.wantErr == errAny && err == nil, tc.wantErr != nil && tc.wantErr != errAny && !errors.Is(err, tc.wantErr):
				t.Fatalf("checkRealm(%q) = %v, want %v", tc.realm, err, tc.wantErr)
			}
			if creds != tc.wantCreds {
				t.Errorf("checkRealm(%q) lets the credentials go: %v, want %v", tc.realm, creds, tc.wantCreds)
			}
		})
	}
}

// errAny stands for any error in TestCheckRealm's table.
var errAny = errors.New("any error")

// realmServer is a token service that records the Basic credentials of
// each request ("" for none) and gives "user-token" to a request with
// them, "anon-token" to one without.
type realmServer struct {
	srv  *httptest.Server
	mu   sync.Mutex
	seen []string
}

func newRealm(t *testing.T, tls bool) *realmServer {
	rs := &realmServer{}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, p, ok := r.BasicAuth()
		rs.mu.Lock()
		if ok {
			rs.seen = append(rs.seen, u+":"+p)
		} else {
			rs.seen = append(rs.seen, "")
		}
		rs.mu.Unlock()
		if ok {
			w.Write([]byte(`{"token":"user-token"}`))
			return
		}
		w.Write([]byte(`{"token":"anon-token"}`))
	})
	if tls {
		rs.srv = httptest.NewTLSServer(h)
	} else {
		rs.srv = httptest.NewServer(h)
	}
	t.Cleanup(rs.srv.Close)
	return rs
}

func (rs *realmServer) requests() []string {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	return append([]string(nil), rs.seen...)
}

// behindRealm makes tr ask for a token from realm (a URL), and take only
// the tokens in accept.
func behindRealm(tr *testRegistry, realm string, accept ...string) {
	tr.setFault(func(w http.ResponseWriter, r *http.Request) bool {
		tok, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		for _, a := range accept {
			if tok == a {
				return false
			}
		}
		w.Header().Set("WWW-Authenticate", `Bearer realm="`+realm+`",service="test"`)
		http.Error(w, `{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}`, http.StatusUnauthorized)
		return true
	})
}

// A plain-HTTP registry whose token service is on another port of the same
// machine: another host, which the credentials do not go to. The token
// service is asked anonymously, which lets an anonymous pull through.
func TestCredentialsWithheldFromAForeignPlainHTTPRealm(t *testing.T) {
	t.Parallel()
	src, dst := newTestRegistry(t, true), newTestRegistry(t, true)
	idx, _ := src.pushIndex("app", "v1", ociTypes, 40)
	realm := newRealm(t, false)
	behindRealm(src, realm.srv.URL+"/token", "anon-token", "user-token")
	auth := &credentials.Credential{Username: "me", Password: "s3cret"}
	if _, err := testCopier().Copy(t.Context(), Source{Ref: src.ref("app:v1"), Auth: auth}, []Destination{{Ref: dst.ref("app:v1")}}); err != nil {
		t.Fatal(err)
	}
	seen := realm.requests()
	if len(seen) == 0 {
		t.Fatal("the token service was never asked: the test proves nothing")
	}
	for _, s := range seen {
		if s != "" {
			t.Errorf("the token service on another port got the credentials %q over plain HTTP", s)
		}
	}
	if got := dst.manifestDigest("app", "v1"); got != idx.Digest {
		t.Errorf("digest %q, want %s", got, idx.Digest)
	}
}

// When the registry refuses the anonymous token, the error says the
// credentials were withheld, and from where, not to check them.
func TestWithheldCredentialsAreExplained(t *testing.T) {
	t.Parallel()
	src, dst := newTestRegistry(t, true), newTestRegistry(t, true)
	src.pushIndex("app", "v1", ociTypes, 41)
	realm := newRealm(t, false)
	behindRealm(dst, realm.srv.URL+"/token", "user-token")
	auth := &credentials.Credential{Username: "me", Password: "s3cret"}
	_, err := testCopier().Copy(t.Context(), Source{Ref: src.ref("app:v1")}, []Destination{{Ref: dst.ref("app:v1"), Auth: auth}})
	if !errors.Is(err, errCredentialsWithheld) {
		t.Fatalf("error = %v, want errCredentialsWithheld", err)
	}
	for _, want := range []string{"http://" + dst.host, realm.srv.URL + "/token"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %s", err, want)
		}
	}
	if strings.Contains(err.Error(), "check the credentials") || strings.Contains(err.Error(), "s3cret") {
		t.Errorf("error %q advises checking credentials that were never sent, or holds the password", err)
	}
	for _, s := range realm.requests() {
		if s != "" {
			t.Errorf("the token service on another port got the credentials %q", s)
		}
	}
}

// The token service on the registry's own host and port, plain HTTP like
// the registry, gets the credentials.
func TestCredentialsGoToTheSameHostRealm(t *testing.T) {
	t.Parallel()
	src, dst := newTestRegistry(t, true), newTestRegistry(t, true)
	idx, _ := src.pushIndex("app", "v1", ociTypes, 42)
	var seen []string
	var mu sync.Mutex
	dst.setFault(func(w http.ResponseWriter, r *http.Request) bool {
		if r.URL.Path == "/token" {
			u, p, _ := r.BasicAuth()
			mu.Lock()
			seen = append(seen, u+":"+p)
			mu.Unlock()
			if u != "me" || p != "s3cret" {
				http.Error(w, "bad credentials", http.StatusUnauthorized)
				return true
			}
			w.Write([]byte(`{"token":"user-token"}`))
			return true
		}
		if r.Header.Get("Authorization") != "Bearer user-token" {
			w.Header().Set("WWW-Authenticate", `Bearer realm="http://`+dst.host+`/token",service="test"`)
			w.WriteHeader(http.StatusUnauthorized)
			return true
		}
		return false
	})
	auth := &credentials.Credential{Username: "me", Password: "s3cret"}
	if _, err := testCopier().Copy(t.Context(), Source{Ref: src.ref("app:v1")}, []Destination{{Ref: dst.ref("app:v1"), Auth: auth}}); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(seen) == 0 || seen[0] != "me:s3cret" {
		t.Errorf("token requests carried %q, want the credentials", seen)
	}
	dst.setFault(nil)
	if got := dst.manifestDigest("app", "v1"); got != idx.Digest {
		t.Errorf("digest %q, want %s", got, idx.Digest)
	}
}

// A token service on another host over HTTPS gets the credentials (as
// Docker Hub's auth.docker.io does for registry-1.docker.io).
func TestCredentialsGoToAForeignHTTPSRealm(t *testing.T) {
	t.Parallel()
	src, dst := newTestRegistry(t, true), newTestRegistry(t, true)
	idx, _ := src.pushIndex("app", "v1", ociTypes, 43)
	realm := newRealm(t, true)
	behindRealm(dst, realm.srv.URL+"/token", "user-token")
	auth := &credentials.Credential{Username: "me", Password: "s3cret"}
	// The realm's client trusts its test certificate, and speaks plain
	// HTTP to the registries.
	c := testCopier(WithTransport(realm.srv.Client().Transport))
	if _, err := c.Copy(t.Context(), Source{Ref: src.ref("app:v1")}, []Destination{{Ref: dst.ref("app:v1"), Auth: auth}}); err != nil {
		t.Fatal(err)
	}
	seen := realm.requests()
	if len(seen) == 0 || seen[0] != "me:s3cret" {
		t.Errorf("HTTPS token service got %q, want the credentials", seen)
	}
	dst.setFault(nil)
	if got := dst.manifestDigest("app", "v1"); got != idx.Digest {
		t.Errorf("digest %q, want %s", got, idx.Digest)
	}
}

// An HTTPS registry that names a plain-HTTP token service is refused: the
// token service gets nothing, and the error names both.
func TestHTTPSRegistryWithHTTPRealmIsRefused(t *testing.T) {
	t.Parallel()
	realm := newRealm(t, false)
	reg := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("WWW-Authenticate", `Bearer realm="`+realm.srv.URL+`/token",service="test"`)
		http.Error(w, `{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}`, http.StatusUnauthorized)
	}))
	t.Cleanup(reg.Close)
	host := strings.TrimPrefix(reg.URL, "https://")
	src := &testRegistry{t: t, host: host}
	auth := &credentials.Credential{Username: "me", Password: "s3cret"}
	c := New(nil, WithBackoff(testCopier().backoff), WithKeychain(credentials.Static(credentials.Credential{})), WithTransport(reg.Client().Transport))
	_, err := c.Copy(t.Context(), Source{Ref: src.ref("app:v1"), Auth: auth}, []Destination{{Ref: src.ref("copy:v1"), Auth: auth}})
	if !errors.Is(err, errRealmDowngrade) {
		t.Fatalf("error = %v, want errRealmDowngrade", err)
	}
	for _, want := range []string{reg.URL, realm.srv.URL + "/token"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %s", err, want)
		}
	}
	if n := len(realm.requests()); n != 0 {
		t.Errorf("the plain-HTTP token service of an HTTPS registry got %d requests, want none", n)
	}
}

// A token request that carries the credentials is not followed to plain
// HTTP on another host (Go would keep a refresh token's body on a 307, and
// the Authorization header on a redirect to the same name, another port).
func TestTokenRedirectKeepsTheCredentialsHome(t *testing.T) {
	t.Parallel()
	var leaked []string
	inner := roundTripFunc(func(r *http.Request) (*http.Response, error) {
		switch r.URL.Host {
		case "auth.example.com":
			h := http.Header{"Location": {"http://auth.example.com:8080/token"}}
			return &http.Response{StatusCode: http.StatusTemporaryRedirect, Header: h, Body: http.NoBody, Request: r}, nil
		default:
			leaked = append(leaked, r.URL.String()+" "+r.Header.Get("Authorization"))
			return &http.Response{StatusCode: http.StatusOK, Header: http.Header{}, Body: http.NoBody, Request: r}, nil
		}
	})
	a := newAuthTransport("registry.example.com", credentials.Credential{Username: "u", Password: "s3cret"}, inner, nil, true)
	_, _, _, err := a.token(t.Context(), "https://auth.example.com/token", "svc", nil)
	if err == nil || !strings.Contains(err.Error(), "refusing a redirect") || strings.Contains(err.Error(), "s3cret") {
		t.Errorf("token request redirected to plain HTTP elsewhere: %v, want the redirect refused", err)
	}
	if len(leaked) != 0 {
		t.Errorf("the redirect was followed: %q", leaked)
	}
}
