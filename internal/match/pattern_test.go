package match

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestCompileErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		expr    string
		wantErr error
		wantMsg string // substring of the error text
	}{
		{name: "empty", expr: "", wantErr: ErrInvalidPattern, wantMsg: `pattern "": empty pattern`},
		{name: "bad regexp", expr: "/[a-/", wantErr: ErrInvalidPattern, wantMsg: `pattern "/[a-/": invalid regular expression`},
		{name: "unterminated regexp", expr: `/^v\d+`, wantErr: ErrInvalidPattern, wantMsg: `must end with "/"`},
		{name: "lone slash", expr: "/", wantErr: ErrInvalidPattern, wantMsg: `must end with "/"`},
		{name: "empty regexp", expr: "//", wantErr: ErrInvalidPattern, wantMsg: "empty regular expression"},
		{name: "bad semver", expr: "semver:>>1", wantErr: ErrInvalidPattern, wantMsg: `pattern "semver:>>1": invalid semver range`},
		{name: "empty semver", expr: "semver: ", wantErr: ErrInvalidPattern, wantMsg: "empty semver range"},
		{name: "glob with space", expr: "release *", wantErr: ErrInvalidPattern, wantMsg: "whitespace"},
		{name: "glob with newline", expr: "a\nb", wantErr: ErrInvalidPattern, wantMsg: "whitespace"},
		{name: "glob invalid utf8", expr: "a\xffb", wantErr: ErrInvalidPattern, wantMsg: "UTF-8"},
		{name: "glob", expr: "release-*"},
		{name: "double star", expr: "team/**"},
		{name: "question", expr: "v?"},
		{name: "regexp", expr: `/^v\d+\.\d+\.\d+$/`},
		{name: "regexp with slash inside", expr: `/^team/app$/`},
		{name: "semver", expr: "semver:>=1.2 <2"},
		{name: "semver tilde", expr: "semver:~1.4"},
		{name: "semver or", expr: "semver:^2 || ^3"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p, err := Compile(tt.expr)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("Compile(%q) error = %v, want %v", tt.expr, err, tt.wantErr)
			}
			if tt.wantErr != nil {
				var pe *PatternError
				if !errors.As(err, &pe) || pe.Pattern != tt.expr {
					t.Errorf("Compile(%q) error %v is not a *PatternError for the pattern", tt.expr, err)
				}
				if !strings.Contains(err.Error(), tt.wantMsg) {
					t.Errorf("Compile(%q) error = %q, want it to contain %q", tt.expr, err, tt.wantMsg)
				}
				return
			}
			if p.String() != tt.expr {
				t.Errorf("String() = %q, want %q", p.String(), tt.expr)
			}
		})
	}
}

func TestKind(t *testing.T) {
	t.Parallel()
	for expr, want := range map[string]Kind{
		"a*":         Glob,
		"/a/":        Regexp,
		"semver:1.x": Semver,
		"Semver:1":   Glob, // the prefix is case-sensitive
	} {
		if got := MustCompile(expr).Kind(); got != want {
			t.Errorf("Compile(%q).Kind() = %v, want %v", expr, got, want)
		}
	}
	if got := (Pattern{}).Match(""); got {
		t.Errorf("zero Pattern matched the empty string")
	}
}

