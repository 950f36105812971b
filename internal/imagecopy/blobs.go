package imagecopy

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"sort"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"
)

// errShortBody means the source ended a blob early (a cut connection).
var errShortBody = errors.New("blob ended early")

// copyBlobs copies every missing blob to the destinations that lack it,
// reading each from the source once. At most jobs blobs stream at a time.
// As many more open their upload sessions ahead and wait for a stream
// slot, and a blob gives its slot up as soon as its last byte is sent: so
// neither opening a session nor a commit (where a registry may sync the
// blob to disk, or assemble it in S3) leaves a slot idle.
func (r *run) copyBlobs(ctx context.Context, jobs []*destJob) {
	byBlob := map[string][]*destJob{}
	descs := map[string]descriptor{}
	for _, j := range jobs {
		if j.failed() {
			continue
		}
		for d, b := range j.missing {
			byBlob[d] = append(byBlob[d], j)
			descs[d] = b
		}
	}
	// Largest first: the long transfers start early and the short ones fill
	// in. Blobs take their first stream slot in this order, one turn each,
	// whichever opens its sessions first.
	order := make([]string, 0, len(byBlob))
	for d := range byBlob {
		order = append(order, d)
	}
	sort.Slice(order, func(a, b int) bool {
		if descs[order[a]].Size != descs[order[b]].Size {
			return descs[order[a]].Size > descs[order[b]].Size
		}
		return order[a] < order[b]
	})
	turns := make([]chan struct{}, len(order)+1)
	for i := range turns {
		turns[i] = make(chan struct{})
	}
	close(turns[0])
	var g errgroup.Group
	g.SetLimit(2 * r.c.jobs)
	for i, d := range order {
		t := &turn{wait: turns[i], next: turns[i+1]}
		g.Go(func() error {
			defer t.pass() // also when the blob needed no slot
			r.copyBlob(ctx, descs[d], byBlob[d], t)
			return nil
		})
	}
	_ = g.Wait()
}

// turn orders the blobs' first claims on a stream slot: a blob waits for
// the one before it to have its slot (or to need none), and passes the
// turn on once it has one.
type turn struct {
	wait, next chan struct{}
	once       sync.Once
}

func (t *turn) pass() { t.once.Do(func() { close(t.next) }) }

// smallBlob is the largest blob that streams without a slot: an image's
// config, a signature's payload, an attestation's statement. Its bytes take
// less than a round trip on any link and its memory is two buffers its
// size, so it would gain nothing by waiting behind the layers for a slot
// but a round trip or more of that wait. The slots bound what streams
// cost: bandwidth and memory. (The blobs in flight are bounded all the
// same, at twice --jobs, by copyBlobs's goroutines.)
const smallBlob = 32 << 10

// takeSlot waits for t's turn, then for a free stream slot, and returns
// what gives the slot back once the stream has sent n bytes. A small blob
// takes neither: the blobs sort largest first, so no larger one waits
// for its turn.
func (r *run) takeSlot(ctx context.Context, t *turn, b descriptor) (release func(n int64), err error) {
	if b.Size <= smallBlob {
		t.pass()
		return func(int64) {}, nil
	}
	select {
	case <-t.wait:
	case <-ctx.Done():
		return nil, context.Cause(ctx)
	}
	if err := r.streams.acquire(ctx); err != nil {
		return nil, err
	}
	t.pass()
	return r.streams.release, nil
}

// copyBlob gets one blob to every target: mounted from the source when a
// target shares its registry, streamed once to one target per registry, and
// mounted from that target by the others in the same registry. A registry
// where an earlier Copy of this Copier put the blob gets it by mount from
// there, and one where another Copy is uploading it waits for that upload
// and mounts it (see homes), so the source is not read again. Failures are
// recorded on the target's job.
//
// The registries this call claims, or that hold the blob already, come
// first; those another Copy is uploading to come last, once this call has
// settled its own claims: a Copy never waits while it holds a claim, so two
// Copies that need the same blob in the same registries in another order
// cannot wait for each other.
func (r *run) copyBlob(ctx context.Context, b descriptor, targets []*destJob, t *turn) {
	var regs []string
	byReg := map[string][]*destJob{}
	for _, j := range targets {
		if j.failed() {
			continue
		}
		reg := j.repo.registry
		if _, ok := byReg[reg]; !ok {
			regs = append(regs, reg)
		}
		byReg[reg] = append(byReg[reg], j)
	}
	var now []*destJob
	known := map[string]string{} // registry -> a repository holding the blob
	var claims, later []string
	waits := map[string]<-chan struct{}{}
	for _, reg := range regs {
		home, claim, wait := r.c.homes.try(reg, b.Digest)
		r.c.homes.tryHook(b.Digest)
		switch {
		case claim:
			claims = append(claims, reg)
			now = append(now, byReg[reg]...)
		case home != "":
			known[reg] = home
			now = append(now, byReg[reg]...)
		default:
			waits[reg] = wait
			later = append(later, reg)
		}
	}
	r.send(ctx, b, now, known, t)
	r.settle(b, claims, byReg)
	for _, reg := range later {
		t.pass() // a wait needs no stream slot: the next blob may go
		home, claim, err := r.c.homes.await(ctx, reg, b.Digest, waits[reg])
		if err != nil {
			for _, j := range byReg[reg] {
				j.fail(err)
			}
			continue
		}
		r.send(ctx, b, byReg[reg], map[string]string{reg: home}, t)
		if claim {
			r.settle(b, []string{reg}, byReg)
		}
	}
}

