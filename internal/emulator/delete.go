package emulator

import (
	"net/http"
	"slices"
)

// BatchDeleteImage (ECR API Reference, BatchDeleteImage and ImageFailure)
// takes up to 100 imageIds and handles them in the order given:
//
//   - imageTag alone removes that tag from its image. When it was the
//     image's last tag, the image is deleted ("When you remove the last tag
//     from an image, the image is deleted from your repository").
//   - imageDigest alone deletes the image and all its tags.
//   - imageTag and imageDigest together must name a tag that points at that
//     digest, or the id fails with ImageTagDoesNotMatchDigest; otherwise the
//     tag is removed, as with imageTag alone. The API Reference does not say
//     what ECR does with both; the emulator takes the narrower reading
//     (moto deletes the whole image).
//   - An id that names nothing fails with ImageNotFound; one with neither
//     field, MissingDigestAndTag; a digest that is not sha256:<64 hex>,
//     InvalidImageDigest; a tag outside the OCI tag grammar (which no pushed
//     tag can be), InvalidImageTag. Failures are reported in "failures", not
//     as an error; a missing repository is RepositoryNotFoundException.
//   - An image that an index (manifest list) in the repository lists as a
//     child cannot be deleted: ImageReferencedByManifestList, which the API
//     Reference lists and ECR answers for such a child deleted by digest.
//     The emulator also refuses removing a child's last tag (the tag stays),
//     and handles ids in order, so an index listed before its children lets
//     them all go in one call, and listed after, the children fail and the
//     index is deleted; both are its guesses, the reference says neither.
//   - Tag immutability does not prevent deletion (it only prevents a tag
//     from being overwritten), and archived images can be deleted.
//   - "imageIds" lists what was removed: {digest, tag} for a removed tag;
//     for an image deleted by digest, one {digest, tag} per tag it had, or
//     {digest} when it had none.
//
// The data plane agrees at once: a removed tag and a deleted image's digest
// answer 404 MANIFEST_UNKNOWN, tags/list drops the tag and the referrers API
// no longer lists a deleted image. Blobs stay (pullable in the repository
// they were pushed to), as they do in ECR until it garbage-collects them.

type batchDeleteImageOutput struct {
	ImageIDs []imageIDJSON      `json:"imageIds"`
	Failures []imageFailureJSON `json:"failures"`
}

func (r *Registry) batchDeleteImage(body []byte) (any, *APIError) {
	var in struct {
		RepositoryName string        `json:"repositoryName"`
		ImageIDs       []imageIDJSON `json:"imageIds"`
	}
	if e := decode(body, &in); e != nil {
		return nil, e
	}
	if len(in.ImageIDs) == 0 || len(in.ImageIDs) > 100 {
		return nil, invalidParameter("imageIds", "Member must have length between 1 and 100")
	}
	// pushMu keeps a push from interleaving with the deletion, in the index
	// and in the data plane's handler.
	r.pushMu.Lock()
	defer r.pushMu.Unlock()
	var dropped []string // references for the data plane to forget
	out, e := r.withRepo(in.RepositoryName, func(rp *repository) (any, *APIError) {
		o := batchDeleteImageOutput{ImageIDs: []imageIDJSON{}, Failures: []imageFailureJSON{}}
		for _, id := range in.ImageIDs {
			ids, refs, f := rp.deleteID(id)
			if f != nil {
				o.Failures = append(o.Failures, *f)
				continue
			}
			o.ImageIDs = append(o.ImageIDs, ids...)
			dropped = append(dropped, refs...)
		}
		return o, nil
	})
	if e != nil {
		return nil, e
	}
	r.forgetManifests(in.RepositoryName, dropped)
	return out, nil
}

// deleteID removes what one imageId of BatchDeleteImage names, returning
// the imageIds removed and the references (tags, digest) that no longer
// name a manifest. The caller holds r.mu.
func (rp *repository) deleteID(id imageIDJSON) ([]imageIDJSON, []string, *imageFailureJSON) {
	img, f := rp.resolve(id)
	if f != nil {
		// No tag outside the grammar was ever pushed, so resolve reports
		// ImageNotFound for one; ECR has a code of its own for it.
		if f.FailureCode == "ImageNotFound" && id.ImageTag != "" && !tagRE().MatchString(id.ImageTag) {
			f.FailureCode = "InvalidImageTag"
			f.FailureReason = "Invalid request parameters: image tag should satisfy the regex '[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}'"
		}
		return nil, nil, f
	}
	if id.ImageTag != "" && len(img.tags) > 1 {
		rp.untag(img, id.ImageTag)
		return []imageIDJSON{{ImageDigest: img.digest, ImageTag: id.ImageTag}}, []string{id.ImageTag}, nil
	}
	if rp.referenced(img.digest) {
		return nil, nil, &imageFailureJSON{ImageID: id, FailureCode: "ImageReferencedByManifestList",
			FailureReason: "Requested image referenced by manifest list"}
	}
	tags := rp.tagsOf(img.digest)
	var ids []imageIDJSON
	switch {
	case id.ImageTag != "":
		ids = []imageIDJSON{{ImageDigest: img.digest, ImageTag: id.ImageTag}}
	case len(tags) == 0:
		ids = []imageIDJSON{{ImageDigest: img.digest}}
	default:
		for _, t := range tags {
			ids = append(ids, imageIDJSON{ImageDigest: img.digest, ImageTag: t})
		}
	}
	for _, t := range tags {
		rp.untag(img, t)
	}
	delete(rp.images, img.digest)
	return ids, append(tags, img.digest), nil
}

// untag removes tag from img, which it points at.
func (rp *repository) untag(img *image, tag string) {
	delete(rp.tagIndex, tag)
	delete(img.tags, tag)
}

// referenced reports whether another image in the repository (an index)
// lists digest as a child.
func (rp *repository) referenced(digest string) bool {
	for _, img := range rp.images {
		if img.digest != digest && slices.Contains(img.children, digest) {
			return true
		}
	}
	return false
}

// forgetManifests deletes refs of repo from the data plane's handler, so
// that what the handler serves by itself (the referrers API) agrees with the
// index. Manifest pulls are already refused by hasManifest. The caller
// holds r.pushMu.
func (r *Registry) forgetManifests(repo string, refs []string) {
	for _, ref := range refs {
		req, err := http.NewRequest(http.MethodDelete, "/v2/"+repo+"/manifests/"+ref, http.NoBody)
		if err != nil {
			continue // repository names and references are valid in a path
		}
		// 202, or 404 for a reference the handler never held: either way
		// it holds it no longer.
		r.handler.ServeHTTP(newRecorder(), req)
	}
}
