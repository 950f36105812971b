// Package match compiles the patterns Ferry's rules use to choose
// repositories and tags, and checks names against ECR's own syntax.
//
// A pattern is one of three kinds, told apart by how it is written:
//
//   - glob (the default): "*" matches any run of characters except "/",
//     "**" (or a longer run of stars) any run including "/", "?" exactly one
//     character other than "/", and every other character stands for itself.
//     There are no character classes and no escapes. A glob matches the whole
//     name: "team/*" matches "team/app" but not "team/app/web"; "team/**"
//     matches both.
//   - regular expression: "/.../", in Go's RE2 syntax. Like grep, it matches
//     if it matches anywhere in the name: write "^" and "$" to anchor it
//     ("/^v\d+\.\d+$/").
//   - semantic-version range: "semver:<constraint>", with the constraint
//     syntax of github.com/Masterminds/semver/v3 ("semver:>=1.2 <2",
//     "semver:~1.4", "semver:^2 || ^3"). Only tags that are full semantic
//     versions match: MAJOR.MINOR.PATCH with an optional "v" in front and an
//     optional "-prerelease" after ("1.4.2", "v1.4.2", "1.5.0-rc.1"); "1.4",
//     "latest" or "20240101" never match. As in Masterminds, a prerelease only
//     matches a range that itself names a prerelease. Masterminds decides
//     every match, with one limitation: a prerelease identifier made only
//     of digits is compared as a number only up to 2^64-1; a larger one
//     ("1.0.0-99999999999999999999") is compared as text, so it can sort
//     out of semver.org's order.
//
// Matching never backtracks: globs run as a small NFA and regular
// expressions use RE2, so time is linear in the length of the name.
package match

import (
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/Masterminds/semver/v3"
)

// Kind is the kind of a pattern.
type Kind int

// Pattern kinds.
const (
	Glob Kind = iota + 1
	Regexp
	Semver
)

func (k Kind) String() string {
	switch k {
	case Glob:
		return "glob"
	case Regexp:
		return "regexp"
	case Semver:
		return "semver"
	}
	return "invalid"
}

// semverPrefix introduces a semantic-version range.
const semverPrefix = "semver:"

// Pattern is a compiled pattern. The zero Pattern matches nothing.
type Pattern struct {
	expr   string
	kind   Kind
	glob   *glob
	re     *regexp.Regexp
	semver *semver.Constraints
}

// Compile parses expr as a glob, a /regular expression/ or a semver:range.
// Errors wrap ErrInvalidPattern and are a *PatternError.
func Compile(expr string) (Pattern, error) {
	switch {
	case expr == "":
		return Pattern{}, &PatternError{Pattern: expr, Msg: `empty pattern; want a glob ("release-*"), a /regular expression/ or a semver:range`}
	case strings.HasPrefix(expr, "/"):
		return compileRegexp(expr)
	case strings.HasPrefix(expr, semverPrefix):
		return compileSemver(expr)
	default:
		return compileGlob(expr)
	}
}

// MustCompile is Compile for patterns known to be valid; it panics otherwise.
func MustCompile(expr string) Pattern {
	p, err := Compile(expr)
	if err != nil {
		panic(err)
	}
	return p
}

func compileRegexp(expr string) (Pattern, error) {
	if len(expr) < 2 || !strings.HasSuffix(expr, "/") {
		return Pattern{}, &PatternError{Pattern: expr, Msg: `a pattern that starts with "/" is a regular expression and must end with "/" too (e.g. /^v\d+$/)`}
	}
	body := expr[1 : len(expr)-1]
	if body == "" {
		return Pattern{}, &PatternError{Pattern: expr, Msg: `empty regular expression; write "/.*/" or "**" to match everything`}
	}
	re, err := regexp.Compile(body)
	if err != nil {
		return Pattern{}, &PatternError{Pattern: expr, Msg: "invalid regular expression (Go RE2 syntax)", Err: err}
	}
	return Pattern{expr: expr, kind: Regexp, re: re}, nil
}

