package emulator_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	"github.com/aws/aws-sdk-go-v2/service/ecr/types"
	ggcrtypes "github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/ferry-dev/ferry/internal/emulator"
)

func TestDescribeRepositoriesPages(t *testing.T) {
	t.Parallel()
	em := newEmulator(t)
	reg := newRegistry(t, em, account, region)
	c := ecrClient(t, reg.ECREndpoint(), region)
	var want []string
	for i := range 105 {
		name := fmt.Sprintf("team/app-%03d", i)
		createRepo(t, c, name, "")
		want = append(want, name)
	}

	// No maxResults: ECR's default page of 100, then the rest.
	first, err := c.DescribeRepositories(t.Context(), &ecr.DescribeRepositoriesInput{})
	if err != nil {
		t.Fatalf("DescribeRepositories: %v", err)
	}
	if len(first.Repositories) != 100 || first.NextToken == nil {
		t.Fatalf("first page has %d repositories, nextToken %v; want 100 and a token", len(first.Repositories), first.NextToken)
	}
	rest, err := c.DescribeRepositories(t.Context(), &ecr.DescribeRepositoriesInput{NextToken: first.NextToken})
	if err != nil {
		t.Fatalf("DescribeRepositories (second page): %v", err)
	}
	if len(rest.Repositories) != 5 || rest.NextToken != nil {
		t.Errorf("second page has %d repositories, nextToken %v; want 5 and none", len(rest.Repositories), rest.NextToken)
	}

	// The SDK's paginator, 7 a page: every repository once, by name.
	var got []string
	pages := 0
	p := ecr.NewDescribeRepositoriesPaginator(c, &ecr.DescribeRepositoriesInput{MaxResults: aws.Int32(7)})
	for p.HasMorePages() {
		out, err := p.NextPage(t.Context())
		if err != nil {
			t.Fatalf("page %d: %v", pages, err)
		}
		pages++
		for _, r := range out.Repositories {
			got = append(got, aws.ToString(r.RepositoryName))
		}
	}
	if !slices.Equal(got, want) || pages != 15 {
		t.Errorf("paginator listed %d repositories in %d pages, want %d in 15, in name order", len(got), pages, len(want))
	}
}

// A token names the last item listed, not an offset: repositories created
// while a caller pages are neither listed twice nor make others be skipped.
func TestDescribeRepositoriesPagesWhileCreating(t *testing.T) {
	t.Parallel()
	em := newEmulator(t)
	reg := newRegistry(t, em, account, region)
	c := ecrClient(t, reg.ECREndpoint(), region)
	for _, n := range []string{"b1", "b2", "b3", "b4"} {
		createRepo(t, c, n, "")
	}
	out, err := c.DescribeRepositories(t.Context(), &ecr.DescribeRepositoriesInput{MaxResults: aws.Int32(2)})
	if err != nil {
		t.Fatalf("DescribeRepositories: %v", err)
	}
	got := []string{}
	for _, r := range out.Repositories {
		got = append(got, aws.ToString(r.RepositoryName))
	}
	createRepo(t, c, "a1", "") // before the page already listed
	createRepo(t, c, "z1", "") // after
	for out.NextToken != nil {
		out, err = c.DescribeRepositories(t.Context(), &ecr.DescribeRepositoriesInput{MaxResults: aws.Int32(2), NextToken: out.NextToken})
		if err != nil {
			t.Fatalf("DescribeRepositories (next): %v", err)
		}
		for _, r := range out.Repositories {
			got = append(got, aws.ToString(r.RepositoryName))
		}
	}
	if want := []string{"b1", "b2", "b3", "b4", "z1"}; !slices.Equal(got, want) {
		t.Errorf("listed %v, want %v", got, want)
	}
}

