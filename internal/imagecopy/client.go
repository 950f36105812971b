package imagecopy

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/ferry-dev/ferry/internal/credentials"
	"github.com/ferry-dev/ferry/internal/imageref"
)

// repo speaks the OCI distribution API to one repository. Every metadata
// request is retried per the Backoff; blob uploads are retried by the caller,
// which can re-read the source.
type repo struct {
	registry string // host[:port]
	name     string // repository path
	base     *url.URL
	client   *http.Client
	backoff  Backoff
	gate     *gate     // the registry's, shared by the Copier's copies
	answered *answered // the hosts that have answered the Copier
	// answer is how long a metadata request may wait for its answer;
	// afterFunc is time.AfterFunc's start and stop (tests replace it).
	answer    time.Duration
	afterFunc func(time.Duration, func()) (stop func() bool)
}

// openRepo returns a client for a repository that authenticates for the
// given actions (pull, or push and pull). It sends nothing yet, but to
// find out whether a loopback registry speaks HTTPS (see scheme).
func (c *Copier) openRepo(ctx context.Context, r imageref.Reference, cred credentials.Credential, actions string) (*repo, error) {
	scheme, err := c.scheme(ctx, r.Registry)
	if err != nil {
		return nil, err
	}
	t := newAuthTransport(r.Registry, cred, c.rt, []string{r.Scope(actions)}, scheme == "http")
	return &repo{
		registry:  r.Registry,
		name:      r.Repository,
		base:      &url.URL{Scheme: scheme, Host: r.Registry, Path: "/v2/" + r.Repository + "/"},
		client:    &http.Client{Transport: t},
		backoff:   c.backoff,
		gate:      c.gates.get(r.Registry),
		answered:  &c.answered,
		answer:    c.metaTimeout,
		afterFunc: c.afterFunc,
	}, nil
}

// scheme says how to reach a registry: "http" for one WithPlainHTTPFor
// names, "https" for any other but a loopback one, which gets what it
// answers (probe).
func (c *Copier) scheme(ctx context.Context, host string) (string, error) {
	switch {
	case c.plainHTTP(host):
		return "http", nil
	case !Loopback(host):
		return "https", nil
	}
	return c.schemes.get(ctx, host, c.probe)
}

// probe asks a loopback registry for /v2/ over HTTPS: any answer, or a
// certificate it sends that is not trusted (which the copy then reports,
// with what to do), says it speaks HTTPS; anything else (an answer in
// plain HTTP, a closed connection, nobody listening) makes it plain HTTP,
// the usual for a local registry, whose own errors the copy then reports.
func (c *Copier) probe(ctx context.Context, host string) (string, error) {
	pctx, cancel := context.WithTimeout(ctx, c.metaTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(pctx, http.MethodGet, "https://"+host+"/v2/", nil)
	if err != nil {
		return "", fmt.Errorf("reach %s: %w", host, err)
	}
	resp, err := c.rt.RoundTrip(req)
	switch {
	case err == nil:
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxErrorBody))
		resp.Body.Close()
		return "https", nil
	case ctx.Err() != nil:
		return "", fmt.Errorf("reach %s: %w", host, context.Cause(ctx))
	case certificateError(err):
		return "https", nil
	}
	c.log.LogAttrs(ctx, slog.LevelDebug, "loopback registry speaks plain HTTP", slog.String("registry", host), slog.String("https", err.Error()))
	return "http", nil
}

// schemes remembers what each loopback registry was found to speak.
type schemes struct {
	mu sync.Mutex
	m  map[string]*schemeProbe
}

type schemeProbe struct {
	done   chan struct{}
	scheme string // "" when the probe ended with the caller's context
}

// get returns host's scheme, probing it the first time (and again after
// a probe the caller cancelled).
func (s *schemes) get(ctx context.Context, host string, probe func(context.Context, string) (string, error)) (string, error) {
	for {
		s.mu.Lock()
		if s.m == nil {
			s.m = map[string]*schemeProbe{}
		}
		p, ok := s.m[host]
		if !ok {
			p = &schemeProbe{done: make(chan struct{})}
			s.m[host] = p
			s.mu.Unlock()
			scheme, err := probe(ctx, host)
			s.mu.Lock()
			if err != nil {
				delete(s.m, host)
			}
			p.scheme = scheme
			s.mu.Unlock()
			close(p.done)
			return scheme, err
		}
		s.mu.Unlock()
		select {
		case <-p.done:
		case <-ctx.Done():
			return "", fmt.Errorf("reach %s: %w", host, context.Cause(ctx))
		}
		if p.scheme != "" {
			return p.scheme, nil
		}
	}
}

