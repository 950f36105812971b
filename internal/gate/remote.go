package gate

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

// RemoteRegistry is a Registry over go-containerregistry's remote package,
// as the workflow's Verify step reads registries: pass remote.WithAuth
// (and a transport) in opts.
type RemoteRegistry struct {
	registry name.Registry
	opts     []remote.Option
}

var _ Registry = (*RemoteRegistry)(nil)

// NewRemoteRegistry returns a Registry for the registry host (e.g.
// 111111111111.dkr.ecr.us-east-1.amazonaws.com, or 127.0.0.1:5000, which
// is spoken to in plain HTTP as go-containerregistry does for loopback).
func NewRemoteRegistry(host string, opts ...remote.Option) (*RemoteRegistry, error) {
	reg, err := name.NewRegistry(host)
	if err != nil {
		return nil, fmt.Errorf("signature gate: registry %q: %w", host, err)
	}
	return &RemoteRegistry{registry: reg, opts: opts}, nil
}

func (r *RemoteRegistry) options(ctx context.Context) []remote.Option {
	return append(append([]remote.Option{}, r.opts...), remote.WithContext(ctx))
}

func (r *RemoteRegistry) repo(repository string) name.Repository { return r.registry.Repo(repository) }

// Manifest implements Registry.
func (r *RemoteRegistry) Manifest(ctx context.Context, repository, reference string) ([]byte, error) {
	var ref name.Reference = r.repo(repository).Tag(reference)
	if strings.Contains(reference, ":") {
		ref = r.repo(repository).Digest(reference)
	}
	desc, err := remote.Get(ref, r.options(ctx)...)
	if err != nil {
		return nil, notFound(fmt.Errorf("get manifest %s: %w", ref, err))
	}
	return desc.Manifest, nil
}

// Blob implements Registry.
func (r *RemoteRegistry) Blob(ctx context.Context, repository, digest string) ([]byte, error) {
	ref := r.repo(repository).Digest(digest)
	l, err := remote.Layer(ref, r.options(ctx)...)
	if err != nil {
		return nil, notFound(fmt.Errorf("get blob %s: %w", ref, err))
	}
	rc, err := l.Compressed()
	if err != nil {
		return nil, notFound(fmt.Errorf("get blob %s: %w", ref, err))
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, MaxBlob+1))
	if err != nil {
		return nil, notFound(fmt.Errorf("read blob %s: %w", ref, err))
	}
	if len(b) > MaxBlob {
		return nil, fmt.Errorf("read blob %s: over %d bytes, more than a signature has", ref, MaxBlob)
	}
	return b, nil
}

// Referrers implements Registry (with the referrers tag schema where the
// registry has no referrers API, as go-containerregistry falls back).
func (r *RemoteRegistry) Referrers(ctx context.Context, repository, digest string) ([]v1.Descriptor, error) {
	ref := r.repo(repository).Digest(digest)
	idx, err := remote.Referrers(ref, r.options(ctx)...)
	if err != nil {
		return nil, notFound(fmt.Errorf("list referrers of %s: %w", ref, err))
	}
	m, err := idx.IndexManifest()
	if err != nil {
		return nil, fmt.Errorf("list referrers of %s: %w", ref, err)
	}
	return m.Manifests, nil
}

// notFound marks a registry's 404 with ErrNotFound.
func notFound(err error) error {
	if te, ok := errors.AsType[*transport.Error](err); ok && te.StatusCode == http.StatusNotFound {
		return fmt.Errorf("%w: %w", ErrNotFound, err)
	}
	return err
}
