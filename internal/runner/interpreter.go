package runner

import (
	"bytes"
	"context"
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
)

// What a local run executes the state machine with: aws-local-stepfunctions
// and the Node 22 it needs, as npm installs them from these two files. They
// pin the versions the checkout's package.json does (a test checks), so a
// ferry installed with go install runs what a checkout runs.
var (
	//go:embed interpreter/package.json
	interpreterPackage []byte
	//go:embed interpreter/package-lock.json
	interpreterLock []byte
)

// minNodeMajor is the Node aws-local-stepfunctions 3 needs (its engines).
const minNodeMajor = 22

// Search says where FindInterpreter looks for a node_modules directory with
// Node 22 (.bin/node) and aws-local-stepfunctions.
type Search struct {
	// Explicit, when set, is the only place looked at (--node-modules).
	Explicit string
	// Starts are directories searched upward for a ferry checkout's
	// node_modules: the working directory and the ferry binary's. Only a
	// directory whose go.mod is Ferry's counts: a node_modules found above
	// some other directory is somebody else's, and ferry run would run its
	// .bin/node with the user's AWS credentials.
	Starts []string
	// CacheDir is where Install puts its node_modules, and where
	// FindInterpreter looks after Starts.
	CacheDir string
	// LookPath finds npm for Install (exec.LookPath).
	LookPath func(string) (string, error)
	// NodeVersion returns `node --version` of a node binary (default: runs it).
	NodeVersion func(ctx context.Context, node string) (string, error)
}

// DefaultSearch looks upward from the working directory and from the
// ferry binary's directory, then in the user's cache directory
// (os.UserCacheDir()/ferry/local-stepfunctions-HASH, HASH naming the
// embedded lock file, so that another version installs beside it).
func DefaultSearch(explicit string) Search {
	s := Search{Explicit: explicit, LookPath: exec.LookPath}
	if wd, err := os.Getwd(); err == nil {
		s.Starts = append(s.Starts, wd)
	}
	if exe, err := os.Executable(); err == nil {
		s.Starts = append(s.Starts, filepath.Dir(exe))
	}
	if dir, err := os.UserCacheDir(); err == nil {
		s.CacheDir = filepath.Join(dir, "ferry", "local-stepfunctions-"+lockHash())
	}
	return s
}

func lockHash() string {
	h := sha256.Sum256(interpreterLock)
	return hex.EncodeToString(h[:6])
}

// NotFoundError is FindInterpreter's error: where it looked and why each
// place would not do, and what installs what is missing. It wraps
// ErrNodeMissing.
type NotFoundError struct {
	Looked   []string // "DIR: why not"
	CacheDir string   // where Install would install; "" if there is no cache directory
	NPM      string   // npm's path, "" if it is not on PATH
	Explicit bool     // --node-modules named the one place to look
}

func (e *NotFoundError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "ferry run needs Node %d and aws-local-stepfunctions, and found them nowhere (%s)", minNodeMajor, strings.Join(e.Looked, "; "))
	switch {
	case e.Explicit:
		b.WriteString(": give --node-modules a node_modules directory that has both (a ferry checkout's, after `make node_modules/.installed`), or leave the flag out")
	case e.CacheDir == "":
		b.WriteString(": run ferry run in a ferry checkout after `make node_modules/.installed`, or pass --node-modules DIR (this system has no user cache directory to install them into)")
	case e.NPM == "":
		fmt.Fprintf(&b, ": install npm (it comes with Node.js; e.g. sudo apt-get install npm), then run ferry run again: it installs them into %s once; or, by hand: %s", e.CacheDir, InstallCommand(e.CacheDir))
	default:
		fmt.Fprintf(&b, ": install them into %s once with: %s", e.CacheDir, InstallCommand(e.CacheDir))
	}
	return b.String()
}

func (e *NotFoundError) Unwrap() error { return ErrNodeMissing }

// InstallCommand is a shell command that installs what a local run needs
// into dir, as Install does, for a person to run.
func InstallCommand(dir string) string {
	var deps struct{ Dependencies map[string]string }
	_ = json.Unmarshal(interpreterPackage, &deps)
	return fmt.Sprintf("npm install --prefix %s --no-audit --no-fund aws-local-stepfunctions@%s node@%s",
		shellQuote(dir), deps.Dependencies["aws-local-stepfunctions"], deps.Dependencies["node"])
}

func shellQuote(s string) string {
	if s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !(r == '/' || r == '.' || r == '-' || r == '_' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z')
	}) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// FindInterpreter returns the first node_modules directory with a Node 22
// and aws-local-stepfunctions: Explicit alone when set, else upward from
// each of Starts, else CacheDir's. It installs nothing; when it finds none
// its error is a *NotFoundError.
func FindInterpreter(ctx context.Context, s Search) (string, error) {
	nf := &NotFoundError{CacheDir: s.CacheDir, Explicit: s.Explicit != ""}
	if s.LookPath != nil {
		if p, err := s.LookPath("npm"); err == nil {
			nf.NPM = p
		}
	}
	try := func(nm string) bool {
		if why := s.unusable(ctx, nm); why != "" {
			nf.Looked = append(nf.Looked, nm+": "+why)
			return false
		}
		return true
	}
	if s.Explicit != "" {
		if try(s.Explicit) {
			return s.Explicit, nil
		}
		return "", nf
	}
	seen := map[string]bool{}
	for _, start := range s.Starts {
		for dir := start; ; dir = filepath.Dir(dir) {
			nm := filepath.Join(dir, "node_modules")
			// Only a ferry checkout's node_modules with
			// aws-local-stepfunctions is a candidate: others (a
			// JavaScript project's) are not worth reporting.
			if !seen[nm] && ferryCheckout(dir) && exists(filepath.Join(nm, "aws-local-stepfunctions")) {
				seen[nm] = true
				if try(nm) {
					return nm, nil
				}
			}
			if filepath.Dir(dir) == dir {
				break
			}
		}
	}
	if len(nf.Looked) == 0 && len(s.Starts) > 0 {
		nf.Looked = append(nf.Looked, "no ferry checkout with aws-local-stepfunctions in or above "+strings.Join(s.Starts, " or "))
	}
	if s.CacheDir != "" {
		nm := filepath.Join(s.CacheDir, "node_modules")
		if !exists(nm) {
			nf.Looked = append(nf.Looked, nm+": not installed yet")
		} else if try(nm) {
			return nm, nil
		}
	}
	return "", nf
}

