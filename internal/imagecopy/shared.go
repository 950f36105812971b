package imagecopy

import (
	"context"
	"sync"
)

// maxHomes bounds how many blobs a Copier remembers (about 200 bytes each),
// so a long sync runs in bounded memory; past it, the half used least
// recently is forgotten (those blobs are then found by a HEAD, or read once
// more).
const maxHomes = 4 << 10

// homes remembers, for each destination registry, one repository that
// holds each blob a Copy of this Copier wrote or mounted there, and the
// blobs being uploaded right now. A later Copy (another image that shares
// a base layer) mounts the blob from there instead of reading the source
// again; one that needs a blob another Copy is uploading waits for it and
// mounts it. So a blob shared by many images is read from the source once
// per Copier and uploaded once per destination registry.
type homes struct {
	mu    sync.Mutex
	m     map[homeKey]*home
	order []use // least recently used first, with stale uses, for forgetting
	tick  uint64

	afterTry func(digest string) // tests: a barrier between copies
}

type homeKey struct{ registry, digest string }

type home struct {
	repo string        // a repository that holds the blob; "" while uploading
	done chan struct{} // closed when the upload ends
	used uint64        // the tick of its last use
}

// use is one use of a home; a later use of the same home makes it stale.
type use struct {
	k    homeKey
	tick uint64
}

// settled is the done channel of every settled home, so that a settled
// home holds no channel of its own.
var settled = func() chan struct{} { c := make(chan struct{}); close(c); return c }()

// touch records a use of e. h.mu is held.
func (h *homes) touch(k homeKey, e *home) {
	h.tick++
	e.used = h.tick
	h.order = append(h.order, use{k, h.tick})
}

// try returns, without waiting, a repository of registry that holds
// digest; or claim true when none is known (the caller uploads it and must
// call settle); or, while another Copy uploads it, a channel closed when
// that upload ends.
func (h *homes) try(registry, digest string) (repo string, claim bool, wait <-chan struct{}) {
	k := homeKey{registry, digest}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.m == nil {
		h.m = map[homeKey]*home{}
	}
	e, ok := h.m[k]
	if !ok {
		e = &home{done: make(chan struct{})}
		h.m[k] = e
		h.touch(k, e)
		h.forget()
		return "", true, nil
	}
	select {
	case <-e.done:
		h.touch(k, e)
		h.forget()
		return e.repo, false, nil
	default:
		return "", false, e.done
	}
}

// tryHook runs the test hook, outside the lock.
func (h *homes) tryHook(digest string) {
	if h.afterTry != nil {
		h.afterTry(digest)
	}
}

// await waits for the upload wait stands for, then tries again: it
// returns the repository that holds digest, or a claim when that upload
// failed. The caller must hold no claim while it waits.
func (h *homes) await(ctx context.Context, registry, digest string, wait <-chan struct{}) (repo string, claim bool, err error) {
	for {
		select {
		case <-wait:
		case <-ctx.Done():
			return "", false, context.Cause(ctx)
		}
		if repo, claim, wait = h.try(registry, digest); wait == nil {
			return repo, claim, nil
		}
	}
}

// settle ends a claim: repo holds the blob now, or "" when the upload
// failed (the claim is dropped, so another Copy may try).
func (h *homes) settle(registry, digest, repo string) {
	k := homeKey{registry, digest}
	h.mu.Lock()
	defer h.mu.Unlock()
	e, ok := h.m[k]
	if !ok || e.repo != "" {
		return
	}
	select {
	case <-e.done:
		return // settled already
	default:
	}
	close(e.done)
	if repo == "" {
		delete(h.m, k)
	} else {
		e.repo, e.done = repo, settled // waiters hold the closed one
	}
}

// forget drops the least recently used settled half once there are too
// many homes, and the stale uses once they outnumber the homes. h.mu is
// held.
func (h *homes) forget() {
	if len(h.m) <= maxHomes && len(h.order) <= 2*maxHomes {
		return
	}
	drop := 0
	if len(h.m) > maxHomes {
		drop = len(h.m) - maxHomes/2
	}
	keep := h.order[:0]
	for _, u := range h.order {
		e, ok := h.m[u.k]
		if !ok || e.used != u.tick {
			continue // a stale use
		}
		if drop > 0 && e.repo != "" {
			delete(h.m, u.k)
			drop--
			continue
		}
		keep = append(keep, u)
	}
	clear(h.order[len(keep):])
	h.order = keep
}
