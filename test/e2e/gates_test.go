package e2e

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ferry-dev/ferry/internal/credentials"
	"github.com/ferry-dev/ferry/internal/imageref"
	"github.com/ferry-dev/ferry/internal/runner"
	"github.com/ferry-dev/ferry/internal/workflow"
)

// Promotion gates on the push path: production takes only what its gates
// pass, checked before anyone is asked; a refused image is blocked there
// (written nowhere, asked of no one, not a failure: the run succeeds and
// the alerts topic is told), and the other destinations are copied.

// gatedConfig is the scenario's configuration with gates on production.
func gatedConfig(t *testing.T, gates string) string {
	t.Helper()
	const at = "        approval: required\n"
	if !strings.Contains(Config, at) {
		t.Fatal("the scenario's production destination has moved: update gatedConfig")
	}
	return strings.Replace(Config, at, at+"        gates:\n"+gates, 1)
}

// pauses stands in for the Wait state's pause: it records each wait's
// length and runs the test's hook at each, which the execution waits for
// (a barrier, not a sleep: the next check starts only once the hook
// returned).
type pauses struct {
	mu     sync.Mutex
	waits  []time.Duration
	onWait func(n int) error
}

func (p *pauses) pause(_ context.Context, state string, d time.Duration) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if state != "Wait for gates" {
		return fmt.Errorf("a pause in state %q: only \"Wait for gates\" waits", state)
	}
	p.waits = append(p.waits, d)
	if p.onWait != nil {
		return p.onWait(len(p.waits))
	}
	return nil
}

// take returns the waits so far and starts over with hook.
func (p *pauses) take(hook func(n int) error) []time.Duration {
	p.mu.Lock()
	defer p.mu.Unlock()
	w := p.waits
	p.waits, p.onWait = nil, hook
	return w
}

// released is what a run did to production: its outcome, whether it holds
// the tag, and how many approval requests and alerts the run added.
func (h *harness) checkBlocked(ex *runner.Execution, approvalsBefore, alertsBefore int, reasonHas ...string) {
	h.t.Helper()
	if ex.Status != "SUCCEEDED" {
		h.t.Fatalf("a blocked destination failed the run: %s %s %s", ex.Status, ex.Error, ex.Cause)
	}
	o := outcomes(h.t, ex)
	if o[Production][0] != "blocked" {
		h.t.Fatalf("production is %q (%s), want blocked", o[Production][0], o[Production][1])
	}
	for _, s := range reasonHas {
		if !strings.Contains(o[Production][1], s) {
			h.t.Errorf("production's reason %q does not say %q", o[Production][1], s)
		}
	}
	for _, id := range []string{Staging, Mirror} {
		if st := o[id][0]; st != "copied" && st != "unchanged" {
			h.t.Errorf("%s is %s (%s): a gate on production stopped it", id, st, o[id][1])
		}
	}
	h.assertHas(Production, false)
	if n := len(h.runner.Messages()) - approvalsBefore; n != 0 {
		h.t.Errorf("%d approval requests for a blocked image, want none", n)
	}
	alerts := h.runner.Alerts()
	if len(alerts)-alertsBefore != 1 {
		h.t.Fatalf("%d alerts, want one for the blocked destination", len(alerts)-alertsBefore)
	}
	if a := alerts[len(alerts)-1]; !strings.Contains(a.Subject, Production) || !strings.Contains(a.Message, o[Production][1][:min(40, len(o[Production][1]))]) {
		h.t.Errorf("alert %q / %q does not name production and its reason", a.Subject, a.Message)
	}
}

