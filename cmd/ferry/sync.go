package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/ferry-dev/ferry/internal/cli"
	"github.com/ferry-dev/ferry/internal/ecr"
	"github.com/ferry-dev/ferry/internal/imagecopy"
	"github.com/ferry-dev/ferry/internal/match"
	"github.com/ferry-dev/ferry/internal/reconcile"
	"github.com/ferry-dev/ferry/internal/workflow"
)

const syncUsage = `Usage: ferry sync --config FILE [--endpoints @FILE] [--dry-run] [--json]
                  [--rule NAME] [--destination ACCOUNT/REGION] [--repository PATTERN] [--approve]

Bring every destination to what the rules select: every tag of every source
repository a rule takes, in each of its destinations, at the source digest,
with its signatures, SBOMs and other referrers. Images pushed before Ferry
was deployed, destinations added to the rules later, pushes whose event was
lost and copies that failed are all copied; what is already there is not
touched.

ferry sync lists the source and each destination with the ECR API
(DescribeRepositories, DescribeImages), compares them, and prints one line
per destination and image:

  in sync / unchanged   the tag is at the source digest, referrers there
  would copy / copied   missing, short of referrers, or stale where the
                        destination's onExistingTag is overwrite
  would fail / failed   stale (the tag is at another digest) where
                        onExistingTag is fail, or the copy failed
  superseded            the source tag moved to another image since it was
                        listed (a push, whose own run copies it); nothing written
  skipped               approval: required, and no --approve
  blocked               cannot be fixed by a copy: an immutable tag at another
                        digest, or an archived source image (ECR answers 404
                        on pull until it is restored)

--dry-run lists and writes nothing. Without it, missing repositories are
created with the destination's settings, then each image is copied once to
every destination that needs it: a layer shared by many images is read from
the source once and uploaded once per destination registry.

Destination registries are listed and written with the destination roles
(ferry-replication, or the rule's role:) and the configuration's
externalId, as the deployed workflow does. ECR and STS endpoints come from
--endpoints (JSON, or @FILE: the file ferry emulator writes); without it the
AWS SDK defaults and your AWS credentials are used.

Exit status: 0 when everything is in sync or copied (blocked items are
reported, not failures); 1 when a copy failed, a stale tag was kept, or a
destination waits for --approve; 2 for bad usage or configuration.
`

