package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsecr "github.com/aws/aws-sdk-go-v2/service/ecr"
	ecrtypes "github.com/aws/aws-sdk-go-v2/service/ecr/types"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"

	"github.com/ferry-dev/ferry/internal/emulator"
	"github.com/ferry-dev/ferry/internal/runner"
)

// The push path follows the source after the push: referrers pushed later,
// and tags deleted there.

// subject is the release index as a descriptor, for referrers to point at.
func (h *harness) subject() *v1.Descriptor {
	h.t.Helper()
	ctx := context.Background()
	host, auth, err := h.world.Login(ctx, SourceAccount+"/"+SourceRegion)
	if err != nil {
		h.t.Fatal(err)
	}
	ref, err := name.NewDigest(host + "/" + Repository + "@" + h.rel.Index)
	if err != nil {
		h.t.Fatal(err)
	}
	d, err := remote.Head(ref, remote.WithContext(ctx), remote.WithAuth(auth))
	if err != nil {
		h.t.Fatal(err)
	}
	return &v1.Descriptor{MediaType: d.MediaType, Digest: d.Digest, Size: d.Size}
}

// pushReferrer pushes a referrer of the release to the source: under tag,
// or by digest with the release as its subject when tag is "".
func (h *harness) pushReferrer(tag, mediaType, content string) string {
	h.t.Helper()
	var subject *v1.Descriptor
	if tag == "" {
		subject = h.subject()
	}
	d, err := h.world.PushReferrer(context.Background(), tag, mediaType, []byte(content), subject)
	if err != nil {
		h.t.Fatal(err)
	}
	return d
}

// manifestAt is the digest ref (a tag or digest) resolves to in
// destination id, "" when it is not there.
func (h *harness) manifestAt(id, ref string) string {
	h.t.Helper()
	ctx := context.Background()
	host, auth, err := h.world.Login(ctx, id)
	if err != nil {
		h.t.Fatal(err)
	}
	sep := ":"
	if strings.HasPrefix(ref, "sha256:") {
		sep = "@"
	}
	r, err := name.ParseReference(host + "/" + DestinationRepository(id) + sep + ref)
	if err != nil {
		h.t.Fatal(err)
	}
	d, err := remote.Head(r, remote.WithContext(ctx), remote.WithAuth(auth))
	var te *transport.Error
	if errors.As(err, &te) && te.StatusCode == http.StatusNotFound {
		return ""
	}
	if err != nil {
		h.t.Fatal(err)
	}
	return d.Digest.String()
}

// outcomes is each destination's status and reason in a run's summary.
func outcomes(t *testing.T, ex *runner.Execution) map[string][2]string {
	t.Helper()
	var s struct {
		Destinations []struct{ Destination, Status, Reason string }
	}
	if err := json.Unmarshal(ex.Output, &s); err != nil {
		t.Fatalf("summary %s: %v", ex.Output, err)
	}
	m := map[string][2]string{}
	for _, d := range s.Destinations {
		m[d.Destination] = [2]string{d.Status, d.Reason}
	}
	return m
}

// tagWrites counts the manifest writes under tag to any destination.
func (h *harness) tagWrites(tag string) int {
	n := 0
	for _, c := range h.world.Emulator.Calls() {
		if c.Operation == emulator.TargetManifestPush && c.Reference == tag && c.Account != SourceAccount {
			n++
		}
	}
	return n
}

