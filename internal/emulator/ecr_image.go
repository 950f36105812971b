package emulator

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strings"
)

// Wire shapes of ECR's image and authorization operations (ECR API Reference).

type imageIDJSON struct {
	ImageDigest string `json:"imageDigest,omitempty"`
	ImageTag    string `json:"imageTag,omitempty"`
}

// String renders an image ID the way ECR's messages do.
func (id imageIDJSON) String() string {
	q := func(s string) string {
		if s == "" {
			return "'null'"
		}
		return "'" + s + "'"
	}
	return fmt.Sprintf("{imageDigest:%s, imageTag:%s}", q(id.ImageDigest), q(id.ImageTag))
}

type imageJSON struct {
	RegistryID             string      `json:"registryId"`
	RepositoryName         string      `json:"repositoryName"`
	ImageID                imageIDJSON `json:"imageId"`
	ImageManifest          string      `json:"imageManifest"`
	ImageManifestMediaType string      `json:"imageManifestMediaType"`
}

type imageFailureJSON struct {
	ImageID       imageIDJSON `json:"imageId"`
	FailureCode   string      `json:"failureCode"`
	FailureReason string      `json:"failureReason"`
}

type imageDetailJSON struct {
	RegistryID             string   `json:"registryId"`
	RepositoryName         string   `json:"repositoryName"`
	ImageDigest            string   `json:"imageDigest"`
	ImageTags              []string `json:"imageTags,omitempty"`
	ImageSizeInBytes       int64    `json:"imageSizeInBytes"`
	ImagePushedAt          epoch    `json:"imagePushedAt"`
	ImageManifestMediaType string   `json:"imageManifestMediaType"`
	ArtifactMediaType      string   `json:"artifactMediaType,omitempty"`
	ImageStatus            string   `json:"imageStatus"`
	SubjectManifestDigest  string   `json:"subjectManifestDigest,omitempty"`
	LastArchivedAt         *epoch   `json:"lastArchivedAt,omitempty"`
	LastActivatedAt        *epoch   `json:"lastActivatedAt,omitempty"`
}

type describeImagesOutput struct {
	ImageDetails []imageDetailJSON `json:"imageDetails"`
	NextToken    *string           `json:"nextToken,omitempty"`
}

type listImagesOutput struct {
	ImageIDs  []imageIDJSON `json:"imageIds"`
	NextToken *string       `json:"nextToken,omitempty"`
}

// imageFilter is the filter of DescribeImages and ListImages.
type imageFilter struct {
	TagStatus   string `json:"tagStatus"`
	ImageStatus string `json:"imageStatus"`
}

// check fills in the defaults (tagStatus ANY; imageStatus ACTIVE, as the API
// Reference's DescribeImagesFilter and ListImagesFilter say) and checks the
// enums.
func (f *imageFilter) check() *APIError {
	if f.TagStatus == "" {
		f.TagStatus = "ANY"
	}
	if f.ImageStatus == "" {
		f.ImageStatus = imageActive
	}
	switch f.TagStatus {
	case "ANY", "TAGGED", "UNTAGGED":
	default:
		return invalidParameter("filter.tagStatus", "Member must satisfy enum value set: [TAGGED, UNTAGGED, ANY]")
	}
	switch f.ImageStatus {
	case "ANY", imageActive, imageArchived, imageActivating:
	default:
		return invalidParameter("filter.imageStatus", "Member must satisfy enum value set: [ACTIVE, ARCHIVED, ACTIVATING, ANY]")
	}
	return nil
}

func (f imageFilter) matches(img *image) bool {
	switch {
	case f.TagStatus == "TAGGED" && len(img.tags) == 0, f.TagStatus == "UNTAGGED" && len(img.tags) > 0:
		return false
	}
	return f.ImageStatus == "ANY" || f.ImageStatus == img.status
}

// scope is what a nextToken of a listing over repo with f is bound to.
func (f imageFilter) scope(repo string) string {
	return repo + "\x00" + f.TagStatus + "\x00" + f.ImageStatus
}

// listed returns the images f selects, oldest push first (ties by digest),
// with their sort keys for paging. Keys have a fixed length.
func (rp *repository) listed(f imageFilter) ([]*image, []string) {
	imgs := make([]*image, 0, len(rp.images))
	for _, img := range rp.images {
		if f.matches(img) {
			imgs = append(imgs, img)
		}
	}
	keys := make([]string, len(imgs))
	for i, img := range imgs {
		keys[i] = imageKey(img)
	}
	sort.Sort(byKey{imgs, keys})
	return imgs, keys
}

