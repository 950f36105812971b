// Package cli holds the conventions of ferry's subcommands: exit codes,
// flag parsing, Ctrl-C, and how an error becomes one line on stderr and an
// exit code.
package cli

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"syscall"
)

// Exit codes, documented in README and `ferry --help`.
const (
	ExitOK     = 0
	ExitFailed = 1 // a copy (or another operation) failed
	ExitUsage  = 2 // bad usage or configuration
	// A signal stopped ferry: 128 + the signal's number, as a shell
	// reports a program the signal killed (130 for Ctrl-C, 143 for SIGTERM).
	exitSignal = 128
)

// UsageError marks errors caused by how a program was invoked (exit 2).
type UsageError struct{ Err error }

func (e UsageError) Error() string { return e.Err.Error() }
func (e UsageError) Unwrap() error { return e.Err }

// ConfigError marks errors in a configuration file (exit 2).
type ConfigError struct{ Err error }

func (e ConfigError) Error() string { return e.Err.Error() }
func (e ConfigError) Unwrap() error { return e.Err }

// Reported marks an error the command has already shown the user, on a
// result line of its own: Report maps it to an exit code and prints nothing,
// so that each failure is said once.
type Reported struct{ Err error }

func (e Reported) Error() string { return e.Err.Error() }
func (e Reported) Unwrap() error { return e.Err }

// Interrupted is the error of a command that SIGINT (Ctrl-C) or SIGTERM
// stopped. Report prints it as one line, "ferry: interrupted (Ctrl-C)",
// followed by Hint when there is one, and exits 128 + the signal's number.
// A command returns it to supply the Hint (what a re-run does, e.g. "a
// re-run resumes from the blobs already copied"); main fills in Signal.
type Interrupted struct {
	Signal os.Signal // nil means SIGINT
	Hint   string
}

func (e Interrupted) Error() string {
	what := "interrupted (Ctrl-C)"
	if e.Signal != nil && e.Signal != os.Interrupt {
		what = "interrupted (" + signalName(e.Signal) + ")"
	}
	if e.Hint != "" {
		return what + "; " + e.Hint
	}
	return what
}

func (e Interrupted) exitCode() int {
	if s, ok := e.Signal.(syscall.Signal); ok {
		return exitSignal + int(s)
	}
	return exitSignal + int(syscall.SIGINT)
}

func signalName(s os.Signal) string {
	if s == syscall.SIGTERM {
		return "SIGTERM"
	}
	return s.String()
}

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
	if ie, ok := errors.AsType[Interrupted](err); ok {
		fmt.Fprintf(stderr, "ferry: %v\n", ie)
		return ie.exitCode()
	}
	if _, ok := errors.AsType[Reported](err); !ok {
		fmt.Fprintf(stderr, "ferry: %v\n", err)
	}
	var ue UsageError
	var ce ConfigError
	if errors.As(err, &ue) || errors.As(err, &ce) {
		return ExitUsage
	}
	return ExitFailed
}

// NewFlagSet returns a flag set for the command name (e.g. "ferry copy")
// whose --help prints synopsis and then the flags, each with two dashes
// (--config FILE), as the README writes them. Help goes to standard output
// (it was asked for); set another with SetOutput.
func NewFlagSet(name, synopsis string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(os.Stdout)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), synopsis)
		PrintFlags(fs.Output(), fs)
	}
	return fs
}

// PrintFlags prints "Flags:" and each flag of fs, if it has any: the flag
// with two dashes and its value's name, then its usage and default.
func PrintFlags(w io.Writer, fs *flag.FlagSet) {
	var b strings.Builder
	fs.VisitAll(func(f *flag.Flag) {
		name, usage := flag.UnquoteUsage(f)
		b.WriteString("  --" + f.Name)
		if !isBool(f) {
			b.WriteString(" " + strings.ToUpper(valueName(name)))
		}
		b.WriteString("\n        " + strings.ReplaceAll(usage, "\n", "\n        "))
		if !isZero(f) {
			if fmt.Sprintf("%T", f.Value) == "*flag.stringValue" { // as flag's own help quotes them
				fmt.Fprintf(&b, " (default %q)", f.DefValue)
			} else {
				fmt.Fprintf(&b, " (default %s)", f.DefValue)
			}
		}
		b.WriteString("\n")
	})
	if b.Len() > 0 {
		fmt.Fprint(w, "\nFlags:\n"+b.String())
	}
}