// A signature and an SBOM attached after the image was replicated follow
// it to every destination, production included, without asking for an
// approval again and without writing the image's tag.
func TestLateReferrersFollowTheirSubject(t *testing.T) {
	t.Parallel()
	var approvals atomic.Int32
	h := newHarness(t, harnessOpts{approver: func(ctx context.Context, m runner.ApprovalMessage) error {
		approvals.Add(1)
		return runner.AutoApprove(ctx, m)
	}})
	ex := h.run(PushEvent(Repository, "release-1.0", h.rel.Index))
	if ex.Status != "SUCCEEDED" {
		t.Fatalf("push run %s: %s", ex.Status, ex.Cause)
	}
	// The push's summary has each destination's replication lag.
	var sum struct {
		Destinations []struct {
			Destination, Status string
			LagMs               int64
		}
	}
	_ = json.Unmarshal(ex.Output, &sum)
	for _, d := range sum.Destinations {
		if d.Status == "copied" && d.LagMs <= 0 {
			t.Errorf("%s: copied with no replication lag in the summary", d.Destination)
		}
	}
	asked := approvals.Load()
	writes := h.tagWrites("release-1.0")

	attTag := strings.Replace(h.rel.Index, ":", "-", 1) + ".att"
	var att, sbom string
	for _, push := range []func() []byte{
		func() []byte {
			att = h.pushReferrer(attTag, "application/vnd.dsse.envelope.v1+json", `{"payloadType":"application/vnd.in-toto+json"}`)
			return PushEvent(Repository, attTag, att)
		},
		func() []byte {
			sbom = h.pushReferrer("", "application/vnd.cyclonedx+json", `{"bomFormat":"CycloneDX"}`)
			return PushEvent(Repository, "", sbom)
		},
	} {
		ex := h.run(push())
		if ex.Status != "SUCCEEDED" {
			t.Fatalf("referrer run %s: %s %s", ex.Status, ex.Error, ex.Cause)
		}
		for _, id := range Destinations {
			if got := outcomes(t, ex)[id]; got[0] != "copied" {
				t.Errorf("%s: %v, want copied", id, got)
			}
		}
	}
	for _, id := range Destinations {
		if got := h.manifestAt(id, attTag); got != att {
			t.Errorf("%s: %s is at %q, want the attestation %s", id, attTag, got, att)
		}
		if got := h.manifestAt(id, sbom); got != sbom {
			t.Errorf("%s: the SBOM referrer %s is missing", id, sbom)
		}
	}
	if n := approvals.Load(); n != asked {
		t.Errorf("the referrer runs asked for %d approvals; a referrer adds to an image already approved", n-asked)
	}
	if n := h.tagWrites("release-1.0"); n != writes {
		t.Errorf("the referrer runs wrote release-1.0 %d times; they write referrers only", n-writes)
	}
}

// A referrer whose subject no destination holds yet is skipped at each,
// saying why, and creates nothing there.
func TestReferrerBeforeItsSubjectIsSkipped(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOpts{})
	sig := strings.Replace(h.rel.Index, ":", "-", 1) + ".sig"
	ex := h.run(PushEvent(Repository, sig, h.rel.Sig))
	if ex.Status != "SUCCEEDED" {
		t.Fatalf("referrer run %s: %s %s", ex.Status, ex.Error, ex.Cause)
	}
	for _, id := range Destinations {
		got := outcomes(t, ex)[id]
		if got[0] != "skipped" || !strings.Contains(got[1], "does not hold the subject") || !strings.Contains(got[1], "next sync") {
			t.Errorf("%s: %v, want skipped: the subject is not there yet, the next sync brings it", id, got)
		}
		_, err := h.world.ECR(id).DescribeRepositories(context.Background(), &awsecr.DescribeRepositoriesInput{RepositoryNames: []string{DestinationRepository(id)}})
		if !errors.As(err, new(*ecrtypes.RepositoryNotFoundException)) {
			t.Errorf("%s: the referrer run created %s (err %v)", id, DestinationRepository(id), err)
		}
	}
}

// Pushes that look like referrers to the coarse event pattern, but are
// not, or whose run another trigger starts, are skipped with the reason.
func TestPushesThatAreNotReferrers(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOpts{})
	ctx := context.Background()
	// A platform image of the index: untagged, no subject.
	idx, err := h.world.ECR(SourceAccount+"/"+SourceRegion).BatchGetImage(ctx, &awsecr.BatchGetImageInput{
		RepositoryName: aws.String(Repository), ImageIds: []ecrtypes.ImageIdentifier{{ImageDigest: aws.String(h.rel.Index)}}})
	if err != nil || len(idx.Images) != 1 {
		t.Fatalf("read the index: %v", err)
	}
	var index v1.IndexManifest
	if err := json.Unmarshal([]byte(aws.ToString(idx.Images[0].ImageManifest)), &index); err != nil {
		t.Fatal(err)
	}
	platform := index.Manifests[0].Digest.String()

	var fromRule map[string]any
	_ = json.Unmarshal(PushEvent(Repository, strings.Replace(h.rel.Index, ":", "-", 1)+".sig", h.rel.Sig), &fromRule)
	fromRule["ferryRule"] = "releases"
	ruleEvent, _ := json.Marshal(fromRule)

	for _, tt := range []struct {
		name   string
		input  []byte
		reason string
	}{
		{"platform image", PushEvent(Repository, "", platform), "no subject"},
		{"from a rule's trigger", ruleEvent, "the referrers trigger starts"},
	} {
		ex := h.run(tt.input)
		if ex.Status != "SUCCEEDED" || !strings.Contains(string(ex.Output), tt.reason) {
			t.Errorf("%s: %s %s, want skipped: %q", tt.name, ex.Status, ex.Output, tt.reason)
		}
	}
	h.assertHas(Staging, false)
}

