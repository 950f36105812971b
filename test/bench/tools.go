package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// goTool is a command installed with `go install PACKAGE@VERSION`.
type goTool struct {
	name    string // binary name
	pkg     string // package path of the main package
	module  string // module path, as `go version -m` prints it
	version string // pinned module version
	note    string // printed before a slow install
}

var (
	craneTool = goTool{
		name: "crane", pkg: "github.com/google/go-containerregistry/cmd/crane",
		module: "github.com/google/go-containerregistry", version: "v0.22.1",
	}
	regctlTool = goTool{
		name: "regctl", pkg: "github.com/regclient/regclient/cmd/regctl",
		module: "github.com/regclient/regclient", version: "v0.11.7",
	}
	regsyncTool = goTool{
		name: "regsync", pkg: "github.com/regclient/regclient/cmd/regsync",
		module: "github.com/regclient/regclient", version: "v0.11.7",
	}
	registryTool = goTool{
		name: "registry", pkg: "github.com/distribution/distribution/v3/cmd/registry",
		module: "github.com/distribution/distribution/v3", version: "v3.1.2",
		note: "about 2 minutes on a first build",
	}
)

// installer puts pinned tools into dir/bin, reporting what it does to log.
type installer struct {
	dir string
	log io.Writer
}

func (in installer) binDir() string { return filepath.Join(in.dir, "bin") }

// ensureGoTool returns the path of t's binary, installing it first if it is
// missing or is not the pinned version. The build happens in module mode
// outside this repository, so the tool never enters Ferry's go.mod.
func (in installer) ensureGoTool(ctx context.Context, t goTool) (string, error) {
	bin := filepath.Join(in.binDir(), t.name)
	if v, err := goModuleVersion(ctx, bin, t.module); err == nil && v == t.version {
		return bin, nil
	}
	note := ""
	if t.note != "" {
		note = " (" + t.note + ")"
	}
	fmt.Fprintf(in.log, "installing %s %s into %s%s\n", t.name, t.version, in.binDir(), note)
	start := time.Now()
	cmd := exec.CommandContext(ctx, "go", "install", t.pkg+"@"+t.version)
	cmd.Dir = os.TempDir() // outside any module
	cmd.Env = append(os.Environ(), "GOBIN="+in.binDir(), "GOWORK=off", "GOFLAGS=-trimpath")
	cmd.Stdout, cmd.Stderr = in.log, in.log
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("go install %s@%s: %w", t.pkg, t.version, err)
	}
	fmt.Fprintf(in.log, "installed %s in %s\n", t.name, time.Since(start).Round(time.Second))
	return bin, nil
}

// ensureSkopeo returns skopeo's path, installing the Debian package if
// skopeo is not on PATH.
func (in installer) ensureSkopeo(ctx context.Context) (string, error) {
	if p, err := exec.LookPath("skopeo"); err == nil {
		return p, nil
	}
	if _, err := exec.LookPath("apt-get"); err != nil {
		return "", errors.New("skopeo is not on PATH and apt-get is not available")
	}
	fmt.Fprintln(in.log, "skopeo not on PATH: running apt-get update && apt-get install -y skopeo")
	for _, args := range [][]string{{"update"}, {"install", "-y", "skopeo"}} {
		cmd := exec.CommandContext(ctx, "apt-get", args...)
		cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
		cmd.Stdout, cmd.Stderr = in.log, in.log
		if err := cmd.Run(); err != nil {
			return "", fmt.Errorf("apt-get %s: %w", strings.Join(args, " "), err)
		}
	}
	return exec.LookPath("skopeo")
}

// goModuleVersion reads the main module version recorded in a Go binary.
func goModuleVersion(ctx context.Context, bin, module string) (string, error) {
	out, err := exec.CommandContext(ctx, "go", "version", "-m", bin).Output()
	if err != nil {
		return "", fmt.Errorf("go version -m %s: %w", bin, err)
	}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) >= 3 && f[0] == "mod" && f[1] == module {
			return f[2], nil
		}
	}
	return "", fmt.Errorf("%s: no module %s in build info", bin, module)
}

// commandVersion runs bin with args and returns the last field of the first
// output line ("skopeo version 1.9.3" gives "1.9.3").
func commandVersion(ctx context.Context, bin string, args ...string) (string, error) {
	out, err := exec.CommandContext(ctx, bin, args...).Output()
	if err != nil {
		return "", fmt.Errorf("%s %s: %w", bin, strings.Join(args, " "), err)
	}
	line, _, _ := strings.Cut(strings.TrimSpace(string(out)), "\n")
	f := strings.Fields(line)
	if len(f) == 0 {
		return "", fmt.Errorf("%s %s printed no version", bin, strings.Join(args, " "))
	}
	return f[len(f)-1], nil
}
