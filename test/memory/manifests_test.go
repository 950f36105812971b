package memory

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"os/exec"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/ferry-dev/ferry/test/imagegen"
	"github.com/ferry-dev/ferry/test/peakrss"
)

// maxManifestGraphPeak bounds the memory ferry copy takes for an index of
// 100 children of 1 MiB each: 100 MiB of manifests, which Ferry must not
// hold (raw or parsed) all at once. It is the peak RSS of the copy less
// that of `ferry version`, the same binary doing nothing: about 30 MiB of
// the one binary's own pages (the AWS SDK and sigstore are linked in) and
// runtime that no copy can give back.
const maxManifestGraphPeak = 64 << 20

// TestCopyMemoryIsBoundedForLargeManifestGraphs copies an index of 100
// image manifests of 1 MiB each (padded with an annotation, as build
// provenance or a long SBOM reference can pad them) and reads ferry copy's
// peak RSS from the process.
func TestCopyMemoryIsBoundedForLargeManifestGraphs(t *testing.T) {
	if testing.Short() {
		t.Log("-short: the 100 MiB manifest graph is left out")
		return
	}
	ferry := buildFerry(t)
	src := startRegistry(t)
	dst := startRegistry(t)
	index := pushPaddedIndex(t, src, "graph", 100, 1<<20)

	var out bytes.Buffer
	cmd := exec.Command(ferry, "copy", "--insecure", src+"/graph:v1", dst+"/graph:v1")
	cmd.Stdout, cmd.Stderr = &out, &out
	peak, err := peakrss.Run(cmd)
	if err != nil {
		t.Fatalf("ferry copy: %v\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), "copied") {
		t.Fatalf("ferry copy did not report a copy:\n%s", out.String())
	}
	ref, err := name.ParseReference(dst+"/graph:v1", name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	got, err := remote.Head(ref)
	if err != nil || got.Digest.String() != index {
		t.Fatalf("destination tag: %v, %v; want %s", got, err, index)
	}
	base := baselineRSS(t, ferry)
	own := peak - base
	t.Logf("ferry copy peak RSS: %.1f MiB for an index of 100 manifests of 1 MiB (ferry version: %.1f MiB; the copy's own: %.1f MiB)", mib(peak), mib(base), mib(own))
	if own > maxManifestGraphPeak {
		t.Errorf("copying 100 MiB of manifests took %.1f MiB over ferry version's %.1f MiB, want at most %.1f MiB: manifests must not all be held",
			mib(own), mib(base), mib(maxManifestGraphPeak))
	}
}

// pushPaddedIndex pushes to registry an index of children image manifests
// of about pad bytes each, sharing one config and layer, and returns the
// index's digest. It is tagged repo:v1.
func pushPaddedIndex(t *testing.T, registry, repo string, children, pad int) string {
	t.Helper()
	img, err := imagegen.RandomImage(v1.Platform{OS: "linux", Architecture: "amd64"}, 77, 1, 4096)
	if err != nil {
		t.Fatal(err)
	}
	base, err := name.ParseReference(registry + "/" + repo + ":base")
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(base, img); err != nil {
		t.Fatalf("push %s: %v", base, err)
	}
	m, err := img.RawManifest()
	if err != nil {
		t.Fatal(err)
	}
	var mf map[string]any
	if err := json.Unmarshal(m, &mf); err != nil {
		t.Fatal(err)
	}
	mt := fmt.Sprint(mf["mediaType"])
	var descs []map[string]any
	filler := strings.Repeat("0123456789abcdef", pad/16)
	for i := range children {
		mf["annotations"] = map[string]string{"dev.ferry.test.padding": fmt.Sprintf("%04d", i) + filler}
		body, err := json.Marshal(mf)
		if err != nil {
			t.Fatal(err)
		}
		d := putManifest(t, registry, repo, "", mt, body)
		descs = append(descs, map[string]any{"mediaType": mt, "digest": d, "size": len(body),
			"platform": map[string]string{"os": "linux", "architecture": fmt.Sprintf("variant%d", i)}})
	}
	idx, err := json.Marshal(map[string]any{"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": descs})
	if err != nil {
		t.Fatal(err)
	}
	return putManifest(t, registry, repo, "v1", "application/vnd.oci.image.index.v1+json", idx)
}

// putManifest writes body under tag (or its digest, when tag is "") and
// returns its digest.
func putManifest(t *testing.T, registry, repo, tag, mediaType string, body []byte) string {
	t.Helper()
	sum := sha256.Sum256(body)
	digest := "sha256:" + hex.EncodeToString(sum[:])
	if tag == "" {
		tag = digest
	}
	req, err := http.NewRequest(http.MethodPut, "http://"+registry+"/v2/"+repo+"/manifests/"+tag, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", mediaType)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("put manifest %s: %d", tag, resp.StatusCode)
	}
	return digest
}
