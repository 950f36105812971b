package gate

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	protocommon "github.com/sigstore/protobuf-specs/gen/pb-go/common/v1"
	"github.com/sigstore/sigstore-go/pkg/bundle"
	"github.com/sigstore/sigstore-go/pkg/root"
	"github.com/sigstore/sigstore-go/pkg/verify"
	"github.com/sigstore/sigstore/pkg/signature"
	"github.com/sigstore/sigstore/pkg/signature/payload"

	"github.com/ferry-dev/ferry/internal/config"
)

// Media types and annotations of the two signature schemes.
const (
	// BundleArtifactType is the artifactType of an OCI 1.1 referrer that
	// holds a sigstore bundle (cosign sign --new-bundle-format).
	BundleArtifactType = "application/vnd.dev.sigstore.bundle.v0.3+json"
	// SimpleSigningMediaType is the media type of a cosign signature
	// layer: the simple signing payload that was signed.
	SimpleSigningMediaType = "application/vnd.dev.cosign.simplesigning.v1+json"
	// SignatureAnnotation holds a cosign signature layer's signature, in
	// base64.
	SignatureAnnotation = "dev.cosignproject.cosign/signature"
	// certificateAnnotation marks a keyless cosign signature (a Fulcio
	// certificate), which the gate does not verify.
	certificateAnnotation = "dev.sigstore.cosign/certificate"
)

// ErrNotFound is what a Registry returns (wrapped) for a manifest that is
// not there: an unsigned image has no signature tag.
var ErrNotFound = errors.New("not found")

// Registry is what the signature gate reads from the source registry.
// NewRemoteRegistry backs it with go-containerregistry; the workflow uses
// its own registry client.
type Registry interface {
	// Manifest returns the raw manifest that reference (a tag or a digest)
	// names in repository, or an error wrapping ErrNotFound.
	Manifest(ctx context.Context, repository, reference string) ([]byte, error)
	// Blob returns the content of the blob digest in repository, at most
	// MaxBlob bytes; its digest is checked by the caller.
	Blob(ctx context.Context, repository, digest string) ([]byte, error)
	// Referrers returns the descriptors of the manifests whose subject is
	// digest (the OCI 1.1 referrers API), with their artifactType.
	Referrers(ctx context.Context, repository, digest string) ([]v1.Descriptor, error)
}

// MaxBlob bounds what the gate reads of a signature blob: simple signing
// payloads and bundles are a few KiB.
const MaxBlob = 4 << 20

// Attempt is one signature tried against the trusted keys, and why it did
// not pass.
type Attempt struct {
	// Signature says where it is: "sha256-….sig layer 0" or
	// "referrer sha256:…".
	Signature string `json:"signature"`
	// Key is the key tried, "" when the signature was unusable before any
	// key was tried.
	Key   string `json:"key,omitempty"`
	Error string `json:"error"`
}

func (a Attempt) String() string {
	if a.Key == "" {
		return a.Signature + ": " + a.Error
	}
	return fmt.Sprintf("%s with %s: %s", a.Signature, a.Key, a.Error)
}

// Signatures runs the signature gate against a registry.
type Signatures struct {
	reg   Registry
	kms   KMSAPI
	cache keyCache
}

// NewSignatures returns the signature gate over reg. kmsAPI fetches KMS
// keys' public keys; it may be nil where no gate names a KMS key.
func NewSignatures(reg Registry, kmsAPI KMSAPI) *Signatures {
	return &Signatures{reg: reg, kms: kmsAPI, cache: keyCache{keys: map[string]Key{}}}
}

// Check decides the signature gate of rule for the image digest in
// repository: it passes if one signature, in either scheme, is valid for
// one of the rule's keys and is for digest itself. A key that cannot be
// loaded (a KMS error) is an error unless another key passes the image.
func (s *Signatures) Check(ctx context.Context, rule config.SignatureGate, repository, digest string) (Result, error) {
	keys, keyErr := s.Keys(ctx, rule)
	res, err := s.CheckKeys(ctx, keys, repository, digest)
	if err != nil || res.Decision == Pass || keyErr == nil {
		return res, err
	}
	return Result{}, fmt.Errorf("check the signature gate for %s@%s: %w", repository, digest, keyErr)
}

