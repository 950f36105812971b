package emulator_test

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	"github.com/aws/aws-sdk-go-v2/service/ecr/types"
	"github.com/google/go-containerregistry/pkg/authn"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	ggcrtypes "github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/ferry-dev/ferry/internal/emulator"
)

// registryError returns the status and first error code of a registry
// error, failing if err is not one.
func registryError(t *testing.T, err error) (int, string, string) {
	t.Helper()
	var te *transport.Error
	if !errors.As(err, &te) {
		t.Fatalf("error %v is not a *transport.Error", err)
	}
	if len(te.Errors) == 0 {
		return te.StatusCode, "", ""
	}
	return te.StatusCode, string(te.Errors[0].Code), te.Errors[0].Message
}

func TestDataPlaneAuth(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	now := time.Now()
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	em := newEmulator(t, emulator.WithClock(clock))
	reg := newRegistry(t, em, account, region)
	c := ecrClient(t, reg.ECREndpoint(), region)
	createRepo(t, c, "app", "")

	// Unauthenticated: 401 with a Basic challenge, as ECR answers docker.
	status, hdr, _ := rawDo(t, newRequest(t, http.MethodGet, "http://"+reg.Host()+"/v2/", nil))
	if status != http.StatusUnauthorized || !strings.HasPrefix(hdr.Get("WWW-Authenticate"), `Basic realm=`) {
		t.Errorf("GET /v2/ without auth = %d %q, want 401 with a Basic challenge", status, hdr.Get("WWW-Authenticate"))
	}

	tests := []struct {
		name       string
		auth       authn.Authenticator
		wantStatus int
	}{
		{"anonymous", authn.Anonymous, http.StatusUnauthorized},
		{"token not issued here", &authn.Basic{Username: "AWS", Password: "forged"}, http.StatusUnauthorized},
		{"token of another registry", login(t, ecrClient(t, newRegistry(t, em, account2, region).ECREndpoint(), region)), http.StatusUnauthorized},
		{"wrong user", &authn.Basic{Username: "admin", Password: login(t, c).(*authn.Basic).Password}, http.StatusUnauthorized},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := push(t, reg.Host(), "app", "v1", randomImage(t), tt.auth)
			if err == nil {
				t.Fatal("push succeeded, want 401")
			}
			if status, _, _ := registryError(t, err); status != tt.wantStatus {
				t.Errorf("status = %d, want %d", status, tt.wantStatus)
			}
		})
	}

	auth := login(t, c)
	if err := push(t, reg.Host(), "app", "v1", randomImage(t), auth); err != nil {
		t.Fatalf("push with a token: %v", err)
	}
	mu.Lock()
	now = now.Add(12*time.Hour + time.Second)
	mu.Unlock()
	if err := push(t, reg.Host(), "app", "v2", randomImage(t), auth); err == nil {
		t.Fatal("push with an expired token succeeded")
	}
	req := newRequest(t, http.MethodGet, "http://"+reg.Host()+"/v2/app/tags/list", nil)
	req.SetBasicAuth("AWS", auth.(*authn.Basic).Password)
	status, hdr, body := rawDo(t, req)
	if status != http.StatusUnauthorized || hdr.Get("WWW-Authenticate") == "" ||
		!strings.Contains(body, `"DENIED"`) || !strings.Contains(body, "expired") {
		t.Errorf("expired token = %d %s, want 401 DENIED ...expired with a challenge", status, body)
	}
	if err := push(t, reg.Host(), "app", "v2", randomImage(t), login(t, c)); err != nil {
		t.Errorf("push with a fresh token: %v", err)
	}
}

func TestDataPlaneNameUnknown(t *testing.T) {
	t.Parallel()
	em := newEmulator(t)
	reg := newRegistry(t, em, account, region)
	c := ecrClient(t, reg.ECREndpoint(), region)
	auth := login(t, c)

	err := push(t, reg.Host(), "never/created", "v1", randomImage(t), auth)
	if err == nil {
		t.Fatal("push to a repository never created succeeded")
	}
	status, code, msg := registryError(t, err)
	want := "The repository with name 'never/created' does not exist in the registry with id '111122223333'"
	if status != http.StatusNotFound || code != "NAME_UNKNOWN" || msg != want {
		t.Errorf("push = %d %s %q, want 404 NAME_UNKNOWN %q", status, code, msg, want)
	}
	_, err = remote.Image(repoRef(t, reg.Host(), "never/created").Tag("v1"), remoteOpts(t.Context(), auth)...)
	if status, code, _ := registryError(t, err); status != http.StatusNotFound || code != "NAME_UNKNOWN" {
		t.Errorf("pull = %d %s, want 404 NAME_UNKNOWN", status, code)
	}

	createRepo(t, c, "empty", "")
	_, err = remote.Image(repoRef(t, reg.Host(), "empty").Tag("v1"), remoteOpts(t.Context(), auth)...)
	if status, code, _ := registryError(t, err); status != http.StatusNotFound || code != "MANIFEST_UNKNOWN" {
		t.Errorf("pull of a missing tag = %d %s, want 404 MANIFEST_UNKNOWN", status, code)
	}
	tags, err := remote.List(repoRef(t, reg.Host(), "empty"), remoteOpts(t.Context(), auth)...)
	if err != nil || len(tags) != 0 {
		t.Errorf("tags of an empty repository = %v, %v; want none", tags, err)
	}
}

