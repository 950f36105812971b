package copy

import (
	"context"
	"errors"
	"strings"

	"golang.org/x/sync/errgroup"
)

// node is a manifest read from the source, with the manifests it references.
type node struct {
	raw      rawManifest
	mf       manifest
	children []*node
}

// load parses raw and reads its child manifests from r, recursively.
func load(ctx context.Context, r *repo, raw rawManifest) (*node, error) {
	mf, err := raw.parse()
	if err != nil {
		return nil, err
	}
	n := &node{raw: raw, mf: mf}
	kids := mf.children()
	if len(kids) == 0 {
		return n, nil
	}
	n.children = make([]*node, len(kids))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(metaJobs)
	for i, k := range kids {
		g.Go(func() error {
			raw, err := r.getManifest(gctx, k.Digest)
			if err != nil {
				return err
			}
			n.children[i], err = load(gctx, r, raw)
			return err
		})
	}
	return n, g.Wait()
}

// walk calls f for n and every manifest under it, children first.
func (n *node) walk(f func(*node)) {
	for _, c := range n.children {
		c.walk(f)
	}
	f(n)
}

// extra is something that travels with the image: a referrer found through
// the OCI referrers API, the OCI referrers fallback tag, or a cosign tag.
type extra struct {
	node    *node
	tag     string     // tag to write it under ("sha256-<hex>.sig", "sha256-<hex>"); "" for by digest
	subject string     // for referrers-API referrers: the subject digest
	desc    descriptor // for referrers-API referrers: its descriptor in the referrers list
}

// maxReferrerDepth bounds referrers of referrers (a signature on an SBOM).
const maxReferrerDepth = 3

// cosignSuffixes are the tags cosign attaches to sha256-<hex>.
var cosignSuffixes = []string{".sig", ".att", ".sbom"}

// loadExtras discovers, once per run, everything that refers to the image
// or to any manifest in it.
func (r *run) loadExtras(ctx context.Context) ([]extra, error) {
	r.extrasOnce.Do(func() {
		var digests []string
		r.root.walk(func(n *node) { digests = append(digests, n.raw.Digest) })
		seen := map[string]bool{}
		for depth := 0; depth < maxReferrerDepth && len(digests) > 0; depth++ {
			found, err := discover(ctx, r.src, digests)
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
				e.node.walk(func(n *node) { digests = append(digests, n.raw.Digest) })
			}
		}
	})
	return r.extras, r.extrasErr
}

// discover finds the referrers of each digest in the source repository.
func discover(ctx context.Context, r *repo, digests []string) ([]extra, error) {
	results := make([][]extra, len(digests))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(metaJobs)
	for i, d := range digests {
		g.Go(func() error {
			var out []extra
			refs, supported, err := r.referrers(gctx, d)
			if err != nil {
				return err
			}
			if supported {
				for _, ref := range refs {
					n, err := fetch(gctx, r, ref.Digest)
					if err != nil {
						return err
					}
					out = append(out, extra{node: n, subject: d, desc: ref})
				}
			} else {
				n, err := fetch(gctx, r, fallbackTag(d))
				if err != nil && !errors.Is(err, ErrNotFound) {
					return err
				}
				if n != nil {
					out = append(out, extra{node: n, tag: fallbackTag(d)})
				}
			}
			for _, suffix := range cosignSuffixes {
				tag := fallbackTag(d) + suffix
				n, err := fetch(gctx, r, tag)
				if err != nil && !errors.Is(err, ErrNotFound) {
					return err
				}
				if n != nil {
					out = append(out, extra{node: n, tag: tag})
				}
			}
			results[i] = out
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	var all []extra
	for _, rs := range results {
		all = append(all, rs...)
	}
	return all, nil
}

// fetch reads and loads a manifest; a missing one is ErrNotFound.
func fetch(ctx context.Context, r *repo, ref string) (*node, error) {
	raw, err := r.getManifest(ctx, ref)
	if err != nil {
		return nil, err
	}
	return load(ctx, r, raw)
}

// fallbackTag is the OCI referrers tag schema for a digest: sha256-<hex>.
func fallbackTag(digest string) string { return strings.Replace(digest, ":", "-", 1) }
