package workflow

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsecr "github.com/aws/aws-sdk-go-v2/service/ecr"
	ecrtypes "github.com/aws/aws-sdk-go-v2/service/ecr/types"
	"github.com/aws/smithy-go"

	"github.com/ferry-dev/ferry/internal/config"
	"github.com/ferry-dev/ferry/internal/ecr"
)

// The secrets the fakes hand out. No handler output, error or log line may
// contain any of them.
const (
	fakeSecretKey     = "fakeSecretAccessKey/0123456789abcdefghij"
	fakeSessionToken  = "fakeSessionToken+ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	fakeRegistryToken = "fakeRegistryPassword-5f4dcc3b5aa765d61d83"
	fakeTaskToken     = "fakeTaskToken-AQCEAAAAKgAAAAMAAAAAAAAAAc1d"
	fakeApprovalKey   = "fake-approval-key-0123456789abcdef0123456789"
)

var secrets = []string{fakeSecretKey, fakeSessionToken, fakeRegistryToken, fakeTaskToken, fakeApprovalKey,
	base64.StdEncoding.EncodeToString([]byte("AWS:" + fakeRegistryToken))}

// assertNoSecrets fails if any of outs (marshalled to JSON unless a string
// or error) holds one of the fakes' secrets.
func assertNoSecrets(t *testing.T, outs ...any) {
	t.Helper()
	for _, o := range outs {
		var text string
		switch v := o.(type) {
		case nil:
			continue
		case string:
			text = v
		case error:
			text = v.Error()
		default:
			b, err := json.Marshal(v)
			if err != nil {
				t.Fatal(err)
			}
			text = string(b)
		}
		for _, s := range secrets {
			if strings.Contains(text, s) {
				t.Errorf("a secret (%.12s…) leaked into %.300s", s, text)
			}
		}
	}
}

