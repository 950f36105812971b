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
	g := c.gates.get(dst.host)
	for deadline := time.Now().Add(5 * time.Second); ; {
		g.mu.Lock()
		paused := !g.until.IsZero()
		g.mu.Unlock()
		if paused {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the 429 did not pause the registry's gate")
		}
		time.Sleep(time.Millisecond)
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
