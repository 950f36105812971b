package imagecopy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestCopyPreservesDigests(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		mt   mediaTypes
	}{
		{"oci index", ociTypes},
		{"docker manifest list", dockerTypes},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			src := newTestRegistry(t, true)
			dst1, dst2 := newTestRegistry(t, true), newTestRegistry(t, false)
			idx, children := src.pushIndex("team/app", "release-1.0", tc.mt, 1)

			res, err := copyOne(t, testCopier(), src.ref("team/app:release-1.0"),
				Destination{Ref: dst1.ref("team/app:release-1.0")}, Destination{Ref: dst2.ref("mirror/app:release-1.0")})
			if err != nil {
				t.Fatalf("Copy: %v", err)
			}
			for i, d := range []struct {
				reg  *testRegistry
				repo string
			}{{dst1, "team/app"}, {dst2, "mirror/app"}} {
				if got := d.reg.manifestDigest(d.repo, "release-1.0"); got != idx.Digest {
					t.Errorf("destination %d: tag resolves to %q, want source digest %s", i, got, idx.Digest)
				}
				for _, c := range children {
					if got := d.reg.manifestDigest(d.repo, c.Digest); got != c.Digest {
						t.Errorf("destination %d: child %s missing (got %q)", i, c.Digest, got)
					}
					mf, _ := c.parse()
					for _, b := range mf.blobs() {
						if got := d.reg.blobDigest(d.repo, b.Digest); got != b.Digest {
							t.Errorf("destination %d: blob %s has digest %q", i, b.Digest, got)
						}
					}
				}
				r := res[i]
				if r.Status != StatusCopied || r.Digest != idx.Digest || r.MediaType != tc.mt.index {
					t.Errorf("destination %d: result %+v", i, r)
				}
				// 2 platforms × (config + 2 layers), and 3 manifests.
				if r.BlobsCopied != 6 || r.ManifestsWritten != 3 || r.BytesCopied <= 4*64<<10 {
					t.Errorf("destination %d: copied %d blobs, %d manifests, %d bytes; want 6, 3, >256KiB", i, r.BlobsCopied, r.ManifestsWritten, r.BytesCopied)
				}
			}
			// The source was read once for both destinations.
			if got := src.count("GET blobs"); got != 6 {
				t.Errorf("source blob reads = %d, want 6 (once per blob)", got)
			}
		})
	}
}

func TestSecondCopyWritesNothing(t *testing.T) {
	t.Parallel()
	src, dst := newTestRegistry(t, true), newTestRegistry(t, true)
	idx, _ := src.pushIndex("app", "v1", ociTypes, 2)
	src.pushReferrer("app", idx, "application/vnd.dev.sigstore.bundle+json", 3)
	c := testCopier()
	if _, err := copyOne(t, c, src.ref("app:v1"), Destination{Ref: dst.ref("app:v1")}); err != nil {
		t.Fatal(err)
	}
	dst.resetCounts()
	src.resetCounts()
	res, err := copyOne(t, c, src.ref("app:v1"), Destination{Ref: dst.ref("app:v1")})
	if err != nil {
		t.Fatal(err)
	}
	if w := dst.writes(); w != 0 {
		t.Errorf("second copy made %d write requests, want 0", w)
	}
	if res[0].Status != StatusUnchanged || res[0].BlobsCopied != 0 || res[0].ManifestsWritten != 0 {
		t.Errorf("second copy result %+v, want unchanged with nothing written", res[0])
	}
	// The image's checks go out beside the tag's (see
	// TestChecksDoNotWaitForTheTag), so they may have been sent: once
	// each, and no blob is read from either side.
	if n := dst.count("GET blobs") + src.count("GET blobs"); n != 0 {
		t.Errorf("second copy read %d blobs, want 0 (the tag already resolves)", n)
	}
	// 6 blobs in the index's images, 2 in the referrer (whose checks go
	// out beside the tag's too).
	if n, most := dst.count("HEAD blobs"), 8; n > most {
		t.Errorf("second copy checked %d blobs, want at most %d (each once)", n, most)
	}
}

