package main

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestScheduleArrival(t *testing.T) {
	t.Parallel()
	t0 := time.Unix(1000, 0)
	ms := func(n float64) time.Time { return t0.Add(time.Duration(n * float64(time.Millisecond))) }
	tests := []struct {
		name  string
		link  link
		reads []struct {
			at float64 // ms after t0
			n  int
		}
		want []time.Time
	}{
		{
			name: "unshaped: only the delay",
			link: link{delay: 40 * time.Millisecond},
			reads: []struct {
				at float64
				n  int
			}{{0, 1 << 20}, {1, 1 << 20}},
			want: []time.Time{ms(40), ms(41)},
		},
		{
			// 50 MB/s: 50,000 bytes take 1 ms on the link.
			name: "back to back chunks queue behind each other",
			link: link{delay: 40 * time.Millisecond, rate: 50e6},
			reads: []struct {
				at float64
				n  int
			}{{0, 50000}, {0, 50000}, {0.5, 100000}},
			want: []time.Time{ms(41), ms(42), ms(44)},
		},
		{
			name: "an idle link starts afresh",
			link: link{delay: 10 * time.Millisecond, rate: 1e6},
			reads: []struct {
				at float64
				n  int
			}{{0, 1000}, {100, 2000}},
			want: []time.Time{ms(11), ms(112)},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := schedule{link: tt.link}
			for i, r := range tt.reads {
				if got := s.arrival(ms(r.at), r.n); !got.Equal(tt.want[i]) {
					t.Errorf("read %d: arrival at %s, want %s", i, got.Sub(t0), tt.want[i].Sub(t0))
				}
			}
		})
	}
}

// TestShaperDelaysPacesAndCounts sends requests through a real proxy. The
// lower bounds follow from the configured numbers (no shaping can beat
// them); the upper bounds are generous, for a loaded machine.
func TestShaperDelaysPacesAndCounts(t *testing.T) {
	const body = 2 << 20
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, _ := io.Copy(io.Discard, r.Body)
		if r.Method == http.MethodGet {
			_, _ = w.Write(bytes.Repeat([]byte{'x'}, body))
			return
		}
		w.Header().Set("X-Got", http.StatusText(http.StatusOK))
		_, _ = io.WriteString(w, strings.Repeat("y", int(n%7)))
	}))
	defer srv.Close()
	delay := 20 * time.Millisecond
	up := link{delay: delay}
	down := link{delay: delay, rate: 20e6} // 2 MiB take 105 ms
	p, err := startShaper("test", strings.TrimPrefix(srv.URL, "http://"), up, down)
	if err != nil {
		t.Fatal(err)
	}
	defer p.stop()
	client := &http.Client{Transport: &http.Transport{}}
	url := "http://" + p.addr() + "/v2/"

	start := time.Now()
	resp, err := client.Head(url)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	rtt := time.Since(start)
	if rtt < 2*delay || rtt > 2*delay+time.Second {
		t.Errorf("HEAD took %s, want one round trip of %s (and at most a second more)", rtt, 2*delay)
	}

	start = time.Now()
	resp, err = client.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	n, err := io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if err != nil || n != body {
		t.Fatalf("GET read %d bytes (%v), want %d", n, err, body)
	}
	took := time.Since(start)
	least := 2*delay + time.Duration(float64(body)/down.rate*float64(time.Second))
	if took < least || took > least+2*time.Second {
		t.Errorf("GET of %d bytes at %.0f MB/s took %s, want at least %s (and at most 2 s more)", body, down.rate/1e6, took, least)
	}

	for range 3 {
		resp, err := client.Post(url, "application/octet-stream", bytes.NewReader(make([]byte, 100<<10)))
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	// A chunked body (a streamed upload) is skipped as well.
	req, _ := http.NewRequest(http.MethodPut, url, io.MultiReader(bytes.NewReader(make([]byte, 300<<10)), strings.NewReader("end")))
	req.ContentLength = -1
	resp, err = client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	want := map[string]int64{"HEAD": 1, "GET": 1, "POST": 3, "PUT": 1}
	got := p.counts()
	for m, w := range want {
		if got[m] != w {
			t.Errorf("proxy counted %d %s requests, want %d (all: %v)", got[m], m, w, got)
		}
	}
	if d := diffCounts(map[string]int64{"POST": 1}, got); d.total() != 5 {
		t.Errorf("diffCounts = %v (total %d), want 5 requests after one POST", d, d.total())
	}
}

// The link holds back a sender by the bytes on their way, not by the
// chunks: short reads (a socket hands over what it has) fill it as far as
// full ones do, and a chunk past the bound waits until a written one gives
// its room back.
func TestOnLinkBoundsBytesNotChunks(t *testing.T) {
	q := newOnLink(64 << 10)
	for i := range 64 {
		q.put(held{data: q.buffer()[:1<<10]}) // would block if the link counted chunks
		if got := q.bytes; got != (i+1)<<10 {
			t.Fatalf("after %d chunks of 1 KiB, %d bytes on the link", i+1, got)
		}
	}
	queued := make(chan struct{})
	go func() {
		q.put(held{data: q.buffer()[:1<<10]})
		close(queued)
	}()
	select {
	case <-queued:
		t.Fatal("a chunk past the link's 64 KiB went on at once")
	case <-time.After(50 * time.Millisecond):
	}
	h, ok := q.next()
	if !ok {
		t.Fatal("the link gave no chunk")
	}
	q.done(h)
	select {
	case <-queued:
	case <-time.After(10 * time.Second):
		t.Fatal("the chunk past the bound did not go on once a written chunk gave its room back")
	}
	if b := q.buffer(); len(b) != chunkBytes {
		t.Errorf("a reused buffer has %d bytes, want %d", len(b), chunkBytes)
	}
	q.close()
	for range 64 {
		if _, ok := q.next(); !ok {
			t.Fatal("a closed link lost the chunks still on it")
		}
	}
	if _, ok := q.next(); ok {
		t.Error("a closed, empty link gave a chunk")
	}
	// A short read's copy is not kept as a chunk buffer once written.
	short := newOnLink(64 << 10)
	short.put(held{data: make([]byte, 10)})
	h, _ = short.next()
	short.done(h)
	if len(short.free) != 0 || short.bytes != 0 {
		t.Errorf("after a 10-byte copy was written: %d buffers kept, %d bytes on the link; want 0 and 0", len(short.free), short.bytes)
	}
}
