package main

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"slices"
	"strings"
	"sync"
	"time"
)

// link is one direction of a modelled network path: every byte arrives
// delay after it was sent, and a connection carries at most rate bytes a
// second in that direction (0: no limit, as on loopback).
type link struct {
	delay time.Duration
	rate  float64 // bytes a second, per connection
}

func (l link) String() string {
	if l.rate <= 0 {
		return fmt.Sprintf("%s one way, unshaped", l.delay)
	}
	return fmt.Sprintf("%s one way, %.0f MB/s per connection", l.delay, l.rate/1e6)
}

// schedule is the shaping math of one direction of one connection: a chunk
// read at now leaves the sender once the chunks before it have (the link
// serialises n bytes in n/rate seconds) and arrives delay later. It holds
// no clock, so tests drive it with times of their own.
type schedule struct {
	link
	free time.Time // when the link has sent everything before
}

// arrival returns when a chunk of n bytes read at now reaches the other side.
func (s *schedule) arrival(now time.Time, n int) time.Time {
	if s.rate <= 0 {
		return now.Add(s.delay)
	}
	start := now
	if s.free.After(start) {
		start = s.free
	}
	s.free = start.Add(time.Duration(float64(n) / s.rate * float64(time.Second)))
	return s.free.Add(s.delay)
}

// shaper is a TCP proxy in front of one registry that delays and paces
// each connection's bytes per its links, as a registry in another region
// would be seen, and counts the HTTP requests sent through it. Connection
// set-up is not delayed: the proxy accepts at once (as if connections were
// kept alive from an earlier call, or resumed), so a real first request
// costs one round trip more for TCP, and another for TLS, than here.
type shaper struct {
	name     string
	ln       net.Listener
	target   string // the registry's own address
	up, down link   // client to registry, registry to client

	// encrypted: the client speaks TLS, so its requests cannot be read:
	// the proxy counts connections instead, under "connections".
	encrypted bool

	mu       sync.Mutex
	requests map[string]int64 // by method, since the proxy started
	conns    map[net.Conn]bool
	wg       sync.WaitGroup
}

// chunkBytes is the most the proxy reads and releases at once; at 50 MB/s
// it is 2.6 ms of the link's time, well under a 40 ms delay, and few
// enough system calls that the proxy's CPU does not crowd the machine.
const chunkBytes = 128 << 10

// startShaper listens on a free loopback port and forwards every
// connection to target, shaped per up and down.
func startShaper(name, target string, up, down link) (*shaper, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("listen for the %s proxy: %w", name, err)
	}
	s := &shaper{name: name, ln: ln, target: target, up: up, down: down, requests: map[string]int64{}, conns: map[net.Conn]bool{}}
	s.wg.Go(s.serve)
	return s, nil
}

func (s *shaper) addr() string { return s.ln.Addr().String() }

func (s *shaper) serve() {
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return // closed
		}
		s.wg.Go(func() { s.handle(c) })
	}
}

// track adds (or removes) a connection to close on stop.
func (s *shaper) track(c net.Conn, on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if on {
		s.conns[c] = true
	} else {
		delete(s.conns, c)
	}
}

func (s *shaper) handle(client net.Conn) {
	defer client.Close()
	server, err := net.Dial("tcp", s.target)
	if err != nil {
		return // the registry is restarting: the client sees a closed connection
	}
	defer server.Close()
	s.track(client, true)
	s.track(server, true)
	defer s.track(client, false)
	defer s.track(server, false)
	var observe io.Writer
	if s.encrypted {
		s.countRequest(connections)
	} else {
		observe = newRequestScanner(s.countRequest)
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		s.pipe(server, client, s.up, observe)
		closeWrite(server)
	})
	s.pipe(client, server, s.down, nil)
	closeWrite(client)
	wg.Wait()
}

func closeWrite(c net.Conn) {
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.CloseWrite()
	}
}

// held is a chunk on its way, and when it arrives.
type held struct {
	data []byte
	at   time.Time
}

// onLink is the chunks on their way along one direction of a connection,
// bounded in bytes (not in chunks: a read returns what the socket has, and
// short reads must not shrink what the link carries), with their buffers
// kept for reuse, so that the proxy's CPU goes to moving bytes rather than
// to clearing and collecting buffers.
type onLink struct {
	mu     sync.Mutex
	cond   sync.Cond
	queue  []held
	bytes  int // the chunks' bytes, queued or being written
	limit  int
	closed bool
	free   [][]byte
}

func newOnLink(limit int) *onLink {
	q := &onLink{limit: limit}
	q.cond.L = &q.mu
	return q
}

// buffer returns an empty chunk buffer.
func (q *onLink) buffer() []byte {
	q.mu.Lock()
	defer q.mu.Unlock()
	if n := len(q.free); n > 0 {
		b := q.free[n-1]
		q.free = q.free[:n-1]
		return b
	}
	return make([]byte, chunkBytes)
}

// put queues a chunk once the link has room for it (a chunk bigger than
// the room left goes when the link is empty).
func (q *onLink) put(h held) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for q.bytes > 0 && q.bytes+len(h.data) > q.limit {
		q.cond.Wait()
	}
	q.queue = append(q.queue, h)
	q.bytes += len(h.data)
	q.cond.Broadcast()
}