func TestDataPlaneImmutability(t *testing.T) {
	t.Parallel()
	em := newEmulator(t)
	reg := newRegistry(t, em, account, region)
	c := ecrClient(t, reg.ECREndpoint(), region)
	createRepo(t, c, "frozen", "IMMUTABLE")
	createRepo(t, c, "fluid", "MUTABLE")
	auth := login(t, c)
	first, second := randomImage(t), randomImage(t)

	for _, repo := range []string{"frozen", "fluid"} {
		if err := push(t, reg.Host(), repo, "v1", first, auth); err != nil {
			t.Fatalf("push %s:v1: %v", repo, err)
		}
		if err := push(t, reg.Host(), repo, "v1", first, auth); err != nil {
			t.Errorf("re-push of the same image to %s:v1: %v", repo, err)
		}
	}
	err := push(t, reg.Host(), "frozen", "v1", second, auth)
	if err == nil {
		t.Fatal("overwriting an immutable tag succeeded")
	}
	status, code, msg := registryError(t, err)
	want := "The image tag 'v1' already exists in the 'frozen' repository and cannot be overwritten because the repository is immutable."
	if status != http.StatusBadRequest || code != "TAG_INVALID" || msg != want {
		t.Errorf("overwrite = %d %s %q, want 400 TAG_INVALID %q", status, code, msg, want)
	}
	got, err := remote.Head(repoRef(t, reg.Host(), "frozen").Tag("v1"), remoteOpts(t.Context(), auth)...)
	firstDigest, _ := first.Digest()
	if err != nil || got.Digest != firstDigest {
		t.Errorf("frozen:v1 = %v, %v; want still %s", got, err, firstDigest)
	}

	if err := push(t, reg.Host(), "fluid", "v1", second, auth); err != nil {
		t.Fatalf("overwriting a mutable tag: %v", err)
	}
	untagged, err := c.DescribeImages(t.Context(), &ecr.DescribeImagesInput{RepositoryName: aws.String("fluid"),
		Filter: &types.DescribeImagesFilter{TagStatus: types.TagStatusUntagged}})
	if err != nil {
		t.Fatalf("DescribeImages: %v", err)
	}
	if len(untagged.ImageDetails) != 1 || aws.ToString(untagged.ImageDetails[0].ImageDigest) != firstDigest.String() {
		t.Errorf("untagged images = %+v, want the first image, its tag moved", untagged.ImageDetails)
	}
}

