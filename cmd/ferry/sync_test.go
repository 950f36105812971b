package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/ferry-dev/ferry/internal/cli"
	"github.com/ferry-dev/ferry/internal/config"
	"github.com/ferry-dev/ferry/test/e2e"
	"github.com/ferry-dev/ferry/test/imagegen"
)

func ferrySync(ctx context.Context, args ...string) (code int, stdout, stderr string) {
	var out, errOut bytes.Buffer
	code = report(&errOut, runSync(ctx, args, &out, &errOut))
	return code, out.String(), errOut.String()
}

func TestSyncUsage(t *testing.T) {
	t.Setenv("FERRY_AWS_ENDPOINTS", "")
	cfg := filepath.Join(t.TempDir(), "ferry.yaml")
	if err := os.WriteFile(cfg, []byte(e2e.Config), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name       string
		args       []string
		wantCode   int
		wantStderr string
	}{
		{"an argument", []string{"--config", cfg, "team/app"}, exitUsage, "sync takes no arguments"},
		{"config missing", []string{"--config", cfg + ".none"}, exitUsage, "no such file"},
		{"unknown rule", []string{"--config", cfg, "--rule", "nope"}, exitUsage, `rule "nope" is not in`},
		{"unknown destination", []string{"--config", cfg, "--destination", "999999999999/us-east-1"}, exitUsage, `destination "999999999999/us-east-1" is not in`},
		{"bad pattern", []string{"--config", cfg, "--repository", "/[/"}, exitUsage, "--repository: "},
		{"bad endpoints", []string{"--config", cfg, "--endpoints", "nope"}, exitUsage, "want JSON"},
		{"images", []string{"--config", cfg, "--images", "0"}, exitUsage, "--images and --jobs must be at least 1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr := ferrySync(context.Background(), tt.args...)
			if code != tt.wantCode || !strings.Contains(stderr, tt.wantStderr) {
				t.Errorf("exit %d, stderr %q; want %d and %q", code, stderr, tt.wantCode, tt.wantStderr)
			}
			if tt.wantCode == exitUsage && stdout != "" {
				t.Errorf("a usage error started a sync: %q", stdout)
			}
		})
	}
	if code, stdout, stderr := ferrySync(context.Background(), "--help"); code != exitOK || stderr != "" || !strings.Contains(stdout, "Usage: ferry sync --config FILE") {
		t.Errorf("--help: exit %d, stdout %q, stderr %q; want 0 and the usage on stdout", code, stdout, stderr)
	}
}

