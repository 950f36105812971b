package config

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Gates are checks an image must pass before it is copied to a destination.
// They run before any approval is asked for, so approvers only see images
// that can go. A nil gate is off.
type Gates struct {
	Scan      *ScanGate      `json:"scan,omitempty"`
	Signature *SignatureGate `json:"signature,omitempty"`
}

// Any reports whether any gate is on.
func (g Gates) Any() bool { return g.Scan != nil || g.Signature != nil }

// String describes the gates for a person, e.g. "scan: nothing above
// MEDIUM, waiting up to 30m0s for the scan; signature: by keys/release.pub";
// "none" when no gate is on.
func (g Gates) String() string {
	var parts []string
	if s := g.Scan; s != nil {
		t := fmt.Sprintf("scan: nothing above %s", s.MaxSeverity)
		if len(s.Ignore) > 0 {
			t += fmt.Sprintf(" (ignoring %s)", strings.Join(s.Ignore, ", "))
		}
		if s.Wait > 0 {
			t += fmt.Sprintf(", waiting up to %s for the scan", s.Wait)
		} else {
			t += ", not waiting for the scan"
		}
		parts = append(parts, t)
	}
	if s := g.Signature; s != nil {
		names := make([]string, len(s.Keys))
		for i, k := range s.Keys {
			names[i] = k.Name()
		}
		t := "signature: by " + strings.Join(names, " or ")
		if s.Wait > 0 {
			t += fmt.Sprintf(", waiting up to %s for one", s.Wait)
		}
		parts = append(parts, t)
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, "; ")
}

// ScanGate accepts an image only when ECR's scan of every platform image
// is complete and has no finding above MaxSeverity, apart from Ignore.
type ScanGate struct {
	MaxSeverity Severity `json:"maxSeverity"`
	// Wait is how long to wait for scans to complete, from the first check.
	Wait Duration `json:"wait"`
	// Ignore lists finding names (CVE-2024-0001, GHSA-...) that do not count.
	Ignore []string `json:"ignore,omitempty"`
}

// DefaultScanWait is how long the scan gate waits for a scan unless told.
const DefaultScanWait = 30 * time.Minute

// MaxScanWait bounds gates.scan.wait: a basic scan takes minutes, and a run
// that waits longer holds its destination's copy open for no gain.
const MaxScanWait = 24 * time.Hour

// Severity is an ECR finding severity.
type Severity string

// ECR's finding severities (FindingSeverity), from least to most severe.
// Undefined is ranked above Critical: a finding nobody has rated could be
// anything, so only maxSeverity: UNDEFINED lets it through (or an ignore
// entry for it). Enhanced scanning's UNTRIAGED ranks with Undefined.
const (
	SeverityInformational Severity = "INFORMATIONAL"
	SeverityLow           Severity = "LOW"
	SeverityMedium        Severity = "MEDIUM"
	SeverityHigh          Severity = "HIGH"
	SeverityCritical      Severity = "CRITICAL"
	SeverityUndefined     Severity = "UNDEFINED"
)

// Severities lists ECR's severities from least to most severe, as Rank
// orders them.
var Severities = []Severity{SeverityInformational, SeverityLow, SeverityMedium, SeverityHigh, SeverityCritical, SeverityUndefined}

// Rank orders severities (0 for INFORMATIONAL up to 5 for UNDEFINED). A
// severity ECR may add later, or enhanced scanning's UNTRIAGED, ranks as
// UNDEFINED, so an unknown rating never slips under a threshold.
func (s Severity) Rank() int {
	if i := slices.Index(Severities, Severity(strings.ToUpper(string(s)))); i >= 0 {
		return i
	}
	return len(Severities) - 1
}

// Duration is a time.Duration written in JSON as Go writes it ("30m0s").
type Duration time.Duration

// String returns the duration as time.Duration writes it.
func (d Duration) String() string { return time.Duration(d).String() }

// MarshalText writes the duration as "30m0s".
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// UnmarshalText reads a Go duration such as "30m".
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}