func compileSemver(expr string) (Pattern, error) {
	body := strings.TrimSpace(strings.TrimPrefix(expr, semverPrefix))
	if body == "" {
		return Pattern{}, &PatternError{Pattern: expr, Msg: `empty semver range; want e.g. "semver:>=1.2 <2" or "semver:~1.4"`}
	}
	c, err := semver.NewConstraint(body)
	if err != nil {
		// The library says only "improper constraint"; the explainer names
		// the part it did not understand, when it finds it.
		if why := explainRange(body); why != nil {
			err = why
		}
		return Pattern{}, &PatternError{Pattern: expr, Msg: `invalid semver range (want e.g. "semver:>=1.2 <2", "semver:~1.4", "semver:^2 || ^3")`, Err: err}
	}
	return Pattern{expr: expr, kind: Semver, semver: c}, nil
}

func compileGlob(expr string) (Pattern, error) {
	for _, r := range expr {
		if unicode.IsSpace(r) || unicode.IsControl(r) {
			return Pattern{}, &PatternError{Pattern: expr, Msg: "glob contains whitespace or a control character, which no repository name or tag can contain"}
		}
		if r == utf8.RuneError {
			// A literal U+FFFD or invalid UTF-8: no ECR name contains either,
			// and refusing them keeps matching byte-exact.
			return Pattern{}, &PatternError{Pattern: expr, Msg: "glob is not valid UTF-8 text"}
		}
	}
	return Pattern{expr: expr, kind: Glob, glob: parseGlob(expr)}, nil
}

// String returns the pattern as it was written; Compile(p.String()) gives
// back an equivalent pattern.
func (p Pattern) String() string { return p.expr }

// Kind says whether p is a glob, a regular expression or a semver range.
func (p Pattern) Kind() Kind { return p.kind }

// Match reports whether name matches p.
func (p Pattern) Match(name string) bool {
	switch p.kind {
	case Glob:
		return p.glob.match(name)
	case Regexp:
		return p.re.MatchString(name)
	case Semver:
		v, ok := parseVersion(name)
		return ok && p.semver.Check(v)
	}
	return false
}

// glob is a compiled glob: a sequence of steps run as an NFA whose states
// are positions in the sequence, so matching costs O(len(name)·len(steps))
// whatever the pattern.
type glob struct {
	steps   []step
	literal bool // no wildcards: match is string equality
	expr    string
}

type stepOp uint8

const (
	opRune       stepOp = iota // one given rune
	opOne                      // "?": one rune other than '/'
	opStar                     // "*": any run of runes other than '/'
	opDoubleStar               // "**": any run of runes
)

type step struct {
	op stepOp
	r  rune
}

func parseGlob(expr string) *glob {
	g := &glob{expr: expr, literal: !strings.ContainsAny(expr, "*?")}
	if g.literal {
		return g
	}
	for i := 0; i < len(expr); {
		r, size := utf8.DecodeRuneInString(expr[i:])
		switch r {
		case '*':
			j := i
			for j < len(expr) && expr[j] == '*' {
				j++
			}
			if j-i == 1 {
				g.steps = append(g.steps, step{op: opStar})
			} else {
				g.steps = append(g.steps, step{op: opDoubleStar})
			}
			i = j
			continue
		case '?':
			g.steps = append(g.steps, step{op: opOne})
		default:
			g.steps = append(g.steps, step{op: opRune, r: r})
		}
		i += size
	}
	return g
}

func (g *glob) match(name string) bool {
	if g.literal {
		return name == g.expr
	}
	n := len(g.steps)
	cur := make([]bool, n+1)
	next := make([]bool, n+1)
	cur[0] = true
	g.closure(cur)
	for i := 0; i < len(name); {
		r, size := utf8.DecodeRuneInString(name[i:])
		if r == utf8.RuneError && size == 1 {
			r = -1 // an invalid byte equals no pattern rune (patterns are valid UTF-8)
		}
		i += size
		clear(next)
		alive := false
		for s, st := range g.steps {
			if !cur[s] {
				continue
			}
			switch st.op {
			case opRune:
				if st.r == r {
					next[s+1], alive = true, true
				}
			case opOne:
				if r != '/' {
					next[s+1], alive = true, true
				}
			case opStar:
				if r != '/' {
					next[s], alive = true, true
				}
			case opDoubleStar:
				next[s], alive = true, true
			}
		}
		if !alive {
			return false
		}
		g.closure(next)
		cur, next = next, cur
	}
	return cur[n]
}

// closure adds the states reachable without reading a rune: past any star.
func (g *glob) closure(states []bool) {
	for s, st := range g.steps {
		if states[s] && (st.op == opStar || st.op == opDoubleStar) {
			states[s+1] = true
		}
	}
}
