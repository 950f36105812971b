// Command bench compares ferry with the tools people use today, on registry
// servers on loopback, in two scenarios, and prints one side-by-side table
// for each:
//
//   - copy: `ferry copy` against crane, skopeo and regctl, one image to three
//     distribution registries;
//   - sync: `ferry sync` against regsync and `skopeo sync`, 150 images that
//     share base layers to three ECR registries of ferry's emulator.
//
// Run it with `make bench`, which builds bin/ferry and then runs
//
//	go run ./test/bench --ferry bin/ferry --tools .tools
//
// # What it sets up
//
// Peers are installed into the --tools directory (its bin/ folder) only when
// missing or not the pinned version: crane v0.22.1, regctl v0.11.7, regsync
// v0.11.7 and the distribution registry v3.1.2 with `go install PKG@VERSION`
// (built outside this module, so none of them enters go.mod; the registry
// takes about two minutes to build the first time), and skopeo from
// Debian's package with apt-get when it is not on PATH. Only the tools of
// the scenarios that run are installed.
//
// # The copy scenario
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
// # The WAN profile
//
// `make bench PROFILE=wan` (--profile wan) runs the copy scenario across a
// modelled WAN, the workflow's shape: the copy runs in the source's
// region, the destinations are in others. A shaping TCP proxy (shaper.go)
// sits in front of each registry: the source 1 ms away each way and
// unshaped, each destination 40 ms away each way at 50 MB/s per
// connection in each direction (--src-delay, --dst-delay, --src-rate,
// --dst-rate). Connection set-up is not delayed. Registry storage is on
// tmpfs (/dev/shm), so disk syncs do not dominate. The index is smaller
// (8 × 16 MiB layers), the large image the same 1 GiB layer.
//
// Its rows: ferry with one call for the three destinations, and one call
// per destination in parallel (the workflow's CopyImage, one Lambda per
// destination); each peer per destination in parallel and in sequence.
// Besides the cold and warm times (medians, with the spread over the
// trials) it shows the large copy's time and peak RSS (once per tool),
// and the requests each cold copy and each warm copy sent, counted at the
// proxies. Its last lines are the modelled limit (profile.go states the
// model: every blob at once on its own connection, one round trip of
// checks, an upload start and a PUT per blob, then the manifests; the
// machine's CPU costs nothing) and the goals: ferry's one call at least
// 1.5x, and one call per destination 1.3x, faster cold than the best peer
// in parallel; warm within 1.2 round trips; cold within 1.5x the limit;
// peak RSS at most 1.25x the best peer's. The sync scenario runs on
// loopback only.
//
// --tls (with --profile wan) has every registry speak HTTPS and offer
// HTTP/2, as ECR does, with a certificate of an authority the bench makes
// for the run; every tool trusts it through SSL_CERT_FILE, and none is
// told to speak plain HTTP. The proxies cannot read the requests then, so
// they count connections. It shows what HTTP/2 does across a distance:
// a tool that multiplexes its blobs over one connection gets that one
// connection's bandwidth, and its flow-control window over the round trip.
//
// --hold sets the copy scenario up (registries, proxies, source images),
// prints the references and an example `ferry copy`, and waits for Ctrl-C:
// for timing a copy by hand, e.g. with `ferry copy --verbose`, whose log
// lines carry each step's time. Give each copy a new destination
// repository: a repository written to before makes a warm copy.
//
// # The sync scenario
//
// `ferry sync` lists with the ECR API (DescribeRepositories, DescribeImages)
// and logs in with GetAuthorizationToken, so this scenario's registries are
// ECR registries of ferry's emulator (internal/emulator), started in this
// process with WithOpenPush: a source (111111111111/us-east-1) and three
// destinations, each with its ferry-replication role allowed. The peers
// reach the same registries anonymously over plain HTTP.
//
// The source holds 50 repositories, bench/app-00 to bench/app-49, each with
// tags release-1, release-2 and release-3: 150 single-platform OCI images,
// as an ECR registry holds them (one repository per service, its releases
// as tags). Every image has 4 layers: 2 base layers (2 MiB and 1 MiB, an OS
// and a runtime) shared by all 150 images, 1 layer per repository (512 KiB,
// its dependencies, shared by its three releases) and 1 per tag (256 KiB):
// 352 unique blobs of about 66 MiB, against 564 MiB summed over the images.
// The unique blobs, counted by walking the pushed manifests, are the ideal
// read from the source: each blob once.
//
// Each trial, for each tool, starts a new emulator with empty destinations,
// pushes the source (the base layers mounted across repositories, as a
// registry holding a base image allows; not timed), writes the tool's
// configuration for the new ports, and measures:
//
//   - cold: wall time to sync every release-* tag of bench/* to all three
//     destinations. ferry runs once: `ferry sync --config ferry.yaml
//     --endpoints @endpoints.json`, with one rule (repositories bench/*,
//     tags release-*, the three destinations, approval none) and the
//     emulator's endpoints as `ferry emulator --endpoints-out` writes them.
//     regsync runs once: `regsync once -c regsync.yaml`, one entry of type
//     repository per source repository and destination, tags allow
//     release-.*, every host tls: disabled; regsync's defaults otherwise
//     (parallel 0, one step at a time), with ratelimit min 0 spelled out
//     (regsync then never waits on a source's rate-limit headers) and
//     Docker's configuration not read. skopeo runs once per destination:
//     `skopeo sync --src yaml --dest docker --dest-tls-verify=false --all
//     --preserve-digests skopeo-sync.yaml DST/bench`, the file listing the
//     50 repositories with images-by-tag-regex ^release-.*$ and tls-verify
//     false, and the three times are added up;
//   - requests: every call the registries served during the cold run (ECR
//     API, STS and data plane), from the emulator's request log, with a
//     breakdown by operation in the JSON;
//   - read from the source: the body bytes of the source's blob GETs
//     during the cold run (Call.Bytes), against the unique blobs;
//   - warm: the same command(s) again, with everything present: the median
//     of 3 runs (a warm sync lists 150 images; each run takes long enough).
//
// After the cold run and after the warm runs, every tag in every
// destination is resolved (HEAD manifest) and compared with its source
// digest.
//
// # Both scenarios
//
// Before each timed step the harness calls sync(2), so that the kernel's
// writeback of what the previous step wrote is not timed in the next.
//
// A tool that changes a digest is shown as such in the table, never
// silently timed. Each table shows the median of --trials trials, and its
// last line compares ferry with the best peer of each column against
// ferry's goals (copy: cold 1.5x and warm 5x faster, peak RSS at most 1.25x;
// sync: cold 1.5x and warm 3x faster, the source read exactly once). The
// result is also written as JSON to --out (test/bench/out/result.json by
// default, which git ignores); the sync scenario's is under "sync".
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
//	--trials N       trials per tool and scenario; the tables show medians (default 3)
//	--only LIST      comma-separated tools to run (default ferry,crane,skopeo,regctl,regsync)
//	--scenario LIST  comma-separated scenarios to run (default copy,sync; with --profile wan, copy)
//	--out FILE       JSON result (default test/bench/out/result.json)
//	--large=false    skip the large copy (its time and peak RSS)
//	--profile NAME   loopback (default) or wan
//	--src-delay D    wan: one-way delay to the source (default 1ms)
//	--dst-delay D    wan: one-way delay to each destination (default 40ms)
//	--src-rate MB/s  wan: per connection and direction to the source (default 0: unshaped)
//	--dst-rate MB/s  wan: per connection and direction to each destination (default 50)
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

