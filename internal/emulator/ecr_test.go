package emulator_test

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	"github.com/aws/aws-sdk-go-v2/service/ecr/types"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

func TestCreateRepository(t *testing.T) {
	t.Parallel()
	em := newEmulator(t)
	reg := newRegistry(t, em, account, region)
	c := ecrClient(t, reg.ECREndpoint(), region)

	out, err := c.CreateRepository(t.Context(), &ecr.CreateRepositoryInput{
		RepositoryName:             aws.String("team/app"),
		ImageTagMutability:         types.ImageTagMutabilityImmutable,
		ImageScanningConfiguration: &types.ImageScanningConfiguration{ScanOnPush: true},
		EncryptionConfiguration:    &types.EncryptionConfiguration{EncryptionType: types.EncryptionTypeKms, KmsKey: aws.String("arn:aws:kms:eu-west-1:111122223333:key/abc")},
		Tags:                       []types.Tag{{Key: aws.String("owner"), Value: aws.String("platform")}},
	})
	if err != nil {
		t.Fatalf("CreateRepository: %v", err)
	}
	r := out.Repository
	checks := map[string][2]string{
		"repositoryArn":  {aws.ToString(r.RepositoryArn), "arn:aws:ecr:eu-west-1:111122223333:repository/team/app"},
		"repositoryUri":  {aws.ToString(r.RepositoryUri), reg.Host() + "/team/app"},
		"registryId":     {aws.ToString(r.RegistryId), account},
		"repositoryName": {aws.ToString(r.RepositoryName), "team/app"},
		"mutability":     {string(r.ImageTagMutability), "IMMUTABLE"},
		"encryptionType": {string(r.EncryptionConfiguration.EncryptionType), "KMS"},
		"kmsKey":         {aws.ToString(r.EncryptionConfiguration.KmsKey), "arn:aws:kms:eu-west-1:111122223333:key/abc"},
	}
	for field, c := range checks {
		if c[0] != c[1] {
			t.Errorf("%s = %q, want %q", field, c[0], c[1])
		}
	}
	if !r.ImageScanningConfiguration.ScanOnPush {
		t.Error("scanOnPush = false, want true")
	}
	if r.CreatedAt == nil || time.Since(*r.CreatedAt) > time.Minute {
		t.Errorf("createdAt = %v, want about now", r.CreatedAt)
	}

	tags, err := c.ListTagsForResource(t.Context(), &ecr.ListTagsForResourceInput{ResourceArn: r.RepositoryArn})
	if err != nil {
		t.Fatalf("ListTagsForResource: %v", err)
	}
	if len(tags.Tags) != 1 || aws.ToString(tags.Tags[0].Key) != "owner" || aws.ToString(tags.Tags[0].Value) != "platform" {
		t.Errorf("tags = %+v, want owner=platform", tags.Tags)
	}

	_, err = c.CreateRepository(t.Context(), &ecr.CreateRepositoryInput{RepositoryName: aws.String("team/app")})
	var exists *types.RepositoryAlreadyExistsException
	if !errors.As(err, &exists) {
		t.Fatalf("second CreateRepository error = %v, want RepositoryAlreadyExistsException", err)
	}
	if code, status := apiErr(t, err); status != http.StatusBadRequest {
		t.Errorf("%s status = %d, want 400", code, status)
	}
	wantMsg := "The repository with name 'team/app' already exists in the registry with id '111122223333'"
	if exists.ErrorMessage() != wantMsg {
		t.Errorf("message = %q, want %q", exists.ErrorMessage(), wantMsg)
	}
}

func TestCreateRepositoryDefaults(t *testing.T) {
	t.Parallel()
	em := newEmulator(t)
	reg := newRegistry(t, em, account, region)
	c := ecrClient(t, reg.ECREndpoint(), region)
	out, err := c.CreateRepository(t.Context(), &ecr.CreateRepositoryInput{RepositoryName: aws.String("app")})
	if err != nil {
		t.Fatalf("CreateRepository: %v", err)
	}
	r := out.Repository
	if r.ImageTagMutability != types.ImageTagMutabilityMutable {
		t.Errorf("mutability = %q, want MUTABLE", r.ImageTagMutability)
	}
	if r.EncryptionConfiguration.EncryptionType != types.EncryptionTypeAes256 || r.EncryptionConfiguration.KmsKey != nil {
		t.Errorf("encryption = %+v, want AES256 without key", r.EncryptionConfiguration)
	}
}

