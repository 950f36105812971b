// Command bench compares `ferry copy` with the copy tools people use today —
// crane, skopeo and regctl — on real registry servers on loopback, and prints
// one side-by-side table.
//
// Run it with `make bench`, which builds bin/ferry and then runs
//
//	go run ./test/bench --ferry bin/ferry --tools .tools
//
// # What it sets up
//
// Peers are installed into the --tools directory (its bin/ folder) only when
// missing or not the pinned version: crane v0.22.1, regctl v0.11.7 and the
// distribution registry v3.1.2 with `go install PKG@VERSION` (built outside
// this module, so none of them enters go.mod; the registry takes about two
// minutes to build the first time), and skopeo from Debian's package with
// apt-get when it is not on PATH.
//
// Four distribution v3 registries run on 127.0.0.1 with filesystem storage
// in a temp directory: one source and three destinations. The source gets
// two images, generated and streamed by test/imagegen (incompressible,
// deterministic, never held in memory):
//
//   - bench/multiarch:v1, an OCI index for linux/amd64 and linux/arm64, each
//     image with 4 distinct 32 MiB layers (about 256 MiB in all);
//   - bench/large:v1, an OCI image with a single 1 GiB layer.
//
// # What it measures
//
// Each trial, for each tool, restarts the destinations on new, empty storage
// and then measures:
//
//   - cold: wall time to copy the index to all three destinations. ferry
//     does it in one invocation (`ferry copy --insecure SRC DST1 DST2 DST3`);
//     each peer is run once per destination, as its users would, and the
//     three times are added up;
//   - warm: the same command(s) again, with everything already present:
//     the median of 11 runs (a warm copy takes milliseconds; one run would
//     measure mostly the noise of a shared machine);
//   - peak RSS: the kernel's high-water mark of the tool process's resident
//     memory (VmHWM, read at exit by test/peakrss; wait4's ru_maxrss would
//     include this harness's own memory) while copying the 1 GiB image to
//     one destination.
//
// Before each timed step the harness calls sync(2), so that the kernel's
// writeback of what the previous step wrote is not timed in the next.
//
// After every copy each destination's tag is resolved (HEAD manifest) and
// compared with the source digest: a tool that changes the digest is shown
// as such in the table, never silently timed. The table shows the median of
// --trials trials, and the last line compares ferry with the best peer of
// each column against ferry's goals. The result is also written as JSON to
// --out (test/bench/out/result.json by default, which git ignores).
//
// Every tool runs from a fresh copy of its binary in the temp directory, so
// that all start from the same page-cache state: a binary the Go linker has
// just written starts about 0.4 ms slower than a copy of it here.
//
// Peers run with HOME pointing into the temp directory, so no user
// configuration is read or changed; regctl is told there that the
// registries speak plain HTTP (`regctl registry set --tls disabled`).
// Everything started is stopped and removed at the end, also on error or
// Ctrl-C. If bin/ferry is missing, its row says why and the peers still run.
//
// Flags:
//
//	--ferry PATH     the ferry binary (default bin/ferry)
//	--tools DIR      where tools are installed (default .tools)
//	--trials N       trials per tool; the table shows medians (default 3)
//	--only LIST      comma-separated tools to run (default ferry,crane,skopeo,regctl)
//	--out FILE       JSON result (default test/bench/out/result.json)
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"time"
)

var allTools = []string{"ferry", "crane", "skopeo", "regctl"}

const destinations = 3

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	interrupted := ctx.Err() != nil
	stop()
	switch {
	case errors.Is(err, flag.ErrHelp):
	case err != nil && interrupted:
		fmt.Fprintln(os.Stderr, "bench: interrupted; registries stopped and temp files removed")
		os.Exit(130)
	case err != nil:
		fmt.Fprintf(os.Stderr, "bench: %v\n", err)
		os.Exit(1)
	}
}

type options struct {
	ferry  string
	tools  string
	out    string
	trials int
	only   []string
}

func parseFlags(args []string, stderr io.Writer) (options, error) {
	var o options
	var only string
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.ferry, "ferry", "bin/ferry", "the ferry binary")
	fs.StringVar(&o.tools, "tools", ".tools", "directory to install tools into (binaries go to DIR/bin)")
	fs.StringVar(&o.out, "out", "test/bench/out/result.json", "where to write the JSON result")
	fs.IntVar(&o.trials, "trials", 3, "trials per tool; the table shows medians")
	fs.StringVar(&only, "only", strings.Join(allTools, ","), "comma-separated tools to run")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments: %q", fs.Args())
	}
	if o.trials < 1 {
		return o, fmt.Errorf("--trials must be at least 1, got %d", o.trials)
	}
	for _, name := range strings.Split(only, ",") {
		name = strings.TrimSpace(name)
		if !slices.Contains(allTools, name) {
			return o, fmt.Errorf("--only: unknown tool %q (known: %s)", name, strings.Join(allTools, ", "))
		}
		o.only = append(o.only, name)
	}
	return o, nil
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	opts, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	toolsDir, err := filepath.Abs(opts.tools)
	if err != nil {
		return fmt.Errorf("resolve --tools: %w", err)
	}
	setupStart := time.Now()
	in := installer{dir: toolsDir, log: stderr}
	registryBin, err := in.ensureGoTool(ctx, registryTool)
	if err != nil {
		return fmt.Errorf("install the registry server: %w", err)
	}
	work, err := os.MkdirTemp("", "ferry-bench-")
	if err != nil {
		return fmt.Errorf("create temp dir: %w", err)
	}
	defer os.RemoveAll(work)
	tools := prepareTools(ctx, in, opts, filepath.Join(work, "bin"))

	b, err := setUp(ctx, work, registryBin, tools, stderr)
	if b != nil {
		defer b.stopAll()
	}
	if err != nil {
		return err
	}
	setup := time.Since(setupStart)

	runStart := time.Now()
	rows, err := b.runAll(ctx, tools, opts.trials)
	if err != nil {
		return err
	}
	res := result{
		StartedAt:    setupStart,
		Title:        title(b.index.bytes, b.large.bytes, destinations, opts.trials, registryTool.version),
		ToolVersions: versionsLine(tools),
		Trials:       opts.trials,
		Destinations: destinations,
		IndexBytes:   b.index.bytes,
		IndexDigest:  b.index.digest.String(),
		LargeBytes:   b.large.bytes,
		LargeDigest:  b.large.digest.String(),
		Rows:         rows,
		Comparison:   compare(rows),
		SetupSeconds: setup.Seconds(),
		RunSeconds:   time.Since(runStart).Seconds(),
	}
	fmt.Fprintf(stderr, "set-up took %s, trials took %s\n\n", setup.Round(time.Second), time.Since(runStart).Round(time.Second))
	writeTable(stdout, res)
	return writeJSON(opts.out, res)
}

