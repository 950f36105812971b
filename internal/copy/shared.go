package copy

import (
	"context"
	"sync"
)

// maxHomes bounds how many blobs a Copier remembers, so a long sync runs in
// bounded memory; past it, the oldest half is forgotten (those blobs are
// then found by a HEAD, or read once more).
const maxHomes = 50_000

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
	order []homeKey // oldest first, for forgetting

	afterTry func(digest string) // tests: a barrier between copies
}

type homeKey struct{ registry, digest string }

type home struct {
	repo string        // a repository that holds the blob; "" while uploading
	done chan struct{} // closed when the upload ends
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
		h.m[k] = &home{done: make(chan struct{})}
		h.order = append(h.order, k)
		h.forget()
		return "", true, nil
	}
	select {
	case <-e.done:
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

// lookup is try, waiting for an upload in flight (calling onWait first,
// once): for callers that hold no claim.
func (h *homes) lookup(ctx context.Context, registry, digest string, onWait func()) (repo string, claim bool, err error) {
	repo, claim, wait := h.try(registry, digest)
	if wait == nil {
		return repo, claim, nil
	}
	if onWait != nil {
		onWait()
	}
	return h.await(ctx, registry, digest, wait)
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
	if repo == "" {
		delete(h.m, k)
	} else {
		e.repo = repo
	}
	close(e.done)
}

// forget drops the oldest settled half once there are too many. h.mu is held.
func (h *homes) forget() {
	if len(h.m) <= maxHomes {
		return
	}
	keep := h.order[:0]
	drop := len(h.order) / 2
	for i, k := range h.order {
		e, ok := h.m[k]
		if !ok {
			continue
		}
		settled := e.repo != ""
		if i < drop && settled {
			delete(h.m, k)
			continue
		}
		keep = append(keep, k)
	}
	h.order = keep
}
