package emulator

// PushManifestForTest stores body in repo under ref (a tag or digest) the
// way a data-plane manifest PUT does, without HTTP, for tests that need
// thousands of images. The manifest's blobs must be in the repository.
func (r *Registry) PushManifestForTest(repo, ref, mediaType string, body []byte) (string, error) {
	img, perr := r.pushManifest(repo, ref, mediaType, body, false)
	if perr != nil {
		return "", perr
	}
	return img.digest, nil
}
