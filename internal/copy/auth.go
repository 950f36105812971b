package copy

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/ferry-dev/ferry/internal/credentials"
)

// maxTokenResponse bounds what is read from a token service.
const maxTokenResponse = 64 << 10

// authTransport authenticates to one registry without the usual "ping"
// (GET /v2/ to learn the auth scheme first), saving a round trip per
// registry, which matters across regions. Basic credentials (ECR's AWS:token,
// docker login) and ready registry tokens go with the first request; a 401
// with a Bearer challenge is answered by the token exchange of the Docker
// registry token spec, and the request is sent again. Anonymous requests go
// out bare. Credentials are only ever sent to the registry's own host, over
// the registry's own scheme (and to the token service it names): a redirect
// elsewhere, such as ECR's to S3 for layer downloads, goes without them, and
// a challenge from elsewhere is not answered.
//
// A stream (a blob upload) cannot be sent twice, so it must not go out with
// a token about to expire: a bearer token is renewed before a stream when
// it is within tokenMargin of the lifetime its service gave (60 s when it
// gives none, as the token spec says). Should a stream still be refused
// for its token, the token is renewed and the error says the stream may be
// sent again (errTokenRenewed, which retries treat as passing).
type authTransport struct {
	host     string // host[:port] of the registry
	cred     credentials.Credential
	inner    http.RoundTripper
	scopes   []string
	insecure bool // plain-HTTP registry: its token service may be plain HTTP too

	mu        sync.Mutex
	header    string            // the Authorization header for the registry; "" sends none
	gen       int               // bumped each time header changes
	challenge map[string]string // the Bearer challenge the token answers; nil: no token exchanged
	expires   time.Time         // when that token expires
}

// tokenMargin is how long before its expiry a bearer token is renewed
// ahead of a stream, and defaultTokenLifetime the token spec's lifetime
// of a token whose service names none.
const (
	tokenMargin          = 10 * time.Second
	defaultTokenLifetime = 60 * time.Second
)

// errTokenRenewed means a stream was refused for an expired token, which
// has been renewed: the stream can be sent again.
var errTokenRenewed = errors.New("the registry refused an expired token (renewed; the upload can be sent again)")

func newAuthTransport(host string, cred credentials.Credential, inner http.RoundTripper, scopes []string, insecure bool) *authTransport {
	a := &authTransport{host: host, cred: cred, inner: inner, scopes: scopes, insecure: insecure}
	switch {
	case cred.RegistryToken != "":
		a.header = "Bearer " + cred.RegistryToken
	case cred.Username != "" || cred.Password != "":
		a.header = "Basic " + basic(cred.Username, cred.Password)
	}
	return a
}

func basic(user, password string) string {
	return base64.StdEncoding.EncodeToString([]byte(user + ":" + password))
}

func (a *authTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	stream := req.Body != nil && req.Body != http.NoBody && req.GetBody == nil
	a.mu.Lock()
	header, gen, challenge := a.header, a.gen, a.challenge
	stale := challenge != nil && !time.Now().Before(a.expires.Add(-tokenMargin))
	a.mu.Unlock()
	if stream && stale && a.ours(req) {
		var err error
		if header, err = a.exchange(req.Context(), gen, challenge); err != nil {
			return nil, err
		}
		a.mu.Lock()
		gen = a.gen
		a.mu.Unlock()
	}
	resp, err := a.send(req, header)
	if err != nil || resp.StatusCode != http.StatusUnauthorized || a.cred.RegistryToken != "" || !a.ours(req) {
		return resp, err
	}
	scheme, params := parseChallenge(resp.Header.Get("WWW-Authenticate"))
	if scheme != "bearer" {
		return resp, nil // Basic refused, or nothing we can answer: the caller reports the 401
	}
	if stream {
		if challenge == nil {
			return resp, nil // credentials the registry refuses: a new token would not help
		}
		// A stream cannot be sent twice: renew the token for the next try.
		resp.Body.Close()
		if _, err := a.exchange(req.Context(), gen, params); err != nil {
			return nil, err
		}
		return nil, errTokenRenewed
	}
	resp.Body.Close()
	header, err = a.exchange(req.Context(), gen, params)
	if err != nil {
		return nil, err
	}
	retry := req.Clone(req.Context())
	if req.GetBody != nil {
		if retry.Body, err = req.GetBody(); err != nil {
			return nil, err
		}
	}
	return a.send(retry, header)
}

// ours reports whether req goes to the registry itself, over its scheme:
// only such requests carry credentials or get challenges answered.
func (a *authTransport) ours(req *http.Request) bool {
	return req.URL.Host == a.host && (req.URL.Scheme == "https" || a.insecure)
}

// send adds the Authorization header to requests for the registry.
func (a *authTransport) send(req *http.Request, header string) (*http.Response, error) {
	if header != "" && a.ours(req) {
		req = req.Clone(req.Context())
		req.Header.Set("Authorization", header)
	}
	return a.inner.RoundTrip(req)
}

