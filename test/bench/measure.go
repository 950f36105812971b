package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/ferry-dev/ferry/test/peakrss"
)

// tool is one copy tool under test.
type tool struct {
	name        string // "ferry", "crane", ...
	bin         string // absolute path of its binary
	version     string
	unavailable string // why it cannot run; empty if it can
	peer        bool   // a tool ferry is compared with
	// commands returns the command lines, running bin, that copy src to
	// every dst (the copy scenario); nil if the tool does not copy.
	commands func(bin, src string, dsts []string) [][]string
	// syncCommands writes the tool's configuration files for a sync
	// trial's registries and returns the command lines, running bin, that
	// sync them (the sync scenario); nil if the tool does not sync.
	syncCommands func(bin string, env *syncEnv) ([][]string, error)

	// How its copy commands run (the WAN profile's rows): mode names it
	// in the table; parallel runs them side by side (else one after the
	// other); skipLarge leaves the large copy out (it goes to one
	// destination, so another row of the same tool has measured it).
	mode      string
	parallel  bool
	skipLarge bool
}

// perDestination makes the commands of a tool that copies to one
// destination per invocation: users run it once per destination.
func perDestination(argv func(bin, src, dst string) []string) func(string, string, []string) [][]string {
	return func(bin, src string, dsts []string) [][]string {
		cmds := make([][]string, 0, len(dsts))
		for _, dst := range dsts {
			cmds = append(cmds, argv(bin, src, dst))
		}
		return cmds
	}
}

// trial is one tool's measurements on fresh destinations.
type trial struct {
	Cold       time.Duration `json:"cold_ns"`
	Warm       time.Duration `json:"warm_ns"`
	Large      time.Duration `json:"large_ns,omitempty"` // the large copy, traced for its peak RSS
	PeakRSSKiB int64         `json:"peak_rss_kib"`
	// Requests sent through the proxies (WAN profile): in the cold copy,
	// by method, and in one warm copy (the median run's).
	ColdRequests requestCounts `json:"cold_requests,omitempty"`
	WarmRequests int64         `json:"warm_requests,omitempty"`
	DigestIssue  string        `json:"digest_issue,omitempty"` // set if a destination's digest differs
	Err          string        `json:"error,omitempty"`        // set if a command failed
}

// runner runs tool commands in the tools' environment.
type runner struct {
	env []string // environment of every tool command
}

// bench is the copy scenario's running set-up: registries, images and the
// tools' environment.
type bench struct {
	runner
	src   *registry
	dsts  []*registry
	index pushed
	large pushed
	log   io.Writer
	// storage is the registries' storage on tmpfs, removed at the end
	// ("": it is in the temp dir).
	storage string
	tls     *tlsFiles // --tls: the registries' certificates; nil: plain HTTP
}

func (b *bench) ref(r *registry, repo string) string { return r.public() + "/" + repo }

// requests sums what every registry's proxy has counted so far (nil
// without proxies).
func (b *bench) requests() map[string]int64 {
	var sum map[string]int64
	for _, r := range append([]*registry{b.src}, b.dsts...) {
		if r.proxy == nil {
			continue
		}
		if sum == nil {
			sum = map[string]int64{}
		}
		for k, v := range r.proxy.counts() {
			sum[k] += v
		}
	}
	return sum
}

func (b *bench) dstAddrs() []string {
	addrs := make([]string, len(b.dsts))
	for i, d := range b.dsts {
		addrs[i] = d.public()
	}
	return addrs
}

func (b *bench) dstRefs(repo string) []string {
	refs := make([]string, len(b.dsts))
	for i, d := range b.dsts {
		refs[i] = b.ref(d, repo)
	}
	return refs
}

// warmRuns is how many times a trial runs the warm copy; its time is the
// median. A warm copy takes milliseconds, so one run would measure mostly
// the noise of a shared 2-core machine.
const warmRuns = 11

