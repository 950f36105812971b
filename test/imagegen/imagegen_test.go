package imagegen

import (
	"archive/tar"
	"compress/gzip"
	"crypto/sha256"
	"fmt"
	"io"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

func TestRandomLayerStreamsWhatItDescribes(t *testing.T) {
	const size = 1<<20 + 7
	l, err := RandomLayer(42, size)
	if err != nil {
		t.Fatal(err)
	}
	rc, err := l.Compressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	h := sha256.New()
	zr, err := gzip.NewReader(io.TeeReader(rc, h))
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(zr)
	hdr, err := tr.Next()
	if err != nil {
		t.Fatal(err)
	}
	if hdr.Size != size {
		t.Errorf("tar entry size = %d, want %d", hdr.Size, size)
	}
	if _, err := io.Copy(io.Discard, zr); err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(io.Discard, rc); err != nil { // gzip trailer padding, if any
		t.Fatal(err)
	}
	want, _ := l.Digest()
	if got := fmt.Sprintf("%x", h.Sum(nil)); got != want.Hex {
		t.Errorf("streamed digest %s, described %s", got, want.Hex)
	}
	if n, _ := l.Size(); n < size {
		t.Errorf("compressed size %d smaller than content %d: layer is compressible", n, size)
	}
}

func TestRandomLayerIsDeterministicAndDistinct(t *testing.T) {
	digest := func(seed uint64) v1.Hash {
		l, err := RandomLayer(seed, 4096)
		if err != nil {
			t.Fatal(err)
		}
		d, _ := l.Digest()
		return d
	}
	if first, again := digest(1), digest(1); first != again {
		t.Error("same seed gave different digests")
	}
	if digest(1) == digest(2) {
		t.Error("different seeds gave the same digest")
	}
}

func TestIndexDescriptorsHaveNoArtifactType(t *testing.T) {
	platforms := []v1.Platform{{OS: "linux", Architecture: "amd64"}, {OS: "linux", Architecture: "arm64"}}
	images := map[string]v1.Image{}
	for i, p := range platforms {
		img, err := RandomImage(p, uint64(i*10), 2, 1024)
		if err != nil {
			t.Fatal(err)
		}
		images[p.String()] = img
	}
	idx, err := Index(images, platforms)
	if err != nil {
		t.Fatal(err)
	}
	m, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Manifests) != 2 {
		t.Fatalf("index has %d manifests, want 2", len(m.Manifests))
	}
	for _, d := range m.Manifests {
		if d.ArtifactType != "" {
			t.Errorf("descriptor %s has artifactType %q", d.Digest, d.ArtifactType)
		}
		if d.Platform == nil {
			t.Errorf("descriptor %s has no platform", d.Digest)
		}
	}
}
