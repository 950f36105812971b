package emulator_test

import (
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	"github.com/aws/aws-sdk-go-v2/service/ecr/types"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	ggcrtypes "github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/ferry-dev/ferry/internal/emulator"
)

func TestUpdateImageStorageClass(t *testing.T) {
	t.Parallel()
	em := newEmulator(t)
	reg := newRegistry(t, em, account, region)
	c := ecrClient(t, reg.ECREndpoint(), region)
	createRepo(t, c, "app", "")
	old, _, _ := pushed(t, c, reg.Host(), "app", "v1")
	kept, _, _ := pushed(t, c, reg.Host(), "app", "v2")
	auth := login(t, c)
	ctx := t.Context()

	out, err := c.UpdateImageStorageClass(ctx, &ecr.UpdateImageStorageClassInput{RepositoryName: aws.String("app"),
		ImageId: &types.ImageIdentifier{ImageTag: aws.String("v1")}, TargetStorageClass: types.TargetStorageClassArchive})
	if err != nil {
		t.Fatalf("UpdateImageStorageClass ARCHIVE: %v", err)
	}
	if out.ImageStatus != types.ImageStatusArchived || aws.ToString(out.RegistryId) != account ||
		aws.ToString(out.RepositoryName) != "app" || aws.ToString(out.ImageId.ImageDigest) != old ||
		aws.ToString(out.ImageId.ImageTag) != "v1" {
		t.Errorf("output = %+v %+v, want ARCHIVED for %s (v1) in app", out, out.ImageId, old)
	}

	// Listings: ACTIVE only by default; ARCHIVED and ANY on request.
	describe := func(status types.ImageStatusFilter) map[string]types.ImageDetail {
		t.Helper()
		in := &ecr.DescribeImagesInput{RepositoryName: aws.String("app")}
		if status != "" {
			in.Filter = &types.DescribeImagesFilter{ImageStatus: status}
		}
		o, err := c.DescribeImages(ctx, in)
		if err != nil {
			t.Fatalf("DescribeImages(%q): %v", status, err)
		}
		m := map[string]types.ImageDetail{}
		for _, d := range o.ImageDetails {
			m[aws.ToString(d.ImageDigest)] = d
		}
		return m
	}
	listed := func(status types.ImageStatusFilter) []string {
		t.Helper()
		in := &ecr.ListImagesInput{RepositoryName: aws.String("app")}
		if status != "" {
			in.Filter = &types.ListImagesFilter{ImageStatus: status}
		}
		o, err := c.ListImages(ctx, in)
		if err != nil {
			t.Fatalf("ListImages(%q): %v", status, err)
		}
		var tags []string
		for _, id := range o.ImageIds {
			tags = append(tags, aws.ToString(id.ImageTag))
		}
		return tags
	}
	tests := []struct {
		status      types.ImageStatusFilter
		wantDigests []string
		wantTags    string
	}{
		{"", []string{kept}, "v2"},
		{types.ImageStatusFilterActive, []string{kept}, "v2"},
		{types.ImageStatusFilterArchived, []string{old}, "v1"},
		{types.ImageStatusFilterActivating, nil, ""},
		{types.ImageStatusFilterAny, []string{old, kept}, "v1,v2"},
	}
	for _, tt := range tests {
		got := describe(tt.status)
		if len(got) != len(tt.wantDigests) {
			t.Errorf("DescribeImages(%q) = %d images, want %d", tt.status, len(got), len(tt.wantDigests))
		}
		for _, d := range tt.wantDigests {
			if _, ok := got[d]; !ok {
				t.Errorf("DescribeImages(%q) misses %s", tt.status, d)
			}
		}
		if tags := strings.Join(listed(tt.status), ","); tags != tt.wantTags {
			t.Errorf("ListImages(%q) tags = %q, want %q", tt.status, tags, tt.wantTags)
		}
	}
	all := describe(types.ImageStatusFilterAny)
	if d := all[old]; d.ImageStatus != types.ImageStatusArchived || d.LastArchivedAt == nil || time.Since(*d.LastArchivedAt) > time.Minute {
		t.Errorf("archived image detail: status %q, lastArchivedAt %v; want ARCHIVED, about now", d.ImageStatus, d.LastArchivedAt)
	}
	if d := all[kept]; d.ImageStatus != types.ImageStatusActive || d.LastArchivedAt != nil {
		t.Errorf("active image detail: status %q, lastArchivedAt %v; want ACTIVE, none", d.ImageStatus, d.LastArchivedAt)
	}
	// By imageIds, the archived image is described whatever the filter.
	byID, err := c.DescribeImages(ctx, &ecr.DescribeImagesInput{RepositoryName: aws.String("app"),
		ImageIds: []types.ImageIdentifier{{ImageTag: aws.String("v1")}}})
	if err != nil || len(byID.ImageDetails) != 1 || byID.ImageDetails[0].ImageStatus != types.ImageStatusArchived {
		t.Errorf("DescribeImages(v1) = %+v, %v; want it ARCHIVED", byID, err)
	}

	// Pulls of the archived image answer 404, by tag and by digest, GET and HEAD.
	for _, ref := range []string{"v1", old} {
		for _, method := range []string{http.MethodGet, http.MethodHead} {
			status, body := manifestRequest(t, method, reg.Host(), "app", ref, auth)
			if status != http.StatusNotFound || (method == http.MethodGet && !strings.Contains(body, "MANIFEST_UNKNOWN")) {
				t.Errorf("%s app:%s archived = %d %s, want 404 MANIFEST_UNKNOWN", method, ref, status, body)
			}
		}
	}
	if status, _ := manifestRequest(t, http.MethodGet, reg.Host(), "app", "v2", auth); status != http.StatusOK {
		t.Errorf("GET app:v2 (not archived) = %d, want 200", status)
	}

	// Archiving again is refused.
	_, err = c.UpdateImageStorageClass(ctx, &ecr.UpdateImageStorageClassInput{RepositoryName: aws.String("app"),
		ImageId: &types.ImageIdentifier{ImageDigest: aws.String(old)}, TargetStorageClass: types.TargetStorageClassArchive})
	var ns *types.ImageStorageClassUpdateNotSupportedException
	if !errors.As(err, &ns) {
		t.Errorf("archiving an archived image = %v, want ImageStorageClassUpdateNotSupportedException", err)
	}

	// Restored: ACTIVE at once, pullable again.
	out, err = c.UpdateImageStorageClass(ctx, &ecr.UpdateImageStorageClassInput{RepositoryName: aws.String("app"),
		ImageId: &types.ImageIdentifier{ImageDigest: aws.String(old)}, TargetStorageClass: types.TargetStorageClassStandard})
	if err != nil || out.ImageStatus != types.ImageStatusActive {
		t.Fatalf("UpdateImageStorageClass STANDARD = %+v, %v; want ACTIVE", out, err)
	}
	if status, _ := manifestRequest(t, http.MethodGet, reg.Host(), "app", "v1", auth); status != http.StatusOK {
		t.Errorf("GET app:v1 restored = %d, want 200", status)
	}
	if d := describe("")[old]; d.ImageStatus != types.ImageStatusActive || d.LastActivatedAt == nil || d.LastArchivedAt == nil {
		t.Errorf("restored image detail: status %q, lastActivatedAt %v, lastArchivedAt %v; want ACTIVE with both times",
			d.ImageStatus, d.LastActivatedAt, d.LastArchivedAt)
	}

	calls := ecrCalls(em, "UpdateImageStorageClass")
	if len(calls) != 3 || calls[0].Repository != "app" || calls[0].Status != http.StatusOK ||
		calls[1].ErrorCode != "ImageStorageClassUpdateNotSupportedException" || calls[1].Status != http.StatusBadRequest {
		t.Errorf("UpdateImageStorageClass calls = %+v, want three in the request log, the second refused", calls)
	}
}