// A destination's checks of the image (its manifests and blobs) do not
// wait for the answer about its tag: a cold copy's survey takes one round
// trip, not two. The registry here holds the tag's HEAD until a blob's
// HEAD has come; a copy that waited for the tag's answer would hold it for
// the full 5 s.
func TestChecksDoNotWaitForTheTag(t *testing.T) {
	t.Parallel()
	src, dst := newTestRegistry(t, true), newTestRegistry(t, true)
	src.pushManifest("app", "v1", ociTypes.manifest, src.pushImage("app", ociTypes, 7, 2, 1024))
	held := holdTagUntil(dst, "v1", func(r *http.Request) bool { return kind(r.URL.Path) == "blobs" })
	res, err := copyOne(t, testCopier(), src.ref("app:v1"), Destination{Ref: dst.ref("app:v1")})
	if err != nil {
		t.Fatal(err)
	}
	if d := <-held; d >= 5*time.Second {
		t.Errorf("no blob was checked while the tag's answer was held (%s): the checks waited for it", d.Round(time.Millisecond))
	}
	if res[0].Status != StatusCopied || res[0].BlobsCopied != 3 {
		t.Errorf("result %+v, want copied with 3 blobs", res[0])
	}
}

func TestExistingTag(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name      string
		overwrite bool
		wantErr   bool
	}{
		{"fail protects the tag", false, true},
		{"overwrite replaces it", true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			src, dst := newTestRegistry(t, true), newTestRegistry(t, true)
			idx, _ := src.pushIndex("app", "v1", ociTypes, 4)
			old := dst.pushImage("app", ociTypes, 99, 1, 100)
			oldM := dst.pushManifest("app", "v1", mtOCIManifest, old)

			dst.resetCounts()
			res, err := copyOne(t, testCopier(), src.ref("app:v1"), Destination{Ref: dst.ref("app:v1"), Overwrite: tc.overwrite})
			var ce *ConflictError
			if got := errors.As(err, &ce); got != tc.wantErr {
				t.Fatalf("Copy error = %v, want ConflictError: %v", err, tc.wantErr)
			}
			want := idx.Digest
			if tc.wantErr {
				want = oldM.Digest
				if res[0].Refused != oldM.Digest || ce.Existing != oldM.Digest || ce.Wanted != idx.Digest {
					t.Errorf("refused %q / conflict %+v, want existing %s", res[0].Refused, ce, oldM.Digest)
				}
				if res[0].Status != StatusFailed || dst.writes() != 0 {
					t.Errorf("status %s with %d writes; want failed with none", res[0].Status, dst.writes())
				}
			} else if res[0].Replaced != oldM.Digest {
				t.Errorf("replaced = %q, want %s", res[0].Replaced, oldM.Digest)
			}
			if got := dst.manifestDigest("app", "v1"); got != want {
				t.Errorf("tag v1 resolves to %s, want %s", got, want)
			}
		})
	}
}

