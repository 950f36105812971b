package config_test

import (
	"errors"
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/ferry-dev/ferry/internal/config"
	"github.com/ferry-dev/ferry/internal/plan"
)

// overlapRule is one rule of a test file; dest is the YAML of its
// destinations, one "- account: ..." item per line.
type overlapRule struct {
	name, repos, tags, exclude string
	dests                      []string
}

const (
	prodEU    = `{account: "222222222222", region: eu-west-1}`
	prodEUApp = `{account: "222222222222", region: eu-west-1, approval: required}`
	prodUS    = `{account: "333333333333", region: us-west-2}`
)

// overlapFile writes the rules as ferry.yaml and returns it with the line
// of each rule and of each rule's destinations.
func overlapFile(rules []overlapRule) (string, []int, [][]int) {
	var b strings.Builder
	b.WriteString("version: 1\nsource: {account: \"111111111111\", region: us-east-1}\nrules:\n")
	line := 4
	var ruleLines []int
	var destLines [][]int
	for _, r := range rules {
		ruleLines = append(ruleLines, line)
		fmt.Fprintf(&b, "  - name: %s\n    repositories: %s\n    tags: %s\n", r.name, r.repos, r.tags)
		line += 3
		if r.exclude != "" {
			fmt.Fprintf(&b, "    exclude: %s\n", r.exclude)
			line++
		}
		b.WriteString("    destinations:\n")
		line++
		var dl []int
		for _, d := range r.dests {
			fmt.Fprintf(&b, "      - %s\n", d)
			dl = append(dl, line)
			line++
		}
		destLines = append(destLines, dl)
	}
	return b.String(), ruleLines, destLines
}

// exampleRE finds the image a warning gives as its example.
var exampleRE = regexp.MustCompile(`e\.g\. ([^ :]+):([^ ;]+)[ ;]`)