func TestCreateRepositoryInvalid(t *testing.T) {
	t.Parallel()
	em := newEmulator(t)
	reg := newRegistry(t, em, account, region)
	c := ecrClient(t, reg.ECREndpoint(), region)
	tests := []struct {
		name     string
		in       ecr.CreateRepositoryInput
		wantCode string
	}{
		{"uppercase", ecr.CreateRepositoryInput{RepositoryName: aws.String("Team/App")}, "InvalidParameterException"},
		{"one character", ecr.CreateRepositoryInput{RepositoryName: aws.String("a")}, "InvalidParameterException"},
		{"leading slash", ecr.CreateRepositoryInput{RepositoryName: aws.String("/app")}, "InvalidParameterException"},
		{"double separator", ecr.CreateRepositoryInput{RepositoryName: aws.String("team//app")}, "InvalidParameterException"},
		{"trailing dash", ecr.CreateRepositoryInput{RepositoryName: aws.String("app-")}, "InvalidParameterException"},
		{"too long", ecr.CreateRepositoryInput{RepositoryName: aws.String(strings.Repeat("a", 257))}, "InvalidParameterException"},
		{"bad mutability", ecr.CreateRepositoryInput{RepositoryName: aws.String("app"), ImageTagMutability: "SOMETIMES"}, "InvalidParameterException"},
		{"bad encryption", ecr.CreateRepositoryInput{RepositoryName: aws.String("app"),
			EncryptionConfiguration: &types.EncryptionConfiguration{EncryptionType: "ROT13"}}, "InvalidParameterException"},
		{"empty tag key", ecr.CreateRepositoryInput{RepositoryName: aws.String("app"),
			Tags: []types.Tag{{Key: aws.String(""), Value: aws.String("v")}}}, "InvalidTagParameterException"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := c.CreateRepository(t.Context(), &tt.in)
			if err == nil {
				t.Fatal("CreateRepository succeeded, want error")
			}
			code, status := apiErr(t, err)
			if code != tt.wantCode || status != http.StatusBadRequest {
				t.Errorf("error = %s (HTTP %d), want %s (HTTP 400)", code, status, tt.wantCode)
			}
		})
	}
	desc, err := c.DescribeRepositories(t.Context(), &ecr.DescribeRepositoriesInput{})
	if err != nil {
		t.Fatalf("DescribeRepositories: %v", err)
	}
	if len(desc.Repositories) != 0 {
		t.Errorf("invalid requests created %d repositories", len(desc.Repositories))
	}
}

func TestDescribeRepositories(t *testing.T) {
	t.Parallel()
	em := newEmulator(t)
	reg := newRegistry(t, em, account, region)
	c := ecrClient(t, reg.ECREndpoint(), region)
	createRepo(t, c, "b/app", "")
	createRepo(t, c, "a/app", "IMMUTABLE")

	out, err := c.DescribeRepositories(t.Context(), &ecr.DescribeRepositoriesInput{RepositoryNames: []string{"a/app"}})
	if err != nil {
		t.Fatalf("DescribeRepositories: %v", err)
	}
	if len(out.Repositories) != 1 || aws.ToString(out.Repositories[0].RepositoryName) != "a/app" ||
		out.Repositories[0].ImageTagMutability != types.ImageTagMutabilityImmutable {
		t.Errorf("repositories = %+v, want a/app IMMUTABLE", out.Repositories)
	}

	all, err := c.DescribeRepositories(t.Context(), &ecr.DescribeRepositoriesInput{})
	if err != nil {
		t.Fatalf("DescribeRepositories (all): %v", err)
	}
	if len(all.Repositories) != 2 {
		t.Errorf("got %d repositories, want 2", len(all.Repositories))
	}

	_, err = c.DescribeRepositories(t.Context(), &ecr.DescribeRepositoriesInput{RepositoryNames: []string{"a/app", "missing"}})
	var nf *types.RepositoryNotFoundException
	if !errors.As(err, &nf) {
		t.Fatalf("error = %v, want RepositoryNotFoundException", err)
	}
	want := "The repository with name 'missing' does not exist in the registry with id '111122223333'"
	if nf.ErrorMessage() != want {
		t.Errorf("message = %q, want %q", nf.ErrorMessage(), want)
	}

	// Registries are separate: another account's registry does not see these.
	other := newRegistry(t, em, account2, region)
	_, err = ecrClient(t, other.ECREndpoint(), region).DescribeRepositories(t.Context(),
		&ecr.DescribeRepositoriesInput{RepositoryNames: []string{"a/app"}})
	if !errors.As(err, &nf) {
		t.Errorf("other registry error = %v, want RepositoryNotFoundException", err)
	}
}

