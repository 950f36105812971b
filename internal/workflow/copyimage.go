package workflow

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsecr "github.com/aws/aws-sdk-go-v2/service/ecr"
	ecrtypes "github.com/aws/aws-sdk-go-v2/service/ecr/types"
	"github.com/aws/smithy-go"

	"github.com/ferry-dev/ferry/internal/config"
	"github.com/ferry-dev/ferry/internal/ecr"
	"github.com/ferry-dev/ferry/internal/imagecopy"
	"github.com/ferry-dev/ferry/internal/imageref"
)

// CopyImage copies the image, by digest, from the source to the
// destination repository with its referrers, and applies the tag last.
type CopyImage struct {
	step
	opts []imagecopy.Option
}

// NewCopyImage returns the CopyImage step. opts add to the copier's
// defaults (tests shorten the backoff).
func NewCopyImage(logger *slog.Logger, env *Env, roles Roles, opts ...imagecopy.Option) *CopyImage {
	return &CopyImage{step: newStep(logger, env, roles), opts: opts}
}

// copyReserve is how much of its function's time CopyImage keeps back
// from the copy, to cancel it cleanly and report what happened.
const copyReserve = 30 * time.Second

// Handle is the Lambda handler.
func (c *CopyImage) Handle(ctx context.Context, r Replication) (Replication, error) {
	out, err := c.handle(ctx, r)
	if out.Copy != nil {
		out.Copy.Brief = brief(out.Copy.Reason, r.ReasonLimit)
		if out.Copy.Status == StatusCopied && (r.Job.Action == "" || r.Job.Action == ActionCopy) {
			out.Copy.LagMs = lagMs(lagStart(r), time.Now())
		}
	}
	return out, err
}

// lagStart is when the replication lag of r's copy starts: the push, or
// for a destination that waited for a person, the approval (a lag alarm
// is about Ferry, not about how long approvers take).
func lagStart(r Replication) string {
	if r.Job.PushedAt == "" {
		return ""
	}
	if a := r.Approval; a != nil {
		if pushed, err := time.Parse(time.RFC3339Nano, r.Job.PushedAt); err == nil && a.DecidedAt.After(pushed) {
			return a.DecidedAt.UTC().Format(time.RFC3339Nano)
		}
	}
	return r.Job.PushedAt
}

// lagMs is the time from pushedAt (RFC 3339) to now in milliseconds: the
// replication lag of a tag written now; 0 if pushedAt is unknown.
func lagMs(pushedAt string, now time.Time) int64 {
	t, err := time.Parse(time.RFC3339Nano, pushedAt)
	if pushedAt == "" || err != nil {
		return 0
	}
	return max(now.Sub(t).Milliseconds(), 0)
}

