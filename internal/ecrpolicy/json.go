package ecrpolicy

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
)

// A document is parsed into a tree of values that keep their byte offsets
// (encoding/json's Unmarshal keeps none), with json.Decoder's tokens.

type kind int

const (
	object kind = iota + 1
	array
	str
	number
	boolean
	null
)

type value struct {
	kind    kind
	off     int // byte offset of the value's first character
	s       string
	n       json.Number
	b       bool
	members []member // object, in order, keys given twice included
	items   []*value // array
}

type member struct {
	key    string
	keyOff int
	val    *value
}

// describe names a value's type for messages.
func (v *value) describe() string {
	switch v.kind {
	case object:
		return "an object"
	case array:
		return "a list"
	case str:
		return fmt.Sprintf("the string %q", v.s)
	case number:
		return "the number " + v.n.String()
	case boolean:
		return strconv.FormatBool(v.b)
	}
	return "null"
}

// integer returns a number written as an integer (no fraction, no
// exponent) that fits in 64 bits.
func (v *value) integer() (int64, bool) {
	if v.kind != number {
		return 0, false
	}
	n, err := strconv.ParseInt(v.n.String(), 10, 64)
	return n, err == nil
}

// syntaxError is a text that is not one JSON value.
type syntaxError struct {
	off int
	msg string
}

func (e *syntaxError) Error() string { return e.msg }

type parser struct {
	src []byte
	dec *json.Decoder
}

// parse reads text as exactly one JSON value.
func parse(text string) (*value, error) {
	p := &parser{src: []byte(text)}
	p.dec = json.NewDecoder(bytes.NewReader(p.src))
	p.dec.UseNumber()
	v, err := p.value()
	if err != nil {
		return nil, err
	}
	off := p.next()
	if _, err := p.dec.Token(); !errors.Is(err, io.EOF) {
		return nil, &syntaxError{off: off, msg: fmt.Sprintf("text after the end of the JSON value (at byte %d)", off)}
	}
	return v, nil
}

// next returns the offset of the next token: the decoder's offset is the
// end of the last one, before any space, comma or colon.
func (p *parser) next() int {
	off := int(p.dec.InputOffset())
	for off < len(p.src) {
		switch p.src[off] {
		case ' ', '\t', '\r', '\n', ',', ':':
			off++
			continue
		}
		break
	}
	return off
}

func (p *parser) fail(off int, err error) error {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return &syntaxError{off: int(se.Offset), msg: fmt.Sprintf("%v (at byte %d)", se, se.Offset)}
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return &syntaxError{off: len(p.src), msg: "the text ends before the JSON value does"}
	}
	return &syntaxError{off: off, msg: err.Error()}
}

func (p *parser) value() (*value, error) {
	off := p.next()
	tok, err := p.dec.Token()
	if err != nil {
		return nil, p.fail(off, err)
	}
	v := &value{off: off}
	switch t := tok.(type) {
	case json.Delim:
		switch t {
		case '{':
			v.kind = object
			for p.dec.More() {
				koff := p.next()
				k, err := p.dec.Token()
				if err != nil {
					return nil, p.fail(koff, err)
				}
				key, ok := k.(string)
				if !ok {
					return nil, &syntaxError{off: koff, msg: fmt.Sprintf("an object key is not a string (at byte %d)", koff)}
				}
				val, err := p.value()
				if err != nil {
					return nil, err
				}
				v.members = append(v.members, member{key: key, keyOff: koff, val: val})
			}
		case '[':
			v.kind = array
			for p.dec.More() {
				item, err := p.value()
				if err != nil {
					return nil, err
				}
				v.items = append(v.items, item)
			}
		default:
			return nil, &syntaxError{off: off, msg: fmt.Sprintf("unexpected %q (at byte %d)", rune(t), off)}
		}
		end := p.next()
		if _, err := p.dec.Token(); err != nil { // the closing delimiter
			return nil, p.fail(end, err)
		}
	case string:
		v.kind, v.s = str, t
	case json.Number:
		v.kind, v.n = number, t
	case bool:
		v.kind, v.b = boolean, t
	case nil:
		v.kind = null
	}
	return v, nil
}

// document parses text and checks that it is a JSON object; otherwise it
// records the problem and returns nil.
func (c *checker) document(text, want string) *value {
	v, err := parse(text)
	if err != nil {
		var se *syntaxError
		off := 0
		if errors.As(err, &se) {
			off = se.off
		}
		c.refuse(Syntax, "", off, "is not valid JSON: %v; want %s", err, want)
		return nil
	}
	if v.kind != object {
		c.refuse(Syntax, "", v.off, "is %s; want %s", v.describe(), want)
		return nil
	}
	return v
}