// The scan gate on a multi-arch release: a scan that never completes
// blocks once the wait is used up (the Wait-state loop: 30s, 60s, and the
// 30s left of a wait of 2m); findings above the threshold on one platform block
// the whole index; then, after a rescan, a manual run waits for a scan in
// progress, sees it complete (the findings file changes at the first
// pause) with only an ignored HIGH and findings under the threshold, asks
// for the approval and copies.
func TestScanGate(t *testing.T) {
	t.Parallel()
	p := &pauses{}
	h := newHarness(t, harnessOpts{pause: p.pause,
		config: gatedConfig(t, "          scan: {maxSeverity: MEDIUM, wait: 2m, ignore: [CVE-2024-0002]}\n")})
	platforms, err := h.world.Platforms(context.Background(), h.rel.Index)
	if err != nil || len(platforms) != 2 {
		t.Fatalf("platforms of the release: %v, %v", platforms, err)
	}
	amd64, arm64 := platforms["linux/amd64"], platforms["linux/arm64"]
	set := func(scans map[string]Scan) {
		t.Helper()
		if err := h.world.SetScanFindings(scans); err != nil {
			t.Fatal(err)
		}
	}

	t.Log("a scan that never completes")
	set(map[string]Scan{amd64: {Status: "COMPLETE"}, arm64: {Status: "IN_PROGRESS"}})
	ex := h.run(PushEvent(Repository, "release-1.0", h.rel.Index))
	h.checkBlocked(ex, 0, 0, "no complete scan", "linux/arm64", "IN_PROGRESS")
	if got, want := p.take(nil), []time.Duration{30 * time.Second, time.Minute, 30 * time.Second}; !slices.Equal(got, want) {
		t.Errorf("waits for the scan %v, want %v (2m: 30s, twice that, the rest)", got, want)
	}

	t.Log("a HIGH finding on one platform")
	set(map[string]Scan{
		amd64: {Status: "COMPLETE", Findings: []Finding{{Name: "CVE-2024-1111", Severity: "MEDIUM"}}},
		arm64: {Status: "COMPLETE", Findings: []Finding{{Name: "CVE-2024-0001", Severity: "HIGH"}, {Name: "CVE-2024-0002", Severity: "CRITICAL"}}},
	})
	ex = h.run(PushEvent(Repository, "release-1.0", h.rel.Index))
	h.checkBlocked(ex, 0, 1, "linux/arm64", "CVE-2024-0001", "above MEDIUM")
	if reason := outcomes(t, ex)[Production][1]; strings.Contains(reason, "CVE-2024-0002") {
		t.Errorf("the ignored CVE-2024-0002 is in the reason %q", reason)
	}
	if got := p.take(nil); len(got) != 0 {
		t.Errorf("waits %v for complete scans, want none", got)
	}

	t.Log("after a rescan: in progress, then complete with only what is ignored or allowed")
	set(map[string]Scan{amd64: {Status: "IN_PROGRESS"}, arm64: {Status: "IN_PROGRESS"}})
	p.take(func(n int) error {
		if n > 1 {
			return nil
		}
		return h.world.SetScanFindings(map[string]Scan{
			amd64: {Status: "COMPLETE", Findings: []Finding{{Name: "CVE-2024-1111", Severity: "MEDIUM"}}},
			arm64: {Status: "COMPLETE", Findings: []Finding{{Name: "CVE-2024-0002", Severity: "CRITICAL"}, {Name: "CVE-2024-2222", Severity: "LOW"}}},
		})
	})
	ex = h.run([]byte(`{"repository":"` + Repository + `","tag":"release-1.0"}`))
	if ex.Status != "SUCCEEDED" {
		t.Fatalf("manual run after the rescan: %s %s", ex.Status, ex.Cause)
	}
	if o := outcomes(t, ex)[Production]; o[0] != "copied" {
		t.Fatalf("production after the rescan: %s (%s), want copied", o[0], o[1])
	}
	if got := p.take(nil); len(got) != 1 {
		t.Errorf("waits %v, want 1 (the scan completed during the first)", got)
	}
	if n := len(h.runner.Messages()); n != 1 {
		t.Errorf("%d approval requests, want the one after the gate passed", n)
	}
	if n := len(h.runner.Alerts()); n != 2 {
		t.Errorf("%d alerts, want the 2 of the blocked runs", n)
	}
	for _, c := range h.world.CheckRelease(context.Background(), Production, "release-1.0", h.rel) {
		if c.Err != nil {
			t.Errorf("production after the rescan: %s: %v", c.What, c.Err)
		}
	}
}

