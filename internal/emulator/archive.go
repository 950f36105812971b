package emulator

import "fmt"

// ECR's archive storage class (ECR User Guide, "Archiving an image" and
// "Restoring an image"; API Reference, UpdateImageStorageClass):
//
//   - An archived image is listed by DescribeImages and ListImages with
//     imageStatus ARCHIVED (only when filter.imageStatus asks for ARCHIVED or
//     ANY: the default lists ACTIVE images only), and pulling it answers 404.
//   - Restoring (targetStorageClass STANDARD) takes ECR up to 20 minutes, with
//     imageStatus ACTIVATING meanwhile; the emulator restores at once, so it
//     answers ACTIVE and never lists an image as ACTIVATING.
//   - Pushing an archived image again restores it at once, in ECR and here.

// Storage classes (UpdateImageStorageClass targetStorageClass).
const (
	storageStandard = "STANDARD"
	storageArchive  = "ARCHIVE"
)

func (r *Registry) updateImageStorageClass(body []byte) (any, *APIError) {
	var in struct {
		RepositoryName     string       `json:"repositoryName"`
		ImageID            *imageIDJSON `json:"imageId"`
		TargetStorageClass string       `json:"targetStorageClass"`
	}
	if e := decode(body, &in); e != nil {
		return nil, e
	}
	if in.TargetStorageClass != storageStandard && in.TargetStorageClass != storageArchive {
		return nil, invalidParameter("targetStorageClass", "Member must satisfy enum value set: [STANDARD, ARCHIVE]")
	}
	if in.ImageID == nil {
		return nil, invalidParameter("imageId", "Member must not be null")
	}
	id := *in.ImageID
	return r.withRepo(in.RepositoryName, func(rp *repository) (any, *APIError) {
		img, f := rp.resolve(id)
		switch {
		case f != nil && (f.FailureCode == "ImageNotFound" || f.FailureCode == "ImageTagDoesNotMatchDigest"):
			return nil, badRequest(CodeImageNotFound,
				"The image with imageId %s does not exist within the repository with name '%s' in the registry with id '%s'",
				id, rp.name, r.account)
		case f != nil:
			return nil, invalidParameter("imageId", f.FailureReason)
		}
		if !r.setStorageClassLocked(img, in.TargetStorageClass) {
			return nil, badRequest(CodeImageStorageClassUpdateNotSupported,
				"The image with digest '%s' in the repository with name '%s' is already in the %s storage class",
				img.digest, rp.name, in.TargetStorageClass)
		}
		return map[string]any{
			"registryId":     r.account,
			"repositoryName": rp.name,
			"imageId":        imageIDJSON{ImageDigest: img.digest, ImageTag: id.ImageTag},
			"imageStatus":    img.status,
		}, nil
	})
}

// setStorageClassLocked moves img to class and reports whether it was in
// the other one. The caller holds r.mu.
func (r *Registry) setStorageClassLocked(img *image, class string) bool {
	switch {
	case class == storageArchive && img.status != imageArchived:
		img.status = imageArchived
		img.lastArchivedAt = r.em.now()
	case class == storageStandard && img.status == imageArchived:
		img.status = imageActive
		img.lastActivatedAt = r.em.now()
	default:
		return false
	}
	return true
}

// ArchiveImage moves the image with digest in repo to the archive storage
// class, as UpdateImageStorageClass with targetStorageClass ARCHIVE does: it
// is listed as ARCHIVED and its pulls answer 404 until restored. Archiving an
// archived image does nothing. It returns ErrRepositoryNotFound or
// ErrImageNotFound when there is no such image.
func (r *Registry) ArchiveImage(repo, digest string) error {
	return r.storageClass(repo, digest, storageArchive)
}

// RestoreImage moves an archived image back to the standard storage class
// at once, as UpdateImageStorageClass with STANDARD does (ECR takes up to 20
// minutes). Restoring an image that is not archived does nothing.
func (r *Registry) RestoreImage(repo, digest string) error {
	return r.storageClass(repo, digest, storageStandard)
}

func (r *Registry) storageClass(repo, digest, class string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	rp, ok := r.repos[repo]
	if !ok {
		return fmt.Errorf("%s/%s repository %s: %w", r.account, r.region, repo, ErrRepositoryNotFound)
	}
	img, ok := rp.images[digest]
	if !ok {
		return fmt.Errorf("%s/%s image %s@%s: %w", r.account, r.region, repo, digest, ErrImageNotFound)
	}
	r.setStorageClassLocked(img, class)
	return nil
}
