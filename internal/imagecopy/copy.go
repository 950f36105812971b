// Package imagecopy copies container images between OCI registries, digest for
// digest: image indexes with every platform, Docker and OCI media types, and
// the referrers (signatures, SBOMs, attestations) that travel with them.
//
// One Copy call reads the source once and writes every destination at the
// same time: each blob is streamed from the source through a bounded buffer
// to all the destinations that lack it, its digest verified before the last
// chunk is released. Manifests are written after everything they reference,
// and the tag last, so a tag never points at an incomplete image.
//
// Memory stays bounded whatever the image: two chunks per blob in flight,
// and of the manifests only what walking them needs (their references) and
// their first 8 MiB of bodies are held; the others are read again when
// written. A copy reads at most MaxManifestBytes of manifests.
package imagecopy

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ferry-dev/ferry/internal/credentials"
	"github.com/ferry-dev/ferry/internal/imageref"
	"github.com/ferry-dev/ferry/internal/version"
	"golang.org/x/sync/errgroup"
)

// DefaultJobs is the most blobs that stream at once. A Copy starts at 8
// (or fewer, if fewer is set) and adapts between 1 and the most (see
// streams): across a WAN, where one connection carries tens of MB/s,
// throughput grows with the streams in flight.
const DefaultJobs = 16

// chunkSize is the unit a blob is streamed in; two chunks per blob in flight.
const chunkSize = 256 << 10

// DefaultStallTimeout is how long a blob's source may send nothing, or a
// destination take nothing, before its request is cancelled (and retried).
const DefaultStallTimeout = 2 * time.Minute

// metaJobs bounds concurrent small requests (manifest and blob checks).
const metaJobs = 16

// DefaultMetadataTimeout is how long a registry may take to answer a
// manifest or other metadata request before it is cancelled and sent again:
// those are small, and answered in milliseconds when all is well. A blob's
// read and commit wait longer (see WithTransport).
const DefaultMetadataTimeout = 30 * time.Second

// Copier copies images. It is safe for concurrent use. Copies made with
// one Copier share what they wrote: a blob one Copy uploaded to a
// destination registry is mounted from there by the next, not read from
// the source again, so a sync of many images that share layers reads each
// layer once.
type Copier struct {
	log       *slog.Logger
	jobs      int
	rt        http.RoundTripper
	keychain  credentials.Keychain
	backoff   Backoff
	referrers bool
	// plainHTTP says which registries are plain HTTP (WithPlainHTTPFor);
	// schemes is what a loopback registry it leaves out was found to speak.
	plainHTTP func(host string) bool
	schemes   schemes
	rootCAs   *x509.CertPool // WithRootCAs; nil: the system's
	userAgent string
	// monolithic sends each blob in one PUT after the POST (WithMonolithicUploads).
	monolithic bool
	stall      time.Duration
	minRate    int64 // bytes a second, over a stall timeout of waiting
	// metaTimeout is the wait for a metadata request's answer; afterFunc
	// starts its timer (time.AfterFunc; tests replace it).
	metaTimeout time.Duration
	afterFunc   func(time.Duration, func()) (stop func() bool)
	homes       homes    // where this Copier's copies put each blob
	gates       gates    // per registry: requests in flight, throttling
	answered    answered // hosts that have answered: a refusal from one is retried

	// Manifest bytes per Copy: the cap, and what is held in memory
	// (MaxManifestBytes, heldManifestBytes; tests lower them).
	maxManifestBytes, heldManifestBytes int64
	// now reads the clock for the rate meters of the source's reads and of
	// the destinations' writes (time.Now; tests replace them apart).
	now struct{ src, dst func() time.Time }
}

// Option configures a Copier.
type Option func(*Copier)

// WithJobs sets the most blobs that stream at once (default DefaultJobs):
// the window starts at 8 (or n, if lower), grows by one while the copy's
// rate grows, and halves when a destination refuses a stream for load
// (429, 503). As many more blobs have their upload sessions opened ahead,
// waiting their turn. Each stream holds two 256 KiB chunks.
func WithJobs(n int) Option {
	return func(c *Copier) {
		if n > 0 {
			c.jobs = n
		}
	}
}

// WithMonolithicUploads sets how a blob is uploaded (default true): in
// one streamed PUT of its bytes with the digest, after the POST that opens
// the session (the distribution spec's monolithic upload, which
// distribution and ECR accept), or, with false, in a PATCH of its bytes
// and a PUT that commits them, as docker push does: one round trip more
// per blob. A registry that refuses the single PUT (a 400, 405, 411, 415,
// 416 or 501 to it) is sent the blob again the second way, as is every
// later blob to that registry from this Copier.
func WithMonolithicUploads(on bool) Option { return func(c *Copier) { c.monolithic = on } }

