package main

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"slices"
	"strings"
	"syscall"
	"time"

	"golang.org/x/term"

	"github.com/ferry-dev/ferry/internal/cli"
	"github.com/ferry-dev/ferry/internal/credentials"
	"github.com/ferry-dev/ferry/internal/imagecopy"
	"github.com/ferry-dev/ferry/internal/imageref"
	"github.com/ferry-dev/ferry/internal/progress"
	"github.com/ferry-dev/ferry/internal/workflow"
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

Registries are spoken to over HTTPS, but for one on this machine
(localhost, 127.0.0.0/8, ::1), which gets HTTPS if it answers HTTPS and
plain HTTP otherwise. --insecure-registry HOST[:PORT] (repeatable),
--src-insecure and --dst-insecure name plain-HTTP registries. Certificates
are checked against the system's authorities (SSL_CERT_FILE and
SSL_CERT_DIR replace those, as for any Go program) and --ca-file's.

--verify-key FILE copies only an image signed by the key in FILE (cosign's
tag scheme or a sigstore bundle referrer), and exactly the digest verified.

Credentials come from docker login / podman login (~/.docker/config.json and the
credential helpers it names, e.g. docker-credential-ecr-login for ECR).

On a terminal, a line per destination shows its progress; elsewhere (a CI
log), a line goes out at each blob a destination gets and every 5 s.