func TestReferrersTravel(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name               string
		srcAPI, dstAPI     bool
		wantDstFallbackTag bool
	}{
		// ggcr's registry sends no OCI-Subject header: asked, it serves the API, so no tag is kept.
		{"api to api", true, true, false},
		{"fallback tag to fallback tag", false, false, true},
		{"api to no api", true, false, true},
		{"fallback tag to api", false, true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			src, dst := newTestRegistry(t, tc.srcAPI), newTestRegistry(t, tc.dstAPI)
			idx, children := src.pushIndex("app", "v1", ociTypes, 5)
			sig := src.pushReferrer("app", idx, "application/vnd.dev.sigstore.bundle+json", 6)
			sbom := src.pushReferrer("app", children[0], "application/spdx+json", 7)
			if !tc.srcAPI {
				// Without the API, the source keeps the OCI fallback tags itself.
				for _, p := range []struct{ subject, ref rawManifest }{{idx, sig}, {children[0], sbom}} {
					body := []byte(`{"schemaVersion":2,"mediaType":"` + mtOCIIndex + `","manifests":[{"mediaType":"` + mtOCIManifest + `","digest":"` + p.ref.Digest + `","size":` + itoa(len(p.ref.Body)) + `}]}`)
					src.pushManifest("app", fallbackTag(p.subject.Digest), mtOCIIndex, body)
				}
			}
			// A cosign signature, by tag.
			cosign := src.pushImage("app", ociTypes, 8, 1, 300)
			cosignM := src.pushManifest("app", fallbackTag(idx.Digest)+".sig", mtOCIManifest, cosign)

			res, err := copyOne(t, testCopier(), src.ref("app:v1"), Destination{Ref: dst.ref("app:v1")})
			if err != nil {
				t.Fatal(err)
			}
			for _, m := range []rawManifest{sig, sbom} {
				if got := dst.manifestDigest("app", m.Digest); got != m.Digest {
					t.Errorf("referrer %s not copied", m.Digest)
				}
			}
			if got := dst.manifestDigest("app", fallbackTag(idx.Digest)+".sig"); got != cosignM.Digest {
				t.Errorf("cosign tag resolves to %q, want %s", got, cosignM.Digest)
			}
			if tc.wantDstFallbackTag && dst.manifestDigest("app", fallbackTag(idx.Digest)) == "" {
				t.Errorf("destination has no referrers tag for %s", idx.Digest)
			}
			if !tc.wantDstFallbackTag && dst.manifestDigest("app", fallbackTag(idx.Digest)) != "" {
				t.Errorf("destination with the referrers API got a referrers tag for %s", idx.Digest)
			}
			if tc.srcAPI && !tc.dstAPI {
				// Ferry wrote the fallback tag itself: its entries say what the referrer is.
				if !dst.referrersTagLists(fallbackTag(idx.Digest), sig.Digest, "application/vnd.dev.sigstore.bundle+json") {
					t.Errorf("referrers tag %s does not list %s with its artifactType", fallbackTag(idx.Digest), sig.Digest)
				}
			}
			if res[0].ReferrersCopied < 3 {
				t.Errorf("referrers copied = %d, want at least 3", res[0].ReferrersCopied)
			}
			// The result lists what it took along, for a check of the copy.
			listed := map[string]string{}
			for _, r := range res[0].Referrers {
				listed[r.Digest] = r.Tag
			}
			if tag, ok := listed[cosignM.Digest]; !ok || tag != fallbackTag(idx.Digest)+".sig" {
				t.Errorf("result's referrers %v: want %s under %s.sig", res[0].Referrers, cosignM.Digest, fallbackTag(idx.Digest))
			}
			if _, ok := listed[sbom.Digest]; !ok && tc.srcAPI {
				t.Errorf("result's referrers %v: want the SBOM %s", res[0].Referrers, sbom.Digest)
			}
			// Referrers and children are written before the tag: a tag never
			// points at an image whose signature is still missing.
			puts := dst.manifestPuts()
			if len(puts) == 0 || puts[len(puts)-1] != "v1" {
				t.Errorf("manifest writes %v: want the tag v1 last", puts)
			}
		})
	}
}

