// Package e2e holds Ferry's end-to-end scenario: a source registry and three
// destination accounts/regions in the local ECR and STS emulator, the
// ferry.yaml that connects them, images to push and ECR push events to feed
// the workflow, and the checks that prove where the images landed. `make
// demo` (test/demo) and the end-to-end tests both use it.
package e2e

import (
	"bytes"
	"context"
	"crypto"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awsecr "github.com/aws/aws-sdk-go-v2/service/ecr"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/ferry-dev/ferry/internal/ecr"
	"github.com/ferry-dev/ferry/internal/emulator"
	"github.com/ferry-dev/ferry/internal/gate/gatetest"
	"github.com/ferry-dev/ferry/test/imagegen"
)

// The scenario's accounts and regions.
const (
	SourceAccount = "111111111111"
	SourceRegion  = "us-east-1"
	ExternalID    = "ferry-demo"
	Production    = "222222222222/eu-west-1"      // approval required, immutable tags
	Staging       = "333333333333/us-west-2"      // copied as is
	Mirror        = "444444444444/ap-southeast-2" // renamed to mirror/...
	Repository    = "team/app"
)

// Destinations lists the scenario's destinations in configuration order.
var Destinations = []string{Production, Staging, Mirror}

// Config is the scenario's ferry.yaml.
const Config = `version: 1
source: {account: "111111111111", region: us-east-1}
externalId: ferry-demo
rules:
  - name: releases
    repositories: ["team/**"]
    tags: ["release-*"]
    destinations:
      - account: "222222222222"
        region: eu-west-1
        approval: required
        settings:
          tagImmutability: true
          scanOnPush: true
          encryption: {type: KMS}
          lifecyclePolicy: '{"rules":[{"rulePriority":1,"selection":{"tagStatus":"untagged","countType":"imageCountMoreThan","countNumber":10},"action":{"type":"expire"}}]}'
          tags: {environment: production}
      - account: "333333333333"
        region: us-west-2
        settings: {scanOnPush: true}
      - account: "444444444444"
        region: ap-southeast-2
        repository: {prefix: mirror/}
        onExistingTag: overwrite
`

// World is the scenario's emulated AWS.
type World struct {
	Emulator   *emulator.Emulator
	ConfigPath string
	Endpoints  ecr.Endpoints
	Source     *emulator.Registry
	Registries map[string]*emulator.Registry // by account/region
	// ScanFindings is the source registry's scan findings file (empty at
	// first: every image has a clean scan); SetScanFindings rewrites it.
	ScanFindings string

	cfg aws.Config
}

// NewWorld starts the emulator with the scenario's registries and roles and
// writes ferry.yaml into dir. Close the emulator when done. The roles of
// the destinations in deny are not set up, so assuming them is AccessDenied.
func NewWorld(ctx context.Context, dir string, logger *slog.Logger, deny ...string) (*World, error) {
	em, err := emulator.New(logger)
	if err != nil {
		return nil, err
	}
	w := &World{Emulator: em, Registries: map[string]*emulator.Registry{}}
	if err := em.Start(ctx); err != nil {
		return nil, err
	}
	w.Endpoints = ecr.Endpoints{STS: em.STSEndpoint(), ECR: map[string]string{}}
	w.ScanFindings = filepath.Join(dir, "scan-findings.json")
	if err := w.SetScanFindings(nil); err != nil {
		em.Close()
		return nil, err
	}
	for _, id := range append([]string{SourceAccount + "/" + SourceRegion}, Destinations...) {
		acct, region, _ := strings.Cut(id, "/")
		var opts []emulator.Option
		if id == SourceAccount+"/"+SourceRegion {
			opts = append(opts, emulator.WithScanFindings(w.ScanFindings))
		}
		r, err := em.AddRegistry(acct, region, opts...)
		if err != nil {
			em.Close()
			return nil, err
		}
		w.Registries[id] = r
		w.Endpoints.ECR[id] = r.ECREndpoint()
		if id != SourceAccount+"/"+SourceRegion && !slices.Contains(deny, id) {
			if err := em.AllowRole("arn:aws:iam::"+acct+":role/ferry-replication", ExternalID); err != nil {
				em.Close()
				return nil, err
			}
		}
	}
	w.Source = w.Registries[SourceAccount+"/"+SourceRegion]
	w.ConfigPath = filepath.Join(dir, "ferry.yaml")
	if err := os.WriteFile(w.ConfigPath, []byte(Config), 0o644); err != nil {
		em.Close()
		return nil, err
	}
	w.cfg, err = awsconfig.LoadDefaultConfig(ctx, awsconfig.WithRegion(SourceRegion),
		awsconfig.WithCredentialsProvider(credentials.NewStaticCredentialsProvider("FERRYLOCALTEST", "test-secret", "")))
	if err != nil {
		em.Close()
		return nil, err
	}
	return w, nil
}

// Finding is one basic-scan finding, as ECR lists it.
type Finding struct {
	Name     string `json:"name"`
	Severity string `json:"severity"`
	URI      string `json:"uri,omitempty"`
}

