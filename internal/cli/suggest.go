package cli

import (
	"strings"

	"github.com/ferry-dev/ferry/internal/textdist"
)

// Closest returns the candidate a mistyped word most likely meant, or ""
// when none is close: one a few edits away (vesion → version, confg →
// config), one the word begins (insecur → insecure-registry), or one whose
// letters the word keeps in order from the same first letter (cp → copy).
// Ties go to the earlier candidate.
func Closest(word string, candidates []string) string {
	best, bestScore := "", 0
	for _, c := range candidates {
		score, ok := closeness(word, c)
		if ok && (best == "" || score < bestScore) {
			best, bestScore = c, score
		}
	}
	return best
}

// closeness scores how near word is to candidate (lower is nearer) and
// whether it is near enough to suggest.
func closeness(word, candidate string) (int, bool) {
	if word == "" || candidate == "" {
		return 0, false
	}
	d := textdist.Levenshtein(strings.ToLower(word), strings.ToLower(candidate))
	limit := 1
	switch {
	case len(word) > 6:
		limit = 3
	case len(word) > 3:
		limit = 2
	}
	if d <= limit {
		return d, true
	}
	if len(word) >= 3 && strings.HasPrefix(candidate, word) {
		return limit + 1, true // after any edit-distance match
	}
	if len(word) >= 2 && word[0] == candidate[0] && subsequence(word, candidate) {
		return limit + 2, true
	}
	return 0, false
}

// subsequence tells whether the letters of a appear in b in order.
func subsequence(a, b string) bool {
	i := 0
	for j := 0; j < len(b) && i < len(a); j++ {
		if a[i] == b[j] {
			i++
		}
	}
	return i == len(a)
}
