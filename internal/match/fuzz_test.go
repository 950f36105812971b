package match

import (
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"
)

var fuzzSeeds = []struct{ expr, name string }{
	{"release-*", "release-1.4"},
	{"team/**", "team/a/b"},
	{"team/*", "team/a/b"},
	{"v?", "v1"},
	{"**/web", "team/web"},
	{"a***z", "a/b/z"},
	{"*a*a*a*b", "aaaaaaaaaaaa"},
	{`/^v\d+\.\d+\.\d+$/`, "v1.2.3"},
	{"/[a-/", "a"},
	{"/", "/"},
	{"//", ""},
	{"semver:>=1.2 <2", "1.4.0"},
	{"semver:~1.4", "v1.4.2"},
	{"semver:>>1", "1.0.0"},
	{"semver:^2 || ^3", "3.0.0-rc.1"},
	{"", ""},
	{"a?c", "aéc"},
	{"é*", "\xff"},
}

// FuzzCompile: Compile never panics, and a compiled pattern round-trips
// through String to an equivalent pattern.
func FuzzCompile(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add(s.expr)
	}
	f.Fuzz(func(t *testing.T, expr string) {
		p, err := Compile(expr)
		if err != nil {
			if p.Kind() != 0 {
				t.Fatalf("Compile(%q) failed but returned a %v pattern", expr, p.Kind())
			}
			return
		}
		if p.String() != expr {
			t.Fatalf("Compile(%q).String() = %q", expr, p.String())
		}
		q, err := Compile(p.String())
		if err != nil {
			t.Fatalf("Compile(%q) ok, but compiling its String() failed: %v", expr, err)
		}
		if q.Kind() != p.Kind() || q.String() != p.String() {
			t.Fatalf("round trip of %q gave %v %q, want %v %q", expr, q.Kind(), q, p.Kind(), p)
		}
		for _, name := range []string{"", "a", expr, "team/app", "1.2.3", "v1.2.3"} {
			if p.Match(name) != q.Match(name) {
				t.Fatalf("%q and its round trip disagree on %q", expr, name)
			}
		}
	})
}

// FuzzMatch: matching never panics; turning every "*" into "**" never loses
// a match; an exclude beats an include; and globs agree with a reference
// translation to an anchored regular expression.
func FuzzMatch(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add(s.expr, s.name)
	}
	f.Fuzz(func(t *testing.T, expr, name string) {
		p, err := Compile(expr)
		if err != nil {
			return
		}
		matched := p.Match(name)

		// Exclude wins, and a Set of one include agrees with the pattern.
		s, err := NewSet([]string{expr}, nil)
		if err != nil {
			t.Fatalf("NewSet(%q): %v", expr, err)
		}
		if ok, reason := s.Match(name); ok != matched || reason == "" {
			t.Fatalf("Set{%q}.Match(%q) = %v, %q; pattern says %v", expr, name, ok, reason, matched)
		}
		s, _ = NewSet([]string{expr, "**"}, []string{expr})
		if ok, _ := s.Match(name); ok && matched {
			t.Fatalf("%q is both included and excluded, but the set matched %q", expr, name)
		}

		if p.Kind() != Glob {
			return
		}
		// "**" matches whatever "*" matches.
		double := strings.ReplaceAll(expr, "*", "**")
		if matched && !MustCompile(double).Match(name) {
			t.Fatalf("%q matches %q but %q does not", expr, name, double)
		}
		// Reference: the same glob as an RE2 expression. Only for valid
		// UTF-8 names, where byte- and rune-level views agree.
		if utf8.ValidString(name) && len(expr) < 200 {
			re := regexp.MustCompile(globToRegexp(expr))
			if want := re.MatchString(name); matched != want {
				t.Fatalf("Compile(%q).Match(%q) = %v, reference %s says %v", expr, name, matched, re, want)
			}
		}
	})
}

func globToRegexp(expr string) string {
	var b strings.Builder
	b.WriteString(`(?s)^`)
	for i := 0; i < len(expr); {
		r, size := utf8.DecodeRuneInString(expr[i:])
		switch r {
		case '*':
			j := i
			for j < len(expr) && expr[j] == '*' {
				j++
			}
			if j-i == 1 {
				b.WriteString(`[^/]*`)
			} else {
				b.WriteString(`.*`)
			}
			i = j
			continue
		case '?':
			b.WriteString(`[^/]`)
		default:
			b.WriteString(regexp.QuoteMeta(string(r)))
		}
		i += size
	}
	b.WriteString(`$`)
	return b.String()
}
