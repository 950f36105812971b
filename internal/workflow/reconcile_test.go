package workflow

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsecr "github.com/aws/aws-sdk-go-v2/service/ecr"
	ecrtypes "github.com/aws/aws-sdk-go-v2/service/ecr/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/ferry-dev/ferry/internal/ecr"
)

// fakeS3 is a bucket in memory.
type fakeS3 struct {
	mu   sync.Mutex
	objs map[string][]byte
}

func (f *fakeS3) PutObject(_ context.Context, in *s3.PutObjectInput, _ ...func(*s3.Options)) (*s3.PutObjectOutput, error) {
	b, err := io.ReadAll(in.Body)
	if err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.objs == nil {
		f.objs = map[string][]byte{}
	}
	f.objs[aws.ToString(in.Bucket)+"/"+aws.ToString(in.Key)] = b
	return &s3.PutObjectOutput{}, nil
}

func (f *fakeS3) GetObject(_ context.Context, in *s3.GetObjectInput, _ ...func(*s3.Options)) (*s3.GetObjectOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	b, ok := f.objs[aws.ToString(in.Bucket)+"/"+aws.ToString(in.Key)]
	if !ok {
		return nil, &s3types.NoSuchKey{}
	}
	return &s3.GetObjectOutput{Body: io.NopCloser(bytes.NewReader(b))}, nil
}

func (f *fakeS3) get(key string) []byte {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.objs["bucket/"+key]
}

// pagingECR lists one repository with n tags, at most maxResults a page,
// as ECR does; every other repository is empty.
type pagingECR struct {
	*fakeECR
	repo  string
	n     int
	pages int
}

func (p *pagingECR) DescribeRepositories(_ context.Context, in *awsecr.DescribeRepositoriesInput, _ ...func(*awsecr.Options)) (*awsecr.DescribeRepositoriesOutput, error) {
	if len(in.RepositoryNames) > 0 {
		if in.RepositoryNames[0] != p.repo {
			return nil, &ecrtypes.RepositoryNotFoundException{}
		}
	}
	return &awsecr.DescribeRepositoriesOutput{Repositories: []ecrtypes.Repository{{RepositoryName: aws.String(p.repo)}}}, nil
}

func (p *pagingECR) DescribeImages(_ context.Context, in *awsecr.DescribeImagesInput, _ ...func(*awsecr.Options)) (*awsecr.DescribeImagesOutput, error) {
	if aws.ToString(in.RepositoryName) != p.repo {
		return nil, &ecrtypes.RepositoryNotFoundException{}
	}
	p.pages++
	start := 0
	if in.NextToken != nil {
		start, _ = strconv.Atoi(*in.NextToken)
	}
	size := int(aws.ToInt32(in.MaxResults))
	if size == 0 {
		size = 100
	}
	out := &awsecr.DescribeImagesOutput{}
	for i := start; i < p.n && i < start+size; i++ {
		out.ImageDetails = append(out.ImageDetails, ecrtypes.ImageDetail{
			ImageDigest: aws.String(fmt.Sprintf("sha256:%064x", i)), ImageTags: []string{fmt.Sprintf("release-%d", i)}})
	}
	if start+size < p.n {
		out.NextToken = aws.String(strconv.Itoa(start + size))
	}
	return out, nil
}

