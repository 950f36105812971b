package match

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/Masterminds/semver/v3"
)

// Semantic-version ranges are github.com/Masterminds/semver/v3's: it
// parses them and decides every match. This file adds two things around
// it: tags are read strictly (parseVersion), and a range the library
// refuses is explained by explainRange, which names the part of the range
// not understood where the library says only "improper constraint". The
// explainer decides nothing: it runs only on a range the library has
// already refused, and semver_explain_test.go holds it to refusing exactly
// what the library refuses.
//
// The library's one departure from semver.org 2.0.0, which Ferry inherits
// and documents as a limitation: a prerelease identifier made only of
// digits is compared as a number only when it fits in 64 bits. Larger ones
// are compared as text, both with each other and with alphanumeric
// identifiers, where semver.org (§11.4.1, §11.4.3) compares them as
// numbers of any size, below every alphanumeric identifier.

// parseVersion accepts MAJOR.MINOR.PATCH[-prerelease][+build] with an
// optional leading "v", and nothing looser (see the package comment):
// numbers without leading zeros that fit in 64 bits, and non-empty
// identifiers of [0-9A-Za-z-], numeric prerelease ones without leading zeros.
func parseVersion(tag string) (*semver.Version, bool) {
	v, err := semver.StrictNewVersion(strings.TrimPrefix(tag, "v"))
	if err != nil {
		return nil, false
	}
	return v, true
}

// explainRange says why Masterminds refuses a range, written in its
// syntax; nil if it finds nothing wrong. The error names the part of the
// range not understood.
func explainRange(s string) error {
	expanded := expandHyphenRanges(s)
	err := explainAlternatives(expanded)
	if err != nil && expanded != s {
		return fmt.Errorf("%w (reading hyphen ranges A - B as >= A, <= B: %q)", err, strings.TrimSpace(expanded))
	}
	return err
}

func explainAlternatives(s string) error {
	alts := strings.Split(s, "||")
	for i, alt := range alts {
		if err := explainGroup(alt); err != nil {
			if len(alts) > 1 {
				return fmt.Errorf("alternative %d of %d (separated by ||): %w", i+1, len(alts), err)
			}
			return err
		}
	}
	return nil
}

// explainGroup reads comparators separated by spaces or by a comma with
// optional spaces around it: [op] [spaces] version.
func explainGroup(s string) error {
	i := skipSpace(s, 0)
	if i == len(s) {
		return errors.New("no version to compare with")
	}
	for {
		start := i
		for i < len(s) && isOpByte(s[i]) {
			i++
		}
		opText := s[start:i]
		if !isComparatorOp(opText) {
			return fmt.Errorf("unknown operator %q (want =, !=, >, <, >=, <=, ~, ~> or ^)", opText)
		}
		i = skipSpace(s, i)
		start = i
		for i < len(s) && !isSpace(s[i]) && s[i] != ',' {
			i++
		}
		if start == i {
			if i < len(s) {
				return fmt.Errorf("want a version, found %q", s[i:i+1])
			}
			// Only an operator can end a group: we start on a non-space
			// byte, and a trailing comma is caught below.
			return fmt.Errorf("operator %q has no version after it", opText)
		}
		if err := explainComparator(s[start:i]); err != nil {
			return err
		}

		i = skipSpace(s, i)
		if i == len(s) {
			return nil
		}
		if s[i] == ',' {
			i = skipSpace(s, i+1)
			if i == len(s) {
				return errors.New("nothing after the last comma")
			}
		}
	}
}

// isComparatorOp reports whether s is an operator of a range: "" (equal),
// =, !=, >, <, >=, =>, <=, =<, ~, ~> or ^.
func isComparatorOp(s string) bool {
	switch s {
	case "", "=", "!=", ">", "<", ">=", "=>", "<=", "=<", "~", "~>", "^":
		return true
	}
	return false
}

