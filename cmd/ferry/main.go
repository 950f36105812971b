// Command ferry copies container images between registries, digest for digest,
// and explains which destinations Ferry's rules send a push to.
package main

import (
	"context"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strings"

	"github.com/ferry-dev/ferry/internal/cli"
	"github.com/ferry-dev/ferry/internal/version"
)

// The conventions of internal/cli, under short names.
const (
	exitOK     = cli.ExitOK
	exitFailed = cli.ExitFailed
	exitUsage  = cli.ExitUsage
)

type (
	usageError  = cli.UsageError
	configError = cli.ConfigError
)

var (
	usagef = cli.Usagef
	report = cli.Report
)

const usage = `ferry — replicate container images between registries, digest for digest.

Usage:
  ferry copy [flags] SRC DST [DST...]   copy one image (with its referrers) to every DST
  ferry plan [--config FILE] [--json] REPOSITORY:TAG
                                        show which destinations a push would go to, and why
  ferry sync --config FILE [--dry-run]  make every destination hold what the rules select
                                        (backfill, drift repair; --approve for production)
  ferry emulator --config FILE          the AWS side of FILE on 127.0.0.1, to try Ferry on
  ferry run --config FILE --event FILE  run the replication workflow locally for one event
  ferry run --config FILE --reconcile   run the reconcile state machine locally
  ferry status [--since 24h] [--json]   recent runs: each destination's outcome, how to redrive
  ferry config validate [FILE]          check a configuration file (default ferry.yaml)
  ferry version (or ferry --version)    print the version, VCS revision and Go version

Run 'ferry COMMAND --help' for the flags of a command.

Exit codes: 0 success, 1 a copy (or run) failed, 2 bad usage or configuration,
130 interrupted by Ctrl-C (143 by SIGTERM).
`

// command is one subcommand: it parses its own flags and calls one library function.
type command func(ctx context.Context, args []string, stdout, stderr io.Writer) error

// commands are ferry's subcommands, by name.
var commands = map[string]command{
	"copy":     runCopy,
	"plan":     runPlan,
	"sync":     runSync,
	"emulator": runEmulator,
	"run":      runRun,
	"config":   runConfig,
	"status":   runStatus,
	"version":  runVersion,
}

func main() {
	// Ctrl-C (or SIGTERM) cancels the command's context: it stops, says
	// what it got done, and ferry exits 130 (143) with one line that it was
	// interrupted. A second Ctrl-C ends ferry at once.
	ctx, stop := cli.CancelOnSignal(context.Background())
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return exitUsage
	}
	name, rest := args[0], args[1:]
	switch name {
	case "help":
		// ferry help COMMAND is ferry COMMAND --help, as in git and go.
		if len(rest) > 0 && commands[rest[0]] != nil {
			name, rest = rest[0], []string{"--help"}
			break
		}
		fmt.Fprint(stdout, usage)
		return exitOK
	case "-h", "-help", "--help":
		fmt.Fprint(stdout, usage)
		return exitOK
	case "-version", "--version":
		name = "version"
	}
	cmd, ok := commands[name]
	if !ok {
		return report(stderr, unknownCommand(name))
	}
	err := cmd(ctx, rest, stdout, stderr)
	return report(stderr, cli.Interruption(ctx, err))
}

// unknownCommand says that name is not a command, and which one it may be.
func unknownCommand(name string) error {
	names := slices.Sorted(maps.Keys(commands))
	if strings.HasPrefix(name, "-") {
		return usagef("unknown flag %s: flags go after the command, e.g. ferry copy --help (commands: %s)", name, strings.Join(names, ", "))
	}
	if c := cli.Closest(name, names); c != "" {
		return usagef("unknown command %q; did you mean %s? (run 'ferry --help' for the commands)", name, c)
	}
	return usagef("unknown command %q; the commands are %s (run 'ferry --help' for what each does)", name, strings.Join(names, ", "))
}

func runVersion(_ context.Context, args []string, stdout, _ io.Writer) error {
	fs := cli.NewFlagSet("ferry version", "Usage: ferry version\n\nPrint ferry's version, the VCS revision it was built from and its Go version.\n")
	fs.SetOutput(stdout)
	args, err := cli.Parse(fs, args)
	if err != nil {
		return err
	}
	if len(args) > 0 {
		return usagef("version takes no arguments, got %q", args)
	}
	fmt.Fprintln(stdout, version.Get())
	return nil
}
