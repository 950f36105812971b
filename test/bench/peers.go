package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
)

// prepareTools finds or installs each tool that is selected and takes part
// in a selected scenario, and says how each copies an image and syncs
// registries. A tool that cannot be had is returned with the reason, so its
// row can say why; the others still run.
func prepareTools(ctx context.Context, in installer, opts options, stageDir string) []tool {
	var tools []tool
	for _, name := range allTools { // fixed order: ferry first, then peers
		if !slices.Contains(opts.only, name) || !inScenarios(name, opts.scenarios) {
			continue
		}
		var t tool
		switch name {
		case "ferry":
			t = ferryTool(ctx, opts.ferry, opts.profile)
		case "crane":
			t = goPeer(ctx, in, craneTool, func(src, dst string) []string {
				return append(append([]string{"copy"}, opts.profile.plainHTTP()...), src, dst)
			})
		case "regctl":
			t = goPeer(ctx, in, regctlTool, func(src, dst string) []string {
				return []string{"image", "copy", src, dst}
			})
		case "regsync":
			t = regsyncPeer(ctx, in)
		case "skopeo":
			t = skopeoTool(ctx, in)
		}
		if t.unavailable == "" {
			if staged, err := stage(t.bin, stageDir); err != nil {
				t.unavailable = err.Error()
			} else {
				t.bin = staged
			}
		}
		tools = append(tools, t)
	}
	return tools
}

// ferryTool copies to every destination in one invocation, and syncs them
// all in one `ferry sync`.
func ferryTool(ctx context.Context, path string, p profile) tool {
	t := tool{name: "ferry"}
	bin, err := filepath.Abs(path)
	if err != nil {
		t.unavailable = fmt.Sprintf("resolve %s: %v", path, err)
		return t
	}
	if _, err := os.Stat(bin); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			t.unavailable = path + " not found; run make build"
		} else {
			t.unavailable = err.Error()
		}
		return t
	}
	t.bin = bin
	// "ferry dev (go1.26.8)", or "ferry v1.2.0 (abc1234, go1.26.8)": the
	// second field.
	if out, err := exec.CommandContext(ctx, bin, "version").Output(); err == nil {
		if f := strings.Fields(string(out)); len(f) >= 2 {
			t.version = f[1]
		}
	}
	t.commands = func(bin, src string, dsts []string) [][]string {
		argv := append(append([]string{bin, "copy"}, p.plainHTTP()...), src)
		return [][]string{append(argv, dsts...)}
	}
	t.syncCommands = func(bin string, env *syncEnv) ([][]string, error) {
		cfg, endpoints, err := env.ferryFiles()
		if err != nil {
			return nil, err
		}
		return [][]string{{bin, "sync", "--config", cfg, "--endpoints", "@" + endpoints}}, nil
	}
	return t
}

// regsyncPeer installs regsync if needed; one `regsync once` syncs every
// repository to every destination, one configuration entry each.
func regsyncPeer(ctx context.Context, in installer) tool {
	t := tool{name: "regsync", peer: true}
	bin, err := in.ensureGoTool(ctx, regsyncTool)
	if err != nil {
		t.unavailable = err.Error()
		return t
	}
	t.bin, t.version = bin, regsyncTool.version
	t.syncCommands = func(bin string, env *syncEnv) ([][]string, error) {
		path, err := env.writeFile("regsync.yaml", regsyncConfig(env.srcHost(), env.dstHosts(), env.source.repos))
		if err != nil {
			return nil, err
		}
		return [][]string{{bin, "once", "-c", path}}, nil
	}
	return t
}

// goPeer installs a Go tool if needed; it copies to one destination per run.
func goPeer(ctx context.Context, in installer, g goTool, args func(src, dst string) []string) tool {
	t := tool{name: g.name, peer: true}
	bin, err := in.ensureGoTool(ctx, g)
	if err != nil {
		t.unavailable = err.Error()
		return t
	}
	t.bin, t.version = bin, g.version
	t.commands = perDestination(func(bin, src, dst string) []string {
		return append([]string{bin}, args(src, dst)...)
	})
	return t
}

