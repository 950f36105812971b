package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/ferry-dev/ferry/internal/textdist"
)

// Parse checks data, the contents of file, and returns the configuration
// with defaults filled in, and its warnings (Config.Warnings). On failure it
// returns every problem found, each a *Error, joined with errors.Join and
// sorted by position.
func Parse(file string, data []byte) (*Config, error) {
	d := &decoder{file: file, src: data}
	cfg := d.parse(data)
	if len(d.errs) > 0 {
		d.errs = sortErrors(d.errs)
		errs := make([]error, len(d.errs))
		for i, e := range d.errs {
			errs[i] = e
		}
		return nil, errors.Join(errs...)
	}
	if cfg != nil && len(d.warnings) > 0 {
		cfg.Warnings = sortErrors(d.warnings)
	}
	return cfg, nil
}

// decoder walks the yaml.Node tree by hand, so that every value keeps its
// position and every problem is collected rather than the first one only.
type decoder struct {
	file     string
	src      []byte // the file's contents, to explain syntax errors
	errs     []*Error
	warnings []*Error            // problems that do not make the file invalid
	aliases  int                 // alias dereferences so far, bounded against alias bombs
	merging  map[*yaml.Node]bool // mappings being merged (<<), against cycles
}

// maxAliases bounds alias expansion (the "billion laughs" attack).
const maxAliases = 10000

func (d *decoder) errorf(n *yaml.Node, field string, kind error, format string, args ...any) {
	e := &Error{File: d.file, Field: field, Msg: fmt.Sprintf(format, args...), Err: kind}
	if n != nil {
		e.Line, e.Column = n.Line, n.Column
	}
	d.errs = append(d.errs, e)
}

// errorWrap records an error whose cause (say, a *match.PatternError) is
// worth keeping for errors.Is; its text is the message.
func (d *decoder) errorWrap(n *yaml.Node, field string, kind, cause error) {
	d.errs = append(d.errs, &Error{
		File: d.file, Line: n.Line, Column: n.Column, Field: field,
		Msg: cause.Error(), Err: fmt.Errorf("%w: %w", kind, cause),
	})
}

// yamlLine finds the line number yaml.v3 puts in its syntax errors, which
// have no type of their own ("yaml: line 3: did not find expected key").
var yamlLine = lazyRegexp(`^yaml: line (\d+): (.*)$`)

func (d *decoder) parse(data []byte) *Config {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			d.errs = append(d.errs, &Error{File: d.file, Msg: "empty configuration; want a mapping with version, source and rules (see ferry.example.yaml)", Err: ErrMissingField})
			return nil
		}
		d.syntax(err)
		return nil
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		d.errorf(&extra, "", ErrInvalidValue, "a second YAML document (after ---); want exactly one")
	} else if !errors.Is(err, io.EOF) {
		d.syntax(err)
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) != 1 {
		d.errorf(&doc, "", ErrInvalidValue, "want a single YAML document")
		return nil
	}
	return d.config(doc.Content[0])
}

func (d *decoder) syntax(err error) {
	e := &Error{File: d.file, Msg: err.Error(), Err: fmt.Errorf("%w: %w", ErrSyntax, err)}
	if m := yamlLine.FindStringSubmatch(err.Error()); m != nil {
		e.Line, _ = strconv.Atoi(m[1])
		e.Msg = "invalid YAML: " + m[2]
		// The parser names the line of the tab or the one before it.
		for _, l := range []int{e.Line, e.Line + 1} {
			if d.tabIndented(l) {
				e.Msg += fmt.Sprintf(" (line %d is indented with a tab; YAML indents with spaces only)", l)
				break
			}
		}
	}
	d.errs = append(d.errs, e)
}

// tabIndented reports whether line (1-based) of the file starts with a tab
// among its indentation.
func (d *decoder) tabIndented(line int) bool {
	lines := bytes.Split(d.src, []byte("\n"))
	if line < 1 || line > len(lines) {
		return false
	}
	indent := lines[line-1][:len(lines[line-1])-len(bytes.TrimLeft(lines[line-1], " \t"))]
	return bytes.IndexByte(indent, '\t') >= 0
}

// resolve follows aliases.
func (d *decoder) resolve(n *yaml.Node) *yaml.Node {
	for n != nil && n.Kind == yaml.AliasNode {
		d.aliases++
		if d.aliases > maxAliases {
			if d.aliases == maxAliases+1 {
				d.errorf(n, "", ErrInvalidValue, "too many alias expansions (over %d); is an anchor merged into itself?", maxAliases)
			}
			return nil
		}
		n = n.Alias
	}
	return n
}

func isNull(n *yaml.Node) bool {
	return n == nil || (n.Kind == yaml.ScalarNode && n.Tag == "!!null")
}

// describe names a node's type for messages.
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		switch n.Tag {
		case "!!null":
			return "empty"
		case "!!int", "!!float":
			return "the number " + n.Value
		case "!!bool":
			return "the boolean " + n.Value
		}
		return strconv.Quote(n.Value)
	}
	return "an unsupported YAML node"
}

// field is one key of a mapping and its value.
type field struct{ key, value *yaml.Node }

