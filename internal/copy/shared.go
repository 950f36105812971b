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
}

type homeKey struct{ registry, digest string }

type home struct {
	repo string        // a repository that holds the blob; "" while uploading
	done chan struct{} // closed when the upload ends
}

// lookup returns a repository of registry that holds digest. While another
// Copy uploads it, lookup calls onWait (once) and waits for that upload to
// end. When no repository is known, lookup returns "" and claim true: the
// caller uploads it and must call settle.
func (h *homes) lookup(ctx context.Context, registry, digest string, onWait func()) (repo string, claim bool, err error) {
	k := homeKey{registry, digest}
	for {
		h.mu.Lock()
		if h.m == nil {
			h.m = map[homeKey]*home{}
		}
		e, ok := h.m[k]
		if !ok {
			h.m[k] = &home{done: make(chan struct{})}
			h.order = append(h.order, k)
			h.forget()
			h.mu.Unlock()
			return "", true, nil
		}
		h.mu.Unlock()
		if onWait != nil {
			onWait()
			onWait = nil
		}
		select {
		case <-e.done:
		case <-ctx.Done():
			return "", false, context.Cause(ctx)
		}
		h.mu.Lock()
		repo := e.repo
		h.mu.Unlock()
		if repo != "" {
			return repo, false, nil
		}
		// That upload failed and was dropped: look again (and maybe claim).
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
