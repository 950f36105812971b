package copy

import (
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// waitFor is how long a held request waits for the event a test expects to
// happen meanwhile. When it does happen, the copies take milliseconds.
const waitFor = 10 * time.Second

// event is a one-shot signal a fault handler can wait for.
type event struct {
	once sync.Once
	ch   chan struct{}
}

func newEvent() *event { return &event{ch: make(chan struct{})} }
func (e *event) fire() { e.once.Do(func() { close(e.ch) }) }
func (e *event) wait() bool {
	select {
	case <-e.ch:
		return true
	case <-time.After(waitFor):
		return false
	}
}

// counter counts requests in a fault handler and fires an event at the nth.
type counter struct {
	n    atomic.Int32
	at   int32
	when *event
}

func (c *counter) add() int32 {
	n := c.n.Add(1)
	if n == c.at {
		c.when.fire()
	}
	return n
}

// A commit that is slow to answer (a registry syncing the blob to disk, or
// ECR assembling it) does not hold the next blob up: with one stream slot,
// the next blob streams while the first blob's commit is still unanswered.
func TestNextBlobStreamsWhileACommitIsPending(t *testing.T) {
	t.Parallel()
	src, dst := newTestRegistry(t, true), newTestRegistry(t, true)
	src.pushIndex("app", "v1", ociTypes, 50)
	patches := counter{at: 2, when: newEvent()}
	var commits atomic.Int32
	var overlapped atomic.Bool
	dst.setFault(func(w http.ResponseWriter, r *http.Request) bool {
		switch {
		case r.Method == http.MethodPatch:
			patches.add()
		case r.Method == http.MethodPut && r.URL.Query().Get("digest") != "":
			if commits.Add(1) == 1 {
				overlapped.Store(patches.when.wait()) // hold it until a second blob streams
			}
		}
		return false
	})
	if _, err := copyOne(t, testCopier(WithJobs(1)), src.ref("app:v1"), Destination{Ref: dst.ref("app:v1")}); err != nil {
		t.Fatal(err)
	}
	if !overlapped.Load() {
		t.Errorf("no other blob streamed while the first commit was held for %s: the stream slot waits for commits", waitFor)
	}
}

// The next blob's upload session is opened while a blob streams, so a
// registry slow to open sessions does not leave the stream slot idle.
func TestUploadSessionsAreOpenedAhead(t *testing.T) {
	t.Parallel()
	src, dst := newTestRegistry(t, true), newTestRegistry(t, true)
	src.pushIndex("app", "v1", ociTypes, 51)
	sessions := counter{at: 2, when: newEvent()}
	var patches atomic.Int32
	var ahead atomic.Bool
	dst.setFault(func(w http.ResponseWriter, r *http.Request) bool {
		switch {
		case r.Method == http.MethodPost && kind(r.URL.Path) == "uploads":
			sessions.add()
		case r.Method == http.MethodPatch:
			if patches.Add(1) == 1 {
				ahead.Store(sessions.when.wait()) // hold the first stream until a second session opens
			}
		}
		return false
	})
	if _, err := copyOne(t, testCopier(WithJobs(1)), src.ref("app:v1"), Destination{Ref: dst.ref("app:v1")}); err != nil {
		t.Fatal(err)
	}
	if !ahead.Load() {
		t.Errorf("no second upload session was opened while the first blob streamed (held %s)", waitFor)
	}
}

// Opening sessions ahead does not raise the number of blobs read from the
// source at once: that stays at --jobs, and memory with it.
func TestAtMostJobsBlobsStreamAtOnce(t *testing.T) {
	t.Parallel()
	src, dst1, dst2 := newTestRegistry(t, true), newTestRegistry(t, true), newTestRegistry(t, true)
	src.pushIndex("app", "v1", ociTypes, 52) // six blobs
	var active, most atomic.Int32
	src.setFault(func(w http.ResponseWriter, r *http.Request) bool {
		if r.Method == http.MethodGet && kind(r.URL.Path) == "blobs" {
			n := active.Add(1)
			for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
			}
			// A source GET is answered within the client's stream slot, so
			// this overlap is at most what the client allows.
			time.Sleep(20 * time.Millisecond)
			active.Add(-1)
		}
		return false
	})
	if _, err := copyOne(t, testCopier(WithJobs(2)), src.ref("app:v1"), Destination{Ref: dst1.ref("app:v1")}, Destination{Ref: dst2.ref("app:v1")}); err != nil {
		t.Fatal(err)
	}
	if got := most.Load(); got != 2 {
		t.Errorf("at most %d source blob reads at once, want exactly 2 (--jobs 2)", got)
	}
}