func TestPolicies(t *testing.T) {
	t.Parallel()
	em := newEmulator(t)
	reg := newRegistry(t, em, account, region)
	c := ecrClient(t, reg.ECREndpoint(), region)
	createRepo(t, c, "app", "")
	ctx := t.Context()

	_, err := c.GetLifecyclePolicy(ctx, &ecr.GetLifecyclePolicyInput{RepositoryName: aws.String("app")})
	var lnf *types.LifecyclePolicyNotFoundException
	if !errors.As(err, &lnf) {
		t.Errorf("GetLifecyclePolicy before Put: %v, want LifecyclePolicyNotFoundException", err)
	}
	lifecycle := `{"rules":[{"rulePriority":1,"selection":{"tagStatus":"untagged","countType":"sinceImagePushed","countUnit":"days","countNumber":7},"action":{"type":"expire"}}]}`
	put, err := c.PutLifecyclePolicy(ctx, &ecr.PutLifecyclePolicyInput{RepositoryName: aws.String("app"), LifecyclePolicyText: aws.String(lifecycle)})
	if err != nil {
		t.Fatalf("PutLifecyclePolicy: %v", err)
	}
	if aws.ToString(put.LifecyclePolicyText) != lifecycle || aws.ToString(put.RegistryId) != account || aws.ToString(put.RepositoryName) != "app" {
		t.Errorf("PutLifecyclePolicy output = %+v", put)
	}
	got, err := c.GetLifecyclePolicy(ctx, &ecr.GetLifecyclePolicyInput{RepositoryName: aws.String("app")})
	if err != nil || aws.ToString(got.LifecyclePolicyText) != lifecycle {
		t.Errorf("GetLifecyclePolicy = %v, %v; want the policy put", got, err)
	}

	policy := `{"Version":"2012-10-17","Statement":[{"Sid":"pull","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::444455556666:root"},"Action":["ecr:BatchGetImage"]}]}`
	set, err := c.SetRepositoryPolicy(ctx, &ecr.SetRepositoryPolicyInput{RepositoryName: aws.String("app"), PolicyText: aws.String(policy)})
	if err != nil {
		t.Fatalf("SetRepositoryPolicy: %v", err)
	}
	if aws.ToString(set.PolicyText) != policy {
		t.Errorf("SetRepositoryPolicy policyText = %q", aws.ToString(set.PolicyText))
	}

	tests := []struct {
		name     string
		call     func() error
		wantCode string
	}{
		{"lifecycle on missing repository", func() error {
			_, err := c.PutLifecyclePolicy(ctx, &ecr.PutLifecyclePolicyInput{RepositoryName: aws.String("nope"), LifecyclePolicyText: aws.String(lifecycle)})
			return err
		}, "RepositoryNotFoundException"},
		{"lifecycle not JSON", func() error {
			_, err := c.PutLifecyclePolicy(ctx, &ecr.PutLifecyclePolicyInput{RepositoryName: aws.String("app"), LifecyclePolicyText: aws.String("rules")})
			return err
		}, "InvalidParameterException"},
		{"policy on missing repository", func() error {
			_, err := c.SetRepositoryPolicy(ctx, &ecr.SetRepositoryPolicyInput{RepositoryName: aws.String("nope"), PolicyText: aws.String(policy)})
			return err
		}, "RepositoryNotFoundException"},
		{"policy not JSON", func() error {
			_, err := c.SetRepositoryPolicy(ctx, &ecr.SetRepositoryPolicyInput{RepositoryName: aws.String("app"), PolicyText: aws.String("{")})
			return err
		}, "InvalidParameterException"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.call()
			if err == nil {
				t.Fatal("call succeeded, want error")
			}
			if code, status := apiErr(t, err); code != tt.wantCode || status != http.StatusBadRequest {
				t.Errorf("error = %s (HTTP %d), want %s (HTTP 400)", code, status, tt.wantCode)
			}
		})
	}
}

