// Package imageref parses image references — REGISTRY/REPOSITORY:TAG and
// REGISTRY/REPOSITORY@sha256:DIGEST — the way docker and
// go-containerregistry read them, and checks them against the OCI
// distribution spec's grammar.
//
// It is a small package on purpose: go-containerregistry's name package
// pulls in go-digest, whose package init alone costs ferry a few tenths of
// a millisecond at every start. The tests check it against name.
package imageref

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"unicode/utf8"
)

// DockerHub is the registry of references that name none.
const DockerHub = "index.docker.io"

// DefaultTag is the tag of references that name neither a tag nor a digest.
const DefaultTag = "latest"

// Reference names one image: a repository in a registry and a tag, a
// digest, or both (the digest then decides which image it is).
type Reference struct {
	Registry   string // host[:port]; DockerHub when the reference names none
	Repository string // path in the registry: "team/app", "library/alpine"
	Tag        string // "" when the reference is by digest only
	Digest     string // "sha256:<64 hex>"; "" when the reference is by tag
}

// ErrInvalid is wrapped by every parse error.
var ErrInvalid = errors.New("invalid image reference")

// ErrScheme is the reason of a reference given as a URL (http://...).
var ErrScheme = errors.New("an image reference has no scheme (REGISTRY/REPOSITORY:TAG)")

// Error says which reference is invalid and why.
type Error struct {
	Input  string
	Reason error // what is wrong with it, without the input
}

func (e *Error) Error() string { return fmt.Sprintf("%v %s: %v", ErrInvalid, Quote(e.Input), e.Reason) }

// maxQuoted is how much of a name a message quotes in full.
const maxQuoted = 64

// Quote quotes s for a message: in full up to 64 bytes, and a longer one by
// its first 40 and its length, so that a line that names it (a 308-character
// tag, say) stays a line.
func Quote(s string) string {
	if len(s) <= maxQuoted {
		return fmt.Sprintf("%q", s)
	}
	cut := 40
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return fmt.Sprintf("%q… (%d characters)", s[:cut], len(s))
}

// Unwrap lets errors.Is(err, ErrInvalid) match.
func (e *Error) Unwrap() error { return ErrInvalid }

// Parse reads REGISTRY/REPOSITORY[:TAG][@sha256:DIGEST]. The first path
// component is the registry when it has a dot or a colon or is
// "localhost"; otherwise the image is on Docker Hub (index.docker.io, where
// a one-component repository lives under library/). Without a tag or a
// digest the tag is "latest". Digests must be sha256, the digest ECR and
// the copy engine verify.
func Parse(s string) (Reference, error) {
	var r Reference
	if scheme, _, ok := strings.Cut(s, "://"); ok && scheme != "" && !strings.ContainsAny(scheme, "/@:") {
		return r, invalid(s, fmt.Errorf("drop %q: %w", scheme+"://", ErrScheme))
	}
	rest := s
	if before, digest, ok := strings.Cut(rest, "@"); ok {
		if err := checkDigest(digest); err != nil {
			return r, invalid(s, err)
		}
		rest, r.Digest = before, digest
	}
	if i := strings.LastIndexByte(rest, ':'); i > strings.LastIndexByte(rest, '/') {
		if err := checkTag(rest[i+1:]); err != nil {
			return r, invalid(s, err)
		}
		rest, r.Tag = rest[:i], rest[i+1:]
	}
	if r.Tag == "" && r.Digest == "" {
		r.Tag = DefaultTag
	}
	r.Registry, r.Repository = DockerHub, rest
	if first, path, ok := strings.Cut(rest, "/"); ok && (first == "localhost" || strings.ContainsAny(first, ".:")) {
		if err := checkRegistry(first); err != nil {
			return Reference{}, invalid(s, err)
		}
		r.Registry, r.Repository = first, path
		if r.Registry == "docker.io" {
			r.Registry = DockerHub
		}
	}
	if err := checkRepository(r.Repository); err != nil {
		return Reference{}, invalid(s, err)
	}
	if r.Registry == DockerHub && !strings.Contains(r.Repository, "/") {
		r.Repository = "library/" + r.Repository
	}
	return r, nil
}