func TestForeignLayersStayWhereTheyAre(t *testing.T) {
	t.Parallel()
	src, dst := newTestRegistry(t, true), newTestRegistry(t, true)
	foreign := descriptor{MediaType: "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
		Digest: digestOf([]byte("windows base layer")), Size: 18, URLs: []string{"https://example.com/layer.tar.gz"}}
	body := src.pushImage("win", dockerTypes, 9, 1, 1000, foreign)
	m := src.pushManifest("win", "ltsc", mtDockerV2, body)
	res, err := copyOne(t, testCopier(), src.ref("win:ltsc"), Destination{Ref: dst.ref("win:ltsc")})
	if err != nil {
		t.Fatal(err)
	}
	if got := dst.manifestDigest("win", "ltsc"); got != m.Digest {
		t.Errorf("digest %s, want %s", got, m.Digest)
	}
	if res[0].BlobsCopied != 2 {
		t.Errorf("blobs copied = %d, want 2 (config and the distributable layer)", res[0].BlobsCopied)
	}
}

func TestRetriesTransientErrors(t *testing.T) {
	t.Parallel()
	src, dst := newTestRegistry(t, true), newTestRegistry(t, true)
	idx, _ := src.pushIndex("app", "v1", ociTypes, 10)
	// Each counter counts the requests its fault may answer; the first n of
	// them get the fault.
	var throttled, unavailable, started atomic.Int32
	src.setFault(func(w http.ResponseWriter, r *http.Request) bool {
		if r.Method == http.MethodGet && kind(r.URL.Path) == "blobs" && throttled.Add(1) <= 2 {
			w.Header().Set("Retry-After", "0")
			w.WriteHeader(http.StatusTooManyRequests)
			return true
		}
		return false
	})
	dst.setFault(func(w http.ResponseWriter, r *http.Request) bool {
		if r.Method == http.MethodPut && kind(r.URL.Path) == "manifests" && unavailable.Add(1) <= 2 {
			http.Error(w, `{"errors":[{"code":"UNAVAILABLE","message":"try later"}]}`, http.StatusServiceUnavailable)
			return true
		}
		if r.Method == http.MethodPost && kind(r.URL.Path) == "uploads" && started.Add(1) == 1 {
			// One 500 on the first upload start.
			w.WriteHeader(http.StatusInternalServerError)
			return true
		}
		return false
	})
	if _, err := copyOne(t, testCopier(), src.ref("app:v1"), Destination{Ref: dst.ref("app:v1")}); err != nil {
		t.Fatalf("Copy after transient errors: %v", err)
	}
	if got := dst.manifestDigest("app", "v1"); got != idx.Digest {
		t.Errorf("digest %s, want %s", got, idx.Digest)
	}
	// The faults fired, and the copy asked again after each: more requests
	// came than the faults answered.
	for _, f := range []struct {
		what   string
		n      int32
		faults int32
	}{
		{"blob reads (429 Too Many Requests)", throttled.Load(), 2},
		{"manifest writes (503 Service Unavailable)", unavailable.Load(), 2},
		{"upload starts (500 Internal Server Error)", started.Load(), 1},
	} {
		if f.n <= f.faults {
			t.Errorf("%d %s, want more than the %d the fault answered", f.n, f.what, f.faults)
		}
	}
}

func TestRetryAfterIsHonoured(t *testing.T) {
	t.Parallel()
	src, dst := newTestRegistry(t, true), newTestRegistry(t, true)
	src.pushIndex("app", "v1", ociTypes, 11)
	var n atomic.Int32
	src.setFault(func(w http.ResponseWriter, r *http.Request) bool {
		if kind(r.URL.Path) == "manifests" && n.Add(1) == 1 {
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(http.StatusTooManyRequests)
			return true
		}
		return false
	})
	start := time.Now()
	if _, err := copyOne(t, testCopier(), src.ref("app:v1"), Destination{Ref: dst.ref("app:v1")}); err != nil {
		t.Fatal(err)
	}
	// The test backoff starts at 5ms: only Retry-After explains a wait of a second.
	if waited := time.Since(start); waited < time.Second {
		t.Errorf("copy took %s; Retry-After: 1 was not honoured", waited)
	}
}