var allTools = []string{"ferry", "crane", "skopeo", "regctl", "regsync"}

// The scenarios, and the tools each compares.
const (
	scenarioCopy = "copy"
	scenarioSync = "sync"
)

var (
	allScenarios  = []string{scenarioCopy, scenarioSync}
	scenarioTools = map[string][]string{
		scenarioCopy: {"ferry", "crane", "skopeo", "regctl"},
		scenarioSync: {"ferry", "regsync", "skopeo"},
	}
)

// inScenarios reports whether tool takes part in one of scenarios.
func inScenarios(tool string, scenarios []string) bool {
	for _, s := range scenarios {
		if slices.Contains(scenarioTools[s], tool) {
			return true
		}
	}
	return false
}

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
	ferry     string
	tools     string
	out       string
	trials    int
	only      []string
	scenarios []string
	profile   profile
	large     bool // run the large copy (its time and peak RSS)
	hold      bool // set up, print the references, and wait for Ctrl-C instead of measuring
}

func parseFlags(args []string, stderr io.Writer) (options, error) {
	var o options
	var only, scenarios string
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.ferry, "ferry", "bin/ferry", "the ferry binary")
	fs.StringVar(&o.tools, "tools", ".tools", "directory to install tools into (binaries go to DIR/bin)")
	fs.StringVar(&o.out, "out", "test/bench/out/result.json", "where to write the JSON result")
	fs.IntVar(&o.trials, "trials", 3, "trials per tool and scenario; the tables show medians")
	fs.StringVar(&only, "only", strings.Join(allTools, ","), "comma-separated tools to run")
	fs.StringVar(&scenarios, "scenario", strings.Join(allScenarios, ","), "comma-separated scenarios to run (the wan profile: copy only)")
	fs.BoolVar(&o.large, "large", true, "copy the large single-layer image too (its time and peak RSS); false: skip it")
	fs.BoolVar(&o.hold, "hold", false, "set up the copy scenario's registries (and proxies), print the references to copy, and wait for Ctrl-C instead of running the trials: for profiling a copy by hand")
	tlsOn := fs.Bool("tls", false, "wan: the registries speak HTTPS and offer HTTP/2, as ECR does, with a certificate of the bench's own authority that every tool trusts through SSL_CERT_FILE; the proxies then count connections, not requests")
	profileName := fs.String("profile", profileLoopback, "network profile of the copy scenario: loopback, or wan (a shaping proxy in front of each registry)")
	srcDelay := fs.Duration("src-delay", time.Millisecond, "wan: one-way delay to the source")
	dstDelay := fs.Duration("dst-delay", 40*time.Millisecond, "wan: one-way delay to each destination")
	srcRate := fs.Float64("src-rate", 0, "wan: MB/s per connection and direction to the source (0: unshaped)")
	dstRate := fs.Float64("dst-rate", 50, "wan: MB/s per connection and direction to each destination (0: unshaped)")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if !slices.Contains(allProfiles, *profileName) {
		return o, fmt.Errorf("--profile: unknown profile %q (known: %s)", *profileName, strings.Join(allProfiles, ", "))
	}
	if *srcDelay < 0 || *dstDelay < 0 || *srcRate < 0 || *dstRate < 0 {
		return o, errors.New("--src-delay, --dst-delay, --src-rate and --dst-rate must not be negative")
	}
	o.profile = newProfile(*profileName, *srcDelay, *dstDelay, *srcRate*1e6, *dstRate*1e6)
	if *tlsOn && !o.profile.shaped() {
		return o, errors.New("--tls is for --profile wan")
	}
	o.profile.tls = *tlsOn
	scenarioSet := false
	fs.Visit(func(f *flag.Flag) { scenarioSet = scenarioSet || f.Name == "scenario" })
	if o.profile.shaped() && !scenarioSet {
		scenarios = scenarioCopy
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments: %q", fs.Args())
	}
	if o.hold && !slices.Contains(strings.Split(scenarios, ","), scenarioCopy) {
		return o, errors.New("--hold holds the copy scenario's registries: use it with --scenario copy")
	}
	if o.trials < 1 {
		return o, fmt.Errorf("--trials must be at least 1, got %d", o.trials)
	}
	var err error
	if o.only, err = parseList("--only", "tool", only, allTools); err != nil {
		return o, err
	}
	if o.scenarios, err = parseList("--scenario", "scenario", scenarios, allScenarios); err != nil {
		return o, err
	}
	if o.profile.shaped() && slices.Contains(o.scenarios, scenarioSync) {
		return o, errors.New("--profile wan: the sync scenario runs on loopback only (its registries are the emulator's); use --scenario copy")
	}
	return o, nil
}

