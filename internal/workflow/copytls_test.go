package workflow

import (
	"context"
	"crypto/x509"
	"io"
	"log"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/ferry-dev/ferry/internal/imagecopy"
)

// Each side of a copy is spoken to as its endpoint says: a plain-HTTP
// source (a local stand-in) and an HTTPS destination in one copy. (It
// used to turn plain HTTP on for both when either needed it.)
func TestCopyImagePlainHTTPSourceToHTTPSDestination(t *testing.T) {
	t.Parallel()
	w := newCopyWorld(t)
	s := httptest.NewUnstartedServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	s.Config.ErrorLog = log.New(io.Discard, "", 0)
	s.StartTLS()
	t.Cleanup(s.Close)
	w.dstECR.host, w.dstECR.https = strings.TrimPrefix(s.URL, "https://"), true
	pool := x509.NewCertPool()
	pool.AddCert(s.Certificate())

	log, _ := testLogger()
	res, err := NewCopyImage(log, testEnv(t), w.roles, imagecopy.WithRootCAs(pool)).Handle(context.Background(), Replication{Job: w.job})
	if err != nil {
		t.Fatalf("CopyImage: %v", err)
	}
	if res.Copy == nil || res.Copy.Status != string(imagecopy.StatusCopied) {
		t.Fatalf("result %+v, want copied", res.Copy)
	}
	ref, err := name.NewTag(w.dstECR.host + "/team/app:release-1.0")
	if err != nil {
		t.Fatal(err)
	}
	desc, err := remote.Head(ref, remote.WithTransport(s.Client().Transport))
	if err != nil || desc.Digest.String() != w.job.Digest {
		t.Errorf("the HTTPS destination's tag: %v, %v; want %s", desc, err, w.job.Digest)
	}
}