func TestClientErrorsFailFast(t *testing.T) {
	t.Parallel()
	src, dst := newTestRegistry(t, true), newTestRegistry(t, true)
	src.pushIndex("app", "v1", ociTypes, 12)
	dst.setFault(func(w http.ResponseWriter, r *http.Request) bool {
		if r.Method == http.MethodPost {
			http.Error(w, `{"errors":[{"code":"DENIED","message":"no push for you"}]}`, http.StatusForbidden)
			return true
		}
		return false
	})
	_, err := copyOne(t, testCopier(WithJobs(1)), src.ref("app:v1"), Destination{Ref: dst.ref("app:v1")})
	var re *RegistryError
	if !errors.As(err, &re) || re.StatusCode != http.StatusForbidden {
		t.Fatalf("error = %v, want a 403 RegistryError", err)
	}
	for _, want := range []string{dst.host, "app", "403", "DENIED", "no push for you"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %q", err, want)
		}
	}
	// One blob streams at a time and one more opens its session ahead: the
	// first 403 ends the destination, with no retry, and no other blob of
	// the six is started.
	if got := dst.count("POST uploads"); got > 2 {
		t.Errorf("upload starts = %d, want at most 2 (no retry of 4xx, no more work once failed)", got)
	}
}

func TestOneDestinationFailingDoesNotStopOthers(t *testing.T) {
	t.Parallel()
	src, good, bad := newTestRegistry(t, true), newTestRegistry(t, true), newTestRegistry(t, true)
	idx, _ := src.pushIndex("app", "v1", ociTypes, 13)
	bad.setFault(func(w http.ResponseWriter, r *http.Request) bool {
		if r.Method == http.MethodPatch {
			http.Error(w, "", http.StatusForbidden)
			return true
		}
		return false
	})
	res, err := copyOne(t, testCopier(), src.ref("app:v1"), Destination{Ref: bad.ref("app:v1")}, Destination{Ref: good.ref("app:v1")})
	if err == nil || !strings.Contains(err.Error(), bad.host) {
		t.Fatalf("error = %v, want one naming %s", err, bad.host)
	}
	if res[0].Status != StatusFailed || res[1].Status != StatusCopied {
		t.Errorf("statuses = %s, %s; want failed, copied", res[0].Status, res[1].Status)
	}
	if got := good.manifestDigest("app", "v1"); got != idx.Digest {
		t.Errorf("good destination: %q, want %s", got, idx.Digest)
	}
	if got := bad.manifestDigest("app", "v1"); got != "" {
		t.Errorf("failed destination has tag pointing at %s; want no tag", got)
	}
}

func TestCancellation(t *testing.T) {
	t.Parallel()
	src, dst := newTestRegistry(t, true), newTestRegistry(t, true)
	src.pushIndex("app", "v1", ociTypes, 14)
	ctx, cancel := context.WithCancel(context.Background())
	src.setFault(func(w http.ResponseWriter, r *http.Request) bool {
		if r.Method == http.MethodGet && kind(r.URL.Path) == "blobs" {
			cancel()
			<-r.Context().Done() // hang until the client gives up
			return true
		}
		return false
	})
	done := make(chan error, 1)
	go func() {
		_, err := testCopier(WithJobs(1)).Copy(ctx, Source{Ref: src.ref("app:v1")}, []Destination{{Ref: dst.ref("app:v1")}})
		done <- err
	}()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("error = %v, want context.Canceled", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Copy did not return after cancellation")
	}
	if got := dst.manifestDigest("app", "v1"); got != "" {
		t.Errorf("cancelled copy left tag pointing at %s", got)
	}
	// The blob that was streaming and the one whose session was opened ahead
	// both cancel their sessions. A POST still in flight when the cancel
	// comes opens a session whose location Ferry never learns (the registry
	// expires it): at most one, the one blob ahead.
	if started, cancelled := dst.count("POST uploads"), dst.count("DELETE uploads"); cancelled == 0 || started-cancelled > 1 {
		t.Errorf("%d upload sessions started, %d cancelled; want every one Ferry learned of cancelled", started, cancelled)
	}
}

