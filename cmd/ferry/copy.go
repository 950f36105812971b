package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"slices"
	"strings"
	"time"

	"golang.org/x/term"

	"github.com/ferry-dev/ferry/internal/cli"
	"github.com/ferry-dev/ferry/internal/imagecopy"
	"github.com/ferry-dev/ferry/internal/imageref"
)

const copyUsage = `Usage: ferry copy [flags] SRC DST [DST...]

Copy one image, digest for digest, to every DST at once: an image index with
every platform, Docker or OCI, with its signatures, SBOMs and attestations
(OCI referrers and cosign tags). The source is read once; blobs a destination
already has are skipped. The tag is written last, so it never points at a
partial image.

SRC is REGISTRY/REPOSITORY:TAG or REGISTRY/REPOSITORY@sha256:DIGEST; without
a tag it means :latest, and without a registry, Docker Hub (docker.io).
DST is REGISTRY/REPOSITORY[:TAG]; without a tag it takes SRC's tag (or is
written by digest only, when SRC is a digest). ferry copy does not create
repositories: in ECR, create them first (the workflow creates its own).

Credentials come from docker login / podman login (~/.docker/config.json and the
credential helpers it names, e.g. docker-credential-ecr-login for ECR).

A registry that sends or takes a blob slower than 64 KiB/s (or not at all)
over two minutes of waiting on it, or that leaves a manifest request 30 s
unanswered, has that request sent again. --timeout bounds the whole copy:
past it the copy is cancelled as Ctrl-C would cancel it, each destination
is reported, and ferry exits 1.
`