func TestTagResource(t *testing.T) {
	t.Parallel()
	em := newEmulator(t)
	reg := newRegistry(t, em, account, region)
	c := ecrClient(t, reg.ECREndpoint(), region)
	createRepo(t, c, "app", "")
	arn := aws.String("arn:aws:ecr:eu-west-1:111122223333:repository/app")
	if _, err := c.TagResource(t.Context(), &ecr.TagResourceInput{ResourceArn: arn,
		Tags: []types.Tag{{Key: aws.String("a"), Value: aws.String("1")}, {Key: aws.String("b"), Value: aws.String("2")}}}); err != nil {
		t.Fatalf("TagResource: %v", err)
	}
	if _, err := c.TagResource(t.Context(), &ecr.TagResourceInput{ResourceArn: arn,
		Tags: []types.Tag{{Key: aws.String("a"), Value: aws.String("3")}}}); err != nil {
		t.Fatalf("TagResource (overwrite): %v", err)
	}
	out, err := c.ListTagsForResource(t.Context(), &ecr.ListTagsForResourceInput{ResourceArn: arn})
	if err != nil {
		t.Fatalf("ListTagsForResource: %v", err)
	}
	got := map[string]string{}
	for _, tg := range out.Tags {
		got[aws.ToString(tg.Key)] = aws.ToString(tg.Value)
	}
	if len(got) != 2 || got["a"] != "3" || got["b"] != "2" {
		t.Errorf("tags = %v, want a=3 b=2", got)
	}
	_, err = c.ListTagsForResource(t.Context(), &ecr.ListTagsForResourceInput{ResourceArn: aws.String("arn:aws:ecr:eu-west-1:111122223333:repository/nope")})
	if code, _ := apiErr(t, err); code != "RepositoryNotFoundException" {
		t.Errorf("missing repository: %s, want RepositoryNotFoundException", code)
	}
	_, err = c.ListTagsForResource(t.Context(), &ecr.ListTagsForResourceInput{ResourceArn: aws.String("not-an-arn")})
	if code, _ := apiErr(t, err); code != "InvalidParameterException" {
		t.Errorf("bad ARN: %s, want InvalidParameterException", code)
	}
}

func TestGetAuthorizationToken(t *testing.T) {
	t.Parallel()
	em := newEmulator(t)
	reg := newRegistry(t, em, account, region)
	c := ecrClient(t, reg.ECREndpoint(), region)
	out, err := c.GetAuthorizationToken(t.Context(), &ecr.GetAuthorizationTokenInput{})
	if err != nil {
		t.Fatalf("GetAuthorizationToken: %v", err)
	}
	if len(out.AuthorizationData) != 1 {
		t.Fatalf("got %d authorizationData, want 1", len(out.AuthorizationData))
	}
	d := out.AuthorizationData[0]
	if got, want := aws.ToString(d.ProxyEndpoint), "http://"+reg.Host(); got != want {
		t.Errorf("proxyEndpoint = %q, want %q", got, want)
	}
	if d.ExpiresAt == nil || time.Until(*d.ExpiresAt) < 11*time.Hour || time.Until(*d.ExpiresAt) > 13*time.Hour {
		t.Errorf("expiresAt = %v, want about 12 hours from now", d.ExpiresAt)
	}
	login(t, c) // checks AWS:<password>
}