// skopeoTool installs skopeo if needed; it copies to one destination per run,
// keeping every platform and the digests.
func skopeoTool(ctx context.Context, in installer) tool {
	t := tool{name: "skopeo", peer: true}
	bin, err := in.ensureSkopeo(ctx)
	if err != nil {
		t.unavailable = err.Error()
		return t
	}
	t.bin = bin
	if t.version, err = commandVersion(ctx, bin, "--version"); err != nil {
		t.unavailable = err.Error()
		return t
	}
	t.commands = perDestination(func(bin, src, dst string) []string {
		return []string{bin, "copy", "--all", "--preserve-digests",
			"--src-tls-verify=false", "--dest-tls-verify=false",
			"docker://" + src, "docker://" + dst}
	})
	t.syncCommands = skopeoSyncCommands
	return t
}

// skopeoSyncCommands runs `skopeo sync` once per destination, as its users
// would: the source repositories and the release-* tag pattern are listed
// in a --src yaml file (with tls-verify: false, the yaml source's setting
// for plain HTTP), and each lands under DST/bench/, the last component of
// its name appended as skopeo does without --scoped.
func skopeoSyncCommands(bin string, env *syncEnv) ([][]string, error) {
	path, err := env.writeFile("skopeo-sync.yaml", skopeoSyncYAML(env.srcHost(), env.source.repos))
	if err != nil {
		return nil, err
	}
	var cmds [][]string
	for _, d := range env.dstHosts() {
		cmds = append(cmds, []string{bin, "sync", "--src", "yaml", "--dest", "docker",
			"--dest-tls-verify=false", "--all", "--preserve-digests", path, d + "/bench"})
	}
	return cmds, nil
}

// stage copies a tool's binary into dir and returns the copy's path. Every
// tool runs from such a fresh copy, so that all start from the same state of
// the page cache: on this kind of machine a binary the Go linker has just
// written starts about 0.4 ms slower than a copy of it (its cached pages are
// small ones), which would favour whichever tool was built longest ago.
func stage(bin, dir string) (string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("stage %s: %w", bin, err)
	}
	data, err := os.ReadFile(bin)
	if err != nil {
		return "", fmt.Errorf("stage %s: %w", bin, err)
	}
	dst := filepath.Join(dir, filepath.Base(bin))
	if err := os.WriteFile(dst, data, 0o755); err != nil {
		return "", fmt.Errorf("stage %s: %w", bin, err)
	}
	return dst, nil
}

// Modes of running a tool's copy, the WAN profile's rows.
const (
	modeOneCall  = "one call"
	modeParallel = "per destination, in parallel"
	modeSequence = "per destination, in sequence"
)

func modeSuffix(mode string) string {
	if mode == "" {
		return ""
	}
	return ", " + mode
}

// wanVariants expands the copy tools into the WAN profile's rows: ferry
// with one call for every destination, and one call per destination in
// parallel (the workflow's CopyImage, one Lambda per destination); each
// peer per destination in parallel and in sequence. The large copy (one
// destination) runs in the first row of each tool only.
func wanVariants(tools []tool, p profile) []tool {
	var out []tool
	for _, t := range tools {
		if t.name == "ferry" {
			one := t
			one.mode = modeOneCall
			each := t
			each.mode, each.parallel, each.skipLarge = modeParallel, true, true
			each.commands = perDestination(func(bin, src, dst string) []string {
				return append(append([]string{bin, "copy"}, p.plainHTTP()...), src, dst)
			})
			out = append(out, one, each)
			continue
		}
		par := t
		par.mode, par.parallel = modeParallel, true
		seq := t
		seq.mode, seq.skipLarge = modeSequence, true
		out = append(out, par, seq)
	}
	return out
}
