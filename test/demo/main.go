// Command demo runs Ferry's whole workflow on this machine, with no AWS
// account and no Docker: it starts a local ECR + STS emulator with a source
// registry and three destination accounts/regions (one of them production,
// which needs an approval) whose source already holds two older releases,
// shows `ferry sync --dry-run` and the backfill, pushes a signed multi-arch
// release-1.0 image and a dev-123 image to the source, feeds the two ECR
// push events to `ferry run` (the state machine on aws-local-stepfunctions,
// the real Go handlers), proves what landed where, runs the release event
// again to show that nothing is rewritten, and ends with the scheduled
// reconcile (`ferry run --reconcile`) finding everything in sync.
//
// Run it with `make demo`. It exits non-zero if any check fails.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"encoding/json"

	"github.com/ferry-dev/ferry/internal/emulator"
	"github.com/ferry-dev/ferry/test/e2e"
)

func main() {
	ferry := flag.String("ferry", "bin/ferry", "the ferry binary")
	flag.Parse()
	start := time.Now()
	if err := run(*ferry); err != nil {
		fmt.Fprintf(os.Stderr, "\ndemo failed: %v\n", err)
		os.Exit(1)
	}
	fmt.Printf("\nDemo finished in %s.\n", time.Since(start).Round(100*time.Millisecond))
}

