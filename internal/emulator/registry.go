package emulator

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	ggcrregistry "github.com/google/go-containerregistry/pkg/registry"
)

// Registry is the ECR registry of one account in one region: an ECR
// control-plane endpoint and an OCI distribution data-plane endpoint, each on
// its own 127.0.0.1 port.
type Registry struct {
	em      *Emulator
	account string
	region  string
	cfg     config

	ecrFaults  faults
	dataFaults faults

	ecrServer  *server
	dataServer *server
	handler    http.Handler // go-containerregistry's registry

	// pushMu serialises manifest writes, so the immutability check and the
	// write it guards are atomic, as they are in ECR.
	pushMu sync.Mutex

	// tokenKey signs the nextTokens of list operations (pagination.go).
	tokenKey [32]byte

	mu     sync.Mutex
	repos  map[string]*repository
	tokens map[string]time.Time // data-plane password -> expiry

	onData atomic.Pointer[func(Call)] // OnData's hook
}

// OnData sets fn to be called with each data-plane request, as classified
// (Operation, Method, Repository, Reference), before the request is
// served: for tests that act while a copy is under way, such as pushing a
// signature to the source halfway through. fn runs on the request's own
// goroutine and may make requests of its own (which call it too); nil
// removes it.
func (r *Registry) OnData(fn func(Call)) {
	if fn == nil {
		r.onData.Store(nil)
		return
	}
	r.onData.Store(&fn)
}

func newRegistry(e *Emulator, account, region string, cfg config) *Registry {
	r := &Registry{
		em:      e,
		account: account,
		region:  region,
		cfg:     cfg,
		repos:   map[string]*repository{},
		tokens:  map[string]time.Time{},
	}
	_, _ = rand.Read(r.tokenKey[:]) // crypto/rand.Read never fails
	return r
}

func (r *Registry) start(dataDir string) error {
	dir := filepath.Join(dataDir, r.account+"-"+r.region, "blobs")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("blob directory: %w", err)
	}
	// The registry's own request log goes to the emulator's logger at Debug;
	// it holds methods and paths only (no headers, so no credentials).
	ggcrLog := log.New(io.Discard, "", 0)
	if r.em.logger.Enabled(context.Background(), slog.LevelDebug) {
		ggcrLog = slog.NewLogLogger(r.em.logger.Handler(), slog.LevelDebug)
	}
	r.handler = ggcrregistry.New(
		ggcrregistry.WithBlobHandler(ggcrregistry.NewDiskBlobHandler(dir)),
		ggcrregistry.WithReferrersSupport(r.cfg.referrers),
		ggcrregistry.Logger(ggcrLog),
	)
	ecr, err := serve(http.HandlerFunc(r.serveECR))
	if err != nil {
		return fmt.Errorf("ECR endpoint: %w", err)
	}
	data, err := serve(http.HandlerFunc(r.serveData))
	if err != nil {
		_ = ecr.close()
		return fmt.Errorf("data-plane endpoint: %w", err)
	}
	r.mu.Lock()
	r.ecrServer, r.dataServer = ecr, data
	r.mu.Unlock()
	return nil
}

func (r *Registry) close() error {
	r.mu.Lock()
	ecr, data := r.ecrServer, r.dataServer
	r.mu.Unlock()
	err1 := ecr.close()
	err2 := data.close()
	if err1 != nil {
		return err1
	}
	return err2
}

// Account is the registry's AWS account ID (its ECR registryId).
func (r *Registry) Account() string { return r.account }

// Region is the registry's AWS region.
func (r *Registry) Region() string { return r.region }

// ECREndpoint is the base URL of the ECR control plane
// (http://127.0.0.1:port), for the ECR client's BaseEndpoint. Empty before
// the emulator starts.
func (r *Registry) ECREndpoint() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.ecrServer == nil {
		return ""
	}
	return "http://" + r.ecrServer.addr
}

// Host is the data plane's host:port, the registry part of image references
// (what <account>.dkr.ecr.<region>.amazonaws.com is in AWS). Empty before the
// emulator starts.
func (r *Registry) Host() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.dataServer == nil {
		return ""
	}
	return r.dataServer.addr
}

// InjectFault makes the next n calls to target fail with f. target is an ECR
// operation name ("DescribeImages") or a data-plane class (TargetBlobUpload,
// TargetManifestPush, ...).
func (r *Registry) InjectFault(target string, n int, f Fault) {
	if isDataTarget(target) {
		r.dataFaults.add(target, n, f)
		return
	}
	r.ecrFaults.add(target, n, f)
}

// ClearFaults drops every pending fault of this registry.
func (r *Registry) ClearFaults() {
	r.ecrFaults.clear()
	r.dataFaults.clear()
}

func isDataTarget(t string) bool {
	switch t {
	case TargetPing, TargetManifestPull, TargetManifestPush, TargetBlobPull,
		TargetBlobUpload, TargetTagsList, TargetReferrers, TargetCatalog:
		return true
	}
	return false
}

// ExpireTokens invalidates every data-plane token issued so far, as if 12
// hours had passed.
func (r *Registry) ExpireTokens() {
	r.mu.Lock()
	defer r.mu.Unlock()
	clear(r.tokens)
}

// issueToken returns a new data-plane password and its expiry.
func (r *Registry) issueToken() (string, time.Time) {
	b := make([]byte, 48)
	_, _ = rand.Read(b) // crypto/rand.Read never fails
	tok := base64.RawURLEncoding.EncodeToString(b)
	exp := r.em.now().Add(r.cfg.tokenTTL)
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.em.now()
	for t, e := range r.tokens {
		if !now.Before(e) {
			delete(r.tokens, t)
		}
	}
	r.tokens[tok] = exp
	return tok, exp
}

type tokenState int

const (
	tokenUnknown tokenState = iota
	tokenExpired
	tokenValid
)

func (r *Registry) checkToken(tok string) tokenState {
	r.mu.Lock()
	defer r.mu.Unlock()
	exp, ok := r.tokens[tok]
	switch {
	case !ok:
		return tokenUnknown
	case !r.em.now().Before(exp):
		return tokenExpired
	}
	return tokenValid
}

func (r *Registry) repositoryARN(name string) string {
	return fmt.Sprintf("arn:aws:ecr:%s:%s:repository/%s", r.region, r.account, name)
}

func (r *Registry) repo(name string) (*repository, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	rp, ok := r.repos[name]
	return rp, ok
}
