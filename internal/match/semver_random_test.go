package match

import (
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"testing"
)

// TestSemverRandomMatchesMasterminds compares with Masterminds on ranges and
// tags built at random from the pieces of the syntax, which byte-level
// fuzzing seldom puts together. SEMVER_RANDOM_N=<count> runs more.
func TestSemverRandomMatchesMasterminds(t *testing.T) {
	t.Parallel()
	n := 50000
	if s := os.Getenv("SEMVER_RANDOM_N"); s != "" {
		var err error
		if n, err = strconv.Atoi(s); err != nil {
			t.Fatalf("SEMVER_RANDOM_N=%q: %v", s, err)
		}
	}
	r := rand.New(rand.NewPCG(1, 2))
	for range n {
		rng, tag := randomRange(r), randomTag(r)
		got, ref := oursOutcome(rng, tag), mastermindsOutcome(rng, tag)
		if got != ref && !deviationMayApply(rng, tag) {
			t.Fatalf("range %q, tag %q: ours %v, Masterminds %v", rng, tag, got, ref)
		}
	}
}

// Pieces of ranges and tags: the first list of each pair is well formed,
// the second adds what Masterminds rejects or treats oddly.
var (
	cleanOps      = []string{"", "", "", "=", "!=", ">", "<", ">=", "=>", "<=", "=<", "~", "~>", "^"}
	anyOps        = append([]string{"==", ">>", "!", "=~"}, cleanOps...)
	cleanNumbers  = []string{"0", "0", "1", "1", "2", "3", "10", "x", "X", "*"}
	anyNumbers    = append([]string{"01", "|", "18446744073709551615", "18446744073709551616", "a", ""}, cleanNumbers...)
	cleanIDs      = []string{"0", "1", "2", "10", "alpha", "beta", "rc", "-", "x", "0a"}
	anyIDs        = append([]string{"01", "", "99999999999999999999"}, cleanIDs...)
	cleanSeps     = []string{" ", " ", ",", ", ", " , ", "  ", " || ", "||", " - ", " - ", "\t"}
	anySeps       = append([]string{"-", "\v", "", "|", " -", "- ", ",,"}, cleanSeps...)
	cleanTagParts = []string{"0", "0", "1", "1", "2", "3", "10"}
	anyTagParts   = append([]string{"01", "18446744073709551615", "x"}, cleanTagParts...)
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

func randomTag(r *rand.Rand) string {
	if r.IntN(2) == 0 {
		return randomVersionText(r, anyTagParts, anyIDs)
	}
	return randomVersionText(r, cleanTagParts, cleanIDs)
}
