package imagecopy

import (
	"context"
	"encoding/json"
	"errors"
	"sync/atomic"
	"testing"
	"time"
)

// lookup is try, then await when an upload is in flight (calling onWait
// first): what a caller holding no claim may do.
func lookup(h *homes, ctx context.Context, registry, digest string, onWait func()) (repo string, claim bool, err error) {
	repo, claim, wait := h.try(registry, digest)
	if wait == nil {
		return repo, claim, nil
	}
	if onWait != nil {
		onWait()
	}
	return h.await(ctx, registry, digest, wait)
}

func TestHomesWaitForAnUploadInFlight(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	var h homes
	repo, claim, err := lookup(&h, ctx, "reg", "sha256:a", nil)
	if err != nil || repo != "" || !claim {
		t.Fatalf("first lookup: %q, claim %v, %v; want a claim", repo, claim, err)
	}
	waiting := make(chan struct{})
	got := make(chan string)
	go func() {
		repo, claim, _ := lookup(&h, ctx, "reg", "sha256:a", func() { close(waiting) })
		if claim {
			repo = "claimed"
		}
		got <- repo
	}()
	<-waiting // the second lookup found the upload in flight
	h.settle("reg", "sha256:a", "team/app")
	if r := <-got; r != "team/app" {
		t.Errorf("waiting lookup got %q, want the repository the upload settled in", r)
	}
	// Another registry, or another blob, is not held up.
	if _, claim, _ := lookup(&h, ctx, "other", "sha256:a", nil); !claim {
		t.Error("another registry's lookup did not claim")
	}
}

func TestHomesFailedUploadIsClaimedAgain(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	var h homes
	if _, claim, _ := lookup(&h, ctx, "reg", "sha256:a", nil); !claim {
		t.Fatal("no claim")
	}
	waiting := make(chan struct{})
	got := make(chan bool)
	go func() {
		_, claim, _ := lookup(&h, ctx, "reg", "sha256:a", func() { close(waiting) })
		got <- claim
	}()
	<-waiting
	h.settle("reg", "sha256:a", "") // the upload failed
	if !<-got {
		t.Error("after a failed upload, the waiting lookup did not claim the blob itself")
	}
}

func TestHomesWaitEndsWithTheContext(t *testing.T) {
	t.Parallel()
	var h homes
	lookup(&h, context.Background(), "reg", "sha256:a", nil)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, _, err := lookup(&h, ctx, "reg", "sha256:a", nil); err == nil {
		t.Error("a cancelled lookup waited on or returned no error")
	}
}

func TestHomesForgetKeepsClaims(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	var h homes
	lookup(&h, ctx, "reg", "inflight", nil)
	for i := range maxHomes + 10 {
		k := string(rune(i))
		lookup(&h, ctx, "reg", k, nil)
		h.settle("reg", k, "repo")
	}
	if len(h.m) > maxHomes {
		t.Errorf("%d blobs remembered, want at most %d", len(h.m), maxHomes)
	}
	if e, ok := h.m[homeKey{"reg", "inflight"}]; !ok || e.repo != "" {
		t.Error("forgetting dropped an upload still in flight")
	}
}

// TestEmptyDestinationAsksOnlyForTheTag: a copy into a repository the
// caller knows to be empty asks where the tag points and nothing else, and
// a second copy of the same Copier into it uploads no blob the first one
// put there.
func TestEmptyDestinationAsksOnlyForTheTag(t *testing.T) {
	t.Parallel()
	src, dst := newTestRegistry(t, true), newTestRegistry(t, true)
	src.pushIndex("app", "v1", ociTypes, 2)
	src.pushIndex("app", "v2", ociTypes, 2) // the same images under another tag
	c := testCopier()
	res, err := copyOne(t, c, src.ref("app:v1"), Destination{Ref: dst.ref("app:v1"), Empty: true})
	if err != nil {
		t.Fatal(err)
	}
	if n := dst.count("HEAD blobs"); n != 0 {
		t.Errorf("%d blob HEADs into an empty repository, want 0", n)
	}
	if n := dst.count("HEAD manifests"); n != 1 {
		t.Errorf("%d manifest HEADs, want 1 (the tag)", n)
	}
	if d := dst.manifestDigest("app", "v1"); d != res[0].Digest {
		t.Fatalf("destination tag at %q, want %s", d, res[0].Digest)
	}
	uploads := dst.count("PUT uploads")
	if uploads == 0 {
		t.Fatal("no blob upload counted for the first copy")
	}
	if _, err := copyOne(t, c, src.ref("app:v2"), Destination{Ref: dst.ref("app:v2"), Empty: true}); err != nil {
		t.Fatal(err)
	}
	if n := dst.count("PUT uploads") - uploads; n != 0 {
		t.Errorf("the second copy uploaded %d blobs the first had put there, want 0", n)
	}
	if d := dst.manifestDigest("app", "v2"); d != res[0].Digest {
		t.Errorf("v2 at %q, want %s", d, res[0].Digest)
	}
}

