package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/jsii-runtime-go"

	"github.com/ferry-dev/ferry/infra/stacks"
)

// TestCopyImageSettings: copyImageMemoryMB and copyJobs reach the
// CopyImage function (its MemorySize, FERRY_COPY_JOBS) and no other; a
// value out of range stops synth naming it.
func TestCopyImageSettings(t *testing.T) {
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
	config := filepath.Join(root, "ferry.example.yaml")
	out := t.TempDir()
	var stderr bytes.Buffer
	code := run(&awscdk.AppProps{
		Context: &map[string]any{"config": config, "buildDir": build, "copyImageMemoryMB": "3008", "copyJobs": "24"},
		Outdir:  jsii.String(out),
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
			Properties struct {
				FunctionName any
				MemorySize   float64
				Environment  struct{ Variables map[string]any }
			}
		}
	}
	if err := json.Unmarshal(b, &tmpl); err != nil {
		t.Fatal(err)
	}
	found := 0
	for id, r := range tmpl.Resources {
		if r.Type != "AWS::Lambda::Function" {
			continue
		}
		name, _ := r.Properties.FunctionName.(string)
		jobs := r.Properties.Environment.Variables["FERRY_COPY_JOBS"]
		if strings.HasSuffix(name, "-"+stacks.FnCopyImage) {
			found++
			if r.Properties.MemorySize != 3008 || jobs != "24" {
				t.Errorf("CopyImage: MemorySize %v, FERRY_COPY_JOBS %v; want 3008 and 24", r.Properties.MemorySize, jobs)
			}
			continue
		}
		if jobs != nil {
			t.Errorf("function %s (%s) got FERRY_COPY_JOBS=%v, meant for CopyImage only", id, name, jobs)
		}
	}
	if found != 1 {
		t.Errorf("%d CopyImage functions in the template, want 1", found)
	}

	for key, value := range map[string]string{"copyImageMemoryMB": "64", "copyJobs": "100"} {
		stderr.Reset()
		code := run(&awscdk.AppProps{
			Context: &map[string]any{"config": config, "buildDir": build, key: value},
			Outdir:  jsii.String(t.TempDir()),
		}, &stderr)
		if code != 2 || !strings.Contains(stderr.String(), key) {
			t.Errorf("%s=%s: exit status %d, %q; want 2 and a message naming it", key, value, code, stderr.String())
		}
	}
}
