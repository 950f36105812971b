package e2e

import (
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awsecr "github.com/aws/aws-sdk-go-v2/service/ecr"
	ecrtypes "github.com/aws/aws-sdk-go-v2/service/ecr/types"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/ferry-dev/ferry/internal/ecr"
	"github.com/ferry-dev/ferry/internal/emulator"
	"github.com/ferry-dev/ferry/internal/imagecopy"
	"github.com/ferry-dev/ferry/internal/workflow"
	"github.com/ferry-dev/ferry/test/imagegen"
)

// syncWorld is the scenario's world, set up for ferry sync.
type syncWorld struct {
	*World
	t   *testing.T
	ctx context.Context
}

func newSyncWorld(t *testing.T) *syncWorld {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	t.Cleanup(cancel)
	w, err := NewWorld(ctx, t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Emulator.Close() })
	if err := w.CreateSourceRepository(ctx); err != nil {
		t.Fatal(err)
	}
	return &syncWorld{World: w, t: t, ctx: ctx}
}

// sync runs ferry sync's engine in process with the configuration text.
func (w *syncWorld) sync(configText string, o workflow.SyncOptions) ([]workflow.SyncResult, workflow.SyncCounts) {
	w.t.Helper()
	path := filepath.Join(w.t.TempDir(), "ferry.yaml")
	if err := os.WriteFile(path, []byte(configText), 0o644); err != nil {
		w.t.Fatal(err)
	}
	ep, _ := json.Marshal(w.Endpoints)
	vars := map[string]string{workflow.EnvConfig: path, ecr.EnvEndpoints: string(ep)}
	env, err := workflow.LoadEnv(w.ctx, func(k string) string { return vars[k] },
		awsconfig.WithRegion(SourceRegion),
		awsconfig.WithCredentialsProvider(credentials.NewStaticCredentialsProvider("FERRYSYNCTEST", "secret", "")))
	if err != nil {
		w.t.Fatal(err)
	}
	var results []workflow.SyncResult
	s := workflow.NewSync(slog.New(slog.DiscardHandler), env, nil, imagecopy.WithBackoff(imagecopy.Backoff{Attempts: 2, Initial: time.Millisecond, Max: time.Millisecond}))
	counts, err := s.Run(w.ctx, o, func(r workflow.SyncResult) error {
		results = append(results, r)
		return nil
	})
	if err != nil {
		w.t.Fatalf("sync: %v", err)
	}
	return results, counts
}

// byKey indexes results by "destination tag".
func byKey(rs []workflow.SyncResult) map[string]workflow.SyncResult {
	out := map[string]workflow.SyncResult{}
	for _, r := range rs {
		out[r.Destination+" "+r.Tag] = r
	}
	return out
}

// writes lists the calls that changed a registry: manifest and blob
// writes, and ECR write operations.
func writes(calls []emulator.Call) []emulator.Call {
	var out []emulator.Call
	for _, c := range calls {
		switch {
		case c.Service == emulator.ServiceRegistry && (c.Operation == emulator.TargetManifestPush || c.Operation == emulator.TargetBlobUpload):
			out = append(out, c)
		case c.Service == emulator.ServiceECR && !strings.HasPrefix(c.Operation, "Describe") && !strings.HasPrefix(c.Operation, "List") &&
			!strings.HasPrefix(c.Operation, "Get") && c.Operation != "BatchGetImage":
			out = append(out, c)
		}
	}
	return out
}

func (w *syncWorld) checkRelease(id, tag string, rel Release) {
	w.t.Helper()
	for _, c := range w.CheckRelease(w.ctx, id, tag, rel) {
		if c.Err != nil {
			w.t.Errorf("%s %s: %s: %v", id, tag, c.What, c.Err)
		}
	}
}

