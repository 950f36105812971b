package match

import (
	"cmp"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// This file holds semantic versions (semver.org 2.0.0) and the range syntax
// of github.com/Masterminds/semver/v3 v3.4.0 (the version Ferry's module
// graph selects), reproduced exactly, quirks included. Ferry used that
// package until it showed in start-up time: it compiles several large
// regular expressions in its init, which every run of the binary paid for,
// though few runs use a semver pattern. semver_diff_test.go holds the two to
// the same answers.
//
// The one deliberate difference: prerelease identifiers made only of digits
// are compared as numbers of any size, as semver.org says, where Masterminds
// compares those of 2^64 and above as text.

// version is a semantic version. Build metadata plays no part in precedence
// and is not kept.
type version struct {
	major, minor, patch uint64
	pre                 string // dot-separated prerelease identifiers; "" for a release
}

// parseVersion accepts MAJOR.MINOR.PATCH[-prerelease][+build] with an
// optional leading "v", and nothing looser (see the package comment):
// numbers without leading zeros that fit in 64 bits, and non-empty
// identifiers of [0-9A-Za-z-], numeric prerelease ones without leading zeros.
func parseVersion(tag string) (version, bool) {
	s := strings.TrimPrefix(tag, "v")
	if core, build, ok := strings.Cut(s, "+"); ok {
		if !validIdentifiers(build, false) {
			return version{}, false
		}
		s = core
	}
	var v version
	if core, pre, ok := strings.Cut(s, "-"); ok {
		if !validIdentifiers(pre, true) {
			return version{}, false
		}
		s, v.pre = core, pre
	}
	major, s, ok1 := strings.Cut(s, ".")
	minor, patch, ok2 := strings.Cut(s, ".")
	if !ok1 || !ok2 {
		return version{}, false
	}
	var ok bool
	if v.major, ok = versionNumber(major); !ok {
		return version{}, false
	}
	if v.minor, ok = versionNumber(minor); !ok {
		return version{}, false
	}
	if v.patch, ok = versionNumber(patch); !ok {
		return version{}, false
	}
	return v, true
}

// versionNumber parses a MAJOR, MINOR or PATCH number of a version.
func versionNumber(s string) (uint64, bool) {
	if !allDigits(s) || (len(s) > 1 && s[0] == '0') {
		return 0, false
	}
	n, err := strconv.ParseUint(s, 10, 64)
	return n, err == nil
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

// compareVersions returns -1, 0 or +1 as a has lower, equal or higher
// precedence than b.
func compareVersions(a, b version) int {
	if c := cmp.Compare(a.major, b.major); c != 0 {
		return c
	}
	if c := cmp.Compare(a.minor, b.minor); c != 0 {
		return c
	}
	if c := cmp.Compare(a.patch, b.patch); c != 0 {
		return c
	}
	switch {
	case a.pre == b.pre:
		return 0
	case a.pre == "":
		return 1 // a release is above its prereleases
	case b.pre == "":
		return -1
	}
	for x, y := a.pre, b.pre; ; {
		xid, xrest, xmore := strings.Cut(x, ".")
		yid, yrest, ymore := strings.Cut(y, ".")
		if c := compareIdentifiers(xid, yid); c != 0 {
			return c
		}
		switch {
		case !xmore && !ymore:
			return 0
		case !xmore:
			return -1 // fewer identifiers, all equal so far
		case !ymore:
			return 1
		}
		x, y = xrest, yrest
	}
}

// compareIdentifiers orders two prerelease identifiers: numeric ones by
// value, whatever their length, below alphanumeric ones, which are ordered
// as ASCII text.
func compareIdentifiers(x, y string) int {
	xnum, ynum := allDigits(x), allDigits(y)
	switch {
	case xnum && ynum:
		x, y = strings.TrimLeft(x, "0"), strings.TrimLeft(y, "0")
		if c := cmp.Compare(len(x), len(y)); c != 0 {
			return c
		}
		return strings.Compare(x, y)
	case xnum:
		return -1
	case ynum:
		return 1
	}
	return strings.Compare(x, y)
}

// semverRange is a compiled range: it matches a version that satisfies
// every comparator of at least one of its groups (the parts between "||").
type semverRange []comparatorGroup

type comparatorGroup struct {
	all []comparator
	// pre: some comparator names a prerelease. Only then can a version
	// with a prerelease satisfy the group.
	pre bool
}

// comparator is one operator and version of a range. A version written
// with a wildcard or with parts left out has them as zeros in v, and wild
// says from which part on it was left open.
type comparator struct {
	op   comparatorOp
	v    version
	wild wildcard
}

type comparatorOp uint8

const (
	compEqual        comparatorOp = iota + 1 // "=" or none
	compNotEqual                             // "!="
	compGreater                              // ">"
	compLess                                 // "<"
	compGreaterEqual                         // ">=" or "=>"
	compLessEqual                            // "<=" or "=<"
	compTilde                                // "~" or "~>"
	compCaret                                // "^"
)

// parseComparatorOp reads the operator in front of a range version.
func parseComparatorOp(s string) (comparatorOp, bool) {
	switch s {
	case "", "=":
		return compEqual, true
	case "!=":
		return compNotEqual, true
	case ">":
		return compGreater, true
	case "<":
		return compLess, true
	case ">=", "=>":
		return compGreaterEqual, true
	case "<=", "=<":
		return compLessEqual, true
	case "~", "~>":
		return compTilde, true
	case "^":
		return compCaret, true
	}
	return 0, false
}

type wildcard uint8

const (
	wildNone  wildcard = iota // 1.2.3
	wildPatch                 // 1.2, 1.2.x
	wildMinor                 // 1, 1.x, 1.x.x
	wildMajor                 // *, x, x.x.x
)

// match reports whether v is in r.
func (r semverRange) match(v version) bool {
	for _, g := range r {
		if v.pre != "" && !g.pre {
			continue
		}
		all := true
		for _, c := range g.all {
			if !c.match(v) {
				all = false
				break
			}
		}
		if all {
			return true
		}
	}
	return false
}

// match reports whether v satisfies c, leaving the prerelease rule to the
// group. The rules are Masterminds', wildcard quirks included: "<=*" holds
// only for 0.0.z, "^*" only for 0.0.0, "!=*" for everything but 0.0.0.
func (c comparator) match(v version) bool {
	switch c.op {
	case compEqual:
		if c.wild != wildNone {
			return c.tilde(v)
		}
		return compareVersions(v, c.v) == 0
	case compNotEqual:
		return c.notEqual(v)
	case compGreater:
		return c.greater(v)
	case compLess:
		return compareVersions(v, c.v) < 0
	case compGreaterEqual:
		return compareVersions(v, c.v) >= 0
	case compLessEqual:
		return c.lessEqual(v)
	case compTilde:
		return c.tilde(v)
	case compCaret:
		return c.caret(v)
	}
	return false
}

// notEqual: "!=1.2.3" excludes one version; "!=1.x" excludes 1.y.z;
// "!=1.2.x" excludes 1.2.z with the prerelease written in the range (none
// if none is written).
func (c comparator) notEqual(v version) bool {
	if c.wild != wildNone {
		switch {
		case v.major != c.v.major:
			return true
		case c.wild == wildMinor:
			return false
		case v.minor != c.v.minor:
			return true
		case c.wild == wildPatch:
			return v.pre != c.v.pre
		case v.patch != c.v.patch:
			return true
		}
	}
	return compareVersions(v, c.v) != 0
}

// greater: ">1" means ≥ 2.0.0, ">1.2" means ≥ 1.3.0.
func (c comparator) greater(v version) bool {
	if c.wild != wildNone {
		switch {
		case v.major != c.v.major:
			return v.major > c.v.major
		case c.wild == wildMinor:
			return false
		case c.wild == wildPatch:
			return v.minor > c.v.minor
		}
	}
	return compareVersions(v, c.v) > 0
}

// lessEqual: "<=1" means < 2.0.0 and "<=1.2" < 1.3.0, prereleases of the
// range version aside.
func (c comparator) lessEqual(v version) bool {
	if c.wild == wildNone {
		return compareVersions(v, c.v) <= 0
	}
	if v.major > c.v.major {
		return false
	}
	return v.major != c.v.major || v.minor <= c.v.minor || c.wild == wildMinor
}

// tilde: "~1.2.3" and "~1.2" mean ≥ 1.2.3 (1.2.0) and < 1.3.0; "~1" and
// "~1.x" ≥ 1.0.0 and < 2.0.0; "~0.0.0" and "~*" anything.
func (c comparator) tilde(v version) bool {
	if compareVersions(v, c.v) < 0 {
		return false
	}
	if c.v.major == 0 && c.v.minor == 0 && c.v.patch == 0 && (c.wild == wildNone || c.wild == wildMajor) {
		return true
	}
	return v.major == c.v.major && (v.minor == c.v.minor || c.wild == wildMinor)
}

// caret: "^1.2.3" means ≥ 1.2.3 and < 2.0.0; "^0.2.3" and "^0.2" ≥ 0.2.3
// (0.2.0) and < 0.3.0; "^0.0.3" only 0.0.3; "^0" and "^0.x" < 1.0.0;
// "^0.0" < 0.1.0.
func (c comparator) caret(v version) bool {
	switch {
	case compareVersions(v, c.v) < 0:
		return false
	case c.v.major > 0 || c.wild == wildMinor:
		return v.major == c.v.major
	case v.major > 0:
		return false
	case c.v.minor > 0 || c.wild == wildPatch:
		return v.minor == c.v.minor
	case v.minor > 0:
		return false
	}
	return v.patch == c.v.patch
}

// parseRange compiles a range written in Masterminds' syntax. The error
// says which part was not understood.
func parseRange(s string) (semverRange, error) {
	expanded := expandHyphenRanges(s)
	r, err := parseAlternatives(expanded)
	if err != nil && expanded != s {
		return nil, fmt.Errorf("%w (reading hyphen ranges A - B as >= A, <= B: %q)", err, strings.TrimSpace(expanded))
	}
	return r, err
}

func parseAlternatives(s string) (semverRange, error) {
	alts := strings.Split(s, "||")
	r := make(semverRange, 0, len(alts))
	for i, alt := range alts {
		g, err := parseGroup(alt)
		if err != nil {
			if len(alts) > 1 {
				return nil, fmt.Errorf("alternative %d of %d (separated by ||): %w", i+1, len(alts), err)
			}
			return nil, err
		}
		r = append(r, g)
	}
	return r, nil
}

// parseGroup reads comparators separated by spaces or by a comma with
// optional spaces around it: [op] [spaces] version.
func parseGroup(s string) (comparatorGroup, error) {
	var g comparatorGroup
	i := skipSpace(s, 0)
	if i == len(s) {
		return g, errors.New("no version to compare with")
	}
	for {
		start := i
		for i < len(s) && isOpByte(s[i]) {
			i++
		}
		opText := s[start:i]
		op, ok := parseComparatorOp(opText)
		if !ok {
			return g, fmt.Errorf("unknown operator %q (want =, !=, >, <, >=, <=, ~, ~> or ^)", opText)
		}
		i = skipSpace(s, i)
		start = i
		for i < len(s) && !isSpace(s[i]) && s[i] != ',' {
			i++
		}
		if start == i {
			if i < len(s) {
				return g, fmt.Errorf("want a version, found %q", s[i:i+1])
			}
			// Only an operator can end a group: we start on a non-space
			// byte, and a trailing comma is caught below.
			return g, fmt.Errorf("operator %q has no version after it", opText)
		}
		c, err := parseComparator(op, s[start:i])
		if err != nil {
			return g, err
		}
		g.all = append(g.all, c)
		g.pre = g.pre || c.v.pre != ""

		i = skipSpace(s, i)
		if i == len(s) {
			return g, nil
		}
		if s[i] == ',' {
			i = skipSpace(s, i+1)
			if i == len(s) {
				return g, errors.New("nothing after the last comma")
			}
		}
	}
}

// parseComparator reads the version of a comparator, written
// [v]MAJOR[.MINOR[.PATCH]][-PRERELEASE][+BUILD] where a number can be a
// wildcard: x, X or *. After a wildcard, the rest of MAJOR.MINOR.PATCH is
// not looked at; build metadata never is.
func parseComparator(op comparatorOp, text string) (comparator, error) {
	cv, end, ok := scanRangeVersion(text, 0)
	if !ok || end != len(text) {
		return comparator{}, fmt.Errorf("%q is not a version (e.g. 1.2.3, 1.2, 1.x, *, 1.2.3-rc.1): %q not understood", text, text[end:])
	}
	c := comparator{op: op, v: version{pre: cv.pre}}
	var numbers []string // MAJOR, MINOR, PATCH up to the first left open
	switch {
	case isWildcard(cv.major):
		c.wild = wildMajor
	case !cv.hasMinor || isWildcard(cv.minor):
		c.wild, numbers = wildMinor, []string{cv.major}
	case !cv.hasPatch || isWildcard(cv.patch):
		c.wild, numbers = wildPatch, []string{cv.major, cv.minor}
	default:
		numbers = []string{cv.major, cv.minor, cv.patch}
	}
	fields := [...]*uint64{&c.v.major, &c.v.minor, &c.v.patch}
	for i, part := range numbers {
		n, err := rangeNumber(text, part)
		if err != nil {
			return comparator{}, err
		}
		*fields[i] = n
	}
	if cv.pre != "" && !validIdentifiers(cv.pre, true) {
		return comparator{}, fmt.Errorf("version %q: a numeric prerelease identifier has a leading zero", text)
	}
	return c, nil
}

// rangeNumber parses a MAJOR, MINOR or PATCH number of a range version.
// Unlike in versions, leading zeros are allowed, as in Masterminds.
func rangeNumber(text, part string) (uint64, error) {
	if !allDigits(part) {
		return 0, fmt.Errorf("version %q: %q is neither a number nor a wildcard (x, X, *)", text, part)
	}
	n, err := strconv.ParseUint(part, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("version %q: %s does not fit in 64 bits", text, part)
	}
	return n, nil
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
