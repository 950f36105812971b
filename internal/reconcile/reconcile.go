// Package reconcile compares what Ferry's rules say every destination must
// hold with what it holds, and lists the difference: one Item per source
// image (repository and tag) and destination, each in a State with the
// reason.
//
// Desired: every tag of every source repository that a rule selects, after
// its excludes, in each of the rule's destinations (renamed as the rule
// says), under the same tag, at the same digest, with the referrers of that
// digest (OCI referrers, found by their subject, and cosign's
// sha256-<hex>.sig, .att and .sbom tags, and theirs in turn). The planning
// is the push path's (internal/plan), so a sync and a push agree on where
// an image goes.
//
// Actual: what each destination repository holds, from the ECR API
// (DescribeRepositories, DescribeImages), paginated. Nothing is pulled:
// the diff of a repository with 10,000 tags costs ten DescribeImages pages
// in the source and ten per destination repository.
//
// Discover walks the source one repository at a time and hands each
// repository's items to a callback, so memory follows the largest
// repository, not the registry.
package reconcile

import (
	"context"
	"fmt"
	"slices"
	"sync"

	"golang.org/x/sync/errgroup"

	"github.com/ferry-dev/ferry/internal/config"
	"github.com/ferry-dev/ferry/internal/match"
	"github.com/ferry-dev/ferry/internal/plan"
)

// State is how one image stands at one destination.
type State string

// States.
const (
	InSync           State = "in sync"           // tag at the source digest, referrers there
	Missing          State = "missing"           // the tag is not there
	Stale            State = "stale"             // the tag is at another digest
	ReferrersMissing State = "referrers missing" // the image is there, some referrers are not
	Blocked          State = "blocked"           // cannot be made right by a copy; see Reason
)

// Item is one source image at one destination: what the rules want there,
// what is there, and what applying the plan does.
type Item struct {
	Rule             string `json:"rule"`
	Destination      string `json:"destination"` // account/region
	Account          string `json:"account"`
	Region           string `json:"region"`
	SourceRepository string `json:"sourceRepository"`
	Repository       string `json:"repository"` // in the destination, after any rename
	Tag              string `json:"tag"`
	Digest           string `json:"digest"` // in the source
	State            State  `json:"state"`
	// DestinationDigest is where the destination tag points, when it
	// points elsewhere (stale, or blocked by an immutable tag).
	DestinationDigest string `json:"destinationDigest,omitempty"`
	// MissingReferrers counts the referrers the destination lacks.
	MissingReferrers int    `json:"missingReferrers,omitempty"`
	Reason           string `json:"reason,omitempty"`
	ApprovalRequired bool   `json:"approvalRequired,omitempty"`
	OnExistingTag    string `json:"onExistingTag"`
	// RepositoryMissing: the destination repository does not exist yet
	// (applying creates it with the destination's settings).
	RepositoryMissing bool `json:"repositoryMissing,omitempty"`
}

// Copy reports whether applying the plan copies the item: it is missing,
// lacks referrers, or is stale where onExistingTag is overwrite.
func (it Item) Copy() bool {
	switch it.State {
	case Missing, ReferrersMissing:
		return true
	case Stale:
		return it.OnExistingTag == string(config.ExistingTagOverwrite)
	}
	return false
}

// Image is the item's source image, repository:tag.
func (it Item) Image() string { return it.SourceRepository + ":" + it.Tag }

// Filter narrows a discovery. The zero Filter takes everything.
type Filter struct {
	Rule        string         // only this rule's jobs
	Destination string         // only this destination (account/region)
	Repository  *match.Pattern // only source repositories it matches
}