func TestUpdateImageStorageClassErrors(t *testing.T) {
	t.Parallel()
	em := newEmulator(t)
	reg := newRegistry(t, em, account, region)
	c := ecrClient(t, reg.ECREndpoint(), region)
	createRepo(t, c, "app", "")
	digest, _, _ := pushed(t, c, reg.Host(), "app", "v1")
	tests := []struct {
		name     string
		in       ecr.UpdateImageStorageClassInput
		wantCode string
	}{
		{"restore an active image", ecr.UpdateImageStorageClassInput{ImageId: &types.ImageIdentifier{ImageTag: aws.String("v1")},
			TargetStorageClass: types.TargetStorageClassStandard}, "ImageStorageClassUpdateNotSupportedException"},
		{"unknown storage class", ecr.UpdateImageStorageClassInput{ImageId: &types.ImageIdentifier{ImageTag: aws.String("v1")},
			TargetStorageClass: "GLACIER"}, "InvalidParameterException"},
		{"missing tag", ecr.UpdateImageStorageClassInput{ImageId: &types.ImageIdentifier{ImageTag: aws.String("v9")},
			TargetStorageClass: types.TargetStorageClassArchive}, "ImageNotFoundException"},
		{"tag and digest disagree", ecr.UpdateImageStorageClassInput{ImageId: &types.ImageIdentifier{ImageTag: aws.String("v1"),
			ImageDigest: aws.String("sha256:" + strings.Repeat("0", 64))}, TargetStorageClass: types.TargetStorageClassArchive}, "ImageNotFoundException"},
		{"neither tag nor digest", ecr.UpdateImageStorageClassInput{ImageId: &types.ImageIdentifier{},
			TargetStorageClass: types.TargetStorageClassArchive}, "InvalidParameterException"},
		{"malformed digest", ecr.UpdateImageStorageClassInput{ImageId: &types.ImageIdentifier{ImageDigest: aws.String("sha256:xyz")},
			TargetStorageClass: types.TargetStorageClassArchive}, "InvalidParameterException"},
		{"missing repository", ecr.UpdateImageStorageClassInput{RepositoryName: aws.String("nope"),
			ImageId: &types.ImageIdentifier{ImageDigest: aws.String(digest)}, TargetStorageClass: types.TargetStorageClassArchive}, "RepositoryNotFoundException"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := tt.in
			if in.RepositoryName == nil {
				in.RepositoryName = aws.String("app")
			}
			_, err := c.UpdateImageStorageClass(t.Context(), &in)
			if err == nil {
				t.Fatal("UpdateImageStorageClass succeeded, want an error")
			}
			if code, status := apiErr(t, err); code != tt.wantCode || status != http.StatusBadRequest {
				t.Errorf("error = %s (HTTP %d), want %s (HTTP 400)", code, status, tt.wantCode)
			}
		})
	}
	// None of them changed the image.
	if status, _ := manifestRequest(t, http.MethodHead, reg.Host(), "app", "v1", login(t, c)); status != http.StatusOK {
		t.Errorf("HEAD app:v1 = %d, want 200", status)
	}
}

