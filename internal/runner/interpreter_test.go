package runner

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// fakeNodeModules makes dir/node_modules with a .bin/node and
// aws-local-stepfunctions' module file, and returns it.
func fakeNodeModules(t *testing.T, dir string) string {
	t.Helper()
	nm := filepath.Join(dir, "node_modules")
	for _, f := range []string{".bin/node", "aws-local-stepfunctions/build/main.node.esm.js"} {
		p := filepath.Join(nm, f)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, nil, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return nm
}

// versions answers `node --version` for each node_modules by its
// directory; "" means Node 22.
func versions(old map[string]string) func(context.Context, string) (string, error) {
	return func(_ context.Context, node string) (string, error) {
		nm := filepath.Dir(filepath.Dir(node))
		if v, ok := old[nm]; ok {
			return v, nil
		}
		return "v22.23.3\n", nil
	}
}

func noNPM(string) (string, error) { return "", exec.ErrNotFound }

func TestFindInterpreter(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	checkout := filepath.Join(root, "checkout")
	nested := filepath.Join(checkout, "test", "demo")
	if err := os.MkdirAll(nested, 0o755); err != nil {
		t.Fatal(err)
	}
	checkoutNM := fakeNodeModules(t, checkout)
	oldNM := fakeNodeModules(t, filepath.Join(root, "old"))
	for _, dir := range []string{checkout, filepath.Join(root, "old")} {
		if err := os.WriteFile(filepath.Join(dir, "go.mod"), []byte("// a ferry checkout\n"+ferryModule+"\n\ngo 1.26\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// A node_modules with everything, outside any ferry checkout (a shared
	// /tmp, another project): never run.
	stranger := filepath.Join(root, "stranger")
	fakeNodeModules(t, stranger)
	strangerWork := filepath.Join(stranger, "work")
	if err := os.MkdirAll(strangerWork, 0o755); err != nil {
		t.Fatal(err)
	}
	elsewhere := filepath.Join(root, "elsewhere")
	if err := os.MkdirAll(filepath.Join(elsewhere, "node_modules", "left-pad"), 0o755); err != nil {
		t.Fatal(err)
	}
	cache := filepath.Join(root, "cache", "ferry", "local-stepfunctions-x")
	cacheNM := fakeNodeModules(t, cache)
	noCache := filepath.Join(root, "cache", "ferry", "none")
	node20 := map[string]string{oldNM: "v20.20.2\n"}

	for _, tc := range []struct {
		name    string
		search  Search
		want    string
		wantErr []string // what a NotFoundError says
	}{
		{name: "upward from the working directory", search: Search{Starts: []string{nested, elsewhere}, CacheDir: cache}, want: checkoutNM},
		{name: "the binary's directory after the working directory", search: Search{Starts: []string{elsewhere, filepath.Join(checkout, "bin")}, CacheDir: cache}, want: checkoutNM},
		{name: "the cache outside a checkout", search: Search{Starts: []string{elsewhere}, CacheDir: cache}, want: cacheNM},
		{name: "not a node_modules outside a checkout", search: Search{Starts: []string{strangerWork}, CacheDir: cache}, want: cacheNM},
		{name: "an old Node is passed over", search: Search{Starts: []string{filepath.Join(root, "old")}, CacheDir: cache}, want: cacheNM},
		{name: "explicit", search: Search{Explicit: checkoutNM, Starts: []string{elsewhere}, CacheDir: cache}, want: checkoutNM},
		{name: "explicit and old: no fallback", search: Search{Explicit: oldNM, CacheDir: cache},
			wantErr: []string{oldNM + ": .bin/node is Node v20.20.2, not 22 or later", "give --node-modules a node_modules directory that has both"}},
		{name: "explicit and empty", search: Search{Explicit: elsewhere, CacheDir: cache},
			wantErr: []string{elsewhere + ": no aws-local-stepfunctions"}},
		{name: "nowhere, npm there", search: Search{Starts: []string{elsewhere}, CacheDir: noCache, LookPath: func(string) (string, error) { return "/usr/bin/npm", nil }},
			wantErr: []string{"no ferry checkout with aws-local-stepfunctions in or above " + elsewhere, filepath.Join(noCache, "node_modules") + ": not installed yet",
				"install them into " + noCache + " once with: npm install --prefix " + noCache + " --no-audit --no-fund aws-local-stepfunctions@3.0.0 node@22.23.3"}},
		{name: "nowhere, no npm", search: Search{Starts: []string{filepath.Join(root, "old")}, CacheDir: noCache, LookPath: noNPM},
			wantErr: []string{oldNM + ": .bin/node is Node v20.20.2", "install npm (it comes with Node.js", "npm install --prefix " + noCache}},
		{name: "no cache directory", search: Search{Starts: []string{elsewhere}},
			wantErr: []string{"run ferry run in a ferry checkout after `make node_modules/.installed`, or pass --node-modules DIR"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := tc.search
			s.NodeVersion = versions(node20)
			got, err := FindInterpreter(context.Background(), s)
			if tc.wantErr == nil {
				if err != nil || got != tc.want {
					t.Fatalf("FindInterpreter = %q, %v; want %q", got, err, tc.want)
				}
				return
			}
			var nf *NotFoundError
			if !errors.As(err, &nf) || !errors.Is(err, ErrNodeMissing) {
				t.Fatalf("FindInterpreter = %q, %v; want a NotFoundError", got, err)
			}
			for _, w := range tc.wantErr {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q:\n%v", w, err)
				}
			}
			if strings.Contains(err.Error(), "node_modules/.bin/node is missing") {
				t.Errorf("error is the old bare one: %v", err)
			}
		})
	}
}

// Install runs npm ci in a fresh directory with the embedded package.json
// and lock file, and moves the result into the cache directory. The npm
// here is a stand-in that checks it was given both files and lays out what
// the real one would.
func TestInstall(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	npm := filepath.Join(root, "npm")
	script := `#!/bin/sh
set -e
[ "$*" = "ci --no-audit --no-fund --loglevel=error" ] || { echo "npm: unexpected arguments $*" >&2; exit 9; }
grep -q '"aws-local-stepfunctions": "3.0.0"' package.json
grep -q '"lockfileVersion"' package-lock.json
mkdir -p node_modules/.bin node_modules/aws-local-stepfunctions/build
printf '#!/bin/sh\necho v22.23.3\n' > node_modules/.bin/node
chmod +x node_modules/.bin/node
: > node_modules/aws-local-stepfunctions/build/main.node.esm.js
echo "added 48 packages"
`
	if err := os.WriteFile(npm, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	cache := filepath.Join(root, "cache", "ferry", "local-stepfunctions-x")
	s := Search{CacheDir: cache, LookPath: func(string) (string, error) { return npm, nil }}
	var out strings.Builder
	nm, err := Install(context.Background(), s, &out)
	if err != nil {
		t.Fatalf("Install: %v (npm said %q)", err, out.String())
	}
	if nm != filepath.Join(cache, "node_modules") || !strings.Contains(out.String(), "added 48 packages") {
		t.Errorf("Install = %q, npm said %q; want %s/node_modules and npm's output", nm, out.String(), cache)
	}
	// The real `node --version` of the stand-in: found in the cache now.
	if got, err := FindInterpreter(context.Background(), Search{CacheDir: cache}); err != nil || got != nm {
		t.Errorf("after Install, FindInterpreter = %q, %v; want %q", got, err, nm)
	}
	left, _ := filepath.Glob(filepath.Join(filepath.Dir(cache), "*.installing-*"))
	if len(left) > 0 {
		t.Errorf("Install left %q behind", left)
	}

	// A failing npm leaves no cache directory, and says how to retry.
	failing := filepath.Join(root, "failing")
	if err := os.WriteFile(npm, []byte("#!/bin/sh\necho 'npm error network ENOTFOUND registry.npmjs.org' >&2\nexit 1\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	s.CacheDir = failing
	out.Reset()
	if _, err := Install(context.Background(), s, &out); err == nil || !strings.Contains(err.Error(), "npm install --prefix "+failing) || !strings.Contains(out.String(), "ENOTFOUND") {
		t.Errorf("a failing npm: %v, npm said %q; want an error with the command to retry, npm's message shown", err, out.String())
	}
	if exists(failing) {
		t.Errorf("a failed install left %s", failing)
	}
}

// The embedded package.json pins what the checkout's does, and its lock
// file is the one npm made for it (npm ci refuses a lock that does not
// match).
func TestEmbeddedPackageMatchesTheCheckout(t *testing.T) {
	t.Parallel()
	_, file, _, _ := runtime.Caller(0)
	b, err := os.ReadFile(filepath.Join(filepath.Dir(file), "..", "..", "package.json"))
	if err != nil {
		t.Fatal(err)
	}
	var checkout struct{ DevDependencies map[string]string }
	var embedded struct{ Dependencies map[string]string }
	var lock struct {
		LockfileVersion int
		Packages        map[string]struct {
			Version      string
			Dependencies map[string]string
		}
	}
	if err := errors.Join(json.Unmarshal(b, &checkout), json.Unmarshal(interpreterPackage, &embedded), json.Unmarshal(interpreterLock, &lock)); err != nil {
		t.Fatal(err)
	}
	if len(embedded.Dependencies) != 2 {
		t.Errorf("embedded dependencies %v, want aws-local-stepfunctions and node", embedded.Dependencies)
	}
	for name, v := range embedded.Dependencies {
		if checkout.DevDependencies[name] != v {
			t.Errorf("internal/runner/interpreter/package.json pins %s %s, the checkout's package.json %q: pin the same, then regenerate the lock (npm install --package-lock-only in internal/runner/interpreter)", name, v, checkout.DevDependencies[name])
		}
		if got := lock.Packages["node_modules/"+name].Version; got != v {
			t.Errorf("the embedded lock has %s %q, package.json %s: regenerate it (npm install --package-lock-only in internal/runner/interpreter)", name, got, v)
		}
		if got := lock.Packages[""].Dependencies[name]; got != v {
			t.Errorf("the embedded lock's root wants %s %q, package.json %s: regenerate it", name, got, v)
		}
	}
	if lock.LockfileVersion < 2 {
		t.Errorf("lockfileVersion %d, want 2 or 3 (npm 7 or later)", lock.LockfileVersion)
	}
}
