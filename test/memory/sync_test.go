package memory

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/ferry-dev/ferry/internal/ecr"
	"github.com/ferry-dev/ferry/internal/emulator"
	"github.com/ferry-dev/ferry/test/imagegen"
	"github.com/ferry-dev/ferry/test/peakrss"
)

// maxSyncGrowth bounds how much more memory a sync of twice the images may
// take, once both are past the window a sync holds at once (8 source
// repositories listed ahead, 4 being copied, each with its results; the
// blobs it remembers for mounting, at most a few thousand): nothing else
// grows with the images.
const maxSyncGrowth = 4 << 20

const syncConfig = `version: 1
source: {account: "111111111111", region: us-east-1}
externalId: ferry-memory
rules:
  - name: releases
    repositories: ["team/*"]
    tags: ["release-*"]
    destinations:
      - {account: "222222222222", region: eu-west-1}
      - {account: "333333333333", region: us-west-2}
      - {account: "444444444444", region: ap-southeast-2}
`

// TestSyncMemoryIsIndependentOfTheNumberOfImages syncs 1,000 and then
// 2,000 images (repositories of 100 tags each, sharing a base layer) to
// three destinations and compares the peak memory of the two syncs.
func TestSyncMemoryIsIndependentOfTheNumberOfImages(t *testing.T) {
	if testing.Short() {
		t.Log("-short: the 1,000- and 2,000-image syncs are left out")
		return
	}
	bin := buildFerry(t)
	small := syncPeakRSS(t, bin, 10)
	large := syncPeakRSS(t, bin, 20)
	t.Logf("ferry sync peak RSS: %.1f MiB for 1,000 images, %.1f MiB for 2,000 images, to 3 destinations", mib(small), mib(large))
	if large-small > maxSyncGrowth {
		t.Errorf("peak RSS grew by %.1f MiB from 1,000 to 2,000 images, want at most %.1f MiB: a sync must not hold every image",
			mib(large-small), mib(maxSyncGrowth))
	}
}

// syncPeakRSS pushes repos repositories of 100 tagged images into a fresh
// emulator's source and returns the peak RSS of the sync that copies them.
func syncPeakRSS(t *testing.T, bin string, repos int) int64 {
	t.Helper()
	ctx := context.Background()
	em, err := emulator.New(nil, emulator.WithOpenPush())
	if err != nil {
		t.Fatal(err)
	}
	if err := em.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer em.Close()
	ep := ecr.Endpoints{STS: em.STSEndpoint(), ECR: map[string]string{}}
	var srcHost string
	for i, id := range []string{"111111111111/us-east-1", "222222222222/eu-west-1", "333333333333/us-west-2", "444444444444/ap-southeast-2"} {
		acct, region, _ := strings.Cut(id, "/")
		r, err := em.AddRegistry(acct, region)
		if err != nil {
			t.Fatal(err)
		}
		ep.ECR[id] = r.ECREndpoint()
		if i == 0 {
			srcHost = r.Host()
			continue
		}
		if err := em.AllowRole("arn:aws:iam::"+acct+":role/ferry-replication", "ferry-memory"); err != nil {
			t.Fatal(err)
		}
	}
	base, err := imagegen.RandomLayer(1, 4<<10)
	if err != nil {
		t.Fatal(err)
	}
	for r := range repos {
		for i := range 100 {
			own, err := imagegen.RandomLayer(uint64(1000+r*100+i), 512)
			if err != nil {
				t.Fatal(err)
			}
			img, err := imagegen.Image(v1.Platform{OS: "linux", Architecture: "amd64"}, base, own)
			if err != nil {
				t.Fatal(err)
			}
			ref, _ := name.NewTag(fmt.Sprintf("%s/team/app-%02d:release-%d", srcHost, r, i), name.Insecure)
			if err := remote.Write(ref, img, remote.WithContext(ctx), remote.WithAuth(authn.Anonymous)); err != nil {
				t.Fatal(err)
			}
		}
	}
	dir := t.TempDir()
	cfg, endpoints := filepath.Join(dir, "ferry.yaml"), filepath.Join(dir, "endpoints.json")
	b, _ := json.Marshal(ep)
	if err := os.WriteFile(endpoints, b, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cfg, []byte(syncConfig), 0o600); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	cmd := exec.Command(bin, "sync", "--config", cfg, "--endpoints", "@"+endpoints, "--json")
	cmd.Stdout, cmd.Stderr = &out, &out
	peak, err := peakrss.Run(cmd)
	if err != nil {
		t.Fatalf("ferry sync: %v\n%s", err, tail(out.String()))
	}
	if n := strings.Count(out.String(), `"status":"copied"`); n != 300*repos {
		t.Fatalf("ferry sync copied %d images, want %d:\n%s", n, 300*repos, tail(out.String()))
	}
	return peak
}

func tail(s string) string {
	if len(s) > 4000 {
		return "…" + s[len(s)-4000:]
	}
	return s
}