// Loopback reports whether a registry (host[:port]) is on this machine:
// localhost, 127.0.0.0/8 or ::1.
func Loopback(host string) bool {
	h := hostname(host)
	if strings.EqualFold(h, "localhost") {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

// hostname is host[:port] without the port and an IPv6 address's brackets.
func hostname(host string) string { return (&url.URL{Host: host}).Hostname() }

// PlainHTTPHosts returns a WithPlainHTTPFor function that is true for the
// given registries: a HOST:PORT names that port only, a bare HOST every
// port of it. Names compare without regard to case.
func PlainHTTPHosts(hosts ...string) func(host string) bool {
	set := map[string]bool{}
	for _, h := range hosts {
		set[strings.ToLower(h)] = true
	}
	return func(host string) bool {
		host = strings.ToLower(host)
		if set[host] {
			return true
		}
		h := hostname(host)
		return set[h] || (strings.Contains(h, ":") && set["["+h+"]"])
	}
}

// certificateError reports whether err is a TLS certificate the client
// does not trust: the server speaks TLS.
func certificateError(err error) bool {
	var unknown x509.UnknownAuthorityError
	var invalid x509.CertificateInvalidError
	var hostname x509.HostnameError
	var verify *tls.CertificateVerificationError
	return errors.As(err, &unknown) || errors.As(err, &invalid) || errors.As(err, &hostname) || errors.As(err, &verify)
}

// userAgent sets the User-Agent of every request it sends.
type userAgent struct {
	inner http.RoundTripper
	ua    string
}

func (u userAgent) RoundTrip(req *http.Request) (*http.Response, error) {
	if u.ua != "" && req.Header.Get("User-Agent") != u.ua {
		req = req.Clone(req.Context()) // a RoundTripper must not change the request
		req.Header.Set("User-Agent", u.ua)
	}
	return u.inner.RoundTrip(req)
}

func (r *repo) String() string { return r.registry + "/" + r.name }

func (r *repo) url(path string) string { return r.base.ResolveReference(&url.URL{Path: path}).String() }

// do sends one metadata request (a manifest, a tag list, a check, an
// upload's start) and checks its status; the caller closes the body of a
// successful response. The registry has r.answer (WithMetadataTimeout) to
// answer it, token exchange included.
func (r *repo) do(ctx context.Context, op, method, u string, hdr http.Header, body io.Reader, size int64, ok ...int) (*http.Response, error) {
	return r.send(ctx, r.answer, op, method, u, hdr, body, size, ok...)
}

// doBlob is do for a request that moves a blob's bytes or commits them (a
// source's read, an upload, its commit, where a registry may sync the blob
// to disk or assemble it in S3): the registry has the transport's own,
// longer, wait to answer it (2.5 stall timeouts by default).
func (r *repo) doBlob(ctx context.Context, op, method, u string, hdr http.Header, body io.Reader, size int64, ok ...int) (*http.Response, error) {
	return r.send(ctx, 0, op, method, u, hdr, body, size, ok...)
}

// send is do with a wait for the answer (0: the transport's).
func (r *repo) send(ctx context.Context, wait time.Duration, op, method, u string, hdr http.Header, body io.Reader, size int64, ok ...int) (*http.Response, error) {
	reqCtx, cancel := ctx, context.CancelCauseFunc(func(error) {})
	if wait > 0 {
		reqCtx, cancel = context.WithCancelCause(ctx)
	}
	req, err := http.NewRequestWithContext(reqCtx, method, u, body)
	if err != nil {
		cancel(nil)
		return nil, fmt.Errorf("%s in %s: %w", op, r, err)
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	if body != nil {
		req.ContentLength = size
	}
	// A blob's stream is not held at the gate: streams go in lockstep to
	// every destination of the blob (one waiting for a slot at one
	// registry would hold the others up, while they hold slots elsewhere);
	// each Copy's jobs bound its streams (so a Copier's are jobs times its
	// copies at once).
	_, stream := body.(*chunkBody)
	gated := r.gate != nil && !stream
	if gated {
		if err := r.gate.enter(ctx); err != nil {
			cancel(nil)
			return nil, fmt.Errorf("%s in %s: %w", op, r, err)
		}
	}
	// The wait starts once the request may go: not while it waits at the
	// gate, which is this Copier's doing, not the registry's.
	answered := func() bool { return true }
	if wait > 0 {
		answered = r.afterFunc(wait, func() { cancel(errNoAnswer) })
	}
	resp, err := r.client.Do(req)
	timedOut := !answered() && ctx.Err() == nil
	if timedOut && err == nil {
		// Answered only just: the body would be cut off.
		resp.Body.Close()
		err = &url.Error{Op: req.Method, URL: u, Err: errNoAnswer}
	}
	if err != nil {
		cancel(nil)
	} else {
		resp.Body = cancelOnClose{resp.Body, cancel} // the body is read under reqCtx
	}
	if gated {
		r.gate.leave()
		if err == nil && resp.StatusCode == http.StatusTooManyRequests {
			r.gate.throttled(retryAfter(resp.Header.Get("Retry-After"), time.Now()))
		}
	}
	if err != nil {
		host := r.registry
		// A redirected URL (ECR's presigned S3 URL for a layer) carries its
		// credentials in the query: errors end up in logs and in Step
		// Functions' history, so they name the URL without it.
		if ue, ok := errors.AsType[*url.Error](err); ok {
			if u, perr := url.Parse(ue.URL); perr == nil {
				host = u.Host
			}
			ue.URL = withoutQuery(ue.URL)
		}
		// A host that has answered before and now refuses connections is
		// restarting or being replaced, not a wrong address.
		if errors.Is(err, syscall.ECONNREFUSED) && r.answered.has(host) {
			err = fmt.Errorf("%w (%w)", err, errRefusedAfterAnswers)
		}
		// Given up for want of an answer in wait: a passing fault, which
		// keeps its *url.Error (a net.Error, which callers take as one).
		if timedOut {
			if !errors.Is(err, errNoAnswer) {
				err = fmt.Errorf("%w (%w)", err, errNoAnswer)
			}
			err = fmt.Errorf("%w (waited %s)", err, wait)
		}
		// The transport's own timeouts (no answer in time) say they are a
		// DeadlineExceeded, which is final when it is the caller's: mark
		// these as the passing faults they are.
		if ctx.Err() == nil && errors.Is(err, context.DeadlineExceeded) {
			err = fmt.Errorf("%w (%w)", err, errNoAnswer)
		}
		if errors.Is(err, http.ErrSchemeMismatch) {
			return nil, fmt.Errorf("%s in %s: %w (the registry speaks plain HTTP, not HTTPS)", op, r, err)
		}
		if certificateError(err) {
			return nil, &TLSError{Op: op, Registry: r.registry, Repository: r.name, Err: err}
		}
		return nil, fmt.Errorf("%s in %s: %w", op, r, err)
	}
	r.answered.add(r.registry)
	if resp.Request != nil && resp.Request.URL.Host != r.registry {
		r.answered.add(resp.Request.URL.Host) // where it was redirected
	}
	for _, code := range ok {
		if resp.StatusCode == code {
			return resp, nil
		}
	}
	defer resp.Body.Close()
	re := newRegistryError(op, r.registry, r.name, resp)
	// A TLS port answers a plain-HTTP request 400, with no registry error
	// document: Go's "Client sent an HTTP request to an HTTPS server",
	// nginx's "The plain HTTP request was sent to HTTPS port".
	re.PlainToTLS = r.base.Scheme == "http" && resp.StatusCode == http.StatusBadRequest && len(re.Codes) == 0
	return nil, re
}

// cancelOnClose releases a request's context when its body is closed.
type cancelOnClose struct {
	io.ReadCloser
	cancel context.CancelCauseFunc
}

func (c cancelOnClose) Close() error {
	err := c.ReadCloser.Close()
	c.cancel(nil)
	return err
}

// withoutQuery replaces a URL's query, if it has one, with "?…".
func withoutQuery(u string) string {
	if i := strings.IndexByte(u, '?'); i >= 0 {
		return u[:i] + "?…"
	}
	return u
}

// getManifest reads a manifest by tag or digest, verifying its digest.
func (r *repo) getManifest(ctx context.Context, ref string) (rawManifest, error) {
	var m rawManifest
	op := "get manifest " + ref
	err := r.backoff.retry(ctx, func() error {
		resp, err := r.do(ctx, op, http.MethodGet, r.url("manifests/"+ref), http.Header{"Accept": {manifestAccept}}, nil, 0, http.StatusOK)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		body, err := readAll(resp, MaxManifestSize, ErrManifestTooLarge)
		if err != nil {
			return fmt.Errorf("%s in %s: %w", op, r, err)
		}
		m = rawManifest{Body: body, MediaType: resp.Header.Get("Content-Type"), Digest: digestOf(body)}
		return nil
	})
	if err != nil {
		return m, err
	}
	if validDigest(ref) && ref != m.Digest {
		return m, &DigestError{What: "manifest", Ref: r.String() + "@" + ref, Want: ref, Got: m.Digest}
	}
	if m.MediaType == "" || m.MediaType == "application/json" {
		var probe struct {
			MediaType string `json:"mediaType"`
		}
		if json.Unmarshal(m.Body, &probe) == nil && probe.MediaType != "" {
			m.MediaType = probe.MediaType
		}
	}
	return m, nil
}

// readAll reads a response body of at most limit bytes. A longer one is
// not read past limit, and is tooLarge (an ErrTooLarge, which is final: a
// retry would get the same answer); a body cut short is the connection's
// error, which may be retried. A body of known length is read into a
// buffer of that size, with nothing to grow and nothing left over.
func readAll(resp *http.Response, limit int64, tooLarge error) ([]byte, error) {
	over := func() error { return fmt.Errorf("%w: the answer is over %d bytes", tooLarge, limit) }
	if resp.ContentLength > limit {
		return nil, over()
	}
	if resp.ContentLength >= 0 {
		b := make([]byte, resp.ContentLength)
		if _, err := io.ReadFull(resp.Body, b); err != nil {
			return nil, err
		}
		return b, nil
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > limit {
		return nil, over()
	}
	return b, nil
}

// headManifest returns the digest a tag or digest resolves to, or "" if the
// repository has no such manifest.
func (r *repo) headManifest(ctx context.Context, ref string) (string, error) {
	var digest string
	found := false
	op := "check manifest " + ref
	err := r.backoff.retry(ctx, func() error {
		resp, err := r.do(ctx, op, http.MethodHead, r.url("manifests/"+ref), http.Header{"Accept": {manifestAccept}}, nil, 0, http.StatusOK)
		if errors.Is(err, ErrNotFound) {
			found = false
			return nil
		}
		if err != nil {
			return err
		}
		resp.Body.Close()
		found, digest = true, resp.Header.Get("Docker-Content-Digest")
		return nil
	})
	if err != nil || !found || digest != "" {
		return digest, err
	}
	// Found, but the registry did not say the digest: read it.
	m, err := r.getManifest(ctx, ref)
	if errors.Is(err, ErrNotFound) {
		return "", nil
	}
	return m.Digest, err
}

// putManifest writes a manifest under ref (a tag or its digest) and returns
// whether the registry indexed its subject (OCI-Subject header).
func (r *repo) putManifest(ctx context.Context, ref string, m rawManifest) (subjectIndexed bool, err error) {
	op := "put manifest " + ref
	err = r.backoff.retry(ctx, func() error {
		resp, err := r.do(ctx, op, http.MethodPut, r.url("manifests/"+ref), http.Header{"Content-Type": {m.MediaType}},
			bytes.NewReader(m.Body), int64(len(m.Body)), http.StatusCreated, http.StatusOK, http.StatusAccepted)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if got := resp.Header.Get("Docker-Content-Digest"); got != "" && got != m.Digest {
			return &DigestError{What: "manifest", Ref: r.String() + ":" + ref, Want: m.Digest, Got: got}
		}
		subjectIndexed = resp.Header.Get("OCI-Subject") != ""
		return nil
	})
	return subjectIndexed, err
}

// hasBlob reports whether the repository holds a blob.
func (r *repo) hasBlob(ctx context.Context, digest string) (bool, error) {
	var found bool
	op := "check blob " + digest
	err := r.backoff.retry(ctx, func() error {
		resp, err := r.do(ctx, op, http.MethodHead, r.url("blobs/"+digest), nil, nil, 0, http.StatusOK)
		if errors.Is(err, ErrNotFound) {
			found = false
			return nil
		}
		if err != nil {
			return err
		}
		resp.Body.Close()
		found = true
		return nil
	})
	return found, err
}

// getBlob opens a blob for reading. The caller verifies the digest.
func (r *repo) getBlob(ctx context.Context, d descriptor) (io.ReadCloser, error) {
	var body io.ReadCloser
	op := "get blob " + d.Digest
	err := r.backoff.retry(ctx, func() error {
		resp, err := r.doBlob(ctx, op, http.MethodGet, r.url("blobs/"+d.Digest), nil, nil, 0, http.StatusOK)
		if err != nil {
			return err
		}
		if resp.ContentLength >= 0 && resp.ContentLength != d.Size {
			resp.Body.Close()
			return fmt.Errorf("%s in %s: registry says %d bytes, the manifest says %d: %w", op, r, resp.ContentLength, d.Size, ErrDigestMismatch)
		}
		body = resp.Body
		return nil
	})
	return body, err
}

// startUpload opens an upload session, mounting the blob from another
// repository of the same registry when from is set. It returns mounted=true
// when the registry mounted the blob, or else the upload location.
func (r *repo) startUpload(ctx context.Context, digest, from string) (mounted bool, location string, err error) {
	q := url.Values{}
	op := "start upload of " + digest
	if from != "" {
		q.Set("mount", digest)
		q.Set("from", from)
		op = "mount " + digest + " from " + from
	}
	u := r.base.ResolveReference(&url.URL{Path: "blobs/uploads/", RawQuery: q.Encode()}).String()
	err = r.backoff.retry(ctx, func() error {
		resp, err := r.do(ctx, op, http.MethodPost, u, nil, http.NoBody, 0, http.StatusCreated, http.StatusAccepted)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode == http.StatusCreated {
			mounted = true
			return nil
		}
		location, err = r.location(resp)
		return err
	})
	return mounted, location, err
}

func (r *repo) location(resp *http.Response) (string, error) {
	loc := resp.Header.Get("Location")
	if loc == "" {
		return "", fmt.Errorf("upload in %s: registry answered %d without a Location header", r, resp.StatusCode)
	}
	u, err := resp.Request.URL.Parse(loc)
	if err != nil {
		return "", fmt.Errorf("upload in %s: bad Location %q: %w", r, loc, err)
	}
	return u.String(), nil
}

// upload streams a blob into an upload session (PATCH) and commits it under
// its digest (PUT), the way docker push does, which every registry and ECR
// accept. It does not retry: body is a stream.
func (r *repo) upload(ctx context.Context, location string, body io.Reader, d descriptor) (err error) {
	op := "upload blob " + d.Digest
	defer func() {
		if err != nil {
			r.abandonUpload(ctx, location)
		}
	}()
	// The length is left unknown (chunked transfer encoding, as docker push
	// sends it) so that net/http writes the body through its WriterTo.
	resp, err := r.doBlob(ctx, op, http.MethodPatch, location, http.Header{"Content-Type": {"application/octet-stream"}},
		body, -1, http.StatusAccepted, http.StatusNoContent, http.StatusCreated)
	if err != nil {
		return err
	}
	resp.Body.Close()
	next, err := r.location(resp)
	if err != nil {
		return err
	}
	location = next
	u, err := url.Parse(next)
	if err != nil {
		return fmt.Errorf("%s in %s: %w", op, r, err)
	}
	q := u.Query()
	q.Set("digest", d.Digest)
	u.RawQuery = q.Encode()
	resp, err = r.doBlob(ctx, "commit blob "+d.Digest, http.MethodPut, u.String(), nil, http.NoBody, 0, http.StatusCreated, http.StatusNoContent, http.StatusAccepted)
	if err != nil {
		return err
	}
	resp.Body.Close()
	return nil
}

// abandonTimeout bounds the DELETE of an upload session that failed.
const abandonTimeout = 3 * time.Second

// abandonUpload cancels an upload session that will not be finished (DELETE,
// as the distribution spec provides), so the registry frees what it holds
// now rather than when the session expires. It goes out even when ctx is
// cancelled (Ctrl-C), for at most abandonTimeout; its outcome changes
// nothing (the copy has failed already, and registries expire sessions).
func (r *repo) abandonUpload(ctx context.Context, location string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), abandonTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodDelete, location, nil)
	if err != nil {
		return
	}
	if resp, err := r.client.Do(req); err == nil {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxErrorBody))
		resp.Body.Close()
	}
}