func imageKey(img *image) string {
	return fmt.Sprintf("%020d/%s", img.pushedAt.UnixNano(), img.digest)
}

type byKey struct {
	imgs []*image
	keys []string
}

func (b byKey) Len() int           { return len(b.keys) }
func (b byKey) Less(i, j int) bool { return b.keys[i] < b.keys[j] }
func (b byKey) Swap(i, j int) {
	b.keys[i], b.keys[j] = b.keys[j], b.keys[i]
	b.imgs[i], b.imgs[j] = b.imgs[j], b.imgs[i]
}

func (r *Registry) getAuthorizationToken(body []byte) (any, *APIError) {
	var in struct {
		RegistryIDs []string `json:"registryIds"`
	}
	if e := decode(body, &in); e != nil {
		return nil, e
	}
	for _, id := range in.RegistryIDs {
		if id != r.account {
			return nil, badRequest(CodeAccessDeniedECR,
				"User is not authorized to get a token for registry '%s' from the endpoint of registry '%s'", id, r.account)
		}
	}
	tok, exp := r.issueToken()
	return map[string]any{"authorizationData": []map[string]any{{
		"authorizationToken": base64.StdEncoding.EncodeToString([]byte("AWS:" + tok)),
		"expiresAt":          epoch(exp),
		"proxyEndpoint":      "http://" + r.Host(),
	}}}, nil
}

// resolve finds the image an imageId names, with ECR's failure codes.
func (rp *repository) resolve(id imageIDJSON) (*image, *imageFailureJSON) {
	fail := func(code, reason string) (*image, *imageFailureJSON) {
		return nil, &imageFailureJSON{ImageID: id, FailureCode: code, FailureReason: reason}
	}
	switch {
	case id.ImageDigest == "" && id.ImageTag == "":
		return fail("MissingDigestAndTag", "Image ID must have either a digest or a tag")
	case id.ImageDigest != "" && !digestRE().MatchString(id.ImageDigest):
		return fail("InvalidImageDigest", "Invalid request parameters: image digest should satisfy the regex '[a-zA-Z0-9-_+.]+:[a-fA-F0-9]+'")
	}
	digest := id.ImageDigest
	if id.ImageTag != "" {
		d, ok := rp.tagIndex[id.ImageTag]
		if !ok {
			return fail("ImageNotFound", "Requested image not found")
		}
		if digest != "" && d != digest {
			return fail("ImageTagDoesNotMatchDigest", "Invalid request parameters: given tag does not map to the given digest")
		}
		digest = d
	}
	img, ok := rp.images[digest]
	if !ok {
		return fail("ImageNotFound", "Requested image not found")
	}
	return img, nil
}

func (r *Registry) batchGetImage(body []byte) (any, *APIError) {
	var in struct {
		RepositoryName     string        `json:"repositoryName"`
		ImageIDs           []imageIDJSON `json:"imageIds"`
		AcceptedMediaTypes []string      `json:"acceptedMediaTypes"`
	}
	if e := decode(body, &in); e != nil {
		return nil, e
	}
	if len(in.ImageIDs) == 0 || len(in.ImageIDs) > 100 {
		return nil, invalidParameter("imageIds", "Member must have length between 1 and 100")
	}
	return r.withRepo(in.RepositoryName, func(rp *repository) (any, *APIError) {
		images := []imageJSON{}
		failures := []imageFailureJSON{}
		for _, id := range in.ImageIDs {
			img, f := rp.resolve(id)
			if f == nil && len(in.AcceptedMediaTypes) > 0 && !slices.Contains(in.AcceptedMediaTypes, img.mediaType) {
				// ECR would convert Docker schema 2 to schema 1 when asked;
				// the emulator never converts.
				f = &imageFailureJSON{ImageID: id, FailureCode: "UnsupportedImageType",
					FailureReason: "The image's media type is not among the accepted media types"}
			}
			if f != nil {
				failures = append(failures, *f)
				continue
			}
			images = append(images, imageJSON{
				RegistryID:             r.account,
				RepositoryName:         rp.name,
				ImageID:                imageIDJSON{ImageDigest: img.digest, ImageTag: id.ImageTag},
				ImageManifest:          string(img.manifest),
				ImageManifestMediaType: img.mediaType,
			})
		}
		return map[string]any{"images": images, "failures": failures}, nil
	})
}

