// Package imagegen makes deterministic, incompressible test images without
// holding their bytes in memory.
//
// A layer made by [RandomLayer] is a real tar+gzip layer: a tar archive with
// one file of pseudo-random bytes (ChaCha8 from math/rand/v2), wrapped in a
// gzip stream written with gzip.NoCompression, so its compressed size is its
// content size plus a few bytes of framing and no copy tool can shrink it. Its
// bytes are regenerated from the seed every time they are read, so a 1 GiB
// layer costs a few kilobytes of memory. The same seed always gives the same
// digest.
package imagegen

import (
	"archive/tar"
	"compress/gzip"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"hash"
	"io"
	"math/rand/v2"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// randomLayer is a v1.Layer whose bytes are regenerated from a seed on every read.
type randomLayer struct {
	seed    uint64
	size    int64 // bytes of file content inside the tar
	digest  v1.Hash
	diffID  v1.Hash
	blobLen int64 // compressed (gzip) size
}

var _ v1.Layer = (*randomLayer)(nil)

// RandomLayer returns an OCI tar+gzip layer holding size pseudo-random bytes
// derived from seed. It streams the layer once to compute its digest, diff ID
// and size; later reads stream it again.
func RandomLayer(seed uint64, size int64) (v1.Layer, error) {
	l := &randomLayer{seed: seed, size: size}
	blob, diff := sha256.New(), sha256.New()
	if err := l.writeCompressed(countingHash{blob, &l.blobLen}, diff); err != nil {
		return nil, fmt.Errorf("compute digest of random layer (seed %d): %w", seed, err)
	}
	l.digest = sumHash(blob)
	l.diffID = sumHash(diff)
	return l, nil
}

func (l *randomLayer) Digest() (v1.Hash, error)            { return l.digest, nil }
func (l *randomLayer) DiffID() (v1.Hash, error)            { return l.diffID, nil }
func (l *randomLayer) Size() (int64, error)                { return l.blobLen, nil }
func (l *randomLayer) MediaType() (types.MediaType, error) { return types.OCILayer, nil }

// Compressed streams the gzip blob, regenerating it from the seed.
func (l *randomLayer) Compressed() (io.ReadCloser, error) {
	return pipe(func(w io.Writer) error {
		return l.writeCompressed(w, io.Discard)
	}), nil
}

// Uncompressed streams the tar archive, regenerating it from the seed.
func (l *randomLayer) Uncompressed() (io.ReadCloser, error) {
	return pipe(l.writeTar), nil
}

// writeCompressed writes the gzip blob to w and the tar inside it to tarCopy.
func (l *randomLayer) writeCompressed(w, tarCopy io.Writer) error {
	zw, err := gzip.NewWriterLevel(w, gzip.NoCompression)
	if err != nil {
		return fmt.Errorf("start gzip stream: %w", err)
	}
	if err := l.writeTar(io.MultiWriter(zw, tarCopy)); err != nil {
		return err
	}
	if err := zw.Close(); err != nil {
		return fmt.Errorf("finish gzip stream: %w", err)
	}
	return nil
}

// writeTar writes a tar archive with one file, "random.bin", of size bytes.
func (l *randomLayer) writeTar(w io.Writer) error {
	tw := tar.NewWriter(w)
	hdr := &tar.Header{
		Name:    "random.bin",
		Mode:    0o644,
		Size:    l.size,
		ModTime: time.Unix(0, 0),
		Format:  tar.FormatPAX,
	}
	if err := tw.WriteHeader(hdr); err != nil {
		return fmt.Errorf("write tar header: %w", err)
	}
	if _, err := io.CopyN(tw, rand.NewChaCha8(seedBytes(l.seed)), l.size); err != nil {
		return fmt.Errorf("write random content: %w", err)
	}
	return tw.Close()
}

// pipe runs write in a goroutine and returns the reading end of its output.
// Closing the reader early stops the writer.
func pipe(write func(io.Writer) error) io.ReadCloser {
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(write(pw)) }()
	return pr
}

func seedBytes(seed uint64) [32]byte {
	var b [32]byte
	binary.LittleEndian.PutUint64(b[:], seed)
	copy(b[8:], "ferry-imagegen")
	return b
}

func sumHash(h hash.Hash) v1.Hash {
	return v1.Hash{Algorithm: "sha256", Hex: fmt.Sprintf("%x", h.Sum(nil))}
}

// countingHash is a writer that feeds a hash and counts the bytes written.
type countingHash struct {
	hash.Hash
	n *int64
}

func (c countingHash) Write(p []byte) (int, error) {
	*c.n += int64(len(p))
	return c.Hash.Write(p)
}
