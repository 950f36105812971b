package main

import (
	"context"
	"fmt"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/ferry-dev/ferry/test/imagegen"
)

const (
	mib = 1 << 20

	indexRepo = "bench/multiarch:v1"
	largeRepo = "bench/large:v1"
)

// dataSpec says how big the generated images are.
type dataSpec struct {
	layersPerPlatform int
	layerSize         int64
	largeLayerSize    int64
}

var defaultData = dataSpec{layersPerPlatform: 4, layerSize: 32 * mib, largeLayerSize: 1024 * mib}

// pushed describes one image pushed to the source registry.
type pushed struct {
	repo   string  // repository:tag, without host
	digest v1.Hash // digest of the top-level manifest
	bytes  int64   // sum of every blob and manifest
}

// pushSource generates both benchmark images into the registry at addr: a
// 2-platform OCI index and a single-layer image. Layers are streamed from
// their seeds, never held in memory.
func pushSource(ctx context.Context, addr string, spec dataSpec) (index, large pushed, err error) {
	if index, err = pushIndex(ctx, addr, spec); err != nil {
		return index, large, err
	}
	large, err = pushLarge(ctx, addr, spec)
	return index, large, err
}

func pushIndex(ctx context.Context, addr string, spec dataSpec) (pushed, error) {
	platforms := []v1.Platform{{OS: "linux", Architecture: "amd64"}, {OS: "linux", Architecture: "arm64"}}
	images := map[string]v1.Image{}
	for i, p := range platforms {
		seed := uint64(1000 * (i + 1)) // distinct layers per platform
		img, err := imagegen.RandomImage(p, seed, spec.layersPerPlatform, spec.layerSize)
		if err != nil {
			return pushed{}, fmt.Errorf("generate %s image: %w", p, err)
		}
		images[p.String()] = img
	}
	idx, err := imagegen.Index(images, platforms)
	if err != nil {
		return pushed{}, fmt.Errorf("build index: %w", err)
	}
	ref, err := name.ParseReference(addr+"/"+indexRepo, name.Insecure)
	if err != nil {
		return pushed{}, fmt.Errorf("parse source reference: %w", err)
	}
	if err := remote.WriteIndex(ref, idx, remote.WithContext(ctx)); err != nil {
		return pushed{}, fmt.Errorf("push index to %s: %w", ref, err)
	}
	total, err := indexBytes(idx)
	if err != nil {
		return pushed{}, err
	}
	digest, err := idx.Digest()
	if err != nil {
		return pushed{}, fmt.Errorf("digest of index: %w", err)
	}
	return pushed{repo: indexRepo, digest: digest, bytes: total}, nil
}

func pushLarge(ctx context.Context, addr string, spec dataSpec) (pushed, error) {
	layer, err := imagegen.RandomLayer(7, spec.largeLayerSize)
	if err != nil {
		return pushed{}, fmt.Errorf("generate large layer: %w", err)
	}
	img, err := imagegen.Image(v1.Platform{OS: "linux", Architecture: "amd64"}, layer)
	if err != nil {
		return pushed{}, fmt.Errorf("build large image: %w", err)
	}
	ref, err := name.ParseReference(addr+"/"+largeRepo, name.Insecure)
	if err != nil {
		return pushed{}, fmt.Errorf("parse source reference: %w", err)
	}
	if err := remote.Write(ref, img, remote.WithContext(ctx)); err != nil {
		return pushed{}, fmt.Errorf("push large image to %s: %w", ref, err)
	}
	total, err := imageBytes(img)
	if err != nil {
		return pushed{}, err
	}
	digest, err := img.Digest()
	if err != nil {
		return pushed{}, fmt.Errorf("digest of large image: %w", err)
	}
	return pushed{repo: largeRepo, digest: digest, bytes: total}, nil
}

// indexBytes is the index manifest plus every child image's bytes.
func indexBytes(idx v1.ImageIndex) (int64, error) {
	m, err := idx.IndexManifest()
	if err != nil {
		return 0, fmt.Errorf("read index manifest: %w", err)
	}
	raw, err := idx.RawManifest()
	if err != nil {
		return 0, fmt.Errorf("read index manifest: %w", err)
	}
	total := int64(len(raw))
	for _, d := range m.Manifests {
		img, err := idx.Image(d.Digest)
		if err != nil {
			return 0, fmt.Errorf("image %s of index: %w", d.Digest, err)
		}
		n, err := imageBytes(img)
		if err != nil {
			return 0, err
		}
		total += n
	}
	return total, nil
}

// imageBytes is the manifest, config and layer sizes of img.
func imageBytes(img v1.Image) (int64, error) {
	m, err := img.Manifest()
	if err != nil {
		return 0, fmt.Errorf("read image manifest: %w", err)
	}
	raw, err := img.RawManifest()
	if err != nil {
		return 0, fmt.Errorf("read image manifest: %w", err)
	}
	total := int64(len(raw)) + m.Config.Size
	for _, l := range m.Layers {
		total += l.Size
	}
	return total, nil
}