// WithStallTimeout sets how long a blob's source may send nothing, or a
// destination take nothing, before that request is cancelled and retried
// (default DefaultStallTimeout). The other destinations go on meanwhile.
// It is also the window the minimum rate is judged over (WithMinRate). The
// default transport waits 2.5 times as long for a registry to answer a
// blob's read or commit once it has been sent in full.
func WithStallTimeout(d time.Duration) Option {
	return func(c *Copier) {
		if d > 0 {
			c.stall = d
		}
	}
}

// WithMinRate sets the slowest, in bytes a second, that a blob's source
// may send it or a destination take it, averaged over a stall timeout of
// waiting on that side, before that request is cancelled and retried like
// a stall (default DefaultMinRate; 0: no minimum, only a stall of no
// progress at all counts).
func WithMinRate(bytesPerSecond int64) Option {
	return func(c *Copier) {
		if bytesPerSecond >= 0 {
			c.minRate = bytesPerSecond
		}
	}
}

// WithMetadataTimeout sets how long a registry may take to answer a
// manifest, tag list, referrers, blob check or upload start request
// (default DefaultMetadataTimeout, 30 s) before it is cancelled and sent
// again. A blob's read and commit have the transport's longer wait.
func WithMetadataTimeout(d time.Duration) Option {
	return func(c *Copier) {
		if d > 0 {
			c.metaTimeout = d
		}
	}
}

// WithRegistryRequests bounds the requests in flight to any one registry,
// over every copy of the Copier at once (default DefaultRegistryRequests).
// Within it the bound adapts: it starts at 16 (or n, if lower), grows by
// one for each window's worth of answers and halves on a 429 (AIMD), so a
// registry throttling past its rate gets about what it takes. A registry
// that answers a request 429 gets no request from the Copier until its
// Retry-After (or a second) has passed. Blob streams are bounded by
// WithJobs instead.
func WithRegistryRequests(n int) Option {
	return func(c *Copier) {
		if n > 0 {
			c.gates.limit = n
		}
	}
}

// WithTransport sets the HTTP transport (default: a clone of
// http.DefaultTransport with compression off, enough idle connections, and
// a wait for an answer, once a request is sent, of 2.5 stall timeouts: the
// wait of a blob's read and commit; metadata requests have their own,
// shorter, one whatever the transport, WithMetadataTimeout).
func WithTransport(rt http.RoundTripper) Option { return func(c *Copier) { c.rt = rt } }

// WithKeychain sets where credentials come from when a Source or Destination
// has no Auth (default credentials.Docker: docker login, credential helpers).
func WithKeychain(kc credentials.Keychain) Option { return func(c *Copier) { c.keychain = kc } }

// WithBackoff sets the retry policy (default DefaultBackoff).
func WithBackoff(b Backoff) Option { return func(c *Copier) { c.backoff = b } }

// WithReferrers sets whether referrers and cosign tags are copied (default true).
func WithReferrers(on bool) Option { return func(c *Copier) { c.referrers = on } }

// WithPlainHTTPFor sets which registries are spoken to over plain HTTP:
// those for which plain returns true, given the registry as a reference
// names it (host[:port]; see PlainHTTPHosts). Any other registry is spoken
// to over HTTPS, but for a loopback one (localhost, 127.0.0.0/8, ::1),
// which, as crane and docker do, gets HTTPS if it answers HTTPS and plain
// HTTP otherwise: one request to its /v2/, once per Copier, tells.
func WithPlainHTTPFor(plain func(host string) bool) Option {
	return func(c *Copier) { c.plainHTTP = plain }
}

// WithRootCAs sets the certificate authorities HTTPS registries (and
// their token services) are checked against (default: the system's,
// which honours SSL_CERT_FILE and SSL_CERT_DIR). It applies to the default
// transport only, not to one given WithTransport.
func WithRootCAs(pool *x509.CertPool) Option { return func(c *Copier) { c.rootCAs = pool } }

// WithUserAgent sets the User-Agent of every request (default
// version.UserAgent(), "ferry/v1.2.3 (go1.26.0; linux/arm64)").
func WithUserAgent(ua string) Option { return func(c *Copier) { c.userAgent = ua } }

// Progress counts what a copy writes to one destination (see
// Destination.Progress). Read it from another goroutine while the copy
// runs: Bytes and Blobs are known once Planned is true.
type Progress struct {
	Planned   atomic.Bool  // the destination's survey is done: what it lacks is known
	Bytes     atomic.Int64 // bytes of the blobs it lacks
	Blobs     atomic.Int64 // blobs it lacks
	Done      atomic.Int64 // of those bytes, written (or mounted) so far
	BlobsDone atomic.Int64 // of those blobs, in place so far
	Finished  atomic.Bool  // the destination is done with, copied, up to date or failed
}

func (p *Progress) add(bytes int64, blobs int64) {
	if p != nil {
		p.Done.Add(bytes)
		p.BlobsDone.Add(blobs)
	}
}

