package imagecopy

import (
	"cmp"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
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
	// The source holds its first two blob reads until both are under way
	// at once (a barrier: a correct engine passes however loaded the
	// machine), and then until the engine has done all it may meanwhile:
	// the blobs ahead (as many as --jobs) have opened their sessions at
	// both destinations, 2 × 2 × 2 with the two streaming. An engine that
	// lets a third blob read now does so right after its sessions open, so
	// the two are held a little longer for it to show (grace): that wait
	// can only let such a bug slip by on a slow machine, never fail a
	// correct engine, which has nothing more to send until a read ends.
	const grace = 200 * time.Millisecond
	two, third, ahead := newEvent(), newEvent(), newEvent()
	sessions := counter{at: 8, when: ahead}
	for _, dst := range []*testRegistry{dst1, dst2} {
		dst.setFault(func(w http.ResponseWriter, r *http.Request) bool {
			if r.Method == http.MethodPost && kind(r.URL.Path) == "uploads" {
				sessions.add()
			}
			return false
		})
	}
	var reads, active, most atomic.Int32
	src.setFault(func(w http.ResponseWriter, r *http.Request) bool {
		if r.Method == http.MethodGet && kind(r.URL.Path) == "blobs" {
			n := active.Add(1)
			for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
			}
			if n == 2 {
				two.fire()
			} else if n > 2 {
				third.fire()
			}
			// A source GET is answered within the client's stream slot, so
			// this overlap is at most what the client allows.
			if reads.Add(1) <= 2 && two.wait() && ahead.wait() {
				select {
				case <-third.ch:
				case <-time.After(grace):
				}
			}
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

// Two repositories of one registry that cannot mount: the second streams
// into the session its refused mount opened, and no session is left open.
func TestFollowersStreamIntoTheSessionTheirMountOpened(t *testing.T) {
	t.Parallel()
	src, dst := newTestRegistry(t, true), newTestRegistry(t, true)
	src.pushIndex("app", "v1", ociTypes, 54)
	if _, err := copyOne(t, testCopier(), src.ref("app:v1"), Destination{Ref: dst.ref("a/app:v1")}, Destination{Ref: dst.ref("b/app:v1")}); err != nil {
		t.Fatal(err)
	}
	opened, streamed, cancelled := dst.count("POST uploads"), dst.count("PATCH uploads"), dst.count("DELETE uploads")
	if opened != streamed+cancelled {
		t.Errorf("%d upload sessions opened, %d streamed into, %d cancelled: %d left open", opened, streamed, cancelled, opened-streamed-cancelled)
	}
	if cancelled != 0 {
		t.Errorf("%d sessions cancelled in a copy that went well", cancelled)
	}
}

// Blobs take the stream slots largest first, whichever opens its sessions
// first: the long transfers start early. (The config, a small blob, takes
// no slot.)
func TestLargestBlobStreamsFirst(t *testing.T) {
	t.Parallel()
	src := newTestRegistry(t, true)
	sizes := map[string]int64{}
	var layers []descriptor
	for i, n := range []int{smallBlob + 3000, smallBlob + 2000, smallBlob + 1000} {
		l := src.pushBlob("app", ociTypes.layer, randomBytes(uint64(56+i), n))
		layers = append(layers, l)
		sizes[l.Digest] = l.Size
	}
	cfg := src.pushBlob("app", ociTypes.config, []byte(`{"os":"linux"}`))
	sizes[cfg.Digest] = cfg.Size
	body, err := json.Marshal(map[string]any{"schemaVersion": 2, "mediaType": mtOCIManifest, "config": cfg, "layers": layers})
	if err != nil {
		t.Fatal(err)
	}
	src.pushManifest("app", "v1", mtOCIManifest, body)
	var mu sync.Mutex
	var got []int64
	dst := newTestRegistry(t, true)
	// The first session is slow to open: it is held until the next blob's
	// session is being opened, and then until a blob is read or a grace
	// has passed. Should the first be the largest blob's, a copy that let
	// the first blob with a session stream would read the next blob now,
	// ahead of it, so the grace gives it the time to show; a correct copy
	// reads nothing until the largest blob's session is open, and passes
	// whatever the wait.
	const grace = 100 * time.Millisecond
	second, read := newEvent(), newEvent()
	posts := counter{at: 2, when: second}
	src.setFault(func(w http.ResponseWriter, r *http.Request) bool {
		if r.Method == http.MethodGet && kind(r.URL.Path) == "blobs" {
			read.fire()
			mu.Lock()
			got = append(got, sizes[r.URL.Path[strings.LastIndex(r.URL.Path, "/")+1:]])
			mu.Unlock()
		}
		return false
	})
	dst.setFault(func(w http.ResponseWriter, r *http.Request) bool {
		if r.Method == http.MethodPost && posts.add() == 1 && second.wait() {
			select {
			case <-read.ch:
			case <-time.After(grace):
			}
		}
		return false
	})
	if _, err := copyOne(t, testCopier(WithJobs(1)), src.ref("app:v1"), Destination{Ref: dst.ref("app:v1")}); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	streamed := slices.DeleteFunc(slices.Clone(got), func(n int64) bool { return n <= smallBlob })
	if len(got) != len(sizes) || len(streamed) != len(layers) || !slices.IsSortedFunc(streamed, func(a, b int64) int { return cmp.Compare(b, a) }) {
		t.Errorf("blobs read from the source in sizes %v; want all %d, the layers largest first", got, len(sizes))
	}
}

// A small blob (an image's config) does not wait for a stream slot: with
// one slot, held by a layer whose source read waits for the config's, the
// config is read all the same. An engine that queued the config behind the
// layer would hold it until the layer's read gave up, a round trip or more
// of waiting on a WAN for a few hundred bytes.
func TestSmallBlobsDoNotWaitForASlot(t *testing.T) {
	t.Parallel()
	src, dst := newTestRegistry(t, true), newTestRegistry(t, true)
	body := src.pushImage("app", ociTypes, 58, 1, 2*smallBlob)
	src.pushManifest("app", "v1", mtOCIManifest, body)
	var m struct {
		Config descriptor   `json:"config"`
		Layers []descriptor `json:"layers"`
	}
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatal(err)
	}
	configRead := newEvent()
	var waited atomic.Bool
	src.setFault(func(w http.ResponseWriter, r *http.Request) bool {
		if r.Method != http.MethodGet || kind(r.URL.Path) != "blobs" {
			return false
		}
		switch {
		case strings.HasSuffix(r.URL.Path, m.Config.Digest):
			configRead.fire()
		case strings.HasSuffix(r.URL.Path, m.Layers[0].Digest):
			waited.Store(configRead.wait())
		}
		return false
	})
	if _, err := copyOne(t, testCopier(WithJobs(1)), src.ref("app:v1"), Destination{Ref: dst.ref("app:v1")}); err != nil {
		t.Fatal(err)
	}
	if !waited.Load() {
		t.Errorf("the config (%d bytes) was not read in %s while the layer held the only stream slot: small blobs wait for slots", m.Config.Size, waitFor)
	}
}
