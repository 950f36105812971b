package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/ferry-dev/ferry/internal/ecr"
	"github.com/ferry-dev/ferry/internal/emulator"
	"github.com/ferry-dev/ferry/internal/runner"
	"github.com/ferry-dev/ferry/statemachine"
	"github.com/ferry-dev/ferry/test/imagegen"
)

// scaleRegions are the regions the many destinations of the scale test
// spread over.
var scaleRegions = []string{"eu-west-1", "us-west-2", "ap-southeast-2", "eu-central-1"}

// scaleDestination is the i-th destination of the scale world.
func scaleDestination(i int) string {
	return fmt.Sprintf("5%011d/%s", i, scaleRegions[i%len(scaleRegions)])
}

// newScaleWorld is a world of n destination accounts, all taking team/**
// release-* in one rule: the source and n registries in the emulator, and
// a ferry.yaml naming them. The roles of the destinations in deny are not
// set up.
func newScaleWorld(ctx context.Context, t *testing.T, n int, deny map[string]bool) *World {
	t.Helper()
	em, err := emulator.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := em.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { em.Close() })
	w := &World{Emulator: em, Registries: map[string]*emulator.Registry{}}
	w.Endpoints = ecr.Endpoints{STS: em.STSEndpoint(), ECR: map[string]string{}}
	var cfg strings.Builder
	fmt.Fprintf(&cfg, "version: 1\nsource: {account: %q, region: %s}\nexternalId: %s\nrules:\n  - name: releases\n    repositories: [\"team/**\"]\n    tags: [\"release-*\"]\n    destinations:\n",
		SourceAccount, SourceRegion, ExternalID)
	ids := []string{SourceAccount + "/" + SourceRegion}
	for i := range n {
		ids = append(ids, scaleDestination(i))
	}
	for i, id := range ids {
		acct, region, _ := strings.Cut(id, "/")
		r, err := em.AddRegistry(acct, region)
		if err != nil {
			t.Fatal(err)
		}
		w.Registries[id] = r
		w.Endpoints.ECR[id] = r.ECREndpoint()
		if i == 0 {
			continue
		}
		fmt.Fprintf(&cfg, "      - {account: %q, region: %s}\n", acct, region)
		if !deny[id] {
			if err := em.AllowRole("arn:aws:iam::"+acct+":role/ferry-replication", ExternalID); err != nil {
				t.Fatal(err)
			}
		}
	}
	w.Source = w.Registries[ids[0]]
	w.ConfigPath = filepath.Join(t.TempDir(), "ferry.yaml")
	if err := os.WriteFile(w.ConfigPath, []byte(cfg.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	w.cfg, err = awsconfig.LoadDefaultConfig(ctx, awsconfig.WithRegion(SourceRegion),
		awsconfig.WithCredentialsProvider(credentials.NewStaticCredentialsProvider("FERRYLOCALTEST", "test-secret", "")))
	if err != nil {
		t.Fatal(err)
	}
	if err := w.CreateSourceRepository(ctx); err != nil {
		t.Fatal(err)
	}
	return w
}

// pushSmall pushes a small single-platform image as team/app:tag.
func (w *World) pushSmall(ctx context.Context, tag string) (string, error) {
	host, auth, err := w.Login(ctx, SourceAccount+"/"+SourceRegion)
	if err != nil {
		return "", err
	}
	ref, err := name.NewTag(host + "/" + Repository + ":" + tag)
	if err != nil {
		return "", err
	}
	img, err := imagegen.RandomImage(v1.Platform{OS: "linux", Architecture: "amd64"}, 500, 1, 4<<10)
	if err != nil {
		return "", err
	}
	if err := remote.Write(ref, img, remote.WithContext(ctx), remote.WithAuth(auth)); err != nil {
		return "", err
	}
	d, err := img.Digest()
	return d.String(), err
}

// largestStates returns the largest input or output of each top-level
// state of ex's last attempt.
func largestStates(ex *runner.Execution) map[string]int {
	out := map[string]int{}
	for _, ev := range ex.Events {
		if ev.State == nil || ev.Index != nil {
			continue
		}
		for _, b := range []json.RawMessage{ev.State.Input, ev.State.Output} {
			out[ev.State.Name] = max(out[ev.State.Name], len(b))
		}
	}
	return out
}

// TestFiveHundredDestinations replicates one push to 500 destination
// accounts in one execution, 100 of which cannot assume their role, then
// redrives it once the roles are fixed. Every state's input and output
// stays within Step Functions' 256 KiB (the local interpreter does not
// enforce it), the cause names each failed destination, and the redrive
// replicates the 100 only.
func TestFiveHundredDestinations(t *testing.T) {
	t.Parallel()
	const n = 500
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	deny := map[string]bool{}
	for i := 0; i < n; i += 5 {
		deny[scaleDestination(i)] = true
	}
	w := newScaleWorld(ctx, t, n, deny)
	digest, err := w.pushSmall(ctx, "release-1.0")
	if err != nil {
		t.Fatal(err)
	}
	nm, err := nodeModules()
	if err != nil {
		t.Fatal(err)
	}
	retry := 20 * time.Millisecond
	r, err := runner.New(ctx, runner.Options{
		Definition:     statemachine.Replicate,
		ConfigPath:     w.ConfigPath,
		Endpoints:      w.Endpoints,
		NodeModules:    nm,
		MaxConcurrency: 40,
		RetryInterval:  &retry,
		Approver:       runner.AutoApprove,
		Logger:         slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()

	start := time.Now()
	ex, err := r.Run(ctx, PushEvent(Repository, "release-1.0", digest))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("first pass: %s in %s", ex.Status, time.Since(start).Round(time.Millisecond))
	largest := checkStateSizes(t, ex)
	sizes := largestStates(ex)
	t.Logf("largest state: %d bytes (%d per destination); by state: %v", largest, largest/n, sizes)
	if ex.Status != "FAILED" || ex.Error != "ReplicationFailed" || !strings.Contains(ex.Cause, fmt.Sprintf("%d of %d destinations failed", len(deny), n)) {
		t.Fatalf("execution %s %s %.300q; want FAILED ReplicationFailed, %d of %d destinations failed", ex.Status, ex.Error, ex.Cause, len(deny), n)
	}
	for id := range deny {
		if !strings.Contains(ex.Cause, id) {
			t.Errorf("the cause does not name %s, which failed", id)
		}
	}
	if st := destinationStatus(t, ex); len(st) != n {
		t.Errorf("the summary has %d destinations, want %d", len(st), n)
	}

	for id := range deny {
		acct, _, _ := strings.Cut(id, "/")
		if err := w.Emulator.AllowRole("arn:aws:iam::"+acct+":role/ferry-replication", ExternalID); err != nil {
			t.Fatal(err)
		}
	}
	w.Emulator.ResetCalls()
	start = time.Now()
	ex2, err := r.Redrive(ctx, ex)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("redrive: %s in %s", ex2.Status, time.Since(start).Round(time.Millisecond))
	largest = checkStateSizes(t, ex2)
	t.Logf("largest state with the redrive: %d bytes (%d per destination)", largest, largest/n)
	if ex2.Status != "SUCCEEDED" {
		t.Fatalf("redrive: %s %s %.300q", ex2.Status, ex2.Error, ex2.Cause)
	}
	st := destinationStatus(t, ex2)
	copied := 0
	for _, s := range st {
		if s == "copied" {
			copied++
		}
	}
	if len(st) != n || copied != n {
		t.Errorf("after the redrive: %d destinations, %d copied; want %d copied", len(st), copied, n)
	}
	touched := map[string]bool{}
	for _, c := range w.Emulator.Calls() {
		if c.Account != SourceAccount {
			touched[c.Account] = true
		}
	}
	if len(touched) != len(deny) {
		t.Errorf("the redrive called %d destination accounts, want the %d that had failed", len(touched), len(deny))
	}
	for id := range deny {
		if ok, err := w.HasTag(ctx, id, "release-1.0"); !ok || err != nil {
			t.Errorf("%s lacks release-1.0 after the redrive (%v)", id, err)
		}
	}
}
