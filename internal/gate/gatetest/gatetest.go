// Package gatetest signs images as cosign does, for tests and the demo: a
// signature gate is only tested for real with signatures made by real keys.
package gatetest

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/sigstore/sigstore/pkg/signature/payload"

	"github.com/ferry-dev/ferry/internal/gate"
)

const emptyConfig = "application/vnd.oci.empty.v1+json"

// SignCosign signs repo@digest with key as `cosign sign --key` does (the
// simple signing payload, a SHA-256 signature in the layer's annotation)
// and pushes the signature to repo's sha256-<hex>.sig tag, replacing what
// was there. It returns the signature manifest's digest.
func SignCosign(ctx context.Context, repo name.Repository, digest string, key crypto.Signer, opts ...remote.Option) (string, error) {
	ref := repo.Digest(digest)
	body, err := (&payload.Cosign{Image: ref}).MarshalJSON()
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(body)
	sig, err := key.Sign(rand.Reader, sum[:], crypto.SHA256)
	if err != nil {
		return "", err
	}
	opts = append([]remote.Option{remote.WithContext(ctx)}, opts...)
	layer := static.NewLayer(body, gate.SimpleSigningMediaType)
	config := static.NewLayer([]byte("{}"), emptyConfig)
	for _, l := range []v1.Layer{layer, config} {
		if err := remote.WriteLayer(repo, l, opts...); err != nil {
			return "", fmt.Errorf("push the signature's blobs to %s: %w", repo, err)
		}
	}
	desc := func(l v1.Layer, mt string, annotations map[string]string) map[string]any {
		d, _ := l.Digest()
		s, _ := l.Size()
		m := map[string]any{"mediaType": mt, "digest": d.String(), "size": s}
		if annotations != nil {
			m["annotations"] = annotations
		}
		return m
	}
	m := map[string]any{"schemaVersion": 2, "mediaType": types.OCIManifestSchema1,
		"config": desc(config, emptyConfig, nil),
		"layers": []any{desc(layer, gate.SimpleSigningMediaType, map[string]string{gate.SignatureAnnotation: base64.StdEncoding.EncodeToString(sig)})}}
	manifest, err := json.Marshal(m)
	if err != nil {
		return "", err
	}
	tag := repo.Tag(strings.Replace(digest, ":", "-", 1) + ".sig")
	if err := remote.Put(tag, ociManifest(manifest), opts...); err != nil {
		return "", fmt.Errorf("push %s: %w", tag, err)
	}
	h, _, err := v1.SHA256(bytes.NewReader(manifest))
	return h.String(), err
}

// PublicKeyPEM is key's public half as `cosign public-key` writes it.
func PublicKeyPEM(key crypto.Signer) ([]byte, error) {
	der, err := x509.MarshalPKIXPublicKey(key.Public())
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), nil
}

type ociManifest []byte

func (m ociManifest) RawManifest() ([]byte, error)        { return m, nil }
func (m ociManifest) MediaType() (types.MediaType, error) { return types.OCIManifestSchema1, nil }
