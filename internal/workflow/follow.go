package workflow

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsecr "github.com/aws/aws-sdk-go-v2/service/ecr"
	ecrtypes "github.com/aws/aws-sdk-go-v2/service/ecr/types"

	"github.com/ferry-dev/ferry/internal/config"
	"github.com/ferry-dev/ferry/internal/ecr"
	"github.com/ferry-dev/ferry/internal/imagecopy"
	"github.com/ferry-dev/ferry/internal/imageref"
	"github.com/ferry-dev/ferry/internal/plan"
	"github.com/ferry-dev/ferry/internal/reconcile"
)

// This file is how Validate follows the source beyond a push of a tag: a
// referrer pushed after its subject (a cosign signature, an SBOM attached
// by digest), and a tag deleted in the source.

// cosignSubject returns the subject digest of a cosign tag
// (sha256-<hex>.sig, .att or .sbom), or "" for any other tag.
func cosignSubject(tag string) string {
	for _, suffix := range cosignSuffixes {
		if hex, ok := strings.CutSuffix(tag, suffix); ok {
			if d := strings.Replace(hex, "-", ":", 1); digestRE.MatchString(d) {
				return d
			}
		}
	}
	return ""
}

// planReferrer plans the run a referrer's push starts: copy it, and its
// own referrers, to every destination that holds its subject under a tag
// the rules select. Nothing there is approved again: a referrer adds
// metadata to an image that was already approved, and the job writes
// nothing but referrers (never a tag of the image, never a repository).
//
// The pushed manifest is one of: a cosign tag, whose subject its name
// gives; an untagged OCI 1.1 manifest with a subject, which DescribeImages
// reports; or an untagged manifest without one (a platform image of an
// index, pushed before the index), which is skipped.
func (v *Validate) planReferrer(ctx context.Context, log *slog.Logger, p Plan, in validated) (Plan, error) {
	skip := func(format string, args ...any) (Plan, error) {
		p.Skipped, p.Reason = true, fmt.Sprintf(format, args...)
		log.InfoContext(ctx, "skipped", slog.String("reason", p.Reason))
		return p, nil
	}
	p.Action = ActionReferrers
	subject := cosignSubject(in.Tag)
	if in.Tag != "" && subject == "" {
		return skip("%s:%s is an OCI referrers tag (sha256-<hex>): it travels with its subject", in.Repository, in.Tag)
	}
	if in.ferryRule != "" {
		// A rule whose pattern does not filter tags lets these pushes
		// through too; the stack's referrers trigger starts their run.
		return skip("%s@%s is a referrer's push (tag %q): the run the referrers trigger starts for it copies it", in.Repository, in.Digest, in.Tag)
	}
	p.Referrer = &imagecopy.Referrer{Digest: in.Digest, Tag: in.Tag}
	if subject == "" {
		det, found, err := v.describe(ctx, in.Repository, ecrtypes.ImageIdentifier{ImageDigest: aws.String(in.Digest)})
		switch {
		case err != nil:
			return Plan{}, err
		case !found:
			return skip("%s@%s is no longer in the source (deleted since its push)", in.Repository, in.Digest)
		}
		if subject = aws.ToString(det.SubjectManifestDigest); subject == "" {
			p.Referrer = nil
			return skip("the push of %s@%s has no tag and its manifest no subject: an image pushed by digest (such as a platform image of an index) is copied when a tag a rule takes points at it", in.Repository, in.Digest)
		}
	}
	p.Digest, p.Tag = subject, ""
	det, found, err := v.describe(ctx, in.Repository, ecrtypes.ImageIdentifier{ImageDigest: aws.String(subject)})
	switch {
	case err != nil:
		return Plan{}, err
	case !found:
		return skip("the subject %s of referrer %s is not in the source %s", subject, in.Digest, in.Repository)
	case len(det.ImageTags) == 0:
		return skip("the subject %s of referrer %s has no tag in %s (a platform image of an index, or a referrer itself): the next sync (ferry sync, or the scheduled reconcile) copies the referrer with the image it belongs to", subject, in.Digest, in.Repository)
	}

	// One job per destination repository the rules send a tag of the
	// subject to: the referrers are the same under every tag.
	type target struct{ destination, repository string }
	seen := map[target]bool{}
	skips := map[plan.Skip]bool{}
	for _, tag := range slices.Sorted(slices.Values(det.ImageTags)) {
		pl, err := plan.For(v.cfg, in.Repository, tag)
		if err != nil {
			return Plan{}, validationf("%v", err)
		}
		for _, s := range pl.Skipped {
			if !skips[s] {
				skips[s] = true
				p.NotPlanned = append(p.NotPlanned, s)
			}
		}
		if len(pl.Jobs) > 0 && !slices.Contains(p.Tags, tag) {
			p.Tags = append(p.Tags, tag)
		}
		for _, j := range pl.Jobs {
			t := target{j.Destination.ID(), j.Repository}
			if seen[t] || (len(in.Destinations) > 0 && !slices.Contains(in.Destinations, t.destination)) {
				continue
			}
			seen[t] = true
			p.Jobs = append(p.Jobs, PlannedJob{Rule: j.Rule, Destination: t.destination, Account: j.Destination.Account,
				Region: j.Destination.Region, Repository: j.Repository, Tag: j.Tag, OnExistingTag: string(j.Destination.OnExistingTag)})
		}
	}
	if len(p.Jobs) == 0 {
		return skip("no rule takes the subject %s of referrer %s under any of its tags %v", subject, in.Digest, det.ImageTags)
	}
	if err := checkSize(&p); err != nil {
		return Plan{}, err
	}
	log.InfoContext(ctx, "planned", slog.String("referrer", in.Digest), slog.String("subject", subject), slog.Int("jobs", len(p.Jobs)))
	return p, nil
}

