package main

import (
	"strings"
	"testing"
)

func TestRequestScanner(t *testing.T) {
	chunkedBody := "5;ext=1\r\nhello\r\n3\r\n\r\n\n\r\n0\r\nX-Trailer: yes\r\n\r\n"
	stream := "HEAD /v2/a/manifests/v1 HTTP/1.1\r\nHost: x\r\n\r\n" +
		"PUT /v2/a/blobs/uploads/1?digest=sha256:x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" + chunkedBody +
		"POST /v2/a/blobs/uploads/ HTTP/1.1\r\nContent-Length: 12\r\n\r\nGET / HTTP/1" + // a body that looks like a request
		"\r\nPATCH /v2/a/blobs/uploads/2 HTTP/1.1\r\ncontent-length: 0\r\n\r\n" +
		"GET /v2/ HTTP/1.1\r\n\r\n"
	want := map[string]int{"HEAD": 1, "PUT": 1, "POST": 1, "PATCH": 1, "GET": 1}
	for _, step := range []int{1, 7, 64, len(stream)} {
		got := map[string]int{}
		s := newRequestScanner(func(m string) { got[m]++ })
		for rest := stream; rest != ""; {
			n := min(step, len(rest))
			if k, err := s.Write([]byte(rest[:n])); k != n || err != nil {
				t.Fatalf("Write = %d, %v; want %d, nil", k, err, n)
			}
			rest = rest[n:]
		}
		if len(got) != len(want) {
			t.Errorf("fed %d bytes at a time: counted %v, want %v", step, got, want)
			continue
		}
		for m, n := range want {
			if got[m] != n {
				t.Errorf("fed %d bytes at a time: counted %v, want %v", step, got, want)
				break
			}
		}
	}
}

// What is not HTTP/1.1 (TLS, say) is not counted, and nothing after what
// cannot be parsed is.
func TestRequestScannerStops(t *testing.T) {
	for name, stream := range map[string]string{
		"binary":          "\x16\x03\x01 \x02\x00\x01\x00\x01\xfc\x03\x03\r\nGET / HTTP/1.1\r\n\r\n",
		"bad length":      "PUT / HTTP/1.1\r\nContent-Length: x\r\n\r\nGET / HTTP/1.1\r\n\r\n",
		"bad chunk":       "PUT / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nGET / HTTP/1.1\r\n\r\n",
		"endless header":  "GET / HTTP/1.1\r\nX: " + strings.Repeat("a", maxLine+1) + "\r\n\r\nGET / HTTP/1.1\r\n\r\n",
		"header no colon": "GET / HTTP/1.1\r\nnonsense\r\n\r\nGET / HTTP/1.1\r\n\r\n",
	} {
		n := 0
		s := newRequestScanner(func(string) { n++ })
		_, _ = s.Write([]byte(stream))
		want := 1 // the request before what cannot be parsed
		if name == "binary" {
			want = 0
		}
		if n != want {
			t.Errorf("%s: counted %d requests, want %d", name, n, want)
		}
	}
}
