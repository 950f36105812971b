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
	"github.com/ferry-dev/ferry/internal/imagecopy"
	"github.com/ferry-dev/ferry/internal/version"
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
	if r.Copy != nil {
		switch r.Copy.Status {
		case StatusSuperseded, StatusSkipped, StatusUntagged:
			return r, nil // nothing was written, or nothing is left to check
		}
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
	// go-containerregistry puts its own after Ferry's User-Agent.
	ua := remote.WithUserAgent(version.UserAgent())
	so := []remote.Option{remote.WithContext(ctx), remote.WithAuth(src.Authenticator()), ua}
	do := []remote.Option{remote.WithContext(ctx), remote.WithAuth(dst.Authenticator()), ua}
	op := fmt.Sprintf("verify %s:%s in %s", j.Repository, j.Tag, j.Destination)
	if j.Action == ActionReferrers {
		op = fmt.Sprintf("verify the referrers of %s@%s in %s", j.Repository, j.Digest, j.Destination)
	}

	// The tag resolves to the source digest (a referrers job writes no
	// tag: it checks the referrers it copied, and the image is there).
	if j.Action != ActionReferrers {
		desc, err := remote.Head(dstRepo.Tag(j.Tag), do...)
		if err != nil {
			return r, verifyErr(op, "read tag "+j.Tag, err)
		}
		if desc.Digest.String() != j.Digest {
			return v.tagElsewhere(ctx, log, r, d, dstAPI, op, desc.Digest.String())
		}
	}

	// Everything the source image holds, with its referrers: those the
	// copy took along, or before a copy, those the source has now. A
	// referrer pushed during the copy is not the copy's to check: its own
	// run copies it.
	g := graph{manifests: map[string]bool{}, blobs: map[string]bool{}}
	if err := g.walk(srcRepo, j.Digest, so); err != nil {
		return r, verifyErr(op, "read the source image", err)
	}
	var referrers []imagecopy.Referrer
	if r.Copy != nil && !r.Copy.ReferrersUnlisted {
		referrers = r.Copy.Referrers
	} else if referrers, err = sourceReferrers(srcRepo, j.Digest, so); err != nil {
		return r, verifyErr(op, "list source referrers", err)
	}
	for _, ref := range referrers {
		switch {
		case isCosignTag(ref.Tag):
			if err := v.checkCosignTag(srcRepo, dstRepo, ref, so, do, op); err != nil {
				return r, err
			}
		case ref.Tag != "":
			// The OCI fallback tag: an index of referrers, which the copy
			// may have merged with the destination's own. Its referrers
			// must be there, not its digest.
			if err := g.walkReferrersIndex(srcRepo, ref.Digest, so); err != nil {
				return r, verifyErr(op, "read source referrers tag "+ref.Tag, err)
			}
			continue
		}
		if err := g.walk(srcRepo, ref.Digest, so); err != nil {
			return r, verifyErr(op, "read source referrer "+ref.Digest, err)
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
	r.Verify = &VerifyResult{Verified: true, Digest: j.Digest, Manifests: len(g.manifests), Blobs: len(g.blobs), Referrers: len(referrers)}
	log.InfoContext(ctx, "destination verified", slog.Int("manifests", len(g.manifests)), slog.Int("blobs", len(g.blobs)), slog.Int("referrers", len(referrers)))
	return r, nil
}

// tagElsewhere is Verify's answer when the destination tag is at another
// image than the job's: before a copy, a tag that cannot be moved fails
// now (no approval could help) and one that can is a reason to copy; after
// it, a tag moved on to where the source tag points now is superseded.
func (v *Verify) tagElsewhere(ctx context.Context, log *slog.Logger, r Replication, d config.Destination, api ecr.API, op, at string) (Replication, error) {
	j := r.Job
	if r.Copy == nil {
		immutable, err := tagImmutable(ctx, api, d, j.Repository, j.Tag)
		switch {
		case err != nil:
			return r, err
		case immutable || d.OnExistingTag != config.ExistingTagOverwrite:
			return r, tagConflict(op, j, at, immutable, true)
		}
		return r, &VerificationError{Msg: fmt.Sprintf("%s: tag %s points at %s, not the source digest %s", op, j.Tag, at, j.Digest)}
	}
	// A later push's run may have moved the destination tag on since the
	// copy: that is the source's tag now, not a failed copy.
	now, err := sourceTagDigest(ctx, v.roles, v.cfg.Source, j.SourceRepository, j.Tag)
	if err != nil {
		return r, err
	}
	if now != "" && now == at {
		c := *r.Copy
		c.Status = StatusSuperseded
		c.Reason = fmt.Sprintf("the destination tag is at %s, where the source tag %s:%s points now (a later push, copied by its own run)", now, j.SourceRepository, j.Tag)
		c.Brief = brief(c.Reason, r.ReasonLimit)
		r.Copy = &c
		log.InfoContext(ctx, "superseded after the copy", slog.String("reason", c.Reason))
		return r, nil
	}
	return r, &VerificationError{Msg: fmt.Sprintf("%s: tag %s points at %s, not the source digest %s", op, j.Tag, at, j.Digest)}
}

// checkCosignTag checks that a cosign tag the copy wrote is in the
// destination at the digest copied, or at the one the source tag points at
// now (cosign adds a signature by pushing the tag again; that push's own
// run copies it).
func (v *Verify) checkCosignTag(srcRepo, dstRepo name.Repository, ref imagecopy.Referrer, so, do []remote.Option, op string) error {
	dd, err := remote.Head(dstRepo.Tag(ref.Tag), do...)
	if err != nil {
		return verifyErr(op, "read tag "+ref.Tag, err)
	}
	if dd.Digest.String() == ref.Digest {
		return nil
	}
	sd, err := remote.Head(srcRepo.Tag(ref.Tag), so...)
	if err == nil && sd.Digest == dd.Digest {
		return nil
	}
	if err != nil && !isNotFound(err) {
		return verifyErr(op, "read source tag "+ref.Tag, err)
	}
	return &VerificationError{Msg: fmt.Sprintf("%s: tag %s points at %s, not %s as copied from the source", op, ref.Tag, dd.Digest, ref.Digest)}
}

// sourceReferrers lists the referrers of digest in the source now: by the
// referrers API, and cosign's tags.
func sourceReferrers(repo name.Repository, digest string, opts []remote.Option) ([]imagecopy.Referrer, error) {
	idx, err := remote.Referrers(repo.Digest(digest), opts...)
	if err != nil {
		return nil, err
	}
	im, err := idx.IndexManifest()
	if err != nil {
		return nil, err
	}
	var out []imagecopy.Referrer
	for _, m := range im.Manifests {
		out = append(out, imagecopy.Referrer{Digest: m.Digest.String()})
	}
	for _, suffix := range cosignSuffixes {
		tag := strings.Replace(digest, ":", "-", 1) + suffix
		sd, err := remote.Head(repo.Tag(tag), opts...)
		if isNotFound(err) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("tag %s: %w", tag, err)
		}
		out = append(out, imagecopy.Referrer{Digest: sd.Digest.String(), Tag: tag})
	}
	return out, nil
}

// isCosignTag reports whether tag is one of cosign's (sha256-<hex>.sig,
// .att, .sbom).
func isCosignTag(tag string) bool { return cosignSubject(tag) != "" }

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

// walkReferrersIndex walks the manifests an OCI referrers fallback index
// lists, not the index itself.
func (g graph) walkReferrersIndex(repo name.Repository, digest string, opts []remote.Option) error {
	desc, err := remote.Get(repo.Digest(digest), opts...)
	if err != nil {
		return err
	}
	var idx struct {
		Manifests []v1.Descriptor `json:"manifests"`
	}
	if err := json.Unmarshal(desc.Manifest, &idx); err != nil {
		return fmt.Errorf("referrers index %s: %w", digest, err)
	}
	for _, m := range idx.Manifests {
		if err := g.walk(repo, m.Digest.String(), opts); err != nil {
			return err
		}
	}
	return nil
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