// parseList splits a comma-separated flag value, checking each name.
func parseList(flagName, what, value string, known []string) ([]string, error) {
	var out []string
	for _, name := range strings.Split(value, ",") {
		name = strings.TrimSpace(name)
		if !slices.Contains(known, name) {
			return nil, fmt.Errorf("%s: unknown %s %q (known: %s)", flagName, what, name, strings.Join(known, ", "))
		}
		if !slices.Contains(out, name) {
			out = append(out, name)
		}
	}
	return out, nil
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
	runCopy := slices.Contains(opts.scenarios, scenarioCopy)
	runSync := slices.Contains(opts.scenarios, scenarioSync)
	var registryBin string
	if runCopy {
		if registryBin, err = in.ensureGoTool(ctx, registryTool); err != nil {
			return fmt.Errorf("install the registry server: %w", err)
		}
	}
	work, err := os.MkdirTemp("", "ferry-bench-")
	if err != nil {
		return fmt.Errorf("create temp dir: %w", err)
	}
	defer os.RemoveAll(work)
	tools := prepareTools(ctx, in, opts, filepath.Join(work, "bin"))
	home := filepath.Join(work, "home")
	if err := os.MkdirAll(home, 0o755); err != nil {
		return fmt.Errorf("create tool HOME: %w", err)
	}
	env := toolEnv(home)
	if opts.profile.tls {
		if opts.profile.certs, err = writeCerts(work); err != nil {
			return err
		}
		// The tools, and this process (its pushes and digest checks),
		// trust the bench's authority in place of the system's.
		env = append(env, "SSL_CERT_FILE="+opts.profile.certs.ca)
		os.Setenv("SSL_CERT_FILE", opts.profile.certs.ca)
	}
	res := result{
		StartedAt:    setupStart,
		Scenarios:    opts.scenarios,
		ToolVersions: versionsLine(copyTools(tools), true),
		Trials:       opts.trials,
		Destinations: destinations,
	}
	if runCopy {
		if err := runCopyScenario(ctx, work, registryBin, env, copyTools(tools), opts.trials, opts.profile, opts.large, opts.hold, stderr, &res); err != nil || opts.hold {
			return err
		}
	}
	if runSync {
		start := time.Now()
		fmt.Fprintln(stderr, "sync scenario: generating the source images")
		st := syncTools(tools)
		sync, err := runSyncScenario(ctx, work, env, st, opts.trials, defaultSyncSpec, stderr)
		if err != nil {
			return err
		}
		sync.ToolVersions = versionsLine(st, false)
		res.Sync = sync
		fmt.Fprintf(stderr, "sync scenario took %s\n", time.Since(start).Round(time.Second))
	}
	fmt.Fprintln(stderr)
	if runCopy {
		writeTable(stdout, res)
	}
	if runSync {
		if runCopy {
			fmt.Fprintln(stdout)
		}
		writeSyncTable(stdout, *res.Sync)
	}
	return writeJSON(opts.out, res)
}

