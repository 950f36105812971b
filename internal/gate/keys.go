package gate

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	kmstypes "github.com/aws/aws-sdk-go-v2/service/kms/types"
	"github.com/sigstore/sigstore/pkg/cryptoutils"
	"github.com/sigstore/sigstore/pkg/signature"

	"github.com/ferry-dev/ferry/internal/config"
)

// Key is one trusted public key and the verifiers its signing algorithms
// allow: one for a PEM key (cosign's choice for its type: ECDSA or RSA
// PKCS#1 v1.5 with SHA-256, or Ed25519), one per signing algorithm for a
// KMS key.
type Key struct {
	// Name is the key file or the KMS key ARN, for messages.
	Name      string
	public    crypto.PublicKey
	verifiers []signature.Verifier
}

// ID returns the key's fingerprint, the SHA-256 of its PKIX encoding, in
// hex: what `cosign public-key` users compare.
func (k Key) ID() string {
	der, err := x509.MarshalPKIXPublicKey(k.public)
	if err != nil {
		return ""
	}
	sum := sha256.Sum256(der)
	return hex.EncodeToString(sum[:])
}

// ParseKey reads a PEM public key (ECDSA, RSA or Ed25519, as cosign
// public-key writes it). name is for messages.
func ParseKey(name string, pemData []byte) (Key, error) {
	pub, err := cryptoutils.UnmarshalPEMToPublicKey(pemData)
	if err != nil {
		return Key{}, fmt.Errorf("read public key %s: %w (want a PEM PUBLIC KEY block, as cosign public-key writes)", name, err)
	}
	v, err := signature.LoadVerifier(pub, crypto.SHA256)
	if err != nil {
		return Key{}, fmt.Errorf("read public key %s: %w", name, err)
	}
	return Key{Name: name, public: pub, verifiers: []signature.Verifier{v}}, nil
}

// KMSAPI is the part of the KMS client the signature gate uses: Ferry
// fetches a KMS key's public key once (kms:GetPublicKey) and verifies
// locally, rather than calling kms:Verify for every signature.
type KMSAPI interface {
	GetPublicKey(ctx context.Context, in *kms.GetPublicKeyInput, optFns ...func(*kms.Options)) (*kms.GetPublicKeyOutput, error)
}

var _ KMSAPI = (*kms.Client)(nil)

// KMSKey fetches the public key of the asymmetric KMS key arn, asking the
// KMS of the ARN's region. sigstore's own AWS KMS verifier is not used: it
// also calls kms:DescribeKey, trusts the first signing algorithm only, and
// builds its own client from the environment, which neither the emulator's
// endpoints nor a test's fake can reach.
func KMSKey(ctx context.Context, api KMSAPI, arn string) (Key, error) {
	region := ""
	if parts := strings.Split(arn, ":"); len(parts) > 3 {
		region = parts[3]
	}
	out, err := api.GetPublicKey(ctx, &kms.GetPublicKeyInput{KeyId: aws.String(arn)}, func(o *kms.Options) {
		if region != "" {
			o.Region = region
		}
	})
	if err != nil {
		return Key{}, fmt.Errorf("get the public key of %s (kms:GetPublicKey; the role needs it on this key, in its key policy too): %w", arn, err)
	}
	if out.KeyUsage != "" && out.KeyUsage != kmstypes.KeyUsageTypeSignVerify {
		return Key{}, fmt.Errorf("KMS key %s is for %s, not SIGN_VERIFY: it cannot have signed an image; name the signing key instead", arn, out.KeyUsage)
	}
	pub, err := x509.ParsePKIXPublicKey(out.PublicKey)
	if err != nil {
		return Key{}, fmt.Errorf("KMS key %s: its public key does not parse: %w", arn, err)
	}
	k := Key{Name: arn, public: pub}
	var unsupported []string
	for _, alg := range out.SigningAlgorithms {
		v, err := kmsVerifier(pub, alg)
		if err != nil {
			unsupported = append(unsupported, string(alg))
			continue
		}
		k.verifiers = append(k.verifiers, v)
	}
	if len(k.verifiers) == 0 {
		return Key{}, fmt.Errorf("KMS key %s allows no signing algorithm Ferry verifies (it allows %s; want ECDSA_SHA_*, RSASSA_PKCS1_V1_5_SHA_*, RSASSA_PSS_SHA_* or ED25519_SHA_512)", arn, strings.Join(unsupported, ", "))
	}
	return k, nil
}

func kmsVerifier(pub crypto.PublicKey, alg kmstypes.SigningAlgorithmSpec) (signature.Verifier, error) {
	var h crypto.Hash
	switch {
	case strings.HasSuffix(string(alg), "SHA_256"):
		h = crypto.SHA256
	case strings.HasSuffix(string(alg), "SHA_384"):
		h = crypto.SHA384
	case strings.HasSuffix(string(alg), "SHA_512"):
		h = crypto.SHA512
	}
	switch p := pub.(type) {
	case *ecdsa.PublicKey:
		if strings.HasPrefix(string(alg), "ECDSA_") && h != 0 {
			return signature.LoadECDSAVerifier(p, h)
		}
	case *rsa.PublicKey:
		switch {
		case strings.HasPrefix(string(alg), "RSASSA_PKCS1_V1_5_") && h != 0:
			return signature.LoadRSAPKCS1v15Verifier(p, h)
		case strings.HasPrefix(string(alg), "RSASSA_PSS_") && h != 0:
			return signature.LoadRSAPSSVerifier(p, h, nil)
		}
	case ed25519.PublicKey:
		if alg == "ED25519_SHA_512" { // pure Ed25519 over the message
			return signature.LoadED25519Verifier(p)
		}
	}
	return nil, fmt.Errorf("signing algorithm %s is not supported for a %T", alg, pub)
}

// keyCache holds the KMS public keys fetched so far: a key's public key
// does not change, and a Lambda checks many images with the same keys.
type keyCache struct {
	mu   sync.Mutex
	keys map[string]Key
}

// Keys returns the keys of a signature gate: its PEM keys parsed, its KMS
// keys fetched through api (once each per Signatures).
func (s *Signatures) Keys(ctx context.Context, rule config.SignatureGate) ([]Key, error) {
	var keys []Key
	var errs []error
	for _, ck := range rule.Keys {
		if ck.KMS == "" {
			k, err := ParseKey(ck.File, ck.PEM)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			keys = append(keys, k)
			continue
		}
		s.cache.mu.Lock()
		k, ok := s.cache.keys[ck.KMS]
		s.cache.mu.Unlock()
		if !ok {
			if s.kms == nil {
				errs = append(errs, fmt.Errorf("KMS key %s: no KMS client to fetch it with (build the checker with NewSignatures and a KMS client)", ck.KMS))
				continue
			}
			var err error
			if k, err = KMSKey(ctx, s.kms, ck.KMS); err != nil {
				errs = append(errs, err)
				continue
			}
			s.cache.mu.Lock()
			s.cache.keys[ck.KMS] = k
			s.cache.mu.Unlock()
		}
		keys = append(keys, k)
	}
	return keys, errors.Join(errs...)
}
