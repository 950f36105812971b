package imagecopy

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
// the registry's own scheme: a redirect elsewhere, such as ECR's to S3 for
// layer downloads, goes without them, and a challenge from elsewhere is not
// answered. The token service the challenge names (its realm) gets them as
// checkRealm says: over HTTPS, or from the registry's own host and port.
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
	withheld  string            // the realm that token came from anonymously, credentials withheld; "" if none
	// failures counts the exchanges that failed, the last with lastErr:
	// requests that were refused at once (a copy's first wave of checks)
	// share one exchange's failure rather than each ask the token
	// service again, one after another.
	failures int
	lastErr  error
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

// Refusals of a token service (a realm), kept beside errTokenRenewed as
// the transport's own: both are final (retryable does not know them).
var (
	// errRealmDowngrade means an HTTPS registry named a plain-HTTP token
	// service: nothing is sent to it, not even an anonymous request.
	errRealmDowngrade = errors.New("an HTTPS registry's token service must be https")
	// errCredentialsWithheld means the registry refused the anonymous
	// token Ferry got from a plain-HTTP token service on another host,
	// which the credentials were not sent to.
	errCredentialsWithheld = errors.New("the credentials were not sent to the token service")
)

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
	header, gen, challenge, failures := a.header, a.gen, a.challenge, a.failures
	stale := challenge != nil && !time.Now().Before(a.expires.Add(-tokenMargin))
	a.mu.Unlock()
	if stream && stale && a.ours(req) {
		var err error
		if header, err = a.exchange(req.Context(), gen, failures, challenge); err != nil {
			return nil, err
		}
		a.mu.Lock()
		gen = a.gen
		a.mu.Unlock()
	}
	resp, err := a.send(req, header)
	if err == nil && resp.StatusCode == http.StatusForbidden && challenge != nil && a.ours(req) {
		return a.refusedAnonymous(resp, nil) // a 403 gets no new token: the one sent may be anonymous
	}
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
		if _, err := a.exchange(req.Context(), gen, failures, params); err != nil {
			return nil, err
		}
		return nil, errTokenRenewed
	}
	resp.Body.Close()
	header, err = a.exchange(req.Context(), gen, failures, params)
	if err != nil {
		return nil, err
	}
	retry := req.Clone(req.Context())
	if req.GetBody != nil {
		if retry.Body, err = req.GetBody(); err != nil {
			return nil, err
		}
	}
	return a.refusedAnonymous(a.send(retry, header))
}

// refusedAnonymous turns the registry's refusal (401 or 403) of a token
// got anonymously, the credentials withheld from its token service, into
// an error that says so: the refusal's usual advice (check the
// credentials) would mislead, as they were never used.
func (a *authTransport) refusedAnonymous(resp *http.Response, err error) (*http.Response, error) {
	if err != nil || (resp.StatusCode != http.StatusUnauthorized && resp.StatusCode != http.StatusForbidden) {
		return resp, err
	}
	a.mu.Lock()
	withheld := a.withheld
	a.mu.Unlock()
	if withheld == "" {
		return resp, nil
	}
	resp.Body.Close()
	return nil, fmt.Errorf("%w: the registry %s refused (%d %s) the anonymous token from %s; the credentials for %s were not sent there, "+
		"as it is another host over plain HTTP (they go to a token service over HTTPS, or on the registry's own host and port): "+
		"have the registry name an https token service, or one on %s",
		errCredentialsWithheld, a.registryURL(), resp.StatusCode, http.StatusText(resp.StatusCode), withheld, a.host, a.host)
}

