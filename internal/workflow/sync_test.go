package workflow

import (
	"context"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsecr "github.com/aws/aws-sdk-go-v2/service/ecr"
	ecrtypes "github.com/aws/aws-sdk-go-v2/service/ecr/types"

	"github.com/ferry-dev/ferry/internal/ecr"
)

// movingTagECR is a source whose listing shows team/app:release-1.0 at
// digestA while a push has moved the tag to digestB since.
type movingTagECR struct{ *fakeECR }

const digestB = "sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"

func (m movingTagECR) DescribeRepositories(_ context.Context, in *awsecr.DescribeRepositoriesInput, _ ...func(*awsecr.Options)) (*awsecr.DescribeRepositoriesOutput, error) {
	return &awsecr.DescribeRepositoriesOutput{Repositories: []ecrtypes.Repository{{RepositoryName: aws.String("team/app")}}}, nil
}

func (m movingTagECR) DescribeImages(_ context.Context, in *awsecr.DescribeImagesInput, _ ...func(*awsecr.Options)) (*awsecr.DescribeImagesOutput, error) {
	digest := digestA // the listing
	if len(in.ImageIds) > 0 {
		digest = digestB // the tag now
	}
	return &awsecr.DescribeImagesOutput{ImageDetails: []ecrtypes.ImageDetail{{ImageDigest: aws.String(digest), ImageTags: []string{"release-1.0"}}}}, nil
}

type movingRoles struct {
	*fakeRoles
	src movingTagECR
}

func (m movingRoles) ECR(account, region string) ecr.API {
	if account+"/"+region == "111111111111/us-east-1" {
		return m.src
	}
	return m.fakeRoles.ECR(account, region)
}

// TestSyncDoesNotUndoALaterPush: a tag that moves between the listing and
// the copy is not written at the digest listed: the image is superseded,
// as the workflow's CopyImage reports it.
func TestSyncDoesNotUndoALaterPush(t *testing.T) {
	t.Parallel()
	roles := &fakeRoles{ecr: map[string]*fakeECR{prodID: newFakeECR(prodID), mirrorID: newFakeECR(mirrorID)}}
	s := NewSync(slog0(), testEnv(t), movingRoles{roles, movingTagECR{newFakeECR("111111111111/us-east-1")}})
	var results []SyncResult
	counts, err := s.Run(context.Background(), SyncOptions{Approve: true}, func(r SyncResult) error {
		results = append(results, r)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if counts[StatusSuperseded] != 2 || len(results) != 2 {
		t.Fatalf("counts %v, want both destinations superseded", counts)
	}
	for _, r := range results {
		if !strings.Contains(r.Reason, digestB) {
			t.Errorf("%s: reason %q should name the digest the tag moved to", r.Destination, r.Reason)
		}
	}
	for _, id := range []string{prodID, mirrorID} {
		for _, c := range roles.ecr[id].Calls() {
			if c == "GetAuthorizationToken" {
				t.Errorf("%s: logged in to copy a superseded image", id)
			}
		}
	}
}