// testLogger returns a JSON logger and the buffer it writes to.
func testLogger() (*slog.Logger, *syncBuffer) {
	var b syncBuffer
	return slog.New(slog.NewJSONHandler(&b, &slog.HandlerOptions{Level: slog.LevelDebug})), &b
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// apiErr is an AWS error as the SDK returns it for a code it has no type for.
func apiErr(code string) error {
	return &smithy.GenericAPIError{Code: code, Message: code + " (fake)", Fault: smithy.FaultClient}
}

const testConfig = `version: 1
source: {account: "111111111111", region: us-east-1}
externalId: ext-123
rules:
  - name: releases
    repositories: ["team/**"]
    tags: ["release-*"]
    destinations:
      - account: "222222222222"
        region: eu-west-1
        approval: required
        settings:
          tagImmutability: true
          scanOnPush: true
          lifecyclePolicy: '{"rules":[{"rulePriority":1,"selection":{"tagStatus":"untagged","countType":"imageCountMoreThan","countNumber":10},"action":{"type":"expire"}}]}'
          repositoryPolicy: '{"Version":"2012-10-17","Statement":[{"Sid":"pull","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::222222222222:root"},"Action":["ecr:BatchGetImage"]}]}'
          tags: {environment: production}
      - account: "333333333333"
        region: us-west-2
        repository: {prefix: mirror/}
        onExistingTag: overwrite
`

const (
	prodID   = "222222222222/eu-west-1"
	mirrorID = "333333333333/us-west-2"
	digestA  = "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
)

func testEnv(t *testing.T) *Env {
	t.Helper()
	cfg, err := config.Parse("ferry.yaml", []byte(testConfig))
	if err != nil {
		t.Fatal(err)
	}
	return &Env{Config: cfg, Getenv: func(string) string { return "" }}
}

// testJob is the job Validate plans for team/app:release-1.0 to id.
func testJob(id string) Job {
	acct, region, _ := strings.Cut(id, "/")
	j := Job{Execution: "arn:aws:states:us-east-1:111111111111:execution:ferry:run-1", Rule: "releases", Destination: id,
		Account: acct, Region: region, SourceRepository: "team/app", Repository: "team/app", Tag: "release-1.0",
		Digest: digestA, OnExistingTag: "fail"}
	switch id {
	case prodID:
		j.ApprovalRequired = true
	case mirrorID:
		j.Repository, j.OnExistingTag = "mirror/team/app", "overwrite"
	}
	return j
}

// fakeRoles stands in for *ecr.Clients: it records the roles assumed and
// hands out fake ECR clients by account/region.
type fakeRoles struct {
	mu        sync.Mutex
	assumeErr error
	assumed   []ecr.Role
	ecr       map[string]*fakeECR // account/region -> client
}

func (f *fakeRoles) Assume(_ context.Context, role ecr.Role) (aws.Credentials, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.assumed = append(f.assumed, role)
	if f.assumeErr != nil {
		// As ecr.Clients wraps what STS said.
		return aws.Credentials{}, fmt.Errorf("assume role %s: %w", role.ARN, f.assumeErr)
	}
	return aws.Credentials{AccessKeyID: "ASIAFAKE", SecretAccessKey: fakeSecretKey, SessionToken: fakeSessionToken,
		CanExpire: true, Expires: time.Now().Add(15 * time.Minute)}, nil
}

func (f *fakeRoles) DestinationECR(ctx context.Context, account, region string, role ecr.Role) (ecr.API, error) {
	if _, err := f.Assume(ctx, role); err != nil {
		return nil, err
	}
	return f.ECR(account, region), nil
}

func (f *fakeRoles) ECR(account, region string) ecr.API {
	f.mu.Lock()
	defer f.mu.Unlock()
	c, ok := f.ecr[account+"/"+region]
	if !ok {
		panic("no fake ECR for " + account + "/" + region)
	}
	return c
}

// fakeECR is an in-memory ECR control plane: repositories with their
// policies and tags, the source's images, and GetAuthorizationToken for a
// registry at host. It records every call, and fails the next calls of an
// operation with the errors queued in fail.
type fakeECR struct {
	account, region string
	host            string // data plane, for GetAuthorizationToken; "" has none
	https           bool   // the data plane speaks HTTPS, not plain HTTP

	mu     sync.Mutex
	calls  []string
	fail   map[string][]error
	repos  map[string]*fakeRepo
	images map[string]ecrtypes.ImageDetail // "repo@digest" and "repo:tag"
}

type fakeRepo struct {
	repo      ecrtypes.Repository
	tags      map[string]string
	lifecycle string
	policy    string
}

func newFakeECR(id string) *fakeECR {
	acct, region, _ := strings.Cut(id, "/")
	return &fakeECR{account: acct, region: region, fail: map[string][]error{}, repos: map[string]*fakeRepo{}, images: map[string]ecrtypes.ImageDetail{}}
}

// failNext makes the next len(errs) calls of op fail with errs, in order.
func (f *fakeECR) failNext(op string, errs ...error) *fakeECR {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fail[op] = append(f.fail[op], errs...)
	return f
}

// addRepo adds an existing repository, with tags.
func (f *fakeECR) addRepo(name string, tags map[string]string) *fakeRepo {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.addRepoLocked(name, tags)
}

func (f *fakeECR) addRepoLocked(name string, tags map[string]string) *fakeRepo {
	r := &fakeRepo{repo: ecrtypes.Repository{
		RepositoryName: aws.String(name),
		RepositoryArn:  aws.String(fmt.Sprintf("arn:aws:ecr:%s:%s:repository/%s", f.region, f.account, name)),
		RepositoryUri:  aws.String(fmt.Sprintf("%s.dkr.ecr.%s.amazonaws.com/%s", f.account, f.region, name)),
		RegistryId:     aws.String(f.account),
	}, tags: map[string]string{}}
	for k, v := range tags {
		r.tags[k] = v
	}
	f.repos[name] = r
	return r
}

func (f *fakeECR) repo(name string) *fakeRepo {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.repos[name]
}

// Calls returns the operations called so far.
func (f *fakeECR) Calls() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.calls...)
}

