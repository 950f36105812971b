package emulator

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"slices"
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
	case id.ImageDigest != "" && !digestRE.MatchString(id.ImageDigest):
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
		Filter         *struct {
			TagStatus string `json:"tagStatus"`
		} `json:"filter"`
	}
	if e := decode(body, &in); e != nil {
		return nil, e
	}
	return r.withRepo(in.RepositoryName, func(rp *repository) (any, *APIError) {
		detail := func(img *image) imageDetailJSON {
			return imageDetailJSON{
				RegistryID:             r.account,
				RepositoryName:         rp.name,
				ImageDigest:            img.digest,
				ImageTags:              rp.tagsOf(img.digest),
				ImageSizeInBytes:       img.size,
				ImagePushedAt:          epoch(img.pushedAt),
				ImageManifestMediaType: img.mediaType,
				ArtifactMediaType:      img.artifactMediaType,
			}
		}
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
				out = append(out, detail(img))
			}
			return map[string]any{"imageDetails": out}, nil
		}
		status := "ANY"
		if in.Filter != nil && in.Filter.TagStatus != "" {
			status = in.Filter.TagStatus
		}
		if status != "ANY" && status != "TAGGED" && status != "UNTAGGED" {
			return nil, invalidParameter("filter.tagStatus", "Member must satisfy enum value set: [TAGGED, UNTAGGED, ANY]")
		}
		digests := make([]string, 0, len(rp.images))
		for d := range rp.images {
			digests = append(digests, d)
		}
		slices.SortFunc(digests, func(a, b string) int {
			return rp.images[a].pushedAt.Compare(rp.images[b].pushedAt)
		})
		for _, d := range digests {
			det := detail(rp.images[d])
			if (status == "TAGGED" && len(det.ImageTags) == 0) || (status == "UNTAGGED" && len(det.ImageTags) > 0) {
				continue
			}
			out = append(out, det)
		}
		return map[string]any{"imageDetails": out}, nil
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
	if in.ImageTag != "" && !tagRE.MatchString(in.ImageTag) {
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
