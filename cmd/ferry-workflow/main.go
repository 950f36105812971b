// Command ferry-workflow runs Ferry's replication workflow locally. Users
// reach it as `ferry run`: it is a binary of its own so that the AWS SDK,
// which the workflow's handlers need and whose packages take ~8 ms to
// initialise, is not loaded by every `ferry copy`.
package main

import (
	"context"
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
	errHelp = cli.ErrHelp
	usagef  = cli.Usagef
	report  = cli.Report
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := runRun(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(report(os.Stderr, err))
}