// TestReconcileStateDoesNotGrowWithTheJobs: a discovery of 10,000 tags to
// two destinations pages through the source at 1,000 a page, writes its
// 20,000 jobs to S3, and hands the state machine a plan of a few hundred
// bytes; the summary of those jobs' results, 100 of them failed, stays as
// small.
func TestReconcileStateDoesNotGrowWithTheJobs(t *testing.T) {
	t.Parallel()
	const n = 10000
	src := &pagingECR{fakeECR: newFakeECR("111111111111/us-east-1"), repo: "team/app", n: n}
	roles := &fakeRoles{ecr: map[string]*fakeECR{prodID: newFakeECR(prodID), mirrorID: newFakeECR(mirrorID)}}
	env := testEnv(t)
	env.Getenv = func(k string) string { return map[string]string{EnvReconcileBucket: "bucket"}[k] }
	bucket := &fakeS3{}
	d := NewDiscover(slog0(), env, pagingRoles{roles, src}, bucket)
	exec := "arn:aws:states:us-east-1:111111111111:execution:Ferry-reconcile:nightly"
	p, err := d.Handle(context.Background(), DiscoverRequest{Execution: exec, Input: json.RawMessage(`{}`)})
	if err != nil {
		t.Fatal(err)
	}
	if src.pages != n/1000 {
		t.Errorf("listed the source in %d pages, want %d (1,000 a page)", src.pages, n/1000)
	}
	state, _ := json.Marshal(p)
	if len(state) > 2048 {
		t.Errorf("Discover's output is %d bytes for %d jobs: %s", len(state), 2*n, state)
	}
	if p.Jobs != n || p.ApprovalsNeeded != 1 || p.Approvals[0].Images != n || len(p.Approvals[0].Sample) != approvalSample {
		t.Errorf("plan %+v: want %d jobs for the mirror and one approval of %d images for production", p, n, n)
	}
	if lines := bytes.Count(bucket.get(p.JobsKey), []byte("\n")); lines != n {
		t.Errorf("jobs file has %d lines, want %d", lines, n)
	}
	if lines := bytes.Count(bucket.get(p.PlanKey), []byte("\n")); lines != 2*n {
		t.Errorf("plan file has %d lines, want %d", lines, 2*n)
	}

	// Both destinations approved and copied; 100 failed.
	p.Decisions = []BatchDecision{{Destination: prodID, Key: p.Approvals[0].Key, Images: n, Approved: true}}
	p, err = d.Handle(context.Background(), DiscoverRequest{Execution: exec, Approved: &p})
	if err != nil {
		t.Fatal(err)
	}
	jobs := strings.Split(strings.TrimSpace(string(bucket.get(p.JobsKey))), "\n")
	if p.Jobs != 2*n || len(jobs) != 2*n {
		t.Fatalf("after the approval: %d jobs (%d lines), want %d", p.Jobs, len(jobs), 2*n)
	}
	// Interleaved: the approved destination's jobs do not all come last.
	for i, line := range jobs[:4] {
		want := []string{mirrorID, prodID}[i%2]
		if !strings.Contains(line, `"destination":"`+want+`"`) {
			t.Errorf("job %d is %s, want one for %s: the destinations alternate", i, line, want)
		}
	}
	var results bytes.Buffer
	for i, line := range jobs {
		var j Job
		if err := json.Unmarshal([]byte(line), &j); err != nil {
			t.Fatal(err)
		}
		rep := Replication{Job: j, Copy: &CopyResult{Status: StatusCopied}}
		if i%200 == 0 {
			rep.Copy, rep.Error = nil, &StepError{Error: "AccessDeniedError", Cause: `{"errorMessage":"not allowed (fake)"}`}
		}
		out, _ := json.Marshal(rep)
		in, _ := json.Marshal(map[string]Job{"job": j})
		r, _ := json.Marshal(mapResult{Status: "SUCCEEDED", Input: string(in), Output: string(out)})
		results.Write(append(r, '\n'))
	}
	bucket.PutObject(context.Background(), &s3.PutObjectInput{Bucket: aws.String("bucket"), Key: aws.String(p.ResultsPrefix + "/run/SUCCEEDED_0.json"), Body: &results})
	manifest := `{"ResultFiles":{"SUCCEEDED":[{"Key":"` + p.ResultsPrefix + `/run/SUCCEEDED_0.json"}],"FAILED":[],"PENDING":[]}}`
	bucket.PutObject(context.Background(), &s3.PutObjectInput{Bucket: aws.String("bucket"), Key: aws.String(p.ResultsPrefix + "/run/manifest.json"), Body: strings.NewReader(manifest)})
	p.Results = &MapResults{}
	p.Results.ResultWriterDetails.Bucket, p.Results.ResultWriterDetails.Key = "bucket", p.ResultsPrefix+"/run/manifest.json"

	sum := NewReconcileSummarize(slog0(), env, bucket)
	out, err := sum.Handle(context.Background(), ReconcileSummaryRequest{Run: &p})
	if err != nil {
		t.Fatal(err)
	}
	s := out.(ReconcileSummary)
	state, _ = json.Marshal(s)
	if len(state) > 8192 {
		t.Errorf("the summary is %d bytes for %d jobs", len(state), 2*n)
	}
	if s.Failed != 2*n/200 || s.Counts[StatusCopied] != 2*n-2*n/200 || len(s.Failures) != failureSample {
		t.Errorf("summary: %d failed, %v, %d failures named; want %d failed, %d copied, %d named", s.Failed, s.Counts, len(s.Failures), 2*n/200, 2*n-2*n/200, failureSample)
	}
	if lines := bytes.Count(bucket.get(s.FailedKey), []byte("\n")); lines != s.Failed {
		t.Errorf("failed jobs file has %d lines, want %d", lines, s.Failed)
	}
	// The first pass fails the run; a redrive hands the failed jobs back.
	_, err = sum.Handle(context.Background(), ReconcileSummaryRequest{Failed: &s, RedriveCount: 0})
	var rf *ReconcileFailed
	if !errors.As(err, &rf) || !strings.Contains(rf.Msg, "and 90 more") {
		t.Errorf("first pass: %v, want ReconcileFailed naming 10 failures and 90 more", err)
	}
	next, err := sum.Handle(context.Background(), ReconcileSummaryRequest{Failed: &s, RedriveCount: 1})
	if err != nil {
		t.Fatal(err)
	}
	if np := next.(ReconcilePlan); np.Jobs != s.Failed || np.Attempt != 1 || np.Earlier == nil {
		t.Errorf("redrive plan %+v, want the %d failed jobs, attempt 1, the earlier summary", np, s.Failed)
	}
}

// pagingRoles is fakeRoles with the source replaced by a paging one.
type pagingRoles struct {
	*fakeRoles
	src *pagingECR
}

func (p pagingRoles) ECR(account, region string) ecr.API {
	if account+"/"+region == "111111111111/us-east-1" {
		return p.src
	}
	return p.fakeRoles.ECR(account, region)
}
