// Command ferry copies container images between registries, digest for digest,
// and explains which destinations Ferry's rules send a push to.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/ferry-dev/ferry/internal/cli"
)

// The conventions ferry shares with ferry-workflow (internal/cli).
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
	errHelp = cli.ErrHelp
	usagef  = cli.Usagef
	report  = cli.Report
)

const usage = `ferry — replicate container images between registries, digest for digest.

Usage:
  ferry copy [flags] SRC DST [DST...]   copy one image (with its referrers) to every DST
  ferry plan --config FILE REPOSITORY:TAG
                                        show which destinations a push would go to, and why
  ferry run --config FILE --event FILE run the replication workflow locally for one event
  ferry config validate FILE            check a configuration file
  ferry version                         print the version

Run 'ferry COMMAND --help' for the flags of a command.

Exit codes: 0 success, 1 a copy failed, 2 bad usage or configuration.
`

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

// command is one subcommand: it parses its own flags and calls one library function.
type command func(ctx context.Context, args []string, stdout, stderr io.Writer) error

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return exitUsage
	}
	commands := map[string]command{
		"copy":    runCopy,
		"plan":    runPlan,
		"run":     runRun,
		"config":  runConfig,
		"version": runVersion,
	}
	name, rest := args[0], args[1:]
	switch name {
	case "-h", "--help", "help":
		fmt.Fprint(stdout, usage)
		return exitOK
	}
	cmd, ok := commands[name]
	if !ok {
		fmt.Fprintf(stderr, "ferry: unknown command %q\n\n%s", name, usage)
		return exitUsage
	}
	err := cmd(ctx, rest, stdout, stderr)
	return report(stderr, err)
}

func runVersion(_ context.Context, _ []string, stdout, _ io.Writer) error {
	fmt.Fprintf(stdout, "ferry %s\n", version)
	return nil
}
