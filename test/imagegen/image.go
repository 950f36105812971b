package imagegen

import (
	"fmt"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Image returns an OCI image for platform made of the given layers.
func Image(platform v1.Platform, layers ...v1.Layer) (v1.Image, error) {
	base := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	base = mutate.ConfigMediaType(base, types.OCIConfigJSON)
	cfg, err := base.ConfigFile()
	if err != nil {
		return nil, fmt.Errorf("read empty config: %w", err)
	}
	cfg = cfg.DeepCopy()
	cfg.OS, cfg.Architecture, cfg.Variant = platform.OS, platform.Architecture, platform.Variant
	img, err := mutate.ConfigFile(base, cfg)
	if err != nil {
		return nil, fmt.Errorf("set config for %s: %w", platform, err)
	}
	img, err = mutate.AppendLayers(img, layers...)
	if err != nil {
		return nil, fmt.Errorf("append layers for %s: %w", platform, err)
	}
	return img, nil
}

// RandomImage returns an OCI image for platform with count layers of
// layerSize random bytes each. Layer i uses seed+i.
func RandomImage(platform v1.Platform, seed uint64, count int, layerSize int64) (v1.Image, error) {
	layers := make([]v1.Layer, 0, count)
	for i := range count {
		l, err := RandomLayer(seed+uint64(i), layerSize)
		if err != nil {
			return nil, err
		}
		layers = append(layers, l)
	}
	return Image(platform, layers...)
}

// Index returns an OCI image index of images, one per platform, in the order
// given. Its descriptors carry mediaType, digest, size and platform only, as
// `docker buildx` writes them: go-containerregistry would otherwise add an
// artifactType, which some copy tools (skopeo 1.9) cannot pass through.
func Index(images map[string]v1.Image, order []v1.Platform) (v1.ImageIndex, error) {
	idx := mutate.IndexMediaType(empty.Index, types.OCIImageIndex)
	adds := make([]mutate.IndexAddendum, 0, len(order))
	for _, p := range order {
		img, ok := images[p.String()]
		if !ok {
			return nil, fmt.Errorf("no image for platform %s", p)
		}
		adds = append(adds, mutate.IndexAddendum{
			Add:        withoutArtifactType{img},
			Descriptor: v1.Descriptor{Platform: &p},
		})
	}
	return mutate.AppendManifests(idx, adds...), nil
}

// withoutArtifactType hides an image's artifact type from index descriptors.
type withoutArtifactType struct{ v1.Image }

// ArtifactType reports no artifact type (see partial.Descriptor).
func (withoutArtifactType) ArtifactType() (string, error) { return "", nil }
