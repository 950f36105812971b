package imageref

import (
	"errors"
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/google/go-containerregistry/pkg/name"
)

const d = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

func TestParse(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in   string
		want Reference
		str  string
	}{
		{"alpine", Reference{DockerHub, "library/alpine", "latest", ""}, "index.docker.io/library/alpine:latest"},
		{"docker.io/team/app:v1", Reference{DockerHub, "team/app", "v1", ""}, "index.docker.io/team/app:v1"},
		{"localhost/app", Reference{"localhost", "app", "latest", ""}, "localhost/app:latest"},
		{"localhost:5000/a/b/c:1.0-rc.1", Reference{"localhost:5000", "a/b/c", "1.0-rc.1", ""}, "localhost:5000/a/b/c:1.0-rc.1"},
		{"111111111111.dkr.ecr.us-east-1.amazonaws.com/team/app:release-1.4",
			Reference{"111111111111.dkr.ecr.us-east-1.amazonaws.com", "team/app", "release-1.4", ""},
			"111111111111.dkr.ecr.us-east-1.amazonaws.com/team/app:release-1.4"},
		{"127.0.0.1:5000/app@" + d, Reference{"127.0.0.1:5000", "app", "", d}, "127.0.0.1:5000/app@" + d},
		{"127.0.0.1:5000/app:v1@" + d, Reference{"127.0.0.1:5000", "app", "v1", d}, "127.0.0.1:5000/app:v1@" + d},
		{"[::1]:5000/a__b.c--d_e:V_1", Reference{"[::1]:5000", "a__b.c--d_e", "V_1", ""}, "[::1]:5000/a__b.c--d_e:V_1"},
		{"team/app", Reference{DockerHub, "team/app", "latest", ""}, "index.docker.io/team/app:latest"},
	} {
		got, err := Parse(tc.in)
		if err != nil {
			t.Errorf("Parse(%q): %v", tc.in, err)
			continue
		}
		if got != tc.want || got.String() != tc.str {
			t.Errorf("Parse(%q) = %+v (%s), want %+v (%s)", tc.in, got, got, tc.want, tc.str)
		}
	}
}

func TestParseRejects(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ in, wantMsg string }{
		{"", "repository name is missing"},
		{"host.example.com/", "repository name is missing"},
		{"Team/App", `repository "Team/App" is not valid`},
		{"host:5000/a//b", `repository "a//b" is not valid`},
		{"host:5000/a-/b", `repository "a-/b" is not valid`},
		{"host:5000/a___b", `repository "a___b" is not valid`},
		{"host:5000/a-_b", `repository "a-_b" is not valid`},
		{"host:5000/.a", `repository ".a" is not valid`},
		{"host:5000/app:", "the tag after ':' is missing"},
		{"host:5000/app:-x", `tag "-x" is not valid`},
		{"host:5000/app:" + strings.Repeat("x", 129), "at most 128 are allowed"},
		{"host:5000/" + strings.Repeat("a", 256), "at most 255 are allowed"},
		{"host:5000/app@sha256:abc", `digest "sha256:abc" is not valid`},
		{"host:5000/app@sha512:" + strings.Repeat("a", 128), "want sha256:"},
		{"host:5000/app@" + strings.ToUpper(d), "is not valid"},
		{"user@host:5000/app", "is not valid"},
		{"ho st:5000/app", "is not a host name"},
		{"http://localhost:5000/app:v1", `drop "http://": an image reference has no scheme`},
		{"HTTPS://reg.example/app", `drop "HTTPS://"`},
	} {
		_, err := Parse(tc.in)
		if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tc.wantMsg) {
			t.Errorf("Parse(%q) error = %v, want %q", tc.in, err, tc.wantMsg)
		}
	}
}

func TestHelpers(t *testing.T) {
	t.Parallel()
	r, err := Parse("reg.example.com/team/app:v1")
	if err != nil {
		t.Fatal(err)
	}
	if got := r.WithDigest(d); got.String() != "reg.example.com/team/app@"+d || got.Identifier() != d {
		t.Errorf("WithDigest = %s (identifier %s)", got, got.Identifier())
	}
	if got := r.WithTag("v2"); got.String() != "reg.example.com/team/app:v2" || got.Identifier() != "v2" {
		t.Errorf("WithTag = %s (identifier %s)", got, got.Identifier())
	}
	if got := r.Scope("push,pull"); got != "repository:team/app:push,pull" {
		t.Errorf("Scope = %q", got)
	}
	if r.Name() != "reg.example.com/team/app" {
		t.Errorf("Name = %q", r.Name())
	}
}

// specRepository is the distribution spec's repository grammar, as a
// regular expression (the package itself does without them).
var specRepository = regexp.MustCompile(`^[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*$`)

// specTag is the spec's tag grammar.
var specTag = regexp.MustCompile(`^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$`)

// FuzzParseAgreesWithGoContainerRegistry checks Parse against
// go-containerregistry's name.ParseReference: whatever Parse accepts, name
// reads the same way; whatever name accepts and Parse refuses breaks the
// spec's grammar (name only checks the characters) or uses a digest
// algorithm other than sha256.
func FuzzParseAgreesWithGoContainerRegistry(f *testing.F) {
	for _, s := range []string{"alpine", "docker.io/team/app:v1", "localhost:5000/a/b:c", "127.0.0.1:5000/app@" + d,
		"h.io/a:t@" + d, "a__b/c--d", "a-_b", "Team/app", "h:1/a:", "h:1/a@sha256:ab", "[::1]:5/a", "x/y/z:1.0"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := Parse(s)
		theirs, theirErr := name.ParseReference(s)
		if err == nil {
			if theirErr != nil {
				t.Fatalf("Parse(%q) = %s, but name refuses it: %v", s, got, theirErr)
			}
			reg, repo := theirs.Context().RegistryStr(), theirs.Context().RepositoryStr()
			if got.Registry != reg || got.Repository != repo || got.Identifier() != theirs.Identifier() {
				t.Fatalf("Parse(%q) = %s %s %s; name reads %s %s %s", s, got.Registry, got.Repository, got.Identifier(), reg, repo, theirs.Identifier())
			}
			return
		}
		if theirErr != nil {
			return
		}
		repo := theirs.Context().RepositoryStr()
		tag, isTag := theirs.(name.Tag)
		_, isDigest := theirs.(name.Digest)
		switch {
		case !specRepository.MatchString(repo) || len(repo) > 255:
		case isTag && !specTag.MatchString(tag.TagStr()):
		case isDigest && !strings.HasPrefix(theirs.Identifier(), "sha256:"):
		case strings.Count(s, "@") > 1:
		default:
			t.Fatalf("Parse(%q) refuses what name accepts as %s: %v", s, theirs, err)
		}
	})
}

// A long name is quoted once, cut short: the message stays a line.
func TestLongNamesQuotedShort(t *testing.T) {
	t.Parallel()
	tag := strings.Repeat("x", 92) + "!!!!!!!!"
	_, err := Parse("reg.example/app:" + tag)
	if err == nil {
		t.Fatal("Parse accepted a tag with '!'")
	}
	msg := err.Error()
	if len(msg) > 250 || strings.Count(msg, "(100 characters)") != 1 || strings.Count(msg, "(116 characters)") != 1 {
		t.Errorf("error is %d bytes, want the input and the tag each cut short once: %s", len(msg), msg)
	}
	if q := Quote("é" + strings.Repeat("é", 40)); !utf8.ValidString(q) {
		t.Errorf("Quote cut a rune in two: %s", q)
	}
}
