package imagecopy

import (
	"errors"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
)

// An image whose manifests, with its referrers', come to more than the
// cap fails at every destination, before anything is written, with an
// error that names the image, the bytes and the cap. It is not retried:
// the children of an index too large are not even read.
func TestManifestBytesOverTheCap(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		// limit is the cap, given the image's root and children sizes.
		limit func(root, children int) int64
		// childrenRead says whether the children are read before the
		// cap is found passed.
		childrenRead bool
	}{
		{"the children", func(root, children int) int64 { return int64(root + children - 1) }, false},
		{"a referrer", func(root, children int) int64 { return int64(root + children + 1) }, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			src, dst1, dst2 := newTestRegistry(t, true), newTestRegistry(t, true), newTestRegistry(t, true)
			idx, children := src.pushIndex("app", "v1", ociTypes, 80)
			src.pushReferrer("app", idx, "application/spdx+json", 81)
			kids := 0
			for _, c := range children {
				kids += len(c.Body)
			}
			c := testCopier()
			c.maxManifestBytes = tc.limit(len(idx.Body), kids)
			var childReads atomic.Int32
			src.setFault(func(w http.ResponseWriter, r *http.Request) bool {
				for _, c := range children {
					if r.Method == http.MethodGet && strings.HasSuffix(r.URL.Path, "/manifests/"+c.Digest) {
						childReads.Add(1)
					}
				}
				return false
			})
			res, err := copyOne(t, c, src.ref("app:v1"), Destination{Ref: dst1.ref("app:v1")}, Destination{Ref: dst2.ref("app:v1")})
			var mbe *ManifestBytesError
			if !errors.As(err, &mbe) || !errors.Is(err, ErrTooLarge) {
				t.Fatalf("error = %v, want a *ManifestBytesError (an ErrTooLarge)", err)
			}
			if mbe.Image != src.ref("app:v1").String() || mbe.Limit != c.maxManifestBytes || mbe.Bytes <= mbe.Limit {
				t.Errorf("error %+v, want image %s, limit %d and more bytes than that", mbe, src.ref("app:v1"), c.maxManifestBytes)
			}
			for _, want := range []string{mbe.Image, strconv.FormatInt(mbe.Bytes, 10), strconv.FormatInt(mbe.Limit, 10)} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not say %s", err, want)
				}
			}
			for i, d := range []*testRegistry{dst1, dst2} {
				if res[i].Status != StatusFailed || d.writes() != 0 {
					t.Errorf("destination %d: %s with %d writes, want failed with none", i, res[i].Status, d.writes())
				}
			}
			if n := childReads.Load(); !tc.childrenRead && n != 0 {
				t.Errorf("%d reads of the children, want none: their sizes in the index pass the cap", n)
			}
		})
	}
}

// Manifests past what a copy holds in memory are read again, by digest,
// when they are written, and arrive intact: the index, its children and a
// referrer, whose entry in the destination's referrers tag is made from
// the body read again.
func TestManifestsPastTheHeldBudgetAreReadAgain(t *testing.T) {
	t.Parallel()
	src, held, readAgain := newTestRegistry(t, true), newTestRegistry(t, false), newTestRegistry(t, false)
	idx, children := src.pushIndex("app", "v1", ociTypes, 82)
	sig := src.pushReferrer("app", idx, "application/vnd.dev.sigstore.bundle+json", 83)

	src.resetCounts()
	if _, err := copyOne(t, testCopier(), src.ref("app:v1"), Destination{Ref: held.ref("app:v1")}); err != nil {
		t.Fatal(err)
	}
	reads := src.count("GET manifests")

	c := testCopier()
	c.heldManifestBytes = 0 // hold none
	src.resetCounts()
	res, err := copyOne(t, c, src.ref("app:v1"), Destination{Ref: readAgain.ref("app:v1")})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := src.count("GET manifests"), reads+res[0].ManifestsWritten; got != want {
		t.Errorf("%d manifest reads from the source, want %d: %d to plan and one more for each of the %d written",
			got, want, reads, res[0].ManifestsWritten)
	}
	for _, m := range append([]rawManifest{idx, sig}, children...) {
		if got := readAgain.manifestDigest("app", m.Digest); got != m.Digest {
			t.Errorf("manifest %s: destination has %q", m.Digest, got)
		}
	}
	if got := readAgain.manifestDigest("app", "v1"); got != idx.Digest {
		t.Errorf("tag v1 resolves to %q, want %s", got, idx.Digest)
	}
	if !readAgain.referrersTagLists(fallbackTag(idx.Digest), sig.Digest, "application/vnd.dev.sigstore.bundle+json") {
		t.Errorf("the referrers tag does not list %s with its artifactType", sig.Digest)
	}
}