// referrers lists the manifests that name digest as their subject through
// the OCI 1.1 referrers API. supported is false when the registry has no
// such API (it answers 404, 400 or 405).
func (r *repo) referrers(ctx context.Context, digest string) (refs []descriptor, supported bool, err error) {
	op := "list referrers of " + digest
	err = r.backoff.retry(ctx, func() error {
		resp, err := r.do(ctx, op, http.MethodGet, r.url("referrers/"+digest), http.Header{"Accept": {mtOCIIndex}}, nil, 0, http.StatusOK)
		var re *RegistryError
		if errors.As(err, &re) && (re.StatusCode == http.StatusNotFound || re.StatusCode == http.StatusBadRequest || re.StatusCode == http.StatusMethodNotAllowed) {
			supported = false
			return nil
		}
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		b, err := readAll(resp, MaxManifestSize, ErrTooLarge)
		if err != nil {
			return fmt.Errorf("%s in %s: referrers index: %w", op, r, err)
		}
		var idx manifest
		if err := json.Unmarshal(b, &idx); err != nil {
			return fmt.Errorf("%s in %s: bad referrers index: %w", op, r, err)
		}
		supported, refs = true, idx.Manifests
		return nil
	})
	return refs, supported, err
}

// maxTagPages bounds how far Ferry pages through a tag list before it
// falls back to asking for each referrer tag by name.
const maxTagPages = 10