// TestSyncBackfillsWhatWasPushedBefore: images pushed before any run reach
// every destination; a dry run writes nothing; production waits for
// --approve; a second sync writes nothing; each blob is read from the
// source once.
func TestSyncBackfillsWhatWasPushedBefore(t *testing.T) {
	t.Parallel()
	w := newSyncWorld(t)
	old, err := w.PushRelease(w.ctx, "release-0.9", 1)
	if err != nil {
		t.Fatal(err)
	}
	rel, err := w.PushRelease(w.ctx, "release-1.0", 100)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.PushImage(w.ctx, "dev-123", 7); err != nil {
		t.Fatal(err)
	}

	w.Emulator.ResetCalls()
	results, counts := w.sync(Config, workflow.SyncOptions{DryRun: true})
	if got := writes(w.Emulator.Calls()); len(got) > 0 {
		t.Fatalf("a dry run wrote: %+v", got)
	}
	if len(results) != 6 || counts[workflow.StatusWouldCopy] != 4 || counts[workflow.StatusSkipped] != 2 {
		t.Errorf("dry run: %d results %v; want 6: release-0.9 and release-1.0 to 3 destinations, production's skipped for approval", len(results), counts)
	}
	for _, r := range results {
		if r.Tag == "dev-123" {
			t.Errorf("dev-123 is planned for %s; no rule takes it", r.Destination)
		}
		if r.State != "missing" {
			t.Errorf("%s %s: state %q, want missing", r.Destination, r.Tag, r.State)
		}
	}

	// Without --approve, production is skipped and said to be.
	results, counts = w.sync(Config, workflow.SyncOptions{})
	if counts.Converged() || counts[workflow.StatusSkipped] != 2 || counts[workflow.StatusCopied] != 4 {
		t.Errorf("without --approve: %v; want 4 copied, production's 2 skipped, not converged", counts)
	}
	for _, r := range results {
		if r.Destination == Production && (r.Status != workflow.StatusSkipped || !strings.Contains(r.Reason, "approval required")) {
			t.Errorf("production %s: %s %q; want skipped: approval required", r.Tag, r.Status, r.Reason)
		}
	}
	if ok, _ := w.HasTag(w.ctx, Production, "release-1.0"); ok {
		t.Error("production was written without --approve")
	}

	w.Emulator.ResetCalls()
	_, counts = w.sync(Config, workflow.SyncOptions{Approve: true})
	if !counts.Converged() || counts[workflow.StatusCopied] != 2 || counts[workflow.StatusUnchanged] != 4 {
		t.Errorf("with --approve: %v; want production's 2 copied, the rest unchanged", counts)
	}
	for _, id := range Destinations {
		w.checkRelease(id, "release-0.9", old)
		w.checkRelease(id, "release-1.0", rel)
	}

	w.Emulator.ResetCalls()
	results, counts = w.sync(Config, workflow.SyncOptions{Approve: true})
	if got := writes(w.Emulator.Calls()); len(got) > 0 {
		t.Errorf("a second sync wrote %d times, e.g. %+v", len(got), got[0])
	}
	if counts[workflow.StatusUnchanged] != 6 || len(results) != 6 {
		t.Errorf("second sync: %v, want 6 unchanged", counts)
	}
}

// TestSyncReadsEachBlobOnce: one sync of two images that share no
// repository with each other in three destinations reads every source blob
// once, and uploads it once per destination registry.
func TestSyncReadsEachBlobOnce(t *testing.T) {
	t.Parallel()
	w := newSyncWorld(t)
	for i, tag := range []string{"release-1", "release-2", "release-3"} {
		if _, err := w.PushRelease(w.ctx, tag, uint64(1+i)); err != nil { // seeds overlap: shared layers
			t.Fatal(err)
		}
	}
	w.Emulator.ResetCalls()
	_, counts := w.sync(Config, workflow.SyncOptions{Approve: true})
	if counts[workflow.StatusCopied] != 9 {
		t.Fatalf("sync: %v, want 9 copied", counts)
	}
	reads := map[string]int{}
	uploads := map[string]int{} // by destination account
	for _, c := range w.Emulator.Calls() {
		if c.Service != emulator.ServiceRegistry {
			continue
		}
		if c.Account == SourceAccount && c.Operation == emulator.TargetBlobPull && c.Method == "GET" {
			reads[c.Reference]++
		}
		if c.Account != SourceAccount && c.Operation == emulator.TargetBlobUpload && c.Method == "PUT" {
			uploads[c.Account]++
		}
	}
	if len(reads) == 0 {
		t.Fatal("no source blob reads recorded")
	}
	for d, n := range reads {
		if n != 1 {
			t.Errorf("blob %s read %d times from the source, want once", d, n)
		}
	}
	for _, id := range Destinations {
		acct, _, _ := strings.Cut(id, "/")
		if uploads[acct] != len(reads) {
			t.Errorf("%s: %d blob uploads, want %d: each blob once per destination registry", id, uploads[acct], len(reads))
		}
	}
}