func TestArchiveImage(t *testing.T) {
	t.Parallel()
	em := newEmulator(t)
	reg := newRegistry(t, em, account, region)
	c := ecrClient(t, reg.ECREndpoint(), region)
	createRepo(t, c, "app", "")
	img := randomImage(t)
	auth := login(t, c)
	if err := push(t, reg.Host(), "app", "v1", img, auth); err != nil {
		t.Fatalf("push: %v", err)
	}
	digest, _ := img.Digest()
	if err := reg.ArchiveImage("app", digest.String()); err != nil {
		t.Fatalf("ArchiveImage: %v", err)
	}
	if err := reg.ArchiveImage("app", digest.String()); err != nil {
		t.Errorf("ArchiveImage again: %v, want nil", err)
	}
	ref := repoRef(t, reg.Host(), "app").Tag("v1")
	_, err := remote.Head(ref, remoteOpts(t.Context(), auth)...)
	if status, _, _ := registryError(t, err); status != http.StatusNotFound {
		t.Errorf("HEAD archived = %d, want 404", status)
	}
	// Pushing the image again restores it at once, as in ECR.
	if err := push(t, reg.Host(), "app", "v1", img, auth); err != nil {
		t.Fatalf("push again: %v", err)
	}
	if _, err := remote.Head(ref, remoteOpts(t.Context(), auth)...); err != nil {
		t.Errorf("HEAD after push again: %v", err)
	}
	if err := reg.ArchiveImage("app", digest.String()); err != nil {
		t.Fatalf("ArchiveImage: %v", err)
	}
	if err := reg.RestoreImage("app", digest.String()); err != nil {
		t.Fatalf("RestoreImage: %v", err)
	}
	if _, err := remote.Head(ref, remoteOpts(t.Context(), auth)...); err != nil {
		t.Errorf("HEAD after RestoreImage: %v", err)
	}

	tests := []struct {
		name, repo, digest string
		wantErr            error
	}{
		{"missing repository", "nope", digest.String(), emulator.ErrRepositoryNotFound},
		{"missing image", "app", "sha256:" + strings.Repeat("0", 64), emulator.ErrImageNotFound},
		{"tag, not digest", "app", "v1", emulator.ErrImageNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := reg.ArchiveImage(tt.repo, tt.digest); !errors.Is(err, tt.wantErr) {
				t.Errorf("ArchiveImage(%q, %q) = %v, want %v", tt.repo, tt.digest, err, tt.wantErr)
			}
			if err := reg.RestoreImage(tt.repo, tt.digest); !errors.Is(err, tt.wantErr) {
				t.Errorf("RestoreImage(%q, %q) = %v, want %v", tt.repo, tt.digest, err, tt.wantErr)
			}
		})
	}
}

