package match

import (
	"errors"
	"testing"
)

func TestSet(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		include    []string
		exclude    []string
		noun       string
		input      string
		want       bool
		wantReason string
	}{
		{
			name: "included", include: []string{"release-*", `/^v\d+/`}, noun: "tag",
			input: "release-1", want: true, wantReason: `tag "release-1" matches "release-*"`,
		},
		{
			name: "second include", include: []string{"release-*", `/^v\d+/`}, noun: "tag",
			input: "v2", want: true, wantReason: `tag "v2" matches "/^v\d+/"`,
		},
		{
			name: "no include matches", include: []string{"release-*", `/^v\d+/`}, noun: "tag",
			input: "dev-1", want: false, wantReason: `tag "dev-1" matches no tag pattern (release-*, /^v\d+/)`,
		},
		{
			name: "excluded", include: []string{"team/**"}, exclude: []string{"team/x*"}, noun: "repository",
			input: "team/x", want: false, wantReason: `repository "team/x" excluded by "team/x*"`,
		},
		{
			name: "exclude wins over identical include", include: []string{"team/x"}, exclude: []string{"team/x"}, noun: "repository",
			input: "team/x", want: false, wantReason: `repository "team/x" excluded by "team/x"`,
		},
		{
			name: "not excluded", include: []string{"team/**"}, exclude: []string{"team/x*"}, noun: "repository",
			input: "team/app", want: true, wantReason: `repository "team/app" matches "team/**"`,
		},
		{
			name: "no includes", exclude: []string{"*"}, noun: "tag",
			input: "v1", want: false, wantReason: `tag "v1": no tag patterns to match`,
		},
		{
			name: "no noun", include: []string{"a"},
			input: "b", want: false, wantReason: `"b" matches no pattern (a)`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s, err := NewSet(tt.include, tt.exclude)
			if err != nil {
				t.Fatal(err)
			}
			if tt.noun != "" {
				s = s.Named(tt.noun)
			}
			got, reason := s.Match(tt.input)
			if got != tt.want || reason != tt.wantReason {
				t.Errorf("Match(%q) = %v, %q; want %v, %q", tt.input, got, reason, tt.want, tt.wantReason)
			}
		})
	}
}

func TestNewSetErrors(t *testing.T) {
	t.Parallel()
	_, err := NewSet([]string{"ok-*", "/[a-/"}, []string{"semver:>>1", ""})
	if !errors.Is(err, ErrInvalidPattern) {
		t.Fatalf("NewSet error = %v, want ErrInvalidPattern", err)
	}
	var joined interface{ Unwrap() []error }
	if !errors.As(err, &joined) || len(joined.Unwrap()) != 3 {
		t.Errorf("NewSet error = %v, want the 3 bad patterns reported together", err)
	}
}