// exchange gets a bearer token for the challenge, unless another request
// already did since gen, and returns the header to send.
func (a *authTransport) exchange(ctx context.Context, gen int, params map[string]string) (string, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.gen != gen {
		return a.header, nil
	}
	scopes := a.scopes
	if s := params["scope"]; s != "" && !slices.Contains(scopes, s) {
		scopes = append([]string{s}, scopes...)
	}
	start := time.Now()
	tok, lifetime, err := a.token(ctx, params["realm"], params["service"], scopes)
	if err != nil {
		return "", fmt.Errorf("get a token for %s: %w", a.host, err)
	}
	a.header, a.gen = "Bearer "+tok, a.gen+1
	a.challenge, a.expires = params, start.Add(lifetime)
	return a.header, nil
}

// token asks the token service at realm for a token with scopes: with an
// identity token by the OAuth2 refresh-token grant (falling back to a GET
// when the service has no OAuth2 endpoint), otherwise by a GET with the
// Basic credentials, if any.
func (a *authTransport) token(ctx context.Context, realm, service string, scopes []string) (string, time.Duration, error) {
	u, err := url.Parse(realm)
	if err != nil || u.Host == "" {
		return "", 0, fmt.Errorf("the registry's token service %q is not a URL", realm)
	}
	if u.Scheme != "https" && (u.Scheme != "http" || !a.insecure) {
		return "", 0, fmt.Errorf("refusing the token service %s: it must be https (http only for a plain-HTTP registry)", realm)
	}
	client := &http.Client{Transport: a.inner, CheckRedirect: func(r *http.Request, via []*http.Request) error {
		if len(via) >= 10 {
			return errors.New("stopped after 10 redirects")
		}
		if r.URL.Scheme != "https" && (r.URL.Scheme != "http" || !a.insecure) {
			return fmt.Errorf("refusing a redirect of the token request to %s", r.URL.Redacted())
		}
		return nil
	}}
	if a.cred.IdentityToken != "" {
		form := url.Values{
			"grant_type":    {"refresh_token"},
			"refresh_token": {a.cred.IdentityToken},
			"client_id":     {"ferry"},
			"scope":         {strings.Join(scopes, " ")},
		}
		if service != "" {
			form.Set("service", service)
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), strings.NewReader(form.Encode()))
		if err != nil {
			return "", 0, err
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		tok, lifetime, status, err := readToken(client, req)
		if status != http.StatusNotFound {
			return tok, lifetime, err
		}
	}
	q := u.Query()
	q["scope"] = scopes
	if service != "" {
		q.Set("service", service)
	}
	u.RawQuery = q.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return "", 0, err
	}
	if a.cred.Username != "" || a.cred.Password != "" {
		req.SetBasicAuth(a.cred.Username, a.cred.Password)
	}
	tok, lifetime, _, err := readToken(client, req)
	return tok, lifetime, err
}

// readToken sends a token request and reads the token, and its lifetime,
// from the answer. The answer holds credentials: only its status and the
// registry's error message are ever put in an error.
func readToken(client *http.Client, req *http.Request) (tok string, lifetime time.Duration, status int, err error) {
	resp, err := client.Do(req)
	if err != nil {
		return "", 0, 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		re := newRegistryError("token request", req.URL.Host, "", resp)
		return "", 0, resp.StatusCode, fmt.Errorf("%s %s: %d %s%s", req.Method, req.URL.Redacted(), resp.StatusCode, http.StatusText(resp.StatusCode), messageSuffix(re.Message))
	}
	var body struct {
		Token       string `json:"token"`
		AccessToken string `json:"access_token"`
		ExpiresIn   int64  `json:"expires_in"`
	}
	// The answer holds credentials: only the reading error (never the
	// bytes read) goes into an error.
	b, err := readAll(resp, maxTokenResponse, ErrTooLarge)
	if err != nil {
		return "", 0, resp.StatusCode, fmt.Errorf("%s %s: read the token: %w", req.Method, req.URL.Redacted(), err)
	}
	if err := json.Unmarshal(b, &body); err != nil {
		return "", 0, resp.StatusCode, fmt.Errorf("%s %s: the answer is not a token document", req.Method, req.URL.Redacted())
	}
	if body.Token == "" {
		body.Token = body.AccessToken
	}
	if body.Token == "" {
		return "", 0, resp.StatusCode, fmt.Errorf("%s %s: the answer holds no token", req.Method, req.URL.Redacted())
	}
	lifetime = defaultTokenLifetime
	if body.ExpiresIn > 0 {
		lifetime = time.Duration(min(body.ExpiresIn, 1<<31)) * time.Second
	}
	return body.Token, lifetime, resp.StatusCode, nil
}

func messageSuffix(m string) string {
	if m == "" {
		return ""
	}
	return ": " + m
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