func TestDataPlaneBlobsBelongToRepositories(t *testing.T) {
	t.Parallel()
	em := newEmulator(t)
	reg := newRegistry(t, em, account, region)
	noMount := newRegistry(t, em, account, "eu-west-2", emulator.WithBlobMounting(false))
	for _, r := range []*emulator.Registry{reg, noMount} {
		c := ecrClient(t, r.ECREndpoint(), r.Region())
		createRepo(t, c, "src", "")
		createRepo(t, c, "dst", "")
	}
	c := ecrClient(t, reg.ECREndpoint(), region)
	auth := login(t, c)
	img := randomImage(t)
	if err := push(t, reg.Host(), "src", "v1", img, auth); err != nil {
		t.Fatalf("push src:v1: %v", err)
	}
	layers, _ := img.Layers()
	digest, _ := layers[0].Digest()

	head := func(host, repo string, auth authn.Authenticator) int {
		req := newRequest(t, http.MethodHead, "http://"+host+"/v2/"+repo+"/blobs/"+digest.String(), nil)
		b := auth.(*authn.Basic)
		req.SetBasicAuth(b.Username, b.Password)
		status, _, _ := rawDo(t, req)
		return status
	}
	if got := head(reg.Host(), "src", auth); got != http.StatusOK {
		t.Errorf("HEAD blob in src = %d, want 200", got)
	}
	if got := head(reg.Host(), "dst", auth); got != http.StatusNotFound {
		t.Errorf("HEAD blob in dst = %d, want 404: blobs belong to the repository they were pushed to", got)
	}

	mount := func(host string, auth authn.Authenticator) (int, string) {
		req := newRequest(t, http.MethodPost, "http://"+host+"/v2/dst/blobs/uploads/?mount="+digest.String()+"&from=src", nil)
		b := auth.(*authn.Basic)
		req.SetBasicAuth(b.Username, b.Password)
		status, hdr, _ := rawDo(t, req)
		return status, hdr.Get("Location")
	}
	if status, loc := mount(reg.Host(), auth); status != http.StatusCreated || loc != "/v2/dst/blobs/"+digest.String() {
		t.Errorf("mount = %d %q, want 201 at the blob", status, loc)
	}
	if got := head(reg.Host(), "dst", auth); got != http.StatusOK {
		t.Errorf("HEAD mounted blob in dst = %d, want 200", got)
	}

	// Without blob mounting, the mount request starts an upload instead.
	nc := ecrClient(t, noMount.ECREndpoint(), noMount.Region())
	nauth := login(t, nc)
	if err := push(t, noMount.Host(), "src", "v1", img, nauth); err != nil {
		t.Fatalf("push src:v1: %v", err)
	}
	if status, _ := mount(noMount.Host(), nauth); status != http.StatusAccepted {
		t.Errorf("mount with mounting off = %d, want 202", status)
	}
	if got := head(noMount.Host(), "dst", nauth); got != http.StatusNotFound {
		t.Errorf("HEAD blob in dst after refused mount = %d, want 404", got)
	}
}

func TestDataPlaneManifestNeedsBlobs(t *testing.T) {
	t.Parallel()
	em := newEmulator(t)
	reg := newRegistry(t, em, account, region)
	c := ecrClient(t, reg.ECREndpoint(), region)
	createRepo(t, c, "app", "")
	auth := login(t, c).(*authn.Basic)
	raw, _ := randomImage(t).RawManifest()

	req := newRequest(t, http.MethodPut, "http://"+reg.Host()+"/v2/app/manifests/v1", raw)
	req.Header.Set("Content-Type", string(ggcrtypes.DockerManifestSchema2))
	req.SetBasicAuth(auth.Username, auth.Password)
	status, _, body := rawDo(t, req)
	if status != http.StatusBadRequest || !strings.Contains(body, "MANIFEST_BLOB_UNKNOWN") {
		t.Errorf("manifest before its blobs = %d %s, want 400 MANIFEST_BLOB_UNKNOWN", status, body)
	}
	desc, err := c.DescribeImages(t.Context(), &ecr.DescribeImagesInput{RepositoryName: aws.String("app")})
	if err != nil || len(desc.ImageDetails) != 0 {
		t.Errorf("DescribeImages after refused push = %v, %v; want no image", desc, err)
	}
}

func TestDataPlaneReferrers(t *testing.T) {
	t.Parallel()
	em := newEmulator(t)
	on := newRegistry(t, em, account, region)
	off := newRegistry(t, em, account, "eu-west-2", emulator.WithReferrers(false))
	for _, r := range []*emulator.Registry{on, off} {
		c := ecrClient(t, r.ECREndpoint(), r.Region())
		createRepo(t, c, "app", "")
		auth := login(t, c)
		desc, sigDigest := pushReferred(t, r.Host(), "app", auth)
		b := auth.(*authn.Basic)
		req := newRequest(t, http.MethodGet, "http://"+r.Host()+"/v2/app/referrers/"+desc.Digest.String(), nil)
		req.SetBasicAuth(b.Username, b.Password)
		status, _, body := rawDo(t, req)
		if r == off {
			if status != http.StatusNotFound {
				t.Errorf("referrers with the API off = %d, want 404", status)
			}
			continue
		}
		var idx v1.IndexManifest
		if status != http.StatusOK || json.Unmarshal([]byte(body), &idx) != nil || len(idx.Manifests) != 1 || idx.Manifests[0].Digest != sigDigest {
			t.Errorf("referrers = %d %s, want an index listing %s", status, body, sigDigest)
		}
	}
}

func partial(img v1.Image) (v1.Descriptor, error) {
	d, err := img.Digest()
	if err != nil {
		return v1.Descriptor{}, err
	}
	mt, _ := img.MediaType()
	sz, _ := img.Size()
	return v1.Descriptor{MediaType: mt, Digest: d, Size: sz}, nil
}
