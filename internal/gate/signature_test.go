package gate

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"math/big"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	kmstypes "github.com/aws/aws-sdk-go-v2/service/kms/types"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
	protobundle "github.com/sigstore/protobuf-specs/gen/pb-go/bundle/v1"
	protocommon "github.com/sigstore/protobuf-specs/gen/pb-go/common/v1"
	protodsse "github.com/sigstore/protobuf-specs/gen/pb-go/dsse"
	"github.com/sigstore/sigstore/pkg/signature/payload"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/ferry-dev/ferry/internal/config"
)

// world is a registry (go-containerregistry's, with the referrers API)
// started for the test, and the gate's RemoteRegistry over it.
type world struct {
	t    *testing.T
	host string
	reg  *RemoteRegistry
	opts []remote.Option // for pushes: auth, where the registry wants it
}

func newWorld(t *testing.T) *world {
	t.Helper()
	srv := httptest.NewServer(registry.New(registry.WithReferrersSupport(true), registry.Logger(nopLogger())))
	t.Cleanup(srv.Close)
	host := strings.TrimPrefix(srv.URL, "http://")
	return worldAt(t, host)
}

// worldAt is a world over the registry at host, pushed to and read with opts.
func worldAt(t *testing.T, host string, opts ...remote.Option) *world {
	t.Helper()
	reg, err := NewRemoteRegistry(host, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return &world{t: t, host: host, reg: reg, opts: opts}
}

func (w *world) repo(repository string) name.Repository {
	r, err := name.NewRepository(w.host + "/" + repository)
	if err != nil {
		w.t.Fatal(err)
	}
	return r
}

// pushImage pushes a random image and returns its digest, manifest and
// media type.
func (w *world) pushImage(repository string) (string, []byte) {
	w.t.Helper()
	img, err := random.Image(256, 1)
	if err != nil {
		w.t.Fatal(err)
	}
	d, _ := img.Digest()
	if err := remote.Write(w.repo(repository).Digest(d.String()), img, w.opts...); err != nil {
		w.t.Fatal(err)
	}
	raw, _ := img.RawManifest()
	return d.String(), raw
}

// rawManifest is a manifest pushed as it is written.
type rawManifest struct {
	body      []byte
	mediaType types.MediaType
}

func (m rawManifest) RawManifest() ([]byte, error)        { return m.body, nil }
func (m rawManifest) MediaType() (types.MediaType, error) { return m.mediaType, nil }

// pushBlob uploads content and returns its descriptor.
func (w *world) pushBlob(repository string, content []byte, mediaType types.MediaType) v1.Descriptor {
	w.t.Helper()
	l := static.NewLayer(content, mediaType)
	if err := remote.WriteLayer(w.repo(repository), l, w.opts...); err != nil {
		w.t.Fatal(err)
	}
	d, _ := l.Digest()
	return v1.Descriptor{MediaType: mediaType, Digest: d, Size: int64(len(content))}
}

// putManifest pushes an OCI manifest at ref (a tag or digest) with the
// given layers, subject and artifactType, and returns its digest.
func (w *world) putManifest(repository, ref string, layers []v1.Descriptor, subject *v1.Descriptor, artifactType string) string {
	w.t.Helper()
	cfg := w.pushBlob(repository, []byte("{}"), emptyConfigType)
	m := map[string]any{"schemaVersion": 2, "mediaType": string(types.OCIManifestSchema1), "config": cfg, "layers": layers}
	if subject != nil {
		m["subject"] = subject
	}
	if artifactType != "" {
		m["artifactType"] = artifactType
	}
	body, err := json.Marshal(m)
	if err != nil {
		w.t.Fatal(err)
	}
	sum := sha256.Sum256(body)
	digest := "sha256:" + hex.EncodeToString(sum[:])
	var r name.Reference = w.repo(repository).Digest(digest)
	if ref != "" {
		r = w.repo(repository).Tag(ref)
	}
	if err := remote.Put(r, rawManifest{body, types.OCIManifestSchema1}, w.opts...); err != nil {
		w.t.Fatal(err)
	}
	return digest
}

// cosignSign pushes a tag-scheme signature of digest: the simple signing
// payload for payloadDigest, signed by kp, as cosign sign --key does.
func (w *world) cosignSign(repository, digest, payloadDigest string, kp testKey) {
	w.t.Helper()
	ref, err := name.NewDigest(w.host + "/" + repository + "@" + payloadDigest)
	if err != nil {
		w.t.Fatal(err)
	}
	body, err := (&payload.Cosign{Image: ref}).MarshalJSON()
	if err != nil {
		w.t.Fatal(err)
	}
	sig := kp.sign(w.t, body)
	layer := w.pushBlob(repository, body, SimpleSigningMediaType)
	layer.Annotations = map[string]string{SignatureAnnotation: base64.StdEncoding.EncodeToString(sig)}
	w.putManifest(repository, sigTag(digest), []v1.Descriptor{layer}, nil, "")
}

// attachBundle pushes b as an OCI 1.1 referrer of the image digest.
func (w *world) attachBundle(repository, digest string, manifest []byte, b *protobundle.Bundle) string {
	w.t.Helper()
	body, err := protojson.Marshal(b)
	if err != nil {
		w.t.Fatal(err)
	}
	layer := w.pushBlob(repository, body, BundleArtifactType)
	subject := &v1.Descriptor{MediaType: types.OCIManifestSchema1, Digest: v1.Hash{Algorithm: "sha256", Hex: strings.TrimPrefix(digest, "sha256:")}, Size: int64(len(manifest))}
	return w.putManifest(repository, "", []v1.Descriptor{layer}, subject, BundleArtifactType)
}

// statement is an in-toto statement about the image digest, as cosign
// signs it in a DSSE bundle.
func statement(t *testing.T, repository, digest string) []byte {
	t.Helper()
	b, err := json.Marshal(map[string]any{
		"_type":         "https://in-toto.io/Statement/v1",
		"subject":       []any{map[string]any{"name": repository, "digest": map[string]string{"sha256": strings.TrimPrefix(digest, "sha256:")}}},
		"predicateType": "https://sigstore.dev/cosign/sign/v1",
		"predicate":     map[string]any{},
	})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// bundleMediaType is the media type of the bundles cosign and sigstore-go
// write today.
const bundleMediaType = "application/vnd.dev.sigstore.bundle.v0.3+json"

// keyBundle is a bundle verified by a public key (its hint), as cosign
// sign --key --new-bundle-format writes it: no transparency log entry when
// none is asked for.
func keyBundle(k testKey) *protobundle.Bundle {
	return &protobundle.Bundle{
		MediaType: bundleMediaType,
		VerificationMaterial: &protobundle.VerificationMaterial{
			Content: &protobundle.VerificationMaterial_PublicKey{PublicKey: &protocommon.PublicKeyIdentifier{Hint: k.hint()}},
		},
	}
}

// dsseBundle signs an in-toto statement about digest in a DSSE envelope:
// the signature is over the envelope's pre-authentication encoding.
func dsseBundle(t *testing.T, k testKey, repository, digest string) *protobundle.Bundle {
	t.Helper()
	const payloadType = "application/vnd.in-toto+json"
	st := statement(t, repository, digest)
	pae := fmt.Sprintf("DSSEv1 %d %s %d %s", len(payloadType), payloadType, len(st), st)
	b := keyBundle(k)
	b.Content = &protobundle.Bundle_DsseEnvelope{DsseEnvelope: &protodsse.Envelope{
		Payload: st, PayloadType: payloadType, Signatures: []*protodsse.Signature{{Sig: k.sign(t, []byte(pae))}},
	}}
	return b
}

// messageBundle signs artifact (an image manifest) directly.
func messageBundle(t *testing.T, k testKey, artifact []byte) *protobundle.Bundle {
	t.Helper()
	sum := sha256.Sum256(artifact)
	b := keyBundle(k)
	b.Content = &protobundle.Bundle_MessageSignature{MessageSignature: &protocommon.MessageSignature{
		MessageDigest: &protocommon.HashOutput{Algorithm: protocommon.HashAlgorithm_SHA2_256, Digest: sum[:]},
		Signature:     k.sign(t, artifact),
	}}
	return b
}

// testKey is a private key made in the test, signing as cosign does with
// a key of its type: ECDSA and RSA PKCS#1 v1.5 over SHA-256, Ed25519 pure.
type testKey struct{ signer crypto.Signer }

func (k testKey) sign(t *testing.T, data []byte) []byte {
	t.Helper()
	var sig []byte
	var err error
	if _, ok := k.signer.(ed25519.PrivateKey); ok {
		sig, err = k.signer.Sign(rand.Reader, data, crypto.Hash(0))
	} else {
		sum := sha256.Sum256(data)
		sig, err = k.signer.Sign(rand.Reader, sum[:], crypto.SHA256)
	}
	if err != nil {
		t.Fatal(err)
	}
	return sig
}

func (k testKey) hint() string {
	der, _ := x509.MarshalPKIXPublicKey(k.signer.Public())
	sum := sha256.Sum256(der)
	return base64.StdEncoding.EncodeToString(sum[:])
}

// keypair is a fresh key of the algorithm and the gate's Key for its
// public half, read from PEM as a key file would be.
func keypair(t *testing.T, alg string, name string) (testKey, Key) {
	t.Helper()
	var signer crypto.Signer
	var err error
	switch alg {
	case "ECDSA P-256":
		signer, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case "RSA":
		signer, err = rsa.GenerateKey(rand.Reader, 2048)
	case "Ed25519":
		_, signer, err = ed25519.GenerateKey(rand.Reader)
	default:
		t.Fatalf("no algorithm %q", alg)
	}
	if err != nil {
		t.Fatal(err)
	}
	k, err := ParseKey(name, pemOf(t, signer.Public()))
	if err != nil {
		t.Fatal(err)
	}
	return testKey{signer}, k
}

var algorithms = []string{"ECDSA P-256", "RSA", "Ed25519"}

func checkSig(t *testing.T, w *world, keys []Key, repository, digest string) Result {
	t.Helper()
	res, err := NewSignatures(w.reg, nil).CheckKeys(context.Background(), keys, repository, digest)
	if err != nil {
		t.Fatalf("CheckKeys: %v", err)
	}
	if res.Gate != GateSignature {
		t.Errorf("gate = %q, want signature", res.Gate)
	}
	return res
}

func TestCosignTagScheme(t *testing.T) {
	t.Parallel()
	for _, alg := range algorithms {
		t.Run(alg, func(t *testing.T) {
			t.Parallel()
			w := newWorld(t)
			signer, trusted := keypair(t, alg, "keys/release.pub")
			other, _ := keypair(t, alg, "other")
			_, alsoTrusted := keypair(t, alg, "keys/backup.pub")

			signed, _ := w.pushImage("team/app")
			w.cosignSign("team/app", signed, signed, signer)
			res := checkSig(t, w, []Key{alsoTrusted, trusted}, "team/app", signed)
			wantDecision(t, res, Pass, "cosign signature ("+sigTag(signed)+") by keys/release.pub")
			if res.Signer != "keys/release.pub" {
				t.Errorf("signer = %q", res.Signer)
			}

			wrongKey, _ := w.pushImage("team/app")
			w.cosignSign("team/app", wrongKey, wrongKey, other)
			res = checkSig(t, w, []Key{trusted, alsoTrusted}, "team/app", wrongKey)
			wantDecision(t, res, Block, "no valid signature by a trusted key (keys/release.pub, keys/backup.pub) among 1 found",
				sigTag(wrongKey)+" layer 0 with keys/release.pub: invalid signature", sigTag(wrongKey)+" layer 0 with keys/backup.pub: invalid signature")
			if len(res.Attempts) != 2 {
				t.Errorf("attempts = %+v, want one per key", res.Attempts)
			}

			// A valid signature of another image, copied to this one's tag.
			wrongDigest, _ := w.pushImage("team/app")
			w.cosignSign("team/app", wrongDigest, signed, signer)
			wantDecision(t, checkSig(t, w, []Key{trusted}, "team/app", wrongDigest), Block,
				"with keys/release.pub: signed, but for another image: critical.image.docker-manifest-digest is "+signed)

			missing, _ := w.pushImage("team/app")
			wantDecision(t, checkSig(t, w, []Key{trusted}, "team/app", missing), Block,
				"no signature (no "+sigTag(missing)+" tag and no sigstore bundle referrer); sign it with one of the trusted keys (keys/release.pub), e.g. cosign sign --key KEY team/app@"+missing)
		})
	}
}

func TestBundleReferrers(t *testing.T) {
	t.Parallel()
	for _, alg := range algorithms {
		t.Run(alg, func(t *testing.T) {
			t.Parallel()
			w := newWorld(t)
			signer, trusted := keypair(t, alg, "keys/release.pub")
			other, _ := keypair(t, alg, "other")

			dsse, manifest := w.pushImage("team/app")
			ref := w.attachBundle("team/app", dsse, manifest, dsseBundle(t, signer, "team/app", dsse))
			res := checkSig(t, w, []Key{trusted}, "team/app", dsse)
			wantDecision(t, res, Pass, "sigstore bundle (DSSE, referrer "+short(ref)+") by keys/release.pub")

			msg, manifest := w.pushImage("team/app")
			w.attachBundle("team/app", msg, manifest, messageBundle(t, signer, manifest))
			wantDecision(t, checkSig(t, w, []Key{trusted}, "team/app", msg), Pass, "sigstore bundle (message signature,")

			wrongKey, manifest := w.pushImage("team/app")
			ref = w.attachBundle("team/app", wrongKey, manifest, dsseBundle(t, other, "team/app", wrongKey))
			w.attachBundle("team/app", wrongKey, manifest, messageBundle(t, other, manifest))
			res = checkSig(t, w, []Key{trusted}, "team/app", wrongKey)
			wantDecision(t, res, Block, "among 2 found", "referrer "+short(ref)+" with keys/release.pub: ")
			if len(res.Attempts) != 2 {
				t.Errorf("attempts = %+v, want one per bundle", res.Attempts)
			}

			// Bundles signed by the trusted key, but about another image.
			wrongDigest, manifest := w.pushImage("team/app")
			w.attachBundle("team/app", wrongDigest, manifest, dsseBundle(t, signer, "team/app", dsse))
			res = checkSig(t, w, []Key{trusted}, "team/app", wrongDigest)
			wantDecision(t, res, Block, "the statement is about another image (subject "+dsse+")")

			_, otherManifest := w.pushImage("team/app")
			wrongMessage, manifest := w.pushImage("team/app")
			w.attachBundle("team/app", wrongMessage, manifest, messageBundle(t, signer, otherManifest))
			res = checkSig(t, w, []Key{trusted}, "team/app", wrongMessage)
			if res.Decision != Block {
				t.Errorf("a message signature of another manifest passed: %s", res.Reason)
			}

			// An unrelated referrer (an SBOM) is not a signature.
			missing, manifest := w.pushImage("team/app")
			sbom := w.pushBlob("team/app", []byte(`{"spdxVersion":"SPDX-2.3"}`), "application/spdx+json")
			w.putManifest("team/app", "", []v1.Descriptor{sbom}, &v1.Descriptor{MediaType: types.OCIManifestSchema1, Digest: mustHash(t, missing), Size: int64(len(manifest))}, "application/spdx+json")
			wantDecision(t, checkSig(t, w, []Key{trusted}, "team/app", missing), Block, "no signature")
		})
	}
}

func mustHash(t *testing.T, digest string) v1.Hash {
	t.Helper()
	h, err := v1.NewHash(digest)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func TestKeylessIsNotVerified(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	signer, trusted := keypair(t, "ECDSA P-256", "keys/release.pub")
	digest, manifest := w.pushImage("team/app")
	b := dsseBundle(t, signer, "team/app", digest)
	priv, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "sigstore"}, NotBefore: time.Unix(0, 0), NotAfter: time.Unix(1<<32, 0)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &priv.PublicKey, priv)
	if err != nil {
		t.Fatal(err)
	}
	b.VerificationMaterial.Content = &protobundle.VerificationMaterial_Certificate{Certificate: &protocommon.X509Certificate{RawBytes: der}}
	w.attachBundle("team/app", digest, manifest, b)
	wantDecision(t, checkSig(t, w, []Key{trusted}, "team/app", digest), Block, "a keyless bundle (a Fulcio certificate, not a key): keyless signatures are not verified")
}

// fakeKMS answers GetPublicKey for the keys it holds, and counts calls.
type fakeKMS struct {
	mu      sync.Mutex
	keys    map[string]*kms.GetPublicKeyOutput
	regions []string
	err     error
}

func (f *fakeKMS) GetPublicKey(_ context.Context, in *kms.GetPublicKeyInput, optFns ...func(*kms.Options)) (*kms.GetPublicKeyOutput, error) {
	var o kms.Options
	for _, fn := range optFns {
		fn(&o)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.regions = append(f.regions, o.Region)
	if f.err != nil {
		return nil, f.err
	}
	out, ok := f.keys[aws.ToString(in.KeyId)]
	if !ok {
		return nil, &kmstypes.NotFoundException{Message: aws.String("Key '" + aws.ToString(in.KeyId) + "' does not exist")}
	}
	return out, nil
}

// rsaPSSSigner signs as a KMS key with RSASSA_PSS_SHA_256 would.
type rsaPSSSigner struct{ key *rsa.PrivateKey }

func (s rsaPSSSigner) sign(t *testing.T, data []byte) []byte {
	t.Helper()
	sum := sha256.Sum256(data)
	sig, err := rsa.SignPSS(rand.Reader, s.key, crypto.SHA256, sum[:], nil)
	if err != nil {
		t.Fatal(err)
	}
	return sig
}

func TestKMSKeys(t *testing.T) {
	t.Parallel()
	const ecARN = "arn:aws:kms:eu-west-1:111111111111:key/1234abcd-12ab-34cd-56ef-1234567890ab"
	const rsaARN = "arn:aws:kms:us-east-1:111111111111:key/mrk-0123456789abcdef0123456789abcdef"
	ecKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	der := func(pub any) []byte {
		b, err := x509.MarshalPKIXPublicKey(pub)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	f := &fakeKMS{keys: map[string]*kms.GetPublicKeyOutput{
		ecARN: {KeyId: aws.String(ecARN), PublicKey: der(&ecKey.PublicKey), KeyUsage: kmstypes.KeyUsageTypeSignVerify,
			KeySpec: kmstypes.KeySpecEccNistP256, SigningAlgorithms: []kmstypes.SigningAlgorithmSpec{kmstypes.SigningAlgorithmSpecEcdsaSha256}},
		rsaARN: {KeyId: aws.String(rsaARN), PublicKey: der(&rsaKey.PublicKey), KeyUsage: kmstypes.KeyUsageTypeSignVerify,
			KeySpec: kmstypes.KeySpecRsa2048, SigningAlgorithms: []kmstypes.SigningAlgorithmSpec{kmstypes.SigningAlgorithmSpecRsassaPkcs1V15Sha256, kmstypes.SigningAlgorithmSpecRsassaPssSha256}},
	}}
	w := newWorld(t)
	sigs := NewSignatures(w.reg, f)
	rule := config.SignatureGate{Keys: []config.Key{{KMS: ecARN}, {KMS: rsaARN}}}

	// Signed in the tag scheme by the RSA key, with PSS: the second
	// algorithm the key allows.
	digest, _ := w.pushImage("team/app")
	ref, _ := name.NewDigest(w.host + "/team/app@" + digest)
	body, _ := (&payload.Cosign{Image: ref}).MarshalJSON()
	layer := w.pushBlob("team/app", body, SimpleSigningMediaType)
	layer.Annotations = map[string]string{SignatureAnnotation: base64.StdEncoding.EncodeToString(rsaPSSSigner{rsaKey}.sign(t, body))}
	w.putManifest("team/app", sigTag(digest), []v1.Descriptor{layer}, nil, "")

	for i := range 2 {
		res, err := sigs.Check(context.Background(), rule, "team/app", digest)
		if err != nil {
			t.Fatalf("check %d: %v", i, err)
		}
		wantDecision(t, res, Pass, "by "+rsaARN)
		if !strings.Contains(fmt.Sprint(res.Attempts), ecARN+": invalid signature") {
			t.Errorf("attempts = %v, want the EC key tried first", res.Attempts)
		}
	}
	if got := strings.Join(f.regions, " "); got != "eu-west-1 us-east-1" {
		t.Errorf("GetPublicKey regions = %q, want each key fetched once, from its own region", got)
	}

	// Signed by the EC key, as KMS Sign with ECDSA_SHA_256 would.
	signed, _ := w.pushImage("team/app")
	ref, _ = name.NewDigest(w.host + "/team/app@" + signed)
	body, _ = (&payload.Cosign{Image: ref}).MarshalJSON()
	sum := sha256.Sum256(body)
	ecSig, _ := ecdsa.SignASN1(rand.Reader, ecKey, sum[:])
	layer = w.pushBlob("team/app", body, SimpleSigningMediaType)
	layer.Annotations = map[string]string{SignatureAnnotation: base64.StdEncoding.EncodeToString(ecSig)}
	w.putManifest("team/app", sigTag(signed), []v1.Descriptor{layer}, nil, "")
	res, err := sigs.Check(context.Background(), rule, "team/app", signed)
	if err != nil {
		t.Fatal(err)
	}
	wantDecision(t, res, Pass, "by "+ecARN)

	// KMS refuses: an error to fix (or retry), not a verdict on the image.
	denied := &fakeKMS{err: errors.New("AccessDeniedException: not authorized to perform kms:GetPublicKey")}
	_, err = NewSignatures(w.reg, denied).Check(context.Background(), rule, "team/app", signed)
	if err == nil || !strings.Contains(err.Error(), "get the public key of "+ecARN+" (kms:GetPublicKey; the role needs it on this key, in its key policy too): AccessDeniedException") {
		t.Errorf("err = %v, want the KMS refusal named", err)
	}
	// ... unless another key passes the image.
	mixed := config.SignatureGate{Keys: []config.Key{{KMS: ecARN}, {File: "keys/release.pub", PEM: pemOf(t, &ecKey.PublicKey)}}}
	res, err = NewSignatures(w.reg, denied).Check(context.Background(), mixed, "team/app", signed)
	if err != nil {
		t.Fatal(err)
	}
	wantDecision(t, res, Pass, "by keys/release.pub")

	// A key for encryption cannot have signed anything.
	f.keys[ecARN].KeyUsage = kmstypes.KeyUsageTypeEncryptDecrypt
	if _, err := KMSKey(context.Background(), f, ecARN); err == nil || !strings.Contains(err.Error(), "is for ENCRYPT_DECRYPT, not SIGN_VERIFY") {
		t.Errorf("err = %v, want the key usage named", err)
	}
}

func pemOf(t *testing.T, pub any) []byte {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	b.WriteString("-----BEGIN PUBLIC KEY-----\n")
	b.WriteString(base64.StdEncoding.EncodeToString(der))
	b.WriteString("\n-----END PUBLIC KEY-----\n")
	return b.Bytes()
}

func TestParseKeyErrors(t *testing.T) {
	t.Parallel()
	if _, err := ParseKey("keys/bad.pub", []byte("nope")); err == nil || !strings.Contains(err.Error(), "read public key keys/bad.pub") {
		t.Errorf("err = %v", err)
	}
}

// nopLogger keeps the test registry's request log out of the test output.
func nopLogger() *log.Logger { return log.New(io.Discard, "", 0) }
