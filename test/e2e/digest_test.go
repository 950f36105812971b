package e2e

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// A manual run that names only a digest copies every tag of it that a rule
// takes (release-1 and release-1.0, not nightly), to every destination,
// and the summary says which tags were copied.
func TestDigestCopiesEveryTagARuleTakes(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOpts{})
	ctx := context.Background()
	host, auth, err := h.world.Login(ctx, SourceAccount+"/"+SourceRegion)
	if err != nil {
		t.Fatal(err)
	}
	opts := []remote.Option{remote.WithContext(ctx), remote.WithAuth(auth)}
	repo, err := name.NewRepository(host + "/" + Repository)
	if err != nil {
		t.Fatal(err)
	}
	desc, err := remote.Get(repo.Digest(h.rel.Index), opts...)
	if err != nil {
		t.Fatal(err)
	}
	for _, tag := range []string{"release-1", "nightly"} {
		if err := remote.Tag(repo.Tag(tag), desc, opts...); err != nil {
			t.Fatal(err)
		}
	}
	ex := h.run([]byte(`{"repository":"` + Repository + `","digest":"` + h.rel.Index + `"}`))
	if ex.Status != "SUCCEEDED" {
		t.Fatalf("execution %s %s %q", ex.Status, ex.Error, ex.Cause)
	}
	s := summary(t, ex)
	var tags []string
	for _, x := range s["tags"].([]any) {
		tags = append(tags, x.(string))
	}
	if !slices.Equal(tags, []string{"release-1", "release-1.0"}) || s["copied"] != float64(6) {
		t.Errorf("summary tags %v, %v copied; want release-1 and release-1.0 copied to 3 destinations each", tags, s["copied"])
	}
	for _, id := range Destinations {
		for _, tag := range []string{"release-1", "release-1.0"} {
			for _, c := range h.world.CheckRelease(ctx, id, tag, h.rel) {
				if c.Err != nil {
					t.Errorf("%s %s: %s: %v", id, tag, c.What, c.Err)
				}
			}
		}
		if ok, err := h.world.HasTag(ctx, id, "nightly"); ok || err != nil {
			t.Errorf("%s has nightly (%v), which no rule takes", id, err)
		}
	}
	if !strings.Contains(h.out.String(), "its tags release-1, release-1.0") {
		t.Errorf("the step-by-step view does not say which tags are copied:\n%s", h.out.String())
	}
}
