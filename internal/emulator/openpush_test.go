package emulator_test

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	"github.com/aws/aws-sdk-go-v2/service/ecr/types"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/ferry-dev/ferry/internal/emulator"
)

func TestOpenPush(t *testing.T) {
	t.Parallel()
	em := newEmulator(t)
	open := newRegistry(t, em, account, region, emulator.WithOpenPush())
	closed := newRegistry(t, em, account, "eu-west-2")
	c := ecrClient(t, open.ECREndpoint(), region)
	ctx := t.Context()

	// Anonymous: the ping answers 200, so clients go on without credentials.
	if status, _, _ := rawDo(t, newRequest(t, http.MethodGet, "http://"+open.Host()+"/v2/", nil)); status != http.StatusOK {
		t.Errorf("anonymous GET /v2/ on an open registry = %d, want 200", status)
	}
	if status, _, _ := rawDo(t, newRequest(t, http.MethodGet, "http://"+closed.Host()+"/v2/", nil)); status != http.StatusUnauthorized {
		t.Errorf("anonymous GET /v2/ on a registry without the option = %d, want 401", status)
	}

	// An anonymous push to a repository never created creates it.
	img := randomImage(t)
	if err := push(t, open.Host(), "team/new", "v1", img, authn.Anonymous); err != nil {
		t.Fatalf("anonymous push to a new repository: %v", err)
	}
	repos, err := c.DescribeRepositories(ctx, &ecr.DescribeRepositoriesInput{RepositoryNames: []string{"team/new"}})
	if err != nil {
		t.Fatalf("DescribeRepositories after create-on-push: %v", err)
	}
	r := repos.Repositories[0]
	if r.ImageTagMutability != types.ImageTagMutabilityMutable || r.EncryptionConfiguration.EncryptionType != types.EncryptionTypeAes256 ||
		r.ImageScanningConfiguration.ScanOnPush || aws.ToString(r.RepositoryUri) != open.Host()+"/team/new" {
		t.Errorf("created repository = %+v, want CreateRepository's defaults", r)
	}
	digest, _ := img.Digest()
	desc, err := c.DescribeImages(ctx, &ecr.DescribeImagesInput{RepositoryName: aws.String("team/new")})
	if err != nil || len(desc.ImageDetails) != 1 || aws.ToString(desc.ImageDetails[0].ImageDigest) != digest.String() {
		t.Errorf("DescribeImages after anonymous push = %+v, %v; want %s", desc, err, digest)
	}
	// Anonymous pull, and an authenticated one.
	ref := repoRef(t, open.Host(), "team/new").Tag("v1")
	for _, auth := range []authn.Authenticator{authn.Anonymous, login(t, c)} {
		got, err := remote.Image(ref, remoteOpts(ctx, auth)...)
		if err != nil {
			t.Fatalf("pull: %v", err)
		}
		if d, _ := got.Digest(); d != digest {
			t.Errorf("pulled %s, want %s", d, digest)
		}
	}
	// Ferry's token still works for pushes, and a bad token is still refused.
	if err := push(t, open.Host(), "team/other", "v1", randomImage(t), login(t, c)); err != nil {
		t.Errorf("push with a token: %v", err)
	}
	err = push(t, open.Host(), "team/forged", "v1", randomImage(t), &authn.Basic{Username: "AWS", Password: "forged"})
	if status, _, _ := registryError(t, err); status != http.StatusUnauthorized {
		t.Errorf("push with a forged token = %d, want 401", status)
	}
	if _, err := c.DescribeRepositories(ctx, &ecr.DescribeRepositoriesInput{RepositoryNames: []string{"team/forged"}}); err == nil {
		t.Error("a refused push created its repository")
	}

	// Pulls do not create repositories.
	_, err = remote.Image(repoRef(t, open.Host(), "never/pushed").Tag("v1"), remoteOpts(ctx, authn.Anonymous)...)
	if status, code, _ := registryError(t, err); status != http.StatusNotFound || code != "NAME_UNKNOWN" {
		t.Errorf("pull from a missing repository = %d %s, want 404 NAME_UNKNOWN", status, code)
	}
	if _, err := c.DescribeRepositories(ctx, &ecr.DescribeRepositoriesInput{RepositoryNames: []string{"never/pushed"}}); err == nil {
		t.Error("a pull created its repository")
	}

	// A name ECR would refuse is not created.
	status, _, body := rawDo(t, newRequest(t, http.MethodPost, "http://"+open.Host()+"/v2/a/blobs/uploads/", nil))
	if status != http.StatusBadRequest || !strings.Contains(body, "NAME_INVALID") {
		t.Errorf("upload to repository %q = %d %s, want 400 NAME_INVALID", "a", status, body)
	}

	// The registry without the option is unchanged.
	err = push(t, closed.Host(), "team/new", "v1", randomImage(t), authn.Anonymous)
	if status, _, _ := registryError(t, err); status != http.StatusUnauthorized {
		t.Errorf("anonymous push without the option = %d, want 401", status)
	}
}

// Pushes racing to a repository that does not exist create it once, and
// both land in it.
func TestOpenPushConcurrentCreate(t *testing.T) {
	t.Parallel()
	em := newEmulator(t, emulator.WithOpenPush())
	reg := newRegistry(t, em, account, region)
	c := ecrClient(t, reg.ECREndpoint(), region)
	const n = 4
	var wg sync.WaitGroup
	errs := make(chan error, n)
	start := make(chan struct{})
	for i := range n {
		img := randomImage(t)
		ref := repoRef(t, reg.Host(), "race/app").Tag(fmt.Sprintf("v%d", i))
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			errs <- remote.Write(ref, img, remoteOpts(t.Context(), authn.Anonymous)...)
		}()
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("concurrent push: %v", err)
		}
	}
	out, err := c.ListImages(t.Context(), &ecr.ListImagesInput{RepositoryName: aws.String("race/app")})
	if err != nil || len(out.ImageIds) != n {
		t.Errorf("ListImages = %+v, %v; want %d images", out, err, n)
	}
	repos, err := c.DescribeRepositories(t.Context(), &ecr.DescribeRepositoriesInput{})
	if err != nil || len(repos.Repositories) != 1 {
		t.Errorf("DescribeRepositories = %+v, %v; want one repository", repos, err)
	}
}