// runTrial restarts the destinations on empty storage, then times a cold
// copy of the index to every destination, the same copy again (warm), and a
// copy of the large image to the first destination, verifying digests after
// each.
func (b *bench) runTrial(ctx context.Context, t tool) (trial, error) {
	var tr trial
	for _, d := range b.dsts {
		if err := d.startFresh(ctx); err != nil {
			return tr, err
		}
	}
	srcIndex, dstIndex := b.ref(b.src, b.index.repo), b.dstRefs(b.index.repo)
	srcLarge, dstLarge := b.ref(b.src, b.large.repo), b.dstRefs(b.large.repo)[:1]

	type step struct {
		what      string
		src       string
		dsts      []string
		want      v1.Hash
		runs      int // the time is the median of this many runs
		elapsed   *time.Duration
		peakRSSKB *int64
		requests  func(perRun []requestCounts)
	}
	steps := []step{
		{"cold copy", srcIndex, dstIndex, b.index.digest, 1, &tr.Cold, nil, func(rs []requestCounts) { tr.ColdRequests = rs[0] }},
		{"warm copy", srcIndex, dstIndex, b.index.digest, warmRuns, &tr.Warm, nil, func(rs []requestCounts) {
			totals := make([]int64, len(rs))
			for i, r := range rs {
				totals[i] = r.total()
			}
			tr.WarmRequests = median(totals)
		}},
	}
	if !t.skipLarge {
		steps = append(steps, step{"large copy", srcLarge, dstLarge, b.large.digest, 1, &tr.Large, &tr.PeakRSSKiB, nil})
	}
	for _, s := range steps {
		// What earlier steps wrote reaches the disk first, so the kernel's
		// writeback of one step is not timed as part of the next.
		syscall.Sync()
		var times []time.Duration
		var counts []requestCounts
		var run runResult
		var err error
		for range max(s.runs, 1) {
			before := b.requests()
			if run, err = b.runCommands(ctx, t.commands(t.bin, s.src, s.dsts), s.peakRSSKB != nil, t.parallel); err != nil {
				break
			}
			times = append(times, run.elapsed)
			counts = append(counts, diffCounts(before, b.requests()))
		}
		if err != nil {
			if ctx.Err() != nil {
				return tr, ctx.Err()
			}
			tr.Err = fmt.Sprintf("%s: %v", s.what, err)
			return tr, nil
		}
		if s.elapsed != nil {
			*s.elapsed = median(times)
		}
		if s.peakRSSKB != nil {
			*s.peakRSSKB = run.peakRSSKiB
		}
		if s.requests != nil && b.requests() != nil {
			s.requests(counts)
		}
		if issue := verifyDigests(ctx, s.dsts, s.want); issue != "" && tr.DigestIssue == "" {
			tr.DigestIssue = s.what + ": " + issue
		}
	}
	return tr, nil
}

// runResult is the total wall time and the largest peak RSS of some commands.
type runResult struct {
	elapsed    time.Duration
	peakRSSKiB int64
}

// runCommands runs command lines one after the other, or with parallel
// all at once (the time is then the wall time until the last one ends);
// with measureRSS it reads each one's peak memory (the largest is kept).
func (r runner) runCommands(ctx context.Context, cmds [][]string, measureRSS, parallel bool) (runResult, error) {
	if parallel && len(cmds) > 1 {
		return r.runParallel(ctx, cmds, measureRSS)
	}
	var res runResult
	for _, argv := range cmds {
		rr, err := r.runCommand(ctx, argv, measureRSS)
		if err != nil {
			return res, err
		}
		res.elapsed += rr.elapsed
		res.peakRSSKiB = max(res.peakRSSKiB, rr.peakRSSKiB)
	}
	return res, nil
}

