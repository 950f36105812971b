package workflow

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/ferry-dev/ferry/internal/config"
	"github.com/ferry-dev/ferry/internal/ecr"
	"github.com/ferry-dev/ferry/internal/imagecopy"
	"github.com/ferry-dev/ferry/internal/imageref"
	"github.com/ferry-dev/ferry/internal/reconcile"
)

// Sync brings every destination to what the rules select: it lists the
// difference (internal/reconcile) and copies what is missing, stale (where
// onExistingTag is overwrite) or short of referrers. It is `ferry sync`.
//
// Each source image is copied with one Copy call to every destination that
// needs it, and all copies share one Copier, so a blob is read from the
// source once per run and uploaded once per destination registry; other
// repositories of that registry mount it.
type Sync struct {
	step
	opts  []imagecopy.Option
	gates Gatekeeper
}

// NewSync returns a Sync; roles nil means env.Clients. opts add to the
// copier's defaults.
func NewSync(logger *slog.Logger, env *Env, roles Roles, opts ...imagecopy.Option) *Sync {
	st := newStep(logger, env, roles)
	return &Sync{step: st, opts: opts, gates: newGateKeeper(st, env)}
}

// SyncOptions says what a sync does.
type SyncOptions struct {
	Filter reconcile.Filter
	// DryRun lists the difference and writes nothing.
	DryRun bool
	// Approve lets the sync write to destinations with approval: required.
	// Without it their items are skipped.
	Approve bool
	// Images is how many images are copied at once (default 4).
	Images int
	// Session is the role session name in destinations (default ferry-sync).
	Session string
}

// Sync result statuses, beyond the copy statuses (StatusCopied,
// StatusUnchanged, StatusFailed, StatusSkipped).
const (
	StatusBlocked = "blocked"
	// Dry-run statuses: what applying would do.
	StatusInSync    = "in sync"
	StatusWouldCopy = "would copy"
	StatusWouldFail = "would fail"
)

// SyncResult is one source image at one destination after a sync.
type SyncResult struct {
	reconcile.Item
	Status         string `json:"status"`
	ReplacedDigest string `json:"replacedDigest,omitempty"`
	BytesCopied    int64  `json:"bytesCopied,omitempty"`
	BlobsCopied    int    `json:"blobsCopied,omitempty"`
	BlobsMounted   int    `json:"blobsMounted,omitempty"`
	DurationMs     int64  `json:"durationMs,omitempty"`
	Error          string `json:"error,omitempty"`
}

// SyncCounts adds up a sync's results by status.
type SyncCounts map[string]int

// Converged reports whether nothing failed and nothing waits for an
// approval: the destinations hold what the rules select, blocked items
// aside.
func (c SyncCounts) Converged() bool {
	return c[StatusFailed] == 0 && c[StatusSkipped] == 0 && c[StatusWouldFail] == 0
}

