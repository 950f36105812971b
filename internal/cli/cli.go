// Package cli holds the conventions of ferry's subcommands: exit codes,
// flag parsing, and how an error becomes one line on stderr and an exit code.
package cli

import (
	"errors"
	"flag"
	"fmt"
	"io"
)

// Exit codes, documented in README and `ferry --help`.
const (
	ExitOK     = 0
	ExitFailed = 1 // a copy (or another operation) failed
	ExitUsage  = 2 // bad usage or configuration
)

// UsageError marks errors caused by how a program was invoked (exit 2).
type UsageError struct{ Err error }

func (e UsageError) Error() string { return e.Err.Error() }
func (e UsageError) Unwrap() error { return e.Err }

// ConfigError marks errors in a configuration file (exit 2).
type ConfigError struct{ Err error }

func (e ConfigError) Error() string { return e.Err.Error() }
func (e ConfigError) Unwrap() error { return e.Err }

// ExitStatus is the exit code of a program this one handed over to; that
// program has already printed its own error.
type ExitStatus int

func (e ExitStatus) Error() string { return fmt.Sprintf("exit status %d", int(e)) }

// ErrHelp is returned by a command that printed its help on request.
var ErrHelp = flag.ErrHelp

// Usagef returns a UsageError.
func Usagef(format string, args ...any) error {
	return UsageError{Err: fmt.Errorf(format, args...)}
}

// Report prints err as one line ("ferry: ...") and maps it to an exit code.
func Report(stderr io.Writer, err error) int {
	if err == nil || errors.Is(err, ErrHelp) {
		return ExitOK
	}
	var child ExitStatus
	if errors.As(err, &child) {
		return int(child)
	}
	fmt.Fprintf(stderr, "ferry: %v\n", err)
	var ue UsageError
	var ce ConfigError
	if errors.As(err, &ue) || errors.As(err, &ce) {
		return ExitUsage
	}
	return ExitFailed
}

// NewFlags returns a flag set for the command name (e.g. "ferry copy")
// whose -h prints usage and then, if it has any, its flags.
func NewFlags(name, usage string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), usage)
		hasFlags := false
		fs.VisitAll(func(*flag.Flag) { hasFlags = true })
		if hasFlags {
			fmt.Fprintln(fs.Output(), "\nFlags:")
			fs.PrintDefaults()
		}
	}
	return fs
}

// Parse parses args into fs and returns the positional arguments. Flags
// may come before, between or after them, as in most command-line tools;
// everything after "--" is positional. -h prints the usage and returns
// ErrHelp. A bad flag is one UsageError, not flag's own message followed
// by the whole usage text.
func Parse(fs *flag.FlagSet, args []string) ([]string, error) {
	out := fs.Output()
	fs.SetOutput(io.Discard) // flag prints the error and the usage itself
	defer fs.SetOutput(out)
	var positional []string
	for {
		err := fs.Parse(args)
		switch {
		case errors.Is(err, flag.ErrHelp):
			fs.SetOutput(out)
			fs.Usage()
			return nil, ErrHelp
		case err != nil:
			return nil, Usagef("%v (run '%s --help' for usage)", err, fs.Name())
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return positional, nil
		}
		if n := len(args) - len(rest); n > 0 && args[n-1] == "--" {
			return append(positional, rest...), nil
		}
		positional = append(positional, rest[0])
		args = rest[1:]
	}
}