// send gets b to targets, given the repository that already holds it in
// some of their registries (known).
func (r *run) send(ctx context.Context, b descriptor, targets []*destJob, known map[string]string, t *turn) {
	var leaders, followers []*destJob
	from := map[*destJob]string{}
	hosts := map[string]*destJob{} // registry -> the leader streaming to it
	for _, j := range targets {
		if j.failed() {
			continue
		}
		reg := j.repo.registry
		switch home := known[reg]; {
		case home == j.repo.name:
			// Another Copy put it here since this one's survey looked.
			j.count(func(res *Result) { res.BlobsSkipped++ })
			j.d.Progress.add(b.Size, 1)
			continue
		case home != "":
			followers = append(followers, j)
			from[j] = home
			continue
		}
		if l, ok := hosts[reg]; ok && l.repo.name != j.repo.name {
			followers = append(followers, j)
			continue
		}
		hosts[reg] = j
		leaders = append(leaders, j)
	}
	if len(leaders) == 0 {
		t.pass() // mounts need no stream slot
	}
	r.streamWithRetry(ctx, b, leaders, nil, t)
	var again []*destJob
	var opened []string // the sessions the refused mounts opened
	for _, j := range followers {
		src, ok := from[j]
		if !ok {
			if l := hosts[j.repo.registry]; !l.failed() {
				src = l.repo.name
			}
		}
		loc := r.mountOrStart(ctx, b, j, src)
		if loc == "" {
			continue
		}
		again = append(again, j)
		opened = append(opened, loc)
	}
	r.streamWithRetry(ctx, b, again, opened, t)
}

// settle ends this call's claims on b in regs, naming a repository of
// each that holds it now (none when every target there failed).
func (r *run) settle(b descriptor, regs []string, byReg map[string][]*destJob) {
	for _, reg := range regs {
		holder := ""
		for _, j := range byReg[reg] {
			if !j.failed() {
				holder = j.repo.name
				break
			}
		}
		r.c.homes.settle(reg, b.Digest, holder)
	}
}

// mountOrStart tries to mount b into j's repository from another repository
// of the same registry (the source, or from). It returns "" when the blob is
// in place (or j failed), else an upload location to stream into.
func (r *run) mountOrStart(ctx context.Context, b descriptor, j *destJob, from string) string {
	if from == "" && j.repo.registry == r.src.registry {
		from = r.src.name
	}
	mounted, loc, err := j.repo.startUpload(ctx, b.Digest, from)
	if err != nil {
		j.fail(err)
		return ""
	}
	if mounted {
		r.c.log.LogAttrs(ctx, slog.LevelDebug, "blob mounted", slog.String("destination", j.repo.String()),
			slog.String("digest", b.Digest), slog.String("from", from))
		j.count(func(res *Result) { res.BlobsMounted++ })
		j.d.Progress.add(b.Size, 1)
		return ""
	}
	return loc
}