func (r *Registry) describeImages(body []byte) (any, *APIError) {
	var in struct {
		RepositoryName string        `json:"repositoryName"`
		ImageIDs       []imageIDJSON `json:"imageIds"`
		Filter         *imageFilter  `json:"filter"`
		MaxResults     *int          `json:"maxResults"`
		NextToken      *string       `json:"nextToken"`
	}
	if e := decode(body, &in); e != nil {
		return nil, e
	}
	if len(in.ImageIDs) > 100 {
		return nil, invalidParameter("imageIds", "Member must have length less than or equal to 100")
	}
	if len(in.ImageIDs) > 0 && (in.MaxResults != nil || in.NextToken != nil) {
		// "This option cannot be used when you specify images with
		// imageIds." (API Reference, DescribeImages)
		return nil, invalidParameter("maxResults", "maxResults and nextToken cannot be specified together with imageIds")
	}
	var f imageFilter
	if in.Filter != nil {
		f = *in.Filter
	}
	if e := f.check(); e != nil {
		return nil, e
	}
	pg, e := r.parsePaging("DescribeImages", f.scope(in.RepositoryName), in.MaxResults, in.NextToken)
	if e != nil {
		return nil, e
	}
	return r.withRepo(in.RepositoryName, func(rp *repository) (any, *APIError) {
		out := []imageDetailJSON{}
		if len(in.ImageIDs) > 0 {
			for _, id := range in.ImageIDs {
				img, f := rp.resolve(id)
				if f != nil {
					if f.FailureCode == "ImageNotFound" || f.FailureCode == "ImageTagDoesNotMatchDigest" {
						return nil, badRequest(CodeImageNotFound,
							"The image with imageId %s does not exist within the repository with name '%s' in the registry with id '%s'",
							id, rp.name, r.account)
					}
					return nil, invalidParameter("imageIds", f.FailureReason)
				}
				out = append(out, r.imageDetail(rp, img))
			}
			return describeImagesOutput{ImageDetails: out}, nil
		}
		imgs, keys := rp.listed(f)
		lo, hi, next := pg.page(keys)
		for _, img := range imgs[lo:hi] {
			out = append(out, r.imageDetail(rp, img))
		}
		return describeImagesOutput{ImageDetails: out, NextToken: next}, nil
	})
}

// imageDetail renders an image as DescribeImages does; the caller holds r.mu.
func (r *Registry) imageDetail(rp *repository, img *image) imageDetailJSON {
	d := imageDetailJSON{
		RegistryID:             r.account,
		RepositoryName:         rp.name,
		ImageDigest:            img.digest,
		ImageTags:              rp.tagsOf(img.digest),
		ImageSizeInBytes:       img.size,
		ImagePushedAt:          epoch(img.pushedAt),
		ImageManifestMediaType: img.mediaType,
		ArtifactMediaType:      img.artifactMediaType,
		ImageStatus:            img.status,
		SubjectManifestDigest:  img.subject,
	}
	if !img.lastArchivedAt.IsZero() {
		t := epoch(img.lastArchivedAt)
		d.LastArchivedAt = &t
	}
	if !img.lastActivatedAt.IsZero() {
		t := epoch(img.lastActivatedAt)
		d.LastActivatedAt = &t
	}
	return d
}

// listImages lists image IDs as ECR does: one per tag of a tagged image, and
// one (digest only) per untagged image.
func (r *Registry) listImages(body []byte) (any, *APIError) {
	var in struct {
		RepositoryName string       `json:"repositoryName"`
		Filter         *imageFilter `json:"filter"`
		MaxResults     *int         `json:"maxResults"`
		NextToken      *string      `json:"nextToken"`
	}
	if e := decode(body, &in); e != nil {
		return nil, e
	}
	var f imageFilter
	if in.Filter != nil {
		f = *in.Filter
	}
	if e := f.check(); e != nil {
		return nil, e
	}
	pg, e := r.parsePaging("ListImages", f.scope(in.RepositoryName), in.MaxResults, in.NextToken)
	if e != nil {
		return nil, e
	}
	return r.withRepo(in.RepositoryName, func(rp *repository) (any, *APIError) {
		imgs, imgKeys := rp.listed(f)
		// An entry's key is its image's key, a space (in neither keys nor
		// tags) and its tag, "" for an untagged image. Resume at the
		// cursor's image rather than expanding every tag before it.
		i, resume, afterTag := 0, false, ""
		if pg.after != "" {
			ik, tag, _ := strings.Cut(pg.after, " ")
			i = sort.SearchStrings(imgKeys, ik)
			if i < len(imgKeys) && imgKeys[i] == ik {
				resume, afterTag = true, tag
			}
		}
		ids := []imageIDJSON{}
		var last string
		var next *string
	fill:
		for ; i < len(imgs); i++ {
			tags := rp.tagsOf(imgs[i].digest)
			if len(tags) == 0 {
				tags = []string{""}
			}
			for _, t := range tags {
				if resume && t <= afterTag {
					continue
				}
				if len(ids) == pg.size {
					next = pg.token(last)
					break fill
				}
				ids = append(ids, imageIDJSON{ImageDigest: imgs[i].digest, ImageTag: t})
				last = imgKeys[i] + " " + t
			}
			resume = false
		}
		return listImagesOutput{ImageIDs: ids, NextToken: next}, nil
	})
}

