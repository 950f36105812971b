package match

import (
	"errors"
	"strings"
	"testing"

	"github.com/Masterminds/semver/v3"
)

// TestVersionPrecedence walks semver.org's §11 example chain, and numbers
// up to 64 bits, each version strictly below the next. Prerelease numbers
// past 64 bits sort as text: TestSemverLimitation.
func TestVersionPrecedence(t *testing.T) {
	t.Parallel()
	chain := []string{
		"0.0.0-0",
		"0.0.0",
		"0.9.99",
		"1.0.0-0",
		"1.0.0-9",
		"1.0.0-10",
		"1.0.0-18446744073709551615",
		"1.0.0--",
		"1.0.0-alpha",
		"1.0.0-alpha.1",
		"1.0.0-alpha.beta",
		"1.0.0-beta",
		"1.0.0-beta.2",
		"1.0.0-beta.11",
		"1.0.0-beta.18446744073709551615",
		"1.0.0-beta.-",
		"1.0.0-rc.1",
		"1.0.0",
		"1.0.1",
		"1.1.0",
		"2.0.0",
		"2.1.0",
		"2.1.1",
		"18446744073709551615.0.0",
	}
	vs := make([]*semver.Version, len(chain))
	for i, s := range chain {
		v, ok := parseVersion(s)
		if !ok {
			t.Fatalf("parseVersion(%q) failed", s)
		}
		vs[i] = v
	}
	for i := range vs {
		for j := range vs {
			want := 0
			switch {
			case i < j:
				want = -1
			case i > j:
				want = 1
			}
			if got := vs[i].Compare(vs[j]); got != want {
				t.Errorf("Compare(%s, %s) = %d, want %d", chain[i], chain[j], got, want)
			}
		}
	}
}

func TestVersionBuildIgnored(t *testing.T) {
	t.Parallel()
	a, okA := parseVersion("v1.2.3-rc.1+build.5")
	b, okB := parseVersion("1.2.3-rc.1+other")
	if !okA || !okB {
		t.Fatalf("parseVersion failed: %v, %v", okA, okB)
	}
	if c := a.Compare(b); c != 0 {
		t.Errorf("versions differing only in build metadata compare %d, want 0", c)
	}
}

// version is what TestParseVersion expects of a parsed tag. Build metadata
// plays no part in precedence and is not compared.
type version struct {
	major, minor, patch uint64
	pre                 string
}

func versionOf(v *semver.Version) version {
	if v == nil {
		return version{}
	}
	return version{major: v.Major(), minor: v.Minor(), patch: v.Patch(), pre: v.Prerelease()}
}

func TestParseVersion(t *testing.T) {
	t.Parallel()
	tests := []struct {
		tag  string
		want version
		ok   bool
	}{
		{tag: "1.2.3", want: version{major: 1, minor: 2, patch: 3}, ok: true},
		{tag: "v0.0.0", ok: true},
		{tag: "1.2.3-rc.1+b.2", want: version{major: 1, minor: 2, patch: 3, pre: "rc.1"}, ok: true},
		{tag: "1.2.3+b-2", want: version{major: 1, minor: 2, patch: 3}, ok: true},
		{tag: "1.2.3-a-b.0c+x", want: version{major: 1, minor: 2, patch: 3, pre: "a-b.0c"}, ok: true},
		{tag: "18446744073709551615.0.0", want: version{major: 1<<64 - 1}, ok: true},
		{tag: "18446744073709551616.0.0"},
		{tag: ""},
		{tag: "v"},
		{tag: "1.2"},
		{tag: "1.2.3.4"},
		{tag: "01.2.3"},
		{tag: "1.02.3"},
		{tag: "1.2.03"},
		{tag: "1.2.3-01"},
		{tag: "1.2.3-"},
		{tag: "1.2.3+"},
		{tag: "1.2.3-a..b"},
		{tag: "1.2.3+a..b"},
		{tag: "1.2.3-a_b"},
		{tag: "1.2.3+a+b"},
		{tag: "1.2-a.3"},
		{tag: "1+a.2.3"},
		{tag: "V1.2.3"},
		{tag: "vv1.2.3"},
		{tag: " 1.2.3"},
		{tag: "1.2.3 "},
		{tag: "1..3"},
		{tag: "-1.2.3"},
		{tag: "1.2.3-é"},
		{tag: "１.2.3"},
	}
	for _, tt := range tests {
		v, ok := parseVersion(tt.tag)
		if got := versionOf(v); ok != tt.ok || got != tt.want {
			t.Errorf("parseVersion(%q) = %+v, %v; want %+v, %v", tt.tag, got, ok, tt.want, tt.ok)
		}
	}
}

// TestSemverRangeErrors: an invalid range keeps Compile's message, and the
// wrapped cause points at the part that was not understood.
func TestSemverRangeErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		rng       string
		wantCause string
	}{
		{rng: ">>1", wantCause: `unknown operator ">>"`},
		{rng: "=~1.2", wantCause: `unknown operator "=~"`},
		{rng: ">=", wantCause: `operator ">=" has no version after it`},
		{rng: "1.2.3.4", wantCause: `"1.2.3.4" is not a version (e.g. 1.2.3, 1.2, 1.x, *, 1.2.3-rc.1): ".4" not understood`},
		{rng: ">=1.2<2", wantCause: `"1.2<2" is not a version (e.g. 1.2.3, 1.2, 1.x, *, 1.2.3-rc.1): "<2" not understood`},
		{rng: "latest", wantCause: `"latest" is not a version`},
		{rng: "1.y", wantCause: `".y" not understood`},
		{rng: "1x.2", wantCause: `version "1x.2": "1x" is neither a number nor a wildcard`},
		{rng: ">=99999999999999999999", wantCause: `version "99999999999999999999": 99999999999999999999 does not fit in 64 bits`},
		{rng: "1.2.3-01", wantCause: `version "1.2.3-01": a numeric prerelease identifier has a leading zero`},
		{rng: ">=1.2,", wantCause: "nothing after the last comma"},
		{rng: ">=1.2,,<2", wantCause: `want a version, found ","`},
		{rng: ",1", wantCause: `want a version, found ","`},
		{rng: "^1 || ", wantCause: "alternative 2 of 2 (separated by ||): no version to compare with"},
		{rng: "1 | 2", wantCause: `version "|": "|" is neither a number nor a wildcard`},
		{rng: "1 2 - 3", wantCause: `(reading hyphen ranges A - B as >= A, <= B: "1>= 2, <= 3")`},
	}
	for _, tt := range tests {
		expr := semverPrefix + tt.rng
		_, err := Compile(expr)
		var pe *PatternError
		if !errors.As(err, &pe) || !errors.Is(err, ErrInvalidPattern) {
			t.Errorf("Compile(%q) error = %v, want a *PatternError wrapping ErrInvalidPattern", expr, err)
			continue
		}
		if !strings.HasPrefix(pe.Msg, "invalid semver range") {
			t.Errorf("Compile(%q) Msg = %q, want it to start with %q", expr, pe.Msg, "invalid semver range")
		}
		if pe.Err == nil || !strings.Contains(pe.Err.Error(), tt.wantCause) {
			t.Errorf("Compile(%q) cause = %v, want it to contain %q", expr, pe.Err, tt.wantCause)
		}
	}
}
