package imagecopy

import (
	"context"
	"errors"
	"sort"
	"strings"
	"sync"
	"sync/atomic"

	"golang.org/x/sync/errgroup"
	"golang.org/x/sync/semaphore"
)

// node is a manifest read from the source, reduced to what copying needs:
// what it references, and its bytes while they fit the copy's memory
// budget (see manifests). Its child manifests are read only when a
// destination lacks it, so a destination that is up to date costs no more
// than one request.
type node struct {
	digest    string
	mediaType string       // the Content-Type to write it back with
	size      int64        // bytes
	body      []byte       // nil: not held; read again when written
	kids      []descriptor // the manifests an index references
	blobs     []descriptor // the blobs an image references (see manifest.blobs)

	once     sync.Once
	children []*node
	err      error
}

// digests lists n's digest and those of the manifests it references.
func (n *node) digests() []string {
	out := []string{n.digest}
	for _, k := range n.kids {
		out = append(out, k.Digest)
	}
	return out
}

// MaxManifestBytes caps the manifest bytes one Copy reads from the source:
// the image's own manifests and those of its referrers, together. An image
// index of 32 children at ECR's 4 MiB limit fills it. Past it the copy
// fails at every destination with a *ManifestBytesError, which is not
// retried: the same image would fail the same way.
const MaxManifestBytes = 128 << 20

// heldManifestBytes is how many of those bytes one Copy keeps in memory,
// from reading them to writing them. Manifests past it (only a graph of
// megabytes of manifests has any) are read again, by digest, when written:
// one more request each, instead of memory that grows with the graph.
const heldManifestBytes = 8 << 20

// readingManifestBytes bounds the bytes of the manifests being read from
// the source at once, by their descriptors' sizes: so sixteen requests of
// 4 MiB manifests do not hold 64 MiB while they are parsed.
const readingManifestBytes = 8 << 20

// manifests reads the source's manifests for one Copy: it counts their
// bytes against the cap, and holds their bodies within the budget.
type manifests struct {
	src   *repo
	image string // the source reference, for errors
	limit int64  // MaxManifestBytes
	hold  int64  // heldManifestBytes
	read  atomic.Int64
	held  atomic.Int64
	// reading bounds the manifests read at once (readingManifestBytes),
	// weighed by their descriptors' sizes; one read by tag, of a size not
	// known before, weighs nothing (discover reads at most metaJobs).
	reading *semaphore.Weighted
}

func newManifests(src *repo, image string, limit, hold int64) *manifests {
	return &manifests{src: src, image: image, limit: limit, hold: hold, reading: semaphore.NewWeighted(readingManifestBytes)}
}

// reserve counts n more bytes read (or about to be), failing past the cap.
func (m *manifests) reserve(n int64) error {
	if total := m.read.Add(n); total > m.limit {
		return &ManifestBytesError{Image: m.image, Bytes: total, Limit: m.limit}
	}
	return nil
}

// fetch reads and loads a manifest; a missing one is ErrNotFound. reserved
// is what was counted for it before it was read (its descriptor's size).
func (m *manifests) fetch(ctx context.Context, ref string, reserved int64) (*node, error) {
	weight := min(max(reserved, 0), readingManifestBytes)
	if err := m.reading.Acquire(ctx, weight); err != nil {
		return nil, context.Cause(ctx)
	}
	defer m.reading.Release(weight)
	raw, err := m.src.getManifest(ctx, ref)
	if err != nil {
		return nil, err
	}
	if err := m.reserve(int64(len(raw.Body)) - reserved); err != nil {
		return nil, err
	}
	return m.node(raw)
}

// node parses raw into a node, holding its body if the budget allows.
func (m *manifests) node(raw rawManifest) (*node, error) {
	mf, err := raw.parse()
	if err != nil {
		return nil, err
	}
	n := &node{digest: raw.Digest, mediaType: raw.MediaType, size: int64(len(raw.Body)), kids: mf.children(), blobs: mf.blobs()}
	if m.held.Add(n.size) <= m.hold {
		n.body = raw.Body
	} else {
		m.held.Add(-n.size)
	}
	return n, nil
}