// called records op and returns its queued error, if any.
func (f *fakeECR) called(op string) error {
	f.calls = append(f.calls, op)
	if q := f.fail[op]; len(q) > 0 {
		f.fail[op] = q[1:]
		return q[0]
	}
	return nil
}

func (f *fakeECR) byARN(arn *string) (*fakeRepo, error) {
	for _, r := range f.repos {
		if aws.ToString(r.repo.RepositoryArn) == aws.ToString(arn) {
			return r, nil
		}
	}
	return nil, &ecrtypes.RepositoryNotFoundException{Message: aws.String("no repository " + aws.ToString(arn))}
}

func (f *fakeECR) DescribeImages(_ context.Context, in *awsecr.DescribeImagesInput, _ ...func(*awsecr.Options)) (*awsecr.DescribeImagesOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.called("DescribeImages"); err != nil {
		return nil, err
	}
	if _, ok := f.repos[aws.ToString(in.RepositoryName)]; !ok {
		return nil, &ecrtypes.RepositoryNotFoundException{Message: aws.String("no repository")}
	}
	out := &awsecr.DescribeImagesOutput{}
	for _, id := range in.ImageIds {
		key := aws.ToString(in.RepositoryName) + "@" + aws.ToString(id.ImageDigest)
		if id.ImageTag != nil {
			key = aws.ToString(in.RepositoryName) + ":" + aws.ToString(id.ImageTag)
		}
		d, ok := f.images[key]
		if !ok {
			return nil, &ecrtypes.ImageNotFoundException{Message: aws.String("no image " + key)}
		}
		out.ImageDetails = append(out.ImageDetails, d)
	}
	return out, nil
}

// BatchDeleteImage removes tags (this fake deletes by tag only).
func (f *fakeECR) BatchDeleteImage(_ context.Context, in *awsecr.BatchDeleteImageInput, _ ...func(*awsecr.Options)) (*awsecr.BatchDeleteImageOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.called("BatchDeleteImage"); err != nil {
		return nil, err
	}
	if _, ok := f.repos[aws.ToString(in.RepositoryName)]; !ok {
		return nil, &ecrtypes.RepositoryNotFoundException{Message: aws.String("no repository")}
	}
	out := &awsecr.BatchDeleteImageOutput{}
	for _, id := range in.ImageIds {
		key := aws.ToString(in.RepositoryName) + ":" + aws.ToString(id.ImageTag)
		if _, ok := f.images[key]; !ok || id.ImageTag == nil {
			out.Failures = append(out.Failures, ecrtypes.ImageFailure{ImageId: &id, FailureCode: ecrtypes.ImageFailureCodeImageNotFound})
			continue
		}
		delete(f.images, key)
		out.ImageIds = append(out.ImageIds, id)
	}
	return out, nil
}

// addImage adds a source image with its tags.
func (f *fakeECR) addImage(repo, digest string, tags ...string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.repos[repo]; !ok {
		f.addRepoLocked(repo, nil)
	}
	d := ecrtypes.ImageDetail{RepositoryName: aws.String(repo), ImageDigest: aws.String(digest), ImageTags: tags}
	f.images[repo+"@"+digest] = d
	for _, t := range tags {
		f.images[repo+":"+t] = d
	}
}

func (f *fakeECR) DescribeRepositories(_ context.Context, in *awsecr.DescribeRepositoriesInput, _ ...func(*awsecr.Options)) (*awsecr.DescribeRepositoriesOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.called("DescribeRepositories"); err != nil {
		return nil, err
	}
	out := &awsecr.DescribeRepositoriesOutput{}
	for _, n := range in.RepositoryNames {
		r, ok := f.repos[n]
		if !ok {
			return nil, &ecrtypes.RepositoryNotFoundException{Message: aws.String("The repository with name '" + n + "' does not exist")}
		}
		out.Repositories = append(out.Repositories, r.repo)
	}
	return out, nil
}

