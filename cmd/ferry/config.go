package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"

	"github.com/ferry-dev/ferry/internal/cli"
	"github.com/ferry-dev/ferry/internal/config"
)

const configUsage = `Usage: ferry config validate [FILE]

Check a configuration file (default ferry.yaml): print "FILE: valid" with a
count of rules and destinations, or every problem on its own line as
FILE:LINE:COLUMN: FIELD: MESSAGE, and exit with status 2.

Lifecycle and repository policies are checked against what ECR documents.
What ECR would take but is likely a mistake or a risk (a repository policy
that lets everyone pull) is a warning, on its own line as
FILE:LINE:COLUMN: warning: FIELD: MESSAGE: the file is still valid.
`

func runConfig(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fset := cli.NewFlagSet("ferry config validate", configUsage)
	fset.SetOutput(stdout)
	if len(args) > 0 && args[0] != "validate" && !isHelpArg(args[0]) {
		if cli.Closest(args[0], []string{"validate"}) != "" {
			return usagef("unknown config command %q; did you mean 'ferry config validate FILE'?", args[0])
		}
		return usagef("unknown config command %q; want 'ferry config validate FILE'", args[0])
	}
	if len(args) > 0 && args[0] == "validate" {
		args = args[1:]
	} else if len(args) == 0 {
		return usagef("missing config command; want 'ferry config validate FILE'")
	}
	args, err := cli.Parse(fset, args)
	if err != nil {
		return err
	}
	path := "ferry.yaml"
	switch len(args) {
	case 0:
	case 1:
		path = args[0]
	default:
		return usagef("ferry config validate takes one FILE, got %d arguments", len(args))
	}
	cfg, err := loadConfigFile(path, "give the file as ferry config validate FILE", stderr)
	if err != nil {
		return err
	}
	for _, w := range cfg.Warnings {
		fmt.Fprintln(stderr, w)
	}
	warnings := ""
	if len(cfg.Warnings) > 0 {
		warnings = " (" + plural(len(cfg.Warnings), "warning", "warnings") + ")"
	}
	fmt.Fprintf(stdout, "%s: valid — %s, %s%s\n", path,
		plural(len(cfg.Rules), "rule", "rules"), plural(len(cfg.Destinations()), "destination", "destinations"), warnings)
	return nil
}

func isHelpArg(s string) bool { return s == "-h" || s == "-help" || s == "--help" }

// loadConfigFile loads and checks a configuration. Each problem goes to
// stderr on its own line; the error returned is a configError that sums
// them up. howToGive tells a user whose file is missing how to name another.
func loadConfigFile(path, howToGive string, stderr io.Writer) (*config.Config, error) {
	cfg, err := config.Load(path)
	if err == nil {
		return cfg, nil
	}
	if errors.Is(err, fs.ErrNotExist) {
		return nil, configError{Err: fmt.Errorf("%w (%s, or start from ferry.example.yaml)", err, howToGive)}
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
