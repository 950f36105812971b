// Package memory checks that ferry copy streams blobs: its peak memory,
// read from the process itself, must not grow with the size of a layer.
package memory

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/ferry-dev/ferry/test/imagegen"
	"github.com/ferry-dev/ferry/test/peakrss"
)

// Memory bounds, on the copy's own memory: its peak RSS less that of
// `ferry version`, the same binary doing nothing (about 26 MiB: the one
// binary's own pages, with the AWS SDK and sigstore linked in, and the
// runtime; no copy can give them back). The best peer (crane) peaks at
// about 14 MiB in all on a 1 GiB layer; Ferry holds two 256 KiB chunks per
// blob stream in flight, so whatever the layer size its own memory stays
// a few MiB.
const (
	maxOwn    = 16 << 20 // far below any buffering of the layer
	maxGrowth = 6 << 20  // 1 GiB layer vs 32 MiB layer
)

func TestCopyMemoryIsIndependentOfLayerSize(t *testing.T) {
	if testing.Short() {
		t.Log("-short: the 1 GiB copy is left out")
		return
	}
	ferry := buildFerry(t)
	src := startRegistry(t)
	dst := startRegistry(t)

	base := baselineRSS(t, ferry)
	small := peakRSS(t, ferry, src, dst, "small", 32<<20)
	large := peakRSS(t, ferry, src, dst, "large", 1<<30)
	t.Logf("ferry copy peak RSS: %.1f MiB for a 32 MiB layer, %.1f MiB for a 1 GiB layer (ferry version: %.1f MiB; the 1 GiB copy's own: %.1f MiB)",
		mib(small), mib(large), mib(base), mib(large-base))
	if large-base > maxOwn {
		t.Errorf("copying a 1 GiB layer took %.1f MiB over ferry version's %.1f MiB, want at most %.1f MiB", mib(large-base), mib(base), mib(maxOwn))
	}
	if large-small > maxGrowth {
		t.Errorf("peak RSS grew by %.1f MiB from a 32 MiB to a 1 GiB layer, want at most %.1f MiB: blobs must stream",
			mib(large-small), mib(maxGrowth))
	}
}

// baselineRSS is the peak RSS of `ferry version`: what the binary takes
// doing nothing.
func baselineRSS(t *testing.T, ferry string) int64 {
	t.Helper()
	base, err := peakrss.Run(exec.Command(ferry, "version"))
	if err != nil {
		t.Fatalf("ferry version: %v", err)
	}
	return base
}

func mib(n int64) float64 { return float64(n) / (1 << 20) }

// peakRSS pushes a one-layer image of size bytes to src and returns the peak
// resident memory of `ferry copy` copying it to dst.
func peakRSS(t *testing.T, ferry, src, dst, repo string, size int64) int64 {
	t.Helper()
	layer, err := imagegen.RandomLayer(uint64(size), size)
	if err != nil {
		t.Fatal(err)
	}
	img, err := imagegen.Image(v1.Platform{OS: "linux", Architecture: "amd64"}, layer)
	if err != nil {
		t.Fatal(err)
	}
	ref, err := name.ParseReference(src + "/" + repo + ":v1")
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(ref, img, remote.WithContext(context.Background())); err != nil {
		t.Fatalf("push %s: %v", ref, err)
	}
	var out bytes.Buffer
	cmd := exec.Command(ferry, "copy", "--insecure", ref.String(), dst+"/"+repo+":v1")
	cmd.Stdout, cmd.Stderr = &out, &out
	peak, err := peakrss.Run(cmd)
	if err != nil {
		t.Fatalf("ferry copy: %v\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), "copied") {
		t.Fatalf("ferry copy did not report a copy:\n%s", out.String())
	}
	return peak
}

func startRegistry(t *testing.T) string {
	t.Helper()
	h := registry.New(registry.Logger(log.New(io.Discard, "", 0)), registry.WithBlobHandler(registry.NewDiskBlobHandler(t.TempDir())))
	s := httptest.NewServer(h)
	t.Cleanup(s.Close)
	return strings.TrimPrefix(s.URL, "http://")
}

// buildFerry builds the ferry command as users get it.
func buildFerry(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "ferry")
	cmd := exec.Command("go", "build", "-trimpath", "-o", bin, "github.com/ferry-dev/ferry/cmd/ferry")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	if _, err := os.Stat(bin); err != nil {
		t.Fatal(fmt.Errorf("ferry binary: %w", err))
	}
	return bin
}
