// Command demo shows ferry copy on this machine, with no AWS account and no
// Docker: it starts three registries on 127.0.0.1 (a source and two
// destinations), pushes a signed multi-arch release image and an SBOM to the
// source, copies it with the ferry binary to both destinations at once,
// checks that every destination holds the same digests with the signature
// and the SBOM, and copies again to show that nothing is rewritten.
//
// Run it with `make demo`. It exits non-zero if any check fails.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/ferry-dev/ferry/test/imagegen"
)

func main() {
	ferry := flag.String("ferry", "bin/ferry", "the ferry binary")
	flag.Parse()
	if err := run(*ferry); err != nil {
		fmt.Fprintf(os.Stderr, "\ndemo failed: %v\n", err)
		os.Exit(1)
	}
}

func run(ferry string) error {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "ferry-demo-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)

	step("Starting three registries on 127.0.0.1 (no Docker, no AWS account)")
	src, err := serve(dir+"/source", true)
	if err != nil {
		return err
	}
	eu, err := serve(dir+"/eu", true)
	if err != nil {
		return err
	}
	us, err := serve(dir+"/us", false)
	if err != nil {
		return err
	}
	fmt.Printf("  source       %s\n  destination  %s  (OCI referrers API)\n  destination  %s  (no referrers API: referrers tag fallback)\n", src, eu, us)

	step("Pushing team/app:release-1.0 to the source: linux/amd64 + linux/arm64, a cosign signature, an SBOM")
	image := src + "/team/app:release-1.0"
	pushed, err := pushRelease(ctx, image)
	if err != nil {
		return err
	}
	fmt.Printf("  index %s\n  signature tag %s\n  SBOM %s (subject: the index)\n", pushed.index, pushed.sigTag, pushed.sbom)

	dsts := []string{eu + "/team/app:release-1.0", us + "/mirror/app:release-1.0"}
	step("ferry copy --insecure " + image + " " + strings.Join(dsts, " "))
	if err := runFerry(ferry, append([]string{"copy", "--insecure", image}, dsts...)); err != nil {
		return err
	}

	step("Checking every destination")
	var failed []string
	for _, d := range dsts {
		for _, c := range checks(d, pushed) {
			if c.err != nil {
				failed = append(failed, d+": "+c.what+": "+c.err.Error())
				fmt.Printf("  ✗ %s  %s: %v\n", d, c.what, c.err)
				continue
			}
			fmt.Printf("  ✓ %s  %s\n", d, c.what)
		}
	}
	if len(failed) > 0 {
		return errors.New(strings.Join(failed, "; "))
	}

	step("Copying again: everything is there, so nothing is written")
	if err := runFerry(ferry, append([]string{"copy", "--insecure", image}, dsts...)); err != nil {
		return err
	}
	fmt.Println("\nDone: same digests everywhere, signature and SBOM included.")
	return nil
}

func step(s string) { fmt.Printf("\n▶ %s\n", s) }

// serve starts a registry with its blobs on disk and returns host:port.
func serve(dir string, referrers bool) (string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	h := registry.New(registry.Logger(log.New(io.Discard, "", 0)),
		registry.WithBlobHandler(registry.NewDiskBlobHandler(dir)), registry.WithReferrersSupport(referrers))
	go func() { _ = (&http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}).Serve(l) }()
	return l.Addr().String(), nil
}

type release struct {
	index  string // digest
	sigTag string
	sig    string // digest of the signature manifest
	sbom   string // digest of the SBOM referrer
}

func pushRelease(ctx context.Context, image string) (release, error) {
	var rel release
	ref, err := name.ParseReference(image)
	if err != nil {
		return rel, err
	}
	platforms := []v1.Platform{{OS: "linux", Architecture: "amd64"}, {OS: "linux", Architecture: "arm64"}}
	imgs := map[string]v1.Image{}
	for i, p := range platforms {
		img, err := imagegen.RandomImage(p, uint64(100+10*i), 3, 2<<20)
		if err != nil {
			return rel, err
		}
		imgs[p.String()] = img
	}
	idx, err := imagegen.Index(imgs, platforms)
	if err != nil {
		return rel, err
	}
	if err := remote.WriteIndex(ref, idx, remote.WithContext(ctx)); err != nil {
		return rel, fmt.Errorf("push %s: %w", ref, err)
	}
	d, err := idx.Digest()
	if err != nil {
		return rel, err
	}
	size, err := idx.Size()
	if err != nil {
		return rel, err
	}
	rel.index = d.String()
	subject := v1.Descriptor{MediaType: types.OCIImageIndex, Digest: d, Size: size}

	// A cosign-style signature, under the tag cosign uses.
	rel.sigTag = strings.Replace(d.String(), ":", "-", 1) + ".sig"
	rel.sig, err = pushArtifact(ctx, ref.Context(), ref.Context().Tag(rel.sigTag).String(), "application/vnd.dev.cosign.simplesigning.v1+json",
		[]byte(`{"critical":{"image":{"docker-manifest-digest":"`+d.String()+`"}}}`), nil)
	if err != nil {
		return rel, err
	}
	// An SBOM attached as an OCI 1.1 referrer.
	rel.sbom, err = pushArtifact(ctx, ref.Context(), "", "application/spdx+json", []byte(`{"spdxVersion":"SPDX-2.3","name":"team/app"}`), &subject)
	return rel, err
}

