package reconcile

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/ferry-dev/ferry/internal/config"
	"github.com/ferry-dev/ferry/internal/match"
)

// fakeRegistry is a Lister over listings held in memory; it records which
// repositories were listed.
type fakeRegistry struct {
	repos  map[string]*Listing
	mu     sync.Mutex
	listed []string
}

func (f *fakeRegistry) Repositories(_ context.Context, fn func(string) error) error {
	for name := range f.repos {
		if err := fn(name); err != nil {
			return err
		}
	}
	return nil
}

func (f *fakeRegistry) Repository(_ context.Context, name string) (*Listing, error) {
	f.mu.Lock()
	f.listed = append(f.listed, name)
	f.mu.Unlock()
	if l, ok := f.repos[name]; ok {
		return l, nil
	}
	return &Listing{Name: name}, nil
}

func (f *fakeRegistry) Immutable(_ context.Context, name string) (bool, error) {
	l, ok := f.repos[name]
	return ok && l.Immutable, nil
}

const testConfig = `version: 1
source: {account: "111111111111", region: us-east-1}
rules:
  - name: releases
    repositories: ["team/*"]
    tags: ["release-*"]
    exclude: {tags: ["release-old*"]}
    destinations:
      - {account: "222222222222", region: eu-west-1, approval: required}
      - {account: "333333333333", region: us-west-2, onExistingTag: overwrite}
      - account: "444444444444"
        region: ap-southeast-2
        repository: {prefix: mirror/}
`

func digest(c byte) string { return "sha256:" + strings.Repeat(string(c), 64) }

func cosign(d, suffix string) string { return strings.Replace(d, ":", "-", 1) + suffix }