// copyTools returns the tools of the copy scenario, in table order.
func copyTools(tools []tool) []tool {
	var out []tool
	for _, t := range tools {
		if slices.Contains(scenarioTools[scenarioCopy], t.name) {
			out = append(out, t)
		}
	}
	return out
}

// runCopyScenario runs the copy scenario and fills res's copy fields.
func runCopyScenario(ctx context.Context, work, registryBin string, env []string, tools []tool, trials int, p profile, large, hold bool, log io.Writer, res *result) error {
	setupStart := time.Now()
	if p.shaped() {
		tools = wanVariants(tools, p)
	}
	if !large {
		for i := range tools {
			tools[i].skipLarge = true
		}
	}
	b, err := setUp(ctx, work, registryBin, env, tools, p, log)
	if b != nil {
		defer b.stopAll()
	}
	if err != nil {
		return err
	}
	if hold {
		return b.hold(ctx)
	}
	setup := time.Since(setupStart)
	runStart := time.Now()
	rows, err := b.runAll(ctx, tools, trials)
	if err != nil {
		return err
	}
	res.Title = title(b.index.bytes, b.large.bytes, destinations, trials, registryTool.version, p)
	res.IndexBytes, res.IndexDigest = b.index.bytes, b.index.digest.String()
	res.LargeBytes, res.LargeDigest = b.large.bytes, b.large.digest.String()
	res.Profile = p.name
	if p.shaped() {
		res.Network, res.TLS = p.String(), p.tls
		l := p.modelLimits(p.data.layerSize, p.data.largeLayerSize)
		res.Limits = &l
		res.WAN = compareWAN(rows, l, 2*p.dst.delay)
	} else {
		res.Comparison = compare(rows)
	}
	res.Rows = rows
	res.SetupSeconds, res.RunSeconds = setup.Seconds(), time.Since(runStart).Seconds()
	fmt.Fprintf(log, "copy scenario: set-up took %s, trials took %s\n", setup.Round(time.Second), time.Since(runStart).Round(time.Second))
	return nil
}