// pushed pushes a random image to repo:tag through the data plane and
// returns its digest and raw manifest.
func pushed(t *testing.T, c *ecr.Client, host, repo, tag string) (string, []byte, string) {
	t.Helper()
	img := randomImage(t)
	if err := push(t, host, repo, tag, img, login(t, c)); err != nil {
		t.Fatalf("push %s:%s: %v", repo, tag, err)
	}
	d, _ := img.Digest()
	raw, _ := img.RawManifest()
	mt, _ := img.MediaType()
	return d.String(), raw, string(mt)
}

func TestImagesPushedThroughDataPlane(t *testing.T) {
	t.Parallel()
	em := newEmulator(t)
	reg := newRegistry(t, em, account, region)
	c := ecrClient(t, reg.ECREndpoint(), region)
	createRepo(t, c, "team/app", "")
	digest, raw, mediaType := pushed(t, c, reg.Host(), "team/app", "v1")

	desc, err := c.DescribeImages(t.Context(), &ecr.DescribeImagesInput{RepositoryName: aws.String("team/app"),
		ImageIds: []types.ImageIdentifier{{ImageTag: aws.String("v1")}}})
	if err != nil {
		t.Fatalf("DescribeImages: %v", err)
	}
	if len(desc.ImageDetails) != 1 {
		t.Fatalf("got %d image details, want 1", len(desc.ImageDetails))
	}
	d := desc.ImageDetails[0]
	if aws.ToString(d.ImageDigest) != digest || len(d.ImageTags) != 1 || d.ImageTags[0] != "v1" ||
		aws.ToString(d.ImageManifestMediaType) != mediaType || aws.ToString(d.RegistryId) != account ||
		aws.ToString(d.RepositoryName) != "team/app" {
		t.Errorf("image detail = %+v, want digest %s tag v1 type %s", d, digest, mediaType)
	}
	// random.Image(512, 2): two layers of about 512 bytes each (gzipped tar).
	if size := aws.ToInt64(d.ImageSizeInBytes); size < 512 {
		t.Errorf("imageSizeInBytes = %d, want the sum of the layers", size)
	}
	if d.ImagePushedAt == nil || time.Since(*d.ImagePushedAt) > time.Minute {
		t.Errorf("imagePushedAt = %v, want about now", d.ImagePushedAt)
	}
	if aws.ToString(d.ArtifactMediaType) != "application/vnd.docker.container.image.v1+json" {
		t.Errorf("artifactMediaType = %q, want the config media type", aws.ToString(d.ArtifactMediaType))
	}

	got, err := c.BatchGetImage(t.Context(), &ecr.BatchGetImageInput{RepositoryName: aws.String("team/app"),
		ImageIds: []types.ImageIdentifier{{ImageTag: aws.String("v1")}, {ImageDigest: aws.String(digest)},
			{ImageTag: aws.String("nope")}, {ImageTag: aws.String("v1"), ImageDigest: aws.String("sha256:" + strings.Repeat("0", 64))}}})
	if err != nil {
		t.Fatalf("BatchGetImage: %v", err)
	}
	if len(got.Images) != 2 {
		t.Fatalf("got %d images, want 2", len(got.Images))
	}
	for _, im := range got.Images {
		if aws.ToString(im.ImageManifest) != string(raw) || aws.ToString(im.ImageManifestMediaType) != mediaType ||
			aws.ToString(im.ImageId.ImageDigest) != digest {
			t.Errorf("image %+v: manifest or digest differs from what was pushed", im.ImageId)
		}
	}
	wantFailures := []types.ImageFailureCode{types.ImageFailureCodeImageNotFound, types.ImageFailureCodeImageTagDoesNotMatchDigest}
	if len(got.Failures) != len(wantFailures) {
		t.Fatalf("failures = %+v, want %v", got.Failures, wantFailures)
	}
	for i, f := range got.Failures {
		if f.FailureCode != wantFailures[i] {
			t.Errorf("failure %d = %s, want %s", i, f.FailureCode, wantFailures[i])
		}
	}

	_, err = c.DescribeImages(t.Context(), &ecr.DescribeImagesInput{RepositoryName: aws.String("team/app"),
		ImageIds: []types.ImageIdentifier{{ImageTag: aws.String("v2")}}})
	var inf *types.ImageNotFoundException
	if !errors.As(err, &inf) {
		t.Fatalf("DescribeImages(v2) error = %v, want ImageNotFoundException", err)
	}
	want := "The image with imageId {imageDigest:'null', imageTag:'v2'} does not exist within the repository with name 'team/app' in the registry with id '111122223333'"
	if inf.ErrorMessage() != want {
		t.Errorf("message = %q, want %q", inf.ErrorMessage(), want)
	}
	_, err = c.BatchGetImage(t.Context(), &ecr.BatchGetImageInput{RepositoryName: aws.String("nope"),
		ImageIds: []types.ImageIdentifier{{ImageTag: aws.String("v1")}}})
	if code, _ := apiErr(t, err); code != "RepositoryNotFoundException" {
		t.Errorf("BatchGetImage on missing repository: %s, want RepositoryNotFoundException", code)
	}
}

