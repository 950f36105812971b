package match

import (
	"errors"
	"fmt"
)

// Sentinel errors. Every error this package returns wraps exactly one of
// them, so callers classify with errors.Is.
var (
	// ErrInvalidPattern: a pattern does not compile.
	ErrInvalidPattern = errors.New("invalid pattern")
	// ErrInvalidName: a repository name, tag or digest breaks ECR's syntax.
	ErrInvalidName = errors.New("invalid name")
)

// PatternError says why a pattern does not compile.
type PatternError struct {
	Pattern string // the pattern as written
	Msg     string // what is wrong and what would be valid
	Err     error  // underlying parser error (regexp, semver), if any
}

func (e *PatternError) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("pattern %q: %s: %v", e.Pattern, e.Msg, e.Err)
	}
	return fmt.Sprintf("pattern %q: %s", e.Pattern, e.Msg)
}

// Unwrap returns ErrInvalidPattern and the underlying parser error.
func (e *PatternError) Unwrap() []error {
	if e.Err != nil {
		return []error{ErrInvalidPattern, e.Err}
	}
	return []error{ErrInvalidPattern}
}

// NameError says why a repository name, tag or digest is not valid in ECR.
type NameError struct {
	Kind  string // "repository name", "tag" or "digest"
	Value string
	Rule  string // the rule it breaks, phrased as what would be valid
}

func (e *NameError) Error() string {
	return fmt.Sprintf("invalid %s %q: %s", e.Kind, e.Value, e.Rule)
}

// Unwrap returns ErrInvalidName.
func (e *NameError) Unwrap() error { return ErrInvalidName }
