// Command ferry-workflow carries the ferry commands that read ferry.yaml:
// `ferry run` (the replication workflow, locally), `ferry plan` and
// `ferry config validate`. Users reach them through ferry, which hands them
// over. It is a binary of its own so that ferry copy, the command run most
// often, loads neither the AWS SDK the workflow's handlers need (~8 ms of
// package init) nor the YAML and configuration packages (~0.4 ms).
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

// The conventions ferry-workflow shares with ferry (internal/cli).
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

const usage = `ferry-workflow carries the ferry commands that read ferry.yaml; run them
through ferry:

  ferry plan [--config FILE] [--json] REPOSITORY:TAG
  ferry run --config FILE --event FILE
  ferry config validate [FILE]
  ferry sync --config FILE [--dry-run]
  ferry emulator --config FILE [--endpoints-out FILE]

Run 'ferry COMMAND --help' for the flags of a command.
`

// command is one subcommand: it parses its own flags and calls one library function.
type command func(ctx context.Context, args []string, stdout, stderr io.Writer) error

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	commands := map[string]command{
		"run":      runRun,
		"plan":     runPlan,
		"config":   runConfig,
		"sync":     runSync,
		"emulator": runEmulator,
	}
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return exitUsage
	}
	cmd, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "ferry-workflow: unknown command %q\n\n%s", args[0], usage)
		return exitUsage
	}
	return report(stderr, cmd(ctx, args[1:], stdout, stderr))
}