// The signature gate on production, with a key made here: the release as
// pushed (a cosign tag whose payload carries no signature) is blocked, and
// so is one signed by a key production does not trust; once it is signed
// with the trusted key, a manual run copies it, the new signature with it.
func TestSignatureGate(t *testing.T) {
	t.Parallel()
	trusted, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	other, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := PublicKeyPEM(trusted)
	if err != nil {
		t.Fatal(err)
	}
	h := newHarness(t, harnessOpts{files: map[string][]byte{"keys/release.pub": pub},
		config: gatedConfig(t, "          signature: {keys: [{file: keys/release.pub}]}\n")})
	ctx := context.Background()

	t.Log("unsigned")
	ex := h.run(PushEvent(Repository, "release-1.0", h.rel.Index))
	h.checkBlocked(ex, 0, 0, "keys/release.pub")

	t.Log("signed by a key production does not trust")
	if _, err := h.world.SignImage(ctx, h.rel.Index, other); err != nil {
		t.Fatal(err)
	}
	ex = h.run([]byte(`{"repository":"` + Repository + `","tag":"release-1.0"}`))
	h.checkBlocked(ex, 0, 1, "keys/release.pub", "invalid signature")

	t.Log("signed by the trusted key")
	sig, err := h.world.SignImage(ctx, h.rel.Index, trusted)
	if err != nil {
		t.Fatal(err)
	}
	ex = h.run([]byte(`{"repository":"` + Repository + `","tag":"release-1.0"}`))
	if o := outcomes(t, ex)[Production]; ex.Status != "SUCCEEDED" || o[0] != "copied" {
		t.Fatalf("signed: run %s, production %s (%s); want copied", ex.Status, o[0], o[1])
	}
	if got := h.manifestAt(Production, h.rel.SigTag); got != sig {
		t.Errorf("production's %s is %q, want the trusted signature %s", h.rel.SigTag, got, sig)
	}
	if n := len(h.runner.Messages()); n != 1 {
		t.Errorf("%d approval requests, want 1 (after the gate passed)", n)
	}
}

// ferry sync applies production's scan gate as the workflow does, without
// waiting: a release with a HIGH finding on one platform, and one whose
// scan is still in progress, are reported blocked (the dry run says so
// too) and written nowhere in production; a clean one is copied; the
// other destinations take all three.
func TestSyncAppliesGates(t *testing.T) {
	t.Parallel()
	w := newSyncWorld(t)
	cfg := gatedConfig(t, "          scan: {maxSeverity: MEDIUM}\n")
	scans := map[string]Scan{}
	rels := map[string]Release{}
	for i, tag := range []string{"release-1.0", "release-1.1", "release-1.2"} {
		rel, err := w.PushRelease(w.ctx, tag, uint64(200+10*i))
		if err != nil {
			t.Fatal(err)
		}
		rels[tag] = rel
		p, err := w.Platforms(w.ctx, rel.Index)
		if err != nil {
			t.Fatal(err)
		}
		switch tag {
		case "release-1.0":
			scans[p["linux/arm64"]] = Scan{Status: "COMPLETE", Findings: []Finding{{Name: "CVE-2024-0001", Severity: "HIGH"}}}
		case "release-1.2":
			scans[p["linux/amd64"]] = Scan{Status: "IN_PROGRESS"}
		}
	}
	if err := w.SetScanFindings(scans); err != nil {
		t.Fatal(err)
	}
	check := func(rs []workflow.SyncResult, copied string) {
		t.Helper()
		got := byKey(rs)
		for tag, want := range map[string][2]string{
			"release-1.0": {workflow.StatusBlocked, "CVE-2024-0001"},
			"release-1.2": {workflow.StatusBlocked, "not complete yet"},
		} {
			r := got[Production+" "+tag]
			if r.Status != want[0] || !strings.Contains(r.Reason, want[1]) {
				t.Errorf("production %s: %s (%s %s), want %s saying %q", tag, r.Status, r.Reason, r.Error, want[0], want[1])
			}
		}
		if r := got[Production+" release-1.1"]; r.Status != copied {
			t.Errorf("production release-1.1: %s (%s %s), want %s", r.Status, r.Reason, r.Error, copied)
		}
		for _, id := range []string{Staging, Mirror} {
			for tag := range rels {
				if r := got[id+" "+tag]; r.Status != copied {
					t.Errorf("%s %s: %s (%s %s), want %s", id, tag, r.Status, r.Reason, r.Error, copied)
				}
			}
		}
	}
	w.Emulator.ResetCalls()
	rs, _ := w.sync(cfg, workflow.SyncOptions{DryRun: true, Approve: true})
	check(rs, workflow.StatusWouldCopy)
	if n := len(writes(w.Emulator.Calls())); n != 0 {
		t.Errorf("the dry run wrote %d times", n)
	}
	rs, counts := w.sync(cfg, workflow.SyncOptions{Approve: true})
	check(rs, workflow.StatusCopied)
	if counts[workflow.StatusBlocked] != 2 {
		t.Errorf("counts %v, want 2 blocked", counts)
	}
	for _, tag := range []string{"release-1.0", "release-1.2"} {
		if has, err := w.HasTag(w.ctx, Production, tag); err != nil || has {
			t.Errorf("production has %s: %t, %v; want it blocked, not copied", tag, has, err)
		}
	}
	w.checkRelease(Production, "release-1.1", rels["release-1.1"])
}