// Run syncs, calling emit with each result (one source repository's at a
// time, in order), and returns the counts. An error means the sync could
// not go on (a listing failed); a failed copy is a result, not an error.
func (s *Sync) Run(ctx context.Context, o SyncOptions, emit func(SyncResult) error) (SyncCounts, error) {
	if o.Images <= 0 {
		o.Images = 4
	}
	if o.Session == "" {
		o.Session = "ferry-sync"
	}
	src := s.cfg.Source
	a := &applier{s: s, o: o, tokens: map[string]*registryLogin{}, images: make(chan struct{}, o.Images)}
	d := reconcile.Discoverer{
		Config: s.cfg,
		Source: reconcile.Registry{API: s.roles.ECR(src.Account, src.Region), Account: src.Account, ID: src.ID()},
		Destination: func(ctx context.Context, cd config.Destination) (reconcile.Lister, error) {
			api, err := s.roles.DestinationECR(ctx, cd.Account, cd.Region, a.role(cd, ecr.AccessRead))
			if err != nil {
				return nil, classifyAWS(fmt.Sprintf("assume role %s for %s", cd.RoleARN(), cd.ID()), err)
			}
			return reconcile.Registry{API: api, Account: cd.Account, ID: cd.ID()}, nil
		},
		Filter: o.Filter,
	}
	// Batches are applied as they come, up to Images at once, their
	// copies sharing the Images slots; each batch's results are emitted
	// after the one before, in repository order.
	counts := SyncCounts{}
	var wg sync.WaitGroup
	var mu sync.Mutex // emitErr; counts and emit run one batch at a time (turn)
	var emitErr error
	batches := make(chan struct{}, o.Images)
	prev := make(chan struct{})
	close(prev)
	err := d.Discover(ctx, func(b reconcile.Batch) error {
		select {
		case batches <- struct{}{}:
		case <-ctx.Done():
			return context.Cause(ctx)
		}
		turn, done := prev, make(chan struct{})
		prev = done
		wg.Go(func() {
			defer func() { <-batches }()
			defer close(done)
			results := a.apply(ctx, b)
			<-turn
			mu.Lock()
			stopped := emitErr != nil
			mu.Unlock()
			if stopped {
				return
			}
			for _, r := range results {
				counts[r.Status]++
				if err := emit(r); err != nil {
					mu.Lock()
					emitErr = err
					mu.Unlock()
					return
				}
			}
		})
		mu.Lock()
		defer mu.Unlock()
		return emitErr
	})
	wg.Wait()
	if err == nil {
		err = emitErr
	}
	return counts, err
}

// applier applies one sync's batches.
type applier struct {
	s      *Sync
	o      SyncOptions
	images chan struct{} // copies in flight, over every batch

	verdicts gateVerdicts // itemGates' verdicts, over every batch

	mu     sync.Mutex
	copier *imagecopy.Copier
	plain  map[string]bool           // the registries spoken to in plain HTTP (local stand-ins)
	tokens map[string]*registryLogin // "account/region role-ARN", or "source"
}

func (a *applier) role(d config.Destination, access string) ecr.Role {
	return ecr.Role{ARN: d.RoleARN(), ExternalID: a.s.cfg.ExternalID, Session: a.o.Session, Access: access}
}

// apply turns one batch of items into results, copying where needed.
func (a *applier) apply(ctx context.Context, b reconcile.Batch) []SyncResult {
	results := make([]SyncResult, len(b.Items))
	type image struct{ tag, digest string }
	groups := map[image][]int{}
	var order []image
	for i, it := range b.Items {
		r := &results[i]
		r.Item = it
		switch {
		case it.State == reconcile.InSync:
			r.Status = StatusUnchanged
			if a.o.DryRun {
				r.Status = StatusInSync
			}
		case it.State == reconcile.Blocked:
			r.Status = StatusBlocked
		case !it.Copy(): // stale, and onExistingTag keeps the tag
			r.Status, r.Error = StatusFailed, it.Reason
			if a.o.DryRun {
				r.Status, r.Error = StatusWouldFail, ""
			}
		case !a.passGates(ctx, it, r):
			// A gate refused it (the same gates as the workflow's), or
			// they could not be checked: r says which.
		case it.ApprovalRequired && !a.o.Approve:
			r.Status, r.Reason = StatusSkipped, "approval required (run with --approve to copy to this destination)"
		case a.o.DryRun:
			r.Status = StatusWouldCopy
		default:
			k := image{it.Tag, it.Digest}
			if _, ok := groups[k]; !ok {
				order = append(order, k)
			}
			groups[k] = append(groups[k], i)
		}
	}
	if len(order) == 0 {
		return results
	}
	// Create the destination repositories that are missing, once each.
	created := map[string]ensured{}
	for _, k := range order {
		for _, i := range groups[k] {
			it := b.Items[i]
			key := it.Destination + "/" + it.Repository
			if _, done := created[key]; done || !it.RepositoryMissing {
				continue
			}
			r, err := NewEnsureRepository(a.s.log, &Env{Config: a.s.cfg}, a.s.roles).Handle(ctx, Replication{Job: a.job(it)})
			created[key] = ensured{err: err, fresh: err == nil && r.Repository != nil && r.Repository.Status == RepositoryCreated}
		}
	}
	var wg sync.WaitGroup
	for _, k := range order {
		select {
		case a.images <- struct{}{}:
		case <-ctx.Done():
			for _, i := range groups[k] {
				results[i].Status, results[i].Error = StatusFailed, context.Cause(ctx).Error()
			}
			continue
		}
		wg.Go(func() {
			defer func() { <-a.images }()
			a.copyImage(ctx, b.SourceRepository, k.tag, k.digest, b.Items, groups[k], results, created)
		})
	}
	wg.Wait()
	return results
}

