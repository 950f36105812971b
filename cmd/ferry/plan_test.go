package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/ferry-dev/ferry/internal/plan"
)

// exampleConfig is ferry.example.yaml at the module root.
func exampleConfig(t *testing.T) string {
	t.Helper()
	_, self, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(self), "..", "..", "ferry.example.yaml")
}

func TestPlanCommand(t *testing.T) {
	t.Parallel()
	example := exampleConfig(t)
	bad := filepath.Join("..", "..", "internal", "config", "testdata", "bad.yaml")
	tests := []struct {
		name       string
		args       []string
		wantCode   int
		wantStdout []string // substrings
		wantStderr []string // substrings
	}{
		{
			name:     "release to production",
			args:     []string{"plan", "--config", example, "team/app:release-1.4"},
			wantCode: exitOK,
			wantStdout: []string{
				"team/app:release-1.4 would be copied to 2 destinations:",
				"DESTINATION             REPOSITORY  RULE      APPROVAL  ON EXISTING TAG",
				"222222222222/eu-west-1  team/app    releases  required  fail",
				"333333333333/us-west-2  team/app    releases  required  fail",
				`rule mirrors: repository "team/app" matches no repository pattern (tools/*)`,
			},
		},
		{
			name:       "renamed mirror",
			args:       []string{"plan", "--config=" + example, "tools/golang:1.22.3"},
			wantCode:   exitOK,
			wantStdout: []string{"444444444444/eu-central-1  mirror/golang  mirrors  none      overwrite"},
		},
		{
			name:     "nowhere",
			args:     []string{"plan", "--config", example, "team/app:dev-123"},
			wantCode: exitOK,
			wantStdout: []string{
				"team/app:dev-123 would not be copied anywhere.",
				`rule releases: tag "dev-123" matches no tag pattern (release-*, semver:>=1.2 <2)`,
			},
		},
		{
			name:       "full image URI in the source registry",
			args:       []string{"plan", "--config", example, "111111111111.dkr.ecr.us-east-1.amazonaws.com/team/app:release-1.4"},
			wantCode:   exitOK,
			wantStdout: []string{"team/app:release-1.4 would be copied to 2 destinations"},
		},
		{
			name:       "image URI in another registry",
			args:       []string{"plan", "--config", example, "222222222222.dkr.ecr.eu-west-1.amazonaws.com/team/app:release-1.4"},
			wantCode:   exitUsage,
			wantStderr: []string{"not the source registry 111111111111/us-east-1"},
		},
		{
			name:       "not an ECR image",
			args:       []string{"plan", "--config", example, "docker.io/library/alpine:3"},
			wantCode:   exitUsage,
			wantStderr: []string{"is not an image in an ECR registry"},
		},
		{
			name:       "no tag",
			args:       []string{"plan", "--config", example, "team/app"},
			wantCode:   exitUsage,
			wantStderr: []string{`"team/app" has no tag; want REPOSITORY:TAG`},
		},
		{
			name:       "digest",
			args:       []string{"plan", "--config", example, "team/app@sha256:" + strings.Repeat("a", 64)},
			wantCode:   exitUsage,
			wantStderr: []string{"names a digest"},
		},
		{
			name:       "invalid repository name",
			args:       []string{"plan", "--config", example, "Team/App:v1"},
			wantCode:   exitUsage,
			wantStderr: []string{`invalid repository name "Team/App"`},
		},
		{
			name:       "no argument",
			args:       []string{"plan", "--config", example},
			wantCode:   exitUsage,
			wantStderr: []string{"ferry plan takes one REPOSITORY:TAG, got 0 arguments"},
		},
		{
			name:       "two arguments",
			args:       []string{"plan", "--config", example, "a/b:1", "c/d:2"},
			wantCode:   exitUsage,
			wantStderr: []string{"got 2 arguments"},
		},
		{
			name:       "unknown flag",
			args:       []string{"plan", "--frobnicate", "a/b:1"},
			wantCode:   exitUsage,
			wantStderr: []string{"ferry: unknown flag --frobnicate (run 'ferry plan --help' for the flags)"},
		},
		{
			name:       "mistyped flag",
			args:       []string{"plan", "--jsn", "a/b:1"},
			wantCode:   exitUsage,
			wantStderr: []string{"ferry: unknown flag --jsn; did you mean --json? (run 'ferry plan --help' for the flags)"},
		},
		{
			name:       "help",
			args:       []string{"plan", "-h"},
			wantCode:   exitOK,
			wantStdout: []string{"Usage: ferry plan [--config FILE] [--json] REPOSITORY:TAG", "\n  --config FILE\n", "\n  --json\n"},
		},
		{
			name:       "missing configuration",
			args:       []string{"plan", "--config", filepath.Join(t.TempDir(), "ferry.yaml"), "a/b:1"},
			wantCode:   exitUsage,
			wantStderr: []string{"no such file or directory (give the file with --config, or start from ferry.example.yaml)"},
		},
		{
			name:     "invalid configuration",
			args:     []string{"plan", "--config", bad, "a/b:1"},
			wantCode: exitUsage,
			wantStderr: []string{
				bad + `:11:18: rules[0].destinations[0].account: "12345" is not an AWS account id (want 12 digits, quoted)`,
				"ferry: " + bad + ": invalid configuration: 22 problems",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			code, stdout, stderr := runFerry(t, tt.args...)
			if code != tt.wantCode {
				t.Errorf("exit code = %d, want %d\nstdout:\n%s\nstderr:\n%s", code, tt.wantCode, stdout, stderr)
			}
			for _, want := range tt.wantStdout {
				if !strings.Contains(stdout, want) {
					t.Errorf("stdout does not contain %q:\n%s", want, stdout)
				}
			}
			for _, want := range tt.wantStderr {
				if !strings.Contains(stderr, want) {
					t.Errorf("stderr does not contain %q:\n%s", want, stderr)
				}
			}
			if tt.wantCode == exitOK && len(tt.wantStderr) == 0 && stderr != "" {
				t.Errorf("stderr = %q, want nothing", stderr)
			}
			if tt.wantCode != exitOK && stdout != "" {
				t.Errorf("stdout = %q on failure, want nothing", stdout)
			}
		})
	}
}