// Check reports whether filter's rule and destination exist in cfg, so a
// misspelt filter is an error, not an empty plan.
func (f Filter) Check(cfg *config.Config) error {
	if f.Rule != "" && !slices.ContainsFunc(cfg.Rules, func(r config.Rule) bool { return r.Name == f.Rule }) {
		var names []string
		for _, r := range cfg.Rules {
			names = append(names, r.Name)
		}
		return fmt.Errorf("rule %q is not in %s (rules: %v)", f.Rule, cfg.File, names)
	}
	if f.Destination != "" && !slices.ContainsFunc(cfg.Destinations(), func(d config.Destination) bool { return d.ID() == f.Destination }) {
		var ids []string
		for _, d := range cfg.Destinations() {
			ids = append(ids, d.ID())
		}
		return fmt.Errorf("destination %q is not in %s (destinations: %v)", f.Destination, cfg.File, ids)
	}
	return nil
}

// Lister lists repositories of one registry.
type Lister interface {
	// Repositories calls fn with the name of every repository.
	Repositories(ctx context.Context, fn func(name string) error) error
	// Repository lists one repository (Exists false when it is not there).
	// It need not know the repository's tag mutability: Immutable asks.
	Repository(ctx context.Context, name string) (*Listing, error)
	// Immutable reports whether a repository's tags are immutable.
	Immutable(ctx context.Context, name string) (bool, error)
}

var _ Lister = Registry{}

// DefaultConcurrency is how many source repositories a Discoverer lists
// at once.
const DefaultConcurrency = 8

// Discoverer computes the diff of a configuration.
type Discoverer struct {
	Config *config.Config
	Source Lister
	// Destination returns the lister of one destination registry (with
	// the destination role, read only). It is called once per destination
	// and role, for several destinations at once.
	Destination func(ctx context.Context, d config.Destination) (Lister, error)
	Filter      Filter
	// Concurrency is how many source repositories are listed at once,
	// each with its destination repositories (default DefaultConcurrency).
	Concurrency int
}

// Batch is the diff of one source repository.
type Batch struct {
	SourceRepository string
	Items            []Item
	// Source is the source repository's listing, for whoever applies the
	// batch (it holds the referrer digests).
	Source *Listing
}

// Discover lists the source repositories the rules select, each with its
// images, and each destination repository they map to, and calls fn with
// each source repository's items, in repository order, tags in order, one
// call at a time. Repositories no rule selects are not listed. Up to
// Concurrency repositories are listed ahead of fn, so round trips overlap;
// no more are held.
func (d *Discoverer) Discover(ctx context.Context, fn func(Batch) error) error {
	if err := d.Filter.Check(d.Config); err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var mu sync.Mutex
	dests := map[string]*destinationLister{}
	destination := func(cd config.Destination) (Lister, error) {
		// By role too: two rules may reach one registry with other roles.
		key := cd.ID() + " " + cd.RoleARN()
		mu.Lock()
		dl, ok := dests[key]
		if !ok {
			dl = &destinationLister{}
			dests[key] = dl
		}
		mu.Unlock()
		dl.once.Do(func() {
			dl.l, dl.err = d.Destination(ctx, cd)
			if dl.err != nil {
				dl.err = fmt.Errorf("list destination %s: %w", cd.ID(), dl.err)
			}
		})
		return dl.l, dl.err
	}
	var repos []string
	err := d.Source.Repositories(ctx, func(name string) error {
		if d.selects(name) {
			repos = append(repos, name)
		}
		return nil
	})
	if err != nil {
		return err
	}
	slices.Sort(repos)
	type result struct {
		b   Batch
		err error
	}
	n := d.Concurrency
	if n <= 0 {
		n = DefaultConcurrency
	}
	ahead := make(chan struct{}, n) // batches listed and not yet handed to fn
	queue := make(chan chan result, n)
	go func() {
		defer close(queue)
		for _, r := range repos {
			select {
			case ahead <- struct{}{}:
			case <-ctx.Done():
				return
			}
			ch := make(chan result, 1)
			select {
			case queue <- ch:
			case <-ctx.Done():
				return
			}
			go func() {
				src, err := d.Source.Repository(ctx, r)
				if err != nil {
					ch <- result{err: err}
					return
				}
				items, err := d.diff(ctx, src, destination)
				ch <- result{b: Batch{SourceRepository: r, Items: items, Source: src}, err: err}
			}()
		}
	}()
	for ch := range queue {
		res := <-ch
		<-ahead
		if res.err != nil {
			return res.err
		}
		if err := fn(res.b); err != nil {
			return err
		}
	}
	return ctx.Err()
}

