package gate

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	"github.com/google/go-containerregistry/pkg/authn"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/ferry-dev/ferry/internal/config"
	"github.com/ferry-dev/ferry/internal/emulator"
)

// TestGatesAgainstTheEmulator runs both gates over the SDK's ECR client and
// the registry data plane of Ferry's emulator: a multi-arch index whose
// findings (the emulator's findings file, in ECR's response shape) change
// during the test, and a cosign signature pushed to it.
func TestGatesAgainstTheEmulator(t *testing.T) {
	t.Parallel()
	findings := filepath.Join(t.TempDir(), "findings.json")
	writeFindings := func(entries map[string]any) {
		t.Helper()
		b, err := json.Marshal(entries)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(findings, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	writeFindings(map[string]any{})
	em, err := emulator.New(slog.New(slog.DiscardHandler), emulator.WithScanFindings(findings))
	if err != nil {
		t.Fatal(err)
	}
	if err := em.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { em.Close() })
	const account, region = "111111111111", "us-east-1"
	reg, err := em.AddRegistry(account, region)
	if err != nil {
		t.Fatal(err)
	}
	api := ecr.New(ecr.Options{Region: region, BaseEndpoint: aws.String(reg.ECREndpoint()),
		Credentials: credentials.NewStaticCredentialsProvider("AKIAIOSFODNN7EXAMPLE", "secret", "")})
	ctx := context.Background()
	if _, err := api.CreateRepository(ctx, &ecr.CreateRepositoryInput{RepositoryName: aws.String("team/app")}); err != nil {
		t.Fatal(err)
	}
	tok, err := api.GetAuthorizationToken(ctx, &ecr.GetAuthorizationTokenInput{})
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := base64.StdEncoding.DecodeString(aws.ToString(tok.AuthorizationData[0].AuthorizationToken))
	user, pass, _ := strings.Cut(string(raw), ":")
	w := worldAt(t, reg.Host(), remote.WithAuth(&authn.Basic{Username: user, Password: pass}))

	amd, _ := random.Image(256, 1)
	arm, _ := random.Image(256, 1)
	idx := mutate.AppendManifests(empty.Index,
		mutate.IndexAddendum{Add: amd, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "amd64"}}},
		mutate.IndexAddendum{Add: arm, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "arm64"}}})
	idxDigest, _ := idx.Digest()
	if err := remote.WriteIndex(w.repo("team/app").Tag("release-1.4"), idx, w.opts...); err != nil {
		t.Fatal(err)
	}
	amdDigest, _ := amd.Digest()
	armDigest, _ := arm.Digest()
	digest := idxDigest.String()

	signer, trusted := keypair(t, "ECDSA P-256", "keys/release.pub")
	w.cosignSign("team/app", digest, digest, signer)
	gates := config.Gates{
		Scan:      &config.ScanGate{MaxSeverity: config.SeverityHigh, Wait: config.Duration(config.DefaultScanWait), Ignore: []string{"CVE-2024-0001"}},
		Signature: &config.SignatureGate{Keys: []config.Key{{File: "keys/release.pub", PEM: pemOf(t, trusted.public)}}},
	}
	c := NewChecker(NewScanner(api, ""), NewSignatures(w.reg, nil))
	check := func(want Decision, reason ...string) {
		t.Helper()
		res, err := c.Check(ctx, gates, "team/app", digest, 0)
		if err != nil {
			t.Fatal(err)
		}
		wantDecision(t, res, want, reason...)
	}
	basic := func(name, severity, pkg string) map[string]any {
		return map[string]any{"name": name, "severity": severity, "attributes": []any{map[string]string{"key": "package_name", "value": pkg}}}
	}
	at := func(d v1.Hash) string { return "team/app@" + d.String() }

	writeFindings(map[string]any{
		at(amdDigest): map[string]any{"imageScanStatus": map[string]string{"status": "IN_PROGRESS"}},
		at(armDigest): map[string]any{"imageScanStatus": map[string]string{"status": "COMPLETE"},
			"imageScanFindings": map[string]any{"findings": []any{basic("CVE-2024-0002", "CRITICAL", "openssl"), basic("CVE-2024-0001", "CRITICAL", "zlib")}}},
	})
	check(Block, "findings above HIGH in linux/arm64 (sha256:"+armDigest.Hex[:12]+"): 1 CRITICAL; top: CVE-2024-0002 (CRITICAL, openssl)")

	writeFindings(map[string]any{
		at(amdDigest): map[string]any{"imageScanStatus": map[string]string{"status": "IN_PROGRESS"}},
	})
	check(Wait, "the scan of linux/amd64 (sha256:"+amdDigest.Hex[:12]+") is IN_PROGRESS")

	// Every image the file does not name has a complete, clean scan.
	writeFindings(map[string]any{})
	check(Pass, "scanned (2 images), nothing above HIGH", "cosign signature ("+sigTag(digest)+") by keys/release.pub")
}
