package e2e

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

// Check is one proof about a destination.
type Check struct {
	What string
	Err  error
}

// CheckRelease reads back what destination id holds for tag: the tag at
// the source digest, every platform's image, the signature and the SBOM.
func (w *World) CheckRelease(ctx context.Context, id, tag string, rel Release) []Check {
	host, auth, err := w.Login(ctx, id)
	if err != nil {
		return []Check{{"log in to " + id, err}}
	}
	repo, err := name.NewRepository(host + "/" + DestinationRepository(id))
	if err != nil {
		return []Check{{"repository", err}}
	}
	opts := []remote.Option{remote.WithContext(ctx), remote.WithAuth(auth)}
	var out []Check
	digestIs := func(what string, r name.Reference, want string) {
		d, err := remote.Head(r, opts...)
		if err == nil && d.Digest.String() != want {
			err = fmt.Errorf("digest %s, want %s", d.Digest, want)
		}
		out = append(out, Check{what, err})
	}
	digestIs(fmt.Sprintf("%s:%s is the source digest %s", repo.RepositoryStr(), tag, short(rel.Index)), repo.Tag(tag), rel.Index)
	idx, err := remote.Index(repo.Tag(tag), opts...)
	if err == nil {
		var im *v1.IndexManifest
		if im, err = idx.IndexManifest(); err == nil {
			for _, m := range im.Manifests {
				digestIs(fmt.Sprintf("%s/%s image %s", m.Platform.OS, m.Platform.Architecture, short(m.Digest.String())), repo.Digest(m.Digest.String()), m.Digest.String())
			}
		}
	}
	if err != nil {
		out = append(out, Check{"read the index", err})
	}
	digestIs("cosign signature "+rel.SigTag, repo.Tag(rel.SigTag), rel.Sig)
	refs, err := remote.Referrers(repo.Digest(rel.Index), opts...)
	if err == nil {
		var im *v1.IndexManifest
		if im, err = refs.IndexManifest(); err == nil {
			err = fmt.Errorf("not among the %d referrers", len(im.Manifests))
			for _, m := range im.Manifests {
				if m.Digest.String() == rel.SBOM {
					err = nil
				}
			}
		}
	}
	out = append(out, Check{"SBOM " + short(rel.SBOM) + " is a referrer of the index", err})
	return out
}

// HasTag reports whether destination id's repository has tag.
func (w *World) HasTag(ctx context.Context, id, tag string) (bool, error) {
	host, auth, err := w.Login(ctx, id)
	if err != nil {
		return false, err
	}
	ref, err := name.NewTag(host + "/" + DestinationRepository(id) + ":" + tag)
	if err != nil {
		return false, err
	}
	_, err = remote.Head(ref, remote.WithContext(ctx), remote.WithAuth(auth))
	var te *transport.Error
	if errors.As(err, &te) && te.StatusCode == http.StatusNotFound {
		return false, nil
	}
	return err == nil, err
}

func short(d string) string {
	if len(d) > 19 {
		return d[:19]
	}
	return d
}
