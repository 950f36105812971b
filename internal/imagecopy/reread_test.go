package imagecopy

import (
	"errors"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
)

// A blob GET the source answers 503 every time is retried by the request's
// own Backoff, Attempts times, and not again by the per-blob re-read: that
// would multiply them (Attempts² GETs, each with its waits). The error stays
// retryable, for the workflow's Step Functions Retry to try the copy later.
func TestFailedBlobReadIsRetriedOnce(t *testing.T) {
	t.Parallel()
	src, dst := newTestRegistry(t, true), newTestRegistry(t, true)
	data := randomBytes(91, 1000)
	layer := src.pushBlob("app", ociTypes.layer, data)
	cfg := src.pushBlob("app", ociTypes.config, []byte(`{"os":"linux"}`))
	body := []byte(`{"schemaVersion":2,"mediaType":"` + mtOCIManifest + `","config":{"mediaType":"` + ociTypes.config + `","digest":"` + cfg.Digest + `","size":` + itoa(int(cfg.Size)) + `},"layers":[{"mediaType":"` + ociTypes.layer + `","digest":"` + layer.Digest + `","size":` + itoa(len(data)) + `}]}`)
	src.pushManifest("app", "v1", mtOCIManifest, body)
	var gets atomic.Int32
	src.setFault(func(w http.ResponseWriter, r *http.Request) bool {
		if r.Method == http.MethodGet && strings.HasSuffix(r.URL.Path, "/blobs/"+layer.Digest) {
			gets.Add(1)
			http.Error(w, `{"errors":[{"code":"UNAVAILABLE","message":"try later"}]}`, http.StatusServiceUnavailable)
			return true
		}
		return false
	})
	c := testCopier()
	_, err := copyOne(t, c, src.ref("app:v1"), Destination{Ref: dst.ref("app:v1")})
	var re *RegistryError
	if !errors.As(err, &re) || re.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("error = %v, want the source's 503", err)
	}
	if !Retryable(err) {
		t.Errorf("Retryable(%v) = false, want true: a later copy may succeed", err)
	}
	if got, want := int(gets.Load()), c.backoff.Attempts; got != want {
		t.Errorf("layer read %d times, want %d (the request's attempts, not re-read on top of them)", got, want)
	}
	if started, cancelled := dst.count("POST uploads"), dst.count("DELETE uploads"); cancelled != 1 {
		t.Errorf("%d upload sessions started, %d cancelled; want the layer's one session cancelled, none reopened", started, cancelled)
	}
}