// New returns a Copier. logger may be nil (silent).
func New(logger *slog.Logger, opts ...Option) *Copier {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	c := &Copier{log: logger, jobs: DefaultJobs, keychain: credentials.Docker, backoff: DefaultBackoff, referrers: true, monolithic: true, stall: DefaultStallTimeout,
		minRate: DefaultMinRate, metaTimeout: DefaultMetadataTimeout, maxManifestBytes: MaxManifestBytes, heldManifestBytes: heldManifestBytes,
		plainHTTP: func(string) bool { return false }, userAgent: version.UserAgent()}
	c.afterFunc = func(d time.Duration, f func()) func() bool { return time.AfterFunc(d, f).Stop }
	c.now.src, c.now.dst = time.Now, time.Now
	c.gates.limit = DefaultRegistryRequests
	for _, o := range opts {
		o(c)
	}
	if c.rt == nil {
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.DisableCompression = true // blobs must arrive byte for byte
		// Connections stay open between a copy's phases (checks, blob
		// streams, manifests) and its destinations: a new one costs a
		// round trip, and TLS another.
		t.MaxIdleConnsPerHost = c.jobs + metaJobs
		t.MaxIdleConns = 0 // no bound over all hosts; each host's is above
		if c.rootCAs != nil {
			t.TLSClientConfig = &tls.Config{RootCAs: c.rootCAs, MinVersion: tls.VersionTLS12}
		}
		// HTTP/1.1 only: a connection per request in flight. Over
		// HTTP/2, which most registries offer (ECR among them), every
		// request to a registry shares one TCP connection, so the blob
		// streams a copy runs at once would share one connection's
		// bandwidth, which across a WAN (a round trip of 60-200 ms) is
		// tens of MB/s: the parallel streams would buy nothing.
		// Clone has set DefaultTransport up for HTTP/2, and copied its TLS
		// configuration, which offers h2: that offer goes too, or a
		// registry would answer in HTTP/2 to a client that speaks 1.1.
		t.ForceAttemptHTTP2 = false
		t.Protocols = new(http.Protocols)
		t.Protocols.SetHTTP1(true)
		t.TLSNextProto = map[string]func(string, *tls.Conn) http.RoundTripper{}
		if t.TLSClientConfig == nil {
			t.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12}
		}
		t.TLSClientConfig.NextProtos = []string{"http/1.1"}
		// The wait for an answer once a request is sent (a commit that
		// syncs the blob included): 5 minutes with the default stall
		// timeout. Metadata requests have a shorter one of their own.
		t.ResponseHeaderTimeout = c.stall * 5 / 2
		c.rt = t
	}
	c.rt = userAgent{c.rt, c.userAgent}
	return c
}

// Source is the image to copy: a tag or a digest reference.
type Source struct {
	Ref  imageref.Reference
	Auth *credentials.Credential // nil: from the keychain
	// BeforeTag, when set, is called once, just before the first
	// destination tag is written, when every blob and manifest it points
	// at is in place: an error (say, the source tag has moved on to a later
	// push) writes no destination tag, and each destination with a tag to
	// write fails with it. What was written stays, for a retry to go on
	// from. Referrers' own tags (cosign's) are written before it.
	BeforeTag func(ctx context.Context) error
}

// Destination is where to copy it.
type Destination struct {
	// Ref is the destination tag, or a digest (which must be the source's)
	// to copy without tagging.
	Ref  imageref.Reference
	Auth *credentials.Credential // nil: from the keychain
	// Overwrite replaces a tag that points at another digest; without it
	// such a destination fails with a *ConflictError.
	Overwrite bool
	// Progress, if set, counts what is written there as the copy goes.
	Progress *Progress
	// Empty says the repository held nothing when the caller looked (it
	// was just created): the copy asks only where the tag points, not
	// which blobs and manifests are there, and takes everything as missing
	// but what this Copier has put there since. On a WAN that saves a
	// round trip per blob and manifest.
	Empty bool
}

// Status is what happened at one destination.
type Status string

// Statuses.
const (
	StatusCopied    Status = "copied"    // something was written
	StatusUnchanged Status = "unchanged" // everything was already there
	StatusFailed    Status = "failed"
)

// Result is the outcome at one destination.
type Result struct {
	Destination      string `json:"destination"`
	Digest           string `json:"digest"`
	MediaType        string `json:"mediaType,omitempty"`
	Status           Status `json:"status"`
	Replaced         string `json:"replacedDigest,omitempty"` // the digest the tag pointed at before (overwrite)
	Refused          string `json:"refusedDigest,omitempty"`  // the digest the tag kept (protected)
	BytesCopied      int64  `json:"bytesCopied"`
	BlobsCopied      int    `json:"blobsCopied"`
	BlobsSkipped     int    `json:"blobsSkipped"`
	BlobsMounted     int    `json:"blobsMounted"`
	ManifestsWritten int    `json:"manifestsWritten"`
	ReferrersCopied  int    `json:"referrersCopied"`
	// Referrers is every referrer the copy took along, found in the source
	// when it started and, after a copy that succeeded, in the
	// destination: what a check of the copy should look for. One pushed
	// since is not in it (nor, unless it was there already, copied).
	Referrers []Referrer    `json:"referrers,omitempty"`
	Duration  time.Duration `json:"durationNs"`
	Error     string        `json:"error,omitempty"`
	Err       error         `json:"-"`
}

