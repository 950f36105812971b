package emulator

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"regexp"
	"sort"
	"sync"
	"time"
)

// Emulator is a local stand-in for Amazon ECR (control plane and registry
// data plane) and AWS STS. One Emulator holds one STS endpoint and any number
// of registries, one per account and region. See the package documentation
// for what is and is not faithful.
type Emulator struct {
	logger *slog.Logger
	cfg    config

	log       callLog
	stsFaults faults
	sts       *stsState

	mu         sync.Mutex
	started    bool
	closed     bool
	done       chan struct{} // closed by Close
	dataDir    string
	ownDataDir bool
	stsServer  *server
	registries map[string]*Registry // by account/region
}

type config struct {
	referrers    bool
	blobMounting bool
	openPush     bool
	tokenTTL     time.Duration
	now          func() time.Time
	dataDir      string
	callerARN    string
	// scanFindings is the scan-findings file (WithScanFindings), "" for
	// none; noRegistryScanning turns the registry's scanning rule off.
	scanFindings       string
	noRegistryScanning bool
}

// Option configures an Emulator (in New) or one registry (in AddRegistry,
// where it overrides the emulator's setting for that registry only).
type Option func(*config)

// WithReferrers turns the OCI 1.1 referrers API of the data plane on or off
// (default on, as in ECR today). Off, /v2/<repo>/referrers/<digest> answers
// 404, as registries without the API do, and clients fall back to the
// referrers tag schema.
func WithReferrers(enabled bool) Option { return func(c *config) { c.referrers = enabled } }

// WithBlobMounting turns cross-repository blob mounting (POST
// /v2/<repo>/blobs/uploads/?mount=<digest>&from=<repo>) on or off (default
// on). Off, a mount request starts an ordinary upload session (202), which is
// what ECR does when the registry's BLOB_MOUNTING setting is disabled.
func WithBlobMounting(enabled bool) Option { return func(c *config) { c.blobMounting = enabled } }

// WithOpenPush opens the data plane for a developer's laptop: requests with
// no Authorization header at all are served (anonymous pull and push, as
// crane, regctl and docker do against an insecure registry), and a manifest
// or blob upload to a repository that does not exist creates it first with
// CreateRepository's defaults, as ECR's create-on-push with a repository
// creation template does. Requests that carry credentials are checked as
// without the option: "AWS:<token>" basic auth from GetAuthorizationToken,
// and a wrong or expired token is still 401. The ECR control plane is
// unchanged (it still requires SigV4). Default off.
func WithOpenPush() Option { return func(c *config) { c.openPush = true } }

// WithTokenTTL sets how long GetAuthorizationToken tokens are valid (default
// 12 hours, as in ECR).
func WithTokenTTL(d time.Duration) Option { return func(c *config) { c.tokenTTL = d } }

// WithClock sets the emulator's clock, for tests of token and credential
// expiry. Default time.Now.
func WithClock(now func() time.Time) Option { return func(c *config) { c.now = now } }

// WithDataDir stores registry blobs under dir (one subdirectory per
// registry) instead of a temporary directory removed by Close.
func WithDataDir(dir string) Option { return func(c *config) { c.dataDir = dir } }

// WithCallerARN sets the identity of callers that do not use credentials
// issued by this emulator's AssumeRole: GetCallerIdentity returns it, and
// AccessDenied messages name it. Default arn:aws:iam::000000000000:user/ferry-local.
func WithCallerARN(arn string) Option { return func(c *config) { c.callerARN = arn } }

// New returns an emulator that listens nowhere until Start. logger receives
// one Debug record per call (never a token or secret); nil discards.
func New(logger *slog.Logger, opts ...Option) (*Emulator, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	cfg := config{
		referrers:    true,
		blobMounting: true,
		tokenTTL:     12 * time.Hour,
		now:          time.Now,
		callerARN:    "arn:aws:iam::000000000000:user/ferry-local",
	}
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.tokenTTL <= 0 {
		return nil, fmt.Errorf("new emulator: token TTL %s must be positive", cfg.tokenTTL)
	}
	if _, ok := parseARNAccount(cfg.callerARN); !ok {
		return nil, fmt.Errorf("new emulator: caller ARN %q is not an ARN with an account", cfg.callerARN)
	}
	e := &Emulator{
		logger:     logger,
		cfg:        cfg,
		log:        callLog{logger: logger},
		registries: map[string]*Registry{},
		done:       make(chan struct{}),
	}
	e.sts = newSTSState(e)
	return e, nil
}