// listTags returns the repository's tags. complete is false when the list
// was too long to read in maxTagPages pages or the registry will not list
// tags (404, 403, 405): the caller then asks for tags one by one.
func (r *repo) listTags(ctx context.Context) (tags []string, complete bool, err error) {
	next := r.base.ResolveReference(&url.URL{Path: "tags/list", RawQuery: "n=1000"}).String()
	for page := 0; page < maxTagPages; page++ {
		var body struct {
			Tags []string `json:"tags"`
		}
		var link string
		err := r.backoff.retry(ctx, func() error {
			resp, err := r.do(ctx, "list tags", http.MethodGet, next, nil, nil, 0, http.StatusOK)
			if err != nil {
				return err
			}
			defer resp.Body.Close()
			link = resp.Header.Get("Link")
			b, err := readAll(resp, MaxManifestSize, ErrTooLarge)
			if err != nil {
				return fmt.Errorf("list tags in %s: a page of the list: %w", r, err)
			}
			if err := json.Unmarshal(b, &body); err != nil {
				return fmt.Errorf("list tags in %s: %w", r, err)
			}
			if link != "" {
				u, err := resp.Request.URL.Parse(nextLink(link))
				if err != nil {
					return fmt.Errorf("list tags in %s: bad Link header %q: %w", r, link, err)
				}
				next = u.String()
			}
			return nil
		})
		var re *RegistryError
		if errors.As(err, &re) && (re.StatusCode == http.StatusNotFound || re.StatusCode == http.StatusForbidden || re.StatusCode == http.StatusMethodNotAllowed) {
			return nil, false, nil
		}
		if err != nil {
			return nil, false, err
		}
		tags = append(tags, body.Tags...)
		if link == "" {
			return tags, true, nil
		}
	}
	return tags, false, nil
}