// SignatureGate accepts an image only when it carries at least one valid
// signature, for its own digest, made by one of Keys. Keyless (Fulcio
// certificate) signatures are out of scope: a key must be named here.
type SignatureGate struct {
	Keys []Key `json:"keys"`
	// Wait is how long an image with no signature at all waits for one,
	// from the first check: CI signs just after it pushes, and the push
	// starts the run. A signature that is there but verifies with no key
	// blocks at once.
	Wait Duration `json:"wait"`
}

// DefaultSignatureWait is how long the signature gate waits for an
// unsigned image's signature unless told: `cosign sign` runs seconds after
// the push in a pipeline, minutes at most.
const DefaultSignatureWait = 10 * time.Minute

// Key is one trusted public key: a PEM file or an asymmetric KMS key.
type Key struct {
	// File is the path as written, relative to the configuration file's
	// directory and inside it (so that it ships with the configuration).
	File string `json:"file,omitempty"`
	// PEM is File's contents, read by Parse.
	PEM []byte `json:"pem,omitempty"`
	// KMS is the ARN of an asymmetric KMS key whose public key Ferry fetches
	// with kms:GetPublicKey.
	KMS string `json:"kms,omitempty"`
}

// Name returns the file or the KMS ARN, for messages.
func (k Key) Name() string {
	if k.KMS != "" {
		return k.KMS
	}
	return k.File
}

// KeyFiles returns the key files of every destination's signature gate,
// once each, as written (relative to the configuration file's directory),
// in the order they first appear: what must ship with the configuration.
func (c *Config) KeyFiles() []string {
	var out []string
	for _, r := range c.Rules {
		for _, d := range r.Destinations {
			if d.Gates.Signature == nil {
				continue
			}
			for _, k := range d.Gates.Signature.Keys {
				if k.File != "" && !slices.Contains(out, k.File) {
					out = append(out, k.File)
				}
			}
		}
	}
	return out
}

// kmsKeyARNRE is the ARN of a KMS key (not an alias: IAM grants name keys).
var kmsKeyARNRE = lazyRegexp(`^arn:(aws|aws-cn|aws-us-gov|aws-iso|aws-iso-[a-z]):kms:([a-z0-9-]+):(\d{12}):key/(mrk-[0-9a-f]{32}|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$`)

// severityList is Severities for messages.
func severityList() string {
	s := make([]string, len(Severities))
	for i, v := range Severities {
		s[i] = string(v)
	}
	return strings.Join(s, ", ")
}

func (d *decoder) gates(n *yaml.Node, path string) Gates {
	var g Gates
	errs := len(d.errs)
	o, ok := d.object(n, path, "a mapping", "scan", "signature")
	if !ok {
		return g
	}
	if v := o.get("scan"); v != nil {
		g.Scan = d.scanGate(v, join(path, "scan"))
	}
	if v := o.get("signature"); v != nil {
		g.Signature = d.signatureGate(v, join(path, "signature"))
	}
	if !g.Any() && len(d.errs) == errs { // a misspelt gate is reported already
		d.errorf(n, path, ErrMissingField, "has no gate; want scan, signature or both (or leave gates out)")
	}
	return g
}

