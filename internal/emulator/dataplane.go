package emulator

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
)

// The data plane is go-containerregistry's registry handler (blobs on disk,
// manifests in memory, referrers API on by default) behind a middleware that
// adds what ECR does and that handler does not:
//
//   - Basic auth "AWS:<token>" with a token from this registry's
//     GetAuthorizationToken, unexpired; otherwise 401 with
//     WWW-Authenticate: Basic realm=..., service="ecr.amazonaws.com".
//     With WithOpenPush, a request with no Authorization header at all is
//     served too (anonymous pull and push); one with credentials is checked
//     as above.
//   - Repositories exist only once created with CreateRepository: anything
//     else is 404 NAME_UNKNOWN with ECR's message. With WithOpenPush, a
//     manifest PUT or blob upload to a repository that does not exist
//     creates it first with CreateRepository's defaults (ECR's
//     create-on-push); a name ECR would refuse is 400 NAME_INVALID.
//   - Blobs belong to the repository they were pushed (or mounted) into, as in
//     ECR: a blob pushed to one repository is BLOB_UNKNOWN in another until
//     mounted or pushed there. (The handler itself shares blobs registry-wide.)
//   - Cross-repository mounts (?mount=&from=) within the registry answer 201;
//     with WithBlobMounting(false) they start an ordinary upload (202).
//   - A manifest of an archived image (by digest or by any of its tags)
//     answers 404 MANIFEST_UNKNOWN, as a missing one does: ECR documents a
//     404 for pulls of archived images, and no code.
//   - Manifest writes are checked like ECR's: tag grammar, digest of a
//     by-digest PUT, every referenced blob and child manifest present in the
//     repository (400 MANIFEST_BLOB_UNKNOWN otherwise), and in an IMMUTABLE
//     repository a tag that already points elsewhere is 400 TAG_INVALID.
//     Every accepted manifest is indexed for DescribeImages and BatchGetImage.
//   - Manifest and blob DELETE are refused (405 UNSUPPORTED): deletion in
//     ECR goes through the BatchDeleteImage API (delete.go). After it, a
//     removed tag or a deleted image's digest answers 404 MANIFEST_UNKNOWN
//     on GET and HEAD, tags/list and the referrers API leave them out, and
//     blobs stay pullable, as in ECR before it garbage-collects them.
//
// Not faithful: /v2/_catalog is served (ECR does not offer it), the
// handler keeps upload sessions in memory, and no Docker schema 1
// conversion is done.

// dataRequest is a data-plane request, classified.
type dataRequest struct {
	target string // a Target* class, "" when unknown
	repo   string
	ref    string // tag, digest or upload ID
}

func classify(req *http.Request) dataRequest {
	p := strings.TrimSuffix(req.URL.Path, "/")
	if p == "/v2" {
		return dataRequest{target: TargetPing}
	}
	if p == "/v2/_catalog" {
		return dataRequest{target: TargetCatalog}
	}
	e := strings.Split(strings.TrimPrefix(p, "/"), "/")
	n := len(e)
	if n < 4 || e[0] != "v2" {
		return dataRequest{}
	}
	repo2 := strings.Join(e[1:n-2], "/")
	switch {
	case e[n-2] == "manifests":
		t := TargetManifestPull
		if req.Method == http.MethodPut || req.Method == http.MethodDelete {
			t = TargetManifestPush
		}
		return dataRequest{target: t, repo: repo2, ref: e[n-1]}
	case e[n-2] == "tags" && e[n-1] == "list":
		return dataRequest{target: TargetTagsList, repo: repo2}
	case e[n-2] == "referrers":
		return dataRequest{target: TargetReferrers, repo: repo2, ref: e[n-1]}
	case e[n-2] == "blobs" && e[n-1] == "uploads":
		return dataRequest{target: TargetBlobUpload, repo: repo2}
	case n >= 5 && e[n-3] == "blobs" && e[n-2] == "uploads":
		return dataRequest{target: TargetBlobUpload, repo: strings.Join(e[1:n-3], "/"), ref: e[n-1]}
	case e[n-2] == "blobs":
		return dataRequest{target: TargetBlobPull, repo: repo2, ref: e[n-1]}
	}
	return dataRequest{}
}