func TestPlanCommandJSON(t *testing.T) {
	t.Parallel()
	code, stdout, stderr := runFerry(t, "plan", "--config", exampleConfig(t), "--json", "tools/golang:latest")
	if code != exitOK {
		t.Fatalf("exit code = %d, stderr:\n%s", code, stderr)
	}
	var p plan.Selection
	if err := json.Unmarshal([]byte(stdout), &p); err != nil {
		t.Fatalf("stdout is not a JSON plan: %v\n%s", err, stdout)
	}
	if len(p.Jobs) != 1 || p.Jobs[0].Repository != "mirror/golang" || p.Jobs[0].Destination.ID() != "444444444444/eu-central-1" {
		t.Errorf("jobs = %+v", p.Jobs)
	}
	if len(p.Skipped) != 1 || p.Skipped[0].Rule != "releases" {
		t.Errorf("skipped = %+v", p.Skipped)
	}
}

// TestPlanCommandDefaultConfig: without --config, ferry plan reads
// ferry.yaml in the working directory.
func TestPlanCommandDefaultConfig(t *testing.T) {
	data, err := os.ReadFile(exampleConfig(t))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "ferry.yaml"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Chdir(dir)
	code, stdout, stderr := runFerry(t, "plan", "team/app:release-1")
	if code != exitOK || !strings.Contains(stdout, "would be copied to 2 destinations") {
		t.Errorf("exit code %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
}

// TestPlanCommandGates: ferry plan shows each gated destination's gates.
func TestPlanCommandGates(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "keys"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "keys", "release.pub"), pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := `version: 1
source: {account: "111111111111", region: us-east-1}
rules:
  - name: releases
    repositories: ["team/**"]
    tags: ["release-*"]
    destinations:
      - account: "222222222222"
        region: eu-west-1
        approval: required
        gates:
          scan: {maxSeverity: MEDIUM, wait: 20m, ignore: [CVE-2024-0001]}
          signature:
            keys:
              - file: keys/release.pub
              - kms: arn:aws:kms:us-east-1:111111111111:key/1234abcd-12ab-34cd-56ef-1234567890ab
      - account: "333333333333"
        region: us-west-2
`
	path := filepath.Join(dir, "ferry.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr := runFerry(t, "plan", "--config", path, "team/app:release-1.4")
	if code != exitOK {
		t.Fatalf("exit code = %d, stderr:\n%s", code, stderr)
	}
	want := "\nGates, checked before any approval (a refused image is blocked there, not copied):\n" +
		"  222222222222/eu-west-1: scan: nothing above MEDIUM (ignoring CVE-2024-0001), waiting up to 20m0s for the scan; signature: by keys/release.pub or arn:aws:kms:us-east-1:111111111111:key/1234abcd-12ab-34cd-56ef-1234567890ab, waiting up to 10m0s for one\n"
	if !strings.Contains(stdout, want) {
		t.Errorf("stdout does not contain %q:\n%s", want, stdout)
	}
	if strings.Contains(stdout, "333333333333/us-west-2:") {
		t.Errorf("the ungated destination is listed with gates:\n%s", stdout)
	}

	// Without gates, no Gates section.
	code, stdout, _ = runFerry(t, "plan", "--config", exampleConfig(t), "team/app:release-1.4")
	if code != exitOK || strings.Contains(stdout, "Gates") {
		t.Errorf("exit %d, stdout for a configuration without gates:\n%s", code, stdout)
	}
}
