package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"

	"github.com/ferry-dev/ferry/internal/config"
)

const configUsage = `Usage: ferry config validate [FILE]

Check a configuration file (default ferry.yaml): print "FILE: valid" with a
count of rules and destinations, or every problem on its own line as
FILE:LINE:COLUMN: FIELD: MESSAGE, and exit with status 2.
`

func runConfig(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fset := newSubcommandFlags("ferry config validate", configUsage, stderr)
	if len(args) > 0 && args[0] != "validate" && !isHelpArg(args[0]) {
		return usagef("unknown config command %q; want 'ferry config validate FILE'", args[0])
	}
	if len(args) > 0 && args[0] == "validate" {
		args = args[1:]
	} else if len(args) == 0 {
		return usagef("missing config command; want 'ferry config validate FILE'")
	}
	if err := parseSubcommandFlags(fset, args); err != nil {
		return err
	}
	path := "ferry.yaml"
	switch fset.NArg() {
	case 0:
	case 1:
		path = fset.Arg(0)
	default:
		return usagef("ferry config validate takes one FILE, got %d arguments", fset.NArg())
	}
	cfg, err := loadConfigFile(path, stderr)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s: valid — %s, %s\n", path,
		plural(len(cfg.Rules), "rule", "rules"), plural(len(cfg.Destinations()), "destination", "destinations"))
	return nil
}

func isHelpArg(s string) bool { return s == "-h" || s == "-help" || s == "--help" }

// newSubcommandFlags returns a flag set whose -h prints usage, then the flags.
func newSubcommandFlags(name, usage string, stderr io.Writer) *flag.FlagSet {
	fset := flag.NewFlagSet(name, flag.ContinueOnError)
	fset.SetOutput(stderr)
	fset.Usage = func() {
		fmt.Fprint(fset.Output(), usage)
		hasFlags := false
		fset.VisitAll(func(*flag.Flag) { hasFlags = true })
		if hasFlags {
			fmt.Fprintln(fset.Output(), "\nFlags:")
			fset.PrintDefaults()
		}
	}
	return fset
}

// parseSubcommandFlags parses args, prints usage for -h (and returns
// errHelp), and turns a bad flag into one usage error instead of flag's own
// message followed by the whole usage text.
func parseSubcommandFlags(fset *flag.FlagSet, args []string) error {
	out := fset.Output()
	fset.SetOutput(io.Discard)
	err := fset.Parse(args)
	fset.SetOutput(out)
	switch {
	case errors.Is(err, flag.ErrHelp):
		fset.Usage()
		return errHelp
	case err != nil:
		return usagef("%v (run '%s --help' for usage)", err, fset.Name())
	}
	return nil
}

// loadConfigFile loads and checks a configuration. Each problem goes to
// stderr on its own line; the error returned is a configError that sums
// them up.
func loadConfigFile(path string, stderr io.Writer) (*config.Config, error) {
	cfg, err := config.Load(path)
	if err == nil {
		return cfg, nil
	}
	if errors.Is(err, fs.ErrNotExist) {
		return nil, configError{Err: fmt.Errorf("%w (give the file with --config, or start from ferry.example.yaml)", err)}
	}
	problems := config.Errors(err)
	if len(problems) == 0 {
		return nil, configError{Err: err}
	}
	for _, p := range problems {
		fmt.Fprintln(stderr, p)
	}
	return nil, configError{Err: fmt.Errorf("%s: invalid configuration: %s", path, plural(len(problems), "problem", "problems"))}
}

func plural(n int, one, many string) string {
	if n == 1 {
		return fmt.Sprintf("%d %s", n, one)
	}
	return fmt.Sprintf("%d %s", n, many)
}
