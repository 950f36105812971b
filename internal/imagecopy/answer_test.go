package imagecopy

import (
	"errors"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// timers is a fake time.AfterFunc: a test fires the timers still running
// when it means their time to have passed.
type timers struct {
	mu      sync.Mutex
	running []*fakeTimer
}

type fakeTimer struct {
	f    func()
	done bool // fired or stopped
}

func (ts *timers) afterFunc(_ time.Duration, f func()) (stop func() bool) {
	t := &fakeTimer{f: f}
	ts.mu.Lock()
	ts.running = append(ts.running, t)
	ts.mu.Unlock()
	return func() bool {
		ts.mu.Lock()
		defer ts.mu.Unlock()
		stopped := !t.done
		t.done = true
		return stopped
	}
}

// fire runs every timer still running and returns how many it ran.
func (ts *timers) fire() int {
	ts.mu.Lock()
	var due []*fakeTimer
	for _, t := range ts.running {
		if !t.done {
			t.done = true
			due = append(due, t)
		}
	}
	ts.running = nil
	ts.mu.Unlock()
	for _, t := range due {
		t.f()
	}
	return len(due)
}

// A manifest request the registry does not answer is given up after the
// metadata wait and sent again, while a blob's commit, which a registry
// may take long over, is not cut short by that wait.
func TestMetadataWaitIsShorterThanACommits(t *testing.T) {
	t.Parallel()
	src, dst := newTestRegistry(t, true), newTestRegistry(t, true)
	m := src.pushManifest("app", "v1", mtOCIManifest, src.pushImage("app", ociTypes, 95, 1, 1000))
	var ts timers
	held := newEvent()
	var manifestGets, hung atomic.Int32
	src.setFault(func(w http.ResponseWriter, r *http.Request) bool {
		if r.Method == http.MethodGet && strings.HasSuffix(r.URL.Path, "/manifests/v1") && manifestGets.Add(1) == 1 {
			held.fire()
			<-r.Context().Done() // no answer: the client gives up
			hung.Add(1)
			return true
		}
		return false
	})
	var commits, firedInCommits atomic.Int32
	dst.setFault(func(w http.ResponseWriter, r *http.Request) bool {
		if r.Method == http.MethodPut && r.URL.Query().Get("digest") != "" {
			commits.Add(1)
			// The metadata wait passes while the commit is answered.
			firedInCommits.Add(int32(ts.fire()))
		}
		return false
	})
	c := testCopier(WithReferrers(false))
	c.afterFunc = ts.afterFunc
	done := make(chan error, 1)
	go func() {
		_, err := copyOne(t, c, src.ref("app:v1"), Destination{Ref: dst.ref("app:v1")})
		done <- err
	}()
	if !held.wait() {
		t.Fatal("the source manifest was never asked for")
	}
	if ts.fire() == 0 {
		t.Fatal("the held manifest request has no wait running")
	}
	var err error
	select {
	case err = <-done:
	case <-time.After(waitFor):
		t.Fatal("Copy did not return: the unanswered manifest request holds it up")
	}
	if err != nil {
		t.Fatalf("Copy: %v", err)
	}
	if hung.Load() != 1 || manifestGets.Load() != 2 {
		t.Errorf("manifest asked for %d times, %d given up; want 2 and 1", manifestGets.Load(), hung.Load())
	}
	// Config and layer: each read once and committed once.
	if n := src.count("GET blobs"); n != 2 || commits.Load() != 2 {
		t.Errorf("%d blob reads and %d commits, want 2 and 2: a commit must outlast the metadata wait", n, commits.Load())
	}
	t.Logf("%d metadata waits passed during the commits", firedInCommits.Load())
	if got := dst.manifestDigest("app", "v1"); got != m.Digest {
		t.Errorf("tag v1 resolves to %q, want %s", got, m.Digest)
	}
}

// WithMetadataTimeout is the real wait: a manifest request left
// unanswered fails, after retries, saying the registry did not answer.
func TestMetadataTimeoutUnanswered(t *testing.T) {
	t.Parallel()
	src, dst := newTestRegistry(t, true), newTestRegistry(t, true)
	src.pushManifest("app", "v1", mtOCIManifest, src.pushImage("app", ociTypes, 96, 1, 1000))
	var hung atomic.Int32
	src.setFault(func(w http.ResponseWriter, r *http.Request) bool {
		if r.Method == http.MethodGet && strings.HasSuffix(r.URL.Path, "/manifests/v1") {
			<-r.Context().Done()
			hung.Add(1)
			return true
		}
		return false
	})
	c := testCopier(WithReferrers(false), WithMetadataTimeout(50*time.Millisecond))
	done := make(chan error, 1)
	go func() {
		_, err := copyOne(t, c, src.ref("app:v1"), Destination{Ref: dst.ref("app:v1")})
		done <- err
	}()
	var err error
	select {
	case err = <-done:
	case <-time.After(waitFor):
		t.Fatal("Copy did not return: an unanswered manifest request holds it up")
	}
	if !errors.Is(err, errNoAnswer) || !strings.Contains(err.Error(), "waited 50ms") {
		t.Errorf("error = %v, want one saying the registry did not answer in 50ms", err)
	}
	// As the transport's own timeout did, it keeps the request's error, a
	// net.Error: the workflow retries a copy that failed for one.
	if ne, ok := errors.AsType[net.Error](err); !ok {
		t.Errorf("error = %v, want a net.Error in it", err)
	} else if !strings.Contains(ne.Error(), "/v2/app/manifests/v1") {
		t.Errorf("net.Error %q does not name the request", ne)
	}
	if n := src.count("GET manifests"); n != c.backoff.Attempts {
		t.Errorf("manifest asked for %d times, want %d: no answer is retried", n, c.backoff.Attempts)
	}
}
