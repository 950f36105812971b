package copy

import (
	"context"
	"testing"
)

func TestHomesWaitForAnUploadInFlight(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	var h homes
	repo, claim, err := h.lookup(ctx, "reg", "sha256:a", nil)
	if err != nil || repo != "" || !claim {
		t.Fatalf("first lookup: %q, claim %v, %v; want a claim", repo, claim, err)
	}
	waiting := make(chan struct{})
	got := make(chan string)
	go func() {
		repo, claim, _ := h.lookup(ctx, "reg", "sha256:a", func() { close(waiting) })
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
	if _, claim, _ := h.lookup(ctx, "other", "sha256:a", nil); !claim {
		t.Error("another registry's lookup did not claim")
	}
}

func TestHomesFailedUploadIsClaimedAgain(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	var h homes
	if _, claim, _ := h.lookup(ctx, "reg", "sha256:a", nil); !claim {
		t.Fatal("no claim")
	}
	waiting := make(chan struct{})
	got := make(chan bool)
	go func() {
		_, claim, _ := h.lookup(ctx, "reg", "sha256:a", func() { close(waiting) })
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
	h.lookup(context.Background(), "reg", "sha256:a", nil)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, _, err := h.lookup(ctx, "reg", "sha256:a", nil); err == nil {
		t.Error("a cancelled lookup waited on or returned no error")
	}
}

func TestHomesForgetKeepsClaims(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	var h homes
	h.lookup(ctx, "reg", "inflight", nil)
	for i := range maxHomes + 10 {
		k := string(rune(i))
		h.lookup(ctx, "reg", k, nil)
		h.settle("reg", k, "repo")
	}
	if len(h.m) > maxHomes {
		t.Errorf("%d blobs remembered, want at most %d", len(h.m), maxHomes)
	}
	if e, ok := h.m[homeKey{"reg", "inflight"}]; !ok || e.repo != "" {
		t.Error("forgetting dropped an upload still in flight")
	}
}
