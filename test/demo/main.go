// Command demo runs Ferry's whole workflow on this machine, with no AWS
// account and no Docker: it starts a local ECR + STS emulator with a source
// registry and three destination accounts/regions (one of them production,
// which needs an approval) whose source already holds two older releases,
// shows `ferry sync --dry-run` and the backfill, pushes a signed multi-arch
// release-1.0 image and a dev-123 image to the source, feeds the two ECR
// push events to `ferry run` (the state machine on aws-local-stepfunctions,
// the real Go handlers) while one destination's registry refuses a push
// once, redrives the failed run, proves what landed where, runs the release
// event again to show that nothing is rewritten, and ends with the scheduled
// reconcile (`ferry run --reconcile`) finding everything in sync.
//
// Run it with `make demo`. It exits non-zero if any scene does not happen
// as scripted.
//
// The demo is a list of scenes (see scenes): each prints its title, runs
// ferry and checks what it must have done. Add a scene by writing a method
// of demo and listing it there.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

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

// demo is the state the scenes share.
type demo struct {
	ctx       context.Context
	ferry     string // the binary
	dir       string // ferry.yaml, endpoints.json, events and records
	endpoints string // dir/endpoints.json
	w         *e2e.World

	history map[string]e2e.Release // releases pushed before Ferry, by tag
	rel     e2e.Release            // release-1.0
	dev     string                 // dev-123's digest
	events  map[string]string      // push event files, by tag
	redrive []string               // the redrive command the failed run printed, without "ferry"
}

// scene is one step of the demo: a title and what it runs and checks.
type scene struct {
	title string
	run   func(*demo) error
}

func (d *demo) scenes() []scene {
	return []scene{
		{"Before Ferry: the source already holds team/app:release-0.8 and release-0.9, pushed before it was deployed", (*demo).pushHistory},
		{"ferry sync --dry-run: what the rules want in each destination, and what is there (nothing written)", (*demo).syncDryRun},
		{"Backfill: ferry sync --approve (the demo approves production itself; without --approve production is skipped and the exit status says so)", (*demo).backfill},
		{"Pushing to the source: team/app:release-1.0 (linux/amd64 + linux/arm64, cosign signature, SBOM) and team/app:dev-123", (*demo).pushRelease},
		{"Push event for release-1.0 → the workflow, while the mirror's registry (" + e2e.Mirror + ") refuses one manifest push, as a missing ecr:PutImage permission would (production's approval is answered by the demo itself: --approve approve)", (*demo).failedRun},
		{"Redrive, with the command the failed run printed: only the failed destination is replicated again; production's approval holds (--approve reject would refuse a second request, so none may come)", (*demo).redriveRun},
		{"Push event for dev-123 → the workflow (no rule takes dev-* tags)", (*demo).devRun},
		{"Proving the result in every destination", (*demo).prove},
		{"The release-1.0 event again: every destination already has it, so nothing is written and nobody is asked", (*demo).noOpRun},
		{"The scheduled reconcile (in AWS: EventBridge Scheduler starts Ferry-reconcile daily): everything is in sync, nothing to copy", (*demo).reconcile},
		{"Promotion gates: production takes only images signed by the team's key; an unsigned release-2.0 is blocked there, then taken once signed", (*demo).gatedRelease},
	}
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
	d := &demo{ctx: ctx, ferry: ferry, dir: dir, w: w, endpoints: filepath.Join(dir, "endpoints.json"),
		history: map[string]e2e.Release{}, events: map[string]string{}}
	b, _ := json.Marshal(w.Endpoints)
	if err := os.WriteFile(d.endpoints, b, 0o600); err != nil {
		return err
	}
	for _, s := range d.scenes() {
		step(s.title)
		if err := s.run(d); err != nil {
			return fmt.Errorf("scene %q: %w", s.title, err)
		}
	}
	fmt.Println("\nDone: the older releases were backfilled; release-1.0 is in all three destinations with the source digests, its signature and SBOM, the mirror's after a redrive that touched nothing else; dev-123 is nowhere; a re-run and the reconcile are no-ops.")
	return nil
}

// ferryRun runs ferry with args, printing show as the command line (the
// same command with the demo directory's paths shortened), its output as
// it comes, and returns the output (stdout and stderr together) and its
// exit code. err is set only when ferry could not be run at all.
func (d *demo) ferryRun(args ...string) (out string, code int, err error) {
	fmt.Printf("  $ ferry %s\n", strings.ReplaceAll(strings.Join(args, " "), d.dir+string(filepath.Separator), ""))
	var buf bytes.Buffer
	cmd := exec.CommandContext(d.ctx, d.ferry, args...)
	cmd.Stdout = io.MultiWriter(os.Stdout, &buf)
	cmd.Stderr = io.MultiWriter(os.Stderr, &buf)
	err = cmd.Run()
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		return buf.String(), exit.ExitCode(), nil
	}
	return buf.String(), 0, err
}