func run(ferry string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	dir, err := os.MkdirTemp("", "ferry-demo-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)

	step("Starting a local ECR + STS emulator: a source registry and three destination accounts/regions on 127.0.0.1")
	w, err := e2e.NewWorld(ctx, dir, nil)
	if err != nil {
		return err
	}
	defer w.Emulator.Close()
	fmt.Printf("  source       %s/%s   ECR %s\n", e2e.SourceAccount, e2e.SourceRegion, w.Endpoints.ECR[e2e.SourceAccount+"/"+e2e.SourceRegion])
	for _, id := range e2e.Destinations {
		note := ""
		switch id {
		case e2e.Production:
			note = "production: approval required, immutable tags, KMS"
		case e2e.Mirror:
			note = "renamed to mirror/team/app"
		}
		fmt.Printf("  destination  %-28s ECR %s  %s\n", id, w.Endpoints.ECR[id], note)
	}
	fmt.Printf("  STS          %s (destination roles ferry-replication, ExternalId %s)\n", w.Endpoints.STS, e2e.ExternalID)
	fmt.Printf("\n  ferry.yaml:\n%s", indent(e2e.Config))

	if err := w.CreateSourceRepository(ctx); err != nil {
		return err
	}
	endpoints := filepath.Join(dir, "endpoints.json")
	b, _ := json.Marshal(w.Endpoints)
	if err := os.WriteFile(endpoints, b, 0o600); err != nil {
		return err
	}
	ferryCmd := func(show string, args ...string) error {
		fmt.Printf("  $ ferry %s\n", show)
		cmd := exec.CommandContext(ctx, ferry, args...)
		cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
		return cmd.Run()
	}

	step("Before Ferry: the source already holds team/app:release-0.8 and release-0.9, pushed before it was deployed")
	history := map[string]e2e.Release{}
	for i, tag := range []string{"release-0.8", "release-0.9"} {
		rel, err := w.PushRelease(ctx, tag, uint64(10+10*i))
		if err != nil {
			return err
		}
		history[tag] = rel
		fmt.Printf("  %s  index %s (signed, with an SBOM)\n", tag, rel.Index)
	}

	step("ferry sync --dry-run: what the rules want in each destination, and what is there (nothing written)")
	sync := []string{"sync", "--config", w.ConfigPath, "--endpoints", "@" + endpoints}
	if err := ferryCmd("sync --config ferry.yaml --endpoints @endpoints.json --dry-run", append(sync, "--dry-run")...); err == nil {
		return errors.New("ferry sync --dry-run exited 0 with production waiting for approval; want exit 1")
	}

	step("Backfill: ferry sync --approve (the demo approves production itself; without --approve production is skipped and the exit status says so)")
	if err := ferryCmd("sync --config ferry.yaml --endpoints @endpoints.json --approve", append(sync, "--approve")...); err != nil {
		return fmt.Errorf("ferry sync --approve: %w", err)
	}

	step("Pushing to the source: team/app:release-1.0 (linux/amd64 + linux/arm64, cosign signature, SBOM) and team/app:dev-123")
	rel, err := w.PushRelease(ctx, "release-1.0", 100)
	if err != nil {
		return err
	}
	dev, err := w.PushImage(ctx, "dev-123", 7)
	if err != nil {
		return err
	}
	fmt.Printf("  release-1.0  index %s\n               signature tag %s\n               SBOM %s (subject: the index)\n", rel.Index, rel.SigTag, rel.SBOM)
	fmt.Printf("  dev-123      image %s\n", dev)

	events := map[string][]byte{
		"release-1.0": e2e.PushEvent(e2e.Repository, "release-1.0", rel.Index),
		"dev-123":     e2e.PushEvent(e2e.Repository, "dev-123", dev),
	}
	ferryRun := func(tag string) error {
		f := filepath.Join(dir, tag+".event.json")
		if err := os.WriteFile(f, events[tag], 0o600); err != nil {
			return err
		}
		args := []string{"run", "--config", w.ConfigPath, "--event", f, "--endpoints", "@" + endpoints, "--approve", "approve"}
		fmt.Printf("  $ ferry run --config ferry.yaml --event %s.event.json --endpoints @endpoints.json --approve approve\n", tag)
		cmd := exec.CommandContext(ctx, ferry, args...)
		cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
		return cmd.Run()
	}

	step("Push event for release-1.0 → the workflow (production's approval is answered by the demo itself: --approve approve)")
	if err := ferryRun("release-1.0"); err != nil {
		return fmt.Errorf("ferry run release-1.0: %w", err)
	}
	step("Push event for dev-123 → the workflow (no rule takes dev-* tags)")
	if err := ferryRun("dev-123"); err != nil {
		return fmt.Errorf("ferry run dev-123: %w", err)
	}

	step("Proving the result in every destination")
	var failed []string
	for _, id := range e2e.Destinations {
		checks := w.CheckRelease(ctx, id, "release-1.0", rel)
		for _, tag := range []string{"release-0.8", "release-0.9"} {
			checks = append(checks, e2e.Check{What: tag + " backfilled with its signature and SBOM", Err: firstErr(w.CheckRelease(ctx, id, tag, history[tag]))})
		}
		for _, c := range checks {
			mark := "✓"
			if c.Err != nil {
				mark = "✗"
				failed = append(failed, id+": "+c.What+": "+c.Err.Error())
			}
			fmt.Printf("  %s %-28s %s%s\n", mark, id, c.What, errText(c.Err))
		}
		has, err := w.HasTag(ctx, id, "dev-123")
		mark := "✓"
		if has || err != nil {
			mark = "✗"
			failed = append(failed, fmt.Sprintf("%s: dev-123 present (%v)", id, err))
		}
		fmt.Printf("  %s %-28s dev-123 is not there\n", mark, id)
	}
	if len(failed) > 0 {
		return errors.New(strings.Join(failed, "; "))
	}

	step("The release-1.0 event again: every destination already has it, so nothing is written and nobody is asked")
	w.Emulator.ResetCalls()
	if err := ferryRun("release-1.0"); err != nil {
		return fmt.Errorf("ferry run release-1.0 again: %w", err)
	}
	writes := 0
	for _, c := range w.Emulator.Calls() {
		if c.Operation == emulator.TargetManifestPush || c.Operation == emulator.TargetBlobUpload || c.Operation == "CreateRepository" {
			writes++
		}
	}
	fmt.Printf("  %s registry writes during the second run: %d\n", map[bool]string{true: "✓", false: "✗"}[writes == 0], writes)
	if writes != 0 {
		return fmt.Errorf("the second run wrote %d times", writes)
	}

	step("The scheduled reconcile (in AWS: EventBridge Scheduler starts Ferry-reconcile daily): everything is in sync, nothing to copy")
	w.Emulator.ResetCalls()
	if err := ferryCmd("run --config ferry.yaml --reconcile --endpoints @endpoints.json",
		"run", "--config", w.ConfigPath, "--reconcile", "--endpoints", "@"+endpoints, "--approve", "reject"); err != nil {
		return fmt.Errorf("ferry run --reconcile: %w", err)
	}
	fmt.Println("\nDone: the older releases were backfilled, release-1.0 is in all three destinations with the source digests, its signature and SBOM; dev-123 is nowhere; a re-run and the reconcile are no-ops.")
	return nil
}

// firstErr is the first failed check's error, naming what failed.
func firstErr(cs []e2e.Check) error {
	for _, c := range cs {
		if c.Err != nil {
			return fmt.Errorf("%s: %w", c.What, c.Err)
		}
	}
	return nil
}

func step(s string) { fmt.Printf("\n▶ %s\n", s) }

func errText(err error) string {
	if err == nil {
		return ""
	}
	return ": " + err.Error()
}

func indent(s string) string {
	var b strings.Builder
	for _, l := range strings.Split(strings.TrimRight(s, "\n"), "\n") {
		b.WriteString("    " + l + "\n")
	}
	return b.String()
}
