package emulator_test

import (
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	"github.com/aws/aws-sdk-go-v2/service/ecr/types"
	"github.com/google/go-containerregistry/pkg/authn"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/ferry-dev/ferry/internal/emulator"
)

// delID is an imageId of a BatchDeleteImage table: digest is the name of an
// image of the case ("X", "Y") or a literal digest.
type delID struct{ tag, digest string }

func TestBatchDeleteImage(t *testing.T) {
	t.Parallel()
	em := newEmulator(t)
	reg := newRegistry(t, em, account, region)
	c := ecrClient(t, reg.ECREndpoint(), region)
	auth := login(t, c)
	absent := "sha256:" + strings.Repeat("0", 64)

	// Every case starts from X tagged v1 and v2 and Y tagged w1.
	start := map[string][]string{"X": {"v1", "v2"}, "Y": {"w1"}}
	tests := []struct {
		name         string
		ids          []delID
		wantDeleted  []delID
		wantFailures []string // "<code> <tag>@<digest>" as echoed
		want         map[string][]string
	}{
		{"a tag of two", []delID{{tag: "v1"}}, []delID{{"v1", "X"}}, nil,
			map[string][]string{"X": {"v2"}, "Y": {"w1"}}},
		{"the last tag deletes the image", []delID{{tag: "w1"}}, []delID{{"w1", "Y"}}, nil,
			map[string][]string{"X": {"v1", "v2"}}},
		{"a digest deletes the image and its tags", []delID{{digest: "X"}}, []delID{{"v1", "X"}, {"v2", "X"}}, nil,
			map[string][]string{"Y": {"w1"}}},
		{"a tag and its digest remove the tag", []delID{{"v1", "X"}}, []delID{{"v1", "X"}}, nil,
			map[string][]string{"X": {"v2"}, "Y": {"w1"}}},
		{"a tag and another image's digest", []delID{{"v1", "Y"}}, nil, []string{"ImageTagDoesNotMatchDigest v1@Y"}, start},
		{"a missing tag", []delID{{tag: "v9"}}, nil, []string{"ImageNotFound v9@"}, start},
		{"a missing digest", []delID{{digest: absent}}, nil, []string{"ImageNotFound @" + absent}, start},
		{"a missing tag with a digest", []delID{{"v9", "X"}}, nil, []string{"ImageNotFound v9@X"}, start},
		{"an invalid digest", []delID{{digest: "sha256:xyz"}}, nil, []string{"InvalidImageDigest @sha256:xyz"}, start},
		{"an invalid tag", []delID{{tag: "no spaces"}}, nil, []string{"InvalidImageTag no spaces@"}, start},
		{"neither tag nor digest", []delID{{}}, nil, []string{"MissingDigestAndTag @"}, start},
		{"several, in order", []delID{{tag: "v1"}, {tag: "v9"}, {digest: "Y"}}, []delID{{"v1", "X"}, {"w1", "Y"}},
			[]string{"ImageNotFound v9@"}, map[string][]string{"X": {"v2"}}},
		{"the same tag twice", []delID{{tag: "v2"}, {tag: "v2"}}, []delID{{"v2", "X"}}, []string{"ImageNotFound v2@"},
			map[string][]string{"X": {"v1"}, "Y": {"w1"}}},
		{"both tags of an image", []delID{{tag: "v1"}, {tag: "v2"}}, []delID{{"v1", "X"}, {"v2", "X"}}, nil,
			map[string][]string{"Y": {"w1"}}},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			repo := fmt.Sprintf("case%d", i)
			createRepo(t, c, repo, "")
			digests := map[string]string{}
			for _, name := range []string{"X", "Y"} {
				img := randomImage(t)
				for _, tag := range start[name] {
					if err := push(t, reg.Host(), repo, tag, img, auth); err != nil {
						t.Fatalf("push %s:%s: %v", repo, tag, err)
					}
				}
				d, _ := img.Digest()
				digests[name] = d.String()
			}
			digestOf := func(s string) string {
				if d, ok := digests[s]; ok {
					return d
				}
				return s
			}
			var in []types.ImageIdentifier
			for _, id := range tt.ids {
				var ii types.ImageIdentifier
				if id.tag != "" {
					ii.ImageTag = aws.String(id.tag)
				}
				if id.digest != "" {
					ii.ImageDigest = aws.String(digestOf(id.digest))
				}
				in = append(in, ii)
			}
			out, err := c.BatchDeleteImage(t.Context(), &ecr.BatchDeleteImageInput{RepositoryName: aws.String(repo), ImageIds: in})
			if err != nil {
				t.Fatalf("BatchDeleteImage: %v", err)
			}
			var gotDeleted, wantDeleted []string
			for _, id := range out.ImageIds {
				gotDeleted = append(gotDeleted, aws.ToString(id.ImageTag)+"@"+aws.ToString(id.ImageDigest))
			}
			for _, id := range tt.wantDeleted {
				wantDeleted = append(wantDeleted, id.tag+"@"+digestOf(id.digest))
			}
			if !slices.Equal(gotDeleted, wantDeleted) {
				t.Errorf("imageIds = %v, want %v", gotDeleted, wantDeleted)
			}
			var gotFailures, wantFailures []string
			for _, f := range out.Failures {
				gotFailures = append(gotFailures, fmt.Sprintf("%s %s@%s", f.FailureCode,
					aws.ToString(f.ImageId.ImageTag), aws.ToString(f.ImageId.ImageDigest)))
				if aws.ToString(f.FailureReason) == "" {
					t.Errorf("failure %s has no reason", f.FailureCode)
				}
			}
			for _, f := range tt.wantFailures {
				code, id, _ := strings.Cut(f, " ")
				tag, d, _ := strings.Cut(id, "@")
				wantFailures = append(wantFailures, code+" "+tag+"@"+digestOf(d))
			}
			if !slices.Equal(gotFailures, wantFailures) {
				t.Errorf("failures = %v, want %v", gotFailures, wantFailures)
			}
			want := map[string][]string{}
			for name, tags := range tt.want {
				want[digests[name]] = tags
			}
			checkImages(t, c, reg.Host(), repo, auth, want, []string{"v1", "v2", "w1"}, slices.Collect(maps.Values(digests)))
		})
	}
}