// passGates checks the gates of it's destination; when they do not pass,
// it sets r's status (blocked, or failed when they could not be checked)
// and reason.
func (a *applier) passGates(ctx context.Context, it reconcile.Item, r *SyncResult) bool {
	ok, reason, err := itemGates(ctx, a.s.gates, a.s.cfg, it, &a.verdicts)
	switch {
	case err != nil:
		r.Status, r.Error = StatusFailed, err.Error()
		if a.o.DryRun {
			r.Status = StatusWouldFail
		}
	case !ok:
		r.Status, r.Reason = StatusBlocked, reason
	}
	return err == nil && ok
}

// ensured is what EnsureRepository did for a repository the listing found
// missing: fresh when it created it (so it is empty), err when it failed.
type ensured struct {
	err   error
	fresh bool
}

// job is the workflow job of an item, for the steps it shares with the
// replication workflow.
func (a *applier) job(it reconcile.Item) Job { return jobOf(a.o.Session, it) }

// copyImage copies one source image to every destination in idx.
func (a *applier) copyImage(ctx context.Context, repo, tag, digest string, items []reconcile.Item, idx []int, results []SyncResult, created map[string]ensured) {
	fail := func(i int, err error) {
		results[i].Status, results[i].Error = StatusFailed, err.Error()
	}
	// The tag may have moved since the listing (a push meanwhile, whose
	// own run copies it): writing this digest under it would undo that.
	now, err := sourceTagDigest(ctx, a.s.roles, a.s.cfg.Source, repo, tag)
	if err != nil {
		for _, i := range idx {
			fail(i, err)
		}
		return
	}
	if now != "" && now != digest {
		for _, i := range idx {
			results[i].Status = StatusSuperseded
			results[i].Reason = fmt.Sprintf("the source tag %s:%s moved to %s since it was listed (a push whose own run copies it); nothing written", repo, tag, now)
		}
		return
	}
	src, err := a.login(ctx, "source", func(ctx context.Context) (ecr.API, string, error) {
		c := a.s.cfg.Source
		return a.s.roles.ECR(c.Account, c.Region), c.Account, nil
	})
	if err != nil {
		for _, i := range idx {
			fail(i, err)
		}
		return
	}
	srcRef, err := imageref.Parse(src.Host + "/" + repo + "@" + digest)
	if err != nil {
		for _, i := range idx {
			fail(i, validationf("source image %s@%s: %v", repo, digest, err))
		}
		return
	}
	a.plainHTTP(src)
	var dsts []imagecopy.Destination
	var which []int
	for _, i := range idx {
		it := items[i]
		ens := created[it.Destination+"/"+it.Repository]
		if ens.err != nil {
			fail(i, ens.err)
			continue
		}
		d, err := destination(a.s.cfg, a.job(it))
		if err != nil {
			fail(i, err)
			continue
		}
		reg, err := a.login(ctx, d.ID()+" "+d.RoleARN(), func(ctx context.Context) (ecr.API, string, error) {
			api, err := a.s.roles.DestinationECR(ctx, d.Account, d.Region, a.role(d, ecr.AccessWrite))
			if err != nil {
				return nil, "", classifyAWS(fmt.Sprintf("assume role %s for %s", d.RoleARN(), d.ID()), err)
			}
			return api, d.Account, nil
		})
		if err != nil {
			fail(i, err)
			continue
		}
		ref, err := imageref.Parse(reg.Host + "/" + it.Repository + ":" + it.Tag)
		if err != nil {
			fail(i, validationf("destination image %s:%s: %v", it.Repository, it.Tag, err))
			continue
		}
		a.plainHTTP(reg)
		dsts = append(dsts, imagecopy.Destination{Ref: ref, Auth: &reg.Credential, Overwrite: it.OnExistingTag == string(config.ExistingTagOverwrite),
			Empty: ens.fresh})
		which = append(which, i)
	}
	if len(dsts) == 0 {
		return
	}
	start := time.Now()
	guard := func(ctx context.Context) error { return tagStillAt(ctx, a.s.roles, a.s.cfg.Source, repo, tag, digest) }
	res, _ := a.copierOf().Copy(ctx, imagecopy.Source{Ref: srcRef, Auth: &src.Credential, BeforeTag: guard}, dsts)
	for k, i := range which {
		r, rr := &results[i], res[k]
		r.Status = string(rr.Status)
		r.ReplacedDigest, r.BytesCopied = rr.Replaced, rr.BytesCopied
		r.BlobsCopied, r.BlobsMounted = rr.BlobsCopied, rr.BlobsMounted
		r.DurationMs = millis(time.Since(start))
		if moved, ok := errors.AsType[*tagMovedError](rr.Err); ok {
			r.Status, r.Reason = StatusSuperseded, moved.Error()+"; nothing written under the tag"
			continue
		}
		if rr.Err != nil {
			op := fmt.Sprintf("copy %s@%s to %s:%s in %s", repo, digest, items[i].Repository, tag, items[i].Destination)
			r.Error = classifyCopy(op, rr.Err).Error()
		}
	}
}