func runSync(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := cli.NewFlagSet("ferry sync", syncUsage)
	fs.SetOutput(stdout)
	cfgPath := fs.String("config", "ferry.yaml", "configuration `FILE`")
	endpoints := fs.String("endpoints", os.Getenv(ecr.EnvEndpoints), "ECR/STS endpoints as `JSON`, or @FILE (default $FERRY_AWS_ENDPOINTS)")
	dryRun := fs.Bool("dry-run", false, "list what is in sync and what would be copied or blocked; write nothing")
	asJSON := fs.Bool("json", false, "print one JSON object per destination and image (JSON lines), with a status field")
	rule := fs.String("rule", "", "only the images of the rule `NAME`")
	dest := fs.String("destination", "", "only this destination, `ACCOUNT/REGION`")
	repo := fs.String("repository", "", "only source repositories matching this `PATTERN` (a glob such as team/*, or /regexp/)")
	approve := fs.Bool("approve", false, "copy to destinations with approval: required too (without it they are skipped)")
	images := fs.Int("images", 4, "images copied at once")
	jobs := fs.Int("jobs", 4, "blobs streamed at once per image")
	verbose := fs.Bool("verbose", false, "JSON log of each step on stderr")
	args, err := cli.Parse(fs, args)
	if err != nil {
		return err
	}
	if len(args) > 0 {
		return usagef("sync takes no arguments, got %q (run 'ferry sync --help' for usage)", args)
	}
	if *images < 1 || *jobs < 1 {
		return usagef("--images and --jobs must be at least 1")
	}
	cfg, err := loadConfigFile(*cfgPath, "give the file with --config", stderr)
	if err != nil {
		return err
	}
	filter := reconcile.Filter{Rule: *rule, Destination: *dest}
	if *repo != "" {
		p, err := match.Compile(*repo)
		if err != nil {
			return usagef("--repository: %v", err)
		}
		filter.Repository = &p
	}
	if err := filter.Check(cfg); err != nil {
		return usagef("--rule/--destination: %v", err)
	}
	ep, err := readEndpoints(*endpoints)
	if err != nil {
		return err
	}
	logger := slog.New(slog.DiscardHandler)
	if *verbose {
		logger = slog.New(slog.NewJSONHandler(stderr, nil))
	}
	env, err := syncEnv(ctx, *cfgPath, ep, *endpoints != "")
	if err != nil {
		return err
	}
	s := workflow.NewSync(logger, env, nil, imagecopy.WithJobs(*jobs))
	width := 0
	for _, d := range cfg.Destinations() {
		width = max(width, len(d.ID()))
	}
	out := newSyncPrinter(stdout, *asJSON, *dryRun, width)
	start := time.Now()
	counts, err := s.Run(ctx, workflow.SyncOptions{Filter: filter, DryRun: *dryRun, Approve: *approve, Images: *images}, out.result)
	if _, ok := errors.AsType[cli.Interrupted](context.Cause(ctx)); ok && err != nil {
		return syncInterrupted
	}
	if err != nil {
		return err
	}
	if !*asJSON {
		out.summary(counts, time.Since(start))
	}
	if _, ok := errors.AsType[cli.Interrupted](context.Cause(ctx)); ok {
		return syncInterrupted
	}
	if !counts.Converged() {
		var why []string
		if n := counts[workflow.StatusFailed]; n > 0 {
			why = append(why, plural(n, "image failed", "images failed"))
		}
		if n := counts[workflow.StatusWouldFail]; n > 0 {
			why = append(why, plural(n, "image would fail", "images would fail"))
		}
		if n := counts[workflow.StatusSkipped]; n > 0 {
			why = append(why, plural(n, "image waits", "images wait")+" for approval (run with --approve)")
		}
		return fmt.Errorf("sync: not converged: %s", strings.Join(why, ", "))
	}
	return nil
}

// syncInterrupted is a sync's error when Ctrl-C stopped it. Tags are
// written last, so what was cut short is missing, not broken.
var syncInterrupted = cli.Interrupted{Hint: "a re-run copies only what is still missing"}

// syncEnv is the workflow environment for a sync from this machine: the
// configuration, and AWS clients for real AWS (your credentials) or, with
// endpoints, for local stand-ins (static stand-in keys).
func syncEnv(ctx context.Context, cfgPath string, ep ecr.Endpoints, local bool) (*workflow.Env, error) {
	abs, err := filepath.Abs(cfgPath)
	if err != nil {
		return nil, err
	}
	epJSON, _ := json.Marshal(ep)
	vars := map[string]string{workflow.EnvConfig: abs, ecr.EnvEndpoints: string(epJSON)}
	opts := []func(*awsconfig.LoadOptions) error{}
	if local {
		opts = append(opts, awsconfig.WithCredentialsProvider(credentials.NewStaticCredentialsProvider("FERRYLOCALSYNC", "ferry-local-secret", "")))
	}
	env, err := workflow.LoadEnv(ctx, func(k string) string { return vars[k] }, opts...)
	if err != nil {
		return nil, configError{Err: err}
	}
	return env, nil
}

// readEndpoints parses --endpoints: JSON, or @FILE.
func readEndpoints(v string) (ecr.Endpoints, error) {
	text := strings.TrimSpace(v)
	if text == "" {
		return ecr.Endpoints{}, nil
	}
	if !strings.HasPrefix(text, "{") && !strings.HasPrefix(text, "@") {
		return ecr.Endpoints{}, usagef("--endpoints %q: want JSON ({\"sts\": URL, \"ecr\": {...}}) or @FILE to read it from a file", v)
	}
	if f, ok := strings.CutPrefix(text, "@"); ok {
		b, err := os.ReadFile(f)
		if err != nil {
			return ecr.Endpoints{}, usagef("--endpoints: %v", err)
		}
		text = string(b)
	}
	ep, err := ecr.ParseEndpoints(text)
	if err != nil {
		return ep, usagef("--endpoints: %v", err)
	}
	return ep, nil
}

