package workflow

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/http"
	"os"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/ferry-dev/ferry/internal/credentials"
	"github.com/ferry-dev/ferry/internal/gate"
	"github.com/ferry-dev/ferry/internal/imagecopy"
	"github.com/ferry-dev/ferry/internal/imageref"
)

// SignatureRefused is ferry copy --verify-key's refusal: the source image
// carries no valid signature, for its own digest, by any of the keys.
// Reason lists the signatures found and why each failed with each key.
type SignatureRefused struct {
	Image  string // repository@digest
	Reason string
}

func (e *SignatureRefused) Error() string {
	// Reason says what to do (which keys, the cosign command).
	return fmt.Sprintf("signature check of %s: %s; nothing was copied", e.Image, e.Reason)
}

// VerifySignature is ferry copy --verify-key FILE...: the signature gate
// alone, before a copy. It resolves src to its digest, reads the image's
// signatures (the cosign tag scheme and OCI 1.1 referrer bundles) with
// credentials from keychain, and verifies them with the PEM public keys in
// keyFiles. It returns the digest it verified, which the copy must then
// copy (src pinned to it), so that a tag moved meanwhile is not copied
// unchecked; or a *SignatureRefused, or an error reading the registry or a
// key file. rootCAs, if not nil, are the authorities the copy trusts.
//
// Registries are spoken to over HTTPS, but for one on this machine
// (localhost, 127.0.0.0/8, ::1), as ferry copy does by default; a registry
// named plain HTTP elsewhere (--insecure-registry) is refused with a
// message, as the signature gate reads it through go-containerregistry.
func VerifySignature(ctx context.Context, src imageref.Reference, keyFiles []string, keychain credentials.Keychain, plainHTTP func(host string) bool, rootCAs *x509.CertPool) (string, error) {
	if len(keyFiles) == 0 {
		return "", fmt.Errorf("verify signature of %s: no --verify-key given", src)
	}
	var keys []gate.Key
	for _, f := range keyFiles {
		pem, err := os.ReadFile(f)
		if err != nil {
			return "", fmt.Errorf("--verify-key %s: %w", f, err)
		}
		k, err := gate.ParseKey(f, pem)
		if err != nil {
			return "", fmt.Errorf("--verify-key %s: %w (want a PEM public key: ECDSA, RSA or Ed25519, as cosign public-key writes)", f, err)
		}
		keys = append(keys, k)
	}
	if plainHTTP != nil && plainHTTP(src.Registry) && !imagecopy.Loopback(src.Registry) {
		return "", fmt.Errorf("verify signature of %s: --verify-key reads registries over HTTPS, or plain HTTP on this machine only; %s is named plain HTTP", src, src.Registry)
	}
	cred, err := keychain.Resolve(ctx, src.Registry, src.Repository)
	if err != nil {
		return "", fmt.Errorf("verify signature of %s: credentials for %s: %w", src, src.Registry, err)
	}
	auth := authn.FromConfig(authn.AuthConfig{Username: cred.Username, Password: cred.Password,
		IdentityToken: cred.IdentityToken, RegistryToken: cred.RegistryToken})
	t := http.DefaultTransport.(*http.Transport).Clone()
	if rootCAs != nil {
		t.TLSClientConfig = &tls.Config{RootCAs: rootCAs}
	}
	opts := []remote.Option{remote.WithAuth(auth), remote.WithContext(ctx), remote.WithTransport(httpsOnly{t})}
	digest := src.Digest
	if digest == "" {
		ref, err := name.ParseReference(src.String())
		if err != nil {
			return "", fmt.Errorf("verify signature of %s: %w", src, err)
		}
		d, err := remote.Head(ref, opts...)
		if err != nil {
			return "", fmt.Errorf("verify signature of %s: resolve the tag: %w", src, err)
		}
		digest = d.Digest.String()
	}
	reg, err := gate.NewRemoteRegistry(src.Registry, opts...)
	if err != nil {
		return "", err
	}
	res, err := gate.NewSignatures(reg, nil).CheckKeys(ctx, keys, src.Repository, digest)
	if err != nil {
		return "", fmt.Errorf("verify signature of %s@%s: %w", src.Name(), digest, err)
	}
	if res.Decision != gate.Pass {
		return "", &SignatureRefused{Image: src.Name() + "@" + digest, Reason: res.Reason}
	}
	return digest, nil
}

// httpsOnly refuses plain HTTP to any registry but one on this machine.
// go-containerregistry falls back to plain HTTP for private addresses
// (10/8, 172.16/12, 192.168/16) when HTTPS fails, which would send the
// registry credentials in the clear; the copy never does that for a
// registry it was not told to.
type httpsOnly struct{ next http.RoundTripper }

func (t httpsOnly) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.Scheme == "http" && !imagecopy.Loopback(req.URL.Host) {
		return nil, fmt.Errorf("%s does not answer HTTPS, and --verify-key reads a registry over plain HTTP only on this machine", req.URL.Host)
	}
	return t.next.RoundTrip(req)
}