// streamWithRetry streams b to targets, retrying the ones that failed for a
// reason a retry can fix, with backoff, re-reading the source each time.
// opened holds upload sessions already open for the first attempt, one per
// target ("" or nil: none).
func (r *run) streamWithRetry(ctx context.Context, b descriptor, targets []*destJob, opened []string, t *turn) {
	bo := r.c.backoff
	pending := targets
	for attempt := 1; len(pending) > 0; attempt++ {
		errs := r.stream(ctx, b, pending, opened, t)
		opened = nil
		var retry []*destJob
		var hint time.Duration
		fallback := true // every retry is a refused single PUT
		for i, j := range pending {
			err := errs[i]
			if err == nil {
				continue
			}
			if errors.Is(err, errMonolithicRefused) {
				retry = append(retry, j)
				continue
			}
			fallback = false
			if re, ok := errors.AsType[*RegistryError](err); ok && (re.StatusCode == http.StatusTooManyRequests || re.StatusCode == http.StatusServiceUnavailable) {
				r.streams.throttled()
			}
			if ex, ok := errors.AsType[requestRetried](err); ok {
				j.fail(ex.error) // retried already, as often as bo allows
				continue
			}
			if attempt < bo.Attempts && retryable(err) {
				retry = append(retry, j)
				hint = max(hint, retryAfterOf(err))
				continue
			}
			j.fail(err)
		}
		pending = retry
		if len(pending) == 0 {
			return
		}
		if fallback {
			// A registry refused the single PUT: send the blob again, the
			// other way, at once. That is not a failed attempt.
			attempt--
			continue
		}
		r.c.log.WarnContext(ctx, "retrying blob", "digest", b.Digest, "attempt", attempt, "destinations", len(pending))
		t := time.NewTimer(bo.delay(attempt, hint))
		select {
		case <-ctx.Done():
			t.Stop()
			for _, j := range pending {
				j.fail(context.Cause(ctx))
			}
			return
		case <-t.C:
		}
	}
}

// requestRetried is the error of a request that its repo has already
// retried as often as the Backoff allows (the source's blob GET, answered
// 503 or 429 every time): streamWithRetry fails it rather than read the
// source again, which would send that request Attempts times more, each
// with its own retries (Attempts² in all, with a Retry-After of 20 s most
// of a Lambda's 15 minutes on one blob). The re-read is for a stream that
// broke once under way, which no request's retry can resume. The
// workflow's Step Functions Retry still tries the copy again later, since
// the error inside stays retryable (see docs/retries.md).
type requestRetried struct{ error }

func (e requestRetried) Unwrap() error { return e.error }

// stream reads b from the source once and uploads it to every target at the
// same time. It opens the upload sessions first and holds a stream slot only
// from the source GET to the last byte sent, not while the commits are
// answered. It returns one error per target (nil: the blob is there).
func (r *run) stream(ctx context.Context, b descriptor, targets []*destJob, opened []string, t *turn) []error {
	errs := make([]error, len(targets))
	var live []int
	locs := make([]string, len(targets))
	for i, j := range targets {
		if i < len(opened) && opened[i] != "" {
			locs[i] = opened[i]
		} else {
			locs[i] = r.mountOrStart(ctx, b, j, "")
		}
		if locs[i] == "" {
			// Mounted, or failed for good: mountOrStart recorded it.
			continue
		}
		live = append(live, i)
	}
	if len(live) == 0 {
		return errs
	}
	abandon := func(err error) []error {
		var wg sync.WaitGroup
		for _, i := range live {
			errs[i] = err
			wg.Go(func() { targets[i].repo.abandonUpload(ctx, locs[i]) })
		}
		wg.Wait()
		return errs
	}
	release, err := r.takeSlot(ctx, t, b)
	if err != nil {
		return abandon(err)
	}
	// Neither a source that stops sending nor a destination that stops
	// taking may hold the others up for ever: each has r.c.stall to make
	// progress, or its request is cancelled.
	stall := r.c.stall
	srcCtx, srcCancel := context.WithCancelCause(ctx)
	defer srcCancel(nil)
	body, err := r.src.getBlob(srcCtx, b)
	if err != nil {
		release(0)
		return abandon(requestRetried{err})
	}
	srcStalled := fmt.Errorf("blob %s@%s: the source sent nothing for %s: %w", r.src, b.Digest, stall, ErrStalled)
	srcWatch := time.AfterFunc(stall, func() { srcCancel(srcStalled) })
	srcWatch.Stop() // runs only while a read waits for the source
	src := &progressReader{r: body, watch: srcWatch, stall: stall, rate: r.c.meter(r.c.now.src, b.Size), slow: func(why error) error {
		err := fmt.Errorf("blob %s@%s: the source sent %w: %w", r.src, b.Digest, why, ErrStalled)
		srcCancel(err)
		return err
	}}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	bodies := make([]*chunkBody, len(live))
	upErrs := make([]error, len(live))
	var uploads sync.WaitGroup
	for k, i := range live {
		up := newChunkBody()
		bodies[k] = up
		j := targets[i]
		up.progress = j.d.Progress
		upCtx, upCancel := context.WithCancelCause(ctx)
		stalled := fmt.Errorf("upload blob %s to %s: the registry took nothing for %s: %w", b.Digest, j.repo, stall, ErrStalled)
		up.watch, up.stall = time.AfterFunc(stall, func() { upCancel(stalled) }), stall
		up.watch.Stop() // runs only while a chunk waits to be written
		up.rate = r.c.meter(r.c.now.dst, b.Size)
		up.slow = func(why error) {
			upCancel(fmt.Errorf("upload blob %s to %s: the registry took %w: %w", b.Digest, j.repo, why, ErrStalled))
		}
		uploads.Go(func() {
			defer upCancel(nil)
			upErrs[k] = r.c.upload(upCtx, j.repo, locs[i], up, b)
			if cause := context.Cause(upCtx); errors.Is(cause, ErrStalled) {
				upErrs[k] = cause
			}
			up.Close() // unblock the tee if the upload ended early
		})
	}
	srcErr := r.tee(src, b, bodies)
	srcWatch.Stop()
	if cause := context.Cause(srcCtx); errors.Is(cause, ErrStalled) {
		srcErr = cause
	}
	body.Close()
	for _, w := range bodies {
		// Every chunk is written: what is left is the registry's answer,
		// which the transport's ResponseHeaderTimeout bounds.
		w.watch.Stop()
		w.finish(srcErr)
	}
	// The bytes are sent; the commits need no slot.
	if srcErr != nil {
		release(0)
	} else {
		release(b.Size)
	}
	uploads.Wait()
	for k, i := range live {
		if srcErr != nil || upErrs[k] != nil {
			bodies[k].count(-bodies[k].counted) // a retry sends them again
		}
		switch {
		case srcErr != nil:
			errs[i] = srcErr
		case upErrs[k] != nil:
			errs[i] = upErrs[k]
		default:
			r.c.log.LogAttrs(ctx, slog.LevelDebug, "blob copied", slog.String("destination", targets[i].repo.String()),
				slog.String("digest", b.Digest), slog.Int64("bytes", b.Size))
			targets[i].count(func(res *Result) {
				res.BlobsCopied++
				res.BytesCopied += b.Size
			})
			targets[i].d.Progress.add(0, 1)
		}
	}
	return errs
}