// CheckKeys is Check with keys already loaded (ferry copy --verify-key).
func (s *Signatures) CheckKeys(ctx context.Context, keys []Key, repository, digest string) (Result, error) {
	res := Result{Gate: GateSignature}
	at := repository + "@" + short(digest)
	if len(keys) == 0 {
		res.Decision, res.Reason = Block, at+": no trusted key to verify signatures with; list keys in gates.signature.keys"
		return res, nil
	}
	tagSigs, err := s.tagScheme(ctx, keys, repository, digest, &res)
	if err != nil || res.Decision == Pass {
		return res, err
	}
	bundles, err := s.bundles(ctx, keys, repository, digest, &res)
	if err != nil || res.Decision == Pass {
		return res, err
	}
	names := make([]string, len(keys))
	for i, k := range keys {
		names[i] = k.Name
	}
	res.Decision = Block
	if tagSigs+bundles == 0 {
		res.Unsigned = true
		res.Reason = fmt.Sprintf("%s: no signature (no %s tag and no sigstore bundle referrer); sign it with one of the trusted keys (%s), e.g. cosign sign --key KEY %s, and run again",
			at, sigTag(digest), strings.Join(names, ", "), repository+"@"+digest)
		return res, nil
	}
	tried := make([]string, len(res.Attempts))
	for i, a := range res.Attempts {
		tried[i] = a.String()
	}
	res.Reason = fmt.Sprintf("%s: no valid signature by a trusted key (%s) among %d found: %s; sign it with one of them and run again",
		at, strings.Join(names, ", "), tagSigs+bundles, strings.Join(tried, "; "))
	return res, nil
}

// sigTag is the cosign signature tag of digest: sha256-<hex>.sig.
func sigTag(digest string) string { return strings.Replace(digest, ":", "-", 1) + ".sig" }

// tagScheme verifies cosign's tag-scheme signatures: the manifest tagged
// sha256-<hex>.sig, each layer a simple signing payload with its
// signature in an annotation. It returns how many signatures it found.
func (s *Signatures) tagScheme(ctx context.Context, keys []Key, repository, digest string, res *Result) (int, error) {
	tag := sigTag(digest)
	raw, err := s.reg.Manifest(ctx, repository, tag)
	if errors.Is(err, ErrNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("read the signature tag %s:%s: %w", repository, tag, err)
	}
	var m v1.Manifest
	if err := json.Unmarshal(raw, &m); err != nil {
		res.Attempts = append(res.Attempts, Attempt{Signature: tag, Error: "not an image manifest: " + err.Error()})
		return 1, nil
	}
	if len(m.Layers) == 0 {
		res.Attempts = append(res.Attempts, Attempt{Signature: tag, Error: "a signature manifest with no layers"})
	}
	for i, l := range m.Layers {
		where := fmt.Sprintf("%s layer %d", tag, i)
		sigB64, ok := l.Annotations[SignatureAnnotation]
		if !ok {
			res.Attempts = append(res.Attempts, Attempt{Signature: where, Error: "no " + SignatureAnnotation + " annotation"})
			continue
		}
		sig, err := base64.StdEncoding.DecodeString(sigB64)
		if err != nil {
			res.Attempts = append(res.Attempts, Attempt{Signature: where, Error: "the signature annotation is not base64"})
			continue
		}
		body, ok, err := s.blob(ctx, repository, l, where, res)
		if err != nil {
			return 0, err
		}
		if !ok {
			continue
		}
		keyless := l.Annotations[certificateAnnotation] != ""
		for _, k := range keys {
			err := verifyAny(k, sig, body)
			if err != nil {
				msg := "invalid signature: " + err.Error()
				if keyless {
					msg = "not signed by this key (it carries a Fulcio certificate: keyless signatures are not verified)"
				}
				res.Attempts = append(res.Attempts, Attempt{Signature: where, Key: k.Name, Error: msg})
				continue
			}
			if msg := simpleSigningFor(body, digest); msg != "" {
				res.Attempts = append(res.Attempts, Attempt{Signature: where, Key: k.Name, Error: msg})
				continue
			}
			res.Decision, res.Signer = Pass, k.Name
			res.Reason = fmt.Sprintf("%s@%s: cosign signature (%s) by %s", repository, short(digest), tag, k.Name)
			return 1, nil
		}
	}
	return max(1, len(m.Layers)), nil
}