// object is a mapping whose keys have been checked against a list.
type object struct {
	d      *decoder
	node   *yaml.Node
	path   string
	fields map[string]field
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func index(path string, i int) string { return fmt.Sprintf("%s[%d]", path, i) }

// pairs returns a mapping's key/value pairs, with merge keys ("<<: *x")
// expanded; explicit keys come first so that they win over merged ones.
func (d *decoder) pairs(n *yaml.Node, path string) []field {
	var own, merged []field
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind == yaml.ScalarNode && k.Tag == "!!merge" {
			v = d.resolve(v)
			var sources []*yaml.Node
			switch {
			case v == nil:
			case v.Kind == yaml.MappingNode:
				sources = []*yaml.Node{v}
			case v.Kind == yaml.SequenceNode:
				for _, s := range v.Content {
					sources = append(sources, d.resolve(s))
				}
			}
			for _, s := range sources {
				switch {
				case s == nil || s.Kind != yaml.MappingNode:
					d.errorf(k, path, ErrInvalidValue, "a merge key (<<) needs a mapping or a list of mappings")
				case d.merging[s]:
					d.errorf(k, path, ErrInvalidValue, "a mapping cannot merge (<<) itself")
				default:
					if d.merging == nil {
						d.merging = make(map[*yaml.Node]bool)
					}
					d.merging[s] = true
					merged = append(merged, d.pairs(s, path)...)
					delete(d.merging, s)
				}
			}
			continue
		}
		own = append(own, field{k, v})
	}
	return append(own, merged...)
}

// object checks that n is a mapping with only the allowed keys.
func (d *decoder) object(n *yaml.Node, path, what string, allowed ...string) (*object, bool) {
	n = d.resolve(n)
	if n == nil {
		return nil, false
	}
	if n.Kind != yaml.MappingNode {
		d.errorf(n, path, ErrInvalidValue, "is %s; want %s with keys %s", describe(n), what, strings.Join(allowed, ", "))
		return nil, false
	}
	o := &object{d: d, node: n, path: path, fields: make(map[string]field)}
	for _, f := range d.pairs(n, path) { // keys written here come before merged ones
		if f.key.Kind != yaml.ScalarNode {
			d.errorf(f.key, path, ErrInvalidValue, "a key is %s; want one of %s", describe(f.key), strings.Join(allowed, ", "))
			continue
		}
		name := f.key.Value
		if !slices.Contains(allowed, name) {
			msg := fmt.Sprintf("unknown key %q; allowed keys are %s", name, strings.Join(allowed, ", "))
			if s := suggest(name, allowed); s != "" {
				msg += fmt.Sprintf(" (did you mean %q?)", s)
			}
			d.errorf(f.key, join(path, name), ErrUnknownField, "%s", msg)
			continue
		}
		if prev, ok := o.fields[name]; ok {
			if isOwnKey(n, f.key) {
				d.errorf(f.key, join(path, name), ErrDuplicate, "key %q is given twice (first at line %d); keep one", name, prev.key.Line)
			}
			continue // a merged key never overrides one written in the mapping
		}
		o.fields[name] = f
	}
	return o, true
}

// isOwnKey reports whether key is written in mapping n itself (not merged).
func isOwnKey(n, key *yaml.Node) bool {
	for i := 0; i < len(n.Content); i += 2 {
		if n.Content[i] == key {
			return true
		}
	}
	return false
}

// get returns the value of key, or nil if it is absent or null.
func (o *object) get(key string) *yaml.Node {
	f, ok := o.fields[key]
	if !ok {
		return nil
	}
	v := o.d.resolve(f.value)
	if isNull(v) {
		return nil
	}
	return v
}

// require returns the value of key, or records that it is missing.
func (o *object) require(key, want string) *yaml.Node {
	if v := o.get(key); v != nil {
		return v
	}
	if f, ok := o.fields[key]; ok {
		o.d.errorf(f.key, join(o.path, key), ErrMissingField, "is empty; want %s", want)
	} else {
		o.d.errorf(o.node, join(o.path, key), ErrMissingField, "missing; want %s", want)
	}
	return nil
}

// str returns a scalar's text. Numbers and booleans are taken as written.
func (d *decoder) str(n *yaml.Node, path, want string) (string, bool) {
	if n.Kind != yaml.ScalarNode {
		d.errorf(n, path, ErrInvalidValue, "is %s; want %s", describe(n), want)
		return "", false
	}
	return n.Value, true
}

func (d *decoder) boolean(n *yaml.Node, path string) bool {
	if n.Kind != yaml.ScalarNode || n.Tag != "!!bool" {
		if _, err := strconv.ParseBool(n.Value); err == nil && n.Kind == yaml.ScalarNode && n.Style&(yaml.DoubleQuotedStyle|yaml.SingleQuotedStyle) != 0 {
			d.errorf(n, path, ErrInvalidValue, "is the quoted string %s; want true or false, without quotes", describe(n))
			return false
		}
		d.errorf(n, path, ErrInvalidValue, "is %s; want true or false", describe(n))
		return false
	}
	b, _ := strconv.ParseBool(n.Value)
	return b
}

// list returns the items of a sequence.
func (d *decoder) list(n *yaml.Node, path, want string) ([]*yaml.Node, bool) {
	n = d.resolve(n)
	if n == nil {
		return nil, false
	}
	if n.Kind != yaml.SequenceNode {
		d.errorf(n, path, ErrInvalidValue, "is %s; want a list of %s (e.g. [a, b] or one \"- item\" per line)", describe(n), want)
		return nil, false
	}
	items := make([]*yaml.Node, 0, len(n.Content))
	for _, item := range n.Content {
		item = d.resolve(item)
		if item == nil {
			return nil, false
		}
		items = append(items, item)
	}
	return items, true
}

// suggest returns the allowed key closest to name, if it is close enough
// to be a likely typo.
func suggest(name string, allowed []string) string {
	best, bestDist := "", 3
	for _, a := range allowed {
		if strings.EqualFold(a, name) {
			return a
		}
		if dist := textdist.Levenshtein(strings.ToLower(name), strings.ToLower(a)); dist < bestDist {
			best, bestDist = a, dist
		}
	}
	return best
}
