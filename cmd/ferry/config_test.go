package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestConfigCommand(t *testing.T) {
	t.Parallel()
	example := exampleConfig(t)
	bad := filepath.Join("..", "..", "internal", "config", "testdata", "bad.yaml")
	dir := t.TempDir()
	public := writeConfig(t, dir, "public.yaml", `          repositoryPolicy: |
            {"Version": "2012-10-17",
             "Statement": [{"Effect": "Allow", "Principal": "*", "Action": "ecr:BatchGetImage"}]}
`)
	noPrincipal := writeConfig(t, dir, "no-principal.yaml", `          repositoryPolicy: |
            {"Version": "2012-10-17",
             "Statement": [{"Effect": "Allow", "Action": "ecr:BatchGetImage"}]}
`)
	tests := []struct {
		name       string
		args       []string
		wantCode   int
		wantStdout string   // exact
		wantStderr []string // substrings
	}{
		{
			name:       "valid",
			args:       []string{"config", "validate", example},
			wantCode:   exitOK,
			wantStdout: example + ": valid — 2 rules, 3 destinations\n",
		},
		{
			name:       "valid with a warning",
			args:       []string{"config", "validate", public},
			wantCode:   exitOK,
			wantStdout: public + ": valid — 1 rule, 1 destination (1 warning)\n",
			wantStderr: []string{public + `:13:61: warning: rules[0].destinations[0].settings.repositoryPolicy.Statement[0].Principal: is everyone: ` +
				`with Effect Allow and no Condition this grants ecr:BatchGetImage on the repository to any AWS account, and to anonymous callers`},
		},
		{
			name:     "a policy ECR would refuse",
			args:     []string{"config", "validate", noPrincipal},
			wantCode: exitUsage,
			wantStderr: []string{
				noPrincipal + `:13:28: rules[0].destinations[0].settings.repositoryPolicy.Statement[0].Principal: missing; a repository policy is a resource-based policy`,
				"\nferry: " + noPrincipal + ": invalid configuration: 1 problem\n",
			},
		},
		{
			name:     "invalid",
			args:     []string{"config", "validate", bad},
			wantCode: exitUsage,
			wantStderr: []string{
				bad + ":1:10: version: the number 2 is not supported; want 1\n",
				bad + `:5:1: externalID: unknown key "externalID"; allowed keys are version, source, externalId, rules, reconcile (did you mean "externalId"?)` + "\n",
				"\nferry: " + bad + ": invalid configuration: 22 problems\n",
			},
		},
		{
			name:       "missing file",
			args:       []string{"config", "validate", filepath.Join(t.TempDir(), "nope.yaml")},
			wantCode:   exitUsage,
			wantStderr: []string{"nope.yaml: no such file or directory"},
		},
		{
			name:       "no subcommand",
			args:       []string{"config"},
			wantCode:   exitUsage,
			wantStderr: []string{"missing config command; want 'ferry config validate FILE'"},
		},
		{
			name:       "unknown subcommand",
			args:       []string{"config", "check", example},
			wantCode:   exitUsage,
			wantStderr: []string{`unknown config command "check"; want 'ferry config validate FILE'`},
		},
		{
			name:       "mistyped subcommand",
			args:       []string{"config", "valdate", example},
			wantCode:   exitUsage,
			wantStderr: []string{`unknown config command "valdate"; did you mean 'ferry config validate FILE'?`},
		},
		{
			name:       "two files",
			args:       []string{"config", "validate", example, example},
			wantCode:   exitUsage,
			wantStderr: []string{"takes one FILE, got 2 arguments"},
		},
		{
			name:       "help",
			args:       []string{"config", "validate", "--help"},
			wantCode:   exitOK,
			wantStdout: configUsage, // it has no flags
		},
		{
			name:       "help without subcommand",
			args:       []string{"config", "-h"},
			wantCode:   exitOK,
			wantStdout: configUsage, // it has no flags
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			code, stdout, stderr := runFerry(t, tt.args...)
			if code != tt.wantCode {
				t.Errorf("exit code = %d, want %d\nstdout:\n%s\nstderr:\n%s", code, tt.wantCode, stdout, stderr)
			}
			if stdout != tt.wantStdout {
				t.Errorf("stdout = %q, want %q", stdout, tt.wantStdout)
			}
			for _, want := range tt.wantStderr {
				if !strings.Contains(stderr, want) {
					t.Errorf("stderr does not contain %q:\n%s", want, stderr)
				}
			}
			if len(tt.wantStderr) == 0 && stderr != "" {
				t.Errorf("stderr = %q, want nothing", stderr)
			}
		})
	}
}

// TestConfigCommandErrorLines: every problem is on its own line, as
// FILE:LINE:COLUMN: ..., so editors and CI annotate them.
func TestConfigCommandErrorLines(t *testing.T) {
	t.Parallel()
	bad := filepath.Join("..", "..", "internal", "config", "testdata", "bad.yaml")
	_, _, stderr := runFerry(t, "config", "validate", bad)
	lines := strings.Split(strings.TrimSuffix(stderr, "\n"), "\n")
	if len(lines) != 23 {
		t.Fatalf("got %d lines, want 22 problems and a summary:\n%s", len(lines), stderr)
	}
	for _, l := range lines[:22] {
		rest, ok := strings.CutPrefix(l, bad+":")
		if !ok || !startsWithPosition(rest) {
			t.Errorf("line %q is not FILE:LINE:COLUMN: ...", l)
		}
	}
}

func startsWithPosition(s string) bool {
	line, rest, ok := strings.Cut(s, ":")
	if !ok || line == "" || strings.Trim(line, "0123456789") != "" {
		return false
	}
	col, _, ok := strings.Cut(rest, ":")
	return ok && col != "" && strings.Trim(col, "0123456789") == ""
}

// TestConfigCommandDefaultFile: FILE defaults to ferry.yaml.
func TestConfigCommandDefaultFile(t *testing.T) {
	data, err := os.ReadFile(exampleConfig(t))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "ferry.yaml"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Chdir(dir)
	code, stdout, stderr := runFerry(t, "config", "validate")
	if code != exitOK || stdout != "ferry.yaml: valid — 2 rules, 3 destinations\n" {
		t.Errorf("exit code %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
}

// writeConfig writes a one-destination configuration whose settings end
// with the lines given (indented for settings' keys), and returns its path.
func writeConfig(t *testing.T, dir, name, settings string) string {
	t.Helper()
	data := `version: 1
source: {account: "111111111111", region: us-east-1}
rules:
  - name: releases
    repositories: ["team/**"]
    tags: ["release-*"]
    destinations:
      - account: "222222222222"
        region: eu-west-1
        settings:
` + settings
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}