func (c *CopyImage) handle(ctx context.Context, r Replication) (Replication, error) {
	j := r.Job
	log := jobLogger(c.log, j)
	d, dstAPI, err := c.destinationECR(ctx, j, ecr.AccessWrite)
	if err != nil {
		return r, err
	}
	switch j.Action {
	case "", ActionCopy:
	case ActionUntag:
		return c.untag(ctx, log, r, d, dstAPI)
	case ActionReferrers:
		if skip, err := c.subjectMissing(ctx, r, d, dstAPI); err != nil || skip != nil {
			r.Copy = skip
			return r, err
		}
	default:
		return r, validationf("job action %q: want %q, %q or %q", j.Action, ActionCopy, ActionReferrers, ActionUntag)
	}
	src, dst, err := login(ctx, c.roles, c.cfg.Source.Account, c.cfg.Source.Region, dstAPI, d.Account)
	if err != nil {
		return r, err
	}
	if j.Action == ActionReferrers {
		return c.copyReferrers(ctx, log, r, src, dst)
	}
	// The tag may have moved on since Validate (a later push while this run
	// waited for an approval): writing this digest under it now would undo
	// the later push's copy.
	if now, err := c.sourceTag(ctx, j); err != nil {
		return r, err
	} else if now != "" && now != j.Digest {
		r.Copy = &CopyResult{Status: StatusSuperseded, Digest: j.Digest, Image: j.Repository + ":" + j.Tag,
			Reason: fmt.Sprintf("the source tag %s:%s now points at %s, a later push whose own run copies it; nothing written", j.SourceRepository, j.Tag, now)}
		log.InfoContext(ctx, "superseded", slog.String("reason", r.Copy.Reason))
		return r, nil
	}
	// An immutable tag already at another image fails here, before any
	// blob is written (the copy would write them all and then be refused
	// the tag).
	if err := c.checkTag(ctx, r, d, dstAPI); err != nil {
		log.ErrorContext(ctx, "copy refused", slog.String("error", err.Error()))
		return r, err
	}
	srcRef, err := imageref.Parse(src.Host + "/" + j.SourceRepository + "@" + j.Digest)
	if err != nil {
		return r, validationf("source image %s@%s: %v", j.SourceRepository, j.Digest, err)
	}
	dstRef, err := imageref.Parse(dst.Host + "/" + j.Repository + ":" + j.Tag)
	if err != nil {
		return r, validationf("destination image %s:%s: %v", j.Repository, j.Tag, err)
	}
	copier := c.copier(log, src, dst)
	start := time.Now()
	copyCtx, cancel := copyContext(ctx)
	defer cancel()
	// And it may move while the copy runs (a quick second push): asked
	// again just before the tag is written, after everything else.
	guard := func(ctx context.Context) error {
		return tagStillAt(ctx, c.roles, c.cfg.Source, j.SourceRepository, j.Tag, j.Digest)
	}
	results, err := copier.Copy(copyCtx, imagecopy.Source{Ref: srcRef, Auth: &src.Credential, BeforeTag: guard},
		[]imagecopy.Destination{{Ref: dstRef, Auth: &dst.Credential, Overwrite: d.OnExistingTag == config.ExistingTagOverwrite}})
	var moved *tagMovedError
	if errors.As(err, &moved) {
		r.Copy = &CopyResult{Status: StatusSuperseded, Digest: j.Digest, Image: j.Repository + ":" + j.Tag, BytesCopied: results[0].BytesCopied,
			Reason: moved.Error() + "; the blobs and manifests copied stay, the tag was not written"}
		log.InfoContext(ctx, "superseded during the copy", slog.String("reason", r.Copy.Reason))
		return r, nil
	}
	if err != nil {
		op := fmt.Sprintf("copy %s@%s to %s:%s in %s", j.SourceRepository, j.Digest, j.Repository, j.Tag, j.Destination)
		if copyCtx.Err() != nil && ctx.Err() == nil {
			// Out of time, not failed: what is copied stays (blobs are
			// committed one by one, the tag is written last), so a retry
			// goes on from there.
			err = &RetryableError{Op: op, Err: fmt.Errorf("did not finish in the function's time (less %s kept to report); the blobs copied so far stay, and a retry goes on from them: %w", copyReserve, err)}
		} else {
			err = adviseConflict(op, j, classifyCopy(op, err))
		}
		log.ErrorContext(ctx, "copy failed", slog.String("error", err.Error()))
		return r, err
	}
	res := results[0]
	r.Copy = &CopyResult{
		Status:           string(res.Status),
		Digest:           res.Digest,
		MediaType:        res.MediaType,
		Image:            j.Repository + ":" + j.Tag,
		ReplacedDigest:   res.Replaced,
		BytesCopied:      res.BytesCopied,
		BlobsCopied:      res.BlobsCopied,
		BlobsSkipped:     res.BlobsSkipped,
		BlobsMounted:     res.BlobsMounted,
		ManifestsWritten: res.ManifestsWritten,
		ReferrersCopied:  res.ReferrersCopied,
		Referrers:        res.Referrers,
	}
	if res.Status == imagecopy.StatusCopied {
		dstAt, err := imageref.Parse(dst.Host + "/" + j.Repository + "@" + j.Digest)
		if err == nil {
			c.lateReferrers(copyCtx, log, r.Copy, copier, imagecopy.Source{Ref: srcRef, Auth: &src.Credential},
				imagecopy.Destination{Ref: dstAt, Auth: &dst.Credential})
		}
	}
	if len(r.Copy.Referrers) > maxListedReferrers {
		r.Copy.Referrers, r.Copy.ReferrersUnlisted = nil, true
	}
	r.Copy.DurationMs = millis(time.Since(start))
	log.InfoContext(ctx, "image copied", slog.String("status", r.Copy.Status), slog.Int64("bytes", r.Copy.BytesCopied),
		slog.Int("blobs_copied", r.Copy.BlobsCopied), slog.Int("manifests_written", r.Copy.ManifestsWritten), slog.Int64("duration_ms", r.Copy.DurationMs))
	return r, nil
}

