package workflow

import (
	"context"
	"errors"
	"fmt"
	"github.com/ferry-dev/ferry/internal/ecr"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsecr "github.com/aws/aws-sdk-go-v2/service/ecr"
	ecrtypes "github.com/aws/aws-sdk-go-v2/service/ecr/types"
	"github.com/ferry-dev/ferry/internal/config"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"

	"github.com/ferry-dev/ferry/internal/imagecopy"
)

// testRegistry is a real registry server with a fault hook in front: fault
// answers a request instead of the registry when it returns a status.
type testRegistry struct {
	host string

	mu    sync.Mutex
	fault func(r *http.Request) (status int, code string)
	auth  []string // Authorization headers seen
}

func startRegistry(t *testing.T) *testRegistry {
	t.Helper()
	tr := &testRegistry{}
	reg := registry.New(registry.Logger(log.New(io.Discard, "", 0)))
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tr.mu.Lock()
		tr.auth = append(tr.auth, r.Header.Get("Authorization"))
		f := tr.fault
		tr.mu.Unlock()
		if f != nil {
			if status, code := f(r); status != 0 {
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(status)
				io.WriteString(w, `{"errors":[{"code":"`+code+`","message":"injected"}]}`)
				return
			}
		}
		reg.ServeHTTP(w, r)
	}))
	t.Cleanup(s.Close)
	tr.host = strings.TrimPrefix(s.URL, "http://")
	return tr
}

func (tr *testRegistry) setFault(f func(r *http.Request) (int, string)) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	tr.fault = f
}