// planUntag plans the run a tag's delete in the source starts: remove the
// tag from the destinations that opted in (onSourceDelete: untag), each
// only while its tag is still at the deleted digest. The others keep it.
// Nothing is approved: opting a destination in is that decision.
func (v *Validate) planUntag(ctx context.Context, log *slog.Logger, p Plan, in validated) (Plan, error) {
	skip := func(format string, args ...any) (Plan, error) {
		p.Skipped, p.Reason = true, fmt.Sprintf(format, args...)
		log.InfoContext(ctx, "skipped", slog.String("reason", p.Reason))
		return p, nil
	}
	p.Action = ActionUntag
	if in.Tag == "" || in.Digest == "" {
		return Plan{}, validationf("the delete of %s names no tag or no digest", in.Repository)
	}
	if reconcile.IsReferrerTag(in.Tag) {
		return skip("%s:%s is a referrer's tag: Ferry copies signatures and SBOMs, and never deletes them", in.Repository, in.Tag)
	}
	pl, err := plan.For(v.cfg, in.Repository, in.Tag)
	if err != nil {
		return Plan{}, validationf("%v", err)
	}
	p.NotPlanned = pl.Skipped
	var kept []string
	for _, j := range pl.Jobs {
		if len(in.Destinations) > 0 && !slices.Contains(in.Destinations, j.Destination.ID()) {
			continue
		}
		if j.Destination.OnSourceDelete != config.SourceDeleteUntag {
			kept = append(kept, j.Destination.ID())
			p.NotPlanned = append(p.NotPlanned, plan.Skip{Rule: j.Rule, Destination: j.Destination.ID(), Reason: "onSourceDelete: keep (the default): the destination keeps its tag"})
			continue
		}
		p.Jobs = append(p.Jobs, PlannedJob{Rule: j.Rule, Destination: j.Destination.ID(), Account: j.Destination.Account,
			Region: j.Destination.Region, Repository: j.Repository, Tag: j.Tag, OnExistingTag: string(j.Destination.OnExistingTag)})
	}
	switch {
	case len(p.Jobs) == 0 && len(kept) > 0:
		return skip("%s:%s was deleted in the source; %s keep it (onSourceDelete: keep, the default; set onSourceDelete: untag on a destination to remove such tags there)", in.Repository, in.Tag, strings.Join(kept, ", "))
	case len(p.Jobs) == 0:
		return skip("%s:%s was deleted in the source; %s", in.Repository, in.Tag, strings.TrimPrefix(skipReason(in.Repository, in.Tag, pl.Skipped, in.Destinations), "no rule matches "))
	}
	// A tag pushed again since the delete is the source's tag once more:
	// its push's run copies it.
	det, found, err := v.describe(ctx, in.Repository, ecrtypes.ImageIdentifier{ImageTag: aws.String(in.Tag)})
	if err != nil {
		return Plan{}, err
	}
	if found {
		p.Jobs = []PlannedJob{}
		return skip("%s:%s was deleted at %s, but is in the source again (at %s): the push's own run copies it, so no destination is untagged", in.Repository, in.Tag, in.Digest, aws.ToString(det.ImageDigest))
	}
	if err := checkSize(&p); err != nil {
		return Plan{}, err
	}
	log.InfoContext(ctx, "planned", slog.String("deleted", in.Digest), slog.Int("jobs", len(p.Jobs)))
	return p, nil
}