// maxListedReferrers bounds CopyResult.Referrers, which the iteration's
// state carries to Verify: about 150 bytes each, so 200 take 30 KiB of the
// state's 256.
const maxListedReferrers = 200

// lateReferrers copies, once the tag is written, the referrers pushed to
// the source while the copy ran: the copy's listing, made when it began,
// did not have them, and their own runs, if they looked here before the
// image was, skipped this destination. A referrer pushed after this second
// look finds the image here, so its own run copies it: between the two,
// none is left behind. Nothing here fails the copy, which is complete: the
// next sync brings what this misses.
func (c *CopyImage) lateReferrers(ctx context.Context, log *slog.Logger, res *CopyResult, copier *imagecopy.Copier, src imagecopy.Source, dst imagecopy.Destination) {
	results, err := copier.Copy(ctx, src, []imagecopy.Destination{dst})
	if err != nil {
		log.WarnContext(ctx, "referrers pushed during the copy not copied (the next sync copies them)", slog.String("error", err.Error()))
		return
	}
	late := results[0]
	for _, ref := range late.Referrers {
		if !slices.Contains(res.Referrers, ref) {
			res.Referrers = append(res.Referrers, ref)
		}
	}
	res.ReferrersCopied += late.ReferrersCopied
	res.ManifestsWritten += late.ManifestsWritten
	res.BytesCopied += late.BytesCopied
	res.BlobsCopied += late.BlobsCopied
	if late.ReferrersCopied > 0 {
		log.InfoContext(ctx, "referrers pushed during the copy copied", slog.Int("referrers", late.ReferrersCopied))
	}
}

// copier is the copy engine for a job between src and dst.
func (c *CopyImage) copier(log *slog.Logger, src, dst ecr.Registry) *imagecopy.Copier {
	// Each side as its endpoint says: a local stand-in's may be plain
	// HTTP while the other is ECR's HTTPS.
	var plain []string
	for _, r := range []ecr.Registry{src, dst} {
		if r.PlainHTTP {
			plain = append(plain, r.Host)
		}
	}
	opts := []imagecopy.Option{imagecopy.WithPlainHTTPFor(imagecopy.PlainHTTPHosts(plain...))}
	return imagecopy.New(log, append(opts, c.opts...)...)
}

// copyContext is ctx less copyReserve of the function's time.
func copyContext(ctx context.Context) (context.Context, context.CancelFunc) {
	if deadline, ok := ctx.Deadline(); ok {
		return context.WithDeadline(ctx, deadline.Add(-copyReserve))
	}
	return context.WithCancel(ctx)
}

// checkTag fails with a ConflictError when j's tag already points at
// another image in a destination repository whose tags are immutable. A
// repository this iteration created holds nothing yet; in a mutable one
// the copy itself checks the tag before writing (onExistingTag: fail) or
// moves it (overwrite).
func (c *CopyImage) checkTag(ctx context.Context, r Replication, d config.Destination, api ecr.API) error {
	j := r.Job
	if r.Repository != nil && r.Repository.Status == RepositoryCreated {
		return nil
	}
	op := fmt.Sprintf("copy %s@%s to %s:%s in %s", j.SourceRepository, j.Digest, j.Repository, j.Tag, j.Destination)
	immutable, err := tagImmutable(ctx, api, d, j.Repository, j.Tag)
	if err != nil || !immutable {
		return err
	}
	existing, err := destinationTag(ctx, api, d, j.Repository, j.Tag)
	if err != nil || existing == "" || existing == j.Digest {
		return err
	}
	return tagConflict(op, j, existing, true, true)
}