// PutImage of an archived image restores it rather than failing with
// ImageAlreadyExistsException.
func TestPutImageRestoresArchived(t *testing.T) {
	t.Parallel()
	em := newEmulator(t)
	reg := newRegistry(t, em, account, region)
	c := ecrClient(t, reg.ECREndpoint(), region)
	createRepo(t, c, "app", "")
	digest, raw, mt := pushed(t, c, reg.Host(), "app", "v1")
	if err := reg.ArchiveImage("app", digest); err != nil {
		t.Fatalf("ArchiveImage: %v", err)
	}
	if _, err := c.PutImage(t.Context(), &ecr.PutImageInput{RepositoryName: aws.String("app"),
		ImageManifest: aws.String(string(raw)), ImageManifestMediaType: aws.String(mt), ImageTag: aws.String("v1")}); err != nil {
		t.Fatalf("PutImage of the archived image: %v", err)
	}
	out, err := c.DescribeImages(t.Context(), &ecr.DescribeImagesInput{RepositoryName: aws.String("app"),
		ImageIds: []types.ImageIdentifier{{ImageDigest: aws.String(digest)}}})
	if err != nil || out.ImageDetails[0].ImageStatus != types.ImageStatusActive {
		t.Errorf("after PutImage: %+v, %v; want ACTIVE", out, err)
	}
	_, err = c.PutImage(t.Context(), &ecr.PutImageInput{RepositoryName: aws.String("app"),
		ImageManifest: aws.String(string(raw)), ImageManifestMediaType: aws.String(mt), ImageTag: aws.String("v1")})
	if code, _ := apiErr(t, err); code != "ImageAlreadyExistsException" {
		t.Errorf("PutImage of the active image again = %s, want ImageAlreadyExistsException", code)
	}
}

func TestSubjectManifestDigest(t *testing.T) {
	t.Parallel()
	em := newEmulator(t)
	reg := newRegistry(t, em, account, region)
	c := ecrClient(t, reg.ECREndpoint(), region)
	createRepo(t, c, "app", "")
	auth := login(t, c)
	desc, sigDigest := pushReferred(t, reg.Host(), "app", auth)
	out, err := c.DescribeImages(t.Context(), &ecr.DescribeImagesInput{RepositoryName: aws.String("app")})
	if err != nil {
		t.Fatalf("DescribeImages: %v", err)
	}
	got := map[string]string{}
	for _, d := range out.ImageDetails {
		if d.ImageStatus != types.ImageStatusActive {
			t.Errorf("%s: imageStatus %q, want ACTIVE", aws.ToString(d.ImageDigest), d.ImageStatus)
		}
		got[aws.ToString(d.ImageDigest)] = aws.ToString(d.SubjectManifestDigest)
	}
	if got[sigDigest.String()] != desc.Digest.String() {
		t.Errorf("referrer's subjectManifestDigest = %q, want %s", got[sigDigest.String()], desc.Digest)
	}
	if s, ok := got[desc.Digest.String()]; !ok || s != "" {
		t.Errorf("subject's own subjectManifestDigest = %q (listed %v), want none", s, ok)
	}
}

// manifestRequest sends GET or HEAD for repo's manifest ref and returns the
// status and body.
func manifestRequest(t *testing.T, method, host, repo, ref string, auth authn.Authenticator) (int, string) {
	t.Helper()
	req := newRequest(t, method, "http://"+host+"/v2/"+repo+"/manifests/"+ref, nil)
	req.Header.Set("Accept", string(ggcrtypes.DockerManifestSchema2)+","+string(ggcrtypes.OCIManifestSchema1))
	if b, ok := auth.(*authn.Basic); ok {
		req.SetBasicAuth(b.Username, b.Password)
	}
	status, _, body := rawDo(t, req)
	return status, body
}