// Start opens the STS endpoint and the endpoints of every registry added so
// far on 127.0.0.1 ports chosen by the system. Registries added after Start
// are served at once. Cancelling ctx closes the emulator.
func (e *Emulator) Start(ctx context.Context) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return ErrClosed
	}
	if e.started {
		return nil
	}
	dir := e.cfg.dataDir
	if dir == "" {
		tmp, err := os.MkdirTemp("", "ferry-emulator-")
		if err != nil {
			return fmt.Errorf("start emulator: %w", err)
		}
		dir, e.ownDataDir = tmp, true
	}
	e.dataDir = dir
	srv, err := serve(http.HandlerFunc(e.serveSTS))
	if err != nil {
		return fmt.Errorf("start emulator: STS endpoint: %w", err)
	}
	e.stsServer = srv
	for _, r := range e.registries {
		if err := r.start(e.dataDir); err != nil {
			return fmt.Errorf("start emulator: registry %s/%s: %w", r.account, r.region, err)
		}
	}
	e.started = true
	go func() {
		select {
		case <-ctx.Done():
			_ = e.Close()
		case <-e.done:
		}
	}()
	return nil
}

// Close stops every endpoint and removes the temporary blob directory. It is
// safe to call more than once.
func (e *Emulator) Close() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return nil
	}
	e.closed = true
	close(e.done)
	var errs []error
	if e.stsServer != nil {
		errs = append(errs, e.stsServer.close())
	}
	for _, r := range e.registries {
		errs = append(errs, r.close())
	}
	if e.ownDataDir {
		errs = append(errs, os.RemoveAll(e.dataDir))
	}
	return errors.Join(errs...)
}

// The emulator's regular expressions (here and in repository.go and
// sts.go) are compiled on first use, not at start: every command of the
// one ferry binary links this package, and compiling them took 1.4 ms of
// each command's start (GODEBUG=inittrace=1), bounded repeats such as
// {0,127} being the dear part.
var (
	accountRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[0-9]{12}$`) })
	regionRE  = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[a-z]{2}(-[a-z]+)+-[0-9]+$`) })
)

// AddRegistry adds the ECR registry of one account in one region. opts
// override the emulator's WithReferrers, WithBlobMounting, WithOpenPush and
// WithTokenTTL for this registry; the clock, data directory and caller ARN
// are the emulator's.
func (e *Emulator) AddRegistry(account, region string, opts ...Option) (*Registry, error) {
	if !accountRE().MatchString(account) {
		return nil, fmt.Errorf("add registry %s/%s: %w", account, region, ErrInvalidAccount)
	}
	if !regionRE().MatchString(region) {
		return nil, fmt.Errorf("add registry %s/%s: %w", account, region, ErrInvalidRegion)
	}
	cfg := e.cfg
	for _, o := range opts {
		o(&cfg)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return nil, fmt.Errorf("add registry %s/%s: %w", account, region, ErrClosed)
	}
	key := account + "/" + region
	if _, ok := e.registries[key]; ok {
		return nil, fmt.Errorf("add registry %s/%s: %w", account, region, ErrRegistryExists)
	}
	r := newRegistry(e, account, region, cfg)
	if e.started {
		if err := r.start(e.dataDir); err != nil {
			return nil, fmt.Errorf("add registry %s/%s: %w", account, region, err)
		}
	}
	e.registries[key] = r
	return r, nil
}

// Registry returns the registry of account in region, if added.
func (e *Emulator) Registry(account, region string) (*Registry, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	r, ok := e.registries[account+"/"+region]
	return r, ok
}

// Registries returns every registry, ordered by account then region.
func (e *Emulator) Registries() []*Registry {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make([]*Registry, 0, len(e.registries))
	for _, r := range e.registries {
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].account != out[j].account {
			return out[i].account < out[j].account
		}
		return out[i].region < out[j].region
	})
	return out
}

// STSEndpoint is the base URL of the STS endpoint (http://127.0.0.1:port),
// for the STS client's BaseEndpoint. Empty before Start.
func (e *Emulator) STSEndpoint() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.stsServer == nil {
		return ""
	}
	return "http://" + e.stsServer.addr
}

// InjectFault makes the next n STS calls of operation ("AssumeRole",
// "GetCallerIdentity") fail with f.
func (e *Emulator) InjectFault(operation string, n int, f Fault) {
	e.stsFaults.add(operation, n, f)
}

// Calls returns every ECR, STS and registry call served so far, oldest first.
func (e *Emulator) Calls() []Call { return e.log.snapshot() }

// ResetCalls empties the request log.
func (e *Emulator) ResetCalls() { e.log.reset() }

func (e *Emulator) now() time.Time { return e.cfg.now() }

// server is one HTTP endpoint on 127.0.0.1.
type server struct {
	addr string
	srv  *http.Server
}

func serve(h http.Handler) (*server, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &server{addr: ln.Addr().String(), srv: &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}}
	go func() { _ = s.srv.Serve(ln) }()
	return s, nil
}

// close stops the endpoint at once. (A graceful Shutdown would wait for
// connections clients opened but never used, as go-containerregistry's
// scheme probe leaves, for no benefit in a stand-in.)
func (s *server) close() error {
	if s == nil {
		return nil
	}
	return s.srv.Close()
}