// raw returns n as the source holds it: the body held, or else read again.
func (m *manifests) raw(ctx context.Context, n *node) (rawManifest, error) {
	if n.body != nil {
		return rawManifest{Body: n.body, MediaType: n.mediaType, Digest: n.digest}, nil
	}
	raw, err := m.src.getManifest(ctx, n.digest) // verified against the digest
	raw.MediaType = n.mediaType
	return raw, err
}

// loadChildren reads the manifests n references, once. Their sizes are
// counted against the cap before any is read.
func (n *node) loadChildren(ctx context.Context, m *manifests) ([]*node, error) {
	n.once.Do(func() {
		var total int64
		for _, k := range n.kids {
			total += k.Size
		}
		if n.err = m.reserve(total); n.err != nil {
			return
		}
		children := make([]*node, len(n.kids))
		g, gctx := errgroup.WithContext(ctx)
		g.SetLimit(metaJobs)
		for i, k := range n.kids {
			g.Go(func() error {
				var err error
				children[i], err = m.fetch(gctx, k.Digest, k.Size)
				return err
			})
		}
		n.children, n.err = children, g.Wait()
	})
	return n.children, n.err
}

// extra is something that travels with the image: a referrer found through
// the OCI referrers API, the OCI referrers fallback tag, or a cosign tag.
type extra struct {
	node    *node
	tag     string // tag to write it under ("sha256-<hex>.sig", "sha256-<hex>"); "" for by digest
	subject string // for referrers-API referrers: the subject digest
}

// maxReferrerDepth bounds referrers of referrers (a signature on an SBOM).
const maxReferrerDepth = 3

// cosignSuffixes are the tags cosign attaches to sha256-<hex>.
var cosignSuffixes = []string{".sig", ".att", ".sbom"}

// loadExtras discovers, once per run, everything that refers to the image
// or to any manifest in it.
func (r *run) loadExtras(ctx context.Context) ([]extra, error) {
	r.extrasOnce.Do(func() {
		digests := r.root.digests()
		seen := map[string]bool{}
		for depth := 0; depth < maxReferrerDepth && len(digests) > 0; depth++ {
			found, err := discover(ctx, r.manifests, r.tags, r.probe, digests)
			if err != nil {
				r.extrasErr = err
				return
			}
			digests = nil
			for _, e := range found {
				if seen[e.node.digest+"|"+e.tag] {
					continue
				}
				seen[e.node.digest+"|"+e.tag] = true
				r.extras = append(r.extras, e)
				digests = append(digests, e.node.digests()...)
			}
		}
	})
	return r.extras, r.extrasErr
}

// tagList is the source's tag list, read in the background: one request
// answers for every fallback and cosign tag Ferry would otherwise ask for.
type tagList struct {
	done     chan struct{}
	tags     map[string]bool
	complete bool
}

func listTagsAsync(ctx context.Context, r *repo) *tagList {
	tl := &tagList{done: make(chan struct{})}
	go func() {
		defer close(tl.done)
		tags, complete, err := r.listTags(ctx)
		if err != nil || !complete {
			return // ask for each tag by name instead
		}
		tl.tags, tl.complete = make(map[string]bool, len(tags)), true
		for _, t := range tags {
			tl.tags[t] = true
		}
	}()
	return tl
}

// referrersProbe learns, alongside the first requests, whether the source
// has the OCI referrers API at all. It asks for the referrers of the source
// digest when the copy is by digest (its answer is then used as is), or else
// of a digest no content has: a registry with the API answers 200 with a
// list, one without it 404. Without the API no referrers request is made per
// manifest; the fallback tags come from the tag list.
type referrersProbe struct {
	done      chan struct{}
	digest    string // what was asked about
	supported bool
	refs      []descriptor // digest's referrers, when supported
	err       error
}

const zeroDigest = "sha256:0000000000000000000000000000000000000000000000000000000000000000"