// Referrer is a manifest that travels with the image: a signature, SBOM or
// attestation.
type Referrer struct {
	Digest string `json:"digest"`
	// Tag is the tag it is under: a cosign tag (sha256-<hex>.sig, .att,
	// .sbom) or the OCI referrers fallback tag (sha256-<hex>); "" for a
	// referrer found through the referrers API, which is there by digest.
	Tag string `json:"tag,omitempty"`
}

// Copy copies src to every destination. It returns one Result per
// destination, in order, and an error joining every destination's failure
// (nil when all succeeded). A failure at one destination never stops the
// others.
func (c *Copier) Copy(ctx context.Context, src Source, dsts []Destination) ([]Result, error) {
	start := time.Now()
	// Whatever Copy started (tag listing, referrer discovery) ends with it.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	results := make([]Result, len(dsts))
	for i, d := range dsts {
		results[i].Destination = d.Ref.String()
	}
	jobs := make([]*destJob, len(dsts))
	for i, d := range dsts {
		jobs[i] = &destJob{d: d, res: &results[i]}
	}
	// Connect to the destinations while the source is read.
	var connected sync.WaitGroup
	for _, j := range jobs {
		connected.Go(func() {
			if err := c.connect(ctx, j); err != nil {
				j.fail(err)
			}
		})
	}
	run, err := c.prepare(ctx, src)
	connected.Wait()
	if err != nil {
		cancel() // the tags' HEADs are not needed
		for _, j := range jobs {
			_ = j.awaitTag()
		}
		for i := range results {
			results[i].Status, results[i].Err, results[i].Error = StatusFailed, err, err.Error()
			results[i].Duration = time.Since(start)
			jobs[i].finish()
		}
		return results, &SourceError{Ref: src.Ref.String(), Err: err}
	}
	for _, j := range jobs {
		j.res.Digest, j.res.MediaType = run.root.digest, run.root.mediaType
	}
	run.copy(ctx, jobs)
	var referrers []Referrer
	if c.referrers {
		extras, _ := run.loadExtras(ctx) // loaded by every destination's survey
		for _, e := range extras {
			referrers = append(referrers, Referrer{Digest: e.node.digest, Tag: e.tag})
		}
	}

	var errs []error
	for _, j := range jobs {
		r := j.res
		r.Duration = j.finish().Sub(start) // its own time: one that needed nothing is done early
		r.Referrers = referrers
		switch {
		case j.err != nil:
			r.Status, r.Err, r.Error = StatusFailed, j.err, j.err.Error()
			errs = append(errs, fmt.Errorf("%s: %w", r.Destination, j.err))
		case r.ManifestsWritten > 0 || r.BlobsCopied > 0 || r.BlobsMounted > 0:
			r.Status = StatusCopied
		default:
			r.Status = StatusUnchanged
		}
		c.log.LogAttrs(ctx, slog.LevelInfo, "copy finished", slog.String("destination", r.Destination),
			slog.String("digest", r.Digest), slog.String("status", string(r.Status)), slog.Int64("bytes", r.BytesCopied))
	}
	return results, errors.Join(errs...)
}

// run is one Copy: the source, read once, and what travels with it.
type run struct {
	c         *Copier
	src       *repo
	manifests *manifests // the source's, read and accounted for
	root      *node
	tags      *tagList        // the source's tags, for referrer discovery
	probe     *referrersProbe // whether the source has the referrers API

	// Loaded on first need, shared by every destination.
	extrasOnce sync.Once
	extras     []extra
	extrasErr  error

	// streams bounds the blobs streaming at once (up to Copier.jobs).
	streams *streams

	// beforeTag is Source.BeforeTag, asked once for every destination.
	beforeTag func(ctx context.Context) error
	tagOnce   sync.Once
	tagErr    error
}

// tagAllowed asks Source.BeforeTag, once for the whole copy.
func (r *run) tagAllowed(ctx context.Context) error {
	if r.beforeTag == nil {
		return nil
	}
	r.tagOnce.Do(func() { r.tagErr = r.beforeTag(ctx) })
	return r.tagErr
}