func invalid(s string, err error) error { return &Error{Input: s, Reason: err} }

// String is the reference in full: REGISTRY/REPOSITORY, then :TAG and
// @DIGEST when set.
func (r Reference) String() string {
	s := r.Name()
	if r.Tag != "" {
		s += ":" + r.Tag
	}
	if r.Digest != "" {
		s += "@" + r.Digest
	}
	return s
}

// Name is REGISTRY/REPOSITORY.
func (r Reference) Name() string { return r.Registry + "/" + r.Repository }

// Identifier is what the registry's manifest endpoint takes: the digest
// when there is one, else the tag.
func (r Reference) Identifier() string {
	if r.Digest != "" {
		return r.Digest
	}
	return r.Tag
}

// WithTag returns the reference to tag in the same repository.
func (r Reference) WithTag(tag string) Reference {
	return Reference{Registry: r.Registry, Repository: r.Repository, Tag: tag}
}

// WithDigest returns the reference to digest in the same repository.
func (r Reference) WithDigest(digest string) Reference {
	return Reference{Registry: r.Registry, Repository: r.Repository, Digest: digest}
}

// Scope is the token scope for actions ("pull", "push,pull") on the
// repository, as registries' token services take it.
func (r Reference) Scope(actions string) string {
	return "repository:" + r.Repository + ":" + actions
}

// checkRegistry accepts a URI authority: host[:port].
func checkRegistry(reg string) error {
	if u, err := url.Parse("//" + reg); err != nil || u.Host != reg || u.User != nil {
		return fmt.Errorf("registry %s is not a host name with an optional :port", Quote(reg))
	}
	return nil
}

// checkRepository applies the distribution spec's grammar: components of
// lowercase letters and digits, joined inside by ".", "_", "__" or runs of
// "-", separated by "/"; at most 255 characters.
func checkRepository(repo string) error {
	const want = "lowercase letters and digits, separated inside a path component by '.', '_', '__' or '-', and between components by '/'"
	if repo == "" {
		return errors.New("the repository name is missing")
	}
	if len(repo) > 255 {
		return fmt.Errorf("repository name is %d characters long; at most 255 are allowed", len(repo))
	}
	for _, comp := range strings.Split(repo, "/") {
		if !validComponent(comp) {
			return fmt.Errorf("repository %s is not valid: want %s", Quote(repo), want)
		}
	}
	return nil
}

func validComponent(c string) bool {
	i := 0
	for {
		// An alphanumeric run, then the end or a separator.
		start := i
		for i < len(c) && alnum(c[i]) {
			i++
		}
		if i == start {
			return false
		}
		switch {
		case i == len(c):
			return true
		case strings.HasPrefix(c[i:], "__"):
			i += 2
		case c[i] == '.' || c[i] == '_':
			i++
		case c[i] == '-':
			for i < len(c) && c[i] == '-' {
				i++
			}
		default:
			return false
		}
	}
}

func alnum(c byte) bool { return c >= 'a' && c <= 'z' || c >= '0' && c <= '9' }

// checkTag applies [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}.
func checkTag(tag string) error {
	if tag == "" {
		return errors.New("the tag after ':' is missing")
	}
	if len(tag) > 128 {
		return fmt.Errorf("tag is %d characters long; at most 128 are allowed", len(tag))
	}
	for i := 0; i < len(tag); i++ {
		c := tag[i]
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || i > 0 && (c == '.' || c == '-')
		if !ok {
			return fmt.Errorf("tag %s is not valid: want letters, digits, '_', '.' and '-', not starting with '.' or '-'", Quote(tag))
		}
	}
	return nil
}

// checkDigest accepts sha256:<64 lowercase hex digits>.
func checkDigest(d string) error {
	hexPart, ok := strings.CutPrefix(d, "sha256:")
	if ok && len(hexPart) == 64 && strings.Trim(hexPart, "0123456789abcdef") == "" {
		return nil
	}
	return fmt.Errorf("digest %s is not valid: want sha256: and 64 lowercase hex digits", Quote(d))
}
