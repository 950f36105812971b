package copy

import (
	"context"
	"errors"
	"sort"
	"strings"
	"sync"

	"golang.org/x/sync/errgroup"
)

// node is a manifest read from the source. Its child manifests are read only
// when a destination lacks it, so a destination that is up to date costs no
// more than one request.
type node struct {
	raw rawManifest
	mf  manifest

	once     sync.Once
	children []*node
	err      error
}

func parseNode(raw rawManifest) (*node, error) {
	mf, err := raw.parse()
	if err != nil {
		return nil, err
	}
	return &node{raw: raw, mf: mf}, nil
}

// loadChildren reads the manifests n references from r, once.
func (n *node) loadChildren(ctx context.Context, r *repo) ([]*node, error) {
	n.once.Do(func() {
		kids := n.mf.children()
		children := make([]*node, len(kids))
		g, gctx := errgroup.WithContext(ctx)
		g.SetLimit(metaJobs)
		for i, k := range kids {
			g.Go(func() error {
				var err error
				children[i], err = fetch(gctx, r, k.Digest)
				return err
			})
		}
		n.children, n.err = children, g.Wait()
	})
	return n.children, n.err
}

// digests lists n's digest and those of the manifests it references.
func (n *node) digests() []string {
	out := []string{n.raw.Digest}
	for _, k := range n.mf.children() {
		out = append(out, k.Digest)
	}
	return out
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
			found, err := discover(ctx, r.src, r.tags, r.probe, digests)
			if err != nil {
				r.extrasErr = err
				return
			}
			digests = nil
			for _, e := range found {
				if seen[e.node.raw.Digest+"|"+e.tag] {
					continue
				}
				seen[e.node.raw.Digest+"|"+e.tag] = true
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
func discover(ctx context.Context, r *repo, tags *tagList, probe *referrersProbe, digests []string) ([]extra, error) {
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
		n, err := fetch(ctx, r, tag)
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
				n, err := fetch(gctx, r, ref.Digest)
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
		return a.node.raw.Digest < b.node.raw.Digest
	})
	return all, nil
}

// fetch reads and loads a manifest; a missing one is ErrNotFound.
func fetch(ctx context.Context, r *repo, ref string) (*node, error) {
	raw, err := r.getManifest(ctx, ref)
	if err != nil {
		return nil, err
	}
	return parseNode(raw)
}

// fallbackTag is the OCI referrers tag schema for a digest: sha256-<hex>.
func fallbackTag(digest string) string { return strings.Replace(digest, ":", "-", 1) }