// valueName is how a flag's value is written in help: the back-quoted name
// in its usage, else a word for its type.
func valueName(name string) string {
	switch name {
	case "value", "":
		return "VALUE"
	case "int", "uint", "float":
		return "N"
	}
	return name
}

func isBool(f *flag.Flag) bool {
	b, ok := f.Value.(interface{ IsBoolFlag() bool })
	return ok && b.IsBoolFlag()
}

// isZero tells whether a flag's default is its type's zero value, which
// help does not print.
func isZero(f *flag.Flag) bool {
	switch f.DefValue {
	case "", "false", "0", "0s", "[]":
		return true
	}
	return false
}

// Parse parses args into fs and returns the positional arguments. Flags
// may come before, between or after them, as in most command-line tools,
// with one dash or two, their value after "=" or as the next argument;
// everything after "--" is positional. --help (or -h) prints the usage and
// returns ErrHelp. A bad flag is one UsageError that names it with two
// dashes, and an unknown one comes with the closest flag fs has:
// "unknown flag --insecur; did you mean --insecure?".
func Parse(fs *flag.FlagSet, args []string) ([]string, error) {
	var positional []string
	for i := 0; i < len(args); i++ {
		arg := args[i]
		if arg == "--" {
			return append(positional, args[i+1:]...), nil
		}
		if len(arg) < 2 || arg[0] != '-' {
			positional = append(positional, arg)
			continue
		}
		name := strings.TrimPrefix(strings.TrimPrefix(arg, "-"), "-")
		name, value, hasValue := strings.Cut(name, "=")
		f := fs.Lookup(name)
		if f == nil && (name == "h" || name == "help") {
			fs.Usage()
			return nil, ErrHelp
		}
		if f == nil {
			return nil, Usagef("unknown flag --%s%s (run '%s --help' for the flags)", name, didYouMean(name, flagNames(fs), "--"), fs.Name())
		}
		switch {
		case hasValue:
		case isBool(f):
			value = "true"
		case i+1 < len(args):
			i++
			value = args[i]
		default:
			return nil, Usagef("--%s needs a value: --%s %s (run '%s --help' for the flags)", name, name, flagValueName(f), fs.Name())
		}
		if err := fs.Set(name, value); err != nil {
			// flag's own values say only "parse error" (or "value out of
			// range"); a Var's error says what is wrong.
			if msg := err.Error(); msg == "parse error" || msg == "value out of range" {
				return nil, Usagef("--%s %q: want %s (run '%s --help' for the flags)", name, value, flagValueName(f), fs.Name())
			}
			return nil, Usagef("--%s %q: %v (run '%s --help' for the flags)", name, value, err, fs.Name())
		}
	}
	return positional, nil
}

// flagValueName is what a flag's value is, for an error: "FILE", "DURATION
// (e.g. 30s or 2h)".
func flagValueName(f *flag.Flag) string {
	name, _ := flag.UnquoteUsage(f)
	if isBool(f) {
		return "true or false"
	}
	n := strings.ToUpper(valueName(name))
	if name == "duration" || strings.Contains(n, "DURATION") {
		return n + " (e.g. 90s, 30m or 2h)"
	}
	return n
}

func flagNames(fs *flag.FlagSet) []string {
	var names []string
	fs.VisitAll(func(f *flag.Flag) { names = append(names, f.Name) })
	return names
}

// didYouMean returns "; did you mean PREFIX+X?" for the candidate closest
// to word, or "" when none is close.
func didYouMean(word string, candidates []string, prefix string) string {
	if c := Closest(word, candidates); c != "" {
		return "; did you mean " + prefix + c + "?"
	}
	return ""
}
