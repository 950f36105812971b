package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/jsii-runtime-go"

	"github.com/ferry-dev/ferry/infra/stacks"
)

func TestMain(m *testing.M) {
	root, err := stacks.ModuleRoot(".")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	stacks.UseProjectNode(root) // before any CDK call
	os.Exit(m.Run())
}

// TestBadConfig: a bad configuration stops synth with exactly the lines
// `ferry config validate` prints, and its exit status.
func TestBadConfig(t *testing.T) {
	root, err := stacks.ModuleRoot(".")
	if err != nil {
		t.Fatal(err)
	}
	// ferry-workflow carries `ferry config validate`.
	workflow := filepath.Join(t.TempDir(), "ferry-workflow")
	if out, err := exec.Command("go", "build", "-o", workflow, filepath.Join(root, "cmd", "ferry-workflow")).CombinedOutput(); err != nil {
		t.Fatalf("build ferry-workflow: %v\n%s", err, out)
	}
	bad := filepath.Join(root, "internal", "config", "testdata", "bad.yaml")
	var want bytes.Buffer
	cmd := exec.Command(workflow, "config", "validate", bad)
	cmd.Stderr = &want
	err = cmd.Run()
	exitErr, ok := err.(*exec.ExitError)
	if !ok || want.Len() == 0 {
		t.Fatalf("ferry config validate %s: %v, stderr %q; want a failure", bad, err, want.String())
	}

	var got bytes.Buffer
	code := run(&awscdk.AppProps{
		Context: &map[string]any{"config": bad},
		Outdir:  jsii.String(t.TempDir()),
	}, &got)
	if code != exitErr.ExitCode() {
		t.Errorf("exit status %d, want %d as ferry config validate", code, exitErr.ExitCode())
	}
	if got.String() != want.String() {
		t.Errorf("synth says:\n%s\nferry config validate says:\n%s", got.String(), want.String())
	}
}