func (c *Copier) prepare(ctx context.Context, src Source) (*run, error) {
	cred, err := c.credential(ctx, src.Auth, src.Ref)
	if err != nil {
		return nil, err
	}
	r, err := c.openRepo(ctx, src.Ref, cred, "pull")
	if err != nil {
		return nil, err
	}
	var tags *tagList
	var probe *referrersProbe
	if c.referrers {
		tags, probe = listTagsAsync(ctx, r), probeReferrers(ctx, r, src.Ref.Digest)
	}
	m := newManifests(r, src.Ref.String(), c.maxManifestBytes, c.heldManifestBytes)
	root, err := m.fetch(ctx, src.Ref.Identifier(), 0)
	if err != nil {
		return nil, err
	}
	run := &run{c: c, src: r, manifests: m, root: root, tags: tags, probe: probe, streams: newStreams(c.jobs, c.now.dst), beforeTag: src.BeforeTag}
	if c.referrers {
		// Start discovery now; destinations wait for it in survey.
		go func() { _, _ = run.loadExtras(ctx) }()
	}
	return run, nil
}

// connect authenticates to a destination repository for push and pull.
func (c *Copier) connect(ctx context.Context, j *destJob) error {
	cred, err := c.credential(ctx, j.d.Auth, j.d.Ref)
	if err != nil {
		return err
	}
	if j.repo, err = c.openRepo(ctx, j.d.Ref, cred, "push,pull"); err != nil {
		return err
	}
	// What the tag points at now needs no source digest: ask while the
	// source is read, and while survey asks about the image.
	j.tagDone = make(chan struct{})
	if j.d.Ref.Tag == "" {
		close(j.tagDone)
		return nil
	}
	j.tag = j.d.Ref.Tag
	go func() {
		defer close(j.tagDone)
		j.existing, j.tagErr = j.repo.headManifest(ctx, j.tag)
	}()
	return nil
}

// awaitTag waits for connect's answer about the destination tag.
func (j *destJob) awaitTag() error {
	if j.tagDone == nil {
		return nil // connect failed before it asked
	}
	<-j.tagDone
	return j.tagErr
}

// tagHolds reports whether connect's answer has come and says the tag
// already points at digest.
func (j *destJob) tagHolds(digest string) bool {
	select {
	case <-j.tagDone:
		return j.tagErr == nil && j.existing == digest
	default:
		return false
	}
}

func (c *Copier) credential(ctx context.Context, given *credentials.Credential, r imageref.Reference) (credentials.Credential, error) {
	if given != nil {
		return *given, nil
	}
	cred, err := c.keychain.Resolve(ctx, r.Registry, r.Repository)
	if err != nil {
		return cred, fmt.Errorf("credentials for %s: %w", r.Registry, err)
	}
	return cred, nil
}

// destJob is the work and the outcome at one destination.
type destJob struct {
	d    Destination
	res  *Result
	repo *repo
	tag  string // tag to write the root under; "" writes it by digest
	// What the tag pointed at before the copy, and the error asking; set
	// by connect's HEAD when tagDone is closed (see awaitTag).
	existing string
	tagErr   error
	tagDone  chan struct{}

	// What this destination lacks, found by survey.
	writes  []write               // manifests to write, in order
	missing map[string]descriptor // blobs to copy

	// referrersAPI is whether the destination serves the referrers API,
	// asked once, the first time a referrer's PUT is answered without
	// OCI-Subject (0 unknown, 1 yes, 2 no).
	referrersAPI int

	mu  sync.Mutex
	err error
	end time.Time // when it was done with (finish)
}

// write is one manifest to put, under its digest or a tag.
type write struct {
	node    *node
	ref     string // digest or tag
	referer *extra // set for a referrer's top manifest
}

func (j *destJob) fail(err error) {
	j.mu.Lock()
	if j.err == nil {
		j.err = err
	}
	j.mu.Unlock()
	j.finish()
}

// finish records, the first time it is called, that the destination is
// done with, and returns when that was.
func (j *destJob) finish() time.Time {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.end.IsZero() {
		j.end = time.Now()
		if p := j.d.Progress; p != nil {
			p.Finished.Store(true)
		}
	}
	return j.end
}

func (j *destJob) failed() bool {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.err != nil
}

func (j *destJob) count(f func(r *Result)) {
	j.mu.Lock()
	defer j.mu.Unlock()
	f(j.res)
}

// copy runs every destination: survey (what is missing), blobs, manifests.
func (r *run) copy(ctx context.Context, jobs []*destJob) {
	var wg sync.WaitGroup
	for _, j := range jobs {
		if j.failed() {
			continue
		}
		wg.Go(func() {
			if err := r.survey(ctx, j); err != nil {
				j.fail(err)
			}
		})
	}
	wg.Wait()
	for _, j := range jobs {
		if !j.writesAnything() {
			j.finish() // up to date (or failed): its time ends here
		}
	}

	r.copyBlobs(ctx, jobs)

	for _, j := range jobs {
		if j.failed() || len(j.writes) == 0 {
			continue
		}
		wg.Go(func() {
			if err := r.writeManifests(ctx, j); err != nil {
				j.fail(err)
			}
			j.finish()
		})
	}
	wg.Wait()
}

