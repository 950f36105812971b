package copy

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

// authTransport authenticates to one registry without the usual "ping"
// (GET /v2/ to learn the auth scheme first), saving a round trip per
// registry, which matters across regions. Basic credentials (ECR's AWS:token,
// docker login) go with the first request; a 401 with a Bearer challenge is
// answered by go-containerregistry's token exchange, and the request is sent
// again. Anonymous requests go out bare.
type authTransport struct {
	reg      name.Registry
	auth     authn.Authenticator
	inner    http.RoundTripper
	scopes   []string
	insecure bool

	mu  sync.Mutex
	t   http.RoundTripper // the authenticating transport in use
	gen int               // bumped each time t changes
}

func newAuthTransport(ctx context.Context, reg name.Registry, auth authn.Authenticator, inner http.RoundTripper, scopes []string, insecure bool) (*authTransport, error) {
	a := &authTransport{reg: reg, auth: auth, inner: inner, scopes: scopes, insecure: insecure, t: inner}
	if auth == nil || auth == authn.Anonymous {
		return a, nil
	}
	cfg, err := authn.Authorization(ctx, auth)
	if err != nil {
		return nil, fmt.Errorf("credentials for %s: %w", reg.RegistryStr(), err)
	}
	switch {
	case cfg.RegistryToken != "":
		a.t = bearer{inner: inner, host: reg.RegistryStr(), token: cfg.RegistryToken}
	case cfg.Username != "" || cfg.Password != "" || cfg.Auth != "":
		t, err := transport.FromToken(reg, auth, inner, &transport.Challenge{Scheme: "basic"}, nil)
		if err != nil {
			return nil, err
		}
		a.t = t
	}
	return a, nil
}

func (a *authTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	a.mu.Lock()
	t, gen := a.t, a.gen
	a.mu.Unlock()
	resp, err := t.RoundTrip(req)
	if err != nil || resp.StatusCode != http.StatusUnauthorized {
		return resp, err
	}
	scheme, params := parseChallenge(resp.Header.Get("WWW-Authenticate"))
	if scheme != "bearer" {
		return resp, nil // Basic refused, or nothing we can answer: the caller reports the 401
	}
	if req.Body != nil && req.Body != http.NoBody && req.GetBody == nil {
		return resp, nil // a stream cannot be sent twice
	}
	if err := a.exchange(req.Context(), gen, params); err != nil {
		resp.Body.Close()
		return nil, err
	}
	resp.Body.Close()
	retry := req.Clone(req.Context())
	if req.GetBody != nil {
		if retry.Body, err = req.GetBody(); err != nil {
			return nil, err
		}
	}
	retry.Header.Del("Authorization")
	a.mu.Lock()
	t = a.t
	a.mu.Unlock()
	return t.RoundTrip(retry)
}

// exchange gets a bearer token for the challenge, unless another request
// already did since gen.
func (a *authTransport) exchange(ctx context.Context, gen int, params map[string]string) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.gen != gen {
		return nil
	}
	ch := &transport.Challenge{Scheme: "bearer", Parameters: params, Insecure: a.insecure}
	scopes := a.scopes
	if s := params["scope"]; s != "" {
		scopes = append([]string{s}, scopes...)
	}
	tok, err := transport.Exchange(ctx, a.reg, a.auth, a.inner, scopes, ch)
	if err != nil {
		return fmt.Errorf("get a token for %s: %w", a.reg.RegistryStr(), err)
	}
	if tok.Token == "" {
		tok.Token = tok.AccessToken
	}
	t, err := transport.FromToken(a.reg, a.auth, a.inner, ch, tok)
	if err != nil {
		return err
	}
	a.t, a.gen = t, a.gen+1
	return nil
}

// parseChallenge reads the first challenge of a WWW-Authenticate header:
// its scheme (lower case) and its parameters.
func parseChallenge(h string) (scheme string, params map[string]string) {
	h = strings.TrimSpace(h)
	scheme, rest, _ := strings.Cut(h, " ")
	params = map[string]string{}
	for rest = strings.TrimSpace(rest); rest != ""; rest = strings.TrimLeft(rest, ", ") {
		key, after, ok := strings.Cut(rest, "=")
		if !ok {
			break
		}
		key = strings.ToLower(strings.TrimSpace(key))
		var val string
		if strings.HasPrefix(after, `"`) {
			var b strings.Builder
			i := 1
			for ; i < len(after) && after[i] != '"'; i++ {
				if after[i] == '\\' && i+1 < len(after) {
					i++
				}
				b.WriteByte(after[i])
			}
			val, rest = b.String(), after[min(i+1, len(after)):]
		} else {
			val, rest, _ = strings.Cut(after, ",")
			val = strings.TrimSpace(val)
		}
		params[key] = val
	}
	return strings.ToLower(scheme), params
}

// bearer sends a ready registry token (docker config's registrytoken) to
// its registry only.
type bearer struct {
	inner       http.RoundTripper
	host, token string
}

func (b bearer) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.Host == b.host {
		req = req.Clone(req.Context())
		req.Header.Set("Authorization", "Bearer "+b.token)
	}
	return b.inner.RoundTrip(req)
}