// explainComparator reads the version of a comparator, written
// [v]MAJOR[.MINOR[.PATCH]][-PRERELEASE][+BUILD] where a number can be a
// wildcard: x, X or *. After a wildcard, the rest of MAJOR.MINOR.PATCH is
// not looked at; build metadata never is.
func explainComparator(text string) error {
	cv, end, ok := scanRangeVersion(text, 0)
	if !ok || end != len(text) {
		return fmt.Errorf("%q is not a version (e.g. 1.2.3, 1.2, 1.x, *, 1.2.3-rc.1): %q not understood", text, text[end:])
	}
	var numbers []string // MAJOR, MINOR, PATCH up to the first left open
	switch {
	case isWildcard(cv.major):
	case !cv.hasMinor || isWildcard(cv.minor):
		numbers = []string{cv.major}
	case !cv.hasPatch || isWildcard(cv.patch):
		numbers = []string{cv.major, cv.minor}
	default:
		numbers = []string{cv.major, cv.minor, cv.patch}
	}
	for _, part := range numbers {
		if err := rangeNumber(text, part); err != nil {
			return err
		}
	}
	if cv.pre != "" && !validIdentifiers(cv.pre, true) {
		return fmt.Errorf("version %q: a numeric prerelease identifier has a leading zero", text)
	}
	return nil
}

// rangeNumber checks a MAJOR, MINOR or PATCH number of a range version.
// Unlike in versions, leading zeros are allowed, as in Masterminds.
func rangeNumber(text, part string) error {
	if !allDigits(part) {
		return fmt.Errorf("version %q: %q is neither a number nor a wildcard (x, X, *)", text, part)
	}
	if _, err := strconv.ParseUint(part, 10, 64); err != nil {
		return fmt.Errorf("version %q: %s does not fit in 64 bits", text, part)
	}
	return nil
}

// validIdentifiers reports whether s is a non-empty dot-separated list of
// non-empty [0-9A-Za-z-] identifiers; in a prerelease (pre), those made only
// of digits must not have leading zeros.
func validIdentifiers(s string, pre bool) bool {
	for {
		id, rest, more := strings.Cut(s, ".")
		if id == "" || spanIdent(id, 0) != len(id) {
			return false
		}
		if pre && len(id) > 1 && id[0] == '0' && allDigits(id) {
			return false
		}
		if !more {
			return true
		}
		s = rest
	}
}

func isWildcard(part string) bool { return part == "x" || part == "X" || part == "*" }

// rangeVersion is a range version as written, cut into its parts.
type rangeVersion struct {
	major, minor, patch string
	hasMinor, hasPatch  bool
	pre                 string
}

// scanRangeVersion reads the longest range version at s[i:] and returns
// where it ends; ok is false if there is none. It is Masterminds' pattern
// v?N(\.N)?(\.N)?(-I(\.I)*)?(\+I(\.I)*)?, where N is a run of digits, x,
// X, * and "|", and I a run of [0-9A-Za-z-]. Nothing in it can end earlier
// and leave a longer match, so the longest match is also the one a
// backtracking matcher prefers.
func scanRangeVersion(s string, i int) (cv rangeVersion, end int, ok bool) {
	if i < len(s) && s[i] == 'v' {
		i++
	}
	j := spanNumberish(s, i)
	if j == i {
		return cv, i, false
	}
	cv.major, i = s[i:j], j
	if i+1 < len(s) && s[i] == '.' && isNumberish(s[i+1]) {
		j = spanNumberish(s, i+1)
		cv.minor, cv.hasMinor, i = s[i+1:j], true, j
		if i+1 < len(s) && s[i] == '.' && isNumberish(s[i+1]) {
			j = spanNumberish(s, i+1)
			cv.patch, cv.hasPatch, i = s[i+1:j], true, j
		}
	}
	if i+1 < len(s) && s[i] == '-' && isIdentByte(s[i+1]) {
		j = spanIdentifiers(s, i+1)
		cv.pre, i = s[i+1:j], j
	}
	if i+1 < len(s) && s[i] == '+' && isIdentByte(s[i+1]) {
		i = spanIdentifiers(s, i+1)
	}
	return cv, i, true
}