// setUp starts the registries, configures the tools for them and pushes the
// source images. The returned bench, if not nil, must be stopped.
func setUp(ctx context.Context, work, registryBin string, tools []tool, log io.Writer) (*bench, error) {
	home := filepath.Join(work, "home")
	if err := os.MkdirAll(home, 0o755); err != nil {
		return nil, fmt.Errorf("create tool HOME: %w", err)
	}
	b := &bench{env: toolEnv(home), log: log}
	var err error
	if b.src, err = newRegistry(registryBin, work, "src"); err != nil {
		return nil, err
	}
	for i := range destinations {
		d, err := newRegistry(registryBin, work, fmt.Sprintf("dst%d", i+1))
		if err != nil {
			return nil, err
		}
		b.dsts = append(b.dsts, d)
	}
	fmt.Fprintf(log, "starting registries: source %s, destinations %s\n", b.src.addr, strings.Join(b.dstAddrs(), " "))
	for _, r := range append([]*registry{b.src}, b.dsts...) {
		if err := r.startFresh(ctx); err != nil {
			return b, err
		}
	}
	for i := range tools {
		if tools[i].name == "regctl" && tools[i].unavailable == "" {
			if err := configureRegctl(ctx, tools[i].bin, b.env, append([]*registry{b.src}, b.dsts...)); err != nil {
				tools[i].unavailable = err.Error()
			}
		}
	}
	fmt.Fprintln(log, "generating source images (streamed, incompressible)")
	start := time.Now()
	if b.index, b.large, err = pushSource(ctx, b.src.addr, defaultData); err != nil {
		return b, err
	}
	fmt.Fprintf(log, "pushed %s (%s, %s) and %s (%s, %s) in %s\n",
		b.index.repo, humanSize(b.index.bytes), short(b.index.digest),
		b.large.repo, humanSize(b.large.bytes), short(b.large.digest), time.Since(start).Round(100*time.Millisecond))
	return b, nil
}

// stopAll stops every registry; their storage goes with the temp dir.
func (b *bench) stopAll() {
	for _, r := range append([]*registry{b.src}, b.dsts...) {
		if r == nil {
			continue
		}
		if err := r.stop(); err != nil {
			fmt.Fprintf(b.log, "warning: %v\n", err)
		}
	}
}

// runAll runs every trial of every available tool, rotating which tool goes
// first so that drifting machine load spreads over all of them.
func (b *bench) runAll(ctx context.Context, tools []tool, trials int) ([]row, error) {
	var runnable []int
	for i, t := range tools {
		if t.unavailable == "" {
			runnable = append(runnable, i)
		}
	}
	if len(runnable) == 0 {
		return nil, errNoTools
	}
	results := make([][]trial, len(tools))
	for n := range trials {
		for k := range runnable {
			i := runnable[(n+k)%len(runnable)]
			tr, err := b.runTrial(ctx, tools[i])
			if err != nil {
				return nil, fmt.Errorf("trial %d of %s: %w", n+1, tools[i].name, err)
			}
			fmt.Fprintf(b.log, "trial %d/%d %-7s %s\n", n+1, trials, tools[i].name, describeTrial(tr))
			results[i] = append(results[i], tr)
		}
	}
	rows := make([]row, len(tools))
	for i, t := range tools {
		rows[i] = summarize(t, results[i])
	}
	return rows, nil
}

func describeTrial(tr trial) string {
	if tr.Err != "" {
		return "failed: " + tr.Err
	}
	s := fmt.Sprintf("cold %.2f s, warm %.3f s, peak RSS %.1f MiB", tr.Cold.Seconds(), tr.Warm.Seconds(), float64(tr.PeakRSSKiB)/1024)
	if tr.DigestIssue != "" {
		s += ", DIGEST CHANGED: " + tr.DigestIssue
	}
	return s
}

// versionsLine lists every tool's version (or why it is missing) and the machine.
func versionsLine(tools []tool) string {
	pairs := [][2]string{}
	for _, t := range tools {
		v := t.version
		if t.unavailable != "" {
			v = "(not available)"
		}
		pairs = append(pairs, [2]string{t.name, v})
	}
	pairs = append(pairs, [2]string{"registry", registryTool.version})
	return fmt.Sprintf("tools: %s; %s %s/%s, %d CPUs", joinVersions(pairs),
		runtime.Version(), runtime.GOOS, runtime.GOARCH, runtime.NumCPU())
}
