package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/ferry-dev/ferry/internal/cli"
)

// workflowBinary carries the commands that read ferry.yaml: run, plan and
// config validate. It is a program of its own, installed next to ferry
// (make build puts both in bin/), so that ferry copy loads neither the AWS
// SDK (~8 ms of package init) nor the YAML and configuration packages
// (~0.4 ms) at every start.
const workflowBinary = "ferry-workflow"

// handOver returns the command that runs `ferry NAME ARGS` as
// `ferry-workflow NAME ARGS`, with the same standard streams, and returns
// its exit status. SIGINT and SIGTERM are passed on to it, so that it stops
// cleanly and reports; ferry waits for it.
func handOver(name string) command {
	return func(_ context.Context, args []string, stdout, stderr io.Writer) error {
		path, err := findWorkflowBinary(name)
		if err != nil {
			return err
		}
		sigs := make(chan os.Signal, 2)
		signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
		defer signal.Stop(sigs)
		cmd := exec.Command(path, append([]string{name}, args...)...)
		cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, stdout, stderr
		if err := cmd.Start(); err != nil {
			return err
		}
		done := make(chan struct{})
		defer close(done)
		go func() {
			for {
				select {
				case s := <-sigs:
					_ = cmd.Process.Signal(s)
				case <-done:
					return
				}
			}
		}()
		err = cmd.Wait()
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
				return cli.ExitStatus(128 + int(ws.Signal())) // as a shell reports it
			}
			return cli.ExitStatus(ee.ExitCode())
		}
		return err
	}
}

func findWorkflowBinary(name string) (string, error) {
	if self, err := os.Executable(); err == nil {
		p := filepath.Join(filepath.Dir(self), workflowBinary)
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	if p, err := exec.LookPath(workflowBinary); err == nil {
		return p, nil
	}
	return "", fmt.Errorf("ferry %s needs %s next to ferry or on PATH; build both with make build", name, workflowBinary)
}