func TestIndexPushedThroughDataPlane(t *testing.T) {
	t.Parallel()
	em := newEmulator(t)
	reg := newRegistry(t, em, account, region)
	c := ecrClient(t, reg.ECREndpoint(), region)
	createRepo(t, c, "multi", "")
	idx, err := random.Index(256, 1, 2)
	if err != nil {
		t.Fatalf("random index: %v", err)
	}
	ref := repoRef(t, reg.Host(), "multi").Tag("v1")
	if err := remote.WriteIndex(ref, idx, remoteOpts(t.Context(), login(t, c))...); err != nil {
		t.Fatalf("WriteIndex: %v", err)
	}
	digest, _ := idx.Digest()
	all, err := c.DescribeImages(t.Context(), &ecr.DescribeImagesInput{RepositoryName: aws.String("multi")})
	if err != nil {
		t.Fatalf("DescribeImages: %v", err)
	}
	if len(all.ImageDetails) != 3 {
		t.Fatalf("got %d images, want the index and its 2 children", len(all.ImageDetails))
	}
	tagged, err := c.DescribeImages(t.Context(), &ecr.DescribeImagesInput{RepositoryName: aws.String("multi"),
		Filter: &types.DescribeImagesFilter{TagStatus: types.TagStatusTagged}})
	if err != nil {
		t.Fatalf("DescribeImages(TAGGED): %v", err)
	}
	if len(tagged.ImageDetails) != 1 || aws.ToString(tagged.ImageDetails[0].ImageDigest) != digest.String() ||
		aws.ToString(tagged.ImageDetails[0].ImageManifestMediaType) != "application/vnd.oci.image.index.v1+json" {
		t.Errorf("tagged images = %+v, want only the index %s", tagged.ImageDetails, digest)
	}
}

