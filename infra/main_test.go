package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
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
	ferry := filepath.Join(t.TempDir(), "ferry")
	if out, err := exec.Command("go", "build", "-o", ferry, filepath.Join(root, "cmd", "ferry")).CombinedOutput(); err != nil {
		t.Fatalf("build ferry: %v\n%s", err, out)
	}
	bad := filepath.Join(root, "internal", "config", "testdata", "bad.yaml")
	var want bytes.Buffer
	cmd := exec.Command(ferry, "config", "validate", bad)
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

// TestContextValues: the lag alarm's threshold and the account's Lambda
// concurrency limit come from the CDK context, as -c key=N gives them.
func TestContextValues(t *testing.T) {
	root, err := stacks.ModuleRoot(".")
	if err != nil {
		t.Fatal(err)
	}
	build := t.TempDir()
	for _, fn := range stacks.FunctionNames {
		if err := os.MkdirAll(filepath.Join(build, fn), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(build, fn, "bootstrap"), []byte("test fixture\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	out := t.TempDir()
	var stderr bytes.Buffer
	code := run(&awscdk.AppProps{
		Context: &map[string]any{
			"config":                 filepath.Join(root, "ferry.example.yaml"),
			"buildDir":               build,
			"lagAlarmMinutes":        "45",
			"lambdaConcurrencyLimit": "10",
		},
		Outdir: jsii.String(out),
	}, &stderr)
	if code != 0 {
		t.Fatalf("synth: exit status %d: %s", code, stderr.String())
	}
	b, err := os.ReadFile(filepath.Join(out, "Ferry.template.json"))
	if err != nil {
		t.Fatal(err)
	}
	var tmpl struct {
		Resources map[string]struct {
			Type       string
			Properties map[string]any
		}
	}
	if err := json.Unmarshal(b, &tmpl); err != nil {
		t.Fatal(err)
	}
	lag := 0
	for id, r := range tmpl.Resources {
		switch {
		case r.Type == "AWS::CloudWatch::Alarm" && r.Properties["AlarmName"] == "Ferry-ReplicationLag":
			lag++
			if r.Properties["Threshold"] != float64(45*60*1000) {
				t.Errorf("lagAlarmMinutes=45: lag alarm threshold %v, want %d ms", r.Properties["Threshold"], 45*60*1000)
			}
		case r.Type == "AWS::Lambda::Function" && r.Properties["ReservedConcurrentExecutions"] != nil:
			t.Errorf("lambdaConcurrencyLimit=10: function %s reserves %v, which Lambda refuses at that limit", id, r.Properties["ReservedConcurrentExecutions"])
		}
	}
	if lag != 1 {
		t.Errorf("%d lag alarms, want 1", lag)
	}

	stderr.Reset()
	code = run(&awscdk.AppProps{
		Context: &map[string]any{"config": filepath.Join(root, "ferry.example.yaml"), "buildDir": build, "lagAlarmMinutes": "half an hour"},
		Outdir:  jsii.String(t.TempDir()),
	}, &stderr)
	if code != 2 || !strings.Contains(stderr.String(), "lagAlarmMinutes") {
		t.Errorf("lagAlarmMinutes=\"half an hour\": exit status %d, %q; want 2 and a message naming it", code, stderr.String())
	}
}