// ferryModule is the module line of a ferry checkout's go.mod.
const ferryModule = "module github.com/ferry-dev/ferry"

// ferryCheckout reports whether dir is the root of a ferry checkout.
func ferryCheckout(dir string) bool {
	b, err := os.ReadFile(filepath.Join(dir, "go.mod"))
	if err != nil {
		return false
	}
	for line := range strings.Lines(string(b)) {
		if strings.TrimSpace(line) == ferryModule {
			return true
		}
	}
	return false
}

// unusable says why nm cannot run a local execution, or "" if it can.
func (s Search) unusable(ctx context.Context, nm string) string {
	node := filepath.Join(nm, ".bin", "node")
	module := filepath.Join(nm, "aws-local-stepfunctions", "build", "main.node.esm.js")
	if !exists(module) {
		return "no aws-local-stepfunctions"
	}
	if !exists(node) {
		return "no .bin/node"
	}
	version := s.NodeVersion
	if version == nil {
		version = nodeVersion
	}
	v, err := version(ctx, node)
	if err != nil {
		return fmt.Sprintf(".bin/node does not run: %v", err)
	}
	major, _, _ := strings.Cut(strings.TrimPrefix(strings.TrimSpace(v), "v"), ".")
	if n, err := strconv.Atoi(major); err != nil || n < minNodeMajor {
		return fmt.Sprintf(".bin/node is Node %s, not %d or later", strings.TrimSpace(v), minNodeMajor)
	}
	return ""
}

func nodeVersion(ctx context.Context, node string) (string, error) {
	var stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, node, "--version")
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		if msg := strings.TrimSpace(stderr.String()); msg != "" {
			return "", fmt.Errorf("%w: %s", err, msg)
		}
		return "", err
	}
	return string(out), nil
}

func exists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// Install installs Node 22 and aws-local-stepfunctions into s.CacheDir
// with npm ci, from the package.json and lock file built into ferry, and
// returns its node_modules. npm's own output goes to w. It installs into a
// new directory beside CacheDir and renames it into place, so that an
// interrupted install leaves nothing half-done and two at once do not mix.
func Install(ctx context.Context, s Search, w io.Writer) (string, error) {
	if s.CacheDir == "" {
		return "", errors.New("install the local Step Functions interpreter: no cache directory (os.UserCacheDir failed); pass --node-modules DIR")
	}
	npm, err := s.LookPath("npm")
	if err != nil {
		return "", fmt.Errorf("install the local Step Functions interpreter: npm not found (%w); install npm (it comes with Node.js), or by hand: %s", err, InstallCommand(s.CacheDir))
	}
	if err := os.MkdirAll(filepath.Dir(s.CacheDir), 0o755); err != nil {
		return "", fmt.Errorf("install the local Step Functions interpreter: %w", err)
	}
	tmp, err := os.MkdirTemp(filepath.Dir(s.CacheDir), filepath.Base(s.CacheDir)+".installing-")
	if err != nil {
		return "", fmt.Errorf("install the local Step Functions interpreter: %w", err)
	}
	defer os.RemoveAll(tmp) // after a successful rename, there is nothing left to remove
	for name, b := range map[string][]byte{"package.json": interpreterPackage, "package-lock.json": interpreterLock} {
		if err := os.WriteFile(filepath.Join(tmp, name), b, 0o644); err != nil {
			return "", fmt.Errorf("install the local Step Functions interpreter: %w", err)
		}
	}
	cmd := installCmd(ctx, npm, tmp)
	cmd.Stdout, cmd.Stderr = w, w
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("install the local Step Functions interpreter: %s in %s: %w (npm needs the npm registry; retry, or by hand: %s)",
			strings.Join(cmd.Args, " "), tmp, err, InstallCommand(s.CacheDir))
	}
	if err := os.Rename(tmp, s.CacheDir); err != nil && !exists(filepath.Join(s.CacheDir, "node_modules")) {
		return "", fmt.Errorf("install the local Step Functions interpreter: move it into place: %w", err)
	}
	// Another ferry may have installed it first: either copy will do.
	nm := filepath.Join(s.CacheDir, "node_modules")
	if why := s.unusable(ctx, nm); why != "" {
		return "", fmt.Errorf("install the local Step Functions interpreter into %s: %s after npm ci; remove the directory and run again", s.CacheDir, why)
	}
	return nm, nil
}

// installCmd is npm ci in dir, quiet but for errors.
func installCmd(ctx context.Context, npm, dir string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, npm, "ci", "--no-audit", "--no-fund", "--loglevel=error")
	cmd.Dir = dir
	return cmd
}
