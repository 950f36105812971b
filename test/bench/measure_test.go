package main

import (
	"context"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	ggcrregistry "github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/ferry-dev/ferry/test/imagegen"
)

func TestVerifyDigestsFlagsAChangedDigest(t *testing.T) {
	srv := httptest.NewServer(ggcrregistry.New())
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")

	img, err := imagegen.RandomImage(v1.Platform{OS: "linux", Architecture: "amd64"}, 1, 1, 1024)
	if err != nil {
		t.Fatal(err)
	}
	ref := host + "/bench/small:v1"
	r, err := name.ParseReference(ref, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(r, img); err != nil {
		t.Fatal(err)
	}
	want, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if issue := verifyDigests(ctx, []string{ref}, want); issue != "" {
		t.Errorf("same digest reported as %q", issue)
	}
	other := v1.Hash{Algorithm: "sha256", Hex: strings.Repeat("0", 64)}
	if issue := verifyDigests(ctx, []string{ref}, other); !strings.Contains(issue, "source is") {
		t.Errorf("changed digest reported as %q", issue)
	}
	if issue := verifyDigests(ctx, []string{host + "/bench/missing:v1"}, want); issue == "" {
		t.Error("missing tag not reported")
	}
}