func TestPagingErrors(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	now := time.Now()
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	em := newEmulator(t, emulator.WithClock(clock))
	reg := newRegistry(t, em, account, region)
	other := newRegistry(t, em, account2, region)
	c := ecrClient(t, reg.ECREndpoint(), region)
	for _, n := range []string{"app", "app2", "app3"} {
		createRepo(t, c, n, "")
	}
	for _, tag := range []string{"v1", "v2", "v3"} {
		pushed(t, c, reg.Host(), "app", tag)
	}
	oc := ecrClient(t, other.ECREndpoint(), region)
	createRepo(t, oc, "app", "")
	createRepo(t, oc, "app2", "")
	ctx := t.Context()

	// Tokens of each listing, to replay where they do not belong.
	repos, err := c.DescribeRepositories(ctx, &ecr.DescribeRepositoriesInput{MaxResults: aws.Int32(1)})
	if err != nil || repos.NextToken == nil {
		t.Fatalf("DescribeRepositories = %v, %v; want a nextToken", repos, err)
	}
	imgs, err := c.DescribeImages(ctx, &ecr.DescribeImagesInput{RepositoryName: aws.String("app"), MaxResults: aws.Int32(1)})
	if err != nil || imgs.NextToken == nil {
		t.Fatalf("DescribeImages = %v, %v; want a nextToken", imgs, err)
	}
	ids, err := c.ListImages(ctx, &ecr.ListImagesInput{RepositoryName: aws.String("app"), MaxResults: aws.Int32(1)})
	if err != nil || ids.NextToken == nil {
		t.Fatalf("ListImages = %v, %v; want a nextToken", ids, err)
	}
	otherRepos, err := oc.DescribeRepositories(ctx, &ecr.DescribeRepositoriesInput{MaxResults: aws.Int32(1)})
	if err != nil || otherRepos.NextToken == nil {
		t.Fatalf("DescribeRepositories (other registry) = %v, %v; want a nextToken", otherRepos, err)
	}
	tampered := []byte(aws.ToString(repos.NextToken))
	tampered[0] ^= 1

	tests := []struct {
		name string
		call func() error
	}{
		{"DescribeRepositories maxResults 0", func() error {
			_, err := c.DescribeRepositories(ctx, &ecr.DescribeRepositoriesInput{MaxResults: aws.Int32(0)})
			return err
		}},
		{"DescribeRepositories maxResults 1001", func() error {
			_, err := c.DescribeRepositories(ctx, &ecr.DescribeRepositoriesInput{MaxResults: aws.Int32(1001)})
			return err
		}},
		{"DescribeRepositories repositoryNames with maxResults", func() error {
			_, err := c.DescribeRepositories(ctx, &ecr.DescribeRepositoriesInput{RepositoryNames: []string{"app"}, MaxResults: aws.Int32(10)})
			return err
		}},
		{"DescribeRepositories repositoryNames with nextToken", func() error {
			_, err := c.DescribeRepositories(ctx, &ecr.DescribeRepositoriesInput{RepositoryNames: []string{"app"}, NextToken: repos.NextToken})
			return err
		}},
		{"DescribeRepositories 101 repositoryNames", func() error {
			names := make([]string, 101)
			for i := range names {
				names[i] = fmt.Sprintf("app%d", i)
			}
			_, err := c.DescribeRepositories(ctx, &ecr.DescribeRepositoriesInput{RepositoryNames: names})
			return err
		}},
		{"DescribeRepositories garbage token", func() error {
			_, err := c.DescribeRepositories(ctx, &ecr.DescribeRepositoriesInput{NextToken: aws.String("not-a-token")})
			return err
		}},
		{"DescribeRepositories tampered token", func() error {
			_, err := c.DescribeRepositories(ctx, &ecr.DescribeRepositoriesInput{NextToken: aws.String(string(tampered))})
			return err
		}},
		{"DescribeRepositories token of another registry", func() error {
			_, err := c.DescribeRepositories(ctx, &ecr.DescribeRepositoriesInput{NextToken: otherRepos.NextToken})
			return err
		}},
		{"DescribeRepositories token of DescribeImages", func() error {
			_, err := c.DescribeRepositories(ctx, &ecr.DescribeRepositoriesInput{NextToken: imgs.NextToken})
			return err
		}},
		{"DescribeImages maxResults 0", func() error {
			_, err := c.DescribeImages(ctx, &ecr.DescribeImagesInput{RepositoryName: aws.String("app"), MaxResults: aws.Int32(0)})
			return err
		}},
		{"DescribeImages maxResults 1001", func() error {
			_, err := c.DescribeImages(ctx, &ecr.DescribeImagesInput{RepositoryName: aws.String("app"), MaxResults: aws.Int32(1001)})
			return err
		}},
		{"DescribeImages imageIds with maxResults", func() error {
			_, err := c.DescribeImages(ctx, &ecr.DescribeImagesInput{RepositoryName: aws.String("app"), MaxResults: aws.Int32(1),
				ImageIds: []types.ImageIdentifier{{ImageTag: aws.String("v1")}}})
			return err
		}},
		{"DescribeImages token of ListImages", func() error {
			_, err := c.DescribeImages(ctx, &ecr.DescribeImagesInput{RepositoryName: aws.String("app"), NextToken: ids.NextToken})
			return err
		}},
		{"DescribeImages token of another repository", func() error {
			_, err := c.DescribeImages(ctx, &ecr.DescribeImagesInput{RepositoryName: aws.String("app2"), NextToken: imgs.NextToken})
			return err
		}},
		{"DescribeImages token with another filter", func() error {
			_, err := c.DescribeImages(ctx, &ecr.DescribeImagesInput{RepositoryName: aws.String("app"), NextToken: imgs.NextToken,
				Filter: &types.DescribeImagesFilter{TagStatus: types.TagStatusTagged}})
			return err
		}},
		{"DescribeImages bad tagStatus", func() error {
			_, err := c.DescribeImages(ctx, &ecr.DescribeImagesInput{RepositoryName: aws.String("app"),
				Filter: &types.DescribeImagesFilter{TagStatus: "SOMETIMES"}})
			return err
		}},
		{"DescribeImages bad imageStatus", func() error {
			_, err := c.DescribeImages(ctx, &ecr.DescribeImagesInput{RepositoryName: aws.String("app"),
				Filter: &types.DescribeImagesFilter{ImageStatus: "FROZEN"}})
			return err
		}},
		{"ListImages maxResults 0", func() error {
			_, err := c.ListImages(ctx, &ecr.ListImagesInput{RepositoryName: aws.String("app"), MaxResults: aws.Int32(0)})
			return err
		}},
		{"ListImages maxResults 1001", func() error {
			_, err := c.ListImages(ctx, &ecr.ListImagesInput{RepositoryName: aws.String("app"), MaxResults: aws.Int32(1001)})
			return err
		}},
		{"ListImages token of DescribeImages", func() error {
			_, err := c.ListImages(ctx, &ecr.ListImagesInput{RepositoryName: aws.String("app"), NextToken: imgs.NextToken})
			return err
		}},
		{"ListImages bad tagStatus", func() error {
			_, err := c.ListImages(ctx, &ecr.ListImagesInput{RepositoryName: aws.String("app"),
				Filter: &types.ListImagesFilter{TagStatus: "SOMETIMES"}})
			return err
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.call()
			if err == nil {
				t.Fatal("call succeeded, want InvalidParameterException")
			}
			var ip *types.InvalidParameterException
			if code, status := apiErr(t, err); !errors.As(err, &ip) || status != http.StatusBadRequest {
				t.Errorf("error = %s (HTTP %d), want InvalidParameterException (HTTP 400)", code, status)
			}
		})
	}

	// The tokens were good where they belong, until they go stale.
	if _, err := c.DescribeImages(ctx, &ecr.DescribeImagesInput{RepositoryName: aws.String("app"), NextToken: imgs.NextToken}); err != nil {
		t.Errorf("DescribeImages with its own token: %v", err)
	}
	mu.Lock()
	now = now.Add(24*time.Hour + time.Minute)
	mu.Unlock()
	_, err = c.DescribeImages(ctx, &ecr.DescribeImagesInput{RepositoryName: aws.String("app"), NextToken: imgs.NextToken})
	if code, _ := apiErr(t, err); code != "InvalidParameterException" {
		t.Errorf("DescribeImages with a day-old token = %s, want InvalidParameterException", code)
	}
}