var errUploadEnded = errors.New("upload ended")

// errMonolithicRefused marks a blob a registry would not take in a single
// PUT: it is sent again as a PATCH and a committing PUT (see
// WithMonolithicUploads).
var errMonolithicRefused = errors.New("the registry refused the blob in a single PUT; sending it in a PATCH and a PUT")

// upload streams a blob into the upload session at location: in one PUT
// with the digest where the registry takes that, else as a PATCH and a
// committing PUT (repo.upload). It does not retry: body is a stream.
func (c *Copier) upload(ctx context.Context, r *repo, location string, body io.Reader, d descriptor) error {
	if !c.monolithic || (r.gate != nil && r.gate.chunkedOnly.Load()) {
		return r.upload(ctx, location, body, d)
	}
	err := r.putBlob(ctx, location, body, d)
	if re, ok := errors.AsType[*RegistryError](err); ok && refusesMonolithic(re) {
		if r.gate != nil && !r.gate.chunkedOnly.Swap(true) {
			c.log.LogAttrs(ctx, slog.LevelInfo, "registry refused a blob in a single PUT: sending blobs as a PATCH and a PUT from now on",
				slog.String("destination", r.String()), slog.Int("status", re.StatusCode))
		}
		return fmt.Errorf("%w: %w", errMonolithicRefused, err)
	}
	return err
}

// refusesMonolithic reports whether an answer to a blob's single PUT says
// the registry does not take one (as opposed to a fault, which is retried
// as it is, or a refusal of the push itself). A 400 that names what is
// wrong with these bytes or this session (DIGEST_INVALID: corrupted in
// transit; SIZE_INVALID; BLOB_UPLOAD_UNKNOWN) is a fault of this upload,
// not of the method: it must not turn single PUTs off for the registry.
func refusesMonolithic(re *RegistryError) bool {
	switch re.StatusCode {
	case http.StatusBadRequest:
		for _, c := range re.Codes {
			switch c {
			case "DIGEST_INVALID", "SIZE_INVALID", "BLOB_UPLOAD_UNKNOWN":
				return false
			}
		}
		return true
	case http.StatusMethodNotAllowed, http.StatusLengthRequired,
		http.StatusUnsupportedMediaType, http.StatusRequestedRangeNotSatisfiable, http.StatusNotImplemented:
		return true
	}
	return false
}

