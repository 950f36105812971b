package imagecopy

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestRateMeter(t *testing.T) {
	t.Parallel()
	type wait struct {
		d time.Duration
		n int
	}
	repeat := func(w wait, times int) []wait {
		var out []wait
		for range times {
			out = append(out, w)
		}
		return out
	}
	for _, tc := range []struct {
		name  string
		min   int64
		size  int64
		waits []wait
		// slowAt is the wait (from 0) found too slow; -1: none.
		slowAt int
	}{
		{"a byte every 30 s", DefaultMinRate, 1 << 20, repeat(wait{30 * time.Second, 1}, 10), 3},
		{"1 MiB a second", DefaultMinRate, 1 << 30, repeat(wait{time.Second, 1 << 20}, 500), -1},
		{"just at the minimum", DefaultMinRate, 1 << 30, repeat(wait{time.Second, 64 << 10}, 500), -1},
		{"just under it", DefaultMinRate, 1 << 30, repeat(wait{time.Second, 64<<10 - 1}, 500), 119},
		{"fast, then a trickle", DefaultMinRate, 1 << 40,
			append(repeat(wait{time.Second, 10 << 20}, 120), repeat(wait{30 * time.Second, 1}, 10)...), 123},
		{"one long wait that brings enough", DefaultMinRate, 1 << 30, []wait{{10 * time.Minute, 64 << 20}}, -1},
		{"one long wait that brings little", DefaultMinRate, 1 << 30, []wait{{10 * time.Minute, 1 << 20}}, 0},
		// The wait that closes the window brings the last byte.
		{"a slow blob that completes", DefaultMinRate, 4, repeat(wait{30 * time.Second, 1}, 4), -1},
		{"no minimum", 0, 1 << 20, repeat(wait{30 * time.Second, 1}, 10), -1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var clock time.Time
			m := newRateMeter(func() time.Time { return clock }, DefaultStallTimeout, tc.min, tc.size)
			slowAt := -1
			for i, w := range tc.waits {
				start := m.start()
				clock = clock.Add(w.d)
				// Time between waits is not the side's.
				if err := m.record(start, w.n); err != nil {
					slowAt = i
					if !strings.Contains(err.Error(), "bytes a second") {
						t.Errorf("reason %q does not give the rate", err)
					}
					break
				}
				clock = clock.Add(time.Hour)
			}
			if slowAt != tc.slowAt {
				t.Errorf("found too slow at wait %d, want %d (-1: never)", slowAt, tc.slowAt)
			}
		})
	}
}

// tickClock moves on by step at every reading, and tells each reading on
// readings: a server can send a byte per read the client makes.
type tickClock struct {
	step     time.Duration
	n        atomic.Int64
	readings chan struct{}
}

func newTickClock(step time.Duration) *tickClock {
	return &tickClock{step: step, readings: make(chan struct{}, 1024)}
}

func (c *tickClock) now() time.Time {
	n := c.n.Add(1)
	select {
	case c.readings <- struct{}{}:
	default:
	}
	return time.Unix(0, 0).Add(time.Duration(n) * c.step)
}

