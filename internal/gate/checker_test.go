package gate

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/ferry-dev/ferry/internal/config"
)

func TestCheckerOrder(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	signer, trusted := keypair(t, "ECDSA P-256", "keys/release.pub")
	digest, _ := w.pushImage("team/app")
	f := newFake()
	f.manifests[digest], f.mediaType[digest] = f.manifests[dg("a")], imageType
	f.setScan(digest, inProgress())
	gates := config.Gates{
		Scan:      &config.ScanGate{MaxSeverity: config.SeverityHigh, Wait: config.Duration(config.DefaultScanWait)},
		Signature: &config.SignatureGate{Keys: []config.Key{{File: "keys/release.pub", PEM: pemOf(t, trusted.public)}}},
	}
	ctx := context.Background()

	// While the scan waits, the signature is not looked at: it may be
	// pushed just after the image.
	scanOnly := NewChecker(NewScanner(f, ""), nil)
	res, err := scanOnly.Check(ctx, gates, "team/app", digest, 0)
	if err != nil {
		t.Fatal(err)
	}
	wantDecision(t, res, Wait)
	if res.Gate != GateScan {
		t.Errorf("gate = %s, want scan", res.Gate)
	}
	// A checker with no registry would fail at the signature gate.
	f.setScan(digest, complete("CVE-2024-1", "LOW", "zlib 1.2"))
	if _, err := scanOnly.Check(ctx, gates, "team/app", digest, 0); err == nil || !strings.Contains(err.Error(), "no registry") {
		t.Errorf("err = %v, want the missing registry named", err)
	}

	c := NewChecker(NewScanner(f, ""), NewSignatures(w.reg, nil))
	res, err = c.Check(ctx, gates, "team/app", digest, 0)
	if err != nil {
		t.Fatal(err)
	}
	wantDecision(t, res, Block, "no signature")
	if res.Gate != GateSignature || !res.Unsigned {
		t.Errorf("gate = %s, unsigned %t; want signature, unsigned", res.Gate, res.Unsigned)
	}
	// With a wait, an unsigned image waits for its signature, then blocks.
	waiting := gates
	waiting.Signature = &config.SignatureGate{Keys: gates.Signature.Keys, Wait: config.Duration(config.DefaultSignatureWait)}
	if res, err = c.Check(ctx, waiting, "team/app", digest, time.Minute); err != nil {
		t.Fatal(err)
	}
	wantDecision(t, res, Wait, "waiting for a signature (1m0s of 10m0s waited)")
	if res.Wait != config.DefaultSignatureWait {
		t.Errorf("wait = %s, want the signature gate's %s", res.Wait, config.DefaultSignatureWait)
	}
	if res, err = c.Check(ctx, waiting, "team/app", digest, config.DefaultSignatureWait); err != nil {
		t.Fatal(err)
	}
	wantDecision(t, res, Block, "no signature after 10m0s (gates.signature.wait)")

	w.cosignSign("team/app", digest, digest, signer)
	res, err = c.Check(ctx, gates, "team/app", digest, 0)
	if err != nil {
		t.Fatal(err)
	}
	wantDecision(t, res, Pass, "scan: team/app@"+short(digest)+": scanned (1 image), nothing above HIGH (1 LOW); signature: team/app@"+short(digest)+": cosign signature")
	if res.Signer != "keys/release.pub" || res.Counts[config.SeverityLow] != 1 {
		t.Errorf("result = %+v, want the signer and the scan's counts", res)
	}

	// Scan findings over the limit block before the signature is read.
	f.setScan(digest, complete("CVE-2024-9", "CRITICAL", "openssl 3.0.2"))
	res, err = NewChecker(NewScanner(f, ""), nil).Check(ctx, gates, "team/app", digest, 0)
	if err != nil {
		t.Fatal(err)
	}
	wantDecision(t, res, Block, "CVE-2024-9 (CRITICAL, openssl 3.0.2)")

	res, err = NewChecker(nil, nil).Check(ctx, config.Gates{}, "team/app", digest, 0)
	if err != nil || res.Decision != Pass || res.Reason != "no gates" {
		t.Errorf("no gates: %+v, %v", res, err)
	}
}