// A signature pushed while the image is being copied does not fail the
// copy (Verify checks what the copy took along), and is not left behind:
// the copy looks for referrers again once the tag is written.
func TestReferrerPushedDuringTheCopy(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOpts{})
	attTag := strings.Replace(h.rel.Index, ":", "-", 1) + ".att"
	var pushed atomic.Bool
	var att atomic.Value
	done := make(chan struct{})
	h.world.Source.OnData(func(c emulator.Call) {
		if c.Operation != emulator.TargetBlobPull || c.Method != http.MethodGet {
			return
		}
		// The first blob any destination's copy reads from the source.
		if pushed.CompareAndSwap(false, true) {
			d, err := h.world.PushReferrer(context.Background(), attTag, "application/vnd.dsse.envelope.v1+json", []byte(`{"late":true}`), nil)
			if err != nil {
				t.Error(err)
			}
			att.Store(d)
			close(done)
			return
		}
		// Every other read waits for the signature to be in place: a
		// destination whose copy finished while it was being pushed would
		// rightly leave it to the signature's own run, checked below.
		select {
		case <-done:
		case <-time.After(10 * time.Second):
		}
	})
	ex := h.run(PushEvent(Repository, "release-1.0", h.rel.Index))
	h.world.Source.OnData(nil)
	if !pushed.Load() {
		t.Fatal("no blob was read from the source: the signature was never pushed mid-copy")
	}
	if ex.Status != "SUCCEEDED" {
		t.Fatalf("a referrer pushed mid-copy failed the run: %s %s", ex.Error, ex.Cause)
	}
	late := att.Load().(string)
	// The copy looked again once its tag was written: the signature is
	// there already.
	for _, id := range Destinations {
		if got := h.manifestAt(id, attTag); got != late {
			t.Errorf("%s: after the copy, %s is at %q, want %s", id, attTag, got, late)
		}
	}
	// And its own run finds it there.
	ex = h.run(PushEvent(Repository, attTag, late))
	if ex.Status != "SUCCEEDED" {
		t.Fatalf("referrer run %s: %s", ex.Status, ex.Cause)
	}
	for _, id := range Destinations {
		if got := h.manifestAt(id, attTag); got != late {
			t.Errorf("%s: %s is at %q, want %s", id, attTag, got, late)
		}
	}
}

// untagConfig is the scenario with staging and the mirror removing tags
// the source deletes; production keeps them (the default).
var untagConfig = strings.Replace(strings.Replace(Config,
	"        settings: {scanOnPush: true}\n", "        settings: {scanOnPush: true}\n        onSourceDelete: untag\n", 1),
	"        onExistingTag: overwrite\n", "        onExistingTag: overwrite\n        onSourceDelete: untag\n", 1)

// deleteInSource removes tag from the source and returns the event ECR
// sends for it.
func (h *harness) deleteInSource(tag, digest string) []byte {
	h.t.Helper()
	out, err := h.world.ECR(SourceAccount+"/"+SourceRegion).BatchDeleteImage(context.Background(), &awsecr.BatchDeleteImageInput{
		RepositoryName: aws.String(Repository), ImageIds: []ecrtypes.ImageIdentifier{{ImageTag: aws.String(tag)}}})
	if err != nil || len(out.Failures) > 0 {
		h.t.Fatalf("delete %s in the source: %v %v", tag, err, out)
	}
	return DeleteEvent(Repository, tag, digest)
}