// The scheduled reconcile checks production's gates in Discover, before it
// asks for approvals: of two releases, the one with a CRITICAL finding is
// blocked (not a job, not in the approval request), the clean one is
// asked for and copied; the other destinations take both.
func TestReconcileAppliesGates(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOpts{reconcile: true, config: gatedConfig(t, "          scan: {maxSeverity: HIGH}\n")})
	ctx := context.Background()
	bad, err := h.world.PushRelease(ctx, "release-0.9", 1)
	if err != nil {
		t.Fatal(err)
	}
	p, err := h.world.Platforms(ctx, bad.Index)
	if err != nil {
		t.Fatal(err)
	}
	if err := h.world.SetScanFindings(map[string]Scan{p["linux/amd64"]: {Status: "COMPLETE", Findings: []Finding{{Name: "CVE-2024-9999", Severity: "CRITICAL"}}}}); err != nil {
		t.Fatal(err)
	}
	ex := h.run([]byte(`{}`))
	if ex.Status != "SUCCEEDED" {
		t.Fatalf("reconcile: %s %s %q; a blocked image is not a failure", ex.Status, ex.Error, ex.Cause)
	}
	counts := reconcileSummary(t, ex)["counts"].(map[string]any)
	if counts["blocked"] != 1.0 || counts["copied"] != 5.0 {
		t.Errorf("counts %v, want 1 blocked (production's release-0.9), 5 copied", counts)
	}
	if msgs := h.runner.Messages(); len(msgs) != 1 || !strings.Contains(msgs[0].Subject, "approve 1 image") {
		t.Errorf("approval requests %v; want one for production's 1 clean image", msgs)
	}
	if has, err := h.world.HasTag(ctx, Production, "release-0.9"); err != nil || has {
		t.Errorf("production has the blocked release-0.9: %t, %v", has, err)
	}
	h.assertHas(Production, true)
	for _, id := range []string{Staging, Mirror} {
		if has, err := h.world.HasTag(ctx, id, "release-0.9"); err != nil || !has {
			t.Errorf("%s lacks release-0.9: %t, %v", id, has, err)
		}
	}
}