// pushTo creates repository in registry id (immutable tags if asked) and
// pushes a single-platform image under tag; it returns the image's digest.
func (w *syncWorld) pushTo(id, repository, tag string, seed uint64, immutable bool) string {
	w.t.Helper()
	in := &awsecr.CreateRepositoryInput{RepositoryName: aws.String(repository)}
	if immutable {
		in.ImageTagMutability = ecrtypes.ImageTagMutabilityImmutable
	}
	if _, err := w.ECR(id).CreateRepository(w.ctx, in); err != nil {
		w.t.Fatal(err)
	}
	host, auth, err := w.Login(w.ctx, id)
	if err != nil {
		w.t.Fatal(err)
	}
	img, err := imagegen.RandomImage(v1.Platform{OS: "linux", Architecture: "amd64"}, seed, 1, 1<<10)
	if err != nil {
		w.t.Fatal(err)
	}
	ref, _ := name.NewTag(host + "/" + repository + ":" + tag)
	if err := remote.Write(ref, img, remote.WithContext(w.ctx), remote.WithAuth(auth)); err != nil {
		w.t.Fatal(err)
	}
	d, _ := img.Digest()
	return d.String()
}

// TestSyncStaleTags: a destination tag at another digest is moved where
// onExistingTag is overwrite (the mirror), kept and failed where it is fail
// (staging), and blocked in an immutable repository (production); each
// result names both digests.
func TestSyncStaleTags(t *testing.T) {
	t.Parallel()
	w := newSyncWorld(t)
	rel, err := w.PushRelease(w.ctx, "release-1.0", 100)
	if err != nil {
		t.Fatal(err)
	}
	other := map[string]string{
		Production: w.pushTo(Production, Repository, "release-1.0", 5, true),
		Staging:    w.pushTo(Staging, Repository, "release-1.0", 6, false),
		Mirror:     w.pushTo(Mirror, "mirror/"+Repository, "release-1.0", 7, false),
	}
	results, counts := w.sync(Config, workflow.SyncOptions{Approve: true})
	got := byKey(results)
	want := map[string]string{Production: workflow.StatusBlocked, Staging: workflow.StatusFailed, Mirror: workflow.StatusCopied}
	for id, status := range want {
		r := got[id+" release-1.0"]
		if r.Status != status {
			t.Errorf("%s: %s (%s: %s%s), want %s", id, r.Status, r.State, r.Reason, r.Error, status)
		}
		text := r.Reason + " " + r.Error + " " + r.ReplacedDigest
		if !strings.Contains(text, other[id]) || (id != Mirror && !strings.Contains(text, rel.Index)) {
			t.Errorf("%s: %q does not name both digests (%s there, %s in the source)", id, text, other[id], rel.Index)
		}
	}
	if counts.Converged() {
		t.Error("a kept stale tag (onExistingTag: fail) counts as converged")
	}
	if !strings.Contains(got[Production+" release-1.0"].Reason, "immutable") {
		t.Errorf("production: %q should say the tag is immutable", got[Production+" release-1.0"].Reason)
	}
	w.checkRelease(Mirror, "release-1.0", rel)
	if d := w.tagDigest(Staging, Repository, "release-1.0"); d != other[Staging] {
		t.Errorf("staging's release-1.0 is %s, want it kept at %s", d, other[Staging])
	}
	if d := w.tagDigest(Production, Repository, "release-1.0"); d != other[Production] {
		t.Errorf("production's release-1.0 is %s, want it kept at %s", d, other[Production])
	}
}

func (w *syncWorld) tagDigest(id, repository, tag string) string {
	w.t.Helper()
	host, auth, err := w.Login(w.ctx, id)
	if err != nil {
		w.t.Fatal(err)
	}
	ref, _ := name.NewTag(host + "/" + repository + ":" + tag)
	d, err := remote.Head(ref, remote.WithContext(w.ctx), remote.WithAuth(auth))
	if err != nil {
		return ""
	}
	return d.Digest.String()
}

