package config

import (
	"unicode/utf8"

	"go.yaml.in/yaml/v3"

	"github.com/ferry-dev/ferry/internal/ecrpolicy"
)

// A destination's lifecycle and repository policies are JSON in YAML
// strings. policy() (validate.go) checks that each is a JSON object;
// these check it against what ECR documents (internal/ecrpolicy), so that
// a policy ECR would refuse fails here, not after CreateRepository, which
// would leave the repository with its settings pending. Each problem is
// reported at the line and column, inside the YAML string, of the JSON key
// or value at fault, and named by the setting's path and the JSON path:
// rules[0].destinations[0].settings.lifecyclePolicy.rules[0].selection.countUnit.

// lifecyclePolicy checks the text of a settings.lifecyclePolicy, n; text is
// "" if policy() refused it already.
func (d *decoder) lifecyclePolicy(n *yaml.Node, path, text string) {
	if text != "" {
		d.policyProblems(n, path, text, ecrpolicy.Lifecycle(text))
	}
}

// repositoryPolicy checks the text of a settings.repositoryPolicy, n.
func (d *decoder) repositoryPolicy(n *yaml.Node, path, text string) {
	if text != "" {
		d.policyProblems(n, path, text, ecrpolicy.Repository(text))
	}
}

func (d *decoder) policyProblems(n *yaml.Node, path, text string, problems []ecrpolicy.Problem) {
	for _, p := range problems {
		line, col := d.textPosition(n, text, p.Offset)
		e := &Error{File: d.file, Line: line, Column: col, Field: path, Msg: p.Msg}
		if p.Path != "" {
			e.Field = join(path, p.Path)
		}
		if p.Severity == ecrpolicy.Warning {
			e.Err = ErrWarning
			d.warnings = append(d.warnings, e)
			continue
		}
		e.Err = policyError(p.Kind)
		d.errs = append(d.errs, e)
	}
}

// policyError is the sentinel for a kind of policy problem.
func policyError(k ecrpolicy.Kind) error {
	switch k {
	case ecrpolicy.Missing:
		return ErrMissingField
	case ecrpolicy.Unknown:
		return ErrUnknownField
	case ecrpolicy.Duplicate:
		return ErrDuplicate
	case ecrpolicy.Conflict:
		return ErrConflict
	}
	return ErrInvalidValue
}

// textPosition returns the line and column in the file of byte off of
// text, the value of the scalar n. It walks the scalar as written beside
// its value: the characters of the value appear in the source in order,
// with indentation, line breaks, quotes and escaping backslashes between
// them. Where the two part (an escape such as \n or \u00e9 in a
// double-quoted string), or off is past the text, it returns the scalar's
// own position.
func (d *decoder) textPosition(n *yaml.Node, text string, off int) (int, int) {
	i, ok := d.offsetOf(n.Line, n.Column)
	if !ok || off < 0 || off >= len(text) {
		return n.Line, n.Column
	}
	line, col := n.Line, n.Column
	advance := func(r rune, w int) {
		i += w
		if r == '\n' {
			line, col = line+1, 1
		} else {
			col++
		}
	}
	switch {
	case n.Style&(yaml.LiteralStyle|yaml.FoldedStyle) != 0:
		// The value starts on the line after the | or > indicator.
		for i < len(d.src) && d.src[i] != '\n' {
			i++
		}
		if i == len(d.src) {
			return n.Line, n.Column
		}
		advance('\n', 1)
	case n.Style&(yaml.SingleQuotedStyle|yaml.DoubleQuotedStyle) != 0:
		advance('\'', 1) // the opening quote
	}
	for at, r := range text {
		for {
			if i >= len(d.src) {
				return n.Line, n.Column
			}
			s, w := utf8.DecodeRune(d.src[i:])
			if s == r || isSpace(s) && isSpace(r) {
				break
			}
			skip := isSpace(s) ||
				s == '\'' && n.Style&yaml.SingleQuotedStyle != 0 || // '' is a quote
				s == '\\' && n.Style&yaml.DoubleQuotedStyle != 0 // \" is a quote
			if !skip {
				return n.Line, n.Column
			}
			advance(s, w)
		}
		if at == off {
			return line, col
		}
		advance(utf8.DecodeRune(d.src[i:]))
	}
	return n.Line, n.Column
}

func isSpace(r rune) bool { return r == ' ' || r == '\t' || r == '\n' || r == '\r' }

// offsetOf returns the byte offset in the file of a 1-based line and
// column (yaml.v3 counts columns in characters).
func (d *decoder) offsetOf(line, col int) (int, bool) {
	i := 0
	for l := 1; l < line; l++ {
		for i < len(d.src) && d.src[i] != '\n' {
			i++
		}
		if i == len(d.src) {
			return 0, false
		}
		i++
	}
	for c := 1; c < col; c++ {
		if i >= len(d.src) || d.src[i] == '\n' {
			return 0, false
		}
		_, w := utf8.DecodeRune(d.src[i:])
		i += w
	}
	return i, true
}