// checkImages checks that DescribeImages, ListImages, BatchGetImage and the
// data plane (GET and HEAD of every tag and digest in refs, tags/list) all
// see exactly want (digest -> sorted tags) in repo.
func checkImages(t *testing.T, c *ecr.Client, host, repo string, auth authn.Authenticator,
	want map[string][]string, tags, digests []string) {
	t.Helper()
	ctx := t.Context()
	desc, err := c.DescribeImages(ctx, &ecr.DescribeImagesInput{RepositoryName: aws.String(repo),
		Filter: &types.DescribeImagesFilter{ImageStatus: types.ImageStatusFilterAny}})
	if err != nil {
		t.Fatalf("DescribeImages: %v", err)
	}
	described := map[string][]string{}
	for _, d := range desc.ImageDetails {
		described[aws.ToString(d.ImageDigest)] = d.ImageTags
	}
	if !maps.EqualFunc(described, want, func(a, b []string) bool { return slices.Equal(a, b) }) {
		t.Errorf("DescribeImages = %v, want %v", described, want)
	}
	list, err := c.ListImages(ctx, &ecr.ListImagesInput{RepositoryName: aws.String(repo),
		Filter: &types.ListImagesFilter{ImageStatus: types.ImageStatusFilterAny}})
	if err != nil {
		t.Fatalf("ListImages: %v", err)
	}
	listed := map[string][]string{}
	for _, id := range list.ImageIds {
		d := aws.ToString(id.ImageDigest)
		if _, ok := listed[d]; !ok {
			listed[d] = nil
		}
		if tag := aws.ToString(id.ImageTag); tag != "" {
			listed[d] = append(listed[d], tag)
		}
	}
	for d := range listed {
		slices.Sort(listed[d])
	}
	if !maps.EqualFunc(listed, want, func(a, b []string) bool { return slices.Equal(a, b) }) {
		t.Errorf("ListImages = %v, want %v", listed, want)
	}

	present := map[string]bool{}
	var allTags []string
	for d, ts := range want {
		present[d] = true
		for _, tag := range ts {
			present[tag] = true
			allTags = append(allTags, tag)
		}
	}
	slices.Sort(allTags)
	for _, ref := range append(slices.Clone(tags), digests...) {
		id := types.ImageIdentifier{ImageTag: aws.String(ref)}
		if strings.HasPrefix(ref, "sha256:") {
			id = types.ImageIdentifier{ImageDigest: aws.String(ref)}
		}
		got, err := c.BatchGetImage(ctx, &ecr.BatchGetImageInput{RepositoryName: aws.String(repo), ImageIds: []types.ImageIdentifier{id}})
		if err != nil {
			t.Fatalf("BatchGetImage %s: %v", ref, err)
		}
		if present[ref] != (len(got.Images) == 1) || !present[ref] && (len(got.Failures) != 1 || got.Failures[0].FailureCode != types.ImageFailureCodeImageNotFound) {
			t.Errorf("BatchGetImage %s = %d images, failures %+v; want present %v", ref, len(got.Images), got.Failures, present[ref])
		}
		for _, method := range []string{http.MethodGet, http.MethodHead} {
			status, body := manifestRequest(t, method, host, repo, ref, auth)
			switch {
			case present[ref] && status != http.StatusOK:
				t.Errorf("%s manifest %s = %d, want 200", method, ref, status)
			case !present[ref] && status != http.StatusNotFound:
				t.Errorf("%s manifest %s = %d, want 404", method, ref, status)
			case !present[ref] && method == http.MethodGet && !strings.Contains(body, emulator.CodeManifestUnknown):
				t.Errorf("GET manifest %s = %s, want %s", ref, body, emulator.CodeManifestUnknown)
			}
		}
	}
	req := newRequest(t, http.MethodGet, "http://"+host+"/v2/"+repo+"/tags/list", nil)
	b := auth.(*authn.Basic)
	req.SetBasicAuth(b.Username, b.Password)
	status, _, body := rawDo(t, req)
	var tl struct {
		Tags []string `json:"tags"`
	}
	if status != http.StatusOK || json.Unmarshal([]byte(body), &tl) != nil || !slices.Equal(tl.Tags, allTags) {
		t.Errorf("tags/list = %d %s, want tags %v", status, body, allTags)
	}
}

