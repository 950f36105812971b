package gate

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/sigstore/sigstore/pkg/signature/payload"

	"github.com/ferry-dev/ferry/internal/config"
)

// kmsServer speaks KMS's JSON protocol (TrentService.GetPublicKey) for one
// key, and records the region each request was signed for.
type kmsServer struct {
	arn string
	der []byte

	mu      sync.Mutex
	regions []string
}

func (s *kmsServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	// Authorization: AWS4-HMAC-SHA256 Credential=AKID/20260101/eu-west-1/kms/aws4_request, ...
	if _, scope, ok := strings.Cut(r.Header.Get("Authorization"), "Credential="); ok {
		if parts := strings.Split(scope, "/"); len(parts) > 2 {
			s.mu.Lock()
			s.regions = append(s.regions, parts[2])
			s.mu.Unlock()
		}
	}
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	var in struct{ KeyId string }
	if r.Header.Get("X-Amz-Target") != "TrentService.GetPublicKey" || json.Unmarshal(body, &in) != nil {
		w.WriteHeader(http.StatusBadRequest)
		io.WriteString(w, `{"__type":"UnsupportedOperationException","message":"only GetPublicKey"}`)
		return
	}
	if in.KeyId != s.arn {
		w.WriteHeader(http.StatusBadRequest)
		io.WriteString(w, `{"__type":"NotFoundException","message":"Key '`+in.KeyId+`' does not exist"}`)
		return
	}
	json.NewEncoder(w).Encode(map[string]any{
		"KeyId": s.arn, "PublicKey": base64.StdEncoding.EncodeToString(s.der), "KeyUsage": "SIGN_VERIFY",
		"KeySpec": "ECC_NIST_P256", "SigningAlgorithms": []string{"ECDSA_SHA_256"},
	})
}

// TestKMSOverTheWire verifies a signature made by a KMS key, with the SDK's
// own KMS client talking to a KMS stand-in: the request shape, the
// response's decoding and the per-key region are the real client's.
func TestKMSOverTheWire(t *testing.T) {
	t.Parallel()
	const arn = "arn:aws:kms:eu-west-1:111111111111:key/1234abcd-12ab-34cd-56ef-1234567890ab"
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, _ := x509.MarshalPKIXPublicKey(&key.PublicKey)
	fake := &kmsServer{arn: arn, der: der}
	srv := httptest.NewServer(fake)
	t.Cleanup(srv.Close)
	client := kms.New(kms.Options{
		Region: "us-east-1", BaseEndpoint: aws.String(srv.URL),
		Credentials: credentials.NewStaticCredentialsProvider("AKIDEXAMPLE", "secret", ""),
	})

	w := newWorld(t)
	digest, _ := w.pushImage("team/app")
	ref, _ := name.NewDigest(w.host + "/team/app@" + digest)
	body, _ := (&payload.Cosign{Image: ref}).MarshalJSON()
	sum := sha256.Sum256(body)
	sig, _ := ecdsa.SignASN1(rand.Reader, key, sum[:])
	layer := w.pushBlob("team/app", body, SimpleSigningMediaType)
	layer.Annotations = map[string]string{SignatureAnnotation: base64.StdEncoding.EncodeToString(sig)}
	w.putManifest("team/app", sigTag(digest), []v1.Descriptor{layer}, nil, "")

	res, err := NewSignatures(w.reg, client).Check(context.Background(), config.SignatureGate{Keys: []config.Key{{KMS: arn}}}, "team/app", digest)
	if err != nil {
		t.Fatal(err)
	}
	wantDecision(t, res, Pass, "by "+arn)
	if got := strings.Join(fake.regions, " "); got != "eu-west-1" {
		t.Errorf("requests signed for %q, want one, for the key's region eu-west-1", got)
	}

	const missing = "arn:aws:kms:eu-west-1:111111111111:key/00000000-0000-0000-0000-000000000000"
	_, err = KMSKey(context.Background(), client, missing)
	if err == nil || !strings.Contains(err.Error(), "get the public key of "+missing) || !strings.Contains(err.Error(), "NotFoundException") {
		t.Errorf("err = %v, want KMS's NotFoundException for the key", err)
	}
}