// syncPrinter prints a sync's results as they come.
type syncPrinter struct {
	w      io.Writer
	json   *json.Encoder
	dryRun bool
	width  int                       // of the destination column
	dests  []string                  // in order of first result
	counts map[string]map[string]int // destination -> status -> n
}

func newSyncPrinter(w io.Writer, asJSON, dryRun bool, width int) *syncPrinter {
	p := &syncPrinter{w: w, dryRun: dryRun, width: width, counts: map[string]map[string]int{}}
	if asJSON {
		p.json = json.NewEncoder(w)
		p.json.SetEscapeHTML(false)
	}
	return p
}

func (p *syncPrinter) result(r workflow.SyncResult) error {
	if p.counts[r.Destination] == nil {
		p.counts[r.Destination] = map[string]int{}
		p.dests = append(p.dests, r.Destination)
	}
	p.counts[r.Destination][r.Status]++
	if p.json != nil {
		return p.json.Encode(r)
	}
	image := r.SourceRepository + ":" + r.Tag
	if r.Repository != r.SourceRepository {
		image += " → " + r.Repository
	}
	detail := short(r.Digest)
	switch r.Status {
	case workflow.StatusCopied:
		detail += fmt.Sprintf("  %s, %d blobs copied, %d mounted", bytesText(r.BytesCopied), r.BlobsCopied, r.BlobsMounted)
		if r.ReplacedDigest != "" {
			detail += ", replaced " + short(r.ReplacedDigest)
		}
	case workflow.StatusFailed:
		detail += "  " + r.Error
	case workflow.StatusWouldCopy:
		detail += "  " + string(r.State)
		if r.Reason != "" {
			detail += ": " + r.Reason
		}
	case workflow.StatusUnchanged, workflow.StatusInSync:
	default:
		if r.Reason != "" {
			detail += "  " + r.Reason
		}
	}
	_, err := fmt.Fprintf(p.w, "  %-10s  %-*s  %s  %s\n", r.Status, p.width, r.Destination, image, detail)
	return err
}

// statusOrder is the order of statuses in the summary.
var statusOrder = []string{workflow.StatusInSync, workflow.StatusUnchanged, workflow.StatusWouldCopy, workflow.StatusCopied,
	workflow.StatusSuperseded, workflow.StatusWouldFail, workflow.StatusFailed, workflow.StatusSkipped, workflow.StatusBlocked}

func (p *syncPrinter) summary(total workflow.SyncCounts, took time.Duration) {
	if len(p.dests) == 0 {
		fmt.Fprintln(p.w, "  no source image is selected by the rules (and filters): nothing to sync")
	}
	line := func(c map[string]int) string {
		var parts []string
		for _, s := range statusOrder {
			if c[s] > 0 {
				parts = append(parts, fmt.Sprintf("%d %s", c[s], s))
			}
		}
		if len(parts) == 0 {
			return "nothing"
		}
		return strings.Join(parts, ", ")
	}
	fmt.Fprintln(p.w)
	slices.Sort(p.dests)
	for _, d := range p.dests {
		fmt.Fprintf(p.w, "  %-*s  %s\n", p.width, d, line(p.counts[d]))
	}
	what := "sync"
	if p.dryRun {
		what = "sync --dry-run (nothing written)"
	}
	fmt.Fprintf(p.w, "%s: %s in %s\n", what, line(total), took.Round(time.Millisecond))
}

func short(digest string) string {
	if len(digest) > 19 {
		return digest[:19] + "…"
	}
	return digest
}

func bytesText(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}
