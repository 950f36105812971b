package gate

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/ferry-dev/ferry/internal/config"
)

// Checker checks a destination's gates: the scan gate first (it may wait,
// and a signature pushed just after the image has landed by the time the
// scan completes), then the signature gate, which waits for an image with
// no signature at all (gates.signature.wait).
type Checker struct {
	scans *Scanner
	sigs  *Signatures
}

// NewChecker returns a Checker. scans may be nil if no destination has a
// scan gate, sigs if none has a signature gate.
func NewChecker(scans *Scanner, sigs *Signatures) *Checker {
	return &Checker{scans: scans, sigs: sigs}
}

// Check decides gates for the image digest in the source repository.
// waited is how long the caller has already waited for this image's scans
// (0 at the first check). It returns an error only when ECR, the registry
// or KMS could not be asked (worth retrying, or an access problem to fix);
// every verdict on the image itself is a Result.
func (c *Checker) Check(ctx context.Context, gates config.Gates, repository, digest string, waited time.Duration) (Result, error) {
	var passed []string
	last := Result{Decision: Pass}
	if g := gates.Scan; g != nil {
		if c.scans == nil {
			return Result{}, fmt.Errorf("check the scan gate for %s@%s: the checker has no ECR client (build it with NewScanner)", repository, digest)
		}
		r, err := c.scans.Check(ctx, *g, repository, digest, waited)
		if err != nil || r.Decision != Pass {
			return r, err
		}
		passed, last = append(passed, "scan: "+r.Reason), r
	}
	if g := gates.Signature; g != nil {
		if c.sigs == nil {
			return Result{}, fmt.Errorf("check the signature gate for %s@%s: the checker has no registry (build it with NewSignatures)", repository, digest)
		}
		r, err := c.sigs.Check(ctx, *g, repository, digest)
		if err != nil {
			return r, err
		}
		if r.Decision == Block && r.Unsigned {
			// Not signed yet: CI signs just after the push that started
			// this run. Wait for it, as for a scan, up to the gate's wait.
			r.Wait = time.Duration(g.Wait)
			if waited < r.Wait {
				r.Decision = Wait
				r.Reason = fmt.Sprintf("waiting for a signature (%s of %s waited): %s", waited.Round(time.Second), r.Wait, r.Reason)
			} else if r.Wait > 0 {
				r.Reason = fmt.Sprintf("no signature after %s (gates.signature.wait): %s", r.Wait, r.Reason)
			}
		}
		if r.Decision != Pass {
			return r, nil
		}
		r.Counts, r.Top = last.Counts, last.Top
		passed, last = append(passed, "signature: "+r.Reason), r
	}
	last.Reason = strings.Join(passed, "; ")
	if len(passed) == 0 {
		last.Reason = "no gates"
	}
	return last, nil
}
