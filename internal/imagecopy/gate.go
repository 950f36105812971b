package imagecopy

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// DefaultRegistryRequests bounds the requests a Copier has in flight to one
// registry, over all its copies at once.
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
		gt = &gate{slots: make(chan struct{}, max(g.limit, 1)), after: after}
		g.m[host] = gt
	}
	return gt
}

// gate bounds one registry's requests in flight and holds all of them back
// while the registry is throttling: when one request is answered 429, the
// others wait out the same pause instead of each finding out for itself
// (ECR's quotas, PutImage at 10 TPS say, are per registry, not per request).
type gate struct {
	slots chan struct{}
	after func(time.Duration) <-chan time.Time

	mu    sync.Mutex
	until time.Time // no request starts before then

	// chunkedOnly is set once the registry has refused a blob in a single
	// PUT: later blobs go as a PATCH and a committing PUT.
	chunkedOnly atomic.Bool
}

// enter waits for the registry's pause to end and for a free slot; leave
// gives the slot back.
func (g *gate) enter(ctx context.Context) error {
	for {
		g.mu.Lock()
		wait := time.Until(g.until)
		g.mu.Unlock()
		if wait <= 0 {
			break
		}
		select {
		case <-g.after(wait):
		case <-ctx.Done():
			return context.Cause(ctx)
		}
	}
	select {
	case g.slots <- struct{}{}:
		return nil
	case <-ctx.Done():
		return context.Cause(ctx)
	}
}

func (g *gate) leave() { <-g.slots }

// throttled holds every request to the registry back for d (at least
// throttlePause, at most maxThrottlePause) from now.
func (g *gate) throttled(d time.Duration) {
	d = min(max(d, throttlePause), maxThrottlePause)
	g.mu.Lock()
	defer g.mu.Unlock()
	if until := time.Now().Add(d); until.After(g.until) {
		g.until = until
	}
}
