package e2e

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsecr "github.com/aws/aws-sdk-go-v2/service/ecr"
	ecrtypes "github.com/aws/aws-sdk-go-v2/service/ecr/types"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/ferry-dev/ferry/test/imagegen"
)

// occupy creates repo in destination id with the given tag mutability and
// pushes another image there as tag.
func (h *harness) occupy(id, repo string, mutability ecrtypes.ImageTagMutability, tag string) {
	h.t.Helper()
	ctx := context.Background()
	if _, err := h.world.ECR(id).CreateRepository(ctx, &awsecr.CreateRepositoryInput{
		RepositoryName: aws.String(repo), ImageTagMutability: mutability}); err != nil {
		h.t.Fatal(err)
	}
	h.pushOther(id, repo, tag, 4242)
}

// pushOther pushes a small image, seeded by seed, as repo:tag in
// destination id (another image than the source's), and returns its
// digest.
func (h *harness) pushOther(id, repo, tag string, seed uint64) string {
	h.t.Helper()
	ctx := context.Background()
	host, auth, err := h.world.Login(ctx, id)
	if err != nil {
		h.t.Fatal(err)
	}
	ref, err := name.NewTag(host + "/" + repo + ":" + tag)
	if err != nil {
		h.t.Fatal(err)
	}
	img, err := imagegen.RandomImage(v1.Platform{OS: "linux", Architecture: "amd64"}, seed, 1, 4<<10)
	if err != nil {
		h.t.Fatal(err)
	}
	if err := remote.Write(ref, img, remote.WithContext(ctx), remote.WithAuth(auth)); err != nil {
		h.t.Fatal(err)
	}
	d, _ := img.Digest()
	return d.String()
}

// A destination repository that exists with immutable tags, whose tag
// already points at another image, fails before anything is uploaded to
// it and before an approver is asked; the advice given can work (a new
// tag, deleting the image there, mutable tags), not onExistingTag:
// overwrite alone. A mutable repository that keeps its tags (onExistingTag: fail)
// fails as early, with advice for the workflow, not for ferry copy.
func TestExistingTagAtAnotherDigestFailsBeforeWritingOrAsking(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOpts{})
	h.occupy(Production, Repository, ecrtypes.ImageTagMutabilityImmutable, "release-1.0")       // approval required
	h.occupy(Mirror, "mirror/"+Repository, ecrtypes.ImageTagMutabilityImmutable, "release-1.0") // onExistingTag: overwrite
	h.occupy(Staging, Repository, ecrtypes.ImageTagMutabilityMutable, "release-1.0")            // onExistingTag: fail
	h.world.Emulator.ResetCalls()
	ex := h.run(PushEvent(Repository, "release-1.0", h.rel.Index))
	if ex.Status != "FAILED" || !strings.Contains(ex.Cause, "3 of 3 destinations failed") {
		t.Fatalf("execution %s %q, want FAILED, 3 of 3 destinations failed", ex.Status, ex.Cause)
	}
	if n := len(h.runner.Messages()); n != 0 {
		t.Errorf("%d approval requests; an approval cannot help an immutable tag, so none should be sent", n)
	}
	st := destinationStatus(t, ex)
	for _, id := range Destinations {
		if st[id] != "failed" {
			t.Errorf("%s: %s, want failed", id, st[id])
		}
	}
	for _, c := range writes(h.world.Emulator.Calls()) {
		if c.Account != SourceAccount {
			t.Errorf("wrote to a destination that was to fail first: %s %s %s %s", c.Account, c.Service, c.Operation, c.Reference)
		}
	}
	reasons := map[string]string{}
	for _, ev := range ex.Events {
		if ev.Type == "StateExited" && ev.State != nil && ev.State.Name == "Summarize" {
			var s struct {
				Destinations []struct{ Destination, Error, Reason string }
			}
			if err := json.Unmarshal(ev.State.Output, &s); err != nil {
				t.Fatal(err)
			}
			for _, d := range s.Destinations {
				reasons[d.Destination] = d.Error + ": " + d.Reason
			}
		}
	}
	for _, id := range []string{Production, Mirror} {
		r := reasons[id]
		if !strings.Contains(r, "ConflictError") || !strings.Contains(r, "tags are immutable") || !strings.Contains(r, "new tag") ||
			!strings.Contains(r, "onExistingTag: overwrite cannot change that") || strings.Contains(r, "refusing to replace it") || strings.Contains(r, "--overwrite") {
			t.Errorf("%s: %q; want a ConflictError saying the tags are immutable, with advice that can work", id, r)
		}
	}
	if r := reasons[Staging]; !strings.Contains(r, "ConflictError") || !strings.Contains(r, "onExistingTag: overwrite") || strings.Contains(r, "--overwrite") {
		t.Errorf("%s: %q; want a ConflictError advising onExistingTag: overwrite in ferry.yaml (not ferry copy's --overwrite)", Staging, r)
	}
	// The image already there is untouched.
	for _, id := range Destinations {
		if c := h.world.CheckRelease(context.Background(), id, "release-1.0", h.rel); c[0].Err == nil {
			t.Errorf("%s: release-1.0 now points at the pushed image", id)
		}
	}
}