// close says no more chunks come.
func (q *onLink) close() {
	q.mu.Lock()
	q.closed = true
	q.cond.Broadcast()
	q.mu.Unlock()
}

// next waits for the next chunk; ok is false once the link is closed and
// empty.
func (q *onLink) next() (h held, ok bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for len(q.queue) == 0 && !q.closed {
		q.cond.Wait()
	}
	if len(q.queue) == 0 {
		return held{}, false
	}
	h = q.queue[0]
	q.queue[0] = held{}
	q.queue = q.queue[1:]
	return h, true
}

// done gives a written chunk's room and buffer back.
func (q *onLink) done(h held) {
	q.mu.Lock()
	q.bytes -= len(h.data)
	if cap(h.data) == chunkBytes {
		q.free = append(q.free, h.data[:chunkBytes])
	}
	q.cond.Broadcast()
	q.mu.Unlock()
}

// pipe copies src to dst through the link l. A reader puts each chunk on
// the link as it comes; a writer hands it on at its arrival time. The
// bytes in flight are bounded (the link's bandwidth-delay product, and
// room for the chunks being read, serialised and written besides, so that
// the bound never holds a connection under its rate), so a sender faster
// than the link is held back by TCP, as on a real path. observe, if set,
// sees every byte as it is read (in the reader, so it must be cheap).
func (s *shaper) pipe(dst, src net.Conn, l link, observe io.Writer) {
	inFlight := 8 * chunkBytes
	if l.rate > 0 {
		inFlight += int(l.rate * l.delay.Seconds())
	} else {
		inFlight = 4 << 20
	}
	q := newOnLink(inFlight)
	go func() {
		defer q.close()
		sched := schedule{link: l}
		for {
			buf := q.buffer()
			n, err := src.Read(buf)
			if n > 0 {
				if observe != nil {
					_, _ = observe.Write(buf[:n])
				}
				data := buf[:n]
				if n < chunkBytes/4 {
					// A short read travels in a copy its size, and the
					// buffer goes back for the next: the link's bound is
					// on bytes, so short reads holding whole buffers
					// would let its memory grow with their number.
					data = bytes.Clone(data)
					q.done(held{data: buf[:0]})
				}
				q.put(held{data: data, at: sched.arrival(time.Now(), n)})
			}
			if err != nil {
				return
			}
		}
	}()
	failed := false
	var timer *time.Timer
	for {
		h, ok := q.next()
		if !ok {
			return
		}
		if !failed {
			if d := time.Until(h.at); d > 0 {
				if timer == nil {
					timer = time.NewTimer(d)
				} else {
					timer.Reset(d)
				}
				<-timer.C
			}
			if _, err := dst.Write(h.data); err != nil {
				failed = true
				src.Close() // stop the reader: nobody takes these bytes
			}
		}
		q.done(h) // drained, once failed, so the reader ends when src does
	}
}

// connections is what an encrypted proxy counts (for requests' methods).
const connections = "connections"

// countRequest counts one request the client sent.
func (s *shaper) countRequest(method string) {
	s.mu.Lock()
	s.requests[method]++
	s.mu.Unlock()
}

// counts returns the requests counted so far, by method.
func (s *shaper) counts() map[string]int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]int64, len(s.requests))
	for k, v := range s.requests {
		out[k] = v
	}
	return out
}

// stop closes the listener and every connection, and waits for them.
func (s *shaper) stop() {
	_ = s.ln.Close()
	s.mu.Lock()
	for c := range s.conns {
		_ = c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
}

// requestCounts is the requests a step sent, by method.
type requestCounts map[string]int64

func (r requestCounts) total() int64 {
	var n int64
	for _, v := range r {
		n += v
	}
	return n
}

// String lists the counts by method, in a fixed order: "HEAD 12, GET 3".
func (r requestCounts) String() string {
	methods := make([]string, 0, len(r))
	for m := range r {
		methods = append(methods, m)
	}
	order := map[string]int{"HEAD": 0, "GET": 1, "POST": 2, "PATCH": 3, "PUT": 4, "DELETE": 5}
	slices.SortFunc(methods, func(a, b string) int {
		oa, oka := order[a]
		ob, okb := order[b]
		switch {
		case oka && okb:
			return oa - ob
		case oka != okb:
			if oka {
				return -1
			}
			return 1
		}
		return strings.Compare(a, b)
	})
	parts := make([]string, len(methods))
	for i, m := range methods {
		parts[i] = fmt.Sprintf("%s %d", m, r[m])
	}
	return strings.Join(parts, ", ")
}

// diff is what after counted that before had not.
func diffCounts(before, after map[string]int64) requestCounts {
	out := requestCounts{}
	for k, v := range after {
		if d := v - before[k]; d > 0 {
			out[k] = d
		}
	}
	return out
}

// A step's count is complete once its commands have exited: a request is
// counted when its header is read, before it is forwarded, so well before
// the tool can see the answer.
