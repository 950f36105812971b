package reconcile

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsecr "github.com/aws/aws-sdk-go-v2/service/ecr"
	ecrtypes "github.com/aws/aws-sdk-go-v2/service/ecr/types"
)

// Image is one manifest of a repository listing.
type Image struct {
	Digest string
	Tags   []string
	// Subject is the digest of the manifest this one refers to (an OCI
	// referrer: a signature, SBOM or attestation pushed with a subject).
	Subject string
	// Archived is true while the image is in ECR's archive storage class
	// (ARCHIVED, or ACTIVATING on its way back): pulls answer 404.
	Archived bool
}

// Listing is what one repository holds: every manifest, tagged or not.
type Listing struct {
	Name      string
	Exists    bool // false: the repository is not there (nothing in it)
	Immutable bool // tags cannot be moved (imageTagMutability IMMUTABLE)

	listErr error // the listing failed: nothing is known

	tags     map[string]string   // tag -> digest
	images   map[string]*Image   // by digest
	subjects map[string][]string // subject digest -> referrer digests
}

// NewListing returns the listing of an existing repository holding images.
func NewListing(name string, immutable bool, images []Image) *Listing {
	l := &Listing{Name: name, Exists: true, Immutable: immutable}
	for _, im := range images {
		l.Add(im)
	}
	return l
}

// Add records one more image.
func (l *Listing) Add(im Image) {
	if l.images == nil {
		l.tags, l.images, l.subjects = map[string]string{}, map[string]*Image{}, map[string][]string{}
	}
	if _, dup := l.images[im.Digest]; dup {
		return
	}
	p := &im
	l.images[im.Digest] = p
	for _, t := range im.Tags {
		l.tags[t] = im.Digest
	}
	if im.Subject != "" {
		l.subjects[im.Subject] = append(l.subjects[im.Subject], im.Digest)
	}
}

// Tag returns the digest tag points at ("" when the tag is not there).
func (l *Listing) Tag(tag string) string { return l.tags[tag] }

// Has reports whether the repository holds the manifest digest.
func (l *Listing) Has(digest string) bool { _, ok := l.images[digest]; return ok }

// Image returns the image of digest, if listed.
func (l *Listing) Image(digest string) (*Image, bool) { im, ok := l.images[digest]; return im, ok }

// Len is the number of manifests listed.
func (l *Listing) Len() int { return len(l.images) }

// Tags calls fn for every tag and its digest, in no order.
func (l *Listing) Tags(fn func(tag, digest string)) {
	for t, d := range l.tags {
		fn(t, d)
	}
}

// cosignTag matches the tags of referrers: cosign's sha256-<hex>.sig, .att
// and .sbom, and the OCI referrers fallback tag sha256-<hex>. They travel
// with their subject and are never images of their own.
var cosignTag = regexp.MustCompile(`^sha256-[0-9a-f]{64}(\.sig|\.att|\.sbom)?$`)

// IsReferrerTag reports whether tag belongs to a referrer (a cosign tag or
// the OCI referrers fallback tag) rather than naming an image.
func IsReferrerTag(tag string) bool { return cosignTag.MatchString(tag) }

// cosignSuffixes are the cosign tag scheme's referrer tags.
var cosignSuffixes = []string{".sig", ".att", ".sbom"}

// Referrers is what travels with one digest: the manifests that refer to
// it (OCI referrers and their own referrers) and the cosign tags of it and
// of them.
type Referrers struct {
	Digests []string          // manifests that must be present, by digest
	Tags    map[string]string // cosign tag -> digest it must point at
}

// Len is the number of referrers.
func (r Referrers) Len() int { return len(r.Digests) }

// ReferrersOf walks the referrers of digest in the listing: OCI referrers
// (by subject), cosign tags (sha256-<hex>.sig, .att, .sbom), and theirs in
// turn.
func (l *Listing) ReferrersOf(digest string) Referrers {
	out := Referrers{Tags: map[string]string{}}
	seen := map[string]bool{digest: true}
	queue := []string{digest}
	add := func(d string) {
		if !seen[d] {
			seen[d] = true
			out.Digests = append(out.Digests, d)
			queue = append(queue, d)
		}
	}
	for len(queue) > 0 {
		d := queue[0]
		queue = queue[1:]
		for _, r := range l.subjects[d] {
			add(r)
		}
		base := strings.Replace(d, ":", "-", 1)
		for _, s := range cosignSuffixes {
			if rd, ok := l.tags[base+s]; ok {
				out.Tags[base+s] = rd
				add(rd)
			}
		}
	}
	return out
}