func discover(t *testing.T, src *fakeRegistry, dsts map[string]*fakeRegistry, f Filter, every ...Lister) []Item {
	t.Helper()
	cfg, err := config.Parse("ferry.yaml", []byte(testConfig))
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	d := Discoverer{Config: cfg, Source: src, Filter: f,
		Destination: func(_ context.Context, cd config.Destination) (Lister, error) {
			if len(every) > 0 {
				return every[0], nil // one lister for every destination
			}
			mu.Lock()
			defer mu.Unlock()
			r, ok := dsts[cd.ID()]
			if !ok {
				r = &fakeRegistry{}
				dsts[cd.ID()] = r
			}
			return r, nil
		}}
	var items []Item
	if err := d.Discover(context.Background(), func(b Batch) error {
		items = append(items, b.Items...)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return items
}

func states(items []Item) map[string]State {
	out := map[string]State{}
	for _, it := range items {
		out[it.Destination+" "+it.Repository+":"+it.Tag] = it.State
	}
	return out
}

func TestDiffStates(t *testing.T) {
	t.Parallel()
	rel, sig, sbom, sbomSig, old := digest('a'), digest('b'), digest('c'), digest('d'), digest('e')
	src := &fakeRegistry{repos: map[string]*Listing{
		"team/app": NewListing("team/app", false, []Image{
			{Digest: rel, Tags: []string{"release-1", "latest"}},
			{Digest: sig, Tags: []string{cosign(rel, ".sig")}},
			{Digest: sbom, Subject: rel},
			{Digest: sbomSig, Tags: []string{cosign(sbom, ".sig")}},
			{Digest: old, Tags: []string{"release-0", "release-old1"}, Archived: true},
		}),
		"other/app": NewListing("other/app", false, []Image{{Digest: rel, Tags: []string{"release-1"}}}),
	}}
	full := []Image{
		{Digest: rel, Tags: []string{"release-1"}},
		{Digest: sig, Tags: []string{cosign(rel, ".sig")}},
		{Digest: sbom},
		{Digest: sbomSig, Tags: []string{cosign(sbom, ".sig")}},
	}
	dsts := map[string]*fakeRegistry{
		// Production: everything there, but an immutable release-0 elsewhere.
		"222222222222/eu-west-1": {repos: map[string]*Listing{"team/app": NewListing("team/app", true,
			append(full, Image{Digest: digest('f'), Tags: []string{"release-0"}}))}},
		// Staging: release-1 there without the SBOM's signature; release-0 stale.
		"333333333333/us-west-2": {repos: map[string]*Listing{"team/app": NewListing("team/app", false, []Image{
			{Digest: rel, Tags: []string{"release-1"}},
			{Digest: sig, Tags: []string{cosign(rel, ".sig")}},
			{Digest: sbom},
			{Digest: digest('f'), Tags: []string{"release-0"}},
		})}},
		// The mirror has no repository yet.
	}
	items := discover(t, src, dsts, Filter{})
	want := map[string]State{
		"222222222222/eu-west-1 team/app:release-0":             Blocked, // archived source
		"222222222222/eu-west-1 team/app:release-1":             InSync,
		"333333333333/us-west-2 team/app:release-0":             Blocked, // archived source
		"333333333333/us-west-2 team/app:release-1":             ReferrersMissing,
		"444444444444/ap-southeast-2 mirror/team/app:release-0": Blocked,
		"444444444444/ap-southeast-2 mirror/team/app:release-1": Missing,
	}
	got := states(items)
	for k, s := range want {
		if got[k] != s {
			t.Errorf("%s: state %q, want %q", k, got[k], s)
		}
	}
	if len(got) != len(want) {
		t.Errorf("got %d items %v, want %d (latest, release-old1, cosign tags and other/app are not selected)", len(got), got, len(want))
	}
	for _, it := range items {
		switch {
		case it.Destination == "333333333333/us-west-2" && it.Tag == "release-1":
			if it.MissingReferrers != 1 || !it.Copy() {
				t.Errorf("staging release-1: %d referrers missing, copy %v; want 1, true", it.MissingReferrers, it.Copy())
			}
		case it.Tag == "release-0":
			if !strings.Contains(it.Reason, "archived") || !strings.Contains(it.Reason, "update-image-storage-class") {
				t.Errorf("%s release-0: reason %q should say the source is archived and how to restore it", it.Destination, it.Reason)
			}
		case it.Destination == "444444444444/ap-southeast-2":
			if !it.RepositoryMissing || !it.Copy() {
				t.Errorf("mirror: repository missing %v, copy %v; want both", it.RepositoryMissing, it.Copy())
			}
		case it.Destination == "222222222222/eu-west-1" && !it.ApprovalRequired:
			t.Errorf("production item without approvalRequired")
		}
	}
}

func TestStaleAndImmutable(t *testing.T) {
	t.Parallel()
	now, before := digest('a'), digest('b')
	src := &fakeRegistry{repos: map[string]*Listing{
		"team/app": NewListing("team/app", false, []Image{{Digest: now, Tags: []string{"release-1"}}}),
	}}
	dsts := map[string]*fakeRegistry{
		"222222222222/eu-west-1":      {repos: map[string]*Listing{"team/app": NewListing("team/app", true, []Image{{Digest: before, Tags: []string{"release-1"}}})}},
		"333333333333/us-west-2":      {repos: map[string]*Listing{"team/app": NewListing("team/app", false, []Image{{Digest: before, Tags: []string{"release-1"}}})}},
		"444444444444/ap-southeast-2": {repos: map[string]*Listing{"mirror/team/app": NewListing("mirror/team/app", false, []Image{{Digest: before, Tags: []string{"release-1"}}})}},
	}
	for _, it := range discover(t, src, dsts, Filter{}) {
		if it.DestinationDigest != before {
			t.Errorf("%s: destination digest %q, want %s", it.Destination, it.DestinationDigest, before)
		}
		if !strings.Contains(it.Reason, before) || !strings.Contains(it.Reason, now) {
			t.Errorf("%s: reason %q should name both digests", it.Destination, it.Reason)
		}
		switch it.Destination {
		case "222222222222/eu-west-1":
			if it.State != Blocked || it.Copy() || !strings.Contains(it.Reason, "immutable") {
				t.Errorf("immutable destination: %s (copy %v), %q; want blocked by the immutable tag", it.State, it.Copy(), it.Reason)
			}
		case "333333333333/us-west-2": // onExistingTag: overwrite
			if it.State != Stale || !it.Copy() {
				t.Errorf("overwrite destination: %s, copy %v; want stale, copied", it.State, it.Copy())
			}
		case "444444444444/ap-southeast-2": // onExistingTag: fail (default)
			if it.State != Stale || it.Copy() || !strings.Contains(it.Reason, "onExistingTag: fail") {
				t.Errorf("fail destination: %s, copy %v, %q; want stale, kept, saying why", it.State, it.Copy(), it.Reason)
			}
		}
	}
}

func TestFilters(t *testing.T) {
	t.Parallel()
	src := &fakeRegistry{repos: map[string]*Listing{
		"team/app": NewListing("team/app", false, []Image{{Digest: digest('a'), Tags: []string{"release-1"}}}),
		"team/web": NewListing("team/web", false, []Image{{Digest: digest('b'), Tags: []string{"release-1"}}}),
	}}
	p := match.MustCompile("team/web")
	dsts := map[string]*fakeRegistry{}
	items := discover(t, src, dsts, Filter{Destination: "333333333333/us-west-2", Repository: &p})
	if len(items) != 1 || items[0].SourceRepository != "team/web" || items[0].Destination != "333333333333/us-west-2" {
		t.Fatalf("items %+v, want only team/web to 333333333333/us-west-2", items)
	}
	if len(dsts) != 1 {
		t.Errorf("listed %d destinations, want only the filtered one", len(dsts))
	}
	cfg, _ := config.Parse("ferry.yaml", []byte(testConfig))
	for _, f := range []Filter{{Rule: "nope"}, {Destination: "999999999999/us-east-1"}} {
		if err := f.Check(cfg); err == nil {
			t.Errorf("filter %+v: no error for a rule or destination not in the configuration", f)
		}
	}
}

func TestReferrersOfWalksSubjectsAndCosignTags(t *testing.T) {
	t.Parallel()
	img, sig, att, sbom, sbomSig, unrelated := digest('1'), digest('2'), digest('3'), digest('4'), digest('5'), digest('6')
	l := NewListing("r", false, []Image{
		{Digest: img, Tags: []string{"v1"}},
		{Digest: sig, Tags: []string{cosign(img, ".sig")}},
		{Digest: att, Tags: []string{cosign(img, ".att")}},
		{Digest: sbom, Subject: img},
		{Digest: sbomSig, Tags: []string{cosign(sbom, ".sig")}},
		{Digest: unrelated, Subject: digest('7')},
	})
	r := l.ReferrersOf(img)
	if r.Len() != 4 {
		t.Errorf("referrers %v, want sig, att, sbom and the sbom's signature", r.Digests)
	}
	if len(r.Tags) != 3 || r.Tags[cosign(sbom, ".sig")] != sbomSig {
		t.Errorf("cosign tags %v, want the image's .sig and .att and the SBOM's .sig", r.Tags)
	}
	for _, tag := range []string{cosign(img, ".sig"), cosign(img, ""), cosign(img, ".sbom")} {
		if !IsReferrerTag(tag) {
			t.Errorf("IsReferrerTag(%q) = false", tag)
		}
	}
	if IsReferrerTag("sha256-abc.sig") || IsReferrerTag("release-1") {
		t.Error("IsReferrerTag takes a tag that is not a referrer's")
	}
}

// failingRegistry cannot be listed.
type failingRegistry struct{ fakeRegistry }

func (*failingRegistry) Repository(context.Context, string) (*Listing, error) {
	return nil, errors.New("AccessDenied: not authorized to perform sts:AssumeRole")
}

func TestADestinationThatCannotBeListedHoldsUpNoOther(t *testing.T) {
	t.Parallel()
	src := &fakeRegistry{repos: map[string]*Listing{
		"team/app": NewListing("team/app", false, []Image{{Digest: digest('a'), Tags: []string{"release-1"}}}),
	}}
	cfg, _ := config.Parse("ferry.yaml", []byte(testConfig))
	d := Discoverer{Config: cfg, Source: src, Destination: func(_ context.Context, cd config.Destination) (Lister, error) {
		if cd.ID() == "333333333333/us-west-2" {
			return &failingRegistry{}, nil
		}
		return &fakeRegistry{}, nil
	}}
	var items []Item
	if err := d.Discover(context.Background(), func(b Batch) error { items = append(items, b.Items...); return nil }); err != nil {
		t.Fatalf("discover failed for one destination's listing: %v", err)
	}
	if len(items) != 3 {
		t.Fatalf("%d items, want one per destination", len(items))
	}
	for _, it := range items {
		if it.State != Missing || !it.Copy() {
			t.Errorf("%s: %s, copy %v; want missing, copied", it.Destination, it.State, it.Copy())
		}
		if it.Destination == "333333333333/us-west-2" && !strings.Contains(it.Reason, "could not be listed") {
			t.Errorf("unlisted destination: reason %q should say it could not be listed", it.Reason)
		}
	}
}

// TestResignedCosignTagInAnImmutableRepositoryIsBlocked: the image is in
// sync, but its signature was signed again in the source (a new digest
// under the same cosign tag); an immutable destination cannot take it.
func TestResignedCosignTagInAnImmutableRepositoryIsBlocked(t *testing.T) {
	t.Parallel()
	img, sigOld, sigNew := digest('a'), digest('b'), digest('c')
	src := &fakeRegistry{repos: map[string]*Listing{
		"team/app": NewListing("team/app", false, []Image{
			{Digest: img, Tags: []string{"release-1"}},
			{Digest: sigNew, Tags: []string{cosign(img, ".sig")}},
		}),
	}}
	immutable := &mutabilityRegistry{fakeRegistry: fakeRegistry{repos: map[string]*Listing{"team/app": NewListing("team/app", false, []Image{
		{Digest: img, Tags: []string{"release-1"}},
		{Digest: sigOld, Tags: []string{cosign(img, ".sig")}},
	})}}, immutable: true}
	items := discover(t, src, map[string]*fakeRegistry{}, Filter{Destination: "222222222222/eu-west-1"}, immutable)
	if len(items) != 1 || items[0].State != Blocked || !strings.Contains(items[0].Reason, "immutable") {
		t.Fatalf("items %+v, want release-1 blocked by its cosign tag in an immutable repository", items)
	}
	if !immutable.asked {
		t.Error("the repository's tag mutability was never asked")
	}
}

// mutabilityRegistry lists repositories without their tag mutability, as
// Registry does, and answers Immutable.
type mutabilityRegistry struct {
	fakeRegistry
	immutable bool
	asked     bool
}

func (m *mutabilityRegistry) Immutable(context.Context, string) (bool, error) {
	m.asked = true
	return m.immutable, nil
}