func (tr *testRegistry) push(t *testing.T, ref string) v1.Image {
	t.Helper()
	img, err := random.Image(2048, 2)
	if err != nil {
		t.Fatal(err)
	}
	r, err := name.ParseReference(tr.host+"/"+ref, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(r, img); err != nil {
		t.Fatal(err)
	}
	return img
}

// copyWorld is a source and a production destination registry behind fake
// ECR clients, with team/app:release-1.0 in the source.
type copyWorld struct {
	src, dst       *testRegistry
	srcECR, dstECR *fakeECR
	roles          *fakeRoles
	job            Job
}

func newCopyWorld(t *testing.T) *copyWorld {
	t.Helper()
	w := &copyWorld{src: startRegistry(t), dst: startRegistry(t)}
	img := w.src.push(t, "team/app:release-1.0")
	d, _ := img.Digest()
	w.srcECR, w.dstECR = newFakeECR("111111111111/us-east-1"), newFakeECR(prodID)
	w.srcECR.host, w.dstECR.host = w.src.host, w.dst.host
	w.roles = &fakeRoles{ecr: map[string]*fakeECR{"111111111111/us-east-1": w.srcECR, prodID: w.dstECR}}
	w.job = testJob(prodID)
	w.job.Digest = d.String()
	w.srcECR.addImage("team/app", d.String(), "release-1.0") // what the source's tag points at
	return w
}

// A copy that runs out of its function's time stops while there is time
// left to say so, as an error a retry may fix (it goes on from the blobs
// already copied).
func TestCopyImageOutOfTime(t *testing.T) {
	t.Parallel()
	w := newCopyWorld(t)
	// A blob upload (one streamed PUT, or PATCH and PUT) that takes longer
	// than the time left: it hangs until the test ends (a server notices a
	// client gone only once it has read the body, which it does not here).
	release := make(chan struct{})
	t.Cleanup(func() { close(release) }) // before the registry closes
	w.dst.setFault(func(r *http.Request) (int, string) {
		if (r.Method == http.MethodPatch || r.Method == http.MethodPut) && strings.Contains(r.URL.Path, "/blobs/uploads/") {
			select {
			case <-r.Context().Done():
			case <-release:
			}
		}
		return 0, ""
	})
	ctx, cancel := context.WithTimeout(context.Background(), copyReserve+200*time.Millisecond)
	defer cancel()
	log, _ := testLogger()
	start := time.Now()
	_, err := NewCopyImage(log, testEnv(t), w.roles).Handle(ctx, Replication{Job: w.job})
	var re *RetryableError
	if !errors.As(err, &re) || !strings.Contains(err.Error(), "did not finish in the function's time") {
		t.Fatalf("error %T %v, want a RetryableError saying the time ran out", err, err)
	}
	if took := time.Since(start); took > copyReserve {
		t.Errorf("took %s: the copy should stop %s before the function's deadline", took, copyReserve)
	}
}

func isManifestPut(r *http.Request) bool {
	return r.Method == http.MethodPut && strings.Contains(r.URL.Path, "/manifests/")
}

func TestCopyImage(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name           string
		setup          func(t *testing.T, w *copyWorld)
		wantErr        any
		wantSuperseded bool
	}{
		{name: "copied"},
		{name: "tag taken by another image, onExistingTag fail", setup: func(t *testing.T, w *copyWorld) {
			w.dst.push(t, "team/app:release-1.0")
		}, wantErr: new(*ConflictError)},
		{name: "source tag moved on to a later push (superseded)", setup: func(t *testing.T, w *copyWorld) {
			w.srcECR.addImage("team/app", digestA, "release-1.0") // the tag now points at another image
		}, wantSuperseded: true},
		{name: "a job that says overwrite where the configuration says fail", setup: func(t *testing.T, w *copyWorld) {
			w.dst.push(t, "team/app:release-1.0")
			w.job.OnExistingTag = "overwrite"
		}, wantErr: new(*ConflictError)},
		{name: "immutable tag refused by ECR (ImageTagAlreadyExistsException)", setup: func(_ *testing.T, w *copyWorld) {
			w.dst.setFault(func(r *http.Request) (int, string) {
				if isManifestPut(r) {
					return http.StatusBadRequest, "ImageTagAlreadyExistsException"
				}
				return 0, ""
			})
		}, wantErr: new(*ConflictError)},
		{name: "immutable tag refused on the data plane (TAG_INVALID)", setup: func(_ *testing.T, w *copyWorld) {
			w.dst.setFault(func(r *http.Request) (int, string) {
				if isManifestPut(r) {
					return http.StatusBadRequest, "TAG_INVALID"
				}
				return 0, ""
			})
		}, wantErr: new(*ConflictError)},
		{name: "destination unavailable", setup: func(_ *testing.T, w *copyWorld) {
			w.dst.setFault(func(r *http.Request) (int, string) {
				if strings.Contains(r.URL.Path, "/blobs/") {
					return http.StatusServiceUnavailable, "UNAVAILABLE"
				}
				return 0, ""
			})
		}, wantErr: new(*RetryableError)},
		{name: "destination refuses the token", setup: func(_ *testing.T, w *copyWorld) {
			w.dst.setFault(func(r *http.Request) (int, string) {
				if r.URL.Path != "/v2/" {
					return http.StatusForbidden, "DENIED"
				}
				return 0, ""
			})
		}, wantErr: new(*AccessDeniedError)},
		{name: "destination token throttled", setup: func(_ *testing.T, w *copyWorld) {
			w.dstECR.failNext("GetAuthorizationToken", apiErr("ThrottlingException"))
		}, wantErr: new(*RetryableError)},
		{name: "source token denied", setup: func(_ *testing.T, w *copyWorld) {
			w.srcECR.failNext("GetAuthorizationToken", apiErr("AccessDeniedException"))
		}, wantErr: new(*AccessDeniedError)},
		{name: "destination role not assumable", setup: func(_ *testing.T, w *copyWorld) {
			w.roles.assumeErr = apiErr("AccessDenied")
		}, wantErr: new(*AccessDeniedError)},
		{name: "destination outside the configuration", setup: func(_ *testing.T, w *copyWorld) {
			w.job.Repository = "not/configured"
		}, wantErr: new(*ValidationError)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			w := newCopyWorld(t)
			if tt.setup != nil {
				tt.setup(t, w)
			}
			log, logs := testLogger()
			step := NewCopyImage(log, testEnv(t), w.roles, imagecopy.WithBackoff(imagecopy.Backoff{Attempts: 1}))
			out, err := step.Handle(context.Background(), Replication{Job: w.job})
			assertNoSecrets(t, out, err, logs.String())
			if tt.wantErr != nil {
				if !errors.As(err, tt.wantErr) {
					t.Fatalf("error %T %v, want %T", err, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tt.wantSuperseded {
				if out.Copy == nil || out.Copy.Status != StatusSuperseded || !strings.Contains(out.Copy.Reason, digestA) {
					t.Fatalf("copy %+v, want superseded naming the digest the tag points at now", out.Copy)
				}
				w.dst.mu.Lock()
				if n := len(w.dst.auth); n != 0 {
					t.Errorf("%d requests to the destination registry for a superseded copy", n)
				}
				w.dst.mu.Unlock()
				return
			}
			c := out.Copy
			if c == nil || c.Status != string(imagecopy.StatusCopied) || c.Digest != w.job.Digest || c.BytesCopied == 0 || c.Image != "team/app:release-1.0" {
				t.Fatalf("copy %+v", c)
			}
			ref, _ := name.NewTag(w.dst.host+"/team/app:release-1.0", name.Insecure)
			d, err := remote.Head(ref)
			if err != nil || d.Digest.String() != w.job.Digest {
				t.Fatalf("destination tag: %v %v, want %s", d, err, w.job.Digest)
			}
			// Both registries were reached with the token from GetAuthorizationToken.
			for _, r := range []*testRegistry{w.src, w.dst} {
				r.mu.Lock()
				authed := false
				for _, a := range r.auth {
					authed = authed || a != ""
				}
				r.mu.Unlock()
				if !authed {
					t.Errorf("%s saw no Authorization header", r.host)
				}
			}

			w.roles.mu.Lock()
			for _, ro := range w.roles.assumed {
				if ro.Access != ecr.AccessWrite {
					t.Errorf("CopyImage assumed %+v, want it for writing", ro)
				}
			}
			w.roles.mu.Unlock()

			// Again: the destination is up to date, nothing is written.
			out, err = step.Handle(context.Background(), Replication{Job: w.job})
			if err != nil || out.Copy.Status != string(imagecopy.StatusUnchanged) || out.Copy.BytesCopied != 0 {
				t.Errorf("second copy: %+v, %v; want unchanged", out.Copy, err)
			}
		})
	}
}

func TestVerify(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name           string
		setup          func(t *testing.T, w *copyWorld)
		precheck       bool // the check before an approval, not after the copy
		wantErr        any
		wantSuperseded bool
	}{
		{name: "verified"},
		{name: "verified before an approval", precheck: true},
		{name: "tag points elsewhere", setup: func(t *testing.T, w *copyWorld) {
			w.dst.push(t, "team/app:release-1.0")
		}, wantErr: new(*VerificationError)},
		// A later push moved the source tag, and its run the destination's:
		// superseded, not failed.
		{name: "tag moved on by a later push's run", setup: func(t *testing.T, w *copyWorld) {
			img := w.dst.push(t, "team/app:release-1.0")
			d, _ := img.Digest()
			w.srcECR.addImage("team/app", d.String(), "release-1.0")
		}, wantSuperseded: true},
		// onExistingTag: fail keeps the tag, so no approval could help.
		{name: "tag points elsewhere, before an approval", setup: func(t *testing.T, w *copyWorld) {
			w.dst.push(t, "team/app:release-1.0")
		}, precheck: true, wantErr: new(*ConflictError)},
		{name: "a blob is missing", setup: func(_ *testing.T, w *copyWorld) {
			w.dst.setFault(func(r *http.Request) (int, string) {
				if r.Method == http.MethodHead && strings.Contains(r.URL.Path, "/blobs/") {
					return http.StatusNotFound, "BLOB_UNKNOWN"
				}
				return 0, ""
			})
		}, wantErr: new(*VerificationError)},
		{name: "destination refuses the token", setup: func(_ *testing.T, w *copyWorld) {
			w.dst.setFault(func(r *http.Request) (int, string) {
				if r.URL.Path != "/v2/" {
					return http.StatusForbidden, "DENIED"
				}
				return 0, ""
			})
		}, wantErr: new(*AccessDeniedError)},
		{name: "destination token throttled", setup: func(_ *testing.T, w *copyWorld) {
			w.dstECR.failNext("GetAuthorizationToken", apiErr("ThrottlingException"))
		}, wantErr: new(*RetryableError)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			w := newCopyWorld(t)
			copied, err := NewCopyImage(slog0(), testEnv(t), w.roles).Handle(context.Background(), Replication{Job: w.job})
			if err != nil {
				t.Fatal(err)
			}
			if tt.precheck {
				copied.Copy = nil
			}
			if tt.setup != nil {
				tt.setup(t, w)
			}
			w.roles.mu.Lock()
			before := len(w.roles.assumed)
			w.roles.mu.Unlock()
			log, logs := testLogger()
			out, err := NewVerify(log, testEnv(t), w.roles).Handle(context.Background(), copied)
			assertNoSecrets(t, out, err, logs.String())
			w.roles.mu.Lock()
			for _, ro := range w.roles.assumed[before:] {
				if ro.Access != ecr.AccessRead {
					t.Errorf("Verify assumed %+v, want it for reading only", ro)
				}
			}
			w.roles.mu.Unlock()
			if tt.wantErr != nil {
				if !errors.As(err, tt.wantErr) {
					t.Fatalf("error %T %v, want %T", err, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tt.wantSuperseded {
				if out.Copy == nil || out.Copy.Status != StatusSuperseded || !strings.Contains(out.Copy.Reason, "later push") {
					t.Fatalf("copy %+v, want superseded by the later push", out.Copy)
				}
				return
			}
			// random.Image(2048, 2): one manifest, a config and two layers.
			if v := out.Verify; v == nil || !v.Verified || v.Digest != w.job.Digest || v.Manifests != 1 || v.Blobs != 3 {
				t.Errorf("verify %+v", v)
			}
		})
	}
}

// verifyErr's classes for the registry answers that the registry client
// retries itself first (and so take seconds to reach through Handle).
func TestVerifyErr(t *testing.T) {
	t.Parallel()
	tests := []struct {
		status  int
		wantErr any
	}{
		{http.StatusTooManyRequests, new(*RetryableError)},
		{http.StatusInternalServerError, new(*RetryableError)},
		{http.StatusServiceUnavailable, new(*RetryableError)},
		{http.StatusNotFound, new(*VerificationError)},
		{http.StatusUnauthorized, new(*AccessDeniedError)},
		{http.StatusForbidden, new(*AccessDeniedError)},
		{http.StatusBadRequest, new(*ReplicationError)},
	}
	for _, tt := range tests {
		err := verifyErr("verify", "blob", &transport.Error{StatusCode: tt.status})
		if !errors.As(err, tt.wantErr) {
			t.Errorf("%d: %T %v, want %T", tt.status, err, err, tt.wantErr)
		}
	}
}

// describeRepos answers DescribeRepositories with one repository.
type describeRepos struct {
	ecr.API
	repo ecrtypes.Repository
}

func (d describeRepos) DescribeRepositories(context.Context, *awsecr.DescribeRepositoriesInput, ...func(*awsecr.Options)) (*awsecr.DescribeRepositoriesOutput, error) {
	return &awsecr.DescribeRepositoriesOutput{Repositories: []ecrtypes.Repository{d.repo}}, nil
}

// Whether a tag can be moved, by the repository's tag mutability and its
// exclusion filters.
func TestTagImmutable(t *testing.T) {
	t.Parallel()
	filters := []ecrtypes.ImageTagMutabilityExclusionFilter{{Filter: aws.String("latest"), FilterType: ecrtypes.ImageTagMutabilityExclusionFilterTypeWildcard},
		{Filter: aws.String("dev-*-rc"), FilterType: ecrtypes.ImageTagMutabilityExclusionFilterTypeWildcard}}
	tests := []struct {
		mutability ecrtypes.ImageTagMutability
		tag        string
		want       bool
	}{
		{ecrtypes.ImageTagMutabilityMutable, "release-1.0", false},
		{ecrtypes.ImageTagMutabilityImmutable, "release-1.0", true},
		{ecrtypes.ImageTagMutabilityImmutableWithExclusion, "release-1.0", true},
		{ecrtypes.ImageTagMutabilityImmutableWithExclusion, "latest", false},
		{ecrtypes.ImageTagMutabilityImmutableWithExclusion, "dev-7-rc", false},
		{ecrtypes.ImageTagMutabilityImmutableWithExclusion, "dev-7-rc2", true},
		{ecrtypes.ImageTagMutabilityMutableWithExclusion, "latest", true},
		{ecrtypes.ImageTagMutabilityMutableWithExclusion, "release-1.0", false},
	}
	d := config.Destination{Account: "222222222222", Region: "eu-west-1"}
	for _, tt := range tests {
		api := describeRepos{repo: ecrtypes.Repository{ImageTagMutability: tt.mutability, ImageTagMutabilityExclusionFilters: filters}}
		got, err := tagImmutable(context.Background(), api, d, "team/app", tt.tag)
		if err != nil || got != tt.want {
			t.Errorf("%s %s: immutable %t (%v), want %t", tt.mutability, tt.tag, got, err, tt.want)
		}
	}
}

// TestCopyImageTagMovedDuringTheCopy: a push moves the source tag while
// the copy runs; the copy writes everything but the tag and is
// superseded, so the later push's run, not this one, has the last word.
func TestCopyImageTagMovedDuringTheCopy(t *testing.T) {
	t.Parallel()
	w := newCopyWorld(t)
	var once sync.Once
	moved := false
	w.src.setFault(func(r *http.Request) (int, string) {
		if r.Method == http.MethodGet && strings.Contains(r.URL.Path, "/blobs/") {
			once.Do(func() {
				w.srcECR.addImage("team/app", digestA, "release-1.0") // the later push
				moved = true
			})
		}
		return 0, ""
	})
	step := NewCopyImage(slog0(), testEnv(t), w.roles, imagecopy.WithBackoff(imagecopy.Backoff{Attempts: 1}))
	out, err := step.Handle(context.Background(), Replication{Job: w.job})
	if err != nil {
		t.Fatal(err)
	}
	if !moved {
		t.Fatal("the tag was never moved: no blob was read from the source")
	}
	if out.Copy == nil || out.Copy.Status != StatusSuperseded || !strings.Contains(out.Copy.Reason, "during the copy") || !strings.Contains(out.Copy.Reason, digestA) {
		t.Fatalf("copy %+v, want superseded during the copy, naming %s", out.Copy, digestA)
	}
	ref, _ := name.NewTag(w.dst.host+"/team/app:release-1.0", name.Insecure)
	if _, err := remote.Head(ref); err == nil {
		t.Error("the destination tag was written although the source tag had moved on")
	}
	if out.Copy.BytesCopied == 0 {
		t.Error("no blob copied: the copy was stopped before the tag, not before it began")
	}
}

// The copy engine's errors are judged by its own test: a URL error is not
// a network fault to retry when the engine says it is final (say, a token
// service refused for the credentials), and a broken stream is retried.
func TestClassifyCopy(t *testing.T) {
	t.Parallel()
	final := &url.Error{Op: "Get", URL: "http://realm.example/token", Err: errors.New("refused: credentials are not sent to a plain-HTTP realm on another host")}
	for _, tt := range []struct {
		name  string
		err   error
		retry bool
	}{
		{"refused realm", fmt.Errorf("copy: %w", final), false},
		{"broken stream", fmt.Errorf("copy: %w", io.ErrUnexpectedEOF), true},
		{"stall", fmt.Errorf("copy: %w", imagecopy.ErrStalled), true},
		{"too large", fmt.Errorf("copy: %w", imagecopy.ErrTooLarge), false},
	} {
		err := classifyCopy("copy team/app", tt.err)
		if got := errors.As(err, new(*RetryableError)); got != tt.retry {
			t.Errorf("%s: %T %v, want retryable %t", tt.name, err, err, tt.retry)
		}
	}
}