// runSyncScenario generates the sync source and runs the sync trials.
func runSyncScenario(ctx context.Context, work string, env []string, tools []tool, trials int, spec syncSpec, log io.Writer) (*syncResult, error) {
	start := time.Now()
	source, err := newSyncSource(spec)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(log, "sync scenario: %d images in %d repositories, %d unique blobs (%s) in %s\n",
		len(source.images), len(source.repos), source.uniqueBlobs, humanSize(source.uniqueBytes), time.Since(start).Round(100*time.Millisecond))
	s := &syncScenario{runner: runner{env: env}, work: work, source: source, log: log}
	runStart := time.Now()
	rows, err := s.runAll(ctx, tools, trials)
	if err != nil {
		return nil, err
	}
	return &syncResult{
		Title:        syncTitle(source, destinations, trials),
		Images:       len(source.images),
		Repositories: len(source.repos),
		UniqueBlobs:  source.uniqueBlobs,
		UniqueBytes:  source.uniqueBytes,
		ImageBytes:   source.imageBytes,
		WarmRuns:     warmSyncRuns,
		Rows:         rows,
		Comparison:   compareSync(rows, source.uniqueBytes),
		RunSeconds:   time.Since(runStart).Seconds(),
	}, nil
}

// setUp starts the registries, configures the tools for them and pushes the
// source images. The returned bench, if not nil, must be stopped.
func setUp(ctx context.Context, work, registryBin string, env []string, tools []tool, p profile, log io.Writer) (*bench, error) {
	b := &bench{runner: runner{env: env}, log: log, tls: p.certs}
	storage := ""
	if p.storage != "" {
		var err error
		if storage, err = os.MkdirTemp(p.storage, "ferry-bench-"); err != nil {
			return nil, fmt.Errorf("create registry storage on %s: %w", p.storage, err)
		}
		b.storage = storage
	}
	var err error
	if b.src, err = newRegistry(registryBin, work, storage, "src"); err != nil {
		return b, err
	}
	for i := range destinations {
		d, err := newRegistry(registryBin, work, storage, fmt.Sprintf("dst%d", i+1))
		if err != nil {
			return b, err
		}
		b.dsts = append(b.dsts, d)
	}
	for _, r := range append([]*registry{b.src}, b.dsts...) {
		r.tls = p.certs
	}
	if p.shaped() {
		for i, r := range append([]*registry{b.src}, b.dsts...) {
			l := p.dst
			if i == 0 {
				l = p.src
			}
			if r.proxy, err = startShaper(r.name, r.addr, l, l); err != nil {
				return b, err
			}
			r.proxy.encrypted = p.tls
		}
		fmt.Fprintf(log, "network: %s\n", p)
	}
	fmt.Fprintf(log, "starting registries: source %s, destinations %s\n", b.src.public(), strings.Join(b.dstAddrs(), " "))
	for _, r := range append([]*registry{b.src}, b.dsts...) {
		if err := r.startFresh(ctx); err != nil {
			return b, err
		}
	}
	for i := range tools {
		if tools[i].name == "regctl" && tools[i].unavailable == "" && !p.tls {
			if err := configureRegctl(ctx, tools[i].bin, b.env, append([]*registry{b.src}, b.dsts...)); err != nil {
				tools[i].unavailable = err.Error()
			}
		}
	}
	fmt.Fprintln(log, "generating source images (streamed, incompressible)")
	start := time.Now()
	// Pushed past the proxy: setting up is not timed.
	if b.index, b.large, err = pushSource(ctx, b.src.addr, p.data); err != nil {
		return b, err
	}
	fmt.Fprintf(log, "pushed %s (%s, %s) and %s (%s, %s) in %s\n",
		b.index.repo, humanSize(b.index.bytes), short(b.index.digest),
		b.large.repo, humanSize(b.large.bytes), short(b.large.digest), time.Since(start).Round(100*time.Millisecond))
	return b, nil
}