// tagImmutable reports whether tag cannot be moved in repository repo of
// destination d: the repository's tags are immutable, or immutable for
// this tag by its exclusion filters. A missing repository protects nothing.
func tagImmutable(ctx context.Context, api ecr.API, d config.Destination, repo, tag string) (bool, error) {
	out, err := api.DescribeRepositories(ctx, &awsecr.DescribeRepositoriesInput{RegistryId: aws.String(d.Account), RepositoryNames: []string{repo}})
	var nf *ecrtypes.RepositoryNotFoundException
	switch {
	case errors.As(err, &nf):
		return false, nil
	case err != nil:
		return false, classifyAWS(fmt.Sprintf("describe repository %s in %s", repo, d.ID()), err)
	case len(out.Repositories) == 0:
		return false, nil
	}
	rp := out.Repositories[0]
	excluded := false
	for _, f := range rp.ImageTagMutabilityExclusionFilters {
		if f.FilterType == ecrtypes.ImageTagMutabilityExclusionFilterTypeWildcard && wildcard(aws.ToString(f.Filter), tag) {
			excluded = true
		}
	}
	switch rp.ImageTagMutability {
	case ecrtypes.ImageTagMutabilityImmutable:
		return true, nil
	case ecrtypes.ImageTagMutabilityImmutableWithExclusion:
		return !excluded, nil
	case ecrtypes.ImageTagMutabilityMutableWithExclusion:
		return excluded, nil
	}
	return false, nil
}

// wildcard matches s against an ECR exclusion filter, where * stands for
// any characters.
func wildcard(pattern, s string) bool {
	parts := strings.Split(pattern, "*")
	if len(parts) == 1 {
		return pattern == s
	}
	if !strings.HasPrefix(s, parts[0]) {
		return false
	}
	s = s[len(parts[0]):]
	for _, p := range parts[1 : len(parts)-1] {
		i := strings.Index(s, p)
		if i < 0 {
			return false
		}
		s = s[i+len(p):]
	}
	return strings.HasSuffix(s, parts[len(parts)-1])
}

// destinationTag is the digest tag points at in repository repo of
// destination d, "" when there is no such tag (or repository).
func destinationTag(ctx context.Context, api ecr.API, d config.Destination, repo, tag string) (string, error) {
	out, err := api.DescribeImages(ctx, &awsecr.DescribeImagesInput{
		RegistryId:     aws.String(d.Account),
		RepositoryName: aws.String(repo),
		ImageIds:       []ecrtypes.ImageIdentifier{{ImageTag: aws.String(tag)}},
	})
	var nf *ecrtypes.ImageNotFoundException
	var rnf *ecrtypes.RepositoryNotFoundException
	switch {
	case errors.As(err, &nf), errors.As(err, &rnf):
		return "", nil
	case err != nil:
		return "", classifyAWS(fmt.Sprintf("read %s:%s in %s", repo, tag, d.ID()), err)
	case len(out.ImageDetails) == 0:
		return "", nil
	}
	return aws.ToString(out.ImageDetails[0].ImageDigest), nil
}

// adviseConflict rephrases the copy engine's conflicts for the workflow:
// its advice names ferry copy's --overwrite, and a registry that refuses
// an immutable tag says nothing of what to do.
func adviseConflict(op string, j Job, err error) error {
	var kept *imagecopy.ConflictError
	var reg *imagecopy.RegistryError
	switch {
	case errors.As(err, &kept):
		c := tagConflict(op, j, kept.Existing, false, true)
		c.Err = err
		return c
	case errors.As(err, new(*ConflictError)) && errors.As(err, &reg):
		// The tag was taken between the check and the write.
		c := tagConflict(op, j, "", true, false)
		c.Err = err
		return c
	}
	return err
}

