package main

import (
	"context"
	"fmt"
	"net/http"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"golang.org/x/sync/errgroup"

	"github.com/ferry-dev/ferry/test/imagegen"
)

// syncSpec says what the sync scenario's source holds: repos repositories
// bench/app-00, bench/app-01, ... each with tags release-1 ... release-N.
// Every image is base layers (shared by all images, as a common OS and
// language-runtime base is), one layer per repository (its dependencies,
// shared by its releases) and one layer per tag (the application itself).
type syncSpec struct {
	repos     int
	tags      int
	baseSizes []int64 // one layer each, in every image
	repoLayer int64   // per repository, in each of its tags
	tagLayer  int64   // per tag
}

var defaultSyncSpec = syncSpec{
	repos: 50, tags: 3,
	baseSizes: []int64{2 * mib, 1 * mib},
	repoLayer: 512 << 10,
	tagLayer:  256 << 10,
}

func syncRepoName(i int) string { return fmt.Sprintf("bench/app-%02d", i) }
func syncTagName(j int) string  { return fmt.Sprintf("release-%d", j+1) }

// syncImage is one tagged image of the source.
type syncImage struct {
	repo, tag string
	base      []v1.Layer // layers shared with every other image
	own       []v1.Layer // layers of this repository or tag only
	digest    v1.Hash
}

// syncSource is the generated source: its images and what they hold.
type syncSource struct {
	spec   syncSpec
	images []syncImage
	repos  []string
	// uniqueBlobs and uniqueBytes count every distinct blob (configs and
	// layers) once: what an ideal sync reads from the source.
	uniqueBlobs int
	uniqueBytes int64
	// imageBytes is the sum of every image's manifest, config and layers,
	// shared layers counted in every image that has them.
	imageBytes int64
}

// seeds for imagegen: distinct ranges so no two layers are equal.
const (
	seedBase = 1 << 20
	seedRepo = 2 << 20
	seedTag  = 3 << 20
)

var syncPlatform = v1.Platform{OS: "linux", Architecture: "amd64"}

// newSyncSource generates the images of spec (layer bytes are streamed from
// their seeds whenever they are read, never held) and counts their unique
// blobs by walking their manifests.
func newSyncSource(spec syncSpec) (*syncSource, error) {
	src := &syncSource{spec: spec}
	var base []v1.Layer
	for i, size := range spec.baseSizes {
		l, err := imagegen.RandomLayer(uint64(seedBase+i), size)
		if err != nil {
			return nil, err
		}
		base = append(base, l)
	}
	for i := range spec.repos {
		repo := syncRepoName(i)
		src.repos = append(src.repos, repo)
		repoLayer, err := imagegen.RandomLayer(uint64(seedRepo+i), spec.repoLayer)
		if err != nil {
			return nil, err
		}
		for j := range spec.tags {
			tagLayer, err := imagegen.RandomLayer(uint64(seedTag+i*spec.tags+j), spec.tagLayer)
			if err != nil {
				return nil, err
			}
			im := syncImage{repo: repo, tag: syncTagName(j), base: base, own: []v1.Layer{repoLayer, tagLayer}}
			img, err := im.build("")
			if err != nil {
				return nil, err
			}
			if im.digest, err = img.Digest(); err != nil {
				return nil, fmt.Errorf("digest of %s:%s: %w", im.repo, im.tag, err)
			}
			src.images = append(src.images, im)
		}
	}
	if err := src.count(); err != nil {
		return nil, err
	}
	return src, nil
}

// build returns the image. With mountFrom (a repository reference), its base
// layers are mountable from there, so a push mounts them instead of
// uploading them again: the bytes and digest are the same either way.
func (im syncImage) build(mountFrom string) (v1.Image, error) {
	layers := make([]v1.Layer, 0, len(im.base)+len(im.own))
	for _, l := range im.base {
		if mountFrom != "" {
			ref, err := name.ParseReference(mountFrom, name.Insecure)
			if err != nil {
				return nil, fmt.Errorf("parse %s: %w", mountFrom, err)
			}
			l = &remote.MountableLayer{Layer: l, Reference: ref}
		}
		layers = append(layers, l)
	}
	layers = append(layers, im.own...)
	img, err := imagegen.Image(syncPlatform, layers...)
	if err != nil {
		return nil, fmt.Errorf("build %s:%s: %w", im.repo, im.tag, err)
	}
	return img, nil
}

// count walks every image's manifest and adds up its blobs.
func (s *syncSource) count() error {
	seen := map[v1.Hash]bool{}
	for _, im := range s.images {
		img, err := im.build("")
		if err != nil {
			return err
		}
		m, err := img.Manifest()
		if err != nil {
			return fmt.Errorf("manifest of %s:%s: %w", im.repo, im.tag, err)
		}
		n, err := imageBytes(img)
		if err != nil {
			return err
		}
		s.imageBytes += n
		for _, d := range append([]v1.Descriptor{m.Config}, m.Layers...) {
			if !seen[d.Digest] {
				seen[d.Digest] = true
				s.uniqueBlobs++
				s.uniqueBytes += d.Size
			}
		}
	}
	return nil
}

// push writes every image into the registry at host (anonymously, over
// plain HTTP). The first repository is pushed first; the others then mount
// the base layers from it, as a registry that already holds a base image
// would let them.
func (s *syncSource) push(ctx context.Context, host string) error {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	defer tr.CloseIdleConnections()
	pushOne := func(ctx context.Context, im syncImage, mountFrom string) error {
		img, err := im.build(mountFrom)
		if err != nil {
			return err
		}
		ref, err := name.ParseReference(host+"/"+im.repo+":"+im.tag, name.Insecure)
		if err != nil {
			return fmt.Errorf("parse source reference: %w", err)
		}
		if err := remote.Write(ref, img, remote.WithContext(ctx), remote.WithTransport(tr)); err != nil {
			return fmt.Errorf("push %s: %w", ref, err)
		}
		return nil
	}
	first := s.images[0].repo
	for _, im := range s.images {
		if im.repo == first {
			if err := pushOne(ctx, im, ""); err != nil {
				return err
			}
		}
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(4)
	for _, im := range s.images {
		if im.repo == first {
			continue
		}
		g.Go(func() error { return pushOne(gctx, im, host+"/"+first) })
	}
	return g.Wait()
}