// A tag deleted in the source is removed from the destinations that opted
// in, only while it is still at the deleted image; production keeps it
// (onSourceDelete: keep, the default), and says so.
func TestDeletedTagIsRemovedWhereOptedIn(t *testing.T) {
	t.Parallel()
	if strings.Count(untagConfig, "onSourceDelete: untag") != 2 {
		t.Fatalf("untagConfig does not opt two destinations in:\n%s", untagConfig)
	}
	h := newHarness(t, harnessOpts{config: untagConfig})
	if ex := h.run(PushEvent(Repository, "release-1.0", h.rel.Index)); ex.Status != "SUCCEEDED" {
		t.Fatalf("push run %s: %s", ex.Status, ex.Cause)
	}
	// The mirror's tag has moved on since (someone else's image): it is
	// not the deleted image's to remove.
	other := h.pushOther(Mirror, DestinationRepository(Mirror), "release-1.0", 777)

	ex := h.run(h.deleteInSource("release-1.0", h.rel.Index))
	if ex.Status != "SUCCEEDED" {
		t.Fatalf("delete run %s: %s %s", ex.Status, ex.Error, ex.Cause)
	}
	got := outcomes(t, ex)
	if got[Staging][0] != "untagged" {
		t.Errorf("staging: %v, want untagged", got[Staging])
	}
	if got[Mirror][0] != "skipped" || !strings.Contains(got[Mirror][1], "left as it is") {
		t.Errorf("mirror: %v, want skipped: its tag is at another image", got[Mirror])
	}
	if _, planned := got[Production]; planned {
		t.Errorf("production keeps deleted tags, but was planned: %v", got[Production])
	}
	if h.manifestAt(Staging, "release-1.0") != "" {
		t.Error("staging still has release-1.0")
	}
	if d := h.manifestAt(Mirror, "release-1.0"); d != other {
		t.Errorf("mirror's release-1.0 is at %q, want the other image %s left alone", d, other)
	}
	if d := h.manifestAt(Production, "release-1.0"); d != h.rel.Index {
		t.Errorf("production's release-1.0 is at %q, want it kept at %s", d, h.rel.Index)
	}
	// The plan says why production was left out.
	if plan := validateOutput(t, ex); !strings.Contains(plan, "onSourceDelete: keep") {
		t.Errorf("the plan does not say why production keeps its tag: %s", plan)
	}
}

// With every destination keeping deleted tags (the default), a delete's
// run is skipped with the reason; a tag pushed again since its delete is
// not removed anywhere; and an immutable destination repository is
// reported, not failed.
func TestDeletesThatUntagNothing(t *testing.T) {
	t.Parallel()
	t.Run("keep", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t, harnessOpts{})
		ex := h.run(h.deleteInSource("release-1.0", h.rel.Index))
		if ex.Status != "SUCCEEDED" || !strings.Contains(string(ex.Output), "onSourceDelete: keep") {
			t.Errorf("%s %s, want skipped: every destination keeps it", ex.Status, ex.Output)
		}
	})
	t.Run("pushed again", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t, harnessOpts{config: untagConfig})
		if ex := h.run(PushEvent(Repository, "release-1.0", h.rel.Index)); ex.Status != "SUCCEEDED" {
			t.Fatalf("push run %s: %s", ex.Status, ex.Cause)
		}
		ev := h.deleteInSource("release-1.0", h.rel.Index)
		if _, err := h.world.PushRelease(context.Background(), "release-1.0", 100); err != nil {
			t.Fatal(err)
		}
		ex := h.run(ev)
		if ex.Status != "SUCCEEDED" || !strings.Contains(string(ex.Output), "in the source again") {
			t.Errorf("%s %s, want skipped: the tag is back", ex.Status, ex.Output)
		}
		h.assertHas(Staging, true)
	})
	t.Run("immutable", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t, harnessOpts{config: untagConfig})
		h.occupy(Staging, Repository, ecrtypes.ImageTagMutabilityImmutable, "other")
		if ex := h.run(PushEvent(Repository, "release-1.0", h.rel.Index)); ex.Status != "SUCCEEDED" {
			t.Fatalf("push run %s: %s", ex.Status, ex.Cause)
		}
		ex := h.run(h.deleteInSource("release-1.0", h.rel.Index))
		got := outcomes(t, ex)
		if ex.Status != "SUCCEEDED" || got[Staging][0] != "skipped" || !strings.Contains(got[Staging][1], "immutable") || !strings.Contains(got[Staging][1], "batch-delete-image") {
			t.Errorf("%s: staging %v, want skipped: immutable, with the command to remove it", ex.Status, got[Staging])
		}
		h.assertHas(Staging, true)
		if got[Mirror][0] != "untagged" {
			t.Errorf("mirror: %v, want untagged", got[Mirror])
		}
	})
}

// validateOutput is the Validate state's output in a run.
func validateOutput(t *testing.T, ex *runner.Execution) string {
	t.Helper()
	for _, ev := range ex.Events {
		if ev.Type == "StateExited" && ev.State != nil && ev.State.Name == "Validate" {
			return string(ev.State.Output)
		}
	}
	t.Fatal("no Validate state in the run")
	return ""
}