func TestPutImage(t *testing.T) {
	t.Parallel()
	em := newEmulator(t)
	reg := newRegistry(t, em, account, region)
	c := ecrClient(t, reg.ECREndpoint(), region)
	createRepo(t, c, "app", "IMMUTABLE")
	digest, raw, mediaType := pushed(t, c, reg.Host(), "app", "v1")
	ctx := t.Context()

	out, err := c.PutImage(ctx, &ecr.PutImageInput{RepositoryName: aws.String("app"), ImageManifest: aws.String(string(raw)),
		ImageManifestMediaType: aws.String(mediaType), ImageTag: aws.String("release")})
	if err != nil {
		t.Fatalf("PutImage: %v", err)
	}
	if aws.ToString(out.Image.ImageId.ImageDigest) != digest || aws.ToString(out.Image.ImageId.ImageTag) != "release" {
		t.Errorf("PutImage image id = %+v, want %s release", out.Image.ImageId, digest)
	}
	// The new tag is served by the data plane.
	desc, err := remote.Head(repoRef(t, reg.Host(), "app").Tag("release"), remoteOpts(ctx, login(t, c))...)
	if err != nil {
		t.Fatalf("HEAD app:release: %v", err)
	}
	if desc.Digest.String() != digest {
		t.Errorf("app:release digest = %s, want %s", desc.Digest, digest)
	}

	other := randomImage(t)
	otherRaw, _ := other.RawManifest()
	tests := []struct {
		name     string
		in       ecr.PutImageInput
		wantCode string
	}{
		{"same tag and digest again", ecr.PutImageInput{ImageManifest: aws.String(string(raw)), ImageTag: aws.String("release")}, "ImageAlreadyExistsException"},
		{"immutable tag to another image", ecr.PutImageInput{ImageManifest: aws.String(string(otherRaw)), ImageTag: aws.String("v1")}, "ImageTagAlreadyExistsException"},
		{"layers never pushed", ecr.PutImageInput{ImageManifest: aws.String(string(otherRaw)), ImageTag: aws.String("v2")}, "LayersNotFoundException"},
		{"digest mismatch", ecr.PutImageInput{ImageManifest: aws.String(string(raw)), ImageTag: aws.String("v3"),
			ImageDigest: aws.String("sha256:" + strings.Repeat("1", 64))}, "ImageDigestDoesNotMatchException"},
		{"missing repository", ecr.PutImageInput{RepositoryName: aws.String("nope"), ImageManifest: aws.String(string(raw)), ImageTag: aws.String("v1")}, "RepositoryNotFoundException"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := tt.in
			if in.RepositoryName == nil {
				in.RepositoryName = aws.String("app")
			}
			_, err := c.PutImage(ctx, &in)
			if err == nil {
				t.Fatal("PutImage succeeded, want error")
			}
			if code, status := apiErr(t, err); code != tt.wantCode || status != http.StatusBadRequest {
				t.Errorf("error = %s (HTTP %d), want %s (HTTP 400)", code, status, tt.wantCode)
			}
		})
	}
	var tagExists *types.ImageTagAlreadyExistsException
	_, err = c.PutImage(ctx, &ecr.PutImageInput{RepositoryName: aws.String("app"), ImageManifest: aws.String(string(otherRaw)), ImageTag: aws.String("v1")})
	if !errors.As(err, &tagExists) {
		t.Fatalf("error %v is not *types.ImageTagAlreadyExistsException", err)
	}
	want := "The image tag 'v1' already exists in the 'app' repository and cannot be overwritten because the repository is immutable."
	if tagExists.ErrorMessage() != want {
		t.Errorf("message = %q, want %q", tagExists.ErrorMessage(), want)
	}
}

func TestECRRequestsMustBeSigned(t *testing.T) {
	t.Parallel()
	em := newEmulator(t)
	reg := newRegistry(t, em, account, region)

	req := newRequest(t, http.MethodPost, reg.ECREndpoint()+"/", []byte(`{}`))
	req.Header.Set("X-Amz-Target", "AmazonEC2ContainerRegistry_V20150921.DescribeRepositories")
	req.Header.Set("Content-Type", "application/x-amz-json-1.1")
	status, _, body := rawDo(t, req)
	var e map[string]string
	_ = json.Unmarshal([]byte(body), &e)
	if status != http.StatusForbidden || e["__type"] != "MissingAuthenticationTokenException" {
		t.Errorf("unsigned request = %d %s, want 403 MissingAuthenticationTokenException", status, body)
	}

	// A client configured for another region is refused, as AWS refuses a
	// credential scope for the wrong region.
	_, err := ecrClient(t, reg.ECREndpoint(), "us-east-1").DescribeRepositories(t.Context(), &ecr.DescribeRepositoriesInput{})
	if code, status := apiErr(t, err); code != "InvalidSignatureException" || status != http.StatusForbidden {
		t.Errorf("wrong-region client = %s (HTTP %d), want InvalidSignatureException (HTTP 403)", code, status)
	}
	// A registryId of another account is refused.
	_, err = ecrClient(t, reg.ECREndpoint(), region).DescribeRepositories(t.Context(), &ecr.DescribeRepositoriesInput{RegistryId: aws.String(account2)})
	if code, _ := apiErr(t, err); code != "AccessDeniedException" {
		t.Errorf("other registryId = %s, want AccessDeniedException", code)
	}
}
