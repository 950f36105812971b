package main

import (
	"bytes"
	"strconv"
	"strings"
)

// requestScanner counts the HTTP/1.1 requests on the client's side of a
// connection from the bytes as they pass, parsing only the request lines,
// the headers and the chunk sizes of chunked bodies: body bytes are
// skipped by count, never copied. The proxy carries hundreds of MiB of
// uploads per trial, and the harness's CPU is taken from the tools it
// measures (a full HTTP parser behind a pipe cost the proxies about a
// third of their time). It stops counting at the first thing it cannot
// parse.
type requestScanner struct {
	count func(method string) // called for each request line

	state   scanState
	line    []byte // the line being read (request line, header, chunk size)
	skip    int64  // body bytes left to skip (scanBody, scanChunk)
	first   bool   // the next header line is the request line
	length  int64  // Content-Length of the request being read
	chunked bool   // its body is chunked
}

type scanState int

const (
	scanHeaders   scanState = iota // request line and headers, up to the blank line
	scanBody                       // a body of Content-Length bytes
	scanChunkSize                  // a chunk-size line
	scanChunk                      // a chunk's data
	scanChunkEnd                   // the CRLF after a chunk's data
	scanTrailer                    // trailer lines after the last chunk, up to the blank line
	scanDead                       // something not parsed: count no more
)

// maxLine bounds a request line, header or chunk-size line.
const maxLine = 64 << 10

func newRequestScanner(count func(method string)) *requestScanner {
	return &requestScanner{count: count, first: true}
}

// Write scans p; it never fails (the proxy forwards the bytes either way).
func (s *requestScanner) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 && s.state != scanDead {
		switch s.state {
		case scanBody, scanChunk:
			k := min(int64(len(p)), s.skip)
			p, s.skip = p[k:], s.skip-k
			if s.skip == 0 {
				if s.state == scanBody {
					s.reset()
				} else {
					s.state = scanChunkEnd
				}
			}
		default:
			i := bytes.IndexByte(p, '\n')
			if i < 0 {
				s.line = append(s.line, p...)
				p = nil
				if len(s.line) > maxLine {
					s.state = scanDead
				}
				continue
			}
			s.line = append(s.line, p[:i]...)
			p = p[i+1:]
			if len(s.line) > maxLine {
				s.state = scanDead
				continue
			}
			line := strings.TrimSuffix(string(s.line), "\r")
			s.line = s.line[:0]
			s.endLine(line)
		}
	}
	return n, nil
}

// endLine handles one complete line.
func (s *requestScanner) endLine(line string) {
	switch s.state {
	case scanHeaders:
		switch {
		case s.first && line == "":
			// Blank lines between requests are tolerated (RFC 9112 §2.2).
		case s.first:
			method, _, ok := strings.Cut(line, " ")
			if !ok || method == "" || strings.TrimLeft(method, "ABCDEFGHIJKLMNOPQRSTUVWXYZ") != "" {
				s.state = scanDead
				return
			}
			s.count(method)
			s.first = false
		case line == "":
			switch {
			case s.chunked:
				s.state = scanChunkSize
			case s.length > 0:
				s.state, s.skip = scanBody, s.length
			default:
				s.reset()
			}
		default:
			name, value, ok := strings.Cut(line, ":")
			if !ok {
				s.state = scanDead
				return
			}
			value = strings.TrimSpace(value)
			switch strings.ToLower(strings.TrimSpace(name)) {
			case "content-length":
				n, err := strconv.ParseInt(value, 10, 64)
				if err != nil || n < 0 {
					s.state = scanDead
					return
				}
				s.length = n
			case "transfer-encoding":
				s.chunked = strings.EqualFold(value, "chunked") || strings.HasSuffix(strings.ToLower(value), ",chunked") || strings.HasSuffix(strings.ToLower(value), ", chunked")
			}
		}
	case scanChunkSize:
		size, _, _ := strings.Cut(line, ";") // chunk extensions
		n, err := strconv.ParseInt(strings.TrimSpace(size), 16, 64)
		switch {
		case err != nil || n < 0:
			s.state = scanDead
		case n == 0:
			s.state = scanTrailer
		default:
			s.state, s.skip = scanChunk, n
		}
	case scanChunkEnd:
		if line != "" {
			s.state = scanDead
			return
		}
		s.state = scanChunkSize
	case scanTrailer:
		if line == "" {
			s.reset()
		}
	}
}

// reset readies the scanner for the next request.
func (s *requestScanner) reset() {
	s.state, s.first, s.length, s.chunked, s.skip = scanHeaders, true, 0, false, 0
}
