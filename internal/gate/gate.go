// Package gate decides whether an image may be promoted to a destination:
// the scan gate reads ECR's scan findings for every platform image, and the
// signature gate verifies cosign signatures (the sha256-<hex>.sig tag
// scheme) and OCI 1.1 referrer signatures in the sigstore bundle format
// against the keys a destination trusts.
//
// The decisions are functions over what ECR and the registry answered
// (EvaluateScan, and the signature checks over a Registry), so the
// workflow's "Check gates" step, ferry sync and ferry copy share them; the
// ECR, registry and KMS calls sit behind small interfaces with the SDK's
// own method signatures.
//
// Signatures are verified with github.com/sigstore/sigstore (keys,
// verifiers, the simple signing payload) and github.com/sigstore/sigstore-go
// (bundles), with trusted public keys only: no transparency log, no
// timestamp authority and no Fulcio. Keyless signatures (a Fulcio
// certificate for an OIDC identity) are out of scope and never pass.
package gate

import (
	"strings"
	"time"

	"github.com/ferry-dev/ferry/internal/config"
)

// Gate names (Result.Gate).
const (
	GateScan      = "scan"
	GateSignature = "signature"
)

// Decision is a gate's verdict on an image.
type Decision string

// Decisions.
const (
	// Pass: the image may go.
	Pass Decision = "pass"
	// Wait: a scan is not complete yet, or the image has no signature
	// yet, and the gate's wait has not run out; check again later.
	Wait Decision = "wait"
	// Block: the image may not go to this destination; Reason says why and
	// what to do.
	Block Decision = "block"
)

// Result is one gate's (or, from Checker.Check, all gates') decision on an
// image.
type Result struct {
	// Gate is GateScan or GateSignature: the gate that decided (for a Pass
	// from Checker.Check, the last one checked).
	Gate     string   `json:"gate"`
	Decision Decision `json:"decision"`
	// Reason is for a person: what was found and, when the image waits or
	// is blocked, what to do. For a Pass, what was checked.
	Reason string `json:"reason"`
	// Wait is the deciding gate's wait (gates.scan.wait or
	// gates.signature.wait), for the caller that counts the time waited
	// itself.
	Wait time.Duration `json:"wait,omitempty"`
	// Unsigned: the signature gate found no signature at all (no cosign
	// tag, no bundle referrer), which may yet come; not one that failed.
	Unsigned bool `json:"unsigned,omitempty"`
	// Counts are the scan findings that counted (not ignored), per
	// severity, over every platform image; Top the most severe of them.
	Counts map[config.Severity]int `json:"counts,omitempty"`
	Top    []Finding               `json:"top,omitempty"`
	// Signer names the key that verified the signature (a Pass of the
	// signature gate); Attempts are the signatures and keys tried.
	Signer   string    `json:"signer,omitempty"`
	Attempts []Attempt `json:"attempts,omitempty"`
}

// short abbreviates a digest for messages: sha256: and 12 hex digits.
func short(digest string) string {
	alg, hex, ok := strings.Cut(digest, ":")
	if !ok || len(hex) <= 12 {
		return digest
	}
	return alg + ":" + hex[:12]
}