// nextLink extracts the URL from a Link header: <url>; rel="next".
func nextLink(h string) string {
	start, end := strings.Index(h, "<"), strings.Index(h, ">")
	if start < 0 || end < start {
		return ""
	}
	return h[start+1 : end]
}

// Resolve returns the digest ref points at, or "" when the registry has no
// such manifest (or repository): for a caller that explains a failed copy
// (ferry copy: are SRC and DST the other way round?).
func (c *Copier) Resolve(ctx context.Context, ref imageref.Reference) (string, error) {
	r, err := c.reader(ctx, ref)
	if err != nil {
		return "", err
	}
	digest, err := r.headManifest(ctx, ref.Identifier())
	if re, ok := errors.AsType[*RegistryError](err); ok && re.StatusCode == http.StatusNotFound {
		return "", nil // NAME_UNKNOWN on HEAD: no such repository
	}
	return digest, err
}

// Tags lists the tags of ref's repository, as many as the registry gives
// in a few pages; complete is false when there are more, or the registry
// will not list them.
func (c *Copier) Tags(ctx context.Context, ref imageref.Reference) (tags []string, complete bool, err error) {
	r, err := c.reader(ctx, ref)
	if err != nil {
		return nil, false, err
	}
	return r.listTags(ctx)
}

func (c *Copier) reader(ctx context.Context, ref imageref.Reference) (*repo, error) {
	cred, err := c.credential(ctx, nil, ref)
	if err != nil {
		return nil, err
	}
	return c.openRepo(ctx, ref, cred, "pull")
}
