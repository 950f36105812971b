package match

import (
	"errors"
	"fmt"
	"strings"
)

// Set is a list of include patterns and a list of exclude patterns: a name
// is in the set if it matches at least one include and no exclude. Excludes
// win. A Set with no includes matches nothing.
type Set struct {
	include []Pattern
	exclude []Pattern
	noun    string
}

// NewSet compiles include and exclude patterns. It reports every pattern
// that does not compile, joined, each a *PatternError.
func NewSet(include, exclude []string) (Set, error) {
	var s Set
	var errs []error
	for _, expr := range include {
		p, err := Compile(expr)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		s.include = append(s.include, p)
	}
	for _, expr := range exclude {
		p, err := Compile(expr)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		s.exclude = append(s.exclude, p)
	}
	if len(errs) > 0 {
		return Set{}, errors.Join(errs...)
	}
	return s, nil
}

// Named returns a copy of s whose reasons call what it matches noun, for
// example "repository" or "tag".
func (s Set) Named(noun string) Set {
	s.noun = noun
	return s
}

// Include returns the include patterns.
func (s Set) Include() []Pattern { return append([]Pattern(nil), s.include...) }

// Exclude returns the exclude patterns.
func (s Set) Exclude() []Pattern { return append([]Pattern(nil), s.exclude...) }

// Match reports whether name is in the set, and why, in words for a person
// (patterns are quoted as written, without escaping):
//
//	tag "release-1.4" matches "release-*"
//	tag "dev-1" matches no tag pattern (release-*, /^v\d+/)
//	repository "team/x" excluded by "team/x*"
func (s Set) Match(name string) (ok bool, reason string) {
	subject := fmt.Sprintf("%q", name)
	patterns := "pattern"
	if s.noun != "" {
		subject = s.noun + " " + subject
		patterns = s.noun + " pattern"
	}
	var included *Pattern
	for i := range s.include {
		if s.include[i].Match(name) {
			included = &s.include[i]
			break
		}
	}
	if included == nil {
		if len(s.include) == 0 {
			return false, fmt.Sprintf("%s: no %ss to match", subject, patterns)
		}
		return false, fmt.Sprintf("%s matches no %s (%s)", subject, patterns, list(s.include))
	}
	for _, p := range s.exclude {
		if p.Match(name) {
			return false, fmt.Sprintf("%s excluded by \"%s\"", subject, p.String())
		}
	}
	return true, fmt.Sprintf("%s matches \"%s\"", subject, included.String())
}

func list(ps []Pattern) string {
	var b strings.Builder
	for i, p := range ps {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(p.String())
	}
	return b.String()
}