// TestEmulatorThenSync is the README's walk-through: ferry emulator for a
// configuration, an anonymous push to its source registry (as crane push
// does), ferry sync --dry-run, then ferry sync with and without --approve.
func TestEmulatorThenSync(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "ferry.yaml")
	if err := os.WriteFile(cfgPath, []byte(e2e.Config), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	em, ep, err := startEmulator(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer em.Close()
	if len(ep.Registries) != 4 || ep.STS == "" {
		t.Fatalf("endpoints %+v: want the source and 3 destinations, and STS", ep)
	}
	endpoints := filepath.Join(dir, "endpoints.json")
	b, _ := json.Marshal(ep)
	if err := os.WriteFile(endpoints, b, 0o644); err != nil {
		t.Fatal(err)
	}
	// No login, no repository created first.
	for i, tag := range []string{"release-1.0", "release-1.1", "dev-1"} {
		img, err := imagegen.RandomImage(v1.Platform{OS: "linux", Architecture: "amd64"}, uint64(i+1), 2, 4<<10)
		if err != nil {
			t.Fatal(err)
		}
		ref, _ := name.NewTag(ep.Registries[cfg.Source.ID()]+"/team/app:"+tag, name.Insecure)
		if err := remote.Write(ref, img, remote.WithContext(ctx), remote.WithAuth(authn.Anonymous)); err != nil {
			t.Fatalf("anonymous push to the emulator's source: %v", err)
		}
	}

	// Ctrl-C (here before the sync starts): one line that says so, and
	// that a re-run picks up what is missing.
	interrupted, interrupt := context.WithCancelCause(ctx)
	interrupt(cli.Interrupted{Signal: os.Interrupt})
	if code, _, errOut := ferrySync(interrupted, "--config", cfgPath, "--endpoints", "@"+endpoints, "--approve"); code != 130 ||
		errOut != "ferry: interrupted (Ctrl-C); a re-run copies only what is still missing\n" {
		t.Errorf("interrupted sync: exit %d, stderr %q; want 130 and one line", code, errOut)
	}

	code, out, errOut := ferrySync(ctx, "--config", cfgPath, "--endpoints", "@"+endpoints, "--dry-run")
	if code != exitFailed || !strings.Contains(errOut, "2 images wait for approval") {
		t.Errorf("dry run: exit %d, stderr %q; want 1, production waiting for approval", code, errOut)
	}
	for _, want := range []string{
		"would copy  333333333333/us-west-2       team/app:release-1.0  sha256:",
		"would copy  444444444444/ap-southeast-2  team/app:release-1.1 → mirror/team/app",
		"skipped     222222222222/eu-west-1",
		"approval required",
		"333333333333/us-west-2       2 would copy",
		"sync --dry-run (nothing written): 4 would copy, 2 skipped",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("dry run output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "dev-1") {
		t.Errorf("dev-1 is planned; no rule takes it:\n%s", out)
	}

	code, out, errOut = ferrySync(ctx, "--config", cfgPath, "--endpoints", "@"+endpoints, "--approve")
	if code != exitOK || !strings.Contains(out, "sync: 6 copied") {
		t.Errorf("sync --approve: exit %d, %s%s; want 0 and 6 copied", code, out, errOut)
	}

	code, out, _ = ferrySync(ctx, "--config", cfgPath, "--endpoints", "@"+endpoints, "--json")
	if code != exitOK {
		t.Errorf("second sync: exit %d, want 0:\n%s", code, out)
	}
	n := 0
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		var r struct {
			Status, Destination, Tag, Digest string
		}
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("--json line %q: %v", sc.Text(), err)
		}
		if r.Status != "unchanged" || r.Destination == "" || r.Tag == "" || !strings.HasPrefix(r.Digest, "sha256:") {
			t.Errorf("--json line %+v: want unchanged, with destination, tag and digest", r)
		}
		n++
	}
	if n != 6 {
		t.Errorf("--json printed %d lines, want one per destination and image (6)", n)
	}
}

// TestEmulatorCommand runs ferry emulator as users do: it writes the
// endpoints file, serves until it is stopped, and says so.
func TestEmulatorCommand(t *testing.T) {
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "ferry.yaml")
	if err := os.WriteFile(cfgPath, []byte(e2e.Config), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "endpoints.json")
	ctx, cancel := context.WithCancel(context.Background())
	var stdout, stderr bytes.Buffer
	done := make(chan int)
	go func() {
		done <- report(&stderr, runEmulator(ctx, []string{"--config", cfgPath, "--endpoints-out", out}, &lockedWriter{w: &stdout}, &stderr))
	}()
	var ep struct {
		STS        string            `json:"sts"`
		ECR        map[string]string `json:"ecr"`
		Registries map[string]string `json:"registries"`
	}
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if b, err := os.ReadFile(out); err == nil && json.Unmarshal(b, &ep) == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("ferry emulator wrote no endpoints file")
		}
	}
	if len(ep.ECR) != 4 || len(ep.Registries) != 4 || ep.STS == "" {
		t.Errorf("endpoints %+v: want STS and 4 registries (the source and 3 destinations)", ep)
	}
	// The registries answer while it runs.
	resp, err := http.Get("http://" + ep.Registries[e2e.SourceAccount+"/"+e2e.SourceRegion] + "/v2/")
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Errorf("the source registry does not answer /v2/: %v %v", resp, err)
	}
	if resp != nil {
		resp.Body.Close()
	}
	cancel()
	if code := <-done; code != exitOK {
		t.Errorf("exit %d after Ctrl-C, stderr %q", code, stderr.String())
	}
	for _, want := range []string{"REGISTRY (push here)", "222222222222/eu-west-1", "Endpoints written to " + out, "ferry emulator: stopped"} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, stdout.String())
		}
	}
}