// ferry copy --verify-key's check (workflow.VerifySignature) of the
// source release: refused unsigned and signed by another key, each time
// saying why; signed by the key, it returns the digest the tag resolves
// to, for the copy to take.
func TestCopyVerifySignature(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	w, err := NewWorld(ctx, t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Emulator.Close() })
	if err := w.CreateSourceRepository(ctx); err != nil {
		t.Fatal(err)
	}
	rel, err := w.PushRelease(ctx, "release-1.0", 5)
	if err != nil {
		t.Fatal(err)
	}
	trusted, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	pub, err := PublicKeyPEM(trusted)
	if err != nil {
		t.Fatal(err)
	}
	keyFile := filepath.Join(t.TempDir(), "release.pub")
	if err := os.WriteFile(keyFile, pub, 0o600); err != nil {
		t.Fatal(err)
	}
	host, auth, err := w.Login(ctx, SourceAccount+"/"+SourceRegion)
	if err != nil {
		t.Fatal(err)
	}
	cfg, _ := auth.Authorization()
	keychain := credentials.Static(credentials.Credential{Username: cfg.Username, Password: cfg.Password})
	src, err := imageref.Parse(host + "/" + Repository + ":release-1.0")
	if err != nil {
		t.Fatal(err)
	}
	verify := func() (string, error) {
		return workflow.VerifySignature(ctx, src, []string{keyFile}, keychain, nil, nil)
	}

	_, err = verify()
	var refused *workflow.SignatureRefused
	if !errors.As(err, &refused) || !strings.Contains(err.Error(), rel.Index) || !strings.Contains(err.Error(), "nothing was copied") {
		t.Errorf("unsigned: %v, want a SignatureRefused naming %s", err, rel.Index)
	}
	if _, err := w.SignImage(ctx, rel.Index, other); err != nil {
		t.Fatal(err)
	}
	if _, err = verify(); !errors.As(err, &refused) || !strings.Contains(refused.Reason, keyFile) {
		t.Errorf("signed by another key: %v, want a SignatureRefused naming the key tried", err)
	}
	if _, err := w.SignImage(ctx, rel.Index, trusted); err != nil {
		t.Fatal(err)
	}
	if d, err := verify(); err != nil || d != rel.Index {
		t.Errorf("signed by the key: %q, %v; want %s", d, err, rel.Index)
	}
	if _, err := workflow.VerifySignature(ctx, src, []string{filepath.Join(t.TempDir(), "missing.pub")}, keychain, nil, nil); err == nil || !strings.Contains(err.Error(), "--verify-key") {
		t.Errorf("a missing key file: %v, want an error naming --verify-key", err)
	}
}

// A pipeline signs just after it pushes, and the push starts the run: the
// signature gate waits for an image with no signature at all, in the Wait
// state, and takes it once it is signed; one never signed is blocked when
// gates.signature.wait has passed.
func TestSignatureGateWaitsForALateSignature(t *testing.T) {
	t.Parallel()
	trusted, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := PublicKeyPEM(trusted)
	if err != nil {
		t.Fatal(err)
	}
	p := &pauses{}
	h := newHarness(t, harnessOpts{pause: p.pause, files: map[string][]byte{"keys/release.pub": pub},
		config: gatedConfig(t, "          signature: {keys: [{file: keys/release.pub}], wait: 1m}\n")})
	ctx := context.Background()

	t.Log("signed while the run waits")
	late, err := h.world.PushImage(ctx, "release-2.0", 200)
	if err != nil {
		t.Fatal(err)
	}
	var sig string
	p.take(func(n int) error {
		if n == 1 {
			sig, err = h.world.SignImage(ctx, late, trusted)
		}
		return err
	})
	ex := h.run(PushEvent(Repository, "release-2.0", late))
	if o := outcomes(t, ex)[Production]; ex.Status != "SUCCEEDED" || o[0] != "copied" {
		t.Fatalf("signed during the wait: run %s, production %s (%s); want copied", ex.Status, o[0], o[1])
	}
	if got := p.take(nil); !slices.Equal(got, []time.Duration{30 * time.Second}) {
		t.Errorf("waits %v, want one of 30s (the signature came during it)", got)
	}
	if got := h.manifestAt(Production, strings.Replace(late, ":", "-", 1)+".sig"); got != sig {
		t.Errorf("production's signature tag is %q, want %s", got, sig)
	}

	t.Log("never signed")
	never, err := h.world.PushImage(ctx, "release-3.0", 300)
	if err != nil {
		t.Fatal(err)
	}
	ex = h.run(PushEvent(Repository, "release-3.0", never))
	if o := outcomes(t, ex)[Production]; ex.Status != "SUCCEEDED" || o[0] != "blocked" ||
		!strings.Contains(o[1], "no signature after 1m0s") || !strings.Contains(o[1], "cosign sign --key") {
		t.Fatalf("never signed: run %s, production %s (%s); want blocked after the wait, saying how to sign", ex.Status, o[0], o[1])
	}
	if got := p.take(nil); !slices.Equal(got, []time.Duration{30 * time.Second, 30 * time.Second}) {
		t.Errorf("waits %v, want 30s twice (1m)", got)
	}
}