func probeReferrers(ctx context.Context, r *repo, digest string) *referrersProbe {
	if digest == "" {
		digest = zeroDigest
	}
	p := &referrersProbe{done: make(chan struct{}), digest: digest}
	go func() {
		defer close(p.done)
		refs, supported, err := r.referrers(ctx, digest)
		p.refs, p.err = refs, err
		// On an error, assume the API is there: the per-manifest requests
		// then say what is wrong.
		p.supported = supported || err != nil
	}()
	return p
}

// known returns the referrers of d when the probe has asked for exactly
// those, with success.
func (p *referrersProbe) known(ctx context.Context, d string) ([]descriptor, bool) {
	if p == nil || d != p.digest || d == zeroDigest {
		return nil, false
	}
	select {
	case <-p.done:
	case <-ctx.Done():
		return nil, false
	}
	return p.refs, p.err == nil && p.supported
}

// hasAPI waits for the probe; a nil probe means "ask".
func (p *referrersProbe) hasAPI(ctx context.Context) bool {
	if p == nil {
		return true
	}
	select {
	case <-p.done:
		return p.supported
	case <-ctx.Done():
		return true
	}
}

// mayHave reports whether tag may exist: false only when the full tag list
// was read and lacks it.
func (tl *tagList) mayHave(ctx context.Context, tag string) bool {
	if tl == nil {
		return true
	}
	select {
	case <-tl.done:
	case <-ctx.Done():
		return true
	}
	return !tl.complete || tl.tags[tag]
}

// discover finds the referrers of each digest in the source repository:
// the referrers API, the fallback tag and cosign's tags, all asked at once.
// Tags the tag list shows missing are not asked for.
func discover(ctx context.Context, m *manifests, tags *tagList, probe *referrersProbe, digests []string) ([]extra, error) {
	r := m.src
	var mu sync.Mutex
	var all []extra
	found := func(e extra) {
		mu.Lock()
		defer mu.Unlock()
		all = append(all, e)
	}
	// byTag fetches a tagged artifact if there is one.
	byTag := func(ctx context.Context, tag string) (*node, error) {
		if !tags.mayHave(ctx, tag) {
			return nil, nil
		}
		n, err := m.fetch(ctx, tag, 0)
		if errors.Is(err, ErrNotFound) {
			return nil, nil
		}
		return n, err
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(metaJobs)
	for _, d := range digests {
		// The fallback tag is asked for at the same time as the API, and
		// kept only if the API turns out to be missing: one round trip
		// instead of two on registries without it.
		fallback := make(chan error, 1)
		var fallbackNode *node
		g.Go(func() error {
			var err error
			fallbackNode, err = byTag(gctx, fallbackTag(d))
			fallback <- err
			return nil
		})
		g.Go(func() error {
			var refs []descriptor
			supported := probe.hasAPI(gctx)
			if supported {
				var ok bool
				if refs, ok = probe.known(gctx, d); !ok {
					var err error
					if refs, supported, err = r.referrers(gctx, d); err != nil {
						return err
					}
				}
			}
			if !supported {
				if err := <-fallback; err != nil {
					return err
				}
				if fallbackNode != nil {
					found(extra{node: fallbackNode, tag: fallbackTag(d)})
				}
				return nil
			}
			for _, ref := range refs {
				if err := m.reserve(ref.Size); err != nil {
					return err
				}
				n, err := m.fetch(gctx, ref.Digest, ref.Size)
				if err != nil {
					return err
				}
				found(extra{node: n, subject: d})
			}
			return nil
		})
		for _, suffix := range cosignSuffixes {
			g.Go(func() error {
				tag := fallbackTag(d) + suffix
				n, err := byTag(gctx, tag)
				if n != nil {
					found(extra{node: n, tag: tag})
				}
				return err
			})
		}
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	// Deterministic order: the same run writes in the same order.
	sort.Slice(all, func(i, j int) bool {
		a, b := all[i], all[j]
		if a.subject+a.tag != b.subject+b.tag {
			return a.subject+a.tag < b.subject+b.tag
		}
		return a.node.digest < b.node.digest
	})
	return all, nil
}

// fallbackTag is the OCI referrers tag schema for a digest: sha256-<hex>.
func fallbackTag(digest string) string { return strings.Replace(digest, ":", "-", 1) }
