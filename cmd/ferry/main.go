// Command ferry copies container images between registries, digest for digest,
// and explains which destinations Ferry's rules send a push to.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// Exit codes, documented in README and `ferry --help`.
const (
	exitOK     = 0
	exitFailed = 1 // a copy (or another operation) failed
	exitUsage  = 2 // bad usage or configuration
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

// usageError marks errors caused by how ferry was invoked (exit code 2).
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

// configError marks errors in a configuration file (exit code 2).
type configError struct{ err error }

func (e configError) Error() string { return e.err.Error() }
func (e configError) Unwrap() error { return e.err }

// errHelp is returned by a subcommand that printed its help on request.
var errHelp = flag.ErrHelp

func usagef(format string, args ...any) error {
	return usageError{fmt.Errorf(format, args...)}
}

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

// report prints err as one line and maps it to an exit code.
func report(stderr io.Writer, err error) int {
	if err == nil {
		return exitOK
	}
	if errors.Is(err, errHelp) {
		return exitOK
	}
	var child exitStatus
	if errors.As(err, &child) {
		return int(child) // the child printed its own error
	}
	fmt.Fprintf(stderr, "ferry: %v\n", err)
	var ue usageError
	var ce configError
	switch {
	case errors.As(err, &ue), errors.As(err, &ce):
		return exitUsage
	default:
		return exitFailed
	}
}

func runVersion(_ context.Context, _ []string, stdout, _ io.Writer) error {
	fmt.Fprintf(stdout, "ferry %s\n", version)
	return nil
}