func TestBatchDeleteImageErrors(t *testing.T) {
	t.Parallel()
	em := newEmulator(t)
	reg := newRegistry(t, em, account, region)
	c := ecrClient(t, reg.ECREndpoint(), region)
	createRepo(t, c, "app", "")
	tooMany := make([]types.ImageIdentifier, 101)
	for i := range tooMany {
		tooMany[i] = types.ImageIdentifier{ImageTag: aws.String(fmt.Sprint("t", i))}
	}
	one := []types.ImageIdentifier{{ImageTag: aws.String("v1")}}
	tests := []struct {
		name     string
		in       ecr.BatchDeleteImageInput
		wantCode string
		wantMsg  string
	}{
		{"missing repository", ecr.BatchDeleteImageInput{RepositoryName: aws.String("nope"), ImageIds: one},
			"RepositoryNotFoundException", "The repository with name 'nope' does not exist in the registry with id '111122223333'"},
		{"no imageIds", ecr.BatchDeleteImageInput{RepositoryName: aws.String("app"), ImageIds: []types.ImageIdentifier{}},
			"InvalidParameterException", ""},
		{"101 imageIds", ecr.BatchDeleteImageInput{RepositoryName: aws.String("app"), ImageIds: tooMany},
			"InvalidParameterException", ""},
		{"another account", ecr.BatchDeleteImageInput{RegistryId: aws.String(account2), RepositoryName: aws.String("app"), ImageIds: one},
			"AccessDeniedException", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := c.BatchDeleteImage(t.Context(), &tt.in)
			if err == nil {
				t.Fatal("BatchDeleteImage succeeded")
			}
			code, status := apiErr(t, err)
			if code != tt.wantCode || status != http.StatusBadRequest {
				t.Errorf("error = %s (HTTP %d), want %s (HTTP 400)", code, status, tt.wantCode)
			}
			if _, msg := errorMessage(err); tt.wantMsg != "" && msg != tt.wantMsg {
				t.Errorf("message = %q, want %q", msg, tt.wantMsg)
			}
		})
	}
}