// hold prints what to copy, and where, and waits for ctx to end. Each copy
// by hand should name a new destination repository: the destinations are
// not restarted, and a repository already written to is a warm copy.
func (b *bench) hold(ctx context.Context) error {
	fmt.Fprintf(b.log, "source images: %s (%s) and %s (%s)\n", b.ref(b.src, b.index.repo), short(b.index.digest), b.ref(b.src, b.large.repo), short(b.large.digest))
	fmt.Fprintf(b.log, "destination registries: %s\n", strings.Join(b.dstAddrs(), " "))
	example := "ferry copy --insecure"
	if b.tls != nil {
		example = "SSL_CERT_FILE=" + b.tls.ca + " ferry copy"
	}
	fmt.Fprintf(b.log, "for example: %s %s %s\n", example, b.ref(b.src, b.index.repo), strings.Join(b.dstRefs("try1/multiarch:v1"), " "))
	fmt.Fprintln(b.log, "holding; Ctrl-C stops the registries and removes their storage")
	<-ctx.Done()
	return nil
}

// stopAll stops every registry and proxy; their storage goes with the
// temp dir, or is removed from tmpfs here.
func (b *bench) stopAll() {
	for _, r := range append([]*registry{b.src}, b.dsts...) {
		if r == nil {
			continue
		}
		if err := r.stop(); err != nil {
			fmt.Fprintf(b.log, "warning: %v\n", err)
		}
		if r.proxy != nil {
			r.proxy.stop()
		}
	}
	if b.storage != "" {
		if err := os.RemoveAll(b.storage); err != nil {
			fmt.Fprintf(b.log, "warning: remove registry storage: %v\n", err)
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
			fmt.Fprintf(b.log, "trial %d/%d %-7s %s\n", n+1, trials, tools[i].name+modeSuffix(tools[i].mode), describeTrial(tr))
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
	s := fmt.Sprintf("cold %.2f s, warm %.3f s", tr.Cold.Seconds(), tr.Warm.Seconds())
	if tr.Large > 0 {
		s += fmt.Sprintf(", large %.2f s, peak RSS %.1f MiB", tr.Large.Seconds(), float64(tr.PeakRSSKiB)/1024)
	}
	if tr.ColdRequests != nil {
		s += fmt.Sprintf(", requests cold %d (%s), warm %d", tr.ColdRequests.total(), tr.ColdRequests, tr.WarmRequests)
	}
	if tr.DigestIssue != "" {
		s += ", DIGEST CHANGED: " + tr.DigestIssue
	}
	return s
}

// versionsLine lists every tool's version (or why it is missing), the
// registry server when the copy scenario runs, and the machine.
func versionsLine(tools []tool, withRegistry bool) string {
	pairs := [][2]string{}
	for _, t := range tools {
		v := t.version
		if t.unavailable != "" {
			v = "(not available)"
		}
		pairs = append(pairs, [2]string{t.name, v})
	}
	if withRegistry {
		pairs = append(pairs, [2]string{"registry", registryTool.version})
	}
	return fmt.Sprintf("tools: %s; %s %s/%s, %d CPUs", joinVersions(pairs),
		runtime.Version(), runtime.GOOS, runtime.GOARCH, runtime.NumCPU())
}
