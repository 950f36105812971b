package imagecopy

import (
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// Sentinel errors, for errors.Is.
var (
	// ErrDigestMismatch means a registry served content whose digest is not
	// the one that names it. It is never retried: the copy stops before the
	// corrupt content is committed anywhere.
	ErrDigestMismatch = errors.New("digest mismatch")
	// ErrUnsupportedManifest means the manifest's media type cannot be copied
	// digest for digest (for example Docker schema 1).
	ErrUnsupportedManifest = errors.New("unsupported manifest")
	// ErrStalled means a registry stopped sending or taking a blob's bytes
	// for longer than the stall timeout (WithStallTimeout), or moved them
	// slower than the minimum rate over it (WithMinRate); the request was
	// cancelled, and a retry may succeed.
	ErrStalled = errors.New("no progress")
	// ErrInvalidManifest means a manifest references something by a digest
	// that is not sha256, or with a negative size.
	ErrInvalidManifest = errors.New("invalid manifest")
	// ErrTooLarge means a registry's answer was larger than what Ferry
	// reads into memory for it: a manifest over MaxManifestSize
	// (ErrManifestTooLarge), a page of a tag list or a referrers list over
	// MaxManifestSize, a token answer over 64 KiB, or an image whose
	// manifests come to more than MaxManifestBytes (*ManifestBytesError).
	// It is never retried: the registry would answer the same.
	ErrTooLarge = errors.New("too large")
	// ErrManifestTooLarge means a manifest exceeded MaxManifestSize. It is
	// an ErrTooLarge.
	ErrManifestTooLarge = fmt.Errorf("manifest %w", ErrTooLarge)
	// ErrNotFound means the registry has no such manifest or blob.
	ErrNotFound = errors.New("not found")
)

// maxErrorBody bounds what is read of an error answer.
const maxErrorBody = 64 << 10

// RegistryError is an HTTP error answered by a registry, with where it happened.
type RegistryError struct {
	Op         string // what Ferry was doing, e.g. "upload blob sha256:…"
	Registry   string // host[:port]
	Repository string
	StatusCode int
	Codes      []string      // registry error codes, e.g. MANIFEST_UNKNOWN
	Message    string        // the registry's own words
	RetryAfter time.Duration // from the Retry-After header, if any
	// PlainToTLS says the registry was spoken to in plain HTTP and
	// answered 400 without a registry error: it speaks HTTPS on that port.
	PlainToTLS bool
}

func (e *RegistryError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s in %s/%s: %d %s", e.Op, e.Registry, e.Repository, e.StatusCode, http.StatusText(e.StatusCode))
	if len(e.Codes) > 0 {
		fmt.Fprintf(&b, " (%s)", strings.Join(e.Codes, ", "))
	}
	if e.Message != "" {
		fmt.Fprintf(&b, ": %s", e.Message)
	}
	if hint := e.hint(); hint != "" {
		fmt.Fprintf(&b, " — %s", hint)
	}
	return b.String()
}

// Is lets errors.Is(err, ErrNotFound) match a 404.
func (e *RegistryError) Is(target error) bool {
	return target == ErrNotFound && e.StatusCode == http.StatusNotFound
}

// immutableTag reports whether the registry refused to move a tag because
// the repository's tags are immutable (ECR: TAG_INVALID on the data plane,
// ImageTagAlreadyExistsException from PutImage).
func (e *RegistryError) immutableTag() bool {
	for _, c := range e.Codes {
		if c == "TAG_INVALID" || c == "ImageTagAlreadyExistsException" {
			return true
		}
	}
	return false
}

// Temporary reports whether retrying the same request may succeed.
func (e *RegistryError) Temporary() bool {
	switch e.StatusCode {
	case http.StatusRequestTimeout, http.StatusTooManyRequests,
		http.StatusInternalServerError, http.StatusBadGateway,
		http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return true
	}
	return false
}

func (e *RegistryError) hint() string {
	if e.PlainToTLS {
		return "the registry speaks HTTPS on that port, not plain HTTP"
	}
	switch e.StatusCode {
	case http.StatusUnauthorized:
		return "check the credentials for this registry (docker login, or the ECR token)"
	case http.StatusForbidden:
		return "the credentials lack permission for this repository"
	}
	for _, c := range e.Codes {
		if c == "NAME_UNKNOWN" {
			return "no such repository"
		}
	}
	return ""
}

// newRegistryError reads an unexpected response into a RegistryError.
func newRegistryError(op, registry, repository string, resp *http.Response) *RegistryError {
	e := &RegistryError{
		Op:         op,
		Registry:   registry,
		Repository: repository,
		StatusCode: resp.StatusCode,
		RetryAfter: retryAfter(resp.Header.Get("Retry-After"), time.Now()),
	}
	// The distribution spec's error document, if the body is one.
	var doc struct {
		Errors []struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"errors"`
	}
	if resp.Body != nil && json.NewDecoder(io.LimitReader(resp.Body, maxErrorBody)).Decode(&doc) == nil {
		for _, d := range doc.Errors {
			e.Codes = append(e.Codes, d.Code)
			if e.Message == "" {
				e.Message = d.Message
			}
		}
	}
	return e
}

// TLSError means a registry's TLS certificate is not trusted: signed by an
// authority this machine does not know (a self-signed or private CA),
// expired, or for another name. Err is the crypto/x509 error.
type TLSError struct {
	Op         string
	Registry   string
	Repository string
	Err        error
}

func (e *TLSError) Error() string {
	return fmt.Sprintf("%s in %s/%s: %v (the registry's TLS certificate is not trusted)", e.Op, e.Registry, e.Repository, e.Err)
}

func (e *TLSError) Unwrap() error { return e.Err }

// UnknownAuthority reports whether the certificate is signed by an
// authority the client does not trust (rather than expired or for another
// name): adding that authority's certificate fixes it.
func (e *TLSError) UnknownAuthority() bool {
	var unknown x509.UnknownAuthorityError
	return errors.As(e.Err, &unknown)
}

// SourceError is the error of a Copy that could not read its source: no
// destination got anything.
type SourceError struct {
	Ref string // the source reference
	Err error
}

func (e *SourceError) Error() string { return fmt.Sprintf("read %s: %v", e.Ref, e.Err) }

func (e *SourceError) Unwrap() error { return e.Err }

// RetriedError is a request's passing fault (throttling, a 5xx, a broken
// or unanswered connection) that lasted through every retry the Backoff
// allows: Err is the last try's error.
type RetriedError struct {
	Err   error
	Tries int
	Over  time.Duration // from the first try to the last one's failure
}

func (e *RetriedError) Error() string {
	return fmt.Sprintf("%v (tried %d times over %s)", e.Err, e.Tries, e.Over.Round(100*time.Millisecond))
}

func (e *RetriedError) Unwrap() error { return e.Err }

// ManifestBytesError means an image's manifests (with its referrers')
// come to more than one Copy reads from its source (MaxManifestBytes).
// It is an ErrTooLarge, and never retried.
type ManifestBytesError struct {
	Image string // the source reference
	Bytes int64  // the manifest bytes counted when the cap was passed (at least this many)
	Limit int64
}

func (e *ManifestBytesError) Error() string {
	return fmt.Sprintf("image %s: its manifests and referrers come to at least %d bytes, over the cap of %d bytes of manifests one copy reads",
		e.Image, e.Bytes, e.Limit)
}

func (e *ManifestBytesError) Unwrap() error { return ErrTooLarge }

// ConflictError means the destination tag already points at another image
// and the destination is set to protect it.
type ConflictError struct {
	Reference string // the destination tag
	Existing  string // the digest the tag points at now (refused to replace)
	Wanted    string // the digest Ferry would have written
}

func (e *ConflictError) Error() string {
	return fmt.Sprintf("tag %s already points at %s, not %s; refusing to replace it (set onExistingTag: overwrite, or --overwrite, to replace it)",
		e.Reference, e.Existing, e.Wanted)
}

// DigestError says which content failed verification, where.
type DigestError struct {
	What string // "blob" or "manifest"
	Ref  string // where it was read
	Want string
	Got  string
}

func (e *DigestError) Error() string {
	return fmt.Sprintf("%s %s: content has digest %s (corrupt or tampered data)", e.What, e.Ref, e.Got)
}

func (e *DigestError) Unwrap() error { return ErrDigestMismatch }
