package config

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
)

// Sentinel errors: every *Error wraps one of them (and, for a bad pattern,
// match.ErrInvalidPattern as well), so callers classify with errors.Is.
var (
	// ErrSyntax: the file is not well-formed YAML.
	ErrSyntax = errors.New("YAML syntax error")
	// ErrUnknownField: a key that Ferry does not know (often a typo).
	ErrUnknownField = errors.New("unknown field")
	// ErrMissingField: a required key is absent or empty.
	ErrMissingField = errors.New("missing field")
	// ErrInvalidValue: a value of the wrong type or format.
	ErrInvalidValue = errors.New("invalid value")
	// ErrDuplicate: a key, rule name or destination given twice.
	ErrDuplicate = errors.New("duplicate")
	// ErrConflict: values that are valid alone but contradict each other.
	ErrConflict = errors.New("conflicting values")
	// ErrWarning: something valid that is likely a mistake or a risk (a
	// repository policy that grants to everyone). A warning does not make
	// Parse fail: it is in Config.Warnings.
	ErrWarning = errors.New("warning")
)

// Error is one problem in a configuration file, at a position in it.
// Parse returns every problem it finds, joined with errors.Join; each is an
// *Error, so callers can range over them with errors.As or by unwrapping.
type Error struct {
	File   string // the path the configuration came from
	Line   int    // 1-based; 0 if unknown
	Column int    // 1-based; 0 if unknown
	Field  string // path of the field, e.g. rules[0].destinations[1].account
	Msg    string // what is wrong and what would be valid
	Err    error  // one of the sentinels above, possibly wrapping a cause
}

// Error formats e as "file:line:col: field: msg", leaving out what is
// unknown; a warning reads "file:line:col: warning: field: msg".
func (e *Error) Error() string {
	pos := e.File
	if e.Line > 0 {
		pos = fmt.Sprintf("%s:%d", pos, e.Line)
		if e.Column > 0 {
			pos = fmt.Sprintf("%s:%d", pos, e.Column)
		}
	}
	if errors.Is(e.Err, ErrWarning) {
		pos += ": warning"
	}
	if e.Field != "" {
		return fmt.Sprintf("%s: %s: %s", pos, e.Field, e.Msg)
	}
	return fmt.Sprintf("%s: %s", pos, e.Msg)
}

// Unwrap returns the sentinel (and cause) of e.
func (e *Error) Unwrap() error { return e.Err }

// Errors returns the individual *Error values in err, which is what Parse
// and Load return; it returns nil if err holds none.
func Errors(err error) []*Error {
	var out []*Error
	var walk func(error)
	walk = func(err error) {
		if e, ok := err.(*Error); ok {
			out = append(out, e)
			return
		}
		switch u := err.(type) {
		case interface{ Unwrap() []error }:
			for _, inner := range u.Unwrap() {
				walk(inner)
			}
		case interface{ Unwrap() error }:
			if inner := u.Unwrap(); inner != nil {
				walk(inner)
			}
		}
	}
	if err != nil {
		walk(err)
	}
	return out
}

// sortErrors sorts problems by position and drops repeats: a mapping merged
// (<<) into several places reports its problems once per use, at the same
// place.
func sortErrors(errs []*Error) []*Error {
	slices.SortStableFunc(errs, func(a, b *Error) int {
		return cmp.Or(cmp.Compare(a.Line, b.Line), cmp.Compare(a.Column, b.Column))
	})
	seen := make(map[Error]bool)
	return slices.DeleteFunc(errs, func(e *Error) bool {
		k := Error{Line: e.Line, Column: e.Column, Field: e.Field, Msg: e.Msg}
		if seen[k] {
			return true
		}
		seen[k] = true
		return false
	})
}