// statusWriter remembers the status a handler wrote and counts the body
// bytes it wrote.
type statusWriter struct {
	http.ResponseWriter
	status int
	bytes  int64
}

func (w *statusWriter) WriteHeader(s int) {
	if w.status == 0 {
		w.status = s
	}
	w.ResponseWriter.WriteHeader(s)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(b)
	w.bytes += int64(n)
	return n, err
}

func (r *Registry) serveData(w http.ResponseWriter, req *http.Request) {
	dr := classify(req)
	sw := &statusWriter{ResponseWriter: w}
	call := Call{Time: r.em.now(), Service: ServiceRegistry, Operation: dr.target, Method: req.Method,
		Account: r.account, Region: r.region, Repository: dr.repo, Reference: dr.ref}
	if fn := r.onData.Load(); fn != nil {
		(*fn)(call)
	}
	if apiErr := r.handleData(sw, req, dr, &call); apiErr != nil {
		call.ErrorCode = apiErr.Code
		writeRegistryError(sw, apiErr)
	}
	call.Status, call.Bytes = sw.status, sw.bytes
	r.em.log.record(call)
}

func (r *Registry) handleData(w *statusWriter, req *http.Request, dr dataRequest, call *Call) *APIError {
	if f, ok := r.dataFaults.take(dr.target); ok {
		call.Injected = true
		return f
	}
	if apiErr := r.authorize(w, req); apiErr != nil {
		return apiErr
	}
	switch dr.target {
	case TargetPing:
		w.Header().Set("Docker-Distribution-Api-Version", "registry/2.0")
		w.WriteHeader(http.StatusOK)
		return nil
	case TargetCatalog:
		r.handler.ServeHTTP(w, req)
		return nil
	case "":
		return &APIError{Status: http.StatusNotFound, Code: "NOT_FOUND", Message: "404 page not found"}
	}
	rp, ok := r.repo(dr.repo)
	if !ok && r.cfg.openPush && isPush(req, dr) {
		var apiErr *APIError
		if rp, apiErr = r.createOnPush(dr.repo); apiErr != nil {
			return apiErr
		}
		ok = true
	}
	if !ok {
		return &APIError{Status: http.StatusNotFound, Code: CodeNameUnknown, Message: fmt.Sprintf(
			"The repository with name '%s' does not exist in the registry with id '%s'", dr.repo, r.account)}
	}
	switch dr.target {
	case TargetManifestPull:
		// An archived image answers 404 as a missing one does: ECR
		// documents only "a 404 error" for pulls of archived images.
		if !r.hasManifest(rp, dr.ref) {
			return &APIError{Status: http.StatusNotFound, Code: CodeManifestUnknown, Message: "Requested image not found"}
		}
		r.handler.ServeHTTP(w, req)
		return nil
	case TargetManifestPush:
		if req.Method != http.MethodPut {
			return unsupported()
		}
		return r.putManifestData(w, req, dr)
	case TargetTagsList:
		return r.listTags(w, req, rp)
	case TargetReferrers:
		r.handler.ServeHTTP(w, req)
		return nil
	case TargetBlobPull:
		if req.Method != http.MethodGet && req.Method != http.MethodHead {
			return unsupported()
		}
		if !r.hasBlob(rp, dr.ref) {
			return &APIError{Status: http.StatusNotFound, Code: CodeBlobUnknown, Message: "blob unknown to registry"}
		}
		r.handler.ServeHTTP(w, req)
		return nil
	case TargetBlobUpload:
		return r.upload(w, req, rp)
	}
	return unsupported()
}

func unsupported() *APIError {
	return &APIError{Status: http.StatusMethodNotAllowed, Code: CodeUnsupported, Message: "The operation is unsupported."}
}