// Tag immutability only stops a tag from being overwritten: the tag can be
// deleted, and then pushed again to another image.
func TestBatchDeleteImageImmutable(t *testing.T) {
	t.Parallel()
	em := newEmulator(t)
	reg := newRegistry(t, em, account, region)
	c := ecrClient(t, reg.ECREndpoint(), region)
	createRepo(t, c, "frozen", "IMMUTABLE")
	auth := login(t, c)
	first, _, _ := pushed(t, c, reg.Host(), "frozen", "v1")
	second := randomImage(t)
	if err := push(t, reg.Host(), "frozen", "v1", second, auth); err == nil {
		t.Fatal("overwriting an immutable tag succeeded; the test needs it refused")
	}
	out, err := c.BatchDeleteImage(t.Context(), &ecr.BatchDeleteImageInput{RepositoryName: aws.String("frozen"),
		ImageIds: []types.ImageIdentifier{{ImageTag: aws.String("v1")}}})
	if err != nil {
		t.Fatalf("BatchDeleteImage: %v", err)
	}
	if len(out.Failures) != 0 || len(out.ImageIds) != 1 || aws.ToString(out.ImageIds[0].ImageDigest) != first {
		t.Fatalf("BatchDeleteImage = %+v, failures %+v; want v1 (%s) deleted", out.ImageIds, out.Failures, first)
	}
	if err := push(t, reg.Host(), "frozen", "v1", second, auth); err != nil {
		t.Fatalf("push v1 after deleting it: %v", err)
	}
	d, _ := second.Digest()
	checkImages(t, c, reg.Host(), "frozen", auth, map[string][]string{d.String(): {"v1"}}, []string{"v1"}, []string{first, d.String()})
}

// A deleted image's blobs stay, and the image can be pushed again.
func TestBatchDeleteImageKeepsBlobs(t *testing.T) {
	t.Parallel()
	em := newEmulator(t)
	reg := newRegistry(t, em, account, region)
	c := ecrClient(t, reg.ECREndpoint(), region)
	createRepo(t, c, "app", "")
	auth := login(t, c)
	img := randomImage(t)
	if err := push(t, reg.Host(), "app", "v1", img, auth); err != nil {
		t.Fatalf("push: %v", err)
	}
	d, _ := img.Digest()
	if _, err := c.BatchDeleteImage(t.Context(), &ecr.BatchDeleteImageInput{RepositoryName: aws.String("app"),
		ImageIds: []types.ImageIdentifier{{ImageDigest: aws.String(d.String())}}}); err != nil {
		t.Fatalf("BatchDeleteImage: %v", err)
	}
	checkImages(t, c, reg.Host(), "app", auth, map[string][]string{}, []string{"v1"}, []string{d.String()})
	layers, _ := img.Layers()
	ld, _ := layers[0].Digest()
	cfg, _ := img.ConfigName()
	for _, blob := range []v1.Hash{ld, cfg} {
		if _, err := remote.Layer(repoRef(t, reg.Host(), "app").Digest(blob.String()), remoteOpts(t.Context(), auth)...); err != nil {
			t.Errorf("blob %s after deleting its image: %v", blob, err)
		}
		req := newRequest(t, http.MethodHead, "http://"+reg.Host()+"/v2/app/blobs/"+blob.String(), nil)
		b := auth.(*authn.Basic)
		req.SetBasicAuth(b.Username, b.Password)
		if status, _, _ := rawDo(t, req); status != http.StatusOK {
			t.Errorf("HEAD blob %s after deleting its image = %d, want 200", blob, status)
		}
	}
	if err := push(t, reg.Host(), "app", "v2", img, auth); err != nil {
		t.Fatalf("push again: %v", err)
	}
	checkImages(t, c, reg.Host(), "app", auth, map[string][]string{d.String(): {"v2"}}, []string{"v1", "v2"}, []string{d.String()})
}

