// Command ferry copies container images between registries, digest for digest,
// and explains which destinations Ferry's rules send a push to.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sync"
	"syscall"

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
  ferry config validate [FILE]          check a configuration file (default ferry.yaml)
  ferry version                         print the version, VCS revision and Go version

Run 'ferry COMMAND --help' for the flags of a command.

Exit codes: 0 success, 1 a copy failed, 2 bad usage or configuration.
`

// command is one subcommand: it parses its own flags and calls one library function.
type command func(ctx context.Context, args []string, stdout, stderr io.Writer) error

func main() {
	// No signal handling here: Ctrl-C ends ferry at once until a command
	// takes it over (see cancelOnSignal): listening from the start would cost
	// every run a thread of its own, for an up-to-date copy a sizeable part of
	// its few milliseconds.
	os.Exit(run(context.Background(), os.Args[1:], os.Stdout, os.Stderr))
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return exitUsage
	}
	commands := map[string]command{
		"copy":    runCopy,
		"version": runVersion,
		// These stop cleanly on Ctrl-C and report; copy takes the signal
		// over only once it writes (see cancelOnSignal).
		"plan":     stopOnSignal(runPlan),
		"run":      stopOnSignal(runRun),
		"config":   stopOnSignal(runConfig),
		"sync":     stopOnSignal(runSync),
		"emulator": stopOnSignal(runEmulator),
	}
	name, rest := args[0], args[1:]
	switch name {
	case "-h", "--help", "help":
		fmt.Fprint(stdout, usage)
		return exitOK
	case "--version":
		name = "version"
	}
	cmd, ok := commands[name]
	if !ok {
		fmt.Fprintf(stderr, "ferry: unknown command %q\n\n%s", name, usage)
		return exitUsage
	}
	err := cmd(ctx, rest, stdout, stderr)
	return report(stderr, err)
}

func runVersion(_ context.Context, args []string, stdout, _ io.Writer) error {
	if len(args) > 0 {
		return usagef("version takes no arguments, got %q", args)
	}
	fmt.Fprintln(stdout, version.Get())
	return nil
}

// stopOnSignal runs cmd with a context that SIGINT and SIGTERM cancel.
func stopOnSignal(cmd command) command {
	return func(ctx context.Context, args []string, stdout, stderr io.Writer) error {
		ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
		defer stop()
		return cmd(ctx, args, stdout, stderr)
	}
}

// cancelOnSignal makes SIGINT and SIGTERM call cancel from now on, instead
// of ending the process, and returns a function that gives them back. A
// second signal after the first ends ferry at once.
func cancelOnSignal(cancel context.CancelFunc) (stop func()) {
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, os.Interrupt, syscall.SIGTERM)
	done := make(chan struct{})
	go func() {
		select {
		case <-ch:
			cancel()
			signal.Stop(ch)
		case <-done:
		}
	}()
	var once sync.Once
	return func() {
		once.Do(func() {
			signal.Stop(ch)
			close(done)
		})
	}
}