// ferryOK runs ferry and wants exit status 0.
func (d *demo) ferryOK(args ...string) error {
	_, code, err := d.ferryRun(args...)
	if err == nil && code != 0 {
		err = fmt.Errorf("ferry %s exited %d, want 0", args[0], code)
	}
	return err
}

func (d *demo) config() []string {
	return []string{"--config", d.w.ConfigPath, "--endpoints", "@" + d.endpoints}
}

// runEvent is `ferry run` for the push event of tag, with more flags.
func (d *demo) runEvent(tag string, more ...string) (string, int, error) {
	args := append([]string{"run"}, d.config()...)
	args = append(args, "--event", d.events[tag], "--approve", "approve")
	return d.ferryRun(append(args, more...)...)
}

func (d *demo) pushHistory() error {
	for i, tag := range []string{"release-0.8", "release-0.9"} {
		rel, err := d.w.PushRelease(d.ctx, tag, uint64(10+10*i))
		if err != nil {
			return err
		}
		d.history[tag] = rel
		fmt.Printf("  %s  index %s (signed, with an SBOM)\n", tag, rel.Index)
	}
	return nil
}

func (d *demo) syncDryRun() error {
	_, code, err := d.ferryRun(append(append([]string{"sync"}, d.config()...), "--dry-run")...)
	if err == nil && code != 1 {
		err = fmt.Errorf("ferry sync --dry-run exited %d with production waiting for approval; want 1", code)
	}
	return err
}

func (d *demo) backfill() error {
	return d.ferryOK(append(append([]string{"sync"}, d.config()...), "--approve")...)
}

func (d *demo) pushRelease() error {
	var err error
	if d.rel, err = d.w.PushRelease(d.ctx, "release-1.0", 100); err != nil {
		return err
	}
	if d.dev, err = d.w.PushImage(d.ctx, "dev-123", 7); err != nil {
		return err
	}
	fmt.Printf("  release-1.0  index %s\n               signature tag %s\n               SBOM %s (subject: the index)\n", d.rel.Index, d.rel.SigTag, d.rel.SBOM)
	fmt.Printf("  dev-123      image %s\n", d.dev)
	for tag, digest := range map[string]string{"release-1.0": d.rel.Index, "dev-123": d.dev} {
		f := filepath.Join(d.dir, tag+".event.json")
		if err := os.WriteFile(f, e2e.PushEvent(e2e.Repository, tag, digest), 0o600); err != nil {
			return err
		}
		d.events[tag] = f
	}
	return nil
}

// record is where the failed run is kept for its redrive.
func (d *demo) record() string { return filepath.Join(d.dir, "release-1.0.run.json") }

// failedRun runs release-1.0's event while the mirror refuses a manifest
// push once (403, which no layer retries): the run must fail naming the
// mirror alone, and say how to redrive it.
func (d *demo) failedRun() error {
	d.w.Emulator.ResetCalls()
	d.w.Registries[e2e.Mirror].InjectFault(emulator.TargetManifestPush, 1, emulator.Fault{
		Status: http.StatusForbidden, Code: "DENIED",
		Message: "not authorized to perform ecr:PutImage (the demo's stand-in refuses this one push)"})
	out, code, err := d.runEvent("release-1.0", "--record", d.record())
	if err != nil {
		return err
	}
	if code != 1 {
		return fmt.Errorf("ferry run exited %d with the mirror refusing its push; want 1", code)
	}
	fired := false
	for _, c := range d.w.Emulator.Calls() {
		fired = fired || (c.Injected && c.Account+"/"+c.Region == e2e.Mirror)
	}
	var problems []string
	if !fired {
		problems = append(problems, "the injected 403 never fired in "+e2e.Mirror)
	}
	for _, want := range []string{"ReplicationFailed", e2e.Mirror} {
		if !strings.Contains(out, want) {
			problems = append(problems, fmt.Sprintf("the output does not say %q", want))
		}
	}
	// The redrive command must be one that goes back to this emulator,
	// with this run's record: the next scene runs it as printed.
	if m := redriveHint.FindStringSubmatch(out); m == nil {
		problems = append(problems, "the output has no \"fix the cause, then: ferry run ...\" line")
	} else {
		d.redrive = shellWords(m[1])
		for _, want := range [][]string{{"--redrive", d.record()}, {"--endpoints", "@" + d.endpoints}, {"--config", d.w.ConfigPath}} {
			if i := slices.Index(d.redrive, want[0]); i < 0 || i+1 == len(d.redrive) || d.redrive[i+1] != want[1] {
				problems = append(problems, fmt.Sprintf("the printed redrive command %q lacks %s %s", m[1], want[0], want[1]))
			}
		}
	}
	for _, id := range e2e.Destinations {
		has, err := d.w.HasTag(d.ctx, id, "release-1.0")
		if err != nil {
			return fmt.Errorf("read release-1.0 in %s: %w", id, err)
		}
		if want := id != e2e.Mirror; has != want {
			problems = append(problems, fmt.Sprintf("%s has release-1.0: %t, want %t", id, has, want))
		}
	}
	if len(problems) > 0 {
		return errors.New(strings.Join(problems, "; "))
	}
	fmt.Printf("  ✓ the run failed for %s alone, and printed how to redrive it\n", e2e.Mirror)
	fmt.Println("  (in AWS you would fix the role's policy now; the demo's stand-in refused only once)")
	return nil
}

