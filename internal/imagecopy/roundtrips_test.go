package imagecopy

import (
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// barrier lets n requests through together: each waits for the n-th to
// arrive. One that waits longer than a generous bound (only when the
// requests come one after another, the bug) is let through and counted,
// so the test fails instead of hanging.
type barrier struct {
	n       int
	mu      sync.Mutex
	arrived int
	all     chan struct{}
	late    int
}

func newBarrier(n int) *barrier { return &barrier{n: n, all: make(chan struct{})} }

func (b *barrier) wait() {
	b.mu.Lock()
	b.arrived++
	if b.arrived == b.n {
		close(b.all)
	}
	b.mu.Unlock()
	select {
	case <-b.all:
	case <-time.After(5 * time.Second):
		b.mu.Lock()
		b.late++
		b.mu.Unlock()
	}
}

func (b *barrier) result() (arrived, late int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.arrived, b.late
}

// TestSurveyAsksInOneWave: a destination is asked about every manifest
// and blob of an index at once (one round trip), not level by level.
func TestSurveyAsksInOneWave(t *testing.T) {
	t.Parallel()
	src, dst := newTestRegistry(t, true), newTestRegistry(t, true)
	idx, _ := src.pushIndex("app", "v1", ociTypes, 41)
	const asked = 3 + indexBlobs // the index, its 2 images, their blobs
	b := newBarrier(asked)
	dst.setFault(func(w http.ResponseWriter, r *http.Request) bool {
		if r.Method == http.MethodHead && strings.Contains(r.URL.Path, "/sha256:") {
			b.wait()
		}
		return false
	})
	if _, err := copyOne(t, testCopier(), src.ref("app:v1"), Destination{Ref: dst.ref("app:v1")}); err != nil {
		t.Fatal(err)
	}
	if arrived, late := b.result(); arrived != asked || late != 0 {
		t.Errorf("HEADs by digest = %d, %d of them waited in vain for the others; want %d, all at once", arrived, late, asked)
	}
	if got := dst.manifestDigest("app", "v1"); got != idx.Digest {
		t.Errorf("destination tag is %q, want %s", got, idx.Digest)
	}
}

// TestImagesOfAnIndexAreWrittenAtOnce: the images of an index go in one
// round trip, and the index (with its tag) after them.
func TestImagesOfAnIndexAreWrittenAtOnce(t *testing.T) {
	t.Parallel()
	src, dst := newTestRegistry(t, true), newTestRegistry(t, true)
	idx, children := src.pushIndex("app", "v1", ociTypes, 42)
	b := newBarrier(len(children))
	dst.setFault(func(w http.ResponseWriter, r *http.Request) bool {
		if r.Method == http.MethodPut && strings.Contains(r.URL.Path, "/manifests/sha256:") {
			b.wait()
		}
		return false
	})
	if _, err := copyOne(t, testCopier(), src.ref("app:v1"), Destination{Ref: dst.ref("app:v1")}); err != nil {
		t.Fatal(err)
	}
	if arrived, late := b.result(); arrived != len(children) || late != 0 {
		t.Errorf("image manifests written = %d, %d of them one after another; want %d at once", arrived, late, len(children))
	}
	puts := dst.manifestPuts()
	if len(puts) != 3 || puts[2] != "v1" {
		t.Errorf("manifest PUTs = %v, want the 2 images, then the tag", puts)
	}
	if got := dst.manifestDigest("app", "v1"); got != idx.Digest {
		t.Errorf("destination tag is %q, want %s", got, idx.Digest)
	}
}