// pushArtifact pushes a one-layer artifact manifest, under tag or by digest.
func pushArtifact(ctx context.Context, repo name.Repository, tag, mediaType string, content []byte, subject *v1.Descriptor) (string, error) {
	layer := static.NewLayer(content, types.MediaType(mediaType))
	empty := static.NewLayer([]byte("{}"), "application/vnd.oci.empty.v1+json")
	for _, l := range []v1.Layer{layer, empty} {
		if err := remote.WriteLayer(repo, l, remote.WithContext(ctx)); err != nil {
			return "", err
		}
	}
	desc := func(l v1.Layer, mt string) map[string]any {
		d, _ := l.Digest()
		s, _ := l.Size()
		return map[string]any{"mediaType": mt, "digest": d.String(), "size": s}
	}
	m := map[string]any{"schemaVersion": 2, "mediaType": types.OCIManifestSchema1, "artifactType": mediaType,
		"config": desc(empty, "application/vnd.oci.empty.v1+json"), "layers": []any{desc(layer, mediaType)}}
	if subject != nil {
		m["subject"] = subject
	}
	body, err := json.Marshal(m)
	if err != nil {
		return "", err
	}
	h, _, err := v1.SHA256(bytes.NewReader(body))
	if err != nil {
		return "", err
	}
	ref := name.Reference(repo.Digest(h.String()))
	if tag != "" {
		ref = repo.Tag(tag[strings.LastIndex(tag, ":")+1:])
	}
	if err := remote.Put(ref, rawManifest{body}, remote.WithContext(ctx)); err != nil {
		return "", fmt.Errorf("push %s: %w", ref, err)
	}
	return h.String(), nil
}

type rawManifest struct{ body []byte }

func (r rawManifest) RawManifest() ([]byte, error)        { return r.body, nil }
func (r rawManifest) MediaType() (types.MediaType, error) { return types.OCIManifestSchema1, nil }

type check struct {
	what string
	err  error
}

// checks reads back what a destination holds.
func checks(dst string, rel release) []check {
	ref, err := name.ParseReference(dst)
	if err != nil {
		return []check{{"parse", err}}
	}
	repo := ref.Context()
	var out []check
	digestIs := func(what string, r name.Reference, want string) {
		d, err := remote.Head(r)
		if err == nil && d.Digest.String() != want {
			err = fmt.Errorf("digest %s, want %s", d.Digest, want)
		}
		out = append(out, check{what, err})
	}
	digestIs("tag release-1.0 has the source digest "+short(rel.index), ref, rel.index)
	idx, err := remote.Index(ref)
	if err == nil {
		var im *v1.IndexManifest
		if im, err = idx.IndexManifest(); err == nil {
			for _, m := range im.Manifests {
				digestIs(fmt.Sprintf("%s/%s image %s", m.Platform.OS, m.Platform.Architecture, short(m.Digest.String())), repo.Digest(m.Digest.String()), m.Digest.String())
			}
		}
	}
	if err != nil {
		out = append(out, check{"read index", err})
	}
	digestIs("cosign signature "+rel.sigTag, repo.Tag(rel.sigTag), rel.sig)
	refs, err := remote.Referrers(repo.Digest(rel.index))
	if err == nil {
		var im *v1.IndexManifest
		if im, err = refs.IndexManifest(); err == nil {
			err = fmt.Errorf("not among the %d referrers of %s", len(im.Manifests), short(rel.index))
			for _, m := range im.Manifests {
				if m.Digest.String() == rel.sbom {
					err = nil
				}
			}
		}
	}
	out = append(out, check{"SBOM " + short(rel.sbom) + " listed as a referrer of the index", err})
	return out
}

func short(d string) string {
	if len(d) > 19 {
		return d[:19]
	}
	return d
}

func runFerry(ferry string, args []string) error {
	cmd := exec.Command(ferry, args...)
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s %s: %w", ferry, strings.Join(args, " "), err)
	}
	return nil
}