// redriveRun runs the redrive command the failed run printed, and checks
// it wrote to the mirror alone. A second approval request would be
// rejected (the last --approve wins), failing the redrive.
func (d *demo) redriveRun() error {
	d.w.Emulator.ResetCalls()
	if err := d.ferryOK(append(slices.Clone(d.redrive), "--approve", "reject")...); err != nil {
		return err
	}
	for _, c := range d.w.Emulator.Calls() {
		if isWrite(c) && c.Account+"/"+c.Region != e2e.Mirror {
			return fmt.Errorf("the redrive wrote to %s/%s (%s %s), which had succeeded", c.Account, c.Region, c.Operation, c.Repository)
		}
	}
	if has, err := d.w.HasTag(d.ctx, e2e.Mirror, "release-1.0"); err != nil || !has {
		return fmt.Errorf("after the redrive %s has release-1.0: %t (%v)", e2e.Mirror, has, err)
	}
	fmt.Printf("  ✓ the redrive wrote to %s alone, and nobody was asked again\n", e2e.Mirror)
	return nil
}

func (d *demo) devRun() error {
	_, code, err := d.runEvent("dev-123")
	if err == nil && code != 0 {
		err = fmt.Errorf("ferry run dev-123 exited %d, want 0 (skipped)", code)
	}
	return err
}

func (d *demo) prove() error {
	var failed []string
	for _, id := range e2e.Destinations {
		checks := d.w.CheckRelease(d.ctx, id, "release-1.0", d.rel)
		for _, tag := range []string{"release-0.8", "release-0.9"} {
			checks = append(checks, e2e.Check{What: tag + " backfilled with its signature and SBOM", Err: firstErr(d.w.CheckRelease(d.ctx, id, tag, d.history[tag]))})
		}
		for _, c := range checks {
			mark := "✓"
			if c.Err != nil {
				mark = "✗"
				failed = append(failed, id+": "+c.What+": "+c.Err.Error())
			}
			fmt.Printf("  %s %-28s %s%s\n", mark, id, c.What, errText(c.Err))
		}
		has, err := d.w.HasTag(d.ctx, id, "dev-123")
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
	return nil
}

func (d *demo) noOpRun() error {
	d.w.Emulator.ResetCalls()
	_, code, err := d.runEvent("release-1.0")
	if err == nil && code != 0 {
		err = fmt.Errorf("ferry run release-1.0 again exited %d, want 0", code)
	}
	if err != nil {
		return err
	}
	writes := 0
	for _, c := range d.w.Emulator.Calls() {
		if isWrite(c) {
			writes++
		}
	}
	fmt.Printf("  %s registry writes during the second run: %d\n", map[bool]string{true: "✓", false: "✗"}[writes == 0], writes)
	if writes != 0 {
		return fmt.Errorf("the second run wrote %d times", writes)
	}
	return nil
}

func (d *demo) reconcile() error {
	return d.ferryOK(append(append([]string{"run"}, d.config()...), "--reconcile", "--approve", "reject")...)
}

// redriveHint finds the command a failed ferry run prints for its redrive.
var redriveHint = regexp.MustCompile(`fix the cause, then: ferry (run [^\n]*?)\)\s*(?:\n|$)`)

// shellWords splits a command line as a POSIX shell would, for the quoting
// ferry's redrive hint uses: words apart by spaces, 'single quotes' kept
// together, and a backslash-escaped quote inside them.
func shellWords(s string) []string {
	var words []string
	var w strings.Builder
	in, quoted := false, false
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '\'':
			j := strings.IndexByte(s[i+1:], '\'')
			if j < 0 {
				j = len(s) - i - 1
			}
			w.WriteString(s[i+1 : i+1+j])
			i += j + 1
			in, quoted = true, true
		case c == '\\' && i+1 < len(s):
			i++
			w.WriteByte(s[i])
			in = true
		case c == ' ':
			if in {
				words = append(words, w.String())
			}
			w.Reset()
			in, quoted = false, false
		default:
			w.WriteByte(c)
			in = true
		}
	}
	if in || quoted {
		words = append(words, w.String())
	}
	return words
}

// isWrite reports whether c changed a registry.
func isWrite(c emulator.Call) bool {
	return c.Operation == emulator.TargetManifestPush || c.Operation == emulator.TargetBlobUpload || c.Operation == "CreateRepository"
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