// TestCopiesThatNeedTheSameBlobsInOtherOrdersDoNotWaitForEachOther: two
// copies of one Copier need the same layers in the same two registries,
// listed in opposite orders. A copy that waited for the other's upload
// while holding its own claim would wait for ever.
func TestCopiesThatNeedTheSameBlobsInOtherOrdersDoNotWaitForEachOther(t *testing.T) {
	t.Parallel()
	src := newTestRegistry(t, true)
	body := src.pushImage("app", ociTypes, 7, 60, 1<<10)
	src.pushManifest("app", "v1", ociTypes.manifest, body)
	var m struct {
		Layers []descriptor `json:"layers"`
	}
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatal(err)
	}
	first := m.Layers[0]
	for round := range 3 {
		d1, d2 := newTestRegistry(t, true), newTestRegistry(t, true)
		c := testCopier(WithJobs(2))
		// Both copies claim the first layer in their first registry before
		// either looks at its second: the first to look waits here for the
		// other's look.
		var looks atomic.Int32
		rendezvous := make(chan struct{})
		c.homes.afterTry = func(digest string) {
			if digest != first.Digest {
				return
			}
			switch looks.Add(1) {
			case 1:
				select {
				case <-rendezvous:
				case <-time.After(10 * time.Second):
				}
			case 2:
				close(rendezvous)
			}
		}
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		errs := make(chan error, 2)
		for _, order := range [][]*testRegistry{{d1, d2}, {d2, d1}} {
			go func() {
				var dsts []Destination
				for _, d := range order {
					dsts = append(dsts, Destination{Ref: d.ref("app:v1"), Empty: true})
				}
				_, err := c.Copy(ctx, Source{Ref: src.ref("app:v1")}, dsts)
				errs <- err
			}()
		}
		for range 2 {
			if err := <-errs; err != nil {
				cancel()
				t.Fatalf("round %d: %v (two copies waited for each other's uploads?)", round, err)
			}
		}
		cancel()
		for _, d := range []*testRegistry{d1, d2} {
			if got := d.manifestDigest("app", "v1"); got != digestOf(body) {
				t.Fatalf("round %d: destination tag at %q, want %s", round, got, digestOf(body))
			}
		}
	}
}

// TestBeforeTagStopsEveryTagWrite: a BeforeTag error writes no destination
// tag, asks once for all destinations, and leaves what came before it (the
// blobs and child manifests) for a retry.
func TestBeforeTagStopsEveryTagWrite(t *testing.T) {
	t.Parallel()
	src, d1, d2 := newTestRegistry(t, true), newTestRegistry(t, true), newTestRegistry(t, true)
	_, children := src.pushIndex("app", "v1", ociTypes, 2)
	asked := 0
	moved := errors.New("the source tag moved on")
	_, err := testCopier().Copy(context.Background(), Source{Ref: src.ref("app:v1"), BeforeTag: func(context.Context) error {
		asked++
		return moved
	}}, []Destination{{Ref: d1.ref("app:v1")}, {Ref: d2.ref("app:v1")}})
	if !errors.Is(err, moved) {
		t.Fatalf("error %v, want the BeforeTag error", err)
	}
	if asked != 1 {
		t.Errorf("BeforeTag asked %d times, want once for both destinations", asked)
	}
	for _, d := range []*testRegistry{d1, d2} {
		if got := d.manifestDigest("app", "v1"); got != "" {
			t.Errorf("tag written at %s although BeforeTag refused", got)
		}
		for _, c := range children {
			if got := d.manifestDigest("app", c.Digest); got != c.Digest {
				t.Errorf("child manifest %s: %q; what comes before the tag stays written", c.Digest, got)
			}
		}
	}
}