// An index's children cannot be deleted while it lists them; imageIds are
// handled in order.
func TestBatchDeleteImageIndex(t *testing.T) {
	t.Parallel()
	em := newEmulator(t)
	reg := newRegistry(t, em, account, region)
	c := ecrClient(t, reg.ECREndpoint(), region)
	createRepo(t, c, "multi", "")
	auth := login(t, c)
	idx, err := random.Index(256, 1, 2)
	if err != nil {
		t.Fatalf("random index: %v", err)
	}
	if err := remote.WriteIndex(repoRef(t, reg.Host(), "multi").Tag("v1"), idx, remoteOpts(t.Context(), auth)...); err != nil {
		t.Fatalf("WriteIndex: %v", err)
	}
	id, _ := idx.Digest()
	im, _ := idx.IndexManifest()
	child0, child1 := im.Manifests[0].Digest.String(), im.Manifests[1].Digest.String()
	// child1 also has a tag of its own.
	childImg, err := idx.Image(im.Manifests[1].Digest)
	if err != nil {
		t.Fatalf("child image: %v", err)
	}
	if err := push(t, reg.Host(), "multi", "c1", childImg, auth); err != nil {
		t.Fatalf("tag child: %v", err)
	}
	del := func(ids ...types.ImageIdentifier) ([]string, []string) {
		t.Helper()
		out, err := c.BatchDeleteImage(t.Context(), &ecr.BatchDeleteImageInput{RepositoryName: aws.String("multi"), ImageIds: ids})
		if err != nil {
			t.Fatalf("BatchDeleteImage: %v", err)
		}
		var deleted, failed []string
		for _, i := range out.ImageIds {
			deleted = append(deleted, aws.ToString(i.ImageDigest))
		}
		for _, f := range out.Failures {
			failed = append(failed, string(f.FailureCode)+" "+aws.ToString(f.ImageId.ImageDigest)+aws.ToString(f.ImageId.ImageTag))
		}
		return deleted, failed
	}
	byDigest := func(d string) types.ImageIdentifier { return types.ImageIdentifier{ImageDigest: aws.String(d)} }

	deleted, failed := del(byDigest(child0), types.ImageIdentifier{ImageTag: aws.String("c1")})
	if len(deleted) != 0 || !slices.Equal(failed, []string{"ImageReferencedByManifestList " + child0, "ImageReferencedByManifestList c1"}) {
		t.Errorf("deleting children = %v, failures %v; want both ImageReferencedByManifestList", deleted, failed)
	}
	checkImages(t, c, reg.Host(), "multi", auth, map[string][]string{id.String(): {"v1"}, child0: nil, child1: {"c1"}},
		[]string{"v1", "c1"}, []string{id.String(), child0, child1})

	// Listed before the index, a child fails; the index itself goes.
	deleted, failed = del(byDigest(child0), byDigest(id.String()))
	if !slices.Equal(deleted, []string{id.String()}) || !slices.Equal(failed, []string{"ImageReferencedByManifestList " + child0}) {
		t.Errorf("deleting child then index = %v, failures %v; want the index deleted and the child refused", deleted, failed)
	}
	// With the index gone, its children can go.
	deleted, failed = del(byDigest(child0), types.ImageIdentifier{ImageTag: aws.String("c1")})
	if !slices.Equal(deleted, []string{child0, child1}) || len(failed) != 0 {
		t.Errorf("deleting children after the index = %v, failures %v; want both deleted", deleted, failed)
	}
	checkImages(t, c, reg.Host(), "multi", auth, map[string][]string{}, []string{"v1", "c1"}, []string{id.String(), child0, child1})
}

// The referrers API stops listing a deleted referrer.
func TestBatchDeleteImageReferrer(t *testing.T) {
	t.Parallel()
	em := newEmulator(t)
	reg := newRegistry(t, em, account, region)
	c := ecrClient(t, reg.ECREndpoint(), region)
	createRepo(t, c, "app", "")
	auth := login(t, c)
	desc, sigDigest := pushReferred(t, reg.Host(), "app", auth)
	referrers := func() []v1.Hash {
		t.Helper()
		req := newRequest(t, http.MethodGet, "http://"+reg.Host()+"/v2/app/referrers/"+desc.Digest.String(), nil)
		b := auth.(*authn.Basic)
		req.SetBasicAuth(b.Username, b.Password)
		status, _, body := rawDo(t, req)
		var idx v1.IndexManifest
		if status != http.StatusOK || json.Unmarshal([]byte(body), &idx) != nil {
			t.Fatalf("referrers = %d %s, want 200 and an index", status, body)
		}
		var out []v1.Hash
		for _, m := range idx.Manifests {
			out = append(out, m.Digest)
		}
		return out
	}
	if got := referrers(); !slices.Equal(got, []v1.Hash{sigDigest}) {
		t.Fatalf("referrers before deleting = %v, want [%s]", got, sigDigest)
	}
	if _, err := c.BatchDeleteImage(t.Context(), &ecr.BatchDeleteImageInput{RepositoryName: aws.String("app"),
		ImageIds: []types.ImageIdentifier{{ImageDigest: aws.String(sigDigest.String())}}}); err != nil {
		t.Fatalf("BatchDeleteImage: %v", err)
	}
	if got := referrers(); len(got) != 0 {
		t.Errorf("referrers after deleting the signature = %v, want none", got)
	}
}