// expandHyphenRanges rewrites each hyphen range "A - B" in s as
// ">= A, <= B ", exactly as Masterminds does before anything else: it finds
// the leftmost-first, non-overlapping matches of
// \s*(V)\s+-\s+(V)\s* (V as in scanRangeVersion) anywhere in s, then
// replaces the first occurrence of each match's text in turn. So
// "1||2 - 3" means ">=1 || 2, <=3" and "1 2 - 3" is an error, as there.
func expandHyphenRanges(s string) string {
	// A match needs a space, "-", space; none after lastDash, none at all.
	lastDash := -1
	for i := len(s) - 2; i > 0; i-- {
		if s[i] == '-' && isSpace(s[i-1]) && isSpace(s[i+1]) {
			lastDash = i
			break
		}
	}
	type hyphenRange struct{ text, lo, hi string }
	var found []hyphenRange
	for start := 0; start < lastDash; {
		matched := false
		for p := start; p < lastDash; p++ {
			h, end, ok := hyphenRangeAt(s, p)
			if ok {
				found = append(found, hyphenRange{text: s[p:end], lo: h[0], hi: h[1]})
				start, matched = end, true
				break
			}
			// Every start in a run of spaces tries the same match as the
			// first byte after it.
			p = skipSpace(s, p)
		}
		if !matched {
			break
		}
	}
	for _, h := range found {
		s = strings.Replace(s, h.text, ">= "+h.lo+", <= "+h.hi+" ", 1)
	}
	return s
}

// hyphenRangeAt matches \s*(V)\s+-\s+(V)\s* at s[p:].
func hyphenRangeAt(s string, p int) (bounds [2]string, end int, ok bool) {
	i := skipSpace(s, p)
	_, j, ok := scanRangeVersion(s, i)
	if !ok {
		return bounds, 0, false
	}
	bounds[0] = s[i:j]
	k := skipSpace(s, j)
	if k == j || k == len(s) || s[k] != '-' {
		return bounds, 0, false
	}
	i = skipSpace(s, k+1)
	if i == k+1 {
		return bounds, 0, false
	}
	_, j, ok = scanRangeVersion(s, i)
	if !ok {
		return bounds, 0, false
	}
	bounds[1] = s[i:j]
	return bounds, skipSpace(s, j), true
}

// isSpace is the \s of Go's regular expressions, which Masterminds uses.
func isSpace(b byte) bool {
	return b == ' ' || b == '\t' || b == '\n' || b == '\f' || b == '\r'
}

func skipSpace(s string, i int) int {
	for i < len(s) && isSpace(s[i]) {
		i++
	}
	return i
}

func isOpByte(b byte) bool {
	return b == '=' || b == '!' || b == '>' || b == '<' || b == '~' || b == '^'
}

// isNumberish: what Masterminds accepts in a number's place, [0-9|xX*].
func isNumberish(b byte) bool {
	return '0' <= b && b <= '9' || b == 'x' || b == 'X' || b == '*' || b == '|'
}

func spanNumberish(s string, i int) int {
	for i < len(s) && isNumberish(s[i]) {
		i++
	}
	return i
}

// isIdentByte: [0-9A-Za-z-], the characters of prerelease and build
// identifiers.
func isIdentByte(b byte) bool {
	return '0' <= b && b <= '9' || 'a' <= b && b <= 'z' || 'A' <= b && b <= 'Z' || b == '-'
}

func spanIdent(s string, i int) int {
	for i < len(s) && isIdentByte(s[i]) {
		i++
	}
	return i
}

// spanIdentifiers spans I(\.I)* from s[i], which is an identifier byte.
func spanIdentifiers(s string, i int) int {
	i = spanIdent(s, i)
	for i+1 < len(s) && s[i] == '.' && isIdentByte(s[i+1]) {
		i = spanIdent(s, i+1)
	}
	return i
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}