// runParallel runs every command line at once.
func (r runner) runParallel(ctx context.Context, cmds [][]string, measureRSS bool) (runResult, error) {
	results := make([]runResult, len(cmds))
	errs := make([]error, len(cmds))
	var wg sync.WaitGroup
	start := time.Now()
	for i, argv := range cmds {
		wg.Go(func() { results[i], errs[i] = r.runCommand(ctx, argv, measureRSS) })
	}
	wg.Wait()
	res := runResult{elapsed: time.Since(start)}
	for i := range cmds {
		if errs[i] != nil {
			return runResult{}, errs[i]
		}
		res.peakRSSKiB = max(res.peakRSSKiB, results[i].peakRSSKiB)
	}
	return res, nil
}

// runCommand runs one command line, timing it, or with measureRSS reading
// its peak RSS (peakrss traces the process to its exit, which costs a little
// time, so timed runs are not traced). A command that runs longer than
// commandTimeout is stopped and fails.
func (r runner) runCommand(ctx context.Context, argv []string, measureRSS bool) (runResult, error) {
	ctx, cancel := context.WithTimeoutCause(ctx, commandTimeout, errCommandTimeout)
	defer cancel()
	var out bytes.Buffer
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Env = r.env
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.WaitDelay = 5 * time.Second
	start := time.Now()
	var peak int64
	var err error
	if measureRSS {
		peak, err = peakrss.Run(cmd)
	} else {
		err = cmd.Run()
	}
	elapsed := time.Since(start)
	if errors.Is(context.Cause(ctx), errCommandTimeout) {
		err = errCommandTimeout
	}
	if err != nil {
		return runResult{}, fmt.Errorf("%s: %w%s", strings.Join(argv, " "), err, lastLine(out.String()))
	}
	return runResult{elapsed: elapsed, peakRSSKiB: peak >> 10}, nil
}

// lastLine returns ": " and the last non-empty line of s, or "" if none.
func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if l := strings.TrimSpace(lines[len(lines)-1]); l != "" {
		return ": " + l
	}
	return ""
}

// verifyDigests checks that every ref resolves (HEAD manifest) to want. It
// returns a description of the first mismatch, or "" if all match.
func verifyDigests(ctx context.Context, refs []string, want v1.Hash) string {
	for _, s := range refs {
		ref, err := name.ParseReference(s, name.Insecure)
		if err != nil {
			return fmt.Sprintf("parse %s: %v", s, err)
		}
		desc, err := remote.Head(ref, remote.WithContext(ctx))
		if err != nil {
			return fmt.Sprintf("%s: %v", s, err)
		}
		if desc.Digest != want {
			return fmt.Sprintf("%s is %s, source is %s", s, short(desc.Digest), short(want))
		}
	}
	return ""
}

func short(h v1.Hash) string {
	if len(h.Hex) < 12 {
		return h.String()
	}
	return h.Algorithm + ":" + h.Hex[:12]
}

// configureRegctl marks every registry as plain HTTP in regctl's
// configuration, which lives under the benchmark's own HOME.
func configureRegctl(ctx context.Context, regctl string, env []string, regs []*registry) error {
	for _, r := range regs {
		cmd := exec.CommandContext(ctx, regctl, "registry", "set", "--tls", "disabled", r.public())
		cmd.Env = env
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("regctl registry set --tls disabled %s: %w%s", r.public(), err, lastLine(string(out)))
		}
	}
	return nil
}

// toolEnv is the environment for tool commands: HOME (and XDG dirs) point
// into the benchmark's temp dir, so no user configuration is read or changed.
func toolEnv(home string) []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		switch k {
		case "HOME", "XDG_CONFIG_HOME", "XDG_RUNTIME_DIR", "DOCKER_CONFIG", "REGISTRY_AUTH_FILE":
			continue
		}
		env = append(env, kv)
	}
	return append(env, "HOME="+home, "XDG_CONFIG_HOME="+home+"/.config")
}

var errNoTools = errors.New("no tool to benchmark")

// commandTimeout bounds one tool invocation; a healthy copy takes seconds.
const commandTimeout = 5 * time.Minute

var errCommandTimeout = fmt.Errorf("timed out after %s", commandTimeout)