func TestMatch(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		expr  string
		input string
		want  bool
	}{
		// globs
		{name: "literal", expr: "team/app", input: "team/app", want: true},
		{name: "literal differs", expr: "team/app", input: "team/app2", want: false},
		{name: "literal is whole-name", expr: "app", input: "team/app", want: false},
		{name: "star", expr: "release-*", input: "release-1.4", want: true},
		{name: "star empty run", expr: "release-*", input: "release-", want: true},
		{name: "star stops at slash", expr: "team/*", input: "team/a/b", want: false},
		{name: "star one level", expr: "team/*", input: "team/a", want: true},
		{name: "double star crosses slash", expr: "team/**", input: "team/a/b", want: true},
		{name: "double star one level", expr: "team/**", input: "team/a", want: true},
		{name: "double star needs prefix", expr: "team/**", input: "team", want: false},
		{name: "double star middle", expr: "team/**/web", input: "team/a/b/web", want: true},
		{name: "double star middle no slash", expr: "team/**/web", input: "team/web", want: false},
		{name: "triple star is double", expr: "a***z", input: "a/b/z", want: true},
		{name: "star alone", expr: "*", input: "app", want: true},
		{name: "star alone no slash", expr: "*", input: "team/app", want: false},
		{name: "double star alone", expr: "**", input: "team/a/b", want: true},
		{name: "question", expr: "v?", input: "v1", want: true},
		{name: "question one only", expr: "v?", input: "v10", want: false},
		{name: "question not slash", expr: "a?b", input: "a/b", want: false},
		{name: "question needs one", expr: "v?", input: "v", want: false},
		{name: "question multibyte", expr: "a?c", input: "aéc", want: true},
		{name: "dot is literal", expr: "v1.2", input: "v1x2", want: false},
		{name: "stars and suffix", expr: "*-rc*", input: "1.4-rc1", want: true},
		{name: "stars and suffix no", expr: "*-rc*", input: "1.4", want: false},
		{name: "backtracking shape", expr: "*a*a*a*a*a*b", input: strings.Repeat("a", 200), want: false},
		// regular expressions: unanchored unless anchored
		{name: "regexp unanchored", expr: `/rc/`, input: "1.4-rc1", want: true},
		{name: "regexp anchored", expr: `/^v\d+\.\d+\.\d+$/`, input: "v1.2.3", want: true},
		{name: "regexp anchored no", expr: `/^v\d+\.\d+\.\d+$/`, input: "v1.2.3-rc1", want: false},
		{name: "regexp slash inside", expr: `/^team/app$/`, input: "team/app", want: true},
		// semver
		{name: "semver in range", expr: "semver:>=1.2 <2", input: "1.4.0", want: true},
		{name: "semver v prefix", expr: "semver:>=1.2 <2", input: "v1.2.0", want: true},
		{name: "semver out of range", expr: "semver:>=1.2 <2", input: "2.0.0", want: false},
		{name: "semver below", expr: "semver:>=1.2 <2", input: "1.1.9", want: false},
		{name: "semver not a version", expr: "semver:>=1.2 <2", input: "latest", want: false},
		{name: "semver partial version", expr: "semver:>=1.2 <2", input: "1.4", want: false},
		{name: "semver number", expr: "semver:>=1", input: "20240101", want: false},
		{name: "semver leading zero", expr: "semver:>=1", input: "01.2.3", want: false},
		{name: "semver double v", expr: "semver:>=1", input: "vv1.2.3", want: false},
		{name: "semver tilde", expr: "semver:~1.4", input: "1.4.7", want: true},
		{name: "semver tilde no", expr: "semver:~1.4", input: "1.5.0", want: false},
		{name: "semver prerelease excluded", expr: "semver:>=1.2 <2", input: "1.5.0-rc.1", want: false},
		{name: "semver prerelease range", expr: "semver:>=1.5.0-0", input: "1.5.0-rc.1", want: true},
		{name: "semver or", expr: "semver:^2 || ^3", input: "3.1.0", want: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p, err := Compile(tt.expr)
			if err != nil {
				t.Fatal(err)
			}
			if got := p.Match(tt.input); got != tt.want {
				t.Errorf("Compile(%q).Match(%q) = %v, want %v", tt.expr, tt.input, got, tt.want)
			}
		})
	}
}

// TestGlobLinear guards against a backtracking matcher: a pattern of many
// stars against a long name that almost matches must stay fast.
func TestGlobLinear(t *testing.T) {
	t.Parallel()
	p := MustCompile(strings.Repeat("*a", 100) + "b")
	name := strings.Repeat("a", 250)
	start := time.Now()
	for range 10 {
		if p.Match(name) {
			t.Fatal("matched a name without b")
		}
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("10 matches took %v; the matcher backtracks", d)
	}
}