// sourceTag is the digest j's tag points at in the source now ("" when the
// tag is gone: then the pushed image is still what is copied).
func (c *CopyImage) sourceTag(ctx context.Context, j Job) (string, error) {
	return sourceTagDigest(ctx, c.roles, c.cfg.Source, j.SourceRepository, j.Tag)
}

// tagMovedError says the source tag moved to another image during a copy.
type tagMovedError struct {
	Repository, Tag, Was, Now string
}

func (e *tagMovedError) Error() string {
	return fmt.Sprintf("the source tag %s:%s moved from %s to %s during the copy (a later push, whose own run copies it)", e.Repository, e.Tag, e.Was, e.Now)
}

// tagStillAt returns a *tagMovedError when repository:tag in the source no
// longer points at digest (a tag since deleted leaves the copy alone).
func tagStillAt(ctx context.Context, roles Roles, src config.Source, repository, tag, digest string) error {
	now, err := sourceTagDigest(ctx, roles, src, repository, tag)
	if err != nil {
		return err
	}
	if now != "" && now != digest {
		return &tagMovedError{Repository: repository, Tag: tag, Was: digest, Now: now}
	}
	return nil
}

// sourceTagDigest is the digest repository:tag points at in the source
// now, "" when the tag is gone.
func sourceTagDigest(ctx context.Context, roles Roles, src config.Source, repository, tag string) (string, error) {
	out, err := roles.ECR(src.Account, src.Region).DescribeImages(ctx, &awsecr.DescribeImagesInput{
		RegistryId:     aws.String(src.Account),
		RepositoryName: aws.String(repository),
		ImageIds:       []ecrtypes.ImageIdentifier{{ImageTag: aws.String(tag)}},
	})
	var nf *ecrtypes.ImageNotFoundException
	switch {
	case errors.As(err, &nf):
		return "", nil
	case err != nil:
		return "", classifyAWS(fmt.Sprintf("read %s:%s in source %s", repository, tag, src.ID()), err)
	case len(out.ImageDetails) == 0:
		return "", nil
	}
	return aws.ToString(out.ImageDetails[0].ImageDigest), nil
}

// login gets registry tokens for the source (own role) and the destination.
func login(ctx context.Context, roles Roles, srcAccount, srcRegion string, dstAPI ecr.API, dstAccount string) (src, dst ecr.Registry, err error) {
	src, err = ecr.Login(ctx, roles.ECR(srcAccount, srcRegion), srcAccount)
	if err != nil {
		return src, dst, classifyAWS("log in to the source registry", err)
	}
	dst, err = ecr.Login(ctx, dstAPI, dstAccount)
	if err != nil {
		return src, dst, classifyAWS("log in to the destination registry", err)
	}
	return src, dst, nil
}

// classifyCopy names a copy engine error for Step Functions.
func classifyCopy(op string, err error) error {
	var conflict *imagecopy.ConflictError
	var reg *imagecopy.RegistryError
	switch {
	case errors.As(err, &conflict):
		return &ConflictError{Op: op, Err: err}
	case errors.Is(err, imagecopy.ErrDigestMismatch):
		return &ReplicationError{Op: op, Err: err}
	case errors.As(err, &reg):
		switch {
		case reg.Temporary():
			return &RetryableError{Op: op, Err: err}
		case reg.StatusCode == http.StatusUnauthorized || reg.StatusCode == http.StatusForbidden:
			return &AccessDeniedError{Op: op, Err: err}
		}
		for _, code := range reg.Codes {
			if code == "TAG_INVALID" || code == "ImageTagAlreadyExistsException" {
				return &ConflictError{Op: op, Err: err}
			}
		}
		return &ReplicationError{Op: op, Err: err}
	}
	if errors.As(err, new(smithy.APIError)) {
		return classifyAWS(op, err)
	}
	// The engine's own errors (a broken connection, a stall, a token
	// service that refused the credentials or a realm refused for them):
	// its test, not the AWS one, which takes every URL error for a
	// network fault.
	if imagecopy.Retryable(err) {
		return &RetryableError{Op: op, Err: err}
	}
	return &ReplicationError{Op: op, Err: err}
}