func TestOverlapWarnings(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		rules []overlapRule
		// want is, per warning, the later rule, its destination's index,
		// the earlier rule that wins, and words the message must hold.
		want []overlapWant
	}{
		{
			name: "literal repository inside a glob",
			rules: []overlapRule{
				{name: "app", repos: `[team/app]`, tags: `["release-*"]`, dests: []string{prodEUApp}},
				{name: "team", repos: `["team/**"]`, tags: `["release-*"]`, dests: []string{prodUS, prodEU}},
			},
			want: []overlapWant{{later: 1, dest: 1, first: 0, words: []string{`approval: none (rule "app" has required)`, "e.g. team/app:release-"}}},
		},
		{
			name: "a broad rule first shadows the narrow one",
			rules: []overlapRule{
				{name: "team", repos: `["team/**"]`, tags: `["**"]`, dests: []string{prodEU}},
				{name: "app", repos: `[team/app]`, tags: `["release-*"]`, dests: []string{prodEUApp}},
			},
			want: []overlapWant{{later: 1, dest: 0, first: 0, words: []string{`approval: required (rule "team" has none)`, `move it above rule "team"`}}},
		},
		{
			name: "two globs with no literal in common",
			rules: []overlapRule{
				{name: "a", repos: `["team/*"]`, tags: `[latest]`, dests: []string{prodEU}},
				{name: "b", repos: `["*/app"]`, tags: `["lat*"]`, dests: []string{prodEUApp}},
			},
			want: []overlapWant{{later: 1, dest: 0, first: 0, words: []string{"e.g. team/app:latest"}}},
		},
		{
			name: "a regexp and a glob",
			rules: []overlapRule{
				{name: "a", repos: `["/^svc-[0-9]+$/"]`, tags: `["/(?i)^REL\\b/"]`, dests: []string{prodEU}},
				{name: "b", repos: `["svc-?"]`, tags: `["rel-*"]`, dests: []string{prodEUApp}},
			},
			want: []overlapWant{{later: 1, dest: 0, first: 0, words: []string{"e.g. svc-0:rel-"}}},
		},
		{
			name: "a glob tag and a semver range",
			rules: []overlapRule{
				{name: "a", repos: `["**"]`, tags: `["v*"]`, dests: []string{prodEU}},
				{name: "b", repos: `["**"]`, tags: `["semver:>=1.2 <2"]`, dests: []string{prodEUApp}},
			},
			want: []overlapWant{{later: 1, dest: 0, first: 0, words: []string{":v1."}}},
		},
		{
			name: "two semver ranges",
			rules: []overlapRule{
				{name: "a", repos: `["**"]`, tags: `["semver:>=1.2 <2"]`, dests: []string{prodEU}},
				{name: "b", repos: `["**"]`, tags: `["semver:~1.4"]`, dests: []string{`{account: "222222222222", region: eu-west-1, settings: {scanOnPush: true, tags: {team: x}}}`}},
			},
			want: []overlapWant{{later: 1, dest: 0, first: 0, words: []string{"settings.scanOnPush: true (rule \"a\" has false), settings.tags."}}},
		},
		{
			name: "the third rule is warned about the first, which wins",
			rules: []overlapRule{
				{name: "a", repos: `["team/**"]`, tags: `["**"]`, dests: []string{prodEU}},
				{name: "b", repos: `["team/**"]`, tags: `["**"]`, dests: []string{prodEUApp}},
				{name: "c", repos: `[team/app]`, tags: `[latest]`, dests: []string{`{account: "222222222222", region: eu-west-1, onExistingTag: overwrite}`}},
			},
			want: []overlapWant{
				{later: 1, dest: 0, first: 0},
				{later: 2, dest: 0, first: 0, words: []string{`onExistingTag: overwrite (rule "a" has fail)`}},
			},
		},
		{
			name: "the example is not one a rule before takes",
			rules: []overlapRule{
				{name: "first", repos: `[team/a, team/0, team/a0, team/aa]`, tags: `["**"]`, dests: []string{prodEU}},
				{name: "second", repos: `["team/**"]`, tags: `["**"]`, dests: []string{prodEUApp}},
				{name: "third", repos: `["team/**"]`, tags: `["**"]`, dests: []string{prodEU}},
			},
			want: []overlapWant{
				{later: 1, dest: 0, first: 0, words: []string{`approval: required (rule "first" has none)`}},
				{later: 2, dest: 0, first: 1, words: []string{`approval: none (rule "second" has required)`}},
			},
		},
		{
			name: "only a tag no rule before takes",
			rules: []overlapRule{
				{name: "first", repos: `["team/**"]`, tags: `["release-*"]`, dests: []string{prodEU}},
				{name: "second", repos: `["team/**"]`, tags: `["**"]`, dests: []string{prodEUApp}},
				{name: "third", repos: `["team/**"]`, tags: `["**"]`, dests: []string{prodEU}},
			},
			want: []overlapWant{
				{later: 1, dest: 0, first: 0},
				{later: 2, dest: 0, first: 1, words: []string{`approval: none (rule "second" has required)`}},
			},
		},
		{
			name: "a rule before takes every image the two share",
			rules: []overlapRule{
				{name: "first", repos: `["team/**"]`, tags: `["**"]`, dests: []string{prodEU}},
				{name: "second", repos: `[team/app]`, tags: `[latest]`, dests: []string{prodEUApp}},
				{name: "third", repos: `[team/app]`, tags: `[latest]`, dests: []string{prodEU}},
			},
			want: []overlapWant{{later: 1, dest: 0, first: 0}},
		},
		{
			name: "renames that agree",
			rules: []overlapRule{
				{name: "a", repos: `["tools/*"]`, tags: `["**"]`, dests: []string{`{account: "222222222222", region: eu-west-1, repository: {stripPrefix: tools/, prefix: mirror/}}`}},
				{name: "b", repos: `["**"]`, tags: `["**"]`, dests: []string{`{account: "222222222222", region: eu-west-1, repository: {stripPrefix: tools/, prefix: mirror/}, approval: required}`}},
			},
			want: []overlapWant{{later: 1, dest: 0, first: 0, words: []string{"(as mirror/"}}},
		},
		{
			name: "different renames agree on some names",
			rules: []overlapRule{
				{name: "a", repos: `["**"]`, tags: `["**"]`, dests: []string{`{account: "222222222222", region: eu-west-1, repository: {prefix: x/}}`}},
				{name: "b", repos: `["**"]`, tags: `["**"]`, dests: []string{`{account: "222222222222", region: eu-west-1, repository: {stripPrefix: y/, prefix: x/y/}, approval: required}`}},
			},
			want: []overlapWant{{later: 1, dest: 0, first: 0}},
		},
		// No overlap.
		{
			name: "disjoint repositories",
			rules: []overlapRule{
				{name: "a", repos: `["team/*"]`, tags: `["**"]`, dests: []string{prodEU}},
				{name: "b", repos: `["tools/*", "/^other/"]`, tags: `["**"]`, dests: []string{prodEUApp}},
			},
		},
		{
			name: "disjoint tags: a semver never starts with a letter but v",
			rules: []overlapRule{
				{name: "a", repos: `["**"]`, tags: `["release-*"]`, dests: []string{prodEU}},
				{name: "b", repos: `["**"]`, tags: `["semver:>=1"]`, dests: []string{prodEUApp}},
			},
		},
		{
			name: "an exclude takes the overlap out",
			rules: []overlapRule{
				{name: "a", repos: `["team/**"]`, tags: `["**"]`, exclude: `{repositories: [team/app]}`, dests: []string{prodEU}},
				{name: "b", repos: `[team/app]`, tags: `["**"]`, dests: []string{prodEUApp}},
			},
		},
		{
			name: "a regexp exclude takes the overlap out",
			rules: []overlapRule{
				{name: "a", repos: `["**"]`, tags: `["**"]`, exclude: `{tags: ["/^rel/"]}`, dests: []string{prodEU}},
				{name: "b", repos: `["**"]`, tags: `["release-*", "rel"]`, dests: []string{prodEUApp}},
			},
		},
		{
			name: "the same settings: nothing is lost",
			rules: []overlapRule{
				{name: "a", repos: `["team/**"]`, tags: `["**"]`, dests: []string{prodEUApp}},
				{name: "b", repos: `[team/app]`, tags: `[latest]`, dests: []string{prodEUApp}},
			},
		},
		{
			name: "different destinations",
			rules: []overlapRule{
				{name: "a", repos: `["**"]`, tags: `["**"]`, dests: []string{prodEU}},
				{name: "b", repos: `["**"]`, tags: `["**"]`, dests: []string{`{account: "222222222222", region: eu-west-2, approval: required}`}},
			},
		},
		{
			name: "renames that never agree",
			rules: []overlapRule{
				{name: "a", repos: `["**"]`, tags: `["**"]`, dests: []string{`{account: "222222222222", region: eu-west-1, repository: {prefix: a/}}`}},
				{name: "b", repos: `["**"]`, tags: `["**"]`, dests: []string{`{account: "222222222222", region: eu-west-1, repository: {prefix: b/}, approval: required}`}},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			text, ruleLines, destLines := overlapFile(tt.rules)
			cfg, err := config.Parse("ferry.yaml", []byte(text))
			if err != nil {
				t.Fatalf("Parse: %v\n%s", err, text)
			}
			if len(cfg.Warnings) != len(tt.want) {
				t.Fatalf("got %d warnings, want %d: %v\n%s", len(cfg.Warnings), len(tt.want), cfg.Warnings, text)
			}
			for i, w := range cfg.Warnings {
				want := tt.want[i]
				later, first := cfg.Rules[want.later], cfg.Rules[want.first]
				if !errors.Is(w, config.ErrWarning) {
					t.Errorf("warning %d does not wrap ErrWarning: %v", i, w)
				}
				if w.Line != destLines[want.later][want.dest] {
					t.Errorf("warning %d at line %d, want the later rule's destination, line %d: %v", i, w.Line, destLines[want.later][want.dest], w)
				}
				if f := fmt.Sprintf("rules[%d].destinations[%d]", want.later, want.dest); w.Field != f {
					t.Errorf("warning %d field %q, want %q", i, w.Field, f)
				}
				for _, s := range append([]string{
					fmt.Sprintf("rule %q (ferry.yaml:%d) and rule %q (ferry.yaml:%d)", later.Name, ruleLines[want.later], first.Name, ruleLines[want.first]),
				}, want.words...) {
					if !strings.Contains(w.Msg, s) {
						t.Errorf("warning %d lacks %q:\n%s", i, s, w.Msg)
					}
				}
				checkExample(t, cfg, w, later, first, later.Destinations[want.dest].ID())
			}
		})
	}
}