func runCopy(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := cli.NewFlagSet("ferry copy", copyUsage)
	fs.SetOutput(stdout)
	insecure := fs.Bool("insecure", false, "talk plain HTTP, not HTTPS, to every registry (local test registries)")
	jobs := fs.Int("jobs", imagecopy.DefaultJobs, "blobs to stream at once")
	noReferrers := fs.Bool("no-referrers", false, "do not copy signatures, SBOMs and other referrers")
	overwrite := fs.Bool("overwrite", false, "replace a destination tag that points at another image (default: refuse)")
	asJSON := fs.Bool("json", false, "print the results as JSON")
	verbose := fs.Bool("verbose", false, "log each step as JSON on stderr")
	timeout := fs.Duration("timeout", 0, "give the whole copy at most `DURATION` (e.g. 30m): then cancel it, report each destination and exit 1 (default: no limit)")
	args, err := cli.Parse(fs, args)
	if err != nil {
		return err
	}
	if len(args) < 2 {
		return usagef("copy needs a source and at least one destination: ferry copy [flags] SRC DST [DST...] (run 'ferry copy --help' for usage)")
	}
	if *jobs < 1 {
		return usagef("--jobs must be at least 1, not %d", *jobs)
	}
	if *timeout < 0 {
		return usagef("--timeout must not be negative, not %s", *timeout)
	}
	src, err := imageref.Parse(args[0])
	if err != nil {
		return usagef("source %q: %v (want REGISTRY/REPOSITORY:TAG or REGISTRY/REPOSITORY@sha256:DIGEST)", args[0], reason(err))
	}
	var dsts []imagecopy.Destination
	seen := map[string]bool{}
	for _, a := range args[1:] {
		ref, err := destinationRef(a, src)
		if err != nil {
			return err
		}
		if seen[ref.String()] {
			return usagef("destination %s is given twice", ref)
		}
		seen[ref.String()] = true
		dsts = append(dsts, imagecopy.Destination{Ref: ref, Overwrite: *overwrite})
	}

	logger := slog.New(slog.DiscardHandler)
	if *verbose {
		logger = slog.New(slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	copts := []imagecopy.Option{imagecopy.WithJobs(*jobs), imagecopy.WithReferrers(!*noReferrers)}
	if *insecure {
		copts = append(copts, imagecopy.WithPlainHTTPFor(func(string) bool { return true }))
	}
	progress := make([]imagecopy.Progress, len(dsts))
	stopProgress := func() {}
	if f, ok := stderr.(*os.File); ok && !*asJSON && !*verbose && term.IsTerminal(int(f.Fd())) {
		for i := range dsts {
			dsts[i].Progress = &progress[i]
		}
		stopProgress = showProgress(f, progress)
	}
	// Ctrl-C cancels ctx (main): the copy stops and reports what each
	// destination got.
	if *timeout > 0 {
		var stop context.CancelFunc
		ctx, stop = context.WithTimeoutCause(ctx, *timeout, timeoutError{*timeout})
		defer stop()
	}
	results, copyErr := imagecopy.New(logger, copts...).Copy(ctx, imagecopy.Source{Ref: src}, dsts)
	stopProgress() // clear the progress line before the results

	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(results); err != nil {
			return err
		}
	} else {
		printResults(stdout, results)
	}
	if copyErr != nil {
		failed := 0
		for _, r := range results {
			if r.Status == imagecopy.StatusFailed {
				failed++
			}
		}
		if te, ok := errors.AsType[timeoutError](context.Cause(ctx)); ok {
			return fmt.Errorf("%w before the copy finished: %d of %d destinations failed (see above)", te, failed, len(results))
		}
		if _, ok := errors.AsType[cli.Interrupted](context.Cause(ctx)); ok {
			// Blobs are written before any manifest, and a re-run skips
			// those a destination already has.
			return cli.Interrupted{Hint: "a re-run resumes from the blobs already copied"}
		}
		if failed == 1 && len(results) == 1 {
			return results[0].Err
		}
		return fmt.Errorf("%d of %d destinations failed (see above)", failed, len(results))
	}
	return nil
}

// timeoutError is why a copy was cancelled when its --timeout passed.
type timeoutError struct{ after time.Duration }

func (e timeoutError) Error() string { return fmt.Sprintf("the --timeout of %s passed", e.after) }

// destinationRef parses a destination, giving it the source's tag (or
// digest) when it names none.
func destinationRef(s string, src imageref.Reference) (imageref.Reference, error) {
	ref, err := imageref.Parse(s)
	if err != nil {
		return ref, usagef("destination %q: %v (want REGISTRY/REPOSITORY[:TAG])", s, reason(err))
	}
	if _, last, _ := cutLast(s, "/"); !strings.ContainsAny(last, ":@") {
		// No tag given: Parse filled in "latest".
		if src.Digest != "" {
			return ref.WithDigest(src.Digest), nil
		}
		return ref.WithTag(src.Tag), nil
	}
	return ref, nil
}

// reason is what is wrong with a reference, without repeating it.
func reason(err error) error {
	if e, ok := errors.AsType[*imageref.Error](err); ok {
		return e.Reason
	}
	return err
}

// cutLast slices s around the last sep.
func cutLast(s, sep string) (before, after string, found bool) {
	if i := strings.LastIndex(s, sep); i >= 0 {
		return s[:i], s[i+len(sep):], true
	}
	return "", s, false
}

func printResults(w io.Writer, results []imagecopy.Result) {
	for _, r := range results {
		switch r.Status {
		case imagecopy.StatusFailed:
			fmt.Fprintf(w, "✗ %s  failed: %s\n", r.Destination, r.Error)
			if errors.Is(r.Err, http.ErrSchemeMismatch) {
				fmt.Fprintln(w, "  (a local test registry without TLS needs --insecure)")
			}
			if re, ok := errors.AsType[*imagecopy.RegistryError](r.Err); ok && strings.HasPrefix(r.Destination, re.Registry+"/"+re.Repository) && slices.Contains(re.Codes, "NAME_UNKNOWN") {
				fmt.Fprintf(w, "  (ferry copy does not create repositories: create %s first, e.g. with aws ecr create-repository --repository-name %s; the workflow creates them itself)\n", re.Repository, re.Repository)
			}
		case imagecopy.StatusUnchanged:
			fmt.Fprintf(w, "✓ %s  unchanged  %s  (already there)  %s\n", r.Destination, r.Digest, r.Duration.Round(time.Millisecond))
		default:
			fmt.Fprintf(w, "✓ %s  copied  %s  %d blobs (%s), %d skipped, %d mounted, %d manifests, %d referrers  %s\n",
				r.Destination, r.Digest, r.BlobsCopied, size(r.BytesCopied), r.BlobsSkipped, r.BlobsMounted,
				r.ManifestsWritten, r.ReferrersCopied, r.Duration.Round(time.Millisecond))
		}
		if r.Replaced != "" {
			fmt.Fprintf(w, "  replaced %s\n", r.Replaced)
		}
	}
}

// showProgress redraws one status line on a terminal until stopped.
func showProgress(f *os.File, p []imagecopy.Progress) (stop func()) {
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(200 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-done:
				fmt.Fprint(f, "\r\033[K")
				return
			case <-t.C:
				var done, total int64
				for i := range p {
					done, total = done+p[i].Done.Load(), total+p[i].Bytes.Load()
				}
				if total > 0 {
					fmt.Fprintf(f, "\r\033[Kcopying %s of %s", size(done), size(total))
				}
			}
		}
	}()
	return func() { close(done); <-finished }
}

func size(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
