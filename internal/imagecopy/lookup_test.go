package imagecopy

import (
	"context"
	"errors"
	"slices"
	"testing"
)

// Resolve and Tags, which ferry copy uses to explain a source not found.
func TestResolveAndTags(t *testing.T) {
	t.Parallel()
	reg := newTestRegistry(t, true)
	m := reg.pushManifest("app", "v1", ociTypes.manifest, reg.pushImage("app", ociTypes, 8, 1, 512))
	reg.pushManifest("app", "v2", ociTypes.manifest, m.Body)
	c, ctx := testCopier(), context.Background()

	for ref, want := range map[string]string{"app:v1": m.Digest, "app:v3": "", "nothing:v1": ""} {
		got, err := c.Resolve(ctx, reg.ref(ref))
		if err != nil || got != want {
			t.Errorf("Resolve(%s) = %q, %v; want %q", ref, got, err, want)
		}
	}
	tags, complete, err := c.Tags(ctx, reg.ref("app:v3"))
	slices.Sort(tags)
	if err != nil || !complete || !slices.Equal(tags, []string{"v1", "v2"}) {
		t.Errorf("Tags = %q, %v, %v; want [v1 v2], complete", tags, complete, err)
	}

	_, err = copyOne(t, c, reg.ref("app:v3"), Destination{Ref: reg.ref("copy:v3")})
	se, ok := errors.AsType[*SourceError](err)
	if !ok || !errors.Is(err, ErrNotFound) || se.Ref != reg.ref("app:v3").String() {
		t.Errorf("Copy of a missing tag: %v, want a *SourceError for it that is ErrNotFound", err)
	}
}