// TestSyncDestinationAddedLater: a destination added to the rules after
// the images were copied elsewhere gets the whole history; the others are
// not written.
func TestSyncDestinationAddedLater(t *testing.T) {
	t.Parallel()
	w := newSyncWorld(t)
	var rels []Release
	for i, tag := range []string{"release-0.8", "release-0.9"} {
		rel, err := w.PushRelease(w.ctx, tag, uint64(10*i+1))
		if err != nil {
			t.Fatal(err)
		}
		rels = append(rels, rel)
	}
	// First only staging.
	stagingOnly := `version: 1
source: {account: "111111111111", region: us-east-1}
externalId: ferry-demo
rules:
  - name: releases
    repositories: ["team/**"]
    tags: ["release-*"]
    destinations:
      - {account: "333333333333", region: us-west-2}
`
	if _, counts := w.sync(stagingOnly, workflow.SyncOptions{}); counts[workflow.StatusCopied] != 2 {
		t.Fatalf("first sync: %v, want 2 copied", counts)
	}
	w.Emulator.ResetCalls()
	results, _ := w.sync(Config, workflow.SyncOptions{Approve: true})
	for _, r := range results {
		want := workflow.StatusCopied
		if r.Destination == Staging {
			want = workflow.StatusUnchanged
		}
		if r.Status != want {
			t.Errorf("%s %s: %s, want %s", r.Destination, r.Tag, r.Status, want)
		}
	}
	for _, c := range writes(w.Emulator.Calls()) {
		if c.Account == "333333333333" {
			t.Errorf("staging written again: %+v", c)
			break
		}
	}
	for i, tag := range []string{"release-0.8", "release-0.9"} {
		w.checkRelease(Production, tag, rels[i])
		w.checkRelease(Mirror, tag, rels[i])
	}
}