func TestUnsupportedSchema1(t *testing.T) {
	t.Parallel()
	src, dst := newTestRegistry(t, true), newTestRegistry(t, true)
	src.pushManifest("old", "v1", mtDockerSigned1, []byte(`{"schemaVersion":1,"name":"old","tag":"v1","fsLayers":[]}`))
	_, err := copyOne(t, testCopier(), src.ref("old:v1"), Destination{Ref: dst.ref("old:v1")})
	if !errors.Is(err, ErrUnsupportedManifest) || !strings.Contains(err.Error(), "schema 1") {
		t.Errorf("error = %v, want ErrUnsupportedManifest naming schema 1", err)
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

// A copy by digest asks the referrers API about that digest straight away:
// the answer tells whether the API is there and lists the root's
// referrers, so no separate probe is sent. Referrers of referrers and the
// children are still asked about, one request each.
func TestCopyByDigestAsksForItsReferrersOnce(t *testing.T) {
	t.Parallel()
	for _, api := range []bool{true, false} {
		t.Run(fmt.Sprintf("api=%v", api), func(t *testing.T) {
			t.Parallel()
			src, dst := newTestRegistry(t, api), newTestRegistry(t, true)
			idx, children := src.pushIndex("app", "v1", ociTypes, 41)
			sig := src.pushReferrer("app", idx, "application/vnd.dev.sigstore.bundle+json", 42)
			if !api {
				body := []byte(`{"schemaVersion":2,"mediaType":"` + mtOCIIndex + `","manifests":[{"mediaType":"` + mtOCIManifest + `","digest":"` + sig.Digest + `","size":` + itoa(len(sig.Body)) + `}]}`)
				src.pushManifest("app", fallbackTag(idx.Digest), mtOCIIndex, body)
			}
			src.resetCounts()
			if _, err := copyOne(t, testCopier(), src.ref("app@"+idx.Digest), Destination{Ref: dst.ref("app:v1")}); err != nil {
				t.Fatal(err)
			}
			if got := dst.manifestDigest("app", sig.Digest); got != sig.Digest {
				t.Errorf("the index's signature was not copied")
			}
			// With the API: the index, each child and the signature itself,
			// once each. Without it: the one request that found that out.
			want := 1
			if api {
				want = 1 + len(children) + 1
			}
			if got := src.count("GET referrers"); got != want {
				t.Errorf("%d referrers requests to the source, want %d", got, want)
			}
		})
	}
}

// TestImmutableReferrersTagIsNotAFailure: a destination without the
// referrers API whose fallback tag exists and cannot be moved (immutable
// tags) still gets the new referrer, by digest, and the copy succeeds.
func TestImmutableReferrersTagIsNotAFailure(t *testing.T) {
	t.Parallel()
	src, dst := newTestRegistry(t, true), newTestRegistry(t, false)
	idx, _ := src.pushIndex("app", "v1", ociTypes, 5)
	sig := src.pushReferrer("app", idx, "application/vnd.dev.sigstore.bundle+json", 6)
	var refused atomic.Int32
	dst.mu.Lock()
	dst.fault = func(w http.ResponseWriter, r *http.Request) bool {
		if r.Method == http.MethodPut && strings.HasSuffix(r.URL.Path, "/manifests/"+fallbackTag(idx.Digest)) {
			refused.Add(1)
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusBadRequest)
			io.WriteString(w, `{"errors":[{"code":"TAG_INVALID","message":"The image tag already exists and cannot be overwritten because the repository is immutable."}]}`)
			return true
		}
		return false
	}
	dst.mu.Unlock()
	if _, err := copyOne(t, testCopier(), src.ref("app:v1"), Destination{Ref: dst.ref("app:v1")}); err != nil {
		t.Fatalf("copy failed on an immutable referrers tag: %v", err)
	}
	if refused.Load() == 0 {
		t.Fatal("the referrers tag was never written: the fault did not fire")
	}
	if got := dst.manifestDigest("app", sig.Digest); got != sig.Digest {
		t.Errorf("the referrer is not in the destination by digest")
	}
	if got := dst.manifestDigest("app", "v1"); got != idx.Digest {
		t.Errorf("tag at %q, want %s", got, idx.Digest)
	}
}

// A cosign tag that moves in the source while a copy runs (a second
// signature added) is not written back at the digest the copy read: the
// copy that read the newer one writes that, and this one leaves it.
func TestMovedReferrerTagIsNotRolledBack(t *testing.T) {
	t.Parallel()
	src, dst := newTestRegistry(t, true), newTestRegistry(t, true)
	idx, _ := src.pushIndex("app", "v1", ociTypes, 5)
	sigTag := fallbackTag(idx.Digest) + ".sig"
	old := src.pushManifest("app", sigTag, mtOCIManifest, src.pushImage("app", ociTypes, 8, 1, 300))
	// Handlers run at once: moved lets one re-push, and newer hands what it
	// pushed to the test.
	var moved atomic.Bool
	newer := make(chan rawManifest, 1)
	dst.setFault(func(w http.ResponseWriter, r *http.Request) bool {
		// The first blob the copy uploads: the signature is re-pushed
		// before the copy reaches the manifests.
		if r.Method == http.MethodPost && strings.Contains(r.URL.Path, "/blobs/uploads") && moved.CompareAndSwap(false, true) {
			newer <- src.pushManifest("app", sigTag, mtOCIManifest, src.pushImage("app", ociTypes, 9, 1, 300))
		}
		return false
	})
	if _, err := copyOne(t, testCopier(), src.ref("app:v1"), Destination{Ref: dst.ref("app:v1")}); err != nil {
		t.Fatal(err)
	}
	if !moved.Load() {
		t.Fatal("the copy uploaded no blob")
	}
	// The re-push was done before its upload session was answered, so
	// before Copy returned.
	n := <-newer
	if got := dst.manifestDigest("app", sigTag); got == old.Digest {
		t.Errorf("%s was written at %s, which the source had already replaced with %s", sigTag, old.Digest, n.Digest)
	}
	if got := dst.manifestDigest("app", "v1"); got != idx.Digest {
		t.Errorf("v1 is at %q, want %s", got, idx.Digest)
	}
}

// One call to a destination that holds the image already and one that
// does not: the first's checks are called off once its tag's answer comes,
// and that must not cancel the reading of the source's manifests, which
// the second needs (they are read once for both). The source holds its
// image manifests' reads until the first destination has answered.
func TestWarmDestinationBesideACold(t *testing.T) {
	t.Parallel()
	src, warm, cold := newTestRegistry(t, true), newTestRegistry(t, true), newTestRegistry(t, true)
	idx, _ := src.pushIndex("app", "v1", ociTypes, 11)
	c := testCopier()
	if _, err := copyOne(t, c, src.ref("app:v1"), Destination{Ref: warm.ref("app:v1")}); err != nil {
		t.Fatal(err)
	}
	for i := range 12 {
		requested, answered := make(chan struct{}), make(chan struct{})
		var once, twice sync.Once
		warm.setFault(func(w http.ResponseWriter, r *http.Request) bool {
			if r.Method == http.MethodHead && strings.HasSuffix(r.URL.Path, "/manifests/v1") {
				select { // the tag's answer comes once the manifests are being read
				case <-requested:
				case <-time.After(5 * time.Second):
				}
				defer once.Do(func() { close(answered) })
			}
			return false
		})
		src.setFault(func(w http.ResponseWriter, r *http.Request) bool {
			if r.Method == http.MethodGet && strings.Contains(r.URL.Path, "/manifests/sha256:") {
				twice.Do(func() { close(requested) })
				select {
				case <-answered:
					time.Sleep(20 * time.Millisecond) // for the warm survey to call its checks off
				case <-time.After(5 * time.Second):
				}
			}
			return false
		})
		coldRef := cold.ref(fmt.Sprintf("app%d:v1", i))
		dsts := []Destination{{Ref: warm.ref("app:v1")}, {Ref: coldRef}}
		if i%2 == 1 { // which destination's checks read the manifests varies with the order
			dsts[0], dsts[1] = dsts[1], dsts[0]
		}
		// Without referrers, whose discovery would read the manifests
		// first, for the whole copy.
		res, err := testCopier(WithReferrers(false)).Copy(t.Context(), Source{Ref: src.ref("app:v1")}, dsts)
		if err != nil {
			t.Fatalf("copy %d: %v", i, err)
		}
		if i%2 == 1 {
			res[0], res[1] = res[1], res[0]
		}
		if res[0].Status != StatusUnchanged || res[1].Status != StatusCopied {
			t.Fatalf("copy %d: statuses %s and %s, want unchanged and copied", i, res[0].Status, res[1].Status)
		}
		if got := cold.manifestDigest(fmt.Sprintf("app%d", i), "v1"); got != idx.Digest {
			t.Fatalf("copy %d: the cold destination's v1 is %q, want %s", i, got, idx.Digest)
		}
	}
}

// A referrer pushed after its image (a late signature) is looked for in
// the destination beside the tag, not after the tag's answer: the copy
// that brings it takes one round trip of checks. The destination holds
// the tag's HEAD until the referrer's manifest has been asked about.
func TestReferrerChecksDoNotWaitForTheTag(t *testing.T) {
	t.Parallel()
	src, dst := newTestRegistry(t, true), newTestRegistry(t, true)
	m := src.pushManifest("app", "v1", ociTypes.manifest, src.pushImage("app", ociTypes, 13, 1, 1024))
	c := testCopier()
	if _, err := copyOne(t, c, src.ref("app:v1"), Destination{Ref: dst.ref("app:v1")}); err != nil {
		t.Fatal(err)
	}
	sig := src.pushReferrer("app", m, "application/vnd.dev.sigstore.bundle+json", 14)
	held := holdTagUntil(dst, "v1", func(r *http.Request) bool { return strings.HasSuffix(r.URL.Path, "/manifests/"+sig.Digest) })
	res, err := copyOne(t, testCopier(), src.ref("app:v1"), Destination{Ref: dst.ref("app:v1")})
	if err != nil {
		t.Fatal(err)
	}
	if d := <-held; d >= 5*time.Second {
		t.Errorf("the referrer was not asked about while the tag's answer was held (%s): its checks waited for it", d.Round(time.Millisecond))
	}
	if res[0].ReferrersCopied != 1 || dst.manifestDigest("app", sig.Digest) != sig.Digest {
		t.Errorf("result %+v; want the late referrer copied", res[0])
	}
}

// holdTagUntil makes tr hold its answer to the HEAD of tag until a HEAD
// that check picks out has come, or for 5 s. It returns how long the
// tag's HEAD was held: 5 s or more means the copy sent nothing check
// picks out while waiting for the tag's answer.
func holdTagUntil(tr *testRegistry, tag string, check func(r *http.Request) bool) <-chan time.Duration {
	checked := make(chan struct{})
	var once sync.Once
	held := make(chan time.Duration, 1)
	tr.setFault(func(w http.ResponseWriter, r *http.Request) bool {
		switch {
		case r.Method != http.MethodHead:
		case strings.HasSuffix(r.URL.Path, "/manifests/"+tag):
			start := time.Now()
			select {
			case <-checked:
			case <-time.After(5 * time.Second):
			}
			held <- time.Since(start)
		case check(r):
			once.Do(func() { close(checked) })
		}
		return false
	})
	return held
}