// An archived image can be deleted.
func TestBatchDeleteImageArchived(t *testing.T) {
	t.Parallel()
	em := newEmulator(t)
	reg := newRegistry(t, em, account, region)
	c := ecrClient(t, reg.ECREndpoint(), region)
	createRepo(t, c, "app", "")
	d, _, _ := pushed(t, c, reg.Host(), "app", "v1")
	if err := reg.ArchiveImage("app", d); err != nil {
		t.Fatalf("ArchiveImage: %v", err)
	}
	out, err := c.BatchDeleteImage(t.Context(), &ecr.BatchDeleteImageInput{RepositoryName: aws.String("app"),
		ImageIds: []types.ImageIdentifier{{ImageTag: aws.String("v1")}}})
	if err != nil {
		t.Fatalf("BatchDeleteImage: %v", err)
	}
	if len(out.ImageIds) != 1 || len(out.Failures) != 0 {
		t.Errorf("BatchDeleteImage of an archived image = %+v, failures %+v; want it deleted", out.ImageIds, out.Failures)
	}
	checkImages(t, c, reg.Host(), "app", login(t, c), map[string][]string{}, []string{"v1"}, []string{d})
}

// BatchDeleteImage is in the request log, and an injected fault fires
// before anything is deleted.
func TestBatchDeleteImageCallsAndFaults(t *testing.T) {
	t.Parallel()
	em := newEmulator(t)
	reg := newRegistry(t, em, account, region)
	c := ecrClient(t, reg.ECREndpoint(), region)
	createRepo(t, c, "app", "")
	d, _, _ := pushed(t, c, reg.Host(), "app", "v1")
	em.ResetCalls()

	reg.InjectFault("BatchDeleteImage", 1, emulator.FaultThrottling())
	out, err := c.BatchDeleteImage(t.Context(), &ecr.BatchDeleteImageInput{RepositoryName: aws.String("app"),
		ImageIds: []types.ImageIdentifier{{ImageTag: aws.String("v1")}}})
	if err != nil {
		t.Fatalf("BatchDeleteImage after one throttle: %v", err)
	}
	// Had the throttled call deleted v1, the retry would report ImageNotFound.
	if len(out.ImageIds) != 1 || aws.ToString(out.ImageIds[0].ImageDigest) != d || len(out.Failures) != 0 {
		t.Errorf("BatchDeleteImage = %+v, failures %+v; want v1 deleted by the retry", out.ImageIds, out.Failures)
	}
	calls := ecrCalls(em, "BatchDeleteImage")
	if len(calls) != 2 || !calls[0].Injected || calls[0].ErrorCode != "ThrottlingException" || calls[0].Status != http.StatusBadRequest ||
		calls[1].Injected || calls[1].Status != http.StatusOK || calls[1].Repository != "app" ||
		calls[1].Account != account || calls[1].Region != region {
		t.Errorf("calls = %+v, want a throttled call then a successful one for app", calls)
	}

	reg.InjectFault("BatchDeleteImage", 3, emulator.FaultServerError())
	_, err = c.BatchDeleteImage(t.Context(), &ecr.BatchDeleteImageInput{RepositoryName: aws.String("app"),
		ImageIds: []types.ImageIdentifier{{ImageTag: aws.String("v1")}}})
	if code, status := apiErr(t, err); code != "ServerException" || status != http.StatusInternalServerError {
		t.Errorf("BatchDeleteImage through 3 faults = %s (HTTP %d), want ServerException (HTTP 500)", code, status)
	}
	_, err = c.BatchDeleteImage(t.Context(), &ecr.BatchDeleteImageInput{RepositoryName: aws.String("nope"),
		ImageIds: []types.ImageIdentifier{{ImageTag: aws.String("v1")}}})
	calls = ecrCalls(em, "BatchDeleteImage")
	if last := calls[len(calls)-1]; err == nil || last.Repository != "nope" || last.ErrorCode != "RepositoryNotFoundException" || last.Injected {
		t.Errorf("last call = %+v (error %v), want RepositoryNotFoundException for nope", last, err)
	}
}