// subjectMissing is the outcome of a referrers job whose destination does
// not hold the subject (its job's digest) yet: nil when it does.
func (c *CopyImage) subjectMissing(ctx context.Context, r Replication, d config.Destination, api ecr.API) (*CopyResult, error) {
	j := r.Job
	skipped := func(why string) *CopyResult {
		return &CopyResult{Status: StatusSkipped, Digest: j.Digest, Image: j.Repository + "@" + j.Digest,
			Reason: why + ": the next sync (ferry sync, or the scheduled reconcile) copies the referrer with its image"}
	}
	if r.Repository != nil && r.Repository.Status == RepositoryMissing {
		return skipped(fmt.Sprintf("%s does not hold the subject %s yet (it has no repository %s)", j.Destination, j.Digest, j.Repository)), nil
	}
	out, err := api.DescribeImages(ctx, &awsecr.DescribeImagesInput{
		RegistryId:     aws.String(d.Account),
		RepositoryName: aws.String(j.Repository),
		ImageIds:       []ecrtypes.ImageIdentifier{{ImageDigest: aws.String(j.Digest)}},
	})
	var nf *ecrtypes.ImageNotFoundException
	var rnf *ecrtypes.RepositoryNotFoundException
	switch {
	case errors.As(err, &nf), errors.As(err, &rnf), err == nil && len(out.ImageDetails) == 0:
		return skipped(fmt.Sprintf("%s does not hold the subject %s in %s yet", j.Destination, j.Digest, j.Repository)), nil
	case err != nil:
		return nil, classifyAWS(fmt.Sprintf("read %s@%s in %s", j.Repository, j.Digest, j.Destination), err)
	}
	return nil, nil
}

// copyReferrers copies the referrers of the job's digest, which the
// destination holds, and nothing else: the image's manifests are there, so
// the copy engine finds only the referrers missing, and writes no tag of
// the image (cosign's own tags aside).
func (c *CopyImage) copyReferrers(ctx context.Context, log *slog.Logger, r Replication, src, dst ecr.Registry) (Replication, error) {
	j := r.Job
	srcRef, err := imageref.Parse(src.Host + "/" + j.SourceRepository + "@" + j.Digest)
	if err != nil {
		return r, validationf("source image %s@%s: %v", j.SourceRepository, j.Digest, err)
	}
	dstRef, err := imageref.Parse(dst.Host + "/" + j.Repository + "@" + j.Digest)
	if err != nil {
		return r, validationf("destination image %s@%s: %v", j.Repository, j.Digest, err)
	}
	start := time.Now()
	copyCtx, cancel := copyContext(ctx)
	defer cancel()
	results, err := c.copier(log, src, dst).Copy(copyCtx, imagecopy.Source{Ref: srcRef, Auth: &src.Credential},
		[]imagecopy.Destination{{Ref: dstRef, Auth: &dst.Credential}})
	if err != nil {
		op := fmt.Sprintf("copy the referrers of %s@%s to %s in %s", j.SourceRepository, j.Digest, j.Repository, j.Destination)
		if copyCtx.Err() != nil && ctx.Err() == nil {
			err = &RetryableError{Op: op, Err: fmt.Errorf("did not finish in the function's time: %w", err)}
		} else {
			err = classifyCopy(op, err)
		}
		log.ErrorContext(ctx, "referrers copy failed", slog.String("error", err.Error()))
		return r, err
	}
	res := results[0]
	r.Copy = &CopyResult{Status: string(res.Status), Digest: res.Digest, MediaType: res.MediaType, Image: j.Repository + "@" + j.Digest,
		BytesCopied: res.BytesCopied, BlobsCopied: res.BlobsCopied, BlobsSkipped: res.BlobsSkipped, BlobsMounted: res.BlobsMounted,
		ManifestsWritten: res.ManifestsWritten, ReferrersCopied: res.ReferrersCopied, Referrers: res.Referrers, DurationMs: millis(time.Since(start))}
	if len(r.Copy.Referrers) > maxListedReferrers {
		r.Copy.Referrers, r.Copy.ReferrersUnlisted = nil, true
	}
	log.InfoContext(ctx, "referrers copied", slog.String("status", r.Copy.Status), slog.Int("referrers_copied", r.Copy.ReferrersCopied),
		slog.Int64("bytes", r.Copy.BytesCopied))
	return r, nil
}

