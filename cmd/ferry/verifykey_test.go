package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/ferry-dev/ferry/internal/gate/gatetest"
)

// ferry copy --verify-key copies an image only once it carries a signature
// by a trusted key, and writes nothing before that.
func TestCopyVerifyKey(t *testing.T) {
	t.Parallel()
	src, dst := startRegistry(t), startRegistry(t)
	digest := pushImage(t, src+"/app:v1", 7).String()
	trusted, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	pub, err := gatetest.PublicKeyPEM(trusted)
	if err != nil {
		t.Fatal(err)
	}
	keyFile := filepath.Join(t.TempDir(), "release.pub")
	if err := os.WriteFile(keyFile, pub, 0o600); err != nil {
		t.Fatal(err)
	}
	repo, err := name.NewRepository(src+"/app", name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	copyVerified := func() (int, string) {
		code, _, stderr := runFerry(t, "copy", "--verify-key", keyFile, src+"/app:v1", dst+"/app")
		return code, stderr
	}
	absent := func(what string) {
		t.Helper()
		ref, _ := name.ParseReference(dst+"/app:v1", name.Insecure)
		if _, err := remote.Head(ref); err == nil {
			t.Errorf("%s: the destination holds app:v1, want nothing written", what)
		}
	}

	if code, stderr := copyVerified(); code != exitFailed || !strings.Contains(stderr, digest) || !strings.Contains(stderr, "nothing was copied") {
		t.Errorf("unsigned: exit %d, stderr %q; want 1 naming %s and that nothing was copied", code, stderr, digest)
	}
	absent("unsigned")

	if _, err := gatetest.SignCosign(context.Background(), repo, digest, other); err != nil {
		t.Fatal(err)
	}
	if code, stderr := copyVerified(); code != exitFailed || !strings.Contains(stderr, keyFile) {
		t.Errorf("signed by another key: exit %d, stderr %q; want 1 naming the key tried", code, stderr)
	}
	absent("signed by another key")

	sig, err := gatetest.SignCosign(context.Background(), repo, digest, trusted)
	if err != nil {
		t.Fatal(err)
	}
	code, stderr := copyVerified()
	if code != exitOK || !strings.Contains(stderr, "signature verified") {
		t.Fatalf("signed by the key: exit %d, stderr %q; want 0 and the signature verified", code, stderr)
	}
	// The image under its tag, and the signature with it.
	for ref, want := range map[string]string{dst + "/app:v1": digest, dst + "/app:" + strings.Replace(digest, ":", "-", 1) + ".sig": sig} {
		r, _ := name.ParseReference(ref, name.Insecure)
		d, err := remote.Head(r)
		if err != nil || d.Digest.String() != want {
			t.Errorf("%s: %v, %v; want %s", ref, d, err, want)
		}
	}

	if code, _, stderr := runFerry(t, "copy", "--verify-key", filepath.Join(t.TempDir(), "missing.pub"), src+"/app:v1", dst+"/app"); code == exitOK || !strings.Contains(stderr, "--verify-key") {
		t.Errorf("a missing key file: exit %d, stderr %q; want a failure naming --verify-key", code, stderr)
	}
}