type destinationLister struct {
	once sync.Once
	l    Lister
	err  error
}

// selects reports whether any rule (after the filter) can take repository.
func (d *Discoverer) selects(repository string) bool {
	if d.Filter.Repository != nil && !d.Filter.Repository.Match(repository) {
		return false
	}
	for _, r := range d.Config.Rules {
		if d.Filter.Rule != "" && r.Name != d.Filter.Rule {
			continue
		}
		if ok, _ := r.MatchRepository(repository); ok {
			return true
		}
	}
	return false
}

// diff compares one source repository with its destination repositories,
// which it lists at once.
func (d *Discoverer) diff(ctx context.Context, src *Listing, destination func(config.Destination) (Lister, error)) ([]Item, error) {
	var tags []string
	src.Tags(func(tag, _ string) {
		if !IsReferrerTag(tag) {
			tags = append(tags, tag)
		}
	})
	slices.Sort(tags)
	type job struct {
		j      plan.Job
		digest string
		key    string // destination/repository
	}
	var jobs []job
	wanted := map[string]plan.Job{} // destination/repository -> a job there
	for _, tag := range tags {
		p, err := plan.For(d.Config, src.Name, tag)
		if err != nil {
			continue // a tag ECR holds but Ferry's rules cannot name
		}
		for _, j := range p.Jobs {
			if (d.Filter.Rule != "" && j.Rule != d.Filter.Rule) || (d.Filter.Destination != "" && j.Destination.ID() != d.Filter.Destination) {
				continue
			}
			key := j.Destination.ID() + "/" + j.Repository
			jobs = append(jobs, job{j, src.Tag(tag), key})
			if _, ok := wanted[key]; !ok {
				wanted[key] = j
			}
		}
	}
	// Which tags each destination repository must hold, its cosign tags
	// included, to tell whether its tag mutability matters (only for a tag
	// at another digest).
	referrers := map[string]Referrers{}
	mustHold := map[string][]string{}
	for _, jb := range jobs {
		refs, ok := referrers[jb.digest]
		if !ok {
			refs = src.ReferrersOf(jb.digest)
			referrers[jb.digest] = refs
		}
		mustHold[jb.key] = append(mustHold[jb.key], jb.j.Tag, jb.digest)
		for tag, d := range refs.Tags {
			mustHold[jb.key] = append(mustHold[jb.key], tag, d)
		}
	}
	var mu sync.Mutex
	listings := map[string]*Listing{}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(DefaultConcurrency)
	for key, j := range wanted {
		g.Go(func() error {
			dst, err := listDestination(gctx, destination, j, mustHold[key])
			if err != nil {
				if ctx.Err() != nil {
					return err
				}
				// One destination that cannot be listed (its role, a
				// permission, an outage) holds up no other: its items are
				// planned as missing, so the copy, which skips what is
				// there, finds out, and fails for that destination alone.
				dst = &Listing{Name: j.Repository, listErr: err}
			}
			mu.Lock()
			listings[key] = dst
			mu.Unlock()
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	items := make([]Item, 0, len(jobs))
	for _, jb := range jobs {
		items = append(items, compare(jb.j, jb.digest, src, listings[jb.key], referrers[jb.digest]))
	}
	return items, nil
}

// listDestination lists a job's destination repository, and asks for its
// tag mutability only when a tag it must hold (tagDigests: tag, digest,
// tag, digest…) is at another digest there.
func listDestination(ctx context.Context, destination func(config.Destination) (Lister, error), j plan.Job, tagDigests []string) (*Listing, error) {
	l, err := destination(j.Destination)
	if err != nil {
		return nil, err
	}
	dst, err := l.Repository(ctx, j.Repository)
	if err != nil || !dst.Exists {
		return dst, err
	}
	for i := 0; i+1 < len(tagDigests); i += 2 {
		if at := dst.Tag(tagDigests[i]); at != "" && at != tagDigests[i+1] {
			if dst.Immutable, err = l.Immutable(ctx, j.Repository); err != nil {
				return nil, err
			}
			break
		}
	}
	return dst, nil
}

// compare works out the state of one job.
func compare(j plan.Job, digest string, src, dst *Listing, refs Referrers) Item {
	dd := j.Destination
	it := Item{
		Rule: j.Rule, Destination: dd.ID(), Account: dd.Account, Region: dd.Region,
		SourceRepository: j.SourceRepository, Repository: j.Repository, Tag: j.Tag, Digest: digest,
		ApprovalRequired: dd.Approval == config.ApprovalRequired, OnExistingTag: string(dd.OnExistingTag),
		RepositoryMissing: !dst.Exists,
	}
	if it.OnExistingTag == "" {
		it.OnExistingTag = string(config.ExistingTagFail)
	}
	archived := false
	if im, ok := src.Image(digest); ok {
		archived = im.Archived
	}
	if dst.listErr != nil {
		it.State, it.RepositoryMissing = Missing, false
		it.Reason = fmt.Sprintf("the destination could not be listed (%v); copied to be sure, which skips what is there", dst.listErr)
		if archived {
			it.State = Blocked
			it.Reason += "; but the source image is archived"
		}
		return it
	}
	at := dst.Tag(j.Tag)
	switch {
	case at == digest:
		missing, blockedTag := missingReferrers(dst, refs)
		switch {
		case blockedTag != "":
			it.State = Blocked
			it.Reason = fmt.Sprintf("cosign tag %s is at another digest in an immutable repository; it cannot be updated", blockedTag)
		case missing == 0:
			it.State = InSync
		case archived:
			it.State, it.MissingReferrers = Blocked, missing
			it.Reason = fmt.Sprintf("%d referrers missing, and the source image is archived (pulls answer 404); restore it with aws ecr update-image-storage-class --target-storage-class STANDARD", missing)
		default:
			it.State, it.MissingReferrers = ReferrersMissing, missing
			it.Reason = fmt.Sprintf("%d of %d referrers missing", missing, refs.Len())
		}
	case archived:
		it.State, it.DestinationDigest = Blocked, at
		it.Reason = fmt.Sprintf("the source image %s@%s is archived (ECR's archive storage class answers 404 on pull); restore it with aws ecr update-image-storage-class --repository-name %s --image-id imageDigest=%s --target-storage-class STANDARD",
			j.SourceRepository, digest, j.SourceRepository, digest)
	case at == "":
		it.State = Missing
		if !dst.Exists {
			it.Reason = "the repository does not exist yet"
		}
	case dst.Immutable:
		it.State, it.DestinationDigest = Blocked, at
		it.Reason = fmt.Sprintf("the tag is at %s in a repository with immutable tags; the source is at %s. Delete the destination image, or exclude the tag", at, digest)
	default:
		it.State, it.DestinationDigest = Stale, at
		if it.OnExistingTag == string(config.ExistingTagOverwrite) {
			it.Reason = fmt.Sprintf("the tag is at %s, the source at %s; onExistingTag: overwrite moves it", at, digest)
		} else {
			it.Reason = fmt.Sprintf("the tag is at %s, the source at %s; onExistingTag: fail keeps it (set onExistingTag: overwrite on the destination to move it)", at, digest)
		}
	}
	return it
}

// missingReferrers counts the referrers dst lacks. blockedTag names a
// cosign tag that dst holds at another digest and cannot move (immutable).
func missingReferrers(dst *Listing, refs Referrers) (missing int, blockedTag string) {
	for _, d := range refs.Digests {
		if !dst.Has(d) {
			missing++
		}
	}
	for tag, d := range refs.Tags {
		at := dst.Tag(tag)
		switch {
		case at == d:
		case at != "" && dst.Immutable:
			return missing, tag
		case dst.Has(d):
			missing++ // the manifest is there, its tag is not
		}
	}
	return missing, ""
}
