package emulator_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	"github.com/aws/aws-sdk-go-v2/service/ecr/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	ggcrtypes "github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/ferry-dev/ferry/internal/emulator"
)

const (
	account  = "111122223333"
	account2 = "444455556666"
	region   = "eu-west-1"
)

// newEmulator starts an emulator for the test, closed at cleanup.
func newEmulator(t *testing.T, opts ...emulator.Option) *emulator.Emulator {
	t.Helper()
	em, err := emulator.New(slog.New(slog.DiscardHandler), opts...)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if err := em.Start(t.Context()); err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() {
		if err := em.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return em
}

func newRegistry(t *testing.T, em *emulator.Emulator, acct, reg string, opts ...emulator.Option) *emulator.Registry {
	t.Helper()
	r, err := em.AddRegistry(acct, reg, opts...)
	if err != nil {
		t.Fatalf("AddRegistry(%s, %s): %v", acct, reg, err)
	}
	return r
}

// noBackoff retries at once, keeping fault tests fast.
type noBackoff struct{}

func (noBackoff) BackoffDelay(int, error) (time.Duration, error) { return 0, nil }

// awsConfig is what Ferry's Lambdas build, with static credentials and
// retries without delay.
func awsConfig(t *testing.T, reg string, creds aws.CredentialsProvider) aws.Config {
	t.Helper()
	if creds == nil {
		creds = credentials.NewStaticCredentialsProvider("AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "")
	}
	cfg, err := config.LoadDefaultConfig(t.Context(),
		config.WithRegion(reg),
		config.WithCredentialsProvider(creds),
		config.WithRetryer(func() aws.Retryer {
			return retry.NewStandard(func(o *retry.StandardOptions) {
				o.MaxAttempts = 3
				o.Backoff = noBackoff{}
				o.RateLimiter = ratelimit.None
			})
		}),
	)
	if err != nil {
		t.Fatalf("load AWS config: %v", err)
	}
	return cfg
}

func ecrClient(t *testing.T, endpoint, reg string) *ecr.Client {
	t.Helper()
	return ecr.NewFromConfig(awsConfig(t, reg, nil), func(o *ecr.Options) { o.BaseEndpoint = aws.String(endpoint) })
}

func stsClient(t *testing.T, endpoint string, creds aws.CredentialsProvider) *sts.Client {
	t.Helper()
	return sts.NewFromConfig(awsConfig(t, "us-east-1", creds), func(o *sts.Options) { o.BaseEndpoint = aws.String(endpoint) })
}

// apiErr returns the error's code and HTTP status, failing if err is not an
// API error.
func apiErr(t *testing.T, err error) (string, int) {
	t.Helper()
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		t.Fatalf("error %v is not a smithy.APIError", err)
	}
	status := 0
	var re *smithyhttp.ResponseError
	if errors.As(err, &re) {
		status = re.HTTPStatusCode()
	}
	return ae.ErrorCode(), status
}

// login returns data-plane credentials from GetAuthorizationToken, checking
// the token's shape.
func login(t *testing.T, c *ecr.Client) authn.Authenticator {
	t.Helper()
	out, err := c.GetAuthorizationToken(t.Context(), &ecr.GetAuthorizationTokenInput{})
	if err != nil {
		t.Fatalf("GetAuthorizationToken: %v", err)
	}
	raw, err := base64.StdEncoding.DecodeString(aws.ToString(out.AuthorizationData[0].AuthorizationToken))
	if err != nil {
		t.Fatalf("token is not base64: %v", err)
	}
	user, pass, ok := strings.Cut(string(raw), ":")
	if !ok || user != "AWS" || pass == "" {
		t.Fatalf("token decodes to user %q, want AWS:<password>", user)
	}
	return &authn.Basic{Username: user, Password: pass}
}

func repoRef(t *testing.T, host, repo string) name.Repository {
	t.Helper()
	r, err := name.NewRepository(host+"/"+repo, name.Insecure)
	if err != nil {
		t.Fatalf("repository reference: %v", err)
	}
	return r
}

func remoteOpts(ctx context.Context, auth authn.Authenticator) []remote.Option {
	return []remote.Option{
		remote.WithAuth(auth),
		remote.WithContext(ctx),
		remote.WithRetryBackoff(remote.Backoff{Duration: time.Millisecond, Factor: 1, Steps: 3}),
	}
}

func randomImage(t *testing.T) v1.Image {
	t.Helper()
	img, err := random.Image(512, 2)
	if err != nil {
		t.Fatalf("random image: %v", err)
	}
	return img
}

// push writes img to host/repo:tag.
func push(t *testing.T, host, repo, tag string, img v1.Image, auth authn.Authenticator) error {
	t.Helper()
	return remote.Write(repoRef(t, host, repo).Tag(tag), img, remoteOpts(t.Context(), auth)...)
}

// pushReferred pushes a random image as host/repo:v1 and a signature that
// refers to it (OCI subject) by digest; it returns the image's descriptor
// and the signature's digest.
func pushReferred(t *testing.T, host, repo string, auth authn.Authenticator) (v1.Descriptor, v1.Hash) {
	t.Helper()
	img := randomImage(t)
	if err := push(t, host, repo, "v1", img, auth); err != nil {
		t.Fatalf("push: %v", err)
	}
	desc, err := partial(img)
	if err != nil {
		t.Fatal(err)
	}
	sig := mutate.Subject(mutate.MediaType(mutate.ConfigMediaType(empty.Image, "application/vnd.example.sig"), ggcrtypes.OCIManifestSchema1), desc).(v1.Image)
	sigDigest, _ := sig.Digest()
	if err := remote.Write(repoRef(t, host, repo).Digest(sigDigest.String()), sig, remoteOpts(t.Context(), auth)...); err != nil {
		t.Fatalf("push signature: %v", err)
	}
	return desc, sigDigest
}

func createRepo(t *testing.T, c *ecr.Client, repo string, mutability string) {
	t.Helper()
	in := &ecr.CreateRepositoryInput{RepositoryName: aws.String(repo)}
	if mutability != "" {
		in.ImageTagMutability = types.ImageTagMutability(mutability)
	}
	if _, err := c.CreateRepository(t.Context(), in); err != nil {
		t.Fatalf("CreateRepository(%s): %v", repo, err)
	}
}

// rawDo sends a request and returns status, headers and body.
func rawDo(t *testing.T, req *http.Request) (int, http.Header, string) {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}

func newRequest(t *testing.T, method, url string, body []byte) *http.Request {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, url, bytes.NewReader(body))
	if err != nil {
		t.Fatalf("new request: %v", err)
	}
	return req
}
