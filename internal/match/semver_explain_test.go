package match

import (
	"errors"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/Masterminds/semver/v3"
)

// TestSemverExplainerAgreesRandomly compares explainRange with
// Masterminds on ranges built at random from the pieces of the syntax,
// which byte-level fuzzing seldom puts together: the explainer finds
// something wrong exactly when the library refuses the range, so every
// refusal gets its explanation and no valid range is ever faulted.
// SEMVER_RANDOM_N=<count> runs more.
func TestSemverExplainerAgreesRandomly(t *testing.T) {
	t.Parallel()
	n := 50000
	if s := os.Getenv("SEMVER_RANDOM_N"); s != "" {
		var err error
		if n, err = strconv.Atoi(s); err != nil {
			t.Fatalf("SEMVER_RANDOM_N=%q: %v", s, err)
		}
	}
	r := rand.New(rand.NewPCG(1, 2))
	refused := 0
	for range n {
		rng := strings.TrimSpace(randomRange(r))
		if rng == "" {
			continue // Compile refuses an empty range before the library sees it
		}
		why := explainRange(rng)
		_, err := semver.NewConstraint(rng)
		if (why != nil) != (err != nil) {
			t.Fatalf("range %q: explainer %v, Masterminds %v", rng, why, err)
		}
		if err != nil {
			refused++
		}
	}
	// Half the ranges are built from pieces Masterminds rejects: a run
	// where none is refused tests only one side.
	if n >= 1000 && (refused == 0 || refused == n) {
		t.Fatalf("%d of %d random ranges refused; want both kinds", refused, n)
	}
}

// Pieces of ranges: the first list of each pair is well formed, the second
// adds what Masterminds rejects or treats oddly.
var (
	cleanOps     = []string{"", "", "", "=", "!=", ">", "<", ">=", "=>", "<=", "=<", "~", "~>", "^"}
	anyOps       = append([]string{"==", ">>", "!", "=~"}, cleanOps...)
	cleanNumbers = []string{"0", "0", "1", "1", "2", "3", "10", "x", "X", "*"}
	anyNumbers   = append([]string{"01", "|", "18446744073709551615", "18446744073709551616", "a", ""}, cleanNumbers...)
	cleanIDs     = []string{"0", "1", "2", "10", "alpha", "beta", "rc", "-", "x", "0a"}
	anyIDs       = append([]string{"01", "", "99999999999999999999"}, cleanIDs...)
	cleanSeps    = []string{" ", " ", ",", ", ", " , ", "  ", " || ", "||", " - ", " - ", "\t"}
	anySeps      = append([]string{"-", "\v", "", "|", " -", "- ", ",,"}, cleanSeps...)
)

func pick(r *rand.Rand, from []string) string { return from[r.IntN(len(from))] }

// randomVersionText is a version-like string: 1 to 4 numbers, maybe a "v",
// a prerelease, build metadata.
func randomVersionText(r *rand.Rand, numbers, ids []string) string {
	var b strings.Builder
	if r.IntN(6) == 0 {
		b.WriteString("v")
	}
	parts := 1 + r.IntN(3)
	if r.IntN(20) == 0 {
		parts = 4
	}
	for i := range parts {
		if i > 0 {
			b.WriteString(".")
		}
		b.WriteString(pick(r, numbers))
	}
	for _, sep := range []string{"-", "+"} {
		if r.IntN(3) == 0 {
			b.WriteString(sep)
			for i := range 1 + r.IntN(3) {
				if i > 0 {
					b.WriteString(".")
				}
				b.WriteString(pick(r, ids))
			}
		}
	}
	return b.String()
}

func randomRange(r *rand.Rand) string {
	ops, numbers, ids, seps := cleanOps, cleanNumbers, cleanIDs, cleanSeps
	if r.IntN(2) == 0 {
		ops, numbers, ids, seps = anyOps, anyNumbers, anyIDs, anySeps
	}
	var b strings.Builder
	if r.IntN(8) == 0 {
		b.WriteString(" ")
	}
	for i := range 1 + r.IntN(4) {
		if i > 0 {
			b.WriteString(pick(r, seps))
		}
		b.WriteString(pick(r, ops))
		if r.IntN(6) == 0 {
			b.WriteString(" ")
		}
		b.WriteString(randomVersionText(r, numbers, ids))
	}
	return b.String()
}

// FuzzSemverExplainer: for any range, Compile fails exactly when
// Masterminds' NewConstraint does, with a semver *PatternError, and the
// explainer finds something wrong exactly then.
func FuzzSemverExplainer(f *testing.F) {
	for _, tt := range semverCases {
		f.Add(tt.rng)
	}
	for _, tt := range semverLimitation {
		f.Add(tt.rng)
	}
	f.Fuzz(func(t *testing.T, rng string) {
		_, err := Compile(semverPrefix + rng)
		body := strings.TrimSpace(rng)
		if body == "" {
			return // Compile's own "empty semver range"
		}
		_, refErr := semver.NewConstraint(body)
		if (err != nil) != (refErr != nil) {
			t.Fatalf("range %q: Compile error %v, Masterminds error %v", rng, err, refErr)
		}
		var pe *PatternError
		if err != nil && (!errors.As(err, &pe) || !errors.Is(err, ErrInvalidPattern) || !strings.HasPrefix(pe.Msg, "invalid semver range")) {
			t.Fatalf("range %q: error %v is not a semver *PatternError", rng, err)
		}
		if why := explainRange(body); (why != nil) != (refErr != nil) {
			t.Fatalf("range %q: explainer %v, Masterminds %v", rng, why, refErr)
		}
	})
}
