package imagecopy

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
)

// A connection refused by a registry that has answered this Copier before
// (restarting, say) is retried with backoff; one refused by a registry that
// never answered fails at once, as a wrong address most likely is.
func TestRefusedConnections(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		// refuse says whether the nth connection to the source (from 1)
		// is refused.
		refuse      func(n int32) bool
		wantRefused int32
		wantErr     bool
	}{
		{"by a registry that answered before", func(n int32) bool { return n == 2 || n == 3 }, 2, false},
		{"by a registry that never answered", func(int32) bool { return true }, 1, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			src, dst := newTestRegistry(t, true), newTestRegistry(t, true)
			m := src.pushManifest("app", "v1", mtOCIManifest, src.pushImage("app", ociTypes, 92, 2, 1000))
			// Nothing listens at closed: a dial there is refused by the kernel.
			gone := httptest.NewServer(http.NotFoundHandler())
			closed := strings.TrimPrefix(gone.URL, "http://")
			gone.Close()
			var dials, refused atomic.Int32
			var d net.Dialer
			tr := http.DefaultTransport.(*http.Transport).Clone()
			tr.DisableKeepAlives = true // every request dials
			tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
				if addr == src.host && tc.refuse(dials.Add(1)) {
					refused.Add(1)
					addr = closed
				}
				return d.DialContext(ctx, network, addr)
			}
			// Without referrers the first request to the source is the
			// manifest, then come its blobs.
			c := testCopier(WithTransport(tr), WithReferrers(false))
			_, err := copyOne(t, c, src.ref("app:v1"), Destination{Ref: dst.ref("app:v1")})
			if got := refused.Load(); got != tc.wantRefused {
				t.Errorf("%d connections refused, want %d", got, tc.wantRefused)
			}
			if !tc.wantErr {
				if err != nil {
					t.Fatalf("Copy: %v; want the refused requests retried", err)
				}
				if got := dst.manifestDigest("app", "v1"); got != m.Digest {
					t.Errorf("tag v1 resolves to %q, want %s", got, m.Digest)
				}
				return
			}
			if !errors.Is(err, syscall.ECONNREFUSED) {
				t.Errorf("error = %v, want ECONNREFUSED", err)
			}
		})
	}
}