func (r *Registry) authorize(w http.ResponseWriter, req *http.Request) *APIError {
	if r.cfg.openPush && req.Header.Get("Authorization") == "" {
		return nil // WithOpenPush: anonymous requests are served
	}
	user, pass, ok := req.BasicAuth()
	state := tokenUnknown
	if ok && user == "AWS" {
		state = r.checkToken(pass)
	}
	switch state {
	case tokenValid:
		return nil
	case tokenExpired:
		w.Header().Set("WWW-Authenticate", r.challenge())
		return &APIError{Status: http.StatusUnauthorized, Code: CodeDenied,
			Message: "Your authorization token has expired. Reauthenticate and try again."}
	}
	w.Header().Set("WWW-Authenticate", r.challenge())
	return &APIError{Status: http.StatusUnauthorized, Code: CodeUnauthorized, Message: "Not Authorized"}
}

func (r *Registry) challenge() string {
	return fmt.Sprintf(`Basic realm="http://%s/",service="ecr.amazonaws.com"`, r.Host())
}

// hasManifest reports whether ref (a tag or digest) names an image that can
// be pulled: one that exists and is not archived.
func (r *Registry) hasManifest(rp *repository, ref string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	img, ok := rp.resolveRef(ref)
	return ok && img.status != imageArchived
}

// isPush reports whether a request writes to its repository: a manifest PUT
// or any request of a blob upload (POST, PATCH, PUT, mounts included).
func isPush(req *http.Request, dr dataRequest) bool {
	switch dr.target {
	case TargetManifestPush:
		return req.Method == http.MethodPut
	case TargetBlobUpload:
		return req.Method == http.MethodPost || req.Method == http.MethodPatch || req.Method == http.MethodPut
	}
	return false
}

