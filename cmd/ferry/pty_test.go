package main

import (
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/creack/pty"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/ferry-dev/ferry/internal/progress/termtest"
	"github.com/ferry-dev/ferry/test/imagegen"
)

// heldRegistry is a registry that holds every upload start (POST) until
// release is closed.
func heldRegistry(t *testing.T, release <-chan struct{}) string {
	t.Helper()
	reg := registry.New(registry.Logger(log.New(io.Discard, "", 0)))
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && strings.Contains(r.URL.Path, "/blobs/uploads/") {
			select {
			case <-release:
			case <-r.Context().Done():
				return
			}
		}
		reg.ServeHTTP(w, r)
	}))
	t.Cleanup(s.Close)
	return strings.TrimPrefix(s.URL, "http://")
}

// ptyScreen collects what a program writes to a pty and tells when the
// screen it makes shows something.
type ptyScreen struct {
	mu   sync.Mutex
	out  strings.Builder
	want func([]string) bool
	seen chan struct{}
	done chan struct{} // closed when the pty reads nothing more
}

func (p *ptyScreen) read(r io.Reader) {
	defer close(p.done)
	buf := make([]byte, 4096)
	for {
		n, err := r.Read(buf)
		p.mu.Lock()
		p.out.Write(buf[:n])
		if p.want != nil {
			if s, serr := termtest.Screen(p.out.String()); serr == nil && p.want(s) {
				close(p.seen)
				p.want = nil
			}
		}
		p.mu.Unlock()
		if err != nil {
			return // EIO once the program has exited
		}
	}
}

func (p *ptyScreen) String() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.String()
}

// ferry copy on a terminal (a pty, as a person runs it): at once a line
// per destination; then each destination's bytes of its own total (an
// image of about 3 MiB copied to two registries shows "of 3.0 MiB" on
// each line, not 6); at the end the progress lines are gone and the
// results, in 100 columns, are in their place.
func TestCopyProgressOnATerminal(t *testing.T) {
	t.Parallel()
	bin := buildFerry(t)
	src := startRegistry(t)
	img, err := imagegen.RandomImage(v1.Platform{OS: "linux", Architecture: "amd64"}, 31, 3, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	ref, err := name.ParseReference(src + "/app:v1")
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(ref, img); err != nil {
		t.Fatal(err)
	}
	release := make(chan struct{})
	released := sync.OnceFunc(func() { close(release) })
	t.Cleanup(released)
	a, b := heldRegistry(t, release), heldRegistry(t, release)

	cmd := exec.Command(bin, "copy", src+"/app:v1", a+"/app:v1", b+"/app:v1")
	tty, err := pty.StartWithSize(cmd, &pty.Winsize{Rows: 30, Cols: 100})
	if err != nil {
		t.Fatal(err)
	}
	defer tty.Close()
	lineFor := func(screen []string, dst string) string {
		for _, l := range screen {
			if strings.HasPrefix(l, dst+"/app:v1  ") {
				return l
			}
		}
		return ""
	}
	p := &ptyScreen{seen: make(chan struct{}), done: make(chan struct{})}
	p.want = func(s []string) bool {
		la, lb := lineFor(s, a), lineFor(s, b)
		return strings.Contains(la, " of 3.0 MiB (0%)") && strings.Contains(lb, " of 3.0 MiB (0%)")
	}
	go p.read(tty)
	select {
	case <-p.seen:
	case <-time.After(30 * time.Second):
		t.Fatalf("the screen never showed both destinations' progress of 3.0 MiB; output %q", p.String())
	}
	if !strings.Contains(p.String(), "checking what it lacks…") {
		t.Errorf("the first frame did not come before the survey's end: %q", p.String())
	}
	released()
	if err := cmd.Wait(); err != nil {
		t.Fatalf("ferry copy: %v; output %q", err, p.String())
	}
	select {
	case <-p.done:
	case <-time.After(30 * time.Second):
		t.Fatal("the pty never reached its end")
	}
	screen, err := termtest.Screen(p.String())
	if err != nil {
		t.Fatal(err)
	}
	if len(screen) != 3 || !strings.HasPrefix(screen[0], "image sha256:") ||
		!strings.HasPrefix(screen[1], "✓ "+a+"/app:v1  copied in ") || !strings.HasPrefix(screen[2], "✓ "+b+"/app:v1  copied in ") {
		t.Errorf("final screen:\n%s\nwant the digest and two results, the progress cleared", strings.Join(screen, "\n"))
	}
	for _, l := range screen {
		if n := len([]rune(l)); n > 100 {
			t.Errorf("a line of %d columns: %s", n, l)
		}
		if !strings.Contains(l, "4 blobs (3.0 MiB)") && strings.HasPrefix(l, "✓") {
			t.Errorf("result %q does not say 4 blobs (3.0 MiB)", l)
		}
	}
}