// Scan is one image's scan in the findings file: its status (COMPLETE,
// IN_PROGRESS, FAILED) and findings.
type Scan struct {
	Status   string
	Findings []Finding
}

// SetScanFindings makes the source's scans of team/app's images (by
// digest) what scans says; images it leaves out have a clean, complete
// scan. The file is replaced in one rename, so the emulator, which reads
// it at every call, never sees half of it.
func (w *World) SetScanFindings(scans map[string]Scan) error {
	m := map[string]any{}
	for digest, sc := range scans {
		entry := map[string]any{"imageScanStatus": map[string]string{"status": sc.Status}}
		if sc.Findings != nil {
			entry["imageScanFindings"] = map[string]any{"findings": sc.Findings}
		}
		m[Repository+"@"+digest] = entry
	}
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	tmp := w.ScanFindings + ".tmp"
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, w.ScanFindings)
}

// Platforms returns the digests of an index's platform images in the
// source, by platform ("linux/amd64").
func (w *World) Platforms(ctx context.Context, index string) (map[string]string, error) {
	host, auth, err := w.Login(ctx, SourceAccount+"/"+SourceRegion)
	if err != nil {
		return nil, err
	}
	ref, err := name.NewDigest(host + "/" + Repository + "@" + index)
	if err != nil {
		return nil, err
	}
	idx, err := remote.Index(ref, remote.WithContext(ctx), remote.WithAuth(auth))
	if err != nil {
		return nil, err
	}
	im, err := idx.IndexManifest()
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	for _, m := range im.Manifests {
		if m.Platform != nil {
			out[m.Platform.String()] = m.Digest.String()
		}
	}
	return out, nil
}

// ECR returns an ECR client for a registry of the world.
func (w *World) ECR(id string) *awsecr.Client {
	_, region, _ := strings.Cut(id, "/")
	return awsecr.NewFromConfig(w.cfg, func(o *awsecr.Options) {
		o.Region = region
		o.BaseEndpoint = aws.String(w.Endpoints.ECR[id])
	})
}

// Login returns the data-plane host and credentials of a registry.
func (w *World) Login(ctx context.Context, id string) (string, authn.Authenticator, error) {
	acct, _, _ := strings.Cut(id, "/")
	r, err := ecr.Login(ctx, w.ECR(id), acct)
	return r.Host, r.Authenticator(), err
}

// Release is what PushRelease pushed.
type Release struct {
	Index  string // digest of the multi-arch index
	SigTag string // cosign signature tag
	Sig    string // digest of the signature manifest
	SBOM   string // digest of the SBOM referrer (OCI 1.1 subject)
}

// CreateSourceRepository creates team/app in the source.
func (w *World) CreateSourceRepository(ctx context.Context) error {
	_, err := w.ECR(SourceAccount+"/"+SourceRegion).CreateRepository(ctx, &awsecr.CreateRepositoryInput{RepositoryName: aws.String(Repository)})
	return err
}

// PushRelease pushes team/app:<tag>, a linux/amd64 + linux/arm64 index,
// with a cosign signature and an SBOM referrer, seeded by seed.
func (w *World) PushRelease(ctx context.Context, tag string, seed uint64) (Release, error) {
	var rel Release
	host, auth, err := w.Login(ctx, SourceAccount+"/"+SourceRegion)
	if err != nil {
		return rel, err
	}
	ref, err := name.NewTag(host + "/" + Repository + ":" + tag)
	if err != nil {
		return rel, err
	}
	opts := []remote.Option{remote.WithContext(ctx), remote.WithAuth(auth)}
	platforms := []v1.Platform{{OS: "linux", Architecture: "amd64"}, {OS: "linux", Architecture: "arm64"}}
	imgs := map[string]v1.Image{}
	for i, p := range platforms {
		img, err := imagegen.RandomImage(p, seed+uint64(10*i), 3, 1<<20)
		if err != nil {
			return rel, err
		}
		imgs[p.String()] = img
	}
	idx, err := imagegen.Index(imgs, platforms)
	if err != nil {
		return rel, err
	}
	if err := remote.WriteIndex(ref, idx, opts...); err != nil {
		return rel, fmt.Errorf("push %s: %w", ref, err)
	}
	d, _ := idx.Digest()
	size, _ := idx.Size()
	rel.Index = d.String()
	subject := v1.Descriptor{MediaType: types.OCIImageIndex, Digest: d, Size: size}
	rel.SigTag = strings.Replace(d.String(), ":", "-", 1) + ".sig"
	if rel.Sig, err = pushArtifact(ref.Context(), rel.SigTag, "application/vnd.dev.cosign.simplesigning.v1+json",
		[]byte(`{"critical":{"image":{"docker-manifest-digest":"`+d.String()+`"}}}`), nil, opts); err != nil {
		return rel, err
	}
	rel.SBOM, err = pushArtifact(ref.Context(), "", "application/spdx+json", []byte(`{"spdxVersion":"SPDX-2.3","name":"team/app"}`), &subject, opts)
	return rel, err
}

