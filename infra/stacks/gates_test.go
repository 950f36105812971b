package stacks

import (
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"testing"
)

// functionStatements returns each function's IAM statements in the source
// stack, by function name.
func functionStatements(t *testing.T, tmpl map[string]any) map[string][]map[string]any {
	t.Helper()
	roleFn := map[string]string{} // role logical id -> function
	for id, r := range resources(tmpl, "AWS::IAM::Role") {
		name, _ := props(r)["RoleName"].(string)
		for _, fn := range FunctionNames {
			if name == "Ferry-us-east-1-"+fn {
				roleFn[id] = fn
			}
		}
	}
	out := map[string][]map[string]any{}
	for _, r := range resources(tmpl, "AWS::IAM::Policy") {
		p := props(r)
		for _, role := range p["Roles"].([]any) {
			ref, _ := role.(map[string]any)["Ref"].(string)
			fn, ok := roleFn[ref]
			if !ok {
				continue
			}
			for _, s := range p["PolicyDocument"].(map[string]any)["Statement"].([]any) {
				out[fn] = append(out[fn], s.(map[string]any))
			}
		}
	}
	return out
}

// TestGatePermissions: with gates, the gate checkers (CheckGates and
// Discover) alone read the source's scan findings, its registry scanning
// configuration and source images, and kms:GetPublicKey only on the keys
// the configuration names; without gates, no function may. CheckGates
// publishes to the alerts topic, which its environment names.
func TestGatePermissions(t *testing.T) {
	gated := build(t, "testdata/gates.yaml")
	byFn := functionStatements(t, gated.json["Ferry"])
	has := func(fn, action string) (resources []string, ok bool) {
		for _, s := range byFn[fn] {
			if slices.Contains(strs(s["Action"]), action) {
				return strs(s["Resource"]), true
			}
		}
		return nil, false
	}
	repos := []string{"arn:aws:ecr:us-east-1:111111111111:repository/apps/*"}
	for _, fn := range GateCheckers {
		for action, want := range map[string][]string{
			"ecr:DescribeImageScanFindings":        repos,
			"ecr:BatchGetImage":                    repos,
			"ecr:GetDownloadUrlForLayer":           repos,
			"ecr:GetRegistryScanningConfiguration": {"*"},
			"ecr:GetAuthorizationToken":            {"*"},
			"kms:GetPublicKey":                     {"arn:aws:kms:eu-west-1:222222222222:key/0b5e1a7c-8d2f-4e6a-9b3c-1d2e3f4a5b6c"},
		} {
			if got, ok := has(fn, action); !ok || !reflect.DeepEqual(got, want) {
				t.Errorf("%s: %s on %v (%t), want on %v", fn, action, got, ok, want)
			}
		}
		if _, ok := has(fn, "kms:Verify"); ok {
			t.Errorf("%s may kms:Verify: the gate verifies with the public key, locally", fn)
		}
	}
	for _, fn := range FunctionNames {
		if slices.Contains(GateCheckers, fn) {
			continue
		}
		for _, action := range []string{"ecr:DescribeImageScanFindings", "ecr:GetRegistryScanningConfiguration", "kms:GetPublicKey"} {
			if _, ok := has(fn, action); ok {
				t.Errorf("%s may %s: only %v check gates", fn, action, GateCheckers)
			}
		}
	}
	if _, ok := has(FnCheckGates, "sns:Publish"); !ok {
		t.Errorf("%s may not publish to the alerts topic", FnCheckGates)
	}
	fns := resources(gated.json["Ferry"], "AWS::Lambda::Function")
	found := false
	for _, f := range fns {
		p := props(f)
		if p["FunctionName"] != "Ferry-"+FnCheckGates {
			continue
		}
		found = true
		env, _ := p["Environment"].(map[string]any)["Variables"].(map[string]any)
		if _, ok := env["FERRY_ALERTS_TOPIC_ARN"]; !ok {
			t.Errorf("%s has no FERRY_ALERTS_TOPIC_ARN: %v", FnCheckGates, env)
		}
	}
	if !found {
		t.Errorf("no function Ferry-%s", FnCheckGates)
	}

	plain := functionStatements(t, build(t, exampleConfigPath(t)).json["Ferry"])
	for fn, ss := range plain {
		for _, s := range ss {
			for _, a := range strs(s["Action"]) {
				if a == "ecr:DescribeImageScanFindings" || a == "kms:GetPublicKey" || a == "ecr:GetRegistryScanningConfiguration" {
					if cfg := loadConfig(t, exampleConfigPath(t)); Gated(cfg) {
						continue // the example has gates now: the gated case above holds for it
					}
					t.Errorf("%s may %s with no gates configured", fn, a)
				}
			}
		}
	}
}

// TestStageKeyFiles: every function's asset holds the key files beside
// ferry.yaml, where the configuration it loads reads them.
func TestStageKeyFiles(t *testing.T) {
	t.Parallel()
	build := fakeBuildDirIn(t, t.TempDir(), []string{FnValidate, FnCheckGates})
	dirs, err := StageFunctionAssets(build, "testdata/gates.yaml", t.TempDir(), []string{FnValidate, FnCheckGates}, "keys/gate.pub")
	if err != nil {
		t.Fatal(err)
	}
	want, _ := os.ReadFile("testdata/keys/gate.pub")
	for fn, dir := range dirs {
		got, err := os.ReadFile(filepath.Join(dir, "keys", "gate.pub"))
		if err != nil || string(got) != string(want) {
			t.Errorf("%s's asset: keys/gate.pub %q, %v; want the key file", fn, got, err)
		}
	}
	if _, err := StageFunctionAssets(build, "testdata/gates.yaml", t.TempDir(), []string{FnValidate}, "keys/missing.pub"); err == nil {
		t.Error("a missing key file was staged without an error")
	}
	if _, err := StageFunctionAssets(build, "testdata/gates.yaml", t.TempDir(), []string{FnValidate}, "../gates.yaml"); err == nil {
		t.Error("a key file outside the configuration's directory was staged")
	}
}