func TestListImages(t *testing.T) {
	t.Parallel()
	em := newEmulator(t)
	reg := newRegistry(t, em, account, region)
	c := ecrClient(t, reg.ECREndpoint(), region)
	createRepo(t, c, "app", "")
	d1, _, _ := pushed(t, c, reg.Host(), "app", "v1")
	d2, raw2, mt := pushed(t, c, reg.Host(), "app", "v2")
	// A second tag on v2's image, and v1's tag moved to it: v1's image is
	// left untagged.
	for _, tag := range []string{"latest", "v1"} {
		if _, err := c.PutImage(t.Context(), &ecr.PutImageInput{RepositoryName: aws.String("app"),
			ImageManifest: aws.String(string(raw2)), ImageManifestMediaType: aws.String(mt), ImageTag: aws.String(tag)}); err != nil {
			t.Fatalf("PutImage %s: %v", tag, err)
		}
	}
	type id struct{ digest, tag string }
	list := func(filter *types.ListImagesFilter, page int32) []id {
		t.Helper()
		var out []id
		p := ecr.NewListImagesPaginator(c, &ecr.ListImagesInput{RepositoryName: aws.String("app"), Filter: filter, MaxResults: aws.Int32(page)})
		for p.HasMorePages() {
			o, err := p.NextPage(t.Context())
			if err != nil {
				t.Fatalf("ListImages: %v", err)
			}
			for _, i := range o.ImageIds {
				out = append(out, id{aws.ToString(i.ImageDigest), aws.ToString(i.ImageTag)})
			}
		}
		return out
	}
	tests := []struct {
		name   string
		filter *types.ListImagesFilter
		want   []id
	}{
		{"any", nil, []id{{d1, ""}, {d2, "latest"}, {d2, "v1"}, {d2, "v2"}}},
		{"tagged", &types.ListImagesFilter{TagStatus: types.TagStatusTagged}, []id{{d2, "latest"}, {d2, "v1"}, {d2, "v2"}}},
		{"untagged", &types.ListImagesFilter{TagStatus: types.TagStatusUntagged}, []id{{d1, ""}}},
		{"archived", &types.ListImagesFilter{ImageStatus: types.ImageStatusFilterArchived}, nil},
	}
	for _, tt := range tests {
		for _, page := range []int32{1, 1000} {
			t.Run(fmt.Sprintf("%s/page %d", tt.name, page), func(t *testing.T) {
				if got := list(tt.filter, page); !slices.Equal(got, tt.want) {
					t.Errorf("ListImages = %v, want %v", got, tt.want)
				}
			})
		}
	}
	_, err := c.ListImages(t.Context(), &ecr.ListImagesInput{RepositoryName: aws.String("nope")})
	if code, _ := apiErr(t, err); code != "RepositoryNotFoundException" {
		t.Errorf("ListImages of a missing repository = %s, want RepositoryNotFoundException", code)
	}
	calls := ecrCalls(em, "ListImages")
	if len(calls) == 0 || calls[0].Repository != "app" || calls[0].Status != http.StatusOK ||
		calls[len(calls)-1].ErrorCode != "RepositoryNotFoundException" {
		t.Errorf("ListImages calls = %+v, want them in the request log with their repository", calls)
	}
}