// A source that sends a blob a byte every 30 s makes progress, so no stall
// watchdog fires; it is given up all the same, and retried, for moving
// less than the minimum rate.
func TestTricklingSourceIsGivenUp(t *testing.T) {
	t.Parallel()
	src, dst := newTestRegistry(t, true), newTestRegistry(t, true)
	data := randomBytes(93, 16<<10)
	layer := src.pushBlob("app", ociTypes.layer, data)
	cfgData := []byte(`{"os":"linux"}`)
	cfg := src.pushBlob("app", ociTypes.config, cfgData)
	dst.pushBlob("app", ociTypes.config, cfgData) // so the layer alone streams
	body, err := json.Marshal(map[string]any{"schemaVersion": 2, "mediaType": mtOCIManifest, "config": cfg, "layers": []descriptor{layer}})
	if err != nil {
		t.Fatal(err)
	}
	src.pushManifest("app", "v1", mtOCIManifest, body)
	// Each read of the source takes 30 s by this clock, and brings a byte
	// or two: the server sends one per reading of the clock.
	clock := newTickClock(30 * time.Second)
	var trickles atomic.Int32
	src.setFault(func(w http.ResponseWriter, r *http.Request) bool {
		if r.Method != http.MethodGet || !strings.HasSuffix(r.URL.Path, "/blobs/"+layer.Digest) {
			return false
		}
		trickles.Add(1)
		w.Header().Set("Content-Length", itoa(len(data)))
		w.WriteHeader(http.StatusOK)
		for i := range data {
			w.Write(data[i : i+1])
			w.(http.Flusher).Flush()
			select {
			case <-clock.readings:
			case <-r.Context().Done():
				return true
			}
		}
		return true
	})
	c := testCopier()
	c.now.src = clock.now
	done := make(chan error, 1)
	go func() {
		_, err := copyOne(t, c, src.ref("app:v1"), Destination{Ref: dst.ref("app:v1")})
		done <- err
	}()
	select {
	case err = <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("Copy did not return: a trickling source holds it up")
	}
	if !errors.Is(err, ErrStalled) || !strings.Contains(err.Error(), "the source sent") || !strings.Contains(err.Error(), "less than 65536 bytes a second") {
		t.Errorf("error = %v, want ErrStalled saying the source sent less than 65536 bytes a second", err)
	}
	if n := int(trickles.Load()); n != c.backoff.Attempts {
		t.Errorf("the layer was read %d times, want %d: a source too slow is retried", n, c.backoff.Attempts)
	}
	if got := dst.manifestDigest("app", "v1"); got != "" {
		t.Errorf("tag written (%s) although the layer never arrived", got)
	}
}

// clockedReader advances a clock by step at every read of at most 4 KiB.
type clockedReader struct {
	r     io.Reader
	clock *atomic.Int64 // nanoseconds
	step  time.Duration
}

func (c clockedReader) Read(p []byte) (int, error) {
	c.clock.Add(int64(c.step))
	return c.r.Read(p[:min(len(p), 4<<10)])
}

// A destination that takes a blob 4 KiB every 30 s is given up, and
// retried, for taking it slower than the minimum rate.
func TestTricklingDestinationIsGivenUp(t *testing.T) {
	t.Parallel()
	src := newTestRegistry(t, true)
	slow := newTestRegistryOn(t, true, smallReceiveBuffers)
	src.pushManifest("app", "v1", mtOCIManifest, src.pushImage("app", ociTypes, 94, 1, 4<<20))
	var clock atomic.Int64
	var trickles atomic.Int32
	slow.setFault(func(w http.ResponseWriter, r *http.Request) bool {
		if r.Method != http.MethodPatch {
			return false
		}
		// The config blob goes through; the layer is taken slowly.
		head := make([]byte, 64<<10)
		n, err := io.ReadFull(r.Body, head)
		if err != nil {
			r.Body = io.NopCloser(bytes.NewReader(head[:n]))
			return false
		}
		trickles.Add(1)
		r.Body = io.NopCloser(io.MultiReader(bytes.NewReader(head), clockedReader{r.Body, &clock, 30 * time.Second}))
		return false
	})
	// Small socket buffers on both ends: each 256 KiB chunk waits for the
	// registry to read most of it.
	tr := http.DefaultTransport.(*http.Transport).Clone()
	var d net.Dialer
	tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		conn, err := d.DialContext(ctx, network, addr)
		if tc, ok := conn.(*net.TCPConn); ok {
			tc.SetWriteBuffer(32 << 10)
		}
		return conn, err
	}
	c := testCopier(WithTransport(tr))
	c.now.dst = func() time.Time { return time.Unix(0, clock.Load()) }
	done := make(chan error, 1)
	go func() {
		_, err := copyOne(t, c, src.ref("app:v1"), Destination{Ref: slow.ref("app:v1")})
		done <- err
	}()
	var err error
	select {
	case err = <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("Copy did not return: a trickling destination holds it up")
	}
	if !errors.Is(err, ErrStalled) || !strings.Contains(err.Error(), "the registry took") || !strings.Contains(err.Error(), "less than 65536 bytes a second") {
		t.Errorf("error = %v, want ErrStalled saying the registry took less than 65536 bytes a second", err)
	}
	if n := int(trickles.Load()); n != c.backoff.Attempts {
		t.Errorf("%d slow uploads of the layer, want %d: a destination too slow is retried", n, c.backoff.Attempts)
	}
	if got := slow.manifestDigest("app", "v1"); got != "" {
		t.Errorf("tag written (%s) although the layer never arrived", got)
	}
}