// putBlob streams a blob into an upload session and commits it in the same
// request: PUT <location>?digest=<digest> with the bytes (the distribution
// spec's monolithic upload). One round trip fewer than a PATCH and a PUT.
// The length is left unknown (chunked transfer encoding, as for the
// PATCH), so that net/http writes each chunk straight from the tee's
// buffer: with the length given it reads the body through a 32 KiB buffer
// of its own, eight copies and writes a chunk. A registry that wants the
// length (411) or will not take the bytes in the PUT gets the blob as a
// PATCH and a PUT instead.
func (r *repo) putBlob(ctx context.Context, location string, body io.Reader, d descriptor) (err error) {
	op := "upload blob " + d.Digest
	defer func() {
		if err != nil {
			r.abandonUpload(ctx, location)
		}
	}()
	u, err := url.Parse(location)
	if err != nil {
		return fmt.Errorf("%s in %s: %w", op, r, err)
	}
	q := u.Query()
	q.Set("digest", d.Digest)
	u.RawQuery = q.Encode()
	resp, err := r.doBlob(ctx, op, http.MethodPut, u.String(), http.Header{"Content-Type": {"application/octet-stream"}},
		body, -1, http.StatusCreated, http.StatusNoContent, http.StatusAccepted)
	if err != nil {
		return err
	}
	resp.Body.Close()
	return nil
}

// progressReader runs a watchdog for as long as each read waits, and
// meters the source's rate over those waits: the time the tee spends
// handing chunks to slow destinations is not the source's.
type progressReader struct {
	r     io.Reader
	watch *time.Timer
	stall time.Duration
	rate  *rateMeter
	slow  func(why error) error // cancels the read, and says why
}

func (p *progressReader) Read(b []byte) (int, error) {
	p.watch.Reset(p.stall)
	defer p.watch.Stop()
	start := p.rate.start()
	n, err := p.r.Read(b)
	if why := p.rate.record(start, n); why != nil && err == nil {
		return n, p.slow(why)
	}
	return n, err
}

// meter returns a rate meter for one side of a blob's stream.
func (c *Copier) meter(now func() time.Time, size int64) *rateMeter {
	return newRateMeter(now, c.stall, c.minRate, size)
}

// tee copies src to every writer, chunk by chunk: the next chunk is read
// while the writers take the current one, so memory stays at two chunks per
// blob whatever its size. The digest is checked before the last chunk is
// released, so a corrupt blob never completes an upload. A writer that fails
// is dropped; the others go on.
func (r *run) tee(src io.Reader, b descriptor, writers []*chunkBody) error {
	where := r.src.String() + "@" + b.Digest
	h := sha256.New()
	bufs := [2][]byte{make([]byte, min(chunkSize, b.Size+1)), make([]byte, min(chunkSize, b.Size+1))}
	alive := make([]bool, len(writers))
	for i := range alive {
		alive[i] = true
	}
	var wg sync.WaitGroup
	var read int64
	for turn := 0; ; turn++ {
		buf := bufs[turn%2]
		n, err := io.ReadFull(src, buf)
		read += int64(n)
		switch {
		case read > b.Size:
			wg.Wait()
			return fmt.Errorf("blob %s: source sent more than the %d bytes the manifest gives: %w", where, b.Size, ErrDigestMismatch)
		case err == io.EOF || err == io.ErrUnexpectedEOF:
			if read < b.Size {
				wg.Wait()
				return fmt.Errorf("blob %s: source sent %d of %d bytes: %w", where, read, b.Size, errShortBody)
			}
		case err != nil:
			wg.Wait()
			return fmt.Errorf("blob %s: read from source: %w", where, err)
		}
		h.Write(buf[:n])
		last := read == b.Size
		if last {
			if got := "sha256:" + hex.EncodeToString(h.Sum(nil)); got != b.Digest {
				wg.Wait()
				return &DigestError{What: "blob", Ref: where, Want: b.Digest, Got: got}
			}
		}
		wg.Wait() // the writers have taken the previous chunk
		live := 0
		for i, w := range writers {
			if !alive[i] {
				continue
			}
			live++
			w.count(int64(n))
			wg.Go(func() {
				if err := w.send(buf[:n]); err != nil {
					alive[i] = false
				}
			})
		}
		if live == 0 {
			return nil // every upload failed; each reports its own error
		}
		if last {
			wg.Wait()
			return nil
		}
	}
}