func (f *fakeECR) CreateRepository(_ context.Context, in *awsecr.CreateRepositoryInput, _ ...func(*awsecr.Options)) (*awsecr.CreateRepositoryOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.called("CreateRepository"); err != nil {
		return nil, err
	}
	name := aws.ToString(in.RepositoryName)
	if _, ok := f.repos[name]; ok {
		return nil, &ecrtypes.RepositoryAlreadyExistsException{Message: aws.String("The repository with name '" + name + "' already exists")}
	}
	tags := map[string]string{}
	for _, t := range in.Tags {
		tags[aws.ToString(t.Key)] = aws.ToString(t.Value)
	}
	r := f.addRepoLocked(name, tags)
	r.repo.ImageTagMutability = in.ImageTagMutability
	r.repo.ImageScanningConfiguration = in.ImageScanningConfiguration
	return &awsecr.CreateRepositoryOutput{Repository: &r.repo}, nil
}

func (f *fakeECR) PutLifecyclePolicy(_ context.Context, in *awsecr.PutLifecyclePolicyInput, _ ...func(*awsecr.Options)) (*awsecr.PutLifecyclePolicyOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.called("PutLifecyclePolicy"); err != nil {
		return nil, err
	}
	r, ok := f.repos[aws.ToString(in.RepositoryName)]
	if !ok {
		return nil, &ecrtypes.RepositoryNotFoundException{}
	}
	r.lifecycle = aws.ToString(in.LifecyclePolicyText)
	return &awsecr.PutLifecyclePolicyOutput{}, nil
}

func (f *fakeECR) SetRepositoryPolicy(_ context.Context, in *awsecr.SetRepositoryPolicyInput, _ ...func(*awsecr.Options)) (*awsecr.SetRepositoryPolicyOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.called("SetRepositoryPolicy"); err != nil {
		return nil, err
	}
	r, ok := f.repos[aws.ToString(in.RepositoryName)]
	if !ok {
		return nil, &ecrtypes.RepositoryNotFoundException{}
	}
	r.policy = aws.ToString(in.PolicyText)
	return &awsecr.SetRepositoryPolicyOutput{}, nil
}

func (f *fakeECR) TagResource(_ context.Context, in *awsecr.TagResourceInput, _ ...func(*awsecr.Options)) (*awsecr.TagResourceOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.called("TagResource"); err != nil {
		return nil, err
	}
	r, err := f.byARN(in.ResourceArn)
	if err != nil {
		return nil, err
	}
	for _, t := range in.Tags {
		r.tags[aws.ToString(t.Key)] = aws.ToString(t.Value)
	}
	return &awsecr.TagResourceOutput{}, nil
}

func (f *fakeECR) ListTagsForResource(_ context.Context, in *awsecr.ListTagsForResourceInput, _ ...func(*awsecr.Options)) (*awsecr.ListTagsForResourceOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.called("ListTagsForResource"); err != nil {
		return nil, err
	}
	r, err := f.byARN(in.ResourceArn)
	if err != nil {
		return nil, err
	}
	out := &awsecr.ListTagsForResourceOutput{}
	for k, v := range r.tags {
		out.Tags = append(out.Tags, ecrtypes.Tag{Key: aws.String(k), Value: aws.String(v)})
	}
	return out, nil
}

func (f *fakeECR) GetAuthorizationToken(_ context.Context, _ *awsecr.GetAuthorizationTokenInput, _ ...func(*awsecr.Options)) (*awsecr.GetAuthorizationTokenOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.called("GetAuthorizationToken"); err != nil {
		return nil, err
	}
	return &awsecr.GetAuthorizationTokenOutput{AuthorizationData: []ecrtypes.AuthorizationData{{
		AuthorizationToken: aws.String(base64.StdEncoding.EncodeToString([]byte("AWS:" + fakeRegistryToken))),
		ProxyEndpoint:      aws.String(map[bool]string{false: "http://", true: "https://"}[f.https] + f.host),
		ExpiresAt:          aws.Time(time.Now().Add(12 * time.Hour)),
	}}}, nil
}

var _ ecr.API = (*fakeECR)(nil)
var _ Roles = (*fakeRoles)(nil)

func slog0() *slog.Logger { return slog.New(slog.DiscardHandler) }