// registryURL is the registry's root, for messages.
func (a *authTransport) registryURL() string {
	if a.insecure {
		return "http://" + a.host
	}
	return "https://" + a.host
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
func (a *authTransport) exchange(ctx context.Context, gen, failures int, params map[string]string) (string, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	switch {
	case a.gen != gen:
		return a.header, nil // renewed since this request was sent
	case a.failures != failures:
		return "", a.lastErr // failed since this request was sent
	}
	scopes := a.scopes
	if s := params["scope"]; s != "" && !slices.Contains(scopes, s) {
		scopes = append([]string{s}, scopes...)
	}
	start := time.Now()
	tok, lifetime, withheld, err := a.token(ctx, params["realm"], params["service"], scopes)
	if err != nil {
		err = fmt.Errorf("get a token for %s: %w", a.host, err)
		if ctx.Err() == nil { // this request's own end is not the others'
			a.failures++
			a.lastErr = err
		}
		return "", err
	}
	a.header, a.gen = "Bearer "+tok, a.gen+1
	a.challenge, a.expires = params, start.Add(lifetime)
	a.withheld = ""
	if withheld {
		a.withheld = params["realm"]
	}
	return a.header, nil
}

// checkRealm parses the token service's URL (the challenge's realm) and
// says whether the credentials may go to it:
//
//   - an HTTPS registry's token service must be https: a plain-HTTP one is
//     refused (errRealmDowngrade), with no request at all, since the token
//     and the credentials would cross the network unencrypted, where the
//     registry was chosen for not doing so;
//   - over HTTPS, wherever it is (Docker Hub's is auth.docker.io for
//     registry-1.docker.io; TLS authenticates the host the registry named);
//   - over plain HTTP (only a plain-HTTP registry's), only on the
//     registry's own host and port. Nothing authenticates a plain-HTTP
//     host, so its name is all that ties it to the registry: another port
//     on the same machine is another server (any local user can listen
//     there), as the port is part of an origin (RFC 6454) and of an HTTP
//     authentication protection space (RFC 9110 §11.5). go-containerregistry
//     counts a realm as the registry's own only on the same host and port
//     too (its same-host exemption, google/go-containerregistry#2302).
//
// A realm the credentials may not go to is still asked for an anonymous
// token, as go-containerregistry does for the challenge of a host other
// than the registry's (google/go-containerregistry#2360): that leaks
// nothing, and lets an anonymous pull work. Should the registry refuse
// that token, RoundTrip says why (errCredentialsWithheld).
func (a *authTransport) checkRealm(realm string) (u *url.URL, credentials bool, err error) {
	u, err = url.Parse(realm)
	if err != nil || u.Host == "" {
		return nil, false, fmt.Errorf("the registry's token service %q is not a URL", realm)
	}
	switch {
	case u.Scheme == "https":
		return u, true, nil
	case u.Scheme != "http":
		return nil, false, fmt.Errorf("refusing the token service %s of %s: it must be https (http only for a plain-HTTP registry)", u.Redacted(), a.registryURL())
	case !a.insecure:
		return nil, false, fmt.Errorf("refusing the token service %s of %s: %w (a plain-HTTP one would carry the credentials and the token unencrypted); "+
			"the registry's operator must serve it over HTTPS", u.Redacted(), a.registryURL(), errRealmDowngrade)
	}
	return u, sameHost(u, "http", a.host), nil
}

// sameHost reports whether u is on host (host[:port], reached over
// scheme): the same name, case aside, and the same port, defaults filled in.
func sameHost(u *url.URL, scheme, host string) bool {
	h := &url.URL{Scheme: scheme, Host: host}
	return strings.EqualFold(u.Hostname(), h.Hostname()) && portOf(u) == portOf(h)
}

func portOf(u *url.URL) string {
	if p := u.Port(); p != "" {
		return p
	}
	if u.Scheme == "https" {
		return "443"
	}
	return "80"
}

// hasCredentials reports whether there is anything to send a token
// service (a password or an identity token; a ready registry token never
// goes to one).
func (a *authTransport) hasCredentials() bool {
	return a.cred.Username != "" || a.cred.Password != "" || a.cred.IdentityToken != ""
}

// token asks the token service at realm for a token with scopes: with an
// identity token by the OAuth2 refresh-token grant (falling back to a GET
// when the service has no OAuth2 endpoint), otherwise by a GET with the
// Basic credentials, if any, and if checkRealm lets them go there.
// withheld says the credentials were kept back: the token is anonymous.
func (a *authTransport) token(ctx context.Context, realm, service string, scopes []string) (tok string, lifetime time.Duration, withheld bool, err error) {
	u, send, err := a.checkRealm(realm)
	if err != nil {
		return "", 0, false, err
	}
	withheld = !send && a.hasCredentials()
	client := &http.Client{Transport: a.inner, CheckRedirect: func(r *http.Request, via []*http.Request) error {
		if len(via) >= 10 {
			return errors.New("stopped after 10 redirects")
		}
		if r.URL.Scheme != "https" && (r.URL.Scheme != "http" || !a.insecure) {
			return fmt.Errorf("refusing a redirect of the token request to %s", r.URL.Redacted())
		}
		// Go keeps the Authorization header on a redirect to the same
		// host name or a subdomain of it (any port, any scheme), and a
		// refresh token's form body on a 307 or 308 anywhere: the
		// credentials go no further than checkRealm lets them.
		if send && a.hasCredentials() && r.URL.Scheme != "https" && !sameHost(r.URL, "http", a.host) {
			return fmt.Errorf("refusing a redirect of the token request to %s: it is plain HTTP on a host other than the registry's %s, and the request carries the credentials", r.URL.Redacted(), a.host)
		}
		return nil
	}}
	if a.cred.IdentityToken != "" && send {
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
			return "", 0, false, err
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		tok, lifetime, status, err := readToken(client, req)
		if status != http.StatusNotFound {
			return tok, lifetime, false, err
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
		return "", 0, false, err
	}
	if send && (a.cred.Username != "" || a.cred.Password != "") {
		req.SetBasicAuth(a.cred.Username, a.cred.Password)
	}
	tok, lifetime, _, err = readToken(client, req)
	if err != nil && withheld {
		err = fmt.Errorf("%w (anonymous: the credentials for %s are not sent to a plain-HTTP token service on another host)", err, a.host)
	}
	return tok, lifetime, withheld, err
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