// untag removes the job's tag from the destination if it is still at the
// digest the source deleted. ECR deletes an image with its last tag. A tag
// at another image (a later copy, or the destination's own), one already
// gone, and one in a repository whose tags are immutable are left, with
// the reason: none is a failure.
func (c *CopyImage) untag(ctx context.Context, log *slog.Logger, r Replication, d config.Destination, api ecr.API) (Replication, error) {
	j := r.Job
	image := j.Repository + ":" + j.Tag
	done := func(status, reason string) (Replication, error) {
		r.Copy = &CopyResult{Status: status, Digest: j.Digest, Image: image, Reason: reason}
		log.InfoContext(ctx, "source delete followed", slog.String("status", status), slog.String("reason", reason))
		return r, nil
	}
	if d.OnSourceDelete != config.SourceDeleteUntag {
		return r, validationf("the deployed configuration keeps deleted tags in %s (onSourceDelete: %s); this job cannot remove %s there", j.Destination, d.OnSourceDelete, image)
	}
	if r.Repository != nil && r.Repository.Status == RepositoryMissing {
		return done(StatusSkipped, fmt.Sprintf("%s has no repository %s: nothing to untag", j.Destination, j.Repository))
	}
	now, err := destinationTag(ctx, api, d, j.Repository, j.Tag)
	switch {
	case err != nil:
		return r, err
	case now == "":
		return done(StatusSkipped, fmt.Sprintf("%s is not in %s: nothing to untag", image, j.Destination))
	case now != j.Digest:
		return done(StatusSkipped, fmt.Sprintf("%s in %s is at %s, not at %s, which the source deleted: left as it is", image, j.Destination, now, j.Digest))
	}
	immutable, err := tagImmutable(ctx, api, d, j.Repository, j.Tag)
	if err != nil {
		return r, err
	}
	if immutable {
		return done(StatusSkipped, fmt.Sprintf("%s keeps %s: its tags are immutable there, and Ferry never removes an immutable tag; to remove it, run aws ecr batch-delete-image --registry-id %s --region %s --repository-name %s --image-ids imageTag=%s",
			j.Destination, image, d.Account, d.Region, j.Repository, j.Tag))
	}
	// The tag may be back in the source since Validate looked (deleted
	// and pushed again): then it is the source's tag, and its push's run
	// copies it. Asked last, just before the delete.
	if again, err := sourceTagDigest(ctx, c.roles, c.cfg.Source, j.SourceRepository, j.Tag); err != nil {
		return r, err
	} else if again != "" {
		return done(StatusSkipped, fmt.Sprintf("%s:%s is in the source again (at %s): not removed from %s", j.SourceRepository, j.Tag, again, j.Destination))
	}
	op := fmt.Sprintf("untag %s in %s", image, j.Destination)
	out, err := api.BatchDeleteImage(ctx, &awsecr.BatchDeleteImageInput{
		RegistryId:     aws.String(d.Account),
		RepositoryName: aws.String(j.Repository),
		ImageIds:       []ecrtypes.ImageIdentifier{{ImageTag: aws.String(j.Tag)}},
	})
	var rnf *ecrtypes.RepositoryNotFoundException
	switch {
	case errors.As(err, &rnf):
		return done(StatusSkipped, fmt.Sprintf("%s has no repository %s: nothing to untag", j.Destination, j.Repository))
	case err != nil:
		return r, classifyAWS(op, err)
	}
	if len(out.Failures) > 0 { // one image id asked, so one failure at most
		f := out.Failures[0]
		if f.FailureCode == ecrtypes.ImageFailureCodeImageNotFound {
			return done(StatusSkipped, fmt.Sprintf("%s was removed from %s meanwhile", image, j.Destination))
		}
		return r, &ReplicationError{Op: op, Err: fmt.Errorf("ECR refused: %s: %s", f.FailureCode, aws.ToString(f.FailureReason))}
	}
	return done(StatusUntagged, fmt.Sprintf("removed: %s was deleted in the source (onSourceDelete: untag)", image))
}