A registry that sends or takes a blob slower than 64 KiB/s (or not at all)
over two minutes of waiting on it, or that leaves a manifest request 30 s
unanswered, has that request sent again. --timeout bounds the whole copy:
past it the copy is cancelled as Ctrl-C would cancel it, each destination
is reported, and ferry exits 1.
`

func runCopy(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := cli.NewFlagSet("ferry copy", copyUsage)
	fs.SetOutput(stdout)
	var insecureRegistries hostList
	fs.Var(&insecureRegistries, "insecure-registry", "speak plain HTTP to `HOST[:PORT]` (a HOST alone: any port of it); repeatable")
	srcInsecure := fs.Bool("src-insecure", false, "speak plain HTTP to SRC's registry")
	dstInsecure := fs.Bool("dst-insecure", false, "speak plain HTTP to every DST's registry")
	insecure := fs.Bool("insecure", false, "deprecated: plain HTTP to every registry; use --insecure-registry, --src-insecure or --dst-insecure")
	caFile := fs.String("ca-file", "", "also trust the certificate authorities in `FILE` (PEM), beside the system's")
	var verifyKeys fileList
	fs.Var(&verifyKeys, "verify-key", "copy only if SRC carries a signature by the PEM public key in `FILE` (a cosign tag or a sigstore bundle referrer; ECDSA, RSA or Ed25519), and copy exactly the digest verified; repeatable, any one key will do")
	jobs := fs.Int("jobs", imagecopy.DefaultJobs, "blobs to stream at once")
	noReferrers := fs.Bool("no-referrers", false, "do not copy signatures, SBOMs and other referrers")
	overwrite := fs.Bool("overwrite", false, "replace a destination tag that points at another image (default: refuse)")
	asJSON := fs.Bool("json", false, "print the results as JSON")
	verbose := fs.Bool("verbose", false, "log each step as JSON on stderr (instead of the progress)")
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
		return usagef("source %s: %v", imageref.Quote(args[0]), refHint(err, "REGISTRY/REPOSITORY:TAG or REGISTRY/REPOSITORY@sha256:DIGEST"))
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
	plain := map[string]bool{}
	if *srcInsecure {
		plain[src.Registry] = true
	}
	for _, d := range dsts {
		if *dstInsecure {
			plain[d.Ref.Registry] = true
		}
	}
	named := imagecopy.PlainHTTPHosts(insecureRegistries...)
	plainHTTP := func(host string) bool { return *insecure || plain[host] || named(host) }
	copts := []imagecopy.Option{imagecopy.WithJobs(*jobs), imagecopy.WithReferrers(!*noReferrers),
		imagecopy.WithPlainHTTPFor(plainHTTP)}
	var pool *x509.CertPool
	if *caFile != "" {
		if pool, err = caPool(*caFile); err != nil {
			return err
		}
		copts = append(copts, imagecopy.WithRootCAs(pool))
	}
	if len(verifyKeys) > 0 {
		// The signature gate alone: the workflow's, over the source's
		// signatures, before anything is written. The copy then takes the
		// digest that was verified, not whatever the tag says by then.
		digest, err := workflow.VerifySignature(ctx, src, verifyKeys, credentials.Docker, plainHTTP, pool)
		if err != nil {
			return err
		}
		fmt.Fprintf(stderr, "%s: signature verified (%s)\n", src.Name()+"@"+digest, strings.Join(verifyKeys, ", "))
		src = src.WithDigest(digest)
	}
	stopProgress := func() {}
	if !*verbose {
		stopProgress = showProgress(stderr, dsts)
	}
	if *timeout > 0 {
		var stop context.CancelFunc
		ctx, stop = context.WithTimeoutCause(ctx, *timeout, timeoutError{*timeout})
		defer stop()
	}
	// Ctrl-C cancels ctx (main): the copy stops and reports what each
	// destination got.
	copier := imagecopy.New(logger, copts...)
	results, copyErr := copier.Copy(ctx, imagecopy.Source{Ref: src}, dsts)
	stopProgress() // clear the progress lines before the results

	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(results); err != nil {
			return err
		}
	}
	if copyErr == nil {
		if !*asJSON {
			progress.Results(stdout, results, nil)
		}
		return nil
	}
	failed := 0
	for _, r := range results {
		if r.Status == imagecopy.StatusFailed {
			failed++
		}
	}
	if te, ok := errors.AsType[timeoutError](context.Cause(ctx)); ok {
		if !*asJSON {
			progress.Results(stdout, results, hint)
		}
		return fmt.Errorf("%w before the copy finished: %d of %s failed (see above)", te, failed, destinations(len(results)))
	}
	if _, ok := errors.AsType[cli.Interrupted](context.Cause(ctx)); ok {
		if !*asJSON {
			progress.Results(stdout, results, hint)
		}
		// Blobs are written before any manifest, and a re-run skips
		// those a destination already has.
		return cli.Interrupted{Hint: "a re-run resumes from the blobs already copied"}
	}
	if *asJSON {
		// The failures are in the JSON; stderr says that there are some.
		if se, ok := errors.AsType[*imagecopy.SourceError](copyErr); ok {
			return se
		}
		return fmt.Errorf("%d of %s failed (see the results)", failed, destinations(len(results)))
	}
	if se, ok := errors.AsType[*imagecopy.SourceError](copyErr); ok {
		// One failure, the source's: said once, not once per destination.
		reportSource(ctx, stdout, copier, se, src, args[0], dsts)
		return cli.Reported{Err: se}
	}
	progress.Results(stdout, results, hint)
	if failed == 1 && len(results) == 1 {
		return cli.Reported{Err: results[0].Err}
	}
	return cli.Reported{Err: fmt.Errorf("%d of %s failed", failed, destinations(len(results)))}
}

// destinations is "1 destination", "3 destinations".
func destinations(n int) string {
	if n == 1 {
		return "1 destination"
	}
	return fmt.Sprintf("%d destinations", n)
}

// hostList is a repeatable flag of HOST[:PORT] values.
// fileList is a repeatable flag of file names.
type fileList []string

func (f *fileList) String() string { return strings.Join(*f, ",") }

func (f *fileList) Set(v string) error {
	if v == "" {
		return errors.New("want a FILE")
	}
	*f = append(*f, v)
	return nil
}

type hostList []string

func (h *hostList) String() string { return strings.Join(*h, ",") }

func (h *hostList) Set(v string) error {
	if v == "" || strings.Contains(v, "/") {
		return fmt.Errorf("want HOST or HOST:PORT, not %q", v)
	}
	*h = append(*h, v)
	return nil
}

// caPool is the system's certificate authorities and those in file.
func caPool(file string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(file)
	if err != nil {
		return nil, usagef("--ca-file: %v", err)
	}
	pool, err := x509.SystemCertPool()
	if err != nil {
		pool = x509.NewCertPool() // none on this system: only the file's
	}
	if !pool.AppendCertsFromPEM(pem) {
		return nil, usagef("--ca-file %s: no PEM certificate in it (want one or more -----BEGIN CERTIFICATE----- blocks)", file)
	}
	return pool, nil
}

// showProgress shows each destination's progress on w until stopped: in
// place on a terminal, as plain lines in a log.
func showProgress(w io.Writer, dsts []imagecopy.Destination) (stop func()) {
	lines := make([]progress.Destination, len(dsts))
	for i := range dsts {
		dsts[i].Progress = &imagecopy.Progress{}
		lines[i] = progress.Destination{Name: dsts[i].Ref.String(), Progress: dsts[i].Progress}
	}
	f, ok := w.(*os.File)
	terminal := ok && term.IsTerminal(int(f.Fd()))
	interval := time.Second // a log's lines go at blobs and every 5 s: a second is soon enough
	if terminal {
		interval = 200 * time.Millisecond
	}
	d := progress.New(w, terminal, lines, time.Now)
	if terminal {
		if cols, _, err := term.GetSize(int(f.Fd())); err == nil {
			d.SetWidth(cols)
		}
	}
	return progress.Run(d, interval)
}

// hint says what to do about a destination's failure, if ferry knows.
func hint(r imagecopy.Result) string {
	err := r.Err
	if te, ok := errors.AsType[*imagecopy.TLSError](err); ok {
		if te.UnknownAuthority() {
			return fmt.Sprintf("pass --ca-file FILE, the PEM certificate of the authority that signed %s's, or --insecure-registry %s if it also serves plain HTTP", te.Registry, te.Registry)
		}
		return fmt.Sprintf("%s's certificate is not valid for it (expired, or for another name): the registry's operator must renew or reissue it", te.Registry)
	}
	if re, ok := errors.AsType[*imagecopy.RegistryError](err); ok {
		switch {
		case re.PlainToTLS:
			return fmt.Sprintf("drop --insecure-registry %s (or --src-insecure, --dst-insecure, --insecure) for it", re.Registry)
		case strings.HasPrefix(r.Destination, re.Registry+"/"+re.Repository) && slices.Contains(re.Codes, "NAME_UNKNOWN"):
			return fmt.Sprintf("ferry copy does not create repositories: create %s first, e.g. with aws ecr create-repository --repository-name %s; the workflow creates them itself", re.Repository, re.Repository)
		}
	}
	host := r.Destination
	if ref, perr := imageref.Parse(r.Destination); perr == nil {
		host = ref.Registry
	}
	switch {
	case errors.Is(err, http.ErrSchemeMismatch):
		return fmt.Sprintf("%s speaks plain HTTP: pass --insecure-registry %s", host, host)
	case errors.Is(err, syscall.ECONNREFUSED):
		return fmt.Sprintf("nothing listens at %s: is the registry running, and is the port right?", host)
	}
	if re, ok := errors.AsType[*imagecopy.RetriedError](err); ok {
		return fmt.Sprintf("the registry kept failing through %d tries: check that it is up, then run the same command again (what was copied is not copied again)", re.Tries)
	}
	return ""
}

// timeoutError is why a copy was cancelled when its --timeout passed.
type timeoutError struct{ after time.Duration }

func (e timeoutError) Error() string { return fmt.Sprintf("the --timeout of %s passed", e.after) }

// destinationRef parses a destination, giving it the source's tag (or
// digest) when it names none.
func destinationRef(s string, src imageref.Reference) (imageref.Reference, error) {
	ref, err := imageref.Parse(s)
	if err != nil {
		return ref, usagef("destination %s: %v", imageref.Quote(s), refHint(err, "REGISTRY/REPOSITORY[:TAG]"))
	}
	if !strings.Contains(s, "/") {
		// Parse took it for a Docker Hub official image (library/...),
		// which nobody pushes to: most likely a registry without its
		// repository.
		name, _, _ := strings.Cut(s, "@")
		if strings.ContainsAny(name, ".:") || strings.HasPrefix(name, "localhost") {
			return ref, usagef("destination %s names no repository: give REGISTRY/REPOSITORY[:TAG], e.g. %s/%s", imageref.Quote(s), name, lastComponent(src.Repository))
		}
		return ref, usagef("destination %s would be Docker Hub's official image %s, which only Docker publishes: give REGISTRY/REPOSITORY[:TAG]", imageref.Quote(s), ref.Name())
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

func lastComponent(repo string) string {
	_, last, _ := cutLast(repo, "/")
	return last
}

// refHint is what is wrong with a reference, without repeating it, and
// what one looks like.
func refHint(err error, want string) string {
	e, ok := errors.AsType[*imageref.Error](err)
	if !ok {
		return err.Error()
	}
	if errors.Is(e.Reason, imageref.ErrScheme) {
		return e.Reason.Error() + "; plain HTTP is the default for localhost and 127.0.0.1, and --insecure-registry HOST asks for it elsewhere"
	}
	return fmt.Sprintf("%v (want %s)", e.Reason, want)
}

// cutLast slices s around the last sep.
func cutLast(s, sep string) (before, after string, found bool) {
	if i := strings.LastIndex(s, sep); i >= 0 {
		return s[:i], s[i+len(sep):], true
	}
	return "", s, false
}

// reportSource says, once, that the source could not be read, with what
// to do: for a manifest not found, the tags the repository has, and
// whether SRC and DST look the other way round.
func reportSource(ctx context.Context, w io.Writer, c *imagecopy.Copier, se *imagecopy.SourceError, src imageref.Reference, given string, dsts []imagecopy.Destination) {
	r := imagecopy.Result{Destination: src.String(), Status: imagecopy.StatusFailed, Err: se.Err, Error: se.Err.Error()}
	var hints []string
	if errors.Is(se, imagecopy.ErrNotFound) {
		hints = notFoundHints(ctx, c, src, given, dsts)
	} else if h := hint(r); h != "" {
		hints = append(hints, h)
	}
	writeLine(w, fmt.Sprintf("✗ %s  cannot be read: %s", src, se.Err))
	for _, h := range hints {
		writeLine(w, "  hint: "+h)
	}
	names := make([]string, len(dsts))
	for i, d := range dsts {
		names[i] = d.Ref.String()
	}
	writeLine(w, "  nothing was written to "+strings.Join(names, ", "))
}

// notFoundHints explains a source the registry does not have. Its
// lookups are short: they only explain.
func notFoundHints(ctx context.Context, c *imagecopy.Copier, src imageref.Reference, given string, dsts []imagecopy.Destination) []string {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	var hints []string
	if src.Digest == "" {
		tags, complete, err := c.Tags(ctx, src)
		defaulted := !strings.Contains(lastComponent(given), ":")
		switch {
		case err != nil:
		case len(tags) == 0 && complete:
			hints = append(hints, fmt.Sprintf("%s has no tags (or no such repository)", src.Name()))
		case len(tags) > 0:
			h := fmt.Sprintf("%s has no tag %s; it has %s", src.Name(), src.Tag, tagSample(tags, complete))
			if defaulted {
				h = fmt.Sprintf("no tag means :latest, which %s does not have; it has %s", src.Name(), tagSample(tags, complete))
			}
			hints = append(hints, h)
		}
	}
	if len(dsts) == 1 {
		if d, err := c.Resolve(ctx, dsts[0].Ref); err == nil && d != "" {
			hints = append(hints, fmt.Sprintf("the destination %s exists and the source does not: SRC comes first (ferry copy SRC DST); did you mean ferry copy %s %s?",
				dsts[0].Ref, dsts[0].Ref, src))
		}
	}
	return hints
}

// tagSample names up to 8 of tags, the last ones in sort order (usually
// the latest versions), and how many there are.
func tagSample(tags []string, complete bool) string {
	tags = slices.Clone(tags)
	slices.Sort(tags)
	n := len(tags)
	more := ""
	if n > 8 {
		tags = tags[n-8:]
		more = fmt.Sprintf(" (the last 8 of %d)", n)
		if !complete {
			more = fmt.Sprintf(" (the last 8 of more than %d)", n)
		}
	}
	return strings.Join(tags, ", ") + more
}

// writeLine writes s in lines of at most 100 columns.
func writeLine(w io.Writer, s string) {
	progress.WriteWrapped(w, s)
}
