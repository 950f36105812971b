package stacks

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// ModulePath is the Go module the infrastructure belongs to.
const ModulePath = "github.com/ferry-dev/ferry"

// ModuleRoot walks up from dir to the directory holding Ferry's go.mod, so
// that `go test` (run in a package directory) and `cdk synth` (run at the
// root) resolve the same files.
func ModuleRoot(dir string) (string, error) {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	for d := dir; ; d = filepath.Dir(d) {
		if isFerryModule(filepath.Join(d, "go.mod")) {
			return d, nil
		}
		if filepath.Dir(d) == d {
			return "", fmt.Errorf("no go.mod for module %s in %s or any parent", ModulePath, dir)
		}
	}
}

func isFerryModule(gomod string) bool {
	f, err := os.Open(gomod)
	if err != nil {
		return false
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if line := strings.TrimSpace(s.Text()); strings.HasPrefix(line, "module ") {
			return strings.TrimSpace(strings.TrimPrefix(line, "module ")) == ModulePath
		}
	}
	return false
}

// ConfigFileName is the name of the configuration inside each Lambda asset;
// every function gets FERRY_CONFIG set to it.
const ConfigFileName = "ferry.yaml"

// StageFunctionAssets makes, under stagingDir, one directory per function
// holding its bootstrap (from buildDir/<name>/bootstrap), the
// configuration file and the key files it names (keyFiles, relative to the
// configuration file's directory, at the same place beside it: every
// function loads the configuration, which reads them), and returns the
// directories by function name. It reports every missing bootstrap at once.
func StageFunctionAssets(buildDir, configFile, stagingDir string, names []string, keyFiles ...string) (map[string]string, error) {
	cfg, err := os.ReadFile(configFile)
	if err != nil {
		return nil, fmt.Errorf("stage Lambda assets: %w", err)
	}
	keys := make(map[string][]byte, len(keyFiles))
	for _, k := range keyFiles {
		if !filepath.IsLocal(k) {
			return nil, fmt.Errorf("stage Lambda assets: key file %q is not a path inside the configuration's directory", k)
		}
		b, err := os.ReadFile(filepath.Join(filepath.Dir(configFile), k))
		if err != nil {
			return nil, fmt.Errorf("stage Lambda assets: key file of a signature gate: %w", err)
		}
		keys[k] = b
	}
	out := make(map[string]string, len(names))
	var missing []string
	for _, name := range names {
		src := filepath.Join(buildDir, name, "bootstrap")
		dir := filepath.Join(stagingDir, name)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, fmt.Errorf("stage Lambda asset %s: %w", name, err)
		}
		if err := copyFile(src, filepath.Join(dir, "bootstrap"), 0o755); err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				missing = append(missing, src)
				continue
			}
			return nil, fmt.Errorf("stage Lambda asset %s: %w", name, err)
		}
		if err := os.WriteFile(filepath.Join(dir, ConfigFileName), cfg, 0o644); err != nil {
			return nil, fmt.Errorf("stage Lambda asset %s: %w", name, err)
		}
		for k, b := range keys {
			path := filepath.Join(dir, k)
			if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
				return nil, fmt.Errorf("stage Lambda asset %s: %w", name, err)
			}
			if err := os.WriteFile(path, b, 0o644); err != nil {
				return nil, fmt.Errorf("stage Lambda asset %s: %w", name, err)
			}
		}
		out[name] = dir
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("missing Lambda binaries (run 'make build'): %s", strings.Join(missing, ", "))
	}
	return out, nil
}

func copyFile(src, dst string, mode fs.FileMode) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, mode)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	if err := out.Close(); err != nil {
		return err
	}
	// The umask may have narrowed the mode; Lambda needs bootstrap executable.
	return os.Chmod(dst, mode)
}
