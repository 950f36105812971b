package main

import (
	"regexp"
	"strings"
	"testing"

	"github.com/ferry-dev/ferry/internal/version"
)

func TestUnknownCommand(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ arg, want string }{
		{"cp", `ferry: unknown command "cp"; did you mean copy? (run 'ferry --help' for the commands)` + "\n"},
		{"vesion", `ferry: unknown command "vesion"; did you mean version? (run 'ferry --help' for the commands)` + "\n"},
		{"validate", `ferry: unknown command "validate"; the commands are config, copy, emulator, plan, run, status, sync, version (run 'ferry --help' for what each does)` + "\n"},
		{"--insecure", "ferry: unknown flag --insecure: flags go after the command, e.g. ferry copy --help (commands: config, copy, emulator, plan, run, status, sync, version)\n"},
	} {
		code, stdout, stderr := runFerry(t, tc.arg)
		if code != exitUsage || stdout != "" || stderr != tc.want {
			t.Errorf("ferry %s: exit %d, stdout %q, stderr %q; want %d and %q", tc.arg, code, stdout, stderr, exitUsage, tc.want)
		}
	}
}

func TestVersion(t *testing.T) {
	t.Parallel()
	want := version.Get().String() + "\n"
	if !strings.HasPrefix(want, "ferry ") || !strings.Contains(want, "go1.") {
		t.Fatalf("version.Get() = %q, want ferry VERSION (..., goX.Y)", want)
	}
	for _, args := range [][]string{{"version"}, {"--version"}, {"-version"}} {
		code, stdout, stderr := runFerry(t, args...)
		if code != exitOK || stdout != want || stderr != "" {
			t.Errorf("ferry %s: exit %d, stdout %q, stderr %q; want 0 and %q", args, code, stdout, stderr, want)
		}
	}
	if code, _, stderr := runFerry(t, "version", "extra"); code != exitUsage || !strings.Contains(stderr, "takes no arguments") {
		t.Errorf("ferry version extra: exit %d, stderr %q; want a usage error", code, stderr)
	}
}

var oneDash = regexp.MustCompile(`(?m)^\s+-[a-z]`)

// ferry --help lists every command, and each command's --help prints its
// flags with two dashes, on standard output.
func TestHelp(t *testing.T) {
	t.Parallel()
	code, stdout, _ := runFerry(t, "--help")
	if code != exitOK {
		t.Fatalf("ferry --help: exit %d", code)
	}
	for name := range commands {
		if !strings.Contains(stdout, "ferry "+name+" ") {
			t.Errorf("ferry --help does not list %s:\n%s", name, stdout)
		}
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"copy", "--help"}, "\n  --timeout DURATION\n"},
		{[]string{"help", "copy"}, "\n  --timeout DURATION\n"},
		{[]string{"plan", "--help"}, "\n  --config FILE\n"},
		{[]string{"sync", "--help"}, "\n  --destination ACCOUNT/REGION\n"},
		{[]string{"run", "--help"}, "\n  --event FILE\n"},
		{[]string{"emulator", "--help"}, "\n  --endpoints-out FILE\n"},
	} {
		code, stdout, stderr := runFerry(t, tc.args...)
		if code != exitOK || !strings.Contains(stdout, tc.want) || stderr != "" {
			t.Errorf("ferry %s: exit %d, stdout %q, stderr %q; want 0 and %q", tc.args, code, stdout, stderr, tc.want)
		}
		if oneDash.MatchString(stdout) {
			t.Errorf("ferry %s prints a flag with one dash:\n%s", tc.args, stdout)
		}
	}
}
