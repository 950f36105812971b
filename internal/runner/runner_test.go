package runner

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// projectNodeModules is the checkout's node_modules, which make test
// installs (make node_modules/.installed).
func projectNodeModules(t *testing.T) string {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	nm := filepath.Join(filepath.Dir(file), "..", "..", "node_modules")
	if _, err := os.Stat(filepath.Join(nm, "aws-local-stepfunctions")); err != nil {
		t.Fatalf("%v: run `make node_modules/.installed` (npm ci) first", err)
	}
	return nm
}

// minimalConfig is a valid ferry.yaml with one destination.
const minimalConfig = `version: 1
source: {account: "111111111111", region: us-east-1}
rules:
  - name: all
    repositories: ["team/**"]
    tags: ["*"]
    destinations:
      - {account: "222222222222", region: eu-west-1}
`

// A run whose events and final output are large still ends with its
// result: run.mjs once wrote its last line and exited before stdout had
// drained, and the runner saw "ended without a result". 30 destinations'
// worth of Map iterations, each passing 32 KiB on, make a few MiB of events
// and a 1 MiB final line, far more than a pipe holds; with the old run.mjs
// (emit, then process.exit) the first of these runs failed in each of 3
// tries, and each run costs a Node start (about 3 s on a loaded 2-core
// machine), so 5 runs.
func TestLargeRunKeepsItsResult(t *testing.T) {
	t.Parallel()
	cfg := filepath.Join(t.TempDir(), "ferry.yaml")
	if err := os.WriteFile(cfg, []byte(minimalConfig), 0o644); err != nil {
		t.Fatal(err)
	}
	blob := strings.Repeat("x", 32<<10)
	def := fmt.Sprintf(`{"StartAt": "Fan", "States": {"Fan": {"Type": "Map", "ItemsPath": "$.destinations", "MaxConcurrency": 30,
		"ItemProcessor": {"StartAt": "Copy", "States": {"Copy": {"Type": "Pass", "Result": {"blob": %q}, "End": true}}}, "End": true}}}`, blob)
	var dests []string
	for i := range 30 {
		dests = append(dests, fmt.Sprintf("5%011d/eu-west-1", i))
	}
	input, _ := json.Marshal(map[string]any{"destinations": dests})
	r, err := New(context.Background(), Options{Definition: []byte(def), ConfigPath: cfg, NodeModules: projectNodeModules(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	for i := range 5 {
		ex, err := r.Run(context.Background(), input)
		if err != nil {
			t.Fatalf("run %d: %v", i+1, err)
		}
		var out []struct{ Blob string }
		if err := json.Unmarshal(ex.Output, &out); ex.Status != "SUCCEEDED" || err != nil || len(out) != 30 || out[29].Blob != blob {
			t.Fatalf("run %d: %s with %d bytes of output (%v), want SUCCEEDED with 30 results", i+1, ex.Status, len(ex.Output), err)
		}
	}
}
