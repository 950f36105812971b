package imagecopy

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
)

// Media types Ferry reads and writes. Manifests always pass through byte for
// byte with the media type the source gave them, so the list only decides how
// to walk a manifest, never how to rewrite it.
const (
	mtOCIIndex      = "application/vnd.oci.image.index.v1+json"
	mtOCIManifest   = "application/vnd.oci.image.manifest.v1+json"
	mtDockerList    = "application/vnd.docker.distribution.manifest.list.v2+json"
	mtDockerV2      = "application/vnd.docker.distribution.manifest.v2+json"
	mtDockerSchema1 = "application/vnd.docker.distribution.manifest.v1+json"
	mtDockerSigned1 = "application/vnd.docker.distribution.manifest.v1+prettyjws"
	mtOCIArtifact   = "application/vnd.oci.artifact.manifest.v1+json"
)

// manifestAccept is sent on every manifest request.
var manifestAccept = strings.Join([]string{mtOCIIndex, mtOCIManifest, mtDockerList, mtDockerV2, mtOCIArtifact}, ", ")

// MaxManifestSize bounds what Ferry reads into memory for one manifest
// (ECR's own limit is 4 MiB).
const MaxManifestSize = 4 << 20

// descriptor is the subset of an OCI descriptor that copying needs. It has
// no annotations: those can be large, and walking an image never needs
// them, so they are skipped when a manifest is parsed.
type descriptor struct {
	MediaType    string   `json:"mediaType"`
	Digest       string   `json:"digest"`
	Size         int64    `json:"size"`
	URLs         []string `json:"urls,omitempty"`
	ArtifactType string   `json:"artifactType,omitempty"`
}

// manifest is any image manifest, image index or artifact manifest, parsed
// only to find what it references (its annotations are left unread).
type manifest struct {
	SchemaVersion int          `json:"schemaVersion"`
	MediaType     string       `json:"mediaType"`
	Config        *descriptor  `json:"config,omitempty"`
	Layers        []descriptor `json:"layers,omitempty"`
	Manifests     []descriptor `json:"manifests,omitempty"`
	Blobs         []descriptor `json:"blobs,omitempty"`
	Subject       *descriptor  `json:"subject,omitempty"`
	ArtifactType  string       `json:"artifactType,omitempty"`
}

// rawManifest is a manifest exactly as a registry served it.
type rawManifest struct {
	Body      []byte
	MediaType string // the Content-Type to write it back with
	Digest    string
}

func (m rawManifest) parse() (manifest, error) {
	var mf manifest
	if err := json.Unmarshal(m.Body, &mf); err != nil {
		return mf, fmt.Errorf("manifest %s: %w: not JSON: %w", m.Digest, ErrUnsupportedManifest, err)
	}
	mt := m.MediaType
	if mt == "" || mt == "application/json" || mt == "text/plain" {
		mt = mf.MediaType
	}
	switch mt {
	case mtDockerSchema1, mtDockerSigned1:
		return mf, fmt.Errorf("manifest %s: %w: Docker schema 1 (%s) is deprecated and cannot be copied digest for digest; rebuild the image", m.Digest, ErrUnsupportedManifest, mt)
	}
	if mf.SchemaVersion == 1 {
		return mf, fmt.Errorf("manifest %s: %w: schema version 1", m.Digest, ErrUnsupportedManifest)
	}
	// What Ferry fetches or uploads by these descriptors must be well formed:
	// a sha256 digest and a size that is not negative.
	for _, d := range append(mf.blobs(), mf.children()...) {
		if !validDigest(d.Digest) || d.Size < 0 {
			return mf, fmt.Errorf("manifest %s: %w: it references %q with size %d (want a sha256 digest and a size of 0 or more)", m.Digest, ErrInvalidManifest, d.Digest, d.Size)
		}
	}
	return mf, nil
}

// referrerEntry is an entry of a referrers list: a descriptor with the
// annotations of the manifest it describes.
type referrerEntry struct {
	descriptor
	Annotations map[string]string `json:"annotations,omitempty"`
}

// referrerEntry describes m as an entry of a referrers list, as the OCI 1.1
// distribution spec defines it: artifactType is the manifest's own, or else
// its config's media type; annotations are the manifest's. m was parsed
// before, so it is JSON.
func (m rawManifest) referrerEntry() referrerEntry {
	var mf struct {
		ArtifactType string            `json:"artifactType"`
		Config       *descriptor       `json:"config"`
		Annotations  map[string]string `json:"annotations"`
	}
	_ = json.Unmarshal(m.Body, &mf)
	at := mf.ArtifactType
	if at == "" && mf.Config != nil {
		at = mf.Config.MediaType
	}
	return referrerEntry{
		descriptor:  descriptor{MediaType: m.MediaType, Digest: m.Digest, Size: int64(len(m.Body)), ArtifactType: at},
		Annotations: mf.Annotations,
	}
}

// children lists the manifests an index references.
func (mf manifest) children() []descriptor { return mf.Manifests }

// blobs lists the blobs an image or artifact manifest references that a
// registry must hold: the config and every distributable layer. Foreign and
// non-distributable layers stay where the source has them.
func (mf manifest) blobs() []descriptor {
	var out []descriptor
	if mf.Config != nil && mf.Config.Digest != "" {
		out = append(out, *mf.Config)
	}
	for _, l := range append(mf.Layers, mf.Blobs...) {
		if !distributable(l.MediaType) {
			continue
		}
		out = append(out, l)
	}
	return out
}

func distributable(mediaType string) bool {
	switch mediaType {
	case "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
		"application/vnd.oci.image.layer.nondistributable.v1.tar",
		"application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
		"application/vnd.oci.image.layer.nondistributable.v1.tar+zstd":
		return false
	}
	return true
}

// digestOf returns the sha256 digest of b in its canonical form.
func digestOf(b []byte) string {
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// validDigest accepts sha256 digests only, which is what ECR stores.
func validDigest(d string) bool {
	hexPart, ok := strings.CutPrefix(d, "sha256:")
	if !ok || len(hexPart) != 64 {
		return false
	}
	for _, c := range hexPart {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}