func (r *Registry) putImage(body []byte) (any, *APIError) {
	var in struct {
		RepositoryName         string `json:"repositoryName"`
		ImageManifest          string `json:"imageManifest"`
		ImageManifestMediaType string `json:"imageManifestMediaType"`
		ImageTag               string `json:"imageTag"`
		ImageDigest            string `json:"imageDigest"`
	}
	if e := decode(body, &in); e != nil {
		return nil, e
	}
	if _, ok := r.repo(in.RepositoryName); !ok {
		return nil, repositoryNotFound(in.RepositoryName, r.account)
	}
	ref := in.ImageTag
	if ref == "" {
		ref = in.ImageDigest
		if ref == "" {
			ref = sha256Digest([]byte(in.ImageManifest))
		}
	}
	if in.ImageTag != "" && !tagRE().MatchString(in.ImageTag) {
		return nil, invalidParameter("imageTag", "Invalid image tag")
	}
	if in.ImageDigest != "" && in.ImageDigest != sha256Digest([]byte(in.ImageManifest)) {
		return nil, badRequest(CodeImageDigestDoesNotMatch,
			"Invalid parameter: The specified digest '%s' does not match the digest of the manifest", in.ImageDigest)
	}
	img, perr := r.pushManifest(in.RepositoryName, ref, in.ImageManifestMediaType, []byte(in.ImageManifest), true)
	if perr != nil {
		return nil, r.putImageError(in.RepositoryName, perr)
	}
	return map[string]any{"image": imageJSON{
		RegistryID:             r.account,
		RepositoryName:         in.RepositoryName,
		ImageID:                imageIDJSON{ImageDigest: img.digest, ImageTag: in.ImageTag},
		ImageManifest:          string(img.manifest),
		ImageManifestMediaType: img.mediaType,
	}}, nil
}

// putImageError renders a refused push as PutImage does.
func (r *Registry) putImageError(repo string, e *pushError) *APIError {
	switch e.kind {
	case pushRepoNotFound:
		return repositoryNotFound(repo, r.account)
	case pushAlreadyExists:
		tag := e.tag
		if tag == "" {
			tag = "null"
		}
		return badRequest(CodeImageAlreadyExists,
			"Image with digest '%s' and tag '%s' already exists in the repository with name '%s' in registry with id '%s'",
			e.digest, tag, repo, r.account)
	case pushTagImmutable:
		return badRequest(CodeImageTagAlreadyExists,
			"The image tag '%s' already exists in the '%s' repository and cannot be overwritten because the repository is immutable.",
			e.tag, repo)
	case pushDigestMismatch:
		return badRequest(CodeImageDigestDoesNotMatch,
			"Invalid parameter: The specified digest '%s' does not match the digest of the manifest", e.detail)
	case pushTagSyntax:
		return invalidParameter("imageTag", "Invalid image tag")
	case pushManifestInvalid:
		return invalidParameter("imageManifest", "Invalid manifest: "+e.detail)
	case pushBlobUnknown:
		return badRequest(CodeLayersNotFound,
			"Layers with digests '[%s]' required for pushing image into repository with name '%s' in the registry with id '%s' do not exist",
			e.digest, repo, r.account)
	case pushChildUnknown:
		return badRequest(CodeReferencedImagesNotFound,
			"Images with digests '[%s]' referenced in the manifest list were not found", e.digest)
	}
	return &APIError{Status: http.StatusInternalServerError, Code: CodeServer, Message: "could not store the image"}
}