// TestSyncBringsLateReferrers: a signature or SBOM attached after the copy
// is added by the next sync, the image itself left as it is; a push whose
// event never ran is repaired too.
func TestSyncBringsLateReferrers(t *testing.T) {
	t.Parallel()
	w := newSyncWorld(t)
	rel, err := w.PushRelease(w.ctx, "release-1.0", 100)
	if err != nil {
		t.Fatal(err)
	}
	if _, counts := w.sync(Config, workflow.SyncOptions{Approve: true}); counts[workflow.StatusCopied] != 3 {
		t.Fatalf("first sync: %v, want 3 copied", counts)
	}
	// Later: an attestation for the index, and a new release whose push
	// event was lost.
	host, auth, err := w.Login(w.ctx, SourceAccount+"/"+SourceRegion)
	if err != nil {
		t.Fatal(err)
	}
	repo, _ := name.NewRepository(host + "/" + Repository)
	subject := v1.Descriptor{MediaType: types.OCIImageIndex, Digest: v1.Hash{Algorithm: "sha256", Hex: strings.TrimPrefix(rel.Index, "sha256:")}}
	if idx, err := remote.Index(repo.Digest(rel.Index), remote.WithContext(w.ctx), remote.WithAuth(auth)); err == nil {
		subject.Size, _ = idx.Size()
	}
	att, err := pushArtifact(repo, "", "application/vnd.in-toto+json", []byte(`{"_type":"https://in-toto.io/Statement/v1"}`), &subject,
		[]remote.Option{remote.WithContext(w.ctx), remote.WithAuth(auth)})
	if err != nil {
		t.Fatal(err)
	}
	lost, err := w.PushRelease(w.ctx, "release-1.1", 200)
	if err != nil {
		t.Fatal(err)
	}
	results, _ := w.sync(Config, workflow.SyncOptions{Approve: true})
	for _, r := range results {
		switch r.Tag {
		case "release-1.0":
			if r.State != "referrers missing" || r.Status != workflow.StatusCopied || r.BlobsCopied > 2 {
				t.Errorf("%s release-1.0: %s, %s, %d blobs copied; want referrers missing, copied, only the attestation's blobs", r.Destination, r.State, r.Status, r.BlobsCopied)
			}
		case "release-1.1":
			if r.State != "missing" || r.Status != workflow.StatusCopied {
				t.Errorf("%s release-1.1: %s, %s; want missing, copied", r.Destination, r.State, r.Status)
			}
		}
	}
	for _, id := range Destinations {
		w.checkRelease(id, "release-1.1", lost)
		host, auth, err := w.Login(w.ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		ref, _ := name.NewDigest(host + "/" + DestinationRepository(id) + "@" + att)
		if _, err := remote.Head(ref, remote.WithContext(w.ctx), remote.WithAuth(auth)); err != nil {
			t.Errorf("%s: the attestation %s is not there: %v", id, att, err)
		}
	}
}

// TestSyncArchivedSourceImageIsBlocked: an image in ECR's archive storage
// class answers 404 on pull, so the sync reports it blocked, says how to
// restore it, and copies the rest.
func TestSyncArchivedSourceImageIsBlocked(t *testing.T) {
	t.Parallel()
	w := newSyncWorld(t)
	old, err := w.PushRelease(w.ctx, "release-0.1", 1)
	if err != nil {
		t.Fatal(err)
	}
	rel, err := w.PushRelease(w.ctx, "release-1.0", 100)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Source.ArchiveImage(Repository, old.Index); err != nil {
		t.Fatal(err)
	}
	results, counts := w.sync(Config, workflow.SyncOptions{Approve: true})
	if !counts.Converged() || counts[workflow.StatusBlocked] != 3 || counts[workflow.StatusCopied] != 3 {
		t.Errorf("sync: %v; want release-1.0 copied to 3 destinations, release-0.1 blocked in each, converged", counts)
	}
	for _, r := range results {
		if r.Tag == "release-0.1" && (r.Status != workflow.StatusBlocked || !strings.Contains(r.Reason, "archived") || !strings.Contains(r.Reason, "--target-storage-class STANDARD")) {
			t.Errorf("%s release-0.1: %s %q; want blocked, saying it is archived and how to restore it", r.Destination, r.Status, r.Reason)
		}
	}
	for _, id := range Destinations {
		w.checkRelease(id, "release-1.0", rel)
		if ok, _ := w.HasTag(w.ctx, id, "release-0.1"); ok {
			t.Errorf("%s holds the archived release-0.1", id)
		}
	}
	// Restored, the next sync copies it.
	if err := w.Source.RestoreImage(Repository, old.Index); err != nil {
		t.Fatal(err)
	}
	if _, counts := w.sync(Config, workflow.SyncOptions{Approve: true}); counts[workflow.StatusCopied] != 3 {
		t.Errorf("after the restore: %v, want release-0.1 copied to 3 destinations", counts)
	}
}

// TestSyncMountsSharedLayersAcrossRepositories: two source repositories
// whose images share their layers go to the same destination registries;
// the second repository's copy mounts the shared layers from the first
// instead of reading them from the source again.
func TestSyncMountsSharedLayersAcrossRepositories(t *testing.T) {
	t.Parallel()
	w := newSyncWorld(t)
	src := SourceAccount + "/" + SourceRegion
	if _, err := w.ECR(src).CreateRepository(w.ctx, &awsecr.CreateRepositoryInput{RepositoryName: aws.String("team/web")}); err != nil {
		t.Fatal(err)
	}
	host, auth, err := w.Login(w.ctx, src)
	if err != nil {
		t.Fatal(err)
	}
	base, err := imagegen.RandomLayer(42, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	for i, repo := range []string{"team/app", "team/web"} {
		own, _ := imagegen.RandomLayer(uint64(100+i), 4<<10)
		img, err := imagegen.Image(v1.Platform{OS: "linux", Architecture: "amd64"}, base, own)
		if err != nil {
			t.Fatal(err)
		}
		ref, _ := name.NewTag(host + "/" + repo + ":release-1")
		if err := remote.Write(ref, img, remote.WithContext(w.ctx), remote.WithAuth(auth)); err != nil {
			t.Fatal(err)
		}
	}
	w.Emulator.ResetCalls()
	// One image at a time, so the order is known: team/app first.
	results, counts := w.sync(Config, workflow.SyncOptions{Approve: true, Images: 1})
	if counts[workflow.StatusCopied] != 6 {
		t.Fatalf("sync: %v, want 6 copied", counts)
	}
	for _, r := range results {
		if r.SourceRepository == "team/web" && r.BlobsMounted < 1 {
			t.Errorf("%s team/web: %d blobs mounted, %d copied; want the shared base layer mounted from team/app", r.Destination, r.BlobsMounted, r.BlobsCopied)
		}
	}
	reads := map[string]int{}
	for _, c := range w.Emulator.Calls() {
		if c.Service == emulator.ServiceRegistry && c.Account == SourceAccount && c.Operation == emulator.TargetBlobPull && c.Method == "GET" {
			reads[c.Reference]++
		}
	}
	if reads[mustDigest(t, base)] != 1 {
		t.Errorf("the shared base layer was read %d times from the source, want once", reads[mustDigest(t, base)])
	}
}

func mustDigest(t *testing.T, l v1.Layer) string {
	t.Helper()
	d, err := l.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return d.String()
}