// copierOf returns the sync's Copier, made once so that all its copies
// share their blobs. It speaks plain HTTP to the registries plainHTTP
// noted, and HTTPS to every other.
func (a *applier) copierOf() *imagecopy.Copier {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.copier == nil {
		opts := append([]imagecopy.Option{imagecopy.WithPlainHTTPFor(a.isPlain)}, a.s.opts...)
		a.copier = imagecopy.New(a.s.log, opts...)
	}
	return a.copier
}

// plainHTTP notes reg as plain HTTP if its endpoint is.
func (a *applier) plainHTTP(reg ecr.Registry) {
	if !reg.PlainHTTP {
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.plain == nil {
		a.plain = map[string]bool{}
	}
	a.plain[reg.Host] = true
}

func (a *applier) isPlain(host string) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.plain[host]
}

// login returns the registry token of key (a registry and the role it is
// reached with), logging in once per sync; a failure is tried again by the
// next image. Logins to different registries do not wait for each other.
func (a *applier) login(ctx context.Context, key string, client func(context.Context) (ecr.API, string, error)) (ecr.Registry, error) {
	a.mu.Lock()
	l, ok := a.tokens[key]
	if !ok {
		l = &registryLogin{}
		a.tokens[key] = l
	}
	a.mu.Unlock()
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.reg != nil {
		return *l.reg, nil
	}
	api, account, err := client(ctx)
	if err != nil {
		return ecr.Registry{}, err
	}
	r, err := ecr.Login(ctx, api, account)
	if err != nil {
		return r, classifyAWS("log in to registry "+key, err)
	}
	l.reg = &r
	return r, nil
}

// registryLogin is one registry's token, got once.
type registryLogin struct {
	mu  sync.Mutex
	reg *ecr.Registry
}