func (d *decoder) scanGate(n *yaml.Node, path string) *ScanGate {
	g := &ScanGate{Wait: Duration(DefaultScanWait)}
	o, ok := d.object(n, path, "a scan gate", "maxSeverity", "wait", "ignore")
	if !ok {
		return g
	}
	if v := o.require("maxSeverity", "the highest severity allowed, one of "+severityList()); v != nil {
		p := join(path, "maxSeverity")
		if s, ok := d.str(v, p, "a severity"); ok {
			switch sev := Severity(s); {
			case slices.Contains(Severities, sev):
				g.MaxSeverity = sev
			case slices.Contains(Severities, Severity(strings.ToUpper(s))):
				d.errorf(v, p, ErrInvalidValue, "%q is not an ECR severity; severities are upper case: %s", s, strings.ToUpper(s))
			default:
				d.errorf(v, p, ErrInvalidValue, "%q is not an ECR severity (want one of %s; UNDEFINED ranks above CRITICAL)", s, severityList())
			}
		}
	}
	if v := o.get("wait"); v != nil {
		if w, ok := d.gateWait(v, join(path, "wait"), "a scan that takes this long has stalled"); ok {
			g.Wait = Duration(w)
		}
	}
	if v := o.get("ignore"); v != nil {
		p := join(path, "ignore")
		if items, ok := d.list(v, p, "finding names"); ok {
			seen := make(map[string]*yaml.Node)
			for i, item := range items {
				s, ok := d.str(item, index(p, i), "a finding name such as CVE-2024-0001")
				if !ok {
					continue
				}
				s = strings.TrimSpace(s)
				if s == "" {
					d.errorf(item, index(p, i), ErrInvalidValue, "is empty; want a finding name such as CVE-2024-0001")
					continue
				}
				if first, dup := seen[s]; dup {
					d.errorf(item, index(p, i), ErrDuplicate, "%q is already listed at line %d; list each finding once", s, first.Line)
					continue
				}
				seen[s] = item
				g.Ignore = append(g.Ignore, s)
			}
		}
	}
	return g
}

// gateWait decodes a gate's wait: a duration from 0s to MaxScanWait; tooLong
// says what to do instead of a longer one.
func (d *decoder) gateWait(v *yaml.Node, p, tooLong string) (time.Duration, bool) {
	s, ok := d.str(v, p, "a duration such as 30m")
	if !ok {
		return 0, false
	}
	w, err := time.ParseDuration(s)
	switch {
	case err != nil:
		d.errorf(v, p, ErrInvalidValue, "%q is not a duration (want e.g. 30m, 1h or 0s; units s, m, h)", s)
	case w < 0:
		d.errorf(v, p, ErrInvalidValue, "%s is negative; want 0s (do not wait) up to %s", s, MaxScanWait)
	case w > MaxScanWait:
		d.errorf(v, p, ErrInvalidValue, "%s is longer than %s; %s: want at most %s", s, MaxScanWait, tooLong, MaxScanWait)
	default:
		return w, true
	}
	return 0, false
}

func (d *decoder) signatureGate(n *yaml.Node, path string) *SignatureGate {
	g := &SignatureGate{Wait: Duration(DefaultSignatureWait)}
	o, ok := d.object(n, path, "a signature gate", "keys", "wait")
	if !ok {
		return g
	}
	if v := o.get("wait"); v != nil {
		if w, ok := d.gateWait(v, join(path, "wait"), "a pipeline signs minutes after it pushes"); ok {
			g.Wait = Duration(w)
		}
	}
	v := o.require("keys", "a list of trusted keys, each - file: PATH.pub or - kms: KEY-ARN")
	if v == nil {
		return g
	}
	p := join(path, "keys")
	items, ok := d.list(v, p, "keys")
	if !ok {
		return g
	}
	if len(items) == 0 {
		d.errorf(v, p, ErrMissingField, "is empty; want at least one key (- file: PATH.pub or - kms: KEY-ARN)")
		return g
	}
	seen := make(map[string]*yaml.Node)
	for i, item := range items {
		k, ok := d.key(item, index(p, i))
		if !ok {
			continue
		}
		if first, dup := seen[k.Name()]; dup {
			d.errorf(item, index(p, i), ErrDuplicate, "key %s is already listed at line %d; list each key once", k.Name(), first.Line)
			continue
		}
		seen[k.Name()] = item
		g.Keys = append(g.Keys, k)
	}
	return g
}

