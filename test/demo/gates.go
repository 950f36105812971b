package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/ferry-dev/ferry/test/e2e"
)

// The promotion gate scene: the same world with a configuration whose
// production destination accepts only images signed by the team's key
// (keys/release.pub beside it). release-2.0 as pushed carries a cosign tag
// with no valid signature: production blocks it, writing nothing and
// asking no one, while the other destinations take it and the run
// succeeds. Signed with the key, a manual run copies it to production.

// gatedConfig is the scenario's ferry.yaml with production's signature gate.
func gatedConfig() (string, error) {
	const at = "        approval: required\n"
	if !strings.Contains(e2e.Config, at) {
		return "", errors.New("the scenario's production destination has moved: update test/demo/gates.go")
	}
	return strings.Replace(e2e.Config, at, at+"        gates:\n          signature:\n            keys: [{file: keys/release.pub}]\n", 1), nil
}

func (d *demo) gatedRelease() error {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	pub, err := e2e.PublicKeyPEM(key)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Join(d.dir, "keys"), 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(d.dir, "keys", "release.pub"), pub, 0o644); err != nil {
		return err
	}
	text, err := gatedConfig()
	if err != nil {
		return err
	}
	cfg := filepath.Join(d.dir, "ferry-gated.yaml")
	if err := os.WriteFile(cfg, []byte(text), 0o644); err != nil {
		return err
	}
	fmt.Printf("  ferry-gated.yaml: ferry.yaml with, on production,\n        gates:\n          signature:\n            keys: [{file: keys/release.pub}]   # an ECDSA P-256 key made for the demo\n")
	rel, err := d.w.PushRelease(d.ctx, "release-2.0", 300)
	if err != nil {
		return err
	}
	fmt.Printf("  pushed release-2.0  index %s, with a cosign tag %s that no key signed\n", rel.Index, rel.SigTag)
	input := filepath.Join(d.dir, "release-2.0.input.json")
	if err := os.WriteFile(input, []byte(`{"repository":"`+e2e.Repository+`","tag":"release-2.0"}`), 0o600); err != nil {
		return err
	}
	runGated := func() (string, error) {
		out, code, err := d.ferryRun("run", "--config", cfg, "--endpoints", "@"+d.endpoints, "--event", input, "--approve", "approve")
		if err == nil && code != 0 {
			err = fmt.Errorf("ferry run exited %d; a blocked destination is not a failure, want 0", code)
		}
		return out, err
	}
	out, err := runGated()
	if err != nil {
		return err
	}
	if err := d.holds("release-2.0", map[string]bool{e2e.Production: false, e2e.Staging: true, e2e.Mirror: true}); err != nil {
		return err
	}
	if !strings.Contains(out, "Blocked") || !strings.Contains(out, "keys/release.pub") {
		return errors.New("the run's output does not show production blocked, naming the key tried")
	}
	fmt.Println("  ✓ production blocked the unsigned image: nothing written there, no approval asked; the others took it")

	sig, err := d.w.SignImage(d.ctx, rel.Index, key)
	if err != nil {
		return err
	}
	fmt.Printf("  signed release-2.0 with the key (as cosign sign --key does): %s is now %s\n", rel.SigTag, sig)
	if _, err := runGated(); err != nil {
		return err
	}
	if err := d.holds("release-2.0", map[string]bool{e2e.Production: true}); err != nil {
		return err
	}
	fmt.Println("  ✓ a manual run checked again, and production took the signed image")
	return nil
}

// holds checks which destinations have tag.
func (d *demo) holds(tag string, want map[string]bool) error {
	var problems []string
	for id, w := range want {
		has, err := d.w.HasTag(d.ctx, id, tag)
		if err != nil {
			return fmt.Errorf("read %s in %s: %w", tag, id, err)
		}
		if has != w {
			problems = append(problems, fmt.Sprintf("%s has %s: %t, want %t", id, tag, has, w))
		}
	}
	if len(problems) > 0 {
		return errors.New(strings.Join(problems, "; "))
	}
	return nil
}