// PushImage pushes a single-platform image team/app:<tag> and returns its digest.
func (w *World) PushImage(ctx context.Context, tag string, seed uint64) (string, error) {
	host, auth, err := w.Login(ctx, SourceAccount+"/"+SourceRegion)
	if err != nil {
		return "", err
	}
	ref, err := name.NewTag(host + "/" + Repository + ":" + tag)
	if err != nil {
		return "", err
	}
	img, err := imagegen.RandomImage(v1.Platform{OS: "linux", Architecture: "amd64"}, seed, 2, 256<<10)
	if err != nil {
		return "", err
	}
	if err := remote.Write(ref, img, remote.WithContext(ctx), remote.WithAuth(auth)); err != nil {
		return "", err
	}
	d, err := img.Digest()
	return d.String(), err
}

// PushReferrer pushes an artifact of mediaType to team/app in the source:
// under tag (a cosign tag), or by digest with subject set (an OCI 1.1
// referrer). It returns its digest.
func (w *World) PushReferrer(ctx context.Context, tag, mediaType string, content []byte, subject *v1.Descriptor) (string, error) {
	host, auth, err := w.Login(ctx, SourceAccount+"/"+SourceRegion)
	if err != nil {
		return "", err
	}
	repo, err := name.NewRepository(host + "/" + Repository)
	if err != nil {
		return "", err
	}
	return pushArtifact(repo, tag, mediaType, content, subject, []remote.Option{remote.WithContext(ctx), remote.WithAuth(auth)})
}

func pushArtifact(repo name.Repository, tag, mediaType string, content []byte, subject *v1.Descriptor, opts []remote.Option) (string, error) {
	layer := static.NewLayer(content, types.MediaType(mediaType))
	empty := static.NewLayer([]byte("{}"), "application/vnd.oci.empty.v1+json")
	for _, l := range []v1.Layer{layer, empty} {
		if err := remote.WriteLayer(repo, l, opts...); err != nil {
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
		ref = repo.Tag(tag)
	}
	if err := remote.Put(ref, rawManifest(body), opts...); err != nil {
		return "", fmt.Errorf("push %s: %w", ref, err)
	}
	return h.String(), nil
}

// SignImage signs the source image digest of team/app as cosign sign
// --key does with an ECDSA or RSA key, in the tag scheme: the simple
// signing payload for digest, signed over its SHA-256 by key, is the one
// layer of the manifest tagged sha256-<hex>.sig, with the signature in the
// layer's dev.cosignproject.cosign/signature annotation. It replaces what
// the tag held and returns the signature manifest's digest.
func (w *World) SignImage(ctx context.Context, digest string, key crypto.Signer) (string, error) {
	host, auth, err := w.Login(ctx, SourceAccount+"/"+SourceRegion)
	if err != nil {
		return "", err
	}
	repo, err := name.NewRepository(host + "/" + Repository)
	if err != nil {
		return "", err
	}
	return gatetest.SignCosign(ctx, repo, digest, key, remote.WithAuth(auth))
}

// PublicKeyPEM is key's public half as cosign public-key writes it.
func PublicKeyPEM(key crypto.Signer) ([]byte, error) { return gatetest.PublicKeyPEM(key) }

type rawManifest []byte

func (r rawManifest) RawManifest() ([]byte, error)        { return r, nil }
func (r rawManifest) MediaType() (types.MediaType, error) { return types.OCIManifestSchema1, nil }

// PushEvent is the EventBridge event ECR sends for a successful push.
func PushEvent(repository, tag, digest string) []byte {
	ev := map[string]any{
		"version": "0", "id": fmt.Sprintf("%x", time.Now().UnixNano()), "detail-type": "ECR Image Action", "source": "aws.ecr",
		"account": SourceAccount, "time": time.Now().UTC().Format(time.RFC3339), "region": SourceRegion,
		"resources": []string{fmt.Sprintf("arn:aws:ecr:%s:%s:repository/%s", SourceRegion, SourceAccount, repository)},
		"detail":    map[string]string{"result": "SUCCESS", "repository-name": repository, "image-digest": digest, "action-type": "PUSH", "image-tag": tag},
	}
	b, _ := json.MarshalIndent(ev, "", "  ")
	return b
}

// DeleteEvent is the EventBridge event ECR sends when a tag is deleted.
func DeleteEvent(repository, tag, digest string) []byte {
	var ev map[string]any
	_ = json.Unmarshal(PushEvent(repository, tag, digest), &ev)
	ev["detail"].(map[string]any)["action-type"] = "DELETE"
	b, _ := json.MarshalIndent(ev, "", "  ")
	return b
}

// DestinationRepository is where the scenario's rules put team/app in a destination.
func DestinationRepository(id string) string {
	if id == Mirror {
		return "mirror/" + Repository
	}
	return Repository
}