type overlapWant struct {
	later, dest, first int
	words              []string
}

// checkExample holds the warning to its word: the image it names is taken
// by both rules, and the planner gives the job for that destination to
// the rule the warning says wins.
func checkExample(t *testing.T, cfg *config.Config, w *config.Error, later, first config.Rule, dest string) {
	t.Helper()
	m := exampleRE.FindStringSubmatch(w.Msg)
	if m == nil {
		t.Fatalf("no example image in %q", w.Msg)
	}
	repo, tag := m[1], m[2]
	for _, r := range []config.Rule{later, first} {
		if ok, why := r.MatchRepository(repo); !ok {
			t.Errorf("rule %q does not take repository %s: %s", r.Name, repo, why)
		}
		if ok, why := r.MatchTag(tag); !ok {
			t.Errorf("rule %q does not take tag %s: %s", r.Name, tag, why)
		}
	}
	sel, err := plan.For(cfg, repo, tag)
	if err != nil {
		t.Fatalf("plan %s:%s: %v", repo, tag, err)
	}
	found := false
	for _, j := range sel.Jobs {
		if j.Destination.ID() == dest {
			found = true
			if j.Rule != first.Name {
				t.Errorf("plan of %s:%s gives %s to rule %q; the warning says %q wins", repo, tag, dest, j.Rule, first.Name)
			}
		}
	}
	if !found {
		t.Errorf("plan of %s:%s has no job for %s: %+v", repo, tag, dest, sel)
	}
	skipped := false
	for _, s := range sel.Skipped {
		if s.Rule == later.Name && s.Destination == dest && strings.Contains(s.Reason, "already planned") {
			skipped = true
		}
	}
	if !skipped {
		t.Errorf("plan of %s:%s does not skip rule %q at %s as already planned: %+v", repo, tag, later.Name, dest, sel.Skipped)
	}
}

// TestOverlapExampleFile: the example configuration has no overlap.
func TestOverlapExampleFile(t *testing.T) {
	t.Parallel()
	data, err := os.ReadFile("../../ferry.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Parse("ferry.example.yaml", data)
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Warnings) != 0 {
		t.Errorf("ferry.example.yaml has warnings: %v", cfg.Warnings)
	}
}