// TestListTenThousandTags pages through a repository with 10,000 tags on
// 5,000 images (and one untagged image) with the SDK's paginators, at ECR's
// default page and its largest.
func TestListTenThousandTags(t *testing.T) {
	t.Parallel()
	em := newEmulator(t)
	reg := newRegistry(t, em, account, region)
	c := ecrClient(t, reg.ECREndpoint(), region)
	createRepo(t, c, "big", "")
	base := randomImage(t)
	seedBlobs(t, reg.Host(), "big", base, login(t, c))
	raw, _ := base.RawManifest()
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatalf("manifest: %v", err)
	}
	const images, tagsPer = 5000, 2
	mt := string(ggcrtypes.DockerManifestSchema2)
	wantTags := map[string]string{} // tag -> digest
	manifest := func(i int) []byte {
		m["annotations"] = map[string]string{"i": fmt.Sprint(i)}
		b, _ := json.Marshal(m)
		return b
	}
	for i := range images {
		body := manifest(i)
		for j := range tagsPer {
			tag := fmt.Sprintf("t%05d-%d", i, j)
			d, err := reg.PushManifestForTest("big", tag, mt, body)
			if err != nil {
				t.Fatalf("push %s: %v", tag, err)
			}
			wantTags[tag] = d
		}
	}
	untagged, err := reg.PushManifestForTest("big", manifestDigest(string(manifest(-1))), mt, manifest(-1))
	if err != nil {
		t.Fatalf("push untagged: %v", err)
	}

	for _, page := range []int32{0, 1000} { // 0: no maxResults, ECR's page of 100
		t.Run(fmt.Sprintf("DescribeImages page %d", page), func(t *testing.T) {
			in := &ecr.DescribeImagesInput{RepositoryName: aws.String("big")}
			if page > 0 {
				in.MaxResults = aws.Int32(page)
			}
			seen, digests := map[string]int{}, map[string]int{}
			p := ecr.NewDescribeImagesPaginator(c, in)
			for p.HasMorePages() {
				out, err := p.NextPage(t.Context())
				if err != nil {
					t.Fatalf("DescribeImages: %v", err)
				}
				if max := int(page); max == 0 && len(out.ImageDetails) > 100 || max > 0 && len(out.ImageDetails) > max {
					t.Fatalf("a page of %d images, more than asked", len(out.ImageDetails))
				}
				for _, d := range out.ImageDetails {
					digests[aws.ToString(d.ImageDigest)]++
					for _, tag := range d.ImageTags {
						seen[tag]++
						if wantTags[tag] != aws.ToString(d.ImageDigest) {
							t.Errorf("tag %s on %s, want on %s", tag, aws.ToString(d.ImageDigest), wantTags[tag])
						}
					}
				}
			}
			checkOnce(t, seen, wantTags)
			if len(digests) != images+1 || digests[untagged] != 1 {
				t.Errorf("listed %d images (untagged %d times), want %d and the untagged one once", len(digests), digests[untagged], images+1)
			}
			for d, n := range digests {
				if n != 1 {
					t.Errorf("image %s listed %d times", d, n)
				}
			}
		})
		t.Run(fmt.Sprintf("ListImages page %d", page), func(t *testing.T) {
			in := &ecr.ListImagesInput{RepositoryName: aws.String("big")}
			if page > 0 {
				in.MaxResults = aws.Int32(page)
			}
			seen := map[string]int{}
			untaggedSeen := 0
			p := ecr.NewListImagesPaginator(c, in)
			for p.HasMorePages() {
				out, err := p.NextPage(t.Context())
				if err != nil {
					t.Fatalf("ListImages: %v", err)
				}
				for _, id := range out.ImageIds {
					tag := aws.ToString(id.ImageTag)
					if tag == "" {
						if aws.ToString(id.ImageDigest) == untagged {
							untaggedSeen++
						} else {
							t.Errorf("tagged image %s listed without a tag", aws.ToString(id.ImageDigest))
						}
						continue
					}
					seen[tag]++
					if wantTags[tag] != aws.ToString(id.ImageDigest) {
						t.Errorf("tag %s on %s, want on %s", tag, aws.ToString(id.ImageDigest), wantTags[tag])
					}
				}
			}
			checkOnce(t, seen, wantTags)
			if untaggedSeen != 1 {
				t.Errorf("untagged image listed %d times, want once", untaggedSeen)
			}
		})
	}
}

// checkOnce checks that every wanted tag was seen exactly once, and no other.
func checkOnce(t *testing.T, seen map[string]int, want map[string]string) {
	t.Helper()
	bad := 0
	for tag := range want {
		if seen[tag] != 1 {
			bad++
			if bad <= 5 {
				t.Errorf("tag %s listed %d times, want once", tag, seen[tag])
			}
		}
	}
	for tag := range seen {
		if _, ok := want[tag]; !ok {
			t.Errorf("tag %s listed, never pushed", tag)
		}
	}
	if bad > 5 {
		t.Errorf("... and %d more tags not listed exactly once", bad-5)
	}
}