// key decodes one trusted key and reads (and parses) its file.
func (d *decoder) key(n *yaml.Node, path string) (Key, bool) {
	var k Key
	o, ok := d.object(n, path, "a key", "file", "kms")
	if !ok {
		return k, false
	}
	file, kms := o.get("file"), o.get("kms")
	switch {
	case file == nil && kms == nil:
		d.errorf(n, path, ErrMissingField, "names no key; want file: PATH.pub (a PEM public key) or kms: KEY-ARN")
		return k, false
	case file != nil && kms != nil:
		d.errorf(kms, path, ErrConflict, "has both file and kms; a key is one or the other: list them as two keys")
		return k, false
	case kms != nil:
		p := join(path, "kms")
		s, ok := d.str(kms, p, "a KMS key ARN")
		if !ok {
			return k, false
		}
		if !kmsKeyARNRE.MatchString(s) {
			d.errorf(kms, p, ErrInvalidValue, "%q is not a KMS key ARN (want arn:aws:kms:REGION:ACCOUNT:key/KEY-ID; an alias will not do, since IAM grants kms:GetPublicKey on the key)", s)
			return k, false
		}
		k.KMS = s
		return k, true
	}
	p := join(path, "file")
	s, ok := d.str(file, p, "a path to a PEM public key")
	if !ok {
		return k, false
	}
	if !filepath.IsLocal(s) {
		d.errorf(file, p, ErrInvalidValue, "%q is not a path inside the configuration's directory; want a relative path such as keys/release.pub, so that the key ships with the configuration", s)
		return k, false
	}
	full := filepath.Join(filepath.Dir(d.file), s)
	data, err := os.ReadFile(full)
	if err != nil {
		msg := fmt.Sprintf("cannot read key file %s: %v", full, err)
		if errors.Is(err, fs.ErrNotExist) {
			msg = fmt.Sprintf("key file %s does not exist (paths are relative to the configuration file's directory); export the public key there, e.g. cosign public-key --key cosign.key > %s", full, full)
		}
		d.errorf(file, p, ErrInvalidValue, "%s", msg)
		return k, false
	}
	if msg := checkPublicKey(data); msg != "" {
		d.errorf(file, p, ErrInvalidValue, "key file %s: %s", full, msg)
		return k, false
	}
	k.File, k.PEM = s, data
	return k, true
}

// checkPublicKey says what is wrong with a PEM public key, or returns "".
// It accepts what cosign and sigstore verify with: ECDSA on P-256, P-384 or
// P-521, RSA of 2048 bits or more, and Ed25519.
func checkPublicKey(data []byte) string {
	block, rest := pem.Decode(data)
	if block == nil {
		return "is not PEM; want a PUBLIC KEY block such as cosign public-key writes"
	}
	if strings.TrimSpace(string(rest)) != "" {
		return "holds more than one PEM block; want exactly one public key per file"
	}
	if strings.Contains(block.Type, "PRIVATE") {
		return fmt.Sprintf("is a %s; want the PUBLIC KEY only (cosign public-key --key FILE prints it), and keep the private key out of the repository", block.Type)
	}
	if block.Type != "PUBLIC KEY" {
		return fmt.Sprintf("is a PEM %q block; want a PUBLIC KEY block (PKIX), as cosign public-key writes", block.Type)
	}
	pub, err := x509.ParsePKIXPublicKey(block.Bytes)
	if err != nil {
		return fmt.Sprintf("does not parse as a PKIX public key (%v); export it again with cosign public-key --key KEY", err)
	}
	switch pub := pub.(type) {
	case *ecdsa.PublicKey:
		switch pub.Curve {
		case elliptic.P256(), elliptic.P384(), elliptic.P521():
			return ""
		}
		return fmt.Sprintf("is an ECDSA key on %s; want P-256, P-384 or P-521", pub.Curve.Params().Name)
	case *rsa.PublicKey:
		if pub.N.BitLen() < 2048 {
			return fmt.Sprintf("is a %d-bit RSA key; want 2048 bits or more", pub.N.BitLen())
		}
		return ""
	case ed25519.PublicKey:
		return ""
	}
	return fmt.Sprintf("is a %T; want an ECDSA, RSA or Ed25519 public key", pub)
}