// survey connects to a destination and works out what it lacks.
func (r *run) survey(ctx context.Context, j *destJob) error {
	c := r.c
	dref := j.d.Ref
	rootDigest := r.root.digest
	p := surveyor{ctx: ctx, src: r.manifests, dst: j.repo, seen: map[string]bool{}, missing: map[string]descriptor{}, empty: j.d.Empty}
	// Ask about the whole image at once, while the tag's answer is on its
	// way (unless it has come, and says the image is there) and the
	// referrers are found: one round trip for all of it, not one for the
	// tag and then one for the image. If the tag turns out to hold the
	// image already, the answers are not needed.
	lookCtx, stopLook := context.WithCancel(ctx)
	var lookErr error
	looked := make(chan struct{}) // closed once lookErr is set
	if !j.d.Empty && !j.tagHolds(rootDigest) {
		go func() { lookErr = p.look(lookCtx, r.root); close(looked) }()
	} else {
		close(looked)
	}
	// The referrers, once found, are asked about in a wave of their own,
	// beside the image's: a referrer pushed after the image (a late
	// signature) is looked for in the same round trip as the tag.
	extrasCtx, stopExtras := context.WithCancel(ctx)
	var x extrasLook
	extrasLooked := make(chan struct{}) // closed once x is set
	if r.c.referrers {
		go func() {
			defer close(extrasLooked)
			// The copy's context: the referrers are found once for every
			// destination.
			x.extras, x.err = r.loadExtras(ctx)
			if x.err == nil && len(x.extras) > 0 && !j.d.Empty {
				x.refs, x.blobs, x.err = p.lookExtras(extrasCtx, x.extras)
			}
		}()
	} else {
		close(extrasLooked)
	}
	defer func() {
		stopLook()
		stopExtras()
		<-looked
		<-extrasLooked
	}()
	if err := j.awaitTag(); err != nil {
		return err
	}
	if dref.Digest != "" && dref.Digest != rootDigest {
		return fmt.Errorf("destination digest %s is not the source's %s", dref.Digest, rootDigest)
	}
	existing := j.existing
	if existing != "" && existing != rootDigest {
		if !j.d.Overwrite {
			j.res.Refused = existing
			return &ConflictError{Reference: dref.String(), Existing: existing, Wanted: rootDigest}
		}
		j.res.Replaced = existing
	}
	if existing == rootDigest {
		stopLook() // the image is there: its answers are not needed
	}
	<-looked
	if lookErr != nil && existing != rootDigest {
		return lookErr
	}
	<-extrasLooked
	if x.err != nil {
		return x.err
	}
	extras := x.extras
	if x.refs != nil {
		if p.refs == nil {
			p.refs, p.blobs = map[string]string{}, map[string]bool{}
		}
		maps.Copy(p.refs, x.refs)
		maps.Copy(p.blobs, x.blobs)
	}
	for i := range extras {
		if err := p.extra(&extras[i]); err != nil {
			return err
		}
	}
	if existing != rootDigest {
		if err := p.tree(r.root, j.tag); err != nil {
			return err
		}
	}
	j.writes = p.writes
	// Which blobs are already there: one HEAD each, concurrently.
	var mu sync.Mutex
	j.missing = map[string]descriptor{}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(metaJobs)
	for _, b := range p.missing {
		if j.d.Empty {
			j.missing[b.Digest] = b // copyBlob skips what this Copier put there
			continue
		}
		if ok, known := p.blobs[b.Digest]; known {
			mu.Lock()
			if ok {
				j.res.BlobsSkipped++
			} else {
				j.missing[b.Digest] = b
			}
			mu.Unlock()
			continue
		}
		g.Go(func() error {
			ok, err := j.repo.hasBlob(gctx, b.Digest)
			if err != nil {
				return err
			}
			mu.Lock()
			defer mu.Unlock()
			if ok {
				j.res.BlobsSkipped++
			} else {
				j.missing[b.Digest] = b
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	c.log.LogAttrs(ctx, slog.LevelDebug, "planned", slog.String("destination", dref.String()),
		slog.String("existing", existing), slog.Int("manifests", len(j.writes)),
		slog.Int("blobs", len(j.missing)), slog.Int("blobsPresent", j.res.BlobsSkipped))
	if p := j.d.Progress; p != nil {
		var total int64
		for _, b := range j.missing {
			total += b.Size
		}
		p.Bytes.Store(total)
		p.Blobs.Store(int64(len(j.missing)))
		p.Planned.Store(true)
	}
	return nil
}

// surveyor collects, for one destination, the manifests it lacks (children
// before parents) and the blobs those manifests reference.
type surveyor struct {
	ctx     context.Context
	src     *manifests
	dst     *repo
	seen    map[string]bool
	writes  []write
	missing map[string]descriptor
	empty   bool // the repository was empty: ask nothing

	// What look and lookExtras found out, each in one wave: what each
	// manifest digest of the image and its referrers, and each referrer's
	// tag, resolves to ("" missing), and whether each blob is there. tree
	// and extra ask about anything else as they go.
	refs  map[string]string
	blobs map[string]bool
}

// look asks the destination about every manifest under root and every
// blob they reference, all at once: one round trip, where walking the
// tree (the index, then its images, then their blobs) takes three. A blob
// under a manifest that turns out to be there is asked about for nothing:
// a request more, not a round trip more. The source's manifests are near
// (the copy runs beside the source), and read once for every destination.
func (p *surveyor) look(ctx context.Context, root *node) error {
	refs, blobs, err := p.ask(ctx, []*node{root}, nil)
	if err != nil {
		return err
	}
	p.refs, p.blobs = refs, blobs
	return nil
}

// extrasLook is what a destination was found to hold of the referrers.
type extrasLook struct {
	extras []extra
	refs   map[string]string // as surveyor.refs
	blobs  map[string]bool
	err    error
}

// lookExtras asks, all at once, about the referrers' tags, their manifests
// and the blobs these reference.
func (p *surveyor) lookExtras(ctx context.Context, extras []extra) (map[string]string, map[string]bool, error) {
	roots := make([]*node, len(extras))
	var tags []string
	for i, e := range extras {
		roots[i] = e.node
		if e.tag != "" {
			tags = append(tags, e.tag)
		}
	}
	return p.ask(ctx, roots, tags)
}

// ask sends the destination, at once, a HEAD for each manifest under
// roots, each blob they reference, and each tag; it reads nothing of p's
// answers, so that the image's and the referrers' waves may go at once.
// It returns what each manifest digest and tag resolves to ("" when
// missing; a tag never looks like a digest) and whether each blob is there.
func (p *surveyor) ask(ctx context.Context, roots []*node, tags []string) (map[string]string, map[string]bool, error) {
	refs := slices.Clone(tags) // and each manifest's digest
	var blobs []string
	seen := map[string]bool{}
	var walk func(n *node) error
	walk = func(n *node) error {
		if seen[n.digest] {
			return nil
		}
		seen[n.digest] = true
		refs = append(refs, n.digest)
		for _, b := range n.blobs {
			if !seen[b.Digest] {
				seen[b.Digest] = true
				blobs = append(blobs, b.Digest)
			}
		}
		// The copy's context, not ctx: the children are read once for
		// every destination (loadChildren keeps the outcome), and this
		// destination's checks may be called off (its tag already holds
		// the image) while another's still need them.
		children, err := n.loadChildren(p.ctx, p.src)
		if err != nil {
			return err
		}
		for _, c := range children {
			if err := walk(c); err != nil {
				return err
			}
		}
		return nil
	}
	for _, root := range roots {
		if err := walk(root); err != nil {
			return nil, nil, err
		}
	}
	resolved, present := make(map[string]string, len(refs)), make(map[string]bool, len(blobs))
	var mu sync.Mutex
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(metaJobs)
	for _, ref := range refs {
		g.Go(func() error {
			have, err := p.dst.headManifest(gctx, ref)
			mu.Lock()
			defer mu.Unlock()
			resolved[ref] = have
			return err
		})
	}
	for _, d := range blobs {
		g.Go(func() error {
			ok, err := p.dst.hasBlob(gctx, d)
			mu.Lock()
			defer mu.Unlock()
			present[d] = ok
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return nil, nil, err
	}
	return resolved, present, nil
}

// tree adds n and whatever under it the destination lacks; ref is the tag
// to write n under ("" for its digest). A manifest the destination already
// holds is complete, since manifests are always written last.
func (p *surveyor) tree(n *node, tag string) error {
	if p.seen[n.digest] && tag == "" {
		return nil
	}
	p.seen[n.digest] = true
	have, known := p.refs[n.digest]
	if !p.empty && !known {
		var err error
		if have, err = p.dst.headManifest(p.ctx, n.digest); err != nil {
			return err
		}
	}
	if have == "" {
		children, err := n.loadChildren(p.ctx, p.src)
		if err != nil {
			return err
		}
		for _, c := range children {
			if err := p.tree(c, ""); err != nil {
				return err
			}
		}
		for _, b := range n.blobs {
			p.missing[b.Digest] = b
		}
	}
	switch {
	case tag != "":
		p.writes = append(p.writes, write{node: n, ref: tag})
	case have == "":
		p.writes = append(p.writes, write{node: n, ref: n.digest})
	}
	return nil
}

// extra adds a referrer if the destination lacks it.
func (p *surveyor) extra(e *extra) error {
	if e.tag != "" && !p.empty {
		have, known := p.refs[e.tag]
		if !known {
			var err error
			if have, err = p.dst.headManifest(p.ctx, e.tag); err != nil {
				return err
			}
		}
		if have == e.node.digest {
			return nil
		}
	}
	before := len(p.writes)
	if err := p.tree(e.node, e.tag); err != nil {
		return err
	}
	if len(p.writes) > before {
		p.writes[len(p.writes)-1].referer = e
	}
	return nil
}

// writeManifests puts every manifest a destination lacks, children first,
// the tagged root last.
func (r *run) writeManifests(ctx context.Context, j *destJob) error {
	writes := j.writes
	for len(writes) > 0 {
		n := independent(writes, j.tag)
		if n <= 1 {
			if err := r.writeManifest(ctx, j, writes[0]); err != nil {
				return err
			}
			writes = writes[1:]
			continue
		}
		// The images of an index at once: a round trip for all of them,
		// not one each (a registry's PutImage quota answers 429 past its
		// rate, and the gate then backs off).
		g, gctx := errgroup.WithContext(ctx)
		g.SetLimit(metaJobs)
		for _, w := range writes[:n] {
			g.Go(func() error { return r.writeManifest(gctx, j, w) })
		}
		if err := g.Wait(); err != nil {
			return err
		}
		writes = writes[n:]
	}
	return nil
}

// independent returns how many of the writes, from the first, may go at
// once: manifests written by digest, no referrer (their tags and the
// referrers tag are kept in order) and not the tag, none referencing
// another of them (children come before their parents).
func independent(writes []write, tag string) int {
	batch := map[string]bool{}
	for n, w := range writes {
		if w.referer != nil || (tag != "" && w.ref == tag) {
			return n
		}
		for _, k := range w.node.kids {
			if batch[k.Digest] {
				return n
			}
		}
		batch[w.node.digest] = true
	}
	return len(writes)
}

// writeManifest puts one manifest: the tag only if the source allows it
// now, a referrer's tag only if the source's has not moved on.
func (r *run) writeManifest(ctx context.Context, j *destJob, w write) error {
	if j.tag != "" && w.ref == j.tag && w.referer == nil {
		if err := r.tagAllowed(ctx); err != nil {
			return err
		}
	}
	if w.referer != nil && w.referer.tag != "" {
		// A referrer's tag moves when a signature is added (cosign
		// pushes the tag again): the copy that read the newer one
		// writes it, and this one must not put the older back.
		now, err := r.src.headManifest(ctx, w.referer.tag)
		if err != nil {
			return err
		}
		if now != w.node.digest {
			r.c.log.LogAttrs(ctx, slog.LevelInfo, "referrer tag not written: it has moved in the source", slog.String("destination", j.repo.String()),
				slog.String("tag", w.referer.tag), slog.String("copied", w.node.digest), slog.String("source now", now))
			return nil
		}
	}
	raw, err := r.manifests.raw(ctx, w.node)
	if err != nil {
		return err
	}
	indexed, err := j.repo.putManifest(ctx, w.ref, raw)
	if err != nil {
		return err
	}
	r.c.log.LogAttrs(ctx, slog.LevelDebug, "manifest written", slog.String("destination", j.repo.String()),
		slog.String("reference", w.ref), slog.String("digest", w.node.digest), slog.Bool("referrer", w.referer != nil))
	j.count(func(res *Result) { res.ManifestsWritten++ })
	if w.referer == nil {
		return nil
	}
	j.count(func(res *Result) { res.ReferrersCopied++ })
	if w.referer.subject != "" && !indexed {
		return r.keepReferrersTag(ctx, j, w.referer.subject, raw.referrerEntry())
	}
	return nil
}

// keepReferrersTag adds a referrer to the destination's OCI fallback tag
// (sha256-<hex> of its subject) when the destination has no referrers API:
// a PUT answered without OCI-Subject is asked about the API once (a
// registry may serve it without sending the header). Where the tag cannot
// be updated because the repository's tags are immutable, the referrer is
// still there by digest: that is logged, not a failure, since no retry
// could change it.
func (r *run) keepReferrersTag(ctx context.Context, j *destJob, subject string, e referrerEntry) error {
	if j.referrersAPI == 0 {
		_, supported, err := j.repo.referrers(ctx, subject)
		switch {
		case err != nil:
			return err
		case supported:
			j.referrersAPI = 1
		default:
			j.referrersAPI = 2
		}
	}
	if j.referrersAPI == 1 {
		return nil
	}
	err := addToReferrersTag(ctx, j.repo, subject, e)
	var re *RegistryError
	if errors.As(err, &re) && re.immutableTag() {
		r.c.log.LogAttrs(ctx, slog.LevelWarn, "referrers tag not updated: the repository's tags are immutable",
			slog.String("destination", j.repo.String()), slog.String("tag", fallbackTag(subject)), slog.String("referrer", e.Digest))
		return nil
	}
	return err
}

// writesAnything reports whether the destination's survey found blobs to copy or
// manifests to write.
func (j *destJob) writesAnything() bool {
	return !j.failed() && (len(j.missing) > 0 || len(j.writes) > 0)
}