// createOnPush creates a repository with default settings for a push to a
// name that does not exist yet (WithOpenPush), as ECR's create-on-push does
// with a repository creation template. Two pushes at once create it once.
func (r *Registry) createOnPush(name string) (*repository, *APIError) {
	if !validRepositoryName(name) {
		return nil, &APIError{Status: http.StatusBadRequest, Code: CodeNameInvalid, Message: fmt.Sprintf(
			"invalid repository name '%s': must satisfy regular expression '%s'", name, repositoryNamePattern)}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if rp, ok := r.repos[name]; ok {
		return rp, nil
	}
	rp := newRepository(name, r.em.now())
	r.repos[name] = rp
	return rp, nil
}

func (r *Registry) hasBlob(rp *repository, digest string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	_, ok := rp.blobs[digest]
	return ok
}

func (r *Registry) addBlob(rp *repository, digest string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	rp.blobs[digest] = struct{}{}
}

// maxManifestSize is ECR's manifest size limit (4 MiB).
const maxManifestSize = 4 << 20

func (r *Registry) putManifestData(w http.ResponseWriter, req *http.Request, dr dataRequest) *APIError {
	body, err := io.ReadAll(io.LimitReader(req.Body, maxManifestSize+1))
	if err != nil {
		return &APIError{Status: http.StatusBadRequest, Code: CodeManifestInvalid, Message: "could not read manifest"}
	}
	if len(body) > maxManifestSize {
		return &APIError{Status: http.StatusBadRequest, Code: CodeManifestInvalid, Message: "manifest is larger than 4 MiB"}
	}
	img, perr := r.pushManifest(dr.repo, dr.ref, req.Header.Get("Content-Type"), body, false)
	if perr != nil {
		return r.dataPushError(dr, perr)
	}
	w.Header().Set("Docker-Content-Digest", img.digest)
	w.Header().Set("Location", "/v2/"+dr.repo+"/manifests/"+img.digest)
	if r.cfg.referrers {
		// ECR, like every registry with the referrers API, says it indexed
		// a manifest's subject; a client then keeps no fallback tag.
		var peek struct {
			Subject *struct {
				Digest string `json:"digest"`
			} `json:"subject"`
		}
		if json.Unmarshal(body, &peek) == nil && peek.Subject != nil && peek.Subject.Digest != "" {
			w.Header().Set("OCI-Subject", peek.Subject.Digest)
		}
	}
	w.WriteHeader(http.StatusCreated)
	return nil
}

// dataPushError renders a refused push as ECR's registry API does.
func (r *Registry) dataPushError(dr dataRequest, e *pushError) *APIError {
	bad := func(code, msg string) *APIError {
		return &APIError{Status: http.StatusBadRequest, Code: code, Message: msg}
	}
	switch e.kind {
	case pushRepoNotFound:
		return &APIError{Status: http.StatusNotFound, Code: CodeNameUnknown, Message: fmt.Sprintf(
			"The repository with name '%s' does not exist in the registry with id '%s'", dr.repo, r.account)}
	case pushTagImmutable:
		return bad(CodeTagInvalid, fmt.Sprintf(
			"The image tag '%s' already exists in the '%s' repository and cannot be overwritten because the repository is immutable.",
			e.tag, dr.repo))
	case pushTagSyntax:
		return bad(CodeTagInvalid, fmt.Sprintf("invalid tag '%s'", e.tag))
	case pushDigestMismatch:
		return bad(CodeDigestInvalid, fmt.Sprintf("manifest digest %s does not match the reference %s", e.digest, e.detail))
	case pushManifestInvalid:
		return bad(CodeManifestInvalid, e.detail)
	case pushBlobUnknown:
		return bad(CodeManifestBlobUnknown, fmt.Sprintf("blob %s unknown to registry", e.digest))
	case pushChildUnknown:
		return bad(CodeManifestBlobUnknown, fmt.Sprintf("manifest %s unknown to registry", e.digest))
	case pushRejected:
		return &APIError{Status: e.status, Code: CodeManifestInvalid, Message: strings.TrimSpace(e.detail)}
	}
	return &APIError{Status: http.StatusInternalServerError, Code: "UNKNOWN", Message: "could not store the manifest"}
}

func (r *Registry) upload(w *statusWriter, req *http.Request, rp *repository) *APIError {
	q := req.URL.Query()
	if req.Method == http.MethodPost && q.Has("mount") {
		digest, from := q.Get("mount"), q.Get("from")
		if r.cfg.blobMounting && digestRE().MatchString(digest) {
			if src, ok := r.repo(from); ok && r.hasBlob(src, digest) {
				r.addBlob(rp, digest)
				w.Header().Set("Docker-Content-Digest", digest)
				w.Header().Set("Location", "/v2/"+rp.name+"/blobs/"+digest)
				w.WriteHeader(http.StatusCreated)
				return nil
			}
		}
		// Not mountable: start an ordinary upload session, as the spec says.
		q.Del("mount")
		q.Del("from")
		req.URL.RawQuery = q.Encode()
	}
	if req.Method == http.MethodDelete {
		return unsupported()
	}
	r.handler.ServeHTTP(w, req)
	if w.status == http.StatusCreated && (req.Method == http.MethodPost || req.Method == http.MethodPut) {
		if d := q.Get("digest"); digestRE().MatchString(d) {
			r.addBlob(rp, d)
		}
	}
	return nil
}

func (r *Registry) listTags(w http.ResponseWriter, req *http.Request, rp *repository) *APIError {
	if req.Method != http.MethodGet {
		return unsupported()
	}
	r.mu.Lock()
	tags := make([]string, 0, len(rp.tagIndex))
	for t := range rp.tagIndex {
		tags = append(tags, t)
	}
	r.mu.Unlock()
	slices.Sort(tags)
	q := req.URL.Query()
	if last := q.Get("last"); last != "" {
		i, _ := slices.BinarySearch(tags, last)
		for i < len(tags) && tags[i] <= last {
			i++
		}
		tags = tags[i:]
	}
	if n, err := strconv.Atoi(q.Get("n")); err == nil && n >= 0 && n < len(tags) {
		tags = tags[:n]
		if n > 0 {
			w.Header().Set("Link", fmt.Sprintf(`</v2/%s/tags/list?n=%d&last=%s>; rel="next"`, rp.name, n, tags[n-1]))
		}
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_ = json.NewEncoder(w).Encode(map[string]any{"name": rp.name, "tags": tags})
	return nil
}

func writeRegistryError(w http.ResponseWriter, e *APIError) {
	type detail struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	if e.RetryAfterSeconds > 0 {
		w.Header().Set("Retry-After", itoa(e.RetryAfterSeconds))
	}
	w.WriteHeader(e.Status)
	_ = json.NewEncoder(w).Encode(map[string][]detail{"errors": {{Code: e.Code, Message: e.Message}}})
}
