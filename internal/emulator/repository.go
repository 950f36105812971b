package emulator

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/types"
)

// ECR's repository-name constraint (API Reference, CreateRepository), with
// its documented length of 2 to 256.
const repositoryNamePattern = `(?:[a-z0-9]+(?:[._-][a-z0-9]+)*/)*[a-z0-9]+(?:[._-][a-z0-9]+)*`

var (
	repositoryNameRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^` + repositoryNamePattern + `$`) })
	// The OCI distribution spec's tag grammar, which ECR enforces on push.
	tagRE    = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$`) })
	digestRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^sha256:[a-f0-9]{64}$`) })
)

func validRepositoryName(name string) bool {
	return len(name) >= 2 && len(name) <= 256 && repositoryNameRE().MatchString(name)
}

// Tag mutability values.
const (
	mutable   = "MUTABLE"
	immutable = "IMMUTABLE"
)

type resourceTag struct {
	Key   string `json:"Key"`
	Value string `json:"Value"`
}

// repository is one ECR repository and its images. Fields are guarded by the
// owning Registry's mu.
type repository struct {
	name            string
	createdAt       time.Time
	mutability      string
	scanOnPush      bool
	encryptionType  string
	kmsKey          string
	tags            []resourceTag
	lifecyclePolicy string
	policy          string

	images   map[string]*image   // by digest
	tagIndex map[string]string   // tag -> digest; image.tags is its reverse
	blobs    map[string]struct{} // blob digests pushed or mounted into this repository
}

func newRepository(name string, now time.Time) *repository {
	return &repository{
		name:           name,
		createdAt:      now,
		mutability:     mutable,
		encryptionType: "AES256",
		images:         map[string]*image{},
		tagIndex:       map[string]string{},
		blobs:          map[string]struct{}{},
	}
}

// Image statuses (ImageDetail.imageStatus). The emulator restores an
// archived image at once, so it never reports ACTIVATING.
const (
	imageActive     = "ACTIVE"
	imageArchived   = "ARCHIVED"
	imageActivating = "ACTIVATING"
)

// image is one manifest stored in a repository.
type image struct {
	digest            string
	mediaType         string
	artifactMediaType string
	subject           string   // subject.digest of an OCI manifest or index, if any
	children          []string // an index's child manifests (they cannot be deleted before it)
	manifest          []byte
	size              int64
	pushedAt          time.Time

	// tags is the reverse of repository.tagIndex for this image, so that
	// listing a repository costs O(tags), not O(images × tags).
	tags map[string]struct{}

	status          string // imageActive or imageArchived
	lastArchivedAt  time.Time
	lastActivatedAt time.Time
}

// tagsOf returns the tags of the image with digest, sorted.
func (rp *repository) tagsOf(digest string) []string {
	img, ok := rp.images[digest]
	if !ok || len(img.tags) == 0 {
		return nil
	}
	out := make([]string, 0, len(img.tags))
	for t := range img.tags {
		out = append(out, t)
	}
	slices.Sort(out)
	return out
}

// setTag points tag at the image with digest (which must exist), moving it
// from the image it pointed at before.
func (rp *repository) setTag(tag, digest string) {
	if old, ok := rp.tagIndex[tag]; ok {
		if old == digest {
			return
		}
		delete(rp.images[old].tags, tag)
	}
	rp.tagIndex[tag] = digest
	img := rp.images[digest]
	if img.tags == nil {
		img.tags = map[string]struct{}{}
	}
	img.tags[tag] = struct{}{}
}

// resolveRef returns the image a tag or digest names.
func (rp *repository) resolveRef(ref string) (*image, bool) {
	if d, ok := rp.tagIndex[ref]; ok {
		ref = d
	}
	img, ok := rp.images[ref]
	return img, ok
}

func (rp *repository) setTags(tags []resourceTag) {
	for _, t := range tags {
		replaced := false
		for i := range rp.tags {
			if rp.tags[i].Key == t.Key {
				rp.tags[i].Value = t.Value
				replaced = true
			}
		}
		if !replaced {
			rp.tags = append(rp.tags, t)
		}
	}
}

// pushManifest stores a manifest under ref (a tag or a digest) with ECR's
// rules, and writes it into the data plane's registry so that pulls see it.
// Both the data plane (manifest PUT) and the PutImage API go through here;
// they differ only in how they render the failure. fromAPI makes an
// unchanged re-push an ImageAlreadyExists failure, as PutImage does; the data
// plane accepts it silently.
func (r *Registry) pushManifest(repoName, ref, mediaType string, body []byte, fromAPI bool) (*image, *pushError) {
	r.pushMu.Lock()
	defer r.pushMu.Unlock()

	sum := sha256.Sum256(body)
	digest := "sha256:" + hex.EncodeToString(sum[:])
	tag := ""
	if strings.HasPrefix(ref, "sha256:") {
		if ref != digest {
			return nil, &pushError{kind: pushDigestMismatch, digest: digest, detail: ref}
		}
	} else {
		if !tagRE().MatchString(ref) {
			return nil, &pushError{kind: pushTagSyntax, tag: ref}
		}
		tag = ref
	}
	m, err := parseManifest(body, mediaType)
	if err != nil {
		return nil, &pushError{kind: pushManifestInvalid, detail: err.Error()}
	}

	r.mu.Lock()
	rp, ok := r.repos[repoName]
	if !ok {
		r.mu.Unlock()
		return nil, &pushError{kind: pushRepoNotFound}
	}
	old, tagged := rp.tagIndex[tag]
	prev, exists := rp.images[digest]
	archived := exists && prev.status == imageArchived
	switch {
	case fromAPI && exists && !archived && (tag == "" || (tagged && old == digest)):
		r.mu.Unlock()
		return nil, &pushError{kind: pushAlreadyExists, digest: digest, tag: tag}
	case tag != "" && tagged && old != digest && rp.mutability == immutable:
		r.mu.Unlock()
		return nil, &pushError{kind: pushTagImmutable, tag: tag}
	}
	for _, c := range m.children {
		if _, ok := rp.images[c]; !ok {
			r.mu.Unlock()
			return nil, &pushError{kind: pushChildUnknown, digest: c}
		}
	}
	for _, b := range m.blobs {
		if _, ok := rp.blobs[b]; !ok {
			r.mu.Unlock()
			return nil, &pushError{kind: pushBlobUnknown, digest: b}
		}
	}
	size := m.size
	for _, c := range m.children {
		size += rp.images[c].size
	}
	r.mu.Unlock()

	// Write through the registry handler, so the data plane serves it.
	req, err := http.NewRequest(http.MethodPut, "/v2/"+repoName+"/manifests/"+ref, bytes.NewReader(body))
	if err != nil {
		return nil, &pushError{kind: pushInternal, detail: err.Error()}
	}
	req.Header.Set("Content-Type", m.mediaType)
	rec := newRecorder()
	r.handler.ServeHTTP(rec, req)
	if rec.status != http.StatusCreated {
		return nil, &pushError{kind: pushRejected, status: rec.status, detail: rec.body.String()}
	}

	r.mu.Lock()
	defer r.mu.Unlock()
	img, ok := rp.images[digest]
	if !ok {
		img = &image{
			digest:            digest,
			mediaType:         m.mediaType,
			artifactMediaType: m.artifactMediaType,
			subject:           m.subject,
			children:          m.children,
			manifest:          body,
			size:              size,
			pushedAt:          r.em.now(),
			status:            imageActive,
		}
		rp.images[digest] = img
	} else if img.status == imageArchived {
		// Pushing an archived image again restores it at once (ECR User
		// Guide, "Restoring an image").
		img.status = imageActive
		img.lastActivatedAt = r.em.now()
	}
	if tag != "" {
		rp.setTag(tag, digest)
	}
	return img, nil
}

type pushErrorKind int

const (
	pushRepoNotFound pushErrorKind = iota
	pushDigestMismatch
	pushTagSyntax
	pushManifestInvalid
	pushChildUnknown
	pushBlobUnknown
	pushAlreadyExists
	pushTagImmutable
	pushRejected
	pushInternal
)

// pushError is why pushManifest refused a manifest, before rendering.
type pushError struct {
	kind   pushErrorKind
	digest string
	tag    string
	status int
	detail string
}

func (e *pushError) Error() string {
	return fmt.Sprintf("push manifest: kind %d digest %q tag %q: %s", e.kind, e.digest, e.tag, e.detail)
}

type parsedManifest struct {
	mediaType         string
	artifactMediaType string
	subject           string   // subject.digest, when the manifest has a subject
	children          []string // child manifests (index)
	blobs             []string // config and layers (image)
	size              int64
}

// parseManifest reads what ECR indexes from a manifest. mediaType is the
// declared type (Content-Type or imageManifestMediaType); when empty, the
// manifest's own mediaType field decides, as ECR's PutImage does.
func parseManifest(body []byte, mediaType string) (*parsedManifest, error) {
	var raw struct {
		SchemaVersion int          `json:"schemaVersion"`
		MediaType     string       `json:"mediaType"`
		Config        *descriptor  `json:"config"`
		Layers        []descriptor `json:"layers"`
		Manifests     []descriptor `json:"manifests"`
		ArtifactType  string       `json:"artifactType"`
		Subject       *descriptor  `json:"subject"`
	}
	if err := json.Unmarshal(body, &raw); err != nil {
		return nil, fmt.Errorf("manifest is not JSON: %w", err)
	}
	if raw.SchemaVersion != 2 {
		return nil, fmt.Errorf("unsupported schemaVersion %d", raw.SchemaVersion)
	}
	mt := mediaType
	if mt == "" {
		mt = raw.MediaType
	}
	if mt == "" {
		mt = string(types.OCIManifestSchema1)
		if raw.Manifests != nil {
			mt = string(types.OCIImageIndex)
		}
	}
	if raw.MediaType != "" && raw.MediaType != mt {
		return nil, fmt.Errorf("manifest mediaType %q does not match declared %q", raw.MediaType, mt)
	}
	p := &parsedManifest{mediaType: mt}
	// ECR reports subjectManifestDigest for OCI referrers; a Docker media
	// type has no subject field to speak of.
	if raw.Subject != nil && strings.HasPrefix(mt, "application/vnd.oci.") && digestRE().MatchString(raw.Subject.Digest) {
		p.subject = raw.Subject.Digest
	}
	switch {
	case types.MediaType(mt).IsIndex():
		for _, d := range raw.Manifests {
			if d.MediaType.IsImage() || d.MediaType.IsIndex() {
				p.children = append(p.children, d.Digest)
			}
		}
		p.artifactMediaType = raw.ArtifactType
	case types.MediaType(mt).IsImage():
		if raw.Config == nil {
			return nil, fmt.Errorf("image manifest has no config")
		}
		p.blobs = append(p.blobs, raw.Config.Digest)
		p.artifactMediaType = string(raw.Config.MediaType)
		if raw.ArtifactType != "" {
			p.artifactMediaType = raw.ArtifactType
		}
		for _, l := range raw.Layers {
			p.size += l.Size
			if l.MediaType.IsDistributable() {
				p.blobs = append(p.blobs, l.Digest)
			}
		}
	default:
		return nil, fmt.Errorf("unsupported manifest media type %q", mt)
	}
	for _, d := range append(append([]string(nil), p.children...), p.blobs...) {
		if !digestRE().MatchString(d) {
			return nil, fmt.Errorf("invalid descriptor digest %q", d)
		}
	}
	return p, nil
}

type descriptor struct {
	MediaType types.MediaType `json:"mediaType"`
	Digest    string          `json:"digest"`
	Size      int64           `json:"size"`
}

// recorder is a minimal http.ResponseWriter for calling the registry
// handler in process.
type recorder struct {
	status int
	header http.Header
	body   bytes.Buffer
}

func newRecorder() *recorder { return &recorder{status: http.StatusOK, header: http.Header{}} }

func (w *recorder) Header() http.Header         { return w.header }
func (w *recorder) Write(b []byte) (int, error) { return w.body.Write(b) }
func (w *recorder) WriteHeader(status int)      { w.status = status }

func sha256Digest(b []byte) string {
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:])
}