// ECRAPI is the part of the ECR client a listing needs.
type ECRAPI interface {
	DescribeRepositories(ctx context.Context, in *awsecr.DescribeRepositoriesInput, optFns ...func(*awsecr.Options)) (*awsecr.DescribeRepositoriesOutput, error)
	DescribeImages(ctx context.Context, in *awsecr.DescribeImagesInput, optFns ...func(*awsecr.Options)) (*awsecr.DescribeImagesOutput, error)
}

var _ ECRAPI = (*awsecr.Client)(nil)

// Registry lists one ECR registry through the ECR API, page by page:
// DescribeRepositories and DescribeImages, 1,000 a page (ECR's most).
type Registry struct {
	API     ECRAPI
	Account string // registryId
	ID      string // account/region, for messages
}

// pageSize is ECR's largest page for DescribeRepositories and DescribeImages.
const pageSize = 1000

// Repositories calls fn with every repository's name, a page at a time.
func (r Registry) Repositories(ctx context.Context, fn func(name string) error) error {
	p := awsecr.NewDescribeRepositoriesPaginator(r.API, &awsecr.DescribeRepositoriesInput{
		RegistryId: aws.String(r.Account),
		MaxResults: aws.Int32(pageSize),
	})
	for p.HasMorePages() {
		out, err := p.NextPage(ctx)
		if err != nil {
			return fmt.Errorf("list repositories in %s: %w", r.ID, err)
		}
		for _, repo := range out.Repositories {
			if err := fn(aws.ToString(repo.RepositoryName)); err != nil {
				return err
			}
		}
	}
	return nil
}

// Repository lists every image of one repository, archived ones
// included; a repository that does not exist is a listing with Exists
// false. It does not read the repository's tag mutability (Immutable does):
// a sync needs it only where a tag is at another digest, and one
// DescribeImages call a page is all a repository in sync costs.
func (r Registry) Repository(ctx context.Context, name string) (*Listing, error) {
	l := &Listing{Name: name, Exists: true}
	p := awsecr.NewDescribeImagesPaginator(r.API, &awsecr.DescribeImagesInput{
		RegistryId:     aws.String(r.Account),
		RepositoryName: aws.String(name),
		MaxResults:     aws.Int32(pageSize),
		Filter:         &ecrtypes.DescribeImagesFilter{TagStatus: ecrtypes.TagStatusAny, ImageStatus: ecrtypes.ImageStatusFilterAny},
	})
	for p.HasMorePages() {
		out, err := p.NextPage(ctx)
		var nf *ecrtypes.RepositoryNotFoundException
		if errors.As(err, &nf) {
			return &Listing{Name: name}, nil
		}
		if err != nil {
			return nil, fmt.Errorf("list images of %s in %s: %w", name, r.ID, err)
		}
		for _, d := range out.ImageDetails {
			l.Add(Image{
				Digest:   aws.ToString(d.ImageDigest),
				Tags:     d.ImageTags,
				Subject:  aws.ToString(d.SubjectManifestDigest),
				Archived: d.ImageStatus == ecrtypes.ImageStatusArchived || d.ImageStatus == ecrtypes.ImageStatusActivating,
			})
		}
	}
	return l, nil
}

// Immutable reports whether the repository's tags are immutable.
func (r Registry) Immutable(ctx context.Context, name string) (bool, error) {
	out, err := r.API.DescribeRepositories(ctx, &awsecr.DescribeRepositoriesInput{
		RegistryId:      aws.String(r.Account),
		RepositoryNames: []string{name},
	})
	switch {
	case err != nil:
		return false, fmt.Errorf("describe repository %s in %s: %w", name, r.ID, err)
	case len(out.Repositories) == 0:
		return false, nil
	}
	return out.Repositories[0].ImageTagMutability == ecrtypes.ImageTagMutabilityImmutable, nil
}
