// Package ecrpolicy checks the two JSON documents Ferry gives ECR for a
// repository it creates, the lifecycle policy (PutLifecyclePolicy) and the
// repository policy (SetRepositoryPolicy), against what ECR documents, so
// that a document ECR would refuse is caught before the repository exists.
// internal/config runs the checks for `ferry config validate` and synth;
// the emulator runs them to refuse what ECR refuses.
//
// Each problem names the JSON path of the offending key or value (such as
// rules[0].selection.countUnit) and its byte offset in the text, so a caller
// can point at it. Problems are errors, which ECR refuses the document for,
// or warnings: ECR takes the document, but it is likely a mistake or grants
// more than was meant (a Principal "*" with no Condition).
//
// The rules come from:
//
//   - the lifecycle policy properties and the archive storage class: ECR User
//     Guide, "Lifecycle policy properties in Amazon ECR"
//     (lifecycle_policy_parameters.html) and "Archiving an image"
//     (archive-image.html); the length limits: ECR API Reference,
//     PutLifecyclePolicy (lifecyclePolicyText, 100 to 30720 characters);
//   - the repository policy: the IAM JSON policy grammar (IAM User Guide,
//     reference_policies_grammar.html, and the Principal, Action, Effect and
//     Condition element pages), ECR User Guide "Private repository
//     policies", and ECR API Reference, SetRepositoryPolicy (policyText, at
//     most 10240 characters).
//
// Where ECR's behaviour is known from outside the documentation, the code
// says so where it checks it (a Resource element refused, duplicate Sids
// accepted). No maintained Go library does this: IAM policy parsers (such
// as github.com/micahhausler/aws-iam-policy) unmarshal a policy but keep no
// positions and know nothing of ECR's lifecycle grammar, and IAM Access
// Analyzer's ValidatePolicy is an AWS call that needs credentials.
package ecrpolicy

import (
	"fmt"
	"strings"

	"github.com/ferry-dev/ferry/internal/textdist"
)

// Severity says whether ECR refuses a document for a problem.
type Severity int

// Severities.
const (
	// Refused: ECR answers InvalidParameterException.
	Refused Severity = iota + 1
	// Warning: ECR takes the document, but it is likely not what was meant.
	Warning
)

func (s Severity) String() string {
	switch s {
	case Refused:
		return "refused"
	case Warning:
		return "warning"
	}
	return fmt.Sprintf("Severity(%d)", int(s))
}

// Kind classifies a problem.
type Kind int

// Kinds.
const (
	// Syntax: the text is not JSON, or not a JSON object.
	Syntax Kind = iota + 1
	// Missing: a required key is absent; Key names it.
	Missing
	// Unknown: a key the grammar does not have; Key names it.
	Unknown
	// Invalid: a value of the wrong type, or outside what is allowed.
	Invalid
	// Length: the text is shorter or longer than the API takes.
	Length
	// Duplicate: a key, a rulePriority or a Sid given twice.
	Duplicate
	// Conflict: values that are valid alone but cannot go together.
	Conflict
	// Risk: a grant wider than was likely meant (warnings only).
	Risk
)

// Problem is one thing wrong with a document.
type Problem struct {
	Severity Severity
	Kind     Kind
	// Path is the JSON path of the offending key or value, such as
	// rules[0].selection.countUnit or Statement[1].Principal; "" for the
	// whole document.
	Path string
	// Key is the key that is missing or unknown (Kind Missing or Unknown).
	Key string
	// Offset is the byte offset in the text where the offending key or
	// value starts: for a missing key, the object that lacks it.
	Offset int
	// Msg says what is wrong and what would be valid.
	Msg string
}

// String formats p as "path: msg".
func (p Problem) String() string {
	if p.Path == "" {
		return p.Msg
	}
	return p.Path + ": " + p.Msg
}

// Refusal returns the first problem in ps that ECR refuses a document for.
func Refusal(ps []Problem) (Problem, bool) {
	for _, p := range ps {
		if p.Severity == Refused {
			return p, true
		}
	}
	return Problem{}, false
}

// checker collects the problems of one document.
type checker struct {
	problems []Problem
}

func (c *checker) add(sev Severity, kind Kind, path string, off int, format string, args ...any) {
	c.problems = append(c.problems, Problem{Severity: sev, Kind: kind, Path: path, Offset: off, Msg: fmt.Sprintf(format, args...)})
}

