package imagecopy

import (
	"context"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestGateBoundsRequestsInFlight(t *testing.T) {
	t.Parallel()
	g := (&gates{limit: 2}).get("reg")
	ctx := context.Background()
	for range 2 {
		if err := g.enter(ctx); err != nil {
			t.Fatal(err)
		}
	}
	entered := make(chan struct{})
	go func() {
		_ = g.enter(ctx)
		close(entered)
	}()
	select {
	case <-entered:
		t.Fatal("a third request entered a gate of 2 with both slots taken")
	case <-time.After(50 * time.Millisecond):
	}
	g.leave()
	<-entered // a slot came free
}

func TestThrottledRegistryHoldsEveryRequestBack(t *testing.T) {
	t.Parallel()
	waits := make(chan time.Duration, 4)
	release := make(chan time.Time)
	gs := &gates{limit: 8, after: func(d time.Duration) <-chan time.Time {
		waits <- d
		return release
	}}
	g := gs.get("reg")
	g.throttled(5 * time.Second)
	entered := make(chan struct{})
	go func() {
		_ = g.enter(context.Background())
		close(entered)
	}()
	if d := <-waits; d < 4*time.Second || d > 5*time.Second {
		t.Errorf("waited %s, want the 5 s the registry asked for", d)
	}
	select {
	case <-entered:
		t.Fatal("a request went out while the registry was throttling")
	default:
	}
	g.mu.Lock()
	g.until = time.Time{} // the pause is over
	g.mu.Unlock()
	release <- time.Now()
	<-entered
	if other := gs.get("other"); other == g {
		t.Error("two registries share a gate")
	}
	// A pause shorter than throttlePause is stretched to it.
	g.throttled(0)
	g.mu.Lock()
	left := time.Until(g.until)
	g.mu.Unlock()
	if left < throttlePause/2 {
		t.Errorf("a 429 without Retry-After paused the registry for %s, want about %s", left, throttlePause)
	}
}

// TestA429PausesTheWholeRegistry: once the registry answers 429, no
// request of the Copier, from any of its copies, reaches it before the
// Retry-After has passed.
func TestA429PausesTheWholeRegistry(t *testing.T) {
	t.Parallel()
	src, dst := newTestRegistry(t, true), newTestRegistry(t, true)
	src.pushIndex("app", "v1", ociTypes, 2)
	src.pushIndex("web", "v1", ociTypes, 2)
	var throttledAt atomic.Int64
	var early atomic.Int32
	throttled := make(chan struct{})
	var once atomic.Bool
	dst.mu.Lock()
	dst.fault = func(w http.ResponseWriter, r *http.Request) bool {
		if at := throttledAt.Load(); at != 0 && time.Since(time.Unix(0, at)) < 900*time.Millisecond {
			early.Add(1)
			t.Logf("within the pause: %s %s", r.Method, r.URL.Path)
		}
		if strings.Contains(r.URL.Path, "/app/") && once.CompareAndSwap(false, true) {
			throttledAt.Store(time.Now().UnixNano())
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(http.StatusTooManyRequests)
			close(throttled)
			return true
		}
		return false
	}
	dst.mu.Unlock()
	c := testCopier()
	errs := make(chan error, 1)
	go func() {
		_, err := copyOne(t, c, src.ref("app:v1"), Destination{Ref: dst.ref("app:v1")})
		errs <- err
	}()
	<-throttled
	// The 429 is sent; wait until the client has read it and paused the
	// registry's gate.
	select {
	case <-c.gates.get(dst.host).firstPause:
	case <-time.After(waitFor):
		t.Fatal("the 429 did not pause the registry's gate")
	}
	// Another copy of the same Copier, to another repository of the
	// throttled registry, starts while the pause runs.
	if _, err := copyOne(t, c, src.ref("web:v1"), Destination{Ref: dst.ref("web:v1")}); err != nil {
		t.Fatal(err)
	}
	if err := <-errs; err != nil {
		t.Fatal(err)
	}
	if n := early.Load(); n > 0 {
		t.Errorf("%d requests reached the registry within its Retry-After of 1 s", n)
	}
}

// TestWindowBacksOffPastTheRegistrysRate drives a gate round by round
// against a registry that serves at most rate requests a round (a round
// trip) and answers the rest 429: the window is cut to about the rate,
// not below half of it for long, and the 429s fall to a few a round. Only
// requests are counted.
func TestWindowBacksOffPastTheRegistrysRate(t *testing.T) {
	t.Parallel()
	const rate = 5
	g := newGate(32, func(time.Duration) <-chan time.Time { return nil })
	if got := g.size(); got != startRequests {
		t.Fatalf("window starts at %d, want %d", got, startRequests)
	}
	var throttledLate, servedLate int
	for round := range 40 {
		// As many requests as the window lets through (the pause is the
		// registry's clock, not this test's: lifted each round).
		g.mu.Lock()
		g.until = time.Time{}
		n := int(g.window) - g.inFlight
		g.inFlight += n
		g.mu.Unlock()
		for i := range n {
			g.leave()
			if i >= rate {
				g.throttled(0)
				if round >= 20 {
					throttledLate++
				}
			} else if round >= 20 {
				servedLate++
			}
		}
		if w := g.size(); w < 1 || w > 32 {
			t.Fatalf("round %d: window %d outside 1..32", round, w)
		}
	}
	if w := g.size(); w > 2*rate {
		t.Errorf("window after 40 rounds = %d, want it cut near the registry's %d a round", w, rate)
	}
	// Once settled, most requests are served: AIMD probes past the rate
	// by one now and then, and backs off.
	if throttledLate*2 > servedLate {
		t.Errorf("in the last 20 rounds %d requests were throttled and %d served; want most served", throttledLate, servedLate)
	}
	// A registry that throttles no more gets the window back, up to the limit.
	for range 2000 {
		g.mu.Lock()
		g.inFlight++
		g.mu.Unlock()
		g.leave()
	}
	if w := g.size(); w != 32 {
		t.Errorf("window after 2000 answers without a 429 = %d, want the limit 32", w)
	}
}

// TestCopyBacksOffARegistryThrottlingPastItsRate: a registry that serves
// at most 4 requests at once and answers 429 to the others. The first wave
// of checks (an image of 20 layers: 22 at once) fills the window; the 4
// served wait until a 429 has been sent, so the fault fires whatever the
// scheduling. The copy completes, and the registry's window has been cut.
func TestCopyBacksOffARegistryThrottlingPastItsRate(t *testing.T) {
	t.Parallel()
	const rate = 4
	src, dst := newTestRegistry(t, true), newTestRegistry(t, true)
	body := src.pushImage("app", ociTypes, 51, 20, 512)
	m := src.pushManifest("app", "v1", mtOCIManifest, body)
	var inFlight, throttled atomic.Int32
	first429 := make(chan struct{})
	var once atomic.Bool
	dst.setFault(func(w http.ResponseWriter, r *http.Request) bool {
		n := inFlight.Add(1)
		defer inFlight.Add(-1)
		if n > rate {
			throttled.Add(1)
			if once.CompareAndSwap(false, true) {
				defer close(first429)
			}
			w.WriteHeader(http.StatusTooManyRequests)
			return true
		}
		if strings.Contains(r.URL.Path, "/blobs/sha256:") && r.Method == http.MethodHead {
			select {
			case <-first429:
			case <-time.After(10 * time.Second):
				t.Error("no 429 within 10 s: the checks did not go out at once")
			}
		}
		return false
	})
	c := testCopier()
	// Pauses cost nothing here: waiting one out ends it.
	c.gates.after = func(time.Duration) <-chan time.Time {
		g := c.gates.get(dst.host)
		g.mu.Lock()
		g.until = time.Time{}
		g.mu.Unlock()
		ch := make(chan time.Time, 1)
		ch <- time.Now()
		return ch
	}
	res, err := copyOne(t, c, src.ref("app:v1"), Destination{Ref: dst.ref("app:v1")})
	if err != nil {
		t.Fatal(err)
	}
	if throttled.Load() == 0 {
		t.Fatal("the registry throttled nothing: the fault did not fire")
	}
	if w := c.gates.get(dst.host).size(); w >= startRequests {
		t.Errorf("window after the copy = %d, want it cut below %d", w, startRequests)
	}
	if res[0].BlobsCopied != 21 || dst.manifestDigest("app", "v1") != m.Digest {
		t.Errorf("copied %d blobs, tag %q; want 21 and %s", res[0].BlobsCopied, dst.manifestDigest("app", "v1"), m.Digest)
	}
	t.Logf("429s: %d; window after: %d", throttled.Load(), c.gates.get(dst.host).size())
}

// TestStreamsGrowWhileTheRateGrows drives a Copy's stream window with its
// own clock: it starts at startJobs, grows while the rate rises, holds
// when it does not, halves on throttling and never passes the most.
func TestStreamsGrowWhileTheRateGrows(t *testing.T) {
	t.Parallel()
	now := time.Unix(1000, 0)
	s := newStreams(12, func() time.Time { return now })
	if got := s.size(); got != startJobs {
		t.Fatalf("window starts at %d, want %d", got, startJobs)
	}
	if got := newStreams(2, time.Now).size(); got != 2 {
		t.Errorf("window of a Copier with 2 jobs starts at %d, want 2", got)
	}
	ctx := context.Background()
	for range startJobs {
		if err := s.acquire(ctx); err != nil {
			t.Fatal(err)
		}
	}
	full, cancel := context.WithCancel(ctx)
	cancel()
	if err := s.acquire(full); err == nil {
		t.Fatal("a stream started past the window")
	}
	// 10 MB a second: the first stream's end sets the rate; the window grows.
	now = now.Add(time.Second)
	s.release(10e6)
	if got := s.size(); got != startJobs+1 {
		t.Errorf("window after the first stream = %d, want %d", got, startJobs+1)
	}
	// The same rate again: no growth.
	now = now.Add(time.Second)
	s.release(10e6)
	if got := s.size(); got != startJobs+1 {
		t.Errorf("window at a flat rate = %d, want %d", got, startJobs+1)
	}
	// The rate doubles: growth, up to the most and no further.
	for range 10 {
		_ = s.acquire(ctx)
		now = now.Add(time.Second)
		s.release(100e6)
	}
	if got := s.size(); got != 12 {
		t.Errorf("window after the rate kept rising = %d, want the most, 12", got)
	}
	s.throttled()
	if got := s.size(); got != 6 {
		t.Errorf("window after throttling = %d, want half, 6", got)
	}
	for range 5 {
		s.throttled()
	}
	if got := s.size(); got != 1 {
		t.Errorf("window after much throttling = %d, want 1", got)
	}
}
