package workflow

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"

	"github.com/ferry-dev/ferry/internal/config"
	"github.com/ferry-dev/ferry/internal/ecr"
)

// Verify checks in the destination that the tag resolves to the source
// digest and that every child manifest, blob and referrer of the source
// image is present there.
type Verify struct{ step }

// NewVerify returns the Verify step.
func NewVerify(logger *slog.Logger, env *Env, roles Roles) *Verify {
	return &Verify{newStep(logger, env, roles)}
}

// cosignSuffixes are the cosign tag scheme's referrer tags.
var cosignSuffixes = []string{".sig", ".att", ".sbom"}

// Handle is the Lambda handler.
func (v *Verify) Handle(ctx context.Context, r Replication) (Replication, error) {
	j := r.Job
	log := jobLogger(v.log, j)
	if r.Copy != nil && r.Copy.Status == StatusSuperseded {
		return r, nil // nothing was written, so nothing to verify
	}
	d, dstAPI, err := v.destinationECR(ctx, j, ecr.AccessRead)
	if err != nil {
		return r, err
	}
	src, dst, err := login(ctx, v.roles, v.cfg.Source.Account, v.cfg.Source.Region, dstAPI, d.Account)
	if err != nil {
		return r, err
	}
	srcRepo, err := repository(src, j.SourceRepository)
	if err != nil {
		return r, err
	}
	dstRepo, err := repository(dst, j.Repository)
	if err != nil {
		return r, err
	}
	so := []remote.Option{remote.WithContext(ctx), remote.WithAuth(src.Authenticator())}
	do := []remote.Option{remote.WithContext(ctx), remote.WithAuth(dst.Authenticator())}
	op := fmt.Sprintf("verify %s:%s in %s", j.Repository, j.Tag, j.Destination)

	// The tag resolves to the source digest.
	desc, err := remote.Head(dstRepo.Tag(j.Tag), do...)
	if err != nil {
		return r, verifyErr(op, "read tag "+j.Tag, err)
	}
	if desc.Digest.String() != j.Digest {
		if r.Copy == nil {
			// The check before asking for an approval: a tag that cannot be
			// moved fails now, since no approval could help.
			immutable, err := tagImmutable(ctx, dstAPI, d, j.Repository, j.Tag)
			switch {
			case err != nil:
				return r, err
			case immutable || d.OnExistingTag != config.ExistingTagOverwrite:
				return r, tagConflict(op, j, desc.Digest.String(), immutable, true)
			}
		}
		// A later push's run may have moved the destination tag on since
		// the copy: that is the source's tag now, not a failed copy.
		if r.Copy != nil {
			now, err := sourceTagDigest(ctx, v.roles, v.cfg.Source, j.SourceRepository, j.Tag)
			if err != nil {
				return r, err
			}
			if now != "" && now == desc.Digest.String() {
				c := *r.Copy
				c.Status = StatusSuperseded
				c.Reason = fmt.Sprintf("the destination tag is at %s, where the source tag %s:%s points now (a later push, copied by its own run)", now, j.SourceRepository, j.Tag)
				r.Copy = &c
				log.InfoContext(ctx, "superseded after the copy", slog.String("reason", c.Reason))
				return r, nil
			}
		}
		return r, &VerificationError{Msg: fmt.Sprintf("%s: tag %s points at %s, not the source digest %s", op, j.Tag, desc.Digest, j.Digest)}
	}

	// Everything the source image holds, with its referrers.
	g := graph{manifests: map[string]bool{}, blobs: map[string]bool{}}
	if err := g.walk(srcRepo, j.Digest, so); err != nil {
		return r, verifyErr(op, "read the source image", err)
	}
	referrers := 0
	idx, err := remote.Referrers(srcRepo.Digest(j.Digest), so...)
	if err != nil {
		return r, verifyErr(op, "list source referrers", err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		return r, verifyErr(op, "list source referrers", err)
	}
	for _, m := range im.Manifests {
		referrers++
		if err := g.walk(srcRepo, m.Digest.String(), so); err != nil {
			return r, verifyErr(op, "read source referrer "+m.Digest.String(), err)
		}
	}
	for _, suffix := range cosignSuffixes {
		tag := strings.Replace(j.Digest, ":", "-", 1) + suffix
		sd, err := remote.Head(srcRepo.Tag(tag), so...)
		if isNotFound(err) {
			continue
		}
		if err != nil {
			return r, verifyErr(op, "read source tag "+tag, err)
		}
		referrers++
		dd, err := remote.Head(dstRepo.Tag(tag), do...)
		if err != nil {
			return r, verifyErr(op, "read tag "+tag, err)
		}
		if dd.Digest != sd.Digest {
			return r, &VerificationError{Msg: fmt.Sprintf("%s: tag %s points at %s, not %s as in the source", op, tag, dd.Digest, sd.Digest)}
		}
		if err := g.walk(srcRepo, sd.Digest.String(), so); err != nil {
			return r, verifyErr(op, "read source "+tag, err)
		}
	}

	// All of it is in the destination.
	client, err := registryClient(ctx, dstRepo, dst)
	if err != nil {
		return r, verifyErr(op, "connect", err)
	}
	for dg := range g.manifests {
		if _, err := remote.Head(dstRepo.Digest(dg), do...); err != nil {
			return r, verifyErr(op, "manifest "+dg, err)
		}
	}
	for dg := range g.blobs {
		if err := headBlob(ctx, client, dstRepo, dg); err != nil {
			return r, verifyErr(op, "blob "+dg, err)
		}
	}
	r.Verify = &VerifyResult{Verified: true, Digest: j.Digest, Manifests: len(g.manifests), Blobs: len(g.blobs), Referrers: referrers}
	log.InfoContext(ctx, "destination verified", slog.Int("manifests", len(g.manifests)), slog.Int("blobs", len(g.blobs)), slog.Int("referrers", referrers))
	return r, nil
}

func repository(reg ecr.Registry, repo string) (name.Repository, error) {
	var opts []name.Option
	if reg.PlainHTTP {
		opts = append(opts, name.Insecure)
	}
	rp, err := name.NewRepository(reg.Host+"/"+repo, opts...)
	if err != nil {
		return rp, validationf("repository %s: %v", repo, err)
	}
	return rp, nil
}

// graph collects the manifests and blobs reachable from a manifest.
type graph struct {
	manifests map[string]bool
	blobs     map[string]bool
}

func (g graph) walk(repo name.Repository, digest string, opts []remote.Option) error {
	if g.manifests[digest] {
		return nil
	}
	g.manifests[digest] = true
	desc, err := remote.Get(repo.Digest(digest), opts...)
	if err != nil {
		return err
	}
	var m struct {
		Manifests []v1.Descriptor `json:"manifests"`
		Config    *v1.Descriptor  `json:"config"`
		Layers    []v1.Descriptor `json:"layers"`
	}
	if err := json.Unmarshal(desc.Manifest, &m); err != nil {
		return fmt.Errorf("manifest %s: %w", digest, err)
	}
	for _, c := range m.Manifests {
		if err := g.walk(repo, c.Digest.String(), opts); err != nil {
			return err
		}
	}
	if m.Config != nil {
		g.blobs[m.Config.Digest.String()] = true
	}
	for _, l := range m.Layers {
		if len(l.URLs) > 0 {
			continue // foreign layer: not in the registry
		}
		g.blobs[l.Digest.String()] = true
	}
	return nil
}

func registryClient(ctx context.Context, repo name.Repository, reg ecr.Registry) (*http.Client, error) {
	t, err := transport.NewWithContext(ctx, repo.Registry, reg.Authenticator(), http.DefaultTransport, []string{repo.Scope(transport.PullScope)})
	if err != nil {
		return nil, err
	}
	return &http.Client{Transport: t}, nil
}

func headBlob(ctx context.Context, c *http.Client, repo name.Repository, digest string) error {
	u := fmt.Sprintf("%s://%s/v2/%s/blobs/%s", repo.Scheme(), repo.RegistryStr(), repo.RepositoryStr(), digest)
	req, err := http.NewRequestWithContext(ctx, http.MethodHead, u, nil)
	if err != nil {
		return err
	}
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	return transport.CheckError(resp, http.StatusOK)
}

func isNotFound(err error) bool {
	var te *transport.Error
	return errors.As(err, &te) && te.StatusCode == http.StatusNotFound
}

func verifyErr(op, what string, err error) error {
	var te *transport.Error
	if errors.As(err, &te) {
		switch {
		case te.Temporary() || te.StatusCode == http.StatusTooManyRequests || te.StatusCode >= 500:
			return &RetryableError{Op: op + ": " + what, Err: err}
		case te.StatusCode == http.StatusNotFound:
			return &VerificationError{Msg: fmt.Sprintf("%s: %s is missing in the destination", op, what)}
		case te.StatusCode == http.StatusUnauthorized || te.StatusCode == http.StatusForbidden:
			return &AccessDeniedError{Op: op + ": " + what, Err: err}
		}
	}
	return classifyAWS(op+": "+what, err)
}