func (c *checker) refuse(kind Kind, path string, off int, format string, args ...any) {
	c.add(Refused, kind, path, off, format, args...)
}

func (c *checker) warn(kind Kind, path string, off int, format string, args ...any) {
	c.add(Warning, kind, path, off, format, args...)
}

// fields checks that v is an object with only the allowed keys, and
// returns its members by key (the last of a key given twice).
func (c *checker) fields(v *value, path, what string, allowed ...string) (map[string]*value, bool) {
	if v.kind != object {
		c.refuse(Invalid, path, v.off, "is %s; want %s", v.describe(), what)
		return nil, false
	}
	out := make(map[string]*value, len(v.members))
	for _, m := range v.members {
		p := join(path, m.key)
		if !contains(allowed, m.key) {
			msg := fmt.Sprintf("unknown key %q; %s takes %s", m.key, what, strings.Join(allowed, ", "))
			if s := suggest(m.key, allowed); s != "" {
				msg += fmt.Sprintf(" (did you mean %q?)", s)
			}
			c.problems = append(c.problems, Problem{Severity: Refused, Kind: Unknown, Path: p, Key: m.key, Offset: m.keyOff, Msg: msg})
			continue
		}
		if _, dup := out[m.key]; dup {
			// ECR does not document what it does with a key given twice;
			// JSON parsers keep one or the other, or refuse.
			c.warn(Duplicate, p, m.keyOff, "key %q is given twice in this object; keep one (which one ECR keeps is not documented)", m.key)
		}
		out[m.key] = m.val
	}
	return out, true
}

// require reports a missing key of an object.
func (c *checker) require(f map[string]*value, obj *value, path, key, want string) *value {
	if v, ok := f[key]; ok {
		return v
	}
	c.problems = append(c.problems, Problem{Severity: Refused, Kind: Missing, Path: join(path, key), Key: key, Offset: obj.off,
		Msg: fmt.Sprintf("missing; want %s", want)})
	return nil
}

// str returns a string value, or reports that v is not one.
func (c *checker) str(v *value, path, want string) (string, bool) {
	if v.kind != str {
		c.refuse(Invalid, path, v.off, "is %s; want %s", v.describe(), want)
		return "", false
	}
	return v.s, true
}

// oneOf returns a string value that is one of allowed, or reports it.
func (c *checker) oneOf(v *value, path string, allowed ...string) (string, bool) {
	want := quoteAll(allowed)
	s, ok := c.str(v, path, "one of "+want)
	if !ok {
		return "", false
	}
	if !contains(allowed, s) {
		msg := fmt.Sprintf("%q is not one of %s", s, want)
		if sg := suggest(s, allowed); sg != "" {
			msg += fmt.Sprintf(" (did you mean %q?)", sg)
		}
		c.refuse(Invalid, path, v.off, "%s", msg)
		return "", false
	}
	return s, true
}

// positive returns a positive integer value, or reports that v is not one.
func (c *checker) positive(v *value, path string) (int64, bool) {
	n, ok := v.integer()
	switch {
	case v.kind != number:
		c.refuse(Invalid, path, v.off, "is %s; want a positive integer (a JSON number, without quotes)", v.describe())
		return 0, false
	case !ok:
		c.refuse(Invalid, path, v.off, "%s is not an integer; want a positive integer such as 1", v.n)
		return 0, false
	case n < 1:
		c.refuse(Invalid, path, v.off, "is %d; want a positive integer (0 and negative numbers are not accepted)", n)
		return 0, false
	}
	return n, true
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func index(path string, i int) string { return fmt.Sprintf("%s[%d]", path, i) }

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func quoteAll(list []string) string {
	q := make([]string, len(list))
	for i, s := range list {
		q[i] = fmt.Sprintf("%q", s)
	}
	return strings.Join(q, ", ")
}

// suggest returns the allowed word closest to s, if it is close enough to
// be a likely typo (the keys and values here are case-sensitive, and a
// wrong case is the commonest slip) or s is the start of it.
func suggest(s string, allowed []string) string {
	best, bestDist := "", 3
	for _, a := range allowed {
		if strings.EqualFold(a, s) {
			return a
		}
		d := textdist.Levenshtein(strings.ToLower(s), strings.ToLower(a))
		if len(s) >= 4 && strings.HasPrefix(strings.ToLower(a), strings.ToLower(s)) {
			d = min(d, 2) // a start counts as a near miss
		}
		if d < bestDist {
			best, bestDist = a, d
		}
	}
	return best
}