// blob reads a signature blob and checks its digest; a problem with it is
// an Attempt (ok false), a registry failure an error.
func (s *Signatures) blob(ctx context.Context, repository string, d v1.Descriptor, where string, res *Result) ([]byte, bool, error) {
	if d.Size > MaxBlob {
		res.Attempts = append(res.Attempts, Attempt{Signature: where, Error: fmt.Sprintf("%d bytes, over the %d a signature may have", d.Size, MaxBlob)})
		return nil, false, nil
	}
	body, err := s.reg.Blob(ctx, repository, d.Digest.String())
	if errors.Is(err, ErrNotFound) {
		res.Attempts = append(res.Attempts, Attempt{Signature: where, Error: "its blob " + d.Digest.String() + " is missing"})
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("read signature blob %s@%s: %w", repository, d.Digest, err)
	}
	if got := sha256Digest(body); got != d.Digest.String() {
		res.Attempts = append(res.Attempts, Attempt{Signature: where, Error: "its blob's content is " + got + ", not " + d.Digest.String()})
		return nil, false, nil
	}
	return body, true, nil
}

func sha256Digest(b []byte) string {
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// verifyAny verifies sig over message with any of k's verifiers.
func verifyAny(k Key, sig, message []byte) error {
	var err error
	for _, v := range k.verifiers {
		if err = v.VerifySignature(bytes.NewReader(sig), bytes.NewReader(message)); err == nil {
			return nil
		}
	}
	return err
}

// simpleSigningFor says why a verified simple signing payload is not a
// cosign signature of digest, or returns "".
func simpleSigningFor(body []byte, digest string) string {
	var p payload.SimpleContainerImage
	if err := json.Unmarshal(body, &p); err != nil {
		return "signed, but the payload is not a simple signing document: " + err.Error()
	}
	if p.Critical.Type != payload.CosignSignatureType {
		return fmt.Sprintf("signed, but the payload's critical.type is %q, not %q", p.Critical.Type, payload.CosignSignatureType)
	}
	if got := p.Critical.Image.DockerManifestDigest; got != digest {
		return fmt.Sprintf("signed, but for another image: critical.image.docker-manifest-digest is %s (a signature copied from another image?)", got)
	}
	return ""
}

// bundles verifies OCI 1.1 referrers in the sigstore bundle format, DSSE
// or message signature, with sigstore-go. It returns how many it found.
func (s *Signatures) bundles(ctx context.Context, keys []Key, repository, digest string, res *Result) (int, error) {
	refs, err := s.reg.Referrers(ctx, repository, digest)
	if err != nil && !errors.Is(err, ErrNotFound) {
		return 0, fmt.Errorf("list the referrers of %s@%s: %w", repository, digest, err)
	}
	var manifest []byte // the image's own manifest: the artifact a bundle signs
	found := 0
	for _, r := range refs {
		// Some registries (go-containerregistry's) list a referrer's
		// config media type as its artifactType: an artifact with an
		// empty config is read to see what it is.
		listed := isBundle(r.ArtifactType)
		if !listed && r.ArtifactType != "" && r.ArtifactType != emptyConfigType {
			continue
		}
		where := "referrer " + short(r.Digest.String())
		raw, err := s.reg.Manifest(ctx, repository, r.Digest.String())
		if errors.Is(err, ErrNotFound) {
			if listed {
				found++
				res.Attempts = append(res.Attempts, Attempt{Signature: where, Error: "listed as a referrer but not there"})
			}
			continue
		}
		if err != nil {
			return 0, fmt.Errorf("read the signature referrer %s@%s: %w", repository, r.Digest, err)
		}
		var m v1.Manifest
		err = json.Unmarshal(raw, &m)
		if !listed && (err != nil || (!isBundle(m.ArtifactType) && (len(m.Layers) == 0 || !isBundle(string(m.Layers[0].MediaType))))) {
			continue // not a signature
		}
		found++
		if err != nil || len(m.Layers) == 0 {
			res.Attempts = append(res.Attempts, Attempt{Signature: where, Error: "not an image manifest with a bundle layer"})
			continue
		}
		body, ok, err := s.blob(ctx, repository, m.Layers[0], where, res)
		if err != nil {
			return 0, err
		}
		if !ok {
			continue
		}
		var b bundle.Bundle
		if err := b.UnmarshalJSON(body); err != nil {
			res.Attempts = append(res.Attempts, Attempt{Signature: where, Error: "not a sigstore bundle: " + err.Error()})
			continue
		}
		if manifest == nil {
			if manifest, err = s.reg.Manifest(ctx, repository, digest); err != nil {
				return 0, fmt.Errorf("read the manifest of %s@%s to verify its bundles: %w", repository, digest, err)
			}
			if got := sha256Digest(manifest); got != digest {
				return 0, fmt.Errorf("read the manifest of %s@%s to verify its bundles: the registry served content of digest %s", repository, digest, got)
			}
		}
		if msg := bundleFor(&b, digest); msg != "" {
			res.Attempts = append(res.Attempts, Attempt{Signature: where, Error: msg})
			continue
		}
		for _, k := range keys {
			if err := verifyBundle(&b, k, manifest); err != nil {
				res.Attempts = append(res.Attempts, Attempt{Signature: where, Key: k.Name, Error: err.Error()})
				continue
			}
			res.Decision, res.Signer = Pass, k.Name
			kind := "message signature"
			if b.GetDsseEnvelope() != nil {
				kind = "DSSE"
			}
			res.Reason = fmt.Sprintf("%s@%s: sigstore bundle (%s, %s) by %s", repository, short(digest), kind, where, k.Name)
			return found, nil
		}
	}
	return found, nil
}

// emptyConfigType is the config media type of an OCI artifact.
const emptyConfigType = "application/vnd.oci.empty.v1+json"

func isBundle(mediaType string) bool {
	return strings.HasPrefix(mediaType, "application/vnd.dev.sigstore.bundle")
}

// bundleFor says why a bundle is not about digest, before any key is
// tried, or returns "": a bundle for another image, or a keyless one.
func bundleFor(b *bundle.Bundle, digest string) string {
	if vm := b.GetVerificationMaterial(); vm != nil && (vm.GetCertificate() != nil || vm.GetX509CertificateChain() != nil) {
		return "a keyless bundle (a Fulcio certificate, not a key): keyless signatures are not verified; sign with one of the trusted keys"
	}
	want, _ := strings.CutPrefix(digest, "sha256:")
	if env := b.GetDsseEnvelope(); env != nil {
		var st struct {
			Subject []struct {
				Digest map[string]string `json:"digest"`
			} `json:"subject"`
		}
		if err := json.Unmarshal(env.GetPayload(), &st); err != nil {
			return "the DSSE payload is not an in-toto statement: " + err.Error()
		}
		var others []string
		for _, s := range st.Subject {
			if s.Digest["sha256"] == want {
				return ""
			}
			others = append(others, "sha256:"+s.Digest["sha256"])
		}
		return fmt.Sprintf("the statement is about another image (subject %s)", strings.Join(others, ", "))
	}
	if ms := b.GetMessageSignature(); ms != nil {
		md := ms.GetMessageDigest()
		if md != nil && md.GetAlgorithm() == protocommon.HashAlgorithm_SHA2_256 && len(md.GetDigest()) == sha256.Size && hex.EncodeToString(md.GetDigest()) != want {
			return fmt.Sprintf("the message signature is for another image (messageDigest sha256:%s)", hex.EncodeToString(md.GetDigest()))
		}
	}
	return ""
}

// verifyBundle verifies b against the one key k, with the image manifest
// as the signed artifact; no transparency log or timestamp is required
// (the trust is in the key).
func verifyBundle(b *bundle.Bundle, k Key, manifest []byte) error {
	var err error
	for _, v := range k.verifiers {
		if err = verifyBundleWith(b, v, manifest); err == nil {
			return nil
		}
	}
	return err
}

// timeZero leaves a key's validity unbounded.
var timeZero time.Time

func verifyBundleWith(b *bundle.Bundle, v signature.Verifier, manifest []byte) error {
	trusted := root.NewTrustedPublicKeyMaterial(func(string) (root.TimeConstrainedVerifier, error) {
		return root.NewExpiringKey(v, timeZero, timeZero), nil
	})
	sv, err := verify.NewVerifier(trusted, verify.WithNoObserverTimestamps(), verify.WithoutStatementPredicate())
	if err != nil {
		return err
	}
	_, err = sv.Verify(b, verify.NewPolicy(verify.WithArtifact(bytes.NewReader(manifest)), verify.WithKey()))
	return err
}
