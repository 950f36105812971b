package imagecopy

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// DefaultRegistryRequests bounds the requests a Copier has in flight to one
// registry, over all its copies at once: the most the adaptive window
// (see gate) grows to.
const DefaultRegistryRequests = 32

// throttlePause is how long every request to a registry waits after one of
// them was throttled (429) without a Retry-After; maxThrottlePause caps a
// Retry-After (as DefaultBackoff caps one wait), so that a registry or
// proxy asking for an hour does not stop every copy for an hour.
const (
	throttlePause    = time.Second
	maxThrottlePause = 20 * time.Second
)

// gates hold one gate per registry host, shared by every copy of a Copier.
type gates struct {
	mu    sync.Mutex
	limit int
	m     map[string]*gate
	after func(time.Duration) <-chan time.Time // time.After; tests replace it
}

func (g *gates) get(host string) *gate {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.m == nil {
		g.m = map[string]*gate{}
	}
	gt, ok := g.m[host]
	if !ok {
		after := g.after
		if after == nil {
			after = time.After
		}
		gt = newGate(g.limit, after)
		g.m[host] = gt
	}
	return gt
}

// gate bounds one registry's requests in flight and holds all of them back
// while the registry is throttling: when one request is answered 429, the
// others wait out the same pause instead of each finding out for itself
// (ECR's quotas, PutImage at 10 TPS say, are per registry, not per request).
//
// The bound adapts, AIMD as TCP's window does: it starts at
// startRequests (or the limit, if lower), grows by one for each window's
// worth of requests answered, up to the limit (WithRegistryRequests), and
// halves on a 429, at most once for the requests that were in flight
// then: their 429s tell of the same burst. So a registry throttling past
// its rate (ECR's PutImage 10 TPS, InitiateLayerUpload 100 TPS) soon gets
// about as many requests at once as it takes, and a fast one the limit.
// Only requests are counted, never time.
type gate struct {
	after func(time.Duration) <-chan time.Time

	mu       sync.Mutex
	until    time.Time // no request starts before then
	max      int       // the limit
	window   float64   // requests that may be in flight now, 1 to max
	inFlight int
	wake     chan struct{} // closed (and replaced) when a request may go
	// After a cut, the answers still due to the requests then in flight
	// (guard), and the answers since (answers): a 429 cuts again only once
	// answers exceeds guard.
	guard, answers int

	// chunkedOnly is set once the registry has refused a blob in a single
	// PUT: later blobs go as a PATCH and a committing PUT.
	chunkedOnly atomic.Bool

	// firstPause is closed when the registry is first throttled, for
	// tests to wait on instead of polling.
	firstPause chan struct{}
	pauseOnce  sync.Once
}

// startRequests is where a registry's window starts: enough for an
// image's checks to go in one round trip, well under what ECR takes.
const startRequests = 16

func newGate(limit int, after func(time.Duration) <-chan time.Time) *gate {
	limit = max(limit, 1)
	return &gate{after: after, max: limit, window: float64(min(limit, startRequests)), wake: make(chan struct{}), firstPause: make(chan struct{})}
}

// enter waits for the registry's pause to end and for room in its window;
// leave gives the room back.
func (g *gate) enter(ctx context.Context) error {
	for {
		g.mu.Lock()
		wait := time.Until(g.until)
		if wait <= 0 && g.inFlight < int(g.window) {
			g.inFlight++
			g.mu.Unlock()
			return nil
		}
		wake := g.wake
		g.mu.Unlock()
		var paused <-chan time.Time
		if wait > 0 {
			paused = g.after(wait)
		}
		select {
		case <-paused:
		case <-wake:
		case <-ctx.Done():
			return context.Cause(ctx)
		}
	}
}

// leave ends a request, answered: the window grows by one for each
// window's worth of answers (a 429 then cuts it, in throttled).
func (g *gate) leave() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.inFlight--
	g.answers++
	if g.window < float64(g.max) {
		g.window = min(g.window+1/g.window, float64(g.max))
	}
	g.signal()
}

// signal wakes every waiter, to try again. g.mu is held.
func (g *gate) signal() {
	close(g.wake)
	g.wake = make(chan struct{})
}

// throttled halves the window (see gate) and holds every request to the
// registry back for d (at least throttlePause, at most maxThrottlePause)
// from now. It is called after leave, for a request answered 429.
func (g *gate) throttled(d time.Duration) {
	d = min(max(d, throttlePause), maxThrottlePause)
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.answers > g.guard {
		g.window = max(g.window/2, 1)
		g.guard, g.answers = g.inFlight, 0
	}
	if until := time.Now().Add(d); until.After(g.until) {
		g.until = until
	}
	g.signal()
	g.pauseOnce.Do(func() { close(g.firstPause) })
}

// size is the window now, for tests and logs.
func (g *gate) size() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return int(g.window)
}

// startJobs is where a Copy's window of blob streams starts (or at
// WithJobs, if lower).
const startJobs = 8

// streams bounds one Copy's blob streams, between 1 and WithJobs at once.
// It starts at startJobs and adapts, AIMD: when a stream's last byte is
// sent and the copy's rate (bytes sent since the first stream began) has
// risen by a tenth since the window last grew, it grows by one; a stream
// a destination refused for throttling (429, 503) halves it. Memory
// follows the window: two chunks a stream.
type streams struct {
	now func() time.Time

	mu       sync.Mutex
	window   int
	max      int
	inFlight int
	wake     chan struct{}
	began    time.Time // the first stream's start
	sent     int64     // bytes of the streams ended
	rate     float64   // bytes a second when the window last grew
}

func newStreams(jobs int, now func() time.Time) *streams {
	jobs = max(jobs, 1)
	return &streams{now: now, window: min(startJobs, jobs), max: jobs, wake: make(chan struct{})}
}

// acquire waits for room in the window.
func (s *streams) acquire(ctx context.Context) error {
	for {
		s.mu.Lock()
		if s.inFlight < s.window {
			s.inFlight++
			if s.began.IsZero() {
				s.began = s.now()
			}
			s.mu.Unlock()
			return nil
		}
		wake := s.wake
		s.mu.Unlock()
		select {
		case <-wake:
		case <-ctx.Done():
			return context.Cause(ctx)
		}
	}
}

// release ends a stream that sent n bytes, and grows the window if the
// copy's rate has risen since it last grew.
func (s *streams) release(n int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.inFlight--
	s.sent += n
	if elapsed := s.now().Sub(s.began).Seconds(); elapsed > 0 && n > 0 {
		if rate := float64(s.sent) / elapsed; rate > s.rate*1.1 {
			s.rate = rate
			s.window = min(s.window+1, s.max)
		}
	}
	close(s.wake)
	s.wake = make(chan struct{})
}

// throttled halves the window: a destination refused a stream for load.
func (s *streams) throttled() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.window = max(s.window/2, 1)
	s.rate = 0 // grow again from what the smaller window does
}

// size is the window now, for tests and logs.
func (s *streams) size() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.window
}
