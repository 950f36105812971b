package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"

	"github.com/ferry-dev/ferry/internal/cli"
)

// workflowBinary runs `ferry run`. It is a separate program, installed
// next to ferry (make build puts both in bin/), so that ferry copy does not
// pay for loading the AWS SDK at every start.
const workflowBinary = "ferry-workflow"

// runRun hands `ferry run ARGS` to ferry-workflow with the same standard
// streams and returns its exit status.
func runRun(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	path, err := findWorkflowBinary()
	if err != nil {
		return err
	}
	cmd := exec.CommandContext(ctx, path, args...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, stdout, stderr
	err = cmd.Run()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return cli.ExitStatus(ee.ExitCode())
	}
	return err
}

func findWorkflowBinary() (string, error) {
	if self, err := os.Executable(); err == nil {
		p := filepath.Join(filepath.Dir(self), workflowBinary)
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	if p, err := exec.LookPath(workflowBinary); err == nil {
		return p, nil
	}
	return "", fmt.Errorf("ferry run needs %s next to ferry or on PATH; build both with make build", workflowBinary)
}
